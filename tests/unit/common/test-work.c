/* cmn-work: blocking jobs run in worker threads while the loop keeps
 * going; completions come back on the loop thread; jobs beyond the
 * pool's maximum wait their turn. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/cmn-work.h"

struct ctx {
    qb_loop_t *loop;
    struct cmn_work *work;
    pthread_t loop_thread, job_thread;
    bool job_on_loop, done_on_loop;
    unsigned ticks, done, want;
    int sum;
    qb_loop_timer_handle timer;
};

static void ctx_init(struct ctx *c)
{
    memset(c, 0, sizeof(*c));
    c->loop = qb_loop_create();
    assert_non_null(c->loop);
    assert_int_equal(cmn_work_new(c->loop, 16, 256 * 1024, &c->work), 0);
    c->loop_thread = pthread_self();
}

static void ctx_fini(struct ctx *c)
{
    assert_true(cmn_work_threads(c->work) <= 16);
    cmn_work_free(c->work);
    qb_loop_destroy(c->loop);
}

static void tick(void *data)
{
    struct ctx *c = data;

    c->ticks++;
    qb_loop_timer_add(c->loop, QB_LOOP_MED, 10 * 1000000ULL, c, tick,
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
    qb_loop_stop(c->loop);
}

static void test_loop_not_blocked(void **state)
{
    struct ctx c;

    (void)state;
    ctx_init(&c);
    assert_int_equal(cmn_work_submit(c.work, slow_job, slow_done, &c), 0);
    qb_loop_timer_add(c.loop, QB_LOOP_MED, 10 * 1000000ULL, &c, tick, &c.timer);
    qb_loop_run(c.loop);
    assert_int_equal(c.done, 1);
    assert_false(c.job_on_loop);
    assert_true(c.done_on_loop);
    /* ~30 ticks of 10 ms while the job blocked for 300 ms; a loop
     * blocked by it would have ticked at most once. */
    assert_true(c.ticks >= 10);
    qb_loop_timer_del(c.loop, c.timer);
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
        qb_loop_stop(many_ctx->loop);
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
        assert_int_equal(
            cmn_work_submit(c.work, echo_job, many_done, (void *)i), 0);
        want += (int)i;
    }
    qb_loop_run(c.loop);
    assert_int_equal(c.done, 200);
    assert_int_equal(c.sum, want);
    ctx_fini(&c);
}

static int nap_job(void *arg)
{
    poll(NULL, 0, 50);
    return (int)(intptr_t)arg;
}

static void test_max_threads(void **state)
{
    struct ctx c;

    (void)state;
    memset(&c, 0, sizeof(c));
    c.loop = qb_loop_create();
    assert_non_null(c.loop);
    assert_int_equal(cmn_work_new(c.loop, 2, 0, &c.work), 0);
    many_ctx = &c;
    c.want = 6;
    for (intptr_t i = 1; i <= 6; i++)
        assert_int_equal(cmn_work_submit(c.work, nap_job, many_done, (void *)i),
                         0);
    /* Six jobs, two threads: the other four wait their turn. */
    assert_true(cmn_work_threads(c.work) <= 2);
    qb_loop_run(c.loop);
    assert_int_equal(c.done, 6);
    assert_int_equal(c.sum, 21);
    assert_int_equal(cmn_work_threads(c.work), 2);
    cmn_work_free(c.work);
    qb_loop_destroy(c.loop);
}

/* The pool's wake-up of an idle thread, held back while `hold_wakeups`
 * (and replayed after): on a busy host the idle thread does not get to
 * run between two submissions of a burst, and this makes that so every
 * time. (Linked with --wrap=pthread_cond_signal; only cmn-work calls it
 * in this program.) */
int __real_pthread_cond_signal(pthread_cond_t *cv);
int __wrap_pthread_cond_signal(pthread_cond_t *cv);
static bool hold_wakeups;
static pthread_cond_t *held_cv;
static unsigned held_n;

