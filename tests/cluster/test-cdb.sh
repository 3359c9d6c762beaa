#!/usr/bin/env bash
# The replicated cluster database on 3 nodes running clusterd:
#  1. the nodes form, register themselves and hold one digest;
#  2. a change made on node1 is visible on every node with the same digest;
#  3. a bad value is refused with a clear error and changes nothing;
#  4. partitioned node3 (minority) refuses writes and keeps its copy; the
#     majority keeps writing; after heal every node holds the same digest;
#  5. clusterd killed on node2 misses a change, restarts from its saved
#     copy and takes the cluster's newer one;
#  6. a damaged cdb.xml is set aside on restart and the node takes the
#     cluster's copy;
#  7. node3 crashes whole (corosync too), misses a change, comes back and
#     syncs.
# kvmc-timeout: 240
# kvmc-light: no guest, a few daemons; runs beside the alone tests
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"

cd_require
sb_init cd3
# clusterd needs corosync only.
KVMC_SANDBOX_DAEMONS=corosync sb_up 3
NODES="node1 node2 node3"

t0=$(sb_now_ms)
for n in $NODES; do cd_start $n; done
cd_wait_started $NODES
sb_wait_for 30 cd_converged 3 $NODES ||
    fail "clusterds did not converge within 30 s: $(cd_views $NODES)"
has_nodes() { [ "$(cdctl node1 node list --output xml | grep -c 'online="yes"')" = 3 ] &&
    ! cdctl node1 node list --output xml | grep -q unregistered; }
sb_wait_for 30 has_nodes || fail "nodes did not register: $(cdctl node1 node list)"
sb_wait_for 10 cd_converged 3 $NODES || fail "no convergence after registration"
form_ms=$(($(sb_now_ms) - t0))
coord=$(cd_attr node3 coordinator)
assert_eq 1 "$coord" "coordinator seen by node3"
sb_log "formed in $form_ms ms, epoch $CD_EPOCH, coordinator $coord"

# 2. Replication of one change.
t0=$(sb_now_ms)
out=$(cdctl node1 config set quorum-grace 45s) || fail "config set on node1: $out"
# The reply comes once corosync delivered the change back to node1.
set_ms=$(($(sb_now_ms) - t0))
same_grace() {
    local n
    for n in $NODES; do
        [ "$(cdctl $n config get quorum-grace)" = 45000 ] || return 1
    done
    cd_converged 3 $NODES
}
sb_wait_for 10 same_grace || fail "change not everywhere: $(cd_views $NODES)"
change_ms=$(($(sb_now_ms) - t0))
change_epoch=$CD_EPOCH
sb_log "change on node1 visible on 3 nodes in $change_ms ms (epoch $CD_EPOCH)"

# 3. A bad value: clear error, no change.
before=$(cd_attr node2 digest)
err=$(cdctl node2 config set max-passes 0 2>&1) && fail "max-passes 0 accepted"
assert_eq "clusterctl: setting 'max-passes': '0' is out of range 1..100" "$err"
err=$(cdctl node2 config set no-such-key 1 2>&1) && fail "unknown key accepted"
grep -q "unknown setting 'no-such-key'" <<<"$err" || fail "bad error: $err"
assert_eq "$before" "$(cd_attr node2 digest)" "digest after refused changes"

# 4. Partition: node3 alone.
sb_partition node3
t0=$(sb_now_ms)
minority() { [ "$(cd_attr node3 quorate)" = no ] && [ "$(cd_attr node1 quorate)" = yes ] &&
    cd_converged 2 node1 node2; }
sb_wait_for 30 minority || fail "node3 did not lose quorum: $(cdctl node3 status)"
part_ms=$(($(sb_now_ms) - t0))
d3=$(cd_attr node3 digest)
err=$(cdctl node3 config set max-passes 5 2>&1)
rc=$?
assert_eq 4 $rc "exit status of a write without quorum"
grep -q "no quorum" <<<"$err" || fail "write without quorum: unclear error '$err'"
assert_eq "$d3" "$(cd_attr node3 digest)" "node3 digest after refused write"
assert_eq 0 "$(cd_attr node3 coordinator)" "coordinator on the minority"
for v in 3 4 5; do
    out=$(cdctl node$((v % 2 + 1)) config set max-passes $v) ||
        fail "majority write: $out"
done
sb_wait_for 10 cd_converged 2 node1 node2 || fail "majority diverged"
maj_epoch=$CD_EPOCH
[ "$(cd_attr node3 epoch)" -lt "$maj_epoch" ] || fail "minority epoch moved"

sb_heal
t0=$(sb_now_ms)
sb_wait_for 60 cd_converged 3 $NODES ||
    fail "no convergence after heal: $(cd_views $NODES)"
heal_ms=$(($(sb_now_ms) - t0))
assert_eq 5 "$(cdctl node3 config get max-passes)" "max-passes on node3"
assert_eq "$maj_epoch" "$CD_EPOCH" "epoch after heal"
sb_log "heal: converged in $heal_ms ms at epoch $CD_EPOCH"

