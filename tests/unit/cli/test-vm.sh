#!/usr/bin/env bash
# clusterctl vm add / vm edit of a definition that is not UTF-8: refused
# before anything is sent, naming the file given, the line and column of
# the first bad byte and the fix; vm disk's size and arguments likewise. Needs no clusterd. Output is TAP (make
# check's driver).
set -u
CTL=${KVMC_BUILDDIR:-.}/cli/clusterctl
[ -x "$CTL" ] || { echo "Bail out! no $CTL"; exit 99; }
dir=$(mktemp -d "${TMPDIR:-/var/tmp}/vm-cli-XXXXXX") || exit 99
trap 'rm -rf "$dir"' EXIT
fails=0
n=0

# expect CODE DESCRIPTION CMD...: runs CMD, checks its exit code.
expect() {
    local code=$1 what=$2 rc=0
    shift 2
    out=$("$@" 2>&1) || rc=$?
    n=$((n + 1))
    if [ "$rc" -ne "$code" ]; then
        echo "not ok $n - $what: exit $rc, expected $code"
        printf '%s\n' "$out" | sed 's/^/# /'
        fails=$((fails + 1))
    else
        echo "ok $n - $what (exit $rc)"
    fi
}
# has TEXT: the last output contains TEXT.
has() {
    n=$((n + 1))
    if grep -qF -- "$1" <<<"$out"; then
        echo "ok $n - says '$1'"
    else
        echo "not ok $n - output lacks '$1':"
        printf '%s\n' "$out" | sed 's/^/# /'
        fails=$((fails + 1))
    fi
}
# lacks TEXT: the last output does not contain TEXT.
lacks() {
    n=$((n + 1))
    if grep -qF -- "$1" <<<"$out"; then
        echo "not ok $n - output has '$1':"
        printf '%s\n' "$out" | sed 's/^/# /'
        fails=$((fails + 1))
    else
        echo "ok $n - does not say '$1'"
    fi
}

# "café" in Latin-1 on line 3, column 21.
printf '<?xml version="1.0"?>\n<vm>\n  <description>caf\351</description>\n  <name>web1</name>\n</vm>\n' >"$dir/latin1.xml"
expect 1 "vm add of a Latin-1 file" "$CTL" vm add "$dir/latin1.xml"
has "$dir/latin1.xml:3:19: byte 0xe9 is not UTF-8 text"
has "save the definition as UTF-8"
lacks "request:"
expect 1 "vm edit of a Latin-1 file" "$CTL" vm edit web1 "$dir/latin1.xml"
has "$dir/latin1.xml:3:19: byte 0xe9"
# Overlong and surrogate encodings are not UTF-8 either.
printf '<vm>\300\257</vm>\n' >"$dir/overlong.xml"
expect 1 "vm add of an overlong form" "$CTL" vm add "$dir/overlong.xml"
has "overlong.xml:1:5: byte 0xc0"
printf '<vm>\n\355\240\200</vm>\n' >"$dir/surrogate.xml"
expect 1 "vm add of a surrogate" "$CTL" vm add "$dir/surrogate.xml"
has "surrogate.xml:2:1: byte 0xed"
# Well-formed UTF-8 passes this check (and fails later: no clusterd).
printf '<vm>\n  <description>caf\303\251 \360\237\230\200</description>\n</vm>\n' >"$dir/utf8.xml"
expect 1 "vm add of a UTF-8 file without clusterd" "$CTL" vm add "$dir/utf8.xml"
lacks "not UTF-8"

# vm disk: a bad size or command line is refused before clusterd is asked.
expect 2 "vm disk add with a bad size" "$CTL" vm disk add web1 --size 8X
has "size '8X' is not a disk size"
expect 2 "vm disk add of 65 TiB" "$CTL" vm disk add web1 --size 65T
has "size '65T' is not a disk size"
expect 2 "vm disk add without a size" "$CTL" vm disk add web1
has "usage: clusterctl vm disk add VM --size SIZE"
expect 2 "vm disk remove without a disk" "$CTL" vm disk remove web1
expect 2 "vm disk of an unknown subcommand" "$CTL" vm disk grow web1
has "unknown subcommand 'grow'"
expect 1 "vm disk add of a good size without clusterd" "$CTL" vm disk add web1 --size 2GiB
lacks "not a disk size"

echo "1..$n"
[ "$fails" -eq 0 ]
