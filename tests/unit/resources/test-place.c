/* Placement: each function on small hand-made clusters. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "resources/res.h"

#define MAXN 8
#define MAXV 16

struct fix {
    struct res_node nodes[MAXN];
    struct res_place_vm vms[MAXV];
    struct res_cluster c;
};

static void add_node(struct fix *f, uint32_t id, enum res_node_state st,
                     uint64_t mem)
{
    struct res_node *n = &f->nodes[f->c.n_nodes++];

    memset(n, 0, sizeof(*n));
    n->id = id;
    snprintf(n->name, sizeof(n->name), "node%u", id);
    n->state = st;
    n->memory_mib = mem;
    n->reserved_mib = 512;
    f->c.nodes = f->nodes;
}

static struct res_place_vm *add_vm(struct fix *f, const char *name,
                                   uint64_t mem, enum res_priority prio,
                                   uint32_t node)
{
    struct res_place_vm *v = &f->vms[f->c.n_vms++];

    memset(v, 0, sizeof(*v));
    snprintf(v->name, sizeof(v->name), "%s", name);
    v->memory_mib = mem;
    v->policy.priority = prio;
    v->policy.failures_max = 3;
    v->policy.failures_period = 3600;
    v->node = node;
    v->want_running = true;
    f->c.vms = f->vms;
    return v;
}

static const struct res_action *find_action(const struct res_plan *p,
                                            const char *vm)
{
    for (size_t i = 0; i < p->n_actions; i++)
        if (strcmp(p->actions[i].vm, vm) == 0)
            return &p->actions[i];
    return NULL;
}

static const struct res_note *find_note(const struct res_plan *p,
                                        const char *vm)
{
    for (size_t i = 0; i < p->n_notes; i++)
        if (strcmp(p->notes[i].vm, vm) == 0)
            return &p->notes[i];
    return NULL;
}

static void test_best_spreads_and_prefers(void **state)
{
    struct fix f = {0};
    struct res_place_vm *v;
    struct res_note note;
    uint32_t node = 0;

    add_node(&f, 1, RES_NODE_UP, 4096);
    add_node(&f, 2, RES_NODE_UP, 8192);
    add_node(&f, 3, RES_NODE_DRAINED, 65536);
    v = add_vm(&f, "a", 1024, RES_PRIO_MEDIUM, 0);
    /* no preference: most free memory; the drained node is never taken */
    assert_int_equal(res_place_best(&f.c, "a", 0, &node, &note), 0);
    assert_int_equal(node, 2);
    assert_int_equal(note.why, RES_WHY_NONE);
    /* a preferred owner wins over free memory */
    strcpy(v->policy.preferred[0], "node1");
    v->policy.n_preferred = 1;
    assert_int_equal(res_place_best(&f.c, "a", 0, &node, NULL), 0);
    assert_int_equal(node, 1);
    /* possible owners restrict */
    strcpy(v->policy.preferred[0], "node2");
    strcpy(v->policy.possible[0], "node2");
    v->policy.n_possible = 1;
    assert_int_equal(res_place_best(&f.c, "a", 0, &node, NULL), 0);
    assert_int_equal(node, 2);
    assert_int_equal(res_place_best(&f.c, "nope", 0, &node, &note),
                     -RES_E_UNKNOWN_VM);
}

static void test_admission(void **state)
{
    struct fix f = {0};
    struct res_note note;
    uint32_t node = 0;
    char err[256];

    add_node(&f, 1, RES_NODE_UP, 2048); /* 1536 usable */
    add_node(&f, 2, RES_NODE_UP, 2048);
    add_vm(&f, "big", 2048, RES_PRIO_HIGH, 0);
    add_vm(&f, "fits", 1024, RES_PRIO_HIGH, 1);
    assert_int_equal(res_place_best(&f.c, "big", 0, &node, &note),
                     -RES_E_NO_CAPACITY);
    assert_int_equal(note.why, RES_WHY_NO_MEMORY);
    assert_non_null(strstr(note.text, "needs 2048 MiB"));
    assert_int_equal(res_place_check(&f.c, "big", 2, err, sizeof(err)),
                     -RES_E_NO_CAPACITY);
    assert_string_equal(err, "VM 'big' needs 2048 MiB, node 'node2' has "
                             "1536 MiB free");
    /* exactly full is fine: 1024 + 512 = 1536 */
    add_vm(&f, "half", 512, RES_PRIO_LOW, 0);
    assert_int_equal(res_place_check(&f.c, "half", 1, err, sizeof(err)), 0);
    f.nodes[1].state = RES_NODE_QUARANTINED;
    assert_int_equal(res_place_check(&f.c, "half", 2, err, sizeof(err)),
                     -RES_E_NODE_STATE);
    assert_string_equal(err, "node 'node2' is quarantined: it takes no VMs");
    assert_int_equal(res_place_check(&f.c, "half", 9, err, sizeof(err)),
                     -RES_E_UNKNOWN_NODE);
}

