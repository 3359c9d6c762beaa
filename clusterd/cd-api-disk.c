/* `vm disk add` and `vm disk remove`: disks of a VM on the CSV, added and
 * removed while it runs or while it is stopped.
 *
 * The order of the steps keeps one invariant: the CDB names a disk only
 * while its extent exists, and, when the VM runs, only while its QEMU has
 * the device (a migration target or a failover defines the VM from the
 * CDB, and a live migration needs the target's devices to be the
 * source's).
 *   add:    extent allocated under the metadata lease (owned by the VM's
 *           slot) -> hvagent's disk-add when the VM runs -> the slot's
 *           copy -> the CDB. A failure before the CDB frees the extent
 *           (and unplugs the disk again), so a refused add changes
 *           nothing.
 *   remove: hvagent's disk-remove when the VM runs (done once QEMU
 *           reported DEVICE_DELETED) -> the CDB -> the extent freed.
 *
 * The whole request runs on the node the VM runs on, whose hvagent alone
 * can hot-plug into its QEMU: asked on another node, clusterd passes it
 * there over corosync (cd-fwd.h) and relays the answer; that node checks
 * it as if it had been asked, and a forwarded request whose VM is no
 * longer there is refused, never passed on again. A stopped VM's disks
 * change on the node asked. A VM with an action in flight (a start, a
 * stop, a move) is refused on the node that runs the request: the
 * action's QEMU could be defined from the definition before or after the
 * change, and every member sees the same actions (the coordinator's
 * replicated state). Inputs are checked before anything changes.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <libxml/tree.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clusterd/cd-coord.h"
#include "clusterd/cd-csv.h"
#include "clusterd/cd-daemon.h"
#include "clusterd/cd-fwd.h"
#include "clusterd/cd-int.h"
#include "common/cmn-ipc.h"
#include "common/cmn-log.h"
#include "common/cmn-xml.h"
#include "hvagent/hva-proto.h"
#include "resources/res-vm.h"

static void answer_err(struct cd_csv_job *j, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void answer_err(struct cd_csv_job *j, int rc, const char *fmt, ...)
{
    char msg[1024], *text;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    text = cd_error_text(rc, msg);
    cd_csv_job_answer(j, text);
    free(text);
}

static void answer_ok(struct cd_csv_job *j, bool add)
{
    const struct res_disk *disk = add ? &j->def->disks[j->disk_index] : NULL;
    char *text;

    if (add)
        text = cmn_xml_format(
            "<ok vm=\"%s\" disk=\"%s\" slot=\"%u\" volume=\"%s\" "
            "extent=\"%" PRIu64 "\" offset=\"%" PRIu64 "\" size=\"%" PRIu64
            "\" hotplug=\"%s\" bus=\"%s\"/>",
            j->vm, disk->target, j->disk_slot, disk->volume, j->disk_extent,
            j->disk_offset, j->disk_size, j->disk_hotplug ? "yes" : "no",
            res_disk_bus_str(disk->bus));
    else
        text = cmn_xml_format("<ok vm=\"%s\" disk=\"%s\" slot=\"%u\" "
                              "extent=\"%" PRIu64 "\" hotplug=\"%s\"/>",
                              j->vm, j->disk_target, j->disk_slot,
                              j->disk_extent, j->disk_hotplug ? "yes" : "no");
    cd_csv_job_answer(j, text);
    free(text);
}

/* ---------------------------------------------------------------- add */

static void add_undone(void *data, struct cd_csv_job *j)
{
    (void)data;
    if (j->rc < 0)
        cmn_err(CMN_LOG_CD, "VM '%s': undoing the disk add: %s", j->vm, j->msg);
    /* The CDB's refusal, kept in j->reply. */
    cd_csv_job_answer(j, j->reply);
}

