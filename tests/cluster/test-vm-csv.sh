#!/usr/bin/env bash
# VMs on the cluster-shared volume (clusterd --csv) on 3 nodes, the CSV on
# the sandbox's LUN 1 (lunbridge + csv):
#  0. volume add registers it in the CDB (seen by 'volume list' on every
#     node with its free space); adding it twice, a missing path or an
#     unformatted LUN is refused with a clear error;
#  1. vm add of a VM with a 64 MiB <allocate> disk: 'volume inspect' shows
#     its slot, a 64 MiB disk extent and a state extent (memory + 64 MiB)
#     owned by that slot; the CDB records slot and extents;
#  2. vm start: the guest ticks, its QEMU opens the CSV's LUN, and the
#     running node's sanlock holds the slot's lease on the CSV path in the
#     CSV's lockspace;
#  3. move-vm --quick goes through the state extent: the guest counter
#     continues on the target, which now holds the lease;
#  4. vm edit: the policy changes while the VM runs (every node agrees,
#     same QEMU, counter going on); memory, a rename, an unknown VM and
#     malformed XML are refused with clear errors, the digest unchanged;
#  5. refused, nothing changed ('volume inspect' identical, CDB digest
#     unchanged): a disk bigger than the LUN (clear "no space" error), an
#     unknown extent id (named in the error), a copy of web1's definition
#     with only the name changed (web1's uuid, named), a VM with web1's
#     MAC (web1 named), an add on a node cut off
#     from the others (allocated, then undone when the CDB refuses it);
#  6. vm stop, then vm edit of the memory: the state extent grows to fit;
#     vm remove: slot gone, space back, 'volume check' clean.
# kvmc-timeout: 420
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_require_stack
sb_init vcsv
# shellcheck disable=SC2034 # read by lib/vm.sh: this test is about the CSV
VM_CSV=1
vm_up 3
N="node1 node2 node3"
# shellcheck disable=SC2034 # read by lib/vm.sh
VM_NODES_UP=3
# shellcheck disable=SC2034
VM_ALL_UP=$N
CTL=$KVMC_BUILDDIR/cli/clusterctl

# The volume as node N's clusterctl reads it, without the lockspace host
# lines (timestamps move) and the superblock generation lines.
inspect() {
    sb_exec "$1" "$CTL" volume inspect "$SB_CSV_PATH" |
        awk '/^lockspace hosts/ { h = 1; next } /^vm slots/ { h = 0 }
             !h && !/^  host /'
}
free_mib() { inspect node1 | sed -n 's/^  \([0-9.]*\) MiB free of.*/\1/p'; }

# with_disk NAME DISK-XML: the test guest NAME with one <disk>.
with_disk() {
    vm_define "$1" high 128
    sed -i "s|<vcpus>1</vcpus>|<vcpus>1</vcpus>\n  $2|" "$VM_DIR/$1.xml"
}

# 0. The volume joins the cluster database.
out=$(cdctl node1 volume list) || fail "volume list: $out"
grep -q "no volumes" <<<"$out" || fail "volume list before add: $out"
out=$(cdctl node2 volume add "$SB_CSV_PATH" 2>&1) || fail "volume add: $out"
grep -q "volume '$SB_CSV_LS' (LUN $(basename "$SB_CSV_PATH"), .* added" <<<"$out" ||
    fail "volume add said: $out"
for n in $N; do
    sb_wait_for 5 eval "cdctl $n volume list | grep -q '^$SB_CSV_LS .*$(basename "$SB_CSV_PATH") .* MiB .*clusterd keeps VMs here'" ||
        fail "$n: volume list: $(cdctl $n volume list 2>&1)"
done
cdctl node3 volume list --output xml | grep -q "<volume name=\"$SB_CSV_LS\" lockspace=\"$SB_CSV_LS\">" ||
    fail "volume list --output xml: $(cdctl node3 volume list --output xml)"
