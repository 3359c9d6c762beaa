/* The IPC server clusterctl talks to (libqb IPC via common/cmn-ipc.h).
 *
 * Requests are one XML element, <request op="..." .../>; replies are the
 * answer's own element (<status>, <cdb>, <config>, <nodes>, <ok>) or
 * <error code="N">message</error>. Reads are answered at once from the
 * local copy. A write is checked, multicast as a change, and answered when
 * corosync delivers it back and it has been applied here, i.e. once every
 * member has it in the same place of the agreed order. */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clusterd/cd-csv.h"
#include "clusterd/cd-daemon.h"
#include "clusterd/cd-int.h"
#include "clusterd/cd-storage.h"
#include "common/cmn-log.h"
#include "common/cmn-time.h"
#include "common/cmn-xml.h"

static char *error_reply(int rc, const char *msg)
{
    struct cd_buf b;
    char *text = NULL;

    cd_buf_init(&b);
    cd_buf_printf(&b, "<error code=\"%d\">", rc < 0 ? -rc : rc);
    cd_buf_xml_escape(&b, msg && *msg ? msg : cmn_strerror(rc));
    cd_buf_puts(&b, "</error>");
    if (cd_buf_steal(&b, &text, NULL) < 0)
        return NULL;
    return text;
}

static char *ok_reply(const struct cd_cdb *cdb)
{
    char hex[CD_DIGEST_HEX];
    char *text = NULL;

    cd_cdb_digest_hex(cdb, hex);
    if (asprintf(&text, "<ok epoch=\"%" PRIu64 "\" digest=\"%s\"/>",
                 cd_cdb_epoch(cdb), hex) < 0)
        return NULL;
    return text;
}

static const char *req_attr(xmlNode *n, const char *name, char *buf, size_t len)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);

    if (!v)
        return NULL;
    snprintf(buf, len, "%s", (const char *)v);
    xmlFree(v);
    return buf;
}

