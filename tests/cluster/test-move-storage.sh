#!/usr/bin/env bash
# clusterctl move-storage of a stopped VM, on 2 nodes: the sandbox's CSV
# (LUN 1, 512-byte sectors) and a second volume on LUN 3 (4096-byte
# sectors), both added to the cluster. A VM whose guest wrote its disk
# with the disk writer is stopped and moved: its disks, state extent and
# slot are copied to volume 2 (the disk's bytes on volume 2 are those it
# had on volume 1), the CDB names the new extents and slot, volume 1's
# free space is back to what it was before the VM, and the VM starts from
# volume 2 with the writer saying disk=ok again. Both volumes check
# clean. Refusals name the input and change nothing: unknown VM, unknown
# volume, the same volume, a running VM, a target too small (with the
# numbers). A stopped VM's move runs on the node asked: --status on the
# other node says so (a running VM's move asked of another node is passed
# to its node: test-move-storage-live.sh).
# kvmc-timeout: 300
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_require_stack
sb_init mvstor
# Volume 2 on LUN 3 (4096-byte sectors); every node's clusterd joins its
# lockspace by itself (the VM lease and the metadata lease live there).
vm_up_volumes2
CTL=$KVMC_BUILDDIR/cli/clusterctl
t0=$(sb_now_ms)

# web1: a boot disk and a disk in slot 24 the writer uses; 64 MiB of
# memory, so its state extent fits volume 2 beside the disks.
vm_add_writer web1 64
out=$(cdctl node1 vm disk add web1 --size 8M 2>&1) || fail "vm disk add: $out"
vdb_off=$(sed -n 's/.* at offset \([0-9]*\) .*/\1/p' <<<"$out")

disk_last() { vm_disk_last "$1" web1; }
disk_ok() { vm_disk_ok "$1" web1 "$2"; }
no_fail() { vm_disk_no_fail "$1" web1; }
# The first 256 KiB of an extent (the writer's 64 blocks), by digest.
blocks_sum() {
    sb_exec node1 dd if="$1" bs=4096 skip=$(($2 / 4096)) count=64 iflag=direct status=none |
        sha256sum | cut -c1-16
}

sb_log "web1 added"
out=$(cdctl node1 vm start web1) || fail "vm start: $out"
src=$(vm_where node1 web1)
[ -n "$src" ] || fail "web1 runs nowhere after start"
sb_wait_for 60 disk_ok "$src" 100 || fail "writer on $src: $(disk_last "$src")"
no_fail "$src"
dw1=$(disk_last "$src" | cut -d' ' -f2)

