#!/usr/bin/env bash
# The Cockpit page in a real browser, on 3 nodes. cockpit-ws
# --local-session=cockpit-bridge (no login: it stays inside node1's
# namespace, bound to node1's address) serves the page from a copy of
# cockpit/kvmcluster made visible through XDG_DATA_DIRS, clusterctl on the
# bridge's PATH. Headless Chromium, driven by selenium in the same
# namespace (cockpit-browser.py), clicks "Move live" for a VM, picks a
# target and confirms: the page shows the VM running on the target, its
# lease held there, and the move's downtime, the same figure as
# `clusterctl history`. Then the target node is killed whole: the page
# shows it down and the VM running elsewhere after a failover, with the
# failover's time and the lease on the new node. Screenshots of
# each step are kept under the test's log directory.
# kvmc-timeout: 480
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

WS=/usr/lib/cockpit/cockpit-ws
PY=/usr/bin/python3
for f in "$WS" /usr/bin/cockpit-bridge /usr/lib/chromium/chromium /usr/bin/chromedriver; do
    [ -x "$f" ] || skip "no $f: Cockpit or headless Chromium not installed (run scripts/setup)"
done
"$PY" -c 'import selenium' 2>/dev/null ||
    skip "$PY cannot import selenium: not installed (run scripts/setup)"
[ -f "$KVMC_SRCDIR/cockpit/kvmcluster/manifest.json" ] ||
    fail "no cockpit/kvmcluster in $KVMC_SRCDIR"

vm_require
sb_init cockp
vm_up 3
VM=ck1

# Screenshots outlive the sandbox: under the runner's log directory.
SHOTS=${KVMC_TEST_LOGDIR:-$KVMC_BUILDDIR/cluster-logs}/test-cockpit
rm -rf "$SHOTS"
mkdir -p "$SHOTS" || fail "cannot create $SHOTS"
SHOTS=$(cd "$SHOTS" && pwd)

# The page as installed ($(datadir)/cockpit/kvmcluster), clusterctl on PATH.
SHARE=$KVMC_SANDBOX_DIR/node1/cockpit-share
mkdir -p "$SHARE/cockpit" "$KVMC_SANDBOX_DIR/node1/cockpit-bin"
cp -r "$KVMC_SRCDIR/cockpit/kvmcluster" "$SHARE/cockpit/"
ln -sf "$CD_CTL" "$KVMC_SANDBOX_DIR/node1/cockpit-bin/clusterctl"
ADDR=127.0.0.1
PORT=9090
URL=http://$ADDR:$PORT/cockpit/@localhost/kvmcluster/index.html
# shellcheck disable=SC2016
wspid=$(sb_exec node1 env XDG_DATA_DIRS="$SHARE:/usr/share" \
    PATH="$KVMC_SANDBOX_DIR/node1/cockpit-bin:$PATH" HOME="$KVMC_SANDBOX_DIR/node1" \
    bash -c 'setsid "$@" </dev/null >>"$0" 2>&1 & echo $!' \
    "$SHOTS/cockpit-ws.log" "$WS" --local-session=cockpit-bridge \
    --address="$ADDR" --port=$PORT)
bpid=
# The browser and cockpit-ws lead their own process groups (setsid).
cockpit_cleanup() {
    local rc=$? p
    for p in $bpid $wspid; do sb_exec node1 kill -- "-$p" 2>/dev/null; done
    (exit $rc)
    sb_cleanup
}
trap cockpit_cleanup EXIT
sb_wait_for 15 sb_exec node1 "$PY" -c 'import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=3).read()' "$URL" ||
    fail "cockpit-ws does not serve $URL: $(tail -n 5 "$SHOTS/cockpit-ws.log")"

vm_define $VM high 128
cdctl node1 vm add "$VM_DIR/$VM.xml" >/dev/null || fail "vm add"
out=$(cdctl node1 vm start $VM) || fail "vm start: $out"
src=$(vm_where node1 $VM)
# The target: a node other than node1 (the page's) and the VM's.
dst=node3
[ "$src" = node3 ] && dst=node2
sb_wait_for 30 vm_ticking "$src" $VM || fail "guest does not tick on $src"

