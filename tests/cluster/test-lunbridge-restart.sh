#!/usr/bin/env bash
# lunbridge survives its own restart: 2 nodes with the whole stack, two
# VMs on the CSV running on node1. node1's lunbridge worker (the process
# that serves the FUSE mount) is SIGKILLed; its supervisor, which keeps the
# FUSE connection open, starts a new worker within 2 s. Then:
#  - both guests keep running under the same QEMU pids, with the same boot
#    id and their counters advancing, for 15 s after the kill (sanlock's
#    kill threshold is 8 x io_timeout = 8 s);
#  - node1's sanlock still holds both VM leases and its lockspace;
#  - an O_DIRECT reader streaming LUN 2 through the mount during the kill
#    saw no error (the reads the dead worker had taken are re-sent to the
#    new one) and no read stalled longer than 5 s;
#  - a write then a read through the mount work afterwards.
# Then the same with two kills in a row (the new worker killed as soon as
# it appears). Without the supervisor (today's lunbridge), the process is
# restarted by hand within 2 s instead: the mount died with it, sanlock's
# renewals fail on the dead mount and the QEMUs are killed.
# kvmc-alone: measures time closely or loads the whole machine
# kvmc-timeout: 300
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_require_stack
sb_init lbrst
# shellcheck disable=SC2034 # read by lib/vm.sh
VM_CSV=1
vm_up 2
N="node1 node2"
LB=$KVMC_BUILDDIR/iscsi/lunbridge
D1=$KVMC_SANDBOX_DIR/node1
WATCH_S=15

for v in web1 web2; do
    vm_define $v high 128
    cdctl node1 vm add "$VM_DIR/$v.xml" >/dev/null || fail "vm add $v"
    out=$(cdctl node2 vm start $v) || fail "vm start $v: $out"
    if [ "$(vm_where node1 $v)" != node1 ]; then
        out=$(cdctl node1 move-vm $v --to node1 --live) || fail "move $v to node1: $out"
    fi
    sb_wait_for 60 vm_ticking node1 $v || fail "$v does not tick on node1"
done
declare -A boot qemu
for v in web1 web2; do
    boot[$v]=$(vm_last_boot node1 $v)
    qemu[$v]=$(vm_qemus $v)
    [[ ${qemu[$v]} == node1:* ]] || fail "$v's QEMU is not on node1: ${qemu[$v]}"
done

leases() {
    sb_exec node1 sanlock client status 2>/dev/null |
        grep -c "^r $SB_CSV_LS:vm-slot-[0-9]*:$SB_CSV_PATH:"
}
lockspace_joined() {
    sb_exec node1 sanlock client status 2>/dev/null | grep -q "^s $SB_CSV_LS:1:"
}
assert_eq 2 "$(leases)" "VM leases held by node1's sanlock before the kill"

# LUN 2 and 3: not the CSV. LUN 2 is streamed during the kills, LUN 3
# written and read back after.
mapfile -t others < <(sb_exec node1 find /run/kvmcluster/luns -mindepth 1 \
    -maxdepth 1 -type f ! -name "$(basename "$SB_CSV_PATH")" -printf '%s %p\n' |
    sort -n | awk '{ print $2 }')
