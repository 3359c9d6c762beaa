/* Cluster validation and readiness (cd-check.h): the replicated table, a
 * node not ready taking no VM (and the move refused naming why), a node
 * that never reported counting as ready, and the cross-node checks:
 * authkey digests, LUN ids, unreported nodes, clocks, failover memory. */
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

#include "clusterd/cd-check.h"
#include "clusterd/cd-coord.h"
#include "clusterd/cd.h"
#include "tests/unit/clusterd/coord-fixture.h"

static void ready(struct cd_coord *co, const struct cd_cdb *cdb, uint32_t node,
                  enum cd_chk_status s, struct cd_co_effect *eff)
{
    struct cd_chk_result r = {.status = s};
    struct cd_co_msg m;

    snprintf(r.text, sizeof(r.text), "no watchdog");
    cd_chk_msg(CD_CHK_READY, &r, 1000, &m);
    deliver(co, cdb, node, &m, eff);
}

/* web1 goes to node1 (ties break on id) until node1 says it is not
 * ready; a lab override (warn) is ready; a move there is refused with
 * the reason. */
static void test_not_ready_takes_no_vm(void **state)
{
    CMN_AUTO(cd_cdb) *cdb = cluster3();
    struct cd_coord *co;
    struct cd_action out[32];
    struct cd_co_effect eff;
    struct cd_co_msg m = {.type = CD_CO_RT_VM, .kind = CD_RT_RUNNING};
    uint32_t from = 0, to = 0;
    char err[512];
    size_t n;

    (void)state;
    add_vm(cdb, "web1", "high", 512, true);
    co = coord_settled(cdb);
    assert_true(cd_chk_ready(cd_coord_checks(co), 1));
    n = derive(co, cdb, m123, 3, out);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].to, 1);

    ready(co, cdb, 1, CD_CHK_FAIL, &eff);
    assert_true(eff.changed);
    assert_false(cd_chk_ready(cd_coord_checks(co), 1));
    n = derive(co, cdb, m123, 3, out);
    assert_int_equal(n, 1);
    assert_int_not_equal(out[0].to, 1);
    ready(co, cdb, 1, CD_CHK_FAIL, &eff);
    assert_false(eff.changed);

    snprintf(m.vm, sizeof(m.vm), "web1");
    deliver(co, cdb, 2, &m, NULL);
    assert_int_not_equal(cd_coord_check_move(co, cdb, "web1", 1, CD_ACT_LIVE,
                                             &from, &to, err, sizeof(err)),
                         0);
    assert_non_null(strstr(err, "node 'node1' takes no VMs: it is not ready "
                                "(no watchdog)"));

    ready(co, cdb, 1, CD_CHK_WARN, &eff);
    assert_true(cd_chk_ready(cd_coord_checks(co), 1));
    assert_int_equal(cd_coord_check_move(co, cdb, "web1", 1, CD_ACT_LIVE, &from,
                                         &to, err, sizeof(err)),
                     0);
    /* Gone from the membership: forgotten, ready when it comes back
     * (it reports again as it joins). */
    ready(co, cdb, 3, CD_CHK_FAIL, NULL);
    cd_coord_confchg(co, m123, 2);
    assert_null(cd_chk_get(cd_coord_checks(co), 3));
    assert_true(cd_chk_ready(cd_coord_checks(co), 3));
    cd_coord_free(co);
}

static void node(struct cd_chk_node *v, uint32_t id, uint64_t key,
                 const char *luns, uint64_t lunsum)
{
    memset(v, 0, sizeof(*v));
    v->node = id;
    v->reported = true;
    v->clock_known = true;
    snprintf(v->name, sizeof(v->name), "node%u", id);
    v->r[CD_CHK_AUTHKEY].status = CD_CHK_PASS;
    v->r[CD_CHK_AUTHKEY].value = key;
    v->r[CD_CHK_LUNS].status = CD_CHK_PASS;
    v->r[CD_CHK_LUNS].value = lunsum;
    snprintf(v->r[CD_CHK_LUNS].text, CD_CHK_TEXT, "%s", luns);
}

