#!/usr/bin/env bash
# Orphaned CSV slots (issue 9 item 4) on 3 nodes, VMs on the CSV:
#  1. a VM with a 64 MiB disk is removed on node1 while node1's lunbridge
#     is dead (SIGKILL): the CDB forgets it, its slot is not freed;
#  2. 'vm add'/'vm remove' loop on node1 while its lunbridge is SIGKILLed
#     and restarted twice; meanwhile a 'vm add' on node2 answers within
#     25 s and never with a bare timeout;
#  3. with node1's lunbridge back (its lockspace re-joined by clusterd),
#     every slot that no VM of the CDB owns, as the volume itself shows
#     it, is reported by 'volume check' (through clusterd) with its slot,
#     VM name and extents, unless already reclaimed;
#  4. after the grace period the orphans are reclaimed (automatically by
#     the coordinator, or by 'volume check --repair'): 'volume check' is
#     clean and all the space is back.
# kvmc-timeout: 360
# kvmc-light: no guest, a few daemons; runs beside the alone tests
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_require_stack
sb_init csvorph
# shellcheck disable=SC2034 # read by lib/vm.sh: this test is about the CSV
VM_CSV=1
vm_up 3
CTL=$KVMC_BUILDDIR/cli/clusterctl
RECLAIM_S=60 # grace (20 s) + scan period (10 s) + a reclaim, with room

with_disk() { # NAME: the test guest NAME with a 64 MiB allocated disk
    vm_define "$1" low 64
    sed -i 's|<vcpus>1</vcpus>|<vcpus>1</vcpus>\n  <disk target="vda"><allocate size="64" unit="MiB"/></disk>|' \
        "$VM_DIR/$1.xml"
}
joined() {
    sb_exec "$1" sanlock client status 2>/dev/null |
        grep "^s $SB_CSV_LS:${1#node}:" | grep -qv ' ADD'
}
# Slots of the volume, read on the device: "INDEX NAME" lines.
slots() {
    sb_exec node3 "$CTL" volume inspect "$SB_CSV_PATH" |
        sed -n "s/^  slot \([0-9]*\) *'\([^']*\)'.*/\1 \2/p"
}
cdb_vms() { cdctl node3 vm list --output xml | sed -n 's/.*<vm name="\([^"]*\)".*/\1/p'; }
check_xml() { cdctl "$1" volume check --output xml 2>&1; }
free_b() { sed -n 's/.*<volume-check .* free="\([0-9]*\)".*/\1/p' <<<"$1"; }

out=$(check_xml node2)
grep -q 'clean="yes"' <<<"$out" || fail "volume check (clusterd) before anything: $out"
free0=$(free_b "$out")
[ -n "$free0" ] || fail "volume check gives no free space: $out"

# 1. A remove while the path is dead: a deterministic orphan.
with_disk gone1
out=$(cdctl node1 vm add "$VM_DIR/gone1.xml" 2>&1) || fail "vm add gone1: $out"
gone_slot=$(slots | awk '$2 == "gone1" { print $1 }')
[ -n "$gone_slot" ] || fail "gone1 has no slot: $(slots)"
vm_lb_kill node1 "$SB_CSV_PATH"
out=$(cdctl node1 vm remove gone1 2>&1) && sb_log "vm remove gone1 with the path dead: $out"
e_remove=$out
cdb_vms | grep -qx gone1 && fail "gone1 still in the CDB after vm remove: $e_remove"
slots | grep -q "^$gone_slot gone1\$" || fail "gone1's slot $gone_slot was freed with the path dead? $(slots)"
# Reported at once (reclaimed only after the grace period).
chk=$(check_xml node3)
grep -q "<orphan slot=\"$gone_slot\" vm=\"gone1\" uuid=\"$(vm_uuid gone1)\" used=\"yes\" nextents=\"2\" .*extents=\"[0-9]*,[0-9]*\"" <<<"$chk" ||
    fail "volume check does not report gone1's slot $gone_slot as an orphan with its 2 extents: $chk"
text=$(cdctl node3 volume check 2>&1) && fail "volume check with an orphan exits 0: $text"
grep -q "ORPHAN: slot $gone_slot of VM 'gone1'" <<<"$text" || fail "volume check text: $text"
sb_log "volume check: $text"
vm_lb_start node1 "$SB_CSV_PATH"

