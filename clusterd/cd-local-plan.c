/* Node-local volumes: the pure decisions (cd-local.h), unit-tested. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "clusterd/cd-int.h"
#include "clusterd/cd-local.h"

const struct cd_volume *cd_local_volume(const struct cd_cdb *cdb,
                                        const char *name)
{
    for (size_t i = 0; i < cd_cdb_volume_count(cdb); i++) {
        const struct cd_volume *v = cd_cdb_volume(cdb, i);
        if (v->local && !strcmp(v->name, name))
            return v;
    }
    return NULL;
}

int cd_local_vm_volume(const struct cd_cdb *cdb, const struct res_vm *def,
                       char *ret_volume, char *err, size_t errlen)
{
    const struct cd_volume *lv = NULL;
    const struct res_disk *first = NULL;

    for (size_t i = 0; i < def->n_disks; i++) {
        const struct cd_volume *v = cd_local_volume(cdb, def->disks[i].volume);
        if (v && !lv) {
            lv = v;
            first = &def->disks[i];
        }
    }
    if (!lv)
        return 0;
    /* QEMU's disks of one VM live on one node or the VM could not run
     * anywhere: every disk on this volume, each a size to create there. */
    for (size_t i = 0; i < def->n_disks; i++) {
        const struct res_disk *dk = &def->disks[i];
        if (strcmp(dk->volume, lv->name) != 0) {
            cd_errf(err, errlen,
                    "VM '%s': disk %s is on node-local volume '%s' but disk "
                    "%s on %s%s%s: all disks of a VM on a local volume are "
                    "on that volume",
                    def->name, first->target, lv->name, dk->target,
                    dk->volume[0] ? "volume '" : "any volume",
                    dk->volume[0] ? dk->volume : "", dk->volume[0] ? "'" : "");
            return -CD_E_BAD_VALUE;
        }
        if (dk->source != RES_DISK_ALLOCATE) {
            cd_errf(err, errlen,
                    "VM '%s': disk %s names an extent: a disk on node-local "
                    "volume '%s' is given by its size (<allocate "
                    "volume=\"%s\" size=\"...\"/>)",
                    def->name, dk->target, lv->name, lv->name);
            return -CD_E_BAD_VALUE;
        }
    }
    if (def->policy.n_possible) {
        bool owner = false;
        for (size_t i = 0; i < def->policy.n_possible; i++)
            owner |= !strcmp(def->policy.possible[i], lv->node);
        if (!owner) {
            cd_errf(err, errlen,
                    "VM '%s': its disks are on node-local volume '%s' of "
                    "node '%s', which is not among its possible owners: it "
                    "could never run",
                    def->name, lv->name, lv->node);
            return -CD_E_BAD_VALUE;
        }
    }
    snprintf(ret_volume, CD_NAME_MAX, "%s", lv->name);
    return 1;
}
