# tests/cluster/lib/clusterd.sh: clusterd helpers for cluster tests (bash,
# sourced after lib/sandbox.sh).
#
#   cd_start NODE          start clusterd -f in NODE (pid kept in the
#                          sandbox dir, output in NODE/clusterd.out)
#   cd_kill NODE [SIG]     signal that clusterd (default KILL), wait for exit
#   cdctl NODE ARGS...     the cluster commands of clusterctl, in NODE
#   cd_attr NODE ATTR      one attribute of 'status --output xml'
#   cd_converged N NODES   every NODE in sync, N members, one digest

CD_BIN=$KVMC_BUILDDIR/clusterd/clusterd
CD_CTL=$KVMC_BUILDDIR/cli/clusterctl

cd_require() {
    [ -x "$CD_BIN" ] || fail "no clusterd at $CD_BIN (build it, or set KVMC_BUILDDIR)"
    [ -x "$CD_CTL" ] || fail "no clusterctl at $CD_CTL (build it, or set KVMC_BUILDDIR)"
}

cd_start() {
    local node=$1 d=$KVMC_SANDBOX_DIR/$1
    mkdir -p "$d/pids"
    # shellcheck disable=SC2016
    sb_exec "$node" env KVMC_SCHEMADIR="$KVMC_SRCDIR/schemas" bash -c \
        'out=$1; shift; setsid "$@" </dev/null >>"$out" 2>&1 & echo $!' \
        spawn "$d/clusterd.out" "$CD_BIN" -f >"$d/pids/clusterd" ||
        fail "$node: cannot start clusterd"
}

# cd_wait_started NODE...: each clusterd answers 'status' within 20 s;
# fails with its output if one exited instead.
cd_wait_started() {
    local node
    for node in "$@"; do
        sb_wait_for 20 cdctl "$node" status && continue
        cd_alive "$node" ||
            fail "$node: clusterd $(cd_pid "$node") exited at start:" \
                "$(tail -n 5 "$KVMC_SANDBOX_DIR/$node/clusterd.out" 2>/dev/null)"
        fail "$node: clusterd does not answer 'status' within 20 s"
    done
}

cd_pid() { cat "$KVMC_SANDBOX_DIR/$1/pids/clusterd" 2>/dev/null; }

cd_alive() {
    local pid
    pid=$(cd_pid "$1") && [ -n "$pid" ] && sb_exec "$1" kill -0 "$pid" 2>/dev/null
}

cd_kill() {
    local node=$1 sig=${2:-KILL} pid
    pid=$(cd_pid "$node") || fail "$node: no clusterd pid recorded"
    sb_exec "$node" kill "-$sig" "$pid" || fail "$node: kill -$sig $pid failed"
    sb_wait_for 10 eval "! cd_alive $node" ||
        fail "$node: clusterd $pid still alive 10 s after SIG$sig"
}

cdctl() {
    local node=$1
    shift
    sb_exec "$node" "$CD_CTL" "$@"
}

cd_attr() {
    cdctl "$1" status --output xml 2>/dev/null |
        sed -n "s/.* $2=\"\([^\"]*\)\".*/\1/p" | head -n1
}

# cd_converged N NODE...: each NODE is in sync with N members and all hold
# the same digest. Sets CD_DIGEST and CD_EPOCH.
cd_converged() {
    local want=$1 node xml d e first=
    shift
    for node in "$@"; do
        xml=$(cdctl "$node" status --output xml 2>/dev/null) || return 1
        grep -q ' sync="done"' <<<"$xml" || return 1
        [ "$(grep -c '<member ' <<<"$xml")" -eq "$want" ] || return 1
        d=$(sed -n 's/.* digest="\([0-9a-f]*\)".*/\1/p' <<<"$xml" | head -n1)
        e=$(sed -n 's/.* epoch="\([0-9]*\)".*/\1/p' <<<"$xml" | head -n1)
        if [ -z "$first" ]; then
            first=$d
            CD_EPOCH=$e
        fi
        [ "$d" = "$first" ] || return 1
    done
    CD_DIGEST=$first
}

# cd_cpu_reported NODE: every node in NODE's CDB has published its CPU
# capability (each clusterd does so once its hvagent has probed, seconds
# after start: a test that compares CDB digests waits for it first).
cd_cpu_reported() {
    local out
    out=$(cdctl "$1" cluster cpu 2>/dev/null) || return 1
    ! grep -q '(not reported)' <<<"$out"
}

# Prints "node1=<epoch>:<digest16> ..." for a failure message.
cd_views() {
    local node
    for node in "$@"; do
        printf '%s=%s:%.16s(%s) ' "$node" "$(cd_attr "$node" epoch)" \
            "$(cd_attr "$node" digest)" "$(cd_attr "$node" sync)"
    done
}
