#!/usr/bin/env bash
# Processor compatibility on 3 nodes of two CPU generations: node3's
# hvagent offers at most Nehalem ([hvagent] cpu-models), node1 and node2
# all TCG runs. Each clusterd publishes its hvagent's capability in the
# CDB; 'clusterctl cluster cpu' shows the baseline following the weakest
# node (Nehalem) and what node3 lacks for Westmere. A VM with
# <cpu model="Westmere"/> is never placed on node3: it starts elsewhere,
# a move to node3 is refused naming the missing features, explain names
# node3 as excluded for CPU, and it live-migrates between the two nodes
# that run Westmere with its guest counting on.
# Then processor compatibility (cluster mode, the default without <cpu>):
# an unknown or too new cpu-baseline is refused naming the model and
# node3; a VM without <cpu> starts fixed to the baseline (Nehalem) and
# live-migrates across all three nodes; the administrator sets the
# baseline to Nehalem; node3 rejoins weaker (Conroe): its clusterd warns
# that it cannot run the baseline, 'cluster cpu' names it; back to the
# computed baseline, it follows node3 down to Conroe while the running
# VM keeps Nehalem (same QEMU, same boot, a move to node3 refused, explain
# saying why), and a cold start re-fixes it to Conroe.
# kvmc-timeout: 420
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_init cpucp
export KVMC_SANDBOX_CPU_MODELS="node3=Nehalem"
vm_up 3

all_reported() { ! cdctl node1 cluster cpu | grep -q 'not reported'; }
t0=$(sb_now_ms)
sb_wait_for 60 all_reported || fail "not every node published its CPU: $(cdctl node1 cluster cpu)"
pub_ms=$(($(sb_now_ms) - t0))
out=$(cdctl node1 cluster cpu) || fail "cluster cpu: $out"
grep -q '^baseline: Nehalem ' <<<"$out" || fail "baseline is not Nehalem: $out"
n3=$(grep '^node3 ' <<<"$out")
grep -qw aes <<<"$n3" || fail "node3 does not lack aes: $out"
grep -q '^node1 .* -$' <<<"$out" || fail "node1 lacks something: $out"

vm_define wsm high 128
sed -i 's|  <vcpus>1</vcpus>|&\n  <cpu model="Westmere"/>|' "$VM_DIR/wsm.xml"
cdctl node1 vm add "$VM_DIR/wsm.xml" >/dev/null || fail "vm add wsm"
out=$(cdctl node1 vm start wsm) || fail "vm start wsm: $out"
from=$(vm_where node1 wsm)
case "$from" in node1 | node2) ;; *) fail "wsm placed on '$from'" ;; esac
sb_wait_for 30 vm_ticking "$from" wsm || fail "wsm does not tick on $from"
boot=$(vm_last_boot "$from" wsm)

out=$(cdctl node1 move-vm wsm --to node3 --live 2>&1) && fail "move to node3 accepted: $out"
grep -q "node 'node3' cannot run the CPU of VM 'wsm': lacks .*aes" <<<"$out" ||
    fail "refusal does not name node3's missing features: $out"
refusal=$out
out=$(cdctl node1 explain wsm) || fail "explain: $out"
grep -q "node3 (id 3): excluded for CPU: lacks .*aes.* for CPU model 'Westmere'" <<<"$out" ||
    fail "explain does not exclude node3 for CPU: $out"
[ "$(vm_where node1 wsm)" = "$from" ] || fail "wsm moved after a refused move"

to=node1
[ "$from" = node1 ] && to=node2
t0=$(sb_now_ms)
out=$(cdctl node1 move-vm wsm --to $to --live) || fail "live move to $to: $out"
move_ms=$(($(sb_now_ms) - t0))
[ "$(vm_where node1 wsm)" = "$to" ] || fail "wsm is not on $to after the move"
sb_wait_for 20 vm_ticking $to wsm || fail "wsm does not tick on $to"
[ "$(vm_last_boot $to wsm)" = "$boot" ] || fail "wsm rebooted in the move"

