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
                     "move as a whole (move its disks with --disk)",
                     def->name, d->target, d->volume, from);
            return -CD_E_BAD_VALUE;
        }
        ret_idx[n++] = i;
    }
    *ret_n = n;
    return 0;
}

int cd_move_disk_list(const char *list, char ret_names[][RES_TARGET_MAX],
                      size_t *ret_n, char *err, size_t errlen)
{
    size_t n = 0, len;
    const char *p = list;

    for (;;) {
        len = strcspn(p, ",");
        if (len == 0 || len >= RES_TARGET_MAX || n >= RES_VM_MAX_DISKS) {
            snprintf(err, errlen,
                     "'%.80s' is not a list of at most %d disks such as "
                     "'vdb' or 'vdb,vdc'",
                     list, RES_VM_MAX_DISKS);
            return -CD_E_BAD_VALUE;
        }
        for (size_t i = 0; i < len; i++)
            if (!((p[i] >= 'a' && p[i] <= 'z') ||
                  (p[i] >= '0' && p[i] <= '9'))) {
                snprintf(err, errlen,
                         "'%.*s' is not a disk name such as 'vdb' (see "
                         "'clusterctl vm show VM')",
                         (int)len, p);
                return -CD_E_BAD_VALUE;
            }
        memcpy(ret_names[n], p, len);
        ret_names[n++][len] = '\0';
        if (!p[len])
            break;
        p += len + 1;
    }
    *ret_n = n;
    return 0;
}

const char *cd_move_disk_volume(const struct res_disk *d, const char *home)
{
    return d->volume[0] ? d->volume : home;
}

size_t cd_move_disk_volumes(const struct res_vm *def, const char *home,
                            char ret[][RES_NAME_MAX], size_t max)
{
    size_t n = 0, k;

    for (size_t i = 0; i < def->n_disks; i++) {
        const char *v = cd_move_disk_volume(&def->disks[i], home);
        if (def->disks[i].source != RES_DISK_EXTENT || !strcmp(v, home))
            continue;
        for (k = 0; k < n && strcmp(ret[k], v) != 0; k++)
            ;
        if (k == n && n < max)
            snprintf(ret[n++], RES_NAME_MAX, "%s", v);
    }
    return n;
}

int cd_move_select(const struct res_vm *def, const char *home, const char *to,
                   char names[][RES_TARGET_MAX], size_t n_names,
                   size_t *ret_idx, size_t *ret_n, char *ret_from,
                   bool *ret_whole, char *err, size_t errlen)
{
    const char *from = NULL, *vol;
    size_t idx[RES_VM_MAX_DISKS], k;

    if (n_names == 0 || n_names > RES_VM_MAX_DISKS) {
        snprintf(err, errlen, "VM '%s': name the disks that move", def->name);
        return -CD_E_BAD_VALUE;
    }
    for (size_t i = 0; i < n_names; i++) {
        for (k = 0; k < def->n_disks; k++)
            if (!strcmp(def->disks[k].target, names[i]))
                break;
        if (k == def->n_disks) {
            snprintf(err, errlen,
                     "VM '%s' has no disk '%s' (see 'clusterctl vm show %s')",
                     def->name, names[i], def->name);
            return -CD_E_NOT_FOUND;
        }
        for (size_t p = 0; p < i; p++)
            if (idx[p] == k) {
                snprintf(err, errlen, "VM '%s': disk '%s' is named twice",
                         def->name, names[i]);
                return -CD_E_BAD_VALUE;
            }
        if (def->disks[k].source != RES_DISK_EXTENT) {
            snprintf(err, errlen,
                     "VM '%s' disk '%s' has no extent yet: nothing to move",
                     def->name, names[i]);
            return -CD_E_BAD_VALUE;
        }
        vol = cd_move_disk_volume(&def->disks[k], home);
        if (!strcmp(vol, to)) {
            snprintf(err, errlen, "VM '%s' disk '%s' is already on volume '%s'",
                     def->name, names[i], to);
            return -CD_E_BAD_VALUE;
        }
        if (from && strcmp(from, vol) != 0) {
            snprintf(err, errlen,
                     "VM '%s': disk '%s' is on volume '%s', disk '%s' on "
                     "volume '%s': move the disks of one volume at a time",
                     def->name, names[0], from, names[i], vol);
            return -CD_E_BAD_VALUE;
        }
        from = vol;
        idx[i] = k;
    }
    /* Every disk, all beside the slot: the slot goes with them. */
    *ret_whole = n_names == def->n_disks && !strcmp(from, home);
    memcpy(ret_idx, idx, n_names * sizeof(idx[0]));
    *ret_n = n_names;
    snprintf(ret_from, RES_NAME_MAX, "%s", from);
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
