/* clusterctl's VM requests (vm, move-vm, explain, events): the handlers
 * behind cd-api.h's table for what concerns VMs. They read the CDB and the
 * coordinator's view (cd_orch_coord) and change the cluster only through
 * CDB changes (cd_ipc_submit) and coordinator requests (cd_orch_send);
 * the runtime state, actions and steps stay in cd-orch.c.
 *
 * Safety never rests on this code alone: a VM's QEMU holds the VM's
 * sanlock lease, so a wrong or duplicated start fails at the lease. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <libxml/tree.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clusterd/cd-check.h"
#include "clusterd/cd-coord.h"
#include "clusterd/cd-csv.h"
#include "clusterd/cd-daemon.h"
#include "clusterd/cd-int.h"
#include "clusterd/cd-local.h"
#include "clusterd/cd-net.h"
#include "clusterd/cd-storage.h"
#include "common/cmn-log.h"
#include "common/cmn-xml.h"
#include "resources/res-place.h"
#include "resources/res-vm.h"

/* The target ("vda") of disk `i` of `v`'s definition, or "" when it is
 * not embedded or has no such disk. */
static void disk_target(const struct cd_vm *v, int i, char *out, size_t outlen)
{
    struct res_vm *def = NULL;
    char err[256];

    out[0] = '\0';
    if (i < 0 || !v->definition ||
        res_vm_parse(v->definition, strlen(v->definition), v->name, &def, err,
                     sizeof(err)) < 0)
        return;
    if ((size_t)i < def->n_disks)
        snprintf(out, outlen, "%s", def->disks[i].target);
    res_vm_free(def);
}

/* io-error="eio|enospc" io-error-disk="vda": paused on an I/O error of
 * its storage, which its hvagent resumes by itself. */
static void ioerr_attrs(struct cd_daemon *d, struct cd_buf *b,
                        const struct cd_vm *v)
{
    int disk;
    unsigned e = cd_coord_vm_ioerr(cd_orch_coord(d), v->name, &disk);
    char target[RES_TARGET_MAX + 8];

    if (!e)
        return;
    disk_target(v, disk, target, sizeof(target));
    if (!target[0] && disk >= 0)
        snprintf(target, sizeof(target), "#%d", disk);
    cd_buf_xmlf(b, " io-error=\"%s\"", cd_rt_ioerr_name(e));
    if (target[0])
        cd_buf_xmlf(b, " io-error-disk=\"%s\"", target);
}

static void vm_element(struct cd_daemon *d, struct cd_buf *b,
                       const struct cd_vm *v, bool full)
{
    struct cd_coord *co = cd_orch_coord(d);
    const struct cd_cdb *cdb = cd_daemon_cdb(d);
    enum cd_rt_state st;
    uint32_t node = cd_coord_vm_node(co, v->name, &st);
    uint32_t holder = cd_coord_vm_lease(co, v->name);
    const struct cd_action *a = cd_coord_active(co, v->name);
    const struct cd_vm_failures *f = cd_coord_failures(co, v->name);
    unsigned copies = 0;

    for (size_t i = 0; i < cd_coord_rt_count(co); i++) {
        const struct cd_rt_vm *r = cd_coord_rt(co, i);
        if (!strcmp(r->vm, v->name) && cd_rt_state_runs(r->state))
            copies++;
    }
    cd_buf_xmlf(b,
                "  <vm name=\"%s\" priority=\"%s\" target=\"%s\" "
                "node=\"%s\" state=\"%s\" copies=\"%u\" failures=\"%zu\"",
                v->name, cd_priority_name(v->priority),
                v->want_running ? "running" : "stopped",
                cd_node_name(cdb, node), cd_rt_state_name(st), copies,
                f ? f->n : 0);
    if (node && cd_coord_unmanaged(co, node))
        cd_buf_puts(b, " managed=\"no\"");
    if (holder)
        cd_buf_xmlf(b, " lease=\"%s\"", cd_node_name(cdb, holder));
    /* The -cpu it runs with: a cluster-mode VM's fixed baseline. */
    if (node && cd_coord_vm_cpu(co, v->name)[0])
        cd_buf_xmlf(b, " cpu=\"%s\"", cd_coord_vm_cpu(co, v->name));
    ioerr_attrs(d, b, v);
    if (a)
        cd_buf_xmlf(b,
                    " action=\"%s\" action-id=\"%" PRIu64 "\" "
                    "action-from=\"%s\" action-to=\"%s\"",
                    cd_act_kind_name(a->kind), a->id,
                    cd_node_name(cdb, a->from), cd_node_name(cdb, a->to));
    cd_orch_wait_attrs(d, b, v->name);
    if (!full || !v->definition) {
        cd_buf_puts(b, "/>\n");
        return;
    }
    cd_buf_puts(b, ">\n    <definition>");
    cd_buf_xml_escape(b, v->definition);
    cd_buf_puts(b, "</definition>\n");
    for (size_t i = 0; i < cd_coord_action_count(co); i++) {
        const struct cd_action *h = cd_coord_action(co, i);
        if (strcmp(h->vm, v->name) != 0)
            continue;
        cd_buf_xmlf(b,
                    "    <action id=\"%" PRIu64 "\" kind=\"%s\" cause=\"%s\" "
                    "from=\"%s\" to=\"%s\" status=\"%s\" "
                    "downtime-ms=\"%" PRIu64 "\" msg=\"",
                    h->id, cd_act_kind_name(h->kind),
                    cd_act_cause_name(h->cause), cd_node_name(cdb, h->from),
                    cd_node_name(cdb, h->to), cd_act_status_name(h->status),
                    h->downtime_ms);
        cd_buf_xml_escape(b, h->msg);
        cd_buf_puts(b, "\"/>\n");
    }
    cd_buf_puts(b, "  </vm>\n");
}

