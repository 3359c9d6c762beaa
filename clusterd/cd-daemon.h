/* The clusterd daemon: state shared by its main loop, corosync glue and
 * IPC server (internal to clusterd/). */
#ifndef KVMC_CD_DAEMON_H
#define KVMC_CD_DAEMON_H

#include <corosync/cpg.h>
#include <corosync/quorum.h>
#include <limits.h>
#include <qb/qbloop.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "clusterd/cd-api.h"
#include "clusterd/cd-replica.h"
#include "clusterd/cd.h"
#include "common/cmn-ipc.h"

struct cd_outmsg {
    struct cd_outmsg *next;
    size_t len;
    uint8_t buf[];
};

struct cd_daemon;

/* Told the outcome of a change submitted with cd_ipc_submit_cb, in the
 * loop: rc 0 (applied here) or < 0 (refused, or -CD_E_NO_CLUSTER: lost
 * with corosync, outcome unknown). `reply` is the answer the client
 * would get (the callback owns it); `conn` is the client's, NULL when it
 * went away, else the callback owns a reference and must answer it
 * (cmn_ipc_reply) and drop it (cmn_ipc_conn_unref), now or later. */
typedef void (*cd_ipc_applied_fn)(struct cd_daemon *d,
                                  struct cmn_ipc_conn *conn, int rc,
                                  char *reply, void *arg);

/* A client request waiting for its change to be delivered. */
struct cd_pending_req {
    struct cd_pending_req *next;
    uint64_t request_id;
    struct cmn_ipc_conn *conn; /* NULL: client gone, `applied` still due */
    uint64_t submitted_ms;
    cd_ipc_applied_fn applied; /* NULL = answer the client directly */
    void *arg;
};

struct cd_daemon {
    qb_loop_t *loop;
    char state_dir[PATH_MAX];
    char cdb_path[PATH_MAX + 32];
    char schema_path[PATH_MAX];
    char node_name[CD_NAME_MAX]; /* "" = from corosync's nodelist */
    char address[CD_VALUE_MAX];  /* "" = ring0_addr */
    uint64_t memory_mib;         /* 0 = MemTotal */
    struct cd_api_policy api;    /* who may read and write (cd-api.h) */

    /* Loaded copy, until the replica (which needs our nodeid) exists. */
    struct cd_cdb *boot_cdb;
    struct cd_replica *replica;
    uint32_t nodeid;

    /* corosync */
    bool cpg_up;
    cpg_handle_t cpg;
    int cpg_fd;
    bool quorum_up;
    quorum_handle_t quorum;
    int quorum_fd;
    bool quorate;
    /* corosync's membership as the quorum API reports it: node liveness
     * (a node whose clusterd left the group may still be in it). */
    bool view_known;
    uint32_t view[CD_MAX_MEMBERS];
    size_t nview;
    qb_loop_timer_handle reconnect_timer;
    qb_loop_timer_handle flush_timer;
    bool flush_armed;
    struct cd_outmsg *out_head, **out_tail;
    size_t out_count, out_bytes; /* queued, capped (cd-cpg.c) */
    uint64_t refusal_window_ms;  /* log rate limit of refused messages */
    unsigned refusals_logged;
    size_t chunk_max;
    uint64_t confchg_ms;   /* when the last configuration change came */
    uint64_t last_sync_ms; /* how long the last sync round took */
    bool registering;      /* our add-node is in flight */
    bool register_failed;  /* rejected: wait for the next round */

    /* persistence */
    bool dirty;
    bool save_queued;

    /* IPC */
    struct cmn_ipc_server *ipc;
    struct cd_pending_req *pending;
    /* Requests passed to the node that runs their VM (cd-fwd.c). */
    struct cd_fwd_pending *fwd_pending;
    uint64_t fwd_next_id;

    /* Coordinator, runtime state and the local hvagent (cd-orch.c). */
    struct cd_orch *orch;
    char hva_ipc[64];                  /* hvagent's IPC name */
    char lease_lockspace[CD_NAME_MAX]; /* interim VM leases, see clusterd(8) */
    char lease_dir[PATH_MAX];
    struct cd_csv *csv; /* VM slots, disks, states on the CSV, or NULL */

    /* History and metrics (cd-metrics.c). */
    struct cd_metrics *metrics;
    char metrics_file[PATH_MAX];      /* node-exporter's textfile */
    unsigned metrics_interval_s;      /* 0 = no file */
    char lun_metrics_file[PATH_MAX];  /* lunbridge's, "" = none */
    unsigned lun_metrics_interval_ms; /* how often lunbridge writes it */

