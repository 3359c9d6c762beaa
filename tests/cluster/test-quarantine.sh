#!/usr/bin/env bash
# Quarantine on 3 nodes: hvagent on node2 is killed 3 times (restarted
# each time); clusterd counts each lost hvagent as a daemon failure in
# the CDB and the third within the hour quarantines node2 (defaults:
# quarantine-failures 3, quarantine-duration 2 h). Every node shows node2
# quarantined (node list, status), explain says why, a move to node2 is
# refused naming the quarantine and a new VM is not placed there; 'node
# resume node2' ends it and the move goes through. A clusterd killed
# with SIGKILL counts as a failure of its node, one stopped with SIGTERM
# does not. With quarantine-failures 1 and quarantine-duration 5s, one
# failure quarantines node3 and the quarantine ends by itself. CDB
# identical at the end.
# kvmc-timeout: 360
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_init coqua
vm_up 3
N="node1 node2 node3"

node_xml() { cdctl "$1" node list --output xml | grep "name=\"$2\""; }
node_state() { node_xml "$1" "$2" | sed -n 's/.* state="\([a-z]*\)".*/\1/p'; }
failures() {
    cdctl node1 cdb get | grep "<node name=\"$1\"" |
        sed -n 's/.* failures="\([0-9 ]*\)".*/\1/p' | wc -w
}
hva_connects() { grep -c "connected to hvagent" "$KVMC_SANDBOX_DIR/$1/clusterd.out"; }

vm_define qa high 128
cdctl node1 vm add "$VM_DIR/qa.xml" >/dev/null || fail "vm add qa"
out=$(cdctl node1 vm start qa) || fail "vm start qa: $out"
if [ "$(vm_where node1 qa)" = node2 ]; then
    out=$(cdctl node1 move-vm qa --to node1 --live) || fail "move qa off node2: $out"
fi
qa_node=$(vm_where node1 qa)
sb_wait_for 30 vm_ticking "$qa_node" qa || fail "qa does not tick on $qa_node"

# Three hvagent failures on node2.
for i in 1 2 3; do
    before=$(hva_connects node2)
    pid=$(cat "$KVMC_SANDBOX_DIR/node2/pids/hvagent")
    sb_exec node2 kill -KILL "$pid" || fail "kill hvagent $pid"
    sb_wait_for 10 eval "! vm_hva_alive node2" || fail "hvagent $pid survived SIGKILL"
    sb_wait_for 20 eval "[ \"\$(failures node2)\" -ge $i ]" ||
        fail "failure $i of node2 not recorded: $(cdctl node1 cdb get | grep 'node name="node2"')"
    if [ "$i" -lt 3 ]; then
        assert_eq up "$(node_state node1 node2)" "node2 after $i failure(s)"
    fi
    vm_hva_start node2
    sb_wait_for 10 sb_exec node2 "$KVMC_BUILDDIR/hvagent/hvactl" status ||
        fail "hvagent does not come back on node2"
    sb_wait_for 10 eval "[ \"\$(hva_connects node2)\" -gt $before ]" ||
        fail "clusterd on node2 did not reconnect to hvagent"
done

for n in $N; do
    sb_wait_for 10 eval "[ \"\$(node_state $n node2)\" = quarantined ]" ||
        fail "$n does not show node2 quarantined: $(node_xml $n node2)"
    grep -q 'quarantined-until="[1-9]' <<<"$(node_xml $n node2)" ||
        fail "$n: no end of the quarantine: $(node_xml $n node2)"
    st=$(cdctl $n status) || fail "status on $n"
    grep -q "node2 quarantined" <<<"$st" || fail "status on $n does not show it: $st"
done
list=$(cdctl node3 node list)
grep -q "quarantined until .*daemon failures.*hvagent exited" <<<"$list" ||
    fail "node list does not say why: $list"
ex=$(cdctl node3 explain qa) || fail "explain qa"
grep -q "quarantine: node 'node2' takes no VMs until" <<<"$ex" ||
    fail "explain does not say why node2 is out: $ex"