int __wrap_pthread_cond_signal(pthread_cond_t *cv)
{
    if (hold_wakeups) {
        held_cv = cv;
        held_n++;
        return 0;
    }
    return __real_pthread_cond_signal(cv);
}

/* A burst: BURST_N jobs submitted back to back while exactly one thread
 * is idle must all run at once (each needs a new thread but the first).
 * Each job waits until all BURST_N are inside their fn: that happens
 * only if they run concurrently; jobs run one after the other on the
 * idle thread would wait for the others forever, so the first one gives
 * up after BURST_GIVE_UP_S and says so (the deadline only bounds a
 * failure; success never waits for it). */
#define BURST_N         8
#define BURST_GIVE_UP_S 20

struct burst {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned inside, max_inside;
    bool gave_up;
};

static int burst_job(void *arg)
{
    struct burst *b = arg;
    struct timespec dl;
    int rc = 0;

    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += BURST_GIVE_UP_S;
    pthread_mutex_lock(&b->mu);
    b->inside++;
    if (b->inside > b->max_inside)
        b->max_inside = b->inside;
    pthread_cond_broadcast(&b->cv);
    while (b->max_inside < BURST_N && !b->gave_up) {
        if (pthread_cond_timedwait(&b->cv, &b->mu, &dl) == ETIMEDOUT) {
            b->gave_up = true;
            rc = -ETIMEDOUT;
        }
    }
    b->inside--;
    pthread_mutex_unlock(&b->mu);
    return rc;
}

static void burst_done(void *arg, int rc)
{
    (void)arg;
    if (rc != 0)
        many_ctx->sum++;
    if (++many_ctx->done == many_ctx->want)
        qb_loop_stop(many_ctx->loop);
}

static void test_burst_one_idle(void **state)
{
    struct burst b = {.mu = PTHREAD_MUTEX_INITIALIZER,
                      .cv = PTHREAD_COND_INITIALIZER};
    struct ctx c;

    (void)state;
    ctx_init(&c);
    many_ctx = &c;
    /* One job, done: its thread stays, idle. */
    c.want = 1;
    assert_int_equal(cmn_work_submit(c.work, echo_job, many_done, (void *)1),
                     0);
    qb_loop_run(c.loop);
    assert_int_equal(cmn_work_threads(c.work), 1);
    /* It reports before it waits for the next job: wait for that state
     * (no sleep stands in for it). */
    for (int ms = 0; cmn_work_idle(c.work) != 1; ms++) {
        assert_true(ms < 10000);
        poll(NULL, 0, 1);
    }

    c.done = 0;
    c.sum = 0;
    c.want = BURST_N;
    hold_wakeups = true;
    for (unsigned i = 0; i < BURST_N; i++)
        assert_int_equal(cmn_work_submit(c.work, burst_job, burst_done, &b), 0);
    hold_wakeups = false;
    assert_int_equal(held_n, BURST_N);
    for (unsigned i = 0; i < held_n; i++)
        __real_pthread_cond_signal(held_cv);
    qb_loop_run(c.loop);
    assert_int_equal(c.done, BURST_N);
    assert_false(b.gave_up);
    assert_int_equal(b.max_inside, BURST_N);
    assert_int_equal(c.sum, 0); /* no job gave up */
    assert_int_equal(cmn_work_threads(c.work), BURST_N);
    ctx_fini(&c);
}

static void test_bad_args(void **state)
{
    struct cmn_work *w = NULL;
    qb_loop_t *loop = qb_loop_create();

    (void)state;
    assert_int_equal(cmn_work_new(loop, 0, 0, &w), -EINVAL);
    assert_null(w);
    cmn_work_free(NULL);
    qb_loop_destroy(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loop_not_blocked),
        cmocka_unit_test(test_many_jobs),
        cmocka_unit_test(test_max_threads),
        cmocka_unit_test(test_burst_one_idle),
        cmocka_unit_test(test_bad_args),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