    /* Validation and readiness (cd-validate.c, cd-check.h). */
    bool allow_no_watchdog; /* lab override: ready without a watchdog */
    struct cd_validate *validate;
};

/* cd-cpg.c */
int cd_cpg_start(struct cd_daemon *d);
void cd_cpg_stop(struct cd_daemon *d);
/* Multicast in agreed order; queued when corosync pushes back. */
int cd_cpg_send(void *data, const void *buf, size_t len);
/* votequorum figures for status (0 when unknown). */
void cd_cpg_votes(struct cd_daemon *d, unsigned *expected, unsigned *total,
                  unsigned *quorum);

/* cd-ipc.c */
int cd_ipc_start(struct cd_daemon *d);
void cd_ipc_stop(struct cd_daemon *d);
/* Replica callbacks that answer clients. */
void cd_ipc_applied(struct cd_daemon *d, uint32_t origin,
                    const struct cd_op *op, int rc, const char *err);
/* Fails every waiting request (corosync connection lost). */
void cd_ipc_fail_pending(struct cd_daemon *d, int rc);
/* Multicasts a CDB change for a client; answered when applied. */
int cd_ipc_submit(struct cd_daemon *d, struct cmn_ipc_conn *conn,
                  struct cd_op *op, char **ret);
/* The same, with the outcome going to `applied` instead of the client.
 * Refused at once (returns 0, *ret set): `applied` is not called. */
int cd_ipc_submit_cb(struct cd_daemon *d, struct cmn_ipc_conn *conn,
                     struct cd_op *op, cd_ipc_applied_fn applied, void *arg,
                     char **ret);

/* cd-cpu.c: this node's CPU capability from hvagent into the CDB. */
void cd_cpu_tick(struct cd_daemon *d);
void cd_cpu_forget(void); /* hvagent reconnected: ask it again */

/* cd-orch.c: runtime state, coordinator, actions, hvagent. */
struct _xmlNode;
int cd_orch_start(struct cd_daemon *d);
void cd_orch_stop(struct cd_daemon *d);
/* A delivered CPG message of the coordinator protocol? Handles it. */
/* cd_co_msg_entitled against the current group, refusals logged (rate
 * limited) with the sender's name: 0 or CD_E_NOT_ENTITLED. */
struct cd_coord;
struct cd_co_msg;
int cd_cpg_entitled(struct cd_daemon *d, const struct cd_coord *co,
                    uint32_t sender, const struct cd_co_msg *m);
bool cd_orch_deliver(struct cd_daemon *d, uint32_t nodeid, const void *buf,
                     size_t len);
/* `kept`: nodes that left the group but are still corosync members
 * (their clusterd is gone, not the node; see cd_coord_confchg_kept). */
void cd_orch_confchg(struct cd_daemon *d, const uint32_t *members, size_t n,
                     const uint32_t *kept, size_t nkept);
void cd_orch_quorum(struct cd_daemon *d);
void cd_orch_cdb_applied(struct cd_daemon *d);
void cd_orch_conn_closed(struct cd_daemon *d, struct cmn_ipc_conn *conn);
/* A member's clusterd died (CPG reason PROCDOWN): counts towards the
 * quarantine of its node. */
void cd_orch_member_failed(struct cd_daemon *d, uint32_t nodeid);
/* SIGTERM: drains (or, without quorum or another node, stops) the local
 * VMs and stops the loop when they are gone. False: nothing to wait for,
 * the caller stops the loop now. */
bool cd_orch_shutdown(struct cd_daemon *d);
/* The members' storage health (cd-storage.h), NULL before the start. */
struct cd_stor_table;
const struct cd_stor_table *cd_orch_storage(struct cd_daemon *d);
/* For the request handlers (cd-api-vm.c), between cd_orch_start and
 * cd_orch_stop. The coordinator's state, NULL before the start. */
struct cd_coord *cd_orch_coord(struct cd_daemon *d);
/* The coordinator's view from this node: members, quorum, clocks. */
struct cd_co_view;
void cd_orch_view(struct cd_daemon *d, struct cd_co_view *v);
/* Whether this clusterd is in the coordinator's CPG group. */
bool cd_orch_in_group(struct cd_daemon *d);
/* Appends the wait="..." attributes of VM `vm` when it waits. */
struct cd_buf;
void cd_orch_wait_attrs(struct cd_daemon *d, struct cd_buf *b, const char *vm);
/* Whether a move-vm client can wait for its ACTION now. */
bool cd_orch_waiters_full(struct cd_daemon *d);
/* Multicasts the coordinator request `m`. With `waiter`, numbers it
 * (m->origin_req) and answers `waiter` (which it takes a reference to)
 * when its ACTION comes; -EBUSY when cd_orch_waiters_full. */
