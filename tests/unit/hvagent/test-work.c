/* hva-work: blocking jobs run in worker threads while the loop keeps
 * going; completions come back on the loop thread; lease requests copy
 * their definition. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
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
    pthread_t loop_thread, job_thread;
    bool job_on_loop, done_on_loop;
    unsigned ticks, done, want;
    int sum;
    qb_loop_timer_handle timer;
};

static void ctx_init(struct ctx *c)
{
    memset(c, 0, sizeof(*c));
    c->ag.loop = qb_loop_create();
    assert_non_null(c->ag.loop);
    assert_int_equal(hva_work_init(&c->ag), 0);
    c->loop_thread = pthread_self();
}

static void ctx_fini(struct ctx *c)
{
    hva_work_fini(&c->ag);
    assert_null(c->ag.work); /* no job left running */
    qb_loop_destroy(c->ag.loop);
}

static void tick(void *data)
{
    struct ctx *c = data;

    c->ticks++;
    qb_loop_timer_add(c->ag.loop, QB_LOOP_MED, 10 * 1000000ULL, c, tick,
                      &c->timer);
}

static int slow_job(void *arg)
{
    struct ctx *c = arg;

    c->job_thread = pthread_self();
    c->job_on_loop = pthread_equal(c->job_thread, c->loop_thread);
    poll(NULL, 0, 300); /* a sanlock call on a slow lease disk */
    return 42;
}

static void slow_done(void *arg, int rc)
{
    struct ctx *c = arg;

    assert_int_equal(rc, 42);
    c->done_on_loop = pthread_equal(pthread_self(), c->loop_thread);
    c->done++;
    qb_loop_stop(c->ag.loop);
}

static void test_loop_not_blocked(void **state)
{
    struct ctx c;

    (void)state;
    ctx_init(&c);
    assert_int_equal(hva_work_submit(&c.ag, slow_job, slow_done, &c), 0);
    qb_loop_timer_add(c.ag.loop, QB_LOOP_MED, 10 * 1000000ULL, &c, tick,
                      &c.timer);
    qb_loop_run(c.ag.loop);
    assert_int_equal(c.done, 1);
    assert_false(c.job_on_loop);
    assert_true(c.done_on_loop);
    /* ~30 ticks of 10 ms while the job blocked for 300 ms; a loop
     * blocked by it would have ticked at most once. */
    assert_true(c.ticks >= 10);
    qb_loop_timer_del(c.ag.loop, c.timer);
    ctx_fini(&c);
}

static int echo_job(void *arg)
{
    return (int)(intptr_t)arg;
}

static struct ctx *many_ctx;

static void many_done(void *arg, int rc)
{
    assert_int_equal(rc, (int)(intptr_t)arg);
    many_ctx->sum += rc;
    if (++many_ctx->done == many_ctx->want)
        qb_loop_stop(many_ctx->ag.loop);
}

static void test_many_jobs(void **state)
{
    struct ctx c;
    int want = 0;

    (void)state;
    ctx_init(&c);
    many_ctx = &c;
    c.want = 200;
    for (intptr_t i = 1; i <= 200; i++) {
        assert_int_equal(hva_work_submit(&c.ag, echo_job, many_done, (void *)i),
                         0);
        want += (int)i;
    }
    qb_loop_run(c.ag.loop);
    assert_int_equal(c.done, 200);
    assert_int_equal(c.sum, want);
    ctx_fini(&c);
}

static void lease_done(void *owner, int rc, uint64_t ms)
{
    struct ctx *c = owner;

    (void)ms;
    c->sum = rc;
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
    ctx_init(&c);
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
    assert_int_equal(c.sum, -EINVAL);
    ctx_fini(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loop_not_blocked),
        cmocka_unit_test(test_many_jobs),
        cmocka_unit_test(test_lease_copies),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
