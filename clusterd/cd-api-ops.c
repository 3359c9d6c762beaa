/* The handlers of clusterd's requests (cd-api.h has the table of
 * operations, their permission class and the checks made before any
 * handler runs): cd_api_run calls the one for an operation by its
 * cd_api_id. The cluster's own requests (status, config, nodes, volumes,
 * the raw CDB) are here; the VMs' are in cd-api-vm.c, volume-check in
 * cd-csv.c. Reads answer from the local copy; writes become CDB changes
 * (cd_ipc_submit), answered once applied. cd-ipc.c only carries
 * requests and replies. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <libxml/tree.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clusterd/cd-check.h"
#include "clusterd/cd-coord.h"
#include "clusterd/cd-csv.h"
#include "clusterd/cd-daemon.h"
#include "clusterd/cd-int.h"
#include "clusterd/cd-local.h"
#include "clusterd/cd-storage.h"
#include "common/cmn-log.h"
#include "common/cmn-time.h"
#include "common/cmn-xml.h"

static bool is_member(const struct cd_daemon *d, uint32_t nodeid)
{
    const uint32_t *m;
    size_t n;

    if (!d->replica)
        return false;
    n = cd_replica_members(d->replica, &m);
    for (size_t i = 0; i < n; i++)
        if (m[i] == nodeid)
            return true;
    return false;
}

/* Ends the reason attribute, adds storage="..." storage-reason="...". */
static void storage_attrs(struct cd_daemon *d, struct cd_buf *b, uint32_t id)
{
    const struct cd_stor_table *t = cd_orch_storage(d);
    const struct cd_stor_node *e = t ? cd_stor_get(t, id) : NULL;
    char why[384] = "";

    if (t)
        cd_stor_reason(t, id, why, sizeof(why));
    cd_buf_xmlf(b, "\" storage=\"%s\" storage-reason=\"",
                e ? cd_stor_state_name(e->state) : "unknown");
    cd_buf_xml_escape(b, why);
    cd_buf_puts(b, "\"");
}

/* ready="yes|no" and why, from the node's own READY check (cd-check.h);
 * a node that never reported counts as ready. */
static void ready_attrs(struct cd_daemon *d, struct cd_buf *b, uint32_t id)
{
    struct cd_coord *co = cd_orch_coord(d);
    const struct cd_chk_node *e =
        co ? cd_chk_get(cd_coord_checks(co), id) : NULL;
    const struct cd_chk_result *r = e ? &e->r[CD_CHK_READY] : NULL;

    cd_buf_xmlf(b, " ready=\"%s\" ready-reason=\"",
                r && r->status == CD_CHK_FAIL ? "no" : "yes");
    cd_buf_xml_escape(b, r && r->status != CD_CHK_PASS ? r->text : "");
    cd_buf_puts(b, "\"");
}

static int do_status(struct cd_daemon *d, char **ret)
{
    const struct cd_cdb *cdb = cd_daemon_cdb(d);
    char hex[CD_DIGEST_HEX];
    unsigned expected, total, quorum;
    struct cd_buf b;
    const uint32_t *m = NULL;
    size_t n = 0;

    cd_cpg_votes(d, &expected, &total, &quorum);
    cd_cdb_digest_hex(cdb, hex);
    cd_buf_init(&b);
    cd_buf_xmlf(
        &b,
        "<status node=\"%s\" nodeid=\"%u\" corosync=\"%s\" "
        "quorate=\"%s\" coordinator=\"%u\" epoch=\"%" PRIu64 "\" "
        "digest=\"%s\" sync=\"%s\" expected-votes=\"%u\" "
        "total-votes=\"%u\" quorum-votes=\"%u\" "
        "last-sync-ms=\"%" PRIu64 "\"",
        d->node_name, d->nodeid, d->cpg_up ? "connected" : "disconnected",
        d->replica && cd_replica_quorate(d->replica) ? "yes" : "no",
        d->replica ? cd_replica_coordinator(d->replica) : 0, cd_cdb_epoch(cdb),
        hex,
        d->replica ? cd_sync_phase_name(cd_replica_phase(d->replica)) : "none",
        expected, total, quorum, d->last_sync_ms);
    if (d->replica) {
        const struct cd_replica_stats *st = cd_replica_stats(d->replica);
        cd_buf_xmlf(&b,
                    " snapshots-sent=\"%" PRIu64 "\" snapshots-taken=\"%" PRIu64
                    "\" changes-applied=\"%" PRIu64
                    "\" changes-rejected=\"%" PRIu64 "\"",
                    st->snapshots_sent, st->snapshots_taken, st->ops_applied,
                    st->ops_rejected);
        n = cd_replica_members(d->replica, &m);
    }
    cd_buf_puts(&b, ">\n");
    for (size_t i = 0; i < n; i++) {
        const struct cd_node *node = cd_cdb_node_by_id(cdb, m[i]);
        cd_buf_xmlf(&b,
                    "  <member nodeid=\"%u\" name=\"%s\" state=\"%s\" "
                    "reason=\"",
                    m[i], node ? node->name : "",
                    node ? cd_node_state_name(node->state) : "unregistered");
        storage_attrs(d, &b, m[i]);
        ready_attrs(d, &b, m[i]);
        cd_buf_puts(&b, "/>\n");
    }
    /* In corosync's membership without a clusterd in the group: its VMs
     * keep running there, unmanaged (cd_coord_confchg_kept). */
    for (size_t i = 0; d->view_known && i < d->nview; i++) {
        const struct cd_node *node = cd_cdb_node_by_id(cdb, d->view[i]);
        bool member = false;
        for (size_t k = 0; k < n; k++)
            member |= m[k] == d->view[i];
        if (!member)
            cd_buf_xmlf(&b, "  <clusterd-down nodeid=\"%u\" name=\"%s\"/>\n",
                        d->view[i], node ? node->name : "");
    }
    cd_buf_puts(&b, "</status>\n");
    return cd_buf_steal(&b, ret, NULL);
}

