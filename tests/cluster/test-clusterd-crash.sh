#!/usr/bin/env bash
# A clusterd crash is not a node failure (3 nodes). node3 runs a VM;
# clusterd on node3 is SIGKILLed and kept dead for 20 s while node3 stays
# a corosync member: its hvagent keeps the VM and its lease. No start of
# the VM is published anywhere (no start in its action history, no event
# naming it), no other node runs a QEMU of it in any ~200 ms sample, the
# guest keeps counting with the same boot id, every survivor shows it on
# node3, unmanaged, and the kill still counts as a failure of node3
# (quarantine). clusterd back on node3: the VM shows running on node3
# again, managed, with no move. Then clusterd dies on node3 again and
# node3 itself is killed: leaving corosync's membership, it fails over
# (its start is published within 15 s, the VM runs again elsewhere).
# kvmc-timeout: 420
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_init cocrash
vm_up 3
N="node1 node2 node3"
VM=cc1
DEAD_MS=20000
BOUND_MS=$(((8 * 1 + 60 + 10) * 1000))

vm_define $VM high 128
cdctl node1 vm add "$VM_DIR/$VM.xml" >/dev/null || fail "vm add $VM"
out=$(cdctl node2 vm start $VM) || fail "vm start $VM: $out"
if [ "$(vm_where node1 $VM)" != node3 ]; then
    out=$(cdctl node1 move-vm $VM --to node3 --live) || fail "move $VM to node3: $out"
fi
sb_wait_for 30 vm_ticking node3 $VM || fail "$VM does not tick on node3"
boot=$(vm_last_boot node3 $VM)
tick0=$(vm_last_tick node3 $VM)
uuid=$(vm_uuid $VM)
starts() { cdctl "$1" vm show $VM --output xml | grep -c '<action [^>]*kind="start"'; }
starts0=$(starts node1)
failures() {
    cdctl node1 cdb get | grep "<node name=\"$1\"" |
        sed -n 's/.* failures="\([0-9 ]*\)".*/\1/p' | wc -w
}
failures0=$(failures node3)

# Every QEMU of the VM on every live node, ~5 times a second.
samples=$KVMC_SANDBOX_DIR/qemu-samples
sampler() {
    local n line
    while :; do
        line=$(date +%s%3N)
        for n in $N; do
            [ -e "$KVMC_SANDBOX_DIR/$n.dead" ] && continue
            sb_exec "$n" pgrep -a -x qemu-system-x86 2>/dev/null | grep -q -- "$uuid" &&
                line="$line $n"
        done
        echo "$line" >>"$samples"
        sleep 0.2
    done
}
: >"$samples"
sampler &
spid=$!
events=$KVMC_SANDBOX_DIR/events
cdctl node1 events --output xml >"$events" 2>&1 &
epid=$!
trap 'rc=$?; kill $spid $epid 2>/dev/null; (exit $rc); sb_cleanup' EXIT

t0=$(sb_now_ms)
cd_kill node3 KILL
sb_wait_for 20 cd_converged 2 node1 node2 || fail "survivors did not converge: $(cd_views node1 node2)"
t_conv=$(($(sb_now_ms) - t0))
# Dead for DEAD_MS: every poll, the VM is still node3's and has no action.
polls=0
while (($(sb_now_ms) - t0 < DEAD_MS)); do
    for n in node1 node2; do
        w=$(vm_where $n $VM)
        [ "$w" = node3 ] || fail "$n shows $VM on '$w' $(($(sb_now_ms) - t0)) ms after the kill: $(cdctl $n vm list)"
        a=$(vm_field $n $VM action)
        [ -z "$a" ] || fail "$n shows an action '$a' for $VM: $(cdctl $n vm show $VM)"
    done
    polls=$((polls + 1))
    sleep 0.5
done
for n in node1 node2; do
    [ "$(vm_field $n $VM managed)" = no ] || fail "$n does not show $VM unmanaged: $(cdctl $n vm list)"
done
list=$(cdctl node2 vm list)
grep -q "unmanaged: clusterd of node3 is down" <<<"$list" || fail "vm list does not say unmanaged: $list"
st=$(cdctl node1 status)
grep -q "clusterd down: 3(node3)" <<<"$st" || fail "status does not show node3's clusterd down: $st"
show=$(cdctl node1 vm show $VM)
grep -q "running on node3 (unmanaged" <<<"$show" || fail "vm show does not say unmanaged: $show"
assert_eq "$starts0" "$(starts node1)" "start actions of $VM while clusterd was dead"
assert_eq "$boot" "$(vm_last_boot node3 $VM)" "boot id on node3"
tick1=$(vm_last_tick node3 $VM)
((tick1 > tick0)) || fail "guest stopped counting: tick $tick0 -> $tick1"
sb_wait_for 10 eval '[ "$(failures node3)" -gt "$failures0" ]' ||
    fail "the clusterd kill was not recorded as a failure of node3: $(cdctl node1 cdb get | grep 'node name="node3"')"

