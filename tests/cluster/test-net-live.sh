#!/usr/bin/env bash
# A client on the sandbox's VM network keeps its TCP connection to a Linux
# guest (tests/guest/linux) across a live migration, 2 nodes: the guest
# boots with its NIC on vmbr0, the client namespace pings it every 10 ms
# and holds a connection to its line counter (port 7000); after the move
# the same connection answers the next line with the next number (no
# reset, nothing lost), and the pings lost fit the migration's downtime.
# kvmc-timeout: 400
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_require bash
GUEST=$KVMC_BUILDDIR/tests/guest/linux
"$KVMC_SRCDIR/tests/guest/linux/build-guest" "$GUEST" >&2 ||
    fail "cannot build the Linux test guest"
# busybox from the guest's packages: the host needs no ping of its own.
PING=$GUEST/busybox
sb_init conetl
VM_CSV=0
vm_up 2
# shellcheck disable=SC2034
VM_NODES_UP=2
[ "${KVMC_SB_VMNET:-0}" = 1 ] || fail "the sandbox has no VM network"
IP=$KVMC_SB_PREFIX.100
NS=$KVMC_SB_CLIENT_NS

vm_define web1 high 256 '<preferred-owners><node>node1</node></preferred-owners>'
sed -i -e "s|<kernel>.*</kernel>|<kernel>$GUEST/vmlinuz</kernel>\n    <initrd>$GUEST/initrd.gz</initrd>|" \
    -e "s|<cmdline>.*</cmdline>|<cmdline>console=ttyS0 quiet kvmc.ip=$IP/24</cmdline>|" \
    -e "s|^  <boot |  <nic bridge=\"$KVMC_SB_VM_BRIDGE\" mac=\"52:54:00:aa:bc:01\"/>\n  <boot |" \
    "$VM_DIR/web1.xml"
out=$(cdctl node1 vm add "$VM_DIR/web1.xml") || fail "vm add: $out"
t0=$(sb_now_ms)
out=$(cdctl node1 vm start web1) || fail "vm start: $out"
sb_wait_for 30 eval '[ -n "$(vm_where node1 web1)" ]' || fail "web1 runs nowhere"
src=$(vm_where node1 web1)
linux_up() { grep -q "KVMC-LINUX up" "$(vm_serial "$src" web1)" 2>/dev/null; }
sb_wait_for 120 linux_up || fail "the Linux guest did not come up on $src: $(tail -n 5 "$(vm_serial "$src" web1)")"
boot_ms=$(($(sb_now_ms) - t0))
up_line=$(grep -a "KVMC-LINUX up" "$(vm_serial "$src" web1)" | tr -d '\r')
grep -q "disk=none\|disk=ok" <<<"$up_line" || fail "guest: $up_line"
sb_wait_for 20 ip netns exec "$NS" "$PING" ping -c1 -W1 "$IP" >/dev/null ||
    fail "client cannot ping the guest at $IP"

# The client: one connection, one line at a time, the answer echoed back.
# shellcheck disable=SC2016
coproc CL { ip netns exec "$NS" bash -c 'exec 3<>"/dev/tcp/$0/7000" || exit 1
    while read -r l; do
        echo "$l" >&3
        read -r -t 60 r <&3 || { echo "EOF"; exit 1; }
        echo "$r"
    done' "$IP"; }
say() {
    echo "$1" >&"${CL[1]}"
    read -r -t 60 ANS <&"${CL[0]}" || ANS="(nothing)"
}
say before
assert_eq "1 before" "$ANS" "first line on the connection"

ip netns exec "$NS" "$PING" ping -i 0.01 "$IP" >"$KVMC_SANDBOX_DIR/ping.log" 2>&1 &
ppid=$!
sleep 2
dst=node2
[ "$src" = node2 ] && dst=node1
out=$(cdctl node1 move-vm web1 --to "$dst" --live) || fail "move-vm --live: $out"
live_line=$(grep "^VM 'web1' moved" <<<"$out")
down_ms=$(sed -n 's/.*downtime \([0-9]*\) ms.*/\1/p' <<<"$live_line")
[ -n "$down_ms" ] || fail "no downtime in: $out"
sleep 2
say after
kill -INT "$ppid"
wait "$ppid" 2>/dev/null
assert_eq "2 after" "$ANS" "the same connection after the move"
stats=$(grep "packets transmitted" "$KVMC_SANDBOX_DIR/ping.log")
sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' <<<"$stats")
got=$(sed -n 's/.* \([0-9]*\) packets received.*/\1/p' <<<"$stats")
[ -n "$sent" ] && [ -n "$got" ] || fail "no ping summary: $(tail -n 3 "$KVMC_SANDBOX_DIR/ping.log")"
lost=$((sent - got))
# 10 ms apart: the lost ones span at most the guest's pause plus the
# time the switch needs to learn the new port (the announcement comes
# with the resume), and a ping or two in flight.
((lost * 10 <= down_ms + 200)) ||
    fail "lost $lost pings ($((lost * 10)) ms) for a downtime of $down_ms ms"
echo "quit" >&"${CL[1]}" 2>/dev/null
proof "Linux guest (Debian cloud kernel + busybox) up in $boot_ms ms on $src ($up_line); live $src->$dst ($live_line): the client's TCP connection answered '1 before' then '2 after' (no reset, no line lost); $lost of $sent pings at 10 ms lost (downtime $down_ms ms)"
