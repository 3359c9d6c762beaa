#!/usr/bin/env bash
# Quorum loss with VMs on 3 nodes: node3 runs a VM and is cut off from the
# other nodes (corosync traffic only; the lease storage stays reachable).
# The majority keeps quorum and restarts the VM once its lease is free;
# node3, alone without quorum, stops the VM after the grace period
# (quorum-grace, 20 s by default), releasing the lease. Never two QEMUs of
# the VM at any sample. After heal: one copy, every node holds the same
# CDB digest and agrees where the VM runs.
# kvmc-timeout: 360
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_init copart
vm_up 3
N="node1 node2 node3"

vm_define pv1 medium 128
cdctl node1 vm add "$VM_DIR/pv1.xml" >/dev/null || fail "vm add"
out=$(cdctl node1 vm start pv1) || fail "vm start: $out"
if [ "$(vm_where node1 pv1)" != node3 ]; then
    out=$(cdctl node1 move-vm pv1 --to node3 --live) || fail "move to node3: $out"
fi
sb_wait_for 20 vm_ticking node3 pv1 || fail "pv1 does not tick on node3"
b0=$(vm_last_boot node3 pv1)
for n in node1 node2; do f=$(vm_serial $n pv1); [ ! -f "$f" ] || : >"$f"; done

samples=$KVMC_SANDBOX_DIR/qemu-samples
: >"$samples"
sampler() {
    while :; do
        echo "$(date +%s%3N) $(vm_qemus pv1)" >>"$samples"
        sleep 0.2
    done
}
sampler &
spid=$!
trap 'rc=$?; kill $spid 2>/dev/null; (exit $rc); sb_cleanup' EXIT

t0=$(sb_now_ms)
sb_partition node3
# Requests on the minority: refused, its copy unchanged.
d3=$(cd_attr node3 digest)
sb_wait_for 20 eval '[ "$(cd_attr node3 quorate)" = no ]' || fail "node3 still quorate"
out=$(cdctl node3 move-vm pv1 --quick 2>&1) && fail "move without quorum accepted: $out"
grep -q "no quorum" <<<"$out" || fail "move without quorum: '$out'"
e_move=$out
out=$(cdctl node3 vm stop pv1 2>&1) && fail "vm stop without quorum accepted: $out"
grep -q "no quorum" <<<"$out" || fail "vm stop without quorum: '$out'"
assert_eq "$d3" "$(cd_attr node3 digest)" "node3 digest after refused requests"
stopped() { ! vm_qemus pv1 | grep -q node3; }
sb_wait_for 60 stopped || fail "node3 did not stop pv1 after losing quorum"
stop_ms=$(($(sb_now_ms) - t0))
runs_majority() {
    local w
    w=$(vm_where node1 pv1)
    [ "$w" = node1 ] || [ "$w" = node2 ] || return 1
    vm_ticking "$w" pv1 && [ "$(vm_last_boot "$w" pv1)" != "$b0" ]
}
sb_wait_for 120 runs_majority || fail "the majority did not restart pv1: $(cdctl node1 vm show pv1)"
restart_ms=$(($(sb_now_ms) - t0))
w=$(vm_where node1 pv1)
((stop_ms >= 15000)) || fail "node3 stopped pv1 after $stop_ms ms, before the grace period"

sb_heal
sb_wait_for 60 cd_converged 3 $N || fail "no convergence after heal: $(cd_views $N)"
for n in $N; do
    sb_wait_for 10 eval "[ \"\$(vm_where $n pv1)\" = $w ]" ||
        fail "$n says pv1 runs on '$(vm_where $n pv1)', expected $w"
done
sleep 2 # let a wrong restart show up in the samples, if any were coming
kill $spid 2>/dev/null
wait $spid 2>/dev/null
max=$(awk '{ if (NF - 1 > m) m = NF - 1 } END { print m + 0 }' "$samples")
nsamples=$(wc -l <"$samples")
((max <= 1)) || fail "two QEMUs of pv1 at once: $(awk 'NF > 2' "$samples" | head -n 3 | paste -sd';') (partition at $t0)"
assert_eq 1 "$(vm_qemu_count pv1)" "QEMUs of pv1 after heal"
proof "partition: requests on node3 refused ('${e_move#clusterctl: }'), node3 (no quorum) stopped pv1 after $stop_ms ms (grace 20 s), majority restarted it on $w at $restart_ms ms; after heal one copy, digest ${CD_DIGEST:0:12} on all 3 nodes; $nsamples samples, max $max QEMU"