# The browser, in node1's namespace; it waits for us between its steps.
OUT=$SHOTS/browser.out
# shellcheck disable=SC2016
bpid=$(sb_exec node1 env HOME="$KVMC_SANDBOX_DIR/node1" bash -c \
    'setsid "$@" </dev/null >"$0" 2>&1 & echo $!' "$OUT" \
    "$PY" "$KVMC_SRCDIR/tests/cluster/cockpit-browser.py" "$URL" $VM $dst "$SHOTS")
res() { sed -n "s/^RESULT $1=//p" "$OUT" | tail -n 1; }
browser_failed() { grep -q '^FAIL: ' "$OUT" 2>/dev/null; }
browser_gone() { ! sb_exec node1 kill -0 "$bpid" 2>/dev/null; }
browser_done() { browser_failed || [ -e "$SHOTS/moved" ] || browser_gone; }
sb_wait_for 120 browser_done || fail "browser: no move within 120 s: $(tail -n 5 "$OUT")"
browser_failed && fail "browser: $(grep '^FAIL: ' "$OUT")"
[ -e "$SHOTS/moved" ] || fail "browser ended before the move: $(tail -n 5 "$OUT")"
assert_eq "$dst" "$(vm_where node1 $VM)" "clusterctl: VM after the page's move"
assert_eq "$dst" "$(res lease_after_move)" "lease holder on the page after the move"
dt=$(res downtime_ms)
hxml=$(cdctl node1 history $VM --output xml) || fail "history: $hxml"
hist=$(grep 'kind="live-migration"' <<<"$hxml" | tail -n 1)
assert_eq "$(sed -n 's/.* downtime-ms="\([0-9]*\)".*/\1/p' <<<"$hist")" "$dt" \
    "downtime on the page = history's"
# The passes of the move carry the rate the guest dirtied its memory.
dirty=$(awk '/kind="live-migration"/ { in_mv = 1; d = "" }
    in_mv && /<pass / { match($0, /dirty-rate="[0-9]*"/)
        d = d " " substr($0, RSTART + 12, RLENGTH - 13) }
    /<\/action>/ { if (in_mv) last = d; in_mv = 0 } END { print last }' <<<"$hxml")
awk -v d="$dirty" 'BEGIN { n = split(d, a, " "); for (i = 1; i <= n; i++) if (a[i] > 0) exit 0; exit 1 }' ||
    fail "no pass of the live move has a dirty rate: '$dirty' in $hxml"
sb_wait_for 20 vm_ticking "$dst" $VM || fail "guest does not tick on $dst after the move"

# Kill the target whole; the page must show the failover.
t0=$(sb_now_ms)
touch "$KVMC_SANDBOX_DIR/$dst.dead"
sb_kill "$dst"
touch "$SHOTS/killed"
browser_end() { browser_failed || [ -n "$(res screenshots)" ] || browser_gone; }
sb_wait_for 150 browser_end || fail "browser: no failover shown within 150 s: $(tail -n 5 "$OUT")"
browser_failed && fail "browser: $(grep '^FAIL: ' "$OUT")"
[ -n "$(res screenshots)" ] || fail "browser ended before the failover: $(tail -n 5 "$OUT")"
t_shown=$(($(sb_now_ms) - t0))
fnode=$(res failover_node)
assert_eq "$fnode" "$(vm_where node1 $VM)" "clusterctl: VM after the failover"
assert_ne "$dst" "$fnode" "VM after the failover"
assert_eq "$fnode" "$(res lease_after_failover)" "lease holder on the page after the failover"
sb_wait_for 30 vm_ticking "$fnode" $VM || fail "$VM does not tick on $fnode after the failover"
nshots=$(find "$SHOTS" -name '*.png' -size +10k | wc -l)
((nshots >= 6)) || fail "only $nshots readable screenshots in $SHOTS"
cat "$OUT" >&2

proof "Cockpit page in headless Chromium via cockpit-ws --local-session in node1:" \
    "clicked Move live $VM $(res src) -> $dst: page showed it running on $dst, lease held by $(res lease_after_move)," \
    "downtime $dt ms (= clusterctl history), its log line '$(res move_log)', progress bar seen: $(res progress_seen)," \
    "dirty rate per pass (bytes/s):$dirty," \
    "in $(res move_s) s; $dst killed: page showed $VM running on $fnode (lease held by $(res lease_after_failover)) by failover" \
    "($(res failover_s) s per the history) $(sb_secs "$t_shown") after the kill;" \
    "timeline $(res timeline_bars) bars; $nshots screenshots in $SHOTS"
