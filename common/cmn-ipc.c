#include "config.h"

#include "common/cmn-ipc.h"
#include "common/cmn-err.h"
#include "common/cmn-log.h"

#include <errno.h>
#include <qb/qbipcc.h>
#include <qb/qbipcs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59 /* Linux 4.13 */
#endif

/* Message kinds in the libqb header's id field. */
enum { IPC_MSG_REQUEST = 1, IPC_MSG_REPLY = 2, IPC_MSG_EVENT = 3 };

struct cmn_ipc_server {
    qb_ipcs_service_t *service;
    qb_loop_t *loop;
    cmn_ipc_request_fn on_request;
    cmn_ipc_closed_fn on_closed;
    cmn_ipc_access_fn access; /* NULL: uid 0 only */
    unsigned max_per_uid;     /* connections one uid may hold */
    void *data;
    char name[64]; /* for messages */
};

struct cmn_ipc_conn {
    qb_ipcs_connection_t *qb;
    struct cmn_ipc_server *server;
    bool subscribed;
    bool closed;              /* gone, kept only by a reference */
    struct cmn_ipc_peer peer; /* taken at accept */
    int access;               /* what the access function granted */
};

struct cmn_ipc_client {
    qb_ipcc_connection_t *qb;
    char *buf; /* one receive buffer of CMN_IPC_MAX_MSG */
};

/* libqb's poll-handler callbacks carry no context, so the loop that
 * serves IPC is this module's: one per process (clusterd, hvagent). */
static qb_loop_t *ipc_loop;

/* Every descriptor libqb polls goes through ipc_dispatch, which notes the
 * one being served. libqb accepts a connection inside the poll callback of
 * the new socket (where it reads the client's hello) and calls on_accept
 * from there, so during on_accept ipc_serving_fd is that connection's
 * socket: the one whose kernel-recorded credentials decide. libqb has no
 * call that hands the socket out. */
struct ipc_poll {
    qb_ipcs_dispatch_fn_t fn;
    void *data;
};
static struct ipc_poll *ipc_polls; /* indexed by descriptor */
static size_t ipc_npolls;
static int32_t ipc_serving_fd = -1;

static int32_t ipc_dispatch(int32_t fd, int32_t revents, void *unused)
{
    struct ipc_poll p;
    int32_t prev = ipc_serving_fd, rc;

    (void)unused;
    if (fd < 0 || (size_t)fd >= ipc_npolls || ipc_polls[fd].fn == NULL)
        return -1;
    /* The callback may delete (and free) its own entry. */
    p = ipc_polls[fd];
    ipc_serving_fd = fd;
    rc = p.fn(fd, revents, p.data);
    ipc_serving_fd = prev;
    return rc;
}

static int ipc_poll_set(int32_t fd, void *data, qb_ipcs_dispatch_fn_t fn)
{
    if (fd < 0)
        return -EBADF;
    if ((size_t)fd >= ipc_npolls) {
        size_t n = (size_t)fd + 64;
        struct ipc_poll *np = realloc(ipc_polls, n * sizeof(*np));
        if (np == NULL)
            return -ENOMEM;
        memset(np + ipc_npolls, 0, (n - ipc_npolls) * sizeof(*np));
        ipc_polls = np;
        ipc_npolls = n;
    }
    ipc_polls[fd].fn = fn;
    ipc_polls[fd].data = data;
    return 0;
}

static int32_t ipc_job_add(enum qb_loop_priority p, void *data,
                           qb_loop_job_dispatch_fn fn)
{
    return qb_loop_job_add(ipc_loop, p, data, fn);
}

static int32_t ipc_dispatch_add(enum qb_loop_priority p, int32_t fd,
                                int32_t evts, void *data,
                                qb_ipcs_dispatch_fn_t fn)
{
    int rc = ipc_poll_set(fd, data, fn);

    if (rc < 0)
        return rc;
    rc = qb_loop_poll_add(ipc_loop, p, fd, evts, NULL, ipc_dispatch);
    if (rc < 0)
        ipc_polls[fd].fn = NULL;
    return rc;
}

