#!/usr/bin/env bash
# kvmc-timeout: 240
# The whole per-node stack of the sandbox (KVMC_SANDBOX_DAEMONS=all) on 2
# nodes: each node's lunbridge shows the target's LUNs as files with the
# same ids and sizes on both nodes; the CSV the sandbox formatted on LUN 1
# has both nodes' sanlocks live in its lockspace (host_id = node number);
# each hvagent and clusterd answers, clusterd with both nodes as members;
# each node has its own kvmcluster.conf; a crashed node restarts with all
# of it; down leaves nothing behind.
# kvmc-light: no guest, a few daemons; runs beside the alone tests
. "$(dirname "$0")/lib/sandbox.sh"

sb_init stk
sb_require_stack
B=$KVMC_BUILDDIR
CTL=$B/cli/clusterctl
CDCTL=$CTL
[ -x "$CDCTL" ] || fail "$CDCTL is not built"

KVMC_SANDBOX_DAEMONS=all sb_up 2
daemons=$(sed -n "s/^SB_DAEMONS_LIST='\(.*\)'$/\1/p" "$KVMC_SANDBOX_DIR/sandbox.env")
assert_eq "corosync sanlock lunbridge csv hvagent clusterd" "$daemons" \
    "daemons the sandbox came up with"

# 1. LUN files: same names and sizes on both nodes, one per LUN.
luns() {
    sb_exec "$1" find /run/kvmcluster/luns -mindepth 1 -maxdepth 1 -type f \
        -printf '%f %s\n' | sort
}
l1=$(luns node1)
l2=$(luns node2)
nluns=$(wc -l <<<"$l1")
assert_eq 3 "$nluns" "LUN files on node1 ($l1)"
assert_eq "$l1" "$l2" "LUN files (id size) on node2 vs node1"
# The main LUN is 2 GiB; its file is what csv.env names.
sb_csv_env
main=$(basename "$SB_CSV_PATH")
grep -q "^$main 2147483648\$" <<<"$l1" ||
    fail "the CSV's LUN $main is not the 2 GiB LUN 1: $l1"

# 2. The CSV: a volume named after the sandbox, both hosts live.
hosts_live() {
    local out
    out=$(sb_exec node1 "$CTL" volume inspect "$SB_CSV_PATH") || return 1
    grep -Eq "^  host 1 .* live +'$KVMC_SANDBOX_NAME-node1'" <<<"$out" &&
        grep -Eq "^  host 2 .* live +'$KVMC_SANDBOX_NAME-node2'" <<<"$out"
}
sb_wait_for 20 hosts_live ||
    fail "lockspace hosts: $(sb_exec node1 "$CTL" volume inspect "$SB_CSV_PATH" | grep '^  host')"
inspect=$(sb_exec node2 "$CTL" volume inspect "$SB_CSV_PATH")
grep -q "^volume '$KVMC_SANDBOX_NAME-csv'" <<<"$inspect" ||
    fail "volume name: $(head -n1 <<<"$inspect")"
grep -q 'io_timeout 1 s' <<<"$inspect" || fail "io_timeout is not 1 s"
for n in 1 2; do
    sb_exec node$n sanlock client status | grep -q "^s $SB_CSV_LS:$n:" ||
        fail "node$n's sanlock has not joined $SB_CSV_LS as host $n"
done

# 3. hvagent and clusterd answer on both nodes; clusterd sees 2 members.
for n in 1 2; do
    sb_exec node$n "$B/hvagent/hvactl" status >/dev/null ||
        fail "node$n: hvagent does not answer"
done
members() { [ "$(sb_exec "$1" "$CDCTL" status --output xml | grep -c '<member ')" -eq 2 ]; }
for n in 1 2; do
    sb_wait_for 20 members node$n ||
        fail "node$n: clusterd: $(sb_exec node$n "$CDCTL" status 2>&1 | head -n 5)"
done

# 4. Each node has its own configuration.
for n in 1 2; do
    conf=$(sb_exec node$n cat /etc/kvmcluster/kvmcluster.conf)
    grep -q "^node-name = node$n\$" <<<"$conf" || fail "node$n's kvmcluster.conf: $conf"
    grep -q "^migration-address = $KVMC_SB_PREFIX.$n\$" <<<"$conf" ||
        fail "node$n's migration-address"
    grep -q "^#   host-id = $n\$" <<<"$conf" && grep -q '^#   io-timeout = 1s$' <<<"$conf" ||
        fail "node$n's kvmcluster.conf does not record its CSV host_id and io_timeout"
done
[ ! -e /etc/kvmcluster/kvmcluster.conf ] ||
    grep -qv "sandbox '$KVMC_SANDBOX_NAME'" /etc/kvmcluster/kvmcluster.conf ||
    fail "the host's /etc/kvmcluster/kvmcluster.conf is the sandbox's"

# 5. A crashed node comes back with the whole stack: its lunbridge mounts
# again, its sanlock rejoins the CSV as host 2 (same owner name: no wait
# for the host-dead time), hvagent and clusterd answer.
sb_kill node2
t0=$(sb_now_ms)
sb_start node2
restart_ms=$(($(sb_now_ms) - t0))
assert_eq "$l1" "$(luns node2)" "LUN files on node2 after its restart"
sb_wait_for 20 hosts_live || fail "host 2 not live again after node2's restart"
sb_exec node2 "$B/hvagent/hvactl" status >/dev/null ||
    fail "node2: hvagent does not answer after the restart"
sb_wait_for 20 members node2 || fail "node2: clusterd does not see 2 members again"

# 6. down leaves nothing.
sb_snapshot_procs
nprocs=$(echo $SB_SNAPSHOT | wc -w)
sb_down
sb_assert_gone
proof "full stack on 2 nodes up in $(sb_secs $SB_UP_MS): $nluns LUN files" \
    "with identical ids/sizes on both nodes, CSV '$SB_CSV_LS' on $main with" \
    "hosts 1 and 2 live, hvagent and clusterd (2 members) answering on" \
    "both, per-node kvmcluster.conf; node2 crashed and back with all of it" \
    "in $(sb_secs $restart_ms); down in $(sb_secs $SB_DOWN_MS) left" \
    "none of $nprocs processes, no namespace, link, mount or dir"
