#!/usr/bin/env bash
# lunbridge on bad input: a wrong CHAP secret, a missing CHAP login, a
# wrong mutual CHAP secret, a wrong IQN, a portal that refuses and one
# that never answers, and a group-readable secret file each end lunbridge
# quickly with a log line naming the target/portal and the cause; the
# right CHAP (and mutual CHAP) secrets, SendTargets discovery and a good
# second portal behind a silent first one then work.
# kvmc-light: no guest, a few daemons; runs beside the alone tests
. "$(dirname "$0")/lib/sandbox.sh"

LB=$KVMC_BUILDDIR/iscsi/lunbridge
MNT=/run/kvmcluster/luns
DEADLINE_MS=2000

sb_init lbe
[ -x "$LB" ] || skip "no lunbridge at $LB (build first)"
[ -e /dev/fuse ] || skip "no /dev/fuse"
KVMC_SANDBOX_LUNS="64M:512" sb_up 2
WORK=$KVMC_SANDBOX_DIR/lbtest
mkdir -p "$WORK"

tgt() { sb_exec storage tgtadm --lld iscsi "$@" >>"$WORK/tgtadm.log" 2>&1; }
# The target now demands CHAP from initiators and proves itself to them.
tgt --mode account --op new --user node1 --password n0de1-secret-pw ||
    fail "cannot create CHAP account"
tgt --mode account --op bind --tid 1 --user node1 || fail "cannot bind account"
tgt --mode account --op new --user array --password arr4y-secret-pw ||
    fail "cannot create the outgoing account"
tgt --mode account --op bind --tid 1 --user array --outgoing ||
    fail "cannot bind the outgoing account"

secret() { # secret NAME TEXT [MODE]
    printf '%s\n' "$2" >"$WORK/$1"
    chmod "${3:-600}" "$WORK/$1"
}
secret good n0de1-secret-pw
secret bad wrong-secret-pw
secret mgood arr4y-secret-pw
secret mbad not-the-array-pw
secret open n0de1-secret-pw 644

# conf NAME PORTAL IQN [extra target lines...]
conf() {
    local name=$1 portal=$2 iqn=$3
    shift 3
    {
        printf '[lunbridge]\nmountpoint = %s\ndeadline = %sms\n' "$MNT" \
            "$DEADLINE_MS"
        printf 'initiator-name = iqn.2026-11.org.kvmcluster:node1\n'
        printf '[target csv]\nportal = %s\niqn = %s\n' "$portal" "$iqn"
        printf '%s\n' "$@"
    } >"$WORK/$name.conf"
}

# expect_fail NAME EXIT REGEX: runs lunbridge on NAME.conf in node1, which
# must exit with EXIT within DEADLINE + 3 s and log a line matching REGEX.
# Appends "NAME: exit E in N ms" to RESULTS.
RESULTS=()
expect_fail() {
    local name=$1 want_rc=$2 re=$3 t0 rc ms line
    t0=$(sb_now_ms)
    sb_exec node1 timeout $((DEADLINE_MS / 1000 + 3)) "$LB" -f \
        -c "$WORK/$name.conf" >"$WORK/$name.log" 2>&1
    rc=$?
    ms=$(($(sb_now_ms) - t0))
    [ $rc -ne 124 ] || fail "$name: lunbridge still running after $ms ms"
    ! grep -E -A5 "Sanitizer|runtime error" "$WORK/$name.log" ||
        fail "$name: lunbridge hit a sanitizer error"
    assert_eq "$want_rc" "$rc" "$name: exit status"
    line=$(grep -E -m1 "$re" "$WORK/$name.log") ||
        fail "$name: no log line matching '$re' in: $(cat "$WORK/$name.log")"
    sb_log "$name ($ms ms): $line"
    RESULTS+=("$name: exit $rc in $ms ms")
}

