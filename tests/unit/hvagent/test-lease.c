/* hva-lease: a lease request in the worker pool copies its definition,
 * which a redefine may free while the request runs. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hvagent/hva-int.h"

struct ctx {
    struct hva_agent ag;
    unsigned done;
    int rc;
};

static void lease_done(void *owner, int rc, uint64_t ms)
{
    struct ctx *c = owner;

    (void)ms;
    c->rc = rc;
    c->done++;
    qb_loop_stop(c->ag.loop);
}

static void test_lease_copies(void **state)
{
    struct ctx c;
    struct hva_lease_def l = {
        .lockspace = strdup(
            "a-lockspace-name-much-longer-than-the-48-bytes-sanlock-allows"),
        .resource = strdup("vm-x"),
        .path = strdup("/nonexistent"),
        .offset = 1048576,
    };

    (void)state;
    memset(&c, 0, sizeof(c));
    c.ag.loop = qb_loop_create();
    assert_non_null(c.ag.loop);
    assert_int_equal(cmn_work_new(c.ag.loop, 16, 256 * 1024, &c.ag.work), 0);
    assert_int_equal(
        hva_lease_async(&c.ag, HVA_LEASE_ACQUIRE, &l, 1, 0, lease_done, &c), 0);
    /* The definition may go (a redefine) while the request runs. */
    memset(l.lockspace, 'x', strlen(l.lockspace));
    free(l.lockspace);
    free(l.resource);
    free(l.path);
    qb_loop_run(c.ag.loop);
    assert_int_equal(c.done, 1);
    /* Checked before sanlock is asked: the name is too long. */
    assert_int_equal(c.rc, -EINVAL);
    cmn_work_free(c.ag.work);
    qb_loop_destroy(c.ag.loop);
}

/* Lease recovery after a failed handoff: 1 s doubling, never above the
 * cap, so a storage outage of any length is retried at a bounded pace. */
static void test_recover_delay(void **state)
{
    (void)state;
    assert_int_equal(hva_lease_recover_delay_ms(0), 1000);
    assert_int_equal(hva_lease_recover_delay_ms(1), 1000);
    assert_int_equal(hva_lease_recover_delay_ms(2), 2000);
    assert_int_equal(hva_lease_recover_delay_ms(5), 16000);
    assert_int_equal(hva_lease_recover_delay_ms(6), HVA_LEASE_REC_MAX_MS);
    assert_int_equal(hva_lease_recover_delay_ms(100000), HVA_LEASE_REC_MAX_MS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lease_copies),
        cmocka_unit_test(test_recover_delay),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
