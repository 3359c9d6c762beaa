#!/usr/bin/env bash
# clusterctl vm disk add|remove on a CSV VM that runs, on 2 nodes: a
# disk added through clusterd on the node the VM does not run on (the
# request is passed to the node it runs on and answered back; the
# extent on the volume, hot-plug slot 24, the CDB's definition) is found
# by the guest's disk writer, which reads every block back intact
# (disk=ok) before and after a live migration; removed from the node it
# left (passed on again), its extent is freed and the next add, on the
# node it runs on, gets the same place on the volume. Refusals name the
# input and change nothing, asked on either node: an unknown VM, a bad
# size, an unknown disk, the boot disk, and an add bigger than the
# volume's free space (the size asked and the space free in the message). A disk added while
# the VM is stopped is in its QEMU's command line at slot 24 (addr=0x18)
# from the next start and on a quick move's target, where the writer
# carries on.
# kvmc-timeout: 300
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_require_stack
sb_init vdisk
# shellcheck disable=SC2034 # read by lib/vm.sh: this test is about the CSV
VM_CSV=1
vm_up 2
# shellcheck disable=SC2034 # read by lib/vm.sh
VM_NODES_UP=2
# shellcheck disable=SC2034
VM_ALL_UP="node1 node2"
CTL=$KVMC_BUILDDIR/cli/clusterctl

out=$(cdctl node1 volume add "$SB_CSV_PATH" 2>&1) || fail "volume add: $out"
free0=$(vm_free_mib "$SB_CSV_PATH")

# A boot disk only; the writer waits for a disk in slot 24.
vm_add_writer web1 128
out=$(cdctl node1 vm start web1) || fail "vm start: $out"
src=$(vm_where node1 web1)
[ -n "$src" ] || fail "web1 runs nowhere after start"
dst=node1
[ "$src" = node1 ] && dst=node2
free1=$(vm_free_mib "$SB_CSV_PATH")

