#!/usr/bin/env bash
# clusterctl move-storage VM --to-volume VOL --disk DEV: a part of a VM's
# disks moves, its slot (definition, state extent, lease) stays. 2 nodes,
# the sandbox's CSV (volume 1) and a second volume on LUN 3 (4096-byte
# sectors), as vm_up_volumes2 makes them. web1 has a boot disk vda and a
# disk vdb in slot 24 that its writer writes.
#  1. Refusals, each naming the input, change nothing: an unknown disk, a
#     disk named twice, a disk already on the target volume.
#  2. Running, vdb moves live to volume 2 while the guest writes: QEMU
#     mirrors vdb alone, the CDB's definition puts vdb on volume 2 and vda
#     on volume 1, the VM keeps its slot and lease on volume 1, its QEMU
#     has both LUNs open; same boot, counter on, disk=ok after; both
#     volumes check clean offline and through clusterd (vdb's extent on
#     volume 2 belongs to web1's disk slot there, no orphan).
#  3. It live-migrates to the other node (the target opens each disk on
#     its own volume), then is stopped and started again (the start opens
#     both volumes): disk=ok after each, both clean.
#  4. Stopped, vdb moves back to volume 1 offline (--disk): volume 2's
#     disk slot goes with its last disk (its space back), both clean.
# kvmc-timeout: 300
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_require_stack
sb_init mvdisk
vm_up_volumes2
t0=$(sb_now_ms)

vm_add_writer web1 64
out=$(cdctl node1 vm disk add web1 --size 8M 2>&1) || fail "vm disk add: $out"
def_now() { cdctl node1 vm show web1 | grep -E "<disk|<extent"; }
# disk_vol DEV: the volume the CDB's definition puts DEV on.
disk_vol() {
    cdctl node1 vm show web1 | tr -d '\n' | sed 's|</disk>|&\n|g' |
        sed -n "s|.*<disk[^>]*target=\"$1\".*volume=\"\([^\"]*\)\".*|\1|p"
}
# Where web1's slot is: the volume with its state extent (never both).
slot_vol() {
    local a b
    a=$(vm_extent_off "$SB_CSV_PATH" web1 state)
    b=$(vm_extent_off "$V2_PATH" web1 state)
    if [ -n "$a" ] && [ -z "$b" ]; then echo "$V1"; elif [ -z "$a" ] && [ -n "$b" ]; then echo "$V2"; else echo "v1:$a v2:$b"; fi
}
[ "$(disk_vol vda)" = "$V1" ] && [ "$(disk_vol vdb)" = "$V1" ] || fail "web1's disks are not on $V1: $(def_now)"

# 1. Refusals (stopped VM): nothing changes.
def0=$(def_now)
refused() {
    local out
    out=$(cdctl node1 move-storage web1 --to-volume "$1" "${@:3}" 2>&1) &&
        fail "move-storage $* was accepted: $out"
    grep -qF "$2" <<<"$out" || fail "move-storage $*: '$out', not '$2'"
    echo "$out"
}
r_unknown=$(refused "$V2" "VM 'web1' has no disk 'vdz'" --disk vdz)
r_twice=$(refused "$V2" "VM 'web1': disk 'vdb' is named twice" --disk vdb --disk vdb)
r_there=$(refused "$V1" "VM 'web1' disk 'vdb' is already on volume '$V1'" --disk vdb)
[ "$(def_now)" = "$def0" ] || fail "a refused move changed the definition: $(def_now)"
[ "$(vm_free_mib "$V2_PATH")" = "$V2_FREE0" ] || fail "a refused move took space on volume 2"

# 2. vdb live to volume 2 while the writer writes it.
out=$(cdctl node1 vm start web1) || fail "vm start: $out"
src=$(vm_where node1 web1)
[ -n "$src" ] || fail "web1 runs nowhere after start"
src0=$src
disk_last() { vm_disk_last "$src" web1; }
disk_ok() { vm_disk_ok "$src" web1 "$1"; }
dw() { disk_last | cut -d' ' -f2; }
qemu_luns() {
    local qpid
    qpid=$(sb_exec "$src" pgrep -x qemu-system-x86 | head -n 1)
    sb_exec "$src" ls -l "/proc/$qpid/fd" | grep -o '/run/kvmcluster/luns/[^ ]*' | sort -u
}
both_luns() {
    local luns
    luns=$(qemu_luns)
    grep -q "${V2_PATH##*/}" <<<"$luns" || fail "web1's QEMU on $src has no fd of volume 2's LUN ($1): $luns"
    grep -q "${SB_CSV_PATH##*/}" <<<"$luns" || fail "web1's QEMU on $src has no fd of volume 1's LUN ($1): $luns"
}
sb_wait_for 60 disk_ok 20 || fail "writer on $src: $(disk_last)"
boot0=$(vm_last_boot "$src" web1)
ref0=$(slot_vol)
[ "$ref0" = "$V1" ] || fail "web1's slot is not on $V1: $ref0"
tick0=$(vm_last_tick "$src" web1)
dw0=$(dw)
tm=$(sb_now_ms)
out=$(cdctl "$src" move-storage web1 --to-volume "$V2" --disk vdb 2>&1) || fail "live move-storage --disk vdb: $out"
tm=$(($(sb_now_ms) - tm))
grep -q "storage moved to volume '$V2'" <<<"$out" || fail "move-storage --disk said: $out"
moved=$(sed -n 's/.*(\([0-9]*\) MiB copied).*/\1/p' <<<"$out")
dw_move=$(dw)
[ "$(disk_vol vdb)" = "$V2" ] || fail "vdb is not on $V2 after the move: $(def_now)"
[ "$(disk_vol vda)" = "$V1" ] || fail "vda left $V1: $(def_now)"
[ "$(slot_vol)" = "$V1" ] || fail "web1's slot moved: $(slot_vol)"
grep -q "storage mirror of 1 disk(s) started" "$KVMC_SANDBOX_DIR/$src/hvagent.out" ||
    fail "hvagent did not mirror vdb alone: $(grep 'storage mirror' "$KVMC_SANDBOX_DIR/$src/hvagent.out")"
