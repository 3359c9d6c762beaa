#!/bin/bash
# hvagent refuses a definition clusterd would refuse, or one naming files
# outside the directories its [hvagent] settings allow (scripts/sandbox:
# kernel-dirs = tests/guest and boot/ of the sandbox dir, storage-dirs =
# the sandbox dir, lun-dir = lunbridge's): each with the exact error, and
# nothing is defined or started. An <initrd> reaches QEMU (a descriptor).
# A kill followed at once by an undefine leaves the agent serving (the
# VM's reap timer used to fire on the freed VM: run with an ASan build to
# see it).
# kvmc-timeout: 420
. "$(dirname "$0")/lib/hva.sh"
hva_up

U=0b0e5a1d-2c3d-4e5f-8a9b-0c1d2e3f4a5c
K=$HVA_B/tests/guest/kvmc-guest.elf
RULE="1 to 63 of A-Z a-z 0-9 . _ -, starting with a letter or digit"
STORAGE="/run/kvmcluster/luns, $HVA_D; see lun-dir and storage-dirs in [hvagent]"
KDIRS="$HVA_B/tests/guest, $HVA_D/boot; see kernel-dirs in [hvagent]"
mkdir -p "$HVA_D/boot" && printf 'initrd of %s\n' "$KVMC_SANDBOX_NAME" >"$HVA_D/boot/initrd.img"
ln -sfn /etc "$HVA_D/escape"
rm -f /tmp/kvmc-pwned-$$

# xml_decode TEXT: the reply's error attribute as plain text.
xml_decode() { sed -e 's/&lt;/</g; s/&gt;/>/g; s/&quot;/"/g; s/&apos;/'"'"'/g; s/&amp;/\&/g' <<<"$1"; }

