# shellcheck shell=bash disable=SC2034
# tests/cluster/lib/sandbox.sh: helpers for cluster tests (bash, sourced).
# (SC2034: the SB_* result variables are for the tests that source this.)
#
#   . "$(dirname "$0")/lib/sandbox.sh"
#   sb_init q3              # own sandbox name, cleanup trap, root check
#   sb_up 3
#   sb_wait_for 10 sb_members_are node1 "1 2"
#   proof "what this test proved, with figures"
#
# Every test gets its own KVMC_SANDBOX_NAME (KVMC_TEST_PREFIX + a short
# name), so tests never touch a developer's sandbox, and an EXIT trap always
# runs 'sandbox down', whatever happens to the test.

SB_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KVMC_SRCDIR=${KVMC_SRCDIR:-$(cd "$SB_LIB_DIR/../../.." && pwd)}
KVMC_BUILDDIR=${KVMC_BUILDDIR:-${SB_LIB_DIR%/tests/cluster/lib}/build}
# Absolute: VM definitions name the test guest by it, and hvagent accepts
# only absolute paths in its allowed directories.
KVMC_BUILDDIR=$(cd "$KVMC_BUILDDIR" 2>/dev/null && pwd) || KVMC_BUILDDIR=${KVMC_BUILDDIR}
SANDBOX=${KVMC_SANDBOX_SCRIPT:-$KVMC_SRCDIR/scripts/sandbox}
export KVMC_SRCDIR KVMC_BUILDDIR

SB_TEST=$(basename "$0")

# ------------------------------------------------------------- reporting

# A fork costs about 10 ms of CPU on a nested-virtualisation host and the
# tests poll all the time: the helpers that run in every poll (clock,
# log, wait) use bash builtins only.
sb_log() {
    local t=${EPOCHREALTIME/[.,]/}
    printf '[%(%T)T.%s %s] %s\n' "${t%??????}" "${t:(-6):3}" "$SB_TEST" "$*" >&2
}

fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}

skip() {
    printf 'SKIP: %s\n' "$*"
    exit 77
}

# The one line the runner reports for a passing test.
proof() { printf 'PROOF: %s\n' "$*"; }

assert_eq() {
    local exp=$1 act=$2 msg=${3:-}
    [ "$exp" = "$act" ] || fail "${msg:+$msg: }expected '$exp', got '$act'"
}

assert_ne() {
    local unexp=$1 act=$2 msg=${3:-}
    [ "$unexp" != "$act" ] || fail "${msg:+$msg: }got '$act'"
}

# assert_true MSG CMD...
assert_true() {
    local msg=$1
    shift
    "$@" || fail "$msg (command: $*)"
}

# assert_false MSG CMD...
assert_false() {
    local msg=$1
    shift
    ! "$@" || fail "$msg (command succeeded: $*)"
}

# Milliseconds since the epoch.
sb_now_ms() {
    local t=${EPOCHREALTIME/[.,]/}
    echo "${t%???}"
}

# sb_now_var VAR: VAR = sb_now_ms, without the $(...) fork.
sb_now_var() {
    local _t=${EPOCHREALTIME/[.,]/}
    printf -v "$1" '%s' "${_t%???}"
}

# "1234" ms -> "1.23 s"
sb_secs() { awk -v ms="$1" 'BEGIN { printf "%.2f s", ms / 1000 }'; }

# sb_metric FILE NAME [LABEL=VALUE...]: the value of the first sample of
# metric NAME in the Prometheus text FILE whose labels include those
# given (empty when none).
sb_metric() {
    local file=$1 name=$2
    shift 2
    awk -v name="$name" -v want="$*" '
        BEGIN { n = split(want, w, " ") }
        $1 ~ "^" name "(\\{|$)" {
            ok = 1
            for (i = 1; i <= n; i++) {
                split(w[i], kv, "=")
                if (index($1, kv[1] "=\"" kv[2] "\"") == 0) ok = 0
            }
            if (ok) { print $2 + 0; exit }
        }' "$file"
}