static int do_vm_list(struct cd_daemon *d, const char *only, char **ret)
{
    struct cd_coord *co = cd_orch_coord(d);
    const struct cd_cdb *cdb = cd_daemon_cdb(d);
    struct cd_buf b;

    if (only && !cd_cdb_vm_by_name(cdb, only))
        return cd_error_reply(
            ret, -CD_E_NOT_FOUND,
            "VM '%s' does not exist (see 'clusterctl vm list')", only);
    cd_buf_init(&b);
    cd_buf_xmlf(&b, "<vms epoch=\"%" PRIu64 "\" settled=\"%s\">\n",
                cd_cdb_epoch(cdb), cd_coord_settled(co) ? "yes" : "no");
    for (size_t i = 0; i < cd_cdb_vm_count(cdb); i++) {
        const struct cd_vm *v = cd_cdb_vm(cdb, i);
        if (!only || !strcmp(only, v->name))
            vm_element(d, &b, v, only != NULL);
    }
    cd_buf_puts(&b, "</vms>\n");
    return cd_buf_steal(&b, ret, NULL);
}

/* ------------------------------------ warnings on an add or an edit */

/* `reply` (<ok .../>) with `warning` as its warning attribute, which
 * clusterctl prints; NULL when out of memory. */
static char *ok_with_warning(const char *reply, const char *warning)
{
    size_t n = strlen(reply);
    struct cd_buf b;
    char *text = NULL;

    if (n < 2 || strcmp(reply + n - 2, "/>") != 0)
        return strdup(reply);
    cd_buf_init(&b);
    cd_buf_add(&b, reply, n - 2);
    cd_buf_puts(&b, " warning=\"");
    cd_buf_xml_escape(&b, warning);
    cd_buf_puts(&b, "\"/>");
    if (cd_buf_steal(&b, &text, NULL) < 0)
        return NULL;
    return text;
}

static void warn_applied(struct cd_daemon *d, struct cmn_ipc_conn *conn, int rc,
                         char *reply, void *arg)
{
    char *warning = arg;
    char *text = rc == 0 && reply ? ok_with_warning(reply, warning) : NULL;

    (void)d;
    if (conn) {
        cmn_ipc_reply(conn, text    ? text
                            : reply ? reply
                                    : "<error code=\"12\">out of memory"
                                      "</error>");
        cmn_ipc_conn_unref(conn);
    }
    free(text);
    free(reply);
    free(warning);
}

/* Submits the add or edit of `def`; once applied, the answer carries a
 * warning when no node has a bridge `def` needs (cd_net_bridge_warning):
 * accepted all the same, the bridge may be created later. */
static int submit_warned(struct cd_daemon *d, struct cmn_ipc_conn *conn,
                         struct cd_op *op, const struct res_vm *def, char **ret)
{
    char w[1024], *warning;
    int rc;

    if (!cd_net_bridge_warning(cd_coord_net(cd_orch_coord(d)), cd_daemon_cdb(d),
                               def, w, sizeof(w)))
        return cd_ipc_submit(d, conn, op, ret);
    cmn_warn(CMN_LOG_CD, "%s", w);
    warning = strdup(w);
    if (!warning)
        return -ENOMEM;
    rc = cd_ipc_submit_cb(d, conn, op, warn_applied, warning, ret);
    if (rc != CMN_IPC_DEFERRED)
        free(warning);
    return rc;
}

/* ------------------------------------------- VMs on the CSV (cd-csv.h) */

/* The undo of a refused add, or the freeing after a removal, is done. */
static void csv_freed(void *data, struct cd_csv_job *j)
{
    char *text = NULL;

    (void)data;
    if (j->rc < 0) {
        cmn_err(CMN_LOG_CD, "VM '%s': %s", j->vm, j->msg);
        /* A removal that could not free the slot says so; a refused add
         * keeps its own reason. */
        if (j->op == CD_CSV_FREE && j->reply && strstr(j->reply, "<ok")) {
            cd_error_reply(
                &text, j->rc,
                "VM '%s' is removed from the cluster, but its CSV slot "
                "was not freed: %s (clusterd reclaims it once the "
                "volume is reachable; see 'clusterctl volume check')",
                j->vm, j->msg);
            cd_csv_job_answer(j, text);
            free(text);
            return;
        }
    }
    cd_csv_job_answer(j, NULL);
}

static void csv_free_then_answer(struct cd_daemon *d, struct cd_csv_job *j)
{
    j->op = CD_CSV_FREE;
    if (cd_csv_run(d->csv, j, csv_freed, d) < 0) {
        cmn_err(CMN_LOG_CD,
                "VM '%s': cannot start a worker to free its CSV slot (%s)",
                j->vm, j->ref);
        cd_csv_job_answer(j, NULL);
    }
}