static void test_no_owner_up(void **state)
{
    struct fix f = {0};
    struct res_place_vm *v;
    struct res_note note;
    uint32_t node;

    add_node(&f, 1, RES_NODE_UP, 8192);
    add_node(&f, 2, RES_NODE_PAUSED, 8192);
    v = add_vm(&f, "a", 1024, RES_PRIO_HIGH, 0);
    strcpy(v->policy.possible[0], "node2");
    v->policy.n_possible = 1;
    assert_int_equal(res_place_best(&f.c, "a", 0, &node, &note),
                     -RES_E_NO_OWNER);
    assert_int_equal(note.why, RES_WHY_NO_OWNER_UP);
}

static void test_failover_priority_and_manual(void **state)
{
    struct fix f = {0};
    struct res_plan *p = NULL;

    add_node(&f, 1, RES_NODE_UP, 4096);
    add_node(&f, 2, RES_NODE_UP, 2560); /* 2048 usable */
    add_node(&f, 3, RES_NODE_UP, 2560);
    add_vm(&f, "zlow", 1024, RES_PRIO_LOW, 1);
    add_vm(&f, "amed", 1024, RES_PRIO_MEDIUM, 1);
    add_vm(&f, "high", 2048, RES_PRIO_HIGH, 1);
    add_vm(&f, "man", 512, RES_PRIO_MANUAL, 1);
    add_vm(&f, "other", 1024, RES_PRIO_HIGH, 2);
    assert_int_equal(res_plan_failover(&f.c, 1, &p), 0);
    /* high first (node3 is the only one with 2048 free), then medium,
     * then low; manual is not restarted */
    assert_int_equal(p->n_actions, 2);
    assert_string_equal(p->actions[0].vm, "high");
    assert_int_equal(p->actions[0].kind, RES_ACT_START);
    assert_int_equal(p->actions[0].to, 3);
    assert_string_equal(p->actions[1].vm, "amed");
    assert_int_equal(p->actions[1].to, 2);
    assert_non_null(find_note(p, "man"));
    assert_int_equal(find_note(p, "man")->why, RES_WHY_MANUAL);
    /* low no longer fits anywhere */
    assert_int_equal(find_note(p, "zlow")->why, RES_WHY_NO_MEMORY);
    assert_null(find_action(p, "other"));
    res_plan_free(p);
    assert_int_equal(res_plan_failover(&f.c, 7, &p), -RES_E_UNKNOWN_NODE);
}

static void test_drain_modes_and_waves(void **state)
{
    struct fix f = {0};
    struct res_plan *p = NULL;

    add_node(&f, 1, RES_NODE_UP, 16384);
    add_node(&f, 2, RES_NODE_UP, 16384);
    add_node(&f, 3, RES_NODE_UP, 16384);
    add_vm(&f, "h", 1024, RES_PRIO_HIGH, 1);
    add_vm(&f, "m", 1024, RES_PRIO_MEDIUM, 1);
    add_vm(&f, "l", 1024, RES_PRIO_LOW, 1);
    add_vm(&f, "x", 1024, RES_PRIO_MANUAL, 1);
    add_vm(&f, "stay", 1024, RES_PRIO_HIGH, 2);
    assert_int_equal(res_plan_drain(&f.c, 1, 2, &p), 0);
    assert_int_equal(p->n_actions, 4);
    assert_int_equal(find_action(p, "h")->mode, RES_MOVE_LIVE);
    assert_int_equal(find_action(p, "m")->mode, RES_MOVE_LIVE);
    assert_int_equal(find_action(p, "l")->mode, RES_MOVE_QUICK);
    assert_int_equal(find_action(p, "x")->mode, RES_MOVE_QUICK);
    for (size_t i = 0; i < p->n_actions; i++) {
        assert_int_equal(p->actions[i].kind, RES_ACT_MOVE);
        assert_int_equal(p->actions[i].from, 1);
        assert_int_not_equal(p->actions[i].to, 1);
        assert_int_equal(p->actions[i].wave, i / 2);
    }
    assert_null(find_action(p, "stay"));
    res_plan_free(p);
}

