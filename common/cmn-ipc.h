/* Local IPC between kvmcluster processes (clusterctl -> clusterd ->
 * hvagent), over libqb IPC (abstract unix sockets: private to the network
 * namespace, so every sandbox node has its own).
 *
 * A message is a NUL-terminated text (an XML document by convention;
 * schemas/ describes each). A client sends one request at a time and waits
 * for its reply; the server may also push events to connections that
 * subscribed. Replies may be deferred: a handler that can't answer at once
 * keeps the connection (cmn_ipc_conn_ref) and calls cmn_ipc_reply later.
 */
#ifndef KVMC_CMN_IPC_H
#define KVMC_CMN_IPC_H

#include <qb/qbloop.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define CMN_IPC_MAX_MSG (1024 * 1024)

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

/* Serves `name` on `loop`. */
int cmn_ipc_server_new(qb_loop_t *loop, const char *name,
                       cmn_ipc_request_fn on_request,
                       cmn_ipc_closed_fn on_closed, void *data,
                       struct cmn_ipc_server **ret_server);
void cmn_ipc_server_free(struct cmn_ipc_server *server);

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
/* Credentials of the peer process (for authorisation). */
int cmn_ipc_conn_creds(struct cmn_ipc_conn *conn, pid_t *ret_pid,
                       uid_t *ret_uid, gid_t *ret_gid);

struct cmn_ipc_client;

/* Connects to server `name`; -ENOTCONN/-ECONNREFUSED when it isn't there. */
int cmn_ipc_client_connect(const char *name,
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