static int32_t ipc_dispatch_mod(enum qb_loop_priority p, int32_t fd,
                                int32_t evts, void *data,
                                qb_ipcs_dispatch_fn_t fn)
{
    int rc = ipc_poll_set(fd, data, fn);

    if (rc < 0)
        return rc;
    return qb_loop_poll_mod(ipc_loop, p, fd, evts, NULL, ipc_dispatch);
}

static int32_t ipc_dispatch_del(int32_t fd)
{
    if (fd >= 0 && (size_t)fd < ipc_npolls)
        ipc_polls[fd].fn = NULL;
    return qb_loop_poll_del(ipc_loop, fd);
}

bool cmn_ipc_peer_in_group(const struct cmn_ipc_peer *peer, gid_t gid)
{
    if (peer->gid == gid)
        return true;
    for (size_t i = 0; i < peer->ngroups; i++)
        if (peer->groups[i] == gid)
            return true;
    return false;
}

/* The credentials the kernel recorded on socket `fd` when the client
 * connected: uid, gid, pid and supplementary groups. */
static int peer_read(int fd, struct cmn_ipc_peer *ret)
{
    struct ucred cr;
    socklen_t len = sizeof(cr);
    gid_t *groups = NULL;
    int rc;

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
        return -errno;
    /* ERANGE hands back the size needed; the groups are fixed since
     * connect(), so a second try with that size succeeds. */
    len = 16 * sizeof(gid_t);
    for (int tries = 0;; tries++) {
        gid_t *ng = realloc(groups, len > 0 ? len : sizeof(gid_t));
        if (ng == NULL) {
            rc = -ENOMEM;
            goto fail;
        }
        groups = ng;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
            break;
        if (errno != ERANGE || tries == 2) {
            rc = -errno;
            goto fail;
        }
    }
    ret->pid = cr.pid;
    ret->uid = cr.uid;
    ret->gid = cr.gid;
    ret->groups = groups;
    ret->ngroups = len / sizeof(gid_t);
    return 0;
fail:
    free(groups);
    return rc;
}

/* Connections `uid` holds on `server` now. */
static unsigned conns_of(struct cmn_ipc_server *server, uid_t uid)
{
    qb_ipcs_connection_t *c = qb_ipcs_connection_first_get(server->service);
    unsigned n = 0;

    while (c != NULL) {
        struct cmn_ipc_conn *conn = qb_ipcs_context_get(c);
        qb_ipcs_connection_t *next;

        if (conn != NULL && !conn->closed && conn->peer.uid == uid)
            n++;
        next = qb_ipcs_connection_next_get(server->service, c);
        qb_ipcs_connection_unref(c);
        c = next;
    }
    return n;
}

static int32_t on_accept(qb_ipcs_connection_t *c, uid_t uid, gid_t gid)
{
    struct cmn_ipc_server *server = qb_ipcs_connection_service_context_get(c);
    struct cmn_ipc_peer peer = {0};
    struct cmn_ipc_conn *conn;
    int access, rc;

    (void)gid;
    rc = ipc_serving_fd < 0 ? -ENOTSOCK : peer_read(ipc_serving_fd, &peer);
    /* Cross-check with what libqb read from the same socket: a mismatch
     * means the descriptor is not this connection's, so refuse. */
    if (rc == 0 && peer.uid != uid)
        rc = -EBADF;
    if (rc < 0) {
        cmn_warn(CMN_LOG_COMMON,
                 "IPC '%s': refused a connection: cannot read its "
                 "credentials (%s)",
                 server->name, cmn_strerror(rc));
        free(peer.groups);
        return -EACCES;
    }
    if (server->access != NULL)
        access = server->access(server->data, &peer);
    else
        access = peer.uid == 0 ? 0 : -EACCES;
    if (access < 0) {
        cmn_info(CMN_LOG_COMMON,
                 "IPC '%s': refused uid %u gid %u (pid %d): not allowed",
                 server->name, (unsigned)peer.uid, (unsigned)peer.gid,
                 (int)peer.pid);
        free(peer.groups);
        return access;
    }
    if (conns_of(server, peer.uid) >= server->max_per_uid) {
        cmn_warn(CMN_LOG_COMMON,
                 "IPC '%s': refused uid %u (pid %d): it holds %u "
                 "connections already",
                 server->name, (unsigned)peer.uid, (int)peer.pid,
                 server->max_per_uid);
        free(peer.groups);
        return -EUSERS;
    }
    conn = calloc(1, sizeof(*conn));
    if (conn == NULL) {
        free(peer.groups);
        return -ENOMEM;
    }
    conn->qb = c;
    conn->server = server;
    conn->peer = peer;
    conn->access = access;
    qb_ipcs_context_set(c, conn);
    return 0;
}

