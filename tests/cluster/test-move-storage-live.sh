#!/usr/bin/env bash
# clusterctl move-storage of a RUNNING VM (live storage migration), on 2
# nodes: the sandbox's CSV (LUN 1, 512-byte sectors) and a second volume
# on LUN 3 (4096-byte sectors), set up as test-move-storage.sh does. A
# guest whose disk writer writes its hot-plugged disk moves its whole slot
# to volume 2 while it writes: QEMU mirrors every disk, the target lease is
# taken before the switch, the CDB names volume 2, the source lease and
# extents go. The guest's counter continued (same boot, tick grew), the
# writer says disk=ok with writes after the move, QEMU has volume 1's LUN
# no longer open, volume 1's free space is back, both volumes check clean.
# vda's random bytes are on volume 2 as they were on volume 1.
# Then a move back, paced by storage-move-bandwidth, asked on the OTHER
# node (passed to the VM's node), is cancelled mid-copy there
# (move-storage --status and --cancel asked on the other node, answered as
# on the VM's node) while QEMU copies: the VM keeps running on volume 2
# (same boot, definition unchanged, writer ok), volume 1's space is back,
# both clean. Last, move-vm --live --to-volume, asked on the other node,
# takes VM and storage back to volume 1 and to that node in one command
# (the storage move passed to the VM's node, followed from the other); a
# mirror whose hvagent is killed leaves the VM on its volume.
# kvmc-timeout: 420
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_require_stack
sb_init mvlive
vm_up_volumes2
CTL=$KVMC_BUILDDIR/cli/clusterctl
t0=$(sb_now_ms)

# web1: a 24 MiB boot disk and a disk in slot 24 the writer uses.
vm_add_writer web1 64 24
out=$(cdctl node1 vm disk add web1 --size 8M 2>&1) || fail "vm disk add: $out"
# vda (which this guest never reads or writes) gets 24 MiB of random bytes:
# QEMU's mirror skips zeroes, so this is what it really copies, and its
# digest on the target proves the copy.
vda_sum() {
    sb_exec node1 dd if="$1" bs=1M count=24 skip="$2" iflag=skip_bytes,direct status=none |
        sha256sum | cut -c1-16
}
vm_fill_random web1 vda 24
sum1=$(vda_sum "$SB_CSV_PATH" "$VM_FILL_OFF")
out=$(cdctl node1 vm start web1) || fail "vm start: $out"
src=$(vm_where node1 web1)
[ -n "$src" ] || fail "web1 runs nowhere after start"
src0=$src
other=node1
[ "$src" = node1 ] && other=node2

disk_last() { vm_disk_last "$src" web1; }
disk_ok() { vm_disk_ok "$src" web1 "$1"; }
dw() { disk_last | cut -d' ' -f2; }
def_now() { cdctl node1 vm show web1 | grep -E "<disk|<extent"; }
qemu_luns() {
    local qpid
    qpid=$(sb_exec "$src" pgrep -x qemu-system-x86 | head -n 1)
    sb_exec "$src" ls -l "/proc/$qpid/fd" | grep -o '/run/kvmcluster/luns/[^ ]*' | sort -u
}
sb_wait_for 60 disk_ok 50 || fail "writer on $src: $(disk_last)"
vm_disk_no_fail "$src" web1
boot0=$(vm_last_boot "$src" web1)
v1_free_vm=$(vm_free_mib "$SB_CSV_PATH")
sb_log "web1 runs on $src, writer ok"
# --status on the other node is passed to the VM's node, which has none.
none=$(cdctl "$other" move-storage web1 --status 2>&1) && fail "--status on $other before any move answered: $none"
grep -q "has no storage move: it runs on node '$src'" <<<"$none" || fail "--status on $other before any move: $none"

