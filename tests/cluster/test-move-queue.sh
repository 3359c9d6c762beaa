#!/usr/bin/env bash
# Simultaneous user moves are queued against the per-node migration limits
# (migration-max-concurrent outgoing per source, and hvagent's incoming
# limit, 2 by default, per target) instead of being refused by the
# target: six 'move-vm --live' started at once from node1, then nine
# (every VM at once, from all three nodes), all succeed, in waves, and the
# guests keep their boot ids. Every ~100 ms each node's hvagent is asked
# how many of its VMs migrate out ("migrating") and in ("incoming"): no
# sample ever sees more than the limit on one node. A move that had to
# wait said so ("queued ... place N").
# kvmc-alone: measures time closely or loads the whole machine
# kvmc-timeout: 900
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_init comq
# File-backed leases: the limits are the coordinator's, not the storage's,
# and nine guests plus the CSV's iSCSI path on a loaded 2-core machine
# fail lease I/O (sanlock io_timeout 1 s) for reasons this test is not
# about.
VM_CSV=${VM_CSV:-0}
# Small and quiet guests: nine TCG guests share the 2-core machine
# (nine, not more: every guest's start and checks cost CI time, and nine
# moves at once from three nodes already exceed every node's limit).
VM_WSS=4
VM_RATE=2
vm_up 3
N="node1 node2 node3"
# migration-max-concurrent (default 2, hvagent's --max-incoming default).
LIMIT=${MQ_LIMIT:-2}
[ "$LIMIT" = 2 ] || cdctl node1 config set migration-max-concurrent "$LIMIT" >/dev/null ||
    fail "config set migration-max-concurrent $LIMIT"
VMS=
for i in $(seq 1 9); do VMS="$VMS mq$i"; done

# All on node1 first (its preferred owner; failback never moves them).
declare -A boot
for v in $VMS; do
    vm_define $v medium "${MQ_MIB:-64}" '<preferred-owners><node>node1</node></preferred-owners>'
    cdctl node1 vm add "$VM_DIR/$v.xml" >/dev/null || fail "vm add $v"
done
# One at a time: nine leases acquired at once time out on a loaded
# machine. A start that failed anyway is retried elsewhere: bring it back.
for v in $VMS; do
    out=$(cdctl node1 vm start $v) || fail "vm start $v: $out"
    w=$(vm_where node1 $v)
    if [ "$w" != node1 ]; then
        out=$(cdctl node1 move-vm $v --to node1 --live) || fail "move $v to node1: $out"
    fi
done
for v in $VMS; do
    sb_wait_for 60 eval "[ \"\$(vm_where node1 $v)\" = node1 ] && vm_ticking node1 $v" ||
        fail "$v does not run on node1: $(cdctl node1 vm list)"
    boot[$v]=$(vm_last_boot node1 $v)
done

declare -A holder
for n in $N; do
    read -r holder[$n] _ <"$KVMC_SANDBOX_DIR/$n/holder" || fail "no holder pid of $n"
