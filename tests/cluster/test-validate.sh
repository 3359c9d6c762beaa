#!/usr/bin/env bash
# 'clusterctl cluster validate' against broken set-ups, and the "ready"
# refusal, on 3 nodes with the whole stack (VMs on the CSV); node3's
# kvmcluster.conf lacks the lab override allow-no-watchdog:
#  1. sanlock without a watchdog (the sandbox's normal state, -w 0): the
#     watchdog check fails on every node, naming the cause; validate
#     exits 1; node1 and node2 are ready by the override, node3 is not
#     ready, 'status' says so, a VM that prefers node3 is
#     started elsewhere and a move to node3 is refused, naming the cause;
#  2. a mismatched authkey on node2: node2's authkey check fails, naming
#     the nodes that agree (and web1's node passes the memory check);
#  3. a LUN missing on node2 (lunbridge's directory there without one of
#     them): node2's LUN check fails, naming the LUN;
#  4. node3 cut off: validate on node3 fails its quorum check (not
#     quorate); validate on node1 says node3 does not report.
# kvmc-timeout: 240
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_require_stack
sb_init valid
export KVMC_SANDBOX_NO_OVERRIDE=node3
# shellcheck disable=SC2034 # read by lib/vm.sh: LUNs and the lockspace
VM_CSV=1
vm_up 3
t0=$(sb_now_ms)

