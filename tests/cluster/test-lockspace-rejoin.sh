#!/usr/bin/env bash
# Storage health as a node condition, and the lockspace re-joined without
# a person (issue 19 item 2), on 3 nodes with the whole stack and VMs on
# the CSV:
#  1. node2's path to the storage is cut (nft in node2's namespace drops
#     the iSCSI traffic; node2 stays a cluster member) until its sanlock
#     drops the CSV lockspace;
#  2. every node reports node2's storage as unhealthy ('node list'), and
#     'explain' names it; 'vm start' of a VM whose preferred owner is
#     node2 places it on another node, where it runs, and a move to node2
#     is refused;
#  3. the path comes back: node2's lockspace is joined again within
#     REJOIN_S with no command run by hand, node2 is reported healthy,
#     and a move of the VM to node2 succeeds (the guest ticks there).
# kvmc-timeout: 360
. "$(dirname "$0")/lib/sandbox.sh"
. "$(dirname "$0")/lib/clusterd.sh"
. "$(dirname "$0")/lib/vm.sh"

vm_require
sb_require_stack
sb_init lsrej
# shellcheck disable=SC2034 # read by lib/vm.sh: this test is about the CSV
VM_CSV=1
vm_up 3
N="node1 node2 node3"
STORAGE_IP=$KVMC_SB_PREFIX.254
DROP_S=90   # sanlock drops a lockspace ~8 io_timeouts after renewals fail
REJOIN_S=45 # path back -> lockspace held again (join: a few io_timeouts)

joined() { # NODE: its sanlock holds the CSV lockspace (not still adding)
    sb_exec "$1" sanlock client status 2>/dev/null |
        grep "^s $SB_CSV_LS:${1#node}:" | grep -qv ' ADD'
}
listed() { # NODE: its sanlock lists the lockspace at all
    sb_exec "$1" sanlock client status 2>/dev/null | grep -q "^s $SB_CSV_LS:${1#node}:"
}
storage_of() { # VIEWER NODE: NODE's storage state as VIEWER's clusterd has it
    cdctl "$1" node list --output xml 2>/dev/null |
        sed -n "s/.*<node name=\"$2\".* storage=\"\([^\"]*\)\".*/\1/p"
}
all_see() { # NODE STATE...: every node has NODE's storage in one of STATEs
    local n s
    for n in $N; do
        s=$(storage_of "$n" "$1")
        [[ " ${*:2} " == *" $s "* ]] || return 1
    done
}

vm_define web1 high 128 '<preferred-owners><node>node2</node></preferred-owners>'
out=$(cdctl node1 vm add "$VM_DIR/web1.xml" 2>&1) || fail "vm add web1: $out"

# 1. Cut node2 from the storage (only node2: it stays a member).
t_cut=$(sb_now_ms)
sb_exec node2 nft -f - <<EOF || fail "cannot cut node2's storage path"
table inet stcut {
  chain out { type filter hook output priority 0; ip daddr $STORAGE_IP drop; }
  chain in { type filter hook input priority 0; ip saddr $STORAGE_IP drop; }
}
EOF
sb_wait_for "$DROP_S" eval '! listed node2' ||
    fail "node2's sanlock still lists the lockspace ${DROP_S}s after the cut: $(sb_exec node2 sanlock client status)"
t_drop=$(sb_now_ms)
sb_log "node2's sanlock dropped lockspace $SB_CSV_LS $(sb_secs $((t_drop - t_cut))) after the cut"

# 2. Placement avoids node2; every member knows why.
out=$(cdctl node3 vm start web1 2>&1) || fail "vm start web1: $out $(cdctl node1 explain web1 2>&1)"
sb_wait_for 30 eval '[ -n "$(vm_where node1 web1)" ]' ||
    fail "web1 runs nowhere after vm start: $(cdctl node1 vm show web1 2>&1) $(cdctl node1 explain web1 2>&1)"
first=$(vm_where node1 web1)
[ "$first" != node2 ] || fail "web1 was placed on node2, whose lockspace is lost"
sb_wait_for 30 vm_ticking "$first" web1 || fail "web1 does not tick on $first"
sb_wait_for 15 all_see node2 lost unreadable joining ||
    fail "node2's storage is not reported unhealthy everywhere: $(for n in $N; do echo "$n: $(storage_of $n node2)"; done) $(cdctl node1 node list 2>&1)"
nl=$(cdctl node3 node list 2>&1)
grep -q "storage: .* of volume '$SB_CSV_LS'" <<<"$nl" ||
    fail "node list does not say why node2 takes no VMs: $nl"
st=$(cdctl node1 status 2>&1)
grep -q "^storage: *node2 storage: .* of volume '$SB_CSV_LS'" <<<"$st" ||
    fail "status does not show node2's storage: $st"
ex=$(cdctl node1 explain web1 2>&1)
grep -q "node2: storage: .* of volume '$SB_CSV_LS' .* since " <<<"$ex" ||
    fail "explain web1 does not name node2's storage: $ex"
out=$(cdctl node1 move-vm web1 --to node2 --live 2>&1) &&
    fail "a move to node2 without its lockspace was accepted: $out"
e_move=$out
grep -q "node 'node2' takes no VMs: storage: .* of volume '$SB_CSV_LS'" <<<"$e_move" ||
    fail "the refused move does not name node2's storage: $e_move"
sb_log "web1 started on $first; move to node2 refused: $e_move"

# 3. The path comes back: no manual add_lockspace.
sb_exec node2 nft delete table inet stcut || fail "cannot heal node2's storage path"
t_heal=$(sb_now_ms)
sb_wait_for "$REJOIN_S" joined node2 ||
    fail "node2's lockspace not joined again ${REJOIN_S}s after the path came back: $(sb_exec node2 sanlock client status) $(grep -i storage "$KVMC_SANDBOX_DIR/node2/clusterd.out" | tail -n 5)"
t_join=$(sb_now_ms)
sb_wait_for 15 all_see node2 ok ||
    fail "node2 not reported healthy again: $(for n in $N; do echo "$n: $(storage_of $n node2)"; done)"
t_ok=$(sb_now_ms)
ex=$(cdctl node1 explain web1 2>&1)
grep -q "node2: storage" <<<"$ex" && fail "explain still names node2's storage: $ex"
out=$(cdctl node1 move-vm web1 --to node2 --live 2>&1) || fail "move to node2 after the heal: $out"
sb_wait_for 30 vm_ticking node2 web1 || fail "web1 does not tick on node2 after the move"
[ "$(vm_where node3 web1)" = node2 ] || fail "web1 is not on node2: $(cdctl node3 vm show web1)"

proof "storage cut of node2: lockspace dropped $(sb_secs $((t_drop - t_cut))) after the cut;" \
    "web1 (prefers node2) started on $first, move to node2 refused;" \
    "path back -> lockspace joined by clusterd in $(sb_secs $((t_join - t_heal)))," \
    "reported healthy in $(sb_secs $((t_ok - t_heal))); live move to node2 ok"
