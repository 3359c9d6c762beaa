/* The saved-state header (csv_state_hdr_decode), read back from a VM's
 * state extent on the shared volume before a quick-migration restore. The
 * first 8 input bytes choose the extent size (so lengths near the wrap are
 * reached), the rest fill the header; the harness rewrites the header
 * crc32c (offset 24, over the whole header with the field as 0) so
 * mutations reach the fields. A decoded header must encode to the same
 * fields again and fit its extent. */
#include "config.h"

#include "common/cmn-crc32c.h"
#include "common/cmn-le.h"
#include "csv/csv.h"
#include "tests/fuzz/fuzz.h"

enum { HDR_CRC = 24 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t buf[CSV_STATE_HDR_SIZE], again[CSV_STATE_HDR_SIZE];
    static const uint8_t zero[4];
    struct csv_state_hdr h, h2;
    uint64_t extent = 1ull << 30;
    uint32_t crc;

    if (size >= 8) {
        extent = cmn_get_le64(data);
        data += 8;
        size -= 8;
    }
    memset(buf, 0, sizeof(buf));
    memcpy(buf, data, size < sizeof(buf) ? size : sizeof(buf));
    crc = cmn_crc32c(0, buf, HDR_CRC);
    crc = cmn_crc32c(crc, zero, sizeof(zero));
    crc = cmn_crc32c(crc, buf + HDR_CRC + 4, sizeof(buf) - (HDR_CRC + 4));
    cmn_put_le32(buf + HDR_CRC, crc);
    if (csv_state_hdr_decode(buf, sizeof(buf), extent, &h) < 0)
        return 0;
    if (strlen(h.uuid) >= sizeof(h.uuid) ||
        h.length > extent - CSV_STATE_HDR_SIZE)
        abort();
    csv_state_hdr_encode(&h, again);
    if (csv_state_hdr_decode(again, sizeof(again), extent, &h2) < 0 ||
        h2.length != h.length || h2.data_crc != h.data_crc ||
        h2.generation != h.generation || strcmp(h2.uuid, h.uuid) != 0)
        abort();
    return 0;
}