static void add_applied(struct cd_daemon *d, struct cmn_ipc_conn *conn, int rc,
                        char *reply, void *arg)
{
    struct cd_csv_job *j = arg;

    j->conn = conn;
    if (rc == 0) {
        free(reply);
        answer_ok(j, true);
        return;
    }
    j->reply = reply;
    if (rc == -CD_E_NO_CLUSTER) {
        /* Maybe applied by the others: the disk stays rather than vanish
         * under a definition that names it. */
        cmn_warn(CMN_LOG_CD,
                 "VM '%s': disk add lost with corosync; extent %" PRIu64
                 " is kept (see 'clusterctl vm show %s')",
                 j->vm, j->disk_extent, j->vm);
        cd_csv_job_answer(j, j->reply);
        return;
    }
    /* Refused: unplug and free, the slot gets the old definition back. */
    free(j->def_xml);
    j->def_xml = NULL;
    {
        const struct cd_vm *v = cd_cdb_vm_by_name(cd_daemon_cdb(d), j->vm);
        if (v && v->definition)
            j->def_xml = strdup(v->definition);
    }
    j->op = CD_CSV_DISK_FREE;
    if (cd_csv_run(d->csv, j, add_undone, d) < 0)
        cd_csv_job_answer(j, j->reply);
}

static void add_done(void *data, struct cd_csv_job *j)
{
    struct cd_daemon *d = data;
    struct cd_op op = {.type = CD_OP_SET_VM_DEF};
    char *ret = NULL;
    int rc;

    if (j->rc < 0) {
        answer_err(j, j->rc, "%s (nothing was changed)", j->msg);
        return;
    }
    snprintf(op.name, sizeof(op.name), "%s", j->vm);
    snprintf(op.arg, sizeof(op.arg), "%s", j->priority);
    op.text = j->def_xml;
    rc = cd_ipc_submit_cb(d, j->conn, &op, add_applied, j, &ret);
    if (rc == CMN_IPC_DEFERRED) {
        if (j->conn) /* the pending request has its own */
            cmn_ipc_conn_unref(j->conn);
        j->conn = NULL;
        return;
    }
    if (rc < 0 && !ret)
        cd_error_reply(&ret, rc, "VM '%s': cannot submit the change", j->vm);
    /* Refused at once: undone as a refusal after the fact. */
    j->reply = ret;
    free(j->def_xml);
    j->def_xml = NULL;
    j->op = CD_CSV_DISK_FREE;
    if (cd_csv_run(d->csv, j, add_undone, d) < 0)
        cd_csv_job_answer(j, j->reply);
}

/* ------------------------------------------------------------- remove */

static void remove_freed(void *data, struct cd_csv_job *j)
{
    (void)data;
    if (j->rc < 0) {
        answer_err(j, j->rc,
                   "VM '%s': disk %s is removed, but its extent was not "
                   "freed: %s (see 'clusterctl volume check')",
                   j->vm, j->disk_target, j->msg);
        return;
    }
    answer_ok(j, false);
}

static void remove_applied(struct cd_daemon *d, struct cmn_ipc_conn *conn,
                           int rc, char *reply, void *arg)
{
    struct cd_csv_job *j = arg;

    j->conn = conn;
    if (rc < 0) {
        cmn_err(CMN_LOG_CD,
                "VM '%s': disk %s %s, but the cluster database was not "
                "changed",
                j->vm, j->disk_target,
                j->disk_hotplug ? "was unplugged" : "was to be removed");
        j->reply = reply;
        cd_csv_job_answer(j, reply);
        return;
    }
    free(reply);
    /* The guest let go of it and no definition names it: free it. */
    j->op = CD_CSV_DISK_FREE;
    j->hva_ipc[0] = '\0';
    if (cd_csv_run(d->csv, j, remove_freed, d) < 0)
        answer_err(j, -ENOMEM, "VM '%s': cannot start a worker for the CSV",
                   j->vm);
}

/* The CDB change of a removal: CMN_IPC_DEFERRED (the job goes on), or
 * refused at once with the answer in *ret (the job is the caller's). */
