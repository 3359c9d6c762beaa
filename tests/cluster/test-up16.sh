#!/usr/bin/env bash
# kvmc-alone: measures time closely or loads the whole machine
# kvmc-timeout: 300
# The largest cluster: 16 nodes come up quorate with 16 members (interface
# names within 15 characters), a killed node leaves every survivor's
# membership, and down removes all of it. Reports times and memory.
. "$(dirname "$0")/lib/sandbox.sh"

sb_init 16
sb_up 16
all16="$(seq -s' ' 1 16)"
for i in $(seq 1 16); do
    assert_true "node$i quorate with 16 members" sb_members_are node$i "$all16"
done
rss_kb=0
for p in $(sb_pids); do
    r=$(awk '/^VmRSS/ { print $2 }' "/proc/$p/status" 2>/dev/null)
    rss_kb=$((rss_kb + ${r:-0}))
done
longest=$(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' |
    grep "^$KVMC_SANDBOX_NAME-" | awk '{ print length($0) }' | sort -n | tail -n1)
[ "$longest" -le 15 ] || fail "an interface name has $longest characters"

sb_snapshot_procs
t0=$(sb_now_ms)
sb_kill node16
all15="$(seq -s' ' 1 15)"
all_see_15() {
    local i
    for i in 1 5 10 15; do sb_members_are node$i "$all15" || return 1; done
}
# corosync's token grows with the node count (token + 650 ms per node
# beyond 2: 10.1 s here), consensus is 1.2 token.
sb_wait_for 60 all_see_15 ||
    fail "survivors still see: $(sb_quorum_view node1) 60 s after node16's crash"
leave_ms=$(($(sb_now_ms) - t0))

sb_down
sb_assert_gone
proof "16 nodes quorate with 16 members (up in $(sb_secs $SB_UP_MS)," \
    "$((rss_kb / 1024)) MiB RSS summed, longest interface name $longest" \
    "chars); node16 killed, nodes 1/5/10/15 saw 15 members after" \
    "$(sb_secs $leave_ms); down in $(sb_secs $SB_DOWN_MS), nothing left"
