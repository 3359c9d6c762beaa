#!/bin/bash
# Each hvagent reports its node's CPU capability ('cpu' request), probed
# from its own QEMU at start-up; [hvagent] cpu-models caps what a node
# offers, so two nodes of one host stand for two CPU generations: node1
# offers all TCG runs, node2 is capped at Nehalem. The newest model both
# run (the cluster baseline) is then Nehalem; node2 names what it lacks
# for Westmere. A cap naming a model QEMU does not know stops the agent
# with an error naming it.
# kvmc-timeout: 240
# kvmc-light: no guest (short QEMU probes only); runs beside the alone tests
. "$(dirname "$0")/lib/hva.sh"
hva_up

# caps N: node N's capability text, polled until the probe finished.
caps() {
    local n=$1 r deadline=$(($(hva_now_ms) + 30000))
    while :; do
        r=$(hvactl "$n" cpu 2>/dev/null)
        case "$r" in
        *'<reply rc="0"'*)
            sed -e 's/.*<cpu>//; s/<\/cpu>.*//' <<<"$r"
            return 0
            ;;
        esac
        (($(hva_now_ms) < deadline)) || hva_fail "node$n: no CPU capability: $r"
        sleep 0.2 # poll interval
    done
}
# runnable TEXT: "RANK NAME" of each model the node runs whole.
runnable() { awk '$1 == "model" && NF == 3 {print $3, $2}' <<<"$1" | sort; }

cat >"$HVA_D/cpu-nehalem.conf" <<CONF
[hvagent]
kernel-dirs = $HVA_B/tests/guest
cpu-models = Nehalem
CONF
hva_agent_stop 2
hva_agent_start 2 --config "$HVA_D/cpu-nehalem.conf"

c1=$(caps 1)
c2=$(caps 2)
r1=$(runnable "$c1")
r2=$(runnable "$c2")
n1=$(wc -l <<<"$r1")
n2=$(wc -l <<<"$r2")
grep -qx '[0-9]* Westmere' <<<"$r1" || hva_fail "node1 does not run Westmere: $r1"
grep -qx '[0-9]* Nehalem' <<<"$r2" || hva_fail "node2 does not run Nehalem: $r2"
! grep -qx '[0-9]* Westmere' <<<"$r2" || hva_fail "capped node2 runs Westmere"
w2=$(grep '^model Westmere ' <<<"$c2")
grep -qw aes <<<"$w2" || hva_fail "node2 does not say it lacks aes for Westmere: $w2"
((n2 < n1)) || hva_fail "capped node2 runs $n2 models, node1 $n1"
# The baseline: the highest-ranked model both run (ties: lowest name).
base=$(join -j 2 <(awk '{print $1, $2}' <<<"$r1" | sort -k2) \
    <(awk '{print $1, $2}' <<<"$r2" | sort -k2) |
    awk '{print $2, $1}' | sort -k1,1nr -k2,2 | head -n 1 | cut -d' ' -f2)
[ "$base" = Nehalem ] || hva_fail "baseline of node1+node2 is '$base', want Nehalem"

# A cap QEMU does not know: the agent refuses, naming it.
printf '[hvagent]\ncpu-models = Pentium9\n' >"$HVA_D/cpu-bad.conf"
out=$(sb exec node2 "$HVA_B/hvagent/hvagent" --accel tcg --config "$HVA_D/cpu-bad.conf" \
    --cpu-caps 2>&1) && hva_fail "hvagent accepted cpu-models = Pentium9"
grep -q "cpu-models: CPU cap 'Pentium9'" <<<"$out" || hva_fail "error does not name the cap: $out"

echo "PROOF: CPU capability: node1 runs $n1 models, node2 capped at Nehalem $n2;" \
    "baseline Nehalem; node2 lacks $(sed 's/^model Westmere [0-9]* //' <<<"$w2") for Westmere;" \
    "an unknown cap is refused"
