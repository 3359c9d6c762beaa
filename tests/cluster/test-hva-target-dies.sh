#!/bin/bash
# The target's QEMU is killed mid-migration: the VM keeps running on the
# source, holding its lease, its counter advancing; nothing is left on the
# target.
. "$(dirname "$0")/lib/hva.sh"
hva_up

r=$(hvactl 1 start $HVA_VM) || hva_fail "start on node1: $r"
hva_wait_reports 1 3 || hva_fail "guest does not report on node1"
pid1=$(hva_vm_field 1 pid)
hva_arm 2
# Slow link so the pre-copy lasts while we kill the target.
hvactl 1 migrate-out $HVA_VM to=${HVA_IP[2]}:7410 bandwidth-mibs=8 timeout-s=120 \
    >"$HVA_D/mig.out" 2>&1 &
mig=$!
deadline=$(($(hva_now_ms) + 20000))
until [ "$(hva_vm_field 2 phase)" = in-receiving ]; do
    (($(hva_now_ms) < deadline)) || hva_fail "target never started receiving"
    sleep 0.1 # poll interval
done
pid2=$(hva_vm_field 2 pid)
sb exec node2 kill -9 "$pid2"
t0=$(hva_now_ms)
wait $mig && hva_fail "migration succeeded with its target killed: $(cat "$HVA_D/mig.out")"
t1=$(hva_now_ms)
[ "$(hva_vm_field 1 state)" = running ] || hva_fail "VM not running on node1"
[ "$(hva_vm_field 1 pid)" = "$pid1" ] || hva_fail "VM restarted on node1"
[ "$(hva_lease_pid 1)" = "$pid1" ] || hva_fail "node1's QEMU lost the lease"
a=$(hva_last_tick 1)
hva_wait_reports 1 3 || hva_fail "guest stopped counting on node1"
b=$(hva_last_tick 1)
((b > a)) || hva_fail "counter not advancing on node1"
[ "$(hva_qemu_count 2)" = 0 ] || hva_fail "a QEMU is left on node2"
hva_all_verified 1 || hva_fail "guest checksum failed on node1"
echo "target QEMU killed mid-migration: failure reported in $((t1 - t0)) ms ($(sed -n 's/.*error="\([^"]*\)".*/\1/p' "$HVA_D/mig.out")); VM kept on node1, counter $a->$b, lease held"
