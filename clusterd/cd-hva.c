/* clusterd's client of the local hvagent (see cd-hva.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libxml/tree.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clusterd/cd-hva.h"
#include "clusterd/cd-int.h"
#include "common/cmn-auto.h"
#include "common/cmn-ipc.h"
#include "common/cmn-log.h"
#include "common/cmn-time.h"
#include "common/cmn-work.h"
#include "common/cmn-xml.h"
#include "csv/csv.h"
#include "hvagent/hva-proto.h"

#define RECONNECT_MS 1000
#define CALL_MS      10000

struct cd_hva {
    qb_loop_t *loop;
    char ipc_name[64];
    struct cd_hva_ops ops;
    void *data;
    struct cmn_ipc_client *ev; /* subscribed connection */
    int ev_fd;
    qb_loop_timer_handle timer;
    bool warned;
    int warned_rc;         /* the reason last warned about */
    struct cmn_work *work; /* the calls to hvagent */
};

struct job_ctx {
    struct cd_hva_job *job;
    cd_hva_done_fn done;
    void *data;
};

static void schedule_reconnect(struct cd_hva *h);

bool cd_hva_connected(const struct cd_hva *h)
{
    return h->ev != NULL;
}

static void drop(struct cd_hva *h)
{
    if (!h->ev)
        return;
    qb_loop_poll_del(h->loop, h->ev_fd);
    cmn_ipc_client_free(h->ev);
    h->ev = NULL;
}

static int32_t ev_ready(int32_t fd, int32_t revents, void *data)
{
    struct cd_hva *h = data;
    char *ev = NULL;
    int rc;

    (void)fd;
    (void)revents;
    for (;;) {
        rc = cmn_ipc_next_event(h->ev, 0, &ev);
        if (rc == -ETIMEDOUT)
            return 0;
        if (rc < 0)
            break;
        h->ops.event(h->data, ev);
        free(ev);
    }
    cmn_warn(CMN_LOG_CD,
             "lost the connection to hvagent '%s' (%s); its VMs keep "
             "running, reconnecting every %d ms",
             h->ipc_name, cmn_strerror(rc), RECONNECT_MS);
    drop(h);
    h->ops.lost(h->data);
    schedule_reconnect(h);
    return 0;
}

static int try_connect(struct cd_hva *h)
{
    struct cmn_ipc_client *c = NULL;
    char *reply = NULL;
    int rc;

    rc = cmn_ipc_client_connect(h->ipc_name, &c);
    if (rc < 0)
        return rc;
    rc = cmn_ipc_call(c, "<request op=\"subscribe\"/>", CALL_MS, &reply);
    free(reply);
    reply = NULL;
    if (rc == 0)
        rc = cmn_ipc_call(c, "<request op=\"status\"/>", CALL_MS, &reply);
    if (rc == 0 && strstr(reply, "rc=\"0\"") == NULL)
        rc = -EPROTO;
    if (rc < 0)
        goto fail;
    h->ev_fd = cmn_ipc_client_event_fd(c);
    if (h->ev_fd < 0 || qb_loop_poll_add(h->loop, QB_LOOP_MED, h->ev_fd, POLLIN,
                                         h, ev_ready) != 0) {
        rc = -EIO;
        goto fail;
    }
    h->ev = c;
    cmn_info(CMN_LOG_CD, "connected to hvagent '%s'", h->ipc_name);
    h->warned = false;
    h->ops.connected(h->data, reply);
    free(reply);
    /* Events that came between subscribe and now. */
    ev_ready(h->ev_fd, POLLIN, h);
    return 0;
fail:
    free(reply);
    cmn_ipc_client_free(c);
    return rc;
}

static void reconnect_cb(void *data)
{
    struct cd_hva *h = data;
    int rc = try_connect(h);

    if (rc == 0)
        return;
    /* Once per reason: an impostor on the name is worth a line of its
     * own after "Connection refused". */
    if (!h->warned || rc != h->warned_rc)
        cmn_warn(CMN_LOG_CD,
                 "hvagent '%s' is not reachable (%s): VMs can't run on this "
                 "node until it is (retrying every %d ms)",
                 h->ipc_name, cmn_strerror(rc), RECONNECT_MS);
    h->warned = true;
    h->warned_rc = rc;
    schedule_reconnect(h);
}

static void schedule_reconnect(struct cd_hva *h)
{
    qb_loop_timer_add(h->loop, QB_LOOP_LOW, RECONNECT_MS * 1000000ull, h,
                      reconnect_cb, &h->timer);
}

