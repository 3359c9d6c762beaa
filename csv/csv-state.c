/* The saved-state header: the record hvagent writes in front of a VM's
 * saved state (quick migration) in the VM's state extent on the CSV.
 *
 * The header is written last, after the state and an fdatasync: a header
 * that decodes names the VM, the length and the crc32c of a state that is
 * all on disk. Layout, little-endian, CSV_STATE_HDR_SIZE bytes (the state
 * starts right after, aligned for O_DIRECT):
 *
 *    0 magic u64 "KKVCSTAT"   8 version u32        12 header size u32
 *   16 generation u64        24 crc32c u32         28 reserved (0)
 *   32 uuid, 40 bytes, NUL-padded
 *   72 state length u64      80 state crc32c u32   84 reserved (0)
 *   88 timestamp u64 (unix seconds)
 *   96 .. end: zero
 *
 * The crc covers the whole header with its own field as 0, so a torn
 * write of any sector shows. */
#include "config.h"

#include <string.h>

#include "common/cmn-crc32c.h"
#include "csv/csv-int.h"

enum {
    ST_MAGIC = 0,
    ST_VERSION = 8,
    ST_HDR_SIZE = 12,
    ST_GENERATION = 16,
    ST_CRC = 24,
    ST_UUID = 32,
    ST_LENGTH = 72,
    ST_DATA_CRC = 80,
    ST_TIMESTAMP = 88,
    ST_END = 96,
};

static uint32_t state_hdr_crc(const uint8_t *buf)
{
    static const uint8_t zero[4];
    uint32_t crc = cmn_crc32c(0, buf, ST_CRC);

    crc = cmn_crc32c(crc, zero, sizeof(zero));
    return cmn_crc32c(crc, buf + ST_CRC + 4, CSV_STATE_HDR_SIZE - (ST_CRC + 4));
}

void csv_state_hdr_encode(const struct csv_state_hdr *h, uint8_t *buf)
{
    memset(buf, 0, CSV_STATE_HDR_SIZE);
    cmn_put_le64(buf + ST_MAGIC, CSV_STATE_MAGIC);
    cmn_put_le32(buf + ST_VERSION, CSV_STATE_VERSION);
    cmn_put_le32(buf + ST_HDR_SIZE, CSV_STATE_HDR_SIZE);
    cmn_put_le64(buf + ST_GENERATION, h->generation);
    memcpy(buf + ST_UUID, h->uuid, strnlen(h->uuid, sizeof(h->uuid) - 1));
    cmn_put_le64(buf + ST_LENGTH, h->length);
    cmn_put_le32(buf + ST_DATA_CRC, h->data_crc);
    cmn_put_le64(buf + ST_TIMESTAMP, h->timestamp);
    cmn_put_le32(buf + ST_CRC, state_hdr_crc(buf));
}

static bool all_zero(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i])
            return false;
    return true;
}

int csv_state_hdr_decode(const uint8_t *buf, size_t bufsize,
                         uint64_t extent_size, struct csv_state_hdr *ret_h)
{
    struct csv_state_hdr h = {0};
    size_t ulen;

    if (bufsize < CSV_STATE_HDR_SIZE ||
        cmn_get_le64(buf + ST_MAGIC) != CSV_STATE_MAGIC)
        return -CSV_E_BAD_MAGIC;
    /* Version before crc: a newer format may checksum differently, and
     * "saved by another kvmcluster version" is what the operator needs. */
    if (cmn_get_le32(buf + ST_VERSION) != CSV_STATE_VERSION)
        return -CSV_E_BAD_VERSION;
    if (cmn_get_le32(buf + ST_HDR_SIZE) != CSV_STATE_HDR_SIZE)
        return -CSV_E_BAD_LENGTH;
    if (cmn_get_le32(buf + ST_CRC) != state_hdr_crc(buf))
        return -CSV_E_BAD_CRC;
    /* A valid crc over bytes this format does not define, or a uuid
     * without its terminator, is a writer we do not know: refused. */
    ulen = strnlen((const char *)buf + ST_UUID, sizeof(h.uuid));
    if (ulen == 0 || ulen == sizeof(h.uuid) ||
        !all_zero(buf + ST_UUID + ulen, sizeof(h.uuid) - ulen) ||
        cmn_get_le32(buf + ST_CRC + 4) != 0 ||
        cmn_get_le32(buf + ST_DATA_CRC + 4) != 0 ||
        !all_zero(buf + ST_END, CSV_STATE_HDR_SIZE - ST_END))
        return -CSV_E_BAD_LENGTH;
    h.length = cmn_get_le64(buf + ST_LENGTH);
    /* Compared as a subtraction: header size + length may wrap. */
    if (extent_size < CSV_STATE_HDR_SIZE ||
        h.length > extent_size - CSV_STATE_HDR_SIZE)
        return -CSV_E_BAD_LENGTH;
    h.generation = cmn_get_le64(buf + ST_GENERATION);
    memcpy(h.uuid, buf + ST_UUID, ulen);
    h.data_crc = cmn_get_le32(buf + ST_DATA_CRC);
    h.timestamp = cmn_get_le64(buf + ST_TIMESTAMP);
    *ret_h = h;
    return 0;
}