static void test_evaluate(void **state)
{
    struct cd_chk_node v[4];

    (void)state;
    node(&v[0], 1, 0xaa, "2 LUN(s): lun-a lun-b", 7);
    node(&v[1], 2, 0xbb, "1 LUN(s): lun-a", 8);
    node(&v[2], 3, 0xaa, "2 LUN(s): lun-a lun-b", 7);
    memset(&v[3], 0, sizeof(v[3]));
    v[3].node = 4;
    snprintf(v[3].name, sizeof(v[3].name), "node4");
    v[1].clock_offset_ms = 1500;
    v[2].clock_offset_ms = -9000;
    cd_chk_evaluate(v, 4);

    assert_int_equal(v[0].r[CD_CHK_AUTHKEY].status, CD_CHK_PASS);
    assert_int_equal(v[1].r[CD_CHK_AUTHKEY].status, CD_CHK_FAIL);
    assert_non_null(strstr(v[1].r[CD_CHK_AUTHKEY].text,
                           "authkey digest 00000000000000bb differs from "
                           "00000000000000aa on node1, node3"));
    assert_int_equal(v[1].r[CD_CHK_LUNS].status, CD_CHK_FAIL);
    assert_non_null(strstr(v[1].r[CD_CHK_LUNS].text,
                           "node1, node3: missing here 'lun-b' (check"));
    assert_int_equal(v[2].r[CD_CHK_LUNS].status, CD_CHK_PASS);
    /* Unreported: every check fails, saying why. */
    assert_int_equal(v[3].r[CD_CHK_QUORUM].status, CD_CHK_FAIL);
    assert_non_null(
        strstr(v[3].r[CD_CHK_QUORUM].text, "no report from node node4"));
    /* Clocks. */
    assert_int_equal(v[0].r[CD_CHK_CLOCK].status, CD_CHK_PASS);
    assert_int_equal(v[1].r[CD_CHK_CLOCK].status, CD_CHK_WARN);
    assert_int_equal(v[2].r[CD_CHK_CLOCK].status, CD_CHK_FAIL);
    assert_non_null(strstr(v[2].r[CD_CHK_CLOCK].text, "-9000 ms"));
}

/* node1 runs 3000 MiB; the others have 1000 + 1500 free: warn. node2's
 * 1000 fit. A node that cannot take VMs offers nothing. */
static void test_memory(void **state)
{
    struct cd_chk_node v[3];
    uint64_t mem[3] = {4096, 4096, 4096}, used[3] = {3000, 3096, 2596};
    bool up[3] = {true, true, true};

    (void)state;
    for (uint32_t i = 0; i < 3; i++)
        node(&v[i], i + 1, 1, "", 1);
    cd_chk_memory(v, 3, mem, used, up);
    assert_int_equal(v[0].r[CD_CHK_MEMORY].status, CD_CHK_WARN);
    assert_non_null(strstr(v[0].r[CD_CHK_MEMORY].text,
                           "need 3000 MiB, the other ready nodes have 2500"));
    used[1] = 1000;
    cd_chk_memory(v, 3, mem, used, up);
    assert_int_equal(v[1].r[CD_CHK_MEMORY].status, CD_CHK_PASS);
    up[2] = false;
    used[1] = 1600;
    cd_chk_memory(v, 3, mem, used, up);
    assert_int_equal(v[1].r[CD_CHK_MEMORY].status, CD_CHK_WARN);
}

/* The message keeps everything; a status from a newer version is not
 * trusted; the clock offset is stamped only with a local time. */
static void test_msg(void **state)
{
    struct cd_chk_table t = {0};
    struct cd_chk_result r = {.status = CD_CHK_PASS, .value = 42};
    struct cd_co_msg m, back;
    uint8_t buf[CD_CO_MSG_MAX];
    size_t len;

    (void)state;
    snprintf(r.text, sizeof(r.text), "sha256 starts 2a");
    cd_chk_msg(CD_CHK_AUTHKEY, &r, 5000, &m);
    assert_int_equal(cd_co_msg_encode(&m, buf, sizeof(buf), &len), 0);
    assert_int_equal(cd_co_msg_decode(buf, len, &back), 0);
    assert_true(cd_chk_apply(&t, 2, &back, 4000));
    assert_int_equal(cd_chk_get(&t, 2)->r[CD_CHK_AUTHKEY].value, 42);
    assert_string_equal(cd_chk_get(&t, 2)->r[CD_CHK_AUTHKEY].text,
                        "sha256 starts 2a");
    assert_int_equal(cd_chk_get(&t, 2)->clock_offset_ms, 1000);
    assert_false(cd_chk_apply(&t, 2, &back, 4000));
    back.cause = CD_CHK_STATUS_END;
    assert_false(cd_chk_apply(&t, 2, &back, 4000));
    assert_string_equal(cd_chk_name(CD_CHK_WATCHDOG), "watchdog");
    assert_string_equal(cd_chk_status_name(CD_CHK_WARN), "warn");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_ready_takes_no_vm),
        cmocka_unit_test(test_evaluate),
        cmocka_unit_test(test_memory),
        cmocka_unit_test(test_msg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