static void test_drain_nowhere(void **state)
{
    struct fix f = {0};
    struct res_plan *p = NULL;

    add_node(&f, 1, RES_NODE_UP, 16384);
    add_node(&f, 2, RES_NODE_UP, 2048);
    add_vm(&f, "big", 8192, RES_PRIO_HIGH, 1);
    add_vm(&f, "small", 1024, RES_PRIO_LOW, 1);
    assert_int_equal(res_plan_drain(&f.c, 1, 0, &p), 0);
    assert_int_equal(p->n_actions, 1);
    assert_string_equal(p->actions[0].vm, "small");
    assert_int_equal(find_note(p, "big")->why, RES_WHY_NO_MEMORY);
    res_plan_free(p);
}

static void test_anti_affinity_soft(void **state)
{
    struct fix f = {0};
    struct res_place_vm *v;
    struct res_plan *p = NULL;
    uint32_t node;
    struct res_note note;

    add_node(&f, 1, RES_NODE_UP, 8192);
    add_node(&f, 2, RES_NODE_UP, 4096);
    v = add_vm(&f, "web1", 1024, RES_PRIO_MEDIUM, 1);
    strcpy(v->policy.anti_affinity, "web");
    v = add_vm(&f, "web2", 1024, RES_PRIO_MEDIUM, 0);
    strcpy(v->policy.anti_affinity, "web");
    /* honoured: node2 although node1 has more free memory */
    assert_int_equal(res_place_best(&f.c, "web2", 0, &node, &note), 0);
    assert_int_equal(node, 2);
    assert_int_equal(note.why, RES_WHY_NONE);
    /* node2 gone: shares node1, and says so */
    f.nodes[1].state = RES_NODE_DOWN;
    assert_int_equal(res_place_best(&f.c, "web2", 0, &node, &note), 0);
    assert_int_equal(node, 1);
    assert_int_equal(note.why, RES_WHY_ANTI_AFFINITY);
    assert_non_null(strstr(note.text, "'web1'"));
    assert_int_equal(res_plan_pending(&f.c, &p), 0);
    assert_int_equal(p->n_actions, 1);
    assert_int_equal(find_note(p, "web2")->why, RES_WHY_ANTI_AFFINITY);
    res_plan_free(p);
}

