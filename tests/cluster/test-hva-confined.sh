#!/bin/bash
# QEMU runs confined: as the unprivileged QEMU user (hvagent's default
# qemu-user), under its seccomp filter, with no capability, its disk handed
# over as a descriptor (the file is in a directory only root may enter),
# its kernel and initrd too (-kernel/-initrd /proc/self/fd/N: they lie in
# a kernel-dirs directory only root may enter, as the default one under
# the 0700 state directory does), and the VM still holds its lease, runs
# and migrates live (the target's QEMU reads the kernel the same way).
# An agent configured with a user that does not exist refuses to start
# the VM with an error naming the user; an initrd the QEMU user may not
# read (mode 0600) is refused with an error naming the file.
# A small guest: the migration is not what is measured here.
HVA_MEM=${HVA_MEM:-256}
. "$(dirname "$0")/lib/hva.sh"

QUSER=kvmcluster-qemu

# The sandbox creates the user (scripts/sandbox up): hva_up first.
hva_up
quid=$(id -u "$QUSER") || hva_fail "sandbox up did not create user $QUSER"
qgid=$(id -g "$QUSER")

# A disk the QEMU user could not open by name.
mkdir -m 0700 "$HVA_D/private"
truncate -s 16M "$HVA_D/private/disk.img"
chmod 0600 "$HVA_D/private/disk.img"
setpriv --reuid "$quid" --regid "$qgid" --clear-groups \
    cat "$HVA_D/private/disk.img" >/dev/null 2>&1 &&
    hva_fail "$QUSER can open the disk by name: the test proves nothing"
sed -i "s|</vm>|  <disk path=\"$HVA_D/private/disk.img\" offset=\"0\"/>\n</vm>|" \
    "$HVA_D/$HVA_VM.xml"
# The kernel and an initrd in boot/ of the sandbox directory (in the
# sandbox's kernel-dirs), which only root may enter; the files readable.
BOOT=$HVA_D/boot
mkdir -p "$BOOT" && chmod 0700 "$BOOT"
install -m 0644 "$HVA_B/tests/guest/kvmc-guest.elf" "$BOOT/kvmc-guest.elf"
printf 'initrd of %s\n' "$KVMC_SANDBOX_NAME" >"$BOOT/initrd.img"
chmod 0644 "$BOOT/initrd.img"
for f in kvmc-guest.elf initrd.img; do
    setpriv --reuid "$quid" --regid "$qgid" --clear-groups \
        cat "$BOOT/$f" >/dev/null 2>&1 &&
        hva_fail "$QUSER can open $BOOT/$f by name: the test proves nothing"
done
sed -i "s|<kernel path=\"[^\"]*\"|<kernel path=\"$BOOT/kvmc-guest.elf\" initrd=\"$BOOT/initrd.img\"|" \
    "$HVA_D/$HVA_VM.xml"
grep -q "initrd=\"$BOOT/initrd.img\"" "$HVA_D/$HVA_VM.xml" || hva_fail "no kernel line to rewrite"
for n in 1 2; do
    hvactl "$n" undefine $HVA_VM >/dev/null || hva_fail "undefine on node$n"
    hvactl "$n" define "$HVA_D/$HVA_VM.xml" >/dev/null || hva_fail "define on node$n"
done

# field N PID NAME: the value of NAME: in /proc/PID/status inside node N
field() {
    sb exec "node$1" cat "/proc/$2/status" |
        sed -n "s/^$3:[[:space:]]*//p" | tr -s '\t ' ' '
}

