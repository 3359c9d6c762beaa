#!/usr/bin/env bash
# lunbridge --supervise, what happens to a request in flight when the
# worker dies, and the supervisor's life cycle:
#  1. a 1 MiB O_DIRECT read in flight in the worker (the storage cut off,
#     so the target never answers) when the worker is SIGKILLed: the
#     kernel re-sends it to the next worker, which serves it once the
#     storage is back; the reader gets the right data, no error;
#  2. the same on the old kernels' path (KVMC_LUNBRIDGE_NO_RESEND): the
#     read fails with an error soon after the kill instead of waiting for
#     ever, and the same mount serves new reads afterwards;
#  3. SIGTERM to the supervisor stops the worker and unmounts; SIGKILL of
#     the supervisor ends its worker (and so the mount); an operator's
#     umount ends worker and supervisor;
#  4. before any worker served, a failure is final: an unknown target IQN
#     exits 1, a bad configuration 2, as without --supervise.
# kvmc-light: no guest, a few daemons; runs beside the alone tests
. "$(dirname "$0")/lib/sandbox.sh"

LB=$KVMC_BUILDDIR/iscsi/lunbridge
MNT=/run/kvmcluster/luns
DEADLINE_MS=20000

sb_init lbsup
[ -x "$LB" ] || skip "no lunbridge at $LB (build first)"
[ -e /dev/fuse ] || skip "no /dev/fuse"
KVMC_SANDBOX_LUNS="128M:512 64M:512" sb_up 2
WORK=$KVMC_SANDBOX_DIR/lbtest
mkdir -p "$WORK"

conf() { # NAME IQN [EXTRA-LINE]
    printf '%s\n' "[lunbridge]" "mountpoint = $MNT" \
        "initiator-name = iqn.2026-11.org.kvmcluster:node1" \
        "deadline = ${DEADLINE_MS}ms" "${3:-}" "[target t]" \
        "portal = $KVMC_SB_PORTAL" "iqn = $2" >"$WORK/$1.conf"
}
conf good "$KVMC_SB_IQN"
LOG=$WORK/lb.log

# start [ENV...]: lunbridge --supervise in node1; sets SUP.
start() {
    # shellcheck disable=SC2016
    SUP=$(sb_exec node1 env "$@" bash -c 'setsid "$1" -f --supervise -c "$2" \
        </dev/null >>"$3" 2>&1 & echo $!' lb "$LB" "$WORK/good.conf" "$LOG") ||
        fail "cannot start lunbridge"
    sb_wait_for 15 eval 'sb_exec node1 mountpoint -q $MNT && [ -n "$(worker)" ] &&
        sb_exec node1 find $MNT -type f -size 131072k | grep -q .' ||
        fail "lunbridge --supervise did not mount: $(tail -5 "$LOG")"
}
worker() { sb_exec node1 pgrep -P "$SUP" -x lunbridge 2>/dev/null | head -n1; }
alive() { sb_exec node1 kill -0 "$1" 2>/dev/null; }

start
lun1=$(sb_exec node1 find "$MNT" -type f -size 131072k -printf '%f\n')
head -c 1M /dev/urandom >"$WORK/block"
want=$(sha256sum <"$WORK/block" | cut -c1-16)
sb_exec node1 dd if="$WORK/block" of="$MNT/$lun1" bs=1M seek=3 oflag=direct \
    conv=notrunc status=none || fail "write before the kills failed"

# in_flight_read TAG: with the storage cut off, starts a 1 MiB O_DIRECT
# read in node1 (it waits in the worker for the target), then SIGKILLs
# the worker. The reader writes "RC MS SHA" to $WORK/TAG.out when done.
in_flight_read() {
    local w
    w=$(worker)
    sb_partition storage
    # shellcheck disable=SC2016
    sb_exec node1 bash -c 't0=$(date +%s%3N)
        dd if="$1" of="$2.data" bs=1M skip=3 count=1 iflag=direct 2>"$2.err"
        rc=$?
        sum=$(sha256sum <"$2.data" | cut -c1-16)
        echo "$rc $(($(date +%s%3N) - t0)) $sum" >"$2.out"' \
        rd "$MNT/$lun1" "$WORK/$1" &
    # The read is with the worker (no answer from the target) for 1 s.
    sleep 1
    [ -e "$WORK/$1.out" ] && fail "$1: the read finished with the storage cut off: $(cat "$WORK/$1.out")"
    sb_exec node1 kill -KILL "$w" || fail "kill -KILL $w"
    KILLED_AT=$(sb_now_ms)
    OLD_WORKER=$w
}

# 1. Re-sent: the read survives the worker and the storage cut.
in_flight_read resend
sleep 2
[ -e "$WORK/resend.out" ] && fail "the in-flight read ended while the storage was cut: $(cat "$WORK/resend.out") $(cat "$WORK/resend.err")"
t_heal=$(sb_now_ms)
sb_heal
sb_wait_for 60 test -e "$WORK/resend.out" ||
    fail "the re-sent read never finished: $(tail -n 5 "$LOG")"
