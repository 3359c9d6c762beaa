/* The saved-state header codec (csv-state.c): a good header round-trips
 * in little-endian whatever the host, and every bad header is refused
 * with the error that names what is wrong. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/cmn-crc32c.h"
#include "csv/csv.h"

#define EXTENT (64ull << 20)

static const struct csv_state_hdr good = {
    .generation = 0x0102030405060708ULL,
    .uuid = "0c4e2b5a-6f1d-4e53-9a6b-1d2f3e4a5b6c",
    .length = 0x1234567ULL,
    .data_crc = 0xe3069283,
    .timestamp = 1795304463,
};

static uint8_t buf[CSV_STATE_HDR_SIZE];

/* Re-seals `buf` after a test changed it: the crc then passes and the
 * decoder must find the fault in the content. */
static void reseal(void)
{
    static const uint8_t zero[4];
    uint32_t crc = cmn_crc32c(0, buf, 24);

    crc = cmn_crc32c(crc, zero, 4);
    crc = cmn_crc32c(crc, buf + 28, sizeof(buf) - 28);
    for (int i = 0; i < 4; i++)
        buf[24 + i] = (uint8_t)(crc >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static int decode(uint64_t extent)
{
    struct csv_state_hdr h;

    memset(&h, 0xa5, sizeof(h));
    int rc = csv_state_hdr_decode(buf, sizeof(buf), extent, &h);
    if (rc < 0) /* ret_h untouched on failure */
        assert_int_equal(h.data_crc, 0xa5a5a5a5u);
    return rc;
}

static void test_roundtrip(void **state)
{
    struct csv_state_hdr d;

    (void)state;
    csv_state_hdr_encode(&good, buf);
    /* little-endian on disk: magic "KKVCSTAT", fields at fixed offsets */
    assert_memory_equal(buf, "KKVCSTAT", 8);
    assert_int_equal(buf[8], CSV_STATE_VERSION);
    assert_int_equal(buf[16], 0x08);
    assert_int_equal(buf[23], 0x01);
    assert_int_equal(buf[72], 0x67);
    assert_int_equal(buf[75], 0x01);
    assert_int_equal(csv_state_hdr_decode(buf, sizeof(buf), EXTENT, &d), 0);
    assert_true(d.generation == good.generation);
    assert_string_equal(d.uuid, good.uuid);
    assert_true(d.length == good.length);
    assert_int_equal(d.data_crc, good.data_crc);
    assert_true(d.timestamp == good.timestamp);
    /* the state may fill the extent exactly */
    assert_int_equal(decode(CSV_STATE_HDR_SIZE + good.length), 0);
}

static void test_bad_magic(void **state)
{
    (void)state;
    memset(buf, 0, sizeof(buf)); /* never written */
    assert_int_equal(decode(EXTENT), -CSV_E_BAD_MAGIC);
    csv_state_hdr_encode(&good, buf);
    buf[0] ^= 1;
    assert_int_equal(decode(EXTENT), -CSV_E_BAD_MAGIC);
    csv_state_hdr_encode(&good, buf);
    struct csv_state_hdr d;
    assert_int_equal(csv_state_hdr_decode(buf, sizeof(buf) - 1, EXTENT, &d),
                     -CSV_E_BAD_MAGIC);
}

static void test_version_before_crc(void **state)
{
    (void)state;
    /* A newer format with a crc we do not know: version is reported. */
    csv_state_hdr_encode(&good, buf);
    buf[8] = CSV_STATE_VERSION + 1;
    assert_int_equal(decode(EXTENT), -CSV_E_BAD_VERSION);
    buf[8] = 1; /* the first format (no generation) */
    reseal();
    assert_int_equal(decode(EXTENT), -CSV_E_BAD_VERSION);
}

static void test_bad_crc(void **state)
{
    (void)state;
    /* a flip anywhere in the header, trailing zero area included */
    const size_t at[] = {16, 32, 72, 80, 88, 95, 200, CSV_STATE_HDR_SIZE - 1};
    for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
        csv_state_hdr_encode(&good, buf);
        buf[at[i]] ^= 0x10;
        assert_int_equal(decode(EXTENT), -CSV_E_BAD_CRC);
    }
}

static void test_bad_length(void **state)
{
    (void)state;
    /* header size field */
    csv_state_hdr_encode(&good, buf);
    buf[12] = 0;
    buf[13] = 2;
    reseal();
    assert_int_equal(decode(EXTENT), -CSV_E_BAD_LENGTH);
    /* state longer than the extent, by one byte */
    csv_state_hdr_encode(&good, buf);
    assert_int_equal(decode(CSV_STATE_HDR_SIZE + good.length - 1),
                     -CSV_E_BAD_LENGTH);
    /* extent smaller than a header */
    assert_int_equal(decode(CSV_STATE_HDR_SIZE - 1), -CSV_E_BAD_LENGTH);
    /* length + header size wraps to a small number: refused, not
     * taken for a state that fits */
    put64(buf + 72, UINT64_MAX - CSV_STATE_HDR_SIZE + 2);
    reseal();
    assert_int_equal(decode(EXTENT), -CSV_E_BAD_LENGTH);
    put64(buf + 72, UINT64_MAX);
    reseal();
    assert_int_equal(decode(UINT64_MAX), -CSV_E_BAD_LENGTH);
}

static void test_trailing(void **state)
{
    (void)state;
    /* bytes past the fields, sealed: a writer we do not know */
    const size_t at[] = {28, 84, 96, CSV_STATE_HDR_SIZE - 1};
    for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
        csv_state_hdr_encode(&good, buf);
        buf[at[i]] = 1;
        reseal();
        assert_int_equal(decode(EXTENT), -CSV_E_BAD_LENGTH);
    }
    /* junk after the uuid's terminator, an unterminated or empty uuid */
    csv_state_hdr_encode(&good, buf);
    buf[32 + 39] = 'x';
    reseal();
    assert_int_equal(decode(EXTENT), -CSV_E_BAD_LENGTH);
    csv_state_hdr_encode(&good, buf);
    memset(buf + 32, 'a', 40);
    reseal();
    assert_int_equal(decode(EXTENT), -CSV_E_BAD_LENGTH);
    csv_state_hdr_encode(&good, buf);
    memset(buf + 32, 0, 40);
    reseal();
    assert_int_equal(decode(EXTENT), -CSV_E_BAD_LENGTH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_bad_magic),
        cmocka_unit_test(test_version_before_crc),
        cmocka_unit_test(test_bad_crc),
        cmocka_unit_test(test_bad_length),
        cmocka_unit_test(test_trailing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