int cd_hva_new(qb_loop_t *loop, const char *ipc_name,
               const struct cd_hva_ops *ops, void *data, struct cd_hva **ret)
{
    struct cd_hva *h = calloc(1, sizeof(*h));
    int rc;

    if (!h)
        return -ENOMEM;
    rc = cmn_work_new(loop, CD_WORK_THREADS, 0, &h->work);
    if (rc < 0) {
        free(h);
        return rc;
    }
    h->loop = loop;
    snprintf(h->ipc_name, sizeof(h->ipc_name), "%s", ipc_name);
    h->ops = *ops;
    h->data = data;
    *ret = h;
    /* At once, so a restarted clusterd knows what runs before it
     * announces anything to the cluster. */
    reconnect_cb(h);
    return 0;
}

void cd_hva_free(struct cd_hva *h)
{
    if (!h)
        return;
    drop(h);
    qb_loop_timer_del(h->loop, h->timer);
    /* A call still running keeps the pool: it ends with the process. */
    cmn_work_free(h->work);
    free(h);
}

void cd_hva_job_free(struct cd_hva_job *job)
{
    if (!job)
        return;
    free(job->vm_xml);
    free(job);
}

/* ------------------------------------------------------------ worker */

/* rc of a <reply rc="N" error="..."/>, the error text to msg. */
static int reply_rc(const char *reply, char *msg, size_t len, xmlDoc **ret_doc)
{
    xmlDoc *doc = NULL;
    xmlNode *r;
    xmlChar *v;
    int rc;
    char err[256];

    if (cmn_xml_parse_mem(reply, strlen(reply), "hvagent reply", 1u << 20, &doc,
                          err, sizeof(err)) < 0) {
        snprintf(msg, len, "hvagent sent an unreadable reply");
        return -EPROTO;
    }
    r = xmlDocGetRootElement(doc);
    v = xmlGetProp(r, (const xmlChar *)"rc");
    rc = v ? atoi((const char *)v) : -EPROTO;
    xmlFree(v);
    if (rc < 0) {
        v = xmlGetProp(r, (const xmlChar *)"error");
        snprintf(msg, len, "%s", v ? (const char *)v : cmn_strerror(rc));
        xmlFree(v);
    }
    if (ret_doc)
        *ret_doc = doc;
    else
        xmlFreeDoc(doc);
    return rc;
}

/* Attribute `name` of the request's root element (requests are built
 * here, without quotes in values), for messages that name the operation
 * and the VM rather than quote the raw request. */
static void req_attr(const char *req, const char *name, char *buf, size_t len)
{
    char key[40];
    const char *p, *e;

    snprintf(key, sizeof(key), " %s=\"", name);
    p = strstr(req, key);
    if (!p)
        return;
    p += strlen(key);
    e = strchr(p, '"');
    if (e && (size_t)(e - p) < len)
        snprintf(buf, len, "%.*s", (int)(e - p), p);
}

static int call(struct cmn_ipc_client *c, const char *req, int timeout_ms,
                char *msg, size_t len, xmlDoc **ret_doc)
{
    char *reply = NULL;
    int rc = cmn_ipc_call(c, req, timeout_ms, &reply);

    if (rc < 0) {
        char op[32] = "?", vm[CD_NAME_MAX] = "";
        req_attr(req, "op", op, sizeof(op));
        req_attr(req, "vm", vm, sizeof(vm));
        if (vm[0])
            snprintf(msg, len,
                     "hvagent did not answer its %s request for VM '%s' "
                     "(%s): it may have exited (see its log)",
                     op, vm, cmn_strerror(rc));
        else
            snprintf(msg, len,
                     "hvagent did not answer its %s request (%s): it may "
                     "have exited (see its log)",
                     op, cmn_strerror(rc));
        return rc;
    }
    rc = reply_rc(reply, msg, len, ret_doc);
    free(reply);
    return rc;
}

int cd_hva_ask(const char *ipc_name, const char *req, int timeout_ms, char *msg,
               size_t len, xmlDoc **ret_doc)
{
    struct cmn_ipc_client *c = NULL;
    int rc = cmn_ipc_client_connect(ipc_name, &c);

    *ret_doc = NULL;
    if (rc < 0) {
        snprintf(msg, len, "hvagent not reachable: %s", cmn_strerror(rc));
        return rc;
    }
    rc = call(c, req, timeout_ms, msg, len, ret_doc);
    cmn_ipc_client_free(c);
    return rc;
}