static int remove_submit(struct cd_daemon *d, struct cd_csv_job *j, char **ret)
{
    struct cd_op op = {.type = CD_OP_SET_VM_DEF};
    int rc;

    snprintf(op.name, sizeof(op.name), "%s", j->vm);
    snprintf(op.arg, sizeof(op.arg), "%s", j->priority);
    op.text = j->def_xml;
    rc = cd_ipc_submit_cb(d, j->conn, &op, remove_applied, j, ret);
    if (rc == CMN_IPC_DEFERRED) {
        if (j->conn)
            cmn_ipc_conn_unref(j->conn);
        j->conn = NULL;
        return rc;
    }
    if (rc < 0 && !*ret)
        cd_error_reply(ret, rc, "VM '%s': cannot submit the change", j->vm);
    return *ret ? 0 : -ENOMEM;
}

static void unplugged(void *data, struct cd_csv_job *j)
{
    char *ret = NULL;

    if (j->rc < 0) {
        answer_err(j, j->rc, "%s (nothing was changed)", j->msg);
        return;
    }
    j->disk_hotplug = true;
    if (remove_submit(data, j, &ret) != CMN_IPC_DEFERRED) {
        /* The disk is out of the guest but still in the CDB. */
        cmn_err(CMN_LOG_CD,
                "VM '%s': disk %s was unplugged, but the "
                "cluster database was not changed",
                j->vm, j->disk_target);
        cd_csv_job_answer(j, ret);
        free(ret);
    }
}

/* ------------------------------------------------------------ request */

/* Where the VM is, for a change of its disks: 1 (go on) with hva_ipc
 * set when it runs here, "" when it is stopped; else 0 with the refusal
 * in *ret (or -ENOMEM). */
static int vm_where(struct cd_daemon *d, const struct cd_vm *cur,
                    const struct cd_fwd_origin *from, char *hva_ipc, size_t len,
                    char **ret)
{
    struct cd_coord *co = cd_orch_coord(d);
    const struct cd_action *a = cd_coord_active(co, cur->name);
    enum cd_rt_state st = CD_RT_STOPPED;
    uint32_t node = cd_coord_vm_node(co, cur->name, &st);
    const struct cd_node *n;

    hva_ipc[0] = '\0';
    if (!d->replica || !d->quorate || !cd_orch_in_group(d))
        return cd_error_reply(
            ret, -CD_E_NO_QUORUM,
            "this node has no quorum: a VM's disks change only "
            "in a quorate cluster (see 'clusterctl status')");
    if (a || cd_coord_req(co, cur->name))
        return cd_error_reply(
            ret, -CD_E_BUSY,
            "VM '%s' has a %s in progress: retry once it is done "
            "(see 'clusterctl vm show %s')",
            cur->name, a ? cd_act_kind_name(a->kind) : "move", cur->name);
    if (node && node != d->nodeid && from->node) {
        /* It moved while the request was on its way: not passed on. */
        n = cd_cdb_node_by_id(cd_daemon_cdb(d), node);
        return cd_error_reply(
            ret, -CD_E_BUSY,
            "VM '%s' runs on node '%s' now, not on node '%s' where the "
            "request was passed: retry (nothing was changed)",
            cur->name, n ? n->name : "?",
            cd_node_name(cd_daemon_cdb(d), d->nodeid));
    }
    if (node && node != d->nodeid)
        return 2; /* to be forwarded there */
    if (node && st != CD_RT_RUNNING && st != CD_RT_PAUSED)
        return cd_error_reply(ret, -CD_E_IN_USE,
                              "VM '%s' is %s here: retry once it runs",
                              cur->name, cd_rt_state_name(st));
    if (!node && cur->want_running)
        return cd_error_reply(
            ret, -CD_E_IN_USE,
            "VM '%s' is meant to run but runs nowhere yet: retry "
            "once it runs (see 'clusterctl explain %s'), or stop "
            "it first",
            cur->name, cur->name);
    if (node)
        snprintf(hva_ipc, len, "%s", d->hva_ipc[0] ? d->hva_ipc : HVA_IPC_NAME);
    return 1;
}

