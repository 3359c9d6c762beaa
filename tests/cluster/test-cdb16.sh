#!/usr/bin/env bash
# The largest cluster: 16 nodes running clusterd (no VMs) form and are
# quorate (interface names within 15 characters), every node registers,
# and after 20 random setting changes sent to random nodes every node
# holds the same CDB digest with every change in it. Then a node crashes:
# every survivor's membership loses it, and down removes all of it.
# Reports times and memory.
# kvmc-alone: measures time closely or loads the whole machine
# kvmc-timeout: 600
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"

N=16
cd_require
sb_init cd16
# 16 corosyncs on 2 cores: a longer token avoids false node loss.
KVMC_SANDBOX_TOKEN=${KVMC_SANDBOX_TOKEN:-3000} KVMC_SANDBOX_DAEMONS=corosync \
    sb_up $N
NODES=$(for ((i = 1; i <= N; i++)); do printf 'node%d ' $i; done)

t0=$(sb_now_ms)
for n in $NODES; do cd_start $n; done
cd_wait_started $NODES
registered() {
    [ "$(cdctl node1 node list --output xml | grep -c 'state="up"')" = $N ]
}
sb_wait_for 120 registered || fail "not all nodes registered: $(cdctl node1 node list)"
sb_wait_for 60 cd_converged $N $NODES ||
    fail "16 clusterds did not converge: $(cd_views $NODES)"
form_ms=$(($(sb_now_ms) - t0))
assert_eq yes "$(cd_attr node16 quorate)" "node16 quorate"
assert_eq 1 "$(cd_attr node16 coordinator)" "coordinator"
epoch0=$CD_EPOCH
sb_log "16 nodes formed in $form_ms ms at epoch $epoch0"

# 20 random changes to random nodes; remember the last value of each key.
keys=(max-passes migration-max-concurrent migration-bandwidth quorum-grace)
declare -A last
RANDOM=$$
t0=$(sb_now_ms)
worst=0
for ((k = 0; k < 20; k++)); do
    key=${keys[RANDOM % ${#keys[@]}]}
    case $key in
        quorum-grace) val=$((10 + RANDOM % 50))s ;;
        *) val=$((1 + RANDOM % 16)) ;;
    esac
    node=node$((1 + RANDOM % N))
    c0=$(sb_now_ms)
    out=$(cdctl $node config set $key $val) || fail "change $k on $node: $out"
    c=$(($(sb_now_ms) - c0))
    [ $c -gt $worst ] && worst=$c
    last[$key]=$val
done
send_ms=$(($(sb_now_ms) - t0))
sb_wait_for 60 cd_converged $N $NODES ||
    fail "digests differ after 20 changes: $(cd_views $NODES)"
conv_ms=$(($(sb_now_ms) - t0))
assert_eq $((epoch0 + 20)) "$CD_EPOCH" "epoch after 20 changes"
for key in "${!last[@]}"; do
    want=${last[$key]}
    [ "$key" = quorum-grace ] && want=$((${want%s} * 1000))
    for n in node1 node8 node16; do
        assert_eq "$want" "$(cdctl $n config get $key)" "$key on $n"
    done
done

rss_kb=0
for p in $(sb_pids); do
    r=$(awk '/^VmRSS/ { print $2 }' "/proc/$p/status" 2>/dev/null)
    rss_kb=$((rss_kb + ${r:-0}))
done
longest=$(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' |
    grep "^$KVMC_SANDBOX_NAME-" | awk '{ print length($0) }' | sort -n | tail -n1)
[ "$longest" -le 15 ] || fail "an interface name has $longest characters"

sb_snapshot_procs
t0=$(sb_now_ms)
sb_kill node16
all15="$(seq -s' ' 1 15)"
all_see_15() {
    local i
    for i in 1 5 10 15; do sb_members_are node$i "$all15" || return 1; done
}
# corosync's token grows with the node count (token + 650 ms per node
# beyond 2), consensus is 1.2 token.
sb_wait_for 90 all_see_15 ||
    fail "survivors still see: $(sb_quorum_view node1) 90 s after node16's crash"
leave_ms=$(($(sb_now_ms) - t0))
node16_gone() {
    cdctl node1 node list --output xml | grep -q 'name="node16".* online="no"'
}
sb_wait_for 30 node16_gone ||
    fail "clusterd on node1 still lists node16 online: $(cdctl node1 node list | grep -e NAME -e node16 | tr -s ' ')"

sb_down
sb_assert_gone
proof "16 clusterds formed, quorate, registered in $(sb_secs $form_ms);" \
    "20 random changes to random nodes acknowledged in $send_ms ms (slowest" \
    "$worst ms), all 16 nodes at epoch $CD_EPOCH with digest" \
    "${CD_DIGEST:0:16} within $(sb_secs $conv_ms);" \
    "$((rss_kb / 1024)) MiB RSS summed, longest interface name $longest" \
    "chars; node16 killed, nodes 1/5/10/15 saw 15 members after" \
    "$(sb_secs $leave_ms); down in $(sb_secs $SB_DOWN_MS), nothing left"
