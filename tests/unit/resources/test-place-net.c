/* Placement and VM networks: a node lacking a bridge of a VM's NICs is
 * never chosen, and every refusal names the bridge. */
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

struct fix {
    struct res_node nodes[3];
    struct res_place_vm vms[1];
    struct res_cluster c;
};

/* node1 runs "web" (on vmbr0 and vmbr1); node2 has only vmbr0; node3
 * has both but less memory free than node2 would. */
static void fix_init(struct fix *f)
{
    memset(f, 0, sizeof(*f));
    for (uint32_t i = 0; i < 3; i++) {
        struct res_node *n = &f->nodes[i];
        n->id = i + 1;
        snprintf(n->name, sizeof(n->name), "node%u", i + 1);
        n->memory_mib = i == 1 ? 8192 : 4096;
    }
    res_node_set_bridges(&f->nodes[0], "vmbr0 vmbr1");
    res_node_set_bridges(&f->nodes[1], "vmbr0");
    res_node_set_bridges(&f->nodes[2], " vmbr1  vmbr0 ");
    snprintf(f->vms[0].name, sizeof(f->vms[0].name), "web");
    f->vms[0].memory_mib = 1024;
    f->vms[0].node = 1;
    f->vms[0].want_running = true;
    f->vms[0].n_bridges = 2;
    snprintf(f->vms[0].bridges[0], RES_BRIDGE_MAX, "vmbr0");
    snprintf(f->vms[0].bridges[1], RES_BRIDGE_MAX, "vmbr1");
    f->c.nodes = f->nodes;
    f->c.n_nodes = 3;
    f->c.vms = f->vms;
    f->c.n_vms = 1;
}

static void test_set_bridges(void **state)
{
    struct fix f;

    (void)state;
    fix_init(&f);
    assert_true(f.nodes[2].bridges_known);
    assert_int_equal(f.nodes[2].n_bridges, 2);
    assert_string_equal(f.nodes[2].bridges[0], "vmbr1");
    assert_null(res_node_missing_bridge(&f.nodes[2], &f.vms[0]));
    assert_string_equal(res_node_missing_bridge(&f.nodes[1], &f.vms[0]),
                        "vmbr1");
    /* a node that never reported is not held against a VM */
    f.nodes[1].bridges_known = false;
    assert_null(res_node_missing_bridge(&f.nodes[1], &f.vms[0]));
}

static void test_best_skips(void **state)
{
    struct fix f;
    struct res_note note;
    uint32_t to = 0;

    (void)state;
    fix_init(&f);
    /* node2 has more memory free but lacks vmbr1 */
    assert_int_equal(
        res_place_best(&f.c, "web", RES_PLACE_OTHER_NODE, &to, &note), 0);
    assert_int_equal(to, 3);
    /* with node3 down no node can take it: the note names the bridge */
    f.nodes[2].state = RES_NODE_DOWN;
    assert_int_equal(
        res_place_best(&f.c, "web", RES_PLACE_OTHER_NODE, &to, &note),
        -RES_E_NO_BRIDGE);
    assert_int_equal(note.why, RES_WHY_NO_BRIDGE);
    assert_non_null(strstr(note.text, "'node2' lacks bridge 'vmbr1'"));
}

static void test_check_names_bridge(void **state)
{
    struct fix f;
    char err[256] = "";

    (void)state;
    fix_init(&f);
    assert_int_equal(res_place_check(&f.c, "web", 2, err, sizeof(err)),
                     -RES_E_NO_BRIDGE);
    assert_non_null(strstr(err, "node 'node2' has no bridge 'vmbr1'"));
    assert_int_equal(res_place_check(&f.c, "web", 3, err, sizeof(err)), 0);
}

static void test_failover_and_explain(void **state)
{
    struct fix f;
    struct res_plan *plan = NULL;
    char *text = NULL;

    (void)state;
    fix_init(&f);
    assert_int_equal(res_plan_failover(&f.c, 1, &plan), 0);
    assert_int_equal(plan->n_actions, 1);
    assert_int_equal(plan->actions[0].to, 3);
    res_plan_free(plan);
    assert_int_equal(res_plan_drain(&f.c, 1, 1, &plan), 0);
    assert_int_equal(plan->n_actions, 1);
    assert_int_equal(plan->actions[0].to, 3);
    res_plan_free(plan);
    assert_int_equal(res_explain(&f.c, "web", &text), 0);
    assert_non_null(strstr(text, "no bridge 'vmbr1'"));
    free(text);
}

static void test_from_def(void **state)
{
    struct res_vm *def = NULL;
    struct res_place_vm pv;

    (void)state;
    assert_int_equal(res_vm_new(&def), 0);
    snprintf(def->name, sizeof(def->name), "web");
    def->n_nics = 3;
    snprintf(def->nics[0].bridge, RES_BRIDGE_MAX, "vmbr0");
    snprintf(def->nics[1].bridge, RES_BRIDGE_MAX, "vmbr1");
    snprintf(def->nics[2].bridge, RES_BRIDGE_MAX, "vmbr0");
    res_place_vm_from_def(def, 0, true, &pv);
    assert_int_equal(pv.n_bridges, 2); /* each once */
    assert_string_equal(pv.bridges[1], "vmbr1");
    res_vm_free(def);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_bridges),
        cmocka_unit_test(test_best_skips),
        cmocka_unit_test(test_check_names_bridge),
        cmocka_unit_test(test_failover_and_explain),
        cmocka_unit_test(test_from_def),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