sb_log "writer ok"
def_now() { cdctl node1 vm show web1 | grep -E "<disk|<extent"; }
# refused WHAT EXPECTED ARGS...: the command fails saying EXPECTED, and
# neither the definition nor either volume's free space changed.
refusals=""
# baseline: the state refusals are compared with.
baseline() { def0=$(def_now) f1=$(vm_free_mib "$SB_CSV_PATH") f2=$(vm_free_mib "$V2_PATH"); }
refused() {
    local what=$1 want=$2 r
    shift 2
    r=$(cdctl node1 move-storage "$@" 2>&1) && fail "$what accepted: $r"
    grep -qF -- "$want" <<<"$r" || fail "$what: wrong error: $r"
    [ "$(def_now)" = "$def0" ] || fail "$what changed the definition"
    [ "$(vm_free_mib "$SB_CSV_PATH")" = "$f1" ] || fail "$what changed volume 1"
    [ "$(vm_free_mib "$V2_PATH")" = "$f2" ] || fail "$what changed volume 2"
    refusals="$refusals; $what: '$(head -c 100 <<<"${r#clusterctl: }")'"
}
out=$(cdctl node1 vm stop web1) || fail "vm stop: $out"
sb_wait_for 30 eval '[ "$(vm_qemu_count web1)" = 0 ]' || fail "web1's QEMU did not stop"
dw_stop=$(disk_last "$src" | cut -d' ' -f2)
sum1=$(blocks_sum "$SB_CSV_PATH" "$vdb_off")
baseline

sb_log "web1 stopped"
refused "unknown VM" "VM 'web9' does not exist" web9 --to-volume "$V2"
refused "unknown volume" "volume 'nosuch' does not exist" web1 --to-volume nosuch
refused "same volume" "VM 'web1' is already on volume '$V1'" web1 --to-volume "$V1"
# A VM whose state extent alone is larger than volume 2.
vm_define big low 512
out=$(cdctl node1 vm add "$VM_DIR/big.xml" 2>&1) || fail "vm add big: $out"
f1=$(vm_free_mib "$SB_CSV_PATH")
refused "target too small" "volume '$V2' has not enough space for VM 'big' (576 MiB needed, ${V2_FREE0%.*} MiB free" big --to-volume "$V2"
out=$(cdctl node1 vm remove big 2>&1) || fail "vm remove big: $out"

sb_log "refusals done"
# The move.
tm=$(sb_now_ms)
out=$(cdctl node1 move-storage web1 --to-volume "$V2" 2>&1) || fail "move-storage: $out"
tm=$(($(sb_now_ms) - tm))
grep -q "storage moved to volume '$V2'" <<<"$out" || fail "move-storage said: $out"
moved_mib=$(sed -n 's/.*storage moved to .* (\([0-9]*\) MiB copied).*/\1/p' <<<"$out")
def_now | grep -q "volume=\"$V2\"" || fail "the CDB's definition does not name $V2: $(def_now)"
def_now | grep -q "volume=\"$V1\"" && fail "the CDB's definition still names $V1: $(def_now)"
sb_wait_for 10 eval '[ "$(vm_free_mib "$SB_CSV_PATH")" = "$V1_FREE0" ]' ||
    fail "volume 1's space not back: $V1_FREE0 -> $(vm_free_mib "$SB_CSV_PATH") MiB"
v2_free1=$(vm_free_mib "$V2_PATH")
# The writer's blocks on volume 2 are those volume 1 had.
vdb_off2=$(sb_exec node1 "$CTL" volume inspect "$V2_PATH" --output xml 2>/dev/null |
    sed -n 's/.*<extent [^>]*offset="\([0-9]*\)"[^>]*tag="web1-vdb".*/\1/p' | head -n 1)
[ -n "$vdb_off2" ] || fail "no web1-vdb extent on volume 2: $(sb_exec node1 "$CTL" volume inspect "$V2_PATH")"
sum2=$(blocks_sum "$V2_PATH" "$vdb_off2")
[ "$sum1" = "$sum2" ] || fail "vdb's blocks differ after the move: $sum1 on $V1, $sum2 on $V2"

sb_log "moved"
# Started from volume 2: the writer finds its disk and checks it again.
[ ! -f "$(vm_serial "$src" web1)" ] || : >"$(vm_serial "$src" web1)"
out=$(cdctl node1 vm start web1) || fail "vm start after the move: $out"
on=$(vm_where node1 web1)
[ -n "$on" ] || fail "web1 runs nowhere after the move"
# Its disks are passed as file descriptors: of volume 2's LUN only.
qpid=$(sb_exec "$on" pgrep -x qemu-system-x86 | head -n 1)
fds=$(sb_exec "$on" ls -l "/proc/$qpid/fd" | grep -o '/run/kvmcluster/luns/[^ ]*' | sort | uniq -c)
grep -q "$lun3" <<<"$fds" || fail "web1's QEMU has no fd of volume 2's LUN: $fds"
grep -q "${SB_CSV_PATH##*/}" <<<"$fds" && fail "web1's QEMU still has volume 1's LUN open: $fds"
sb_wait_for 60 disk_ok "$on" 100 || fail "writer after the move on $on: $(disk_last "$on")"
no_fail "$on"
dw2=$(disk_last "$on" | cut -d' ' -f2)
out=$(cdctl node1 vm stop web1) || fail "vm stop: $out"
sb_wait_for 30 eval '[ "$(vm_qemu_count web1)" = 0 ]' || fail "web1's QEMU did not stop"

sb_log "restarted and stopped"
vm_volumes_clean "after the move"

# A move back that dies mid-copy: node1's lunbridge (the path of both
# volumes from the node that copies) killed and restarted while the
# copy, paced to 2 MiB/s, is under way. The VM keeps volume 2.
lb_restart() {
    vm_lb_kill "$1" "$SB_CSV_PATH"
    vm_lb_start "$1" "$V2_PATH"
    sb_wait_for 60 vm_volume2_joined "$1" ||
        fail "$1: clusterd does not rejoin $V2's lockspace: $(sb_exec "$1" sanlock client status | grep '^s ')"
}
mv_status() { cdctl node1 move-storage web1 --status 2>&1; }
copying() { mv_status | grep -q "copying, [1-9][0-9]* of"; }
def2=$(def_now)
out=$(cdctl node1 config set storage-move-bandwidth 2 2>&1) || fail "config set: $out"
out=$(cdctl node1 move-storage web1 --to-volume "$V1" --no-wait 2>&1) || fail "move-storage back: $out"
sb_wait_for 20 copying || fail "the move back does not copy: $(mv_status)"
at_kill=$(mv_status)
elsewhere=$(cdctl node2 move-storage web1 --status 2>&1) && fail "--status on node2 of node1's offline move answered: $elsewhere"
grep -q "no storage move on node 'node2' (a stopped VM's storage moves on the node where 'move-storage' was run" <<<"$elsewhere" ||
    fail "--status on node2 of node1's offline move: $elsewhere"
lb_restart node1
sb_wait_for 40 eval 'mv_status | grep -q "failed"' || fail "the move back did not fail: $(mv_status)"
why=$(mv_status)
out=$(cdctl node1 config set storage-move-bandwidth 0 2>&1) || fail "config set: $out"
[ "$(def_now)" = "$def2" ] || fail "the failed move changed the definition: $(def_now)"
sb_wait_for 20 eval '[ "$(vm_free_mib "$SB_CSV_PATH")" = "$V1_FREE0" ]' ||
    fail "the failed move left space taken on volume 1: $V1_FREE0 -> $(vm_free_mib "$SB_CSV_PATH") MiB"
[ "$(vm_free_mib "$V2_PATH")" = "$v2_free1" ] || fail "the failed move changed volume 2: $v2_free1 -> $(vm_free_mib "$V2_PATH") MiB"
vm_volumes_clean "after the failed move"
[ ! -f "$(vm_serial "$on" web1)" ] || : >"$(vm_serial "$on" web1)"
out=$(cdctl node1 vm start web1) || fail "vm start after the failed move: $out"
# node1's sanlock may drop volume 2's lockspace only now, for the renewals
# that failed during the outage: a start there fails and the coordinator
# retries it (elsewhere, or once clusterd has joined again).
# Where it runs is read with the writer's progress: a start that fails
# on node1 leaves it nowhere for a moment before the retry elsewhere.
sb_wait_for 90 eval 'on=$(vm_where node1 web1); [ -n "$on" ] && disk_ok "$on" 50' ||
    fail "web1's writer after the failed move (vm start said: $out): on '${on:-nowhere}': $([ -n "$on" ] && disk_last "$on")"
no_fail "$on"
dw3=$(disk_last "$on" | cut -d' ' -f2)
out=$(cdctl node1 vm stop web1) || fail "vm stop: $out"
sb_wait_for 30 eval '[ "$(vm_qemu_count web1)" = 0 ]' || fail "web1's QEMU did not stop"
# A lockspace that failed during the outage is gone only now: clusterd
# joins it again by itself.
for n in node1 node2; do
    sb_wait_for 60 vm_volume2_joined "$n" ||
        fail "$n: clusterd does not rejoin $V2's lockspace: $(sb_exec "$n" sanlock client status | grep '^s ')"
done
out=$(cdctl node1 vm remove web1 2>&1) ||
    fail "vm remove of the moved VM: $out; node1: $(sb_exec node1 sanlock client status | grep '^s '); node2: $(sb_exec node2 sanlock client status | grep '^s ')"
sb_wait_for 10 eval '[ "$(vm_free_mib "$V2_PATH")" = "$V2_FREE0" ]' ||
    fail "volume 2's space not back after vm remove: $V2_FREE0 -> $(vm_free_mib "$V2_PATH") MiB"
vm_volumes_clean "after vm remove"

echo "PROOF: volume 2 added and its lockspace joined by every clusterd in $V2_JOIN; web1 stopped after $dw_stop disk writes (dw=$dw1 checked ok on $src), moved $V1 (512-byte sectors) -> $V2 (4096-byte sectors): $moved_mib MiB copied in $tm ms, vdb's written blocks identical on both ($sum1), the CDB names $V2, $V1 back to $V1_FREE0 MiB free, $V2 $V2_FREE0 -> $v2_free1 MiB free; started from $V2 on $on, writer disk=ok up to dw=$dw2; both volumes check clean; the move back (node2's --status: '$(head -c 150 <<<"${elsewhere#clusterctl: }")') with node1's lunbridge killed at '${at_kill#*: }' failed ('$(head -c 140 <<<"${why#*: }")'), the VM kept $V2 (definition unchanged, $V1 at $V1_FREE0 MiB free, both clean) and started there (writer ok to dw=$dw3); vm remove gave $V2 its $V2_FREE0 MiB back; $(($(sb_now_ms) - t0)) ms in all$refusals"
