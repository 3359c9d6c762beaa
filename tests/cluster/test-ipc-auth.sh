#!/usr/bin/env bash
# Local IPC is authenticated both ways (clusterd, hvagent and their
# clients), on node1 of two running clusterd with admin-group and
# read-only-group set:
#  1. as nobody in no group, clusterctl is refused for every operation and
#     hvactl is refused by hvagent;
#  2. as nobody in read-only-group, every read works and every write is
#     refused with a message naming the command and the admin group; the
#     CDB digest is unchanged; hvagent still refuses;
#  3. as nobody in admin-group, a write goes through;
#  4. with hvagent down, a server run by nobody on hvagent's IPC name is
#     refused by hvactl and by clusterd; with clusterd down, one on
#     clusterd's name is refused by clusterctl: neither impostor receives
#     a single request.
# kvmc-timeout: 240
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"

cd_require
IMPOSTOR=$KVMC_BUILDDIR/tests/cluster/kvmc-ipc-impostor
HVACTL=$KVMC_BUILDDIR/hvagent/hvactl
[ -x "$IMPOSTOR" ] || fail "no $IMPOSTOR (build kvmcluster first)"
[ -x "$HVACTL" ] || fail "no $HVACTL (build kvmcluster first)"
sb_require setpriv groupadd groupdel
sb_init ipca

# Throwaway groups, removed on exit whatever happens.
GA=kvmc-$KVMC_SANDBOX_NAME-adm
GR=kvmc-$KVMC_SANDBOX_NAME-ro
IMP_PID=
ipc_cleanup() {
    local rc=$?
    [ -z "$IMP_PID" ] || sb_exec node1 kill -KILL "$IMP_PID" 2>/dev/null
    groupdel "$GA" 2>/dev/null
    groupdel "$GR" 2>/dev/null
    (exit $rc)
    sb_cleanup
}
trap ipc_cleanup EXIT
groupadd -r "$GA" || fail "groupadd $GA"
groupadd -r "$GR" || fail "groupadd $GR"

KVMC_SANDBOX_DAEMONS="corosync sanlock hvagent" sb_up 2
conf=$KVMC_SANDBOX_DIR/node1/etc-kvmcluster/kvmcluster.conf
[ -f "$conf" ] || fail "no $conf"
sed -i "/^\[clusterd\]/a admin-group = $GA\nread-only-group = $GR" "$conf"
cd_start node1
cd_wait_started node1
sb_wait_for 20 eval 'cdctl node1 node list --output xml | grep -q "name=\"node1\""' ||
    fail "node1 never registered: $(cdctl node1 node list 2>&1)"
# Its CPU capability too: published a little later, it changes the digest.
sb_wait_for 60 cd_cpu_reported node1 ||
    fail "node1 did not publish its CPU capability: $(cdctl node1 cluster cpu 2>&1)"

# A VM definition nobody can read, for vm add / edit / cdb add-vm.
files=$KVMC_SANDBOX_DIR/ipc-files
mkdir -p "$files"
chmod 755 "$files"
cat >"$files/web1.xml" <<XML
<?xml version="1.0"?>
<vm>
  <name>web1</name>
  <uuid>6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab</uuid>
  <memory unit="MiB">128</memory>
  <vcpus>1</vcpus>
  <boot dev="kernel">
    <kernel>/usr/lib/kvmcluster/kvmc-guest.elf</kernel>
  </boot>
  <policy><priority>manual</priority></policy>
</vm>
XML
chmod 644 "$files/web1.xml"

# as GROUPS CMD...: CMD in node1 as nobody with only GROUPS ("" = none).
as() {
    local groups=$1
    shift
    if [ -n "$groups" ]; then
        sb_exec node1 setpriv --reuid=65534 --regid=65534 --groups="$groups" -- "$@"
    else
        sb_exec node1 setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"
    fi
}

