/* VPD 0x83 designator choice, id formatting, serial fallback, READ
 * CAPACITY(16) and REPORT LUNS decoding, on hand-built pages. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "iscsi/isc-int.h"

/* What tgt 1.0.x returns for a LUN: T10 vendor id, NAA 6 (16 bytes),
 * then target-port designators that must be ignored. */
static const uint8_t tgt_page[] = {
    0x00,
    0x83,
    0x00,
    0x3c,
    /* T10 vendor id, ASCII, LU */
    0x02,
    0x01,
    0x00,
    0x10,
    'I',
    'E',
    'T',
    ' ',
    ' ',
    ' ',
    ' ',
    ' ',
    '0',
    '0',
    '0',
    '1',
    '0',
    '0',
    '0',
    '1',
    /* NAA 6, binary, LU */
    0x01,
    0x03,
    0x00,
    0x10,
    0x60,
    0x00,
    0x0e,
    0xd5,
    0x4f,
    0x1d,
    0x77,
    0x00,
    0x00,
    0x00,
    0x00,
    0x00,
    0x00,
    0x00,
    0x00,
    0x01,
    /* relative target port, binary, association 1 (target port) */
    0x61,
    0x94,
    0x00,
    0x04,
    0x00,
    0x00,
    0x00,
    0x01,
    /* EUI-64 of the *target port*: ignored */
    0x61,
    0x92,
    0x00,
    0x08,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
};

static void test_naa_selected(void **state)
{
    struct isc_designator d;
    char id[ISC_ID_MAX];

    (void)state;
    assert_int_equal(isc_vpd83_select(tgt_page, sizeof(tgt_page), &d), 0);
    assert_int_equal(d.type, ISC_DESIG_NAA);
    assert_int_equal(d.len, 16);
    assert_int_equal(isc_id_format(&d, id, sizeof(id)), 0);
    assert_string_equal(id, "naa.60000ed54f1d77000000000000000001");
}

static void test_naa6_beats_naa5_and_eui(void **state)
{
    const uint8_t page[] = {
        0x00,
        0x83,
        0x00,
        0x30,
        /* EUI-64 (8), LU */
        0x01,
        0x02,
        0x00,
        0x08,
        0xaa,
        0xbb,
        0xcc,
        0xdd,
        0xee,
        0xff,
        0x00,
        0x11,
        /* NAA 5 (8), LU */
        0x01,
        0x03,
        0x00,
        0x08,
        0x50,
        0x01,
        0x40,
        0x50,
        0x00,
        0x00,
        0x00,
        0x02,
        /* NAA 6 (16), LU */
        0x01,
        0x03,
        0x00,
        0x10,
        0x60,
        0x01,
        0x40,
        0x5a,
        0xbc,
        0xde,
        0xf0,
        0x12,
        0x34,
        0x56,
        0x78,
        0x9a,
        0xbc,
        0xde,
        0xf0,
        0x01,
    };
    struct isc_designator d;
    char id[ISC_ID_MAX];

    (void)state;
    assert_int_equal(isc_vpd83_select(page, sizeof(page), &d), 0);
    assert_int_equal(isc_id_format(&d, id, sizeof(id)), 0);
    assert_string_equal(id, "naa.6001405abcdef0123456789abcdef001");
    /* Without the NAA 6 designator NAA 5 wins over EUI-64. */
    {
        uint8_t p2[sizeof(page)];

        memcpy(p2, page, sizeof(page));
        p2[3] = 0x18; /* page length: first two designators only */
        assert_int_equal(isc_vpd83_select(p2, sizeof(p2), &d), 0);
        assert_int_equal(isc_id_format(&d, id, sizeof(id)), 0);
        assert_string_equal(id, "naa.5001405000000002");
    }
}

static void test_eui_when_no_naa(void **state)
{
    const uint8_t page[] = {
        0x00, 0x83, 0x00, 0x14, 0x01, 0x02, 0x00, 0x10, 0x00, 0x11, 0x22, 0x33,
        0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
    };
    struct isc_designator d;
    char id[ISC_ID_MAX];

    (void)state;
    assert_int_equal(isc_vpd83_select(page, sizeof(page), &d), 0);
    assert_int_equal(isc_id_format(&d, id, sizeof(id)), 0);
    assert_string_equal(id, "eui.00112233445566778899aabbccddeeff");
}

static void test_no_usable_designator(void **state)
{
    /* T10 vendor id and an ASCII-coded NAA: nothing we trust. */
    const uint8_t page[] = {
        0x00, 0x83, 0x00, 0x18, 0x02, 0x01, 0x00, 0x08, 'V',  'E',
        'N',  'D',  'O',  'R',  '0',  '1',  0x02, 0x03, 0x00, 0x08,
        '6',  '0',  '0',  '1',  '4',  '0',  '5',  '0',
    };
    struct isc_designator d;

    (void)state;
    assert_int_equal(isc_vpd83_select(page, sizeof(page), &d), -ENOENT);
}

