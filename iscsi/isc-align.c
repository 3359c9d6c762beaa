/* Byte ranges of a LUN file to whole logical blocks. */
#include "config.h"

#include <errno.h>

#include "iscsi/isc-int.h"

int isc_span_compute(uint64_t off, size_t len, uint32_t bs, uint64_t dev_size,
                     bool is_write, struct isc_span *ret_span)
{
    struct isc_span sp = {0};
    uint64_t end, first, last_excl;

    if (bs < 512 || (bs & (bs - 1)) != 0 || dev_size % bs != 0)
        return -EINVAL;
    if (len > UINT64_MAX - off)
        return -EINVAL;
    end = off + len;
    if (end > dev_size) {
        if (is_write)
            return -ENOSPC;
        end = off >= dev_size ? off : dev_size;
    }
    sp.len = (size_t)(end - off);
    if (sp.len == 0) {
        sp.lba = off / bs;
        *ret_span = sp;
        return 0;
    }
    first = off / bs;
    last_excl = (end + bs - 1) / bs;
    sp.lba = first;
    sp.nblocks = last_excl - first;
    sp.head = (uint32_t)(off % bs);
    sp.partial_head = sp.head != 0;
    /* A range inside one block that neither starts nor ends on its
     * boundaries is partial at both ends: both flags say "read first". */
    sp.partial_tail = end % bs != 0;
    *ret_span = sp;
    return 0;
}
