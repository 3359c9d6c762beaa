#!/usr/bin/env bash
# A drain whose live migration cannot converge falls back to quick
# migration, never to stop/start: node2 runs a high-priority VM whose
# guest dirties memory faster than the live-migration bandwidth allowed
# (migration-bandwidth 4 MiB/s, max-passes 1, converge cancel). 'node
# drain node2' tries it live, the attempt is cancelled and the VM stays
# on node2, then the coordinator moves it quick: it ends on another node
# with the same boot id (no restart) and one QEMU.
# kvmc-timeout: 420
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_init codfb
# A guest that dirties 32 MiB at 32 MiB/s: more than 4 MiB/s can carry.
VM_WSS=32
VM_RATE=32
vm_up 3

vm_define dfb high 128
cdctl node1 vm add "$VM_DIR/dfb.xml" >/dev/null || fail "vm add dfb"
out=$(cdctl node1 vm start dfb) || fail "vm start dfb: $out"
if [ "$(vm_where node1 dfb)" != node2 ]; then
    out=$(cdctl node1 move-vm dfb --to node2 --live) || fail "move dfb to node2: $out"
fi
sb_wait_for 20 vm_ticking node2 dfb || fail "dfb does not tick on node2"
boot=$(vm_last_boot node2 dfb)
for n in node1 node3; do f=$(vm_serial $n dfb); [ ! -f "$f" ] || : >"$f"; done

for kv in "migration-bandwidth 4" "max-passes 1" "converge cancel"; do
    # shellcheck disable=SC2086 # KEY VALUE
    out=$(cdctl node1 config set $kv 2>&1) || fail "config set $kv: $out"
done

t0=$(sb_now_ms)
out=$(cdctl node3 node drain node2 2>&1) || fail "drain: $out $(cdctl node1 vm show dfb)"
drain_ms=$(($(sb_now_ms) - t0))
# 'node drain' returns once no VM is on node2 or leaving it; node1's
# view may trail node3's by a broadcast.
moved_off() { w=$(vm_where node1 dfb); [ -n "$w" ] && [ "$w" != node2 ]; }
sb_wait_for 10 moved_off || fail "dfb runs on '$w' after the drain: $out"
sb_wait_for 20 vm_ticking "$w" dfb || fail "dfb does not tick on $w"
assert_eq "$boot" "$(vm_last_boot "$w" dfb)" "dfb's boot id (no stop/start)"
assert_eq 1 "$(vm_qemu_count dfb)" "QEMUs of dfb"
hist=$(cdctl node1 vm show dfb --output xml)
live=$(grep -o '<action [^>]*kind="live-migration" cause="drain"[^>]*' <<<"$hist" | tail -n1)
grep -q 'status="failed"' <<<"$live" ||
    fail "no failed live migration by the drain in dfb's history: $(grep -o '<action [^>]*' <<<"$hist")"
quick=$(grep -o '<action [^>]*kind="quick-migration" cause="fallback"[^>]*' <<<"$hist" | tail -n1)
grep -q 'status="done"' <<<"$quick" ||
    fail "no quick migration with cause fallback in dfb's history: $(grep -o '<action [^>]*' <<<"$hist")"
grep -q 'kind="start"[^>]*cause="\(restart\|failover\)"' <<<"$hist" &&
    fail "dfb was (re)started during the drain: $(grep -o '<action [^>]*' <<<"$hist")"
why=$(sed -n 's/.* msg="\([^"]*\)".*/\1/p' <<<"$live")
proof "drain fallback: dfb (guest dirtying 32 MiB/s) on node2, live migration at 4 MiB/s with 1 pass cancelled ('$why'), then quick-migrated to $w by the coordinator (cause fallback); same boot id $boot, one QEMU; drain took $drain_ms ms"
