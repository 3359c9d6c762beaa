#!/usr/bin/env bash
# Node-local storage (issue 15, first part), on 2 nodes (votequorum
# two_node), without the CSV: a directory of node1 becomes local volume
# loc1 (refused by name first: asked on node2, an unknown node, a path
# that is not a directory); the same directory, which node2 also sees
# (the sandbox's file system is shared, as an NFS mount would be), is
# refused as node2's volume: its marker names node1. VM lv1 with its
# disk on loc1 (and node2 as preferred owner) starts on node1, its disk
# file made there, and the guest's disk writer writes and reads back
# its blocks (disk=ok). move-vm to node2 is refused naming the volume and
# the node (--quick: it runs on node1 only; --live: node2 has no local
# volume to copy its disks to, cd_local_move_target; once loc2 is added
# on node2: the move to loc2 of node2, chosen or named, is not available
# yet, and nothing is made there); vm edit leaving node1 out of its
# possible owners is refused; node2's hvagent, handed lv1's runtime definition, refuses it
# too. A drain of node1 leaves lv1 there and says so. node1 is killed: lv1 is not started on node2 (no QEMU of it there
# at any sample) and status and explain on node2 say why ("not failed
# over").
# kvmc-timeout: 240
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_require_stack
sb_init local
# shellcheck disable=SC2034 # read by lib/vm.sh: no CSV is needed here
VM_CSV=0
vm_up 2
t_up=$(sb_now_ms)

LDIR=$KVMC_SANDBOX_DIR/local1
mkdir -p "$LDIR"

# Refusals, each naming its input; nothing is added.
refused() { # refused NODE PATTERN ARGS...: the command fails saying PATTERN
    local node=$1 pat=$2 out
    shift 2
    out=$(cdctl "$node" "$@" 2>&1) && fail "accepted: clusterctl $*: $out"
    grep -q -- "$pat" <<<"$out" || fail "clusterctl $* said: $out"
}
refused node2 "volume 'loc1' is a directory of node 'node1': run this command on node 'node1'" \
    volume add loc1 --local --node node1 --path "$LDIR"
refused node1 "node 'node9' does not exist" \
    volume add loc1 --local --node node9 --path "$LDIR"
refused node1 "path '$LDIR/nope' is not a directory on node 'node1'" \
    volume add loc1 --local --node node1 --path "$LDIR/nope"
[ ! -e "$LDIR/.kvmcluster-local" ] || fail "a refusal left a marker"
out=$(cdctl node1 volume add loc1 --local --node node1 --path "$LDIR" 2>&1) ||
    fail "volume add --local: $out"
grep -q "local volume 'loc1' ($LDIR on node 'node1') added" <<<"$out" ||
    fail "volume add said: $out"
grep -qx "kvmcluster-local-volume loc1 node1" "$LDIR/.kvmcluster-local" ||
    fail "marker: $(cat "$LDIR/.kvmcluster-local")"
refused node2 "already marked as a local volume" \
    volume add loc2 --local --node node2 --path "$LDIR"
cdctl node2 volume list | grep -q "^loc1 .*local to node 'node1': $LDIR" ||
    fail "volume list: $(cdctl node2 volume list)"

sb_log "volume added"
# lv1: its disk (slot 24, the writer's) on loc1; node2 preferred, which
# placement must ignore.
vm_define lv1 high 64 '<preferred-owners><node>node2</node></preferred-owners>'
sed -i -e 's|<vcpus>1</vcpus>|<vcpus>1</vcpus>\n  <disk target="vda" slot="24"><allocate volume="loc1" size="8" unit="MiB"/></disk>|' \
    -e 's|<cmdline>\(.*\)</cmdline>|<cmdline>\1 disk=256 dslot=24 dblocks=64</cmdline>|' \
    "$VM_DIR/lv1.xml"