# boot_fd N PID OPTION FILE: node N's QEMU PID has OPTION /proc/self/fd/K
# on its command line, K its descriptor of FILE.
boot_fd() {
    local arg fd target
    arg=$(sb exec "node$1" cat "/proc/$2/cmdline" | tr '\0' '\n' | grep -xF -A1 -- "$3" | tail -n 1)
    fd=${arg#/proc/self/fd/}
    [[ $arg == /proc/self/fd/* && $fd =~ ^[0-9]+$ ]] ||
        hva_fail "node$1 QEMU $2: $3 '$arg', want /proc/self/fd/N"
    target=$(sb exec "node$1" readlink "/proc/$2/fd/$fd")
    [ "$target" = "$4" ] || hva_fail "node$1 QEMU $2: $3 fd $fd is '$target', want $4"
    BOOT_MSG="$BOOT_MSG $3 fd $fd"
}

# confined N: asserts node N's QEMU is confined; prints what it saw
confined() {
    local n=$1 pid u g s c p nnp fds
    BOOT_MSG=''
    pid=$(hva_vm_field "$n" pid)
    [ -n "$pid" ] && [ "$pid" != 0 ] || hva_fail "no QEMU pid on node$n"
    u=$(field "$n" "$pid" Uid)
    g=$(field "$n" "$pid" Gid)
    s=$(field "$n" "$pid" Seccomp)
    c=$(field "$n" "$pid" CapEff)
    p=$(field "$n" "$pid" CapPrm)
    nnp=$(field "$n" "$pid" NoNewPrivs)
    [ "$u" = "$quid $quid $quid $quid" ] ||
        hva_fail "node$n QEMU $pid: Uid '$u', want $quid ($QUSER) x4"
    [ "$g" = "$qgid $qgid $qgid $qgid" ] ||
        hva_fail "node$n QEMU $pid: Gid '$g', want $qgid x4"
    [ "$s" = 2 ] || hva_fail "node$n QEMU $pid: Seccomp '$s', want 2 (filter)"
    [ "$c" = 0000000000000000 ] && [ "$p" = 0000000000000000 ] ||
        hva_fail "node$n QEMU $pid: CapEff '$c' CapPrm '$p', want none"
    [ "$nnp" = 1 ] || hva_fail "node$n QEMU $pid: NoNewPrivs '$nnp'"
    sb exec "node$n" cat "/proc/$pid/cmdline" | tr '\0' '\n' |
        grep -q "file.filename=/dev/fdset/1," ||
        hva_fail "node$n QEMU $pid: disk not given as /dev/fdset/1"
    fds=$(sb exec "node$n" ls -l "/proc/$pid/fd" | grep -c "private/disk.img")
    ((fds >= 1)) || hva_fail "node$n QEMU $pid: has no descriptor of the disk"
    boot_fd "$n" "$pid" -kernel "$BOOT/kvmc-guest.elf"
    boot_fd "$n" "$pid" -initrd "$BOOT/initrd.img"
    [ "$(hva_lease_pid "$n")" = "$pid" ] ||
        hva_fail "lease not held by node$n's QEMU $pid"
    CONF_MSG="node$n QEMU $pid uid/gid $quid/$qgid Seccomp $s CapEff $c NoNewPrivs $nnp, $fds disk fds,$BOOT_MSG"
}

r=$(hvactl 1 start $HVA_VM) || hva_fail "start on node1: $r"
hva_wait_reports 1 5 || hva_fail "guest does not report on node1"
confined 1
c1=$CONF_MSG

migrate() {
    local from=$1 to=$2 r
    hva_clear_serial "$to"
    hva_arm "$to"
    r=$(hvactl "$from" migrate-out $HVA_VM to=${HVA_IP[$to]}:7410 timeout-s=120) ||
        hva_fail "migrate node$from -> node$to: $r"
    hva_wait_reports "$to" 5 || hva_fail "guest does not report on node$to"
    hva_assert_continued "$from" "$to"
    [ "$(hva_qemu_count "$from")" = 0 ] || hva_fail "a QEMU is left on node$from"
    MIG_MSG="node$from->node$to counter $HVA_TICK_FROM->$HVA_TICK_TO, downtime $(hva_attr "$r" downtime-ms) ms"
}
migrate 1 2
confined 2
c2=$CONF_MSG

# A missing user: a clear error naming it, the VM keeps running on node2.
hva_agent_stop 1
printf '[hvagent]\nqemu-user = kvmc-nouser\n' >"$HVA_D/nouser.conf"
hva_agent_start 1 --config "$HVA_D/nouser.conf"
r=$(hvactl 1 start $HVA_VM) && hva_fail "start with a missing QEMU user succeeded: $r"
grep -q "QEMU user 'kvmc-nouser'.*does not exist" <<<"$r" ||
    hva_fail "start with a missing QEMU user: error does not name it: $r"
[ "$(hva_qemu_count 1)" = 0 ] || hva_fail "a QEMU started on node1 anyway"
hva_wait_reports 2 3 || hva_fail "guest on node2 stopped"
e_user=$(hva_attr "$r" error | head -c 90)

# An initrd the QEMU user may not read: refused before QEMU runs, the
# file named (node2's QEMU read it at its start and runs on).
hva_agent_stop 1
hva_agent_start 1
chmod 0600 "$BOOT/initrd.img"
r=$(hvactl 1 start $HVA_VM) && hva_fail "start with an unreadable initrd succeeded: $r"
grep -q "'$BOOT/initrd.img': the QEMU user (uid $quid) may not read it" <<<"$r" ||
    hva_fail "start with an unreadable initrd: error does not name it: $r"
[ "$(hva_qemu_count 1)" = 0 ] || hva_fail "a QEMU started on node1 anyway"
hva_wait_reports 2 3 || hva_fail "guest on node2 stopped"
e_ird=$(hva_attr "$r" error | head -c 120)

echo "PROOF: QEMU confined: $c1; $c2; live $MIG_MSG; missing user refused: '$e_user'; unreadable initrd refused: '$e_ird'"
