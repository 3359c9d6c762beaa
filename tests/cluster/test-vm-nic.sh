#!/usr/bin/env bash
# A VM's NIC on the sandbox's VM network (vmbr0 in every node, joined by
# the switch bridge), 3 nodes, node3 without vmbr0:
#  1. vm start: hvagent creates the tap on vmbr0, the confined QEMU holds
#     it as a descriptor with virtio-net-pci and the definition's MAC, and
#     the announcement after the start teaches the switch the guest's MAC
#     on the node's port;
#  2. refused: a move to node3 (the refusal and explain name vmbr0, the VM
#     keeps its QEMU, pid and node); a start of a VM on vmbr0 in node3's
#     hvagent (clear error, no QEMU, no tap); a second VM with web1's MAC
#     at vm add and through the CDB's low-level cdb add-vm, and vm edit
#     giving a VM web1's MAC; a start whose second tap cannot be created
#     (its name taken by a bridge: clear error, no QEMU, the
#     first tap gone); vm add of a VM on a bridge no node has is
#     accepted with a warning naming the bridge and the nodes;
#  3. live move to the other node with vmbr0: the tap moves with the QEMU
#     (gone on the source) and the switch learns the MAC on the target's
#     port at once (the announcement after the migration).
# kvmc-timeout: 300
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_require bridge
sb_init conic
# Definitions in the CDB (the MAC check reads them there) and a quicker
# start than with the CSV.
# shellcheck disable=SC2034 # read by lib/vm.sh
VM_CSV=0
vm_up 3
N="node1 node2 node3"
[ "${KVMC_SB_VMNET:-0}" = 1 ] || fail "the sandbox has no VM network"
MAC=52:54:00:aa:bb:01

# node3 loses its VM network: its clusterd reports that within a tick.
ip -n "$KVMC_SANDBOX_NAME-node3" link del "$KVMC_SB_VM_BRIDGE" ||
    fail "cannot remove node3's $KVMC_SB_VM_BRIDGE"

vm_define web1 high 128 '<preferred-owners><node>node1</node><node>node2</node></preferred-owners>'
sed -i "s|^  <boot |  <nic bridge=\"$KVMC_SB_VM_BRIDGE\" mac=\"$MAC\"/>\n  <boot |" \
    "$VM_DIR/web1.xml"
grep -q "<nic bridge=\"$KVMC_SB_VM_BRIDGE\"" "$VM_DIR/web1.xml" || fail "no <nic> in web1.xml"
out=$(cdctl node1 vm add "$VM_DIR/web1.xml") || fail "vm add: $out"
out=$(cdctl node1 vm start web1) || fail "vm start: $out"
sb_wait_for 30 eval '[ -n "$(vm_where node1 web1)" ]' || fail "web1 runs nowhere"
src=$(vm_where node1 web1)
sb_wait_for 30 vm_ticking "$src" web1 || fail "guest does not tick on $src"

uuid=$(vm_uuid web1)
tap=kv$(tr -d - <<<"$uuid" | cut -c1-12)0

