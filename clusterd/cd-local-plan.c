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

int cd_local_edit_check(const struct cd_cdb *cdb, const char *ref,
                        const struct res_vm *def, char *err, size_t errlen)
{
    const size_t plen = strlen(CD_LOCAL_REF_PREFIX);
    char vol[CD_NAME_MAX];
    const char *home;
    int rc;

    if (strncmp(ref, CD_LOCAL_REF_PREFIX, plen) != 0)
        return 0;
    home = ref + plen;
    rc = cd_local_vm_volume(cdb, def, vol, err, errlen);
    if (rc < 0)
        return rc;
    if (rc == 1 && strcmp(vol, home) == 0)
        return 0;
    cd_errf(err, errlen,
            "VM '%s' is on node-local volume '%s': the new definition puts "
            "its disks %s%s%s; an edit moves no disk (keep <allocate "
            "volume=\"%s\" .../> on every disk; 'clusterctl move-vm' moves "
            "them with the VM)",
            def->name, home, rc == 1 ? "on volume '" : "elsewhere",
            rc == 1 ? vol : "", rc == 1 ? "'" : "", home);
    return -CD_E_BAD_VALUE;
}

/* Why each refusal: the disks are copied into files of the target
 * volume's directory, which only that volume's node sees (cd-local.h),
 * so the target volume decides the target node; naming a node whose
 * local volume is ambiguous, or a volume of a third node, is a mistake
 * to report rather than guess around. */
int cd_local_move_target(const struct cd_cdb *cdb, const char *vm,
                         const char *from, const char *to_node,
                         const char *to_volume, char *ret_volume,
                         char *ret_node, char *err, size_t errlen)
{
    const struct cd_volume *src = cd_local_volume(cdb, from);
    const struct cd_volume *dst = NULL;
    bool has_node = to_node && to_node[0];
    char names[256] = "";
    size_t n = 0, len = 0;

    if (!src) {
        cd_errf(err, errlen, "VM '%s': '%s' is not a node-local volume", vm,
                from);
        return -CD_E_BAD_VALUE;
    }
    if (has_node && !cd_cdb_node_by_name(cdb, to_node)) {
        cd_errf(err, errlen,
                "VM '%s': node '%s' does not exist (see 'clusterctl node "
                "list')",
                vm, to_node);
        return -CD_E_NOT_FOUND;
    }
    if (to_volume && to_volume[0]) {
        size_t i;
        for (i = 0; i < cd_cdb_volume_count(cdb); i++)
            if (!strcmp(cd_cdb_volume(cdb, i)->name, to_volume))
                break;
        if (i == cd_cdb_volume_count(cdb)) {
            cd_errf(err, errlen,
                    "VM '%s': volume '%s' does not exist (see 'clusterctl "
                    "volume list')",
                    vm, to_volume);
            return -CD_E_NOT_FOUND;
        }
        dst = cd_cdb_volume(cdb, i);
        if (!dst->local) {
            cd_errf(err, errlen,
                    "VM '%s' is on node-local volume '%s': a live move to "
                    "cluster-shared volume '%s' is not available yet (only "
                    "to another node's local volume)",
                    vm, from, to_volume);
            return -ENOTSUP;
        }
        if (has_node && strcmp(dst->node, to_node) != 0) {
            cd_errf(err, errlen,
                    "VM '%s': volume '%s' is node-local to node '%s', not to "
                    "the target node '%s' (name a volume of '%s', or "
                    "--to %s)",
                    vm, to_volume, dst->node, to_node, to_node, dst->node);
            return -CD_E_BAD_VALUE;
        }
    } else if (!has_node) {
        cd_errf(err, errlen,
                "VM '%s' is on node-local volume '%s' of node '%s': a live "
                "move names the target node (--to NODE) or its local volume "
                "(--to-volume VOLUME)",
                vm, from, src->node);
        return -CD_E_BAD_VALUE;
    } else {
        for (size_t i = 0; i < cd_cdb_volume_count(cdb); i++) {
            const struct cd_volume *v = cd_cdb_volume(cdb, i);
            if (!v->local || strcmp(v->node, to_node) != 0)
                continue;
            dst = v;
            if (len < sizeof(names))
                len += (size_t)snprintf(names + len, sizeof(names) - len,
                                        "%s'%s'", n ? ", " : "", v->name);
            n++;
        }
        if (n != 1) {
            if (n == 0)
                cd_errf(err, errlen,
                        "VM '%s' is on node-local volume '%s': node '%s' has "
                        "no local volume to copy its disks to (add one: "
                        "clusterctl volume add NAME --local --node %s --path "
                        "DIR)",
                        vm, from, to_node, to_node);
            else
                cd_errf(err, errlen,
                        "VM '%s' is on node-local volume '%s': node '%s' has "
                        "local volumes %s: name one with --to-volume",
                        vm, from, to_node, names);
            return -CD_E_BAD_VALUE;
        }
    }
    if (!strcmp(dst->node, src->node)) {
        cd_errf(err, errlen,
                "VM '%s' is on node-local volume '%s' of node '%s': a live "
                "move with storage copy goes to another node (volume '%s' is "
                "on '%s' too)",
                vm, from, src->node, dst->name, dst->node);
        return -CD_E_BAD_VALUE;
    }
    snprintf(ret_volume, CD_NAME_MAX, "%s", dst->name);
    snprintf(ret_node, CD_NAME_MAX, "%s", dst->node);
    return 0;
}
