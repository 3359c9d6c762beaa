/* Forwarded requests, the daemon's side (see cd-fwd.h for the protocol
 * and its guarantees). */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clusterd/cd-daemon.h"
#include "clusterd/cd-fwd.h"
#include "clusterd/cd-int.h"
#include "common/cmn-ipc.h"
#include "common/cmn-log.h"
#include "common/cmn-time.h"
#include "common/cmn-xml.h"

#define FWD_STR_(x) #x
#define FWD_STR(x)  FWD_STR_(x)

/* A client's request waiting for the node it went to. */
struct cd_fwd_pending {
    struct cd_fwd_pending *next;
    struct cd_daemon *d;
    uint64_t id;
    uint32_t to;
    char vm[CD_NAME_MAX];
    struct cmn_ipc_conn *conn;
    qb_loop_timer_handle timer;
    uint64_t sent_ms;
    bool poll; /* logged at debug */
};

static const char *node_name(struct cd_daemon *d, uint32_t id)
{
    const struct cd_node *n = cd_cdb_node_by_id(cd_daemon_cdb(d), id);

    return n ? n->name : "?";
}

static struct cd_fwd_pending *unlink_pending(struct cd_daemon *d, uint64_t id)
{
    struct cd_fwd_pending **pp, *p;

    for (pp = &d->fwd_pending; (p = *pp); pp = &p->next)
        if (p->id == id) {
            *pp = p->next;
            return p;
        }
    return NULL;
}

/* Answers the client and frees p (unlinked already). */
static void finish(struct cd_fwd_pending *p, const char *reply)
{
    qb_loop_timer_del(p->d->loop, p->timer);
    cmn_ipc_reply(p->conn,
                  reply ? reply : "<error code=\"12\">out of memory</error>");
    cmn_ipc_conn_unref(p->conn);
    free(p);
}

/* Answers p saying that its outcome is not known. */
static void fail_unknown(struct cd_fwd_pending *p, const char *why)
{
    char *text = NULL;

    cd_error_reply(&text, -CD_E_NO_CLUSTER,
                   "VM '%s': the request went to node '%s' (the VM runs "
                   "there) and got no answer: %s; it may or may not have "
                   "been done (see 'clusterctl vm show %s')",
                   p->vm, node_name(p->d, p->to), why, p->vm);
    cmn_warn(CMN_LOG_CD,
             "VM '%s': forwarded request %" PRIu64 " to node %u: %s", p->vm,
             p->id, p->to, why);
    finish(p, text);
    free(text);
}

static void timeout_cb(void *data)
{
    struct cd_fwd_pending *p = data;

    if (unlink_pending(p->d, p->id) != p)
        return;
    fail_unknown(p, "none within " FWD_STR(CD_FWD_TIMEOUT_S) " s");
}

static int send_msg(struct cd_daemon *d, const struct cd_fwd_msg *m)
{
    void *buf = NULL;
    size_t len;
    int rc = cd_fwd_msg_encode(m, &buf, &len);

    if (rc == 0)
        rc = cd_cpg_send(d, buf, len);
    free(buf);
    return rc;
}

int cd_fwd_request(struct cd_daemon *d, struct cmn_ipc_conn *conn, uint32_t to,
                   const char *vm, const char *req, bool poll, char **ret)
{
    struct cd_fwd_msg m = {.type = CD_FWD_REQUEST, .to = to};
    struct cd_fwd_pending *p;
    int rc;

    p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->d = d;
    p->id = m.id = ++d->fwd_next_id;
    p->to = to;
    snprintf(p->vm, sizeof(p->vm), "%s", vm);
    m.text = (char *)req;
    rc = send_msg(d, &m);
    if (rc < 0) {
        free(p);
        return cd_error_reply(ret, rc,
                              "VM '%s' runs on node '%s': cannot pass the "
                              "request there (%s); nothing was changed",
                              vm, node_name(d, to), cmn_strerror(rc));
    }
    if (qb_loop_timer_add(d->loop, QB_LOOP_LOW,
                          CD_FWD_TIMEOUT_S * 1000000000ull, p, timeout_cb,
                          &p->timer) != 0)
        p->timer = 0; /* answered by confchg or the answer only */
    p->conn = conn;
    cmn_ipc_conn_ref(conn);
    p->sent_ms = cmn_now_ms();
    p->poll = poll;
    p->next = d->fwd_pending;
    d->fwd_pending = p;
    if (poll)
        cmn_debug(CMN_LOG_CD,
                  "VM '%s': request %" PRIu64 " forwarded to node %s", vm,
                  p->id, node_name(d, to));
    else
        cmn_info(CMN_LOG_CD,
                 "VM '%s': request %" PRIu64 " forwarded to node %s", vm, p->id,
                 node_name(d, to));
    return CMN_IPC_DEFERRED;
}