static void csv_add_applied(struct cd_daemon *d, struct cmn_ipc_conn *conn,
                            int rc, char *reply, void *arg)
{
    struct cd_csv_job *j = arg;

    j->conn = conn;
    j->reply = reply;
    if (rc == 0) {
        char w[1024];
        if (reply &&
            cd_net_bridge_warning(cd_coord_net(cd_orch_coord(d)),
                                  cd_daemon_cdb(d), j->def, w, sizeof(w))) {
            char *text = ok_with_warning(reply, w);
            cmn_warn(CMN_LOG_CD, "%s", w);
            /* NULL (out of memory): answered without the warning */
            if (text) {
                j->reply = text;
                free(reply);
            }
        }
        cd_csv_job_answer(j, NULL);
    } else if (rc == -CD_E_NO_CLUSTER) {
        /* Maybe applied by the others: keep the slot rather than free
         * what a VM of the cluster may use. */
        cmn_warn(CMN_LOG_CD,
                 "VM '%s': add lost with corosync; its CSV slot (%s) is "
                 "kept: if the VM is not in 'clusterctl vm list', free it "
                 "by adding and removing the VM again",
                 j->vm, j->ref);
        cd_csv_job_answer(j, NULL);
    } else {
        csv_free_then_answer(d, j);
    }
}

/* The slot and extents are there: now the CDB change. */
static void csv_allocated(void *data, struct cd_csv_job *j)
{
    struct cd_daemon *d = data;
    struct cd_op op = {.type = CD_OP_ADD_VM};
    char *ret = NULL;
    int rc;

    if (j->rc < 0) {
        cd_error_reply(&ret, j->rc,
                       "%s (nothing was changed; fix the file and run "
                       "'clusterctl vm add' again)",
                       j->msg);
        cd_csv_job_answer(j, ret);
        free(ret);
        return;
    }
    snprintf(op.name, sizeof(op.name), "%s", j->vm);
    snprintf(op.arg, sizeof(op.arg), "%s", j->priority);
    snprintf(op.arg2, sizeof(op.arg2), "%s", j->ref);
    op.text = j->def_xml;
    rc = cd_ipc_submit_cb(d, j->conn, &op, csv_add_applied, j, &ret);
    if (rc == CMN_IPC_DEFERRED) {
        /* The pending request holds its own reference now. */
        cmn_ipc_conn_unref(j->conn);
        j->conn = NULL;
        return;
    }
    if (rc < 0)
        cd_error_reply(&ret, rc, "VM '%s': cannot submit the change", j->vm);
    j->reply = ret;
    csv_free_then_answer(d, j);
}

static void csv_remove_applied(struct cd_daemon *d, struct cmn_ipc_conn *conn,
                               int rc, char *reply, void *arg)
{
    struct cd_csv_job *j = arg;

    j->conn = conn;
    j->reply = reply;
    if (rc == 0)
        csv_free_then_answer(d, j);
    else
        cd_csv_job_answer(j, NULL);
}

/* Refused before anything is allocated on the CSV; the CDB's apply path
 * checks the same (cd_cdb_apply), for every member. True when refused:
 * the answer is in *ret (or *ret_rc < 0). */
static bool uuid_refusal(struct cd_daemon *d, const struct res_vm *def,
                         const char *except, char **ret, int *ret_rc)
{
    const struct cd_vm *other;
    char uuid[CD_UUID_STR], err[512];

    res_uuid_format(def->uuid, uuid);
    other = cd_cdb_vm_by_uuid(cd_daemon_cdb(d), uuid, except);
    if (!other)
        return false;
    cd_cdb_uuid_taken_msg(def->name, other, uuid, err, sizeof(err));
    *ret_rc =
        cd_error_reply(ret, -CD_E_EXISTS, "%s (nothing was changed)", err);
    return true;
}