disk_last() { vm_disk_last "$1" web1; }
disk_ok() { vm_disk_ok "$1" web1 "$2"; }
no_fail() { vm_disk_no_fail "$1" web1; }
def_now() { cdctl node1 vm show web1 | grep -E "<disk|<extent|<allocate"; }
# refused NODE WHAT EXPECTED ARGS...: the command fails saying EXPECTED,
# and neither the definition nor the volume's free space changed.
refused() {
    local node=$1 what=$2 want=$3 def0 r
    shift 3
    def0=$(def_now)
    r=$(cdctl "$node" vm disk "$@" 2>&1) && fail "$what accepted: $r"
    grep -qF -- "$want" <<<"$r" || fail "$what: wrong error: $r"
    [ "$(def_now)" = "$def0" ] || fail "$what changed the definition"
    [ "$(vm_free_mib "$SB_CSV_PATH")" = "$free1" ] || fail "$what changed the volume: $free1 -> $(vm_free_mib "$SB_CSV_PATH") MiB free"
    refusals="$refusals; $what: '$(head -c 90 <<<"${r#clusterctl: }")...'"
}
refusals=""
refused "$src" "unknown VM" "VM 'web9' does not exist" add web9 --size 8M
refused "$src" "bad size" "size '8X' is not a disk size" add web1 --size 8X
refused "$src" "unknown disk" "VM 'web1' has no disk 'vdq' (its disks: vda" remove web1 vdq
# Asked on the other node: refused by the node it runs on, answer relayed.
refused "$dst" "unknown disk (asked on $dst)" "VM 'web1' has no disk 'vdq' (its disks: vda" remove web1 vdq
refused "$dst" "boot disk (asked on $dst)" "disk vda is not in a hot-plug slot" remove web1 vda
refused "$dst" "full volume (asked on $dst)" "no space for VM 'web1' disk vdb (65536 MiB asked, ${free1%.*} MiB free" \
    add web1 --size 64G

# add, asked on the node web1 does not run on: on the guest's PCI bus,
# in the CDB, written and read back.
out=$(cdctl "$dst" vm disk add web1 --size 8M) || fail "vm disk add on $dst: $out"
grep -q "disk vdb added (8 MiB, extent [0-9]* at offset [0-9]* of volume '.*', hot-plug slot 24; the running guest has it)" <<<"$out" ||
    fail "vm disk add said: $out"
off1=$(sed -n 's/.* at offset \([0-9]*\) .*/\1/p' <<<"$out")
def_now | grep -q '<disk target="vdb" bus="virtio-blk" cache="none" slot="24">' ||
    fail "the CDB's definition lacks vdb in slot 24: $(def_now)"
free2=$(vm_free_mib "$SB_CSV_PATH")
sb_wait_for 40 disk_ok "$src" 150 || fail "writer on $src: $(disk_last "$src")"
grep -q 'KVMC disk found slot=24 blocks=64' <(tr -d '\r' <"$(vm_serial "$src" web1)") ||
    fail "the guest did not find the added disk in slot 24"
no_fail "$src"

# disk_move KIND FROM TO: web1 moved by a KIND migration; the writer
# carries on at TO without a write lost. Sets mv_from (FROM's last write
# count) and mv_first (TO's first).
disk_move() {
    local kind=$1 from=$2 to=$3
    [ ! -f "$(vm_serial "$to" web1)" ] || : >"$(vm_serial "$to" web1)"
    out=$(cdctl node1 move-vm web1 --to "$to" "--$kind") || fail "move-vm --$kind: $out"
    sb_wait_for 30 eval "[ -n \"\$(disk_last $to)\" ]" || fail "no guest report on $to after --$kind"
    mv_from=$(disk_last "$from" | cut -d' ' -f2)
    sb_wait_for 40 disk_ok "$to" $((mv_from + 150)) ||
        fail "writer after --$kind to $to: $(disk_last "$to") ($from ended at $mv_from)"
    mv_first=$(tr -d '\r' <"$(vm_serial "$to" web1)" | grep -m1 ' dw=' | sed 's/.* dw=\([0-9]*\).*/\1/')
    ((mv_first >= mv_from)) || fail "write count went back over --$kind: $mv_from -> $mv_first"
    no_fail "$to"
}

# live migration: the target is defined with the disk at the same address.
disk_move live "$src" "$dst"
from_dw=$mv_from first=$mv_first
moved_dw=$(disk_last "$dst" | cut -d' ' -f2)

# remove, asked on the node it left: the guest lets go, the extent is freed.
out=$(cdctl "$src" vm disk remove web1 vdb) || fail "vm disk remove on $src: $out"
grep -q "disk vdb removed (slot 24, extent [0-9]* freed; the guest released it)" <<<"$out" ||
    fail "vm disk remove said: $out"
! def_now | grep -q 'target="vdb"' || fail "the CDB still names vdb"
# (The target's command line has hp24: it was defined with the disk.)
hdef="$(dirname "$(vm_serial "$dst" web1)")/def.xml"
[ -f "$hdef" ] || fail "no hvagent definition of web1 at $hdef"
! grep -q 'slot="24"' "$hdef" || fail "$dst's hvagent still has the disk in web1's definition"
[ "$(vm_free_mib "$SB_CSV_PATH")" = "$free1" ] || fail "space not back after the remove: $free1 -> $(vm_free_mib "$SB_CSV_PATH") MiB"
sb_wait_for 10 eval "disk_last $dst | grep -q '^none '" || fail "the guest still writes: $(disk_last "$dst")"

# The freed extent's place goes to the next add.
out=$(cdctl "$dst" vm disk add web1 --size 8M) || fail "second vm disk add: $out"
off2=$(sed -n 's/.* at offset \([0-9]*\) .*/\1/p' <<<"$out")
[ "$off2" = "$off1" ] || fail "the second add is at offset $off2, not the freed $off1"
sb_wait_for 40 disk_ok "$dst" 150 || fail "writer on the second disk: $(disk_last "$dst")"
no_fail "$dst"

out=$(cdctl node1 vm stop web1) || fail "vm stop: $out"
sb_wait_for 30 eval '[ "$(vm_qemu_count web1)" = 0 ]' || fail "web1's QEMU did not stop"
# Stopped: the definition and the volume alone change.
out=$(cdctl node1 vm disk remove web1 vdb) || fail "vm disk remove of a stopped VM: $out"
[ "$(vm_free_mib "$SB_CSV_PATH")" = "$free1" ] || fail "space not back after the stopped remove"
out=$(cdctl node1 vm disk add web1 --size 8M) || fail "vm disk add to a stopped VM: $out"
grep -q "disk vdb added .*hot-plug slot 24; the VM has it from its next start" <<<"$out" ||
    fail "vm disk add to a stopped VM said: $out"
def_now | grep -q 'slot="24"' || fail "the stopped add is not in the CDB"
# Started with the disk in its definition: clusterd hands the slot to
# hvagent, so the QEMU of the start and of a quick move's target has the
# disk at PCI slot 24 (addr=0x18) from its command line.
slot_on_cmdline() {
    sb_exec "$1" pgrep -a -x qemu-system-x86 | grep -q "virtio-blk-pci,drive=hp24,id=hp24,addr=0x18"
}
out=$(cdctl node1 vm start web1) || fail "vm start with the disk: $out"
q_src=$(vm_where node1 web1)
[ -n "$q_src" ] || fail "web1 runs nowhere after the start with the disk"
sb_wait_for 40 disk_ok "$q_src" 150 || fail "writer after the start on $q_src: $(disk_last "$q_src")"
slot_on_cmdline "$q_src" || fail "$q_src's QEMU has no disk at slot 24: $(sb_exec "$q_src" pgrep -a -x qemu-system-x86)"
q_dst=node1
[ "$q_src" = node1 ] && q_dst=node2
disk_move quick "$q_src" "$q_dst"
slot_on_cmdline "$q_dst" || fail "$q_dst's QEMU has no disk at slot 24 after the quick move"
no_fail "$q_src"
quick="started with it on $q_src (slot 24 on QEMU's command line), quick move $q_src->$q_dst writes $mv_from->$mv_first, then $(disk_last "$q_dst" | cut -d' ' -f2) checked ok"
out=$(cdctl node1 vm stop web1) || fail "vm stop: $out"
sb_wait_for 30 eval '[ "$(vm_qemu_count web1)" = 0 ]' || fail "web1's QEMU did not stop"
out=$(cdctl node1 vm remove web1) || fail "vm remove: $out"
sb_wait_for 10 eval '[ "$(vm_free_mib "$SB_CSV_PATH")" = "$free0" ]' || fail "space not back: $free0 -> $(vm_free_mib "$SB_CSV_PATH") MiB"
chk=$(sb_exec node2 "$CTL" volume check "$SB_CSV_PATH" 2>&1) || fail "volume check: $chk"
grep -q "is clean" <<<"$chk" || fail "volume check: $chk"

echo "PROOF: vm disk add asked on $dst, passed to $src where web1 runs: vdb in slot 24 at offset $off1 ($free1 -> $free2 MiB free), the guest's writer read back every block (disk=ok); live move $src->$dst, writes $from_dw->$first, $moved_dw checked ok; removed (asked on $src) on $dst after the guest released it, $free1 MiB free again; the next add took offset $off2 again and was written ok; removed and added again stopped, $quick; $free0 MiB free after vm remove, volume check clean$refusals"
