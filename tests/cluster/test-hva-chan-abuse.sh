#!/bin/bash
# hvagent's migration ports against a peer that misbehaves
# (tests/cluster/hva-chan-probe): a silent connection is dropped at the
# handshake deadline; unauthenticated connections from one address are
# capped, while the agent serves IPC and a live migration from another;
# PREPARE before HELLO, HELLO twice and an over-long line end the channel;
# the data port takes a token only once, only from the address that
# authenticated, and drops a wrong or short one at once.
HVA_MEM=${HVA_MEM:-128}
HVA_WSS=${HVA_WSS:-16}
. "$(dirname "$0")/lib/hva.sh"
hva_up
P=$HVA_B/tests/cluster/hva-chan-probe
T=${HVA_IP[2]}
AK=/etc/corosync/authkey
probe() { sb exec node1 "$P" "$@"; }
closed_within() { # OUTPUT MAX_MS: the probe saw the agent close within MAX_MS
    local ms
    ms=$(sed -n 's/.*closed after \([0-9]*\) ms/\1/p' <<<"$1" | head -n 1)
    [ -n "$ms" ] && ((ms <= $2))
}

# A second address on node1, allowed by node2 as well: the "other member".
dev=$(sb exec node1 ip -o -4 addr show | awk -v ip="${HVA_IP[1]}" '$4 ~ "^"ip"/" { print $2, $4; exit }')
[ -n "$dev" ] || hva_fail "node1's interface for ${HVA_IP[1]} not found"
plen=${dev##*/}
X=${HVA_IP[1]%.*}.201
sb exec node1 ip addr add "$X/$plen" dev "${dev%% *}" || hva_fail "add $X on node1"
hva_agent_stop 2
HVA_ALLOW="${HVA_IP[1]},$X" hva_agent_start 2

# 1. A silent peer: dropped at the handshake deadline (5 s), not held.
r=$(probe raw - "$T" 7410 15000)
closed_within "$r" 7000 || hva_fail "silent connection: $r"
((${r//[^0-9]/} >= 4000)) || hva_fail "silent connection dropped before the deadline: $r"
silent=$r

# 2. Protocol order, from an authenticated peer.
r=$(probe tls $AK "$T" 7410 2000 "PREPARE <vm/>" @wait)
grep -q "< REFUSED protocol error: PREPARE before HELLO" <<<"$r" &&
    grep -q "channel closed" <<<"$r" || hva_fail "PREPARE before HELLO: $r"
r=$(probe tls $AK "$T" 7410 2000 "HELLO node=probe vm=x uuid=y" "HELLO node=probe" @wait)
grep -q "< REFUSED protocol error: HELLO twice" <<<"$r" || hva_fail "HELLO twice: $r"
r=$(probe tls $AK "$T" 7410 10000 "HELLO node=probe vm=x uuid=y" @big:300000 @wait)
grep -q "channel closed" <<<"$r" || hva_fail "line over the cap: $r"

# 3. Tokens: armed for the VM, the probe plays its source.
hva_arm 2
xml=$(tr -d '\n' <"$HVA_D/$HVA_VM.xml")
r=$(probe tls $AK "$T" 7410 3000 "HELLO node=node1 vm=$HVA_VM uuid=$HVA_UUID" "PREPARE $xml" \
    @wait "@data:$X" @data:- @data:-)
grep -Eq "< READY [0-9a-f]{64}$" <<<"$r" || hva_fail "no READY: $r"
mapfile -t d < <(grep "^data from" <<<"$r")
closed_within "${d[0]}" 1000 || hva_fail "right token from another address: ${d[0]}"
grep -q "data from -: open" <<<"${d[1]}" || hva_fail "right token refused: ${d[1]}"
closed_within "${d[2]}" 1000 || hva_fail "reused token: ${d[2]}"
r=$(probe data - "$T" 7411 "DATA $(printf '0%.0s' {1..64})" 3000)
closed_within "$r" 1000 || hva_fail "wrong token: $r"
r=$(probe data - "$T" 7411 "DATA 0123" 3000)
closed_within "$r" 1000 || hva_fail "short token: $r"
deadline=$(($(hva_now_ms) + 20000))
until [ "$(hva_qemu_count 2)" = 0 ] && [ "$(hva_vm_field 2 phase)" = none ]; do
    (($(hva_now_ms) < deadline)) || hva_fail "the probe's half migration left node2 in $(hva_vm_field 2 phase)"
    sleep 0.2 # poll interval
done

# 4. Unauthenticated connections from X fill its cap; the next is closed
# at once; IPC and a live migration from node1's own address go on.
r=$(hvactl 1 start $HVA_VM) || hva_fail "start on node1: $r"
hva_wait_reports 1 3 || hva_fail "guest does not report on node1"
hva_arm 2
holds=()
for i in 1 2 3 4; do
    probe raw "$X" "$T" 7410 15000 >"$HVA_D/hold$i" &
    holds+=($!)
done
# The four are in node2's accept queue (connected, in order) before the
# fifth: accepted first, they fill the cap it meets.
deadline=$(($(hva_now_ms) + 10000))
until [ "$(sb exec node1 ss -tnH state established "( dport = :7410 and src $X )" | wc -l)" -ge 4 ]; do
    (($(hva_now_ms) < deadline)) || hva_fail "the four connections from $X did not connect within 10 s"
    sleep 0.05 # poll interval
done
r=$(probe raw "$X" "$T" 7410 3000)
closed_within "$r" 500 || hva_fail "fifth unauthenticated connection from $X: $r"
capped=$r
t0=$(hva_now_ms)
hvactl 2 status >/dev/null || hva_fail "node2 does not answer IPC while flooded"
ipc_ms=$(($(hva_now_ms) - t0))
r=$(hvactl 1 migrate-out $HVA_VM to=$T:7410 timeout-s=60) || hva_fail "migration while flooded: $r"
hva_wait_reports 2 2 || hva_fail "guest does not report on node2"
hva_assert_continued 1 2
wait "${holds[@]}"
for i in 1 2 3 4; do
    closed_within "$(cat "$HVA_D/hold$i")" 7000 || hva_fail "held connection $i: $(cat "$HVA_D/hold$i")"
done
grep -q "refused: 4 connections still authenticating, 4 from this address" \
    "$HVA_D/hva-agent2.log" || hva_fail "node2 does not log the cap"
echo "migration ports: silent peer $silent; PREPARE before HELLO, HELLO twice, 300 KB line: channel ended; token: other address/reuse/wrong/short dropped, right one taken once; 5th pre-auth from $X $capped, IPC answered in $ipc_ms ms, live migration meanwhile: counter $HVA_TICK_FROM->$HVA_TICK_TO, downtime $(hva_attr "$r" downtime-ms) ms"
