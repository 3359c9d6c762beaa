#!/usr/bin/env bash
# VMs through clusterctl on 3 nodes (clusterd + hvagent + sanlock):
#  1. bad input: malformed XML, a schema error (with its line), a
#     45-character VM name (its lease name would not fit), an unknown VM,
#     an unknown node: each a clear error, CDB unchanged;
#  2. vm add, then every node lists the VM, stopped;
#  3. vm start: it runs on one node, every node says where, the guest
#     ticks, exactly one QEMU exists;
#  4. vm stop: no QEMU left, every node says stopped; vm remove;
#  5. a VM of priority manual starts with vm start, is not restarted by
#     the cluster when its QEMU dies, and starts again with vm start.
# kvmc-timeout: 300
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_init covm
vm_up 3
N="node1 node2 node3"
# shellcheck disable=SC2034 # read by lib/vm.sh
VM_NODES_UP=3
# shellcheck disable=SC2034
VM_ALL_UP=$N
d0=$(vm_digest) || fail "no common digest at start"

# 1. Bad input.
printf '<vm>\n  <name>bad1</name>\n  <memory unit="MiB">128\n</vm>\n' >"$VM_DIR/bad1.xml"
out=$(cdctl node2 vm add "$VM_DIR/bad1.xml" 2>&1) && fail "malformed XML accepted: $out"
grep -q "bad1.xml:[0-9]" <<<"$out" || fail "malformed XML: no line in '$out'"
e1=$out
vm_define bad2 high
sed -i 's|<vcpus>1</vcpus>|<vcpus>many</vcpus>|' "$VM_DIR/bad2.xml"
out=$(cdctl node2 vm add "$VM_DIR/bad2.xml" 2>&1) && fail "schema error accepted: $out"
grep -q "bad2.xml:[0-9]*:" <<<"$out" || fail "schema error: no line in '$out'"
e2=$out
long=v$(printf '%044d' 0)
vm_define "$long" high
out=$(cdctl node2 vm add "$VM_DIR/$long.xml" 2>&1) && fail "45-character VM name accepted: $out"
grep -q "has 45 characters: at most 44" <<<"$out" || fail "long VM name: '$out'"
out=$(cdctl node3 vm start web9 2>&1) && fail "unknown VM started: $out"
assert_eq "clusterctl: VM 'web9' does not exist (see 'clusterctl vm list')" "$out"
out=$(cdctl node3 node drain node9 2>&1) && fail "unknown node drained: $out"
grep -q "node 'node9' does not exist" <<<"$out" || fail "unknown node: '$out'"
d1=$(vm_digest) || fail "no common digest after bad input"
assert_eq "$d0" "$d1" "CDB digest after refused input"
sb_log "refused: $e1 / $e2"

# 2. Add.
vm_define web1 high
out=$(cdctl node2 vm add "$VM_DIR/web1.xml") || fail "vm add: $out"
for n in $N; do
    sb_wait_for 5 eval "[ \"\$(vm_field $n web1 state)\" = stopped ]" ||
        fail "$n does not list web1 as stopped: $(cdctl $n vm list)"
done
out=$(cdctl node1 vm add "$VM_DIR/web1.xml" 2>&1) && fail "second add accepted"
grep -q "VM 'web1' already exists" <<<"$out" || fail "second add: '$out'"

# 3. Start.
t0=$(sb_now_ms)
out=$(cdctl node3 vm start web1) || fail "vm start: $out $(cdctl node1 vm show web1)"
start_ms=$(($(sb_now_ms) - t0))
where=$(vm_where node1 web1)
[ -n "$where" ] || fail "web1 runs nowhere after start: $(cdctl node1 vm list)"
for n in $N; do
    sb_wait_for 5 eval "[ \"\$(vm_where $n web1)\" = $where ]" ||
        fail "$n says web1 runs on '$(vm_where $n web1)', node1 says $where"
done
sb_wait_for 30 vm_ticking "$where" web1 ||
    fail "the guest does not tick on $where: $(tail -n 3 "$(vm_serial "$where" web1)" 2>&1)"
assert_eq 1 "$(vm_qemu_count web1)" "QEMUs of web1 ($(vm_qemus web1))"
tick=$(vm_last_tick "$where" web1)
status_out=$(cdctl node2 status) || fail "status"
grep -q "^web1 .*running .*$where" <<<"$status_out" || fail "status lacks web1: $status_out"

# 4. Stop and remove.
out=$(cdctl node1 vm stop web1) || fail "vm stop: $out"
sb_wait_for 20 eval '[ "$(vm_qemu_count web1)" = 0 ]' || fail "QEMU left: $(vm_qemus web1)"
for n in $N; do
    sb_wait_for 5 eval "[ -z \"\$(vm_where $n web1)\" ]" || fail "$n still places web1"
done
out=$(cdctl node1 vm remove web1) || fail "vm remove: $out"

# 5. Priority manual: never started by the cluster, started by vm start.
vm_define man1 manual
out=$(cdctl node2 vm add "$VM_DIR/man1.xml") || fail "vm add man1: $out"
out=$(cdctl node1 vm start man1) || fail "vm start of a manual VM: $out $(cdctl node1 explain man1)"
mwhere=$(vm_where node1 man1)
[ -n "$mwhere" ] || fail "manual VM runs nowhere after vm start"
sb_wait_for 30 vm_ticking "$mwhere" man1 || fail "man1 does not tick on $mwhere"
assert_eq 1 "$(vm_qemu_count man1)" "QEMUs of man1"
# Its QEMU dies: the cluster does not start it again by itself ...
mpid=$(vm_qemus man1)
sb_exec "$mwhere" kill -KILL "${mpid#*:}" || fail "kill QEMU of man1"
sb_wait_for 10 eval '[ -z "$(vm_where node1 man1)" ]' || fail "man1 still placed after its QEMU died"
! sb_wait_for 10 eval '[ "$(vm_qemu_count man1)" != 0 ]' ||
    fail "manual VM man1 restarted by the cluster: $(vm_qemus man1)"
assert_eq running "$(vm_field node3 man1 target)" "man1 target after its QEMU died"
# ... but vm start does, though its target is running already.
out=$(cdctl node3 vm start man1) || fail "second vm start of man1: $out"
sb_wait_for 20 eval '[ "$(vm_qemu_count man1)" = 1 ]' || fail "man1 not running after vm start"
out=$(cdctl node1 vm stop man1) || fail "vm stop man1: $out"
sb_wait_for 20 eval '[ "$(vm_qemu_count man1)" = 0 ]' || fail "man1 QEMU left: $(vm_qemus man1)"
d2=$(vm_digest) || fail "no common digest at the end"
proof "vm add/start/stop via clusterctl on 3 nodes: web1 started on $where in $start_ms ms (guest tick $tick, 1 QEMU), all nodes agree; malformed XML, schema error (with line), a 45-character name, unknown VM/node refused, digest unchanged ${d0:0:12}; manual VM man1 started by vm start on $mwhere, not restarted when its QEMU died, started again by vm start; end digest ${d2:0:12}"
