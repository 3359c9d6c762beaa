/* Disks added to and removed from a VM (disk-add, disk-remove).
 *
 * A hot-plugged disk lives in a PCI slot of its own (HVA_DISK_SLOT_MIN..
 * MAX) with names derived from it: block node and device "hp<slot>", fd
 * set HVA_QEMU_FDSET_SLOT(slot). The definition records the slot, and
 * the command line of every later QEMU of the VM (a restart, the target
 * of a live or quick migration) puts the disk at the same address under
 * the same names (hva_qemu_argv), so the migration stream finds the
 * device where the source had it and a later removal finds it by name.
 *
 * Invariant: the definition (def.xml, and what a migration target is
 * given) names a disk only while QEMU has it, or will have it at its next
 * start. An add changes the definition after device_add succeeded; a
 * removal drops the disk once QEMU reported DEVICE_DELETED (the guest let
 * go of it) and the block node is gone. A failed step undoes the earlier
 * ones, so a refused request leaves the VM as it was. A guest that
 * releases the device only after the removal's deadline is still handled:
 * the late DEVICE_DELETED completes the removal.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cmn-auto.h"
#include "common/cmn-err.h"
#include "common/cmn-ipc.h"
#include "common/cmn-log.h"
#include "hvagent/hva-int.h"

/* How long the guest has to release a device after device_del. */
#define HVA_DISK_UNPLUG_MS 15000u

enum hp_step {
    HP_CTRL_ADD, /* the scsi controller, before the first scsi disk */
    HP_ADD_FD,
    HP_BLOCKDEV_ADD,
    HP_DEVICE_ADD,
    HP_DEVICE_DEL, /* sent, waiting for DEVICE_DELETED */
    HP_BLOCKDEV_DEL,
};

struct hva_hotplug {
    struct hva_vm *vm;
    bool adding;
    enum hp_step step;
    struct hva_disk disk; /* add: the disk (owns path); remove: .slot */
    bool ctrl;            /* add: the scsi controller was added first */
    qb_loop_timer_handle timer;
};

/* Whether the definition has a disk on the scsi controller. */
static bool def_has_scsi(const struct hva_vm_def *def)
{
    for (size_t i = 0; i < def->n_disks; i++)
        if (def->disks[i].scsi)
            return true;
    return false;
}

/* Best effort: the scsi controller leaves once no disk is on it, so the
 * QEMU matches a command line built from the definition (a migration
 * target's). The guest releases it as it releases a disk. */
static void ctrl_remove(struct hva_vm *vm)
{
    json_object *a = json_object_new_object();

    json_object_object_add(a, "id", json_object_new_string(HVA_SCSI_ID));
    hva_qmp_command(vm->qmp, "device_del", a, -1, NULL, NULL);
}

static void hp_name(unsigned slot, char *buf, size_t len)
{
    snprintf(buf, len, "hp%u", slot);
}

static void hp_free(struct hva_hotplug *h)
{
    if (!h)
        return;
    if (h->timer)
        qb_loop_timer_del(h->vm->ag->loop, h->timer);
    if (h->vm->qmp)
        hva_qmp_forget(h->vm->qmp, h);
    free(h->disk.path);
    free(h);
}

/* Ends the operation: the reply goes to the waiting client. */
static void hp_done(struct hva_hotplug *h, int rc, const char *extra)
{
    struct hva_vm *vm = h->vm;

    vm->hotplug = NULL;
    hp_free(h);
    hva_vm_reply(vm, rc, extra);
}

