#!/bin/bash
# The same VM started on both nodes at once: exactly one start succeeds,
# and the winner's QEMU holds the lease.
. "$(dirname "$0")/lib/hva.sh"
hva_up

wins=0
for round in 1 2 3; do
    hvactl 1 start $HVA_VM >"$HVA_D/s1" 2>&1 &
    p1=$!
    hvactl 2 start $HVA_VM >"$HVA_D/s2" 2>&1 &
    p2=$!
    wait $p1; r1=$?
    wait $p2; r2=$?
    ((r1 + r2 == 1)) || hva_fail "round $round: starts returned $r1 and $r2: $(cat "$HVA_D/s1" "$HVA_D/s2")"
    w=$((r1 == 0 ? 1 : 2)); l=$((3 - w))
    grep -q "held by another host" "$HVA_D/s$l" || hva_fail "loser's error: $(cat "$HVA_D/s$l")"
    [ "$(hva_lease_pid $w)" = "$(hva_vm_field $w pid)" ] || hva_fail "winner node$w does not hold the lease"
    [ "$(hva_qemu_count $l)" = 0 ] || hva_fail "loser node$l kept a QEMU"
    hvactl $w kill $HVA_VM >/dev/null || hva_fail "kill on node$w"
    wins="$wins node$w"
done
echo "concurrent start on both nodes: exactly one won each of 3 rounds ($wins), the other refused: $(sed -n 's/.*error="\([^"]*\)".*/\1/p' "$HVA_D/s$l")"
