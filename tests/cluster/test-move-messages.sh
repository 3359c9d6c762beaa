#!/usr/bin/env bash
# Messages of two mistakes and faults (issue 9 item 6):
# - vm add of a VM larger than every node is refused because no node could
#   ever run it (VM, its memory, the largest node and its memory), not for
#   lack of room on the volume;
# - the source's hvagent SIGKILLed during a live move: move-vm fails with
#   a sentence naming the VM, the node and the request, never the raw IPC
#   request, and does not claim the VM "is now migrating" there when no
#   move is in progress.
# kvmc-timeout: 400
# kvmc-light: no guest, a few daemons; runs beside the alone tests
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_init comsg
vm_up 2
VM=mm1

# 1. Larger than any node.
big=$(cdctl node1 node list --output xml | sed -n 's/.* memory-mib="\([0-9]*\)".*/\1/p' | sort -n | tail -n1)
[ -n "$big" ] && ((big > 0)) || fail "no node memory in 'node list': $(cdctl node1 node list --output xml)"
vm_define huge high $((big * 2))
out=$(cdctl node1 vm add "$VM_DIR/huge.xml" 2>&1) && fail "vm add of a VM of $((big * 2)) MiB succeeded"
[[ $out == *"VM 'huge' needs $((big * 2)) MiB of memory, but the largest node ("*") has $big MiB: no node could ever run it"* ]] ||
    fail "vm add of a too large VM said: $out"
[[ $out != *"room"* && $out != *"space"* ]] || fail "the refusal still blames the volume: $out"
cdctl node1 vm show huge >/dev/null 2>&1 && fail "VM huge is in the CDB"
msg_big=$out

# 2. hvagent lost mid-move. A slow migration (4 MiB/s) leaves time to kill.
cdctl node1 config set migration-bandwidth 4 >/dev/null || fail "config set migration-bandwidth"
VM_WSS=64 vm_define $VM high 256
cdctl node1 vm add "$VM_DIR/$VM.xml" >/dev/null || fail "vm add $VM"
out=$(cdctl node1 vm start $VM) || fail "vm start: $out"
src=$(vm_where node1 $VM)
dst=node1
[ "$src" = node1 ] && dst=node2
cdctl node1 move-vm $VM --to $dst --live >"$KVMC_SANDBOX_DIR/move.out" 2>&1 &
mpid=$!
migrating() { sb_exec "$src" "$KVMC_BUILDDIR/hvagent/hvactl" status | grep -q "name=\"$VM\"[^>]*state=\"migrating\""; }
sb_wait_for 60 migrating || fail "$VM does not migrate on $src: $(cat "$KVMC_SANDBOX_DIR/move.out")"
sb_exec "$src" kill -KILL "$(cat "$KVMC_SANDBOX_DIR/$src/pids/hvagent")" || fail "kill hvagent on $src"
sb_log "hvagent of $src killed during the move"
wait $mpid && fail "move-vm succeeded without the source's hvagent: $(cat "$KVMC_SANDBOX_DIR/move.out")"
out=$(cat "$KVMC_SANDBOX_DIR/move.out")
sb_log "move-vm said: $out"
[[ $out != *"<request"* ]] || fail "move-vm printed the raw IPC request: $out"
[[ $out == *"node '$src': hvagent did not answer its migrate-out request for VM '$VM'"* ]] ||
    fail "move-vm does not name the node, the request and the VM: $out"
[[ $out != *"is now migrating"* ]] || fail "move-vm claims the VM is migrating: $out"
last=$(tail -n1 <<<"$out")
# Back to a working node for the cleanup.
vm_hva_start "$src"
proof "vm add of $((big * 2)) MiB refused: '$msg_big'; hvagent of $src killed mid-move: '$last'"