# The QEMU of VM on NODE (its pid inside the node), one only.
qemu_on() {
    local q
    q=$(vm_qemus web1)
    [[ $q == "$1:"* ]] && [[ $q != *" "* ]] && echo "${q#*:}"
}
# Port of the switch the MAC was last seen on ("" = none).
fdb_port() {
    bridge fdb show br "$KVMC_SB_VM_SWITCH" 2>/dev/null |
        awk -v m="$MAC" '$1 == m && $2 == "dev" { print $3; exit }'
}
port_of() { echo "$KVMC_SANDBOX_NAME-v${1#node}"; }
# check_nic NODE: tap on vmbr0 there, held by the QEMU, as the QEMU user.
check_nic() {
    local node=$1 pid fd cmd
    pid=$(qemu_on "$node") || fail "web1: QEMUs '$(vm_qemus web1)', expected one on $node"
    ip -n "$KVMC_SANDBOX_NAME-$node" -o link show "$tap" 2>/dev/null |
        grep -q "<[A-Z_,]*,UP,[A-Z_,]*>.* master $KVMC_SB_VM_BRIDGE " ||
        fail "$node: tap $tap not up on $KVMC_SB_VM_BRIDGE: $(ip -n "$KVMC_SANDBOX_NAME-$node" -o link show "$tap" 2>&1)"
    # shellcheck disable=SC2016
    fd=$(sb_exec "$node" sh -c 'grep -l "^iff:[[:space:]]*$1\$" /proc/$2/fdinfo/* 2>/dev/null | head -n1' \
        sh "$tap" "$pid") || true
    [ -n "$fd" ] || fail "$node: QEMU $pid holds no descriptor of $tap"
    [ "$(sb_exec "$node" stat -c %U "/proc/$pid")" = kvmcluster-qemu ] ||
        fail "$node: QEMU $pid does not run as kvmcluster-qemu"
    cmd=$(sb_exec "$node" cat "/proc/$pid/cmdline" | tr "\0" " ")
    grep -q "virtio-net-pci,netdev=net0,id=nic0,mac=$MAC" <<<"$cmd" ||
        fail "$node: QEMU $pid has no virtio-net-pci with $MAC: $cmd"
    grep -q -- "-netdev tap,id=net0,fd=[0-9]" <<<"$cmd" ||
        fail "$node: QEMU $pid gets no tap descriptor: $cmd"
    NIC_PID=$pid
    NIC_FD=${fd##*/}
}

# 1. The NIC where web1 started; the switch learned its MAC there.
check_nic "$src"
sb_wait_for 5 eval '[ "$(fdb_port)" = "$(port_of "$src")" ]' ||
    fail "switch: $MAC on '$(fdb_port)', expected $(port_of "$src") (no announcement?)"
start_fact="tap $tap on $src held by QEMU $NIC_PID (fd $NIC_FD, kvmcluster-qemu), MAC learned on $(port_of "$src")"
pid0=$NIC_PID

# 2a. node3 has no vmbr0: explain says so, a move there is refused.
sb_wait_for 15 eval 'cdctl node1 explain web1 | grep -q "node3.*no bridge .$KVMC_SB_VM_BRIDGE."' ||
    fail "explain does not name node3's missing bridge: $(cdctl node1 explain web1)"
out=$(cdctl node2 move-vm web1 --to node3 --live 2>&1) && fail "move to node3 accepted: $out"
grep -q "no bridge '$KVMC_SB_VM_BRIDGE'" <<<"$out" || fail "refusal does not name the bridge: $out"
e_move=$out
[ "$(vm_where node1 web1)" = "$src" ] || fail "web1 left $src after the refused move"
assert_eq "$pid0" "$(qemu_on "$src")" "QEMU of web1 after the refused move"
sb_wait_for 10 vm_ticking "$src" web1 || fail "guest stopped ticking after the refused move"

# 2b. Straight to node3's hvagent: refused before any QEMU or tap exists.
printf '<vm name="nobr" uuid="6f1c2d3e-4a5b-4c6d-8e7f-00000000abcd" memory-mib="64" vcpus="1"><kernel path="%s" cmdline="wss=1 rate=0"/><nic bridge="%s" mac="52:54:00:aa:bb:09"/></vm>\n' \
    "$KVMC_BUILDDIR/tests/guest/kvmc-guest.elf" "$KVMC_SB_VM_BRIDGE" >"$KVMC_SANDBOX_DIR/nobr.xml"
HVACTL=$KVMC_BUILDDIR/hvagent/hvactl
out=$(sb_exec node3 "$HVACTL" define "$KVMC_SANDBOX_DIR/nobr.xml" 2>&1) || fail "define nobr on node3: $out"
out=$(sb_exec node3 "$HVACTL" start nobr 2>&1) && fail "start without a bridge accepted: $out"
grep -q "bridge '$KVMC_SB_VM_BRIDGE' does not exist on this node" <<<"$out" ||
    fail "start refusal does not name the bridge: $out"
e_start=$out
st=$(sb_exec node3 "$HVACTL" status nobr 2>&1)
grep -q 'state="defined"' <<<"$st" || fail "nobr not left defined: $st"
sb_exec node3 pgrep -x qemu-system-x86 >/dev/null && fail "a QEMU runs on node3 after the refused start"
ip -n "$KVMC_SANDBOX_NAME-node3" -o link show | grep -q ": kv6f1c2d3e4a5b" &&
    fail "a tap was left on node3"
sb_exec node3 "$HVACTL" undefine nobr >/dev/null 2>&1

# 2c. A second VM with web1's MAC.
vm_define web2 low 64
sed -i "s|^  <boot |  <nic bridge=\"$KVMC_SB_VM_BRIDGE\" mac=\"$MAC\"/>\n  <boot |" \
    "$VM_DIR/web2.xml"
out=$(cdctl node1 vm add "$VM_DIR/web2.xml" 2>&1) && fail "duplicate MAC accepted: $out"
grep -q "MAC $MAC is already a NIC of VM 'web1'" <<<"$out" || fail "duplicate MAC: '$out'"
e_mac=$out
cdctl node1 vm list | grep -q web2 && fail "web2 was added"
out=$(cdctl node2 cdb add-vm web2 low "$VM_DIR/web2.xml" 2>&1) &&
    fail "duplicate MAC accepted by cdb add-vm: $out"
grep -q "MAC $MAC is already a NIC of VM 'web1'" <<<"$out" || fail "cdb add-vm duplicate MAC: '$out'"
cdctl node1 vm list | grep -q web2 && fail "web2 was added by cdb add-vm"

# 2d. A bridge no node has: accepted, with a warning naming it and the
# nodes; then vm edit giving it web1's MAC is refused, naming web1.
vm_define web3 low 64
sed -i "s|^  <boot |  <nic bridge=\"vmbr9\" mac=\"52:54:00:aa:bb:03\"/>\n  <boot |" \
    "$VM_DIR/web3.xml"
out=$(cdctl node1 vm add "$VM_DIR/web3.xml" 2>&1) || fail "vm add web3 (bridge vmbr9): $out"
grep -q "warning: VM 'web3' needs bridge 'vmbr9' (NIC 0), which no node has (.*node1: [a-z0-9 ]*$KVMC_SB_VM_BRIDGE.*node3: " <<<"$out" ||
    fail "no warning naming vmbr9 and the nodes: '$out'"
e_warn=$(grep warning <<<"$out")
sed -i "s|mac=\"52:54:00:aa:bb:03\"|mac=\"$MAC\"|" "$VM_DIR/web3.xml"
out=$(cdctl node1 vm edit web3 "$VM_DIR/web3.xml" 2>&1) && fail "vm edit to web1's MAC accepted: $out"
grep -q "VM 'web3': MAC $MAC is already a NIC of VM 'web1'" <<<"$out" ||
    fail "vm edit duplicate MAC: '$out'"
e_edit=$out
cdctl node1 vm show web3 | grep -q "52:54:00:aa:bb:03" || fail "web3's definition changed by the refused edit"
cdctl node1 vm remove web3 >/dev/null || fail "vm remove web3"

# 2e. A tap that cannot be created: the second NIC's name is taken by a
# bridge (no tap) on the node that does not run web1. hvagent refuses
# the start naming the tap and why; no QEMU runs and the first tap is
# gone with its descriptor.
other=node2
[ "$src" = node2 ] && other=node1
ns=$KVMC_SANDBOX_NAME-$other
printf '<vm name="tapx" uuid="6f1c2d3e-4a5b-4c6d-8e7f-00000000abce" memory-mib="64" vcpus="1"><kernel path="%s" cmdline="wss=1 rate=0"/><nic bridge="%s" mac="52:54:00:aa:bb:0a"/><nic bridge="%s" mac="52:54:00:aa:bb:0b"/></vm>\n' \
    "$KVMC_BUILDDIR/tests/guest/kvmc-guest.elf" "$KVMC_SB_VM_BRIDGE" "$KVMC_SB_VM_BRIDGE" >"$KVMC_SANDBOX_DIR/tapx.xml"
ip -n "$ns" link add kv6f1c2d3e4a5b1 type bridge || fail "$other: cannot add the blocking interface"
out=$(sb_exec "$other" "$HVACTL" define "$KVMC_SANDBOX_DIR/tapx.xml" 2>&1) || fail "define tapx on $other: $out"
out=$(sb_exec "$other" "$HVACTL" start tapx 2>&1) && fail "start with a blocked tap accepted: $out"
grep -q "NIC 1 (52:54:00:aa:bb:0b): tap 'kv6f1c2d3e4a5b1' not created: .*is not a tap" <<<"$out" ||
    fail "tap refusal unclear: $out"
e_tap=$out
st=$(sb_exec "$other" "$HVACTL" status tapx 2>&1)
grep -q 'state="defined"' <<<"$st" || fail "tapx not left defined: $st"
sb_exec "$other" pgrep -x qemu-system-x86 >/dev/null && fail "a QEMU runs on $other after the refused start"
ip -n "$ns" -o link show kv6f1c2d3e4a5b0 >/dev/null 2>&1 && fail "$other: tapx's first tap was left"
ip -n "$ns" -o link show kv6f1c2d3e4a5b1 >/dev/null 2>&1 ||
    fail "$other: the blocking interface went"
sb_exec "$other" "$HVACTL" undefine tapx >/dev/null 2>&1
ip -n "$ns" link del kv6f1c2d3e4a5b1

# vhost-net: under TCG QEMU's own virtio-net serves the NIC (one info
# line per start says why; /dev/vhost-net is not used).
grep -q "VM 'web1': vhost-net not used (the guest runs under TCG" "$KVMC_SANDBOX_DIR/$src/hvagent.out" ||
    fail "$src: no info line on vhost-net for web1"

# 3. Live to the other node with vmbr0: the network follows.
dst=node2
[ "$src" = node2 ] && dst=node1
t0=$(sb_now_ms)
out=$(cdctl node3 move-vm web1 --to "$dst" --live) || fail "move-vm --live: $out"
live_line=$(grep "^VM 'web1' moved" <<<"$out")
[ -n "$live_line" ] || fail "no final line: $out"
sb_wait_for 10 eval '[ "$(fdb_port)" = "$(port_of "$dst")" ]' ||
    fail "switch: $MAC still on '$(fdb_port)' after the move, expected $(port_of "$dst")"
learned_ms=$(($(sb_now_ms) - t0))
check_nic "$dst"
sb_wait_for 10 eval '! ip -n "$KVMC_SANDBOX_NAME-$src" -o link show "$tap" >/dev/null 2>&1' ||
    fail "$src: tap $tap left behind after the move"
sb_wait_for 20 vm_ticking "$dst" web1 || fail "guest does not tick on $dst"

sb_log "refusals: $e_move / $e_start / $e_mac / $e_edit / $e_tap; $e_warn"
proof "VM NIC: $start_fact; move to node3 without $KVMC_SB_VM_BRIDGE refused naming it, VM untouched (QEMU $pid0); hvagent start without the bridge refused, no QEMU or tap left; duplicate MAC refused at vm add, cdb add-vm and vm edit; tap not creatable refused naming it, no QEMU, first tap gone; vm add on a bridge no node has warned; live $src->$dst ($live_line): tap on $dst held by QEMU $NIC_PID, gone on $src, switch learned $MAC on $(port_of "$dst") within $learned_ms ms of the move request"