read -r rc ms sum <"$WORK/resend.out"
[ "$rc" = 0 ] || fail "the re-sent read failed: rc $rc: $(cat "$WORK/resend.err")"
assert_eq "$want" "$sum" "data of the read re-sent to the new worker"
resend_ms=$((t_heal - KILLED_AT))
grep -q "requests it had taken are sent again" "$LOG" ||
    fail "no worker logged the re-send: $(tail -n 5 "$LOG")"
new=$(worker)
[ -n "$new" ] && [ "$new" != "$OLD_WORKER" ] || fail "no new worker after $OLD_WORKER"
sb_log "re-sent read: rc $rc after $ms ms, storage healed $resend_ms ms after the kill"

# 3a. SIGTERM to the supervisor: worker stops, mount gone.
sb_exec node1 kill -TERM "$SUP"
sb_wait_for 15 eval '! alive $SUP && ! alive $new' ||
    fail "lunbridge --supervise did not stop on SIGTERM: $(tail -n 3 "$LOG")"
sb_exec node1 mountpoint -q "$MNT" && fail "$MNT still mounted after SIGTERM"
grep -q "unmounted $MNT" "$LOG" || fail "no unmount logged: $(tail -n 3 "$LOG")"

# 2. The old kernels' path: the in-flight read fails, it does not hang.
start KVMC_LUNBRIDGE_NO_RESEND=1
grep -q "cannot re-send FUSE requests" "$LOG" ||
    fail "the worker did not take the clone path: $(tail -n 3 "$LOG")"
in_flight_read clone
sb_wait_for 10 test -e "$WORK/clone.out" ||
    fail "with a cloned connection the in-flight read still waits 10 s after the kill"
abort_ms=$(($(sb_now_ms) - KILLED_AT))
read -r rc ms sum <"$WORK/clone.out"
[ "$rc" != 0 ] || fail "the read in flight in the dead worker succeeded on the clone path"
why=$(head -n1 "$WORK/clone.err" | sed 's/.*: //')
sb_heal
sb_wait_for 60 eval 'sb_exec node1 dd if=$MNT/$lun1 bs=1M skip=3 count=1 iflag=direct status=none |
    sha256sum | cut -c1-16 | grep -qx $want' ||
    fail "the mount does not serve reads after the clone-path kill: $(tail -n 3 "$LOG")"
sb_log "clone path: in-flight read failed ($why) $abort_ms ms after the kill"

# 3b. SIGKILL of the supervisor: its worker ends, and the mount with it.
w=$(worker)
sb_exec node1 kill -KILL "$SUP"
sb_wait_for 10 eval '! alive $w' || fail "worker $w outlived its SIGKILLed supervisor"
sb_exec node1 stat "$MNT" 2>&1 | grep -q "not connected" ||
    fail "the mount is not dead after supervisor and worker died: $(sb_exec node1 stat "$MNT" 2>&1)"
# 3c. The next start clears the dead mount; an operator's umount ends it.
start
# One mount at MNT, the new one: the dead one was detached, not buried.
mounts=$(sb_exec node1 awk -v m="$MNT" '$5 == m' /proc/self/mountinfo | wc -l)
[ "$mounts" = 1 ] || fail "$mounts mounts at $MNT after the restart, the dead one not detached: $(sb_exec node1 awk -v m="$MNT" '$5 == m' /proc/self/mountinfo | paste -sd'|')"
sb_log "restart over the dead mount: $(grep -c "stale FUSE mount at $MNT" "$LOG") detach message(s), $mounts mount at $MNT"
w=$(worker)
sb_exec node1 umount "$MNT" || fail "umount $MNT"
sb_wait_for 10 eval '! alive $SUP && ! alive $w' ||
    fail "lunbridge still runs after umount: $(tail -n 3 "$LOG")"
grep -q "FUSE connection at $MNT has ended" "$LOG" ||
    fail "the supervisor did not say the connection ended: $(tail -n 3 "$LOG")"

# 4. Failures before any worker served are final.
expect_exit() { # NAME CODE: lunbridge --supervise -c NAME.conf exits CODE
    local rc
    sb_exec node1 timeout 30 "$LB" -f --supervise -c "$WORK/$1.conf" \
        >"$WORK/$1.log" 2>&1
    rc=$?
    [ "$rc" = "$2" ] || fail "$1: lunbridge --supervise exited $rc, expected $2: $(tail -n 3 "$WORK/$1.log")"
}
conf badiqn "$KVMC_SB_IQN.nosuch"
expect_exit badiqn 1
conf badconf "$KVMC_SB_IQN" "deadline = soon"
expect_exit badconf 2
grep -q "deadline" "$WORK/badconf.log" || fail "badconf: $(cat "$WORK/badconf.log")"
sb_exec node1 mountpoint -q "$MNT" && fail "$MNT mounted after failed starts"
proof "lunbridge --supervise: a 1 MiB read in flight in a SIGKILLed worker (storage cut) re-sent to the next worker and answered with the right data once the storage came back (rc 0, sha256 $want); on the old-kernel path (cloned fd) it failed $abort_ms ms after the kill ('$why') and the mount served again; SIGTERM stopped worker + unmounted; SIGKILLed supervisor took its worker and the mount along, the next start detached the dead mount; umount ended both; unknown IQN exits 1, bad config 2 before serving"
