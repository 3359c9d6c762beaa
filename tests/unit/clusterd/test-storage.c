/* Storage health as a node condition (cd-storage.h): the replicated
 * table, placement giving no VM to a node whose lockspace is lost, the
 * reason explain gives, and the node taking VMs again once healthy. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clusterd/cd-coord.h"
#include "tests/unit/clusterd/coord-fixture.h"
#include "clusterd/cd-storage.h"
#include "clusterd/cd.h"

static void storage(struct cd_coord *co, const struct cd_cdb *cdb,
                    uint32_t node, enum cd_stor_state st, uint64_t since,
                    struct cd_co_effect *eff)
{
    struct cd_stor_node r = {.node = node, .state = st, .since = since};
    struct cd_co_msg m;

    snprintf(r.volume, sizeof(r.volume), "sb-csv");
    snprintf(r.detail, sizeof(r.detail), "sanlock dropped it");
    cd_stor_msg(&r, &m);
    deliver(co, cdb, node, &m, eff);
}

static void rt(struct cd_coord *co, const struct cd_cdb *cdb, uint32_t node,
               const char *vm, enum cd_rt_state st)
{
    struct cd_co_msg m = {.type = CD_CO_RT_VM, .kind = st};

    snprintf(m.vm, sizeof(m.vm), "%s", vm);
    deliver(co, cdb, node, &m, NULL);
}

/* Without a lost lockspace, web1 goes to node1 (ties break on node id);
 * with node1's lockspace lost it goes elsewhere, and check_start agrees. */
static void test_lost_node_takes_no_vm(void **state)
{
    CMN_AUTO(cd_cdb) *cdb = cluster3();
    struct cd_coord *co;
    struct cd_action out[32];
    struct cd_co_effect eff;
    uint32_t to = 0;
    char err[512];
    size_t n;

    (void)state;
    add_vm(cdb, "web1", "high", 512, true);
    co = coord_settled(cdb);
    n = derive(co, cdb, m123, 3, out);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].to, 1);

    storage(co, cdb, 1, CD_STOR_LOST, 1000, &eff);
    assert_true(eff.changed);
    assert_false(cd_stor_healthy(cd_coord_storage(co), 1));
    n = derive(co, cdb, m123, 3, out);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].kind, CD_ACT_START);
    assert_int_not_equal(out[0].to, 1);
    assert_int_equal(
        cd_coord_check_start(co, cdb, "web1", &to, err, sizeof(err)), 0);
    assert_int_not_equal(to, 1);
    /* The same report again changes nothing. */
    storage(co, cdb, 1, CD_STOR_LOST, 1000, &eff);
    assert_false(eff.changed);
    /* Joining is not healthy yet: a start would fail at the lease. */
    storage(co, cdb, 1, CD_STOR_JOINING, 1010, &eff);
    assert_true(eff.changed);
    n = derive(co, cdb, m123, 3, out);
    assert_int_equal(n, 1);
    assert_int_not_equal(out[0].to, 1);
    /* Back: node1 takes it again. */
    storage(co, cdb, 1, CD_STOR_OK, 1020, &eff);
    assert_true(cd_stor_healthy(cd_coord_storage(co), 1));
    n = derive(co, cdb, m123, 3, out);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].to, 1);
    cd_coord_free(co);
}

/* A move to a node whose lockspace is lost is refused, naming it. */
static void test_move_refused(void **state)
{
    CMN_AUTO(cd_cdb) *cdb = cluster3();
    struct cd_coord *co;
    uint32_t from = 0, to = 0;
    char err[512];

    (void)state;
    add_vm(cdb, "web1", "high", 512, true);
    co = coord_settled(cdb);
    rt(co, cdb, 2, "web1", CD_RT_RUNNING);
    storage(co, cdb, 1, CD_STOR_LOST, 0, NULL);
    assert_int_not_equal(cd_coord_check_move(co, cdb, "web1", 1, CD_ACT_LIVE,
                                             &from, &to, err, sizeof(err)),
                         0);
    assert_non_null(strstr(err, "node 'node1' takes no VMs: storage: "
                                "lockspace of volume 'sb-csv' lost"));
    storage(co, cdb, 1, CD_STOR_OK, 0, NULL);
    assert_int_equal(cd_coord_check_move(co, cdb, "web1", 1, CD_ACT_LIVE, &from,
                                         &to, err, sizeof(err)),
                     0);
    assert_int_equal(to, 1);
    cd_coord_free(co);
}

