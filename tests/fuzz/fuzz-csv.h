/* Shared by the csv record harnesses: reseals a fuzzed record's frame. */
#ifndef KVMC_FUZZ_CSV_H
#define KVMC_FUZZ_CSV_H

#include "csv/csv-int.h"

/* Rewrites the crc32c of the record in buf[0..bufsize) when its length
 * field fits, so mutations reach the payload instead of dying at the
 * checksum (the decoders check it after magic, version and length). */
static inline void fuzz_csv_reseal(uint8_t *buf, size_t bufsize)
{
    struct csv_frame f;

    if (bufsize < CSV_FRAME_SIZE)
        return;
    f.magic = cmn_get_le32(buf);
    f.version = cmn_get_le16(buf + 4);
    f.generation = cmn_get_le64(buf + 8);
    f.length = cmn_get_le32(buf + 16);
    f.uuid8 = cmn_get_le64(buf + 24);
    if (cmn_get_le16(buf + 6) != CSV_FRAME_SIZE ||
        f.length > bufsize - CSV_FRAME_SIZE)
        return;
    csv_frame_seal(buf, &f);
}

#endif