cdctl node1 vm stop wsm >/dev/null

# --- processor compatibility: cluster mode ---------------------------
# qemu_cpu NODE VM: the -cpu of VM's QEMU on NODE.
qemu_cpu() {
    sb_exec "$1" pgrep -a -x qemu-system-x86 2>/dev/null |
        awk -v u="$(vm_uuid "$2")" 'index($0, u) {
            for (i = 1; i < NF; i++) if ($i == "-cpu") print $(i + 1) }'
}
out=$(cdctl node1 config set cpu-baseline Bogus 2>&1) && fail "unknown baseline accepted: $out"
grep -q "CPU model 'Bogus' is unknown to every node" <<<"$out" || fail "unknown model: $out"
out=$(cdctl node1 config set cpu-baseline Westmere 2>&1) && fail "Westmere baseline accepted: $out"
grep -q "CPU model 'Westmere' does not run on node 'node3' (lacks .*aes" <<<"$out" ||
    fail "refused baseline does not name node3: $out"

vm_define cmp high 128
cdctl node1 vm add "$VM_DIR/cmp.xml" >/dev/null || fail "vm add cmp"
out=$(cdctl node1 vm start cmp) || fail "vm start cmp: $out"
at=$(vm_where node1 cmp)
sb_wait_for 30 vm_ticking "$at" cmp || fail "cmp does not tick on $at"
boot=$(vm_last_boot "$at" cmp)
cpu_is() { [ "$(vm_field node1 cmp cpu)" = "$1" ]; }
sb_wait_for 10 cpu_is Nehalem || fail "cmp not fixed to Nehalem: $(cdctl node1 vm show cmp)"
[ "$(qemu_cpu "$at" cmp)" = Nehalem ] || fail "cmp's QEMU on $at runs -cpu '$(qemu_cpu "$at" cmp)'"
# Every node once, node3 in the middle (it rejoins below).
case $at in
node1) path="node3 node2" ;;
node2) path="node3 node1" ;;
*) path="node1 node2" ;;
esac
hops="$at"
t0=$(sb_now_ms)
for to in $path; do
    out=$(cdctl node1 move-vm cmp --to "$to" --live) || fail "cmp live move to $to: $out"
    [ "$(vm_where node1 cmp)" = "$to" ] || fail "cmp is not on $to"
    sb_wait_for 20 vm_ticking "$to" cmp || fail "cmp does not tick on $to"
    [ "$(qemu_cpu "$to" cmp)" = Nehalem ] || fail "cmp's QEMU on $to runs -cpu '$(qemu_cpu "$to" cmp)'"
    hops="$hops -> $to"
done
hops_ms=$(($(sb_now_ms) - t0))
[ "$(vm_last_boot "$to" cmp)" = "$boot" ] || fail "cmp rebooted while moving"
at=$to

out=$(cdctl node1 config set cpu-baseline Nehalem) || fail "set baseline Nehalem: $out"
grep -q '^baseline: Nehalem (set by' <<<"$(cdctl node2 cluster cpu)" ||
    fail "administrator's baseline not shown: $(cdctl node2 cluster cpu)"

# node3 rejoins weaker: Conroe at most.
cd_kill node3 KILL
sb_exec node3 kill "$(cat "$KVMC_SANDBOX_DIR/node3/pids/hvagent")"
sb_wait_for 10 eval "! vm_hva_alive node3" || fail "node3's hvagent does not stop"
sed -i 's/^cpu-models = .*/cpu-models = Conroe/' \
    "$KVMC_SANDBOX_DIR/node3/etc-kvmcluster/kvmcluster.conf"
grep -q '^cpu-models = Conroe' "$KVMC_SANDBOX_DIR/node3/etc-kvmcluster/kvmcluster.conf" ||
    fail "node3's cpu-models not rewritten"