dv=$(vm_digest) || fail "no common digest after volume add"
out=$(cdctl node3 volume add "$SB_CSV_PATH" 2>&1) && fail "a second volume add was accepted: $out"
grep -q "already exists" <<<"$out" || fail "second volume add: $out"
out=$(cdctl node3 volume add /run/kvmcluster/luns/naa.nosuch 2>&1) && fail "volume add of a missing path accepted: $out"
grep -q "'/run/kvmcluster/luns/naa.nosuch' does not exist" <<<"$out" || fail "missing path: $out"
lun2=$(sb_exec node1 find /run/kvmcluster/luns -type f ! -name "$(basename "$SB_CSV_PATH")" | head -n1)
out=$(cdctl node3 volume add "$lun2" 2>&1) && fail "volume add of an unformatted LUN accepted: $out"
e_unformatted=$out
assert_eq "$dv" "$(vm_digest)" "CDB digest after refused volume adds"

i0=$(inspect node1) || fail "volume inspect"
free0=$(free_mib)
d0=$(vm_digest) || fail "no common digest at start"

# 1. Add: slot, disk and state extents.
# web1's NIC (on the VM network's bridge) makes its MAC one another VM
# may not take (5.), its definition being kept on the CSV.
MAC1=52:54:00:aa:c5:01
with_disk web1 "<disk target=\"vda\"><allocate size=\"64\" unit=\"MiB\"/></disk><nic bridge=\"$KVMC_SB_VM_BRIDGE\" mac=\"$MAC1\"/>"
out=$(cdctl node2 vm add "$VM_DIR/web1.xml" 2>&1) || fail "vm add: $out"
i1=$(inspect node3)
slot=$(sed -n "s/^  slot \([0-9]*\) *'web1' .*/\1/p" <<<"$i1")
[ -n "$slot" ] || fail "no slot for web1 in volume inspect: $i1"
ext=$(awk -v o="slot$slot" '$4 == o' <<<"$i1")
disk_line=$(awk '$5 == "disk"' <<<"$ext")
state_line=$(awk '$5 == "state"' <<<"$ext")
[ "$(awk '{ print $3 }' <<<"$disk_line")" = 64.0 ] ||
    fail "no 64 MiB disk extent of slot $slot: $ext"
[ "$(awk '{ print $3 }' <<<"$state_line")" = 192.0 ] ||
    fail "no 192 MiB (128 + 64) state extent of slot $slot: $ext"
disk_id=$(awk '{ print $1 }' <<<"$disk_line")
state_id=$(awk '{ print $1 }' <<<"$state_line")
xi=$(sb_exec node2 "$CTL" volume inspect "$SB_CSV_PATH" --output xml) ||
    fail "volume inspect --output xml"
xmllint --noout - <<<"$xi" || fail "volume inspect --output xml is not well-formed: $xi"
grep -q "<slot index=\"$slot\" name=\"web1\"" <<<"$xi" &&
    grep -q "<extent id=\"$disk_id\" .* slot=\"$slot\" kind=\"disk\"" <<<"$xi" ||
    fail "volume inspect --output xml lacks web1's slot or disk: $xi"
free1=$(free_mib)
cdb=$(cdctl node1 cdb get)
grep -q "ref=\"csv:$SB_CSV_LS:$slot:$state_id\"" <<<"$cdb" ||
    fail "the CDB does not record slot $slot and state extent $state_id: $(grep -A3 '<vm ' <<<"$cdb")"
# (the definition is escaped text in the CDB document)
grep -q "&lt;extent volume=&quot;$SB_CSV_LS&quot; id=&quot;$disk_id&quot;/&gt;" <<<"$cdb" ||
    fail "the CDB definition does not name disk extent $disk_id: $(grep -A12 '<vm ' <<<"$cdb")"
for n in $N; do
    sb_wait_for 5 eval "[ \"\$(vm_field $n web1 state)\" = stopped ]" ||
        fail "$n does not list web1 as stopped: $(cdctl $n vm list)"
done
sb_log "web1: slot $slot, disk extent $disk_id, state extent $state_id; free $free0 -> $free1 MiB"

# 2. Start: lease on the CSV, guest ticks.
out=$(cdctl node1 vm start web1) || fail "vm start: $out $(cdctl node1 vm show web1)"
src=$(vm_where node1 web1)
[ -n "$src" ] || fail "web1 runs nowhere after start: $(cdctl node1 vm list)"
sb_wait_for 30 vm_ticking "$src" web1 ||
    fail "the guest does not tick on $src: $(tail -n 3 "$(vm_serial "$src" web1)" 2>&1)"
