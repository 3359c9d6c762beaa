#!/bin/bash
# Cluster test: the test guest boots under the "auto" accelerator policy,
# ticks, dirties its working set at the requested rate, verifies it, and
# reports in the documented format; its verifier catches damaged memory;
# with a disk and dlat=, its writer reports write latency histograms.
#
# Exit 0 pass, 77 skip (no QEMU), 1 fail. Needs a built guest:
# $KVMC_BUILDDIR/tests/guest/kvmc-guest.elf (default build/ of this tree).
# wait_for takes conditions in single quotes on purpose (it evals them).
# shellcheck disable=SC2016
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
srcdir=$(cd "$here/../.." && pwd)
builddir=${KVMC_BUILDDIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
elf=$builddir/tests/guest/kvmc-guest.elf
run_guest=$srcdir/tests/guest/run-guest
qemu=${KVMC_QEMU:-qemu-system-x86_64}

MEM=256
WSS=32
RATE=16
DEADLINE_S=${KVMC_GUEST_DEADLINE:-60} # generous: TCG on a loaded host
MIN_REPORTS=5
CORRUPT_PAGES=32

tmp=
shm=
qpid=
log=

# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
    if [[ -n $qpid ]]; then
        kill "$qpid" 2>/dev/null
        wait "$qpid" 2>/dev/null
        qpid=
    fi
    [[ -n $tmp ]] && rm -rf "$tmp"
    [[ -n $shm ]] && rm -rf "$shm"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

fail() {
    echo "guest: FAIL: $*"
    if [[ -n $log && -s $log ]]; then
        tail -n 5 "$log" | sed 's/^/  serial: /'
    fi
    if [[ -n $tmp && -s $tmp/qemu.out ]]; then
        tail -n 5 "$tmp/qemu.out" | sed 's/^/  qemu: /'
    fi
    exit 1
}

command -v "$qemu" >/dev/null ||
    { echo "guest: SKIP: QEMU '$qemu' not installed"; exit 77; }
[[ -r $elf ]] ||
    fail "guest not built: '$elf' missing (run make in '$builddir')"

now_ms() {
    local s=${EPOCHREALTIME/./}
    echo $((s / 1000))
}

# CPU time (user + system) of a process, in clock ticks.
cpu_ticks() {
    local stat
    stat=$(<"/proc/$1/stat") || return 1
    stat=${stat##*) }
    local -a f
    read -r -a f <<<"$stat"
    echo $((f[11] + f[12]))
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvmc-test-guest.XXXXXX") || exit 1
log=$tmp/serial.log
# Guest RAM is a shared file mapping so that the test can damage guest
# memory from outside, as a broken migration would; tmpfs keeps it off disk.
if [[ -d /dev/shm && -w /dev/shm ]]; then
    shm=$(mktemp -d /dev/shm/kvmc-test-guest.XXXXXX) || exit 1
    ram=$shm/ram
else
    ram=$tmp/ram
fi

accel=$("$run_guest" --elf "$elf" --qemu "$qemu" --probe-accel \
    2>"$tmp/probe.err") ||
    fail "accelerator probe failed: $(tr '\n' ' ' <"$tmp/probe.err")"
[[ $accel == kvm || $accel == tcg ]] || fail "probe printed '$accel'"

t_launch=$(now_ms)
"$run_guest" --elf "$elf" --qemu "$qemu" --accel "$accel" --mem "$MEM" \
    --wss "$WSS" --rate "$RATE" --serial "$log" -- \
    -object "memory-backend-file,id=ram,size=${MEM}M,mem-path=$ram,share=on" \
    -machine memory-backend=ram >"$tmp/qemu.out" 2>&1 </dev/null &
qpid=$! # run-guest execs QEMU: this is QEMU's pid

# Parser state, fed one complete serial line at a time.
boot=
wsaddr=
t_ready=
nreports=0
first_tick=
first_gen=
t_first=
cpu_first=
tick=
gen=
pass=
sum=
verify=
fail_page=
fail_reports=0
err_line=

parse_line() {
    local line=${1%$'\r'}
    local re_ready re_report
    re_ready='^KVMC ready boot=([0-9a-f]{16}) wss=([0-9]+) rate=([0-9]+)'
    re_ready+=' mem=([0-9]+)( [a-z]+=[0-9a-f]+)*$'
    re_report='^KVMC boot=([0-9a-f]{16}) tick=([0-9]+) gen=([0-9]+)'
    re_report+=' pass=([0-9]+) sum=([0-9a-f]{8})'
    re_report+=' verify=(ok|off|FAIL page=([0-9]+))$'

    if [[ $line == "KVMC ERROR verify "* ]]; then
        err_line=$line
        return 0
    elif [[ $line == "KVMC ERROR"* ]]; then
        fail "guest error: $line"
    elif [[ $line =~ $re_ready ]]; then
        [[ -z $boot ]] || fail "second ready line (guest rebooted?): $line"
        boot=${BASH_REMATCH[1]}
        [[ $boot != 0000000000000000 ]] || fail "boot id is zero: $line"
        [[ ${BASH_REMATCH[2]} == "$WSS" && ${BASH_REMATCH[3]} == "$RATE" ]] ||
            fail "guest did not take wss=$WSS rate=$RATE: $line"
        ((BASH_REMATCH[4] >= MEM - 8 && BASH_REMATCH[4] <= MEM)) ||
            fail "guest sees mem=${BASH_REMATCH[4]} MiB of $MEM: $line"
        [[ $line =~ \ wsaddr=([0-9a-f]{8}) ]] || fail "no wsaddr: $line"
        wsaddr=$((16#${BASH_REMATCH[1]}))
        t_ready=$(now_ms)
    elif [[ $line =~ $re_report ]]; then
        [[ -n $boot ]] || fail "report before the ready line: $line"
        [[ ${BASH_REMATCH[1]} == "$boot" ]] ||
            fail "boot id changed from $boot: $line"
        local t=${BASH_REMATCH[2]} g=${BASH_REMATCH[3]} p=${BASH_REMATCH[4]}
        if [[ -n $tick ]]; then
            ((t > tick)) || fail "tick went from $tick to $t: $line"
            ((g >= gen)) || fail "gen went back from $gen: $line"
            ((p >= pass)) || fail "pass went back from $pass: $line"
        else
            first_tick=$t
            first_gen=$g
            t_first=$(now_ms)
            cpu_first=$(cpu_ticks "$qpid")
        fi
        tick=$t gen=$g pass=$p sum=${BASH_REMATCH[5]}
        verify=${BASH_REMATCH[6]}
        if [[ -n ${BASH_REMATCH[7]} ]]; then
            [[ -z $fail_page || $fail_page == "${BASH_REMATCH[7]}" ]] ||
                fail "failed page changed from $fail_page: $line"
            fail_page=${BASH_REMATCH[7]}
            fail_reports=$((fail_reports + 1))
        elif [[ -n $fail_page ]]; then
            fail "verify failure was not sticky: $line"
        fi
        nreports=$((nreports + 1))
    elif [[ $line == KVMC* ]]; then
        fail "unparsable report line: '$line'"
    fi
    return 0
}

# Feed the serial lines not seen yet; a last line without its newline
# is left for the next poll.
nlines=0
poll_log() {
    local -a lines
    local data
    [[ -s $log ]] || return 0
    # One read of the file, so a line is never seen half-written.
    data=$(cat -- "$log" && echo .)
    data=${data%.}
    data=${data%"${data##*$'\n'}"}
    mapfile -t lines < <(printf '%s' "$data")
    while ((nlines < ${#lines[@]})); do
        parse_line "${lines[nlines]}"
        nlines=$((nlines + 1))
    done
}

# Poll until cond (a shell expression over the parser state) holds.
wait_for() {
    local what=$1 cond=$2
    while :; do
        poll_log
        eval "$cond" && return 0
        if ! kill -0 "$qpid" 2>/dev/null; then
            qpid=
            fail "QEMU exited while waiting for $what"
        fi
        (($(now_ms) < deadline)) ||
            fail "no $what within $DEADLINE_S s" \
                "(accel=$accel, $nreports reports)"
        sleep 0.05 # poll interval
    done
}

deadline=$((t_launch + DEADLINE_S * 1000))
wait_for "ready line" '[[ -n $boot ]]'
wait_for "$MIN_REPORTS reports and a full verify pass" \
    '((nreports >= MIN_REPORTS && pass >= 1 && tick - first_tick >= 100))'
[[ $verify == ok ]] || fail "verify=$verify after $pass pass(es)"
t_last=$(now_ms)
cpu_last=$(cpu_ticks "$qpid")

# Pacing: the dirty rate over the guest's own clock (hz=100 ticks) must
# be what was asked, and QEMU must not spin a whole core doing it.
dticks=$((tick - first_tick))
rate_x10=$(((gen - first_gen) * 100 * 10 / dticks / 256))
((rate_x10 >= RATE * 9 && rate_x10 <= RATE * 11)) ||
    fail "dirty rate $((rate_x10 / 10)).$((rate_x10 % 10)) MiB/s, asked $RATE"
dt_ms=$((t_last - t_first))
cpu_pct=$(((cpu_last - cpu_first) * 100000 / $(getconf CLK_TCK) / dt_ms))
((cpu_pct < 50)) ||
    fail "QEMU used ${cpu_pct}% of a core at rate $RATE: not pacing"

fmt='accel=%s, ready in %d ms, tick %d -> %d in %d.%d s,'
fmt+=' %d verify pass(es) ok, sum=%s, dirty %d.%d MiB/s, qemu cpu %d%%'
# shellcheck disable=SC2059 # the format is ours
summary=$(printf "$fmt" \
    "$accel" $((t_ready - t_launch)) "$first_tick" "$tick" \
    $((dt_ms / 1000)) $((dt_ms % 1000 / 100)) "$pass" "$sum" \
    $((rate_x10 / 10)) $((rate_x10 % 10)) "$cpu_pct")

# Damage one word in each of CORRUPT_PAGES pages spread over the working
# set. The dirtier may rewrite (heal) a damaged page before the verifier
# gets there, but not all of them: the verifier must name one of them.
npages=$((WSS * 256))
step=$((npages / CORRUPT_PAGES))
declare -A damaged=()
for ((i = 0; i < CORRUPT_PAGES; i++)); do
    page=$((i * step + step / 2))
    damaged[$page]=1
    printf '\xde\xad\xbe\xef' |
        dd of="$ram" bs=1 seek=$((wsaddr + page * 4096 + 2000)) count=4 \
            conv=notrunc status=none ||
        fail "cannot write guest RAM file '$ram'"
done
deadline=$(($(now_ms) + DEADLINE_S * 1000))
wait_for "verify failure after damaging $CORRUPT_PAGES pages" \
    '((fail_reports >= 3))'
[[ -n ${damaged[$fail_page]:-} ]] ||
    fail "verifier blamed page $fail_page, which was not damaged"
re_err="^KVMC ERROR verify page=$fail_page word=500 .*found=efbeadde\$"
[[ $err_line =~ $re_err ]] ||
    fail "verify error line does not name the damage: '$err_line'"

# The disk writer's latency report (dlat=): a second guest with a disk,
# dlat=100. Its lines carry no tick= (report parsers skip them), each
# histogram's counts add up to its n, the slowest bucket is at most its
# max, and the report line still ends in the disk fields tests parse.
kill "$qpid" 2>/dev/null
wait "$qpid" 2>/dev/null
truncate -s 4M "$tmp/disk.img"
dlog=$tmp/serial-disk.log
"$qemu" -machine pc -accel "$accel" -m 64 -nodefaults -display none \
    -serial "file:$dlog" -kernel "$elf" \
    -append "wss=4 rate=0 verify=0 disk=256 dblocks=16 dlat=100" \
    -drive "file=$tmp/disk.img,if=none,id=d0,format=raw,cache=none,aio=threads" \
    -device virtio-blk-pci,drive=d0,disable-modern=on \
    >"$tmp/qemu.out" 2>&1 </dev/null &
qpid=$!
log=$dlog
dlat_lines() { tr -d '\r' <"$dlog" 2>/dev/null | grep '^KVMC dlat ' | grep -v ' n=0 '; }
deadline=$(($(now_ms) + DEADLINE_S * 1000))
until [[ $(dlat_lines | wc -l) -ge 3 ]]; do
    kill -0 "$qpid" 2>/dev/null || { qpid=; fail "QEMU exited before 3 dlat lines"; }
    (($(now_ms) < deadline)) || fail "fewer than 3 dlat lines with writes in $DEADLINE_S s"
    sleep 0.1 # poll interval
done
re_dlat='^KVMC dlat at=[0-9]+ clock=(tsc|pit) n=([0-9]+) max=([0-9]+) us=([0-9]+:[0-9]+(,[0-9]+:[0-9]+)*)$'
nw=0
while read -r line; do
    [[ $line =~ $re_dlat ]] || fail "unparsable dlat line: '$line'"
    clock=${BASH_REMATCH[1]} n=${BASH_REMATCH[2]} max=${BASH_REMATCH[3]}
    dsum=0 top=0
    for kv in ${BASH_REMATCH[4]//,/ }; do
        dsum=$((dsum + ${kv#*:}))
        top=${kv%:*}
    done
    ((dsum == n)) || fail "dlat counts add up to $dsum, not n=$n: $line"
    ((top <= max)) || fail "dlat bucket $top above max=$max: $line"
    nw=$((nw + n))
done < <(dlat_lines | head -n 3)
dline=$(tr -d '\r' <"$dlog" | grep '^KVMC boot=' | tail -n 1)
[[ $dline =~ \ verify=off\ disk=ok\ dw=[0-9]+\ dr=[0-9]+$ ]] ||
    fail "report line with dlat= does not end in the disk fields: '$dline'"

echo "guest: $summary; damaged page $fail_page caught" \
    "(verify=FAIL page=$fail_page, sticky); disk writer with dlat=100:" \
    "3 latency reports ($clock clock) of $nw writes, last max ${max} us"
exit 0
