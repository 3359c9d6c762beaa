#!/bin/bash
# A live migration whose stream goes silent (the target's migration ports
# dropped by nft mid-pre-copy) fails within the stall timeout plus a few
# seconds with a message that says it stalled; the guest keeps running on
# the source (same boot, lease held); the target discards its copy by
# itself within seconds while the path is still dead; once the path is
# back an immediate retry migrates the guest. Then a refused migration
# (target's incoming limit) leaves nothing armed on the target, and an
# armed target that no source connects to disarms by itself.
# kvmc-alone: measures time closely or loads the whole machine
# kvmc-timeout: 240
. "$(dirname "$0")/lib/hva.sh"
STALL_MS=${STALL_MS:-4000}
SLACK_MS=5000
hva_up

# The stall timeout comes from the [hvagent] section of the agents'
# config; HVA_STALL_BY_REQUEST=1 passes it with the request instead (and
# leaves the agents as they are: that runs on agents without --config too).
cat >"$HVA_D/hvagent.conf" <<EOC
[hvagent]
migration-stall-timeout = ${STALL_MS}ms
migration-timeout = 120s
migration-arm-timeout = 6s
EOC
by_request=""
if [ "${HVA_STALL_BY_REQUEST:-0}" = 1 ]; then
    by_request="stall-ms=$STALL_MS timeout-s=120"
else
    for n in 1 2; do
        hva_agent_stop $n
        hva_agent_start $n --config "$HVA_D/hvagent.conf"
    done
fi

r=$(hvactl 1 start $HVA_VM) || hva_fail "start on node1: $r"
hva_wait_reports 1 5 || hva_fail "guest does not report on node1"
pid1=$(hva_vm_field 1 pid)
boot=$(hva_boot_ids 1)
[ "$(hva_lease_pid 1)" = "$pid1" ] || hva_fail "lease not held by node1's QEMU $pid1"

hva_arm 2
hvactl 1 migrate-out $HVA_VM to=${HVA_IP[2]}:7410 bandwidth-mibs=16 $by_request \
    >"$HVA_D/mig.out" 2>&1 &
mig=$!
deadline=$(($(hva_now_ms) + 20000))
until [ "$(hva_vm_field 2 phase)" = in-receiving ]; do
    (($(hva_now_ms) < deadline)) || hva_fail "target never started receiving: $(cat "$HVA_D/mig.out")"
    sleep 0.05 # poll interval
done
sleep 1.7 # into pre-copy, as in the reported case
[ "$(hva_vm_field 1 phase)" = out-precopy ] ||
    hva_fail "migration left pre-copy before the drop: $(hva_vm_field 1 phase)"
# The target's migration ports (control and data) go silent both ways.
nft_table=hvstall
sb exec node2 nft -f - <<EON || hva_fail "nft rules in node2"
table inet $nft_table {
    chain in { type filter hook input priority -10; tcp dport { 7410, 7411 } drop; }
    chain out { type filter hook output priority -10; tcp sport { 7410, 7411 } drop; }
}
EON
t_drop=$(hva_now_ms)
t_gone=""
t_fail=""
deadline=$((t_drop + STALL_MS + 60000))
while [ -z "$t_gone" ] || [ -z "$t_fail" ]; do
    (($(hva_now_ms) < deadline)) ||
        hva_fail "after $(($(hva_now_ms) - t_drop)) ms: migrate-out ${t_fail:+returned}${t_fail:-still running}, target QEMUs: $(hva_qemu_count 2)"
    [ -n "$t_fail" ] || kill -0 $mig 2>/dev/null || t_fail=$(hva_now_ms)
    [ -n "$t_gone" ] || [ "$(hva_qemu_count 2)" != 0 ] || t_gone=$(hva_now_ms)
    sleep 0.1 # poll interval
done
wait $mig && hva_fail "migration succeeded through a dead path: $(cat "$HVA_D/mig.out")"
fail_ms=$((t_fail - t_drop))
gone_ms=$((t_gone - t_drop))
grep -q "stalled" "$HVA_D/mig.out" || hva_fail "the failure does not say it stalled: $(cat "$HVA_D/mig.out")"
((fail_ms <= STALL_MS + SLACK_MS)) ||
    hva_fail "migration failed only $fail_ms ms after the drop (stall timeout $STALL_MS ms)"
((gone_ms <= STALL_MS + SLACK_MS)) ||
    hva_fail "target's copy went only $gone_ms ms after the drop (stall timeout $STALL_MS ms)"
