/* Byte ranges to logical blocks: the arithmetic every lunbridge read and
 * write goes through, checked by hand and against a brute-force model. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "iscsi/isc-int.h"

#define MiB (1024u * 1024u)

static void test_aligned(void **state)
{
    struct isc_span sp;

    (void)state;
    assert_int_equal(isc_span_compute(1 * MiB, MiB, 512, 64 * MiB, false, &sp),
                     0);
    assert_int_equal(sp.lba, 2048);
    assert_int_equal(sp.nblocks, 2048);
    assert_int_equal(sp.head, 0);
    assert_int_equal(sp.len, MiB);
    assert_false(isc_span_needs_rmw(&sp));
}

static void test_unaligned(void **state)
{
    struct isc_span sp;

    (void)state;
    /* 100 bytes at 1000 with 512-byte blocks: blocks 1..2, both partial */
    assert_int_equal(isc_span_compute(1000, 100, 512, MiB, true, &sp), 0);
    assert_int_equal(sp.lba, 1);
    assert_int_equal(sp.nblocks, 2);
    assert_int_equal(sp.head, 488);
    assert_true(sp.partial_head);
    assert_true(sp.partial_tail);
    /* inside one 4096-byte block */
    assert_int_equal(isc_span_compute(4100, 10, 4096, MiB, true, &sp), 0);
    assert_int_equal(sp.lba, 1);
    assert_int_equal(sp.nblocks, 1);
    assert_int_equal(sp.head, 4);
    assert_true(isc_span_needs_rmw(&sp));
    /* aligned start, ragged end */
    assert_int_equal(isc_span_compute(4096, 5000, 4096, MiB, true, &sp), 0);
    assert_false(sp.partial_head);
    assert_true(sp.partial_tail);
    assert_int_equal(sp.nblocks, 2);
}

static void test_end_of_device(void **state)
{
    struct isc_span sp;

    (void)state;
    /* read across the end is clipped */
    assert_int_equal(isc_span_compute(MiB - 512, 4096, 512, MiB, false, &sp),
                     0);
    assert_int_equal(sp.len, 512);
    assert_int_equal(sp.nblocks, 1);
    /* read at or past the end is empty */
    assert_int_equal(isc_span_compute(MiB, 4096, 512, MiB, false, &sp), 0);
    assert_int_equal(sp.len, 0);
    assert_int_equal(isc_span_compute(2 * MiB, 1, 512, MiB, false, &sp), 0);
    assert_int_equal(sp.len, 0);
    /* write across the end is refused whole */
    assert_int_equal(isc_span_compute(MiB - 512, 4096, 512, MiB, true, &sp),
                     -ENOSPC);
    assert_int_equal(isc_span_compute(MiB - 512, 512, 512, MiB, true, &sp), 0);
}

static void test_bad_args(void **state)
{
    struct isc_span sp;

    (void)state;
    assert_int_equal(isc_span_compute(0, 1, 0, MiB, false, &sp), -EINVAL);
    assert_int_equal(isc_span_compute(0, 1, 768, MiB, false, &sp), -EINVAL);
    assert_int_equal(isc_span_compute(0, 1, 256, MiB, false, &sp), -EINVAL);
    assert_int_equal(isc_span_compute(0, 1, 4096, MiB + 512, false, &sp),
                     -EINVAL);
    assert_int_equal(isc_span_compute(UINT64_MAX - 1, 16, 512, MiB, false, &sp),
                     -EINVAL);
}

/* Model: a range touches block b iff some byte of it lies in b. */
static void test_random_against_model(void **state)
{
    const uint32_t sizes[] = {512, 1024, 4096, 65536};
    unsigned seed = 20261122;
    int i;

    (void)state;
    srand(seed);
    for (i = 0; i < 20000; i++) {
        uint32_t bs = sizes[rand() % 4];
        uint64_t dev = (uint64_t)bs * (1 + rand() % 64);
        uint64_t off = (uint64_t)rand() % (dev + bs);
        size_t len = (size_t)rand() % (3 * bs);
        bool w = rand() % 2;
        struct isc_span sp;
        uint64_t end = off + len, first, last;
        int rc = isc_span_compute(off, len, bs, dev, w, &sp);

        if (w && end > dev) {
            assert_int_equal(rc, -ENOSPC);
            continue;
        }
        assert_int_equal(rc, 0);
        if (end > dev)
            end = off > dev ? off : dev;
        assert_int_equal(sp.len, end - off);
        if (sp.len == 0)
            continue;
        first = off / bs;
        last = (end - 1) / bs;
        assert_int_equal(sp.lba, first);
        assert_int_equal(sp.nblocks, last - first + 1);
        assert_int_equal(sp.head, off - first * bs);
        assert_int_equal(sp.partial_head, off % bs != 0);
        assert_int_equal(sp.partial_tail, end % bs != 0);
        /* the blocks hold the range, and never reach past the device */
        assert_true(sp.head + sp.len <= sp.nblocks * bs);
        assert_true((sp.lba + sp.nblocks) * bs <= dev);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aligned),
        cmocka_unit_test(test_unaligned),
        cmocka_unit_test(test_end_of_device),
        cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_random_against_model),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
