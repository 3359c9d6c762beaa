#!/usr/bin/env bash
# Cluster-shared volume on storage both nodes see: each node's sanlock joins
# the CSV lockspace (host_id = node id), node1 and node2 allocate 200
# extents each at the same time, every one under the metadata lease taken
# through their own sanlock daemon; the result has no overlap and loses no
# allocation. Format refuses the volume while its hosts are live, and
# accepts it (with --force) once they have left.
#
# KVMC_CSV_ON picks the shared storage: "file" (default; a file in the
# sandbox directory, which both nodes' mount namespaces see) or "lunbridge"
# (an iSCSI LUN of the sandbox's target through each node's lunbridge FUSE
# mount; test-csv-lunbridge.sh runs that; KVMC_CSV_LUNS sets its size and
# sector size, default 1G:512).
# kvmc-timeout: 400
# kvmc-light: no guest, a few daemons; runs beside the alone tests
. "$(dirname "$0")/lib/sandbox.sh"

CTL=$KVMC_BUILDDIR/cli/clusterctl
LB=$KVMC_BUILDDIR/iscsi/lunbridge
MNT=/run/kvmcluster/luns
ON=${KVMC_CSV_ON:-file}
PER_NODE=${KVMC_CSV_ALLOCS:-200}

export KVMC_SANDBOX_DAEMONS=${KVMC_SANDBOX_DAEMONS:-sanlock}
case $ON in
file) sb_init csv ;;
lunbridge) sb_init csvl ;;
*) fail "KVMC_CSV_ON='$ON': expected file or lunbridge" ;;
esac
[ -x "$CTL" ] || skip "no $CTL (build kvmcluster first)"

# ctl NODE ARGS...: clusterctl inside NODE.
ctl() {
    local node=$1
    shift
    sb_exec "$node" "$CTL" "$@"
}

# lb_start NODE: lunbridge in NODE against the sandbox's target; waits for
# its mount.
lb_start() {
    local node=$1 conf log
    conf=$KVMC_SANDBOX_DIR/lb-$node.conf
    log=$KVMC_SANDBOX_DIR/lb-$node.log
    printf '%s\n' "[lunbridge]" "mountpoint = $MNT" \
        "initiator-name = iqn.2026-11.org.kvmcluster:$node" "deadline = 5s" \
        "[target csv]" "portal = $KVMC_SB_PORTAL" "iqn = $KVMC_SB_IQN" \
        >"$conf"
    sb_exec "$node" bash -c 'setsid "$1" -f -c "$2" </dev/null >>"$3" 2>&1 &' \
        lb "$LB" "$conf" "$log" || fail "$node: cannot start lunbridge"
    sb_wait_for 20 grep -q "serving .* LUN" "$log" ||
        fail "$node: lunbridge did not mount within 20 s: $(tail -5 "$log")"
}

if [ "$ON" = lunbridge ]; then
    [ -x "$LB" ] || skip "no lunbridge at $LB (build first)"
    [ -e /dev/fuse ] || skip "no /dev/fuse"
    KVMC_SANDBOX_LUNS=${KVMC_CSV_LUNS:-1G:512} sb_up 2
    lb_start node1
    lb_start node2
    lun=$(sb_exec node1 find "$MNT" -maxdepth 1 -type f -printf '%f\n' | head -1)
    [ -n "$lun" ] || fail "node1's lunbridge shows no LUN"
    sb_exec node2 test -f "$MNT/$lun" || fail "node2's lunbridge lacks $lun"
    vol=$MNT/$lun
    where="iSCSI LUN $lun through both nodes' lunbridge"
else
    sb_up 2
    vol=$KVMC_SANDBOX_DIR/csv.img
    truncate -s 2G "$vol" || fail "cannot create $vol"
    where="a file both nodes share"
fi
ls_name=csvtest$$
ctl node1 volume format "$vol" --name "$ls_name" --io-timeout 1 --slots 8 >&2 ||
    fail "format of $vol failed"
ls_off=$(ctl node1 volume inspect "$vol" | awk '$1 == "lockspace" { print $3 }')
[ -n "$ls_off" ] || fail "inspect shows no lockspace region"

# Both sanlocks join, as clusterd will: host_id = corosync node id.
t0=$(sb_now_ms)
for id in 1 2; do
    sb_exec node$id sanlock client add_lockspace \
        -s "$ls_name:$id:$vol:$ls_off" -o 1 >&2 ||
        fail "node$id: sanlock add_lockspace failed"