/* With every node's lockspace lost, nothing starts anywhere. */
static void test_all_lost_nothing_starts(void **state)
{
    CMN_AUTO(cd_cdb) *cdb = cluster3();
    struct cd_coord *co;
    struct cd_action out[32];

    (void)state;
    add_vm(cdb, "web1", "high", 512, true);
    co = coord_settled(cdb);
    for (uint32_t i = 1; i <= 3; i++)
        storage(co, cdb, i, CD_STOR_UNREADABLE, 1000, NULL);
    assert_int_equal(derive(co, cdb, m123, 3, out), 0);
    cd_coord_free(co);
}

/* A node that left is forgotten; one that never reported is healthy. */
static void test_table_confchg(void **state)
{
    CMN_AUTO(cd_cdb) *cdb = cluster3();
    static const uint32_t m13[] = {1, 3};
    struct cd_coord *co;

    (void)state;
    co = coord_settled(cdb);
    assert_true(cd_stor_healthy(cd_coord_storage(co), 2));
    storage(co, cdb, 2, CD_STOR_LOST, 1000, NULL);
    assert_false(cd_stor_healthy(cd_coord_storage(co), 2));
    cd_coord_confchg(co, m13, 2);
    assert_null(cd_stor_get(cd_coord_storage(co), 2));
    assert_true(cd_stor_healthy(cd_coord_storage(co), 2));
    cd_coord_free(co);
}

/* The line explain gives names the node's cause; a healthy node gives
 * none. */
static void test_reason_text(void **state)
{
    struct cd_stor_table t = {0};
    struct cd_co_msg m;
    struct cd_stor_node r = {.node = 2, .state = CD_STOR_LOST, .since = 0};
    char buf[384];

    (void)state;
    snprintf(r.volume, sizeof(r.volume), "sb-csv");
    snprintf(r.detail, sizeof(r.detail), "/run/x: Transport endpoint");
    cd_stor_msg(&r, &m);
    assert_true(cd_stor_apply(&t, 2, &m));
    cd_stor_reason(&t, 2, buf, sizeof(buf));
    assert_string_equal(buf, "storage: lockspace of volume 'sb-csv' lost "
                             "since ? (/run/x: Transport endpoint)");
    r.state = CD_STOR_UNREADABLE;
    cd_stor_msg(&r, &m);
    assert_true(cd_stor_apply(&t, 2, &m));
    cd_stor_reason(&t, 2, buf, sizeof(buf));
    assert_non_null(strstr(buf, "path of volume 'sb-csv' unreadable"));
    r.state = CD_STOR_OK;
    cd_stor_msg(&r, &m);
    assert_true(cd_stor_apply(&t, 2, &m));
    cd_stor_reason(&t, 2, buf, sizeof(buf));
    assert_string_equal(buf, "");
    cd_stor_reason(&t, 3, buf, sizeof(buf));
    assert_string_equal(buf, "");
    /* A state from a newer version is ignored, not trusted. */
    m.kind = CD_STOR_STATE_END;
    assert_false(cd_stor_apply(&t, 2, &m));
    assert_string_equal(cd_stor_state_name(CD_STOR_JOINING), "joining");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lost_node_takes_no_vm),
        cmocka_unit_test(test_move_refused),
        cmocka_unit_test(test_all_lost_nothing_starts),
        cmocka_unit_test(test_table_confchg),
        cmocka_unit_test(test_reason_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
