#!/usr/bin/env bash
# A hot-plugged disk survives vm edit and failover, on 2 nodes (votequorum
# two_node): web1 runs on node2 with the guest's disk writer; a disk added
# through node1 (passed to node2) is written and read back (disk=ok). A
# vm edit of its policy while it runs keeps the disk in the CDB's
# definition and in the VM's slot on the volume. node2 is killed whole:
# node1 cold-boots web1 with the disk at slot 24 (addr=0x18 on its QEMU's
# command line, the hot-plug's names), and the writer of the new boot
# writes and reads back its blocks on it (disk=ok). (The writer keeps its
# generations in memory, so a new boot checks what it writes, not what the
# dead node's guest wrote.)
# kvmc-timeout: 300
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_require_stack
sb_init vdfail
# shellcheck disable=SC2034 # read by lib/vm.sh: this test is about the CSV
VM_CSV=1
vm_up 2
BOUND_MS=$(((8 * 1 + 60 + 10) * 1000))

out=$(cdctl node1 volume add "$SB_CSV_PATH" 2>&1) || fail "volume add: $out"
vm_add_writer web1 128
out=$(cdctl node1 vm start web1) || fail "vm start: $out"
sb_wait_for 20 eval '[ -n "$(vm_where node1 web1)" ]' || fail "web1 runs nowhere after start"
if [ "$(vm_where node1 web1)" != node2 ]; then
    out=$(cdctl node1 move-vm web1 --to node2 --live) || fail "move web1 to node2: $out"
fi
sb_wait_for 20 vm_ticking node2 web1 || fail "web1 does not tick on node2"

# The disk, asked on node1, hot-plugged on node2.
out=$(cdctl node1 vm disk add web1 --size 8M) || fail "vm disk add on node1: $out"
grep -q "disk vdb added .*hot-plug slot 24; the running guest has it" <<<"$out" ||
    fail "vm disk add said: $out"
sb_wait_for 40 vm_disk_ok node2 web1 100 || fail "writer on node2: $(vm_disk_last node2 web1)"
vm_disk_no_fail node2 web1
dw2=$(vm_disk_last node2 web1 | cut -d' ' -f2)

# vm edit of the policy while it runs: the disk stays.
def_of() { cdctl node1 vm show web1 | sed -n '/^definition:$/,$p' | tail -n +2; }
def_of >"$VM_DIR/web1-cur.xml"
grep -q '<disk target="vdb" bus="virtio-blk" cache="none" slot="24">' "$VM_DIR/web1-cur.xml" ||
    fail "the definition lacks vdb in slot 24: $(cat "$VM_DIR/web1-cur.xml")"
sed 's|<priority>high</priority>|<priority>medium</priority>|' "$VM_DIR/web1-cur.xml" >"$VM_DIR/web1-med.xml"
out=$(cdctl node1 vm edit web1 "$VM_DIR/web1-med.xml" 2>&1) || fail "vm edit: $out"
grep -q "VM 'web1' updated" <<<"$out" || fail "vm edit said: $out"
sb_wait_for 5 eval '[ "$(vm_field node1 web1 priority)" = medium ]' || fail "the edit did not take"
def_of | grep -q '<disk target="vdb" bus="virtio-blk" cache="none" slot="24">' ||
    fail "vm edit lost vdb: $(def_of)"

# Failover: node2 dies with web1; node1 starts it from the CDB and its
# slot, the disk with it.
b2=$(vm_last_boot node2 web1)
t0=$(sb_now_ms)
sb_kill node2
# shellcheck disable=SC2034 # read by lib/vm.sh
VM_ALL=node1
back() {
    [ "$(vm_where node1 web1)" = node1 ] && vm_disk_ok node1 web1 100 &&
        [ "$(vm_last_boot node1 web1)" != "$b2" ]
}
sb_wait_for $((BOUND_MS / 1000 + 40)) back ||
    fail "web1 is not back on node1 writing its disk: where '$(vm_where node1 web1)', writer '$(vm_disk_last node1 web1)'; $(cdctl node1 vm list)"
t_back=$(($(sb_now_ms) - t0))
vm_disk_no_fail node1 web1
sb_exec node1 pgrep -a -x qemu-system-x86 | grep -q "virtio-blk-pci,drive=hp24,id=hp24,addr=0x18" ||
    fail "node1's QEMU has no disk at slot 24: $(sb_exec node1 pgrep -a -x qemu-system-x86)"
grep -q 'KVMC disk found slot=24 blocks=64' <(tr -d '\r' <"$(vm_serial node1 web1)") ||
    fail "the guest on node1 did not find the disk in slot 24"
dw1=$(vm_disk_last node1 web1 | cut -d' ' -f2)
def_of | grep -q 'target="vdb".*slot="24"' || fail "the CDB lost vdb after the failover"

proof "hot-plugged disk: added through node1 into web1 on node2 (slot 24), $dw2 blocks written and read back; vm edit (priority high -> medium) kept vdb in slot 24; node2 killed, web1 cold-booted on node1 with the disk at addr=0x18 (hp24) after $t_back ms, the new boot's writer at $dw1 blocks, disk=ok"