static int32_t on_closed(qb_ipcs_connection_t *c)
{
    struct cmn_ipc_conn *conn = qb_ipcs_context_get(c);

    if (conn != NULL)
        conn->closed = true;
    if (conn != NULL && conn->server->on_closed != NULL)
        conn->server->on_closed(conn->server->data, conn);
    return 0;
}

static void on_destroyed(qb_ipcs_connection_t *c)
{
    struct cmn_ipc_conn *conn = qb_ipcs_context_get(c);

    if (conn != NULL)
        free(conn->peer.groups);
    free(conn);
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

    if (conn == NULL)
        return -EACCES;
    if (size < sizeof(*hdr) + 1 || hdr->id != IPC_MSG_REQUEST ||
        hdr->size != (int32_t)size)
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
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->max_per_uid = CMN_IPC_MAX_CONN_PER_UID;
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

void cmn_ipc_server_set_access(struct cmn_ipc_server *server,
                               cmn_ipc_access_fn access)
{
    server->access = access;
}

void cmn_ipc_server_set_conn_limit(struct cmn_ipc_server *server,
                                   unsigned per_uid)
{
    server->max_per_uid = per_uid;
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
    if (ret_pid)
        *ret_pid = conn->peer.pid;
    if (ret_uid)
        *ret_uid = conn->peer.uid;
    if (ret_gid)
        *ret_gid = conn->peer.gid;
    return 0;
}

const struct cmn_ipc_peer *cmn_ipc_conn_peer(const struct cmn_ipc_conn *conn)
{
    return &conn->peer;
}

int cmn_ipc_conn_access(const struct cmn_ipc_conn *conn)
{
    return conn->access;
}

/* Who serves the connection: libqb's record of the server's credentials
 * and the kernel's (SO_PEERCRED of the socket, set when the server called
 * listen()) must both say `want`. */
static int server_check(qb_ipcc_connection_t *qb, uid_t want)
{
    pid_t pid = 0;
    uid_t uid = (uid_t)-1;
    gid_t gid;
    struct ucred cr;
    socklen_t len = sizeof(cr);
    int32_t fd = -1;

    if (qb_ipcc_auth_get(qb, &pid, &uid, &gid) < 0 || uid != want)
        return -CMN_E_IPC_SERVER;
    if (qb_ipcc_fd_get(qb, &fd) < 0 || fd < 0 ||
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 ||
        cr.uid != want)
        return -CMN_E_IPC_SERVER;
    return 0;
}

int cmn_ipc_client_connect(const char *name, struct cmn_ipc_client **ret_client)
{
    return cmn_ipc_client_connect_uid(name, 0, ret_client);
}

int cmn_ipc_client_connect_uid(const char *name, uid_t server_uid,
                               struct cmn_ipc_client **ret_client)
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
    rc = server_check(c->qb, server_uid);
    if (rc < 0) {
        cmn_ipc_client_free(c);
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