# refused WHAT 'VM ATTRS' 'CHILDREN' 'EXACT ERROR': a case, written to
# $HVA_D/bad/N.*; every case is sent in one go by refuse_all (each node
# command costs seconds on a loaded host).
n_cases=0
mkdir -p "$HVA_D/bad"
refused() {
    n_cases=$((n_cases + 1))
    printf '<vm %s>%s</vm>\n' "$2" "$3" >"$HVA_D/bad/$n_cases.xml"
    printf '%s' "$1" >"$HVA_D/bad/$n_cases.what"
    printf '%s' "$4" >"$HVA_D/bad/$n_cases.want"
}
refuse_all() {
    local i r err out
    out=$(sb exec node1 bash -c 'for i in $(seq '"$n_cases"'); do
        r=$('"$HVA_B"'/hvagent/hvactl define '"$HVA_D"'/bad/$i.xml) && echo "DEFINED"
        printf "%s\n" "$r" >'"$HVA_D"'/bad/$i.reply
    done
    '"$HVA_B"'/hvagent/hvactl status') || hva_fail "define loop on node1"
    ! grep -q DEFINED <<<"$out" || hva_fail "a bad definition was defined"
    for ((i = 1; i <= n_cases; i++)); do
        r=$(cat "$HVA_D/bad/$i.reply")
        err=$(xml_decode "$(sed -n 's/.* error="\([^"]*\)".*/\1/p' <<<"$r")")
        [ "$err" = "$(cat "$HVA_D/bad/$i.want")" ] || hva_fail "$(cat "$HVA_D/bad/$i.what"): error
  got:  $err
  want: $(cat "$HVA_D/bad/$i.want")"
    done
    # Only g1 (from hva_up) is defined, and nothing runs.
    [ "$(grep -o '<vm ' <<<"$out" | wc -l)" = 1 ] || hva_fail "VMs defined on node1: $out"
    [ "$(hva_qemu_count 1)" = 0 ] || hva_fail "a QEMU runs on node1"
}

# The rules clusterd applies (resources/), by the same code.
refused 'name with "<>&,' "name=\"a&quot;&lt;&gt;&amp;,b\" uuid=\"$U\"" "<kernel path=\"$K\"/>" \
    "VM definition: <name>: 'a\"<>&,b' is not a valid VM name ($RULE)"
refused 'name with $(...)' "name=\"\$(touch /tmp/kvmc-pwned-$$)\" uuid=\"$U\"" "<kernel path=\"$K\"/>" \
    "VM definition: <name>: '\$(touch /tmp/kvmc-pwned-$$)' is not a valid VM name ($RULE)"
long=$(printf 'n%.0s' $(seq 64))
refused "64-character name" "name=\"$long\" uuid=\"$U\"" "<kernel path=\"$K\"/>" \
    "VM definition: <name>: '$long' is not a valid VM name ($RULE)"
refused "cpu model with a feature" "name=\"g3\" uuid=\"$U\" cpu=\"max,+vmx\"" "<kernel path=\"$K\"/>" \
    "VM 'g3': <cpu>: model 'max,+vmx' is not a valid CPU model name ($RULE)"
cmd=$(printf 'x%.0s' $(seq 4096))
refused "4096-character cmdline" "name=\"g3\" uuid=\"$U\"" "<kernel path=\"$K\" cmdline=\"$cmd\"/>" \
    "VM 'g3': <cmdline>: longer than 4095 characters"
# Files outside the allowed directories.
refused "kernel outside" "name=\"g3\" uuid=\"$U\"" "<kernel path=\"/etc/shadow\"/>" \
    "VM 'g3': kernel '/etc/shadow' is outside the allowed directories ($KDIRS)"
refused "kernel through .." "name=\"g3\" uuid=\"$U\"" "<kernel path=\"$HVA_B/tests/guest/../../hvagent/hvagent\"/>" \
    "VM 'g3': kernel '$HVA_B/tests/guest/../../hvagent/hvagent' is not a plain absolute path (no '.' or '..' components, no control characters)"
refused "initrd outside" "name=\"g3\" uuid=\"$U\"" "<kernel path=\"$K\" initrd=\"/etc/shadow\"/>" \
    "VM 'g3': initrd '/etc/shadow' is outside the allowed directories ($KDIRS)"
refused "disk outside" "name=\"g3\" uuid=\"$U\"" "<kernel path=\"$K\"/><disk path=\"/etc/shadow\"/>" \
    "VM 'g3': disk vda path '/etc/shadow' is outside the allowed directories ($STORAGE)"
refused "disk through a symlink" "name=\"g3\" uuid=\"$U\"" \
    "<kernel path=\"$K\"/><disk path=\"$HVA_D/hva-leases\"/><disk path=\"$HVA_D/escape/shadow\"/>" \
    "VM 'g3': disk vdb path '$HVA_D/escape/shadow' is outside the allowed directories ($STORAGE)"
refused "LUN path through .." "name=\"g3\" uuid=\"$U\"" "<kernel path=\"$K\"/><disk path=\"/run/kvmcluster/luns/../../../etc/shadow\"/>" \
    "VM 'g3': disk vda path '/run/kvmcluster/luns/../../../etc/shadow' is not a plain absolute path (no '.' or '..' components, no control characters)"
refused "state outside" "name=\"g3\" uuid=\"$U\"" "<kernel path=\"$K\"/><state path=\"/var/tmp/g3.state\" size=\"4096\"/>" \
    "VM 'g3': state path '/var/tmp/g3.state' is outside the allowed directories ($STORAGE)"
refused "lease outside" "name=\"g3\" uuid=\"$U\"" "<kernel path=\"$K\"/><lease lockspace=\"hvals\" resource=\"vm-g3\" path=\"/dev/sda\"/>" \
    "VM 'g3': lease path '/dev/sda' is outside the allowed directories ($STORAGE)"
lp=$HVA_D/$(printf 'd%.0s' $(seq 4100))
refused "4100-character disk path" "name=\"g3\" uuid=\"$U\"" "<kernel path=\"$K\"/><disk path=\"$lp\"/>" \
    "VM 'g3': disk vda path '${lp:0:64}...' is longer than 4095 characters"
refuse_all
[ ! -e /tmp/kvmc-pwned-$$ ] || hva_fail "a name ran a command"

# A good definition with an initrd: QEMU is given it.
printf '<vm name="g3" uuid="%s" memory-mib="64" vcpus="1"><kernel path="%s" initrd="%s" cmdline="wss=1 rate=0"/></vm>\n' \
    "$U" "$K" "$HVA_D/boot/initrd.img" >"$HVA_D/g3.xml"
r=$(hvactl 1 define "$HVA_D/g3.xml") || hva_fail "define g3: $r"
r=$(hvactl 1 start g3) || hva_fail "start g3: $r"
pid=$(hva_attr "$(hvactl 1 status g3)" pid)
args=$(sb exec node1 cat "/proc/$pid/cmdline" | tr '\0' '\n')
grep -qxF -- "-initrd" <<<"$args" || hva_fail "QEMU $pid has no -initrd: $(tr '\n' ' ' <<<"$args")"
# By descriptor (QEMU reopens /proc/self/fd/N): the file hvagent checked.
arg=$(grep -xF -A1 -- "-initrd" <<<"$args" | tail -n 1)
fd=${arg#/proc/self/fd/}
[[ $arg == /proc/self/fd/* && $fd =~ ^[0-9]+$ ]] || hva_fail "QEMU $pid's -initrd: '$arg', want /proc/self/fd/N"
[ "$(sb exec node1 readlink "/proc/$pid/fd/$fd")" = "$HVA_D/boot/initrd.img" ] ||
    hva_fail "QEMU $pid's -initrd $arg is not $HVA_D/boot/initrd.img"

# kill, then undefine the moment the kill is answered (same connection),
# three times: the agent frees the VM with its timers (a reap check armed
# by the kill, every 20 ms, used to fire on the freed VM).
sb exec node1 bash -c 'c='"$HVA_B"'/hvagent/hvactl
    for i in 1 2 3; do
        if [ $i -gt 1 ]; then
            $c define '"$HVA_D"'/g3.xml >/dev/null && $c start g3 >/dev/null || exit 1
        fi
        $c kill g3 --then undefine g3 >/dev/null || exit 2
        sleep 0.1 # past any timer the VM had armed
        $c status >/dev/null || exit 3
    done' || hva_fail "kill + undefine rounds failed (status $?)"
hvactl 1 status g3 >/dev/null 2>&1 && hva_fail "g3 still defined after undefine"
hvactl 1 status >/dev/null || hva_fail "hvagent on node1 stopped answering after kill + undefine"
! grep -q "AddressSanitizer\|runtime error" "$HVA_D/hva-agent1.log" ||
    hva_fail "sanitizer report in node1's agent log"
echo "PROOF: $n_cases bad definitions refused with their exact error, none defined or started (names with \"<>&, and \$(...), 64-char name, cpu 'max,+vmx', 4096-char cmdline, kernel/initrd/disk/state/lease outside the allowed dirs, '..', a symlink out, a 4100-char path); QEMU $pid got -initrd $arg ($HVA_D/boot/initrd.img); kill then, on the same connection the moment it was answered, undefine: 3 times, agent still serving and no sanitizer report"