static void test_failback(void **state)
{
    struct fix f = {0};
    struct res_place_vm *v;
    struct res_plan *p = NULL;

    add_node(&f, 1, RES_NODE_UP, 8192);
    add_node(&f, 2, RES_NODE_UP, 8192);
    v = add_vm(&f, "never", 1024, RES_PRIO_HIGH, 2);
    strcpy(v->policy.preferred[0], "node1");
    v->policy.n_preferred = 1;
    v = add_vm(&f, "now", 1024, RES_PRIO_LOW, 2);
    strcpy(v->policy.preferred[0], "node1");
    v->policy.n_preferred = 1;
    v->policy.failback = RES_FAILBACK_IMMEDIATE;
    v = add_vm(&f, "night", 1024, RES_PRIO_HIGH, 2);
    strcpy(v->policy.preferred[0], "node1");
    v->policy.n_preferred = 1;
    v->policy.failback = RES_FAILBACK_WINDOW;
    v->policy.window_start = 22 * 60;
    v->policy.window_end = 6 * 60;

    /* noon: only "now" moves, quick (low); "night" waits */
    assert_int_equal(res_plan_failback(&f.c, 1, 12 * 60, 2, &p), 0);
    assert_int_equal(p->n_actions, 1);
    assert_string_equal(p->actions[0].vm, "now");
    assert_int_equal(p->actions[0].mode, RES_MOVE_QUICK);
    assert_int_equal(p->actions[0].from, 2);
    assert_int_equal(p->actions[0].to, 1);
    assert_int_equal(find_note(p, "night")->why, RES_WHY_FAILBACK_LATER);
    assert_null(find_note(p, "never"));
    res_plan_free(p);
    /* 23:30 and 05:59 are inside the window that wraps midnight */
    assert_int_equal(res_plan_failback(&f.c, 1, 23 * 60 + 30, 2, &p), 0);
    assert_int_equal(p->n_actions, 2);
    assert_int_equal(find_action(p, "night")->mode, RES_MOVE_LIVE);
    res_plan_free(p);
    assert_int_equal(res_plan_failback(&f.c, 1, 5 * 60 + 59, 2, &p), 0);
    assert_int_equal(p->n_actions, 2);
    res_plan_free(p);
    assert_int_equal(res_plan_failback(&f.c, 1, 6 * 60, 2, &p), 0);
    assert_int_equal(p->n_actions, 1);
    res_plan_free(p);
    /* a full preferred node blocks failback, with a note */
    f.nodes[0].memory_mib = 1024;
    assert_int_equal(res_plan_failback(&f.c, 1, 23 * 60, 2, &p), 0);
    assert_int_equal(p->n_actions, 0);
    assert_int_equal(find_note(p, "now")->why, RES_WHY_FAILBACK_BLOCKED);
    res_plan_free(p);
}

static void test_vm_failure(void **state)
{
    struct fix f = {0};
    struct res_plan *p = NULL;

    add_node(&f, 1, RES_NODE_UP, 4096);
    add_node(&f, 2, RES_NODE_UP, 4096);
    add_vm(&f, "a", 3000, RES_PRIO_MEDIUM, 1);
    add_vm(&f, "m", 512, RES_PRIO_MANUAL, 1);
    /* in place: its memory is still its own there */
    assert_int_equal(res_plan_vm_failure(&f.c, "a", false, &p), 0);
    assert_int_equal(p->n_actions, 1);
    assert_int_equal(p->actions[0].kind, RES_ACT_START);
    assert_int_equal(p->actions[0].to, 1);
    res_plan_free(p);
    assert_int_equal(res_plan_vm_failure(&f.c, "a", true, &p), 0);
    assert_int_equal(p->n_actions, 1);
    assert_int_equal(p->actions[0].to, 2);
    res_plan_free(p);
    assert_int_equal(res_plan_vm_failure(&f.c, "m", false, &p), 0);
    assert_int_equal(p->n_actions, 0);
    assert_int_equal(p->notes[0].why, RES_WHY_MANUAL);
    res_plan_free(p);
}

static void test_bad_input(void **state)
{
    struct fix f = {0};
    struct res_plan *p = NULL;

    add_node(&f, 1, RES_NODE_UP, 4096);
    add_node(&f, 1, RES_NODE_UP, 4096);
    assert_int_equal(res_plan_pending(&f.c, &p), -RES_E_INPUT);
    f.nodes[1].id = 2;
    add_vm(&f, "a", 10, RES_PRIO_LOW, 5); /* runs on an unknown node */
    assert_int_equal(res_plan_pending(&f.c, &p), -RES_E_INPUT);
    f.vms[0].node = 0;
    add_vm(&f, "a", 10, RES_PRIO_LOW, 0);
    assert_int_equal(res_plan_pending(&f.c, &p), -RES_E_INPUT);
    assert_null(p);
    assert_string_equal(cmn_strerror(-RES_E_INPUT),
                        "inconsistent placement input");
}

/* A migration in flight holds memory on both nodes; drain and failback
 * leave the VM alone; losing either node cancels the reservation. */
