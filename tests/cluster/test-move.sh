#!/usr/bin/env bash
# move-vm through clusterctl on 3 nodes:
#  1. --live to a named node: progress lines, the final downtime line, the
#     guest counter continues without a reboot, one QEMU, all nodes agree;
#  2. --quick without --to (placement's best node): the same;
#  3. refused: a second move of a VM already moving, a move to a drained
#     node, to a node without the memory, to an unknown node: each a clear
#     error, the CDB digest unchanged by the refusals.
# kvmc-alone: measures time closely or loads the whole machine
# kvmc-timeout: 420
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_init comove
# node3 offers 100 MiB only: a 128 MiB VM never fits there.
# shellcheck disable=SC2034 # read by vm_cd_start
VM_CD_ARGS_node3="-m 100"
vm_up 3
N="node1 node2 node3"
# shellcheck disable=SC2034 # read by lib/vm.sh
VM_NODES_UP=3
# shellcheck disable=SC2034
VM_ALL_UP=$N

vm_define web1 high 128
cdctl node1 vm add "$VM_DIR/web1.xml" >/dev/null || fail "vm add"
out=$(cdctl node1 vm start web1) || fail "vm start: $out"
src=$(vm_where node1 web1)
sb_wait_for 30 vm_ticking "$src" web1 || fail "guest does not tick on $src"

# check_moved FROM TO: one QEMU, on TO, ticking on from the old counter.
check_moved() {
    local from=$1 to=$2 a b
    for n in $N; do
        sb_wait_for 5 eval "[ \"\$(vm_where $n web1)\" = $to ]" ||
            fail "$n says web1 runs on '$(vm_where $n web1)', expected $to"
    done
    sb_wait_for 20 vm_ticking "$to" web1 || fail "guest does not tick on $to"
    a=$(vm_last_tick "$from" web1)
    b=$(vm_ticks "$to" web1 | head -n1 | cut -d' ' -f1)
    [ -n "$a" ] && [ -n "$b" ] && ((b > a)) ||
        fail "counter did not continue: $from ended at '$a', $to began at '$b'"
    [ "$(vm_last_boot "$from" web1)" = "$(vm_last_boot "$to" web1)" ] ||
        fail "the guest rebooted moving $from -> $to"
    assert_eq "$to:" "$(vm_qemus web1 | sed 's/:[0-9]*$/:/')" "QEMUs of web1"
    MOVED="$from->$to counter $a->$b"
}

# Empties the serial logs of the nodes other than $1, so that the
# target's log holds only what the moved guest printed there.
clear_others() {
    local n f
    for n in $N; do
        f=$(vm_serial "$n" web1)
        [ "$n" = "$1" ] || [ ! -f "$f" ] || : >"$f"
    done
}

# 1. Live to a named node (not the source, not node3).
dst=node2
[ "$src" = node2 ] && dst=node1
clear_others "$src"
out=$(cdctl node3 move-vm web1 --to "$dst" --live) || fail "move-vm --live: $out"
sb_log "$out"
grep -q "^VM 'web1' moved $src -> $dst by live migration: downtime [0-9]* ms" <<<"$out" ||
    fail "no final downtime line: $out"
grep -q "^pass [0-9]*: transferred" <<<"$out" || sb_log "(no progress line: migration converged in one pass)"
live_line=$(grep '^VM ' <<<"$out")
check_moved "$src" "$dst"
live=$MOVED

# 3a. Refusals while nothing moves; the digest must not change.
d0=$(vm_digest) || fail "no common digest"
out=$(cdctl node1 move-vm web1 --to node3 --live 2>&1) && fail "move to a full node accepted"
grep -q "node3" <<<"$out" || fail "full node: '$out'"
e_full=$out
out=$(cdctl node1 move-vm web1 --to node7 --quick 2>&1) && fail "move to unknown node accepted"
assert_eq "clusterctl: node 'node7' does not exist (see 'clusterctl node list')" "$out"
out=$(cdctl node1 move-vm web9 --live 2>&1) && fail "move of unknown VM accepted"
assert_eq "clusterctl: VM 'web9' does not exist (see 'clusterctl vm list')" "$out"
d1=$(vm_digest) || fail "no common digest"
assert_eq "$d0" "$d1" "digest after refused moves"

# 2. Quick without --to, and a second move while it runs.
src=$dst
clear_others "$src"
cdctl node2 move-vm web1 --quick >"$KVMC_SANDBOX_DIR/quick.out" 2>&1 &
qpid=$!
# The second move goes as soon as the first one's action is published
# (clusterctl's first line), not after a 'vm list' round trip: a quick
# move of the small guest can be over within a second or two, and in CI
# the round trip once outlasted it (the second move then rightly went).
sb_wait_for 10 grep -q "^moving VM 'web1'" "$KVMC_SANDBOX_DIR/quick.out" ||
    fail "no action in flight: $(cat "$KVMC_SANDBOX_DIR/quick.out")"
out=$(cdctl node1 move-vm web1 --live 2>&1) && fail "second move accepted: $out"
grep -q "VM 'web1' is already in a" <<<"$out" || fail "double move: '$out'"
e_double=$out
wait $qpid || fail "move-vm --quick: $(cat "$KVMC_SANDBOX_DIR/quick.out")"
out=$(cat "$KVMC_SANDBOX_DIR/quick.out")
sb_log "$out"
dst=$(sed -n "s/^VM 'web1' moved [a-z0-9]* -> \([a-z0-9]*\) by quick.*/\1/p" <<<"$out")
[ -n "$dst" ] || fail "no final line: $out"
[ "$dst" != node3 ] || fail "quick move placed web1 on the full node3"
quick_line=$(grep '^VM ' <<<"$out")
check_moved "$src" "$dst"
quick=$MOVED

# 3b. Drained target.
cdctl node1 node drain "$src" --no-wait >/dev/null || fail "drain $src"
out=$(cdctl node1 move-vm web1 --to "$src" --live 2>&1) && fail "move to drained node accepted"
grep -q "$src" <<<"$out" || fail "drained node: '$out'"
e_drained=$out
cdctl node1 node resume "$src" >/dev/null || fail "resume"
ex=$(cdctl node2 explain web1) || fail "explain: $ex"
grep -q "^lease: held by the QEMU of VM 'web1' on node '$dst'" <<<"$ex" || fail "explain lacks the lease holder: $ex"
grep -q "^quorum: yes" <<<"$ex" || fail "explain lacks quorum: $ex"
cdctl node2 explain web1 --output xml | grep -q '^<explain vm="web1">' || fail "explain --output xml"
sb_log "refusals: $e_full / $e_double / $e_drained"
proof "move-vm: live $live ($live_line); quick $quick ($quick_line); refused full node, unknown node/VM, double move, drained target with clear errors; digest unchanged by refusals"
