#!/bin/bash
# Quick migration: save the running test guest's state to its state
# extent on node1 (lease released, QEMU gone), restore it on node2 (lease
# acquired, checksum verified): the guest continues without a reboot.
. "$(dirname "$0")/lib/hva.sh"
hva_up

r=$(hvactl 1 start $HVA_VM) || hva_fail "start on node1: $r"
hva_wait_reports 1 5 || hva_fail "guest does not report on node1"
t0=$(hva_now_ms)
rs=$(hvactl 1 save $HVA_VM) || hva_fail "save on node1: $rs"
[ -z "$(hva_lease_pid 1)" ] || hva_fail "node1 still holds the lease after save"
[ "$(hva_qemu_count 1)" = 0 ] || hva_fail "a QEMU is left on node1 after save"
rr=$(hvactl 2 restore $HVA_VM) || hva_fail "restore on node2: $rr"
t1=$(hva_now_ms)
hva_wait_reports 2 5 || hva_fail "guest does not report on node2"
hva_assert_continued 1 2
pid=$(hva_vm_field 2 pid)
[ "$(hva_lease_pid 2)" = "$pid" ] || hva_fail "lease not held by node2's QEMU $pid"

# A corrupt state is refused: flip a byte of the saved data, restore on
# node1 must fail and leave nothing running.
hvactl 2 kill $HVA_VM >/dev/null || hva_fail "kill on node2"
printf 'X' | dd of="$HVA_D/$HVA_VM-state.img" bs=1 seek=$((4096 + 100000)) conv=notrunc status=none
rc=$(hvactl 1 restore $HVA_VM) && hva_fail "corrupt state restored: $rc"
grep -q "checksum" <<<"$rc" || hva_fail "corrupt state: unexpected error: $rc"
[ "$(hva_qemu_count 1)" = 0 ] || hva_fail "QEMU left after a refused restore"

echo "quick migration ($HVA_MEM MiB guest): counter $HVA_TICK_FROM->$HVA_TICK_TO, state $(($(hva_attr "$rs" bytes) >> 20)) MiB saved in $(hva_attr "$rs" save-ms) ms ($(hva_attr "$rs" mbps) MB/s), restored in $(hva_attr "$rr" restore-ms) ms, downtime $((t1 - t0)) ms; corrupt state refused"
