#!/usr/bin/env bash
# An <initrd> in a VM definition reaches QEMU through clusterctl, clusterd
# and hvagent (clusterd used to validate it and then drop it): vm add of a
# test-guest VM with an initrd from the sandbox's boot/ directory (in
# hvagent's kernel-dirs, made 0700: the QEMU user cannot enter it), vm
# start, and the QEMU running the VM has "-initrd /proc/self/fd/N" on its
# command line, N its descriptor of the initrd, while the guest ticks.
# kvmc-timeout: 300
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_init vmird
vm_up 2
# shellcheck disable=SC2034 # read by lib/vm.sh
VM_NODES_UP=2
# shellcheck disable=SC2034
VM_ALL_UP="node1 node2"

initrd=$KVMC_SANDBOX_DIR/boot/initrd.img
mkdir -p "$KVMC_SANDBOX_DIR/boot"
chmod 0700 "$KVMC_SANDBOX_DIR/boot"
printf 'initrd of %s\n' "$KVMC_SANDBOX_NAME" >"$initrd"
chmod 0644 "$initrd"
vm_define web1 high
sed -i "s|</kernel>|</kernel>\n    <initrd>$initrd</initrd>|" "$VM_DIR/web1.xml"
grep -q "<initrd>$initrd</initrd>" "$VM_DIR/web1.xml" || fail "no initrd in the definition"
out=$(cdctl node1 vm add "$VM_DIR/web1.xml") || fail "vm add: $out"
out=$(cdctl node1 vm start web1) || fail "vm start: $out"
where=$(vm_where node1 web1)
[ -n "$where" ] || fail "web1 runs nowhere after start"
sb_wait_for 30 vm_ticking "$where" web1 ||
    fail "the guest does not tick on $where: $(tail -n 3 "$(vm_serial "$where" web1)" 2>&1)"
q=$(vm_qemus web1)
pid=${q#*:}
[ "${q%%:*}" = "$where" ] && [ -n "$pid" ] || fail "QEMUs of web1: '$q'"
args=$(sb_exec "$where" cat "/proc/$pid/cmdline" | tr '\0' '\n')
arg=$(grep -xF -A1 -- "-initrd" <<<"$args" | tail -n 1)
fd=${arg#/proc/self/fd/}
[[ $arg == /proc/self/fd/* && $fd =~ ^[0-9]+$ ]] || fail "QEMU $pid's -initrd: '$arg', want /proc/self/fd/N"
got=$(sb_exec "$where" readlink "/proc/$pid/fd/$fd")
assert_eq "$initrd" "$got" "QEMU $pid's -initrd descriptor"
out=$(cdctl node1 vm stop web1) || fail "vm stop: $out"
proof "vm add with <initrd>, vm start: QEMU $pid on $where runs with -initrd $arg ($got, in a 0700 directory), guest ticking"
