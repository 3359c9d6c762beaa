/* Decoding of the SCSI data lunbridge depends on: VPD 0x83 designators,
 * VPD 0x80 serial, READ CAPACITY(16), REPORT LUNS. Pure functions over
 * the raw bytes, so that what names a LUN is tested without a target. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "iscsi/isc-int.h"

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static uint64_t be64(const uint8_t *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* Rank of a designator as the LU's name; 0 = unusable. NAA 6 (registered
 * extended, 16 bytes) is what LIO, tgt and arrays hand out and is unique
 * world-wide; EUI-64 is next; vendor-specific and T10 ids are not unique
 * enough to name a shared disk. */
static int desig_rank(const struct isc_designator *d)
{
    if (d->assoc != 0 || d->codeset != 1)
        return 0;
    if (d->type == ISC_DESIG_NAA) {
        if (d->len < 8)
            return 0;
        switch (d->data[0] >> 4) {
        case 6:
            return d->len == 16 ? 100 : 0;
        case 5:
            return d->len == 8 ? 90 : 0;
        case 2:
        case 3:
            return d->len == 8 ? 80 : 0;
        default:
            return 0;
        }
    }
    if (d->type == ISC_DESIG_EUI64) {
        if (d->len != 8 && d->len != 12 && d->len != 16)
            return 0;
        return 50 + d->len;
    }
    return 0;
}

int isc_vpd83_select(const uint8_t *page, size_t len,
                     struct isc_designator *ret_desig)
{
    struct isc_designator best = {0};
    int best_rank = 0;
    size_t end, pos;

    if (len < 4 || page[1] != 0x83)
        return -ISC_E_VPD;
    end = 4 + ((size_t)page[2] << 8 | page[3]);
    /* A short allocation length truncates the page: decode what we got,
     * but never past the page's own length. */
    if (end > len)
        end = len;
    for (pos = 4; pos + 4 <= end;) {
        struct isc_designator d = {
            .codeset = page[pos] & 0x0f,
            .assoc = (page[pos + 1] >> 4) & 0x03,
            .type = page[pos + 1] & 0x0f,
            .len = page[pos + 3],
            .data = page + pos + 4,
        };
        int rank;

        if (pos + 4 + d.len > end)
            return -ISC_E_VPD;
        rank = desig_rank(&d);
        if (rank > best_rank) {
            best = d;
            best_rank = rank;
        }
        pos += 4 + d.len;
    }
    if (best_rank == 0)
        return -ENOENT;
    *ret_desig = best;
    return 0;
}

int isc_id_format(const struct isc_designator *d, char *buf, size_t buflen)
{
    const char *prefix;
    size_t need, i;

    if (d->type == ISC_DESIG_NAA)
        prefix = "naa.";
    else if (d->type == ISC_DESIG_EUI64)
        prefix = "eui.";
    else
        return -EINVAL;
    need = strlen(prefix) + 2 * (size_t)d->len + 1;
    if (d->len == 0 || need > buflen)
        return -ENAMETOOLONG;
    strcpy(buf, prefix);
    for (i = 0; i < d->len; i++)
        snprintf(buf + strlen(prefix) + 2 * i, 3, "%02x", d->data[i]);
    return 0;
}

int isc_vpd80_serial(const uint8_t *page, size_t len, char *buf, size_t buflen)
{
    size_t n, start, end;

    if (len < 4 || page[1] != 0x80)
        return -ISC_E_VPD;
    n = (size_t)page[2] << 8 | page[3];
    if (4 + n > len)
        n = len - 4;
    start = 4;
    end = 4 + n;
    /* The serial is space-padded ASCII, sometimes NUL-padded too. */
    while (start < end && (page[start] == ' ' || page[start] == 0))
        start++;
    while (end > start && (page[end - 1] == ' ' || page[end - 1] == 0))
        end--;
    if (end == start)
        return -ENOENT;
    if (end - start + 1 > buflen)
        return -ENAMETOOLONG;
    memcpy(buf, page + start, end - start);
    buf[end - start] = '\0';
    return 0;
}

static bool id_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

int isc_id_from_serial(const char *serial, char *buf, size_t buflen)
{
    size_t o = 0;
    const unsigned char *p;

    if (!serial || !*serial)
        return -ENOENT;
    if (buflen < 5)
        return -ENAMETOOLONG;
    memcpy(buf, "usn.", 4);
    o = 4;
    for (p = (const unsigned char *)serial; *p; p++) {
        if (id_char_ok(*p)) {
            if (o + 2 > buflen)
                return -ENAMETOOLONG;
            buf[o++] = (char)*p;
        } else {
            if (o + 4 > buflen)
                return -ENAMETOOLONG;
            snprintf(buf + o, 4, "%%%02X", *p);
            o += 3;
        }
    }
    buf[o] = '\0';
    return 0;
}

int isc_readcap16_parse(const uint8_t *data, size_t len, uint64_t *ret_nblocks,
                        uint32_t *ret_block_size)
{
    uint64_t last;
    uint32_t bs;

    if (len < 12)
        return -ISC_E_VPD;
    last = be64(data);
    bs = be32(data + 8);
    /* Power-of-two block sizes of 512 B to 64 KiB are all we align for. */
    if (bs < 512 || bs > 65536 || (bs & (bs - 1)) != 0)
        return -ISC_E_VPD;
    if (last == UINT64_MAX || last + 1 > UINT64_MAX / bs)
        return -ISC_E_VPD;
    *ret_nblocks = last + 1;
    *ret_block_size = bs;
    return 0;
}

int isc_reportluns_parse(const uint8_t *data, size_t len, uint32_t *luns,
                         size_t max, size_t *ret_count)
{
    size_t listlen, i, n = 0;

    if (len < 8)
        return -ISC_E_VPD;
    listlen = be32(data);
    if (listlen % 8 != 0)
        return -ISC_E_VPD;
    if (8 + listlen > len)
        listlen = (len - 8) / 8 * 8;
    for (i = 0; i < listlen / 8; i++) {
        const uint8_t *e = data + 8 + 8 * i;
        uint32_t lun;

        switch (e[0] >> 6) {
        case 0: /* peripheral device addressing, bus 0 */
            lun = e[1];
            break;
        case 1: /* flat space addressing */
            lun = (uint32_t)(e[0] & 0x3f) << 8 | e[1];
            break;
        default: /* logical unit / extended addressing: not for us */
            continue;
        }
        if (n == max)
            return -E2BIG;
        luns[n++] = lun;
    }
    *ret_count = n;
    return 0;
}