static int do_vm_add(struct cd_daemon *d, struct cmn_ipc_conn *conn,
                     xmlNode *req, char **ret)
{
    char source[256] = "definition", local[CD_NAME_MAX];
    struct res_vm *def = NULL;
    struct cd_op op = {.type = CD_OP_ADD_VM};
    char err[1024];
    xmlChar *text;
    int rc;

    cmn_xml_attr_copy(req, "source", source, sizeof(source));
    text = xmlNodeGetContent(req);
    rc = res_vm_parse(text ? (const char *)text : "",
                      text ? strlen((const char *)text) : 0, source, &def, err,
                      sizeof(err));
    xmlFree(text);
    if (rc < 0)
        return cd_error_reply(ret, rc,
                              "%s (nothing was changed; fix the file and "
                              "run 'clusterctl vm add' again)",
                              err);
    if (strlen(def->name) > CD_VM_NAME_LEN_MAX) {
        rc = cd_error_reply(
            ret, -CD_E_BAD_VALUE,
            "%s: <name>: VM name '%s' has %zu characters: at most "
            "%d in a cluster (its lease is the sanlock resource "
            "'vm-NAME', which holds 47; nothing was changed)",
            source, def->name, strlen(def->name), CD_VM_NAME_LEN_MAX);
        goto out;
    }
    /* Before any room on the volume is looked for: a VM bigger than every
     * node could never run. */
    {
        const struct cd_cdb *cdb = cd_daemon_cdb(d);
        const struct cd_node *big = NULL;
        for (size_t i = 0; i < cd_cdb_node_count(cdb); i++) {
            const struct cd_node *n = cd_cdb_node(cdb, i);
            if (!big || n->memory_mib > big->memory_mib)
                big = n;
        }
        if (big && big->memory_mib && def->memory_mib > big->memory_mib) {
            rc = cd_error_reply(
                ret, -RES_E_NO_CAPACITY,
                "VM '%s' needs %" PRIu64 " MiB of memory, but the "
                "largest node ('%s') has %" PRIu64 " MiB: no node "
                "could ever run it (lower <memory> in %s; nothing "
                "was changed)",
                def->name, def->memory_mib, big->name, big->memory_mib, source);
            goto out;
        }
    }
    if (cd_cdb_vm_by_name(cd_daemon_cdb(d), def->name)) {
        rc = cd_error_reply(
            ret, -CD_E_EXISTS,
            "VM '%s' already exists (see 'clusterctl vm show %s'; "
            "'clusterctl vm remove %s' first to replace it)",
            def->name, def->name, def->name);
        goto out;
    }
    if (uuid_refusal(d, def, def->name, ret, &rc))
        goto out;
    if (cd_net_mac_taken(cd_daemon_cdb(d), def, NULL, err, sizeof(err))) {
        rc = cd_error_reply(ret, -CD_E_EXISTS, "%s (nothing was changed)", err);
        goto out;
    }
    rc = cd_local_vm_volume(cd_daemon_cdb(d), def, local, err, sizeof(err));
    if (rc < 0) {
        rc = cd_error_reply(ret, rc, "%s (nothing was changed)", err);
        goto out;
    }
    if (rc == 1) {
        /* Disks on a node-local volume: no slot, no extents; the files
         * are made on that node when the VM first starts there. */
        snprintf(op.arg2, sizeof(op.arg2), "%s%s", CD_LOCAL_REF_PREFIX, local);
    } else if (d->csv) {
        /* Slot, disks and state extent first, in a worker; the CDB
         * change follows when they exist (csv_allocated). */
        struct cd_csv_job *j = calloc(1, sizeof(*j));
        if (!j) {
            rc = -ENOMEM;
            goto out;
        }
        j->op = CD_CSV_ALLOC;
        snprintf(j->vm, sizeof(j->vm), "%s", def->name);
        snprintf(j->priority, sizeof(j->priority), "%s",
                 res_priority_str(def->policy.priority));
        j->def = def;
        j->conn = conn;
        cmn_ipc_conn_ref(conn);
        rc = cd_csv_run(d->csv, j, csv_allocated, d);
        if (rc < 0) {
            cmn_ipc_conn_unref(conn);
            cd_csv_job_free(j);
            return cd_error_reply(ret, rc, "cannot start a worker for the CSV");
        }
        return CMN_IPC_DEFERRED;
    }
    snprintf(op.name, sizeof(op.name), "%s", def->name);
    snprintf(op.arg, sizeof(op.arg), "%s",
             res_priority_str(def->policy.priority));
    /* The canonical form pins defaults and generated MACs. */
    rc = res_vm_serialize(def, &op.text);
    if (rc < 0)
        goto out;
    rc = submit_warned(d, conn, &op, def, ret);
    free(op.text);
out:
    res_vm_free(def);
    return rc;
}

/* The slot has the new definition: now the CDB change. */
static void csv_def_stored(void *data, struct cd_csv_job *j)
{
    struct cd_daemon *d = data;
    struct cd_op op = {.type = CD_OP_SET_VM_DEF};
    char *ret = NULL;
    int rc;

    if (j->rc < 0) {
        cd_error_reply(&ret, j->rc, "%s (nothing was changed)", j->msg);
        cd_csv_job_answer(j, ret);
        free(ret);
        return;
    }
    snprintf(op.name, sizeof(op.name), "%s", j->vm);
    snprintf(op.arg, sizeof(op.arg), "%s", j->priority);
    op.text = j->def_xml;
    rc = submit_warned(d, j->conn, &op, j->def, &ret);
    if (rc == CMN_IPC_DEFERRED) {
        cmn_ipc_conn_unref(j->conn);
        j->conn = NULL;
        cd_csv_job_free(j);
        return;
    }
    /* Refused (no quorum...): the slot's copy is ahead of the CDB, which
     * stays the authority; the next edit rewrites the slot. */
    if (rc < 0 && !ret)
        cd_error_reply(&ret, rc, "VM '%s': cannot submit the change", j->vm);
    cd_csv_job_answer(j, ret);
    free(ret);
}

/* `vm edit`: a new definition for an existing VM; res_vm_edit_check says
 * what may change (only the policy while the VM runs). On the CSV, the
 * slot's copy is rewritten first. */
