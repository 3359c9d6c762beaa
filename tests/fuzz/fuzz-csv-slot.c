/* A CSV VM slot record (csv_slot_decode), read from the shared LUN with
 * the VM's definition in it. The record is as long as the input (at most
 * CSV_SLOT_REC_SIZE), as a slot region read would hand it over. */
#include "config.h"

#include "tests/fuzz/fuzz-csv.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t len = size < CSV_SLOT_REC_SIZE ? size : CSV_SLOT_REC_SIZE;
    uint8_t *buf = malloc(len ? len : 1);
    struct csv_slot slot;

    if (!buf)
        return 0;
    memcpy(buf, data, len);
    fuzz_csv_reseal(buf, len);
    if (csv_slot_decode(buf, len, 0, &slot) == 0) {
        /* What the decoder promises its callers. */
        if (slot.used && (!slot.xml || strlen(slot.xml) > slot.xml_len))
            abort();
        csv_slot_clear(&slot);
    }
    free(buf);
    return 0;
}
