#!/usr/bin/env bash
# Metrics and history on 3 nodes. node1's clusterd writes its metrics
# every second for prometheus-node-exporter's textfile collector, and a
# node-exporter in node1's namespace serves them (the file itself is read
# when Debian's prometheus-node-exporter is not installed). A live move,
# a quick move to node3, then node3 killed whole: after each, the scrape
# shows the counter of that kind up by one and its histograms one sample
# more (live: passes and bytes sent too); after the failover, the
# failover counter is one and its split (detection, lease wait, start)
# adds up to the total within a second, the detection and the lease wait
# plus start match the times this test observed (start published, VM
# running) within a second of the sampling window, the start phase is
# shorter than the lease wait and in the history; the CSV's size and free bytes
# are there; the VM's lease holder follows it (live, quick, failover).
# lunbridge's per-LUN metrics (the sandbox sets its metrics-file): in
# `clusterctl metrics` the session state of every LUN lunbridge's file
# has, logged_in, and OpenMetrics' family name of the reconnect counter;
# not in clusterd's textfile (node-exporter would see them twice).
# Then node1's clusterd is killed and started again:
# `clusterctl history` shows the same actions with the same figures.
# Last, lunbridge is killed on a node without the VM: its file, no longer
# written, leaves `clusterctl metrics` there within seconds (a dead
# lunbridge's last samples would show its LUNs logged in), and clusterd
# logs why.
# kvmc-timeout: 420
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_init cometr
vm_up 3
VM=met1
TEXTDIR=$KVMC_SANDBOX_DIR/node1/textfile
mkdir -p "$TEXTDIR"

# node1's clusterd again, with the metrics file set.
sed -i "/^\[clusterd\]/a metrics-file = $TEXTDIR/kvmcluster.prom\nmetrics-interval = 1" \
    "$KVMC_SANDBOX_DIR/node1/etc-kvmcluster/kvmcluster.conf"
cd_kill node1 KILL
vm_cd_start node1
cd_wait_started node1
sb_wait_for 30 cd_converged 3 node1 node2 node3 ||
    fail "clusterds did not converge: $(cd_views node1 node2 node3)"
sb_wait_for 10 test -s "$TEXTDIR/kvmcluster.prom" ||
    fail "no metrics file: $(tail -n 5 "$KVMC_SANDBOX_DIR/node1/clusterd.out")"

NE=$(command -v prometheus-node-exporter || true)
NE_ADDR=$(vm_node_ip node1):9100
nepid=
if [ -n "$NE" ]; then
    # shellcheck disable=SC2016
    nepid=$(sb_exec node1 bash -c 'setsid "$@" </dev/null >>"$0" 2>&1 & echo $!' \
        "$KVMC_SANDBOX_DIR/node1/node-exporter.out" "$NE" \
        --web.listen-address="$NE_ADDR" --collector.disable-defaults \
        --collector.textfile --collector.textfile.directory="$TEXTDIR")
    trap 'rc=$?; [ -n "$nepid" ] && sb_exec node1 kill "$nepid" 2>/dev/null; (exit $rc); sb_cleanup' EXIT
fi
SCRAPE=$KVMC_SANDBOX_DIR/scrape
scrape() {
    if [ -n "$NE" ]; then
        sb_exec node1 python3 -c 'import sys, urllib.request
sys.stdout.write(urllib.request.urlopen("http://" + sys.argv[1] + "/metrics", timeout=5).read().decode())' \
            "$NE_ADDR" >"$SCRAPE.tmp" 2>/dev/null && mv "$SCRAPE.tmp" "$SCRAPE"
    else
        cp "$TEXTDIR/kvmcluster.prom" "$SCRAPE"
    fi
}
# m NAME [LABEL=VALUE...]: the value of the sample NAME with those labels
# in the last scrape (node-exporter sorts labels: match each one).
m() { sb_metric "$SCRAPE" "$@"; }
sb_wait_for 15 eval 'scrape && [ -n "$(m kvmcluster_quorate)" ]' ||
    fail "node-exporter at $NE_ADDR serves no kvmcluster metrics: $(tail -n 5 "$KVMC_SANDBOX_DIR/node1/node-exporter.out" 2>/dev/null)"
