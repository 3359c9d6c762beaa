# Shared helpers of the hvagent cluster tests (sourced, not run).
#
# hva_up brings up a 2-node sandbox (corosync + sanlock per node), a
# file-backed sanlock lockspace both nodes join (host_id = node number,
# io_timeout 1), the VM lease, and one hvagent per node listening for
# migrations on NODE_IP:7410 with the peer as its only allowed source.
# Everything is removed on exit, pass or fail.

HVA_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
HVA_B=${KVMC_BUILDDIR:-$HVA_TOP/build}
# Absolute: the VM definitions name the test guest by it (hvagent accepts
# only absolute paths in its kernel-dirs).
HVA_B=$(cd "$HVA_B" 2>/dev/null && pwd) || HVA_B=${KVMC_BUILDDIR:-$HVA_TOP/build}
export KVMC_BUILDDIR=$HVA_B
# Only the system daemons: these tests run their own hvagents.
export KVMC_SANDBOX_DAEMONS="corosync sanlock"
export KVMC_SANDBOX_NAME=${KVMC_SANDBOX_NAME:-hva$$}
KVMC_SANDBOX_NAME=${KVMC_SANDBOX_NAME:0:8}
export KVMC_SANDBOX_DIR=${KVMC_SANDBOX_DIR:-/var/lib/kvmcluster-sandbox/$KVMC_SANDBOX_NAME}
HVA_D=$KVMC_SANDBOX_DIR
HVA_UUID=5a1b0c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d
HVA_VM=g1
HVA_MEM=${HVA_MEM:-1024}
HVA_WSS=${HVA_WSS:-64}
HVA_RATE=${HVA_RATE:-64}
# Each agent keeps its run dir in the sandbox dir, so the host reads the
# serial logs directly.
hva_run() { echo "$HVA_D/n$1"; }
hva_serial() { echo "$HVA_D/n$1/vm/$HVA_UUID/serial.log"; }
HVA_IP=()

hva_skip() {
    echo "SKIP: $*"
    exit 77
}
hva_fail() {
    echo "FAIL: $*"
    exit 1
}
hva_log() { echo "# $*" >&2; }
hva_now_ms() {
    local t=${EPOCHREALTIME/[.,]/}
    echo "${t%???}"
}

hva_check_env() {
    [ "$EUID" = 0 ] || hva_skip "needs root (namespaces, sanlock)"
    command -v qemu-system-x86_64 >/dev/null || hva_skip "no qemu-system-x86_64"
    command -v sanlock >/dev/null || hva_skip "no sanlock"
    [ -x "$HVA_B/hvagent/hvagent" ] || hva_skip "no $HVA_B/hvagent/hvagent (build first)"
    [ -r "$HVA_B/tests/guest/kvmc-guest.elf" ] ||
        hva_skip "no test guest $HVA_B/tests/guest/kvmc-guest.elf"
    [ -f "$HVA_TOP/scripts/sandbox" ] || hva_skip "no scripts/sandbox"
}

# The sandbox script, snapshotted once per test so that an edit of
# scripts/sandbox while a test runs (bash reads scripts as it goes) cannot
# break the test halfway. TOP of the copy only serves defaults we set.
# Root runs it: it lives under the sandbox's root-only directory, not in
# /tmp where another user could create the path first.
HVA_SB_COPY=/var/lib/kvmcluster-sandbox/script-$KVMC_SANDBOX_NAME
hva_snapshot_sandbox() {
    local i
    { [ -d /var/lib/kvmcluster-sandbox ] || install -d -m 0711 /var/lib/kvmcluster-sandbox; } &&
        [ "$(stat -c %u /var/lib/kvmcluster-sandbox)" = 0 ] &&
        mkdir -p -m 0700 "$HVA_SB_COPY" &&
        mkdir -p "$HVA_SB_COPY/scripts" || hva_fail "mkdir $HVA_SB_COPY"
    for i in 1 2 3 4 5 6 7 8 9 10; do
        cp "$HVA_TOP/scripts/sandbox" "$HVA_SB_COPY/scripts/sandbox.tmp" &&
            bash -n "$HVA_SB_COPY/scripts/sandbox.tmp" 2>/dev/null &&
            mv "$HVA_SB_COPY/scripts/sandbox.tmp" "$HVA_SB_COPY/scripts/sandbox" &&
            return 0
        sleep 1 # someone is saving scripts/sandbox: try again
    done
    hva_fail "scripts/sandbox does not parse"
}
sb() { bash "$HVA_SB_COPY/scripts/sandbox" "$@"; }
# hvactl NODE ARGS...: the local API client inside NODE.
hvactl() {
    local n=$1
    shift
    sb exec "node$n" "$HVA_B/hvagent/hvactl" "$@"
}