# the path is still dead: the target cleaned up by itself
sb exec node2 nft list table inet $nft_table >/dev/null || hva_fail "nft rules gone early"
[ "$(hva_vm_field 2 state)" = defined ] && [ "$(hva_vm_field 2 phase)" = none ] ||
    hva_fail "target not back to normal: $(hvactl 2 status)"
[ "$(hva_vm_field 1 state)" = running ] && [ "$(hva_vm_field 1 phase)" = none ] ||
    hva_fail "source not back to normal: $(hvactl 1 status)"
[ "$(hva_vm_field 1 pid)" = "$pid1" ] || hva_fail "VM restarted on node1"
[ "$(hva_lease_pid 1)" = "$pid1" ] || hva_fail "node1's QEMU lost the lease"
a=$(hva_last_tick 1)
hva_wait_reports 1 3 || hva_fail "guest not running on node1 after the stall"
b=$(hva_last_tick 1)
((b > a)) || hva_fail "counter not advancing on node1"
[ "$(hva_boot_ids 1)" = "$boot" ] || hva_fail "guest rebooted on node1"
msg=$(sed -n 's/.*error="\([^"]*\)".*/\1/p' "$HVA_D/mig.out")

# the path is back: an immediate retry works
sb exec node2 nft delete table inet $nft_table || hva_fail "nft delete"
hva_clear_serial 2
hva_arm 2
r=$(hvactl 1 migrate-out $HVA_VM to=${HVA_IP[2]}:7410) || hva_fail "retry after the stall: $r"
hva_wait_reports 2 3 || hva_fail "guest does not report on node2"
hva_assert_continued 1 2
pid2=$(hva_vm_field 2 pid)
[ "$(hva_lease_pid 2)" = "$pid2" ] || hva_fail "lease not held by node2's QEMU $pid2"
[ "$(hva_qemu_count 1)" = 0 ] || hva_fail "a QEMU is left on node1"
retry="retry moved the guest (counter $HVA_TICK_FROM->$HVA_TICK_TO, lease to node2's QEMU $pid2)"

# A refused migration (node1's incoming limit is 0) leaves nothing armed.
hva_agent_stop 1
hva_agent_start 1 --config "$HVA_D/hvagent.conf" --max-incoming 0
hva_arm 1
[ "$(hva_vm_field 1 state)" = incoming ] || hva_fail "node1 not armed: $(hvactl 1 status)"
r=$(hvactl 2 migrate-out $HVA_VM to=${HVA_IP[1]}:7410) && hva_fail "migration into a node with limit 0 succeeded"
grep -q "refused" <<<"$r" || hva_fail "no refusal: $r"
deadline=$(($(hva_now_ms) + 3000))
until [ "$(hva_vm_field 1 state)" = defined ] && [ "$(hva_qemu_count 1)" = 0 ]; do
    (($(hva_now_ms) < deadline)) || hva_fail "node1 kept its armed QEMU after the refusal: $(hvactl 1 status)"
    sleep 0.1 # poll interval
done
t=$(hva_now_ms)
# An armed target that no source connects to disarms at its deadline
# (migration-arm-timeout 6 s here), and "disarm" does it at once.
r=$(hvactl 1 migrate-in $HVA_VM) || hva_fail "migrate-in on node1: $r"
t_arm=$(hva_now_ms)
deadline=$((t_arm + 15000))
until [ "$(hva_vm_field 1 state)" = defined ] && [ "$(hva_qemu_count 1)" = 0 ]; do
    (($(hva_now_ms) < deadline)) || hva_fail "node1 still armed 15 s later: $(hvactl 1 status)"
    sleep 0.2 # poll interval
done
arm_ms=$(($(hva_now_ms) - t_arm))
hva_arm 1
r=$(hvactl 1 disarm $HVA_VM) || hva_fail "disarm: $r"
[ "$(hva_attr "$r" disarmed)" = yes ] || hva_fail "disarm did nothing: $r"
deadline=$(($(hva_now_ms) + 3000))
until [ "$(hva_vm_field 1 state)" = defined ] && [ "$(hva_qemu_count 1)" = 0 ]; do
    (($(hva_now_ms) < deadline)) || hva_fail "node1 still armed after disarm: $(hvactl 1 status)"
    sleep 0.1 # poll interval
done
[ "$(hva_vm_field 2 state)" = running ] || hva_fail "the VM stopped on node2"
echo "PROOF: stream dropped 1.7 s into pre-copy: migrate-out failed after $fail_ms ms (stall timeout $STALL_MS ms: '$msg'), target's copy gone after $gone_ms ms with the path still dead, guest kept counting on node1 ($a->$b, boot $boot, lease held); $retry; refused target disarmed, unconnected arming dropped after $arm_ms ms, disarm immediate"
