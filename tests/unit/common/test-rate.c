/* cmn_rate: the window averages a stepped (paced) count, follows a change
 * of pace within one window, and says "unknown" without two samples. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/cmn-rate.h"

#define MIB (1024 * 1024ULL)

static void test_unknown(void **state)
{
    struct cmn_rate r;

    (void)state;
    memset(&r, 0, sizeof(r));
    assert_int_equal(cmn_rate_bps(&r, 5000), 0);
    assert_int_equal(cmn_rate_eta_s(&r, 0, MIB), -1);
    cmn_rate_add(&r, 1000, MIB);
    assert_int_equal(cmn_rate_bps(&r, 5000), 0);
}

/* QEMU's paced mirror at 1 MiB/s: 1 MiB counted at once every second,
 * polled every 250 ms. The last two polls say 0 or 4 MiB/s; the 5 s
 * window says 1. */
static void test_steps(void **state)
{
    struct cmn_rate r;
    uint64_t bps;

    (void)state;
    memset(&r, 0, sizeof(r));
    for (uint64_t t = 0; t <= 20000; t += 250)
        cmn_rate_add(&r, t + 130, (t / 1000 + 1) * MIB);
    bps = cmn_rate_bps(&r, 5000);
    assert_true(bps >= 3 * MIB / 4 && bps <= 5 * MIB / 4);
    /* 21 MiB done of 64: 43 MiB to go at ~1 MiB/s. */
    assert_in_range(cmn_rate_eta_s(&r, bps, 64 * MIB), 34, 58);
    assert_int_equal(cmn_rate_eta_s(&r, bps, 21 * MIB), 0);
}

/* 10 MiB/s for 10 s, then 2 MiB/s: after a window the rate is the new
 * one, not the average since the start. */
static void test_follows(void **state)
{
    struct cmn_rate r;
    uint64_t t, b = 0;

    (void)state;
    memset(&r, 0, sizeof(r));
    for (t = 0; t < 10000; t += 500, b += 5 * MIB)
        cmn_rate_add(&r, t, b);
    for (; t <= 20000; t += 500, b += MIB)
        cmn_rate_add(&r, t, b);
    assert_int_equal(cmn_rate_bps(&r, 5000), 2 * MIB);
}

/* Samples closer than 100 ms replace the newest: a 10 ms poller of the
 * stepped count still gets the rate over seconds from 64 samples (were
 * each kept, the window would be 640 ms and say 0 or 1.6 MiB/s). */
static void test_fast_poller(void **state)
{
    struct cmn_rate r;
    uint64_t bps;

    (void)state;
    memset(&r, 0, sizeof(r));
    for (uint64_t t = 0; t <= 9000; t += 10)
        cmn_rate_add(&r, t + 130, (t / 1000 + 1) * MIB);
    bps = cmn_rate_bps(&r, 5000);
    assert_true(bps >= 3 * MIB / 4 && bps <= 5 * MIB / 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown),
        cmocka_unit_test(test_steps),
        cmocka_unit_test(test_follows),
        cmocka_unit_test(test_fast_poller),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
