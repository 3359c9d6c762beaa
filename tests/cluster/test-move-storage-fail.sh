#!/usr/bin/env bash
# Live storage moves (clusterctl move-storage of a RUNNING VM) that fail
# before the switch, on 2 nodes with the sandbox's CSV (LUN 1) and a
# second volume on LUN 3, as test-move-storage-live.sh sets them up. A
# guest whose writer writes its hot-plugged disk mirrors to volume 2,
# paced by storage-move-bandwidth so each failure lands mid-copy:
#  1. volume 2's LUN removed from the target (tgtadm) mid-mirror: QEMU's
#     writes to the target fail, the job ends with an error, the move
#     fails saying so; the LUN comes back;
#  2. volume 2's LUN made read-only on the target mid-mirror: the target
#     refuses the mirror's writes (a write error as QEMU reports it);
#  3. lunbridge's worker on the VM's node SIGKILLed mid-mirror: the
#     supervisor starts another, the kernel re-sends what was in flight;
#     the VM's source disk survives (same boot, disk=ok).
# After each: the VM runs on the same boot with disk=ok and new writes,
# the definition names one volume only (the source after a failure), the
# target's space is back (the LUN returns while clusterd's undo retries),
# both volumes check clean, and the VM holds exactly one lease (sanlock).
# Last, storage-move-copy-mode write-blocking: a move while the guest
# writes converges and hvagent asked QEMU for copy-mode write-blocking.
# kvmc-timeout: 360
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_require_stack
sb_init mvfail
vm_up_volumes2
CTL=$KVMC_BUILDDIR/cli/clusterctl
t0=$(sb_now_ms)

# web1: a boot disk with 24 random MiB (QEMU's mirror skips zeroes: these
# are what the paced copy spends seconds on) and a disk the writer uses.
vm_add_writer web1 64 24
out=$(cdctl node1 vm disk add web1 --size 8M 2>&1) || fail "vm disk add: $out"
vm_fill_random web1 vda 24
out=$(cdctl node1 vm start web1) || fail "vm start: $out"
src=$(vm_where node1 web1)
[ -n "$src" ] || fail "web1 runs nowhere after start"

disk_last() { vm_disk_last "$src" web1; }
disk_ok() { vm_disk_ok "$src" web1 "$1"; }
dw() { disk_last | cut -d' ' -f2; }
def_now() { cdctl node1 vm show web1 | grep -E "<disk|<extent"; }
mv_status() { cdctl "$src" move-storage web1 --status 2>&1; }
hva_says() { grep -c "VM 'web1': storage mirror $1" "$KVMC_SANDBOX_DIR/$src/hvagent.out"; }
# The VM leases sanlock holds on web1's node (web1 runs there alone):
# exactly one, in volume VOL's lockspace.
one_lease() {
    local r
    r=$(sb_exec "$src" sanlock client status 2>/dev/null | grep "^r [^:]*:vm-slot-")
    [ "$(grep -c . <<<"$r")" = 1 ] || fail "$src holds not one VM lease ($2): $r"
    grep -q "^r $1:" <<<"$r" || fail "web1's lease is not in $1's lockspace ($2): $r"
}
# The guest after a move ended (LABEL): 20 more writes, no disk error,
# the same boot, one lease in volume VOL's lockspace, both volumes clean.
healthy() { # VOL LABEL
    local w
    w=$(dw)
    vm_writer_on "$src" web1 "$boot0" $((w + 20)) "($2)"
    one_lease "$1" "$2"
    vm_volumes_clean "$2"
}
sb_wait_for 60 disk_ok 50 || fail "writer on $src: $(disk_last)"
vm_disk_no_fail "$src" web1
boot0=$(vm_last_boot "$src" web1)
one_lease "$V1" "at start"
sb_log "web1 runs on $src, writer ok"
# --status asked of the other node names the VM's node.
other=node1
[ "$src" = node1 ] && other=node2
elsewhere=$(cdctl "$other" move-storage web1 --status 2>&1) && fail "--status on $other answered: $elsewhere"
grep -q "it runs on node '$src'" <<<"$elsewhere" || fail "--status on $other does not name $src: $elsewhere"

