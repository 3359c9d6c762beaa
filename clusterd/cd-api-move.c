/* `move-storage VM --to-volume VOL` of a stopped VM (request op
 * move-storage; action="status" for its progress).
 *
 * Steps, each after the previous one succeeded:
 *   refusals in the loop (nothing changed) -> PREPARE in cd-csv's worker:
 *   the source slot's VM lease held (no QEMU may start the VM meanwhile),
 *   the target's slot and extents under its metadata lease (a target too
 *   small is refused with the numbers) -> the client is answered ->
 *   COPY: O_DIRECT copy of every extent, the target slot keeps the new
 *   definition -> the CDB takes the definition and the reference in one
 *   op (CD_OP_SET_VM_DEF with arg2) -> FINISH: the source freed.
 * A failure before the CDB change frees the target (FINISH undo): the VM
 * keeps its source disks, and the CDB and the source are as they were.
 *
 * One move per VM on this node (the table below); another node's move of
 * the same VM finds the source lease held and is refused.
 *
 * A running VM's move runs on the node it runs on (its hvagent mirrors):
 * the move itself, --status and --cancel asked on another node are passed
 * there over corosync (cd-fwd.h) and answered as there; a forwarded
 * request is never passed on again (the VM moved meanwhile: refused, the
 * user retries). A stopped VM's move runs on the node asked, whose table
 * alone knows it: elsewhere --status says so.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <libxml/tree.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clusterd/cd-coord.h"
#include "clusterd/cd-csv.h"
#include "clusterd/cd-daemon.h"
#include "clusterd/cd-fwd.h"
#include "clusterd/cd-int.h"
#include "clusterd/cd-replica.h"
#include "common/cmn-ipc.h"
#include "common/cmn-log.h"
#include "common/cmn-time.h"
#include "common/cmn-xml.h"
#include "hvagent/hva-proto.h"
#include "resources/res-vm.h"

#define MOVES 16

enum move_state {
    MV_NONE,
    MV_PREPARING,
    MV_COPYING,
    MV_SWITCHING,
    MV_DONE,
    MV_FAILED
};

/* The moves of this clusterd: in flight, or the last outcome per VM. */
static struct move_entry {
    enum move_state state;
    char vm[CD_NAME_MAX];
    char volume[CD_NAME_MAX];
    struct cd_move *m; /* while in flight (the job's) */
    uint64_t total, done;
    uint64_t t0_ms, ms; /* accepted at; how long it took once over */
    char msg[768];
} moves[MOVES];

static const char *const state_names[] = {"none",      "preparing", "copying",
                                          "switching", "done",      "failed"};

static struct move_entry *entry_of(const char *vm)
{
    for (size_t i = 0; i < MOVES; i++)
        if (moves[i].state != MV_NONE && !strcmp(moves[i].vm, vm))
            return &moves[i];
    return NULL;
}

static bool in_flight(const struct move_entry *e)
{
    return e && e->state != MV_NONE && e->state != MV_DONE &&
           e->state != MV_FAILED;
}

static struct move_entry *entry_new(const char *vm)
{
    struct move_entry *e = entry_of(vm);

    for (size_t i = 0; !e && i < MOVES; i++)
        if (!in_flight(&moves[i]))
            e = &moves[i];
    if (e) {
        memset(e, 0, sizeof(*e));
        snprintf(e->vm, sizeof(e->vm), "%s", vm);
    }
    return e;
}

static void entry_end(struct cd_csv_job *j, bool ok)
{
    struct move_entry *e = entry_of(j->vm);

    if (!e)
        return;
    e->done = atomic_load(&j->move->done);
    e->ms = cmn_now_ms() - e->t0_ms;
    e->m = NULL;
    e->state = ok ? MV_DONE : MV_FAILED;
    if (j->msg[0]) /* else the reason finish() kept */
        snprintf(e->msg, sizeof(e->msg), "%s", j->msg);
    if (ok)
        cmn_info(CMN_LOG_CD,
                 "VM '%s': storage moved to volume '%s' (%" PRIu64
                 " MiB copied)",
                 j->vm, e->volume, e->done >> 20);
    else
        /* e->msg: finish() kept the reason, the FINISH job cleared
         * j->msg. */
        cmn_err(CMN_LOG_CD, "VM '%s': storage move failed: %s", j->vm, e->msg);
}

