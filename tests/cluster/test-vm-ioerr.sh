#!/usr/bin/env bash
# A storage blip pauses the guest instead of failing its disk: a CSV VM
# whose guest writes and reads back a hot-plugged disk (vdb, slot 24:
# hva-disk.c's device_add with werror/rerror=stop), tgtd SIGSTOPped for
# 3 s, then SIGCONT. lunbridge's per-command deadline (900 ms in the
# sandbox) passes, it answers EIO, QEMU pauses the guest (BLOCK_IO_ERROR,
# action stop) instead of passing the error on. Asserted: clusterctl's
# vm show (and status) say the VM is paused on an I/O error of vdb while
# it lasts (polled with a deadline); hvagent logged the pause once and
# the resume with how long it was paused; the guest's writer goes on
# with disk=ok and no ioerr, on the same boot; the VM never left its node
# and the coordinator started nothing.
# Why 3 s: past lunbridge's 900 ms deadline (three deadlines), well short
# of sanlock's lockspace loss at 8 x io_timeout = 8 s (io_timeout 1 s in
# the sandbox; renewals every 2 s fail for 3 s at most), so the lease is
# kept and hvagent must resume the guest rather than failover restart it.
# kvmc-timeout: 180
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

STALL_MS=3000

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

# Stop the target; SIGCONT after STALL_MS; meanwhile and after (up to
# 10 s from the stop) poll vm show for the paused condition.
t0=$(sb_now_ms)
sb_exec storage kill -STOP "$tpid" || fail "cannot stop tgtd $tpid"
stopped=1 seen_ms='' show='' status_line=''
while :; do
    now=$(sb_now_ms)
    if [ "$stopped" = 1 ] && ((now - t0 >= STALL_MS)); then
        cont_tgtd || fail "cannot continue tgtd $tpid"
        stall=$((now - t0))
        stopped=0
    fi
    if [ -z "$seen_ms" ]; then
        x=$(cdctl node1 vm show web1 --output xml 2>/dev/null | grep '<vm ')
        if grep -q 'io-error="eio"' <<<"$x"; then
            seen_ms=$((now - t0))
            show=$(cdctl node1 vm show web1 2>&1 | grep '^io-error:')
            status_line=$(cdctl node1 status 2>&1 | grep '^web1 ')
            sb_log "paused seen at +$seen_ms ms: $x"
        fi
    fi
    [ "$stopped" = 0 ] && [ -n "$seen_ms" ] && break
    ((now - t0 > 10000)) && break
    sleep 0.1
done
[ "$stopped" = 0 ] || fail "tgtd still stopped"
[ -n "$seen_ms" ] || fail "vm show never said web1 is paused on an I/O error within 10 s: $(grep -i 'I/O error\|paused' "$HVA_OUT" | tail -n 5)"
grep -q 'io-error-disk="vdb"' <<<"$x" || fail "vm show names no disk vdb: $x"
grep -q 'state="paused"' <<<"$x" || fail "vm show: not paused: $x"
grep -q "paused on an I/O error of disk vdb" <<<"$show" ||
    fail "vm show's text: '$show'"
grep -q "paused on an I/O error of disk vdb" <<<"$status_line" ||
    fail "clusterctl status's line of web1: '$status_line'"

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
proof "storage blip: tgtd stopped $stall ms (lunbridge deadline 900 ms, lockspace loss at 8 s); web1 paused on an I/O error of vdb (hp24) shown by vm show/status at +$seen_ms ms ('${show#io-error:  }'); hvagent logged the pause once and resumed it after $paused_ms ms paused ($conts cont, $fails failed requests retried by QEMU); the guest's writer $dw0 -> ${dw1#* } blocks, disk=ok, no ioerr, same boot $boot, same QEMU $q0, no new action"