static int disk_add(struct cd_daemon *d, struct cmn_ipc_conn *conn,
                    const struct cd_fwd_origin *from, xmlNode *req,
                    const struct cd_vm *cur, struct res_vm *def,
                    const char *hva_ipc, char **ret)
{
    char size[64] = "", volume[CD_NAME_MAX + 8] = "", busname[32] = "";
    enum res_disk_bus bus = RES_BUS_VIRTIO_BLK;
    char err[512];
    struct cd_csv_job *j;
    struct res_disk nd;
    uint64_t bytes;
    int rc;

    cmn_xml_attr_copy(req, "size", size, sizeof(size));
    cmn_xml_attr_copy(req, "volume", volume, sizeof(volume));
    cmn_xml_attr_copy(req, "bus", busname, sizeof(busname));
    if (!strcmp(busname, "virtio-scsi"))
        bus = RES_BUS_VIRTIO_SCSI;
    else if (busname[0] && strcmp(busname, "virtio-blk"))
        return cd_error_reply(ret, -CD_E_BAD_VALUE,
                              "VM '%s': bus '%s' is not virtio-blk or "
                              "virtio-scsi (nothing was changed)",
                              cur->name, busname);
    rc = res_disk_size_parse(size, &bytes, err, sizeof(err));
    if (rc < 0)
        return cd_error_reply(ret, rc, "VM '%s': %s (nothing was changed)",
                              cur->name, err);
    if (volume[0] &&
        (!cmn_name_valid(volume) || strlen(volume) >= RES_NAME_MAX))
        return cd_error_reply(ret, -CD_E_BAD_VALUE,
                              "volume '%s' is not a valid volume name (see "
                              "'clusterctl volume list'; nothing was changed)",
                              volume);
    rc = res_vm_disk_next(def, bus, &nd, err, sizeof(err));
    if (rc < 0)
        return cd_error_reply(ret, rc, "%s (nothing was changed)", err);
    nd.source = RES_DISK_ALLOCATE;
    nd.size = bytes;
    snprintf(nd.volume, sizeof(nd.volume), "%s", volume);
    def->disks[def->n_disks++] = nd;
    rc = res_vm_validate(def, cur->name, err, sizeof(err));
    if (rc < 0)
        return cd_error_reply(ret, rc, "VM '%s': %s (nothing was changed)",
                              cur->name, err);

    j = calloc(1, sizeof(*j));
    if (!j)
        return -ENOMEM;
    j->op = CD_CSV_DISK_ADD;
    snprintf(j->vm, sizeof(j->vm), "%s", cur->name);
    snprintf(j->ref, sizeof(j->ref), "%s", cur->ref);
    snprintf(j->priority, sizeof(j->priority), "%s",
             res_priority_str(def->policy.priority));
    snprintf(j->hva_ipc, sizeof(j->hva_ipc), "%s", hva_ipc);
    j->disk_index = def->n_disks - 1;
    j->disk_slot = nd.slot;
    j->disk_scsi = bus == RES_BUS_VIRTIO_SCSI;
    j->def = def;
    cd_csv_job_origin(j, d, conn, from);
    rc = cd_csv_run(d->csv, j, add_done, d);
    if (rc < 0) {
        j->def = NULL;             /* the caller's */
        cd_csv_job_drop_origin(j); /* answered by the caller */
        cd_csv_job_free(j);
        return cd_error_reply(ret, rc, "cannot start a worker for the CSV");
    }
    return CMN_IPC_DEFERRED;
}

