/* Convergence policy, migration phase machine, recovery decisions, PSK
 * derivation. (The saved-state header: tests/unit/csv/test-csv-state.c.) */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "hvagent/hva-int.h"

static void test_policy_raise(void **state)
{
    struct hva_mig_settings s;
    unsigned dt = 0, cur;

    (void)state;
    hva_mig_settings_default(&s);
    assert_int_equal(s.downtime_ms, 50);
    assert_int_equal(s.max_passes, 10);
    for (unsigned pass = 1; pass < 10; pass++)
        assert_int_equal(hva_mig_policy(&s, pass, 50, 1 << 30, 1 << 26, &dt),
                         HVA_MIG_WAIT);
    /* passes spent: double the limit each pass up to the ceiling */
    cur = 50;
    unsigned pass = 10;
    while (cur < s.downtime_max_ms) {
        assert_int_equal(hva_mig_policy(&s, pass++, cur, 1 << 30, 0, &dt),
                         HVA_MIG_SET_DOWNTIME);
        assert_true(dt > cur && dt <= s.downtime_max_ms);
        cur = dt;
    }
    assert_int_equal(cur, s.downtime_max_ms);
    /* at the ceiling: wait a grace, then cancel */
    assert_int_equal(hva_mig_policy(&s, 11, cur, 1, 0, &dt), HVA_MIG_WAIT);
    assert_int_equal(hva_mig_policy(&s, 20, cur, 1, 0, &dt), HVA_MIG_CANCEL);
}

static void test_policy_other(void **state)
{
    struct hva_mig_settings s;
    unsigned dt = 0;

    (void)state;
    hva_mig_settings_default(&s);
    s.converge = HVA_CONVERGE_CANCEL;
    assert_int_equal(hva_mig_policy(&s, 9, 50, 1, 1, &dt), HVA_MIG_WAIT);
    assert_int_equal(hva_mig_policy(&s, 10, 50, 1, 1, &dt), HVA_MIG_CANCEL);
    s.converge = HVA_CONVERGE_THROTTLE;
    assert_int_equal(hva_mig_policy(&s, 10, 50, 1, 1, &dt), HVA_MIG_THROTTLE);
    assert_int_equal(hva_mig_policy(&s, 19, 50, 1, 1, &dt), HVA_MIG_THROTTLE);
    assert_int_equal(hva_mig_policy(&s, 20, 50, 1, 1, &dt), HVA_MIG_CANCEL);

    enum hva_converge c;
    assert_int_equal(hva_converge_parse("throttle", &c), 0);
    assert_int_equal(c, HVA_CONVERGE_THROTTLE);
    assert_string_equal(hva_converge_name(HVA_CONVERGE_RAISE), "raise");
    assert_int_equal(hva_converge_parse("maybe", &c), -EINVAL);
}

static void test_stall(void **state)
{
    struct hva_mig_settings s;

    (void)state;
    hva_mig_settings_default(&s);
    assert_int_equal(s.stall_ms, 10000);
    assert_int_equal(s.timeout_s, 300);
    /* no TCP state: QEMU's count alone */
    assert_int_equal(hva_mig_stall_ms(1500, false, 7, 9000), 1500);
    /* the count grows (socket buffer filling) but nothing is acked */
    assert_int_equal(hva_mig_stall_ms(100, true, 30, 4200), 4200);
    /* acks arrive: the count decides */
    assert_int_equal(hva_mig_stall_ms(100, true, 30, 20), 100);
    assert_int_equal(hva_mig_stall_ms(5000, true, 30, 20), 5000);
    /* nothing in flight: an old last ACK means nothing */
    assert_int_equal(hva_mig_stall_ms(100, true, 0, 60000), 100);
}

