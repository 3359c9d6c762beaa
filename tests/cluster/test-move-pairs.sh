#!/usr/bin/env bash
# move-vm --live around every ordered pair of 3 nodes (node1 -> node2 ->
# node3 -> node1 -> node3 -> node2 -> node1 covers all six), then one
# --quick hop. After each hop: the guest counter continued on the target
# without a reboot, one QEMU left, every node agrees where the VM runs.
# Throughout, every node's hvagent is sampled every 200 ms: at no sample
# do two nodes run the VM (running or starting; a migrating source beside
# its resumed target is the switchover, see below).
# kvmc-alone: measures time closely or loads the whole machine
# kvmc-timeout: 600
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_init copairs
vm_up 3
N="node1 node2 node3"
VM=mp1

vm_define $VM high 128
cdctl node1 vm add "$VM_DIR/$VM.xml" >/dev/null || fail "vm add"
out=$(cdctl node1 vm start $VM) || fail "vm start: $out"
src=$(vm_where node1 $VM)
if [ "$src" != node1 ]; then
    out=$(cdctl node1 move-vm $VM --to node1 --live) || fail "move to node1: $out"
    src=node1
fi
sb_wait_for 30 vm_ticking node1 $VM || fail "guest does not tick on node1"
boot=$(vm_last_boot node1 $VM)

# "T n1state n2state n3state" per sample, from each node's hvagent.
samples=$KVMC_SANDBOX_DIR/samples
: >"$samples"
# Straight into each node's namespaces (its holder process), not through
# scripts/sandbox: a sample of 3 nodes then takes a few ms, not a second.
declare -A holder
for n in $N; do
    read -r holder[$n] _ <"$KVMC_SANDBOX_DIR/$n/holder" || fail "no holder pid of $n"
done
sampler() {
    local n line st
    while :; do
        line=$(date +%s%3N)
        for n in $N; do
            st=$(nsenter -t "${holder[$n]}" -m -n -p -u -- \
                "$KVMC_BUILDDIR/hvagent/hvactl" status 2>/dev/null |
                grep -o "<vm name=\"$VM\"[^>]*state=\"[a-z]*\"" | sed 's/.*state="\([a-z]*\)"/\1/')
            line="$line ${st:--}"
        done
        echo "$line" >>"$samples"
        sleep 0.1 # + ~100 ms of sampling: one sample per ~200 ms
    done
}
sampler &
spid=$!
trap 'rc=$?; kill $spid 2>/dev/null; (exit $rc); sb_cleanup' EXIT

clear_others() {
    local n f
    for n in $N; do
        f=$(vm_serial "$n" $VM)
        [ "$n" = "$1" ] || [ ! -f "$f" ] || : >"$f"
    done
}

# hop FROM TO MODE
hop() {
    local from=$1 to=$2 mode=$3 a b out dt
    clear_others "$from"
    out=$(cdctl node3 move-vm $VM --to "$to" --"$mode") || fail "move-vm $from -> $to --$mode: $out"
    dt=$(sed -n "s/^VM '$VM' moved .* downtime \([0-9]*\) ms.*/\1/p" <<<"$out")
    for n in $N; do
        sb_wait_for 5 eval "[ \"\$(vm_where $n $VM)\" = $to ]" ||
            fail "$n says $VM runs on '$(vm_where $n $VM)', expected $to"
    done
    sb_wait_for 20 vm_ticking "$to" $VM || fail "guest does not tick on $to"
    a=$(vm_last_tick "$from" $VM)
    b=$(vm_ticks "$to" $VM | head -n1 | cut -d' ' -f1)
    [ -n "$a" ] && [ -n "$b" ] && ((b > a)) ||
        fail "counter did not continue $from -> $to: '$a' then '$b'"
    assert_eq "$boot" "$(vm_last_boot "$to" $VM)" "boot id after $from -> $to (rebooted?)"
    sb_wait_for 10 eval "[ \"\$(vm_qemus $VM | sed 's/:[0-9]*//')\" = $to ]" ||
        fail "QEMUs of $VM after $from -> $to: $(vm_qemus $VM)"
    HOPS="$HOPS ${from#node}>${to#node}:${a}>${b}/${dt:-?}ms"
}

HOPS=
prev=node1
for next in node2 node3 node1 node3 node2 node1; do
    hop $prev $next live
    prev=$next
done
live_hops=$HOPS
HOPS=
hop node1 node2 quick
quick_hop=$HOPS

kill $spid 2>/dev/null
wait $spid 2>/dev/null
nsamples=$(wc -l <"$samples")
((nsamples >= 20)) || fail "only $nsamples samples"
# A source reports "migrating" until its hvagent has seen the completion,
# which may be after the target resumed (the source's vCPUs stopped at
# completion, before the lease handoff that lets the target resume): a
# migrating source beside a running target is the switchover, not two
# copies. Two running (or starting) nodes, or two sources, are.
bad=$(awk '{ r = 0; m = 0; for (i = 2; i <= NF; i++) { if ($i ~ /^(running|starting)$/) r++; if ($i ~ /^(migrating|saving)$/) m++ } if (r > 1 || m > 1) print }' "$samples" | head -n 3)
[ -z "$bad" ] || fail "two nodes ran $VM at once: $bad"
seen=$(awk '/ (running|migrating)( |$)/ { n++ } END { print n + 0 }' "$samples")
sb_log "samples: $(head -n 3 "$samples" | paste -sd';') ... $seen of $nsamples see $VM run"
# The samples must see the VM (else "never two" proves nothing); the quick
# hop keeps it down for its downtime (1-3 s under load, up to 15 samples).
((seen * 10 >= nsamples * 6)) || fail "only $seen of $nsamples samples see $VM run anywhere"
gaps=$(awk 'NR > 1 && $1 - p > 1500 { n++ } { p = $1 } END { print n + 0 }' "$samples")
period=$(awk 'NR == 1 { f = $1 } { l = $1 } END { print int((l - f) / (NR > 1 ? NR - 1 : 1)) }' "$samples")
proof "live around all 6 ordered pairs (from>to:tick>tick/downtime):$live_hops; quick:$quick_hop; same boot id throughout, one QEMU after each hop; $nsamples samples of all 3 hvagents (one per $period ms, $gaps gaps > 1.5 s, $seen see it run), never two nodes running $VM"