# Back: the VM shows running on node3 again, managed, no move.
vm_cd_start node3
cd_wait_started node3
sb_wait_for 30 cd_converged 3 $N || fail "no convergence after the restart: $(cd_views $N)"
back() {
    local n
    for n in $N; do
        [ "$(vm_where $n $VM)" = node3 ] && [ "$(vm_field $n $VM state)" = running ] &&
            [ -z "$(vm_field $n $VM managed)" ] && [ -z "$(vm_field $n $VM action)" ] || return 1
    done
}
sb_wait_for 20 back || fail "$VM not shown running on node3 after the restart: $(cdctl node1 vm list)"
t_back=$(($(sb_now_ms) - t0))
assert_eq "$starts0" "$(starts node1)" "start actions of $VM after the restart"
assert_eq "$boot" "$(vm_last_boot node3 $VM)" "boot id on node3 after the restart"
sb_wait_for 5 vm_ticking node3 $VM || fail "$VM does not tick on node3 after the restart"
tick2=$(vm_last_tick node3 $VM)
others=$(awk '{ for (i = 2; i <= NF; i++) if ($i != "node3") { print; break } }' "$samples" | head -n 3)
[ -z "$others" ] || fail "another node ran a QEMU of $VM: $others"
nsamples=$(wc -l <"$samples")
grep -q "vm=\"$VM\"[^>]*kind=\"start\"" "$events" && fail "a start of $VM in the events: $(grep "vm=\"$VM\"" "$events" | head -n 3)"
kill $epid 2>/dev/null

# clusterd dies again, then the node itself: a failover.
cd_kill node3 KILL
sb_wait_for 20 eval '[ "$(vm_field node1 $VM managed)" = no ]' ||
    fail "node1 does not show $VM unmanaged after the second kill: $(cdctl node1 vm list)"
t1=$(sb_now_ms)
touch "$KVMC_SANDBOX_DIR/node3.dead"
sb_kill node3
VM_ALL="node1 node2"
N="node1 node2"
# The start is published once corosync reports node3 gone (detection is
# what this test is about); the run-again time is sanlock's, which
# test-failover.sh bounds, so it gets 20 s of slack here.
t_act=
while (($(sb_now_ms) - t1 < BOUND_MS + 20000)); do
    [ -z "$t_act" ] && [ "$(vm_field node1 $VM action)" = start ] && t_act=$(($(sb_now_ms) - t1))
    w=$(vm_where node1 $VM)
    [ -n "$w" ] && [ "$w" != node3 ] && vm_ticking "$w" $VM &&
        [ "$(vm_last_boot "$w" $VM)" != "$boot" ] && break
    sleep 0.2
done
t_fo=$(($(sb_now_ms) - t1))
w=$(vm_where node1 $VM)
[ -n "$w" ] && [ "$w" != node3 ] && vm_ticking "$w" $VM ||
    fail "$VM did not fail over within $((BOUND_MS / 1000 + 20)) s of killing node3: $(cdctl node1 vm show $VM)"
[ -n "$t_act" ] && ((t_act <= 15000)) ||
    fail "the failover start of $VM was published after ${t_act:-never} ms (bound 15000 ms)"
where=$(vm_where node1 $VM)
kill $spid 2>/dev/null
wait $spid 2>/dev/null
dups=$(awk 'NF > 2 { print }' "$samples" | head -n 3)
[ -z "$dups" ] || fail "two QEMUs of $VM at once: $dups"
# shellcheck disable=SC2034
VM_NODES_UP=2
# shellcheck disable=SC2034
VM_ALL_UP=$N
d=$(vm_digest) || fail "nodes disagree on the CDB at the end"
proof "clusterd SIGKILLed on node3 for $((DEAD_MS / 1000)) s (survivors converged in $t_conv ms): $VM stayed on node3 (unmanaged in vm list/show, status: clusterd down, $polls polls), no start published, guest counted $tick0 -> $tick1 -> $tick2 with boot $boot, failure recorded; clusterd back: running on node3 at $t_back ms, no move; node3 killed with clusterd down: failover start published at $t_act ms, $VM ticking on $where at $t_fo ms; $nsamples samples, never a second QEMU; digest ${d:0:12}"
