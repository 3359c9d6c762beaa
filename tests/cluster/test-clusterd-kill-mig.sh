#!/usr/bin/env bash
# clusterd killed (SIGKILL) and restarted on the source node during a live
# migration of a guest with a large working set (128 MiB dirtied at 32
# MiB/s, bandwidth capped at 32 MiB/s so pre-copy takes a while): hvagent carries the
# migration on without clusterd, the cluster fails the action whose
# executor left and derives from what the hvagents report, and the
# restarted clusterd announces what runs. The migration finishes or rolls
# back; either way the VM runs exactly once at the end, without a reboot,
# and every node's hvagent, sampled every ~200 ms, never shows two nodes
# running it.
# kvmc-timeout: 480
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
# shellcheck disable=SC2034 # read by lib/vm.sh
VM_WSS=128
# shellcheck disable=SC2034
VM_RATE=32
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_init cokmig
vm_up 3
N="node1 node2 node3"
VM=km1

vm_define $VM high 256
cdctl node1 config set migration-bandwidth 32 >/dev/null || fail "config set migration-bandwidth"
cdctl node1 vm add "$VM_DIR/$VM.xml" >/dev/null || fail "vm add"
out=$(cdctl node1 vm start $VM) || fail "vm start: $out"
src=$(vm_where node1 $VM)
[ -n "$src" ] || fail "$VM runs nowhere after vm start"
sb_wait_for 60 vm_ticking $src $VM || fail "guest does not tick on $src"
boot=$(vm_last_boot $src $VM)
dst=node2
[ "$src" = node2 ] && dst=node3
sb_log "$VM runs on $src (boot $boot); moving it to $dst"

declare -A holder
for n in $N; do
    read -r holder[$n] _ <"$KVMC_SANDBOX_DIR/$n/holder" || fail "no holder pid of $n"
done
hva_state() {
    nsenter -t "${holder[$1]}" -m -n -p -u -- "$KVMC_BUILDDIR/hvagent/hvactl" status 2>/dev/null |
        grep -o "<vm name=\"$VM\"[^>]*state=\"[a-z]*\"" | sed 's/.*state="\([a-z]*\)"/\1/'
}
samples=$KVMC_SANDBOX_DIR/samples
: >"$samples"
sampler() {
    local n line st
    while :; do
        line=$(date +%s%3N)
        for n in $N; do
            st=$(hva_state $n)
            line="$line ${st:--}"
        done
        echo "$line" >>"$samples"
        sleep 0.1
    done
}
sampler &
spid=$!
trap 'rc=$?; kill $spid 2>/dev/null; (exit $rc); sb_cleanup' EXIT

for n in $N; do f=$(vm_serial $n $VM); [ "$n" = "$src" ] || [ ! -f "$f" ] || : >"$f"; done
# The client on the node that is neither source nor target.
for cli in $N; do [ "$cli" = "$src" ] || [ "$cli" = "$dst" ] || break; done
cdctl $cli move-vm $VM --to $dst --live >"$KVMC_SANDBOX_DIR/move.out" 2>&1 &
mpid=$!
sb_wait_for 30 eval '[ "$(hva_state $src)" = migrating ]' ||
    fail "no migration under way on $src: $(cat "$KVMC_SANDBOX_DIR/move.out")"
sleep 1 # well inside pre-copy (the bandwidth cap makes it last)
[ "$(hva_state $src)" = migrating ] || sb_log "(the migration ended within a second of starting)"
sb_log "killing clusterd on $src"
t0=$(sb_now_ms)
cd_kill $src KILL
vm_cd_start $src
cd_wait_started $src
restart_ms=$(($(sb_now_ms) - t0))
sb_wait_for 60 cd_converged 3 $N || fail "no convergence after the restart: $(cd_views $N)"
sb_log "clusterd back on $src after $restart_ms ms, cluster converged"

# The end: one place, one QEMU, ticking on, no action left.
settled() {
    local w n
    w=$(vm_where node1 $VM)
    [ -n "$w" ] && [ -z "$(vm_field node1 $VM action)" ] || return 1
    for n in $N; do [ "$(vm_where $n $VM)" = "$w" ] || return 1; done
    [ "$(vm_qemus $VM | sed 's/:[0-9]*//')" = "$w" ] && vm_ticking "$w" $VM
}
sb_wait_for 180 settled ||
    fail "VM not settled: where $(vm_where node1 $VM) / $(vm_where node2 $VM), action '$(vm_field node1 $VM action)', QEMUs $(vm_qemus $VM); $(cdctl node2 vm show $VM)"
end_ms=$(($(sb_now_ms) - t0))
# The client that asked for the move gets an answer too.
sb_wait_for 30 eval "! kill -0 $mpid" ||
    fail "move-vm client still waiting 30 s after the VM settled: $(tail -n 3 "$KVMC_SANDBOX_DIR/move.out")"
wait $mpid
mrc=$?
sb_log "move-vm (exit $mrc): $(tail -n 2 "$KVMC_SANDBOX_DIR/move.out" | paste -sd' ')"
w=$(vm_where node1 $VM)
assert_eq "$boot" "$(vm_last_boot "$w" $VM)" "boot id on $w (rebooted?)"
sleep 1 # a few more samples of the settled state
kill $spid 2>/dev/null
wait $spid 2>/dev/null
# A migrating source beside its resumed target is the switchover (see
# test-move-pairs.sh); two running nodes or two sources are two copies.
bad=$(awk '{ r = 0; m = 0; for (i = 2; i <= NF; i++) { if ($i ~ /^(running|starting)$/) r++; if ($i ~ /^(migrating|saving)$/) m++ } if (r > 1 || m > 1) print }' "$samples" | head -n 3)
[ -z "$bad" ] || fail "two nodes ran $VM at once: $bad"
nsamples=$(wc -l <"$samples")
period=$(awk 'NR == 1 { f = $1 } { l = $1 } END { print int((l - f) / (NR > 1 ? NR - 1 : 1)) }' "$samples")
if [ "$w" = "$dst" ]; then
    outcome="finished ($src -> $dst)"
elif [ "$w" = "$src" ]; then
    outcome="rolled back (stayed on $src)"
else
    fail "$VM ended on $w, neither source $src nor target $dst"
fi
proof "clusterd SIGKILLed on the source during a live migration of a 128 MiB working set, back in $restart_ms ms: the migration $outcome, settled after $end_ms ms, same boot id, one QEMU; $nsamples samples of 3 hvagents (one per $period ms), never two running"