holds_lease() {
    sb_exec "$1" sanlock client status |
        grep -q "^r $SB_CSV_LS:vm-slot-$slot:$SB_CSV_PATH:[0-9]*:"
}
holds_lease "$src" ||
    fail "$src's sanlock does not hold vm-slot-$slot on $SB_CSV_PATH: $(sb_exec "$src" sanlock client status)"
qemu=$(vm_qemus web1)
pid=${qemu#*:}
# QEMU runs confined and gets its disk as a descriptor (/dev/fdset/N): look
# at what it holds open, not at its command line.
sb_exec "$src" ls -l "/proc/$pid/fd/" 2>/dev/null | grep -q "$(basename "$SB_CSV_PATH")" ||
    fail "web1's QEMU does not hold the CSV's LUN open: $(sb_exec "$src" ls -l "/proc/$pid/fd/" 2>&1 | tr '\n' ' ')"

# 3. Quick move through the state extent.
dst=node2
[ "$src" = node2 ] && dst=node3
for n in $N; do
    f=$(vm_serial "$n" web1)
    [ "$n" = "$src" ] || [ ! -f "$f" ] || : >"$f"
done
out=$(cdctl node3 move-vm web1 --to "$dst" --quick) || fail "move-vm --quick: $out"
quick_line=$(grep '^VM ' <<<"$out")
sb_wait_for 20 vm_ticking "$dst" web1 || fail "guest does not tick on $dst"
a=$(vm_last_tick "$src" web1)
b=$(vm_ticks "$dst" web1 | head -n1 | cut -d' ' -f1)
[ -n "$a" ] && [ -n "$b" ] && ((b > a)) ||
    fail "counter did not continue: $src ended at '$a', $dst began at '$b'"
[ "$(vm_last_boot "$src" web1)" = "$(vm_last_boot "$dst" web1)" ] ||
    fail "the guest rebooted moving $src -> $dst"
holds_lease "$dst" || fail "$dst does not hold vm-slot-$slot after the move"
holds_lease "$src" && fail "$src still holds vm-slot-$slot after the move"
assert_eq "$dst:" "$(vm_qemus web1 | sed 's/:[0-9]*$/:/')" "QEMUs of web1"

# 4. vm edit. The current definition, as 'vm show' prints it.
def_of() { cdctl node1 vm show web1 | sed -n '/^definition:$/,$p' | tail -n +2; }
def_of >"$VM_DIR/web1-cur.xml"
grep -q '<priority>high</priority>' "$VM_DIR/web1-cur.xml" ||
    fail "vm show prints no definition with priority high: $(cat "$VM_DIR/web1-cur.xml")"
sed 's|<priority>high</priority>|<priority>low</priority>|' "$VM_DIR/web1-cur.xml" >"$VM_DIR/web1-low.xml"
q_before=$(vm_qemus web1)
out=$(cdctl node3 vm edit web1 "$VM_DIR/web1-low.xml" 2>&1) || fail "vm edit (policy, running): $out"
grep -q "VM 'web1' updated" <<<"$out" || fail "vm edit said: $out"
for n in $N; do
    sb_wait_for 5 eval "[ \"\$(vm_field $n web1 priority)\" = low ]" ||
        fail "$n does not show web1 with priority low: $(cdctl $n vm list)"
done
de=$(vm_digest) || fail "no common digest after the edit"
assert_eq "$q_before" "$(vm_qemus web1)" "web1's QEMU (node:pid) after the edit"
t_edit=$(vm_last_tick "$dst" web1)
sb_wait_for 10 eval '(( $(vm_last_tick $dst web1) > t_edit ))' ||
    fail "the guest stopped counting after the edit"
refused_edit() { # NAME FILE PATTERN: vm edit NAME FILE fails saying PATTERN
    local o
    o=$(cdctl node2 vm edit "$1" "$2" 2>&1) && fail "vm edit $1 $2 was accepted: $o"
    grep -q -- "$3" <<<"$o" || fail "vm edit $1 $2: '$o' does not say '$3'"
    echo "$o"
}
sed 's|<memory unit="MiB">128</memory>|<memory unit="MiB">256</memory>|' \
    "$VM_DIR/web1-low.xml" >"$VM_DIR/web1-mem.xml"
cmp -s "$VM_DIR/web1-low.xml" "$VM_DIR/web1-mem.xml" &&
    fail "could not change the memory in: $(grep memory "$VM_DIR/web1-low.xml")"
e_mem=$(refused_edit web1 "$VM_DIR/web1-mem.xml" "VM 'web1' is running: its <memory> can't change until it is stopped")
sed 's|<name>web1</name>|<name>web9</name>|' "$VM_DIR/web1-low.xml" >"$VM_DIR/web1-name.xml"
refused_edit web1 "$VM_DIR/web1-name.xml" "VM 'web1' can't be renamed" >/dev/null
refused_edit nosuch "$VM_DIR/web1-low.xml" "VM 'nosuch' does not exist" >/dev/null
printf '<vm>\n  <name>web1</name>\n  <memory>oops</vcpus>\n</vm>\n' >"$VM_DIR/bad.xml"
e_bad=$(refused_edit web1 "$VM_DIR/bad.xml" "bad.xml:3")
assert_eq "$de" "$(vm_digest)" "CDB digest after refused edits"

# 5. Refusals: nothing changes on the volume or in the CDB.
ib=$(inspect node1)
db=$(vm_digest) || fail "no common digest before refusals"
with_disk big1 '<disk target="vda"><allocate size="4" unit="GiB"/></disk>'
out=$(cdctl node1 vm add "$VM_DIR/big1.xml" 2>&1) && fail "a 4 GiB disk on a 2 GiB LUN was accepted: $out"
grep -q "CSV '$SB_CSV_PATH': no space for VM 'big1' disk vda (4096 MiB asked, [0-9]* MiB free" <<<"$out" ||
    fail "full volume: '$out'"
e_full=$out
with_disk ext1 "<disk target=\"vda\"><extent volume=\"$SB_CSV_LS\" id=\"987654\"/></disk>"
out=$(cdctl node3 vm add "$VM_DIR/ext1.xml" 2>&1) && fail "an unknown extent was accepted: $out"
grep -q "VM 'ext1' disk vda: extent 987654 does not exist" <<<"$out" ||
    fail "unknown extent: '$out'"
e_ext=$out
# A copy of web1's definition with only the name changed: web1's uuid.
sed 's|<name>web1</name>|<name>web2</name>|' "$VM_DIR/web1.xml" >"$VM_DIR/web2.xml"
out=$(cdctl node2 vm add "$VM_DIR/web2.xml" 2>&1) && fail "a second VM with web1's uuid was accepted: $out"
grep -q "clusterctl: VM 'web2' has the uuid of VM 'web1' ($(vm_uuid web1)); give it its own <uuid>" <<<"$out" ||
    fail "duplicate uuid: '$out'"
e_uuid=$out
# Another VM with web1's MAC (web1's definition is on the CSV too).
with_disk web3 "<disk target=\"vda\"><allocate size=\"16\" unit=\"MiB\"/></disk><nic bridge=\"$KVMC_SB_VM_BRIDGE\" mac=\"$MAC1\"/>"
out=$(cdctl node3 vm add "$VM_DIR/web3.xml" 2>&1) && fail "a second VM with web1's MAC was accepted: $out"
grep -q "clusterctl: VM 'web3': MAC $MAC1 is already a NIC of VM 'web1'" <<<"$out" ||
    fail "duplicate MAC: '$out'"
e_mac=$out
ia=$(inspect node2)
assert_eq "$ib" "$ia" "volume inspect after refused adds"
da=$(vm_digest) || fail "no common digest after refusals"
assert_eq "$db" "$da" "CDB digest after refused adds"
# A CDB change that fails after the allocation is undone: node1 (web1
# runs on $dst, never node1) cut off from the other nodes, not from the
# storage, allocates, then cannot propose without quorum.
sb_partition node1
sb_wait_for 30 eval '[[ $(sb_quorum_view node1) == inquorate* ]]' ||
    fail "node1 still quorate when partitioned: $(sb_quorum_view node1)"
with_disk nq1 '<disk target="vda"><allocate size="16" unit="MiB"/></disk>'
out=$(cdctl node1 vm add "$VM_DIR/nq1.xml" 2>&1) && fail "vm add without quorum accepted: $out"
grep -q "no quorum" <<<"$out" || fail "add without quorum: '$out'"
e_quorum=$out
# It did allocate (then undo): node1's clusterd says both.
grep -q "VM 'nq1': slot [0-9]* on CSV" "$KVMC_SANDBOX_DIR/node1/clusterd.out" &&
    grep -q "VM 'nq1': slot [0-9]* on CSV .* freed" "$KVMC_SANDBOX_DIR/node1/clusterd.out" ||
    fail "node1's clusterd did not allocate and free nq1's slot: $(grep "nq1" "$KVMC_SANDBOX_DIR/node1/clusterd.out")"
ia=$(inspect node2)
assert_eq "$ib" "$ia" "volume inspect after an add refused for quorum"
sb_heal
VM_ALL_UP=$N
sb_wait_for 60 cd_converged 3 $N || fail "no convergence after heal: $(cd_views $N)"
for v in big1 ext1 nq1; do
    cdctl node1 vm show "$v" >/dev/null 2>&1 && fail "refused VM $v is in the CDB"
done
da=$(vm_digest) || fail "no common digest after heal"
assert_eq "$db" "$da" "CDB digest after heal"
sb_log "refused: $e_full / $e_ext / $e_quorum"

# 6. Stop, edit the memory, remove: the volume is back to where it started.
out=$(cdctl node1 vm stop web1) || fail "vm stop: $out"
sb_wait_for 20 eval '[ "$(vm_qemu_count web1)" = 0 ]' || fail "QEMU left: $(vm_qemus web1)"
for n in $N; do
    sb_wait_for 5 eval "[ -z \"\$(vm_where $n web1)\" ]" || fail "$n still places web1"
done
out=$(cdctl node1 vm edit web1 "$VM_DIR/web1-mem.xml" 2>&1) || fail "vm edit (memory, stopped): $out"
grep -q "<memory unit=\"MiB\">256</memory>" <(def_of) || fail "the memory edit is not in the definition: $(def_of)"
state_mib=$(inspect node2 | awk -v id="$state_id" '$1 == id && $5 == "state" { print $3 }')
assert_eq 320.0 "$state_mib" "state extent MiB after the memory edit (256 + 64)"
out=$(cdctl node3 vm remove web1 2>&1) || fail "vm remove: $out"
i2=$(inspect node1)
grep -q "'web1'" <<<"$i2" && fail "web1's slot is still there: $i2"
assert_eq "$free0" "$(free_mib)" "free MiB after remove"
assert_eq "$i0" "$i2" "volume inspect after remove vs before add"
chk=$(sb_exec node2 "$CTL" volume check "$SB_CSV_PATH" 2>&1) || fail "volume check: $chk"
grep -q "is clean" <<<"$chk" || fail "volume check: $chk"
chk=$(sb_exec node3 "$CTL" volume check "$SB_CSV_PATH" --output xml 2>&1) || fail "volume check --output xml: $chk"
grep -q '<result clean="yes" problems="0"' <<<"$chk" || fail "volume check --output xml: $chk"
d2=$(vm_digest) || fail "no common digest at the end"
proof "CSV VMs: volume $SB_CSV_LS added to the CDB and listed on all nodes, a second add, a missing path and an unformatted LUN refused ('$e_unformatted'); web1 added with slot $slot, 64 MiB disk extent $disk_id, 192 MiB state extent $state_id (free $free0 -> $free1 MiB); ran on $src holding vm-slot-$slot of $SB_CSV_LS on the LUN; quick move $src -> $dst via the state extent ($quick_line, counter $a -> $b); vm edit: priority changed while running (same QEMU, counter going on), memory refused while running ('$e_mem'), bad XML refused ('$e_bad'), memory 128 -> 256 MiB once stopped grew the state extent to $state_mib MiB; refused full volume, unknown extent 987654, web1's uuid ('$e_uuid'), web1's MAC ('$e_mac') and an add without quorum (allocation undone) with volume and digest ${db:0:12} unchanged; removed: slot gone, $free0 MiB free again, volume check clean; digests ${d0:0:12} -> ${d2:0:12}"
