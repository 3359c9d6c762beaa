/* The CSV superblock (csv_super_decode): the first record every node
 * reads from the shared LUN, before it trusts any offset. */
#include "config.h"

#include "tests/fuzz/fuzz-csv.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = calloc(1, CSV_SUPER_SIZE);
    struct csv_super sb;

    if (!buf)
        return 0;
    memcpy(buf, data, size < CSV_SUPER_SIZE ? size : CSV_SUPER_SIZE);
    fuzz_csv_reseal(buf, CSV_SUPER_SIZE);
    csv_super_decode(buf, &sb);
    free(buf);
    return 0;
}