static void finished(void *data, struct cd_csv_job *j)
{
    (void)data;
    /* The CDB names the target: the move is done even if the source
     * free failed (its message says what is left). */
    if (j->move->commit) {
        if (j->rc == 0)
            j->msg[0] = '\0';
        entry_end(j, true);
    } else {
        entry_end(j, false);
    }
    cd_csv_job_free(j);
}

static void finish(struct cd_daemon *d, struct cd_csv_job *j, bool commit)
{
    struct move_entry *e = entry_of(j->vm);

    /* Why the move failed, before the next job clears j->msg. A live
     * move that failed before QEMU switched says where the VM runs, as
     * the mirror's own errors do (a seal that found the target's
     * lockspace gone does not). */
    if (e && j->msg[0]) {
        if (!commit && j->move->live && !j->move->switched &&
            !strstr(j->msg, "as before"))
            snprintf(e->msg, sizeof(e->msg),
                     "%.600s; the VM runs on volume '%.64s' as before", j->msg,
                     j->move->src_volume);
        else
            snprintf(e->msg, sizeof(e->msg), "%s", j->msg);
    }
    j->op = CD_CSV_MOVE_FINISH;
    j->move->commit = commit;
    j->rc = 0;
    if (cd_csv_run(d->csv, j, finished, d) < 0) {
        entry_end(j, commit);
        cd_csv_job_free(j);
    }
}

static void applied(struct cd_daemon *d, struct cmn_ipc_conn *conn, int rc,
                    char *reply, void *arg)
{
    struct cd_csv_job *j = arg;

    (void)conn;
    if (rc < 0) {
        cd_errf(j->msg, sizeof(j->msg),
                "VM '%s': the cluster database refused the move: %s (the VM "
                "keeps its disks on volume '%s')",
                j->vm, reply ? reply : "?", j->move->src_volume);
        /* Lost with corosync, the change may have been applied: keep
         * both copies rather than free the one the CDB may name. */
        if (rc == -CD_E_NO_CLUSTER) {
            free(reply);
            j->move->dst_made = false; /* kept; the reclaim decides */
            finish(d, j, false);
            return;
        }
    }
    free(reply);
    finish(d, j, rc == 0);
}

static void copied(void *data, struct cd_csv_job *j)
{
    struct cd_daemon *d = data;
    const struct cd_vm *v = cd_cdb_vm_by_name(cd_daemon_cdb(d), j->vm);
    struct cd_op op = {.type = CD_OP_SET_VM_DEF};
    struct move_entry *e = entry_of(j->vm);
    char *ret = NULL;
    int rc;

    if (j->rc < 0) {
        finish(d, j, false);
        return;
    }
    if (!v || strcmp(v->ref, j->ref) != 0) {
        cd_errf(j->msg, sizeof(j->msg),
                "VM '%s' was removed or changed during the move: the copy "
                "is dropped",
                j->vm);
        finish(d, j, false);
        return;
    }
    if (e)
        e->state = MV_SWITCHING;
    snprintf(op.name, sizeof(op.name), "%s", j->vm);
    snprintf(op.arg, sizeof(op.arg), "%s", j->priority);
    snprintf(op.arg2, sizeof(op.arg2), "%s", j->move->new_ref);
    op.text = j->def_xml;
    rc = cd_ipc_submit_cb(d, NULL, &op, applied, j, &ret);
    if (rc == CMN_IPC_DEFERRED)
        return;
    cd_errf(j->msg, sizeof(j->msg), "VM '%s': the cluster database change: %s",
            j->vm, ret ? ret : cmn_strerror(rc));
    free(ret);
    finish(d, j, false);
}

