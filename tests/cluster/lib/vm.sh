# shellcheck shell=bash disable=SC2034
# tests/cluster/lib/vm.sh: VM orchestration helpers for cluster tests (bash,
# sourced after lib/sandbox.sh and lib/clusterd.sh).
#
#   vm_up N              sandbox of N nodes (corosync + sanlock), a
#                        lockspace every node joins, hvagent and
#                        clusterd on each node: with VM_CSV=1 (the
#                        default when lunbridge can run and clusterd has
#                        --csv) the sandbox's CSV (lunbridge + csv) and
#                        clusterd --csv, else a file-backed lockspace
#                        and clusterd --vm-lease-*
#   vm_define NAME PRIO [MiB]   writes $VM_DIR/NAME.xml (test guest) and,
#                        without the CSV, initialises its lease
#   vm_field NODE VM ATTR      one attribute of 'vm show --output xml'
#   vm_ticks NODE_N VM   guest report lines "tick boot" from its serial log
#   vm_qemus VM          "nodeN:pid ..." of every QEMU running VM
#
# Without the CSV (VM_CSV=0), the VM leases are files in the sandbox dir
# (clusterd --vm-lease-dir).

VM_LS=kvmcvm
VM_UUID_BASE=6f1c2d3e-4a5b-4c6d-8e7f
VM_WSS=${VM_WSS:-32}
VM_RATE=${VM_RATE:-16}

vm_require() {
    cd_require
    sb_require qemu-system-x86_64
    [ -x "$KVMC_BUILDDIR/hvagent/hvagent" ] ||
        skip "no $KVMC_BUILDDIR/hvagent/hvagent (build it first)"
    [ -r "$KVMC_BUILDDIR/tests/guest/kvmc-guest.elf" ] ||
        skip "no test guest $KVMC_BUILDDIR/tests/guest/kvmc-guest.elf"
}

vm_node_ip() { echo "$KVMC_SB_PREFIX.${1#node}"; }

# hvagent in NODE, listening for migrations, every other node allowed.
vm_hva_start() {
    local node=$1 d=$KVMC_SANDBOX_DIR/$1 allow='' i
    for ((i = 1; i <= VM_NODES; i++)); do
        [ "node$i" = "$node" ] && continue
        allow="$allow${allow:+,}$(vm_node_ip node$i)"
    done
    mkdir -p "$d/pids" "$d/hva"
    # shellcheck disable=SC2016
    sb_exec "$node" bash -c \
        'out=$1; shift; setsid "$@" </dev/null >>"$out" 2>&1 & echo $!' \
        spawn "$d/hvagent.out" "$KVMC_BUILDDIR/hvagent/hvagent" \
        --node "$node" --run-dir "$d/hva" --listen "$(vm_node_ip "$node"):7410" \
        --accel tcg --allow "$allow" >"$d/pids/hvagent" ||
        fail "$node: cannot start hvagent"
}

vm_hva_alive() {
    local pid
    pid=$(cat "$KVMC_SANDBOX_DIR/$1/pids/hvagent" 2>/dev/null) &&
        sb_exec "$1" kill -0 "$pid" 2>/dev/null
}

# VMs on the CSV? (VM_CSV: 1, 0, or unset = when possible.)
vm_on_csv() {
    if [ -z "${VM_CSV:-}" ]; then
        VM_CSV=0
        [ -e /dev/fuse ] && [ -x "$KVMC_BUILDDIR/iscsi/lunbridge" ] &&
            [[ $("$CD_BIN" --help 2>&1) == *--csv* ]] && VM_CSV=1
    fi
    [ "$VM_CSV" = 1 ]
}