# Sets a paced mirror of web1 to volume 2 going and returns once QEMU
# copies (jobs started, not READY).
out=$(cdctl node1 config set storage-move-bandwidth 1 2>&1) || fail "config set: $out"
mirror_copying() {
    local started ready
    started=$(hva_says "of 2 disk(s) started")
    ready=$(hva_says ready)
    out=$(cdctl "$src" move-storage web1 --to-volume "$V2" --no-wait 2>&1) || fail "move-storage ($1): $out"
    sb_wait_for 20 eval 'mv_status | grep -q "copying, " &&
        [ "$(hva_says "of 2 disk(s) started")" = $((started + 1)) ] &&
        [ "$(hva_says ready)" = "$ready" ]' ||
        fail "the mirror ($1) does not copy: $(mv_status)"
    AT=$(mv_status)
    nfail=$(hva_says failed)
    nready=$(hva_says ready)
}
# Where QEMU's job was when it failed: copying, or in step (READY) and
# clusterd about to switch.
phase() {
    if [ "$(hva_says ready)" = "$nready" ]; then echo "mid-copy"; else echo "after READY, before the switch"; fi
}
tgt() { sb_exec storage tgtadm --lld iscsi "$@" >>"$KVMC_SANDBOX_DIR/tgtadm-test.log" 2>&1; }
v2_reads() { sb_exec "$1" dd if="$V2_PATH" of=/dev/null bs=4096 count=1 iflag=direct status=none; }
# After a failed move: the VM on volume 1 as before, volume 2's space
# back (clusterd's undo retries while the LUN is away), both clean.
after_failure() {
    [ "$(def_now)" = "$def1" ] || fail "the failed move ($1) changed the definition: $(def_now)"
    sb_wait_for 30 eval '[ "$(vm_free_mib "$V2_PATH")" = "$V2_FREE0" ]' ||
        fail "the failed move ($1) left space taken on $V2: $V2_FREE0 -> $(vm_free_mib "$V2_PATH") MiB"
    [ "$(vm_free_mib "$SB_CSV_PATH")" = "$v1_free1" ] ||
        fail "the failed move ($1) changed $V1: $v1_free1 -> $(vm_free_mib "$SB_CSV_PATH") MiB"
    healthy "$V1" "$1"
}
def1=$(def_now)
v1_free1=$(vm_free_mib "$SB_CSV_PATH")

# 1. Volume 2's LUN removed from the target mid-mirror, then put back as
# scripts/sandbox made it (same file, sector size and ids).
mirror_copying "LUN removed"
at1=$AT
tf=$(sb_now_ms)
# tgtd refuses while a command of the LUN is queued: retried.
sb_wait_for 10 tgt --mode logicalunit --op delete --tid 1 --lun 3 ||
    fail "tgtadm cannot delete LUN 3: $(tail -n 2 "$KVMC_SANDBOX_DIR/tgtadm-test.log")"
# The LUN comes back once QEMU's job failed, while clusterd's undo still
# retries (20 s): the target is freed, not left as an orphan.
sb_wait_for 60 eval '[ "$(hva_says failed)" = $((nfail + 1)) ]' ||
    fail "the mirror did not fail without its LUN: $(mv_status)"
tf=$(($(sb_now_ms) - tf))
phase1=$(phase)
tgt --mode logicalunit --op new --tid 1 --lun 3 --backing-store "$KVMC_SB_LUN3_FILE" \
    --blocksize "$KVMC_SB_LUN3_SECTOR" || fail "tgtadm cannot re-add LUN 3"
tgt --mode logicalunit --op update --tid 1 --lun 3 \
    --params "scsi_sn=$KVMC_SANDBOX_NAME-lun3,scsi_id=$KVMC_SANDBOX_NAME-lun3" ||
    fail "tgtadm cannot rename LUN 3"
sb_wait_for 60 eval 'mv_status | grep -q failed' || fail "the move did not end after the mirror failed: $(mv_status)"
why1=$(mv_status)
grep -q "storage mirror failed" <<<"$why1" || fail "the failure does not say the mirror failed: $why1"
for n in node1 node2; do
    sb_wait_for 20 v2_reads "$n" || fail "$n does not read $V2 again"
    sb_wait_for 60 vm_volume2_joined "$n" ||
        fail "$n: clusterd does not rejoin $V2's lockspace: $(sb_exec "$n" sanlock client status | grep '^s ')"
done
after_failure "LUN removed"
sb_log "LUN removal: the move failed in $tf ms"

# 2. Volume 2's LUN read-only on the target mid-mirror.
mirror_copying "LUN read-only"
at2=$AT
t2=$(sb_now_ms)
sb_wait_for 10 tgt --mode logicalunit --op update --tid 1 --lun 3 --params readonly=1 ||
    fail "tgtadm cannot make LUN 3 read-only: $(tail -n 2 "$KVMC_SANDBOX_DIR/tgtadm-test.log")"
sb_wait_for 60 eval '[ "$(hva_says failed)" = $((nfail + 1)) ]' ||
    fail "the mirror did not fail on a read-only LUN: $(mv_status)"
tf2=$(($(sb_now_ms) - t2))
phase2=$(phase)
sb_wait_for 10 tgt --mode logicalunit --op update --tid 1 --lun 3 --params readonly=0 ||
    fail "tgtadm cannot make LUN 3 writable: $(tail -n 2 "$KVMC_SANDBOX_DIR/tgtadm-test.log")"
sb_wait_for 60 eval 'mv_status | grep -q failed' || fail "the move did not end after the mirror failed: $(mv_status)"
why2=$(mv_status)
# Mid-copy, QEMU's job fails first; just after READY, the seal finds
# volume 2's lockspace gone: either way the VM stays on volume 1.
grep -q "the VM runs on volume '$V1' as before" <<<"$why2" || fail "the failure does not say where the VM runs: $why2"
for n in node1 node2; do
    sb_wait_for 60 vm_volume2_joined "$n" ||
        fail "$n: clusterd does not rejoin $V2's lockspace: $(sb_exec "$n" sanlock client status | grep '^s ')"