# sb_wait_for DEADLINE_S CMD...: polls CMD every 100 ms until it succeeds
# (returns 0) or DEADLINE_S seconds pass (returns 1). Sets SB_WAITED_MS to
# the time it took. (Its locals are visible to an eval'd CMD: hence the
# odd names.)
sb_wait_for() {
    local t0 deadline _sbw_now _sbw_fd
    sb_now_var t0
    deadline=$((t0 + $1 * 1000))
    shift
    # The pause without sleep(1): read times out on a pipe this shell holds
    # both ends of; CMD runs without it.
    exec {_sbw_fd}<> <(:)
    while :; do
        if "$@" >/dev/null 2>&1 {_sbw_fd}<&-; then
            sb_now_var _sbw_now
            SB_WAITED_MS=$((_sbw_now - t0))
            exec {_sbw_fd}<&-
            return 0
        fi
        sb_now_var _sbw_now
        if [ "$_sbw_now" -ge "$deadline" ]; then
            SB_WAITED_MS=$((_sbw_now - t0))
            exec {_sbw_fd}<&-
            return 1
        fi
        read -r -t 0.1 -u "$_sbw_fd" _ || :
    done
}

# ------------------------------------------------------------ life cycle

# sb_require CMD...: skip (77) unless every command exists.
sb_require() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 ||
            skip "$c not installed (run scripts/setup)"
    done
}

