#!/bin/bash
# A target that refuses (wrong key; source not in its allow list; incoming
# limit reached) leaves the VM running on the source with its lease and its
# counter advancing, and no QEMU on the target.
. "$(dirname "$0")/lib/hva.sh"
hva_up

r=$(hvactl 1 start $HVA_VM) || hva_fail "start on node1: $r"
hva_wait_reports 1 3 || hva_fail "guest does not report on node1"
pid1=$(hva_vm_field 1 pid)

# refused CASE AGENT-ARGS EXPECTED-ERROR-REGEX
refused() {
    local what=$1 args=$2 want=$3 r
    hva_agent_stop 2
    hva_agent_start 2 "$args"
    unset HVA_ALLOW
    r=$(hvactl 1 migrate-out $HVA_VM to=${HVA_IP[2]}:7410 timeout-s=60) &&
        hva_fail "$what: migration succeeded"
    grep -Eq "$want" <<<"$r" || hva_fail "$what: unexpected error: $r"
    [ "$(hva_vm_field 1 state)" = running ] || hva_fail "$what: VM not running on node1"
    [ "$(hva_vm_field 1 pid)" = "$pid1" ] || hva_fail "$what: VM restarted on node1"
    [ "$(hva_lease_pid 1)" = "$pid1" ] || hva_fail "$what: node1's QEMU lost the lease"
    [ "$(hva_qemu_count 2)" = 0 ] || hva_fail "$what: a QEMU is left on node2"
    hva_wait_reports 1 2 || hva_fail "$what: guest stopped counting on node1"
    REFUSE_MSG=$(sed -n 's/.*error="\([^"]*\)".*/\1/p' <<<"$r")
}
head -c 256 /dev/urandom >"$HVA_D/wrong-authkey"
refused "wrong key" "--authkey $HVA_D/wrong-authkey" "authentication"
e1=$REFUSE_MSG
HVA_ALLOW=198.18.255.254 refused "allow list" "" "allow list"
e2=$REFUSE_MSG
refused "incoming limit" "--max-incoming 0" "limit 0"
e3=$REFUSE_MSG
hva_all_verified 1 || hva_fail "guest checksum failed on node1"
echo "refusing target: VM kept on node1 (pid $pid1, lease held, counter at $(hva_last_tick 1)): '$e1' / '$e2' / '$e3'"
