#!/usr/bin/env bash
# lunbridge's per-LUN metrics (metrics-file), read from the file as it
# changes, and scraped at the start and the end through
# prometheus-node-exporter's textfile collector in node1's namespace
# (when it is installed): it reads the file without error and serves the
# same samples. lunbridge --supervise
# in node1 with two LUNs:
#  1. every LUN logged_in, 0 reconnects; after O_DIRECT reads and writes
#     its I/O latency histogram has those samples, with a sane mean;
#  2. the worker SIGKILLed: the next worker's login to each LUN counts as
#     a reconnect (the counters live in the supervisor's hand-off record,
#     so they do not restart at 0), and the I/O samples are kept;
#  3. the storage cut off: each LUN leaves logged_in (reconnecting while
#     the deadline runs, then down), and once healed is logged_in again
#     with one reconnect more.
# kvmc-timeout: 120
# kvmc-light: no guest, a few daemons; runs beside the alone tests
. "$(dirname "$0")/lib/sandbox.sh"

LB=$KVMC_BUILDDIR/iscsi/lunbridge
MNT=/run/kvmcluster/luns

sb_init lbmet
[ -x "$LB" ] || skip "no lunbridge at $LB (build first)"
[ -e /dev/fuse ] || skip "no /dev/fuse"
KVMC_SANDBOX_LUNS="64M:512 32M:4096" sb_up 2
WORK=$KVMC_SANDBOX_DIR/lbtest
TEXTDIR=$WORK/textfile
mkdir -p "$TEXTDIR"
printf '%s\n' "[lunbridge]" "mountpoint = $MNT" \
    "initiator-name = iqn.2026-11.org.kvmcluster:node1" "deadline = 2s" \
    "metrics-file = $TEXTDIR/lunbridge.prom" "metrics-interval = 200ms" \
    "[target t]" "portal = $KVMC_SB_PORTAL" "iqn = $KVMC_SB_IQN" >"$WORK/lb.conf"
LOG=$WORK/lb.log
# shellcheck disable=SC2016
SUP=$(sb_exec node1 bash -c 'setsid "$1" -f --supervise -c "$2" \
    </dev/null >>"$3" 2>&1 & echo $!' lb "$LB" "$WORK/lb.conf" "$LOG") ||
    fail "cannot start lunbridge"
worker() { sb_exec node1 pgrep -P "$SUP" -x lunbridge 2>/dev/null | head -n1; }
sb_wait_for 15 eval '[ -n "$(worker)" ] && test -s "$TEXTDIR/lunbridge.prom"' ||
    fail "lunbridge wrote no metrics: $(tail -n 5 "$LOG")"