# sb_init SHORT: names this test's sandbox, checks the prerequisites and
# installs the cleanup trap.
sb_init() {
    local short=$1 prefix
    [ "$EUID" -eq 0 ] || skip "cluster tests need root (namespaces)"
    sb_require ip nsenter unshare nft corosync corosync-quorumtool sanlock \
        tgtd tgtadm
    [ -x "$SANDBOX" ] || fail "no sandbox script at $SANDBOX"
    prefix=${KVMC_TEST_PREFIX:-t$(printf '%03x' $((RANDOM % 4096)))}
    # Sandbox names are at most 8 characters (they prefix interface
    # names): a longer test name is folded to a 4-hex-digit hash.
    if [ $((${#prefix} + ${#short})) -gt 8 ]; then
        short=$(printf '%s' "$short" | cksum | awk '{printf "%04x", $1 % 65536}')
    fi
    KVMC_SANDBOX_NAME=$prefix$short
    KVMC_SANDBOX_DIR=/var/lib/kvmcluster-sandbox/$KVMC_SANDBOX_NAME
    export KVMC_SANDBOX_NAME KVMC_SANDBOX_DIR
    # Tell the runner, so it can clean up even after a SIGKILL.
    [ -n "${KVMC_TEST_SANDBOXES:-}" ] &&
        echo "$KVMC_SANDBOX_NAME" >>"$KVMC_TEST_SANDBOXES"
    trap sb_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    sb_log "sandbox $KVMC_SANDBOX_NAME"
}

# Does any piece of the current sandbox exist?
sb_exists() {
    [ -e "$KVMC_SANDBOX_DIR" ] && return 0
    ip netns list 2>/dev/null | grep -q "^$KVMC_SANDBOX_NAME-" && return 0
    ip link show "$KVMC_SANDBOX_NAME-br" >/dev/null 2>&1
}

# EXIT trap: on failure show the daemons' logs, then always tear down.
sb_cleanup() {
    local rc=$? f
    trap - EXIT INT TERM
    if sb_exists; then
        if [ $rc -ne 0 ] && [ $rc -ne 77 ] && [ -d "$KVMC_SANDBOX_DIR" ]; then
            "$SANDBOX" status >&2 2>&1 || true
            for f in "$KVMC_SANDBOX_DIR"/*/corosync.log \
                "$KVMC_SANDBOX_DIR"/*/sanlock.out "$KVMC_SANDBOX_DIR"/*/*.out; do
                [ -s "$f" ] || continue
                echo "--- tail of $f" >&2
                tail -n 15 "$f" >&2
            done
        fi
        "$SANDBOX" down >&2 || rc=1
    fi
    exit $rc
}

# sb_require_stack: skip (77) unless every binary of the sandbox's whole
# per-node stack (KVMC_SANDBOX_DAEMONS=all) is built; 'up' would otherwise
# skip the missing daemons with a note and the test would fail later.
sb_require_stack() {
    local b
    for b in iscsi/lunbridge cli/clusterctl hvagent/hvagent hvagent/hvactl \
        clusterd/clusterd; do
        [ -x "$KVMC_BUILDDIR/$b" ] ||
            skip "no $KVMC_BUILDDIR/$b (build kvmcluster first)"
    done
    [ -e /dev/fuse ] || skip "no /dev/fuse (lunbridge needs FUSE)"
}

# sb_csv_env: after an 'up' with the csv daemon, sets SB_CSV_PATH (the LUN
# file of the cluster-shared volume, the same in every node), SB_CSV_LS
# (its lockspace) and SB_CSV_LS_OFFSET.
sb_csv_env() {
    [ -f "$KVMC_SANDBOX_DIR/csv.env" ] || fail "the sandbox has no CSV (csv.env)"
    # shellcheck disable=SC1091
    . "$KVMC_SANDBOX_DIR/csv.env"
}

# ------------------------------------------------------- sandbox commands

sb() { "$SANDBOX" "$@"; }

# sb_up N [env...]: fails the test if the sandbox does not come up.
# Sets SB_UP_MS.
sb_up() {
    local t0
    t0=$(sb_now_ms)
    "$SANDBOX" up "$@" >&2 || fail "sandbox up $* failed"
    SB_UP_MS=$(($(sb_now_ms) - t0))
    # shellcheck disable=SC1090
    eval "$("$SANDBOX" env)"
}

# Sets SB_DOWN_MS.
sb_down() {
    local t0
    t0=$(sb_now_ms)
    "$SANDBOX" down >&2 || fail "sandbox down failed"
    SB_DOWN_MS=$(($(sb_now_ms) - t0))
}

sb_exec() { "$SANDBOX" exec "$@"; }
sb_kill() { "$SANDBOX" kill "$@" >&2 || fail "sandbox kill $* failed"; }
sb_start() { "$SANDBOX" start "$@" >&2 || fail "sandbox start $* failed"; }
sb_partition() { "$SANDBOX" partition "$@" >&2 || fail "sandbox partition $* failed"; }
sb_heal() { "$SANDBOX" heal >&2 || fail "sandbox heal failed"; }
# shellcheck disable=SC2120
sb_pids() { "$SANDBOX" pids "$@"; }

# -------------------------------------------------------------- corosync

# sb_quorum_view NODE: "quorate|inquorate COUNT ID ID ..." from
# corosync-quorumtool -s on NODE; fails if corosync does not answer.
sb_quorum_view() {
    local out rc
    out=$(sb_exec "$1" corosync-quorumtool -s -p 2>/dev/null)
    rc=$?
    [ $rc -eq 0 ] || [ $rc -eq 2 ] || return 1
    awk -v rc=$rc '
        /^Membership information/ { m = 1; next }
        m && $1 ~ /^[0-9]+$/ && $2 ~ /^[0-9]+$/ { ids[n++] = $1 }
        END {
            printf "%s %d", (rc == 0 ? "quorate" : "inquorate"), n
            for (i = 0; i < n; i++) printf " %s", ids[i]
            printf "\n"
        }' <<<"$out"
}

# sb_quorum_members NODE: the member nodeids NODE sees, sorted, space
# separated ("1 2 3").
sb_quorum_members() {
    local v
    v=$(sb_quorum_view "$1") || return 1
    set -- $v
    shift 2
    printf '%s\n' "$@" | sort -n | paste -sd' '
}

sb_quorate() {
    local v
    v=$(sb_quorum_view "$1") || return 1
    [ "${v%% *}" = quorate ]
}

# sb_members_are NODE "1 2 3": NODE is quorate and sees exactly these.
sb_members_are() {
    sb_quorate "$1" && [ "$(sb_quorum_members "$1")" = "$2" ]
}

# sb_inquorate_alone NODE: NODE answers, is not quorate and sees only itself.
sb_inquorate_alone() {
    local v
    v=$(sb_quorum_view "$1") || return 1
    [ "$v" = "inquorate 1 ${1#node}" ]
}

# The votequorum flags line of NODE ("2Node Quorate WaitForAll").
sb_quorum_flags() {
    sb_exec "$1" corosync-quorumtool -s -p 2>/dev/null |
        awk -F: '/^Flags/ { sub(/^ */, "", $2); sub(/ *$/, "", $2); print $2 }'
}

# sb_tcp_reach NODE IP PORT: does NODE get an answer (accept or refusal)
# from IP:PORT within 2 s? A dropped packet gets none.
sb_tcp_reach() {
    local out
    out=$(sb_exec "$1" timeout 2 bash -c "exec 3<>/dev/tcp/$2/$3" 2>&1)
    case $? in
        0) return 0 ;;
        124) return 1 ;;
    esac
    grep -q 'refused' <<<"$out"
}

