#!/usr/bin/env bash
# Quorum loss with VMs on 3 nodes: node3 runs a VM and is cut off from the
# other nodes (corosync traffic only; the lease storage stays reachable).
# The majority keeps quorum and restarts the VM once its lease is free;
# node3, alone without quorum, stops the VM after the grace period
# (quorum-grace, 20 s by default), releasing the lease. Never two QEMUs of
# the VM at any sample. After heal: one copy, every node holds the same
# CDB digest and agrees where the VM runs. Two more VMs (pv2, pv3) on
# node3 are stopped in parallel with pv1 (each stop waits up to 3 s for
# the guest: one after the other would take 6 s and more).
# kvmc-alone: measures time closely or loads the whole machine
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
for v in pv2 pv3; do
    vm_define $v low 64
    cdctl node1 vm add "$VM_DIR/$v.xml" >/dev/null || fail "vm add $v"
    out=$(cdctl node1 vm start $v) || fail "vm start $v: $out"
    if [ "$(vm_where node1 $v)" != node3 ]; then
        out=$(cdctl node1 move-vm $v --to node3 --quick) || fail "move $v to node3: $out"
    fi
    sb_wait_for 20 vm_ticking node3 $v || fail "$v does not tick on node3"
done

samples=$KVMC_SANDBOX_DIR/qemu-samples
: >"$samples"
# One pgrep per node per sample, for the three VMs.
sampler() {
    local n t all v line
    while :; do
        t=$(date +%s%3N)
        all=
        for n in $N; do
            all="$all$(sb_exec $n pgrep -a -x qemu-system-x86 2>/dev/null | sed "s/^/$n:/")"$'\n'
        done
        for v in pv1 pv2 pv3; do
            line=$(awk -v u="$(vm_uuid $v)" 'index($0, u) { split($1, a, " "); printf " %s", a[1] }' <<<"$all")
            if [ $v = pv1 ]; then echo "$t$line" >>"$samples"; else echo "$t$line" >>"$samples.$v"; fi
        done
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
# The stops ran together: each VM's QEMU on node3 went within 2.5 s of
# the first one's (the samples say when).
gone_at() { # first sample time after the grace at which $1 has no QEMU on node3
    awk -v t="$((t0 + 15000))" '$1 >= t && !/node3:/ { print $1; exit }' "$2"
}
sb_wait_for 20 eval '! vm_qemus pv2 | grep -q node3 && ! vm_qemus pv3 | grep -q node3' ||
    fail "node3 did not stop pv2/pv3: $(vm_qemus pv2) $(vm_qemus pv3)"
sleep 0.5 # one more sample of each
g1=$(gone_at pv1 "$samples")
g2=$(gone_at pv2 "$samples.pv2")
g3=$(gone_at pv3 "$samples.pv3")
[ -n "$g1" ] && [ -n "$g2" ] && [ -n "$g3" ] || fail "no stop seen in the samples ($g1/$g2/$g3)"
spread=$(printf '%s\n' "$g1" "$g2" "$g3" | sort -n | sed -n '1p;$p' | paste -sd' ' | awk '{ print $2 - $1 }')
((spread <= 2500)) || fail "node3 stopped its 3 VMs one after the other: $spread ms from first to last"
grep -q "stopping this node's 3 VM(s)" "$KVMC_SANDBOX_DIR/node3/clusterd.out" ||
    fail "node3's clusterd did not stop 3 VMs at once: $(grep -i quorum "$KVMC_SANDBOX_DIR/node3/clusterd.out" | tail -n 3)"
runs_majority() {
    local w
    w=$(vm_where node1 pv1)
    [ "$w" = node1 ] || [ "$w" = node2 ] || return 1
    vm_ticking "$w" pv1 && [ "$(vm_last_boot "$w" pv1)" != "$b0" ]
}
sb_wait_for 120 runs_majority || fail "the majority did not restart pv1: $(cdctl node1 vm show pv1)"
restart_ms=$(($(sb_now_ms) - t0))
w=$(vm_where node1 pv1)
for v in pv2 pv3; do
    sb_wait_for 120 eval "vw=\$(vm_where node1 $v); [ \"\$vw\" = node1 ] || [ \"\$vw\" = node2 ]" ||
        fail "the majority did not restart $v: $(cdctl node1 vm show $v)"
done
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
for v in pv2 pv3; do
    m=$(awk '{ if (NF - 1 > m) m = NF - 1 } END { print m + 0 }' "$samples.$v")
    ((m <= 1)) || fail "two QEMUs of $v at once: $(awk 'NF > 2' "$samples.$v" | head -n 3 | paste -sd';')"
    assert_eq 1 "$(vm_qemu_count $v)" "QEMUs of $v after heal"
done
proof "partition: requests on node3 refused ('${e_move#clusterctl: }'), node3 (no quorum) stopped pv1 after $stop_ms ms (grace 20 s), its 3 VMs stopped in parallel (within $spread ms of each other), majority restarted pv1 on $w at $restart_ms ms and pv2/pv3; after heal one copy, digest ${CD_DIGEST:0:12} on all 3 nodes; $nsamples samples, max $max QEMU"