/* ---------------------------------------------------------- answers */

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
    cd_buf_printf(b, "\" storage=\"%s\" storage-reason=\"",
                  e ? cd_stor_state_name(e->state) : "unknown");
    cd_buf_xml_escape(b, why);
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
    cd_buf_printf(
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
        cd_buf_printf(&b,
                      " snapshots-sent=\"%" PRIu64
                      "\" snapshots-taken=\"%" PRIu64
                      "\" changes-applied=\"%" PRIu64
                      "\" changes-rejected=\"%" PRIu64 "\"",
                      st->snapshots_sent, st->snapshots_taken, st->ops_applied,
                      st->ops_rejected);
        n = cd_replica_members(d->replica, &m);
    }
    cd_buf_puts(&b, ">\n");
    for (size_t i = 0; i < n; i++) {
        const struct cd_node *node = cd_cdb_node_by_id(cdb, m[i]);
        cd_buf_printf(&b,
                      "  <member nodeid=\"%u\" name=\"%s\" state=\"%s\" "
                      "reason=\"",
                      m[i], node ? node->name : "",
                      node ? cd_node_state_name(node->state) : "unregistered");
        storage_attrs(d, &b, m[i]);
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
            cd_buf_printf(&b, "  <clusterd-down nodeid=\"%u\" name=\"%s\"/>\n",
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
        *ret = error_reply(-CD_E_NOT_FOUND, msg);
        return *ret ? 0 : -ENOMEM;
    }
    cd_buf_init(&b);
    cd_buf_printf(&b, "<config epoch=\"%" PRIu64 "\">\n", cd_cdb_epoch(cdb));
    for (size_t i = 0; i < cd_setting_count(); i++) {
        const struct cd_setting_desc *s = &cd_settings[i];
        if (key && strcmp(key, s->key) != 0)
            continue;
        cd_buf_printf(&b, "  <setting name=\"%s\" value=\"", s->key);
        cd_buf_xml_escape(&b, cd_cdb_setting(cdb, s->key));
        cd_buf_puts(&b, "\" default=\"");
        cd_buf_xml_escape(&b, s->def);
        cd_buf_printf(&b, "\" unit=\"%s\" help=\"",
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
        cd_buf_printf(&b,
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
        cd_buf_puts(&b, "/>\n");
    }
    /* Members that have not registered yet. */
    for (size_t i = 0; i < n; i++)
        if (!cd_cdb_node_by_id(cdb, m[i]))
            cd_buf_printf(&b,
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
        cd_buf_printf(&b, "  <volume name=\"%s\" lockspace=\"%s\">\n", v->name,
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

/* ----------------------------------------------------------- writes */

int cd_ipc_submit(struct cd_daemon *d, struct cmn_ipc_conn *conn,
                  struct cd_op *op, char **ret)
{
    return cd_ipc_submit_cb(d, conn, op, NULL, NULL, ret);
}

int cd_ipc_submit_cb(struct cd_daemon *d, struct cmn_ipc_conn *conn,
                     struct cd_op *op, cd_ipc_applied_fn applied, void *arg,
                     char **ret)
{
    struct cd_pending_req *p;
    uint64_t id;
    int rc;

    if (!d->replica) {
        *ret = error_reply(-CD_E_NO_CLUSTER,
                           "corosync is not reachable from clusterd: "
                           "changes are refused (start corosync, then "
                           "retry)");
        return *ret ? 0 : -ENOMEM;
    }
    rc = cd_replica_submit(d->replica, op, &id);
    if (rc == -CD_E_NO_CLUSTER) {
        *ret = error_reply(rc, "clusterd on this node is not connected to "
                               "corosync: changes are refused (start "
                               "corosync; clusterd reconnects by itself)");
        return *ret ? 0 : -ENOMEM;
    }
    if (rc == -CD_E_NO_QUORUM) {
        unsigned expected, total, quorum;
        char msg[256];
        cd_cpg_votes(d, &expected, &total, &quorum);
        snprintf(msg, sizeof(msg),
                 "the cluster has no quorum (%u of %u votes, %u needed): "
                 "changes are refused until enough nodes are back",
                 total, expected, quorum);
        *ret = error_reply(rc, msg);
        return *ret ? 0 : -ENOMEM;
    }
    if (rc < 0) {
        *ret = error_reply(rc, NULL);
        return *ret ? 0 : -ENOMEM;
    }
    p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->request_id = id;
    p->conn = conn;
    p->submitted_ms = cmn_now_ms();
    p->applied = applied;
    p->arg = arg;
    p->next = d->pending;
    d->pending = p;
    cmn_ipc_conn_ref(conn);
    return CMN_IPC_DEFERRED;
}

void cd_ipc_applied(struct cd_daemon *d, uint32_t origin,
                    const struct cd_op *op, int rc, const char *err)
{
    struct cd_pending_req **pp, *p;
    char *reply;

    if (origin != d->nodeid)
        return;
    for (pp = &d->pending; (p = *pp); pp = &p->next)
        if (p->request_id == op->request_id)
            break;
    if (!p)
        return;
    *pp = p->next;
    reply = rc == 0 ? ok_reply(cd_daemon_cdb(d)) : error_reply(rc, err);
    if (p->applied) {
        /* The callback answers (and drops the reference) itself. */
        p->applied(d, p->conn, rc, reply, p->arg);
        free(p);
        return;
    }
    if (reply)
        cmn_ipc_reply(p->conn, reply);
    else
        cmn_ipc_reply(p->conn, "<error code=\"12\">out of memory</error>");
    free(reply);
    cmn_debug(CMN_LOG_CD, "request %" PRIu64 " answered after %" PRIu64 " ms",
              p->request_id, cmn_now_ms() - p->submitted_ms);
    cmn_ipc_conn_unref(p->conn);
    free(p);
}

void cd_ipc_fail_pending(struct cd_daemon *d, int rc)
{
    while (d->pending) {
        struct cd_pending_req *p = d->pending;
        char *reply = error_reply(
            rc, "lost the connection to corosync before the change was "
                "delivered: check 'clusterctl status' and retry");

        d->pending = p->next;
        if (p->applied) {
            p->applied(d, p->conn, rc, reply, p->arg);
            free(p);
            continue;
        }
        cmn_ipc_reply(p->conn, reply ? reply : "<error code=\"12\"/>");
        free(reply);
        cmn_ipc_conn_unref(p->conn);
        free(p);
    }
}

static void on_closed(void *data, struct cmn_ipc_conn *conn)
{
    struct cd_daemon *d = data;
    struct cd_pending_req **pp = &d->pending, *p;

    cd_orch_conn_closed(d, conn);
    while ((p = *pp)) {
        if (p->conn == conn && p->applied) {
            /* Its outcome is still due (work to finish or undo). */
            cmn_ipc_conn_unref(p->conn);
            p->conn = NULL;
            pp = &p->next;
        } else if (p->conn == conn) {
            *pp = p->next;
            cmn_ipc_conn_unref(p->conn);
            free(p);
        } else {
            pp = &p->next;
        }
    }
}

/* ------------------------------------------------------- changes */

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
        *ret = error_reply(-CMN_E_TOO_BIG, msg);
        return *ret ? 0 : -ENOMEM;
    }
    return rc;
}

static int do_config_set(struct cd_daemon *d, struct cmn_ipc_conn *conn,
                         xmlNode *req, char **ret)
{
    char a[CD_VALUE_MAX], b[CD_VALUE_MAX], canon[CD_VALUE_MAX], msg[512];
    struct cd_op change = {0};
    int rc;

    if (!req_attr(req, "key", a, sizeof(a)) ||
        !req_attr(req, "value", b, sizeof(b))) {
        *ret = error_reply(-EINVAL, "config-set needs key and value");
        return *ret ? 0 : -ENOMEM;
    }
    /* Checked here too, so a typo is answered without a round trip and
     * never reaches the other members. */
    rc = cd_setting_normalize(a, b, canon, msg, sizeof(msg));
    if (rc < 0) {
        *ret = error_reply(rc, msg);
        return *ret ? 0 : -ENOMEM;
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

    if (!req_attr(req, "node", a, sizeof(a)) ||
        !req_attr(req, "state", b, sizeof(b))) {
        *ret = error_reply(-EINVAL, "node-state needs node and state");
        return *ret ? 0 : -ENOMEM;
    }
    if (!cd_cdb_node_by_name(cd_daemon_cdb(d), a)) {
        snprintf(msg, sizeof(msg),
                 "node '%s' does not exist (see 'clusterctl node list')", a);
        *ret = error_reply(-CD_E_NOT_FOUND, msg);
        return *ret ? 0 : -ENOMEM;
    }
    if (cd_node_state_parse(b, &st) < 0) {
        snprintf(msg, sizeof(msg),
                 "state '%s' is not up, drained, paused or quarantined", b);
        *ret = error_reply(-CD_E_BAD_VALUE, msg);
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

    if (!req_attr(req, "name", a, sizeof(a)) ||
        !req_attr(req, vm ? "priority" : "lockspace", b, sizeof(b)) ||
        strlen(a) >= CD_NAME_MAX) {
        snprintf(msg, sizeof(msg), "%s needs name and %s", op,
                 vm ? "priority" : "lockspace");
        *ret = error_reply(-EINVAL, msg);
        return *ret ? 0 : -ENOMEM;
    }
    change.type = vm ? CD_OP_ADD_VM : CD_OP_ADD_VOLUME;
    memcpy(change.name, a, strlen(a) + 1);
    memcpy(change.arg, b, strlen(b) + 1);
    if (vm)
        req_attr(req, "ref", change.arg2, sizeof(change.arg2));
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
        *ret = error_reply(-CMN_E_TOO_BIG, msg);
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

    if (!req_attr(req, "name", a, sizeof(a)) || strlen(a) >= CD_NAME_MAX) {
        *ret = error_reply(-EINVAL, "removal needs a name");
        return *ret ? 0 : -ENOMEM;
    }
    change.type = vm ? CD_OP_REMOVE_VM : CD_OP_REMOVE_VOLUME;
    memcpy(change.name, a, strlen(a) + 1);
    return cd_ipc_submit(d, conn, &change, ret);
}

/* ---------------------------------------------------------- dispatch */

/* Runs the handler of an operation cd_api_check and cd_api_permit let
 * through. */
static int dispatch(struct cd_daemon *d, struct cmn_ipc_conn *conn,
                    const struct cd_api_op *op, enum cd_api_class cls,
                    xmlNode *req, char **ret)
{
    char a[CD_VALUE_MAX];

    switch (op->id) {
    case CD_API_STATUS:
        return do_status(d, ret);
    case CD_API_CDB_GET:
        return do_cdb_get(d, ret);
    case CD_API_CONFIG_GET:
        return do_config_get(d, req_attr(req, "key", a, sizeof(a)), ret);
    case CD_API_NODE_LIST:
        return do_node_list(d, ret);
    case CD_API_VOLUME_LIST:
        return do_volume_list(d, ret);
    case CD_API_VOLUME_CHECK:
        return cd_csv_ipc(d, conn, cls == CD_API_WRITE, ret);
    case CD_API_CONFIG_SET:
        return do_config_set(d, conn, req, ret);
    case CD_API_NODE_STATE:
        return do_node_state(d, conn, req, ret);
    case CD_API_CDB_ADD_VM:
    case CD_API_CDB_ADD_VOLUME:
        return do_cdb_add(d, conn, req, op->id == CD_API_CDB_ADD_VM, ret);
    case CD_API_CDB_REMOVE_VM:
    case CD_API_CDB_REMOVE_VOLUME:
        return do_cdb_remove(d, conn, req, op->id == CD_API_CDB_REMOVE_VM, ret);
    default: {
        /* VMs, moves, explain, events (cd-api-ops.c). */
        int rc =
            cd_api_vm_request(d, conn, op->name, req, cls == CD_API_WRITE, ret);
        if (rc != -ENOENT)
            return rc;
        *ret = error_reply(-CD_E_NO_CLUSTER,
                           "clusterd is still starting: retry in a moment");
        return *ret ? 0 : -ENOMEM;
    }
    }
}

static int handle(struct cd_daemon *d, struct cmn_ipc_conn *conn, xmlNode *req,
                  char **ret)
{
    const struct cd_api_op *op = NULL;
    enum cd_api_class cls = CD_API_READ;
    char msg[512];
    int rc;

    rc = cd_api_check(req, &op, &cls, msg, sizeof(msg));
    if (rc == 0)
        rc = cd_api_permit(&d->api, op, cls, cmn_ipc_conn_access(conn), msg,
                           sizeof(msg));
    if (rc < 0) {
        *ret = error_reply(rc, msg);
        return *ret ? 0 : -ENOMEM;
    }
    return dispatch(d, conn, op, cls, req, ret);
}

static int on_request(void *data, struct cmn_ipc_conn *conn,
                      const char *request, char **ret_reply)
{
    struct cd_daemon *d = data;
    xmlDoc *doc = NULL;
    char err[512];
    int rc;

    rc = cmn_xml_parse_mem(request, strlen(request), "request", CMN_IPC_MAX_MSG,
                           &doc, err, sizeof(err));
    if (rc < 0) {
        *ret_reply = error_reply(rc, err);
        return *ret_reply ? 0 : -ENOMEM;
    }
    rc = handle(d, conn, xmlDocGetRootElement(doc), ret_reply);
    xmlFreeDoc(doc);
    return rc;
}

/* Decided once per connection, from the credentials on its socket. */
static int on_access(void *data, const struct cmn_ipc_peer *peer)
{
    struct cd_daemon *d = data;

    return cd_api_peer_class(&d->api, peer);
}

int cd_ipc_start(struct cd_daemon *d)
{
    int rc = cmn_ipc_server_new(d->loop, CD_IPC_NAME, on_request, on_closed, d,
                                &d->ipc);

    if (rc == 0)
        cmn_ipc_server_set_access(d->ipc, on_access);
    return rc;
}

void cd_ipc_stop(struct cd_daemon *d)
{
    cd_ipc_fail_pending(d, -CD_E_NO_CLUSTER);
    cmn_ipc_server_free(d->ipc);
    d->ipc = NULL;
}