static int do_vm_edit(struct cd_daemon *d, struct cmn_ipc_conn *conn,
                      xmlNode *req, const char *vm, char **ret)
{
    struct cd_coord *co = cd_orch_coord(d);
    const struct cd_vm *cur = cd_cdb_vm_by_name(cd_daemon_cdb(d), vm);
    char source[256] = "definition", volume[CD_NAME_MAX];
    struct res_vm *def = NULL, *old = NULL;
    struct cd_op op = {.type = CD_OP_SET_VM_DEF};
    char *text = NULL, err[1024];
    xmlChar *body;
    uint64_t state;
    uint32_t slot;
    bool running;
    int rc;

    if (!cur)
        return cd_error_reply(
            ret, -CD_E_NOT_FOUND,
            "VM '%s' does not exist (see 'clusterctl vm list')", vm);
    if (!cur->definition)
        return cd_error_reply(
            ret, -CD_E_BAD_VALUE,
            "VM '%s' has no definition in the cluster database "
            "to edit",
            vm);
    cmn_xml_attr_copy(req, "source", source, sizeof(source));
    body = xmlNodeGetContent(req);
    rc = res_vm_parse(body ? (const char *)body : "",
                      body ? strlen((const char *)body) : 0, source, &def, err,
                      sizeof(err));
    xmlFree(body);
    if (rc < 0)
        return cd_error_reply(ret, rc,
                              "%s (nothing was changed; fix the file and run "
                              "'clusterctl vm edit %s FILE' again)",
                              err, vm);
    rc = res_vm_parse(cur->definition, strlen(cur->definition), vm, &old, err,
                      sizeof(err));
    if (rc < 0) {
        rc = cd_error_reply(ret, rc, "VM '%s': its stored definition: %s", vm,
                            err);
        goto out;
    }
    running = cd_coord_vm_node(co, vm, NULL) != 0 || cur->want_running;
    rc = res_vm_edit_check(old, def, source, running, err, sizeof(err));
    if (rc < 0) {
        rc = cd_error_reply(ret, rc, "%s (nothing was changed)", err);
        goto out;
    }
    if (uuid_refusal(d, def, vm, ret, &rc))
        goto out;
    if (cd_net_mac_taken(cd_daemon_cdb(d), def, vm, err, sizeof(err))) {
        rc = cd_error_reply(ret, -CD_E_EXISTS, "%s (nothing was changed)", err);
        goto out;
    }
    rc = cd_local_edit_check(cd_daemon_cdb(d), cur->ref, def, err, sizeof(err));
    if (rc < 0) {
        rc = cd_error_reply(ret, rc, "%s (nothing was changed)", err);
        goto out;
    }
    rc = res_vm_serialize(def, &text);
    if (rc < 0)
        goto out;
    if (res_vm_equal(old, def)) {
        *ret = strdup("<ok changed=\"no\"/>");
        rc = *ret ? 0 : -ENOMEM;
        goto out;
    }
    if (d->csv && cd_csv_ref_parse(cur->ref, volume, sizeof(volume), &slot,
                                   &state) == 0) {
        struct cd_csv_job *j = calloc(1, sizeof(*j));
        if (!j) {
            rc = -ENOMEM;
            goto out;
        }
        j->op = CD_CSV_SET_DEF;
        snprintf(j->vm, sizeof(j->vm), "%s", vm);
        snprintf(j->ref, sizeof(j->ref), "%s", cur->ref);
        snprintf(j->priority, sizeof(j->priority), "%s",
                 res_priority_str(def->policy.priority));
        j->def = def;
        j->def_xml = text;
        def = NULL;
        text = NULL;
        j->conn = conn;
        cmn_ipc_conn_ref(conn);
        rc = cd_csv_run(d->csv, j, csv_def_stored, d);
        if (rc < 0) {
            cmn_ipc_conn_unref(conn);
            cd_csv_job_free(j);
            rc = cd_error_reply(ret, rc, "cannot start a worker for the CSV");
            goto out;
        }
        rc = CMN_IPC_DEFERRED;
        goto out;
    }
    snprintf(op.name, sizeof(op.name), "%s", vm);
    snprintf(op.arg, sizeof(op.arg), "%s",
             res_priority_str(def->policy.priority));
    op.text = text;
    rc = submit_warned(d, conn, &op, def, ret);
out:
    free(text);
    res_vm_free(def);
    res_vm_free(old);
    return rc;
}

/* vm start of a VM of priority manual: automatic plans never start such
 * a VM, so besides the intent (target running, which keeps it from being
 * stopped) the administrator's request goes to the coordinator as a start
 * request, exactly once. Placement is checked here first so that a VM
 * with nowhere to go is refused with the reason. */
static int manual_start(struct cd_daemon *d, struct cmn_ipc_conn *conn,
                        struct cd_op *op, char **ret)
{
    struct cd_coord *co = cd_orch_coord(d);
    struct cd_co_msg m = {.type = CD_CO_REQ, .kind = CD_ACT_START};
    char err[512];
    int rc;

    if (!d->replica || !d->quorate || !cd_orch_in_group(d))
        return cd_ipc_submit(d, conn, op, ret); /* refused: no quorum */
    rc = cd_coord_check_start(co, cd_daemon_cdb(d), op->name, NULL, err,
                              sizeof(err));
    if (rc < 0)
        return cd_error_reply(ret, rc, "%s", err);
    rc = cd_ipc_submit(d, conn, op, ret);
    if (rc != CMN_IPC_DEFERRED)
        return rc; /* refused at once */
    /* Sent after the intent from the same node: delivered after it. */
    snprintf(m.vm, sizeof(m.vm), "%s", op->name);
    m.origin = d->nodeid;
    m.epoch = cd_cdb_epoch(cd_daemon_cdb(d));
    if (cd_orch_send(d, &m, NULL) < 0)
        cmn_warn(CMN_LOG_CD, "VM '%s': cannot send the start request",
                 op->name);
    return rc;
}

static int do_vm_change(struct cd_daemon *d, struct cmn_ipc_conn *conn,
                        const char *opname, const char *vm, char **ret)
{
    struct cd_coord *co = cd_orch_coord(d);
    const struct cd_cdb *cdb = cd_daemon_cdb(d);
    struct cd_op op = {0};
    uint32_t node;

    if (!cd_cdb_vm_by_name(cdb, vm))
        return cd_error_reply(
            ret, -CD_E_NOT_FOUND,
            "VM '%s' does not exist (see 'clusterctl vm list')", vm);
    snprintf(op.name, sizeof(op.name), "%s", vm);
    if (!strcmp(opname, "vm-remove")) {
        node = cd_coord_vm_node(co, vm, NULL);
        if (node || cd_cdb_vm_by_name(cdb, vm)->want_running)
            return cd_error_reply(
                ret, -CD_E_IN_USE,
                "VM '%s' is %s: stop it first ('clusterctl vm "
                "stop %s')",
                vm, node ? "running" : "meant to run", vm);
        op.type = CD_OP_REMOVE_VM;
        const struct cd_vm *v = cd_cdb_vm_by_name(cdb, vm);
        if (d->csv &&
            !strncmp(v->ref, CD_CSV_REF_PREFIX, strlen(CD_CSV_REF_PREFIX))) {
            /* Its slot is freed once the removal is in the CDB. */
            struct cd_csv_job *j = calloc(1, sizeof(*j));
            int rc;
            if (!j)
                return -ENOMEM;
            snprintf(j->vm, sizeof(j->vm), "%s", vm);
            snprintf(j->ref, sizeof(j->ref), "%s", v->ref);
            rc = cd_ipc_submit_cb(d, conn, &op, csv_remove_applied, j, ret);
            if (rc != CMN_IPC_DEFERRED)
                cd_csv_job_free(j);
            return rc;
        }
    } else {
        op.type = CD_OP_SET_VM_TARGET;
        snprintf(op.arg, sizeof(op.arg), "%s",
                 !strcmp(opname, "vm-start") ? "running" : "stopped");
    }
    if (op.type == CD_OP_SET_VM_TARGET && !strcmp(op.arg, "running") &&
        cd_cdb_vm_by_name(cdb, vm)->priority == CD_PRIO_MANUAL &&
        !cd_coord_vm_node(co, vm, NULL) && !cd_coord_active(co, vm))
        return manual_start(d, conn, &op, ret);
    return cd_ipc_submit(d, conn, &op, ret);
}