assert_eq 1 "$(m kvmcluster_quorate)" "quorate"
assert_eq 3 "$(m kvmcluster_members)" "members"
assert_eq 1 "$(m kvmcluster_node_coordinator node=node1)" "node1 coordinator"
# The CSV's space, from clusterd's periodic scan of the volume.
sb_wait_for 30 eval 'scrape && [ -n "$(m kvmcluster_csv_size_bytes)" ]' ||
    fail "no CSV space in the metrics"
csv_size=$(m kvmcluster_csv_size_bytes)
csv_free=$(m kvmcluster_csv_free_bytes)
awk -v s="$csv_size" -v f="$csv_free" 'BEGIN { exit !(s > 0 && f > 0 && f <= s) }' ||
    fail "CSV space: size $csv_size, free $csv_free"

# lunbridge's LUNs in clusterctl metrics.
LBFILE=$KVMC_SANDBOX_DIR/node1/lunbridge.prom
sb_wait_for 15 test -s "$LBFILE" || fail "lunbridge wrote no $LBFILE"
nlun=$(grep -c '^kvmcluster_lun_session_state{.*state="logged_in"} 1$' "$LBFILE")
((nlun >= 1)) || fail "no LUN logged in in $LBFILE: $(head -n 5 "$LBFILE")"
om=$(cdctl node1 metrics) || fail "clusterctl metrics: $om"
assert_eq "$nlun" "$(grep -c '^kvmcluster_lun_session_state{.*state="logged_in"} 1$' <<<"$om")" \
    "LUNs logged in, in clusterctl metrics"
for l in $(sed -n 's/^kvmcluster_lun_session_state{.*lun="\([^"]*\)",state="logged_in"} 1$/\1/p' "$LBFILE"); do
    grep -q "^kvmcluster_lun_session_state{.*lun=\"$l\",state=\"logged_in\"} 1\$" <<<"$om" ||
        fail "clusterctl metrics lacks LUN $l logged_in: $(grep kvmcluster_lun_session <<<"$om")"
done
grep -qx '# TYPE kvmcluster_lun_reconnects counter' <<<"$om" ||
    fail "clusterctl metrics: the reconnect counter's OpenMetrics family: $(grep 'TYPE kvmcluster_lun' <<<"$om")"
assert_eq '# EOF' "$(tail -n1 <<<"$om")" "clusterctl metrics ends with # EOF"
grep -q '^kvmcluster_lun_' "$TEXTDIR/kvmcluster.prom" && fail "LUN samples in clusterd's textfile"

vm_define $VM high 128
cdctl node1 vm add "$VM_DIR/$VM.xml" >/dev/null || fail "vm add"
out=$(cdctl node1 vm start $VM) || fail "vm start: $out"
src=$(vm_where node1 $VM)
sb_wait_for 30 vm_ticking "$src" $VM || fail "guest does not tick on $src"

# wait_metric EXPR: a fresh scrape satisfies EXPR within 10 s.
wait_metric() {
    sb_wait_for 10 eval "scrape && $1" || fail "metrics: not ($1); $2"
}
add() { awk -v a="$1" -v b="$2" 'BEGIN { print a + b }'; }

# 1. Live move.
scrape
live0=$(m kvmcluster_migrations_total kind=live result=done)
dcount0=$(m kvmcluster_migration_downtime_seconds_count kind=live)
tcount0=$(m kvmcluster_migration_duration_seconds_count kind=live)
passes0=$(m kvmcluster_migration_passes_total)
bytes0=$(m kvmcluster_migration_sent_bytes_total)
dst=node2
[ "$src" = node2 ] && dst=node1
out=$(cdctl node1 move-vm $VM --to $dst --live --output xml) || fail "move-vm --live: $out"
# The move's result as XML: one <move> with its figures and passes.
mv_attr() { sed -n "1s/.*<move .* $1=\"\([^\"]*\)\".*/\1/p" <<<"$out"; }
assert_eq "live-migration done $src $dst" \
    "$(mv_attr kind) $(mv_attr status) $(mv_attr from) $(mv_attr to)" "move-vm --output xml: $out"
