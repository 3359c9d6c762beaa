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
sb_down
proof "CPU compatibility: 3 nodes published their capability in $(sb_secs $pub_ms)," \
    "baseline Nehalem (node3 capped); Westmere VM started on $from, move to node3" \
    "refused ('${refusal##*: }'), explain excludes node3, live move $from -> $to" \
    "in $(sb_secs $move_ms) without a reboot"