static int do_move(struct cd_daemon *d, struct cmn_ipc_conn *conn, xmlNode *req,
                   char **ret)
{
    struct cd_coord *co = cd_orch_coord(d);
    const struct cd_cdb *cdb = cd_daemon_cdb(d);
    char vm[CD_NAME_MAX + 8] = "", to[CD_NAME_MAX + 8] = "", mode[16] = "";
    struct cd_co_msg m = {.type = CD_CO_REQ};
    const struct cd_node *tn = NULL;
    char err[512];
    int rc;

    cmn_xml_attr_copy(req, "vm", vm, sizeof(vm));
    cmn_xml_attr_copy(req, "to", to, sizeof(to));
    cmn_xml_attr_copy(req, "mode", mode, sizeof(mode));
    if (strcmp(mode, "live") && strcmp(mode, "quick"))
        return cd_error_reply(ret, -EINVAL, "move-vm needs --live or --quick");
    if (to[0] && !(tn = cd_cdb_node_by_name(cdb, to)))
        return cd_error_reply(ret, -CD_E_NOT_FOUND,
                              "node '%s' does not exist (see 'clusterctl node "
                              "list')",
                              to);
    if (!d->replica || !d->quorate || !cd_orch_in_group(d)) {
        unsigned expected, total, quorum;
        cd_cpg_votes(d, &expected, &total, &quorum);
        return cd_error_reply(
            ret, -CD_E_NO_QUORUM,
            "the cluster has no quorum (%u of %u votes, %u "
            "needed): VMs are not moved until enough nodes are "
            "back",
            total, expected, quorum);
    }
    m.kind = !strcmp(mode, "live") ? CD_ACT_LIVE : CD_ACT_QUICK;
    m.b = tn ? tn->nodeid : 0;
    /* The obvious mistakes at once; delivery checks again in order. */
    rc = cd_coord_check_move(co, cdb, vm, m.b, (enum cd_act_kind)m.kind, NULL,
                             NULL, err, sizeof(err));
    if (rc < 0)
        return cd_error_reply(ret, rc, "%s", err);
    if (cd_orch_waiters_full(d))
        return cd_error_reply(ret, -EBUSY, "too many moves waiting: retry");
    snprintf(m.vm, sizeof(m.vm), "%s", vm);
    m.origin = d->nodeid;
    m.epoch = cd_cdb_epoch(cdb);
    /* Numbered, sent, and `conn` answered when its ACTION comes. */
    rc = cd_orch_send(d, &m, conn);
    if (rc < 0)
        return cd_error_reply(ret, rc,
                              "cannot send the request to the cluster");
    return CMN_IPC_DEFERRED;
}

static void clock_text(uint64_t t_s, char *buf, size_t len)
{
    time_t t = (time_t)t_s;
    struct tm tm;

    if (!t_s || !localtime_r(&t, &tm) || !strftime(buf, len, "%H:%M:%S", &tm))
        snprintf(buf, len, "?");
}

/* The VM's recent start attempts with their causes and results, and
 * what it waits for now (cd_coord_vm_wait). */
