#!/usr/bin/env bash
# Failover of a Linux guest (tests/guest/linux) as its clients see it, 3
# nodes: web1 runs on node3 with its NIC on vmbr0 and answers the client
# namespace (ping, a TCP connection to its line counter); node3 is killed
# whole. The guest is started again on a survivor (a cold boot: its
# counter starts over) and the client reaches it again, a ping answered
# and a new TCP connection answering its first line, no later than
# sanlock's host-dead time (8 x io_timeout + 60 s = 68 s) + 10 s (the
# failover bound of test-failover) + twice the guest's first boot as
# measured in this run (the restart is a cold boot; this scales with the
# machine's load). The announcement after the start teaches the switch
# the guest's MAC on the survivor's port.
# kvmc-timeout: 360
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_require bash
GUEST=$KVMC_BUILDDIR/tests/guest/linux
"$KVMC_SRCDIR/tests/guest/linux/build-guest" "$GUEST" >&2 ||
    fail "cannot build the Linux test guest"
PING=$GUEST/busybox
sb_init conetf
# shellcheck disable=SC2034 # read by lib/vm.sh
VM_CSV=0
vm_up 3
[ "${KVMC_SB_VMNET:-0}" = 1 ] || fail "the sandbox has no VM network"
IP=$KVMC_SB_PREFIX.100
NS=$KVMC_SB_CLIENT_NS
MAC=52:54:00:aa:bd:01

vm_define web1 high 256 '<preferred-owners><node>node3</node></preferred-owners>'
sed -i -e "s|<kernel>.*</kernel>|<kernel>$GUEST/vmlinuz</kernel>\n    <initrd>$GUEST/initrd.gz</initrd>|" \
    -e "s|<cmdline>.*</cmdline>|<cmdline>console=ttyS0 quiet kvmc.ip=$IP/24</cmdline>|" \
    -e "s|^  <boot |  <nic bridge=\"$KVMC_SB_VM_BRIDGE\" mac=\"$MAC\"/>\n  <boot |" \
    "$VM_DIR/web1.xml"
out=$(cdctl node1 vm add "$VM_DIR/web1.xml") || fail "vm add: $out"
t0=$(sb_now_ms)
out=$(cdctl node1 vm start web1) || fail "vm start: $out"
sb_wait_for 30 eval '[ -n "$(vm_where node1 web1)" ]' || fail "web1 runs nowhere"
if [ "$(vm_where node1 web1)" != node3 ]; then
    out=$(cdctl node1 move-vm web1 --to node3 --live) || fail "move web1 to node3: $out"
fi
linux_up() { grep -q "KVMC-LINUX up" "$(vm_serial "$1" web1)" 2>/dev/null; }
sb_wait_for 120 linux_up node3 ||
    fail "the Linux guest did not come up on node3: $(tail -n 5 "$(vm_serial node3 web1)")"
boot_ms=$(($(sb_now_ms) - t0))
BOUND_MS=$(((8 * 1 + 60 + 10) * 1000 + 2 * boot_ms))
sb_wait_for 20 ip netns exec "$NS" "$PING" ping -c1 -W1 "$IP" >/dev/null ||
    fail "client cannot ping the guest at $IP"

# One line on a new connection to the guest's counter: its answer.
# shellcheck disable=SC2016
ask() {
    ip netns exec "$NS" timeout 5 bash -c 'exec 3<>"/dev/tcp/$0/7000" || exit 1
        echo "$1" >&3; read -r -t 4 r <&3 && echo "$r"' "$IP" "$1" 2>/dev/null
}
first=$(ask hello)
assert_eq "1 hello" "$first" "a new connection to the guest on node3"
boot_id=$(grep -a "KVMC-LINUX up" "$(vm_serial node3 web1)" | tail -n1 | tr -d '\r')

t0=$(sb_now_ms)
sb_kill node3
# shellcheck disable=SC2034 # read by lib/vm.sh
VM_ALL="node1 node2"
t_ping='' t_tcp='' where=''
while :; do
    now=$(sb_now_ms)
    ((now - t0 < BOUND_MS + 20000)) || break
    if [ -z "$t_ping" ] &&
        ip netns exec "$NS" "$PING" ping -c1 -W1 "$IP" >/dev/null 2>&1; then
        t_ping=$(($(sb_now_ms) - t0))
    fi
    if [ -n "$t_ping" ] && [ "$(ask again)" = "1 again" ]; then
        t_tcp=$(($(sb_now_ms) - t0))
        break
    fi
    sleep 0.3
done
[ -n "$t_tcp" ] ||
    fail "the client did not reach web1 again within $(((BOUND_MS + 20000) / 1000)) s (ping at ${t_ping:-never}); $(cdctl node1 vm list)"
where=$(vm_where node1 web1)
[ "$where" = node1 ] || [ "$where" = node2 ] || fail "web1 runs on '$where' after the failover"
((t_tcp <= BOUND_MS)) ||
    fail "the client reached web1 again after $t_tcp ms, more than the bound $BOUND_MS ms"
up_line=$(grep -a "KVMC-LINUX up" "$(vm_serial "$where" web1)" | tail -n1 | tr -d '\r')
[ -n "$up_line" ] || fail "no boot line of web1 on $where"
# The switch learned the MAC on the survivor's port.
port=$(bridge fdb show br "$KVMC_SB_VM_SWITCH" 2>/dev/null |
    awk -v m="$MAC" '$1 == m && $2 == "dev" { print $3; exit }')
[ "$port" = "$KVMC_SANDBOX_NAME-v${where#node}" ] ||
    fail "switch: $MAC on '$port', expected $KVMC_SANDBOX_NAME-v${where#node}"
proof "Linux guest failover: web1 on node3 (booted in $boot_ms ms: $boot_id) answered '1 hello'; node3 killed; on $where ($up_line) the client's ping was answered at $t_ping ms and a new TCP connection answered '1 again' at $t_tcp ms after the kill (bound $BOUND_MS ms = host-dead 68 s + 10 s + 2 x boot); switch learned $MAC on $port"