static uint64_t doc_u64(xmlDoc *doc, const char *name)
{
    xmlChar *v =
        doc ? xmlGetProp(xmlDocGetRootElement(doc), (const xmlChar *)name)
            : NULL;
    uint64_t n = v ? strtoull((const char *)v, NULL, 10) : 0;

    xmlFree(v);
    return n;
}

static int define(struct cmn_ipc_client *c, struct cd_hva_job *j)
{
    char *req = NULL;
    int rc;

    if (!j->vm_xml) {
        snprintf(j->msg, sizeof(j->msg), "VM '%s': no definition", j->vm);
        return -EINVAL;
    }
    if (asprintf(&req, "<request op=\"define\">%s</request>", j->vm_xml) < 0)
        return -ENOMEM;
    rc = call(c, req, CALL_MS, j->msg, sizeof(j->msg), NULL);
    free(req);
    return rc;
}

static int simple(struct cmn_ipc_client *c, struct cd_hva_job *j,
                  const char *op, const char *extra, int timeout_ms,
                  xmlDoc **ret_doc)
{
    /* `extra`: attributes built (escaped) by the caller */
    char *head cmn_autofree =
        cmn_xml_format("<request op=\"%s\" vm=\"%s\" ", op, j->vm);
    char *req cmn_autofree = NULL;

    if (!head || asprintf(&req, "%s%s/>", head, extra ? extra : "") < 0) {
        req = NULL;
        snprintf(j->msg, sizeof(j->msg), "out of memory");
        return -ENOMEM;
    }
    return call(c, req, timeout_ms, j->msg, sizeof(j->msg), ret_doc);
}

/* Is the VM running on this node's hvagent (state running/paused)? */
static bool runs_here(struct cmn_ipc_client *c, struct cd_hva_job *j)
{
    xmlDoc *doc = NULL;
    char msg[256];
    bool yes = false;
    char *req cmn_autofree =
        cmn_xml_format("<request op=\"status\" vm=\"%s\"/>", j->vm);

    if (req && call(c, req, CALL_MS, msg, sizeof(msg), &doc) == 0) {
        for (xmlNode *n = xmlDocGetRootElement(doc)->children; n; n = n->next) {
            xmlChar *st = xmlGetProp(n, (const xmlChar *)"state");
            if (st && (!strcmp((const char *)st, "running") ||
                       !strcmp((const char *)st, "paused")))
                yes = true;
            xmlFree(st);
        }
    }
    xmlFreeDoc(doc);
    return yes;
}

static int step_start(struct cmn_ipc_client *c, struct cd_hva_job *j)
{
    uint64_t deadline = cmn_now_ms() + (uint64_t)j->lease_wait_s * 1000;
    int rc = define(c, j);

    if (rc < 0)
        return rc;
    if (runs_here(c, j))
        return 0; /* idempotent: a repeated start */
    /* A failover target waits here until sanlock declares the dead
     * host's lease expired (its host-dead time): the lease, not this
     * loop, is what keeps the VM from running twice. */
    for (;;) {
        uint64_t free_ms;

        /* Never a QEMU while the lease is taken: wait for it here. */
        if (j->lease_ls[0] &&
            csv_lease_held_live(j->lease_ls, j->lease_res, j->lease_path,
                                j->lease_offset) == 1) {
            if (cmn_now_ms() >= deadline) {
                snprintf(j->msg, sizeof(j->msg),
                         "VM '%s': lease '%s' still held by another host "
                         "after %u s",
                         j->vm, j->lease_res, j->lease_wait_s);
                return -HVA_E_LEASE_HELD;
            }
            poll(NULL, 0, 500);
            continue;
        }
        /* The lease is free (or hvagent alone can tell): a failover's
         * lease wait ends here and its start phase begins, to within
         * the 500 ms between probes. */
        free_ms = cmn_now_ms();
        rc = simple(c, j, "start", NULL, 120000, NULL);
        if (rc == 0) /* 0 says "not reported": 1 ms at least */
            j->start_ms = cmn_now_ms() > free_ms ? cmn_now_ms() - free_ms : 1;
        if (rc != -HVA_E_LEASE_HELD || cmn_now_ms() >= deadline)
            break;
        poll(NULL, 0, 1000);
        /* A QEMU hvagent re-attached meanwhile holds it itself. */
        if (runs_here(c, j))
            return 0;
    }
    return rc;
}

