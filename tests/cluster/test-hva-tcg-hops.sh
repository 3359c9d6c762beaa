#!/bin/bash
# Many live migrations of a guest that dirties memory fast, through the
# hvagents: after every hop the guest continues (same boot id, counter
# up, checksums verify) and keeps reporting. Under TCG, QEMU 7.2 lost
# guest writes here about every other hop (counter back, #GP, silence)
# until hvagent gave TCG guests RAM off a 256 KiB multiple (see
# hva-qemu.c). Under KVM it is a plain many-hop test.
HVA_MEM=${HVA_MEM:-256}
HVA_WSS=${HVA_WSS:-64}
HVA_RATE=${HVA_RATE:-128}
HOPS=${HOPS:-8}
. "$(dirname "$0")/lib/hva.sh"
hva_up

r=$(hvactl 1 start $HVA_VM) || hva_fail "start on node1: $r"
hva_wait_reports 1 5 || hva_fail "guest does not report on node1"

from=1 to=2 downs=""
t0=$(hva_now_ms)
for ((h = 1; h <= HOPS; h++)); do
    hva_clear_serial "$to"
    hva_arm "$to"
    r=$(hvactl "$from" migrate-out $HVA_VM to=${HVA_IP[$to]}:7410 timeout-s=120) ||
        hva_fail "hop $h: migrate node$from -> node$to: $r"
    # 10 reports (1 s of guest time) on the target: a guest whose memory
    # went stale faults or stops within that.
    hva_wait_reports "$to" 10 ||
        hva_fail "hop $h: guest stopped reporting on node$to: $(tr -d '\r' <"$(hva_serial "$to")" | grep -m1 ERROR)"
    grep -q ERROR "$(hva_serial "$to")" &&
        hva_fail "hop $h: guest on node$to: $(tr -d '\r' <"$(hva_serial "$to")" | grep -m1 ERROR)"
    hva_assert_continued "$from" "$to"
    downs+=" $(hva_attr "$r" downtime-ms)"
    tmp=$from from=$to to=$tmp
done
echo "PROOF: $HOPS live migrations ($HVA_MEM MiB guest, wss=$HVA_WSS rate=$HVA_RATE MiB/s) in $((($(hva_now_ms) - t0) / 1000)) s: guest continued after each (last counter $HVA_TICK_TO), downtimes ms:$downs"
