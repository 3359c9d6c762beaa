/* The back-off of failing moves and the not-running skip
 * (clusterd/cd-backoff.c): the delays, the streak over the action
 * history, the decision. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "clusterd/cd-backoff.h"
#include "clusterd/cd-proto.h"

static struct cd_action *add(struct cd_action *act, size_t *n, const char *vm,
                             enum cd_act_kind kind, enum cd_act_status st,
                             uint64_t ended_s)
{
    struct cd_action *a = &act[(*n)++];

    memset(a, 0, sizeof(*a));
    snprintf(a->vm, sizeof(a->vm), "%s", vm);
    a->kind = kind;
    a->status = st;
    a->seq = *n;
    a->ended_s = ended_s;
    if (st == CD_AS_FAILED) {
        a->rc = -CD_E_BUSY;
        snprintf(a->msg, sizeof(a->msg), "fail %zu", *n);
    }
    return a;
}

static void test_delay(void **state)
{
    (void)state;
    assert_int_equal(cd_mvb_delay_s(0), 0);
    assert_int_equal(cd_mvb_delay_s(1), 1);
    assert_int_equal(cd_mvb_delay_s(2), 2);
    assert_int_equal(cd_mvb_delay_s(3), 4);
    assert_int_equal(cd_mvb_delay_s(6), 32);
    assert_int_equal(cd_mvb_delay_s(7), 60);
    assert_int_equal(cd_mvb_delay_s(1000), 60);
}

static void test_streak(void **state)
{
    struct cd_action act[16];
    struct cd_mvb_streak s;
    size_t n = 0;

    (void)state;
    add(act, &n, "r6", CD_ACT_START, CD_AS_DONE, 100);
    add(act, &n, "r6", CD_ACT_LIVE, CD_AS_FAILED, 200);
    add(act, &n, "r1", CD_ACT_LIVE, CD_AS_FAILED, 201); /* another VM */
    add(act, &n, "r6", CD_ACT_QUICK, CD_AS_FAILED, 202);
    add(act, &n, "r6", CD_ACT_LIVE, CD_AS_FAILED, 205);
    cd_mvb_streak(act, n, "r6", 0, &s);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.last_end_s, 205);
    assert_ptr_equal(s.last, &act[4]);
    /* The VM ran again after a pause once action 4 was delivered: only
     * the failure after counts. */
    cd_mvb_streak(act, n, "r6", 4, &s);
    assert_int_equal(s.n, 1);
    /* A move that succeeded ends it. */
    add(act, &n, "r6", CD_ACT_LIVE, CD_AS_DONE, 300);
    cd_mvb_streak(act, n, "r6", 0, &s);
    assert_int_equal(s.n, 0);
    assert_null(s.last);
    /* A failure that is the cluster's (its node left) is none of the VM. */
    add(act, &n, "r6", CD_ACT_LIVE, CD_AS_FAILED, 301)->rc = -CD_E_NO_CLUSTER;
    cd_mvb_streak(act, n, "r6", 0, &s);
    assert_int_equal(s.n, 0);
    /* A start or stop is no move: it ends the streak too. */
    add(act, &n, "r6", CD_ACT_LIVE, CD_AS_FAILED, 302);
    add(act, &n, "r6", CD_ACT_STOP, CD_AS_FAILED, 303);
    cd_mvb_streak(act, n, "r6", 0, &s);
    assert_int_equal(s.n, 0);
    cd_mvb_streak(act, n, "nope", 0, &s);
    assert_int_equal(s.n, 0);
}

static void test_decide(void **state)
{
    struct cd_mvb_streak none = {0}, three = {.n = 3, .last_end_s = 1000};
    struct cd_mvb_streak old = {.n = 3, .last_end_s = 0};
    uint64_t due = 7;

    (void)state;
    assert_int_equal(cd_mvb_decide(CD_RT_RUNNING, &none, 1000, &due),
                     CD_MVB_GO);
    /* The scale bench's r6: paused (or still migrating) on its source. */
    assert_int_equal(cd_mvb_decide(CD_RT_MIGRATING, &none, 1000, &due),
                     CD_MVB_NOT_RUNNING);
    assert_int_equal(cd_mvb_decide(CD_RT_PAUSED, &three, 5000, &due),
                     CD_MVB_NOT_RUNNING);
    assert_int_equal(cd_mvb_decide(CD_RT_STOPPED, &none, 1000, &due),
                     CD_MVB_NOT_RUNNING);
    assert_int_equal(due, 7); /* written only for BACKOFF */
    /* 3 failures in a row: 4 s after the last one ended. */
    assert_int_equal(cd_mvb_decide(CD_RT_RUNNING, &three, 1001, &due),
                     CD_MVB_BACKOFF);
    assert_int_equal(due, 1004);
    assert_int_equal(cd_mvb_decide(CD_RT_RUNNING, &three, 1003, &due),
                     CD_MVB_BACKOFF);
    assert_int_equal(cd_mvb_decide(CD_RT_RUNNING, &three, 1004, &due),
                     CD_MVB_GO);
    /* No end time reported: nothing to count from, as before. */
    assert_int_equal(cd_mvb_decide(CD_RT_RUNNING, &old, 1001, &due), CD_MVB_GO);
}

/* The bench's ten minutes: with the back-off, the number of attempts a
 * VM that fails every time gets in 600 s (660 before, one a second). */
static void test_attempts_bounded(void **state)
{
    struct cd_mvb_streak s = {0};
    unsigned attempts = 0;
    uint64_t due = 0;

    (void)state;
    for (uint64_t now = 1000; now < 1600; now++) {
        if (cd_mvb_decide(CD_RT_RUNNING, &s, now, &due) != CD_MVB_GO)
            continue;
        attempts++;
        s.n++; /* it fails at once */
        s.last_end_s = now;
    }
    /* 1+2+4+8+16+32 = 63 s for the first 7, then one a minute */
    assert_true(attempts <= 17);
    assert_true(attempts >= 14);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delay),
        cmocka_unit_test(test_streak),
        cmocka_unit_test(test_decide),
        cmocka_unit_test(test_attempts_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
