#!/bin/bash
# The source agent dies at switchover (its QEMU has sent the last state,
# the guest is stopped and the lease released, the target has not taken
# it) and is restarted 2 s later: the new agent re-attaches, takes the
# lease back and resumes the guest within 2 s of its restart; the target
# then discards its copy. The target's agent is held (SIGSTOP) from
# pre-copy on so that the switchover cannot complete before the kill.
# Low dirty rate so pre-copy converges under the bandwidth cap.
HVA_RATE=1
# kvmc-alone: measures time closely or loads the whole machine
. "$(dirname "$0")/lib/hva.sh"
hva_up

r=$(hvactl 1 start $HVA_VM) || hva_fail "start on node1: $r"
hva_wait_reports 1 3 || hva_fail "guest does not report on node1"
pid1=$(hva_vm_field 1 pid)
boot=$(hva_boot_ids 1)
hva_arm 2
hvactl 1 migrate-out $HVA_VM to=${HVA_IP[2]}:7410 bandwidth-mibs=32 timeout-s=120 \
    >"$HVA_D/mig.out" 2>&1 &
mig=$!
deadline=$(($(hva_now_ms) + 20000))
until [ "$(hva_vm_field 2 phase)" = in-receiving ]; do
    (($(hva_now_ms) < deadline)) || hva_fail "target never started receiving"
    sleep 0.05 # poll interval
done
t2pid=$(cat "$HVA_D/hva-agent2.pid")
sb exec node2 kill -STOP "$t2pid"
trap 'hva_rc=$?; sb exec node2 kill -CONT '"$t2pid"' 2>/dev/null; (exit $hva_rc); hva_cleanup' EXIT
phasef=$HVA_D/n1/vm/$HVA_UUID/phase
deadline=$(($(hva_now_ms) + 60000))
until [ "$(cat "$phasef" 2>/dev/null)" = out-released ]; do
    (($(hva_now_ms) < deadline)) || hva_fail "source never reached switchover: phase $(cat "$phasef")"
    sleep 0.05 # poll interval
done
phase=$(cat "$phasef")
sb exec node1 bash -c "kill -9 \$(cat $HVA_D/hva-agent1.pid)"
wait $mig 2>/dev/null
frozen_at=$(hva_last_tick 1)
sleep 2 # the restart delay of the reported case
# the guest is stopped (postmigrate) while no agent runs
[ "$(hva_last_tick 1)" = "$frozen_at" ] || hva_fail "guest ran on node1 without its lease"
# The agent starts in the background: the guest's reports are watched
# meanwhile, not after the agent has answered a status request.
t0=$(hva_now_ms)
hva_agent_start 1 &
starter=$!
deadline=$((t0 + 10000))
t_none=""
until [ -n "$(hva_last_tick 1)" ] && (($(hva_last_tick 1) > frozen_at)); do
    (($(hva_now_ms) < deadline)) || hva_fail "guest still frozen 10 s after the restart: $(hvactl 1 status)"
    # the agent writes the phase right after its cont: when QEMU resumed
    [ -n "$t_none" ] || [ "$(cat "$phasef" 2>/dev/null)" != none ] || t_none=$(hva_now_ms)
    sleep 0.02 # poll interval
done
t_tick=$(hva_now_ms)
resumed_ms=$(($(hva_now_ms) - t0))
t_up=$(awk '{ printf "%d", $1 * 1000 }' /proc/uptime)
wait $starter || hva_fail "hvagent on node1 did not come up"
# The agent process's own start (since boot, as /proc/uptime): the spawn
# through the sandbox's nsenter alone can take seconds on a loaded host.
apid=$(cat "$HVA_D/hva-agent1.pid")
start_ticks=$(sb exec node1 cat "/proc/$apid/stat" | sed 's/.*) //' | awk '{ print $20 }')
[ -n "$start_ticks" ] || hva_fail "no start time of hvagent $apid"
proc_ms=$((t_up - start_ticks * 1000 / $(getconf CLK_TCK)))
agent_ms=$(sed -n 's/.*rolled back, guest resumed \([0-9]*\) ms after the re-attach.*/\1/p' \
    "$HVA_D/hva-agent1.log" | tail -n 1)
sb exec node2 kill -CONT "$t2pid"
deadline=$(($(hva_now_ms) + 20000))
until [ "$(hva_qemu_count 2)" = 0 ]; do
    (($(hva_now_ms) < deadline)) || hva_fail "target kept its copy after the rollback"
    sleep 0.1 # poll interval
done
[ "$(hva_vm_field 1 pid)" = "$pid1" ] || hva_fail "VM restarted on node1"
[ "$(hva_qemu_count 1)" = 1 ] || hva_fail "node1 runs $(hva_qemu_count 1) QEMUs"
[ "$(hva_lease_pid 1)" = "$pid1" ] || hva_fail "node1's QEMU $pid1 does not hold the lease"
[ "$(hva_vm_field 1 state)" = running ] || hva_fail "VM not running on node1: $(hvactl 1 status)"
hva_wait_reports 1 3 || hva_fail "guest not running on node1 after rollback"
[ "$(hva_boot_ids 1)" = "$boot" ] || hva_fail "guest rebooted: boot ids $(hva_boot_ids 1)"
hva_all_verified 1 || hva_fail "guest checksum failed on node1"
((proc_ms <= 2000)) ||
    hva_fail "guest ran again only $proc_ms ms after the agent's process started (limit 2000; $resumed_ms ms after the restart command, first report $((t_tick - ${t_none:-$t_tick})) ms after the agent resumed it)"
echo "PROOF: source agent killed in phase $phase, restarted 2 s later: guest ticked again $proc_ms ms after the agent's process started ($resumed_ms ms after the restart command; the agent resumed it ${agent_ms:-?} ms after its re-attach, the guest's first report came $((t_tick - ${t_none:-$t_tick})) ms after that; counter $frozen_at->$(hva_last_tick 1), same boot $boot, one QEMU $pid1 holding the lease); target discarded its copy"