mv_passes=$(mv_attr passes)
((mv_passes >= 1)) || fail "move-vm --output xml: no passes: $out"
# QEMU may go through a pass faster than hvagent reports: passes is the
# last pass reached, the last <pass> is that one.
assert_eq "$mv_passes" "$(grep -o '<pass n="[0-9]*"' <<<"$out" | tail -n1 | tr -dc 0-9)" "last <pass> = passes: $out"
python3 -c 'import sys, xml.dom.minidom; xml.dom.minidom.parseString(sys.argv[1])' "$out" ||
    fail "move-vm --output xml is not XML: $out"
sb_log "$out"
# The VM's lease: held by the target's hvagent now, in the metrics and
# in vm show.
wait_metric '[ "$(m kvmcluster_vm_lease_info vm=$VM holder=$dst)" = 1 ]' "lease holder after the live move"
show=$(cdctl node1 vm show $VM) || fail "vm show: $show"
grep -q "^lease: *held by $dst\$" <<<"$show" || fail "vm show lacks the lease holder $dst: $show"
wait_metric '[ "$(m kvmcluster_migrations_total kind=live result=done)" = "$(add "$live0" 1)" ]' "live: $out"
assert_eq "$(add "$dcount0" 1)" "$(m kvmcluster_migration_downtime_seconds_count kind=live)" "live downtime samples"
assert_eq "$(add "$tcount0" 1)" "$(m kvmcluster_migration_duration_seconds_count kind=live)" "live duration samples"
assert_eq "$(add "$dcount0" 1)" "$(m kvmcluster_migration_downtime_seconds_bucket kind=live le=+Inf)" "live +Inf bucket"
passes1=$(m kvmcluster_migration_passes_total)
bytes1=$(m kvmcluster_migration_sent_bytes_total)
awk -v a="$passes0" -v b="$passes1" 'BEGIN { exit !(b > a) }' || fail "passes did not grow: $passes0 -> $passes1"
awk -v a="$bytes0" -v b="$bytes1" 'BEGIN { exit !(b > a) }' || fail "bytes sent did not grow: $bytes0 -> $bytes1"
live_dt=$(m kvmcluster_migration_downtime_seconds_sum kind=live)
hist_live=$(cdctl node1 history $VM --output xml | grep 'kind="live-migration"' | tail -n1)
dt_ms=$(sed -n 's/.* downtime-ms="\([0-9]*\)".*/\1/p' <<<"$hist_live")
[ -n "$dt_ms" ] || fail "history lacks the live move: $(cdctl node1 history $VM)"
assert_eq "$(awk -v s="$live_dt" 'BEGIN { printf "%d", s * 1000 + 0.5 }')" "$dt_ms" "downtime sum = history's downtime"
assert_eq "$dt_ms" "$(mv_attr downtime-ms)" "move-vm's downtime = history's downtime"
npass=$(cdctl node1 history $VM --output xml | grep -c '<pass ')
((npass >= 1)) || fail "history of the live move has no pass"

# 2. Quick move to node3.
quick0=$(m kvmcluster_migrations_total kind=quick result=done)
qcount0=$(m kvmcluster_migration_downtime_seconds_count kind=quick)
out=$(cdctl node1 move-vm $VM --to node3 --quick) || fail "move-vm --quick: $out"
wait_metric '[ "$(m kvmcluster_migrations_total kind=quick result=done)" = "$(add "$quick0" 1)" ]' "quick: $out"
assert_eq "$(add "$qcount0" 1)" "$(m kvmcluster_migration_downtime_seconds_count kind=quick)" "quick downtime samples"
assert_eq "$(add "$live0" 1)" "$(m kvmcluster_migrations_total kind=live result=done)" "live count unchanged by the quick move"
assert_eq 1 "$(m kvmcluster_vm_info vm=$VM node=node3)" "VM shown on node3"
wait_metric '[ "$(m kvmcluster_vm_lease_info vm=$VM holder=node3)" = 1 ]' "lease holder after the quick move"
sb_wait_for 20 vm_ticking node3 $VM || fail "guest does not tick on node3"
boot=$(vm_last_boot node3 $VM)

