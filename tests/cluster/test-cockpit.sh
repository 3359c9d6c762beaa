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
# failover's time and its phases and the lease on the new node. Then a
# real login: a throw-away local user in a throw-away group (removed at
# the end, even on failure) that node1's clusterd has as its
# read-only-group; a second cockpit-ws with Cockpit's own login
# (password through PAM) on node1's 198.18 address, clusterctl on the
# session's PATH (a directory bound over /usr/local/sbin in node1's
# private mount namespace only), the page in the user's
# ~/.local/share/cockpit. The browser logs in through the login form
# (cockpit-login.py): the page shows the cluster, and "Move live" is
# refused with clusterd's "permission denied" and the VM stays. A second
# throw-away user in a throw-away admin-group acts (clusterctl node
# resume, through the same bound clusterctl).
# Screenshots of each step are kept under the test's log directory.
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
ws2pid='' lpid='' RO_USER='' RO_GROUP='' RO_HOME='' RO_SBIN='' ADM_USER='' ADM_GROUP=''
# The browsers and cockpit-ws lead their own process groups (setsid);
# the throw-away user's processes (its Cockpit session) go before it.
cockpit_cleanup() {
    local rc=$? p
    for p in $bpid $wspid $lpid $ws2pid; do sb_exec node1 kill -- "-$p" 2>/dev/null; done
    for u in $RO_USER $ADM_USER; do
        id "$u" >/dev/null 2>&1 || continue
        for p in $(ps -o pid= -u "$u"); do kill "$p" 2>/dev/null; done
        sb_wait_for 5 eval '[ -z "$(ps -o pid= -u "$u")" ]' ||
            for p in $(ps -o pid= -u "$u"); do kill -KILL "$p" 2>/dev/null; done
        userdel "$u" || echo "test-cockpit: could not remove user $u" >&2
    done
    for g in $RO_GROUP $ADM_GROUP; do
        getent group "$g" >/dev/null && groupdel "$g"
    done
    [ -n "$RO_HOME" ] && rm -rf "$RO_HOME"
    [ -n "$RO_SBIN" ] && rm -rf "$RO_SBIN"
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
cat "$OUT" >&2

# A real Cockpit login as a user who may only read. Names from the
# sandbox's, so that runs side by side do not meet.
tag=$(tr -dc 'a-z0-9' <<<"$KVMC_SANDBOX_NAME" | cut -c1-20)
RO_GROUP=kcro$tag
groupadd "$RO_GROUP" || { RO_GROUP=; fail "groupadd"; }
RO_HOME=$(mktemp -d /tmp/kvmc-cockpit-home.XXXXXX)
RO_USER=kcu$tag
useradd -M -d "$RO_HOME" -s /bin/bash -g "$RO_GROUP" "$RO_USER" || { RO_USER=; fail "useradd"; }
RO_PASS=$(head -c 12 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')x1
echo "$RO_USER:$RO_PASS" | chpasswd || fail "chpasswd"
mkdir -p "$RO_HOME/.local/share/cockpit"
cp -r "$KVMC_SRCDIR/cockpit/kvmcluster" "$RO_HOME/.local/share/cockpit/"
chown -R "$RO_USER:$RO_GROUP" "$RO_HOME"
chmod 700 "$RO_HOME"
# The session's PATH is Cockpit's fixed one: clusterctl in
# /usr/local/sbin, in node1's mount namespace only.
RO_SBIN=$(mktemp -d /tmp/kvmc-cockpit-sbin.XXXXXX)
chmod 755 "$RO_SBIN"
cp "$CD_CTL" "$RO_SBIN/clusterctl"
sb_exec node1 mount --bind "$RO_SBIN" /usr/local/sbin || fail "bind $RO_SBIN on node1's /usr/local/sbin"
[ -e /usr/local/sbin/clusterctl ] && fail "the bind left node1's namespace"
# And a member of admin-group, who may act (clusterctl only).
ADM_GROUP=kcad$tag
groupadd "$ADM_GROUP" || { ADM_GROUP=''; fail "groupadd"; }
ADM_USER=kca$tag
useradd -M -d / -s /bin/sh -g "$ADM_GROUP" "$ADM_USER" || { ADM_USER=''; fail "useradd"; }
# node1's clusterd with the groups as its read-only-group and admin-group.
sed -i "/^\[clusterd\]/a read-only-group = $RO_GROUP\nadmin-group = $ADM_GROUP" \
    "$KVMC_SANDBOX_DIR/node1/etc-kvmcluster/kvmcluster.conf"
cd_kill node1 KILL
vm_cd_start node1
cd_wait_started node1
survivors=$(for n in node1 node2 node3; do [ "$n" = "$dst" ] || echo "$n"; done)
# shellcheck disable=SC2086
sb_wait_for 30 cd_converged 2 $survivors || fail "clusterds did not converge: $(cd_views $survivors)"
ro_status=$(sb_exec node1 su -s /bin/sh "$RO_USER" -c '/usr/local/sbin/clusterctl status' 2>&1) ||
    fail "clusterctl status as $RO_USER: $ro_status"
ro_move=$(sb_exec node1 su -s /bin/sh "$RO_USER" -c "/usr/local/sbin/clusterctl move-vm $VM --live" 2>&1) &&
    fail "move-vm as $RO_USER was accepted: $ro_move"
grep -q "permission denied: 'move-vm' needs root or group '$ADM_GROUP'" <<<"$ro_move" ||
    fail "move-vm as $RO_USER: $ro_move"
adm=$(sb_exec node1 su -s /bin/sh "$ADM_USER" -c '/usr/local/sbin/clusterctl node resume node1' 2>&1) ||
    fail "node resume as $ADM_USER (admin-group): $adm"
LADDR=$(vm_node_ip node1)
LPORT=9091
BASE=http://$LADDR:$LPORT
# shellcheck disable=SC2016
ws2pid=$(sb_exec node1 bash -c 'setsid "$@" </dev/null >>"$0" 2>&1 & echo $!' \
    "$SHOTS/cockpit-ws-login.log" "$WS" --no-tls --address="$LADDR" --port=$LPORT)
sb_wait_for 15 sb_exec node1 "$PY" -c 'import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=3).read()' "$BASE/" ||
    fail "cockpit-ws does not serve $BASE: $(tail -n 5 "$SHOTS/cockpit-ws-login.log")"
LOUT=$SHOTS/login.out
# shellcheck disable=SC2016
lpid=$(sb_exec node1 env HOME="$KVMC_SANDBOX_DIR/node1" bash -c \
    'setsid "$@" </dev/null >"$0" 2>&1 & echo $!' "$LOUT" \
    "$PY" "$KVMC_SRCDIR/tests/cluster/cockpit-login.py" "$BASE" "$RO_USER" "$RO_PASS" $VM "$SHOTS")
lres() { sed -n "s/^RESULT $1=//p" "$LOUT" | tail -n 1; }
login_end() { grep -q '^FAIL: ' "$LOUT" 2>/dev/null || [ -n "$(lres login_screenshots)" ] ||
    ! sb_exec node1 kill -0 "$lpid" 2>/dev/null; }
sb_wait_for 120 login_end || fail "login browser: nothing within 120 s: $(tail -n 5 "$LOUT")"
grep -q '^FAIL: ' "$LOUT" && fail "login browser: $(grep '^FAIL: ' "$LOUT")"
[ -n "$(lres login_screenshots)" ] || fail "login browser ended early: $(tail -n 5 "$LOUT")"
cat "$LOUT" >&2
assert_eq "$(vm_where node1 $VM)" "$(lres ro_node)" "VM's node as $RO_USER saw it"
nshots=$(find "$SHOTS" -name '*.png' -size +10k | wc -l)
((nshots >= 9)) || fail "only $nshots readable screenshots in $SHOTS"

proof "Cockpit page in headless Chromium via cockpit-ws --local-session in node1:" \
    "clicked Move live $VM $(res src) -> $dst: page showed it running on $dst, lease held by $(res lease_after_move)," \
    "downtime $dt ms (= clusterctl history), its log line '$(res move_log)', progress bar seen: $(res progress_seen)," \
    "dirty rate per pass (bytes/s):$dirty," \
    "in $(res move_s) s; $dst killed: page showed $VM running on $fnode (lease held by $(res lease_after_failover)) by failover" \
    "($(res failover_s) s per the history) $(sb_secs "$t_shown") after the kill;" \
    "timeline $(res timeline_bars) bars;" \
    "logged in through Cockpit's form (PAM) as $RO_USER (clusterd's read-only-group) at $BASE: page showed $VM on $(lres ro_node)," \
    "quorum '$(lres ro_quorum)'; Move live refused: '$(lres refused)'; clusterctl node resume as $ADM_USER (admin-group) done;" \
    "$nshots screenshots in $SHOTS"
