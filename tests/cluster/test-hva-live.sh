#!/bin/bash
# Live migration of the test guest node1 -> node2 -> node1 through the
# hvagents: the guest keeps counting without a reboot, its checksums
# verify, the VM lease moves to the target's QEMU and no QEMU is left on
# the source.
. "$(dirname "$0")/lib/hva.sh"
hva_up

r=$(hvactl 1 start $HVA_VM) || hva_fail "start on node1: $r"
hva_wait_reports 1 5 || hva_fail "guest does not report on node1"
pid1=$(hva_vm_field 1 pid)
[ "$(hva_lease_pid 1)" = "$pid1" ] || hva_fail "lease not held by node1's QEMU $pid1"

# migrate FROM TO: checks everything, prints the figures
migrate() {
    local from=$1 to=$2 r pid
    hva_clear_serial "$to"
    hva_arm "$to"
    r=$(hvactl "$from" migrate-out $HVA_VM to=${HVA_IP[$to]}:7410 timeout-s=120) ||
        hva_fail "migrate node$from -> node$to: $r"
    hva_wait_reports "$to" 5 || hva_fail "guest does not report on node$to"
    hva_assert_continued "$from" "$to"
    pid=$(hva_vm_field "$to" pid)
    [ "$(hva_vm_field "$to" state)" = running ] || hva_fail "VM not running on node$to"
    [ "$(hva_lease_pid "$to")" = "$pid" ] || hva_fail "lease not held by node$to's QEMU $pid"
    [ -z "$(hva_lease_pid "$from")" ] || hva_fail "node$from still holds the lease"
    [ "$(hva_qemu_count "$from")" = 0 ] || hva_fail "a QEMU is left on node$from"
    [ "$(hva_vm_field "$from" state)" = defined ] || hva_fail "node$from still runs the VM"
    MIG_MSG="node$from->node$to counter $HVA_TICK_FROM->$HVA_TICK_TO, downtime $(hva_attr "$r" downtime-ms) ms (lease handoff $(hva_attr "$r" handoff-ms) ms), total $(hva_attr "$r" total-ms) ms, $(($(hva_attr "$r" bytes) >> 20)) MiB, $(hva_attr "$r" passes) passes"
}
migrate 1 2
m1=$MIG_MSG
migrate 2 1
echo "live migration ($HVA_MEM MiB guest, ${HVA_WSS} MiB working set): $m1; back $MIG_MSG"
