/* Disks added to a defined VM (clusterctl vm disk add): the size given on
 * the command line and where the new disk goes. Pure. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resources/res-vm.h"

static int size_err(const char *text, char *err, size_t errlen)
{
    snprintf(err, errlen,
             "size '%s' is not a disk size (a whole number of MiB, GiB or "
             "TiB from 1 MiB to 64 TiB: 512M, 512MiB, 2G, 1TiB; no unit "
             "means MiB)",
             text);
    return -RES_E_INVALID;
}

int res_disk_size_parse(const char *text, uint64_t *ret_bytes, char *err,
                        size_t errlen)
{
    static const struct {
        const char *unit;
        unsigned shift;
    } units[] = {
        {"", 20},    {"M", 20}, {"MiB", 20}, {"G", 30},
        {"GiB", 30}, {"T", 40}, {"TiB", 40},
    };
    unsigned long long v;
    char *end;

    res_err_init();
    /* strtoull takes a sign and leading blanks: the digit comes first. */
    if (!text || text[0] < '0' || text[0] > '9')
        return size_err(text ? text : "", err, errlen);
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno)
        return size_err(text, err, errlen);
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].unit) != 0)
            continue;
        /* Bounded before the shift, so it can't wrap. */
        if (v == 0 || v > (RES_DISK_SIZE_MAX >> units[i].shift))
            break;
        *ret_bytes = (uint64_t)v << units[i].shift;
        return 0;
    }
    return size_err(text, err, errlen);
}

int res_vm_disk_find(const struct res_vm *vm, const char *target)
{
    for (size_t i = 0; i < vm->n_disks; i++)
        if (strcmp(vm->disks[i].target, target) == 0)
            return (int)i;
    return -RES_E_INVALID;
}

int res_vm_disk_next(const struct res_vm *vm, enum res_disk_bus bus,
                     struct res_disk *ret_disk, char *err, size_t errlen)
{
    struct res_disk d = {.bus = bus};
    const char *prefix = bus == RES_BUS_VIRTIO_SCSI ? "sd" : "vd";
    bool used[RES_DISK_SLOT_MAX + 1] = {false};
    char t[RES_TARGET_MAX];

    res_err_init();
    if (vm->n_disks >= RES_VM_MAX_DISKS) {
        snprintf(err, errlen,
                 "VM '%s' has %d disks, the most a VM may have: remove one "
                 "first",
                 vm->name, RES_VM_MAX_DISKS);
        return -RES_E_INVALID;
    }
    for (size_t i = 0; i < vm->n_disks; i++)
        if (vm->disks[i].slot >= RES_DISK_SLOT_MIN &&
            vm->disks[i].slot <= RES_DISK_SLOT_MAX)
            used[vm->disks[i].slot] = true;
    for (unsigned s = RES_DISK_SLOT_MIN; s <= RES_DISK_SLOT_MAX && !d.slot; s++)
        if (!used[s])
            d.slot = s;
    if (!d.slot) {
        snprintf(err, errlen,
                 "VM '%s' has a disk in every hot-plug slot (%d to %d): "
                 "remove one first ('clusterctl vm disk remove %s DISK')",
                 vm->name, RES_DISK_SLOT_MIN, RES_DISK_SLOT_MAX, vm->name);
        return -RES_E_INVALID;
    }
    /* The first free name in the order the guest's kernel names disks:
     * vda..vdz (sda.. on virtio-scsi), then vdaa.. (16 disks never get
     * that far). */
    for (unsigned k = 0; k < 26 && !d.target[0]; k++) {
        snprintf(t, sizeof(t), "%s%c", prefix, 'a' + k);
        if (res_vm_disk_find(vm, t) < 0)
            memcpy(d.target, t, sizeof(t));
    }
    *ret_disk = d;
    return 0;
}
