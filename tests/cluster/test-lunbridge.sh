#!/usr/bin/env bash
# lunbridge on two nodes: both expose the same LUNs (same id, same size);
# a block written through node1's bridge reads back identically through
# node2's (O_DIRECT both ways), unaligned writes (read-modify-write) and
# fsync work, and SIGTERM unmounts cleanly.
# kvmc-light: no guest, a few daemons; runs beside the alone tests
. "$(dirname "$0")/lib/sandbox.sh"

LB=$KVMC_BUILDDIR/iscsi/lunbridge
MNT=/run/kvmcluster/luns

sb_init lb
[ -x "$LB" ] || skip "no lunbridge at $LB (build first)"
[ -e /dev/fuse ] || skip "no /dev/fuse"
KVMC_SANDBOX_LUNS="256M:512 64M:4096" sb_up 2
WORK=$KVMC_SANDBOX_DIR/lbtest
mkdir -p "$WORK"

# lb_conf NODE: a config for NODE against the sandbox's target.
lb_conf() {
    cat >"$WORK/$1.conf" <<EOF
[lunbridge]
mountpoint = $MNT
initiator-name = iqn.2026-11.org.kvmcluster:$1
deadline = 3s
[target csv]
portal = $KVMC_SB_PORTAL
iqn = $KVMC_SB_IQN
EOF
}

# lb_start NODE: starts lunbridge in NODE, waits for its mount; sets
# LB_PID_<node> (pid inside the node's pid namespace).
lb_start() {
    local node=$1 pid
    lb_conf "$node"
    pid=$(sb_exec "$node" bash -c 'setsid "$1" -f -c "$2" </dev/null \
        >>"$3" 2>&1 & echo $!' lb "$LB" "$WORK/$node.conf" "$WORK/$node.log")
    [ -n "$pid" ] || fail "$node: cannot start lunbridge"
    eval "LB_PID_$node=$pid"
    sb_wait_for 15 grep -q "serving .* LUN" "$WORK/$node.log" ||
        fail "$node: lunbridge did not mount within 15 s: $(tail -5 "$WORK/$node.log")"
}

lb_stop() {
    local node=$1 pid
    eval "pid=\$LB_PID_$node"
    sb_exec "$node" kill -TERM "$pid"
    sb_wait_for 10 bash -c "! $SANDBOX exec $node kill -0 $pid" ||
        fail "$node: lunbridge still running 10 s after SIGTERM"
    # A sanitizer build (--with-sanitizers) reports here.
    ! grep -E -A5 "Sanitizer|runtime error" "$WORK/$node.log" ||
        fail "$node: lunbridge hit a sanitizer error"
}

# ls -l of the mount as "name size" lines.
lb_listing() {
    sb_exec "$1" find "$MNT" -maxdepth 1 -type f -printf '%f %s\n' | sort
}

lb_start node1
lb_start node2

l1=$(lb_listing node1)
l2=$(lb_listing node2)
sb_log "node1 sees: $(echo $l1)"
sb_log "node2 sees: $(echo $l2)"
[ "$(echo "$l1" | wc -l)" -eq 2 ] || fail "node1 should show 2 LUNs, got: $l1"
assert_eq "$l1" "$l2" "both nodes expose the same LUN ids and sizes"
lun512=$(echo "$l1" | awk '$2 == 268435456 { print $1 }')
lun4k=$(echo "$l1" | awk '$2 == 67108864 { print $1 }')
[[ $lun512 == naa.* ]] || fail "the 256 MiB LUN is not named by its NAA id: '$lun512'"
[ -n "$lun4k" ] || fail "no 64 MiB LUN"

# 1 MiB of random data at 17 MiB, written through node1 with O_DIRECT and
# fsync, read through node2 with O_DIRECT.
head -c 1M /dev/urandom >"$WORK/block"
want=$(sha256sum <"$WORK/block" | cut -c1-16)
t0=$(sb_now_ms)
sb_exec node1 dd if="$WORK/block" of="$MNT/$lun512" bs=1M seek=17 \
    oflag=direct conv=notrunc,fsync status=none ||
    fail "O_DIRECT write through node1 failed"
