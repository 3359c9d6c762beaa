/* The SCSI data lunbridge reads from an iSCSI target (iscsi/isc-vpd.c):
 * the first input byte picks the decoder, the rest is the page as the
 * target returned it. VPD 0x83 (the LUN's name), VPD 0x80 (the serial
 * used when there is no usable designator), READ CAPACITY(16) and REPORT
 * LUNS. A name that comes out must be a safe file name under
 * /run/kvmcluster/luns. */
#include "config.h"

#include "iscsi/isc-int.h"
#include "tests/fuzz/fuzz.h"

static void check_id(const char *id)
{
    if (!*id || strchr(id, '/') || strcmp(id, ".") == 0 ||
        strcmp(id, "..") == 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    unsigned which = fuzz_u8(&in) % 4;
    /* A copy of exactly the page: ASan sees any read past its end. */
    uint8_t *page = malloc(in.n ? in.n : 1);
    struct isc_designator d;
    char id[1024], serial[512];
    uint32_t luns[64], bs;
    uint64_t nblocks;
    size_t count;

    if (!page)
        return 0;
    memcpy(page, in.p, in.n);
    switch (which) {
    case 0:
        if (isc_vpd83_select(page, in.n, &d) == 0 &&
            isc_id_format(&d, id, sizeof(id)) == 0)
            check_id(id);
        break;
    case 1:
        if (isc_vpd80_serial(page, in.n, serial, sizeof(serial)) == 0 &&
            isc_id_from_serial(serial, id, sizeof(id)) == 0)
            check_id(id);
        break;
    case 2:
        isc_readcap16_parse(page, in.n, &nblocks, &bs);
        break;
    default:
        if (isc_reportluns_parse(page, in.n, luns, CMN_ARRAY_SIZE(luns),
                                 &count) == 0 &&
            count > CMN_ARRAY_SIZE(luns))
            abort();
        break;
    }
    free(page);
    return 0;
}
