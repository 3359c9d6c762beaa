#include "config.h"

#include "common/cmn-ipc.h"
#include "common/cmn-err.h"

#include <errno.h>
#include <qb/qbipcc.h>
#include <qb/qbipcs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Message kinds in the libqb header's id field. */
enum { IPC_MSG_REQUEST = 1, IPC_MSG_REPLY = 2, IPC_MSG_EVENT = 3 };

struct cmn_ipc_server {
    qb_ipcs_service_t *service;
    qb_loop_t *loop;
    cmn_ipc_request_fn on_request;
    cmn_ipc_closed_fn on_closed;
    void *data;
};

struct cmn_ipc_conn {
    qb_ipcs_connection_t *qb;
    struct cmn_ipc_server *server;
    bool subscribed;
    uid_t uid;
    gid_t gid;
};

struct cmn_ipc_client {
    qb_ipcc_connection_t *qb;
    char *buf; /* one receive buffer of CMN_IPC_MAX_MSG */
};

/* libqb's poll-handler callbacks carry no context, so the loop that
 * serves IPC is this module's: one per process (clusterd, hvagent). */
static qb_loop_t *ipc_loop;

static int32_t ipc_job_add(enum qb_loop_priority p, void *data,
                           qb_loop_job_dispatch_fn fn)
{
    return qb_loop_job_add(ipc_loop, p, data, fn);
}

static int32_t ipc_dispatch_add(enum qb_loop_priority p, int32_t fd,
                                int32_t evts, void *data,
                                qb_ipcs_dispatch_fn_t fn)
{
    return qb_loop_poll_add(ipc_loop, p, fd, evts, data, fn);
}

static int32_t ipc_dispatch_mod(enum qb_loop_priority p, int32_t fd,
                                int32_t evts, void *data,
                                qb_ipcs_dispatch_fn_t fn)
{
    return qb_loop_poll_mod(ipc_loop, p, fd, evts, data, fn);
}

static int32_t ipc_dispatch_del(int32_t fd)
{
    return qb_loop_poll_del(ipc_loop, fd);
}

static int32_t on_accept(qb_ipcs_connection_t *c, uid_t uid, gid_t gid)
{
    struct cmn_ipc_conn *conn = calloc(1, sizeof(*conn));

    if (conn == NULL)
        return -ENOMEM;
    conn->qb = c;
    conn->server = qb_ipcs_connection_service_context_get(c);
    conn->uid = uid;
    conn->gid = gid;
    qb_ipcs_context_set(c, conn);
    return 0;
}

static int32_t on_closed(qb_ipcs_connection_t *c)
{
    struct cmn_ipc_conn *conn = qb_ipcs_context_get(c);

    if (conn != NULL && conn->server->on_closed != NULL)
        conn->server->on_closed(conn->server->data, conn);
    return 0;
}

static void on_destroyed(qb_ipcs_connection_t *c)
{
    free(qb_ipcs_context_get(c));
    qb_ipcs_context_set(c, NULL);
}

static int send_text(qb_ipcs_connection_t *c, int kind, const char *text,
                     bool event)
{
    struct qb_ipc_response_header hdr;
    struct iovec iov[2];
    size_t len = strlen(text) + 1;
    ssize_t n;

    if (sizeof(hdr) + len > CMN_IPC_MAX_MSG)
        return -CMN_E_TOO_BIG;
    memset(&hdr, 0, sizeof(hdr));
    hdr.id = kind;
    hdr.size = (int32_t)(sizeof(hdr) + len);
    iov[0].iov_base = &hdr;
    iov[0].iov_len = sizeof(hdr);
    iov[1].iov_base = (void *)text;
    iov[1].iov_len = len;
    n = event ? qb_ipcs_event_sendv(c, iov, 2)
              : qb_ipcs_response_sendv(c, iov, 2);
    return n < 0 ? (int)n : 0;
}

