#!/usr/bin/env bash
# Health on 3 nodes: the QEMU of a running VM is killed (SIGKILL, as a
# crash); hvagent reports it, the coordinator restarts the VM in place
# (a new boot on the same node); hvagent itself is killed and restarted:
# the VM keeps running and clusterd re-learns it from the new hvagent.
# A VM allowed 1 restart in place per hour (<failures max="1">) that
# crashes a second time is started on another node instead.
# kvmc-timeout: 300
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_init cohlth
vm_up 3

vm_define hv1 high 128
cdctl node1 vm add "$VM_DIR/hv1.xml" >/dev/null || fail "vm add"
out=$(cdctl node1 vm start hv1) || fail "vm start: $out"
w=$(vm_where node1 hv1)
sb_wait_for 20 vm_ticking "$w" hv1 || fail "hv1 does not tick on $w"
b0=$(vm_last_boot "$w" hv1)

# 1. QEMU crash: restart in place.
q=$(vm_qemus hv1)
pid=${q#*:}
t0=$(sb_now_ms)
sb_exec "$w" kill -KILL "$pid" || fail "kill QEMU $pid on $w"
back() {
    [ "$(vm_where node1 hv1)" = "$w" ] && vm_ticking "$w" hv1 &&
        [ "$(vm_last_boot "$w" hv1)" != "$b0" ]
}
sb_wait_for 60 back || fail "hv1 not restarted on $w: $(cdctl node1 vm show hv1)"
restart_ms=$(($(sb_now_ms) - t0))
assert_eq 1 "$(vm_qemu_count hv1)" "QEMUs of hv1"
fails=$(vm_field node1 hv1 failures)
assert_eq 1 "$fails" "failures recorded"
cause=$(cdctl node1 vm show hv1 --output xml | grep -o 'kind="start" cause="[a-z]*"' | tail -n1)
assert_eq 'kind="start" cause="restart"' "$cause" "restart action"

# 2. hvagent restart: the VM keeps running, clusterd reconnects.
b1=$(vm_last_boot "$w" hv1)
hpid=$(cat "$KVMC_SANDBOX_DIR/$w/pids/hvagent")
conns() { grep -c 'connected to hvagent' "$KVMC_SANDBOX_DIR/$w/clusterd.out"; }
c0=$(conns)
sb_exec "$w" kill -KILL "$hpid"
sb_wait_for 10 eval "! vm_hva_alive $w" || fail "hvagent did not die"
vm_hva_start "$w"
sb_wait_for 20 eval '[ "$(conns)" -gt "$c0" ]' ||
    fail "clusterd did not reconnect to hvagent"
sb_wait_for 10 eval "[ \"\$(vm_field node1 hv1 state)\" = running ]" ||
    fail "hv1 not reported running after the hvagent restart: $(cdctl node1 vm list)"
sb_wait_for 10 vm_ticking "$w" hv1 || fail "hv1 stopped ticking"
assert_eq "$b1" "$(vm_last_boot "$w" hv1)" "boot id across the hvagent restart"
assert_eq 1 "$(vm_qemu_count hv1)" "QEMUs of hv1 after the hvagent restart"
# 3. Failure limit: 1 restart in place per hour, then elsewhere.
vm_define hv2 medium 128 '<failures max="1" period="3600"/>'
cdctl node2 vm add "$VM_DIR/hv2.xml" >/dev/null || fail "vm add hv2"
out=$(cdctl node2 vm start hv2) || fail "vm start hv2: $out"
w2=$(vm_where node2 hv2)
sb_wait_for 20 vm_ticking "$w2" hv2 || fail "hv2 does not tick on $w2"
crash_hv2() { # kills hv2's QEMU; waits until it runs again (new boot)
    local q b where
    b=$(vm_last_boot "$1" hv2)
    q=$(vm_qemus hv2)
    sb_exec "$1" kill -KILL "${q#*:}" || fail "kill hv2's QEMU on $1"
    again() {
        where=$(vm_where node3 hv2)
        [ -n "$where" ] && vm_ticking "$where" hv2 &&
            [ "$(vm_last_boot "$where" hv2)" != "$b" ]
    }
    sb_wait_for 60 again || fail "hv2 not started again after crash on $1: $(cdctl node3 vm show hv2)"
    echo "$where"
}
w2a=$(crash_hv2 "$w2")
assert_eq "$w2" "$w2a" "hv2 after its first crash (restart in place)"
w2b=$(crash_hv2 "$w2")
[ "$w2b" != "$w2" ] || fail "hv2 restarted on $w2 again after its second crash within the hour (failures max 1)"
assert_eq 1 "$(vm_qemu_count hv2)" "QEMUs of hv2 after the failover"
cause=$(cdctl node1 vm show hv2 --output xml | grep -o 'kind="start" cause="[a-z]*"' | tail -n1)
proof "health: QEMU of hv1 killed on $w, restarted in place (new boot) after $restart_ms ms, 1 failure recorded; hvagent killed and restarted: hv1 kept running (same boot), clusterd reconnected and reports it running; hv2 (failures max 1/h) crashed twice on $w2: restarted in place, then on $w2b ($cause)"