void cd_fwd_answer(struct cd_daemon *d, uint32_t origin, uint64_t id,
                   const char *reply)
{
    struct cd_fwd_msg m = {.type = CD_FWD_ANSWER, .to = origin, .id = id};
    int rc;

    m.text =
        (char *)(reply ? reply : "<error code=\"12\">out of memory</error>");
    rc = send_msg(d, &m);
    if (rc < 0)
        cmn_err(CMN_LOG_CD,
                "cannot answer node %u's forwarded request %" PRIu64 ": %s",
                origin, id, cmn_strerror(rc));
}

/* A request for this node: run as a local client's, answered later by
 * the job (cd-api-disk.c) or now. */
static void run_request(struct cd_daemon *d, uint32_t origin, uint64_t id,
                        const char *text)
{
    char op[32] = "", vm[CD_NAME_MAX] = "", err[256], *ret = NULL;
    xmlDoc *doc = NULL;
    xmlNode *req;
    int rc;

    rc = cmn_xml_parse_mem(text, strlen(text), "forwarded request",
                           CD_FWD_TEXT_MAX, &doc, err, sizeof(err));
    req = rc == 0 ? xmlDocGetRootElement(doc) : NULL;
    if (req) {
        cmn_xml_attr_copy(req, "op", op, sizeof(op));
        cmn_xml_attr_copy(req, "vm", vm, sizeof(vm));
    }
    if (req && !strcmp(op, "vm-disk"))
        rc = cd_api_vm_disk_forwarded(d, origin, id, req, vm, &ret);
    else if (req && !strcmp(op, "move-storage"))
        rc = cd_api_move_storage_forwarded(d, origin, id, req, vm, &ret);
    else
        rc = cd_error_reply(&ret, -CD_E_BAD_MSG,
                            "node %u forwarded a request this node does not "
                            "take ('%s'): only vm-disk and move-storage are "
                            "forwarded",
                            origin, op);
    if (rc != CMN_IPC_DEFERRED) {
        if (!ret)
            ret = cd_error_text(rc < 0 ? rc : -ENOMEM, NULL);
        cd_fwd_answer(d, origin, id, ret);
    }
    free(ret);
    xmlFreeDoc(doc);
}

bool cd_fwd_deliver(struct cd_daemon *d, uint32_t sender, const void *buf,
                    size_t len)
{
    struct cd_fwd_msg m;
    struct cd_fwd_pending *p;
    int rc;

    if (!cd_fwd_msg_is_mine(buf, len))
        return false;
    rc = cd_fwd_msg_decode(buf, len, &m);
    if (rc < 0) {
        cmn_warn(CMN_LOG_CD, "node %u: forwarded request refused: %s", sender,
                 cmn_strerror(rc));
        return true;
    }
    if (m.to != d->nodeid) {
        free(m.text);
        return true;
    }
    if (m.type == CD_FWD_REQUEST) {
        run_request(d, sender, m.id, m.text);
    } else if (sender != d->nodeid) {
        p = unlink_pending(d, m.id);
        if (p && p->to == sender) {
            if (p->poll)
                cmn_debug(CMN_LOG_CD,
                          "VM '%s': node %s answered request %" PRIu64
                          " after %" PRIu64 " ms",
                          p->vm, node_name(d, sender), m.id,
                          cmn_now_ms() - p->sent_ms);
            else
                cmn_info(CMN_LOG_CD,
                         "VM '%s': node %s answered request %" PRIu64
                         " after %" PRIu64 " ms",
                         p->vm, node_name(d, sender), m.id,
                         cmn_now_ms() - p->sent_ms);
            finish(p, m.text);
        } else if (p) {
            /* Not from where it went: put back, wait for the real one. */
            p->next = d->fwd_pending;
            d->fwd_pending = p;
        }
    }
    free(m.text);
    return true;
}

void cd_fwd_confchg(struct cd_daemon *d, const uint32_t *members, size_t n)
{
    struct cd_fwd_pending **pp = &d->fwd_pending, *p;

    while ((p = *pp)) {
        bool in = false;
        for (size_t i = 0; i < n; i++)
            in |= members[i] == p->to;
        if (in) {
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        fail_unknown(p, "that node left the cluster");
    }
}

void cd_fwd_fail_all(struct cd_daemon *d, const char *why)
{
    while (d->fwd_pending) {
        struct cd_fwd_pending *p = d->fwd_pending;
        d->fwd_pending = p->next;
        fail_unknown(p, why);
    }
}
