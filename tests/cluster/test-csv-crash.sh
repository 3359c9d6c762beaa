#!/usr/bin/env bash
# A node crashes in the middle of a run of CSV metadata updates, possibly
# holding the metadata lease: the survivor gets the lease once sanlock
# declares the dead host's lease expired (8 x io_timeout + 60 s), finds the
# last committed state readable and consistent (check clean, no overlap,
# node1's committed allocations all there), and commits on top of it.
# kvmc-timeout: 300
# kvmc-light: no guest, a few daemons; runs beside the alone tests
. "$(dirname "$0")/lib/sandbox.sh"

CTL=$KVMC_BUILDDIR/cli/clusterctl
export KVMC_SANDBOX_DAEMONS=${KVMC_SANDBOX_DAEMONS:-sanlock}
sb_init csvk
[ -x "$CTL" ] || skip "no $CTL (build kvmcluster first)"
sb_up 2

ctl() {
    local node=$1
    shift
    sb_exec "$node" "$CTL" "$@"
}

vol=$KVMC_SANDBOX_DIR/csv.img
truncate -s 2G "$vol" || fail "cannot create $vol"
ls_name=csvcrash$$
ctl node1 volume format "$vol" --name "$ls_name" --io-timeout 1 --slots 4 >&2 ||
    fail "format failed"
ls_off=$(ctl node1 volume inspect "$vol" | awk '$1 == "lockspace" { print $3 }')
for id in 1 2; do
    sb_exec node$id sanlock client add_lockspace \
        -s "$ls_name:$id:$vol:$ls_off" -o 1 >&2 ||
        fail "node$id: sanlock add_lockspace failed"
done

# node1 allocates, holding the lease 300 ms after each commit; it dies
# after at least 30 commits. Its sanlock is frozen first, so it cannot
# release anything on the way down: a crash, not an exit.
out1=$KVMC_SANDBOX_DIR/alloc1.out
ctl node1 volume alloc-stress "$vol" --count 100000 --tag n1 --hold-ms 300 \
    >"$out1" 2>&1 &
committed() {
    ctl node2 volume inspect "$vol" | grep -c ' n1-'
}
enough() { [ "$(committed)" -ge 30 ]; }
sb_wait_for 60 enough || fail "node1 did not commit 30 allocations in 60 s"
sb_exec node1 bash -c 'kill -STOP $(pidof sanlock)' ||
    fail "cannot freeze node1's sanlock"
t0=$(sb_now_ms)
before=$(committed)
sb_kill node1
wait 2>/dev/null
# Who holds the metadata lease on disk now (sanlock's leader record)?
meta_off=$(ctl node2 volume inspect "$vol" | awk '$1 == "leases" { print $3 }')
owner=$(sanlock direct dump "$vol:$meta_off" 2>/dev/null |
    awk '$3 == "csv-meta" { print $4 + 0, $5 + 0 }')
sb_log "node1 killed with at least $before allocations committed;" \
    "csv-meta lease: timestamp/owner '$owner'"
held=no
[ "${owner#* }" = 1 ] && [ "${owner%% *}" != 0 ] && held=yes

# The survivor: one allocation needs the metadata lease, which node1 may
# have held when it died.
out2=$(ctl node2 volume alloc-stress "$vol" --count 3 --tag n2 \
    --lock-timeout 150 2>&1) || fail "node2 could not allocate: $out2"
took_ms=$(($(sb_now_ms) - t0))
sb_log "node2: $out2"
# A lease held by a dead host frees only when sanlock declares it dead:
# 8 x io_timeout + 60 s after its last renewal.
if [ $held = yes ] && [ $took_ms -lt 60000 ]; then
    fail "node2 took the lease node1 held after only $(sb_secs $took_ms)"
fi

check=$(ctl node2 volume check "$vol") || fail "check after the crash: $check"
inspect=$(ctl node2 volume inspect "$vol")
n1=$(grep -c ' n1-' <<<"$inspect")
n2=$(grep -c ' n2-' <<<"$inspect")
[ "$n1" -ge "$before" ] || fail "node1's committed allocations shrank: $before -> $n1"
assert_eq 3 "$n2" "node2's allocations after the crash"
# node1's tags are a gapless prefix n1-0 .. n1-(n1-1): nothing lost inside.
last=$(awk '/^extents/ { e = 1; next } e && $7 ~ /^n1-/ { sub(/^n1-/, "", $7); print $7 }' \
    <<<"$inspect" | sort -n | tail -1)
assert_eq $((n1 - 1)) "$last" "highest node1 tag"
lease_note=$(grep -q 'lease waits' <<<"$out2" && sed 's/.*lease waits/lease waits/' <<<"$out2")

sb_down
proof "node1 killed after >= $before committed allocations (holding the" \
    "metadata lease: $held); node2 got the lease and committed 3 more" \
    "$(sb_secs $took_ms) after the crash" \
    "($lease_note); volume checks clean with node1's $n1 allocations gapless"