static void prepared(void *data, struct cd_csv_job *j)
{
    struct cd_daemon *d = data;
    struct move_entry *e = entry_of(j->vm);
    char *text;

    /* The first answer (accepted or refused) goes to the asker at once;
     * an accepted move goes on and its end is read with --status. */
    if (j->rc < 0) {
        text = cd_error_text(j->rc, j->msg);
        if (e)
            e->state = MV_NONE; /* refused: nothing to report later */
        cd_csv_job_answer(j, text);
        free(text);
        return;
    }
    for (size_t i = 0; i < j->move->ncopies; i++)
        j->move->total += j->move->copies[i].length;
    if (e) {
        e->state = MV_COPYING;
        e->m = j->move;
        e->total = j->move->total;
    }
    text = cmn_xml_format("<ok vm=\"%s\" from=\"%s\" volume=\"%s\" "
                          "extents=\"%zu\" total=\"%" PRIu64 "\"/>",
                          j->vm, j->move->src_volume, j->move->dst_volume,
                          j->move->ncopies, j->move->total);
    cd_csv_job_reply(j, text);
    free(text);
    j->op = CD_CSV_MOVE_COPY;
    if (cd_csv_run(d->csv, j, copied, d) < 0) {
        cd_errf(j->msg, sizeof(j->msg), "cannot start a worker for the CSV");
        finish(d, j, false);
    }
}

/* No move of vm (or none `what`) in this node's table: says where its
 * move would be. Forwarded answers are read on another node, so the
 * node is named, never "this node". */
static int no_move(struct cd_daemon *d, const char *vm, const char *what,
                   char **ret)
{
    enum cd_rt_state st = CD_RT_STOPPED;
    uint32_t node = cd_coord_vm_node(cd_orch_coord(d), vm, &st);
    const struct cd_cdb *cdb = cd_daemon_cdb(d);
    const char *here = cd_node_name(cdb, d->nodeid);

    if (node == d->nodeid)
        return cd_error_reply(ret, -CD_E_NOT_FOUND,
                              "VM '%s' has no storage move%s: it runs on "
                              "node '%s', whose clusterd runs its moves",
                              vm, what, here);
    if (node)
        return cd_error_reply(ret, -CD_E_NOT_FOUND,
                              "VM '%s' has no storage move%s on node '%s': "
                              "it runs on node '%s', whose clusterd runs its "
                              "moves",
                              vm, what, here, cd_node_name(cdb, node));
    return cd_error_reply(ret, -CD_E_NOT_FOUND,
                          "VM '%s' has no storage move%s on node '%s' (a "
                          "stopped VM's storage moves on the node where "
                          "'move-storage' was run: ask there)",
                          vm, what, here);
}

/* The reply carries the rate the worker measured over its window while
 * the move runs (`rate`, bytes per second, 0 while unknown), and how long
 * it took once it is over (`ms`): the client derives the expected end and
 * the average rate. */
static int status(struct cd_daemon *d, const char *vm, char **ret)
{
    const struct move_entry *e = entry_of(vm);
    uint64_t done, rate, ms;

    if (!e)
        return no_move(d, vm, "", ret);
    done = e->m ? atomic_load(&e->m->done) : e->done;
    rate = e->m ? atomic_load(&e->m->rate) : 0;
    ms = e->m ? cmn_now_ms() - e->t0_ms : e->ms;
    *ret = cmn_xml_format("<move vm=\"%s\" volume=\"%s\" state=\"%s\" "
                          "done=\"%" PRIu64 "\" total=\"%" PRIu64
                          "\" rate=\"%" PRIu64 "\" "
                          "ms=\"%" PRIu64 "\" msg=\"%s\"/>",
                          e->vm, e->volume, state_names[e->state], done,
                          e->total, rate, ms, e->msg);
    return *ret ? 0 : -ENOMEM;
}

/* --cancel: the copy stops at its next chunk or poll, and the target is
 * freed as after a failure. Too late once the disks switch. */
static int cancel(struct cd_daemon *d, const char *vm, char **ret)
{
    struct move_entry *e = entry_of(vm);

    if (!in_flight(e))
        return no_move(d, vm, " in flight", ret);
    if (e->state != MV_COPYING || !e->m)
        return cd_error_reply(ret, -CD_E_BUSY,
                              "VM '%s': the storage move is %s: only a copy "
                              "in progress is cancelled",
                              vm, state_names[e->state]);
    atomic_store(&e->m->cancel, true);
    cmn_info(CMN_LOG_CD, "VM '%s': storage move to volume '%s' cancelled", vm,
             e->volume);
    *ret = cmn_xml_format("<ok vm=\"%s\" volume=\"%s\" state=\"cancelling\"/>",
                          vm, e->volume);
    return *ret ? 0 : -ENOMEM;
}