done
samples=$KVMC_SANDBOX_DIR/samples
: >"$samples"
# "T n1out/n1in n2out/n2in n3out/n3in", straight from each hvagent.
# The three hvagents asked at once, counted by bash, paused by a read
# timeout: with nine TCG guests migrating on two cores an hvactl status
# takes 270 ms (p50; 47 ms idle), and one node after the other, forking
# grep and date, a loaded CI machine took 13 samples in a whole run.
count_of() { # count_of TEXT WORD: how often WORD occurs in TEXT
    local marked=${1//"$2"/$'\x01'}
    marked=${marked//[^$'\x01']/}
    echo "${#marked}"
}
sampler() {
    local n line st t pause
    exec {pause}<> <(:)
    while :; do
        t=${EPOCHREALTIME/[.,]/}
        line=${t%???}
        for n in $N; do
            nsenter -t "${holder[$n]}" -m -n -p -u -- \
                "$KVMC_BUILDDIR/hvagent/hvactl" status \
                >"$samples.$n" 2>/dev/null {pause}<&- &
        done
        wait
        for n in $N; do
            st=
            read -r -d '' st <"$samples.$n"
            line="$line $(count_of "$st" 'state="migrating"')/$(count_of "$st" 'state="incoming"')"
        done
        echo "$line" >>"$samples"
        read -r -t 0.1 -u "$pause" _
    done
}
sampler &
spid=$!
trap 'rc=$?; kill $spid 2>/dev/null; (exit $rc); sb_cleanup' EXIT

# moves "VM..." from NODE: every move at once, each must succeed.
moves() {
    local node=$1 v pids=() i=0 bad=
    shift
    for v in "$@"; do
        cdctl "$node" move-vm "$v" --live >"$KVMC_SANDBOX_DIR/move-$v.out" 2>&1 &
        pids+=($!)
    done
    for v in "$@"; do
        wait "${pids[$i]}" || bad="$bad $v: $(tr '\n' ' ' <"$KVMC_SANDBOX_DIR/move-$v.out")"
        i=$((i + 1))
    done
    [ -z "$bad" ] || fail "moves failed:$bad"
}

check_guest() {
    local v=$1 w
    w=$(vm_where node1 $v)
    [ -n "$w" ] || fail "$v runs nowhere"
    sb_wait_for 30 vm_ticking "$w" $v ||
        fail "$v does not tick on $w: $(sb_exec "$w" "$KVMC_BUILDDIR/hvagent/hvactl" status | grep -o "name=\"$v\"[^>]*") serial: $(tail -n 1 "$(vm_serial "$w" $v)" 2>&1) (age $(($(date +%s) - $(stat -c %Y "$(vm_serial "$w" $v)" 2>/dev/null || echo 0))) s)"
    assert_eq "${boot[$v]}" "$(vm_last_boot "$w" $v)" "boot id of $v on $w (rebooted?)"
    assert_eq 1 "$(vm_qemu_count $v)" "QEMUs of $v"
}

# Every guest at once: one after the other, the guests' checks took a
# minute of this test's time (a subshell's fail ends only the subshell;
# its message is collected here).
check_guests() {
    local v pids=() i=0 bad=
    for v in $VMS; do
        check_guest $v 2>"$KVMC_SANDBOX_DIR/check-$v.err" &
        pids+=($!)
    done
    for v in $VMS; do
        wait "${pids[$i]}" || bad="$bad $(tr '\n' ' ' <"$KVMC_SANDBOX_DIR/check-$v.err")"
        i=$((i + 1))
    done
    [ -z "$bad" ] || fail "guests:$bad"
}

# The limit, checked on the samples so far (before the guests are).
limits() {
    local over
    over=$(awk -v l=$LIMIT '{ for (i = 2; i <= NF; i++) { split($i, a, "/"); if (a[1] > l || a[2] > l) { print; break } } }' "$samples" | head -n 3)
    [ -z "$over" ] || fail "more than $LIMIT migrations in flight on a node: $over"
    sb_log "$1: all moves succeeded; $(wc -l <"$samples") samples, at most $(awk '{ for (i = 2; i <= NF; i++) { split($i, a, "/"); if (a[1] > m) m = a[1]; if (a[2] > n) n = a[2] } } END { print m + 0 "/" n + 0 }' "$samples") out/in per node (limit $LIMIT)"
}

t0=$(sb_now_ms)
moves node1 mq1 mq2 mq3 mq4 mq5 mq6
t6=$(($(sb_now_ms) - t0))
queued6=$(cat "$KVMC_SANDBOX_DIR"/move-mq[1-6].out | grep -c "queued")
limits "6 moves ($queued6 queued)"
check_guests
# shellcheck disable=SC2086
t0=$(sb_now_ms)
moves node2 $VMS
t9=$(($(sb_now_ms) - t0))
queued9=$(cat "$KVMC_SANDBOX_DIR"/move-*.out | grep -c "queued")
limits "9 moves"
check_guests
sb_log "a queued move: $(grep -h queued "$KVMC_SANDBOX_DIR"/move-*.out | head -n1)"

kill $spid 2>/dev/null
wait $spid 2>/dev/null
nsamples=$(wc -l <"$samples")
((nsamples >= 10)) || fail "only $nsamples samples (sampling too slow to check the limit)"
over=$(awk -v l=$LIMIT '{ for (i = 2; i <= NF; i++) { split($i, a, "/"); if (a[1] > l || a[2] > l) { print; break } } }' "$samples" | head -n 3)
[ -z "$over" ] || fail "more than $LIMIT migrations in flight on a node: $over"
maxout=$(awk '{ for (i = 2; i <= NF; i++) { split($i, a, "/"); if (a[1] > m) m = a[1] } } END { print m + 0 }' "$samples")
maxin=$(awk '{ for (i = 2; i <= NF; i++) { split($i, a, "/"); if (a[2] > m) m = a[2] } } END { print m + 0 }' "$samples")
((maxout >= 1)) || fail "no sample saw a migration (sampling too slow?)"
((queued6 >= 1)) || fail "no move of the six said it was queued"
proof "6 simultaneous live moves from node1 done in $(sb_secs $t6) ($queued6 queued), then 9 at once in $(sb_secs $t9) ($queued9 queued in all); every move succeeded, all 9 guests kept their boot ids, one QEMU each; $nsamples samples of 3 hvagents: at most $maxout out / $maxin in per node (limit $LIMIT)"