static void hp_fail(struct hva_hotplug *h, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void hp_fail(struct hva_hotplug *h, int rc, const char *fmt, ...)
{
    struct hva_vm *vm = h->vm;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(vm->last_err, sizeof(vm->last_err), fmt, ap);
    va_end(ap);
    cmn_err(CMN_LOG_HVA, "%s", vm->last_err);
    hp_done(h, rc, NULL);
}

static json_object *args_fdset(unsigned slot)
{
    json_object *a = json_object_new_object();

    json_object_object_add(
        a, "fdset-id",
        json_object_new_int64((int64_t)HVA_QEMU_FDSET_SLOT(slot)));
    return a;
}

static json_object *args_node(unsigned slot)
{
    json_object *a = json_object_new_object();
    char name[16];

    hp_name(slot, name, sizeof(name));
    json_object_object_add(a, "node-name", json_object_new_string(name));
    return a;
}

static json_object *args_name(const char *node)
{
    json_object *a = json_object_new_object();

    json_object_object_add(a, "node-name", json_object_new_string(node));
    return a;
}

static json_object *args_fdset_id(size_t id)
{
    json_object *a = json_object_new_object();

    json_object_object_add(a, "fdset-id", json_object_new_int64((int64_t)id));
    return a;
}

/* Best effort, no answer awaited: what an add had done before it failed,
 * or what a removal leaves after the device is gone. */
static void undo_blockdev(struct hva_vm *vm, unsigned slot)
{
    hva_qmp_command(vm->qmp, "blockdev-del", args_node(slot), -1, NULL, NULL);
}

static void undo_fdset(struct hva_vm *vm, unsigned slot)
{
    hva_qmp_command(vm->qmp, "remove-fd", args_fdset(slot), -1, NULL, NULL);
}

/* ---- add ---------------------------------------------------------------- */

/* `d` becomes the definition's last disk (its path with it). */
static int def_append(struct hva_vm *vm, struct hva_disk *d)
{
    struct hva_disk *v =
        realloc(vm->def->disks, (vm->def->n_disks + 1) * sizeof(*v));

    if (!v)
        return -ENOMEM;
    vm->def->disks = v;
    v[vm->def->n_disks++] = *d;
    d->path = NULL;
    return 0;
}

static void add_step(void *data, int rc, json_object *ret, const char *errmsg)
{
    struct hva_hotplug *h = data;
    struct hva_vm *vm = h->vm;
    unsigned slot = h->disk.slot;
    struct hva_disk *v;
    char extra[64];

    (void)ret;
    if (rc < 0) {
        if (h->step >= HP_BLOCKDEV_ADD)
            undo_fdset(vm, slot);
        if (h->step >= HP_DEVICE_ADD)
            undo_blockdev(vm, slot);
        if (h->ctrl && h->step > HP_CTRL_ADD)
            ctrl_remove(vm);
        hp_fail(h, -HVA_E_QMP, "VM '%s': disk in slot %u not added: %s: %s",
                vm->def->name, slot,
                h->step == HP_CTRL_ADD       ? "device_add virtio-scsi-pci"
                : h->step == HP_ADD_FD       ? "add-fd"
                : h->step == HP_BLOCKDEV_ADD ? "blockdev-add"
                                             : "device_add",
                errmsg ? errmsg : cmn_strerror(rc));
        return;
    }
    if (h->step != HP_DEVICE_ADD) {
        h->step++;
        return; /* the next command is queued already */
    }
    /* QEMU has the device: now the definition names it. */
    if (def_append(vm, &h->disk) < 0) {
        hp_fail(h, -ENOMEM, "VM '%s': out of memory", vm->def->name);
        return;
    }
    v = vm->def->disks;
    rc = hva_vm_def_save(vm);
    if (rc < 0)
        cmn_warn(CMN_LOG_HVA, "VM '%s': def.xml not rewritten: %s",
                 vm->def->name, cmn_strerror(rc));
    cmn_info(CMN_LOG_HVA,
             "VM '%s': disk added in slot %u (%s at %" PRIu64 ", %" PRIu64
             " bytes)",
             vm->def->name, slot, v[vm->def->n_disks - 1].path,
             v[vm->def->n_disks - 1].offset, v[vm->def->n_disks - 1].size);
    snprintf(extra, sizeof(extra), "slot=\"%u\" disks=\"%zu\"", slot,
             vm->def->n_disks);
    hp_done(h, 0, extra);
}

static int add_live(struct hva_vm *vm, struct hva_hotplug *h, char *err,
                    size_t errlen)
{
    const struct hva_disk *d = &h->disk;
    json_object *a, *file;
    char name[16], fdpath[32], addr[8];
    int fd;

    fd = open(d->path, O_RDWR | O_CLOEXEC | (d->direct ? O_DIRECT : 0));
    if (fd < 0) {
        int rc = -errno;
        snprintf(err, errlen, "VM '%s': disk '%s': %s", vm->def->name, d->path,
                 strerror(-rc));
        return rc;
    }
    hp_name(d->slot, name, sizeof(name));
    snprintf(fdpath, sizeof(fdpath), "/dev/fdset/%zu",
             HVA_QEMU_FDSET_SLOT(d->slot));

    /* Queued in order; each reply advances h->step (add_step), and the
     * first error undoes what the earlier ones did. */
    h->step = HP_ADD_FD;
    if (d->scsi && !def_has_scsi(vm->def)) {
        h->step = HP_CTRL_ADD;
        h->ctrl = true;
        a = json_object_new_object();
        json_object_object_add(a, "driver",
                               json_object_new_string("virtio-scsi-pci"));
        json_object_object_add(a, "id", json_object_new_string(HVA_SCSI_ID));
        snprintf(addr, sizeof(addr), "0x%x", HVA_SCSI_SLOT);
        json_object_object_add(a, "addr", json_object_new_string(addr));
        hva_qmp_command(vm->qmp, "device_add", a, -1, add_step, h);
    }
    a = args_fdset(d->slot);
    json_object_object_add(a, "opaque", json_object_new_string(name));
    hva_qmp_command(vm->qmp, "add-fd", a, fd, add_step, h);
    close(fd); /* QEMU has its own now (or the command failed) */

    a = json_object_new_object();
    json_object_object_add(a, "driver", json_object_new_string("raw"));
    json_object_object_add(a, "node-name", json_object_new_string(name));
    json_object_object_add(a, "offset",
                           json_object_new_int64((int64_t)d->offset));
    json_object_object_add(a, "size", json_object_new_int64((int64_t)d->size));
    file = json_object_new_object();
    json_object_object_add(file, "direct", json_object_new_boolean(d->direct));
    json_object_object_add(a, "cache", file);
    file = json_object_new_object();
    json_object_object_add(file, "driver", json_object_new_string("file"));
    json_object_object_add(file, "filename", json_object_new_string(fdpath));
    json_object_object_add(file, "aio", json_object_new_string("threads"));
    /* As on the command line (hva_qemu_argv): extents share a file. */
    json_object_object_add(file, "locking", json_object_new_string("off"));
    json_object_object_add(a, "file", file);
    hva_qmp_command(vm->qmp, "blockdev-add", a, -1, add_step, h);

    /* As on the command line (hva_qemu_argv). */
    a = json_object_new_object();
    json_object_object_add(
        a, "driver",
        json_object_new_string(d->scsi ? "scsi-hd" : "virtio-blk-pci"));
    json_object_object_add(a, "drive", json_object_new_string(name));
    json_object_object_add(a, "id", json_object_new_string(name));
    json_object_object_add(a, "werror", json_object_new_string("stop"));
    json_object_object_add(a, "rerror", json_object_new_string("stop"));
    if (d->scsi) {
        json_object_object_add(a, "bus",
                               json_object_new_string(HVA_SCSI_ID ".0"));
        json_object_object_add(a, "scsi-id", json_object_new_int(d->slot));
        json_object_object_add(a, "lun", json_object_new_int(0));
    } else {
        snprintf(addr, sizeof(addr), "0x%x", d->slot);
        json_object_object_add(a, "addr", json_object_new_string(addr));
    }
    hva_qmp_command(vm->qmp, "device_add", a, -1, add_step, h);
    return CMN_IPC_DEFERRED;
}

/* A VM in one of these states has no QEMU to change, or one that is
 * being handed over: only a VM at rest or running takes a disk. */
static int check_state(struct hva_vm *vm, const char *what, char *err,
                       size_t errlen)
{
    if (vm->hotplug || vm->mig ||
        (vm->pid && vm->state != HVA_VM_RUNNING &&
         vm->state != HVA_VM_PAUSED) ||
        (vm->pid && !vm->qmp)) {
        snprintf(err, errlen,
                 "VM '%s' is %s: a disk is %s only while it runs or is "
                 "stopped (try again once the operation is done)",
                 vm->def->name,
                 vm->hotplug ? "changing a disk" : hva_vm_state_name(vm->state),
                 what);
        return -HVA_E_STATE;
    }
    return 0;
}

int hva_disk_add(struct hva_vm *vm, struct hva_disk *d, char *err,
                 size_t errlen)
{
    struct hva_hotplug *h = NULL;
    int rc;

    rc = check_state(vm, "added", err, errlen);
    if (rc == 0)
        rc = hva_disk_add_check(vm->def, d, &vm->ag->dirs, err, errlen);
    if (rc < 0)
        goto out;
    if (!vm->pid) {
        /* No QEMU: the next start's command line has it. */
        rc = def_append(vm, d);
        if (rc == 0)
            rc = hva_vm_def_save(vm);
        goto out;
    }
    h = calloc(1, sizeof(*h));
    if (!h) {
        rc = -ENOMEM;
        goto out;
    }
    h->vm = vm;
    h->adding = true;
    h->disk = *d;
    d->path = NULL;
    vm->hotplug = h;
    rc = add_live(vm, h, err, errlen);
    if (rc < 0) {
        vm->hotplug = NULL;
        hp_free(h);
    }
out:
    free(d->path);
    d->path = NULL;
    return rc;
}

/* ---- remove ------------------------------------------------------------- */

/* The device is gone from the guest: the block node and the descriptor
 * follow, then the definition. Runs for the removal in flight or for a
 * late release after its deadline (h == NULL). */
static void remove_finish(struct hva_vm *vm, unsigned slot,
                          struct hva_hotplug *h)
{
    char extra[64], node[24];
    int i, rc;

    i = hva_disk_find_slot(vm->def, slot, vm->last_err, sizeof(vm->last_err));
    if (i >= 0 && vm->def->disks[i].node[0]) {
        /* A storage mirror switched it to a node and fd set of its own
         * (hva-mirror.c). */
        hva_disk_node_name(vm->def, (size_t)i, node, sizeof(node));
        hva_qmp_command(vm->qmp, "blockdev-del", args_name(node), -1, NULL,
                        NULL);
        hva_qmp_command(vm->qmp, "remove-fd",
                        args_fdset_id(vm->def->disks[i].fdset), -1, NULL, NULL);
    } else {
        undo_blockdev(vm, slot);
        undo_fdset(vm, slot);
    }
    if (i >= 0) {
        bool scsi = vm->def->disks[i].scsi;

        free(vm->def->disks[i].path);
        memmove(&vm->def->disks[i], &vm->def->disks[i + 1],
                (vm->def->n_disks - (size_t)i - 1) * sizeof(*vm->def->disks));
        vm->def->n_disks--;
        rc = hva_vm_def_save(vm);
        if (rc < 0)
            cmn_warn(CMN_LOG_HVA, "VM '%s': def.xml not rewritten: %s",
                     vm->def->name, cmn_strerror(rc));
        if (scsi && !def_has_scsi(vm->def))
            ctrl_remove(vm);
    }
    vm->last_err[0] = '\0';
    cmn_info(CMN_LOG_HVA, "VM '%s': disk in slot %u removed%s", vm->def->name,
             slot, h ? "" : " (released by the guest after the deadline)");
    if (h) {
        snprintf(extra, sizeof(extra), "slot=\"%u\" disks=\"%zu\"", slot,
                 vm->def->n_disks);
        hp_done(h, 0, extra);
    }
}

static void remove_timeout(void *data)
{
    struct hva_hotplug *h = data;

    h->timer = 0;
    hp_fail(h, -HVA_E_STATE,
            "VM '%s': the guest did not release the disk in slot %u within "
            "%u ms (the unplug request stays: the disk is removed when the "
            "guest lets go of it)",
            h->vm->def->name, h->disk.slot, HVA_DISK_UNPLUG_MS);
}

static void remove_sent(void *data, int rc, json_object *ret,
                        const char *errmsg)
{
    struct hva_hotplug *h = data;

    (void)ret;
    if (rc < 0) {
        hp_fail(h, -HVA_E_QMP,
                "VM '%s': disk in slot %u not removed: "
                "device_del: %s",
                h->vm->def->name, h->disk.slot,
                errmsg ? errmsg : cmn_strerror(rc));
        return;
    }
    qb_loop_timer_add(h->vm->ag->loop, QB_LOOP_MED,
                      HVA_DISK_UNPLUG_MS * 1000000ULL, h, remove_timeout,
                      &h->timer);
}

int hva_disk_remove(struct hva_vm *vm, unsigned slot, char *err, size_t errlen)
{
    struct hva_hotplug *h;
    json_object *a;
    char name[16];
    int i, rc;

    rc = check_state(vm, "removed", err, errlen);
    if (rc < 0)
        return rc;
    i = hva_disk_find_slot(vm->def, slot, err, errlen);
    if (i < 0)
        return i;
    if (!vm->pid) {
        free(vm->def->disks[i].path);
        memmove(&vm->def->disks[i], &vm->def->disks[i + 1],
                (vm->def->n_disks - (size_t)i - 1) * sizeof(*vm->def->disks));
        vm->def->n_disks--;
        return hva_vm_def_save(vm);
    }
    h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->vm = vm;
    h->step = HP_DEVICE_DEL;
    h->disk.slot = slot;
    vm->hotplug = h;
    hp_name(slot, name, sizeof(name));
    a = json_object_new_object();
    json_object_object_add(a, "id", json_object_new_string(name));
    hva_qmp_command(vm->qmp, "device_del", a, -1, remove_sent, h);
    return CMN_IPC_DEFERRED;
}

void hva_disk_qmp_event(struct hva_vm *vm, const char *event, json_object *data)
{
    json_object *dev;
    unsigned slot;
    char tail;

    if (strcmp(event, "DEVICE_DELETED") != 0 ||
        !json_object_object_get_ex(data, "device", &dev) ||
        sscanf(json_object_get_string(dev), "hp%u%c", &slot, &tail) != 1)
        return;
    if (vm->hotplug && !vm->hotplug->adding && vm->hotplug->disk.slot == slot)
        remove_finish(vm, slot, vm->hotplug);
    else if (hva_disk_find_slot(vm->def, slot, vm->last_err,
                                sizeof(vm->last_err)) >= 0)
        remove_finish(vm, slot, NULL);
    vm->last_err[0] = '\0';
}

void hva_disk_qemu_gone(struct hva_vm *vm)
{
    struct hva_hotplug *h = vm->hotplug;

    if (!h)
        return;
    /* vm->qmp is gone already: hp_free has nothing to forget there. */
    hp_fail(h, -HVA_E_QEMU,
            "VM '%s': QEMU exited while its disk in slot %u was being %s "
            "(the definition %s)",
            vm->def->name, h->disk.slot, h->adding ? "added" : "removed",
            h->adding ? "does not have it" : "still has it");
}
