#!/bin/bash
# Disk hot-plug through the hvagents: a disk added to the running test
# guest (disk-add, slot 24) is found by the guest's disk writer, which
# writes and reads it back; the VM live-migrates node1 -> node2 with the
# disk in the target's definition (same PCI slot on its command line), the
# writer carries on with every block checked (disk=ok, write count
# continued); disk-remove on node2 completes once the guest released the
# device, and the definition no longer names it. Bad requests (a slot in
# use, a slot with no disk, the boot disk's lack of a slot) are refused
# with their reason and change nothing.
HVA_MEM=${HVA_MEM:-256}
HVA_WSS=${HVA_WSS:-16}
HVA_RATE=${HVA_RATE:-4}
# The writer: 256 KiB/s (64 writes/s) on the disk in slot 24, over 64
# blocks: a cycle a second.
HVA_GUEST_EXTRA="disk=256 dslot=24 dblocks=64"
. "$(dirname "$0")/lib/hva.sh"
hva_up

DISK=$HVA_D/hotplug.img
truncate -s 16M "$DISK"
ADD="path=$DISK offset=1048576 size=8388608 slot=24 cache=writeback"

# The disk writer's fields of the last report on node N: "state dw dr".
disk_last() {
    tr -d '\r' <"$(hva_serial "$1")" 2>/dev/null |
        sed -n 's/^KVMC boot=.* disk=\([A-Za-z]*\)\( block=[0-9]*\)\{0,1\} dw=\([0-9]*\) dr=\([0-9]*\).*/\1 \3 \4/p' |
        tail -n 1
}
# wait_disk N STATE MIN_DW: until node N's writer reports STATE with at
# least MIN_DW writes done, within 30 s.
wait_disk() {
    local deadline=$(($(hva_now_ms) + 30000)) l
    while :; do
        l=$(disk_last "$1")
        set -- "$1" "$2" "$3"
        if [ "${l%% *}" = "$2" ]; then
            local dw=${l#* }
            dw=${dw%% *}
            ((dw >= $3)) && return 0
        fi
        (($(hva_now_ms) < deadline)) || return 1
        sleep 0.2 # poll interval
    done
}
no_fail() {
    ! tr -d '\r' <"$(hva_serial "$1")" | grep -q 'disk=FAIL\|KVMC ERROR' ||
        hva_fail "node$1: the guest's disk check failed: $(tr -d '\r' <"$(hva_serial "$1")" | grep -m1 'KVMC ERROR')"
}

r=$(hvactl 1 start $HVA_VM) || hva_fail "start on node1: $r"
hva_wait_reports 1 3 || hva_fail "guest does not report on node1"
[ "$(disk_last 1 | cut -d' ' -f1)" = none ] || hva_fail "guest has a disk before the hot-plug: $(disk_last 1)"

# Refused before anything changes: no disk in slot 25, no slot 23.
r=$(hvactl 1 disk-remove $HVA_VM slot=25) && hva_fail "disk-remove of an empty slot accepted: $r"
grep -q "has no hot-plugged disk in slot 25" <<<"$r" || hva_fail "disk-remove slot 25: wrong error: $r"
r=$(hvactl 1 disk-add $HVA_VM path=$DISK offset=0 size=4096 slot=23) && hva_fail "slot 23 accepted: $r"
grep -q "disk slot 23 is not a hot-plug slot (24 to 31)" <<<"$r" || hva_fail "slot 23: wrong error: $r"

t0=$(hva_now_ms)
r=$(hvactl 1 disk-add $HVA_VM $ADD) || hva_fail "disk-add on node1: $r"
add_ms=$(($(hva_now_ms) - t0))
[ "$(hva_attr "$r" slot)" = 24 ] || hva_fail "disk-add reply: $r"
r2=$(hvactl 1 disk-add $HVA_VM $ADD) && hva_fail "a second disk in slot 24 accepted: $r2"
grep -q "slot 24 already has a disk" <<<"$r2" || hva_fail "second disk-add: wrong error: $r2"
grep -q 'slot="24"' "$(hva_run 1)/vm/$HVA_UUID/def.xml" || hva_fail "node1's def.xml lacks the disk"
# Two cycles written: every block read back at least once.
wait_disk 1 ok 150 || hva_fail "guest's writer on the added disk: $(disk_last 1)"
grep -q 'KVMC disk found slot=24 blocks=64' <(tr -d '\r' <"$(hva_serial 1)") ||
    hva_fail "guest did not report the disk in slot 24"
no_fail 1

# The target's definition has the disk (clusterd's job in a cluster).
sed "s|</vm>|  <disk path=\"$DISK\" offset=\"1048576\" size=\"8388608\" cache=\"writeback\" slot=\"24\"/>\n</vm>|" \
    "$HVA_D/$HVA_VM.xml" >"$HVA_D/$HVA_VM-disk.xml"
hvactl 2 define "$HVA_D/$HVA_VM-disk.xml" >/dev/null || hva_fail "define with the disk on node2"
hva_clear_serial 2
hva_arm 2
before=$(disk_last 1)
r=$(hvactl 1 migrate-out $HVA_VM to=${HVA_IP[2]}:7410 timeout-s=120) ||
    hva_fail "migrate node1 -> node2: $r"
hva_wait_reports 2 3 || hva_fail "guest does not report on node2"
hva_assert_continued 1 2
after_src=$(disk_last 1)
dw_src=$(cut -d' ' -f2 <<<"$after_src")
# Written on node2 past what node1 had done: a whole cycle more, so every
# block written before the move was read back on node2.
wait_disk 2 ok $((dw_src + 150)) || hva_fail "writer after the migration: $(disk_last 2) (node1 ended at $after_src)"
no_fail 1
no_fail 2
first2=$(tr -d '\r' <"$(hva_serial 2)" | grep -m1 ' dw=' | sed 's/.* dw=\([0-9]*\).*/\1/')
((first2 >= dw_src)) || hva_fail "disk write count went back: node1 $dw_src, node2 began at $first2"

t0=$(hva_now_ms)
r=$(hvactl 2 disk-remove $HVA_VM slot=24) || hva_fail "disk-remove on node2: $r"
rm_ms=$(($(hva_now_ms) - t0))
grep -q 'KVMC disk removed slot=24' <(tr -d '\r' <"$(hva_serial 2)") ||
    hva_fail "guest did not see the disk go"
! grep -q "slot=\"24\"" "$(hva_run 2)/vm/$HVA_UUID/def.xml" || hva_fail "node2's def.xml still has the disk"
r=$(hvactl 2 disk-remove $HVA_VM slot=24) && hva_fail "second disk-remove accepted: $r"
[ "$(hva_vm_field 2 state)" = running ] || hva_fail "VM not running on node2 after the removal"
final=$(disk_last 2)
hva_wait_reports 2 2 || hva_fail "guest stopped reporting after the removal"
hva_all_verified 2 || hva_fail "guest memory check failed on node2"

echo "PROOF: disk hot-plug: added to the running guest in slot 24 in $add_ms ms, writer found it and checked $(cut -d' ' -f3 <<<"$before") blocks on node1 before the move; live migration node1->node2 (counter $HVA_TICK_FROM->$HVA_TICK_TO) with the disk on the target's command line, writer continued $dw_src->$first2 writes and read back every block on node2 (disk=ok, $(cut -d' ' -f2,3 <<<"$final" | sed 's/ / writes, /') reads); removed on node2 in $rm_ms ms after the guest released it, def.xml without it; slot in use, empty slot and slot 23 refused"
