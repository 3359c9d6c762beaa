#!/usr/bin/env bash
# Two nodes' sanlock daemons join one lockspace on a shared file (written
# with the io_timeout in use) and each sees both hosts LIVE; once node2
# crashes, node1 sees host 2 stop renewing (FAIL).
# kvmc-light: no guest, a few daemons; runs beside the alone tests
. "$(dirname "$0")/lib/sandbox.sh"

io=${KVMC_TEST_SANLOCK_IO_TIMEOUT:-1}

sb_init sl
sb_up 2
ls_file=$KVMC_SB_DIR/shared/lockspace.img
truncate -s 8M "$ls_file"
# Without -o, the lockspace records io_timeout 10 and joining takes 20 s.
sanlock direct init -s "sbtest:0:$ls_file:0" -o "$io" >&2 ||
    fail "sanlock direct init of $ls_file"

t0=$(sb_now_ms)
for n in 1 2; do
    sb_exec node$n sanlock client add_lockspace \
        -s "sbtest:$n:$ls_file:0" -o "$io" >&2 &
done
wait || true
for n in 1 2; do
    sb_exec node$n sanlock client status | grep -q "^s sbtest:$n:" ||
        fail "node$n did not join lockspace sbtest"
done
join_ms=$(($(sb_now_ms) - t0))

# host_state NODE HOST: the state NODE's sanlock gives HOST (LIVE, FAIL...).
host_state() {
    sb_exec "$1" sanlock client gets -h 1 |
        awk -v h="$2" '$1 == "h" && $2 == h { print $NF }'
}
both_live() {
    local n h
    for n in node1 node2; do
        for h in 1 2; do
            [ "$(host_state $n $h)" = LIVE ] || return 1
        done
    done
}
sb_wait_for 20 both_live ||
    fail "hosts not LIVE on both nodes (node1: $(sb_exec node1 sanlock client gets -h 1 | tr '\n' ' '))"
live_ms=$(($(sb_now_ms) - t0))

t1=$(sb_now_ms)
sb_kill node2
host2_failed() { [ "$(host_state node1 2)" = FAIL ]; }
sb_wait_for 40 host2_failed ||
    fail "node1 still sees host 2 as '$(host_state node1 2)' 40 s after node2 crashed"
fail_ms=$(($(sb_now_ms) - t1))
assert_eq LIVE "$(host_state node1 1)" "node1's own host state"

sb_down
sb_assert_gone
proof "lockspace (io_timeout $io s) joined by 2 nodes in $(sb_secs $join_ms)," \
    "both hosts LIVE on both after $(sb_secs $live_ms); node2 killed:" \
    "node1 saw host 2 FAIL after $(sb_secs $fail_ms)"