static void test_phases(void **state)
{
    static const enum hva_mig_phase out_ok[] = {
        HVA_PH_NONE,          HVA_PH_OUT_CONNECT, HVA_PH_OUT_PREPARE,
        HVA_PH_OUT_PRECOPY,   HVA_PH_OUT_PAUSED,  HVA_PH_OUT_RELEASED,
        HVA_PH_OUT_CONTINUED, HVA_PH_OUT_DONE,    HVA_PH_NONE,
    };
    static const enum hva_mig_phase in_ok[] = {
        HVA_PH_NONE,      HVA_PH_IN_PREPARED, HVA_PH_IN_RECEIVING,
        HVA_PH_IN_LEASED, HVA_PH_IN_DONE,     HVA_PH_NONE,
    };

    (void)state;
    for (size_t i = 0; i + 1 < sizeof(out_ok) / sizeof(out_ok[0]); i++)
        assert_true(hva_mig_phase_next_ok(out_ok[i], out_ok[i + 1]));
    for (size_t i = 0; i + 1 < sizeof(in_ok) / sizeof(in_ok[0]); i++)
        assert_true(hva_mig_phase_next_ok(in_ok[i], in_ok[i + 1]));
    /* the lease is never skipped: no pre-copy straight to continue */
    assert_false(
        hva_mig_phase_next_ok(HVA_PH_OUT_PRECOPY, HVA_PH_OUT_CONTINUED));
    assert_false(
        hva_mig_phase_next_ok(HVA_PH_OUT_PAUSED, HVA_PH_OUT_CONTINUED));
    /* the target resumes only after taking the lease */
    assert_false(hva_mig_phase_next_ok(HVA_PH_IN_RECEIVING, HVA_PH_IN_DONE));
    assert_false(hva_mig_phase_next_ok(HVA_PH_OUT_DONE, HVA_PH_OUT_ROLLBACK));
    for (int p = HVA_PH_OUT_CONNECT; p <= HVA_PH_OUT_CONTINUED; p++)
        assert_true(hva_mig_phase_next_ok(p, HVA_PH_OUT_ROLLBACK));
    for (int p = 0; p < HVA_PH_COUNT; p++) {
        enum hva_mig_phase q;
        assert_int_equal(hva_mig_phase_parse(hva_mig_phase_name(p), &q), 0);
        assert_int_equal(q, p);
    }
}

static void test_recovery(void **state)
{
    (void)state;
    assert_int_equal(hva_mig_recovery(HVA_PH_NONE), HVA_REC_NOTHING);
    assert_int_equal(hva_mig_recovery(HVA_PH_OUT_PRECOPY), HVA_REC_KEEP_LOCAL);
    assert_int_equal(hva_mig_recovery(HVA_PH_OUT_PAUSED), HVA_REC_KEEP_LOCAL);
    assert_int_equal(hva_mig_recovery(HVA_PH_OUT_RELEASED), HVA_REC_BY_LEASE);
    assert_int_equal(hva_mig_recovery(HVA_PH_OUT_CONTINUED), HVA_REC_BY_LEASE);
    assert_int_equal(hva_mig_recovery(HVA_PH_IN_RECEIVING), HVA_REC_DISCARD);
    assert_int_equal(hva_mig_recovery(HVA_PH_IN_LEASED), HVA_REC_FINISH_IN);
    assert_int_equal(hva_mig_recovery(HVA_PH_SAVE_STREAM), HVA_REC_KEEP_LOCAL);
    assert_int_equal(hva_mig_recovery(HVA_PH_RESTORE_FEED), HVA_REC_DISCARD);
}

static void test_psk(void **state)
{
    char path[] = "/tmp/hva-test-authkey.XXXXXX";
    uint8_t k1[32], k2[32], key[128];
    int fd = mkstemp(path);

    (void)state;
    assert_true(fd >= 0);
    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)(i * 7);
    assert_int_equal(write(fd, key, sizeof(key)), (int)sizeof(key));
    assert_int_equal(hva_psk_derive(path, k1), 0);
    assert_int_equal(hva_psk_derive(path, k2), 0);
    assert_memory_equal(k1, k2, 32);
    /* another authkey, another PSK */
    key[0] ^= 1;
    assert_int_equal(pwrite(fd, key, sizeof(key), 0), (int)sizeof(key));
    assert_int_equal(hva_psk_derive(path, k2), 0);
    assert_memory_not_equal(k1, k2, 32);
    assert_int_equal(ftruncate(fd, 4), 0);
    assert_int_equal(hva_psk_derive(path, k2), -EINVAL);
    close(fd);
    unlink(path);
    assert_int_equal(hva_psk_derive(path, k2), -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_raise),
        cmocka_unit_test(test_policy_other),
        cmocka_unit_test(test_stall),
        cmocka_unit_test(test_phases),
        cmocka_unit_test(test_recovery),
        cmocka_unit_test(test_psk),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
