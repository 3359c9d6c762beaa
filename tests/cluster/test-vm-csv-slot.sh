#!/usr/bin/env bash
# A VM on the cluster-shared volume whose definition has a disk in a
# hot-plug slot (<disk target="vdb" slot="24">, as a hot-plug records it),
# on 2 nodes: clusterd hands the slot to hvagent, so the QEMU of every
# start and migration target has that disk at PCI slot 24 (addr=0x18),
# where the test guest's disk writer finds it; the writer's blocks are all
# read back intact across a live and a quick migration (disk=ok, write
# count continuing); removing the VM gives the space back and leaves
# 'volume check' clean.
# kvmc-timeout: 300
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_require_stack
sb_init vslot
# shellcheck disable=SC2034 # read by lib/vm.sh: this test is about the CSV
VM_CSV=1
vm_up 2
# shellcheck disable=SC2034 # read by lib/vm.sh
VM_NODES_UP=2
# shellcheck disable=SC2034
VM_ALL_UP="node1 node2"
CTL=$KVMC_BUILDDIR/cli/clusterctl

out=$(cdctl node1 volume add "$SB_CSV_PATH" 2>&1) || fail "volume add: $out"
free_mib() {
    sb_exec node1 "$CTL" volume inspect "$SB_CSV_PATH" |
        sed -n 's/^  \([0-9.]*\) MiB free of.*/\1/p'
}
free0=$(free_mib)

vm_define web1 high 128
# Two disks: vda placed by QEMU, vdb in slot 24; the guest writes vdb.
sed -i -e 's|<vcpus>1</vcpus>|<vcpus>1</vcpus>\n  <disk target="vda"><allocate size="8" unit="MiB"/></disk>\n  <disk target="vdb" slot="24"><allocate size="8" unit="MiB"/></disk>|' \
    -e 's|<cmdline>\(.*\)</cmdline>|<cmdline>\1 disk=256 dslot=24 dblocks=64</cmdline>|' \
    "$VM_DIR/web1.xml"
out=$(cdctl node1 vm add "$VM_DIR/web1.xml" 2>&1) || fail "vm add: $out"
cdctl node1 vm show web1 | grep -q '<disk target="vdb" bus="virtio-blk" cache="none" slot="24">' ||
    fail "the stored definition lost the slot: $(cdctl node1 vm show web1)"

# disk_last NODE: the writer's "state dw" of the guest's last report there.
disk_last() {
    tr -d '\r' <"$(vm_serial "$1" web1)" 2>/dev/null |
        sed -n 's/^KVMC boot=.* disk=\([A-Za-z]*\)\( block=[0-9]*\)\{0,1\} dw=\([0-9]*\) .*/\1 \3/p' |
        tail -n 1
}
# disk_ok NODE MIN: the writer reports ok with at least MIN writes done.
disk_ok() {
    local l
    l=$(disk_last "$1")
    [ "${l% *}" = ok ] && ((${l#* } >= $2))
}
no_fail() {
    ! tr -d '\r' <"$(vm_serial "$1" web1)" | grep -q 'disk=FAIL\|KVMC ERROR' ||
        fail "$1: the guest's check failed: $(tr -d '\r' <"$(vm_serial "$1" web1)" | grep -m1 'KVMC ERROR')"
}
slot_on_cmdline() {
    sb_exec "$1" pgrep -a -x qemu-system-x86 | grep -q "virtio-blk-pci,drive=hp24,id=hp24,addr=0x18"
}

out=$(cdctl node1 vm start web1) || fail "vm start: $out"
src=$(vm_where node1 web1)
[ -n "$src" ] || fail "web1 runs nowhere after start"
sb_wait_for 40 disk_ok "$src" 150 || fail "writer on $src: $(disk_last "$src")"
grep -q 'KVMC disk found slot=24 blocks=64' <(tr -d '\r' <"$(vm_serial "$src" web1)") ||
    fail "the guest did not find its disk in slot 24"
slot_on_cmdline "$src" || fail "$src's QEMU has no disk at slot 24: $(sb_exec "$src" pgrep -a -x qemu-system-x86)"
no_fail "$src"

# move KIND: web1 to the other node, the writer carries on there.
moves=""
move() {
    local kind=$1 dst from_dw first
    dst=node1
    [ "$src" = node1 ] && dst=node2
    [ ! -f "$(vm_serial "$dst" web1)" ] || : >"$(vm_serial "$dst" web1)"
    out=$(cdctl node1 move-vm web1 --to "$dst" "--$kind") || fail "move-vm --$kind: $out"
    sb_wait_for 30 eval "[ -n \"\$(disk_last $dst)\" ]" || fail "no guest report on $dst"
    from_dw=$(disk_last "$src" | cut -d' ' -f2)
    sb_wait_for 40 disk_ok "$dst" $((from_dw + 150)) ||
        fail "writer after --$kind to $dst: $(disk_last "$dst") ($src ended at $from_dw)"
    first=$(tr -d '\r' <"$(vm_serial "$dst" web1)" | grep -m1 ' dw=' | sed 's/.* dw=\([0-9]*\).*/\1/')
    ((first >= from_dw)) || fail "write count went back over --$kind: $from_dw -> $first"
    [ "$(vm_last_boot "$src" web1)" = "$(vm_last_boot "$dst" web1)" ] ||
        fail "the guest rebooted over --$kind"
    slot_on_cmdline "$dst" || fail "$dst's QEMU has no disk at slot 24"
    no_fail "$src"
    no_fail "$dst"
    moves="$moves; --$kind $src->$dst writes $from_dw->$first, then $(disk_last "$dst" | cut -d' ' -f2) checked ok"
    src=$dst
}
move live
move quick

out=$(cdctl node1 vm stop web1) || fail "vm stop: $out"
sb_wait_for 30 eval '[ "$(vm_qemu_count web1)" = 0 ]' || fail "web1's QEMU did not stop"
out=$(cdctl node1 vm remove web1) || fail "vm remove: $out"
sb_wait_for 10 eval '[ "$(free_mib)" = "$free0" ]' || fail "space not back: $free0 -> $(free_mib) MiB"
chk=$(sb_exec node2 "$CTL" volume check "$SB_CSV_PATH" 2>&1) || fail "volume check: $chk"
grep -q "is clean" <<<"$chk" || fail "volume check: $chk"

echo "PROOF: disk with slot 24 in the definition: clusterd's QEMU command line put it at addr=0x18 on every node, the guest's writer found it and read back every block (disk=ok)$moves; removed: $free0 MiB free again, volume check clean"