/* The refusals: 1 to go on with a stopped VM, 2 with a VM running on
 * this node, 3 to pass the request to the node the VM runs on, else 0
 * with the answer in *ret. */
static int refuse(struct cd_daemon *d, const struct cd_vm *cur,
                  const struct cd_fwd_origin *asker, const char *volume,
                  const char *from, char **ret)
{
    struct cd_coord *co = cd_orch_coord(d);
    const struct cd_action *a = cd_coord_active(co, cur->name);
    enum cd_rt_state st = CD_RT_STOPPED;
    uint32_t node = cd_coord_vm_node(co, cur->name, &st);
    const struct cd_cdb *cdb = cd_daemon_cdb(d);
    const struct move_entry *e = entry_of(cur->name);
    const struct cd_node *n;
    bool known = false;
    int rc;

    for (size_t i = 0; i < cd_cdb_volume_count(cdb); i++)
        known |= !strcmp(cd_cdb_volume(cdb, i)->name, volume);
    if (!known)
        return cd_error_reply(ret, -CD_E_NOT_FOUND,
                              "volume '%s' does not exist (see 'clusterctl "
                              "volume list'; add it with 'clusterctl volume "
                              "add PATH')",
                              volume);
    if (!strcmp(volume, from))
        return cd_error_reply(ret, -CD_E_BAD_VALUE,
                              "VM '%s' is already on volume '%s' (nothing to "
                              "move)",
                              cur->name, volume);
    if (!d->replica || !d->quorate || !cd_orch_in_group(d))
        return cd_error_reply(ret, -CD_E_NO_QUORUM,
                              "this node has no quorum: storage moves only in "
                              "a quorate cluster (see 'clusterctl status')");
    /* The move ends with CD_OP_SET_VM_DEF carrying the new slot reference
     * in arg2, which a clusterd of replica protocol version 1 ignores (its
     * copy would keep the old slot and diverge). */
    rc = cd_version_gate(d, CD_REPLICA_V_VM_REF, "storage moves", ret);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    if (in_flight(e))
        return cd_error_reply(ret, -CD_E_BUSY,
                              "VM '%s' is already moving its storage (to "
                              "volume '%s'; see 'clusterctl move-storage %s "
                              "--status')",
                              cur->name, e->volume, cur->name);
    if (a || cd_coord_req(co, cur->name))
        return cd_error_reply(ret, -CD_E_BUSY,
                              "VM '%s' has a %s in progress: retry once it is "
                              "done (see 'clusterctl vm show %s')",
                              cur->name, a ? cd_act_kind_name(a->kind) : "move",
                              cur->name);
    if (node && node != d->nodeid && asker->node) {
        /* It moved while the request was on its way: not passed on. */
        n = cd_cdb_node_by_id(cdb, node);
        return cd_error_reply(ret, -CD_E_BUSY,
                              "VM '%s' runs on node '%s' now, not on node "
                              "'%s' where the request was passed: retry "
                              "(nothing was changed)",
                              cur->name, n ? n->name : "?",
                              cd_node_name(cdb, d->nodeid));
    }
    if (node && node != d->nodeid)
        return 3; /* its QEMU mirrors through that node's hvagent */
    if (node && st != CD_RT_RUNNING && st != CD_RT_PAUSED)
        return cd_error_reply(ret, -CD_E_IN_USE,
                              "VM '%s' is %s here: retry once it runs",
                              cur->name, cd_rt_state_name(st));
    if (node)
        return 2; /* live */
    if (cur->want_running)
        return cd_error_reply(ret, -CD_E_IN_USE,
                              "VM '%s' is meant to run (starting): live "
                              "storage migration is not available yet; stop "
                              "it first ('clusterctl vm stop %s')",
                              cur->name, cur->name);
    return 1;
}

/* --status and --cancel: 1 to answer from this node's table, 2 to pass
 * the request to the node the VM runs on (*ret_node), else 0 with the
 * refusal in *ret. */