done
after_failure "LUN read-only"
sb_log "read-only LUN: the move failed in $tf2 ms"

# 3. lunbridge's worker on the VM's node killed mid-mirror. The
# supervisor's next worker serves the same mount; whether the mirror
# survives or fails, the VM must run on one volume with disk=ok.
lbsup=$(cat "$KVMC_SANDBOX_DIR/$src/pids/lunbridge")
worker() { sb_exec "$src" pgrep -P "$lbsup" -x lunbridge | head -n 1; }
w0=$(worker)
[ -n "$w0" ] || fail "no lunbridge worker under supervisor $lbsup on $src"
mirror_copying "lunbridge killed"
# The progress line has the rate over clusterd's window and the end.
sb_wait_for 10 eval 'mv_status | grep -q "MiB/s, \([0-9].* left\|finishing\)"' ||
    fail "no rate and expected end in the progress: $(mv_status)"
at3=$(mv_status)
sb_exec "$src" kill -KILL "$w0" || fail "kill -KILL lunbridge worker $w0"
sb_wait_for 20 eval 'w=$(worker); [ -n "$w" ] && [ "$w" != "$w0" ]' ||
    fail "the supervisor did not start another lunbridge worker"
sb_wait_for 60 eval 'mv_status | grep -q "failed\|moved"' || fail "the move did not end after lunbridge's kill: $(mv_status)"
why3=$(mv_status)
if grep -q failed <<<"$why3"; then
    after_failure "lunbridge killed"
    on=$V1
    outcome="failed, the VM on $V1"
else
    def_now | grep -q "volume=\"$V1\"" && fail "the move after lunbridge's kill left $V1 in the definition: $(def_now)"
    sb_wait_for 30 eval '[ "$(vm_free_mib "$SB_CSV_PATH")" = "$V1_FREE0" ]' ||
        fail "$V1's space not back after the move: $(vm_free_mib "$SB_CSV_PATH") MiB"
    healthy "$V2" "lunbridge killed, moved"
    on=$V2
    outcome="completed, the VM on $V2"
fi
out=$(cdctl node1 config set storage-move-bandwidth 0 2>&1) || fail "config set: $out"
sb_log "lunbridge killed: $outcome"

# 4. copy-mode write-blocking: the move converges while the guest writes.
to=$V2
[ "$on" = "$V2" ] && to=$V1
out=$(cdctl node1 config set storage-move-copy-mode write-blocking 2>&1) || fail "config set: $out"
wb=$(hva_says "of 2 disk(s) started (write-blocking)")
dwb=$(dw)
tw=$(sb_now_ms)
out=$(cdctl "$src" move-storage web1 --to-volume "$to" 2>&1) || fail "write-blocking move: $out"
tw=$(($(sb_now_ms) - tw))
grep -q "storage moved to volume '$to'" <<<"$out" || fail "move-storage said: $out"
[ "$(hva_says "of 2 disk(s) started (write-blocking)")" = $((wb + 1)) ] ||
    fail "hvagent did not ask QEMU for copy-mode write-blocking: $(grep 'storage mirror of' "$KVMC_SANDBOX_DIR/$src/hvagent.out")"
dwa=$(dw)
def_now | grep -q "volume=\"$to\"" || fail "the CDB's definition does not name $to: $(def_now)"
healthy "$to" "write-blocking"

out=$(cdctl node1 vm stop web1) || fail "vm stop: $out"
sb_wait_for 30 eval '[ "$(vm_qemu_count web1)" = 0 ]' || fail "web1's QEMU did not stop"
out=$(cdctl node1 vm remove web1 2>&1) || fail "vm remove: $out"
sb_wait_for 10 eval '[ "$(vm_free_mib "$SB_CSV_PATH")" = "$V1_FREE0" ] && [ "$(vm_free_mib "$V2_PATH")" = "$V2_FREE0" ]' ||
    fail "space not back after vm remove: $V1 $(vm_free_mib "$SB_CSV_PATH"), $V2 $(vm_free_mib "$V2_PATH") MiB"
vm_volumes_clean "after vm remove"

echo "PROOF: web1 running on $src, mirrors to $V2 paced to 1 MiB/s: LUN 3 removed from the target at '${at1#*: }' -> QEMU's job failed $phase1 $tf ms after the cut, the move failed ('$(head -c 150 <<<"${why1#*: }")'); LUN 3 read-only at '${at2#*: }' -> QEMU's job failed $phase2 $tf2 ms after, the move failed ('$(head -c 150 <<<"${why2#*: }")'); after each the definition unchanged, $V2 back to $V2_FREE0 MiB free, one lease on $V1, same boot with disk=ok, both volumes clean; lunbridge worker $w0 on $src killed at '${at3#*: }': the move $outcome, same boot, disk=ok, one lease, both clean; copy-mode write-blocking: moved to $to in $tw ms while writing (dw=$dwb -> $dwa), QEMU asked for write-blocking, one lease on $to; vm remove gave both volumes their space back; --status on $other: '${elsewhere#*: }'; $(($(sb_now_ms) - t0)) ms in all"