both_luns "after the live move"
vm_writer_on "$src" web1 "$boot0" $((dw_move + 20)) "during the move"
tick1=$(vm_last_tick "$src" web1)
((tick1 > tick0)) || fail "the guest's counter did not go on: $tick0 -> $tick1"
v1_free=$(vm_free_mib "$SB_CSV_PATH")
v2_free=$(vm_free_mib "$V2_PATH")
vm_volumes_clean "after the live move"
# Through clusterd (orphans against the CDB): vdb's disk slot is web1's.
chk=$(cdctl node1 volume check 2>&1) || fail "volume check through clusterd after the live move: $chk"

# 3. Live migration to the other node, then a stop and a start.
dst=node1
[ "$src" = node1 ] && dst=node2
out=$(cdctl node1 move-vm web1 --to "$dst" --live 2>&1) || fail "move-vm --live to $dst: $out"
[ "$(vm_where node1 web1)" = "$dst" ] || fail "web1 is not on $dst after move-vm"
src=$dst
dw1=$(dw)
vm_writer_on "$src" web1 "$boot0" $((dw1 + 20)) "in the live migration"
both_luns "after the live migration"
dw_mig=$(dw)
out=$(cdctl node1 vm stop web1) || fail "vm stop: $out"
sb_wait_for 30 eval '[ "$(vm_qemu_count web1)" = 0 ]' || fail "web1's QEMU did not stop"
out=$(cdctl "$dst" vm start web1) || fail "vm start again: $out"
src=$(vm_where node1 web1)
[ -n "$src" ] || fail "web1 runs nowhere after the second start"
sb_wait_for 60 eval '[ "$(vm_last_boot "$src" web1)" != "$boot0" ] && disk_ok 20' ||
    fail "writer on $src after the restart: $(disk_last)"
vm_disk_no_fail "$src" web1
both_luns "after the restart"
dw_restart=$(dw)
boot1=$(vm_last_boot "$src" web1)
vm_volumes_clean "after the restart"

# 4. Stopped: vdb back to volume 1 offline; the disk slot on volume 2 goes.
out=$(cdctl node1 vm stop web1) || fail "vm stop: $out"
sb_wait_for 30 eval '[ "$(vm_qemu_count web1)" = 0 ]' || fail "web1's QEMU did not stop"
to=$(sb_now_ms)
out=$(cdctl node1 move-storage web1 --to-volume "$V1" --disk vdb 2>&1) || fail "offline move-storage --disk vdb: $out"
to=$(($(sb_now_ms) - to))
[ "$(disk_vol vdb)" = "$V1" ] || fail "vdb is not back on $V1: $(def_now)"
[ "$(slot_vol)" = "$V1" ] || fail "web1's slot moved offline: $(slot_vol)"
sb_wait_for 10 eval '[ "$(vm_free_mib "$V2_PATH")" = "$V2_FREE0" ]' ||
    fail "volume 2's space not back: $V2_FREE0 -> $(vm_free_mib "$V2_PATH") MiB"
vm_volumes_clean "after the offline move back"
chk2=$(cdctl node1 volume check 2>&1) || fail "volume check through clusterd after the move back: $chk2"

echo "PROOF: refusals unchanged ('${r_unknown#clusterctl: }' / '${r_twice#clusterctl: }' / '${r_there#clusterctl: }'); web1 on $src0 moved vdb alone live $V1 -> $V2 while writing ($moved MiB in $tm ms, dw $dw0 -> $dw_move, disk=ok after, counter $tick0 -> $tick1 on the same boot, slot and state extent kept on $ref0, QEMU with both LUNs open, $V1 at $v1_free MiB and $V2 at $v2_free MiB free, clean offline and through clusterd); live-migrated to $dst (same boot, disk=ok to dw=$dw_mig, both LUNs), stopped and started on $src (boot $boot1, disk=ok to dw=$dw_restart, both LUNs, clean); stopped, vdb back to $V1 offline in $to ms, $V2 back to $V2_FREE0 MiB, both clean; $(($(sb_now_ms) - t0)) ms after set-up"