# clusterd with the CSV or the interim VM leases; VM_CD_ARGS_nodeN adds
# options.
vm_cd_start() {
    local node=$1 d=$KVMC_SANDBOX_DIR/$1 extra vmargs
    extra=VM_CD_ARGS_$node
    if vm_on_csv; then
        vmargs="--csv $SB_CSV_PATH"
    else
        vmargs="--vm-lease-lockspace $VM_LS --vm-lease-dir $VM_DIR"
    fi
    mkdir -p "$d/pids"
    # shellcheck disable=SC2086
    # shellcheck disable=SC2016
    sb_exec "$node" env KVMC_SCHEMADIR="$KVMC_SRCDIR/schemas" bash -c \
        'out=$1; shift; setsid "$@" </dev/null >>"$out" 2>&1 & echo $!' \
        spawn "$d/clusterd.out" "$CD_BIN" -f -d $vmargs \
        ${!extra:-} >"$d/pids/clusterd" || fail "$node: cannot start clusterd"
}

vm_up() {
    local n=$1 i
    VM_NODES=$n
    if vm_on_csv; then
        # The sandbox's CSV on LUN 1, its lockspace joined by every node.
        KVMC_SANDBOX_DAEMONS="corosync sanlock lunbridge csv" sb_up "$n"
        sb_csv_env
        VM_DIR=$KVMC_SANDBOX_DIR/vmshared
        mkdir -p "$VM_DIR"
    else
        vm_up_lease_dir "$n"
    fi
    VM_ALL=
    for ((i = 1; i <= n; i++)); do
        VM_ALL="$VM_ALL node$i"
        vm_hva_start "node$i"
    done
    for i in $VM_ALL; do
        sb_wait_for 10 sb_exec "$i" "$KVMC_BUILDDIR/hvagent/hvactl" status ||
            fail "$i: hvagent does not answer: $(tail -n 5 "$KVMC_SANDBOX_DIR/$i/hvagent.out")"
    done
    for i in $VM_ALL; do vm_cd_start "$i"; done
    # shellcheck disable=SC2086
    cd_wait_started $VM_ALL
    # shellcheck disable=SC2086
    sb_wait_for 30 cd_converged "$n" $VM_ALL ||
        fail "clusterds did not converge: $(cd_views $VM_ALL)"
    sb_wait_for 30 vm_registered "$n" ||
        fail "nodes did not register: $(cdctl node1 node list)"
}

# The file-backed lockspace of VM_CSV=0.
vm_up_lease_dir() {
    local n=$1 i pids=()
    KVMC_SANDBOX_DAEMONS="corosync sanlock" sb_up "$n"
    VM_DIR=$KVMC_SANDBOX_DIR/vmshared
    mkdir -p "$VM_DIR"
    truncate -s 8M "$VM_DIR/lockspace"
    sanlock direct init -s "$VM_LS:0:$VM_DIR/lockspace:0" -o 1 >/dev/null ||
        fail "sanlock direct init of the lockspace"
    for ((i = 1; i <= n; i++)); do
        sb_exec "node$i" sanlock client add_lockspace \
            -s "$VM_LS:$i:$VM_DIR/lockspace:0" -o 1 >/dev/null &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i" || fail "add_lockspace failed"; done
}

vm_registered() {
    [ "$(cdctl node1 node list --output xml | grep -c 'online="yes"')" = "$1" ] &&
        ! cdctl node1 node list --output xml | grep -q unregistered &&
        cd_cpu_reported node1
}

# vm_define NAME PRIORITY [MiB [POLICY-XML]]: POLICY-XML goes into
# <policy> after the priority (preferred owners, failback, ...).
vm_define() {
    local name=$1 prio=$2 mem=${3:-128} extra=${4:-} h
    h=$(printf '%s' "$name" | cksum | awk '{ printf "%012x", $1 }')
    cat >"$VM_DIR/$name.xml" <<EOF
<?xml version="1.0"?>
<vm>
  <name>$name</name>
  <uuid>$VM_UUID_BASE-$h</uuid>
  <memory unit="MiB">$mem</memory>
  <vcpus>1</vcpus>
  <boot dev="kernel">
    <kernel>$KVMC_BUILDDIR/tests/guest/kvmc-guest.elf</kernel>
    <cmdline>wss=$VM_WSS rate=$VM_RATE</cmdline>
  </boot>
  <policy><priority>$prio</priority>$extra</policy>
</vm>
EOF
    VM_UUID=$VM_UUID_BASE-$h
    # On the CSV, 'vm add' gives the VM a slot and its lease.
    vm_on_csv && return 0
    truncate -s 1M "$VM_DIR/vm-$name.lease"
    sanlock direct init -r "$VM_LS:vm-$name:$VM_DIR/vm-$name.lease:0" >/dev/null ||
        fail "sanlock direct init of the lease of $name"
    VM_UUID=$VM_UUID_BASE-$h
}