static void explain_starts(struct cd_daemon *d, struct cd_buf *b,
                           const char *vm)
{
    struct cd_coord *co = cd_orch_coord(d);
    const struct cd_cdb *cdb = cd_daemon_cdb(d);
    const struct cd_action *list[8];
    size_t n = 0;
    struct cd_vm_wait w;
    struct cd_co_view v;
    char at[16];

    /* The newest starts, in the order they happened. */
    for (size_t i = cd_coord_action_count(co); i-- > 0 && n < 8;) {
        const struct cd_action *a = cd_coord_action(co, i);
        if (a->kind == CD_ACT_START && !strcmp(a->vm, vm))
            list[n++] = a;
    }
    while (n--) {
        const struct cd_action *a = list[n];
        clock_text(a->ended_s, at, sizeof(at));
        cd_buf_xmlf(b, "start attempt: on node '%s' (%s): %s",
                    cd_node_name(cdb, a->to), cd_act_cause_name(a->cause),
                    a->status == CD_AS_ACTIVE ? "in progress"
                    : a->status == CD_AS_DONE ? "done"
                                              : "failed");
        if (a->status != CD_AS_ACTIVE && a->ended_s)
            cd_buf_xmlf(b, " at %s", at);
        if (a->status == CD_AS_FAILED && a->msg[0]) {
            cd_buf_puts(b, ": ");
            cd_buf_xml_escape(b, a->msg);
        }
        cd_buf_puts(b, "\n");
    }
    cd_orch_view(d, &v);
    cd_coord_vm_wait(co, cdb, &v, vm, &w);
    switch (w.kind) {
    case CD_WAIT_RETRY:
        clock_text(w.at_s, at, sizeof(at));
        cd_buf_xmlf(b,
                    "waiting: start failed %u time(s) in a row, last on "
                    "node '%s'; next attempt at %s on node '%s'\n",
                    w.n, cd_node_name(cdb, w.node), at,
                    cd_node_name(cdb, w.next));
        break;
    case CD_WAIT_NO_NODE:
        cd_buf_xmlf(b,
                    "waiting: VM '%s' should run but NO node can run it: ", vm);
        cd_buf_xml_escape(b, w.text);
        cd_buf_puts(b, "\n");
        break;
    case CD_WAIT_PRIORITY:
        cd_buf_xmlf(b,
                    "waiting: queued behind %u start(s) of higher "
                    "priority\n",
                    w.n);
        break;
    case CD_WAIT_MOVE_BACKOFF:
        clock_text(w.at_s, at, sizeof(at));
        cd_buf_xmlf(b,
                    "waiting: its move off node '%s' failed %u time(s) in "
                    "a row (back-off); next attempt at %s: ",
                    cd_node_name(cdb, w.node), w.n, at);
        cd_buf_xml_escape(b, w.text);
        cd_buf_puts(b, "\n");
        break;
    case CD_WAIT_NOT_RUNNING:
        cd_buf_puts(b, "waiting: not moved: ");
        cd_buf_xml_escape(b, w.text);
        cd_buf_puts(b, "\n");
        break;
    case CD_WAIT_MOVE_QUEUED:
        cd_buf_xmlf(b,
                    "waiting: its move is queued (place %u) behind the "
                    "migration limit (migration-max-concurrent = %s per "
                    "node)\n",
                    w.n, cd_cdb_setting(cdb, "migration-max-concurrent"));
        break;
    default:
        break;
    }
}

static int do_explain(struct cd_daemon *d, const char *vm, char **ret)
{
    struct cd_coord *co = cd_orch_coord(d);
    const struct cd_cdb *cdb = cd_daemon_cdb(d);
    struct res_node nodes[CD_MAX_NODES];
    struct res_place_vm *vms;
    struct res_cluster c = {.nodes = nodes};
    const uint32_t *members = NULL;
    size_t nm = d->replica ? cd_replica_members(d->replica, &members) : 0;
    char *text = NULL;
    struct cd_buf b;
    enum cd_rt_state st;
    uint32_t node, holder;
    const struct cd_action *a;
    const struct cd_vm_failures *f;
    int rc;

    if (!cd_cdb_vm_by_name(cdb, vm))
        return cd_error_reply(
            ret, -CD_E_NOT_FOUND,
            "VM '%s' does not exist (see 'clusterctl vm list')", vm);
    /* The same picture the coordinator uses. */
    vms = calloc(cd_cdb_vm_count(cdb) + 1, sizeof(*vms));
    if (!vms)
        return -ENOMEM;
    for (size_t i = 0; i < cd_cdb_node_count(cdb) && i < CD_MAX_NODES; i++) {
        const struct cd_node *n = cd_cdb_node(cdb, i);
        bool member = false;
        for (size_t k = 0; k < nm; k++)
            member |= members[k] == n->nodeid;
        memset(&nodes[i], 0, sizeof(nodes[i]));
        nodes[i].id = n->nodeid;
        snprintf(nodes[i].name, sizeof(nodes[i].name), "%s", n->name);
        nodes[i].memory_mib = n->memory_mib;
        cd_net_fill(cd_coord_net(co), &nodes[i]);
        nodes[i].cpu = n->cpu_caps;
        nodes[i].state = cd_coord_node_state(
            n, member, cd_stor_healthy(cd_coord_storage(co), n->nodeid),
            cd_chk_ready(cd_coord_checks(co), n->nodeid));
        c.n_nodes++;
    }
    for (size_t i = 0; i < cd_cdb_vm_count(cdb); i++) {
        const struct cd_vm *v = cd_cdb_vm(cdb, i);
        vms[i] = v->place; /* parsed when the CDB stored the definition */
        snprintf(vms[i].name, sizeof(vms[i].name), "%s", v->name);
        vms[i].policy.priority = (enum res_priority)v->priority;
        vms[i].want_running = v->want_running;
        vms[i].node = cd_coord_vm_node(co, v->name, NULL);
        cd_coord_cpu_need(co, cdb, &vms[i]);
        c.n_vms++;
    }
    c.vms = vms;
    rc = res_explain(&c, vm, &text);
    free(vms);
    if (rc < 0)
        return cd_error_reply(ret, rc, "cannot explain VM '%s'", vm);

    cd_buf_init(&b);
    cd_buf_xmlf(&b, "<explain vm=\"%s\">", vm);
    cd_buf_xml_escape(&b, text);
    free(text);
    node = cd_coord_vm_node(co, vm, &st);
    holder = cd_coord_vm_lease(co, vm);
    if (holder && holder != node)
        /* A handoff: the node is where the VM runs (if anywhere), the
         * holder the one whose hvagent last said it has the lease. */
        cd_buf_xmlf(&b,
                    "lease: held by node '%s' (its hvagent reports it); VM "
                    "'%s' %s%s%s\n",
                    cd_node_name(cdb, holder), vm,
                    node ? cd_rt_state_name(st) : "runs nowhere",
                    node ? " on node " : "",
                    node ? cd_node_name(cdb, node) : "");
    else if (node)
        cd_buf_xmlf(&b,
                    "lease: held by the QEMU of VM '%s' on node '%s' (%s); "
                    "no other node can start it while it runs\n",
                    vm, cd_node_name(cdb, node), cd_rt_state_name(st));
    else
        cd_buf_xmlf(&b, "lease: free (VM '%s' runs nowhere)\n", vm);
    a = cd_coord_active(co, vm);
    if (a)
        cd_buf_xmlf(&b, "action: %s %s%s%s%s in progress (%s)\n",
                    cd_act_kind_name(a->kind), a->from ? "from " : "",
                    cd_node_name(cdb, a->from), a->to ? " to " : "",
                    cd_node_name(cdb, a->to), cd_act_cause_name(a->cause));
    f = cd_coord_failures(co, vm);
    if (f && f->n)
        cd_buf_xmlf(&b, "failures: %zu recorded, last on node '%s'\n", f->n,
                    cd_node_name(cdb, f->node));
    explain_starts(d, &b, vm);
    for (size_t i = 0; i < cd_cdb_node_count(cdb); i++) {
        const struct cd_node *n = cd_cdb_node(cdb, i);
        char until[32] = "?";
        time_t t = (time_t)n->quarantined_until;
        struct tm tm;
        if (n->state != CD_NODE_QUARANTINED)
            continue;
        if (t && localtime_r(&t, &tm))
            strftime(until, sizeof(until), "%Y-%m-%d %H:%M:%S", &tm);
        cd_buf_xmlf(&b, "quarantine: node '%s' takes no VMs until %s (",
                    n->name, until);
        cd_buf_xml_escape(&b, n->reason[0] ? n->reason : "set by hand");
        cd_buf_xmlf(&b, "); 'clusterctl node resume %s' ends it now\n",
                    n->name);
    }
    for (size_t i = 0; i < cd_cdb_node_count(cdb); i++) {
        const struct cd_node *n = cd_cdb_node(cdb, i);
        char why[384];
        cd_stor_reason(cd_coord_storage(co), n->nodeid, why, sizeof(why));
        if (!why[0])
            continue;
        cd_buf_xmlf(&b, "%s: ", n->name);
        cd_buf_xml_escape(&b, why);
        cd_buf_puts(&b, "; it takes no VMs until sanlock holds the lockspace "
                        "again (clusterd re-joins it once the volume reads)\n");
    }
    if (d->quorate)
        cd_buf_xmlf(&b, "quorum: yes (coordinator node %u)\n",
                    d->replica ? cd_replica_coordinator(d->replica) : 0);
    else
        cd_buf_puts(&b, "quorum: NO - nothing is started or moved until "
                        "quorum returns\n");
    cd_buf_puts(&b, "</explain>\n");
    return cd_buf_steal(&b, ret, NULL);
}