static int do_config_get(struct cd_daemon *d, const char *key, char **ret)
{
    const struct cd_cdb *cdb = cd_daemon_cdb(d);
    struct cd_buf b;

    if (key && cd_setting_find(key) < 0) {
        char msg[CD_VALUE_MAX + 128];
        snprintf(msg, sizeof(msg),
                 "unknown setting '%s' (see 'clusterctl config get')", key);
        *ret = cd_error_text(-CD_E_NOT_FOUND, msg);
        return *ret ? 0 : -ENOMEM;
    }
    cd_buf_init(&b);
    cd_buf_xmlf(&b, "<config epoch=\"%" PRIu64 "\">\n", cd_cdb_epoch(cdb));
    for (size_t i = 0; i < cd_setting_count(); i++) {
        const struct cd_setting_desc *s = &cd_settings[i];
        if (key && strcmp(key, s->key) != 0)
            continue;
        cd_buf_xmlf(&b, "  <setting name=\"%s\" value=\"", s->key);
        cd_buf_xml_escape(&b, cd_cdb_setting(cdb, s->key));
        cd_buf_puts(&b, "\" default=\"");
        cd_buf_xml_escape(&b, s->def);
        cd_buf_xmlf(&b, "\" unit=\"%s\" help=\"",
                    s->type == CD_SET_DURATION ? "ms" : "");
        cd_buf_xml_escape(&b, s->help);
        cd_buf_puts(&b, "\"/>\n");
    }
    cd_buf_puts(&b, "</config>\n");
    return cd_buf_steal(&b, ret, NULL);
}

static int do_node_list(struct cd_daemon *d, char **ret)
{
    const struct cd_cdb *cdb = cd_daemon_cdb(d);
    uint32_t coord = d->replica ? cd_replica_coordinator(d->replica) : 0;
    const uint32_t *m = NULL;
    size_t n = d->replica ? cd_replica_members(d->replica, &m) : 0;
    struct cd_buf b;

    cd_buf_init(&b);
    cd_buf_puts(&b, "<nodes>\n");
    for (size_t i = 0; i < cd_cdb_node_count(cdb); i++) {
        const struct cd_node *node = cd_cdb_node(cdb, i);
        cd_buf_xmlf(&b,
                    "  <node name=\"%s\" nodeid=\"%u\" address=\"%s\" "
                    "memory-mib=\"%" PRIu64 "\" state=\"%s\" "
                    "online=\"%s\" coordinator=\"%s\" "
                    "quarantined-until=\"%" PRIu64 "\" reason=\"",
                    node->name, node->nodeid, node->address, node->memory_mib,
                    cd_node_state_name(node->state),
                    is_member(d, node->nodeid) ? "yes" : "no",
                    node->nodeid == coord ? "yes" : "no",
                    node->quarantined_until);
        cd_buf_xml_escape(&b, node->reason);
        storage_attrs(d, &b, node->nodeid);
        ready_attrs(d, &b, node->nodeid);
        cd_buf_puts(&b, "/>\n");
    }
    /* Members that have not registered yet. */
    for (size_t i = 0; i < n; i++)
        if (!cd_cdb_node_by_id(cdb, m[i]))
            cd_buf_xmlf(&b,
                        "  <node name=\"\" nodeid=\"%u\" address=\"\" "
                        "memory-mib=\"0\" state=\"unregistered\" "
                        "online=\"yes\" coordinator=\"%s\"/>\n",
                        m[i], m[i] == coord ? "yes" : "no");
    cd_buf_puts(&b, "</nodes>\n");
    return cd_buf_steal(&b, ret, NULL);
}