out=$(cdctl node2 vm add "$VM_DIR/lv1.xml" 2>&1) || fail "vm add lv1: $out"
refused node1 "volume 'loc1' holds VM 'lv1'" cdb remove-volume loc1
out=$(cdctl node2 vm start lv1) || fail "vm start lv1: $out"
sb_wait_for 30 eval '[ "$(vm_where node1 lv1)" = node1 ]' ||
    fail "lv1 is not on node1: '$(vm_where node1 lv1)'; $(cdctl node1 explain lv1)"
sb_wait_for 40 vm_disk_ok node1 lv1 64 || fail "writer on node1: $(vm_disk_last node1 lv1)"
vm_disk_no_fail node1 lv1
dw=$(vm_disk_last node1 lv1 | cut -d' ' -f2)
img=$LDIR/lv1/vda.img
[ "$(stat -c %s "$img")" = $((8 << 20)) ] || fail "disk file: $(ls -l "$LDIR/lv1")"
sb_exec node1 pgrep -a -x qemu-system-x86 | grep -q "virtio-blk-pci,drive=hp24,id=hp24,addr=0x18" ||
    fail "node1's QEMU has no disk at slot 24"

sb_log "lv1 writes its disk on node1"
# Nowhere else: clusterd refuses the move, hvagent the definition.
refused node2 "VM 'lv1' is on node-local volume 'loc1' of node 'node1': it cannot run on node 'node2'" \
    move-vm lv1 --to node2 --quick
# live: its disks would be copied, but node2 has no local volume for them
refused node2 "VM 'lv1' is on node-local volume 'loc1': node 'node2' has no local volume to copy its disks to" \
    move-vm lv1 --to node2 --live
refused node1 "move-storage of a VM on a local volume is not available yet" \
    move-storage lv1 --to-volume loc1
# node2 gets a local volume: the live move's target is chosen (the one
# there, or named), then refused as not available yet; nothing is made.
LDIR2=$KVMC_SANDBOX_DIR/local2
mkdir -p "$LDIR2"
out=$(cdctl node2 volume add loc2 --local --node node2 --path "$LDIR2" 2>&1) ||
    fail "volume add loc2: $out"
refused node1 "a live migration with storage copy to volume 'loc2' of node 'node2' is not available yet" \
    move-vm lv1 --to node2 --live
refused node2 "its disks go to volume 'loc2' of node 'node2' only with the VM" \
    move-vm lv1 --to node2 --live --to-volume loc2
[ "$(ls -A "$LDIR2")" = .kvmcluster-local ] ||
    fail "the refused moves left something on loc2: $(ls -A "$LDIR2")"
# An edit that leaves node1 out of the possible owners: it could never run.
sed 's|<preferred-owners><node>node2</node></preferred-owners>|<possible-owners><node>node2</node></possible-owners>|' \
    "$VM_DIR/lv1.xml" >"$VM_DIR/lv1-edit.xml"
grep -q possible-owners "$VM_DIR/lv1-edit.xml" || fail "no edit made: $(cat "$VM_DIR/lv1-edit.xml")"
refused node2 "node-local volume 'loc1' of node 'node1', which is not among its possible owners" \
    vm edit lv1 "$VM_DIR/lv1-edit.xml"
def=$KVMC_SANDBOX_DIR/node1/hva/vm/$(vm_uuid lv1)/def.xml
grep -q "<local volume=\"loc1\" node=\"node1\" path=\"$LDIR\"/>" "$def" ||
    fail "runtime definition: $(cat "$def")"
out=$(sb_exec node2 "$KVMC_BUILDDIR/hvagent/hvactl" define "$def" 2>&1) &&
    fail "node2's hvagent defined lv1: $out"
grep -q "VM 'lv1' is on node-local volume 'loc1' of node 'node1': it cannot run on node 'node2'" <<<"$out" ||
    fail "node2's hvagent said: $out"

