/* A guest paused on an I/O error: what QEMU's BLOCK_IO_ERROR says, which
 * of the VM's disks failed, and how long to wait before the next `cont`.
 * Pure: hva-vm.c acts on it, tests/unit/hvagent/test-ioerr.c drives it
 * with events as QEMU 7.2 sends them.
 *
 * Every disk hvagent gives QEMU has werror=stop,rerror=stop
 * (hva_qemu_argv, hva-disk.c): a request that fails (lunbridge's EIO when
 * its per-command deadline passed, ENOSPC on a full volume) stops the
 * guest instead of reaching it, and QEMU retries the request when the
 * guest resumes. A storage blip then costs a pause, not a disk error in
 * the guest. hvagent resumes the guest with a bounded back-off while it
 * holds the VM's lease; if the lockspace is really lost, sanlock ends
 * QEMU and failover follows as for any dead VM.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvagent/hva-int.h"

/* The ids hvagent gives devices (vd0, hp24); anything else is refused, so
 * the id can go into XML and logs as it is. */
#define DEVICE_CHARS "abcdefghijklmnopqrstuvwxyz0123456789-_"

/* "/machine/peripheral/vd0/virtio-backend" -> "vd0": the id hvagent gave
 * the device (QEMU's -blockdev devices have no BlockBackend name, so
 * "device" is empty and qom-path says which one it was). */
static int device_from_qom(const char *qom, char *out, size_t outlen)
{
    static const char pfx[] = "/machine/peripheral/";
    const char *s, *e;
    size_t n;

    if (!qom || strncmp(qom, pfx, sizeof(pfx) - 1) != 0)
        return -EINVAL;
    s = qom + sizeof(pfx) - 1;
    e = strchr(s, '/');
    n = e ? (size_t)(e - s) : strlen(s);
    if (n == 0 || n >= outlen || strspn(s, DEVICE_CHARS) < n)
        return -EINVAL;
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

/* `name` if it is one hvagent could have given (DEVICE_CHARS, fits). */
static bool name_ok(const char *name, size_t cap)
{
    return name && name[0] && strlen(name) < cap &&
           strspn(name, DEVICE_CHARS) == strlen(name);
}

int hva_ioerr_parse(json_object *edata, struct hva_ioerr_event *ret)
{
    struct hva_ioerr_event ev = {0};
    const char *action = hva_json_str(edata, "action");
    const char *op = hva_json_str(edata, "operation");
    const char *reason = hva_json_str(edata, "reason");
    const char *dev = hva_json_str(edata, "device");
    const char *node = hva_json_str(edata, "node-name");
    json_object *ns;

    if (!action || !op)
        return -EINVAL;
    /* Which disk: QEMU 8.2 and later say qom-path (the device's id);
     * QEMU 7.2 says only the BlockBackend's name, empty for -blockdev
     * disks, and the node's name (disk0, hp24, or a mirror's target). */
    if (device_from_qom(hva_json_str(edata, "qom-path"), ev.device,
                        sizeof(ev.device)) < 0) {
        const char *name = dev && dev[0] ? dev : node;
        if (!name_ok(name, sizeof(ev.device)))
            return -EINVAL;
        snprintf(ev.device, sizeof(ev.device), "%s", name);
    }
    ev.stop = strcmp(action, "stop") == 0;
    ev.write = strcmp(op, "write") == 0;
    ev.nospace = json_object_object_get_ex(edata, "nospace", &ns) &&
                 json_object_get_boolean(ns);
    snprintf(ev.reason, sizeof(ev.reason), "%s",
             reason ? reason : (ev.nospace ? "No space left on device" : "?"));
    *ret = ev;
    return 0;
}

/* The names hva_qemu_argv and hva-disk.c give: device "vdN" and node
 * "diskN" for the N-th disk of the definition without a slot, "hpS" (both)
 * for the disk in hot-plug slot S; a disk a storage mirror switched has
 * its new node's name in disks[i].node. */
int hva_ioerr_disk_index(const struct hva_vm_def *def, const char *name)
{
    const char *num;
    bool slot;
    char *end;
    unsigned long n;

    if (!name)
        return -ENOENT;
    for (size_t i = 0; i < def->n_disks; i++)
        if (def->disks[i].node[0] && strcmp(def->disks[i].node, name) == 0)
            return (int)i;
    if (!strncmp(name, "vd", 2) || !strncmp(name, "hp", 2))
        num = name + 2;
    else if (!strncmp(name, "disk", 4))
        num = name + 4;
    else
        return -ENOENT;
    slot = name[0] == 'h';
    if (*num < '0' || *num > '9')
        return -ENOENT;
    errno = 0;
    n = strtoul(num, &end, 10);
    if (errno || *end || n > 1000)
        return -ENOENT;
    for (size_t i = 0; i < def->n_disks; i++) {
        const struct hva_disk *d = &def->disks[i];
        if (slot ? d->slot == n : (!d->slot && i == n))
            return (int)i;
    }
    return -ENOENT;
}

/* 250 ms doubling to 5 s: a blip of a second or two (a target that
 * missed lunbridge's deadline) ends in a few short retries, and a longer
 * outage costs QEMU one retried request every 5 s. A full volume frees
 * only when someone acts: 1 s doubling to 30 s. */
uint64_t hva_ioerr_backoff_ms(unsigned attempt, bool nospace)
{
    return nospace
               ? hva_backoff_ms(attempt, HVA_IOERR_NOSPC_FIRST_MS,
                                HVA_IOERR_NOSPC_MAX_MS)
               : hva_backoff_ms(attempt, HVA_IOERR_FIRST_MS, HVA_IOERR_MAX_MS);
}

const char *hva_ioerr_reason_text(bool nospace)
{
    return nospace ? "the volume is full (no space left)"
                   : "the storage returned an I/O error";
}
