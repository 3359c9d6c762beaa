/* Node-local volumes (issue 15, first part): a directory on one node
 * holding the disks of VMs that do not live on a cluster-shared volume.
 *
 * Safety. A VM on the CSV runs only in a QEMU holding its sanlock lease,
 * which is what keeps it from running on two hosts. A local volume has no
 * lockspace, so its VMs have no lease; "never on two hosts" rests instead
 * on their disks being reachable from one node only, and on three checks
 * that each refuse a start anywhere else:
 *   1. placement (res-place.h, local_node): the coordinator never chooses
 *      another node, not for a start, a failover, a drain or a move;
 *   2. the executing clusterd (cd_local_runtime): the volume's node must
 *      be this node, and the directory's marker (HVA_LOCAL_MARKER, written
 *      by that node's clusterd when the volume was added) must name the
 *      volume and this node;
 *   3. hvagent (hva_local_check): the same, from its own --node name and
 *      the marker, before it defines the VM.
 * The marker is what makes 2 and 3 worth more than 1: a directory that
 * another node also sees (an NFS mount added as "local") names the node
 * it was added on, so the other node refuses the VM even if the CDB or
 * the coordinator were wrong. When the node dies its VMs stay down
 * (nothing else has their disks) and status says so.
 */
#ifndef KVMC_CD_LOCAL_H
#define KVMC_CD_LOCAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clusterd/cd.h"
#include "resources/res-vm.h"

/* ------------------------------------------------ pure (libclusterd) */

/* The local volume a definition's disks are on: 0 when none names a
 * local volume of `cdb` (a CSV VM, or one without disks), 1 with its name
 * in ret_volume (CD_NAME_MAX) when every disk is a size to allocate on the
 * same local volume and the policy's possible owners (when listed)
 * include its node; else -CD_E_BAD_VALUE with `err` naming the VM, the
 * disk and the volume. */
int cd_local_vm_volume(const struct cd_cdb *cdb, const struct res_vm *def,
                       char *ret_volume, char *err, size_t errlen);

/* `vm edit` of a VM whose ref is `ref` with the new definition `def`:
 * 0 when the VM is not on a local volume (ref) or the new definition
 * keeps every disk on that volume (cd_local_vm_volume, possible owners
 * included); else -CD_E_BAD_VALUE with `err` naming the VM and the
 * volume: an edit moves no disk (they go with `move-vm` or
 * `move-storage`), and a local VM whose owners leave out its volume's
 * node could never run. */
int cd_local_edit_check(const struct cd_cdb *cdb, const char *ref,
                        const struct res_vm *def, char *err, size_t errlen);

/* The local volume named `name`, or NULL (also for a CSV volume). */
const struct cd_volume *cd_local_volume(const struct cd_cdb *cdb,
                                        const char *name);

/* A live move with storage copy (issue 15, second part) of a VM whose
 * disks are on node-local volume `from` (the VM `vm`): the target volume
 * its disks are copied to. `to_volume` (NULL or "" when not given) must
 * be a local volume of another node than `from`'s; without it, the
 * target node `to_node` (NULL or "" when not given) must have exactly
 * one local volume, which is chosen; with both, the volume must be
 * `to_node`'s. 0 with the volume in ret_volume and its node in ret_node
 * (CD_NAME_MAX each); else an error with `err` naming the VM, the
 * volumes and nodes involved and what to do: -CD_E_NOT_FOUND (an
 * unknown volume or node), -CD_E_BAD_VALUE (not a target: the same node,
 * another node's volume, none or several on the node, nothing named),
 * -ENOTSUP (a cluster-shared volume as the target: not available yet).
 * Pure: the caller checks the VM's possible owners through placement. */
int cd_local_move_target(const struct cd_cdb *cdb, const char *vm,
                         const char *from, const char *to_node,
                         const char *to_volume, char *ret_volume,
                         char *ret_node, char *err, size_t errlen);

/* ------------------------------------- disk files (cd-local-files.c) */

/* What cd_local_files_make created: the VM's directory, and a bit per
 * disk whose file it created (not one that was there already). */
#define CD_LOCAL_FILES_MAX 16
struct cd_local_made {
    bool dir;
    uint32_t files;
};

/* The files DIR/TARGET.img of n disks (n <= CD_LOCAL_FILES_MAX) in `dir`
 * (made when missing): created sparse when missing, grown to sizes[i]
 * when smaller, never shrunk. 0 with what it created in ret_made; on
 * failure, negative errno with `err` naming the VM, disk and file, and
 * what it had created removed again. */
int cd_local_files_make(const char *dir, const char *vm,
                        const char (*targets)[RES_TARGET_MAX],
                        const uint64_t *sizes, size_t n,
                        struct cd_local_made *ret_made, char *err,
                        size_t errlen);
/* Removes exactly what `made` says was created (the directory only when
 * empty): a failed move's target keeps any file that was there before. */
void cd_local_files_undo(const char *dir, const char (*targets)[RES_TARGET_MAX],
                         size_t n, const struct cd_local_made *made);

/* ----------------------------------------------------- daemon glue */

struct cd_daemon;
struct cd_hva_job;
struct cmn_ipc_conn;
struct _xmlNode;

/* `volume add NAME --local --node NODE --path DIR` (request
 * volume-add-local): refused at once for an unknown node, a bad path or
 * a name taken, and on another node than NODE (only NODE's clusterd sees
 * the directory); on NODE, DIR must be a canonical directory whose marker
 * is absent (then written) or names this volume and node, and the CDB
 * change is submitted (a refused change removes a marker it wrote). */
int cd_local_volume_add(struct cd_daemon *d, struct cmn_ipc_conn *conn,
                        struct _xmlNode *req, char **ret);

/* A VM of `v` (local ref) is started or defined on this node: refused
 * (msg, negative) unless this node is its volume's; else `j` is set up
 * so that its worker creates the disk files that are missing and adds
 * the <disk>s and <local> to the runtime <vm> (cd_local_prepare). */
int cd_local_runtime(struct cd_daemon *d, const struct cd_vm *v,
                     const struct res_vm *def, struct cd_hva_job *j, char *msg,
                     size_t len);

/* move-storage of a VM on a local volume or to one: not available yet;
 * 1 with the refusal in *ret, else 0. */
int cd_local_refuse_move_storage(struct cd_daemon *d, struct _xmlNode *req,
                                 const char *vm, char **ret);

/* move-vm --live of a VM on a local volume to another node or volume
 * (request attributes `to`, `volume`): the target volume is chosen by
 * cd_local_move_target, whose refusals are the answer; a target found is
 * refused as not available yet (the storage copy is not executed yet).
 * 1 with the refusal in *ret, else 0 (not a local VM, a quick move, or
 * nothing named: placement refuses as before). */
int cd_local_refuse_move_vm(struct cd_daemon *d, struct _xmlNode *req,
                            const char *vm, char **ret);

#endif
