#!/usr/bin/env bash
# 'down' removes everything whatever state it finds: after an 'up' that
# failed (with the reason printed), after 'up' processes crashed half-way at
# two points, after every process of a running sandbox was SIGKILLed; it is
# a no-op when there is nothing; and 'up' refuses an existing sandbox.
# kvmc-light: no guest, a few daemons; runs beside the alone tests
. "$(dirname "$0")/lib/sandbox.sh"

sb_init dn
export KVMC_SANDBOX_TIMEOUT=20

# Takes a snapshot of the sandbox's processes (whatever exists), runs down
# and checks nothing is left.
down_and_check() {
    sb_snapshot_procs 2>/dev/null || SB_SNAPSHOT=
    sb_down
    sb_assert_gone
}

# 1. A failing up: corosync rejects its configuration.
out=$(KVMC_SANDBOX_TOKEN=bogus "$SANDBOX" up 2 2>&1) &&
    fail "up with a bogus token succeeded"
grep -q 'FAILED: node1: corosync exited' <<<"$out" ||
    fail "up did not say what failed: $out"
grep -q 'totem.token' <<<"$out" || fail "up did not show corosync's error: $out"
down_and_check
cases="failed up (corosync error shown)"

# 2. up crashed (SIGKILL of its whole process group) at two points: while
# building the network, and once node holders are starting.
crash_up_when() {
    local what=$1 cond=$2 pid
    setsid "$SANDBOX" up 3 >/dev/null 2>&1 &
    pid=$!
    sb_wait_for 30 eval "$cond" || {
        kill -KILL -- -"$pid" 2>/dev/null
        fail "up never reached: $what"
    }
    kill -KILL -- -"$pid"
    wait "$pid" 2>/dev/null
    down_and_check
    cases="$cases, up killed $what"
}
crash_up_when "building the network" \
    "[ -e /run/netns/$KVMC_SANDBOX_NAME-node1 ]"
crash_up_when "starting node holders" \
    "[ -e $KVMC_SANDBOX_DIR/node2/holder ]"

# 3. A running sandbox whose processes all die at once (the harness or
# the host crashed): down must still clean namespaces, links and files.
sb_up 2
assert_eq "exists" "$("$SANDBOX" up 2 >/dev/null 2>&1 && echo up-again || echo exists)" \
    "up over an existing sandbox"
sb_partition node2
sb_snapshot_procs
n=$(echo $SB_SNAPSHOT | wc -w)
# shellcheck disable=SC2046
kill -KILL $(sb_pids) 2>/dev/null
sb_down
sb_assert_gone
cases="$cases, all $n processes SIGKILLed (partition active)"

# 4. Nothing there: down succeeds and does nothing.
sb_down
sb_assert_gone

proof "down left nothing after: $cases; and succeeded on nothing"
