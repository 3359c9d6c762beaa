/* The CSV extent map (csv_extmap_decode), read from the shared LUN: the
 * list of every extent the volume's VMs own. The record is as long as
 * the input; max_extents is the default. Sorted by offset afterwards as
 * csv/'s load does. */
#include "config.h"

#include "tests/fuzz/fuzz-csv.h"
#include "tests/fuzz/fuzz.h"

static int cmp_extent(const void *a, const void *b)
{
    const struct csv_extent *x = a, *y = b;

    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    struct csv_extmap map = {0};

    if (!buf)
        return 0;
    memcpy(buf, data, size);
    fuzz_csv_reseal(buf, size);
    if (csv_extmap_decode(buf, size, 0, CSV_DEFAULT_EXTENTS, &map) == 0) {
        if (map.count > CSV_DEFAULT_EXTENTS)
            abort();
        qsort(map.ext, map.count, sizeof(*map.ext), cmp_extent);
        for (size_t i = 0; i < map.count; i++)
            if (strlen(map.ext[i].tag) >= sizeof(map.ext[i].tag))
                abort();
        csv_extmap_clear(&map);
    }
    free(buf);
    return 0;
}