# 5. clusterd killed on node2, a change while it is away, restart.
nrec() { cat "$KVMC_SANDBOX_DIR"/node*/clusterd.out | grep -c "recorded a failure of node 'node2'"; }
rec0=$(nrec)
cd_kill node2 KILL
gone() { cd_converged 2 node1 node3; }
sb_wait_for 30 gone || fail "node1+3 did not see node2's clusterd leave"
# The crash is a daemon failure (quarantine): the coordinator records it
# in the CDB; 'want' below includes it.
sb_wait_for 30 eval '[ "$(nrec)" -gt "$rec0" ]' || fail "node2's clusterd crash was not recorded"
sb_wait_for 10 cd_converged 2 node1 node3 || fail "node1+3 diverged after the record"
out=$(cdctl node3 config set downtime-target 80ms) || fail "write: $out"
sb_wait_for 10 cd_converged 2 node1 node3 || fail "node1+3 diverged"
want=$CD_DIGEST
old2=$(sed -n 's/.*epoch="\([0-9]*\)".*/\1/p' "$KVMC_SANDBOX_DIR/node2/state/cdb.xml" | head -n1)
[ "$old2" -lt "$CD_EPOCH" ] || fail "node2's saved copy is not older (epoch $old2)"
t0=$(sb_now_ms)
cd_start node2
cd_wait_started node2
sb_wait_for 30 cd_converged 3 $NODES ||
    fail "restarted node2 did not sync: $(cd_views $NODES)"
rejoin_ms=$(($(sb_now_ms) - t0))
assert_eq "$want" "$CD_DIGEST" "digest after rejoin"
assert_eq 80 "$(cdctl node2 config get downtime-target)" "downtime-target on node2"
grep -q "loaded '/var/lib/kvmcluster/cdb.xml': epoch $old2" \
    "$KVMC_SANDBOX_DIR/node2/clusterd.out" ||
    fail "node2 did not start from its saved copy (epoch $old2)"
# The saved copy on disk catches up too.
saved() { grep -q "epoch=\"$CD_EPOCH\"" "$KVMC_SANDBOX_DIR/node2/state/cdb.xml"; }
sb_wait_for 5 saved || fail "node2 did not persist epoch $CD_EPOCH"

# 6. A damaged copy: stop node2 cleanly, flip a value in its file.
cd_kill node2 TERM
sed -i 's/name="max-passes" value="5"/name="max-passes" value="9"/' \
    "$KVMC_SANDBOX_DIR/node2/state/cdb.xml"
grep -q 'value="9"' "$KVMC_SANDBOX_DIR/node2/state/cdb.xml" || fail "tamper failed"
cd_start node2
cd_wait_started node2
sb_wait_for 30 cd_converged 3 $NODES ||
    fail "node2 with damaged copy did not sync: $(cd_views $NODES)"
aside=$(ls "$KVMC_SANDBOX_DIR/node2/state/" | grep -c '^cdb.xml.bad-')
assert_eq 1 "$aside" "damaged copies set aside"
grep -q "digest mismatch" "$KVMC_SANDBOX_DIR/node2/clusterd.out" ||
    fail "node2 did not report the digest mismatch"
assert_eq 5 "$(cdctl node2 config get max-passes)" "max-passes on node2"

# 7. The whole of node3 crashes.
sb_kill node3
sb_wait_for 30 cd_converged 2 node1 node2 || fail "node1+2 after node3 crash"
out=$(cdctl node2 config set failback immediate 2>&1) || fail "write: $out"
sb_wait_for 10 cd_converged 2 node1 node2 || fail "node1+2 diverged"
want=$CD_DIGEST
t0=$(sb_now_ms)
sb_start node3
cd_start node3
cd_wait_started node3
sb_wait_for 60 cd_converged 3 $NODES ||
    fail "node3 did not sync after its crash: $(cd_views $NODES)"
crash_ms=$(($(sb_now_ms) - t0))
assert_eq "$want" "$CD_DIGEST" "digest after node3 came back"
assert_eq immediate "$(cdctl node3 config get failback)" "failback on node3"

proof "3 clusterds formed and registered in $(sb_secs $form_ms) (coordinator 1);" \
    "change on node1 acknowledged in $set_ms ms, seen on all 3 nodes in" \
    "$change_ms ms (epoch $change_epoch, clusterctl polling included);" \
    "bad values refused, digest unchanged; minority node3 refused writes" \
    "(exit 4) after losing quorum in $(sb_secs $part_ms), majority wrote 3" \
    "changes; after heal one digest in $heal_ms ms at epoch $maj_epoch;" \
    "killed clusterd restarted from epoch $old2 and synced in $rejoin_ms ms;" \
    "tampered cdb.xml set aside (digest mismatch) and replaced by the" \
    "cluster's copy; node3 crashed whole, restarted (corosync + clusterd)" \
    "and held digest ${CD_DIGEST:0:16} $(sb_secs $crash_ms) after start"