hva_cleanup() {
    local rc=$?
    if [ "${HVA_KEEP:-0}" = 1 ]; then
        hva_log "kept sandbox $KVMC_SANDBOX_NAME ($HVA_D)"
        return $rc
    fi
    if [ $rc -ne 0 ] && [ $rc -ne 77 ] && [ -d "$HVA_D" ]; then
        for n in 1 2; do
            [ -f "$HVA_D/hva-agent$n.log" ] || continue
            hva_log "--- agent node$n log (tail) ---"
            grep -v "debug \[-\]" "$HVA_D/hva-agent$n.log" | tail -n 25 | sed 's/^/#   /' >&2
        done
    fi
    sb down >/dev/null 2>&1
    rm -rf "$HVA_SB_COPY"
    return $rc
}

# hva_agent_start N [EXTRA ARGS...]
hva_agent_start() {
    local n=$1 o=$((3 - $1))
    shift
    sb exec "node$n" bash -c "echo \$\$ >$HVA_D/hva-agent$n.pid; exec $HVA_B/hvagent/hvagent \
        --node node$n --run-dir $HVA_D/n$n --listen ${HVA_IP[$n]}:7410 --accel tcg \
        --allow ${HVA_ALLOW:-${HVA_IP[$o]}} --debug $*" >>"$HVA_D/hva-agent$n.log" 2>&1 &
    local deadline=$(($(hva_now_ms) + 10000))
    until hvactl "$n" status >/dev/null 2>&1; do
        (($(hva_now_ms) < deadline)) || hva_fail "hvagent on node$n did not come up"
        sleep 0.1 # poll interval
    done
}

hva_agent_stop() {
    local n=$1
    sb exec "node$n" bash -c "kill \$(cat $HVA_D/hva-agent$n.pid)" 2>/dev/null
    local deadline=$(($(hva_now_ms) + 10000))
    while hvactl "$n" status >/dev/null 2>&1; do
        (($(hva_now_ms) < deadline)) || hva_fail "hvagent on node$n did not stop"
        sleep 0.1 # poll interval
    done
}

hva_up() {
    hva_check_env
    hva_snapshot_sandbox
    trap hva_cleanup EXIT
    trap 'exit 130' INT TERM
    sb down >/dev/null 2>&1
    KVMC_SANDBOX_LUNS=64M:512 sb up 2 >"$HVA_D.up.log" 2>&1 ||
        { cat "$HVA_D.up.log"; hva_fail "sandbox up"; }
    rm -f "$HVA_D.up.log"
    local prefix
    prefix=$(sb env | sed -n 's/^KVMC_SB_PREFIX=//p')
    HVA_IP=("" "$prefix.1" "$prefix.2")
    truncate -s 8M "$HVA_D/hva-leases"
    sanlock direct init -s "hvals:0:$HVA_D/hva-leases:0" -o 1 >/dev/null ||
        hva_fail "sanlock direct init lockspace"
    sanlock direct init -r "hvals:vm-$HVA_VM:$HVA_D/hva-leases:1048576" >/dev/null ||
        hva_fail "sanlock direct init resource"
    sb exec node1 sanlock client add_lockspace -s "hvals:1:$HVA_D/hva-leases:0" -o 1 >/dev/null &
    local p1=$!
    sb exec node2 sanlock client add_lockspace -s "hvals:2:$HVA_D/hva-leases:0" -o 1 >/dev/null ||
        hva_fail "node2 add_lockspace"
    wait $p1 || hva_fail "node1 add_lockspace"
    cat >"$HVA_D/$HVA_VM.xml" <<EOF
<vm name="$HVA_VM" uuid="$HVA_UUID" memory-mib="$HVA_MEM" vcpus="1">
  <kernel path="$HVA_B/tests/guest/kvmc-guest.elf" cmdline="wss=$HVA_WSS rate=$HVA_RATE${HVA_GUEST_EXTRA:+ $HVA_GUEST_EXTRA}"/>
  <lease lockspace="hvals" resource="vm-$HVA_VM" path="$HVA_D/hva-leases" offset="1048576"/>
  <state path="$HVA_D/$HVA_VM-state.img" offset="0" size="$(((HVA_MEM + 64) << 20))"/>
</vm>
EOF
    hva_agent_start 1
    hva_agent_start 2
    hvactl 1 define "$HVA_D/$HVA_VM.xml" >/dev/null || hva_fail "define on node1"
    hvactl 2 define "$HVA_D/$HVA_VM.xml" >/dev/null || hva_fail "define on node2"
}