vm_uuid() {
    printf '%s-%s' "$VM_UUID_BASE" "$(printf '%s' "$1" | cksum | awk '{ printf "%012x", $1 }')"
}

vm_field() {
    cdctl "$1" vm show "$2" --output xml 2>/dev/null |
        sed -n "s/.*<vm name=\"$2\".* $3=\"\([^\"]*\)\".*/\1/p" | head -n1
}

# The node VM runs on as NODE sees it ("" = nowhere).
vm_where() { vm_field "$1" "$2" node; }

vm_serial() { echo "$KVMC_SANDBOX_DIR/$1/hva/vm/$(vm_uuid "$2")/serial.log"; }

# "tick boot" per report line of VM's guest on NODE.
vm_ticks() {
    tr -d '\r' <"$(vm_serial "$1" "$2")" 2>/dev/null |
        sed -n 's/^KVMC boot=\([0-9a-f]*\) tick=\([0-9]*\) .*verify=ok.*/\2 \1/p'
}
vm_last_tick() { vm_ticks "$1" "$2" | tail -n 1 | cut -d' ' -f1; }
vm_last_boot() { vm_ticks "$1" "$2" | tail -n 1 | cut -d' ' -f2; }

# vm_ticking NODE VM: the guest reported within the last 2 s.
vm_ticking() {
    local f
    f=$(vm_serial "$1" "$2")
    [ -f "$f" ] && [ $(($(date +%s) - $(stat -c %Y "$f"))) -le 2 ] &&
        [ -n "$(vm_last_tick "$1" "$2")" ]
}