mapfile -t luns < <(sb_exec node1 find "$MNT" -mindepth 1 -maxdepth 1 -type f -printf '%f\n' | sort)
[ ${#luns[@]} = 2 ] || fail "expected 2 LUN files under $MNT: ${luns[*]}"

NE=$(command -v prometheus-node-exporter || true)
NE_ADDR=127.0.0.1:9100
nepid=
trap 'rc=$?; [ -n "$nepid" ] && sb_exec node1 kill "$nepid" 2>/dev/null; sb_exec node1 kill -TERM "$SUP" 2>/dev/null; (exit $rc); sb_cleanup' EXIT
if [ -n "$NE" ]; then
    # shellcheck disable=SC2016
    nepid=$(sb_exec node1 bash -c 'setsid "$@" </dev/null >>"$0" 2>&1 & echo $!' \
        "$WORK/node-exporter.out" "$NE" --web.listen-address="$NE_ADDR" \
        --collector.disable-defaults --collector.textfile \
        --collector.textfile.directory="$TEXTDIR")
fi
SCRAPE=$WORK/scrape
NE_SEEN=
scrape() { cp "$TEXTDIR/lunbridge.prom" "$SCRAPE"; }
# ne_scrape: node-exporter's view into $SCRAPE (false without it).
ne_scrape() {
    [ -n "$NE" ] && sb_exec node1 python3 -c 'import sys, urllib.request
sys.stdout.write(urllib.request.urlopen("http://" + sys.argv[1] + "/metrics", timeout=5).read().decode())' \
        "$NE_ADDR" >"$SCRAPE.tmp" 2>/dev/null && mv "$SCRAPE.tmp" "$SCRAPE"
}
# ne_check WHEN: node-exporter read the file without error and serves
# the reconnect counter of every LUN as the file has it.
ne_check() {
    local l f n
    [ -n "$NE" ] || return 0
    scrape
    f=$(grep -c '^kvmcluster_lun_reconnects_total{' "$SCRAPE")
    sb_wait_for 15 eval 'ne_scrape && [ -n "$(m node_textfile_scrape_error)" ]' ||
        fail "$1: node-exporter at $NE_ADDR serves nothing: $(tail -n 3 "$WORK/node-exporter.out")"
    assert_eq 0 "$(m node_textfile_scrape_error)" "$1: node-exporter's textfile scrape error"
    n=$(grep -c '^kvmcluster_lun_reconnects_total{' "$SCRAPE")
    assert_eq "$f" "$n" "$1: reconnect samples served by node-exporter"
    NE_SEEN="$NE_SEEN $1: $n"
}
# m NAME [LABEL=VALUE...]: the sample's value in the last scrape.
m() { sb_metric "$SCRAPE" "$@"; }
# all_luns EXPR: EXPR (using $l) holds for every LUN in a fresh scrape.
all_luns() {
    scrape || return 1
    for l in "${luns[@]}"; do eval "$1" || return 1; done
}
state_is() { [ "$(m kvmcluster_lun_session_state lun="$l" state="$1")" = 1 ]; }
count() { m kvmcluster_lun_io_seconds_count lun="$l"; }
reconnects() { m kvmcluster_lun_reconnects_total lun="$l"; }

# 1. Logged in, no reconnect; I/O shows in the histogram.
sb_wait_for 15 all_luns 'state_is logged_in' ||
    fail "LUNs not logged_in in the metrics: $(grep session_state "$SCRAPE" 2>/dev/null; tail -n 3 "$WORK/node-exporter.out" 2>/dev/null)"
ne_check start
scrape
assert_eq node1 "$(sed -n 's/^kvmcluster_lun_reconnects_total{.*node="\([^"]*\)".*/\1/p' "$SCRAPE" | sort -u)" "node label"
declare -A c0
for l in "${luns[@]}"; do
    assert_eq 0 "$(reconnects)" "reconnects of $l at start"
    c0[$l]=$(count)
done
# shellcheck disable=SC2016
sb_exec node1 bash -c 'for f; do
    dd if=/dev/urandom of="$f" bs=64k count=8 oflag=direct conv=notrunc status=none &&
        dd if="$f" of=/dev/null bs=64k count=8 iflag=direct status=none || exit 1
    done' io "${luns[@]/#/$MNT/}" || fail "O_DIRECT writes and reads of the LUN files"
sb_wait_for 10 all_luns '(($(count) >= c0[$l] + 16))' ||
    fail "I/O latency samples did not grow by 16: $(grep io_seconds_count "$SCRAPE")"
io_line=
for l in "${luns[@]}"; do
    sum=$(m kvmcluster_lun_io_seconds_sum lun="$l")
    n=$(count)
    inf=$(m kvmcluster_lun_io_seconds_bucket lun="$l" le=+Inf)
    assert_eq "$n" "$inf" "$l: +Inf bucket = count"
    # Mean above 0 and below the deadline: the sandbox's target answers
    # in well under 2 s.
    awk -v s="$sum" -v n="$n" 'BEGIN { exit !(s > 0 && s / n < 2) }' ||
        fail "$l: I/O latency sum $sum s over $n samples"
    io_line="$io_line ..${l: -6}: $n I/O, mean $(awk -v s="$sum" -v n="$n" 'BEGIN { printf "%.2f", s / n * 1000 }') ms;"
    c0[$l]=$n
done

sb_log "1. logged in, I/O:$io_line"

# 2. The worker killed: the next one's logins count as reconnects.
w=$(worker)
sb_exec node1 kill -KILL "$w" || fail "kill -KILL $w"
sb_wait_for 15 eval 'nw=$(worker); [ -n "$nw" ] && [ "$nw" != "$w" ]' ||
    fail "no new worker after $w: $(tail -n 3 "$LOG")"
sb_wait_for 15 all_luns '[ "$(reconnects)" = 1 ] && state_is logged_in' ||
    fail "reconnects not 1 after the worker kill: $(grep reconnects_total "$SCRAPE")"
for l in "${luns[@]}"; do
    (($(count) >= c0[$l])) || fail "$l: I/O samples went back from ${c0[$l]} to $(count) across the worker restart"
done

sb_log "2. worker $w killed, reconnects 1"

# 3. The storage cut off, then back.
t0=$(sb_now_ms)
sb_partition storage
sb_wait_for 30 all_luns '! state_is logged_in' ||
    { sb_heal; fail "LUNs still logged_in 30 s after the storage was cut"; }
left_ms=$(($(sb_now_ms) - t0))
seen_reconnecting=$(grep -c 'state="reconnecting"} 1' "$SCRAPE")
sb_wait_for 15 all_luns 'state_is down' ||
    { sb_heal; fail "LUNs not down past the deadline: $(grep 'session_state.* 1$' "$SCRAPE")"; }
sb_log "3. storage cut: left logged_in after $left_ms ms, down after $(($(sb_now_ms) - t0)) ms"
sb_heal
sb_wait_for 30 all_luns '[ "$(reconnects)" = 2 ] && state_is logged_in' ||
    fail "not logged_in with 2 reconnects after the storage came back: $(grep -E 'reconnects_total|session_state.* 1$' "$SCRAPE")"
ne_check end
sb_exec node1 kill -TERM "$SUP"
sb_wait_for 15 eval '! sb_exec node1 kill -0 "$SUP" 2>/dev/null' ||
    fail "lunbridge --supervise still runs 15 s after SIGTERM"
# A sanitizer build (--with-sanitizers) reports here.
! grep -E -A5 "Sanitizer|runtime error" "$LOG" || fail "lunbridge hit a sanitizer error"

proof "lunbridge metrics of ${#luns[@]} LUNs ($([ -n "$NE" ] && echo "node-exporter: no scrape error, reconnect samples$NE_SEEN" || echo "node-exporter not installed: the textfile alone")):" \
    "logged_in, 0 reconnects;$io_line worker SIGKILLed -> reconnects 0->1 each, samples kept;" \
    "storage cut -> left logged_in after $left_ms ms (reconnecting in the first scrape for $seen_reconnecting LUN(s)), then down; healed -> logged_in, reconnects 2"