static void test_malformed_pages(void **state)
{
    struct isc_designator d;
    uint8_t bad[sizeof(tgt_page)];

    (void)state;
    /* wrong page code */
    memcpy(bad, tgt_page, sizeof(bad));
    bad[1] = 0x80;
    assert_int_equal(isc_vpd83_select(bad, sizeof(bad), &d), -ISC_E_VPD);
    /* designator length running past the page */
    memcpy(bad, tgt_page, sizeof(bad));
    bad[4 + 3] = 0x7f;
    assert_int_equal(isc_vpd83_select(bad, sizeof(bad), &d), -ISC_E_VPD);
    /* too short to hold a header */
    assert_int_equal(isc_vpd83_select(tgt_page, 3, &d), -ISC_E_VPD);
    /* truncated by a short allocation length: the NAA is cut off */
    assert_int_equal(isc_vpd83_select(tgt_page, 30, &d), -ISC_E_VPD);
    /* bad NAA length (NAA 6 must be 16 bytes) is skipped, not trusted */
    {
        const uint8_t p[] = {0x00, 0x83, 0x00, 0x0c, 0x01, 0x03, 0x00, 0x08,
                             0x60, 1,    2,    3,    4,    5,    6,    7};

        assert_int_equal(isc_vpd83_select(p, sizeof(p), &d), -ENOENT);
    }
}

static void test_id_format_errors(void **state)
{
    struct isc_designator d;
    char small[8];

    (void)state;
    assert_int_equal(isc_vpd83_select(tgt_page, sizeof(tgt_page), &d), 0);
    assert_int_equal(isc_id_format(&d, small, sizeof(small)), -ENAMETOOLONG);
    d.type = ISC_DESIG_T10;
    assert_int_equal(isc_id_format(&d, small, sizeof(small)), -EINVAL);
}

static void test_serial(void **state)
{
    const uint8_t page[] = {0x00, 0x80, 0x00, 0x0c, ' ', 'b', 'e', 'a',
                            'f',  '1',  '1',  '0',  0,   ' ', ' ', ' '};
    const uint8_t empty[] = {0x00, 0x80, 0x00, 0x04, ' ', ' ', 0, 0};
    char serial[64], id[ISC_ID_MAX];

    (void)state;
    assert_int_equal(
        isc_vpd80_serial(page, sizeof(page), serial, sizeof(serial)), 0);
    assert_string_equal(serial, "beaf110");
    assert_int_equal(
        isc_vpd80_serial(empty, sizeof(empty), serial, sizeof(serial)),
        -ENOENT);
    assert_int_equal(isc_vpd80_serial(page, 2, serial, sizeof(serial)),
                     -ISC_E_VPD);
    assert_int_equal(isc_id_from_serial("beaf110", id, sizeof(id)), 0);
    assert_string_equal(id, "usn.beaf110");
    /* Never a path separator or "..": odd bytes are escaped. */
    assert_int_equal(isc_id_from_serial("../a b/%", id, sizeof(id)), 0);
    assert_string_equal(id, "usn...%2Fa%20b%2F%25");
    assert_int_equal(isc_id_from_serial("", id, sizeof(id)), -ENOENT);
    assert_int_equal(isc_id_from_serial("abcdef", id, 8), -ENAMETOOLONG);
}

static void test_readcap16(void **state)
{
    /* last LBA 0x1fffff (2097152 blocks), 512-byte blocks */
    uint8_t d[32] = {0, 0, 0, 0, 0, 0x1f, 0xff, 0xff, 0, 0, 0x02, 0x00};
    uint64_t nb;
    uint32_t bs;

    (void)state;
    assert_int_equal(isc_readcap16_parse(d, sizeof(d), &nb, &bs), 0);
    assert_int_equal(nb, 2097152);
    assert_int_equal(bs, 512);
    d[10] = 0x10; /* 4096 */
    assert_int_equal(isc_readcap16_parse(d, sizeof(d), &nb, &bs), 0);
    assert_int_equal(bs, 4096);
    d[10] = 0x03; /* 768: not a power of two */
    assert_int_equal(isc_readcap16_parse(d, sizeof(d), &nb, &bs), -ISC_E_VPD);
    assert_int_equal(isc_readcap16_parse(d, 8, &nb, &bs), -ISC_E_VPD);
}

static void test_reportluns(void **state)
{
    const uint8_t d[] = {
        0,    0,    0, 24, 0, 0, 0, 0,
        0x00, 0x00, 0, 0,  0, 0, 0, 0, /* LUN 0, peripheral */
        0x00, 0x01, 0, 0,  0, 0, 0, 0, /* LUN 1 */
        0x41, 0x02, 0, 0,  0, 0, 0, 0, /* LUN 258, flat space */
    };
    uint32_t luns[4];
    size_t n = 0;

    (void)state;
    assert_int_equal(isc_reportluns_parse(d, sizeof(d), luns, 4, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(luns[0], 0);
    assert_int_equal(luns[1], 1);
    assert_int_equal(luns[2], 258);
    assert_int_equal(isc_reportluns_parse(d, sizeof(d), luns, 2, &n), -E2BIG);
    assert_int_equal(isc_reportluns_parse(d, 4, luns, 4, &n), -ISC_E_VPD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_naa_selected),
        cmocka_unit_test(test_naa6_beats_naa5_and_eui),
        cmocka_unit_test(test_eui_when_no_naa),
        cmocka_unit_test(test_no_usable_designator),
        cmocka_unit_test(test_malformed_pages),
        cmocka_unit_test(test_id_format_errors),
        cmocka_unit_test(test_serial),
        cmocka_unit_test(test_readcap16),
        cmocka_unit_test(test_reportluns),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
