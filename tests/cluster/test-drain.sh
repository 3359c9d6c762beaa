#!/usr/bin/env bash
# node drain / node resume on 3 nodes: node2 runs three VMs (high,
# medium, low priority). 'clusterctl node drain node2' moves all of them
# off (high and medium live, low quick, as the drain plan says), every
# guest keeps counting without a reboot, node2 ends drained; 'node resume
# node2' brings back the VM whose policy prefers node2 with immediate
# failback, and only that one.
# kvmc-timeout: 420
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
proof "drain node2 in $drain_ms ms:$summary, guests kept counting (same boot ids), node2 drained on every node; resume: dha failed back to node2, dmb/dlc stayed"