# The guest's disk writer (a VM with a disk): "ok|FAIL DW" of its last
# report on NODE, DW the number of blocks written so far.
vm_disk_last() {
    tr -d '\r' <"$(vm_serial "$1" "$2")" 2>/dev/null |
        sed -n 's/^KVMC boot=.* disk=\([A-Za-z]*\)\( block=[0-9]*\)\{0,1\} dw=\([0-9]*\) .*/\1 \3/p' |
        tail -n 1
}
# vm_disk_ok NODE VM MIN: the writer says ok with at least MIN blocks.
vm_disk_ok() {
    local l
    l=$(vm_disk_last "$1" "$2")
    [ "${l% *}" = ok ] && ((${l#* } >= $3))
}
# vm_disk_no_fail NODE VM: fails the test at the guest's first failed check.
vm_disk_no_fail() {
    local f
    f=$(vm_serial "$1" "$2")
    ! tr -d '\r' <"$f" | grep -q 'disk=FAIL\|KVMC ERROR' ||
        fail "$1: the guest's check failed: $(tr -d '\r' <"$f" | grep -m1 'disk=FAIL\|KVMC ERROR')"
}

# Every QEMU of VM (by its uuid on the command line) on every node:
# "node1:1234 ..." (empty when none).
vm_qemus() {
    local uuid n p out=''
    uuid=$(vm_uuid "$1")
    for n in $VM_ALL; do
        sb_exec "$n" true 2>/dev/null || continue
        # By process name, so no pgrep looking for it counts as a QEMU.
        for p in $(sb_exec "$n" pgrep -a -x qemu-system-x86 2>/dev/null |
            awk -v u="$uuid" 'index($0, u) { print $1 }'); do
            out="$out $n:$p"
        done
    done
    echo "${out# }"
}

vm_qemu_count() { local q; q=$(vm_qemus "$1"); set -- $q; echo $#; }

# The CDB digest all NODES agree on (fails if they don't).
vm_digest() {
    # shellcheck disable=SC2086
    sb_wait_for 10 cd_converged "$VM_NODES_UP" $VM_ALL_UP || return 1
    echo "$CD_DIGEST"
}

# vm_volume2: formats LUN 3 (256 MiB, 4096-byte sectors) as a second
# volume, adds the CSV and it to the CDB, and waits until the clusterd of
# each node in $VM_ALL_UP has joined its lockspace by itself. Sets V1 and
# V2 (the volumes' names), V2_PATH and V2_JOIN (how long the joins took).
vm_volume2() {
    local lun3 out n t
    lun3=$(sed -n 's/.* LUN 3: .* exported as \([^ ]*\)$/\1/p' "$KVMC_SANDBOX_DIR/node1/lunbridge.out" | tail -n 1)
    [ -n "$lun3" ] || fail "node1's lunbridge does not say how it named LUN 3"
    V2_PATH=/run/kvmcluster/luns/$lun3
    V2=$KVMC_SANDBOX_NAME-v2
    out=$(sb_exec node1 "$KVMC_BUILDDIR/cli/clusterctl" volume format "$V2_PATH" \
        --name "$V2" --cluster "$KVMC_SANDBOX_NAME" --io-timeout 1 --slots 4 2>&1) ||
        fail "volume format of LUN 3: $out"
    out=$(cdctl node1 volume add "$SB_CSV_PATH" 2>&1) || fail "volume add 1: $out"
    V1=$(sed -n "s/^volume '\([^']*\)'.*/\1/p" <<<"$out")
    out=$(cdctl node1 volume add "$V2_PATH" 2>&1) || fail "volume add 2: $out"
    t=$(sb_now_ms)
    for n in $VM_ALL_UP; do
        sb_wait_for 40 vm_volume2_joined "$n" ||
            fail "$n: clusterd did not join $V2's lockspace: $(sb_exec "$n" sanlock client status | grep '^s ')"
    done
    V2_JOIN=$(sb_secs $(($(sb_now_ms) - t)))
    sb_log "volume 2 formatted, added and joined by every clusterd in $V2_JOIN"
}

# vm_up_volumes2: 2 nodes with VMs on the CSV (volume 1) and volume 2 as
# vm_volume2 makes it; V1_FREE0 and V2_FREE0, their MiB free at the start.
vm_up_volumes2() {
    # shellcheck disable=SC2034 # read by vm_up: the VMs live on the CSV
    VM_CSV=1
    vm_up 2
    # shellcheck disable=SC2034 # read by the helpers of this file
    VM_NODES_UP=2
    VM_ALL_UP="node1 node2"
    vm_volume2
    V1_FREE0=$(vm_free_mib "$SB_CSV_PATH")
    V2_FREE0=$(vm_free_mib "$V2_PATH")
}

# vm_extent_off PATH VM DISK: the offset of VM's DISK extent on the volume
# at PATH ("" when it has none there).
vm_extent_off() {
    sb_exec node1 "$KVMC_BUILDDIR/cli/clusterctl" volume inspect "$1" --output xml 2>/dev/null |
        sed -n "s/.*<extent [^>]*offset=\"\([0-9]*\)\"[^>]*tag=\"$2-$3\".*/\1/p" | head -n 1
}

# vm_fill_random VM DISK MIB: MIB random MiB at the start of VM's DISK on
# the CSV (QEMU's mirror skips zeroes: random bytes are really copied).
# VM_FILL_OFF: the extent's offset.
vm_fill_random() {
    VM_FILL_OFF=$(vm_extent_off "$SB_CSV_PATH" "$1" "$2")
    [ -n "$VM_FILL_OFF" ] || fail "no $1-$2 extent on the CSV: $(sb_exec node1 "$KVMC_BUILDDIR/cli/clusterctl" volume inspect "$SB_CSV_PATH")"
    sb_exec node1 dd if=/dev/urandom of="$SB_CSV_PATH" bs=1M count="$3" \
        seek="$VM_FILL_OFF" oflag=seek_bytes,direct conv=notrunc status=none ||
        fail "filling $1's $2"
}

# vm_volumes_clean WHEN: `volume check` of both volumes says clean (asked
# on node2, offline); fails the test naming WHEN otherwise.
vm_volumes_clean() {
    local p chk
    for p in "$SB_CSV_PATH" "$V2_PATH"; do
        chk=$(sb_exec node2 "$KVMC_BUILDDIR/cli/clusterctl" volume check "$p" 2>&1) ||
            fail "volume check $p ($1): $chk"
        grep -q "is clean" <<<"$chk" || fail "volume check $p ($1): $chk"
    done
}

# Has NODE's sanlock joined volume 2's lockspace (not adding, not leaving)?
vm_volume2_joined() {
    sb_exec "$1" sanlock client status 2>/dev/null | grep "^s $V2:${1#node}:" | grep -qv ' ADD\| REM'
}

# vm_free_mib PATH: the MiB free on the volume at PATH, as volume inspect
# says it (one decimal).
vm_free_mib() {
    sb_exec node1 "$KVMC_BUILDDIR/cli/clusterctl" volume inspect "$1" |
        sed -n 's/^  \([0-9.]*\) MiB free of.*/\1/p'
}

# vm_add_writer NAME MEMORY_MIB [VDA_MIB]: adds NAME with a boot disk
# (vda, 8 MiB unless VDA_MIB) and the guest's disk writer on the disk in
# slot 24 (256 KiB/s over 64 blocks: a cycle a second); the writer waits
# until that disk exists.
vm_add_writer() {
    local out
    vm_define "$1" high "$2"
    sed -i -e 's|<vcpus>1</vcpus>|<vcpus>1</vcpus>\n  <disk target="vda"><allocate size="'"${3:-8}"'" unit="MiB"/></disk>|' \
        -e 's|<cmdline>\(.*\)</cmdline>|<cmdline>\1 disk=256 dslot=24 dblocks=64</cmdline>|' \
        "$VM_DIR/$1.xml"
    out=$(cdctl node1 vm add "$VM_DIR/$1.xml" 2>&1) || fail "vm add $1: $out"
}

# NODE's lunbridge, by the sandbox's pid file. vm_lb_kill NODE [PATH]:
# SIGKILLed and, with PATH (a LUN's file), NODE reads it no more within
# 10 s. vm_lb_start NODE PATH: started again, serving PATH within 20 s.
vm_lb_kill() {
    local node=$1 path=${2:-}
    sb_exec "$node" kill -KILL "$(cat "$KVMC_SANDBOX_DIR/$node/pids/lunbridge")" 2>/dev/null
    [ -n "$path" ] || return 0
    # eval runs in sb_wait_for's scope: its $1 is not ours, node is.
    sb_wait_for 10 eval '! sb_exec "$node" test -r "$path"' ||
        fail "$node still reads $path after killing lunbridge"
}
vm_lb_start() {
    sb_exec "$1" bash -c 'setsid "$1" -f </dev/null >>"$2" 2>&1 & echo $!' \
        lb "$KVMC_BUILDDIR/iscsi/lunbridge" "$KVMC_SANDBOX_DIR/$1/lunbridge.out" \
        >"$KVMC_SANDBOX_DIR/$1/pids/lunbridge"
    sb_wait_for 20 sb_exec "$1" test -r "$2" ||
        fail "$1: lunbridge does not serve $2 after its restart"
}

# vm_writer_on NODE VM BOOT MIN WHAT: VM's disk writer on NODE checks
# MIN blocks ok within 60 s, no check of the guest ever failed, and the
# guest is still on boot BOOT (it did not reboot WHAT).
vm_writer_on() {
    sb_wait_for 60 vm_disk_ok "$1" "$2" "$4" ||
        fail "$2's writer on $1 $5: $(vm_disk_last "$1" "$2") (wanted ok at dw >= $4)"
    vm_disk_no_fail "$1" "$2"
    [ "$(vm_last_boot "$1" "$2")" = "$3" ] || fail "the guest rebooted $5"
}
