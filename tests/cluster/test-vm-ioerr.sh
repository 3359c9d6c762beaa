#!/usr/bin/env bash
# A storage blip pauses the guest instead of failing its disk: a CSV VM
# whose guest writes and reads back a hot-plugged disk (vdb, slot 24:
# hva-disk.c's device_add with werror/rerror=stop), tgtd SIGSTOPped for
# 2 s, then SIGCONT. lunbridge's per-command deadline (900 ms in the
# sandbox) passes, it answers EIO, QEMU pauses the guest (BLOCK_IO_ERROR,
# action stop) instead of passing the error on. Asserted: clusterctl's
# vm show (and status) say the VM is paused on an I/O error of vdb while
# it lasts (polled with a deadline); hvagent logged the pause once and
# the resume with how long it was paused; the guest's writer goes on
# with disk=ok and no ioerr, on the same boot; the VM never left its node
# and the coordinator started nothing.
# Why 2 s: past lunbridge's per-command deadline (900 ms in the sandbox:
# the writes in flight get EIO, and so does lunbridge's first reconnect),
# and short of the lockspace loss with room to spare: sanlock's
# io_timeout is 1 s there, so the lockspace is lost 8 s after its last
# renewal, renewals come every 2 s, so 6 s after the stall starts at
# worst, and lunbridge logs in again up to 2 s after the target is back
# (reconnect back-off to 2 s, each attempt with the 900 ms deadline). A
# 3 s stall came within a second of that under load (the lockspace lost,
# sanlock ended QEMU, clusterd restarted it: right, but not this test).
# kvmc-timeout: 180
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

STALL_MS=2000

vm_require
sb_require_stack
sb_init vioe
# shellcheck disable=SC2034 # read by lib/vm.sh: this test is about the CSV
VM_CSV=1
vm_up 2
# shellcheck disable=SC2034 # read by lib/vm.sh
VM_ALL_UP="node1 node2"

out=$(cdctl node1 volume add "$SB_CSV_PATH" 2>&1) || fail "volume add: $out"
vm_add_writer web1 128
out=$(cdctl node1 vm start web1) || fail "vm start: $out"
sb_wait_for 20 eval '[ -n "$(vm_where node1 web1)" ]' ||
    fail "web1 runs nowhere after start: $(cdctl node1 vm list)"
src=$(vm_where node1 web1)
HVA_OUT=$KVMC_SANDBOX_DIR/$src/hvagent.out
out=$(cdctl node1 vm disk add web1 --size 8M) || fail "vm disk add: $out"
grep -q "disk vdb added .*hot-plug slot 24" <<<"$out" || fail "vm disk add said: $out"
sb_wait_for 40 vm_disk_ok "$src" web1 30 ||
    fail "the writer does not write: $(vm_disk_last "$src" web1)"