static int32_t on_message(qb_ipcs_connection_t *c, void *data, size_t size)
{
    struct cmn_ipc_conn *conn = qb_ipcs_context_get(c);
    const struct qb_ipc_request_header *hdr = data;
    const char *text = (const char *)(hdr + 1);
    size_t tlen;
    char *reply = NULL;
    char fallback[256];
    int rc;

    if (size < sizeof(*hdr) + 1 || hdr->id != IPC_MSG_REQUEST)
        return send_text(c, IPC_MSG_REPLY,
                         "<error code=\"EPROTO\">malformed request</error>",
                         false);
    tlen = size - sizeof(*hdr);
    /* Requests are NUL-terminated text; refuse anything else unread. */
    if (memchr(text, '\0', tlen) != text + tlen - 1)
        return send_text(c, IPC_MSG_REPLY,
                         "<error code=\"EPROTO\">request is not text</error>",
                         false);

    rc = conn->server->on_request(conn->server->data, conn, text, &reply);
    if (rc == CMN_IPC_DEFERRED)
        return 0;
    if (rc < 0 || reply == NULL) {
        snprintf(fallback, sizeof(fallback), "<error code=\"%d\">%s</error>",
                 rc < 0 ? -rc : EPROTO,
                 rc < 0 ? cmn_strerror(rc) : "handler gave no reply");
        free(reply);
        return send_text(c, IPC_MSG_REPLY, fallback, false);
    }
    rc = send_text(c, IPC_MSG_REPLY, reply, false);
    free(reply);
    return rc;
}

int cmn_ipc_server_new(qb_loop_t *loop, const char *name,
                       cmn_ipc_request_fn on_request,
                       cmn_ipc_closed_fn on_closed_cb, void *data,
                       struct cmn_ipc_server **ret_server)
{
    static struct qb_ipcs_service_handlers handlers = {
        .connection_accept = on_accept,
        .msg_process = on_message,
        .connection_closed = on_closed,
        .connection_destroyed = on_destroyed,
    };
    static struct qb_ipcs_poll_handlers poll = {
        .job_add = ipc_job_add,
        .dispatch_add = ipc_dispatch_add,
        .dispatch_mod = ipc_dispatch_mod,
        .dispatch_del = ipc_dispatch_del,
    };
    struct cmn_ipc_server *s;
    int32_t rc;

    if (ipc_loop != NULL && ipc_loop != loop)
        return -EBUSY;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    ipc_loop = loop;
    s->loop = loop;
    s->on_request = on_request;
    s->on_closed = on_closed_cb;
    s->data = data;
    /* SHM rings carry 1 MiB messages; the rendezvous is an abstract unix
     * socket, private to the network namespace. */
    s->service = qb_ipcs_create(name, 0, QB_IPC_SHM, &handlers);
    if (s->service == NULL) {
        rc = -errno ? -errno : -ENOMEM;
        free(s);
        return rc;
    }
    qb_ipcs_service_context_set(s->service, s);
    qb_ipcs_enforce_buffer_size(s->service, CMN_IPC_MAX_MSG);
    qb_ipcs_poll_handlers_set(s->service, &poll);
    rc = qb_ipcs_run(s->service);
    if (rc < 0) {
        qb_ipcs_destroy(s->service);
        free(s);
        return rc;
    }
    *ret_server = s;
    return 0;
}

void cmn_ipc_server_free(struct cmn_ipc_server *server)
{
    if (server == NULL)
        return;
    qb_ipcs_destroy(server->service);
    free(server);
}

int cmn_ipc_reply(struct cmn_ipc_conn *conn, const char *reply)
{
    return send_text(conn->qb, IPC_MSG_REPLY, reply, false);
}

void cmn_ipc_subscribe(struct cmn_ipc_conn *conn, bool on)
{
    conn->subscribed = on;
}

int cmn_ipc_event(struct cmn_ipc_conn *conn, const char *event)
{
    return send_text(conn->qb, IPC_MSG_EVENT, event, true);
}

void cmn_ipc_broadcast(struct cmn_ipc_server *server, const char *event)
{
    qb_ipcs_connection_t *c = qb_ipcs_connection_first_get(server->service);

    while (c != NULL) {
        struct cmn_ipc_conn *conn = qb_ipcs_context_get(c);
        qb_ipcs_connection_t *next;

        if (conn != NULL && conn->subscribed)
            (void)send_text(c, IPC_MSG_EVENT, event, true);
        /* first_get/next_get hand out references. */
        next = qb_ipcs_connection_next_get(server->service, c);
        qb_ipcs_connection_unref(c);
        c = next;
    }
}