# 3. Failover: node3 killed whole; observed as bench/failover does.
assert_eq 0 "$(m kvmcluster_failovers_total)" "failovers before"
t0=$(sb_now_ms)
touch "$KVMC_SANDBOX_DIR/node3.dead"
sb_kill node3
# Each event happened after the previous sample began and before the
# sample that saw it ended: [lo, hi] ms after the kill.
t_act='' t_run='' prev=$t0
while (($(sb_now_ms) - t0 < 100000)); do
    a=$(sb_now_ms)
    xml=$(cdctl node1 vm show $VM --output xml 2>/dev/null)
    b=$(sb_now_ms)
    to=$(sed -n "s/.*<vm name=\"$VM\".* action-to=\"\([^\"]*\)\".*/\1/p" <<<"$xml" | head -n1)
    w=$(sed -n "s/.*<vm name=\"$VM\".* node=\"\([^\"]*\)\".*/\1/p" <<<"$xml" | head -n1)
    st=$(sed -n "s/.*<vm name=\"$VM\".* state=\"\([^\"]*\)\".*/\1/p" <<<"$xml" | head -n1)
    if [ -z "$t_act" ] && { [ "$to" = node1 ] || [ "$to" = node2 ]; }; then
        t_act=$((a - t0)) act_lo=$((prev - t0)) act_hi=$((b - t0))
    fi
    if [ -n "$w" ] && [ "$w" != node3 ] && [ "$st" = running ]; then
        t_run=$((a - t0)) run_lo=$((prev - t0)) run_hi=$((b - t0))
        break
    fi
    prev=$a
    sleep 0.1
done
[ -n "$t_run" ] || fail "$VM did not run again within 100 s"
[ -n "$t_act" ] || { t_act=$t_run act_lo=$run_lo act_hi=$run_hi; }
wait_metric '[ "$(m kvmcluster_failovers_total)" = 1 ]' "failover"
assert_eq 1 "$(m kvmcluster_failover_seconds_count)" "failover samples"
assert_eq 1 "$(m kvmcluster_failover_detection_seconds_count)" "detection samples"
assert_eq 1 "$(m kvmcluster_failover_lease_wait_seconds_count)" "lease wait samples"
assert_eq 1 "$(m kvmcluster_failover_start_seconds_count)" "start samples"
ms() { awk -v s="$(m "$1")" 'BEGIN { printf "%d", s * 1000 + 0.5 }'; }
fo_ms=$(ms kvmcluster_failover_seconds_sum)
det_ms=$(ms kvmcluster_failover_detection_seconds_sum)
lw_ms=$(ms kvmcluster_failover_lease_wait_seconds_sum)
st_ms=$(ms kvmcluster_failover_start_seconds_sum)
sum_ms=$((det_ms + lw_ms + st_ms))
((sum_ms >= fo_ms - 1000 && sum_ms <= fo_ms + 1000)) ||
    fail "phases $det_ms + $lw_ms + $st_ms = $sum_ms ms, total $fo_ms ms"
# sanlock's host-dead time (tens of seconds) against QEMU's start.
((st_ms > 0 && st_ms < lw_ms)) || fail "start $st_ms ms, lease wait $lw_ms ms"
# within V LO HI: V in [LO - 1 s, HI + 1 s].
within() { (($1 >= $2 - 1000 && $1 <= $3 + 1000)); }
within "$fo_ms" "$run_lo" "$run_hi" || fail "failover time $fo_ms ms, observed $run_lo..$run_hi ms"
within "$det_ms" "$act_lo" "$act_hi" || fail "detection $det_ms ms, observed $act_lo..$act_hi ms"
within $((lw_ms + st_ms)) $((run_lo - act_hi)) $((run_hi - act_lo)) ||
    fail "lease wait + start $((lw_ms + st_ms)) ms, observed $((run_lo - act_hi))..$((run_hi - act_lo)) ms"
w=$(vm_where node1 $VM)
sb_wait_for 30 vm_ticking "$w" $VM || fail "$VM does not tick on $w after the failover"
[ "$(vm_last_boot "$w" $VM)" != "$boot" ] || fail "no cold boot after the failover"
wait_metric '[ "$(m kvmcluster_vm_lease_info vm=$VM holder=$w)" = 1 ]' "lease holder after the failover"
assert_eq 1 "$(grep -c "^kvmcluster_vm_lease_info{.*vm=\"$VM\"" "$SCRAPE")" "one lease sample for $VM"

