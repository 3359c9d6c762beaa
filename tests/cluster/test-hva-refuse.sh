#!/bin/bash
# A target that refuses (wrong key; source not in its allow list; incoming
# limit reached) leaves the VM running on the source with its lease and its
# counter advancing, and no QEMU on the target.
. "$(dirname "$0")/lib/hva.sh"
hva_up

r=$(hvactl 1 start $HVA_VM) || hva_fail "start on node1: $r"
hva_wait_reports 1 3 || hva_fail "guest does not report on node1"
pid1=$(hva_vm_field 1 pid)

# attempt CASE EXPECTED-ERROR-REGEX [QEMUS-ON-NODE2]: the migration fails
# with that error and everything stays on node1.
attempt() {
    local what=$1 want=$2 qemus=${3:-0} r
    r=$(hvactl 1 migrate-out $HVA_VM to=${HVA_IP[2]}:7410 timeout-s=60) &&
        hva_fail "$what: migration succeeded"
    grep -Eq "$want" <<<"$r" || hva_fail "$what: unexpected error: $r"
    [ "$(hva_vm_field 1 state)" = running ] || hva_fail "$what: VM not running on node1"
    [ "$(hva_vm_field 1 pid)" = "$pid1" ] || hva_fail "$what: VM restarted on node1"
    [ "$(hva_lease_pid 1)" = "$pid1" ] || hva_fail "$what: node1's QEMU lost the lease"
    [ "$(hva_qemu_count 2)" = "$qemus" ] || hva_fail "$what: $(hva_qemu_count 2) QEMUs on node2, expected $qemus"
    [ "$(hva_vm_field 2 pid)" = 0 ] || hva_fail "$what: node2 has a QEMU for $HVA_VM"
    hva_wait_reports 1 2 || hva_fail "$what: guest stopped counting on node1"
    REFUSE_MSG=$(sed -n 's/.*error="\([^"]*\)".*/\1/p' <<<"$r")
}
# refused CASE AGENT-ARGS EXPECTED-ERROR-REGEX: node2's agent, restarted
# with AGENT-ARGS, refuses before looking at what it is armed for.
refused() {
    local what=$1 args=$2 want=$3
    hva_agent_stop 2
    hva_agent_start 2 "$args"
    unset HVA_ALLOW
    attempt "$what" "$want"
}
head -c 256 /dev/urandom >"$HVA_D/wrong-authkey"
refused "wrong key" "--authkey $HVA_D/wrong-authkey" "authentication"
e1=$REFUSE_MSG
HVA_ALLOW=198.18.255.254 refused "allow list" "" "allow list"
e2=$REFUSE_MSG
refused "incoming limit" "--max-incoming 0" "limit 0"
e3=$REFUSE_MSG

# Arming: node2 takes only the VM it was armed for (migrate-in), and the
# source's channel names the VM it brings. Not armed at all:
hva_agent_stop 2
hva_agent_start 2
attempt "not armed" "node2 is not armed for VM '$HVA_VM' \\(uuid $HVA_UUID\\); armed for: none"
e4=$REFUSE_MSG
# Armed for another VM (a small one, its QEMU prepared on node2):
cat >"$HVA_D/g2.xml" <<EOF
<vm name="g2" uuid="0b0e5a1d-2c3d-4e5f-8a9b-0c1d2e3f4a5b" memory-mib="64" vcpus="1">
  <kernel path="$HVA_B/tests/guest/kvmc-guest.elf" cmdline="wss=1 rate=0"/>
</vm>
EOF
hvactl 2 define "$HVA_D/g2.xml" >/dev/null || hva_fail "define g2 on node2"
hva_arm 2 g2
[ "$(hva_attr "$(hvactl 2 status g2)" phase)" = in-prepared ] || hva_fail "g2 not prepared on node2"
attempt "armed for another VM" "node2 is not armed for VM '$HVA_VM' .*armed for: 'g2'" 1
e5=$REFUSE_MSG
grep -q "incoming migration from ${HVA_IP[1]} refused: node2 is not armed for VM '$HVA_VM'" \
    "$HVA_D/hva-agent2.log" || hva_fail "node2 does not log the refusal"
[ "$(hva_attr "$(hvactl 2 status g2)" phase)" = in-prepared ] || hva_fail "g2's arming lost after the refusal"
# Starting an armed VM that no source brought: the prepared QEMU goes, a
# normal one starts.
pg2=$(hva_attr "$(hvactl 2 status g2)" pid)
r=$(hvactl 2 start g2) || hva_fail "start of the armed g2 on node2: $r"
st=$(hvactl 2 status g2)
[ "$(hva_attr "$st" state)" = running ] && [ "$(hva_attr "$st" phase)" = none ] &&
    [ "$(hva_attr "$st" pid)" != "$pg2" ] || hva_fail "g2 after start while armed: $st"
hvactl 2 kill g2 >/dev/null || hva_fail "kill g2 on node2"
[ "$(hva_qemu_count 2)" = 0 ] || hva_fail "g2's prepared QEMU left on node2"
hva_all_verified 1 || hva_fail "guest checksum failed on node1"
echo "refusing target: VM kept on node1 (pid $pid1, lease held, counter at $(hva_last_tick 1)): '$e1' / '$e2' / '$e3' / '$e4' / '$e5'"