# run_all WHO CMD...: runs clusterctl with each CMD (a word list) in node1
# in one go, as root (WHO=root) or as nobody with groups WHO ("" = none);
# prints "RC<tab>CMD<tab>OUTPUT" per command, OUTPUT on one line.
run_all() {
    local who=$1
    shift
    # shellcheck disable=SC2016 # expanded by the inner bash
    printf '%s\n' "$@" | sb_exec node1 bash -c '
        who=$1 ctl=$2
        case $who in
            root) run=() ;;
            "") run=(setpriv --reuid=65534 --regid=65534 --clear-groups --) ;;
            *) run=(setpriv --reuid=65534 --regid=65534 --groups="$who" --) ;;
        esac
        while IFS= read -r c; do
            out=$("${run[@]}" "$ctl" $c 2>&1 </dev/null)
            rc=$?
            printf "%s\t%s\t%s\n" "$rc" "$c" "${out//$'"'"'\n'"'"'/ }"
        done' run-all "$who" "$CD_CTL"
}

READS=("status" "node list" "vm list" "config get" "cdb get" "volume list"
    "vm show web1" "explain web1")
WRITES=("config set migration-max-concurrent 3|config set"
    "node drain node1|node drain/resume/set-state"
    "node resume node1|node drain/resume/set-state"
    "node set-state node1 paused|node drain/resume/set-state"
    "vm add $files/web1.xml|vm add"
    "vm edit web1 $files/web1.xml|vm edit"
    "vm start web1 --no-wait|vm start"
    "vm stop web1 --no-wait|vm stop"
    "vm remove web1|vm remove"
    "move-vm web1 --live|move-vm"
    "cdb add-vm web2 high $files/web1.xml|cdb add-vm"
    "cdb remove-vm web1|cdb remove-vm"
    "cdb add-volume vol1 ls1 naa.1|cdb add-volume"
    "cdb remove-volume vol1|cdb remove-volume"
    "volume check --repair|volume check --repair")

# The VM the VM writes name exists, so only permission can refuse them.
cdctl node1 vm add "$files/web1.xml" >/dev/null ||
    fail "root cannot add web1: $(cdctl node1 vm add "$files/web1.xml" 2>&1)"
d0=$(cd_attr node1 digest)

# 1. No group: every operation refused at connect.
n1=0
while IFS=$'\t' read -r rc c out; do
    [ "$rc" != 0 ] || fail "nobody ran 'clusterctl $c': $out"
    assert_eq "clusterctl: permission denied: clusterd serves root and the members of its admin-group and read-only-group only (kvmcluster.conf, [clusterd])" \
        "$out" "nobody: clusterctl $c"
    n1=$((n1 + 1))