static int ask_where(struct cd_daemon *d, const struct cd_fwd_origin *asker,
                     const char *vm, uint32_t *ret_node, char **ret)
{
    enum cd_rt_state st = CD_RT_STOPPED;
    uint32_t node = cd_coord_vm_node(cd_orch_coord(d), vm, &st);
    const struct cd_cdb *cdb = cd_daemon_cdb(d);

    /* A move in this table is this node's to answer: a VM does not
     * change nodes during its move (refuse() and the coordinator). */
    if (in_flight(entry_of(vm)) || !node || node == d->nodeid)
        return 1;
    if (asker->node)
        return cd_error_reply(ret, -CD_E_BUSY,
                              "VM '%s' runs on node '%s' now, not on node "
                              "'%s' where the request was passed: retry",
                              vm, cd_node_name(cdb, node),
                              cd_node_name(cdb, d->nodeid));
    *ret_node = node;
    return 2;
}

/* The request's text for the node the VM runs on: its attributes, each
 * bounded as this node read it. */
static int forward(struct cd_daemon *d, struct cmn_ipc_conn *conn,
                   uint32_t node, const char *action, const char *volume,
                   const char *disks, const char *vm, char **ret)
{
    char *text = cmn_xml_format("<request op=\"move-storage\" action=\"%s\" "
                                "vm=\"%s\" volume=\"%s\" disks=\"%s\"/>",
                                action, vm, volume, disks);
    int rc = text ? cd_fwd_request(d, conn, node, vm, text,
                                   !strcmp(action, "status"), ret)
                  : -ENOMEM;

    free(text);
    return rc;
}