# ---------------------------------------------------- leftover checking

# Records every process of the sandbox (pid and start time) so that
# sb_assert_gone can prove none survived.
sb_snapshot_procs() {
    local p s
    SB_SNAPSHOT=
    # shellcheck disable=SC2119
    for p in $(sb_pids); do
        s=$(awk '{ sub(/.*\) /, ""); print $20 }' "/proc/$p/stat" 2>/dev/null) ||
            continue
        SB_SNAPSHOT="$SB_SNAPSHOT $p:$s"
    done
}

# Is PID still the process that started at START? A zombie is dead: only
# its parent (init, for holders' unshare wrappers) can still reap it.
sb_proc_alive() {
    local cur
    cur=$(awk '{ sub(/.*\) /, ""); if ($1 != "Z") print $20 }' \
        "/proc/$1/stat" 2>/dev/null)
    [ "$cur" = "$2" ]
}

# Are all processes of the snapshot gone?
sb_snapshot_dead() {
    local e
    for e in $SB_SNAPSHOT; do
        sb_proc_alive "${e%%:*}" "${e#*:}" && return 1
    done
    return 0
}

# Fails unless nothing of the sandbox is left: namespaces, interfaces,
# nftables table, mounts, recorded processes, state directory. Sets
# SB_GONE_DETAIL to what was checked.
sb_assert_gone() {
    local n=$KVMC_SANDBOX_NAME left='' e p s cur
    e=$(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$n-")
    [ -n "$e" ] && left="$left namespaces:[$(echo $e)]"
    e=$(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' |
        grep "^$n-")
    [ -n "$e" ] && left="$left links:[$(echo $e)]"
    nft list tables 2>/dev/null | grep -q "kvmc_sb_$n\$" &&
        left="$left nft-table:kvmc_sb_$n"
    e=$(grep -E "/run/netns/$n-|$KVMC_SANDBOX_DIR" /proc/self/mountinfo)
    [ -n "$e" ] && left="$left mounts:[$e]"
    # SIGKILLed processes take a moment to exit: poll with a deadline
    # (keeping the caller's SB_WAITED_MS).
    local waited=${SB_WAITED_MS:-}
    sb_wait_for 5 sb_snapshot_dead
    SB_WAITED_MS=$waited
    for e in $SB_SNAPSHOT; do
        p=${e%%:*}
        s=${e#*:}
        sb_proc_alive "$p" "$s" &&
            left="$left process:$p($(cat "/proc/$p/comm" 2>/dev/null))"
    done
    [ -e "$KVMC_SANDBOX_DIR" ] && left="$left dir:$KVMC_SANDBOX_DIR"
    [ -z "$left" ] || fail "sandbox $n left behind:$left"
    SB_GONE_DETAIL="no namespace, link, nft table, mount, dir or any of $(echo $SB_SNAPSHOT | wc -w) processes left"
}