# The live move, asked of the VM's node, while the writer writes.
dw0=$(dw)
tick0=$(vm_last_tick "$src" web1)
tm=$(sb_now_ms)
out=$(cdctl "$src" move-storage web1 --to-volume "$V2" 2>&1) || fail "live move-storage: $out"
tm=$(($(sb_now_ms) - tm))
grep -q "storage moved to volume '$V2'" <<<"$out" || fail "move-storage said: $out"
moved_mib=$(sed -n 's/.*storage moved to .* (\([0-9]*\) MiB copied).*/\1/p' <<<"$out")
dw_move=$(dw)
def_now | grep -q "volume=\"$V2\"" || fail "the CDB's definition does not name $V2: $(def_now)"
def_now | grep -q "volume=\"$V1\"" && fail "the CDB's definition still names $V1: $(def_now)"
vda_off2=$(vm_extent_off "$V2_PATH" web1 vda)
[ -n "$vda_off2" ] || fail "no web1-vda extent on volume 2"
sum2=$(vda_sum "$V2_PATH" "$vda_off2")
[ "$sum1" = "$sum2" ] || fail "vda's bytes differ after the mirror: $sum1 on $V1, $sum2 on $V2"
sb_wait_for 20 eval '[ "$(vm_free_mib "$SB_CSV_PATH")" = "$V1_FREE0" ]' ||
    fail "volume 1's space not back: $V1_FREE0 -> $(vm_free_mib "$SB_CSV_PATH") MiB"
v2_free1=$(vm_free_mib "$V2_PATH")
vm_writer_on "$src" web1 "$boot0" $((dw_move + 30)) "during the move"
tick1=$(vm_last_tick "$src" web1)
((tick1 > tick0)) || fail "the guest's counter did not go on: $tick0 -> $tick1"
luns=$(qemu_luns)
grep -q "$lun3" <<<"$luns" || fail "web1's QEMU has no fd of volume 2's LUN: $luns"
grep -q "${SB_CSV_PATH##*/}" <<<"$luns" && fail "web1's QEMU still has volume 1's LUN open: $luns"
vm_volumes_clean "after the live move"
dw1=$(dw)
sb_log "moved live to $V2 in $tm ms"

# A move back paced to 1 MiB/s, asked, followed and cancelled on the other
# node while it copies.
mv_status() { cdctl "$src" move-storage web1 --status 2>&1; }
mv_status_o() { cdctl "$other" move-storage web1 --status 2>&1; }
# QEMU's second mirror started and not READY yet: the cancel comes while
# it copies (its paced copy of vda's random MiB takes seconds; the
# progress figure runs ahead, QEMU counts a chunk once it is read).
hva_says() { grep -c "VM 'web1': storage mirror $1" "$KVMC_SANDBOX_DIR/$src/hvagent.out"; }
# The status asked on the other node, kept for the cancel that follows
# at once (one call less while the paced copy runs).
copying() {
    at_cancel=$(mv_status_o)
    grep -q "copying, " <<<"$at_cancel" && [ "$(hva_says "of 2 disk(s) started")" = 2 ] &&
        [ "$(hva_says ready)" = 1 ]
}
def2=$(def_now)
out=$(cdctl node1 config set storage-move-bandwidth 1 2>&1) || fail "config set: $out"
out=$(cdctl "$other" move-storage web1 --to-volume "$V1" --no-wait 2>&1) || fail "move-storage back asked on $other: $out"
grep -q "from volume '$V2' to volume '$V1'" <<<"$out" || fail "move-storage back asked on $other said: $out"
sb_wait_for 30 copying || fail "the move back does not copy: $(mv_status_o)"
grep -q "^VM 'web1': copying, [0-9]* of [0-9]* MiB copied to volume '$V1'" <<<"$at_cancel" ||
    fail "--status on $other during the copy: $at_cancel"
