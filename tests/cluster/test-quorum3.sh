#!/usr/bin/env bash
# A 3-node sandbox: every corosync is quorate with 3 members; a crashed
# node3 leaves the membership of nodes 1 and 2 within 10 s and they stay
# quorate; 'down' leaves nothing behind.
# kvmc-light: no guest, a few daemons; runs beside the alone tests
. "$(dirname "$0")/lib/sandbox.sh"

sb_init q3
sb_up 3
for n in node1 node2 node3; do
    assert_true "$n quorate with members 1 2 3" sb_members_are $n "1 2 3"
done

sb_snapshot_procs
t0=$(sb_now_ms)
sb_kill node3
kill_ms=$(($(sb_now_ms) - t0))
assert_eq "" "$(sb_pids node3)" "processes left in node3 after kill"
both_see_12() { sb_members_are node1 "1 2" && sb_members_are node2 "1 2"; }
sb_wait_for 10 both_see_12 ||
    fail "nodes 1+2 did not settle on members '1 2' within 10 s" \
        "(node1: $(sb_quorum_view node1), node2: $(sb_quorum_view node2))"
leave_ms=$(($(sb_now_ms) - t0))
for n in node1 node2; do
    assert_true "$n still quorate" sb_quorate $n
done

sb_down
sb_assert_gone
proof "3 nodes quorate with members 1 2 3 (up in $(sb_secs $SB_UP_MS));" \
    "node3 killed in $kill_ms ms, nodes 1+2 quorate with members 1 2 after" \
    "$(sb_secs $leave_ms) (limit 10 s); down in $(sb_secs $SB_DOWN_MS):" \
    "$SB_GONE_DETAIL"
