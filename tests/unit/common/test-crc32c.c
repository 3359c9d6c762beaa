/* crc32c known-answer tests (RFC 3720 B.4 and the common check value). */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/cmn-crc32c.h"

static void test_check_value(void **state)
{
    assert_int_equal(cmn_crc32c(0, "123456789", 9), 0xe3069283u);
    assert_int_equal(cmn_crc32c(0, "", 0), 0);
    assert_int_equal(cmn_crc32c(0, "a", 1), 0xc1d04330u);
}

/* RFC 3720 appendix B.4: 32 bytes of zeros, of ones, ascending,
 * descending. */
static void test_rfc3720(void **state)
{
    unsigned char buf[32];

    memset(buf, 0, sizeof(buf));
    assert_int_equal(cmn_crc32c(0, buf, 32), 0x8a9136aau);
    memset(buf, 0xff, sizeof(buf));
    assert_int_equal(cmn_crc32c(0, buf, 32), 0x62a8ab43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (unsigned char)i;
    assert_int_equal(cmn_crc32c(0, buf, 32), 0x46dd794eu);
    for (int i = 0; i < 32; i++)
        buf[i] = (unsigned char)(31 - i);
    assert_int_equal(cmn_crc32c(0, buf, 32), 0x113fdb5cu);
}

/* Continuing over any split, at any alignment, equals one pass: the
 * slicing path and the byte path must agree. */
static void test_split_and_alignment(void **state)
{
    unsigned char buf[1031];
    uint32_t whole;

    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)(i * 131 + 7);
    whole = cmn_crc32c(0, buf, sizeof(buf));
    for (size_t cut = 0; cut <= sizeof(buf); cut += 13) {
        uint32_t c = cmn_crc32c(0, buf, cut);
        c = cmn_crc32c(c, buf + cut, sizeof(buf) - cut);
        assert_int_equal(c, whole);
    }
    for (size_t off = 1; off < 8; off++) {
        unsigned char shifted[sizeof(buf) + 8];
        memcpy(shifted + off, buf, sizeof(buf));
        assert_int_equal(cmn_crc32c(0, shifted + off, sizeof(buf)), whole);
    }
}

/* A single flipped bit anywhere changes the checksum. */
static void test_detects_bit_flip(void **state)
{
    unsigned char buf[512] = {0};
    uint32_t good = cmn_crc32c(0, buf, sizeof(buf));

    for (size_t bit = 0; bit < sizeof(buf) * 8; bit += 61) {
        buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        assert_true(cmn_crc32c(0, buf, sizeof(buf)) != good);
        buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_value),
        cmocka_unit_test(test_rfc3720),
        cmocka_unit_test(test_split_and_alignment),
        cmocka_unit_test(test_detects_bit_flip),
    };
    return cmocka_run_group_tests_name("crc32c", tests, NULL, NULL);
}