[ ${#others[@]} -ge 2 ] || fail "node1 shows fewer than 3 LUN files: ${others[*]}"
STREAM_LUN=${others[0]}
RW_LUN=${others[1]}

# The process serving node1's mount: the supervisor's child, or (no
# supervisor) lunbridge itself.
sup=$(cat "$D1/pids/lunbridge")
serving_pid() {
    local w
    w=$(sb_exec node1 pgrep -P "$sup" -x lunbridge 2>/dev/null | head -n1)
    if [ -n "$w" ]; then
        echo "$w"
    elif sb_exec node1 kill -0 "$sup" 2>/dev/null; then
        echo "$sup"
    fi
}
SUPERVISED=1
[ "$(serving_pid)" = "$sup" ] && SUPERVISED=0
sb_log "lunbridge on node1: supervisor $sup, serving pid $(serving_pid) (supervised=$SUPERVISED)"

# An O_DIRECT reader of LUN 2 on node1: one line per 1 MiB read,
# "MS_TAKEN RC", until $KVMC_SANDBOX_DIR/stream.stop exists.
STREAM_LOG=$KVMC_SANDBOX_DIR/stream.log
: >"$STREAM_LOG"
# shellcheck disable=SC2016
sb_exec node1 bash -c '
    i=0
    while [ ! -e "$1/stream.stop" ]; do
        t0=$(date +%s%3N)
        dd if="$2" of=/dev/null bs=1M count=1 skip=$((i % 64)) iflag=direct \
            status=none 2>>"$1/stream.err"
        rc=$?
        echo "$(($(date +%s%3N) - t0)) $rc" >>"$1/stream.log"
        i=$((i + 1))
    done' stream "$KVMC_SANDBOX_DIR" "$STREAM_LUN" &
STREAM_PID=$!
trap 'rc=$?; touch "$KVMC_SANDBOX_DIR/stream.stop"; kill $STREAM_PID 2>/dev/null; (exit $rc); sb_cleanup' EXIT
sb_wait_for 10 eval '[ "$(wc -l <"$STREAM_LOG")" -ge 3 ]' ||
    fail "the LUN 2 reader does not read: $(cat "$KVMC_SANDBOX_DIR/stream.err" 2>/dev/null)"

# Without a supervisor, what an operator or systemd would do: start
# lunbridge again at once.
restart_by_hand() {
    # shellcheck disable=SC2016
    sb_exec node1 bash -c \
        'out=$1; shift; setsid "$@" </dev/null >>"$out" 2>&1 & echo $!' \
        spawn "$D1/lunbridge.out" "$LB" -f >"$D1/pids/lunbridge"
    sup=$(cat "$D1/pids/lunbridge")
}

# new_worker OLD: a serving process other than OLD whose mount answers.
new_worker() {
    local w
    w=$(serving_pid)
    [ -n "$w" ] && [ "$w" != "$1" ] &&
        sb_exec node1 stat -c %s "$SB_CSV_PATH" >/dev/null 2>&1 &&
        echo "$w"
}

# kill_worker: SIGKILLs the serving process; sets W to the new one's pid
# and BACK_MS (kill -> new worker serving: its pid there and a stat of the
# CSV's file answered), measured inside node1 (an nsenter per poll would
# measure the machine's load).
kill_worker() {
    local old t0 out
    old=$(serving_pid)
    [ -n "$old" ] || fail "nothing serves node1's mount"
    if [ "$SUPERVISED" = 1 ]; then
        # shellcheck disable=SC2016
        out=$(sb_exec node1 bash -c '
            kill -KILL "$1" || exit 1
            t0=$(date +%s%3N)
            while :; do
                w=$(pgrep -P "$2" -x lunbridge | head -n1)
                if [ -n "$w" ] && [ "$w" != "$1" ] &&
                    stat -c %s "$3" >/dev/null 2>&1; then
                    echo "$w $(($(date +%s%3N) - t0))"
                    exit 0
                fi
                [ $(($(date +%s%3N) - t0)) -gt 10000 ] && exit 2
                sleep 0.02
            done' kill "$old" "$sup" "$SB_CSV_PATH") ||
            fail "no lunbridge worker serves node1's mount 10 s after killing $old: $(tail -n 5 "$D1/lunbridge.out")"
        read -r W BACK_MS <<<"$out"
    else
        t0=$(sb_now_ms)
        sb_exec node1 kill -KILL "$old" || fail "kill -KILL $old"
        restart_by_hand
        while :; do
            W=$(new_worker "$old") && break
            (($(sb_now_ms) - t0 < 10000)) || fail "no lunbridge serves node1's mount 10 s after killing $old: $(tail -n 5 "$D1/lunbridge.out")"
            sleep 0.05
        done
        BACK_MS=$(($(sb_now_ms) - t0))
    fi
    sb_log "lunbridge $old SIGKILLed; $W serves after $BACK_MS ms"
}

# watch PHASE T0: for WATCH_S seconds after T0, every VM keeps its QEMU
# pid, its boot id and a growing counter, and node1 keeps its leases.
watch_vms() {
    local phase=$1 t0=$2 v tick
    declare -A t_start
    for v in web1 web2; do t_start[$v]=$(vm_last_tick node1 $v); done
    while (($(sb_now_ms) - t0 < WATCH_S * 1000)); do
        for v in web1 web2; do
            [ "$(vm_qemus $v)" = "${qemu[$v]}" ] ||
                fail "$phase: $v's QEMU ${qemu[$v]} is gone ($(vm_qemus $v)) $(($(sb_now_ms) - t0)) ms after the kill: $(grep -i 'kill\|fail' "$D1/sanlock.out" 2>/dev/null | tail -n 3)"
        done
        lockspace_joined || fail "$phase: node1 left lockspace $SB_CSV_LS $(($(sb_now_ms) - t0)) ms after the kill"
        sleep 0.5
    done
    assert_eq 2 "$(leases)" "$phase: VM leases held by node1's sanlock ${WATCH_S} s after the kill"
    for v in web1 web2; do
        sb_wait_for 5 vm_ticking node1 $v || fail "$phase: $v stopped ticking"
        assert_eq "${boot[$v]}" "$(vm_last_boot node1 $v)" "$phase: $v's boot id"
        tick=$(vm_last_tick node1 $v)
        ((tick > t_start[$v])) || fail "$phase: $v's counter stuck at $tick"
        TICKS="$TICKS $v ${t_start[$v]}->$tick"
    done
}

# io_check: a write and a read through node1's mount (LUN 3, O_DIRECT).
io_check() {
    local pat want got
    pat=$KVMC_SANDBOX_DIR/pat
    head -c 65536 /dev/urandom >"$pat"
    want=$(sha256sum <"$pat" | cut -c1-16)
    sb_exec node1 timeout 10 dd if="$pat" of="$RW_LUN" bs=64k count=1 \
        oflag=direct conv=notrunc status=none || fail "$1: write through the mount failed"
    got=$(sb_exec node1 timeout 10 dd if="$RW_LUN" bs=64k count=1 iflag=direct \
        status=none | sha256sum | cut -c1-16)
    assert_eq "$want" "$got" "$1: LUN 3 read back through node1's mount"
}

# 1. One kill.
TICKS=
t0=$(sb_now_ms)
kill_worker
w1=$W
back1=$BACK_MS
watch_vms "one kill" "$t0"
((back1 <= 2000)) || fail "the new worker served after $back1 ms (bound 2000 ms)"
ticks1=$TICKS
io_check "one kill"

# 2. Two kills in a row: the second as soon as the new worker appears.
TICKS=
t0=$(sb_now_ms)
kill_worker
w2=$W
back2a=$BACK_MS
kill_worker
w3=$W
back2b=$BACK_MS
watch_vms "two kills" "$t0"
((back2a <= 2000 && back2b <= 2000)) || fail "after two kills in a row workers served after $back2a and $back2b ms (bound 2000 ms each)"
ticks2=$TICKS
io_check "two kills"

touch "$KVMC_SANDBOX_DIR/stream.stop"
wait $STREAM_PID 2>/dev/null
reads=$(wc -l <"$STREAM_LOG")
errs=$(awk '$2 != 0' "$STREAM_LOG" | wc -l)
slow=$(sort -n "$STREAM_LOG" | tail -n1 | cut -d' ' -f1)
[ "$errs" = 0 ] || fail "$errs of $reads O_DIRECT reads of LUN 2 failed: $(tail -n 3 "$KVMC_SANDBOX_DIR/stream.err")"
((slow <= 5000)) || fail "an O_DIRECT read of LUN 2 took $slow ms"
grep -q "worker $w1 started" "$D1/lunbridge.out" ||
    fail "the supervisor did not log worker $w1: $(grep supervisor "$D1/lunbridge.out" | tail -n 3)"
for v in web1 web2; do
    assert_eq "${qemu[$v]}" "$(vm_qemus $v)" "$v's QEMU at the end"
done
took=$(sed -n "s/.*lunbridge\[$w1\] .*took over the mount at .* \([0-9]*\) ms after worker.*/\1/p" "$D1/lunbridge.out")
proof "lunbridge restart on node1 with 2 VMs: worker SIGKILLed -> new worker $w1 served in $back1 ms (took over ${took:-?} ms after the death, by its log); two kills in a row (new worker $w2 in $back2a ms, killed at once, then $w3 in $back2b ms); over ${WATCH_S} s after each: QEMUs ${qemu[web1]} ${qemu[web2]} unchanged, same boot ids, counters${ticks1} /${ticks2}, 2 VM leases and lockspace $SB_CSV_LS held; $reads O_DIRECT 1 MiB reads of LUN 2 across the kills, 0 errors, slowest $slow ms; 64 KiB write + read through the mount after each"