# Refused: a move to it; not chosen: a new VM.
out=$(cdctl node3 move-vm qa --to node2 --live 2>&1) && fail "move to a quarantined node accepted: $out"
grep -q "node 'node2' is quarantined" <<<"$out" || fail "move refusal unclear: $out"
grep -q "node resume node2" <<<"$out" || fail "move refusal gives no way out: $out"
refusal=$out
vm_define qb high 128
cdctl node1 vm add "$VM_DIR/qb.xml" >/dev/null || fail "vm add qb"
out=$(cdctl node2 vm start qb) || fail "vm start qb: $out"
qb_node=$(vm_where node1 qb)
[ -n "$qb_node" ] && [ "$qb_node" != node2 ] || fail "qb placed on '$qb_node'"

# Resume ends it early.
out=$(cdctl node1 node resume node2) || fail "node resume: $out"
for n in $N; do
    sb_wait_for 10 eval "[ \"\$(node_state $n node2)\" = up ]" ||
        fail "$n still shows node2 $(node_state $n node2) after resume"
done
assert_eq 0 "$(failures node2)" "failures of node2 after resume"
out=$(cdctl node3 move-vm qa --to node2 --live) || fail "move after resume: $out"
sb_wait_for 30 eval '[ "$(vm_where node1 qa)" = node2 ]' || fail "qa did not arrive on node2"
sb_wait_for 20 vm_ticking node2 qa || fail "qa does not tick on node2"
assert_eq 1 "$(vm_qemu_count qa)" "QEMUs of qa"
# clusterd's own failures count too: a SIGKILL (CPG sees the process go
# without leaving), not a SIGTERM (it leaves). node1 runs no VM here, so
# its SIGTERM has nothing to drain.
[ -z "$(sb_exec node1 pgrep -a -x qemu-system-x86)" ] || fail "node1 runs a QEMU"
for sig in TERM KILL; do
    cd_kill node1 $sig
    vm_cd_start node1
    cd_wait_started node1
    sb_wait_for 30 cd_converged 3 $N || fail "no convergence after SIG$sig: $(cd_views $N)"
done
sb_wait_for 10 eval '[ "$(failures node1)" = 1 ]' ||
    fail "node1: SIGTERM + SIGKILL of clusterd should be 1 failure: $(cdctl node2 cdb get | grep 'node name="node1"')"
cdctl node2 cdb get | grep 'node name="node1"' | grep -q 'reason=' &&
    fail "node1 got a reason after one failure"
# The end of a quarantine: one failure quarantines node3 for 5 s, after
# which the coordinator sets it up again by itself.
cdctl node1 config set quarantine-failures 1 >/dev/null || fail "config set quarantine-failures"
cdctl node1 config set quarantine-duration 5s >/dev/null || fail "config set quarantine-duration"
before=$(hva_connects node3)
sb_exec node3 kill -KILL "$(cat "$KVMC_SANDBOX_DIR/node3/pids/hvagent")" || fail "kill hvagent on node3"
sb_wait_for 20 eval '[ "$(node_state node2 node3)" = quarantined ]' ||
    fail "one failure did not quarantine node3 with quarantine-failures 1: $(node_xml node2 node3)"
tq=$(sb_now_ms)
vm_hva_start node3
sb_wait_for 10 eval "[ \"\$(hva_connects node3)\" -gt $before ]" || fail "clusterd on node3 did not reconnect"
sb_wait_for 20 eval '[ "$(node_state node2 node3)" = up ]' ||
    fail "node3's 5 s quarantine did not end: $(node_xml node2 node3)"
expiry_ms=$(($(sb_now_ms) - tq))
((expiry_ms >= 3000)) || fail "node3's 5 s quarantine ended after $expiry_ms ms"
# shellcheck disable=SC2034
VM_NODES_UP=3
# shellcheck disable=SC2034
VM_ALL_UP=$N
d=$(vm_digest) || fail "nodes disagree on the CDB at the end"
proof "3 hvagent kills on node2 quarantined it on every node (status, node list, explain); refused: '$refusal'; qb placed on $qb_node; node resume cleared it and qa moved to node2; clusterd SIGKILL on node1 counted, SIGTERM not; a 5 s quarantine of node3 ended by itself after $expiry_ms ms; digest ${d:0:12}"
