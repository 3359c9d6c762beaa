/* Disks added to and removed from a VM on the CSV (`vm disk add|remove`),
 * the volume and hvagent side: run in cd-csv's worker, one change at a
 * time (see cd-csv.h, cd-api-disk.c for the order of the steps).
 *
 * The metadata lease is held only for the allocation, the slot's copy of
 * the definition and the free, never while hvagent hot-plugs: a guest
 * may take seconds to let go of a device, and another node's change of
 * the volume must not wait for it.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clusterd/cd-csv-int.h"
#include "clusterd/cd-hva.h"
#include "clusterd/cd-int.h"
#include "common/cmn-auto.h"
#include "common/cmn-log.h"
#include "common/cmn-xml.h"
#include "csv/csv.h"
#include "resources/res-vm.h"

/* disk-remove waits up to 15 s for the guest (hva-disk.c). */
#define HOTPLUG_MS 25000

/* hvagent's disk-add or disk-remove; its error in j->msg. */
static int hotplug(struct cd_csv_job *j, bool add, const char *path,
                   uint64_t offset, uint64_t size)
{
    char *req cmn_autofree = NULL;
    char msg[sizeof(j->msg) - 64];
    xmlDoc *doc = NULL;
    int rc;

    if (add)
        req = cmn_xml_format("<request op=\"disk-add\" vm=\"%s\" path=\"%s\" "
                             "offset=\"%" PRIu64 "\" size=\"%" PRIu64
                             "\" slot=\"%u\" bus=\"%s\"/>",
                             j->vm, path, offset, size, j->disk_slot,
                             j->disk_scsi ? "virtio-scsi" : "virtio-blk");
    else
        req = cmn_xml_format(
            "<request op=\"disk-remove\" vm=\"%s\" slot=\"%u\"/>", j->vm,
            j->disk_slot);
    if (!req)
        return -ENOMEM;
    rc = cd_hva_ask(j->hva_ipc, req, HOTPLUG_MS, msg, sizeof(msg), &doc);
    xmlFreeDoc(doc);
    if (rc < 0)
        cd_errf(j->msg, sizeof(j->msg), "VM '%s': hvagent's %s of slot %u: %s",
                j->vm, add ? "disk-add" : "disk-remove", j->disk_slot, msg);
    return rc;
}

/* Frees extent j->disk_extent of the VM's slot, and stores def_xml in
 * the slot when set. */
static int free_extent(struct cd_csv *c, struct cd_csv_job *j)
{
    struct csv_volume *vol = NULL;
    struct csv_extent e;
    uint32_t slot;
    int rc;

    rc = cd_csv_own_slot(c, j, &vol, &slot);
    if (rc < 0)
        return rc;
    /* Only the VM's own extent, whatever the definition said. */
    rc = csv_extent_get_owned(vol, j->disk_extent, slot, &e);
    if (rc == 0)
        rc = csv_extent_free(vol, j->disk_extent);
    if (rc < 0)
        cd_errf(j->msg, sizeof(j->msg),
                "VM '%s': cannot free extent %" PRIu64 " on CSV '%s': %s",
                j->vm, j->disk_extent, csv_path(vol), cmn_strerror(rc));
    else if (j->def_xml && csv_slot_set_xml(vol, slot, j->def_xml) < 0)
        /* The CDB is the authority; the next change rewrites the copy. */
        cmn_warn(CMN_LOG_CD, "VM '%s': slot %u keeps an older definition",
                 j->vm, slot);
    csv_unlock(vol);
    csv_close(vol);
    return rc;
}

static int disk_add(struct cd_csv *c, struct cd_csv_job *j)
{
    struct res_disk *disk = &j->def->disks[j->disk_index];
    struct csv_volume *vol = NULL;
    struct csv_extent e = {0};
    char path[PATH_MAX];
    uint32_t slot;
    int rc;

    rc = cd_csv_own_slot(c, j, &vol, &slot);
    if (rc < 0)
        return rc;
    snprintf(path, sizeof(path), "%s", csv_path(vol));
    rc = cd_csv_disk_alloc(vol, j, disk, (uint16_t)j->disk_index, slot, &e);
    if (rc < 0)
        goto unlock;
    j->disk_extent = e.id;
    j->disk_size = e.length;
    j->disk_offset = e.offset;
unlock:
    csv_unlock(vol);
    csv_close(vol);
    if (rc < 0)
        return rc;

    /* The guest gets the disk before any definition names it. */
    if (j->hva_ipc[0]) {
        rc = hotplug(j, true, path, e.offset, e.length);
        if (rc < 0) {
            if (free_extent(c, j) < 0)
                cmn_err(CMN_LOG_CD,
                        "VM '%s': extent %" PRIu64 " of a refused disk is "
                        "left on CSV '%s' (the orphan reclaim frees it)",
                        j->vm, e.id, path);
            return rc;
        }
        j->disk_hotplug = true;
    }
    rc = res_vm_serialize(j->def, &j->def_xml);
    if (rc < 0) {
        cd_errf(j->msg, sizeof(j->msg), "VM '%s': %s", j->vm, cmn_strerror(rc));
        return rc;
    }
    if (cd_csv_own_slot(c, j, &vol, &slot) == 0) {
        if (csv_slot_set_xml(vol, slot, j->def_xml) < 0)
            cmn_warn(CMN_LOG_CD, "VM '%s': slot %u keeps an older definition",
                     j->vm, slot);
        csv_unlock(vol);
        csv_close(vol);
    }
    j->msg[0] = '\0';
    cmn_info(CMN_LOG_CD,
             "VM '%s': disk %s, extent %" PRIu64 " (%" PRIu64 " MiB at %" PRIu64
             ") in slot %u%s",
             j->vm, disk->target, e.id, e.length >> 20, e.offset, j->disk_slot,
             j->hva_ipc[0] ? ", hot-plugged" : "");
    return 0;
}

int cd_csv_disk_job(struct cd_csv *c, struct cd_csv_job *j)
{
    int rc;

    switch (j->op) {
    case CD_CSV_DISK_ADD:
        return disk_add(c, j);
    case CD_CSV_DISK_UNPLUG:
        return hotplug(j, false, NULL, 0, 0);
    case CD_CSV_DISK_FREE:
        if (j->hva_ipc[0]) {
            rc = hotplug(j, false, NULL, 0, 0);
            if (rc < 0)
                return rc; /* the guest has it: the extent stays */
        }
        return free_extent(c, j);
    default:
        return -EINVAL;
    }
}