int cd_api_vm_request(struct cd_daemon *d, struct cmn_ipc_conn *conn,
                      const char *op, xmlNode *req, bool may_write, char **ret)
{
    char vm[CD_NAME_MAX + 8] = "";
    bool write = !strcmp(op, "vm-add") || !strcmp(op, "vm-edit") ||
                 !strcmp(op, "vm-remove") || !strcmp(op, "vm-start") ||
                 !strcmp(op, "vm-stop") || !strcmp(op, "move-vm") ||
                 !strcmp(op, "vm-disk") || !strcmp(op, "move-storage");

    if (!cd_orch_coord(d) ||
        (!write && strcmp(op, "vm-list") && strcmp(op, "vm-show") &&
         strcmp(op, "explain") && strcmp(op, "events")))
        return -ENOENT;
    if (write && !may_write)
        return cd_error_reply(ret, -CD_E_PERM,
                              "permission denied: only root or the admin group "
                              "may change the cluster (run as root)");
    cmn_xml_attr_copy(req, "vm", vm, sizeof(vm));
    if (strcmp(op, "vm-add") && strcmp(op, "vm-list") && strcmp(op, "events") &&
        strcmp(op, "move-vm") && !vm[0])
        return cd_error_reply(ret, -EINVAL, "%s needs a VM name", op);
    if (!strcmp(op, "vm-list"))
        return do_vm_list(d, NULL, ret);
    if (!strcmp(op, "vm-show"))
        return do_vm_list(d, vm, ret);
    if (!strcmp(op, "events")) {
        cmn_ipc_subscribe(conn, true);
        *ret = strdup("<ok/>");
        return *ret ? 0 : -ENOMEM;
    }
    if (!strcmp(op, "explain"))
        return do_explain(d, vm, ret);
    if (!strcmp(op, "vm-add"))
        return do_vm_add(d, conn, req, ret);
    if (!strcmp(op, "vm-edit"))
        return do_vm_edit(d, conn, req, vm, ret);
    if (!strcmp(op, "move-vm") && cd_local_refuse_move_vm(d, req, vm, ret))
        return *ret ? 0 : -ENOMEM;
    if (!strcmp(op, "move-vm"))
        return do_move(d, conn, req, ret);
    if (!strcmp(op, "vm-disk"))
        return cd_api_vm_disk(d, conn, req, vm, ret);
    if (!strcmp(op, "move-storage") &&
        cd_local_refuse_move_storage(d, req, vm, ret))
        return *ret ? 0 : -ENOMEM;
    if (!strcmp(op, "move-storage"))
        return cd_api_move_storage(d, conn, req, vm, ret);
    return do_vm_change(d, conn, op, vm, ret);
}