boot=$(vm_last_boot "$src" web1)
dw0=$(vm_disk_last "$src" web1)
dw0=${dw0#* }
q0=$(vm_qemus web1)
acts0=$(cdctl node1 vm show web1 --output xml | grep -c '<action ')

# tgtd of this sandbox, by the pid file the sandbox wrote, checked to be
# a tgtd.
tpid=$(cat "$KVMC_SANDBOX_DIR/storage/pids/tgtd") || fail "no tgtd pid file"
[ "$(sb_exec storage cat "/proc/$tpid/comm" 2>/dev/null)" = tgtd ] ||
    fail "pid $tpid of $KVMC_SANDBOX_DIR/storage/pids/tgtd is not tgtd"
cont_tgtd() { sb_exec storage kill -CONT "$tpid" 2>/dev/null; }
# A failure while tgtd is stopped: continued before the teardown.
trap 'rc=$?; cont_tgtd; (exit $rc); sb_cleanup' EXIT

# poll_in NODE SPEC...: inside NODE, entered once (entering a node took
# seconds on a loaded machine, longer than the pause lasts), runs
# clusterctl every 100 ms for each SPEC "NAME|PATTERN|ARGS" until a line
# of its output matches PATTERN (written with its time to $W/NAME), for
# 15 s at most. Each view only needs to see the condition once: the guest
# runs for a moment at each of hvagent's resumes while the storage still
# fails.
W=$KVMC_SANDBOX_DIR/ioerr-polls
mkdir -p "$W"
poll_in() {
    local node=$1
    shift
    # shellcheck disable=SC2016
    sb_exec "$node" bash -c '
        ctl=$1 w=$2 end=$3
        shift 3
        while [ "$(date +%s%3N)" -lt "$end" ]; do
            all=1
            for spec in "$@"; do
                name=${spec%%|*} rest=${spec#*|}
                re=${rest%%|*} args=${rest#*|}
                [ -s "$w/$name" ] && continue
                # shellcheck disable=SC2086
                if line=$("$ctl" $args 2>/dev/null | grep -m1 -e "$re"); then
                    echo "$(date +%s%3N) $line" >"$w/$name"
                else
                    all=0
                fi
            done
            [ "$all" = 1 ] && exit 0
            sleep 0.1
        done
        exit 1' poll "$CD_CTL" "$W" "$(($(sb_now_ms) + 15000))" "$@" &
}

# The pollers first: they must be running when the guest pauses.
# One poller per view: the pause lasts about a second on a quiet machine,
# and one loop taking turns would look at each view half as often.
poll_in node1 'xml|io-error="eio"|vm show web1 --output xml'
p1=$!
poll_in node1 'status|^web1 .*I/O error|status'
p3=$!
poll_in node2 'show|^io-error:|vm show web1'
p2=$!
# Stop the target for STALL_MS in the background, stop, sleep and
# continue in one command inside the storage namespace (entering it can
# take seconds on a loaded machine: that must not stretch the stall);
# STIM gets when it stopped and continued.
STIM=$KVMC_SANDBOX_DIR/stall.times
# shellcheck disable=SC2016
sb_exec storage bash -c 'kill -STOP "$1" || exit 1
    echo "stop $(date +%s%3N)"
    sleep "$2"
    kill -CONT "$1"
    echo "cont $(date +%s%3N)"' stall "$tpid" \
    "$((STALL_MS / 1000)).$(printf '%03d' $((STALL_MS % 1000)))" >"$STIM" &
stim=$!
wait "$stim" || fail "cannot stop tgtd $tpid"
grep -q '^cont ' "$STIM" || fail "tgtd was not continued: $(cat "$STIM")"
stall=$(awk '/^stop/ { s = $2 } /^cont/ { c = $2 } END { print c - s }' "$STIM")
wait "$p1" "$p2" "$p3"
t_stop=$(awk '/^stop/ { print $2 }' "$STIM")
x=$(cut -d' ' -f2- "$W/xml" 2>/dev/null)
seen_ms=$(($(cut -d' ' -f1 "$W/xml" 2>/dev/null || echo 0) - t_stop))
show=$(cut -d' ' -f2- "$W/show" 2>/dev/null)
status_line=$(cut -d' ' -f2- "$W/status" 2>/dev/null)
sb_log "polls: $(cat "$W"/* 2>/dev/null | tr '\n' '|')"
[ -n "$x" ] || fail "vm show never said web1 is paused on an I/O error within 15 s: $(grep -i 'I/O error\|paused' "$HVA_OUT" | tail -n 5)"
grep -q 'io-error-disk="vdb"' <<<"$x" || fail "vm show names no disk vdb: $x"
grep -q 'state="paused"' <<<"$x" || fail "vm show: not paused: $x"
grep -q "paused on an I/O error of disk vdb" <<<"$show" ||
    fail "vm show's text (on node2) never said it within 15 s: '$show'"
grep -q "paused on an I/O error of disk vdb" <<<"$status_line" ||
    fail "clusterctl status never said it within 15 s: '$status_line'"
sb_log "vm show: $show; status: $status_line"

# hvagent resumes it by itself: one pause line, one resume line.
sb_wait_for 20 grep -q "VM 'web1': resumed after an I/O error of disk 1 (hp24): paused [0-9]* ms" "$HVA_OUT" ||
    fail "hvagent logged no resume: $(grep "web1" "$HVA_OUT" | tail -n 8)"
resumed=$(grep -m1 "VM 'web1': resumed after an I/O error" "$HVA_OUT")
npause=$(grep -c "VM 'web1': guest paused: the storage returned an I/O error on disk 1 (hp24" "$HVA_OUT")
assert_eq 1 "$npause" "hvagent's pause lines"
paused_ms=$(sed -n 's/.*paused \([0-9]*\) ms.*/\1/p' <<<"$resumed")
conts=$(sed -n 's/.* \([0-9]*\) cont, .*/\1/p' <<<"$resumed")
fails=$(sed -n 's/.* \([0-9]*\) failed requests.*/\1/p' <<<"$resumed")

# The guest went on: writes checked ok past the blip, no I/O error ever
# reached it, same boot, same QEMU, no action of the coordinator.
vm_writer_on "$src" web1 "$boot" $((dw0 + 30)) "after the storage blip"
! tr -d '\r' <"$(vm_serial "$src" web1)" | grep -q 'disk=ioerr' ||
    fail "the guest saw an I/O error: $(tr -d '\r' <"$(vm_serial "$src" web1)" | grep -m1 'disk=ioerr')"
dw1=$(vm_disk_last "$src" web1)
assert_eq "$q0" "$(vm_qemus web1)" "web1's QEMU (node:pid) after the blip"
assert_eq "$acts0" "$(cdctl node1 vm show web1 --output xml | grep -c '<action ')" "actions of web1"
sb_wait_for 5 eval '! cdctl node1 vm show web1 --output xml | grep -q io-error' ||
    fail "vm show still says io-error after the resume"
proof "storage blip: tgtd stopped $stall ms (lunbridge deadline 900 ms, lockspace loss at 8 s); web1 paused on an I/O error of vdb (hp24) shown by vm show/status $seen_ms ms after tgtd stopped ('${show#io-error:  }'); hvagent logged the pause once and resumed it after $paused_ms ms paused ($conts cont, $fails failed requests retried by QEMU); the guest's writer $dw0 -> ${dw1#* } blocks, disk=ok, no ioerr, same boot $boot, same QEMU $q0, no new action"
