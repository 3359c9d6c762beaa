#!/usr/bin/env bash
# A 2-node sandbox (votequorum two_node): both nodes are quorate together,
# and the survivor stays quorate, without a single inquorate poll, when the
# other node crashes.
# kvmc-light: no guest, a few daemons; runs beside the alone tests
. "$(dirname "$0")/lib/sandbox.sh"

sb_init 2n
sb_up 2
for n in node1 node2; do
    assert_true "$n quorate with members 1 2" sb_members_are $n "1 2"
    flags=$(sb_quorum_flags $n)
    [[ " $flags " == *" 2Node "* ]] || fail "$n: no 2Node flag ('$flags')"
done

t0=$(sb_now_ms)
sb_kill node2
# Poll node1 until it sees itself alone; every poll must find it quorate.
polls=0
while :; do
    v=$(sb_quorum_view node1) || fail "node1's corosync stopped answering"
    polls=$((polls + 1))
    [ "${v%% *}" = quorate ] || fail "node1 lost quorum after node2's crash ($v)"
    [ "$v" = "quorate 1 1" ] && break
    [ $(($(sb_now_ms) - t0)) -lt 15000 ] ||
        fail "node1 still sees '$v' 15 s after node2's crash"
    sleep 0.1
done
leave_ms=$(($(sb_now_ms) - t0))
# And it stays so for a while (a full token + consensus round and more).
end=$(($(sb_now_ms) + 3000))
while [ "$(sb_now_ms)" -lt "$end" ]; do
    v=$(sb_quorum_view node1)
    polls=$((polls + 1))
    assert_eq "quorate 1 1" "$v" "node1 after node2's crash"
    sleep 0.1
done
watch_ms=$(($(sb_now_ms) - t0))

sb_down
sb_assert_gone
proof "2 nodes quorate together (flags: $flags); node2 killed, node1 alone" \
    "after $(sb_secs $leave_ms) and quorate in all $polls polls over" \
    "$(sb_secs $watch_ms)"
