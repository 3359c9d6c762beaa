#!/usr/bin/env bash
# clusterctl cluster setup: the files of a new 3-node and a 2-node cluster
# (corosync.conf with knet, crypto and votequorum, two_node only for two;
# one authkey shared by every node; each node's kvmcluster.conf and
# hvagent options naming it and its peers), the bad command lines refused
# with the input named, and an existing setup never overwritten without
# --force. Needs no daemon. Output is TAP (make check's driver).
set -u
CTL=${KVMC_BUILDDIR:-.}/cli/clusterctl
[ -x "$CTL" ] || { echo "Bail out! no $CTL"; exit 99; }
dir=$(mktemp -d "${TMPDIR:-/var/tmp}/setup-cli-XXXXXX") || exit 99
trap 'rm -rf "$dir"' EXIT
fails=0
n=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() {
    n=$((n + 1))
    echo "not ok $n - $1"
    fails=$((fails + 1))
}
# expect CODE DESCRIPTION CMD...: runs CMD, checks its exit code.
expect() {
    local code=$1 what=$2 rc=0
    shift 2
    out=$("$@" 2>&1) || rc=$?
    if [ "$rc" -ne "$code" ]; then
        notok "$what: exit $rc, expected $code"
        printf '%s\n' "$out" | sed 's/^/# /'
    else
        ok "$what (exit $rc)"
    fi
}
# has TEXT [FILE]: the last output (or FILE) contains TEXT.
has() {
    local text
    text=$(if [ $# -gt 1 ]; then cat "$2" 2>/dev/null; else printf '%s' "$out"; fi)
    if grep -qF -- "$1" <<<"$text"; then
        ok "${2:-output} says '$1'"
    else
        notok "${2:-output} lacks '$1'"
        printf '%s\n' "$text" | sed 's/^/# /'
    fi
}
lacks() {
    if grep -qF -- "$1" "$2" 2>/dev/null; then
        notok "$2 has '$1'"
    else
        ok "$2 does not say '$1'"
    fi
}

c=$dir/c3
expect 0 "setup of 3 nodes" "$CTL" cluster setup prod n1=198.18.0.11 \
    n2=198.18.0.12 n3=198.18.0.13 --out "$c" --portal 198.18.0.2 \
    --iqn iqn.2026-01.org.example:store --io-timeout 10
has "restart elsewhere 140 s after"
has "volume format --io-timeout 10"
has "n2 (198.18.0.12): $c/n2/etc/ -> /etc/"
cc=$c/n2/etc/corosync/corosync.conf
has "cluster_name: prod" "$cc"
has "transport: knet" "$cc"
has "crypto_cipher: aes256" "$cc"
has "provider: corosync_votequorum" "$cc"
lacks "two_node" "$cc"
has "nodeid: 3" "$cc"
has "ring0_addr: 198.18.0.13" "$cc"
if cmp -s "$c/n1/etc/corosync/corosync.conf" "$cc" &&
    cmp -s "$c/n1/etc/corosync/corosync.conf" "$c/n3/etc/corosync/corosync.conf"; then
    ok "the same corosync.conf on every node"
else
    notok "corosync.conf differs between nodes"
fi
k1=$c/n1/etc/corosync/authkey
if [ "$(stat -c '%s %a' "$k1")" = "256 400" ] &&
    cmp -s "$k1" "$c/n2/etc/corosync/authkey" &&
    cmp -s "$k1" "$c/n3/etc/corosync/authkey"; then
    ok "one 256-byte authkey, mode 0400, on every node"
else
    notok "authkeys: $(stat -c '%n %s %a' "$c"/n*/etc/corosync/authkey)"
fi
kc=$c/n2/etc/kvmcluster/kvmcluster.conf
has "node-name = n2" "$kc"
has "migration-address = 198.18.0.12" "$kc"
has "portal = 198.18.0.2" "$kc"
has '--listen 198.18.0.12 --allow 198.18.0.11,198.18.0.13"' \
    "$c/n2/etc/kvmcluster/hvagent.env"
has "use_watchdog = 1" "$c/n1/etc/sanlock/sanlock.conf"

# Never over another cluster's files without --force.
sum=$(cat "$k1" | cksum)
expect 4 "setup again into the same directory" "$CTL" cluster setup prod \
    n1=198.18.0.11 n2=198.18.0.12 --out "$c"
has "'$c' exists and is not empty"
[ "$(cat "$k1" | cksum)" = "$sum" ] && ok "authkey left intact" ||
    notok "authkey changed by a refused setup"
expect 0 "setup again with --force" "$CTL" cluster setup prod n1=198.18.0.11 \
    n2=198.18.0.12 n3=198.18.0.13 --out "$c" --force
[ "$(cat "$k1" | cksum)" != "$sum" ] && ok "--force wrote a fresh authkey" ||
    notok "--force kept the old authkey"

c=$dir/c2
expect 0 "setup of 2 nodes" "$CTL" cluster setup lab a=198.18.1.1 \
    b=198.18.1.2 --out "$c" --io-timeout 5
has "two_node quorum"
has "restart elsewhere 100 s after"
has "two_node: 1" "$c/a/etc/corosync/corosync.conf"

# Bad command lines name the input.
expect 2 "one node" "$CTL" cluster setup x a=198.18.1.1 --out "$dir/x"
has "at least 2 nodes (1 given)"
expect 2 "no address" "$CTL" cluster setup x a b=198.18.1.2 --out "$dir/x"
has "'a': expected NODE=ADDRESS"
expect 2 "bad node name" "$CTL" cluster setup x .a=1.2.3.4 b=198.18.1.2 --out "$dir/x"
has "node name '.a' is not valid"
expect 2 "bad cluster name" "$CTL" cluster setup 'x y' a=198.18.1.1 b=198.18.1.2
has "cluster name 'x y' is not valid"
expect 2 "a node twice" "$CTL" cluster setup x a=198.18.1.1 a=198.18.1.2 --out "$dir/x"
has "node 'a' (198.18.1.2) is given twice"
expect 2 "io-timeout out of range" "$CTL" cluster setup x a=1.1.1.1 b=1.1.1.2 --io-timeout 0
has "--io-timeout '0'"
expect 2 "portal without iqn" "$CTL" cluster setup x a=1.1.1.1 b=1.1.1.2 --portal 1.1.1.9
[ ! -e "$dir/x" ] && ok "nothing written by a refused command line" ||
    notok "a refused command line left $dir/x"

echo "1..$n"
[ "$fails" -eq 0 ]