done
hosts_live() {
    local out
    out=$(ctl node1 volume inspect "$vol") || return 1
    grep -Eq "^  host 1 .* live " <<<"$out" &&
        grep -Eq "^  host 2 .* live " <<<"$out"
}
sb_wait_for 30 hosts_live || fail "node1's sanlock never saw hosts 1 and 2 live"
join_ms=$(($(sb_now_ms) - t0))

# 200 + 200 allocations at once, one metadata lease acquisition each.
t0=$(sb_now_ms)
pids=()
for id in 1 2; do
    ctl node$id volume alloc-stress "$vol" --count "$PER_NODE" \
        --tag "n$id" --pause-ms 20 >"$KVMC_SANDBOX_DIR/alloc$id.out" 2>&1 &
    pids+=($!)
done
for id in 1 2; do
    wait "${pids[$((id - 1))]}" ||
        fail "node$id allocations failed: $(cat "$KVMC_SANDBOX_DIR/alloc$id.out")"
done
alloc_ms=$(($(sb_now_ms) - t0))
sb_log "node1: $(cat "$KVMC_SANDBOX_DIR/alloc1.out")"
sb_log "node2: $(cat "$KVMC_SANDBOX_DIR/alloc2.out")"

check_out=$(ctl node2 volume check "$vol") || fail "check failed: $check_out"
inspect=$(ctl node2 volume inspect "$vol")
# Extent lines: id offset MiB owner kind index tag
ext=$(awk '/^extents/ { e = 1; next } /^free space/ { e = 0 }
           e && $1 ~ /^[0-9]+$/ { print $2, $3, $7 }' <<<"$inspect")
n1=$(grep -c ' n1-' <<<"$ext")
n2=$(grep -c ' n2-' <<<"$ext")
uniq_tags=$(awk '{ print $3 }' <<<"$ext" | sort -u | wc -l)
assert_eq "$PER_NODE" "$n1" "node1's extents on disk"
assert_eq "$PER_NODE" "$n2" "node2's extents on disk"
assert_eq $((2 * PER_NODE)) "$uniq_tags" "distinct allocation tags"
# Independent overlap check: sorted by offset, each ends before the next.
overlaps=$(sort -n <<<"$ext" | awk '
    NR > 1 && $1 < end { n++ }
    { end = $1 + $2 * 1048576 }
    END { print n + 0 }')
assert_eq 0 "$overlaps" "overlapping extents"
# How often the allocations alternate between the nodes along the disk.
runs=$(sort -n <<<"$ext" | awk '{ split($3, t, "-"); if (t[1] != p) n++; p = t[1] }
    END { print n }')

# While the hosts are live, format is refused, --force or not: on a node
# whose sanlock has joined (sanlock's view), and where clusterctl has no
# sanlock view (another run dir) and watches the delta leases instead.
rc=0
out=$(ctl node1 volume format "$vol" --name other --force 2>&1) || rc=$?
assert_eq 4 "$rc" "format --force on node1 while hosts are live ($out)"
grep -q 'live' <<<"$out" || fail "refusal does not say why: $out"
rc=0
t1=$(sb_now_ms)
out=$(sb_exec node2 env SANLOCK_RUN_DIR=/nonexistent "$CTL" volume format \
    "$vol" --name other --force 2>&1) || rc=$?
refuse_ms=$(($(sb_now_ms) - t1))
assert_eq 4 "$rc" "format --force without a sanlock view, hosts live ($out)"
rc=0
out=$(ctl node2 volume format "$vol" --name other 2>&1) || rc=$?
assert_eq 4 "$rc" "format without --force on a valid CSV"
ctl node1 volume check "$vol" >/dev/null || fail "volume damaged by a refused format"

# Once both have left the lockspace, --force is accepted.
for id in 1 2; do
    sb_exec node$id sanlock client rem_lockspace \
        -s "$ls_name:$id:$vol:$ls_off" >&2 ||
        fail "node$id: rem_lockspace failed"
done
ctl node2 volume format "$vol" --name "${ls_name}b" --force --io-timeout 1 \
    --slots 8 >&2 || fail "format --force after the hosts left failed"
ctl node1 volume check "$vol" >/dev/null || fail "check after reformat failed"

sb_down
proof "CSV on $where: 2 nodes joined lockspace '$ls_name'" \
    "($(sb_secs $join_ms)); $PER_NODE+$PER_NODE concurrent allocations under" \
    "the sanlock metadata lease in $(sb_secs $alloc_ms): $((n1 + n2)) extents" \
    "on disk in $runs alternating runs, 0 overlaps, check clean; format" \
    "refused (exit 4) while hosts live (sanlock's view, and by watching" \
    "leases in $(sb_secs $refuse_ms) without it), accepted after they left"