void cmn_ipc_conn_ref(struct cmn_ipc_conn *conn)
{
    qb_ipcs_connection_ref(conn->qb);
}

void cmn_ipc_conn_unref(struct cmn_ipc_conn *conn)
{
    qb_ipcs_connection_unref(conn->qb);
}

int cmn_ipc_conn_creds(struct cmn_ipc_conn *conn, pid_t *ret_pid,
                       uid_t *ret_uid, gid_t *ret_gid)
{
    struct qb_ipcs_connection_stats st;

    if (qb_ipcs_connection_stats_get(conn->qb, &st, 0) < 0)
        return -EIO;
    if (ret_pid)
        *ret_pid = st.client_pid;
    if (ret_uid)
        *ret_uid = conn->uid;
    if (ret_gid)
        *ret_gid = conn->gid;
    return 0;
}

int cmn_ipc_client_connect(const char *name, struct cmn_ipc_client **ret_client)
{
    struct cmn_ipc_client *c = calloc(1, sizeof(*c));
    int rc;

    if (c == NULL)
        return -ENOMEM;
    c->buf = malloc(CMN_IPC_MAX_MSG);
    if (c->buf == NULL) {
        free(c);
        return -ENOMEM;
    }
    c->qb = qb_ipcc_connect(name, CMN_IPC_MAX_MSG);
    if (c->qb == NULL) {
        rc = errno ? -errno : -ECONNREFUSED;
        free(c->buf);
        free(c);
        return rc;
    }
    *ret_client = c;
    return 0;
}

void cmn_ipc_client_free(struct cmn_ipc_client *client)
{
    if (client == NULL)
        return;
    qb_ipcc_disconnect(client->qb);
    free(client->buf);
    free(client);
}

/* Copies the text after a response header out of the receive buffer. */
static int take_text(struct cmn_ipc_client *c, ssize_t n, int kind,
                     char **ret_text)
{
    struct qb_ipc_response_header *hdr = (void *)c->buf;
    const char *text = c->buf + sizeof(*hdr);
    char *copy;

    if (n < (ssize_t)sizeof(*hdr) + 1 || hdr->id != kind ||
        c->buf[n - 1] != '\0')
        return -EPROTO;
    copy = strdup(text);
    if (copy == NULL)
        return -ENOMEM;
    *ret_text = copy;
    return 0;
}

int cmn_ipc_call(struct cmn_ipc_client *client, const char *request,
                 int timeout_ms, char **ret_reply)
{
    struct qb_ipc_request_header hdr;
    struct iovec iov[2];
    size_t len = strlen(request) + 1;
    ssize_t n;

    if (sizeof(hdr) + len > CMN_IPC_MAX_MSG)
        return -CMN_E_TOO_BIG;
    memset(&hdr, 0, sizeof(hdr));
    hdr.id = IPC_MSG_REQUEST;
    hdr.size = (int32_t)(sizeof(hdr) + len);
    iov[0].iov_base = &hdr;
    iov[0].iov_len = sizeof(hdr);
    iov[1].iov_base = (void *)request;
    iov[1].iov_len = len;
    n = qb_ipcc_sendv_recv(client->qb, iov, 2, client->buf, CMN_IPC_MAX_MSG,
                           timeout_ms);
    if (n == -EAGAIN)
        return -ETIMEDOUT;
    if (n < 0)
        return (int)n;
    return take_text(client, n, IPC_MSG_REPLY, ret_reply);
}

int cmn_ipc_next_event(struct cmn_ipc_client *client, int timeout_ms,
                       char **ret_event)
{
    ssize_t n = qb_ipcc_event_recv(client->qb, client->buf, CMN_IPC_MAX_MSG,
                                   timeout_ms);

    if (n == -EAGAIN)
        return -ETIMEDOUT;
    if (n < 0)
        return (int)n;
    return take_text(client, n, IPC_MSG_EVENT, ret_event);
}

int cmn_ipc_client_event_fd(struct cmn_ipc_client *client)
{
    int32_t fd = -1;

    if (qb_ipcc_fd_get(client->qb, &fd) < 0)
        return -EIO;
    return fd;
}