static void test_in_flight(void **state)
{
    struct fix f = {0};
    struct res_place_vm *v;
    struct res_plan *p = NULL;
    uint32_t node;
    char err[256];

    add_node(&f, 1, RES_NODE_UP, 4608); /* 4096 usable each */
    add_node(&f, 2, RES_NODE_UP, 4608);
    add_node(&f, 3, RES_NODE_UP, 4608);
    v = add_vm(&f, "mig", 3072, RES_PRIO_HIGH, 1);
    v->moving_to = 2;
    add_vm(&f, "new", 2048, RES_PRIO_HIGH, 0);
    add_vm(&f, "fill", 3072, RES_PRIO_LOW, 3);
    /* only node1 or node2 could take "new", both hold "mig" */
    assert_int_equal(res_place_best(&f.c, "new", 0, &node, NULL),
                     -RES_E_NO_CAPACITY);
    assert_int_equal(res_place_check(&f.c, "new", 2, err, sizeof(err)),
                     -RES_E_NO_CAPACITY);
    assert_int_equal(res_plan_drain(&f.c, 1, 1, &p), 0);
    assert_int_equal(p->n_actions, 0);
    res_plan_free(p);
    /* node2 dies: the migration with it; node1 keeps "mig", "new" still
     * has no room on node1 (1024 free) nor node3 */
    assert_int_equal(res_plan_failover(&f.c, 2, &p), 0);
    assert_int_equal(p->n_actions, 0);
    res_plan_free(p);
    /* node1 dies instead: "mig" restarts on node2, where its reservation
     * was, and nothing else is counted twice */
    assert_int_equal(res_plan_failover(&f.c, 1, &p), 0);
    assert_int_equal(p->n_actions, 1);
    assert_int_equal(p->actions[0].to, 2);
    res_plan_free(p);
    v->moving_to = 1; /* to itself: refused */
    assert_int_equal(res_plan_pending(&f.c, &p), -RES_E_INPUT);
}

static void test_explain(void **state)
{
    struct fix f = {0};
    struct res_place_vm *v;
    char *text = NULL;

    add_node(&f, 1, RES_NODE_UP, 8192);
    add_node(&f, 2, RES_NODE_DRAINED, 8192);
    add_node(&f, 3, RES_NODE_UP, 1024);
    add_node(&f, 4, RES_NODE_UP, 8192);
    add_node(&f, 5, RES_NODE_UP, 8192);
    v = add_vm(&f, "web1", 1024, RES_PRIO_HIGH, 1);
    strcpy(v->policy.anti_affinity, "web");
    strcpy(v->policy.preferred[0], "node1");
    v->policy.n_preferred = 1;
    for (int i = 0; i < 4; i++)
        sprintf(v->policy.possible[i], "node%d", i + 1);
    v->policy.n_possible = 4;
    v = add_vm(&f, "web2", 1024, RES_PRIO_HIGH, 4);
    strcpy(v->policy.anti_affinity, "web");
    assert_int_equal(res_explain(&f.c, "web1", &text), 0);
    print_message("%s", text);
    assert_non_null(strstr(text, "VM 'web1': priority high, 1024 MiB, runs "
                                 "on 'node1' (id 1), wanted running\n"));
    assert_non_null(strstr(text, "node1 (id 1): runs it now, 6656 MiB free "
                                 "besides; preferred #1\n"));
    assert_non_null(strstr(text, "node2 (id 2): drained, takes no VMs"));
    assert_non_null(
        strstr(text, "node3 (id 3): too small: needs 1024 MiB, 512 MiB free"));
    assert_non_null(strstr(text, "node4 (id 4): eligible, 6656 MiB free, but "
                                 "runs 'web2' of anti-affinity class 'web'"));
    assert_non_null(strstr(text, "node5 (id 5): not a possible owner"));
    assert_non_null(strstr(text, "best node to move it to: 'node4' "
                                 "(anti-affinity violated"));
    free(text);
    assert_int_equal(res_explain(&f.c, "zzz", &text), -RES_E_UNKNOWN_VM);
}

/* A VM on node 1's local volume: started there only (even when node 2 is
 * preferred and roomier), never failed over, drained or moved, and every
 * refusal names the volume and the node. */
