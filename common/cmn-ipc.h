/* Local IPC between kvmcluster processes (clusterctl -> clusterd ->
 * hvagent), over libqb IPC (abstract unix sockets: private to the network
 * namespace, so every sandbox node has its own).
 *
 * A message is a NUL-terminated text (an XML document by convention;
 * schemas/ describes each). A client sends one request at a time and waits
 * for its reply; the server may also push events to connections that
 * subscribed. Replies may be deferred: a handler that can't answer at once
 * keeps the connection (cmn_ipc_conn_ref) and calls cmn_ipc_reply later.
 *
 * Authentication, both ways, because an abstract socket name is first come
 * first served and anyone may connect to it:
 * - the server decides at accept, from the credentials the kernel recorded
 *   on the connection's socket at connect() (SO_PEERCRED, SO_PEERGROUPS),
 *   never from /proc/<pid> read later (a pid can be reused). By default it
 *   accepts uid 0 only; cmn_ipc_server_set_access widens that. At most
 *   CMN_IPC_MAX_CONN_PER_UID connections per uid.
 * - the client checks that the process that answered runs as uid 0
 *   (qb_ipcc_auth_get and SO_PEERCRED of its socket) before it sends a
 *   byte, so a server bound to the name while the daemon restarts gets
 *   nothing (-CMN_E_IPC_SERVER).
 */
#ifndef KVMC_CMN_IPC_H
#define KVMC_CMN_IPC_H

#include <qb/qbloop.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define CMN_IPC_MAX_MSG (1024 * 1024)
/* Connections one uid may hold at once on one server. */
#define CMN_IPC_MAX_CONN_PER_UID 32

struct cmn_ipc_server;
struct cmn_ipc_conn;

/* Called for each request. Return 0 with *ret_reply set (malloc'd, freed
 * by the caller) to answer now; return CMN_IPC_DEFERRED to answer later
 * with cmn_ipc_reply(); a negative value answers with a generic error
 * reply built from cmn_strerror(). */
#define CMN_IPC_DEFERRED 1
typedef int (*cmn_ipc_request_fn)(void *data, struct cmn_ipc_conn *conn,
                                  const char *request, char **ret_reply);
/* Optional: a connection went away (drop subscriptions, deferred work). */
typedef void (*cmn_ipc_closed_fn)(void *data, struct cmn_ipc_conn *conn);

/* Who is at the other end of a server's connection, as the kernel
 * recorded it when the client connected. */
struct cmn_ipc_peer {
    pid_t pid;
    uid_t uid;
    gid_t gid;
    size_t ngroups; /* supplementary groups */
    gid_t *groups;
};

/* True when `gid` is the peer's primary or a supplementary group. */
bool cmn_ipc_peer_in_group(const struct cmn_ipc_peer *peer, gid_t gid);

/* Decides at accept whether `peer` may use the server: a non-negative
 * access level kept with the connection (cmn_ipc_conn_access), or a
 * negative errno (-EACCES) to refuse it before it can send anything. */
typedef int (*cmn_ipc_access_fn)(void *data, const struct cmn_ipc_peer *peer);

/* Serves `name` on `loop`, to uid 0 only (access level 0) until
 * cmn_ipc_server_set_access says otherwise. */
int cmn_ipc_server_new(qb_loop_t *loop, const char *name,
                       cmn_ipc_request_fn on_request,
                       cmn_ipc_closed_fn on_closed, void *data,
                       struct cmn_ipc_server **ret_server);
void cmn_ipc_server_free(struct cmn_ipc_server *server);
/* Replaces the uid-0-only rule by `access` (called with the server's data)
 * for connections accepted from now on; call it before running the loop. */
void cmn_ipc_server_set_access(struct cmn_ipc_server *server,
                               cmn_ipc_access_fn access);
/* Lowers (or raises) the per-uid cap, CMN_IPC_MAX_CONN_PER_UID by default. */
void cmn_ipc_server_set_conn_limit(struct cmn_ipc_server *server,
                                   unsigned per_uid);

/* Deferred reply; exactly one per request. */
int cmn_ipc_reply(struct cmn_ipc_conn *conn, const char *reply);
/* Marks the connection as subscribed to events / sends one event to it. */
void cmn_ipc_subscribe(struct cmn_ipc_conn *conn, bool on);
int cmn_ipc_event(struct cmn_ipc_conn *conn, const char *event);
/* Sends `event` to every subscribed connection. */
void cmn_ipc_broadcast(struct cmn_ipc_server *server, const char *event);
/* Keeps a connection alive across a deferred reply. */
void cmn_ipc_conn_ref(struct cmn_ipc_conn *conn);
void cmn_ipc_conn_unref(struct cmn_ipc_conn *conn);
/* Credentials of the peer process, as taken at accept. */
int cmn_ipc_conn_creds(struct cmn_ipc_conn *conn, pid_t *ret_pid,
                       uid_t *ret_uid, gid_t *ret_gid);
const struct cmn_ipc_peer *cmn_ipc_conn_peer(const struct cmn_ipc_conn *conn);
/* The access level the server's access function gave at accept. */
int cmn_ipc_conn_access(const struct cmn_ipc_conn *conn);

struct cmn_ipc_client;

/* Connects to server `name`; -ENOTCONN/-ECONNREFUSED when it isn't there,
 * -EACCES when the server refused this user, -CMN_E_IPC_SERVER when the
 * process serving the name is not root. */
int cmn_ipc_client_connect(const char *name,
                           struct cmn_ipc_client **ret_client);
/* The same, expecting the server to run as `server_uid` (unit tests that
 * run as an ordinary user serve and call as that user). */
int cmn_ipc_client_connect_uid(const char *name, uid_t server_uid,
                               struct cmn_ipc_client **ret_client);
void cmn_ipc_client_free(struct cmn_ipc_client *client);
/* Sends `request`, waits up to `timeout_ms` (-1 = forever) for the reply
 * (malloc'd into *ret_reply). -ETIMEDOUT past the deadline. */
int cmn_ipc_call(struct cmn_ipc_client *client, const char *request,
                 int timeout_ms, char **ret_reply);
/* Next pushed event within `timeout_ms`; -ETIMEDOUT if none. */
int cmn_ipc_next_event(struct cmn_ipc_client *client, int timeout_ms,
                       char **ret_event);
/* A descriptor that becomes readable when an event is waiting. */
int cmn_ipc_client_event_fd(struct cmn_ipc_client *client);

#include "common/cmn-auto.h"
CMN_DEFINE_AUTO(cmn_ipc_client, cmn_ipc_client_free)

#endif