t0=$(sb_now_ms)
vm_hva_start node3
sb_wait_for 10 sb_exec node3 "$KVMC_BUILDDIR/hvagent/hvactl" status || fail "node3's hvagent"
vm_cd_start node3
cd_wait_started node3
weak() { cdctl node1 cluster cpu | grep -q "WARNING: CPU model 'Nehalem' does not run on node 'node3' (lacks "; }
sb_wait_for 60 weak || fail "node3's weaker CPU not reported: $(cdctl node1 cluster cpu)"
join_ms=$(($(sb_now_ms) - t0))
sb_wait_for 10 grep -q "node 'node3' cannot run the cluster CPU baseline 'Nehalem'" \
    "$KVMC_SANDBOX_DIR/node3/clusterd.out" || fail "node3's clusterd did not warn at join"
# validate names it too (a warning: it takes no cluster-mode VM).
weak_cpu_check() {
    cdctl node1 cluster validate 2>&1 | awk '/^node /{ n = $2 } n == "node3"' |
        grep -q "^  cpu  *warn cannot run the cluster CPU baseline 'Nehalem'"
}
sb_wait_for 10 weak_cpu_check ||
    fail "validate does not report node3's CPU: $(cdctl node1 cluster validate 2>&1)"

out=$(cdctl node1 config set cpu-baseline '') || fail "unset the baseline: $out"
conroe() { cdctl node1 cluster cpu | grep -q '^baseline: Conroe (the newest model all 3'; }
sb_wait_for 10 conroe || fail "baseline does not follow node3: $(cdctl node1 cluster cpu)"
[ "$(vm_field node1 cmp cpu)" = Nehalem ] || fail "cmp's CPU changed: $(cdctl node1 vm show cmp)"
[ "$(qemu_cpu "$at" cmp)" = Nehalem ] || fail "cmp's QEMU on $at runs -cpu '$(qemu_cpu "$at" cmp)'"
sb_wait_for 10 vm_ticking "$at" cmp || fail "cmp does not tick on $at"
[ "$(vm_last_boot "$at" cmp)" = "$boot" ] || fail "cmp rebooted while node3 rejoined"
out=$(cdctl node1 move-vm cmp --to node3 --live 2>&1) && fail "cmp moved to node3: $out"
grep -q "node 'node3' cannot run the CPU of VM 'cmp': lacks " <<<"$out" ||
    fail "refusal of node3 for cmp: $out"
out=$(cdctl node1 explain cmp) || fail "explain cmp: $out"
grep -q "cpu: cluster baseline 'Nehalem' (fixed" <<<"$out" && grep -q "node3 (id 3): excluded for CPU: lacks .* for CPU model 'Nehalem'" <<<"$out" ||
    fail "explain cmp: $out"

# A cold start fixes it again, to the baseline of now.
cdctl node1 vm stop cmp >/dev/null || fail "vm stop cmp"
out=$(cdctl node1 vm start cmp) || fail "vm start cmp again: $out"
at=$(vm_where node1 cmp)
sb_wait_for 10 cpu_is Conroe || fail "cmp not re-fixed to Conroe: $(cdctl node1 vm show cmp)"
[ "$(qemu_cpu "$at" cmp)" = Conroe ] || fail "cmp's QEMU on $at runs -cpu '$(qemu_cpu "$at" cmp)'"
cdctl node1 vm stop cmp >/dev/null
sb_down
proof "CPU compatibility: 3 nodes published their capability in $(sb_secs $pub_ms)," \
    "baseline Nehalem (node3 capped); Westmere VM started on $from, move to node3" \
    "refused ('${refusal##*: }'), explain excludes node3, live move $from -> $to" \
    "in $(sb_secs $move_ms) without a reboot. Cluster mode: VM fixed to Nehalem," \
    "live $hops in $(sb_secs $hops_ms) on -cpu Nehalem throughout; node3 rejoined with" \
    "Conroe in $(sb_secs $join_ms), warned it cannot run the set baseline (log, cluster cpu, validate); computed" \
    "baseline fell to Conroe while the VM kept Nehalem (same boot), move to node3" \
    "refused; cold start re-fixed it to Conroe on $at"
