#!/bin/bash
# The source agent dies in the middle of a live migration (pre-copy): the
# target discards its half-received copy, and the restarted source agent
# finds the persisted phase and rolls back: the VM keeps running on the
# source, with its lease, its counter advancing.
. "$(dirname "$0")/lib/hva.sh"
hva_up

r=$(hvactl 1 start $HVA_VM) || hva_fail "start on node1: $r"
hva_wait_reports 1 3 || hva_fail "guest does not report on node1"
pid1=$(hva_vm_field 1 pid)
hva_arm 2
hvactl 1 migrate-out $HVA_VM to=${HVA_IP[2]}:7410 bandwidth-mibs=8 timeout-s=120 \
    >"$HVA_D/mig.out" 2>&1 &
mig=$!
deadline=$(($(hva_now_ms) + 20000))
until [ "$(hva_vm_field 2 phase)" = in-receiving ]; do
    (($(hva_now_ms) < deadline)) || hva_fail "target never started receiving"
    sleep 0.1 # poll interval
done
phase=$(cat "$HVA_D/n1/vm/$HVA_UUID/phase")
sb exec node1 bash -c "kill -9 \$(cat $HVA_D/hva-agent1.pid)"
wait $mig 2>/dev/null
deadline=$(($(hva_now_ms) + 20000))
until [ "$(hva_qemu_count 2)" = 0 ]; do
    (($(hva_now_ms) < deadline)) || hva_fail "target kept its half-received QEMU"
    sleep 0.1 # poll interval
done
hva_agent_start 1
deadline=$(($(hva_now_ms) + 20000))
until [ "$(hva_vm_field 1 state)" = running ] && [ "$(hva_vm_field 1 phase)" = none ]; do
    (($(hva_now_ms) < deadline)) || hva_fail "no rollback after restart: $(hvactl 1 status)"
    sleep 0.1 # poll interval
done
[ "$(hva_vm_field 1 pid)" = "$pid1" ] || hva_fail "VM restarted on node1"
[ "$(hva_lease_pid 1)" = "$pid1" ] || hva_fail "node1's QEMU lost the lease"
a=$(hva_last_tick 1)
hva_wait_reports 1 3 || hva_fail "guest not running on node1 after rollback"
b=$(hva_last_tick 1)
((b > a)) || hva_fail "counter not advancing on node1"
hva_all_verified 1 || hva_fail "guest checksum failed on node1"
# and the VM can still migrate afterwards
hva_arm 2
r=$(hvactl 1 migrate-out $HVA_VM to=${HVA_IP[2]}:7410 timeout-s=120) || hva_fail "migration after rollback: $r"
echo "source agent killed in phase $(tr -d '\n' <<<"$phase"): target discarded its copy, restarted agent rolled back (VM on node1, pid $pid1, lease held, counter $a->$b), then migrated it (downtime $(hva_attr "$r" downtime-ms) ms)"