static void test_local_volume(void **state)
{
    struct fix f = {0};
    struct res_place_vm *v;
    struct res_plan *p = NULL;
    const struct res_note *n;
    struct res_note note;
    uint32_t node = 0;
    char err[256], *text = NULL;

    (void)state;
    add_node(&f, 1, RES_NODE_UP, 4096);
    add_node(&f, 2, RES_NODE_UP, 16384);
    v = add_vm(&f, "lv", 1024, RES_PRIO_HIGH, 0);
    snprintf(v->local_volume, sizeof(v->local_volume), "loc1");
    snprintf(v->local_node, sizeof(v->local_node), "node1");
    v->policy.n_preferred = 1;
    snprintf(v->policy.preferred[0], RES_NAME_MAX, "node2");
    add_vm(&f, "other", 1024, RES_PRIO_HIGH, 1);

    /* start: node 1 only */
    assert_int_equal(res_plan_pending(&f.c, &p), 0);
    assert_non_null(find_action(p, "lv"));
    assert_int_equal(find_action(p, "lv")->to, 1);
    res_plan_free(p);
    assert_int_equal(res_place_best(&f.c, "lv", 0, &node, &note), 0);
    assert_int_equal(node, 1);
    assert_int_equal(res_place_check(&f.c, "lv", 2, err, sizeof(err)),
                     -RES_E_NOT_OWNER);
    assert_non_null(strstr(err, "node-local volume 'loc1' of node 'node1'"));
    assert_non_null(strstr(err, "cannot run on node 'node2'"));
    assert_int_equal(res_place_check(&f.c, "lv", 1, err, sizeof(err)), 0);

    /* running on node 1: a move elsewhere finds nothing */
    v->node = 1;
    assert_int_equal(
        res_place_best(&f.c, "lv", RES_PLACE_OTHER_NODE, &node, &note),
        -RES_E_NOT_OWNER);
    assert_int_equal(note.why, RES_WHY_LOCAL);
    assert_non_null(strstr(note.text, "runs on no other node"));

    /* drain: stays, with a note; the other VM moves */
    assert_int_equal(res_plan_drain(&f.c, 1, 0, &p), 0);
    assert_null(find_action(p, "lv"));
    assert_non_null(find_action(p, "other"));
    n = find_note(p, "lv");
    assert_non_null(n);
    assert_int_equal(n->why, RES_WHY_LOCAL);
    assert_non_null(strstr(n->text, "the drain leaves it running there"));
    res_plan_free(p);

    /* node 1 lost: not failed over, said plainly; the other VM is */
    assert_int_equal(res_plan_failover(&f.c, 1, &p), 0);
    assert_null(find_action(p, "lv"));
    assert_non_null(find_action(p, "other"));
    n = find_note(p, "lv");
    assert_non_null(n);
    assert_int_equal(n->why, RES_WHY_LOCAL);
    assert_non_null(strstr(n->text, "of node 'node1': not failed over"));
    res_plan_free(p);

    /* node 1 down, the VM wanted: nowhere, and why */
    f.nodes[0].state = RES_NODE_DOWN;
    v->node = 0;
    assert_int_equal(res_place_best(&f.c, "lv", 0, &node, &note),
                     -RES_E_NOT_OWNER);
    assert_non_null(strstr(note.text, "not failed over"));
    assert_int_equal(res_plan_pending(&f.c, &p), 0);
    assert_null(find_action(p, "lv"));
    assert_int_equal(find_note(p, "lv")->why, RES_WHY_LOCAL);
    res_plan_free(p);
    assert_int_equal(res_explain(&f.c, "lv", &text), 0);
    assert_non_null(strstr(text, "storage: node-local volume 'loc1' of node "
                                 "'node1': runs there only, not failed over"));
    assert_non_null(strstr(text, "node2 (id 2): does not have its node-local "
                                 "volume 'loc1'"));
    free(text);
    assert_string_equal(res_why_str(RES_WHY_LOCAL), "local");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_best_spreads_and_prefers),
        cmocka_unit_test(test_admission),
        cmocka_unit_test(test_no_owner_up),
        cmocka_unit_test(test_failover_priority_and_manual),
        cmocka_unit_test(test_drain_modes_and_waves),
        cmocka_unit_test(test_drain_nowhere),
        cmocka_unit_test(test_anti_affinity_soft),
        cmocka_unit_test(test_failback),
        cmocka_unit_test(test_vm_failure),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_in_flight),
        cmocka_unit_test(test_explain),
        cmocka_unit_test(test_local_volume),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
