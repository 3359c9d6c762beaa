#!/usr/bin/env bash
# Failover on 3 nodes: node3 runs two VMs (high and low priority) and is
# killed whole (corosync, sanlock, hvagent, QEMUs). The survivors keep
# quorum; the coordinator restarts both VMs on node1/node2, high priority
# first; each runs again (cold boot: a new boot id) no later than
# sanlock's host-dead time (8 x io_timeout + 60 s = 68 s) + 10 s; at no
# sample (every ~200 ms on every node) do two QEMUs run one VM.
# kvmc-alone: measures time closely or loads the whole machine
# kvmc-timeout: 420
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_init cofail
vm_up 3
N="node1 node2 node3"
BOUND_MS=$(((8 * 1 + 60 + 10) * 1000))

vm_define hi1 high 128
vm_define lo1 low 128
for v in hi1 lo1; do
    cdctl node1 vm add "$VM_DIR/$v.xml" >/dev/null || fail "vm add $v"
    out=$(cdctl node2 vm start $v) || fail "vm start $v: $out"
    if [ "$(vm_where node1 $v)" != node3 ]; then
        out=$(cdctl node1 move-vm $v --to node3 --live) || fail "move $v to node3: $out"
    fi
    sb_wait_for 20 vm_ticking node3 $v || fail "$v does not tick on node3"
done
hi_boot=$(vm_last_boot node3 hi1)
lo_boot=$(vm_last_boot node3 lo1)

# Sampler: every QEMU of every live node, ~5 times a second.
samples=$KVMC_SANDBOX_DIR/qemu-samples
sampler() {
    local n line
    while :; do
        line=$(date +%s%3N)
        for n in $N; do
            [ -e "$KVMC_SANDBOX_DIR/$n.dead" ] && continue
            line="$line $(sb_exec "$n" pgrep -a -x qemu-system-x86 2>/dev/null |
                sed -n "s/.*-uuid \([0-9a-f-]*\).*/\1/p" | paste -sd' ')"
        done
        echo "$line" >>"$samples"
        sleep 0.2
    done
}
: >"$samples"
sampler &
spid=$!
trap 'rc=$?; kill $spid 2>/dev/null; (exit $rc); sb_cleanup' EXIT

t0=$(sb_now_ms)
touch "$KVMC_SANDBOX_DIR/node3.dead"
sb_kill node3
VM_ALL="node1 node2"
N="node1 node2"
# Phases, as node1 sees them: start published (detection), running
# (lease wait), ticking (boot).
declare -A t_act t_run t_tick where
while :; do
    now=$(sb_now_ms)
    ((now - t0 < BOUND_MS + 20000)) || break
    for v in hi1 lo1; do
        [ -n "${t_tick[$v]:-}" ] && continue
        [ -z "${t_act[$v]:-}" ] && [ "$(vm_field node1 $v action-to)" = node1 -o "$(vm_field node1 $v action-to)" = node2 ] && t_act[$v]=$((now - t0))
        w=$(vm_where node1 $v)
        if [ -z "${t_run[$v]:-}" ] && [ -n "$w" ] && [ "$w" != node3 ] && [ "$(vm_field node1 $v state)" = running ]; then
            t_run[$v]=$((now - t0))
            where[$v]=$w
        fi
        if [ -n "${t_run[$v]:-}" ] && vm_ticking "${where[$v]}" $v &&
            [ "$(vm_last_boot "${where[$v]}" $v)" != "$([ $v = hi1 ] && echo "$hi_boot" || echo "$lo_boot")" ]; then
            t_tick[$v]=$((now - t0))
        fi
    done
    [ -n "${t_tick[hi1]:-}" ] && [ -n "${t_tick[lo1]:-}" ] && break
    sleep 0.2
done
kill $spid 2>/dev/null
wait $spid 2>/dev/null
for v in hi1 lo1; do
    [ -n "${t_tick[$v]:-}" ] ||
        fail "$v did not run again within $((BOUND_MS / 1000 + 20)) s: act ${t_act[$v]:-} run ${t_run[$v]:-} on ${where[$v]:-}; last reports there: $(vm_ticks "${where[$v]:-node1}" $v | tail -n 2 | paste -sd,) (boot before: $hi_boot/$lo_boot); $(cdctl node1 vm list)"
    ((t_tick[$v] <= BOUND_MS)) ||
        fail "$v ran again after ${t_tick[$v]} ms, more than the bound $BOUND_MS ms"
done
# Never two QEMUs of one VM in one sample.
# Never two QEMUs of one VM in one sample (a line: time, then uuids).
dups=$(awk '{ delete c; for (i = 2; i <= NF; i++) if (c[$i]++) print $1, $i }' "$samples")
[ -z "$dups" ] || fail "two QEMUs of one VM at once: $(head -n 3 <<<"$dups")"
nsamples=$(wc -l <"$samples")
# Priority order: the high VM's start was decided first.
hist_hi=$(cdctl node1 vm show hi1 --output xml | grep -o 'action id="[0-9]*" kind="start" cause="[a-z]*"' | tail -n1)
hist_lo=$(cdctl node1 vm show lo1 --output xml | grep -o 'action id="[0-9]*" kind="start" cause="[a-z]*"' | tail -n1)
id_hi=$(sed 's/action id="\([0-9]*\)".*/\1/' <<<"$hist_hi")
id_lo=$(sed 's/action id="\([0-9]*\)".*/\1/' <<<"$hist_lo")
[ -n "$id_hi" ] && [ -n "$id_lo" ] && ((id_hi < id_lo)) ||
    fail "start order: hi1 '$hist_hi', lo1 '$hist_lo'"
# Priority order of running: the coordinator starts lo1 only once hi1's
# start is done, so lo1's QEMU is younger. Compare the QEMUs' own uptimes
# (cluster-wide 'running' reports may arrive in either order).
vm_start_ms() { # NODE VM: when (our clock) NODE's hvagent started VM's QEMU
    local up now
    now=$(sb_now_ms)
    up=$(sb_exec "$1" "$KVMC_BUILDDIR/hvagent/hvactl" status |
        grep -o "<vm name=\"$2\"[^>]*" | sed -n 's/.* uptime-ms="\([0-9]*\)".*/\1/p')
    [ -n "$up" ] && echo $((now - up))
}
s_hi=$(vm_start_ms "${where[hi1]}" hi1) || fail "no uptime for hi1 on ${where[hi1]}"
s_lo=$(vm_start_ms "${where[lo1]}" lo1) || fail "no uptime for lo1 on ${where[lo1]}"
# 50 ms covers the gap between the two queries.
((s_hi <= s_lo + 50)) || fail "lo1's QEMU started $((s_hi - s_lo)) ms before hi1's"
((t_run[hi1] <= t_run[lo1])) ||
    sb_log "note: lo1 was reported running $((t_run[hi1] - t_run[lo1])) ms before hi1, though started $((s_lo - s_hi)) ms after it"
proof "failover after killing node3 (2 VMs): hi1 -> ${where[hi1]} decided at ${t_act[hi1]} ms, running at ${t_run[hi1]} ms, guest ticking (new boot) at ${t_tick[hi1]} ms; lo1 -> ${where[lo1]} (its start decided after hi1 ran: action ids $id_hi < $id_lo; its QEMU started $((s_lo - s_hi)) ms after hi1's), running ${t_run[lo1]} ms, ticking ${t_tick[lo1]} ms; bound $BOUND_MS ms (sanlock host-dead 68 s + 10 s); $nsamples samples, never two QEMUs of one VM"
