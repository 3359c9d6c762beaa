#!/usr/bin/env bash
# node drain / node resume on 3 nodes: node2 runs three VMs (high,
# medium, low priority). 'clusterctl node drain node2' moves all of them
# off (high and medium live, low quick, as the drain plan says), every
# guest keeps counting without a reboot, node2 ends drained; 'node resume
# node2' brings back the VM whose policy prefers node2 with immediate
# failback, and only that one. Then SIGTERM of clusterd on node2 (the
# service stop) drains dha off first (live, no reboot) and exits; the
# restarted clusterd resumes node2 and dha fails back.
# kvmc-timeout: 600
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_init codrn
vm_up 3
N="node1 node2 node3"

vm_define dha high 128 '<preferred-owners><node>node2</node></preferred-owners><failback mode="immediate"/>'
vm_define dmb medium 128
vm_define dlc low 128
declare -A boot
for v in dha dmb dlc; do
    cdctl node1 vm add "$VM_DIR/$v.xml" >/dev/null || fail "vm add $v"
    out=$(cdctl node1 vm start $v) || fail "vm start $v: $out"
    if [ "$(vm_where node1 $v)" != node2 ]; then
        out=$(cdctl node1 move-vm $v --to node2 --live) || fail "move $v to node2: $out"
    fi
    sb_wait_for 20 vm_ticking node2 $v || fail "$v does not tick on node2"
    boot[$v]=$(vm_last_boot node2 $v)
done
# Only the guests' reports after the drain count on the targets.
for v in dha dmb dlc; do
    for n in node1 node3; do f=$(vm_serial $n $v); [ ! -f "$f" ] || : >"$f"; done
done

t0=$(sb_now_ms)
out=$(cdctl node3 node drain node2) || fail "drain: $out $(cdctl node1 vm list)"
drain_ms=$(($(sb_now_ms) - t0))
sb_log "$out"
for n in $N; do
    st=$(cdctl $n node list --output xml | sed -n 's/.*name="node2".* state="\([a-z]*\)".*/\1/p')
    assert_eq drained "$st" "node2 state seen by $n"
done
summary=
for v in dha dmb dlc; do
    w=$(vm_where node1 $v)
    [ -n "$w" ] && [ "$w" != node2 ] || fail "$v runs on '$w' after the drain"
    sb_wait_for 20 vm_ticking "$w" $v || fail "$v does not tick on $w"
    [ "$(vm_last_boot "$w" $v)" = "${boot[$v]}" ] || fail "$v rebooted during the drain"
    kind=$(cdctl node1 vm show $v --output xml |
        sed -n 's/.*kind="\([a-z-]*\)" cause="drain".*status="done".*/\1/p' | tail -n1)
    case $v in
        dlc) assert_eq quick-migration "$kind" "$v (low) drained by" ;;
        *) assert_eq live-migration "$kind" "$v drained by" ;;
    esac
    assert_eq 1 "$(vm_qemu_count $v)" "QEMUs of $v"
    summary="$summary $v:${kind%%-*}->$w"
done

out=$(cdctl node1 node resume node2) || fail "resume: $out"
sb_wait_for 60 eval '[ "$(vm_where node1 dha)" = node2 ]' ||
    fail "dha (failback immediate, prefers node2) did not come back: $(cdctl node1 vm list)"
sb_wait_for 20 vm_ticking node2 dha || fail "dha does not tick back on node2"
for v in dmb dlc; do
    [ "$(vm_where node1 $v)" != node2 ] || fail "$v (failback never) moved back"
done

# The service stop: SIGTERM to clusterd on node2 (running dha) drains it
# first and then leaves; dha keeps counting elsewhere (same boot).
boot_dha=$(vm_last_boot node2 dha)
for n in node1 node3; do f=$(vm_serial $n dha); [ ! -f "$f" ] || : >"$f"; done
pid=$(cd_pid node2)
t0=$(sb_now_ms)
sb_exec node2 kill -TERM "$pid" || fail "SIGTERM to clusterd on node2"
sb_wait_for 120 eval '! cd_alive node2' ||
    fail "clusterd on node2 still alive 120 s after SIGTERM: $(tail -n 5 "$KVMC_SANDBOX_DIR/node2/clusterd.out")"
term_ms=$(($(sb_now_ms) - t0))
grep -q "shutdown: draining node 'node2'" "$KVMC_SANDBOX_DIR/node2/clusterd.out" ||
    fail "clusterd did not drain on SIGTERM: $(tail -n 5 "$KVMC_SANDBOX_DIR/node2/clusterd.out")"
[ -z "$(sb_exec node2 pgrep -a -x qemu-system-x86)" ] || fail "a QEMU is left on node2 after the shutdown drain"
w=$(vm_where node1 dha)
[ -n "$w" ] && [ "$w" != node2 ] || fail "dha runs on '$w' after node2's clusterd stopped"
sb_wait_for 20 vm_ticking "$w" dha || fail "dha does not tick on $w"
assert_eq "$boot_dha" "$(vm_last_boot "$w" dha)" "dha boot id after the shutdown drain (rebooted?)"
assert_eq 1 "$(vm_qemu_count dha)" "QEMUs of dha after the shutdown drain"
# The first drain's live move of dha and this one, both done.
assert_eq 2 "$(cdctl node1 vm show dha --output xml |
    grep -c 'kind="live-migration" cause="drain" from="node2".*status="done"')" \
    "dha's finished live drains off node2"
for n in node1 node3; do
    grep -q 'name="node2".* state="drained".* reason="shutdown"' <<<"$(cdctl $n node list --output xml)" ||
        fail "$n: node2 not drained for shutdown: $(cdctl $n node list --output xml | grep node2)"
done
# Back: clusterd resumes its node by itself, and dha fails back.
vm_cd_start node2
cd_wait_started node2
for n in $N; do
    sb_wait_for 30 eval "cdctl $n node list --output xml | grep -q 'name=\"node2\".* state=\"up\"'" ||
        fail "$n: node2 not up after its clusterd came back: $(cdctl $n node list --output xml | grep node2)"
done
sb_wait_for 60 eval '[ "$(vm_where node1 dha)" = node2 ]' ||
    fail "dha did not fail back after node2's clusterd came back: $(cdctl node1 vm list)"
proof "drain node2 in $drain_ms ms:$summary, guests kept counting (same boot ids), node2 drained on every node; resume: dha failed back to node2, dmb/dlc stayed; SIGTERM of clusterd on node2 drained dha live to $w (same boot) and exited in $term_ms ms, node2 back up and dha failed back when clusterd restarted"
