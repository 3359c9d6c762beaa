#!/usr/bin/env bash
# A drain whose live migration fails at the lease handoff while the
# storage errs on both ends (the scale bench's stuck r6): node2 is cut
# off its iSCSI target (nft) once the pre-copy began (the target's QEMU
# has its disks open and reads nothing until it resumes), so the target
# cannot take the lease at the handoff; node1 is cut off once it
# released the lease, so the source cannot take it back either and its
# first recovery attempts fail. The VM shows paused on
# node1 (not migrating), the drain skips it instead of re-issuing moves;
# once both reach the target again (nft rules gone) node1's hvagent takes the
# lease back and the guest continues by itself (same boot, counter
# going on), then the drain moves it. Never two copies in status, a few
# move attempts in all.
# kvmc-timeout: 240
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_init mlr
# an idle-ish guest: the migration converges at once
VM_WSS=4
VM_RATE=4
VM_CSV=1
vm_on_csv || skip "needs the CSV (lunbridge, /dev/fuse)"
vm_up 2

vm_define mr medium 64
cdctl node1 vm add "$VM_DIR/mr.xml" >/dev/null || fail "vm add mr"
out=$(cdctl node1 vm start mr) || fail "vm start mr: $out"
if [ "$(vm_where node1 mr)" != node1 ]; then
    out=$(cdctl node1 move-vm mr --to node1 --live) || fail "move mr to node1: $out"
fi
sb_wait_for 30 vm_ticking node1 mr || fail "mr does not tick on node1"
boot=$(vm_last_boot node1 mr)
T=$KVMC_SANDBOX_DIR/mlr
mkdir -p "$T"
tick0=$(vm_last_tick node1 mr)
log1=$KVMC_SANDBOX_DIR/node1/hvagent.out

# cut NODE STOP-PATTERN CONT-PATTERN: in NODE's namespace, follows
# node1's hvagent log and cuts NODE off its iSCSI target (nft drops port
# 3260 both ways: lunbridge's commands miss their deadline and the LUN
# files answer EIO, as under the bench's load) at the first line with
# STOP-PATTERN, and lets it through again at the first line with
# CONT-PATTERN after (or after 60 s at the latest). Prints when.
cut_storage() {
    # shellcheck disable=SC2016
    sb_exec "$1" bash -c '
        log=$1 p1=$2 p2=$3 cut=0
        while read -r line; do
            if [ $cut = 0 ] && [[ $line == *"$p1"* ]]; then
                nft -f - <<EON && cut=1 && echo "stop $(date +%s%3N)"
table inet mlrcut {
    chain out { type filter hook output priority -10; tcp dport 3260 drop; }
    chain in { type filter hook input priority -10; tcp sport 3260 drop; }
}
EON
            elif [ $cut = 1 ] && [[ $line == *"$p2"* ]]; then
                break
            fi
        done < <(timeout 60 tail -n0 -F "$log" 2>/dev/null)
        nft delete table inet mlrcut 2>/dev/null && echo "cont $(date +%s%3N)"' \
        cut "$log1" "$2" "$3"
}
cont_at="lease recovery attempt 2 failed"
cut_storage node2 "phase out-prepare -> out-precopy" "$cont_at" >"$T/w2" &
w2=$!
cut_storage node1 "phase out-paused -> out-released" "$cont_at" >"$T/w1" &
w1=$!
sleep 1 # the watchers follow the log before the drain starts

# status, sampled through the whole episode: never on two nodes
( while kill -0 $$ 2>/dev/null; do cdctl node2 vm list 2>/dev/null | grep '^mr ' ; sleep 0.3; done ) \
    >"$T/status" 2>&1 & # poll interval
sampler=$!
t0=$(sb_now_ms)
cdctl node2 node drain node1 >"$T/drain" 2>&1 &
drain=$!

recovering() {
    ! grep -q "VM 'mr': migrated to" "$log1" || fail "the handoff did not fail: $(grep "VM 'mr'" "$log1" | tail -n 5)"
    grep -q "paused: lease recovery" "$log1"
}
sb_wait_for 30 recovering || fail "no lease recovery on node1: $(tail -n 20 "$log1")"
t_paused=$(sb_now_ms)
wait $w1 $w2
{ grep -q '^stop' "$T/w1" && grep -q '^stop' "$T/w2"; } ||
    fail "storage not cut at the handoff: node1 '$(cat "$T/w1")' node2 '$(cat "$T/w2")'"
out_ms=$(($(sed -n 's/^cont //p' "$T/w1") - $(sed -n 's/^stop //p' "$T/w1")))

sb_wait_for 30 grep -q "lease recovered after" "$log1" ||
    fail "node1 did not recover the lease: $(tail -n 20 "$log1")"
t_rec=$(sb_now_ms)
wait $drain || fail "drain: $(cat "$T/drain")"
t_drained=$(sb_now_ms)
kill $sampler
wait $sampler 2>/dev/null

w=$(vm_where node1 mr)
[ -n "$w" ] || fail "mr runs nowhere after the drain: $(cdctl node1 vm show mr)"
sb_wait_for 20 vm_ticking "$w" mr || fail "mr does not tick on $w"
assert_eq 1 "$(vm_qemu_count mr)" "QEMUs of mr"
assert_eq "$boot" "$(vm_last_boot "$w" mr)" "mr's boot id (no restart)"
tick1=$(vm_last_tick "$w" mr)
((tick1 > tick0)) || fail "counter did not go on: $tick0 -> $tick1"
grep -q "reported on" "$T/status" &&
    fail "status showed mr on two nodes: $(grep "reported on" "$T/status" | head -n 3)"
# the truth while it recovered: paused on node1, not migrating
grep -q "^mr  *paused  *node1 " "$T/status" ||
    fail "status never showed mr paused on node1: $(sort "$T/status" | uniq -c)"
grep -q "not moved" "$T/drain" ||
    fail "the drain did not say why mr was held back: $(cat "$T/drain")"
# Move attempts in all: distinct action ids of mr's moves in the
# clusterds' logs (live or quick).
moves=$(cat "$KVMC_SANDBOX_DIR"/node*/clusterd.out |
    grep -o "VM 'mr': running \(live\|quick\)-migration step [0-9]* (action [0-9]*)" |
    grep -o 'action [0-9]*' | sort -u | wc -l)
((moves >= 2 && moves <= 4)) ||
    fail "$moves move attempts of mr: $(grep "VM 'mr'" "$KVMC_SANDBOX_DIR"/node*/clusterd.out | tail -n 20)"
# the rollback's own acquire failed, then the retries that failed
attempts=$(($(grep -c "VM 'mr': lease recovery attempt [0-9]* failed" "$log1") + 1))
proof "lease handoff failed with both nodes cut off the iSCSI target (node1 for $out_ms ms): mr paused on node1 ($((t_paused - t0)) ms after the drain began), $attempts failed lease acquisitions on node1 (the rollback's and its retries), lease recovered $((t_rec - t_paused)) ms after; drain held it back ('$(grep -m1 "not moved" "$T/drain" | cut -c1-80)'), $moves move attempts in all, done in $((t_drained - t0)) ms; mr now on $w, same boot $boot, counter $tick0 -> $tick1, one QEMU, never two copies in $(wc -l <"$T/status") status samples"