# 2. The add/remove loop on node1 with lunbridge killed twice.
t_loop=$(sb_now_ms)
(
    sleep 3
    vm_lb_kill node1
    sleep 2
    vm_lb_start node1 "$SB_CSV_PATH"
    sleep 6
    vm_lb_kill node1
    sleep 2
    vm_lb_start node1 "$SB_CSV_PATH"
) &
killer=$!
with_disk p1
t2=$(sb_now_ms)
out2=$( (sleep 4 && cdctl node2 vm add "$VM_DIR/p1.xml") 2>&1) && p1_added=1
d2=$(($(sb_now_ms) - t2 - 4000))
adds=0 removes=0 errs=0
for i in $(seq 1 10); do
    with_disk "o$i"
    if cdctl node1 vm add "$VM_DIR/o$i.xml" >/dev/null 2>&1; then adds=$((adds + 1)); else errs=$((errs + 1)); fi
    if cdctl node1 vm remove "o$i" >/dev/null 2>&1; then removes=$((removes + 1)); else errs=$((errs + 1)); fi
done
wait "$killer"
loop_ms=$(($(sb_now_ms) - t_loop))
sb_log "loop: $adds adds, $removes removes, $errs errors in $(sb_secs "$loop_ms"); node2's add took $(sb_secs "$d2"): ${out2:0:300}"
((d2 < 25000)) || fail "node2's vm add waited $(sb_secs "$d2") on node1's broken path: $out2"
grep -q "timed out" <<<"$out2" && fail "node2's vm add ended in a bare timeout: $out2"

# 3. Path back: the lockspace is re-joined, orphans are reported.
sb_wait_for 60 joined node1 ||
    fail "node1's lockspace not re-joined 60 s after the loop: sanlock: $(sb_exec node1 sanlock client status | grep '^s ' | tr '\n' ' ')" \
        "clusterd: $(grep 'storage:' "$KVMC_SANDBOX_DIR/node1/clusterd.out" | tail -n 6 | cut -c 21- | tr '\n' ' ')"
rejoin_ms=$SB_WAITED_MS
for v in $(cdb_vms); do # what the loop left in the CDB goes the normal way
    out=$(cdctl node2 vm remove "$v" 2>&1) || sb_log "vm remove $v: $out"
done
sb_wait_for 20 eval '[ -z "$(cdb_vms)" ]' || fail "VMs left in the CDB: $(cdb_vms)"
before=$(slots)
chk=$(check_xml node3)
orphans=0 reported=0
while read -r idx name; do
    [ -n "$idx" ] || continue
    orphans=$((orphans + 1))
    if grep -q "<orphan slot=\"$idx\" vm=\"$name\" .*extents=\"[0-9]" <<<"$chk"; then
        reported=$((reported + 1))
    elif slots | grep -q "^$idx $name\$"; then
        fail "slot $idx ('$name', not in the CDB) is not reported by volume check: $chk"
    fi
done <<<"$before"
sb_log "after the loop: $orphans orphan slot(s) on the volume, $reported reported by volume check"

# 4. Reclaimed without a person (or by --repair): clean, space back.
t_rec=$(sb_now_ms)
clean() {
    local x
    x=$(check_xml node2)
    grep -q 'clean="yes"' <<<"$x" && [ "$(free_b "$x")" = "$free0" ]
}
if ! sb_wait_for "$RECLAIM_S" clean; then
    rep=$(cdctl node2 volume check --repair 2>&1)
    clean || fail "volume check not clean after the automatic reclaim and --repair: $rep $(check_xml node2)"
fi
rec_ms=$(($(sb_now_ms) - t_rec))
out=$(sb_exec node2 "$CTL" volume check "$SB_CSV_PATH" 2>&1) || fail "offline volume check: $out"
[ -z "$(slots)" ] || fail "slots left on the volume: $(slots)"
grep -q "reclaimed orphaned slot $gone_slot (VM 'gone1'" "$KVMC_SANDBOX_DIR"/node*/clusterd.out ||
    fail "no clusterd says it reclaimed gone1's slot $gone_slot"

proof "orphans: remove with lunbridge dead left slot $gone_slot, reported by volume check;" \
    "loop $adds adds/$removes removes/$errs errors with 2 lunbridge kills; node2's add $(sb_secs "$d2");" \
    "node1's lockspace re-joined $(sb_secs "$rejoin_ms") after the loop;" \
    "then $orphans orphan slot(s), $reported reported by volume check; clean with $free0 bytes free" \
    "$(sb_secs "$rec_ms") later, no slot left"
