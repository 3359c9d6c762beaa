#!/bin/bash
# migration-tls = psk: a live migration node1 -> node2 whose memory stream
# goes through QEMU's TLS (guest continues, lease moves, no key file left
# on either node); then a target whose stream key differs (its own
# migration-tls-key) and one with migration-tls = off: each refused with
# an error saying so, the VM still running on its source with its lease;
# last, that QEMU is saved and restored (quick migration stays in clear).
HVA_MEM=${HVA_MEM:-128}
HVA_WSS=${HVA_WSS:-8}
HVA_RATE=${HVA_RATE:-8}
. "$(dirname "$0")/lib/hva.sh"
hva_up

# conf FILE LINES...: the node's kvmcluster.conf with LINES in [hvagent]
conf() {
    local f=$1
    shift
    local base=$HVA_D/node1/etc-kvmcluster/kvmcluster.conf
    [ -f "$base" ] || hva_fail "no $base in the sandbox"
    awk -v add="$(printf '%s\n' "$@")" '{ print } $0 == "[hvagent]" { print add }' \
        "$base" >"$f"
}
head -c 256 /dev/urandom >"$HVA_D/other-stream.key"
conf "$HVA_D/tls-other.conf" "migration-tls = psk" \
    "migration-tls-key = $HVA_D/other-stream.key"
conf "$HVA_D/tls-off.conf" "migration-tls = off"
restart() { # restart N CONF
    hva_agent_stop "$1"
    hva_agent_start "$1" --config "$2"
}
conf "$HVA_D/tls.conf" "migration-tls = psk"
restart 1 "$HVA_D/tls.conf"
restart 2 "$HVA_D/tls.conf"
grep -q "migration-tls = psk: live migration streams go through QEMU's TLS" \
    "$HVA_D/hva-agent2.log" || hva_fail "node2 does not say it encrypts streams"
# no key file anywhere, from now on checked after every attempt
no_keys() {
    local left
    left=$(find "$(hva_run 1)/mig-tls" "$(hva_run 2)/mig-tls" -mindepth 1 2>/dev/null)
    [ -z "$left" ] || hva_fail "$1: key material left behind: $left"
}

r=$(hvactl 1 start $HVA_VM) || hva_fail "start on node1: $r"
hva_wait_reports 1 3 || hva_fail "guest does not report on node1"

# 1. Encrypted live migration node1 -> node2.
hva_clear_serial 2
hva_arm 2
r=$(hvactl 1 migrate-out $HVA_VM to=${HVA_IP[2]}:7410 timeout-s=60) ||
    hva_fail "encrypted migration node1 -> node2: $r"
[ "$(hva_attr "$r" stream)" = tls ] || hva_fail "stream not through TLS: $r"
hva_wait_reports 2 3 || hva_fail "guest does not report on node2"
hva_assert_continued 1 2
pid2=$(hva_vm_field 2 pid)
[ "$(hva_lease_pid 2)" = "$pid2" ] || hva_fail "lease not held by node2's QEMU $pid2"
[ "$(hva_qemu_count 1)" = 0 ] || hva_fail "a QEMU is left on node1"
no_keys "after the encrypted migration"
ok_msg="counter $HVA_TICK_FROM->$HVA_TICK_TO, downtime $(hva_attr "$r" downtime-ms) ms, total $(hva_attr "$r" total-ms) ms, $(($(hva_attr "$r" bytes) >> 20)) MiB"

# refused CASE CONF WANT: node1's agent restarted with CONF; node2 -> node1
# fails with WANT and the VM keeps running on node2.
refused() {
    local what=$1 conf=$2 want=$3 pid r
    restart 1 "$conf"
    pid=$(hva_vm_field 2 pid)
    hva_arm 1
    r=$(hvactl 2 migrate-out $HVA_VM to=${HVA_IP[1]}:7410 timeout-s=60) &&
        hva_fail "$what: migration succeeded: $r"
    grep -Eq "$want" <<<"$r" || hva_fail "$what: unclear error: $r"
    [ "$(hva_vm_field 2 state)" = running ] || hva_fail "$what: VM not running on node2"
    [ "$(hva_vm_field 2 pid)" = "$pid" ] || hva_fail "$what: VM restarted on node2"
    [ "$(hva_lease_pid 2)" = "$pid" ] || hva_fail "$what: node2's QEMU lost the lease"
    local deadline=$(($(hva_now_ms) + 10000))
    until [ "$(hva_qemu_count 1)" = 0 ]; do
        (($(hva_now_ms) < deadline)) || hva_fail "$what: a QEMU is left on node1"
        sleep 0.2 # poll interval
    done
    hva_wait_reports 2 2 || hva_fail "$what: guest stopped counting on node2"
    no_keys "$what"
    REFUSE_MSG=$(sed -n 's/.*error="\([^"]*\)".*/\1/p' <<<"$r")
}
# 2. The target's stream key differs (control channel still authenticates).
refused "wrong stream key" "$HVA_D/tls-other.conf" \
    "memory stream to ${HVA_IP[1]}: TLS handshake failed.*stream key"
e1=$REFUSE_MSG
# 3. The target expects the stream in clear.
refused "target without TLS" "$HVA_D/tls-off.conf" \
    "has migration-tls = off, node 'node2' psk"
e2=$REFUSE_MSG
hva_all_verified 2 || hva_fail "guest checksum failed on node2"
kept="pid $(hva_vm_field 2 pid), lease held, counter at $(hva_last_tick 2)"
# 4. The QEMU that received an encrypted stream and tried to send two is
# still saved in clear (a state file has no TLS peer) and restored.
hva_clear_serial 1
rs=$(hvactl 2 save $HVA_VM) || hva_fail "save on node2 after encrypted migrations: $rs"
rr=$(hvactl 1 restore $HVA_VM) || hva_fail "restore on node1: $rr"
hva_wait_reports 1 3 || hva_fail "guest does not report on node1 after restore"
hva_assert_continued 2 1
echo "PROOF: encrypted live migration node1->node2: $ok_msg; refused and VM kept on node2 ($kept): '$e1' / '$e2'; no key file left; then saved on node2 and restored on node1 (counter $HVA_TICK_FROM->$HVA_TICK_TO)"