tc=$(sb_now_ms)
cancel_out=$(cdctl "$other" move-storage web1 --cancel 2>&1) || fail "move-storage --cancel on $other: $cancel_out"
tc=$(($(sb_now_ms) - tc))
grep -q "storage move to volume '$V1' failed: .*cancelled" <<<"$cancel_out" ||
    fail "--cancel on $other does not say the move was cancelled: $cancel_out"
why=$(mv_status)
grep -q "failed" <<<"$why" || fail "the cancelled move is not over: $why"
grep -q "cancelled" <<<"$why" || fail "the cancelled move does not say so: $why"
why_o=$(mv_status_o)
[ "$why_o" = "$why" ] || fail "--status on $other ($why_o) is not $src's ($why)"
[ "$(hva_says ready)" = 1 ] || fail "the cancelled mirror got READY before the cancel"
[ "$(hva_says cancelled)" = 1 ] || fail "hvagent does not say the mirror was cancelled: $(grep mirror "$KVMC_SANDBOX_DIR/$src/hvagent.out")"
out=$(cdctl node1 config set storage-move-bandwidth 0 2>&1) || fail "config set: $out"
[ "$(def_now)" = "$def2" ] || fail "the cancelled move changed the definition: $(def_now)"
sb_wait_for 20 eval '[ "$(vm_free_mib "$SB_CSV_PATH")" = "$V1_FREE0" ]' ||
    fail "the cancelled move left space taken on volume 1: $V1_FREE0 -> $(vm_free_mib "$SB_CSV_PATH") MiB"
[ "$(vm_free_mib "$V2_PATH")" = "$v2_free1" ] || fail "the cancelled move changed volume 2: $v2_free1 -> $(vm_free_mib "$V2_PATH") MiB"
vm_writer_on "$src" web1 "$boot0" $((dw1 + 30)) "during the cancelled move"
luns=$(qemu_luns)
grep -q "${SB_CSV_PATH##*/}" <<<"$luns" && fail "web1's QEMU kept volume 1's LUN open after the cancel: $luns"
vm_volumes_clean "after the cancel"
dw2=$(dw)
tick2=$(vm_last_tick "$src" web1)
sb_log "cancelled"

# VM and storage in one move: back to volume 1 (mirror), then to the
# other node (live migration), asked on that other node: the storage move
# is passed to the VM's node and followed from there to its end.
dst=node1
[ "$src" = node1 ] && dst=node2
tv=$(sb_now_ms)
out=$(cdctl "$dst" move-vm web1 --to "$dst" --live --to-volume "$V1" 2>&1) || fail "move-vm --to-volume asked on $dst: $out"
grep -q "storage moved to volume '$V1'" <<<"$out" || fail "move-vm --to-volume asked on $dst did not follow the storage move: $out"
tv=$(($(sb_now_ms) - tv))
[ "$(vm_where node1 web1)" = "$dst" ] || fail "web1 is not on $dst after move-vm: $(vm_where node1 web1)"
def_now | grep -q "volume=\"$V1\"" || fail "the CDB's definition does not name $V1 after move-vm: $(def_now)"
sb_wait_for 20 eval '[ "$(vm_free_mib "$V2_PATH")" = "$V2_FREE0" ]' ||
    fail "volume 2's space not back after move-vm: $V2_FREE0 -> $(vm_free_mib "$V2_PATH") MiB"
src=$dst
vm_writer_on "$src" web1 "$boot0" $((dw2 + 30)) "in move-vm"
tick3=$(vm_last_tick "$src" web1)
((tick3 > tick2)) || fail "the guest's counter did not go on in move-vm: $tick2 -> $tick3"
vm_volumes_clean "after move-vm"
dw3=$(dw)
sb_log "moved with move-vm --to-volume"