# One validate per poll (each clusterctl in a node costs a second under
# load): X holds VIEWER's answer, `has` reads it.
X=
vx() { X=$(cdctl "$1" cluster validate --output xml 2>/dev/null) || [ $? -eq 1 ]; }
# check NODE CHECK: "status|reason" of NODE's CHECK in X
check() {
    awk -v node="$1" -v chk="$2" '
        /<node / { inside = index($0, "name=\"" node "\"") > 0 }
        inside && index($0, "<check name=\"" chk "\"") {
            match($0, /status="[a-z]*"/)
            st = substr($0, RSTART + 8, RLENGTH - 9)
            sub(/.*<check [^>]*>/, ""); sub(/<\/check>.*/, "")
            print st "|" $0; exit
        }' <<<"$X"
}
# has NODE CHECK STATUS [TEXT]...: in X, NODE's CHECK has STATUS and TEXT;
# more NODE CHECK STATUS TEXT groups may follow.
has() {
    local v
    while [ $# -ge 4 ]; do
        v=$(check "$1" "$2")
        [ "${v%%|*}" = "$3" ] && [[ "${v#*|}" == *"$4"* ]] || return 1
        shift 4
    done
}
poll_has() {
    local viewer=$1
    shift
    vx "$viewer" && has "$@"
}
# wait_has VIEWER NODE CHECK STATUS TEXT...: polls VIEWER's validate.
wait_has() {
    sb_wait_for 25 poll_has "$@" ||
        fail "$1's validate does not show ${*:2}: $(cdctl "$1" cluster validate 2>&1)"
}

# 1. No watchdog anywhere; node3 without the override is not ready.
wait_has node1 \
    node1 watchdog fail "sanlock runs without a watchdog (use_watchdog=0" \
    node2 watchdog fail "sanlock runs without a watchdog (use_watchdog=0" \
    node3 watchdog fail "sanlock runs without a watchdog (use_watchdog=0" \
    node3 ready fail "no watchdog" \
    node1 ready warn "lab override allow-no-watchdog" \
    node2 authkey pass "sha256 of /etc/corosync/authkey" \
    node2 lockspace pass "joined" \
    node1 quorum pass "quorate: 3 of 3 nodes"
sb_log "watchdog failures reported"
out=$(cdctl node1 cluster validate 2>&1) && fail "validate exited 0 with failing checks: $out"
grep -q "^node node3 (nodeid 3): NOT READY" <<<"$out" || fail "validate does not show node3 not ready: $out"
grep -q "^FAILED: " <<<"$out" || fail "validate does not sum up the failure: $out"
st=$(cdctl node1 status 2>&1)
grep -q "^ready: *node3 NOT READY: no watchdog" <<<"$st" || fail "status does not show node3 not ready: $st"
sb_log "status shows node3 not ready"
vm_define web1 high 128 '<preferred-owners><node>node3</node></preferred-owners>'
out=$(cdctl node1 vm add "$VM_DIR/web1.xml" 2>&1) || fail "vm add web1: $out"
out=$(cdctl node1 vm start web1 2>&1) || fail "vm start web1: $out"
sb_wait_for 30 eval '[ -n "$(vm_where node1 web1)" ]' ||
    fail "web1 runs nowhere: $(cdctl node1 explain web1 2>&1)"
where=$(vm_where node1 web1)
sb_log "web1 placed on $where"
[ "$where" != node3 ] || fail "web1 was placed on node3, which is not ready"
out=$(cdctl node1 move-vm web1 --to node3 --live 2>&1) &&
    fail "a move to node3, not ready, was accepted: $out"
grep -q "node 'node3' takes no VMs: it is not ready" <<<"$out" ||
    fail "the refused move does not say node3 is not ready: $out"
t1=$(sb_now_ms)

# 2. A mismatched authkey on node2 (corosync keeps the key it read).
key=$KVMC_SANDBOX_DIR/node2/etc-corosync/authkey
cp "$key" "$KVMC_SANDBOX_DIR/authkey.saved"
head -c 128 /dev/urandom >"$key.new" && chmod 0400 "$key.new" && mv -f "$key.new" "$key"
sb_log "node2's authkey replaced"
wait_has node1 node2 authkey fail "differs from" node1 authkey pass "" \
    "$where" memory pass "fit in the other nodes'"
why_key=$(check node2 authkey)
[[ $why_key == *"on node1, node3"* ]] || fail "the authkey failure does not name node1, node3: $why_key"
mv -f "$KVMC_SANDBOX_DIR/authkey.saved" "$key" # checked back below
t2=$(sb_now_ms)

# 3. A LUN missing on node2: its LUN directory shows every LUN but one
#    (the others bound onto lunbridge's files, so nothing else changes).
luns=$(sb_exec node2 ls /run/kvmcluster/luns) || fail "node2 has no LUN directory"
victim=
for l in $luns; do [ "/run/kvmcluster/luns/$l" = "$SB_CSV_PATH" ] || victim=$l; done
[ -n "$victim" ] || fail "no LUN besides the CSV's to hide (LUNs: $luns)"
fake=$KVMC_SANDBOX_DIR/node2/fakeluns
mkdir -p "$fake"
# shellcheck disable=SC2016
sb_exec node2 bash -c 'set -e; cd /run/kvmcluster/luns
    for l in $2; do [ "$l" = "$3" ] || { : >"$1/$l"; mount --bind "$l" "$1/$l"; }; done
    mount --rbind "$1" /run/kvmcluster/luns' hide "$fake" "$luns" "$victim" ||
    fail "cannot hide $victim on node2"
sb_log "$victim hidden on node2"
wait_has node1 node2 luns fail "missing here '$victim'"
sb_log "node2's missing LUN reported"
why_lun=$(check node2 luns)
# shellcheck disable=SC2016
sb_exec node2 bash -c 'umount -l /run/kvmcluster/luns &&
    for l in "$1"/*; do umount "$l"; done' restore "$fake" ||
    fail "cannot restore node2's LUN directory"
t3=$(sb_now_ms)

# 4. node3 without quorum (node2's key and LUNs back first).
wait_has node1 node2 authkey pass "" node2 luns pass ""
sb_log "node2's key and LUNs back"
sb_partition node3
wait_has node3 node3 quorum fail "not quorate"
why_q=$(check node3 quorum)
wait_has node1 node3 quorum fail "no report from node node3"
t4=$(sb_now_ms)
sb_heal

sb_down
sb_assert_gone
proof "validate named each broken set-up: no watchdog on 3 nodes (node3 not" \
    "ready: web1 preferring node3 placed on $where, move refused);" \
    "authkey: ${why_key#*|};" \
    "LUN: ${why_lun#*|};" \
    "quorum: ${why_q#*|};" \
    "times $(sb_secs $((t1 - t0))), $(sb_secs $((t2 - t1))), $(sb_secs $((t3 - t2))), $(sb_secs $((t4 - t3)))"