int cd_orch_send(struct cd_daemon *d, struct cd_co_msg *m,
                 struct cmn_ipc_conn *waiter);

/* The rolling-upgrade gate of a request that needs every member's
 * clusterd to speak cluster protocol `version` (`what` needs it, e.g.
 * "storage moves"): 0 to go on; 1 with the refusal in *ret (the CDB is
 * syncing, or the nodes with an older clusterd, named); -ENOMEM. */
int cd_version_gate(struct cd_daemon *d, uint16_t version, const char *what,
                    char **ret);

/* cd-api-ops.c: runs the handler of `op`, a request cd_api_check and
 * cd_api_permit let through with class `cls`. As a cmn_ipc request
 * handler: 0 with *ret the reply, CMN_IPC_DEFERRED, or -errno. */
int cd_api_run(struct cd_daemon *d, struct cmn_ipc_conn *conn,
               const struct cd_api_op *op, enum cd_api_class cls,
               struct _xmlNode *req, char **ret);

/* cd-api-vm.c: clusterctl's VM requests (vm, move-vm, explain, events).
 * -ENOENT when `op` is not one of them or the coordinator is not
 * started. */
int cd_api_vm_request(struct cd_daemon *d, struct cmn_ipc_conn *conn,
                      const char *op, struct _xmlNode *req, bool may_write,
                      char **ret);

/* cd-api-disk.c: `vm disk add|remove` (request op vm-disk, attributes
 * action, size, volume, disk). */
int cd_api_vm_disk(struct cd_daemon *d, struct cmn_ipc_conn *conn,
                   struct _xmlNode *req, const char *vm, char **ret);
/* The same request forwarded by node `origin` (cd-fwd.h): run here, where
 * the VM runs, and answered to the origin (never forwarded again). */
int cd_api_vm_disk_forwarded(struct cd_daemon *d, uint32_t origin, uint64_t id,
                             struct _xmlNode *req, const char *vm, char **ret);

/* cd-api-move.c: `move-storage` (request op move-storage, attribute
 * volume; action="status" for the progress, "cancel"). */
int cd_api_move_storage(struct cd_daemon *d, struct cmn_ipc_conn *conn,
                        struct _xmlNode *req, const char *vm, char **ret);
/* The same request forwarded by node `origin` (cd-fwd.h): a running VM's
 * move, status or cancel, run here where the VM runs and answered to the
 * origin (never forwarded again). */
int cd_api_move_storage_forwarded(struct cd_daemon *d, uint32_t origin,
                                  uint64_t id, struct _xmlNode *req,
                                  const char *vm, char **ret);

/* cd-metrics.c: the action history and the metrics (cd-obs.h). */
struct cd_co_effect;
int cd_metrics_start(struct cd_daemon *d);
void cd_metrics_stop(struct cd_daemon *d);
/* A delivered coordinator message and what applying it did. */
void cd_metrics_deliver(struct cd_daemon *d, const struct cd_co_msg *m,
                        const struct cd_co_effect *eff);
/* The coordinator group's new membership (as cd_orch_confchg). */
void cd_metrics_confchg(struct cd_daemon *d, const uint32_t *members, size_t n,
                        const uint32_t *kept, size_t nkept);
/* The `metrics` and `history` requests. */
int cd_metrics_request(struct cd_daemon *d, enum cd_api_id id,
                       struct _xmlNode *req, char **ret);

/* cd-validate.c: this node's checks, broadcast as CD_CO_CHECK, and the
 * `validate` request. */
int cd_validate_start(struct cd_daemon *d);
void cd_validate_stop(struct cd_daemon *d);
/* Runs the checks now when the last run is older than the period (on
 * the orchestrator's tick); `force` resends every result (joined). */
void cd_validate_tick(struct cd_daemon *d, bool force);
/* A delivered CD_CO_CHECK: the sender's clock against ours. */
void cd_validate_deliver(struct cd_daemon *d, uint32_t sender,
                         const struct cd_co_msg *m);
int cd_validate_request(struct cd_daemon *d, char **ret);

/* cd-main.c */
void cd_daemon_changed(struct cd_daemon *d);
void cd_daemon_maybe_register(struct cd_daemon *d);
const struct cd_cdb *cd_daemon_cdb(const struct cd_daemon *d);

#endif