done < <(run_all "" "${READS[@]}" "${WRITES[@]%%|*}")
assert_eq $((${#READS[@]} + ${#WRITES[@]})) "$n1" "operations tried as nobody"
out=$(as "" "$HVACTL" status 2>&1) && fail "hvagent served nobody: $out"
assert_eq "hvactl: hvagent 'hvagent' refused this user: it serves root only (run hvactl as root)" "$out"
hva_msg=$out

# 2. Read-only group: reads answered, writes refused naming the group.
nr=0
while IFS=$'\t' read -r rc c out; do
    [ "$rc" = 0 ] || fail "reader: 'clusterctl $c' failed: $out"
    nr=$((nr + 1))
done < <(run_all "$GR" "${READS[@]}")
assert_eq ${#READS[@]} "$nr" "reads run by the reader"
declare -A need
for w in "${WRITES[@]}"; do need[${w%%|*}]=${w#*|}; done
nw=0
while IFS=$'\t' read -r rc c out; do
    [ "$rc" != 0 ] || fail "reader ran 'clusterctl $c': $out"
    assert_eq "clusterctl: permission denied: '${need[$c]}' needs root or group '$GA'" \
        "$out" "reader: clusterctl $c"
    write_msg=$out
    nw=$((nw + 1))
done < <(run_all "$GR" "${WRITES[@]%%|*}")
assert_eq ${#WRITES[@]} "$nw" "writes tried by the reader"
assert_eq "$d0" "$(cd_attr node1 digest)" "CDB digest after refused writes"
out=$(as "$GR" "$HVACTL" status 2>&1) && fail "hvagent served a reader: $out"
out=$(as "$GA" "$HVACTL" status 2>&1) && fail "hvagent served an admin: $out"

# 3. Admin group: a write goes through.
out=$(as "$GA" "$CD_CTL" config set migration-max-concurrent 3 2>&1) ||
    fail "admin-group member cannot write: $out"
assert_eq 3 "$(cdctl node1 config get migration-max-concurrent --output xml |
    sed -n 's/.* value="\([^"]*\)".*/\1/p')" "setting written by the admin"
assert_ne "$d0" "$(cd_attr node1 digest)" "CDB digest after the admin's write"

# impostor NAME: serves NAME in node1 as nobody; IMP_PID, IMP_OUT.
impostor() {
    IMP_OUT=$KVMC_SANDBOX_DIR/impostor-$1.out
    : >"$IMP_OUT"
    chmod 666 "$IMP_OUT"
    # shellcheck disable=SC2016
    IMP_PID=$(sb_exec node1 bash -c 'out=$1; shift; setsid "$@" </dev/null >>"$out" 2>&1 & echo $!' \
        spawn "$IMP_OUT" setpriv --reuid=65534 --regid=65534 --clear-groups -- \
        "$IMPOSTOR" "$1") || fail "cannot start the impostor"
    sb_wait_for 10 grep -q "^serving $1" "$IMP_OUT" ||
        fail "impostor on '$1' not serving: $(cat "$IMP_OUT")"
}
impostor_stop() {
    sb_exec node1 kill -KILL "$IMP_PID"
    IMP_PID=
}

# 4a. hvagent down, nobody serves its name: hvactl and clusterd refuse.
hpid=$(cat "$KVMC_SANDBOX_DIR/node1/pids/hvagent") || fail "no hvagent pid"
sb_exec node1 kill -TERM "$hpid"
sb_wait_for 20 eval "! sb_exec node1 kill -0 $hpid 2>/dev/null" ||
    fail "hvagent $hpid still alive"
impostor hvagent
out=$(sb_exec node1 "$HVACTL" status 2>&1) && fail "hvactl used the impostor: $out"
grep -q "does not run as root" <<<"$out" || fail "hvactl: unclear refusal: $out"
hvactl_msg=$out
# clusterd reconnects to hvagent every second: wait for its refusals.
# shellcheck disable=SC2016 # expanded by eval
sb_wait_for 15 eval '[ "$(grep -c "^connection uid 0" "$IMP_OUT")" -ge 3 ]' ||
    fail "clusterd never reached the hvagent impostor: $(cat "$IMP_OUT")"
grep -q "hvagent 'hvagent' is not reachable (the process serving this IPC name does not run as root" \
    "$KVMC_SANDBOX_DIR/node1/clusterd.out" ||
    fail "clusterd did not say why: $(tail -n 5 "$KVMC_SANDBOX_DIR/node1/clusterd.out")"
hconn=$(grep -c "^connection" "$IMP_OUT")
hreq=$(grep -c "^request" "$IMP_OUT")
assert_eq 0 "$hreq" "requests the hvagent impostor received"
impostor_stop

# 4b. clusterd down, nobody serves its name: clusterctl refuses.
cd_kill node1 KILL
impostor kvmc-clusterd
nc=0
while IFS=$'\t' read -r rc c out; do
    [ "$rc" != 0 ] || fail "clusterctl $c used the impostor: $out"
    grep -q "refused to talk to clusterd's IPC name: the process serving this IPC name does not run as root" \
        <<<"$out" || fail "clusterctl $c: unclear refusal: $out"
    nc=$((nc + 1))
done < <(run_all root "${READS[@]}" "${WRITES[@]%%|*}")
assert_eq $((${#READS[@]} + ${#WRITES[@]})) "$nc" "operations tried on the impostor"
cconn=$(grep -c "^connection" "$IMP_OUT")
creq=$(grep -c "^request" "$IMP_OUT")
assert_eq 0 "$creq" "requests the clusterd impostor received"
impostor_stop

sb_log "hvagent to nobody: $hva_msg"
sb_log "write as reader: $write_msg"
sb_log "impostor: $hvactl_msg"
proof "IPC authenticated: nobody refused by clusterd for all $n1 operations and by hvagent;" \
    "a read-only-group member ran $nr reads and was refused $nw writes naming group '$GA'" \
    "(digest unchanged); an admin-group member wrote; impostors run by nobody on" \
    "hvagent's and clusterd's names got $hconn and $cconn connections (hvactl, clusterd," \
    "clusterctl, $nc operations) and 0 requests"
