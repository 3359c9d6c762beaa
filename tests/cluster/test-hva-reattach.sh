#!/bin/bash
# Restarting hvagent does not disturb a running VM: the new agent
# re-attaches (pidfile, QMP socket, sanlock inquire) and can stop it.
. "$(dirname "$0")/lib/hva.sh"
hva_up

r=$(hvactl 1 start $HVA_VM) || hva_fail "start on node1: $r"
hva_wait_reports 1 3 || hva_fail "guest does not report on node1"
pid=$(hva_vm_field 1 pid)
hva_agent_stop 1
a=$(hva_last_tick 1)
hva_wait_reports 1 2 || hva_fail "guest stopped while its agent was down"
hva_agent_start 1
[ "$(hva_vm_field 1 pid)" = "$pid" ] || hva_fail "not re-attached to QEMU $pid"
# sanlock's answer (a worker) and QEMU's status arrive after the agent is up
deadline=$(($(hva_now_ms) + 10000))
until [ "$(hva_vm_field 1 state)" = running ] && [ "$(hva_vm_field 1 lease)" = yes ]; do
    (($(hva_now_ms) < deadline)) ||
        hva_fail "after re-attach: state $(hva_vm_field 1 state), lease $(hva_vm_field 1 lease)"
    sleep 0.1 # poll interval
done
b=$(hva_last_tick 1)
r=$(hvactl 1 stop $HVA_VM timeout-ms=2000) || hva_fail "stop after re-attach: $r"
[ "$(hva_qemu_count 1)" = 0 ] || hva_fail "QEMU left after stop"
[ -z "$(hva_lease_pid 1)" ] || hva_fail "lease still held after stop"
echo "agent restart: re-attached to running QEMU $pid (lease held), counter advanced $a->$b meanwhile, then stopped it"