static int disk_remove(struct cd_daemon *d, struct cmn_ipc_conn *conn,
                       const struct cd_fwd_origin *from, xmlNode *req,
                       const struct cd_vm *cur, struct res_vm *def,
                       const char *hva_ipc, char **ret)
{
    char target[RES_TARGET_MAX + 8] = "", names[256] = "";
    char home[CD_NAME_MAX];
    uint64_t hstate;
    uint32_t hslot;
    struct cd_csv_job *j;
    struct res_disk gone;
    int i, rc;

    cmn_xml_attr_copy(req, "disk", target, sizeof(target));
    i = res_vm_disk_find(def, target);
    if (i < 0) {
        for (size_t k = 0; k < def->n_disks; k++)
            snprintf(names + strlen(names), sizeof(names) - strlen(names),
                     "%s%s", k ? ", " : "", def->disks[k].target);
        return cd_error_reply(ret, -CD_E_NOT_FOUND,
                              "VM '%s' has no disk '%s' (its disks: %s; see "
                              "'clusterctl vm show %s')",
                              cur->name, target, names[0] ? names : "none",
                              cur->name);
    }
    gone = def->disks[i];
    if (!gone.slot || gone.source != RES_DISK_EXTENT)
        return cd_error_reply(
            ret, -CD_E_BAD_VALUE,
            "VM '%s': disk %s is not in a hot-plug slot (a disk "
            "the VM was added with, such as its boot disk): only "
            "disks added with 'clusterctl vm disk add' can be "
            "removed",
            cur->name, target);
    /* Its extent belongs to the VM's disk slot on that volume
     * (move-storage --disk), which the free below does not open. */
    if (gone.volume[0] &&
        (cd_csv_ref_parse(cur->ref, home, sizeof(home), &hslot, &hstate) < 0 ||
         strcmp(home, gone.volume) != 0))
        return cd_error_reply(ret, -CD_E_BAD_VALUE,
                              "VM '%s': disk %s is on volume '%s', not beside "
                              "its slot: move it back first ('clusterctl "
                              "move-storage %s --to-volume VOLUME --disk %s'; "
                              "nothing was changed)",
                              cur->name, target, gone.volume, cur->name,
                              target);
    memmove(&def->disks[i], &def->disks[i + 1],
            (def->n_disks - (size_t)i - 1) * sizeof(def->disks[0]));
    def->n_disks--;

    j = calloc(1, sizeof(*j));
    if (!j)
        return -ENOMEM;
    snprintf(j->vm, sizeof(j->vm), "%s", cur->name);
    snprintf(j->ref, sizeof(j->ref), "%s", cur->ref);
    snprintf(j->priority, sizeof(j->priority), "%s",
             res_priority_str(def->policy.priority));
    snprintf(j->hva_ipc, sizeof(j->hva_ipc), "%s", hva_ipc);
    snprintf(j->disk_target, sizeof(j->disk_target), "%s", gone.target);
    j->disk_slot = gone.slot;
    j->disk_extent = gone.extent;
    rc = res_vm_serialize(def, &j->def_xml);
    if (rc < 0) {
        cd_csv_job_free(j);
        return rc;
    }
    cd_csv_job_origin(j, d, conn, from);
    if (!hva_ipc[0]) {
        /* Stopped: the definition, then the extent. */
        rc = remove_submit(d, j, ret);
        if (rc != CMN_IPC_DEFERRED) {
            cd_csv_job_drop_origin(j); /* answered by the caller */
            cd_csv_job_free(j);
        }
        return rc;
    }
    j->op = CD_CSV_DISK_UNPLUG;
    rc = cd_csv_run(d->csv, j, unplugged, d);
    if (rc < 0) {
        cd_csv_job_drop_origin(j); /* answered by the caller */
        cd_csv_job_free(j);
        return cd_error_reply(ret, rc, "cannot start a worker for the CSV");
    }
    return CMN_IPC_DEFERRED;
}

/* The request's text for the node the VM runs on: its attributes, each
 * bounded as this node read it. */
