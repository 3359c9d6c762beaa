#!/usr/bin/env bash
# A cluster database larger than one corosync message: 3 nodes running
# clusterd hold 4 VMs with large embedded definitions (markup, quotes,
# tabs, CRs); node3's clusterd is killed and its copy deleted; on restart it
# takes the cluster's copy, sent in chunks, and holds the same digest and
# the same bytes on disk as node1 (the crash itself recorded as a node
# failure in the CDB).
# 'cdb get' of a document larger than an IPC reply is refused clearly.
# kvmc-timeout: 240
# kvmc-light: no guest, a few daemons; runs beside the alone tests
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"

cd_require
sb_init cdl
KVMC_SANDBOX_DAEMONS=corosync sb_up 3
NODES="node1 node2 node3"
for n in $NODES; do cd_start $n; done
cd_wait_started $NODES
sb_wait_for 30 cd_converged 3 $NODES || fail "no convergence: $(cd_views $NODES)"

def=$KVMC_SANDBOX_DIR/big.xml
# ~300 KiB of text that needs escaping, deterministic.
awk 'BEGIN { srand(5); printf "<vm name=\"big\">\r\n";
    for (i = 0; i < 7000; i++) {
        printf "\t<x a=\"%d\">&amp; <![CDATA[%c]]> caf\xc3\xa9</x>\n", int(rand() * 1e6), 65 + int(rand() * 26) }
    printf "</vm>\n" }' >"$def"
t0=$(sb_now_ms)
for i in 1 2 3 4 5; do
    out=$(cdctl node$((i % 3 + 1)) cdb add-vm big$i low "$def" 2>&1) || fail "add big$i: $out"
done
out=$(cdctl node2 cdb remove-vm big5 2>&1) || fail "remove big5: $out"
add_ms=$(($(sb_now_ms) - t0))
sb_wait_for 30 cd_converged 3 $NODES || fail "no convergence: $(cd_views $NODES)"
want=$CD_DIGEST
size=$(stat -c %s "$KVMC_SANDBOX_DIR/node1/state/cdb.xml")
[ "$size" -gt $((1024 * 1024)) ] || fail "document only $size bytes"
chunk=$(sed -n 's/.*sync chunks of \([0-9]*\) bytes.*/\1/p' \
    "$KVMC_SANDBOX_DIR/node1/clusterd.out" | head -n1)
[ -n "$chunk" ] && [ "$size" -gt "$chunk" ] || fail "chunk size '$chunk' >= document $size"

err=$(cdctl node1 cdb get 2>&1 >/dev/null) && fail "cdb get of $size bytes did not refuse"
grep -q "read /var/lib/kvmcluster/cdb.xml" <<<"$err" || fail "unclear error: $err"

cd_kill node3 KILL
rm -f "$KVMC_SANDBOX_DIR/node3/state/cdb.xml"
t0=$(sb_now_ms)
cd_start node3
cd_wait_started node3
sb_wait_for 60 cd_converged 3 $NODES || fail "node3 did not sync: $(cd_views $NODES)"
sync_ms=$(($(sb_now_ms) - t0))
line=$(grep "adopted the copy" "$KVMC_SANDBOX_DIR/node3/clusterd.out" | tail -n1)
[ -n "$line" ] || fail "node3 did not adopt a copy"
took=$(sed -n 's/.*in sync after \([0-9]*\) ms.*/\1/p' <<<"$line")
# A clusterd killed while its node stays a member is a daemon failure
# (quarantine counts it): the coordinator adds it to the CDB, so the
# document after the restart is the one before plus that record.
recorded() {
    cat "$KVMC_SANDBOX_DIR"/node*/clusterd.out | grep -q "recorded a failure of node 'node3'"
}
sb_wait_for 30 recorded || fail "node3's clusterd crash was not recorded"
sb_wait_for 60 cd_converged 3 $NODES || fail "no convergence after the record: $(cd_views $NODES)"
[ "$CD_DIGEST" != "$want" ] || fail "the digest did not change with the failure record"
same_copy() {
    cmp -s "$KVMC_SANDBOX_DIR/node1/state/cdb.xml" "$KVMC_SANDBOX_DIR/node3/state/cdb.xml"
}
sb_wait_for 10 same_copy || fail "node3's saved cdb.xml differs from node1's"
size=$(stat -c %s "$KVMC_SANDBOX_DIR/node3/state/cdb.xml")

proof "a $size-byte CDB (4 VMs with 300 KiB definitions, added and removed" \
    "through 3 nodes in $add_ms ms) reached an empty restarted node3 in" \
    "$(( (size + chunk - 1) / chunk )) chunks of $chunk bytes: sync round" \
    "$took ms, same digest ${CD_DIGEST:0:16} and cdb.xml bytes on all 3 nodes $(sb_secs $sync_ms)" \
    "after restart; 'cdb get' over the IPC limit refused with a pointer to" \
    "cdb.xml"
