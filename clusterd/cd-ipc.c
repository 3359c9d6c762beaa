/* The IPC server clusterctl talks to (libqb IPC via common/cmn-ipc.h).
 *
 * Requests are one XML element, <request op="..." .../>; replies are the
 * answer's own element (<status>, <cdb>, <config>, <nodes>, <ok>) or
 * <error code="N">message</error>. Reads are answered at once from the
 * local copy. A write is checked, multicast as a change, and answered when
 * corosync delivers it back and it has been applied here, i.e. once every
 * member has it in the same place of the agreed order.
 *
 * Transport only: a request is checked against cd-api.h's table
 * (cd_api_check, cd_api_permit) and handed to its handler (cd_api_run,
 * cd-api-ops.c); this module keeps the writes pending until applied. */
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
#include "clusterd/cd-fwd.h"
#include "clusterd/cd-int.h"
#include "clusterd/cd-storage.h"
#include "common/cmn-log.h"
#include "common/cmn-time.h"
#include "common/cmn-xml.h"

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
        *ret = cd_error_text(-CD_E_NO_CLUSTER,
                             "corosync is not reachable from clusterd: "
                             "changes are refused (start corosync, then "
                             "retry)");
        return *ret ? 0 : -ENOMEM;
    }
    rc = cd_replica_submit(d->replica, op, &id);
    if (rc == -CD_E_NO_CLUSTER) {
        *ret = cd_error_text(rc, "clusterd on this node is not connected to "
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
        *ret = cd_error_text(rc, msg);
        return *ret ? 0 : -ENOMEM;
    }
    if (rc < 0) {
        *ret = cd_error_text(rc, NULL);
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
    if (conn) /* NULL: a job whose client was answered already */
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
    reply = rc == 0 ? ok_reply(cd_daemon_cdb(d)) : cd_error_text(rc, err);
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
        char *reply = cd_error_text(
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
        *ret = cd_error_text(rc, msg);
        return *ret ? 0 : -ENOMEM;
    }
    return cd_api_run(d, conn, op, cls, req, ret);
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
        *ret_reply = cd_error_text(rc, err);
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
    cd_fwd_fail_all(d, "clusterd stopped");
    cmn_ipc_server_free(d->ipc);
    d->ipc = NULL;
}