wms=$(($(sb_now_ms) - t0))
got=$(sb_exec node2 dd if="$MNT/$lun512" bs=1M skip=17 count=1 iflag=direct \
    status=none | sha256sum | cut -c1-16)
assert_eq "$want" "$got" "node2 reads what node1 wrote"
back=$(dd if="$KVMC_SB_LUN1_FILE" bs=1M skip=17 count=1 status=none |
    sha256sum | cut -c1-16)
assert_eq "$want" "$back" "the target's backing file holds the block"

# Unaligned write on the 4096-byte-sector LUN through node2 (RMW of two
# blocks), read back through node1; the bytes around it are untouched.
dd if=/dev/urandom of="$KVMC_SB_LUN2_FILE" bs=4096 count=4 conv=notrunc \
    status=none
before=$(dd if="$KVMC_SB_LUN2_FILE" bs=4096 count=4 status=none | sha256sum)
printf 'kvmcluster-lunbridge-rmw' >"$WORK/small"
sb_exec node2 dd if="$WORK/small" of="$MNT/$lun4k" bs=1 seek=4090 \
    conv=notrunc,fsync status=none || fail "unaligned write through node2 failed"
got=$(sb_exec node1 dd if="$MNT/$lun4k" bs=1 skip=4090 count=24 status=none)
assert_eq "kvmcluster-lunbridge-rmw" "$got" "node1 reads node2's unaligned write"
after_neighbours=$(sb_exec node1 dd if="$MNT/$lun4k" bs=4096 count=4 \
    iflag=direct status=none | cmp -n 16384 - "$KVMC_SB_LUN2_FILE" >/dev/null && echo same)
assert_eq same "$after_neighbours" "node1's view equals the backing file"
[ "$before" != "$(dd if="$KVMC_SB_LUN2_FILE" bs=4096 count=4 status=none | sha256sum)" ] ||
    fail "the unaligned write did not reach the target"

# Several I/Os in flight: 4 parallel 4 MiB readers finish without error.
t0=$(sb_now_ms)
sb_exec node2 bash -c "for i in 0 1 2 3; do dd if=$MNT/$lun512 of=/dev/null \
    bs=1M skip=\$((i * 4)) count=4 iflag=direct status=none & done; wait" ||
    fail "parallel reads failed"
pms=$(($(sb_now_ms) - t0))

# sanlock's own O_DIRECT/aio I/O on the bridged file: node1 writes a
# lockspace, node2 reads it back.
sb_exec node1 sanlock direct init -s "lbtest:0:$MNT/$lun512:0" >/dev/null ||
    fail "sanlock direct init on the bridged file failed"
sl=$(sb_exec node2 sanlock direct read_leader -s "lbtest:1:$MNT/$lun512:0" 2>&1 |
    awk '/^space_name/ { print $2 }')
assert_eq lbtest "$sl" "node2 reads the lockspace leader node1 wrote"

lb_stop node1
lb_stop node2
mounts=$(sb_exec node1 grep -c " $MNT " /proc/self/mountinfo)
assert_eq 0 "$mounts" "node1's mount is gone after SIGTERM"
grep -q "unmounted $MNT" "$WORK/node1.log" || fail "no unmount log line"

proof "lunbridge: 2 nodes expose the same 2 LUNs ($lun512 268435456 B, $lun4k 67108864 B); 1 MiB O_DIRECT write via node1 (${wms} ms) read back via node2 and in the backing file with sha256 $want; unaligned 24-byte write at 4090 on the 4096-byte LUN via node2 read back via node1; 4 parallel 4 MiB readers in ${pms} ms; sanlock lockspace '$sl' written via node1 (direct init) read via node2 (read_leader); SIGTERM unmounted both"
