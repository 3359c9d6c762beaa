/* move-storage's plan (see cd-move-plan.h). */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "clusterd/cd-move-plan.h"
#include "clusterd/cd-proto.h"

int cd_move_disks(const struct res_vm *def, const char *from, size_t *ret_idx,
                  size_t *ret_n, char *err, size_t errlen)
{
    size_t n = 0;

    for (size_t i = 0; i < def->n_disks; i++) {
        const struct res_disk *d = &def->disks[i];
        if (d->source != RES_DISK_EXTENT)
            continue;
        if (d->volume[0] && strcmp(d->volume, from) != 0) {
            snprintf(err, errlen,
                     "VM '%s' disk %s is an extent of volume '%s', not of "
                     "volume '%s' where its slot is: its storage cannot "
                     "move as a whole",
                     def->name, d->target, d->volume, from);
            return -CD_E_BAD_VALUE;
        }
        ret_idx[n++] = i;
    }
    *ret_n = n;
    return 0;
}

uint64_t cd_move_need(const uint64_t *lengths, size_t n, uint64_t unit)
{
    uint64_t need = 0;

    for (size_t i = 0; i < n; i++)
        need += unit ? (lengths[i] + unit - 1) / unit * unit : lengths[i];
    return need;
}

void cd_move_no_space(char *err, size_t errlen, const char *vm,
                      const char *volume, uint64_t need, uint64_t free_bytes,
                      uint64_t largest_free)
{
    snprintf(err, errlen,
             "volume '%s' has not enough space for VM '%s' (%" PRIu64
             " MiB needed, %" PRIu64 " MiB free%s)",
             volume, vm, (need + (1u << 20) - 1) >> 20, free_bytes >> 20,
             largest_free < free_bytes ? " in pieces" : "");
}

void cd_move_rewrite(struct res_vm *def, const char *to,
                     const struct cd_move_copy *copies, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct res_disk *d;
        if (copies[i].disk == CD_MOVE_STATE || copies[i].disk >= def->n_disks)
            continue;
        d = &def->disks[copies[i].disk];
        snprintf(d->volume, sizeof(d->volume), "%s", to);
        d->extent = copies[i].dst_id;
    }
}

int cd_move_ref(char *buf, size_t len, const char *volume, uint32_t slot,
                uint64_t state)
{
    int n = snprintf(buf, len, "csv:%s:%u:%" PRIu64, volume, slot, state);

    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

uint64_t cd_move_chunk(uint64_t done, uint64_t length, uint64_t chunk)
{
    if (done >= length)
        return 0;
    return length - done < chunk ? length - done : chunk;
}
