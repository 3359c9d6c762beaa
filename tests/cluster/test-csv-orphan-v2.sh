#!/usr/bin/env bash
# Orphaned slots on a second volume (issue 14: a move's target slot, or a
# remove whose free failed, on a volume other than the main CSV), 2 nodes:
#  1. volume 2 (LUN 3) is added; 'volume check V2' through clusterd is
#     clean and names the volume; a stopped VM with a 16 MiB disk is moved
#     there (move-storage), then removed on node1 while node1's lunbridge
#     is dead (SIGKILL): the CDB forgets it, its slot on volume 2 stays;
#  2. 'volume check V2' reports the slot as an orphan of volume 2 (VM
#     name, 2 extents) and exits 3; 'volume check' (every volume) too;
#  3. with the path back, the orphan is reclaimed (by the coordinator's
#     scan of every volume, or 'volume check V2 --repair'): volume 2 is
#     clean with all its space back, and the main CSV was never touched.
#  4. A move cut by its node's death: node2 moves a stopped VM (paced to
#     1 MiB/s) to volume 2 and is killed whole mid-copy. The target slot,
#     named for a VM of the cluster, holds its mover's marker (node 2 and
#     its host generation on volume 1, where it held the VM's lease): once
#     node1's sanlock sees host 2 dead (68 s in the sandbox), the reclaim
#     frees it after the grace; volume 2 is clean with its space back, the
#     VM still on volume 1.
# kvmc-timeout: 330
# kvmc-light: no guest, a few daemons; runs beside the alone tests
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_require_stack
sb_init csvorph2
# shellcheck disable=SC2034 # read by lib/vm.sh: this test is about the CSV
VM_CSV=1
vm_up 2
# shellcheck disable=SC2034 # read by lib/vm.sh
VM_ALL_UP="node1 node2"
CTL=$KVMC_BUILDDIR/cli/clusterctl
RECLAIM_S=60 # grace (20 s) + scan period (10 s) + a reclaim, with room

check_xml() { cdctl "$1" volume check "$2" --output xml 2>&1; }
free_b() { sed -n 's/.*<volume-check .* free="\([0-9]*\)".*/\1/p' <<<"$1"; }
cdb_vms() { cdctl node2 vm list --output xml | sed -n 's/.*<vm name="\([^"]*\)".*/\1/p'; }

vm_volume2
main=$(check_xml node2 "$V1")
grep -q 'clean="yes"' <<<"$main" || fail "volume check $V1 at the start: $main"
main_free0=$(free_b "$main")
out=$(check_xml node2 "$V2")
grep -q "<volume-check volume=\"$V2\" path=\"$V2_PATH\" clean=\"yes\"" <<<"$out" ||
    fail "volume check $V2 (clusterd) at the start: $out"
free0=$(free_b "$out")
[ -n "$free0" ] || fail "volume check $V2 gives no free space: $out"
out=$(cdctl node2 volume check nosuchvol 2>&1) && fail "volume check of an unknown volume exits 0: $out"
grep -q "no volume 'nosuchvol' in the cluster" <<<"$out" || fail "unknown volume: $out"

# 1. A VM on volume 2, removed with node1's path dead.
vm_define gone2 low 64
sed -i 's|<vcpus>1</vcpus>|<vcpus>1</vcpus>\n  <disk target="vda"><allocate size="16" unit="MiB"/></disk>|' \
    "$VM_DIR/gone2.xml"
out=$(cdctl node1 vm add "$VM_DIR/gone2.xml" 2>&1) || fail "vm add gone2: $out"
out=$(cdctl node1 move-storage gone2 --to-volume "$V2" 2>&1) || fail "move-storage gone2: $out"
used=$(check_xml node2 "$V2")
grep -q 'clean="yes"' <<<"$used" || fail "volume check $V2 with gone2 on it: $used"
vm_lb_kill node1 "$V2_PATH"
out=$(cdctl node1 vm remove gone2 2>&1) && sb_log "vm remove gone2 with the path dead: $out"
e_remove=$out
cdb_vms | grep -qx gone2 && fail "gone2 still in the CDB after vm remove: $e_remove"
t_orph=$(sb_now_ms)

# 2. Reported on volume 2, by name and in the check of every volume.
chk=$(check_xml node2 "$V2")
grep -q "<volume-check volume=\"$V2\" .*clean=\"no\"" <<<"$chk" || fail "volume check $V2 not unclean: $chk"
grep -q "<orphan slot=\"[0-9]*\" vm=\"gone2\" uuid=\"$(vm_uuid gone2)\" used=\"yes\" nextents=\"2\"" <<<"$chk" ||
    fail "volume check $V2 does not report gone2's slot as an orphan with its 2 extents: $chk"
slot=$(sed -n 's/.*<orphan slot="\([0-9]*\)" vm="gone2".*/\1/p' <<<"$chk")
text=$(cdctl node2 volume check "$V2" 2>&1)
rc=$?
[ "$rc" = 3 ] || fail "volume check $V2 with an orphan exits $rc: $text"
grep -q "ORPHAN: slot $slot of VM 'gone2'" <<<"$text" && grep -q "check: volume '$V2'" <<<"$text" ||
    fail "volume check $V2 text: $text"