# expect_ok NAME: lunbridge mounts the LUN, then stops on SIGTERM.
expect_ok() {
    local name=$1 pid n
    pid=$(sb_exec node1 bash -c 'setsid "$1" -f -c "$2" </dev/null \
        >>"$3" 2>&1 & echo $!' lb "$LB" "$WORK/$name.conf" "$WORK/$name.log")
    sb_wait_for 10 grep -q "serving 1 LUN" "$WORK/$name.log" ||
        fail "$name: lunbridge did not mount: $(tail -5 "$WORK/$name.log")"
    n=$(sb_exec node1 ls "$MNT" | wc -l)
    assert_eq 1 "$n" "$name: one LUN file"
    sb_exec node1 kill -TERM "$pid"
    sb_wait_for 10 bash -c "! $SANDBOX exec node1 kill -0 $pid" ||
        fail "$name: lunbridge ignored SIGTERM"
    ! grep -E -A5 "Sanitizer|runtime error" "$WORK/$name.log" ||
        fail "$name: lunbridge hit a sanitizer error"
    RESULTS+=("$name: mounted")
}

P=$KVMC_SB_PORTAL
IQN=$KVMC_SB_IQN
T="target 'csv' \($IQN\) at portal $P"

conf chap-ok "$P" "$IQN" "chap-user = node1" "chap-secret-file = $WORK/good"
expect_ok chap-ok

conf mutual-ok "$P" "$IQN" "chap-user = node1" \
    "chap-secret-file = $WORK/good" "mutual-chap-user = array" \
    "mutual-chap-secret-file = $WORK/mgood"
expect_ok mutual-ok

conf chap-wrong "$P" "$IQN" "chap-user = node1" "chap-secret-file = $WORK/bad"
expect_fail chap-wrong 1 "$T: iSCSI CHAP authentication failed .*Authentication failure"

conf chap-none "$P" "$IQN"
expect_fail chap-none 1 "$T: iSCSI CHAP authentication failed|$T: iSCSI login rejected"

conf mutual-wrong "$P" "$IQN" "chap-user = node1" \
    "chap-secret-file = $WORK/good" "mutual-chap-user = array" \
    "mutual-chap-secret-file = $WORK/mbad"
expect_fail mutual-wrong 1 "$T: iSCSI CHAP authentication failed"

conf iqn-wrong "$P" "$IQN-nope" "chap-user = node1" \
    "chap-secret-file = $WORK/good"
expect_fail iqn-wrong 1 "target 'csv' \($IQN-nope\) at portal $P: no such iSCSI target at the portal \(check the IQN\).*Target not found"

conf portal-refused "$KVMC_SB_STORAGE_IP:3261" "$IQN"
expect_fail portal-refused 1 "at portal $KVMC_SB_STORAGE_IP:3261: cannot connect to the iSCSI portal: .*Connection refused"

# An address on the sandbox's subnet that no namespace holds: no ARP
# answer, so the connect never completes and the deadline must end it.
conf portal-silent "$KVMC_SB_PREFIX.200:3260" "$IQN"
expect_fail portal-silent 1 "at portal $KVMC_SB_PREFIX.200:3260: cannot connect to the iSCSI portal: (no answer from portal|connect failed)"

# SendTargets discovery instead of an IQN (the discovery session itself
# needs no CHAP on tgt; the normal session gets it).
conf discovery-ok "$P" "$IQN" "chap-user = node1" \
    "chap-secret-file = $WORK/good"
sed -i 's/^iqn = .*/discovery = yes/' "$WORK/discovery-ok.conf"
expect_ok discovery-ok
grep -q "target 'csv': discovered $IQN at $P" "$WORK/discovery-ok.log" ||
    fail "no log line about the discovered target"

# A silent first portal and a good second one: the start-up deadline is
# shared between them, so lunbridge still logs in through the second.
conf portal-second "$KVMC_SB_PREFIX.200:3260, $P" "$IQN" "chap-user = node1" \
    "chap-secret-file = $WORK/good"
expect_ok portal-second

conf secret-open "$P" "$IQN" "chap-user = node1" \
    "chap-secret-file = $WORK/open"
expect_fail secret-open 2 "chap-secret-file: CHAP secret file '$WORK/open' has mode 0644 .* not accessible to group or others \(chown 0 '$WORK/open'; chmod 600"

proof "lunbridge bad input: $(IFS=';'; echo "${RESULTS[*]}") (deadline $DEADLINE_MS ms; every failure logged with target, portal and cause)"
