#!/usr/bin/env bash
# lunbridge when the target misbehaves: tgtd killed -> reads get EIO within
# the deadline and the mount stays responsive; tgtd restarted -> the same
# mount works again (no remount) and the data is intact; a LUN removed
# from the running target -> EIO with a log line naming it.
# kvmc-alone: measures time closely or loads the whole machine
. "$(dirname "$0")/lib/sandbox.sh"

LB=$KVMC_BUILDDIR/iscsi/lunbridge
MNT=/run/kvmcluster/luns
DEADLINE_MS=2000

sb_init lbt
[ -x "$LB" ] || skip "no lunbridge at $LB (build first)"
[ -e /dev/fuse ] || skip "no /dev/fuse"
KVMC_SANDBOX_LUNS="128M:512 64M:512" sb_up 2
WORK=$KVMC_SANDBOX_DIR/lbtest
mkdir -p "$WORK"

cat >"$WORK/node1.conf" <<EOF
[lunbridge]
mountpoint = $MNT
initiator-name = iqn.2026-11.org.kvmcluster:node1
deadline = ${DEADLINE_MS}ms
[target csv]
portal = $KVMC_SB_PORTAL
iqn = $KVMC_SB_IQN
EOF
LOG=$WORK/node1.log
pid=$(sb_exec node1 bash -c 'setsid "$1" -f -c "$2" </dev/null >>"$3" 2>&1 &
    echo $!' lb "$LB" "$WORK/node1.conf" "$LOG")
sb_wait_for 15 grep -q "serving .* LUN" "$LOG" ||
    fail "lunbridge did not mount: $(tail -5 "$LOG")"
lun1=$(sb_exec node1 find "$MNT" -type f -size 131072k -printf '%f\n')
lun2=$(sb_exec node1 find "$MNT" -type f -size 65536k -printf '%f\n')
[ -n "$lun1" ] && [ -n "$lun2" ] || fail "LUN files missing: '$lun1' '$lun2'"

# read_ms NODE FILE: one 4 KiB O_DIRECT read; prints "OK ms" or "EIO ms".
read_ms() {
    local t0 out rc
    t0=$(sb_now_ms)
    out=$(sb_exec node1 dd if="$MNT/$1" of=/dev/null bs=4096 count=1 \
        iflag=direct 2>&1)
    rc=$?
    if [ $rc -eq 0 ]; then
        echo "OK $(($(sb_now_ms) - t0))"
    elif grep -q "Input/output error" <<<"$out"; then
        echo "EIO $(($(sb_now_ms) - t0))"
    else
        echo "ERR $(($(sb_now_ms) - t0)) $out"
    fi
}

head -c 1M /dev/urandom >"$WORK/block"
want=$(sha256sum <"$WORK/block" | cut -c1-16)
sb_exec node1 dd if="$WORK/block" of="$MNT/$lun1" bs=1M seek=3 oflag=direct \
    conv=notrunc,fsync status=none || fail "write before the kill failed"

# --- tgtd killed in the middle of a stream of reads -------------------------
# A reader loops over LUN 1 with 64 KiB O_DIRECT reads; tgtd dies under it.
sb_exec node1 bash -c 'while :; do
        dd if="$1" of=/dev/null bs=64k iflag=direct status=none || break
    done; echo "reader stopped at $(date +%s%3N)" >"$2"' r "$MNT/$lun1" \
    "$WORK/reader.done" &
reader=$!
reader_busy() { [ ! -e "$WORK/reader.done" ] && kill -0 "$reader"; }
sb_wait_for 5 reader_busy || fail "the reader did not start"
tgtd_pid=$(sb_exec storage pgrep -x tgtd) || fail "no tgtd in storage"
t_kill=$(sb_now_ms)
sb_exec storage kill -KILL "$tgtd_pid"
sb_wait_for 5 bash -c "! $SANDBOX exec storage kill -0 $tgtd_pid" ||
    fail "tgtd survived SIGKILL"
sb_wait_for $((DEADLINE_MS / 1000 + 3)) test -e "$WORK/reader.done" ||
    fail "the reader still hangs $((DEADLINE_MS / 1000 + 3)) s after the kill"
wait "$reader"
midio_ms=$(($(awk '{ print $4 }' "$WORK/reader.done") - t_kill))
[ "$midio_ms" -le $((DEADLINE_MS + 1500)) ] ||
    fail "the reader got its error $midio_ms ms after the kill (deadline $DEADLINE_MS ms)"
set -- $(read_ms "$lun1")
[ "$1" = EIO ] || fail "read with tgtd dead: expected EIO, got $*"
eio_ms=$2
[ "$eio_ms" -le $((DEADLINE_MS + 1500)) ] ||
    fail "EIO took $eio_ms ms, deadline is $DEADLINE_MS ms"
# Directory operations never wait for the target.
# Timed inside the node, so nsenter's start-up is not counted.
set -- $(sb_exec node1 bash -c 't0=$(date +%s%3N); n=$(ls -l "$1" | grep -c naa)
    echo "$n $(($(date +%s%3N) - t0))"' l "$MNT")
assert_eq 2 "$1" "the mount still lists both LUNs"
ls_ms=$2
[ "$ls_ms" -lt 500 ] || fail "ls -l took $ls_ms ms with the target down"
grep -q "connection to portal $KVMC_SB_PORTAL lost" "$LOG" ||
    fail "no log line about the lost connection"
grep -q "LUN 1 ($lun1) at portal $KVMC_SB_PORTAL: READ(16) got no completion within the $DEADLINE_MS ms deadline" "$LOG" ||
    fail "no log line naming the LUN and the deadline: $(tail -3 "$LOG")"

# --- tgtd restarted with the same LUNs -------------------------------------
# Re-creates the target exactly as scripts/sandbox does.
tgt() { sb_exec storage tgtadm --lld iscsi "$@" >>"$WORK/tgtadm.log" 2>&1; }
restart_tgtd() {
    local i f s
    sb_exec storage bash -c 'setsid tgtd -f </dev/null >>"$1" 2>&1 &' t \
        "$KVMC_SANDBOX_DIR/storage/tgtd.out"
    sb_wait_for 10 sb_exec storage tgtadm --lld iscsi --mode sys --op show ||
        fail "restarted tgtd does not answer"
    tgt --mode target --op new --tid 1 --targetname "$KVMC_SB_IQN" ||
        fail "cannot recreate the target"
    for i in 1 2; do
        eval "f=\$KVMC_SB_LUN${i}_FILE s=\$KVMC_SB_LUN${i}_SECTOR"
        tgt --mode logicalunit --op new --tid 1 --lun $i --backing-store "$f" \
            --blocksize "$s" || fail "cannot re-add LUN $i"
        tgt --mode logicalunit --op update --tid 1 --lun $i \
            --params "scsi_sn=$KVMC_SANDBOX_NAME-lun$i,scsi_id=$KVMC_SANDBOX_NAME-lun$i" ||
            fail "cannot rename LUN $i"
    done
    tgt --mode target --op bind --tid 1 --initiator-address ALL ||
        fail "cannot bind the target"
}
t_restart=$(sb_now_ms)
restart_tgtd
lun1_reads() {
    sb_exec node1 dd if="$MNT/$lun1" of=/dev/null bs=4096 count=1 \
        iflag=direct status=none
}
sb_wait_for 15 lun1_reads ||
    fail "reads did not recover within 15 s of the restart: $(tail -5 "$LOG")"
recover_ms=$(($(sb_now_ms) - t_restart))
got=$(sb_exec node1 dd if="$MNT/$lun1" bs=1M skip=3 count=1 iflag=direct \
    status=none | sha256sum | cut -c1-16)
assert_eq "$want" "$got" "data written before the kill reads back after"
mounts=$(sb_exec node1 grep -c " $MNT " /proc/self/mountinfo)
assert_eq 1 "$mounts" "still the one original mount"
grep -q "logged in again at portal $KVMC_SB_PORTAL" "$LOG" ||
    fail "no log line about the new login"

# --- the storage network goes silent (packets dropped, no RST) ------------
sb_partition node1 --storage
set -- $(read_ms "$lun1")
[ "$1" = EIO ] || fail "read with the storage unreachable: expected EIO, got $*"
silent_ms=$2
[ "$silent_ms" -le $((DEADLINE_MS + 1500)) ] ||
    fail "EIO took $silent_ms ms with the storage unreachable"
t_heal=$(sb_now_ms)
sb_heal
sb_wait_for 15 lun1_reads ||
    fail "reads did not recover within 15 s of the heal: $(tail -5 "$LOG")"
heal_ms=$(($(sb_now_ms) - t_heal))

# --- the storage goes silent while nobody does I/O -------------------------
# The keepalive NOP-Out (every 5 s on an idle session) finds the dead path
# on its own, before any write would.
sb_partition node1 --storage
t_idle=$(sb_now_ms)
nkeep=$(grep -c "keepalive NOP-Out got no answer" "$LOG")
keepalive_seen() {
    [ "$(grep -c "keepalive NOP-Out got no answer within $DEADLINE_MS ms" "$LOG")" -gt "$nkeep" ]
}
sb_wait_for $((5 + DEADLINE_MS / 1000 + 3)) keepalive_seen ||
    fail "idle session: no keepalive failure logged within $((5 + DEADLINE_MS / 1000 + 3)) s of the partition: $(tail -3 "$LOG")"
idle_ms=$(($(sb_now_ms) - t_idle))
sb_heal
sb_wait_for 15 lun1_reads ||
    fail "reads did not recover within 15 s of the second heal: $(tail -5 "$LOG")"

# --- a LUN removed from the live target --------------------------------------
# LUN 2 is read once first, so its removal is found by the READ itself and
# not by the identity check that follows a reconnect.
set -- $(read_ms "$lun2")
[ "$1" = OK ] || fail "LUN 2 before removal: $*"
tgt --mode logicalunit --op delete --tid 1 --lun 2 ||
    fail "tgtadm cannot delete LUN 2: $(tail -2 "$WORK/tgtadm.log")"
set -- $(read_ms "$lun2")
[ "$1" = EIO ] || fail "read of the removed LUN: expected EIO, got $*"
gone_ms=$2
sb_wait_for 3 grep -q "LUN 2 ($lun2) at portal $KVMC_SB_PORTAL: .*not supported (LUN removed" "$LOG" ||
    fail "no log line naming the removed LUN: $(tail -3 "$LOG")"
why=$(grep "LUN 2 ($lun2)" "$LOG" | tail -1 | sed 's/.*portal [^ ]*: //')
set -- $(read_ms "$lun1")
[ "$1" = OK ] || fail "LUN 1 should still work, got $*"

# --- the target comes back with another disk behind LUN 1 -------------------
# tgtd restarted with target id 2, no stable ids, and LUN 2's file as LUN 1:
# the LUN answers under another NAA, and lunbridge must not write on it.
tgtd_pid=$(sb_exec storage pgrep -x tgtd) || fail "no tgtd in storage"
sb_exec storage kill -KILL "$tgtd_pid"
sb_wait_for 5 bash -c "! $SANDBOX exec storage kill -0 $tgtd_pid" ||
    fail "tgtd survived SIGKILL"
sb_exec storage bash -c 'setsid tgtd -f </dev/null >>"$1" 2>&1 &' t \
    "$KVMC_SANDBOX_DIR/storage/tgtd.out"
sb_wait_for 10 sb_exec storage tgtadm --lld iscsi --mode sys --op show ||
    fail "restarted tgtd does not answer"
tgt --mode target --op new --tid 2 --targetname "$KVMC_SB_IQN" &&
    tgt --mode logicalunit --op new --tid 2 --lun 1 \
        --backing-store "$KVMC_SB_LUN2_FILE" &&
    tgt --mode target --op bind --tid 2 --initiator-address ALL ||
    fail "cannot build the impostor target"
other=$(sha256sum <"$KVMC_SB_LUN2_FILE")
wrote=$(sb_exec node1 dd if="$WORK/block" of="$MNT/$lun1" bs=1M seek=5 \
    oflag=direct conv=notrunc status=none 2>&1 && echo written)
[ "$wrote" != written ] || fail "a write reached the impostor LUN"
sb_wait_for 5 grep -q "identity check after reconnect: LUN now carries id .*, expected $lun1" "$LOG" ||
    fail "no identity log line: $(tail -3 "$LOG")"
assert_eq "$other" "$(sha256sum <"$KVMC_SB_LUN2_FILE")" \
    "the impostor's disk is untouched"
set -- $(read_ms "$lun1")
[ "$1" = EIO ] || fail "read of the impostor: expected EIO, got $*"
impostor=$(grep -o "now carries id [^,]*" "$LOG" | tail -1 | cut -d' ' -f4)

sb_exec node1 kill -TERM "$pid"
sb_wait_for 10 bash -c "! $SANDBOX exec node1 kill -0 $pid" ||
    fail "lunbridge did not exit on SIGTERM"
! grep -E -A5 "Sanitizer|runtime error" "$LOG" ||
    fail "lunbridge hit a sanitizer error"
proof "lunbridge vs target: tgtd killed under a streaming reader -> reader got EIO $midio_ms ms after the kill, a new read EIO in $eio_ms ms (deadline $DEADLINE_MS ms), ls -l answered in $ls_ms ms; tgtd restarted -> reads back ${recover_ms} ms after restart on the same mount, 1 MiB written before the kill intact (sha256 $want); storage partitioned (silent drops) -> EIO in $silent_ms ms, healed -> reads back in $heal_ms ms; storage silent while idle -> keepalive found it in $idle_ms ms; LUN 2 deleted -> EIO in $gone_ms ms ('$why'), LUN 1 unaffected; target back with $impostor behind LUN 1 -> write refused, impostor disk untouched, reads EIO in $2 ms"
