/* The marker a storage move writes into its target slot
 * (cd_csv_mover_parse), read back from the shared LUN by the orphan scan
 * of any node: bytes another node, or a damaged volume, wrote. Whatever
 * parses formats back into a marker that parses to the same mover, so
 * no node reads a marker differently from the one that wrote it. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "clusterd/cd-csv.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cd_csv_mover mv;
    char *xml;
    char again[256];

    /* Slot definitions are NUL-terminated strings of bounded size. */
    if (size > 4096)
        return 0;
    xml = malloc(size + 1);
    if (!xml)
        return 0;
    memcpy(xml, data, size);
    xml[size] = '\0';
    if (cd_csv_mover_parse(xml, &mv) == 0) {
        if (mv.node == 0 || strlen(mv.from) >= sizeof(mv.from))
            abort();
        if (cd_csv_mover_format(again, sizeof(again), &mv) != 0)
            abort();
        /* Not the same text: sscanf also takes leading zeros or a sign. */
        struct cd_csv_mover back;
        if (cd_csv_mover_parse(again, &back) != 0 ||
            strcmp(back.from, mv.from) != 0 || back.node != mv.node ||
            back.generation != mv.generation)
            abort();
    }
    free(xml);
    return 0;
}