/* The volumes of the CDB, and which one this clusterd keeps VMs on. */
static int do_volume_list(struct cd_daemon *d, char **ret)
{
    const struct cd_cdb *cdb = cd_daemon_cdb(d);
    struct cd_buf b;

    cd_buf_init(&b);
    cd_buf_puts(&b, "<volumes csv=\"");
    cd_buf_xml_escape(&b, d->csv ? cd_csv_path(d->csv) : "");
    cd_buf_puts(&b, "\">\n");
    for (size_t i = 0; i < cd_cdb_volume_count(cdb); i++) {
        const struct cd_volume *v = cd_cdb_volume(cdb, i);
        if (v->local) {
            cd_buf_xmlf(&b,
                        "  <volume name=\"%s\" kind=\"local\" node=\"%s\" "
                        "path=\"%s\"/>\n",
                        v->name, v->node, v->path);
            continue;
        }
        cd_buf_xmlf(&b, "  <volume name=\"%s\" lockspace=\"%s\">\n", v->name,
                    v->lockspace);
        for (size_t k = 0; k < v->nluns; k++) {
            cd_buf_puts(&b, "    <lun id=\"");
            cd_buf_xml_escape(&b, v->luns[k]);
            cd_buf_puts(&b, "\"/>\n");
        }
        cd_buf_puts(&b, "  </volume>\n");
    }
    cd_buf_puts(&b, "</volumes>\n");
    return cd_buf_steal(&b, ret, NULL);
}

static int do_cdb_get(struct cd_daemon *d, char **ret)
{
    char msg[PATH_MAX + 256];
    size_t len;
    int rc = cd_cdb_serialize(cd_daemon_cdb(d), ret, &len);

    /* An IPC reply is at most CMN_IPC_MAX_MSG (with libqb's header). */
    if (rc == 0 && len + 256 > CMN_IPC_MAX_MSG) {
        free(*ret);
        snprintf(msg, sizeof(msg),
                 "the cluster database is %zu bytes, more than the %d "
                 "bytes an IPC reply carries: read %s on this node "
                 "instead",
                 len, CMN_IPC_MAX_MSG - 256, d->cdb_path);
        *ret = cd_error_text(-CMN_E_TOO_BIG, msg);
        return *ret ? 0 : -ENOMEM;
    }
    return rc;
}

/* An administrator's baseline must run on every node that reported its
 * CPU (else cluster-mode VMs could not start or move there): refused
 * naming the model and the nodes, or an unknown model, or when no node
 * has reported yet (nothing to check it against). */
static int cpu_baseline_check(const struct cd_cdb *cdb, const char *model,
                              char *msg, size_t len)
{
    const struct res_cpu_caps *caps[CD_MAX_NODES];
    const char *names[CD_MAX_NODES];
    size_t n = 0;

    for (size_t i = 0; i < cd_cdb_node_count(cdb) && n < CD_MAX_NODES; i++) {
        const struct cd_node *nd = cd_cdb_node(cdb, i);
        if (nd->cpu_caps) {
            caps[n] = nd->cpu_caps;
            names[n++] = nd->name;
        }
    }
    if (n == 0) {
        snprintf(msg, len,
                 "cpu-baseline '%s': no node has reported its CPU capability "
                 "yet (see 'clusterctl cluster cpu')",
                 model);
        return -CD_E_BAD_VALUE;
    }
    if (res_cpu_baseline_check(caps, names, n, model, msg, len) < 0)
        return -CD_E_BAD_VALUE;
    return 0;
}

static int do_config_set(struct cd_daemon *d, struct cmn_ipc_conn *conn,
                         xmlNode *req, char **ret)
{
    char a[CD_VALUE_MAX], b[CD_VALUE_MAX], canon[CD_VALUE_MAX], msg[512];
    struct cd_op change = {0};
    int rc;

    if (!cmn_xml_attr_copy(req, "key", a, sizeof(a)) ||
        !cmn_xml_attr_copy(req, "value", b, sizeof(b))) {
        *ret = cd_error_text(-EINVAL, "config-set needs key and value");
        return *ret ? 0 : -ENOMEM;
    }
    /* Checked here too, so a typo is answered without a round trip and
     * never reaches the other members. */
    rc = cd_setting_normalize(a, b, canon, msg, sizeof(msg));
    if (rc < 0) {
        *ret = cd_error_text(rc, msg);
        return *ret ? 0 : -ENOMEM;
    }
    if (!strcmp(a, "cpu-baseline") && canon[0]) {
        rc = cpu_baseline_check(cd_daemon_cdb(d), canon, msg, sizeof(msg));
        if (rc < 0) {
            *ret = cd_error_text(rc, msg);
            return *ret ? 0 : -ENOMEM;
        }
    }
    change.type = CD_OP_SET_SETTING;
    memcpy(change.name, a, strlen(a) + 1); /* known key: short */
    snprintf(change.arg, sizeof(change.arg), "%s", b);
    return cd_ipc_submit(d, conn, &change, ret);
}

