#!/usr/bin/env bash
# A 2-node sandbox (votequorum two_node) with VMs: tv1 runs on node1, tv2
# on node2. node2 is killed (every process of the node): node1 stays
# quorate, tv1 keeps running on node1 without a reboot (its counter goes
# on), and tv2 is cold-booted on node1 once sanlock frees its lease, no
# later than sanlock's host-dead time + 10 s. node1's QEMUs are sampled
# every ~200 ms: never two of one VM. Then SIGTERM of node1's clusterd,
# with no other node to drain to, stops both VMs cleanly and exits.
# kvmc-alone: measures time closely or loads the whole machine
# kvmc-timeout: 420
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_init cotwovm
vm_up 2
BOUND_MS=$(((8 * 1 + 60 + 10) * 1000))

vm_define tv1 high 128
vm_define tv2 medium 128
declare -A home=([tv1]=node1 [tv2]=node2)
for v in tv1 tv2; do
    cdctl node1 vm add "$VM_DIR/$v.xml" >/dev/null || fail "vm add $v"
    out=$(cdctl node1 vm start $v) || fail "vm start $v: $out"
    if [ "$(vm_where node1 $v)" != "${home[$v]}" ]; then
        out=$(cdctl node1 move-vm $v --to "${home[$v]}" --live) || fail "move $v: $out"
    fi
    sb_wait_for 20 vm_ticking "${home[$v]}" $v || fail "$v does not tick on ${home[$v]}"
done
b1=$(vm_last_boot node1 tv1)
b2=$(vm_last_boot node2 tv2)
: >"$(vm_serial node1 tv2)" 2>/dev/null || true

read -r h1 _ <"$KVMC_SANDBOX_DIR/node1/holder" || fail "no holder pid of node1"
samples=$KVMC_SANDBOX_DIR/qemu-samples
: >"$samples"
sampler() {
    while :; do
        echo "$(date +%s%3N) $(nsenter -t "$h1" -m -n -p -u -- pgrep -a -x qemu-system-x86 2>/dev/null |
            sed -n 's/.*-uuid \([0-9a-f-]*\).*/\1/p' | paste -sd' ')" >>"$samples"
        sleep 0.2
    done
}
sampler &
spid=$!
trap 'rc=$?; kill $spid 2>/dev/null; (exit $rc); sb_cleanup' EXIT

t1_before=$(vm_last_tick node1 tv1)
t0=$(sb_now_ms)
sb_kill node2
# shellcheck disable=SC2034 # read by lib/vm.sh
VM_ALL=node1
sb_wait_for 30 eval '[ "$(cd_attr node1 quorate)" = yes ] && cdctl node1 status --output xml | grep -c "<member " | grep -qx 1' ||
    fail "node1 is not alone and quorate after node2's death: $(cdctl node1 status)"
# tv2 back on node1, cold-booted.
back() {
    [ "$(vm_where node1 tv2)" = node1 ] && vm_ticking node1 tv2 &&
        [ -n "$(vm_last_boot node1 tv2)" ] && [ "$(vm_last_boot node1 tv2)" != "$b2" ]
}
sb_wait_for $((BOUND_MS / 1000 + 20)) back ||
    fail "tv2 not running on node1 $((BOUND_MS / 1000 + 20)) s after node2's death: $(cdctl node1 vm show tv2)"
back_ms=$(($(sb_now_ms) - t0))
((back_ms <= BOUND_MS)) || fail "tv2 ran again after $back_ms ms, more than the bound $BOUND_MS ms"
# tv1 never stopped.
sb_wait_for 5 vm_ticking node1 tv1 || fail "tv1 does not tick on node1"
assert_eq "$b1" "$(vm_last_boot node1 tv1)" "tv1 boot id (rebooted?)"
t1_after=$(vm_last_tick node1 tv1)
((t1_after > t1_before)) || fail "tv1 counter did not go on: $t1_before -> $t1_after"
assert_eq node1 "$(vm_where node1 tv1)" "where tv1 runs"
kill $spid 2>/dev/null
wait $spid 2>/dev/null
dups=$(awk '{ delete c; for (i = 2; i <= NF; i++) if (c[$i]++) print $1, $i }' "$samples")
[ -z "$dups" ] || fail "two QEMUs of one VM at once on node1: $(head -n 3 <<<"$dups")"
nsamples=$(wc -l <"$samples")
gone=$(awk -v u="$(vm_uuid tv1)" '!index($0, u) { n++ } END { print n + 0 }' "$samples")
assert_eq 0 "$gone" "samples without tv1's QEMU on node1"
# The service stop on the last node: nobody to drain to, so clusterd
# stops its VMs cleanly (in parallel) and then exits.
t1=$(sb_now_ms)
sb_exec node1 kill -TERM "$(cd_pid node1)" || fail "SIGTERM to clusterd on node1"
sb_wait_for 30 eval '! cd_alive node1' ||
    fail "clusterd on node1 alive 30 s after SIGTERM: $(tail -n 5 "$KVMC_SANDBOX_DIR/node1/clusterd.out")"
term_ms=$(($(sb_now_ms) - t1))
grep -q "shutdown: no other node can take the VMs: stopping the 2 VM(s)" "$KVMC_SANDBOX_DIR/node1/clusterd.out" ||
    fail "clusterd did not stop its VMs for lack of another node: $(grep shutdown "$KVMC_SANDBOX_DIR/node1/clusterd.out")"
[ -z "$(sb_exec node1 pgrep -a -x qemu-system-x86)" ] || fail "QEMUs left on node1 after clusterd's SIGTERM"
proof "2 nodes, node2 killed: node1 alone and quorate, tv1 kept running on node1 (same boot, counter $t1_before -> $t1_after), tv2 cold-booted on node1 after $back_ms ms (bound $BOUND_MS ms); $nsamples samples of node1, tv1's QEMU in all, never two QEMUs of one VM; then SIGTERM of the last clusterd stopped both VMs and exited in $term_ms ms"
