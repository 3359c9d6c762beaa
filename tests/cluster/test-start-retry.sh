#!/usr/bin/env bash
# A failed start is retried, elsewhere, without anyone typing anything
# (issue 19 item 1): node2's sanlock leaves the VM lockspace, as after a
# storage cut, so a VM preferring node2 fails to start there ("lease ...
# not acquired: this host's sanlock has not joined its lockspace", not
# sanlock's "No space left on device"); after the back-off
# (start-retry-delay, set to 8 s here so the wait can be watched) the
# coordinator starts it on another node. The failed attempt and its cause
# are in 'vm show', 'explain' and the event stream; a 'vm start' typed
# while the VM waits says it waits for a retry, when and why, instead of
# printing the old failure as its result (item 5). A VM no node can run
# (its only possible owner drained) is reported as such by status and
# vm start.
# kvmc-timeout: 400
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_init costr
# The leases of file-backed lockspace by default (VM_CSV=1: the CSV's):
# the fault is the same, sanlock without the lockspace, and the loaded
# 2-core machine does not add iSCSI timeouts of its own.
VM_CSV=${VM_CSV:-0}
vm_up 3
if vm_on_csv; then
    LS_SPEC="$SB_CSV_LS:2:$SB_CSV_PATH:$SB_CSV_LS_OFFSET"
else
    LS_SPEC="$VM_LS:2:$VM_DIR/lockspace:0"
fi
DELAY=8
VM=sr1

cdctl node1 config set start-retry-delay $((DELAY * 1000)) >/dev/null ||
    fail "config set start-retry-delay"
vm_define $VM high 64 '<preferred-owners><node>node2</node></preferred-owners>'
cdctl node1 vm add "$VM_DIR/$VM.xml" >/dev/null || fail "vm add $VM"

# Every event of the run, from node3's clusterd.
sb_exec node3 "$CD_CTL" events --output xml >"$KVMC_SANDBOX_DIR/events" 2>&1 &
epid=$!
trap 'rc=$?; kill $epid 2>/dev/null; (exit $rc); sb_cleanup' EXIT

sb_exec node2 sanlock client rem_lockspace -s "$LS_SPEC" >/dev/null ||
    fail "rem_lockspace $LS_SPEC on node2"
sb_log "node2 left lockspace ${LS_SPEC%%:*}: $(sb_exec node2 sanlock client status | grep -c "^s ${LS_SPEC%%:*}:") joined"

t0=$(sb_now_ms)
cdctl node1 vm start $VM --no-wait >/dev/null || fail "vm start --no-wait"
# The first attempt fails on node2; the VM then waits for its retry.
waiting() { [ "$(vm_field node1 $VM wait)" = retry ]; }
sb_wait_for 60 waiting ||
    fail "$VM does not wait for a retry: $(cdctl node1 vm show $VM --output xml | grep -v definition)"
tfail=$(($(sb_now_ms) - t0))
# An administrator types 'vm start' now: told what happens, not the past.
out=$(cdctl node1 vm start $VM 2>&1) || fail "vm start while waiting for the retry: $out"
sb_log "vm start while waiting: $(tr '\n' '|' <<<"$out")"
first=$(head -n1 <<<"$out")
[[ $first == *"waiting for a retry at "*" on node"*"(on node2"*"not acquired"* ]] ||
    fail "vm start did not say it waits for a retry (and why): '$first'"
[[ $first == *"has not joined its lockspace"* ]] ||
    fail "the failed start does not say the lockspace is not joined: '$first'"
[[ $out != *"did not start"* ]] || fail "vm start printed the old failure as its result: $out"
[[ $out == *"running on node"[13]* ]] || fail "vm start did not end with the VM running on node1 or node3: $out"
trun=$(($(sb_now_ms) - t0))

w=$(vm_where node1 $VM)
[ "$w" = node1 ] || [ "$w" = node3 ] || fail "$VM runs on '$w', expected node1 or node3"
sb_wait_for 20 vm_ticking "$w" $VM || fail "$VM does not tick on $w"
assert_eq 1 "$(vm_qemu_count $VM)" "QEMUs of $VM"
# Without anyone typing: the retry was the coordinator's, after the
# back-off, and within it plus the start time.
((trun - tfail < (DELAY + 60) * 1000)) || fail "retry took $(sb_secs $((trun - tfail)))"
show=$(cdctl node1 vm show $VM --output xml)
grep -q 'kind="start" cause="[a-z]*" from="" to="node2" status="failed"[^>]*msg="[^"]*not acquired' <<<"$show" ||
    fail "vm show has no failed start on node2 with its cause: $(grep '<action' <<<"$show")"
grep -q "kind=\"start\" cause=\"retry\" from=\"\" to=\"$w\" status=\"done\"" <<<"$show" ||
    fail "vm show has no successful retry on $w: $(grep '<action' <<<"$show")"
ex=$(cdctl node2 explain $VM)
grep -q "start attempt: on node 'node2' ([a-z]*): failed at [0-9:]*: .*not acquired" <<<"$ex" ||
    fail "explain does not show the failed attempt: $ex"
grep -q "start attempt: on node '$w' (retry): done" <<<"$ex" ||
    fail "explain does not show the retry on $w: $ex"
sb_wait_for 5 grep -q "vm=\"$VM\" kind=\"start\".*to=\"node2\" status=\"failed\"" "$KVMC_SANDBOX_DIR/events" ||
    fail "no event of the failed start: $(tail -n 5 "$KVMC_SANDBOX_DIR/events")"
grep -q "type=\"vm-wait\" vm=\"$VM\" wait=\"retry\"" "$KVMC_SANDBOX_DIR/events" ||
    fail "no vm-wait event: $(grep -c . "$KVMC_SANDBOX_DIR/events") events"
grep -q "vm=\"$VM\" kind=\"start\" cause=\"retry\".*to=\"$w\" status=\"done\"" "$KVMC_SANDBOX_DIR/events" ||
    fail "no event of the retry on $w"

# No node at all: its only possible owner is drained.
vm_define sr2 high 64 '<possible-owners><node>node2</node></possible-owners>'
cdctl node1 vm add "$VM_DIR/sr2.xml" >/dev/null || fail "vm add sr2"
cdctl node1 node drain node2 >/dev/null || fail "drain node2"
out=$(cdctl node1 vm start sr2 2>&1) && fail "vm start of sr2 succeeded: $out"
[[ $out == *"VM 'sr2' cannot run on any node: "* ]] || fail "vm start sr2 said: $out"
st=$(cdctl node1 status)
grep -q "^sr2 .*CANNOT RUN ANYWHERE" <<<"$st" || fail "status does not show sr2 as unable to run: $st"
sb_wait_for 5 grep -q "type=\"vm-wait\" vm=\"sr2\" wait=\"no-node\"" "$KVMC_SANDBOX_DIR/events" ||
    fail "no vm-wait event for sr2"
proof "start on node2 without its lockspace failed after $(sb_secs $tfail); the coordinator retried on $w after the ${DELAY} s back-off, running $(sb_secs $((trun - tfail))) after the failure, with nobody typing; vm start meanwhile said: '$first'; vm show, explain and events show the failed attempt (lease not acquired) and the retry; sr2 (only owner drained): '$(tr -d '\n' <<<"$out")'"
