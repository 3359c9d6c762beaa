#!/usr/bin/env bash
# Partitioning node3 of 3: node3 loses quorum alone, nodes 1+2 keep it with
# 2 members, node3 still reaches the storage; healing brings back 3
# members. With --storage node3 loses the storage too.
# kvmc-light: no guest, a few daemons; runs beside the alone tests
. "$(dirname "$0")/lib/sandbox.sh"

sb_init pt
sb_up 3
for n in node1 node2 node3; do
    assert_true "$n quorate with members 1 2 3" sb_members_are $n "1 2 3"
done
ip1=$KVMC_SB_PREFIX.1
st=$KVMC_SB_STORAGE_IP

sb_partition node3
split() {
    sb_members_are node1 "1 2" && sb_members_are node2 "1 2" &&
        sb_inquorate_alone node3
}
sb_wait_for 20 split ||
    fail "no split within 20 s (node1: $(sb_quorum_view node1)," \
        "node2: $(sb_quorum_view node2), node3: $(sb_quorum_view node3))"
split_ms=$SB_WAITED_MS
assert_true "node3 reaches the storage portal while partitioned" \
    sb_tcp_reach node3 "$st" 3260
assert_false "node3 reaches node1 while partitioned" \
    sb_tcp_reach node3 "$ip1" 9
assert_true "node2 reaches node1 while node3 is partitioned" \
    sb_tcp_reach node2 "$ip1" 9

sb_heal
all3() {
    sb_members_are node1 "1 2 3" && sb_members_are node2 "1 2 3" &&
        sb_members_are node3 "1 2 3"
}
sb_wait_for 20 all3 ||
    fail "not 3 members within 20 s of heal (node1: $(sb_quorum_view node1)," \
        "node3: $(sb_quorum_view node3))"
heal_ms=$SB_WAITED_MS

sb_partition node3 --storage
assert_false "node3 reaches the storage portal with --storage" \
    sb_tcp_reach node3 "$st" 3260
assert_true "node1 still reaches the storage portal" \
    sb_tcp_reach node1 "$st" 3260
sb_heal
assert_true "node3 reaches the storage portal after heal" \
    sb_tcp_reach node3 "$st" 3260

sb_down
sb_assert_gone
proof "partition of node3: after $(sb_secs $split_ms) nodes 1+2 quorate with" \
    "members 1 2 and node3 inquorate alone, storage still reachable from" \
    "node3; heal: members 1 2 3 on all nodes after $(sb_secs $heal_ms);" \
    "--storage also cuts node3 from the portal"