# hvagent killed on the VM's node while QEMU mirrors (paced) to volume 2:
# the restarted agent cancels the stray jobs when it re-attaches, the move
# fails saying so, and the VM runs on volume 1 as before.
def3=$(def_now)
out=$(cdctl node1 config set storage-move-bandwidth 1 2>&1) || fail "config set: $out"
out=$(cdctl "$src" move-storage web1 --to-volume "$V2" --no-wait 2>&1) || fail "move-storage to $V2: $out"
sb_wait_for 20 eval 'mv_status | grep -q "copying, " && [ "$(hva_says "of 2 disk(s) started")" = 1 ] && [ "$(hva_says ready)" = 0 ]' ||
    fail "the mirror on $src does not copy: $(mv_status)"
sb_exec "$src" kill -KILL "$(cat "$KVMC_SANDBOX_DIR/$src/pids/hvagent")"
vm_hva_start "$src"
sb_wait_for 60 eval 'mv_status | grep -q failed' || fail "the move did not fail after hvagent's kill: $(mv_status)"
why2=$(mv_status)
out=$(cdctl node1 config set storage-move-bandwidth 0 2>&1) || fail "config set: $out"
[ "$(hva_says job)" -ge 1 ] || fail "the restarted hvagent did not cancel the stray mirror: $(grep mirror "$KVMC_SANDBOX_DIR/$src/hvagent.out")"
[ "$(def_now)" = "$def3" ] || fail "the failed move changed the definition: $(def_now)"
sb_wait_for 20 eval '[ "$(vm_free_mib "$V2_PATH")" = "$V2_FREE0" ]' ||
    fail "the failed move left space taken on volume 2: $V2_FREE0 -> $(vm_free_mib "$V2_PATH") MiB"
vm_writer_on "$src" web1 "$boot0" $((dw3 + 30)) "when hvagent was killed"
vm_volumes_clean "after hvagent's kill"
dw4=$(dw)

out=$(cdctl node1 vm stop web1) || fail "vm stop: $out"
sb_wait_for 30 eval '[ "$(vm_qemu_count web1)" = 0 ]' || fail "web1's QEMU did not stop"
out=$(cdctl node1 vm remove web1 2>&1) || fail "vm remove of the moved VM: $out"
sb_wait_for 10 eval '[ "$(vm_free_mib "$SB_CSV_PATH")" = "$V1_FREE0" ]' ||
    fail "volume 1's space not back after vm remove: $V1_FREE0 -> $(vm_free_mib "$SB_CSV_PATH") MiB"
vm_volumes_clean "after vm remove"

echo "PROOF: web1 running on $src0 moved live $V1 (512-byte sectors) -> $V2 (4096-byte sectors) while writing: $moved_mib MiB in $tm ms (vda's 24 random MiB identical on both, $sum1), writes dw=$dw0 -> $dw_move during the move, disk=ok up to dw=$dw1 after, counter $tick0 -> $tick1 on the same boot, the CDB names $V2, QEMU has only $V2's LUN open, $V1 back to $V1_FREE0 MiB free (was $v1_free_vm with web1), both volumes clean; --status on $other before any move: '$(head -c 90 <<<"${none#*: }")'; a move back paced to 1 MiB/s asked, followed and cancelled on $other (passed to $src0) at '${at_cancel#*: }' in $tc ms, the same status on both nodes ('$(head -c 120 <<<"${why#*: }")'): definition unchanged, $V1 at $V1_FREE0 MiB free, $V2 at $v2_free1, both clean, the guest on its boot with disk=ok up to dw=$dw2, counter at $tick2; move-vm --to $dst --live --to-volume $V1 asked on $dst (its storage move followed there) in $tv ms: on $dst, storage on $V1, $V2 back to $V2_FREE0 MiB, same boot, counter $tick2 -> $tick3, disk=ok up to dw=$dw3, both clean; hvagent killed on $src mid-mirror to $V2: '$(head -c 140 <<<"${why2#*: }")', the VM on $V1 (definition unchanged, $V2 at $V2_FREE0 MiB, same boot, disk=ok up to dw=$dw4, both clean); vm remove gave $V1 its $V1_FREE0 MiB back; $(($(sb_now_ms) - t0)) ms in all"