static int do_node_state(struct cd_daemon *d, struct cmn_ipc_conn *conn,
                         xmlNode *req, char **ret)
{
    char a[CD_VALUE_MAX], b[CD_VALUE_MAX], msg[CD_VALUE_MAX + 128];
    struct cd_op change = {0};
    enum cd_node_state st;

    if (!cmn_xml_attr_copy(req, "node", a, sizeof(a)) ||
        !cmn_xml_attr_copy(req, "state", b, sizeof(b))) {
        *ret = cd_error_text(-EINVAL, "node-state needs node and state");
        return *ret ? 0 : -ENOMEM;
    }
    if (!cd_cdb_node_by_name(cd_daemon_cdb(d), a)) {
        snprintf(msg, sizeof(msg),
                 "node '%s' does not exist (see 'clusterctl node list')", a);
        *ret = cd_error_text(-CD_E_NOT_FOUND, msg);
        return *ret ? 0 : -ENOMEM;
    }
    if (cd_node_state_parse(b, &st) < 0) {
        snprintf(msg, sizeof(msg),
                 "state '%s' is not up, drained, paused or quarantined", b);
        *ret = cd_error_text(-CD_E_BAD_VALUE, msg);
        return *ret ? 0 : -ENOMEM;
    }
    change.type = CD_OP_SET_NODE_STATE;
    memcpy(change.name, a, strlen(a) + 1); /* existing node: short */
    snprintf(change.arg, sizeof(change.arg), "%s", b);
    return cd_ipc_submit(d, conn, &change, ret);
}

/* cdb-add-vm / cdb-add-volume: a VM with its definition, or a volume with
 * its LUN ids one per line, as the element's text. */
static int do_cdb_add(struct cd_daemon *d, struct cmn_ipc_conn *conn,
                      xmlNode *req, bool vm, char **ret)
{
    const char *op = vm ? "cdb-add-vm" : "cdb-add-volume";
    char a[CD_VALUE_MAX], b[CD_VALUE_MAX], msg[CD_VALUE_MAX + 256];
    struct cd_op change = {0};
    xmlChar *text;
    int rc;

    if (!cmn_xml_attr_copy(req, "name", a, sizeof(a)) ||
        !cmn_xml_attr_copy(req, vm ? "priority" : "lockspace", b, sizeof(b)) ||
        strlen(a) >= CD_NAME_MAX) {
        snprintf(msg, sizeof(msg), "%s needs name and %s", op,
                 vm ? "priority" : "lockspace");
        *ret = cd_error_text(-EINVAL, msg);
        return *ret ? 0 : -ENOMEM;
    }
    change.type = vm ? CD_OP_ADD_VM : CD_OP_ADD_VOLUME;
    memcpy(change.name, a, strlen(a) + 1);
    memcpy(change.arg, b, strlen(b) + 1);
    if (vm)
        cmn_xml_attr_copy(req, "ref", change.arg2, sizeof(change.arg2));
    text = xmlNodeGetContent(req);
    if (text && *text)
        change.text = strdup((const char *)text);
    xmlFree(text);
    if (strlen(change.text ? change.text : "") > CD_TEXT_MAX) {
        snprintf(msg, sizeof(msg),
                 "%s '%s': %s is %zu bytes, more than %u (keep the "
                 "definition on a volume and give --ref)",
                 vm ? "VM" : "volume", a, vm ? "the definition" : "LUN list",
                 strlen(change.text), CD_TEXT_MAX);
        free(change.text);
        *ret = cd_error_text(-CMN_E_TOO_BIG, msg);
        return *ret ? 0 : -ENOMEM;
    }
    rc = cd_ipc_submit(d, conn, &change, ret);
    free(change.text);
    return rc;
}