static int worker(void *arg)
{
    struct job_ctx *ctx = arg;
    struct cd_hva_job *j = ctx->job;
    struct cmn_ipc_client *c = NULL;
    xmlDoc *doc = NULL;
    uint64_t t0 = cmn_now_ms();
    int rc;

    if (j->prepare) {
        rc = j->prepare(j);
        if (rc < 0)
            goto out;
    }
    rc = cmn_ipc_client_connect(j->ipc_name, &c);
    if (rc < 0) {
        snprintf(j->msg, sizeof(j->msg),
                 "hvagent is not reachable on this node (%s)",
                 cmn_strerror(rc));
        rc = -CD_E_NO_AGENT;
        goto out;
    }
    switch (j->kind) {
    case CD_ACT_START:
        rc = step_start(c, j);
        break;
    case CD_ACT_STOP:
        /* mig_args: a shorter guest timeout (quorum loss, shutdown). */
        rc = simple(c, j, "stop",
                    j->mig_args[0] ? j->mig_args : "timeout-ms=\"10000\"",
                    30000, NULL);
        if (rc == -HVA_E_STATE || rc == -HVA_E_NO_VM)
            rc = 0; /* not running: what was asked */
        break;
    case CD_ACT_LIVE:
        if (j->step == 0) {
            rc = define(c, j);
            if (rc == 0)
                rc = simple(c, j, "migrate-in", NULL, CALL_MS, NULL);
        } else {
            /* mig_args: attributes cd-orch.c built escaped */
            char *to cmn_autofree = cmn_xml_format("to=\"%s\" ", j->target);
            char *extra cmn_autofree = NULL;
            if (!to || asprintf(&extra, "%s%s", to, j->mig_args) < 0) {
                extra = NULL;
                snprintf(j->msg, sizeof(j->msg), "out of memory");
                rc = -ENOMEM;
                break;
            }
            rc = simple(c, j, "migrate-out", extra, 600000, &doc);
            j->downtime_ms = doc_u64(doc, "downtime-ms");
            j->total_ms = doc_u64(doc, "total-ms");
        }
        break;
    case CD_ACT_QUICK:
        if (j->step == 0) {
            rc = simple(c, j, "save", NULL, 600000, &doc);
        } else {
            rc = define(c, j);
            if (rc == 0)
                rc = simple(c, j, "restore", NULL, 600000, &doc);
        }
        break;
    default:
        rc = -EINVAL;
    }
    if (!j->total_ms)
        j->total_ms = cmn_now_ms() - t0;
out:
    j->rc = rc;
    xmlFreeDoc(doc);
    cmn_ipc_client_free(c);
    return rc;
}

static void worker_done(void *arg, int rc)
{
    struct job_ctx *ctx = arg;

    (void)rc; /* in the job */
    ctx->done(ctx->data, ctx->job);
    free(ctx);
}

int cd_hva_run(struct cd_hva *h, struct cd_hva_job *job, cd_hva_done_fn done,
               void *data)
{
    struct job_ctx *ctx = calloc(1, sizeof(*ctx));
    int rc;

    if (!ctx)
        return -ENOMEM;
    ctx->job = job;
    ctx->done = done;
    ctx->data = data;
    snprintf(job->ipc_name, sizeof(job->ipc_name), "%s", h->ipc_name);
    rc = cmn_work_submit(h->work, worker, worker_done, ctx);
    if (rc < 0)
        free(ctx);
    return rc;
}

int cd_hva_stop_all(struct cd_hva *h, unsigned timeout_ms)
{
    struct cmn_ipc_client *c = NULL;
    xmlDoc *doc = NULL;
    char msg[256];
    int rc, n = 0;

    rc = cmn_ipc_client_connect(h->ipc_name, &c);
    if (rc < 0)
        return rc;
    rc = call(c, "<request op=\"status\"/>", CALL_MS, msg, sizeof(msg), &doc);
    if (rc == 0) {
        for (xmlNode *v = xmlDocGetRootElement(doc)->children; v; v = v->next) {
            xmlChar *name = xmlGetProp(v, (const xmlChar *)"name");
            xmlChar *pid = xmlGetProp(v, (const xmlChar *)"pid");
            if (name && pid && atoi((const char *)pid) > 0) {
                char *req cmn_autofree = cmn_xml_format(
                    "<request op=\"stop\" vm=\"%s\" timeout-ms=\"%u\"/>",
                    (const char *)name, timeout_ms);
                if (req && call(c, req, (int)timeout_ms + 10000, msg,
                                sizeof(msg), NULL) == 0)
                    n++;
            }
            xmlFree(name);
            xmlFree(pid);
        }
    }
    xmlFreeDoc(doc);
    cmn_ipc_client_free(c);
    return rc < 0 ? rc : n;
}