# Report lines of the guest on node N: "tick gen verify boot" per line.
hva_reports() {
    tr -d '\r' <"$(hva_serial "$1")" 2>/dev/null |
        sed -n 's/^KVMC boot=\([0-9a-f]*\) tick=\([0-9]*\) gen=\([0-9]*\) .*verify=\([A-Za-z]*\).*/\2 \3 \4 \1/p'
}
hva_last_tick() { hva_reports "$1" | tail -n 1 | cut -d' ' -f1; }
hva_first_tick() { hva_reports "$1" | head -n 1 | cut -d' ' -f1; }
hva_boot_ids() { hva_reports "$1" | cut -d' ' -f4 | sort -u; }
hva_all_verified() {
    ! hva_reports "$1" | awk '$3 != "ok" {bad=1} END {exit !bad}'
}

# hva_wait_ticks N COUNT: waits until node N's guest reported COUNT more
# lines than now (it runs), within 20 s.
hva_wait_reports() {
    local n=$1 more=$2 start
    start=$(hva_reports "$n" | wc -l)
    local deadline=$(($(hva_now_ms) + 20000))
    while (($(hva_reports "$n" | wc -l) < start + more)); do
        (($(hva_now_ms) < deadline)) || return 1
        sleep 0.2 # poll interval
    done
}

# hva_arm N [VM]: node N accepts an incoming migration of VM (default the
# test VM), its QEMU prepared meanwhile.
hva_arm() {
    local r
    r=$(hvactl "$1" migrate-in "${2:-$HVA_VM}" timeout-s=120) ||
        hva_fail "migrate-in ${2:-$HVA_VM} on node$1: $r"
}

hva_clear_serial() { [ ! -f "$(hva_serial "$1")" ] || : >"$(hva_serial "$1")"; }

# Attribute $2 of the reply text $1.
hva_attr() { sed -n "s/.* $2=\"\([^\"]*\)\".*/\1/p" <<<"$1" | head -n 1; }

hva_vm_field() { hva_attr "$(hvactl "$1" status "$HVA_VM")" "$2"; }

# Which QEMU pid holds the VM lease in node N's sanlock ("" if none).
hva_lease_pid() {
    sb exec "node$1" sanlock client status 2>/dev/null |
        sed -n "s/^r hvals:vm-$HVA_VM:.* p \([0-9]*\)$/\1/p"
}

hva_qemu_count() {
    sb exec "node$1" bash -c 'n=0; for p in /proc/[0-9]*; do
        [ "$(cat $p/comm 2>/dev/null)" = qemu-system-x86 ] && n=$((n+1)); done; echo $n'
}

# Asserts the guest ran on FROM then continued on TO without a reboot:
# same boot id, first tick on TO above the last on FROM, verify=ok on both.
hva_assert_continued() {
    local from=$1 to=$2 a b
    a=$(hva_last_tick "$from")
    b=$(hva_first_tick "$to")
    [ -n "$a" ] && [ -n "$b" ] || hva_fail "no guest reports (node$from: '$a', node$to: '$b')"
    ((b > a)) || hva_fail "guest counter went back: node$from ended at $a, node$to began at $b"
    [ "$(hva_boot_ids "$from")" = "$(hva_boot_ids "$to")" ] ||
        hva_fail "guest rebooted: boot ids $(hva_boot_ids "$from") vs $(hva_boot_ids "$to")"
    hva_all_verified "$from" || hva_fail "guest checksum failed on node$from"
    hva_all_verified "$to" || hva_fail "guest checksum failed on node$to"
    HVA_TICK_FROM=$a
    HVA_TICK_TO=$b
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    echo "SKIP: helper library of the test-hva-*.sh tests"
    exit 77
fi
