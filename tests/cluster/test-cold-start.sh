#!/usr/bin/env bash
# Cold start one node at a time (3 nodes, the whole stack under the
# sandbox: corosync, sanlock, lunbridge, csv, hvagent, clusterd) with a VM
# meant to run. 'stop' of every node (clusterd drains the VM away, the last
# node stops it), then 'start' of one node at a time: each start returns
# promptly though the first node is alone and without quorum, the cluster
# becomes quorate when the second comes, and by the end the VM runs on
# exactly one node (a new boot: the cold start), every clusterd agrees on
# one CDB digest.
# kvmc-timeout: 420
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_require_stack
sb_init cold
N="node1 node2 node3"
START_BOUND_MS=45000 # a node's whole stack, lockspace join included

KVMC_SANDBOX_DAEMONS=all sb_up 3
sb_csv_env
# shellcheck disable=SC2034 # read by lib/vm.sh
VM_CSV=1
VM_DIR=$KVMC_SANDBOX_DIR/vmshared
mkdir -p "$VM_DIR"
VM_ALL=$N
# The sandbox's hvagent keeps its VMs under the node's private /run.
vm_serial() {
    echo "$KVMC_SANDBOX_DIR/$1/run/kvmcluster/hvagent/vm/$(vm_uuid "$2")/serial.log"
}
sb_wait_for 30 cd_converged 3 $N || fail "clusterds did not converge: $(cd_views $N)"
sb_wait_for 30 vm_registered 3 || fail "nodes did not register: $(cdctl node1 node list)"

vm_define cs1 high 128
out=$(cdctl node1 vm add "$VM_DIR/cs1.xml") || fail "vm add cs1: $out"
out=$(cdctl node1 vm start cs1) || fail "vm start cs1: $out"
w0=$(vm_where node1 cs1)
[ -n "$w0" ] || fail "cs1 runs nowhere after vm start"
sb_wait_for 30 vm_ticking "$w0" cs1 || fail "cs1 does not tick on $w0"
boot0=$(vm_last_boot "$w0" cs1)

# Stop every node, the one running cs1 last but one.
order="node1 node2 node3"
stops=
for n in $order; do
    t=$(sb_now_ms)
    "$SANDBOX" stop "$n" >&2 || fail "sandbox stop $n failed"
    stops="$stops $n:$(($(sb_now_ms) - t))ms"
done
q=$(vm_qemus cs1)
[ -z "$q" ] || fail "cs1 still runs after every node stopped: $q"

# One at a time, from the last one stopped.
t=$(sb_now_ms)
"$SANDBOX" start node3 >&2 || fail "sandbox start node3 (alone) failed"
t_start3=$(($(sb_now_ms) - t))
((t_start3 <= START_BOUND_MS)) || fail "start of node3 alone took $t_start3 ms (bound $START_BOUND_MS)"
v=$(sb_quorum_view node3) || fail "no quorum view on node3"
[[ $v == inquorate* ]] || fail "node3 alone is '$v'"
cdctl node3 status >/dev/null || fail "clusterd on node3 does not answer alone"
sleep 3 # alone for a while: nothing may start without quorum
q=$(vm_qemus cs1)
[ -z "$q" ] || fail "cs1 started without quorum: $q"

t=$(sb_now_ms)
"$SANDBOX" start node1 >&2 || fail "sandbox start node1 failed"
t_start1=$(($(sb_now_ms) - t))
((t_start1 <= START_BOUND_MS)) || fail "start of node1 took $t_start1 ms (bound $START_BOUND_MS)"
sb_wait_for 20 sb_quorate node1 || fail "node1 + node3 not quorate: $(sb_quorum_view node1)"
sb_wait_for 20 sb_quorate node3 || fail "node3 not quorate with node1: $(sb_quorum_view node3)"
t_q=$(($(sb_now_ms) - t))

t=$(sb_now_ms)
"$SANDBOX" start node2 >&2 || fail "sandbox start node2 failed"
t_start2=$(($(sb_now_ms) - t))
((t_start2 <= START_BOUND_MS)) || fail "start of node2 took $t_start2 ms (bound $START_BOUND_MS)"
sb_wait_for 30 cd_converged 3 $N || fail "clusterds did not converge after the cold start: $(cd_views $N)"

runs_once() {
    local w q
    w=$(vm_where node1 cs1)
    [ -n "$w" ] && [ "$(vm_field node1 cs1 state)" = running ] || return 1
    q=$(vm_qemus cs1)
    [ "${q%%:*}" = "$w" ] && [ "$(vm_qemu_count cs1)" = 1 ] && vm_ticking "$w" cs1
}
sb_wait_for 90 runs_once ||
    fail "cs1 does not run on exactly one node after the cold start: where '$(vm_where node1 cs1)', QEMUs '$(vm_qemus cs1)'; $(cdctl node1 vm show cs1)"
w1=$(vm_where node1 cs1)
boot1=$(vm_last_boot "$w1" cs1)
[ "$boot1" != "$boot0" ] || fail "cs1 has its old boot id $boot0 after a cold start"
for n in $N; do
    assert_eq "$w1" "$(vm_where $n cs1)" "where $n sees cs1"
done
sleep 2
assert_eq 1 "$(vm_qemu_count cs1)" "QEMUs of cs1 a moment later"
# shellcheck disable=SC2034
VM_NODES_UP=3
# shellcheck disable=SC2034
VM_ALL_UP=$N
d=$(vm_digest) || fail "nodes disagree on the CDB at the end"
proof "cold start: stopped${stops}; started node3 alone in $t_start3 ms (inquorate, nothing started), node1 in $t_start1 ms (quorate $t_q ms after its start began), node2 in $t_start2 ms; cs1 (ran on $w0, boot $boot0) runs once on $w1 (boot $boot1); one digest ${d:0:12} on 3 nodes"
