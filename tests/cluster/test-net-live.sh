#!/usr/bin/env bash
# A client on the sandbox's VM network keeps its TCP connection to a Linux
# guest (tests/guest/linux) across live migrations around all 3 nodes: the guest
# boots with its NIC on vmbr0, the client namespace pings it every 10 ms
# and holds a connection to its line counter (port 7000); after the move
# the same connection answers the next line with the next number (no
# reset, nothing lost) and the pings lost fit the migration's downtime,
# on to the third node the same way; then a quick migration back: the connection stalls at most, never
# resets, and the figures (lost pings, longest gap) are printed.
# kvmc-alone: measures time closely or loads the whole machine
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
# shellcheck disable=SC2034 # read by lib/vm.sh
VM_CSV=0
vm_up 3
# shellcheck disable=SC2034
VM_NODES_UP=3
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

# move KIND TO: moves web1 while the client pings every 10 ms; sets
# MOVE_LINE, SENT, LOST and GAP_MS (the longest run of lost pings, in ms).
move() {
    local log=$KVMC_SANDBOX_DIR/ping-$1.log ppid out stats got
    ip netns exec "$NS" "$PING" ping -i 0.01 "$IP" >"$log" 2>&1 &
    ppid=$!
    sleep 2
    out=$(cdctl node1 move-vm web1 --to "$2" "--$1") || fail "move-vm --$1: $out"
    MOVE_LINE=$(grep "^VM 'web1' moved" <<<"$out")
    [ -n "$MOVE_LINE" ] || fail "no final line: $out"
    sleep 2
    kill -INT "$ppid"
    wait "$ppid" 2>/dev/null
    stats=$(grep "packets transmitted" "$log")
    SENT=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' <<<"$stats")
    got=$(sed -n 's/.* \([0-9]*\) packets received.*/\1/p' <<<"$stats")
    [ -n "$SENT" ] && [ -n "$got" ] || fail "no ping summary: $(tail -n 3 "$log")"
    LOST=$((SENT - got))
    # The longest gap between two answered sequence numbers.
    GAP_MS=$(sed -n 's/.*seq=\([0-9]*\) .*/\1/p' "$log" |
        awk 'NR > 1 && $1 - p > g { g = $1 - p } { p = $1 } END { print (g > 0 ? g - 1 : 0) * 10 }')
}

# live TO N: a live move to TO, then line N on the same connection; the
# pings lost fit the downtime. Appends the figures to live_fig.
live_fig=""
at=$src
live() {
    local line down_ms
    move live "$1"
    line=$MOVE_LINE
    down_ms=$(sed -n 's/.*downtime \([0-9]*\) ms.*/\1/p' <<<"$line")
    [ -n "$down_ms" ] || fail "no downtime in: $line"
    say "after-live-$1"
    assert_eq "$2 after-live-$1" "$ANS" "the same connection after the live move to $1"
    # 10 ms apart: the lost ones span at most the guest's pause plus the
    # time the switch needs to learn the new port (the announcement comes
    # with the resume), and a ping or two in flight.
    ((LOST * 10 <= down_ms + 200)) ||
        fail "live to $1: lost $LOST pings ($((LOST * 10)) ms) for a downtime of $down_ms ms"
    live_fig="$live_fig${live_fig:+; }live $at->$1: $LOST of $SENT pings lost, longest gap $GAP_MS ms (downtime $down_ms ms)"
    at=$1
}
n=2
for dst in node1 node2 node3; do
    [ "$dst" = "$src" ] && continue
    live "$dst" "$n"
    n=$((n + 1))
done

# Quick back: the connection may stall while the state is saved and
# restored, never reset.
move quick "$src"
quick_line=$MOVE_LINE
say after-quick
assert_eq "$n after-quick" "$ANS" "the same connection after the quick move"
quick_fig="$LOST of $SENT pings lost, longest gap $GAP_MS ms"
echo "quit" >&"${CL[1]}" 2>/dev/null
proof "Linux guest (Debian cloud kernel + busybox) up in $boot_ms ms on $src ($up_line); one TCP connection answered every line, 1 to $n, before, after each live move and after the quick move (no reset, no line lost); $live_fig; quick $at->$src: $quick_fig ($quick_line); pings every 10 ms"