static int move_storage(struct cd_daemon *d, struct cmn_ipc_conn *conn,
                        const struct cd_fwd_origin *asker, xmlNode *req,
                        const char *vm, char **ret)
{
    const struct cd_vm *cur = cd_cdb_vm_by_name(cd_daemon_cdb(d), vm);
    char action[16] = "", volume[CD_NAME_MAX + 8] = "", from[CD_NAME_MAX];
    char disks[RES_VM_MAX_DISKS * RES_TARGET_MAX + 8] = "";
    char names[RES_VM_MAX_DISKS][RES_TARGET_MAX], sel_from[RES_NAME_MAX];
    size_t nnames = 0, sel[RES_VM_MAX_DISKS], nsel = 0;
    bool whole = true;
    char err[1024];
    struct move_entry *e;
    struct cd_csv_job *j;
    struct res_vm *def = NULL;
    struct cd_move *m;
    uint64_t state;
    uint32_t slot;
    enum cd_rt_state st = CD_RT_STOPPED;
    uint32_t node = 0;
    int rc, live;

    cmn_xml_attr_copy(req, "action", action, sizeof(action));
    cmn_xml_attr_copy(req, "volume", volume, sizeof(volume));
    cmn_xml_attr_copy(req, "disks", disks, sizeof(disks));
    if (!strcmp(action, "status") || !strcmp(action, "cancel")) {
        rc = ask_where(d, asker, vm, &node, ret);
        if (rc == 2)
            return forward(d, conn, node, action, "", "", vm, ret);
        if (rc <= 0)
            return rc;
        return action[0] == 's' ? status(d, vm, ret) : cancel(d, vm, ret);
    }
    if (action[0])
        return cd_error_reply(ret, -EINVAL,
                              "move-storage: action '%s' is not status or "
                              "cancel",
                              action);
    if (!cur)
        return cd_error_reply(
            ret, -CD_E_NOT_FOUND,
            "VM '%s' does not exist (see 'clusterctl vm list')", vm);
    if (!volume[0] || !cmn_name_valid(volume) || strlen(volume) >= CD_NAME_MAX)
        return cd_error_reply(ret, -CD_E_BAD_VALUE,
                              "'%s' is not a volume name (see 'clusterctl "
                              "volume list')",
                              volume);
    if (!d->csv || !cur->definition ||
        cd_csv_ref_parse(cur->ref, from, sizeof(from), &slot, &state) < 0)
        return cd_error_reply(ret, -CD_E_BAD_VALUE,
                              "VM '%s' is not on a cluster-shared volume: only "
                              "CSV VMs move their storage",
                              vm);
    rc = res_vm_parse(cur->definition, strlen(cur->definition), vm, &def, err,
                      sizeof(err));
    if (rc < 0)
        return cd_error_reply(ret, rc, "VM '%s': its stored definition: %s", vm,
                              err);
    /* --disk: the named disks, from the volume they share; every disk
     * beside the slot is a whole move. Refused before anything else
     * (nothing changed). */
    snprintf(sel_from, sizeof(sel_from), "%s", from);
    if (disks[0]) {
        rc = cd_move_disk_list(disks, names, &nnames, err, sizeof(err));
        if (rc == 0)
            rc = cd_move_select(def, from, volume, names, nnames, sel, &nsel,
                                sel_from, &whole, err, sizeof(err));
        if (rc < 0) {
            res_vm_free(def);
            return cd_error_reply(ret, rc, "%s (nothing was changed)", err);
        }
    }
    /* A part of the disks may go back beside the slot: refuse() checks
     * the volume they leave. */
    rc = refuse(d, cur, asker, volume, whole ? from : sel_from, ret);
    if (rc == 3) {
        res_vm_free(def);
        return forward(d, conn, cd_coord_vm_node(cd_orch_coord(d), vm, &st), "",
                       volume, disks, vm, ret);
    }
    if (rc <= 0) {
        res_vm_free(def);
        return rc;
    }
    live = rc;
    e = entry_new(vm);
    j = calloc(1, sizeof(*j));
    m = calloc(1, sizeof(*m));
    if (!e || !j || !m) {
        free(j);
        free(m);
        res_vm_free(def);
        return cd_error_reply(ret, -ENOMEM,
                              "too many storage moves in flight on this node");
    }
    snprintf(e->volume, sizeof(e->volume), "%s", volume);
    e->state = MV_PREPARING;
    e->t0_ms = cmn_now_ms();
    if (!whole) {
        m->partial = true;
        m->nsel = nsel;
        memcpy(m->sel, sel, nsel * sizeof(sel[0]));
        snprintf(m->home_volume, sizeof(m->home_volume), "%s", from);
        cd_csv_volume_path(d, from, m->home_path, sizeof(m->home_path));
        m->home_slot = slot;
        snprintf(from, sizeof(from), "%s", sel_from);
    }
    snprintf(m->src_volume, sizeof(m->src_volume), "%s", from);
    snprintf(m->dst_volume, sizeof(m->dst_volume), "%s", volume);
    cd_csv_volume_path(d, from, m->src_path, sizeof(m->src_path));
    cd_csv_volume_path(d, volume, m->dst_path, sizeof(m->dst_path));
    /* The copy shares the storage path with running VMs: capped when
     * the cluster asks. */
    m->bandwidth =
        strtoull(cd_cdb_setting(cd_daemon_cdb(d), "storage-move-bandwidth"),
                 NULL, 10)
        << 20;
    m->src_slot = slot;
    m->src_state = state;
    m->node = d->nodeid;
    if (live == 2) {
        m->live = true;
        m->write_blocking =
            !strcmp(cd_cdb_setting(cd_daemon_cdb(d), "storage-move-copy-mode"),
                    "write-blocking");
        snprintf(m->hva_ipc, sizeof(m->hva_ipc), "%s",
                 d->hva_ipc[0] ? d->hva_ipc : HVA_IPC_NAME);
    }
    j->move = m;
    j->op = CD_CSV_MOVE_PREPARE;
    j->def = def;
    snprintf(j->vm, sizeof(j->vm), "%s", vm);
    snprintf(j->ref, sizeof(j->ref), "%s", cur->ref);
    snprintf(j->priority, sizeof(j->priority), "%s",
             res_priority_str(def->policy.priority));
    cd_csv_job_origin(j, d, conn, asker);
    rc = cd_csv_run(d->csv, j, prepared, d);
    if (rc < 0) {
        e->state = MV_NONE;
        cd_csv_job_drop_origin(j); /* answered by the caller */
        cd_csv_job_free(j);
        return cd_error_reply(ret, rc, "cannot start a worker for the CSV");
    }
    return CMN_IPC_DEFERRED;
}

int cd_api_move_storage(struct cd_daemon *d, struct cmn_ipc_conn *conn,
                        xmlNode *req, const char *vm, char **ret)
{
    const struct cd_fwd_origin here = {0};

    return move_storage(d, conn, &here, req, vm, ret);
}

int cd_api_move_storage_forwarded(struct cd_daemon *d, uint32_t origin,
                                  uint64_t id, xmlNode *req, const char *vm,
                                  char **ret)
{
    const struct cd_fwd_origin from = {.node = origin, .id = id};

    return move_storage(d, NULL, &from, req, vm, ret);
}