sb_log "refusals done"
# A drain of node1 leaves lv1 there, and says so.
refused node2 "drained but VM(s) lv1 still run there" node drain node1
ex=$(cdctl node2 explain lv1 2>&1) || fail "explain: $ex"
grep -q "it cannot move: VM 'lv1' is on node-local volume 'loc1' of node 'node1' (drained): it runs on no other node" <<<"$ex" ||
    fail "explain after the drain: $ex"
[ "$(vm_where node2 lv1)" = node1 ] || fail "lv1 left node1: '$(vm_where node2 lv1)'"
[ -z "$(vm_qemus lv1 | tr ' ' '\n' | grep node2)" ] || fail "lv1 runs on node2 after the drain"
out=$(cdctl node2 node resume node1 2>&1) || fail "node resume: $out"

# node1 dies: lv1 stays down, and the survivors say why. A sampler looks
# every 200 ms for a QEMU of lv1 in node2's PID namespace (read from the
# root namespace: an nsenter per sample is too slow on a loaded machine).
sb_log "killing node1"
uuid=$(vm_uuid lv1)
ns2=$(sb_exec node2 readlink /proc/self/ns/pid) || fail "node2's PID namespace"
samples=$KVMC_SANDBOX_DIR/lv1-samples
touch "$samples.run"
(
    # Ends by itself within 90 s should the test fail before it stops it.
    end=$(($(date +%s) + 90))
    while [ -e "$samples.run" ] && (($(date +%s) < end)); do
        n=0
        for p in $(pgrep -x qemu-system-x86); do
            [ "$(readlink "/proc/$p/ns/pid" 2>/dev/null)" = "$ns2" ] &&
                tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q "$uuid" &&
                n=$((n + 1))
        done
        printf '%s %s\n' "$(date +%s%3N)" "$n"
        sleep 0.2
    done
) >"$samples" 2>/dev/null &
sampler=$!
t0=$(sb_now_ms)
sb_kill node1
# shellcheck disable=SC2034 # read by lib/vm.sh
VM_ALL=node2
said() {
    cdctl node2 status 2>/dev/null | grep -q "lv1.*DOWN WITH ITS NODE: VM 'lv1' is on node-local volume 'loc1' of node 'node1': not failed over"
}
sb_wait_for 40 said || fail "status on node2 does not say why lv1 is down: $(cdctl node2 status)"
t_said=$(($(sb_now_ms) - t0))
sb_log "status says why after $t_said ms"
# A few more seconds: nothing starts it later either.
sleep 5
rm -f "$samples.run"
wait "$sampler" 2>/dev/null
n_samples=$(wc -l <"$samples")
((n_samples >= 10)) || fail "only $n_samples samples of node2's QEMUs"
awk '$2 != 0 { exit 1 }' "$samples" || fail "a QEMU of lv1 ran on node2: $(awk '$2 != 0' "$samples" | head -n 3)"
ex=$(cdctl node2 explain lv1 2>&1) || fail "explain: $ex"
grep -q "storage: node-local volume 'loc1' of node 'node1': runs there only, not failed over" <<<"$ex" ||
    fail "explain: $ex"
grep -q "node2 (id 2): does not have its node-local volume 'loc1'" <<<"$ex" || fail "explain: $ex"
line=$(cdctl node2 status | grep "lv1" | head -n 1)

proof "local volume: loc1 ($LDIR, node1) refused on node2/unknown node/missing path and as node2's (marker names node1); lv1 on node1 with vda.img 8 MiB, writer $dw blocks disk=ok; move-vm to node2 (quick: runs on node1 only; live: node2 has no local volume, then with loc2 there: target loc2 chosen and named, not available yet, nothing made) and node2's hvagent refused by name; drain of node1 left it there; node1 killed: $n_samples samples over $(sb_secs $((t_said + 5000))) with no QEMU of lv1 on node2, status said why after $t_said ms: ${line# }; whole test $(sb_secs $(($(sb_now_ms) - t_up))) after the cluster was up"
