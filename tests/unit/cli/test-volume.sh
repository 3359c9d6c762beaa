#!/usr/bin/env bash
# clusterctl volume format/inspect/check on a file: exit codes of
# clusterctl(8) and messages that name the input and the fix. Runs without
# a sanlock daemon (format writes the lockspace with direct I/O).
# Output is TAP (make check's driver).
set -u
CTL=${KVMC_BUILDDIR:-.}/cli/clusterctl
[ -x "$CTL" ] || { echo "Bail out! no $CTL"; exit 99; }
dir=$(mktemp -d "${TMPDIR:-/var/tmp}/csv-cli-XXXXXX") || exit 99
trap 'rm -rf "$dir"' EXIT
vol=$dir/vol.img
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

truncate -s 256M "$vol"
expect 2 "no arguments" "$CTL"
expect 2 "unknown volume subcommand" "$CTL" volume frobnicate
expect 2 "format without --name" "$CTL" volume format "$vol"
has "--name NAME is required"
expect 2 "format with a bad name" "$CTL" volume format "$vol" --name 'a:b'
has "invalid"
expect 1 "inspect of an unformatted file" "$CTL" volume inspect "$vol"
has "is not a cluster-shared volume"
has "clusterctl volume format"
expect 1 "check of a missing file" "$CTL" volume check "$dir/nope"
has "does not exist"
expect 1 "format of a too small file" "$CTL" volume format "$vol" --name v --slots 400
has "fewer --slots"

expect 0 "format" "$CTL" volume format "$vol" --name vol1 --cluster c1 --io-timeout 1 --slots 4
has "volume 'vol1'"
expect 4 "second format without --force" "$CTL" volume format "$vol" --name vol2
has "add --force"
expect 0 "inspect" "$CTL" volume inspect "$vol"
has "cluster      c1"
has "metadata lease + 4 VM leases"
has "(no host has joined)"
expect 0 "check of a fresh volume" "$CTL" volume check "$vol"
has "is clean"

# Superblock copy A damaged: still opens (from B); check says so; repair.
printf 'garbage!' | dd of="$vol" bs=1 seek=100 conv=notrunc status=none
expect 0 "inspect with copy A damaged" "$CTL" volume inspect "$vol"
has "copy A: record checksum mismatch"
expect 3 "check with copy A damaged" "$CTL" volume check "$vol"
has "superblock copy A"
expect 0 "check --repair" "$CTL" volume check "$vol" --repair
has "repaired"
expect 0 "check after repair" "$CTL" volume check "$vol"

# Both copies damaged: nothing to open.
printf 'garbage!' | dd of="$vol" bs=1 seek=100 conv=notrunc status=none
printf 'garbage!' | dd of="$vol" bs=1 seek=$((65536 + 100)) conv=notrunc status=none
expect 3 "check with both copies damaged" "$CTL" volume check "$vol"
has "both superblock copies are damaged"
expect 0 "format --force over a damaged volume" "$CTL" volume format "$vol" --name vol3 --force --slots 4
expect 0 "check after reformat" "$CTL" volume check "$vol"

# An extent map with a valid crc but overlapping extents (what a buggy
# writer holding the lease could leave): refused at load, named by check
# and inspect, the volume's bytes untouched.
expect 0 "format for the bad-map case" "$CTL" volume format "$vol" --name vol4 --force --slots 4
python3 - "$vol" <<'PY' || { echo "Bail out! cannot plant the map"; exit 99; }
import struct, sys
def crc32c(data, crc=0):
    crc ^= 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82f63b78 if crc & 1 else 0)
    return crc ^ 0xffffffff
f = open(sys.argv[1], "r+b")
# Region table of the superblock payload: the extent map and the data area.
f.seek(0); sb = f.read(4096)
regions = {}
for i in range(6):
    t, c, off, ln = struct.unpack_from("<IIQQ", sb, 32 + 184 + i * 24)
    regions[t] = (off, ln)
emap_off, data_off = regions[4][0], regions[6][0]
f.seek(emap_off); a = f.read(32)
uuid8 = a[24:32]
rec = ((32 + 16 + 4096 * 64) + 4095) // 4096 * 4096
MIB = 1 << 20
ext = b"".join(struct.pack("<QQQIHH32s", i, data_off + o, 2 * MIB, 0xffffffff,
                           3, 0, b"t") for i, o in ((1, 0), (2, MIB)))
payload = struct.pack("<QII", 10, 2, 0) + ext
frame = struct.pack("<IHHQII", 0x5845434b, 1, 32, 2, len(payload), 0) + uuid8
crc = crc32c(frame[:20] + b"\0\0\0\0" + frame[24:] + payload)
frame = frame[:20] + struct.pack("<I", crc) + frame[24:]
f.seek(emap_off + rec); f.write(frame + payload); f.close()
PY
sum_before=$(head -c 9437184 "$vol" | sha256sum)
expect 3 "check of a map with overlapping extents" "$CTL" volume check "$vol"
has "extent map copy B: extents 1 and 2 overlap at"
expect 0 "inspect names the refused map" "$CTL" volume inspect "$vol"
has "extent map refused: extents 1 and 2 overlap"
sum_after=$(head -c 9437184 "$vol" | sha256sum)
n=$((n + 1))
if [ "$sum_before" = "$sum_after" ]; then
    echo "ok $n - metadata bytes unchanged"
else
    echo "not ok $n - metadata changed"
    fails=$((fails + 1))
fi

echo "1..$n"
[ $fails -eq 0 ] || exit 1
echo "# clusterctl volume: all exit codes and messages as documented"