static char *forward_text(xmlNode *req, const char *vm)
{
    char action[16] = "", size[64] = "", volume[CD_NAME_MAX + 8] = "";
    char disk[RES_TARGET_MAX + 8] = "", bus[32] = "";

    cmn_xml_attr_copy(req, "action", action, sizeof(action));
    cmn_xml_attr_copy(req, "size", size, sizeof(size));
    cmn_xml_attr_copy(req, "volume", volume, sizeof(volume));
    cmn_xml_attr_copy(req, "disk", disk, sizeof(disk));
    cmn_xml_attr_copy(req, "bus", bus, sizeof(bus));
    return cmn_xml_format("<request op=\"vm-disk\" action=\"%s\" vm=\"%s\" "
                          "size=\"%s\" volume=\"%s\" disk=\"%s\" "
                          "bus=\"%s\"/>",
                          action, vm, size, volume, disk, bus);
}

static int vm_disk(struct cd_daemon *d, struct cmn_ipc_conn *conn,
                   const struct cd_fwd_origin *from, xmlNode *req,
                   const char *vm, char **ret)
{
    const struct cd_vm *cur = cd_cdb_vm_by_name(cd_daemon_cdb(d), vm);
    char action[16] = "", volume[CD_NAME_MAX], hva_ipc[64], err[1024];
    struct res_vm *def = NULL;
    uint64_t state;
    uint32_t slot;
    int rc;

    cmn_xml_attr_copy(req, "action", action, sizeof(action));
    if (strcmp(action, "add") && strcmp(action, "remove"))
        return cd_error_reply(ret, -EINVAL,
                              "vm-disk: action '%s' is not add or "
                              "remove",
                              action);
    if (!cur)
        return cd_error_reply(
            ret, -CD_E_NOT_FOUND,
            "VM '%s' does not exist (see 'clusterctl vm list')", vm);
    if (!d->csv || !cur->definition ||
        cd_csv_ref_parse(cur->ref, volume, sizeof(volume), &slot, &state) < 0)
        return cd_error_reply(
            ret, -CD_E_BAD_VALUE,
            "VM '%s' is not on the cluster-shared volume: disks "
            "are added to and removed from CSV VMs only",
            vm);
    rc = res_vm_parse(cur->definition, strlen(cur->definition), vm, &def, err,
                      sizeof(err));
    if (rc < 0)
        return cd_error_reply(ret, rc, "VM '%s': its stored definition: %s", vm,
                              err);
    rc = vm_where(d, cur, from, hva_ipc, sizeof(hva_ipc), ret);
    if (rc <= 0)
        goto out;
    if (rc == 2) {
        char *text = forward_text(req, vm);
        enum cd_rt_state st;

        rc = text ? cd_fwd_request(d, conn,
                                   cd_coord_vm_node(cd_orch_coord(d), vm, &st),
                                   vm, text, false, ret)
                  : -ENOMEM;
        free(text);
        goto out;
    }
    if (!strcmp(action, "add")) {
        rc = disk_add(d, conn, from, req, cur, def, hva_ipc, ret);
        if (rc == CMN_IPC_DEFERRED)
            def = NULL; /* the job's */
    } else {
        rc = disk_remove(d, conn, from, req, cur, def, hva_ipc, ret);
    }
out:
    res_vm_free(def);
    return rc;
}

int cd_api_vm_disk(struct cd_daemon *d, struct cmn_ipc_conn *conn, xmlNode *req,
                   const char *vm, char **ret)
{
    const struct cd_fwd_origin here = {0};

    return vm_disk(d, conn, &here, req, vm, ret);
}

int cd_api_vm_disk_forwarded(struct cd_daemon *d, uint32_t origin, uint64_t id,
                             xmlNode *req, const char *vm, char **ret)
{
    const struct cd_fwd_origin from = {.node = origin, .id = id};

    return vm_disk(d, NULL, &from, req, vm, ret);
}