static int do_cdb_remove(struct cd_daemon *d, struct cmn_ipc_conn *conn,
                         xmlNode *req, bool vm, char **ret)
{
    char a[CD_VALUE_MAX];
    struct cd_op change = {0};

    if (!cmn_xml_attr_copy(req, "name", a, sizeof(a)) ||
        strlen(a) >= CD_NAME_MAX) {
        *ret = cd_error_text(-EINVAL, "removal needs a name");
        return *ret ? 0 : -ENOMEM;
    }
    change.type = vm ? CD_OP_REMOVE_VM : CD_OP_REMOVE_VOLUME;
    memcpy(change.name, a, strlen(a) + 1);
    return cd_ipc_submit(d, conn, &change, ret);
}

/* Runs the handler of an operation cd_api_check and cd_api_permit let
 * through. */
int cd_api_run(struct cd_daemon *d, struct cmn_ipc_conn *conn,
               const struct cd_api_op *op, enum cd_api_class cls, xmlNode *req,
               char **ret)
{
    char a[CD_VALUE_MAX];

    switch (op->id) {
    case CD_API_STATUS:
        return do_status(d, ret);
    case CD_API_CDB_GET:
        return do_cdb_get(d, ret);
    case CD_API_CONFIG_GET:
        return do_config_get(d, cmn_xml_attr_copy(req, "key", a, sizeof(a)),
                             ret);
    case CD_API_NODE_LIST:
        return do_node_list(d, ret);
    case CD_API_VOLUME_LIST:
        return do_volume_list(d, ret);
    case CD_API_VOLUME_CHECK: {
        char vol[CD_VALUE_MAX];
        return cd_csv_ipc(d, conn, cls == CD_API_WRITE,
                          cmn_xml_attr_copy(req, "volume", vol, sizeof(vol)),
                          ret);
    }
    case CD_API_CONFIG_SET:
        return do_config_set(d, conn, req, ret);
    case CD_API_NODE_STATE:
        return do_node_state(d, conn, req, ret);
    case CD_API_CDB_ADD_VM:
    case CD_API_CDB_ADD_VOLUME:
        return do_cdb_add(d, conn, req, op->id == CD_API_CDB_ADD_VM, ret);
    case CD_API_VOLUME_ADD_LOCAL:
        return cd_local_volume_add(d, conn, req, ret);
    case CD_API_CDB_REMOVE_VM:
    case CD_API_CDB_REMOVE_VOLUME:
        return do_cdb_remove(d, conn, req, op->id == CD_API_CDB_REMOVE_VM, ret);
    case CD_API_METRICS:
    case CD_API_HISTORY:
        return cd_metrics_request(d, op->id, req, ret);
    case CD_API_VALIDATE:
        return cd_validate_request(d, ret);
    default: {
        /* VMs, moves, explain, events (cd-api-vm.c). */
        int rc =
            cd_api_vm_request(d, conn, op->name, req, cls == CD_API_WRITE, ret);
        if (rc != -ENOENT)
            return rc;
        *ret = cd_error_text(-CD_E_NO_CLUSTER,
                             "clusterd is still starting: retry in a moment");
        return *ret ? 0 : -ENOMEM;
    }
    }
}

int cd_version_gate(struct cd_daemon *d, uint16_t version, const char *what,
                    char **ret)
{
    const struct cd_cdb *cdb = cd_daemon_cdb(d);
    uint32_t old[CD_MAX_MEMBERS];
    char names[512] = "";
    size_t n, len = 0;
    int rc;

    if (!d->replica)
        return 0; /* refused by the submit, saying why */
    if (cd_replica_phase(d->replica) != CD_SYNC_DONE) {
        rc = cd_error_reply(ret, -CD_E_SYNCING,
                            "the cluster database is syncing after a "
                            "membership change: retry in a few seconds");
        return rc < 0 ? rc : 1;
    }
    n = cd_replica_members_below(d->replica, version, old, CMN_ARRAY_SIZE(old));
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n && i < CMN_ARRAY_SIZE(old); i++) {
        const struct cd_node *nd = cd_cdb_node_by_id(cdb, old[i]);
        int w = snprintf(names + len, sizeof(names) - len, "%s'%s'",
                         i ? ", " : "", nd ? nd->name : "?");
        if (w < 0 || (size_t)w >= sizeof(names) - len)
            break;
        len += (size_t)w;
    }
    rc = cd_error_reply(ret, -CD_E_MSG_VERSION,
                        "%s need every node's clusterd to speak cluster "
                        "protocol version %u; node%s %s run%s an older "
                        "clusterd: upgrade %s first",
                        what, (unsigned)version, n > 1 ? "s" : "", names,
                        n > 1 ? "" : "s", n > 1 ? "them" : "it");
    return rc < 0 ? rc : 1;
}