# 4. History across a clusterd restart.
h0=$(cdctl node1 history --output xml) || fail "history: $h0"
nact=$(grep -c '<action ' <<<"$h0")
((nact >= 4)) || fail "history has $nact actions (start, live, quick, failover expected): $h0"
# The failover's figures are on the start that succeeded: cause
# "retry" when the first target could not take the lease.
grep -Eq 'kind="start" cause="(failover|retry)".*failover-ms="' <<<"$h0" || fail "history lacks the failover's figures: $h0"
grep -Eq "kind=\"start\" cause=\"(failover|retry)\".* detection-ms=\"$det_ms\" lease-wait-ms=\"$lw_ms\" start-ms=\"$st_ms\" failover-ms=\"$fo_ms\"" <<<"$h0" ||
    fail "history's failover split is not the metrics' ($det_ms, $lw_ms, $st_ms, $fo_ms): $h0"
cd_kill node1 KILL
vm_cd_start node1
cd_wait_started node1
h1=$(cdctl node1 history --output xml) || fail "history after restart: $h1"
assert_eq "$h0" "$h1" "history across a clusterd restart"
txt=$(cdctl node1 history $VM --since 1h) || fail "history text: $txt"
sb_log "$txt"
grep -q "live-migration .*downtime $dt_ms ms" <<<"$txt" || fail "history text lacks the live move: $txt"
grep -q "failover $fo_ms ms (detection $det_ms ms, lease wait $lw_ms ms, start $st_ms ms)" <<<"$txt" ||
    fail "history text lacks the failover's phases: $txt"
out=$(cdctl node1 history --since yesterday-ish 2>&1) && fail "bad --since accepted"
grep -q "since 'yesterday-ish' is not a time" <<<"$out" || fail "bad --since: $out"

# A dead lunbridge's last samples are not the present: on a node without
# the VM, lunbridge (supervisor and worker) is killed; within a few of its
# 1 s intervals clusterctl metrics there leaves its LUNs out, and clusterd
# says why.
for q in node1 node2; do [ "$q" != "$w" ] && break; done
sup=$(cat "$KVMC_SANDBOX_DIR/$q/pids/lunbridge")
wk=$(sb_exec $q pgrep -P "$sup" -x lunbridge 2>/dev/null | head -n1)
cdctl $q metrics | grep -q '^kvmcluster_lun_session_state' || fail "$q: no LUN samples before the kill"
sb_exec $q kill -KILL "$sup" $wk 2>/dev/null
t0=$(sb_now_ms)
sb_wait_for 15 eval "! cdctl $q metrics | grep -q '^kvmcluster_lun_'" ||
    fail "$q: clusterctl metrics still shows the dead lunbridge's LUNs 15 s after its kill"
stale_ms=$(($(sb_now_ms) - t0))
why=$(grep -m1 "is lunbridge running?" "$KVMC_SANDBOX_DIR/$q/clusterd.out") ||
    fail "$q: clusterd did not say why the LUN samples are gone: $(grep -i lunbridge "$KVMC_SANDBOX_DIR/$q/clusterd.out" | tail -n 3)"

proof "metrics via $([ -n "$NE" ] && echo "node-exporter $NE_ADDR" || echo "the textfile (node-exporter not installed)"):" \
    "live +1 (downtime $dt_ms ms, the same in move-vm --output xml with $mv_passes pass(es), passes $passes0->$passes1, bytes $bytes0->$bytes1), quick +1," \
    "failover 1: total $fo_ms ms vs observed $run_lo..$run_hi ms, detection $det_ms vs $act_lo..$act_hi ms," \
    "lease wait $lw_ms + start $st_ms vs $((run_lo - act_hi))..$((run_hi - act_lo)) ms (each within 1 s; phases sum $sum_ms ms);" \
    "lease holder $dst, node3, then $w (metrics; vm show after the live move);" \
    "CSV $csv_free of $csv_size bytes free; $nlun LUN(s) of lunbridge logged_in in clusterctl metrics;" \
    "history of $nact actions identical after a clusterd restart;" \
    "$q's lunbridge killed: its LUNs left out of clusterctl metrics after $stale_ms ms ('${why#*not shown: }')"