all=$(cdctl node2 volume check 2>&1)
rc=$?
[ "$rc" = 3 ] || fail "volume check (all) with an orphan on $V2 exits $rc: $all"
grep -q "check: volume '$V1' .* is clean" <<<"$all" && grep -q "check: volume '$V2' .*1 orphan" <<<"$all" ||
    fail "volume check (all) does not name both volumes: $all"
sb_log "volume check: $text"
vm_lb_start node1 "$V2_PATH"

# 3. Reclaimed without a person (or by --repair): clean, space back.
clean() {
    local x
    x=$(check_xml node2 "$V2")
    grep -q 'clean="yes"' <<<"$x" && [ "$(free_b "$x")" = "$free0" ]
}
how=automatic
if ! sb_wait_for "$RECLAIM_S" clean; then
    how=--repair
    rep=$(cdctl node2 volume check "$V2" --repair 2>&1)
    clean || fail "volume check $V2 not clean after the automatic reclaim and --repair: $rep $(check_xml node2 "$V2")"
fi
rec_ms=$(($(sb_now_ms) - t_orph))
[ "$how" = automatic ] && { grep -q "CSV '$V2_PATH': reclaimed orphaned slot $slot (VM 'gone2'" \
    "$KVMC_SANDBOX_DIR"/node*/clusterd.out || fail "no clusterd says it reclaimed gone2's slot $slot on $V2"; }
out=$(sb_exec node2 "$CTL" volume check "$V2_PATH" 2>&1) || fail "offline volume check of $V2: $out"
main=$(check_xml node2 "$V1")
grep -q 'clean="yes"' <<<"$main" && [ "$(free_b "$main")" = "$main_free0" ] ||
    fail "main CSV $V1 not clean with its space at the end: $main"

# 4. A move cut by its mover's death.
vm_define cut3 low 64
sed -i 's|<vcpus>1</vcpus>|<vcpus>1</vcpus>\n  <disk target="vda"><allocate size="32" unit="MiB"/></disk>|' \
    "$VM_DIR/cut3.xml"
out=$(cdctl node1 vm add "$VM_DIR/cut3.xml" 2>&1) || fail "vm add cut3: $out"
out=$(cdctl node1 config set storage-move-bandwidth 1 2>&1) || fail "config set: $out"
out=$(cdctl node2 move-storage cut3 --to-volume "$V2" --no-wait 2>&1) || fail "move-storage cut3 on node2: $out"
sb_wait_for 20 eval 'cdctl node2 move-storage cut3 --status 2>&1 | grep -q "copying, "' ||
    fail "cut3's move does not copy: $(cdctl node2 move-storage cut3 --status 2>&1)"
chk=$(check_xml node1 "$V2")
slot3=$(sed -n 's/.*<orphan slot="\([0-9]*\)" vm="cut3".*/\1/p' <<<"$chk")
[ -n "$slot3" ] || fail "cut3's target slot is not listed on $V2 during its move: $chk"
sb_log "cut3 copying to $V2 slot $slot3: killing node2"
t_cut=$(sb_now_ms)
sb_kill node2
# shellcheck disable=SC2034 # read by lib/vm.sh
VM_ALL=node1
# shellcheck disable=SC2034 # read by lib/vm.sh
VM_ALL_UP=node1
clean1() {
    local x
    x=$(check_xml node1 "$V2")
    grep -q 'clean="yes"' <<<"$x" && [ "$(free_b "$x")" = "$free0" ]
}
sb_wait_for 150 clean1 || fail "cut3's target not reclaimed on $V2 $(sb_secs $(($(sb_now_ms) - t_cut))) after node2's death: $(check_xml node1 "$V2")"
cut_ms=$(($(sb_now_ms) - t_cut))
grep -q "CSV '$V2_PATH': reclaimed orphaned slot $slot3 (VM 'cut3'" "$KVMC_SANDBOX_DIR/node1/clusterd.out" ||
    fail "node1's clusterd does not say it reclaimed cut3's slot $slot3"
cdctl node1 vm show cut3 | grep -q "volume=\"$V1\"" || fail "cut3 is not on $V1 after the cut move: $(cdctl node1 vm show cut3)"
out=$(sb_exec node1 "$CTL" volume check "$V2_PATH" 2>&1) || fail "offline volume check of $V2 after the cut move: $out"

proof "orphan on a second volume: gone2 moved to $V2 and removed with node1's lunbridge dead" \
    "left slot $slot; 'volume check $V2' and 'volume check' reported it (exit 3)," \
    "reclaimed ($how) $(sb_secs "$rec_ms") after the remove; $V2 clean with $free0 bytes free" \
    "again, $V1 clean with $main_free0; cut3's move to $V2 cut by node2's death mid-copy:" \
    "its target slot $slot3 (its mover's marker) reclaimed $(sb_secs "$cut_ms") after the kill" \
    "(sanlock host-dead 68 s + grace), $V2 clean with $free0 bytes free, cut3 on $V1"
