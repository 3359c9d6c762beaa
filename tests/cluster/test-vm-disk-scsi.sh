#!/usr/bin/env bash
# vm disk add --bus virtio-scsi on a running CSV VM, 2 nodes: asked on the
# node it does not run on, the disk goes onto a virtio-scsi controller
# hot-plugged with it (PCI slot 23, scsi-hd with scsi-id 24), the CDB's
# definition records bus and slot, and a live migration's target is
# started with the same devices on its command line (the migration would
# fail on a device mismatch); the guest counts on across it. Removed, the
# disk and the controller leave, and a live migration back (no scsi on
# the target's command line) works too. Added to the stopped VM, the disk
# and its controller are on the next start's command line. An unknown bus
# is refused naming it. The test guest drives virtio-blk only: it does not use the scsi
# disk, so what is asserted is QEMU's view (hvagent's device_add answers,
# the command lines, the migrations), not the guest's.
# kvmc-timeout: 240
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_require_stack
sb_init vdscsi
# shellcheck disable=SC2034 # read by lib/vm.sh: this test is about the CSV
VM_CSV=1
vm_up 2

out=$(cdctl node1 volume add "$SB_CSV_PATH" 2>&1) || fail "volume add: $out"
vm_add_writer web1 128
out=$(cdctl node1 vm start web1) || fail "vm start: $out"
sb_wait_for 20 eval '[ -n "$(vm_where node1 web1)" ]' || fail "web1 runs nowhere after start"
src=$(vm_where node1 web1)
dst=node1
[ "$src" = node1 ] && dst=node2
sb_wait_for 20 vm_ticking "$src" web1 || fail "web1 does not tick on $src"
free1=$(vm_free_mib "$SB_CSV_PATH")
def_now() { cdctl node1 vm show web1 | grep -E "<disk|<extent|<allocate"; }
qemu_args() { sb_exec "$1" pgrep -a -x qemu-system-x86; }

r=$(cdctl "$dst" vm disk add web1 --size 8M --bus ide 2>&1) && fail "bus ide accepted: $r"
grep -qF "bus 'ide' is not virtio-blk or virtio-scsi" <<<"$r" || fail "bus ide: wrong error: $r"

out=$(cdctl "$dst" vm disk add web1 --size 8M --bus virtio-scsi) || fail "vm disk add --bus virtio-scsi: $out"
grep -q "disk sda added (8 MiB, .*hot-plug slot 24 on the virtio-scsi controller; the running guest has it)" <<<"$out" ||
    fail "vm disk add said: $out"
def_now | grep -q '<disk target="sda" bus="virtio-scsi" cache="none" slot="24">' ||
    fail "the CDB's definition lacks sda on virtio-scsi in slot 24: $(def_now)"
hdef="$(dirname "$(vm_serial "$src" web1)")/def.xml"
grep -q 'slot="24" bus="virtio-scsi"' "$hdef" || fail "$src's hvagent definition lacks the scsi disk: $(cat "$hdef")"
# The hot-plug was on the running QEMU: its command line has no scsi.
! qemu_args "$src" | grep -q scsi || fail "$src's QEMU was started with scsi: $(qemu_args "$src")"

# Live migration: the target is started with controller and disk.
t_before=$(vm_last_tick "$src" web1)
t_before_first=$t_before
out=$(cdctl node1 move-vm web1 --to "$dst" --live) || fail "move-vm --live with the scsi disk: $out"
sb_wait_for 30 vm_ticking "$dst" web1 || fail "web1 does not tick on $dst after the live move"
qemu_args "$dst" | grep -q "virtio-scsi-pci,id=scsi0,addr=0x17" || fail "$dst's QEMU has no scsi controller: $(qemu_args "$dst")"
qemu_args "$dst" | grep -q "scsi-hd,bus=scsi0.0,scsi-id=24,lun=0,drive=hp24,id=hp24" || fail "$dst's QEMU has no scsi disk: $(qemu_args "$dst")"
t_after=$(vm_last_tick "$dst" web1)
[ "$(vm_last_boot "$src" web1)" = "$(vm_last_boot "$dst" web1)" ] || fail "the guest rebooted in the live move"
((t_after >= t_before)) || fail "the counter went back: $t_before -> $t_after"

# Remove, asked on the node it left: disk and controller leave.
out=$(cdctl "$src" vm disk remove web1 sda) || fail "vm disk remove sda: $out"
grep -q "disk sda removed (slot 24, extent [0-9]* freed" <<<"$out" || fail "vm disk remove said: $out"
! def_now | grep -q 'target="sda"' || fail "the CDB still names sda"
[ "$(vm_free_mib "$SB_CSV_PATH")" = "$free1" ] || fail "space not back: $free1 -> $(vm_free_mib "$SB_CSV_PATH") MiB"
# And back: the target has no scsi, so QEMU's devices must match that.
t_before=$(vm_last_tick "$dst" web1)
: >"$(vm_serial "$src" web1)"
out=$(cdctl node1 move-vm web1 --to "$src" --live) || fail "move-vm --live after the remove: $out"
sb_wait_for 30 vm_ticking "$src" web1 || fail "web1 does not tick on $src after moving back"
! qemu_args "$src" | grep -q scsi || fail "$src's QEMU has scsi after the remove: $(qemu_args "$src")"
t_back=$(vm_last_tick "$src" web1)
((t_back >= t_before)) || fail "the counter went back: $t_before -> $t_back"

# Stopped: the scsi disk is in the definition alone, and the next start's
# command line has the controller and the disk.
out=$(cdctl node1 vm stop web1) || fail "vm stop: $out"
sb_wait_for 30 eval '[ "$(vm_qemu_count web1)" = 0 ]' || fail "web1's QEMU did not stop"
out=$(cdctl node1 vm disk add web1 --size 8M --bus virtio-scsi) || fail "stopped scsi add: $out"
grep -q "disk sda added .*hot-plug slot 24 on the virtio-scsi controller; the VM has it from its next start" <<<"$out" ||
    fail "stopped scsi add said: $out"
out=$(cdctl node1 vm start web1) || fail "vm start with the scsi disk: $out"
sb_wait_for 20 eval '[ -n "$(vm_where node1 web1)" ]' || fail "web1 runs nowhere after the start"
s_node=$(vm_where node1 web1)
sb_wait_for 20 vm_ticking "$s_node" web1 || fail "web1 does not tick on $s_node"
qemu_args "$s_node" | grep -q "virtio-scsi-pci,id=scsi0,addr=0x17" || fail "the started QEMU has no scsi controller: $(qemu_args "$s_node")"
qemu_args "$s_node" | grep -q "scsi-hd,bus=scsi0.0,scsi-id=24,lun=0,drive=hp24,id=hp24" || fail "the started QEMU has no scsi disk: $(qemu_args "$s_node")"

proof "virtio-scsi hot-plug: sda asked on $dst, added on $src (controller at 0x17, scsi-id 24, CDB bus=virtio-scsi slot=24); live move $src->$dst with the target started with scsi0 + scsi-hd, guest counter $t_before_first->$t_after; removed asked on $src, $free1 MiB free again; live move back with no scsi on either side, counter $t_before->$t_back; added stopped, the start on $s_node has scsi0 + scsi-hd on its command line; bus 'ide' refused; the test guest does not drive scsi, QEMU's view only"
