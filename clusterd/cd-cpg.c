/* corosync glue: the CPG group, quorum tracking and the send queue. Both
 * corosync descriptors are polled by the daemon's qb_loop; when corosync
 * is absent or goes away, clusterd keeps serving status (no quorum, writes
 * refused) and reconnects every second. */
#include "config.h"

#include <corosync/cmap.h>
#include <corosync/votequorum.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clusterd/cd-coord.h"
#include "clusterd/cd-daemon.h"
#include "clusterd/cd-fwd.h"
#include "clusterd/cd-int.h"
#include "common/cmn-log.h"
#include "common/cmn-name.h"
#include "common/cmn-time.h"

#define RECONNECT_MS 1000
#define FLUSH_MS     5
/* The send queue holds what corosync pushed back on; past these the
 * sender gets -ENOBUFS instead of the daemon growing without bound. */
#define OUT_MAX_MSGS  8192
#define OUT_MAX_BYTES (64u << 20)
/* Refused messages logged per window: one bad member must not flood. */
#define REFUSAL_WINDOW_MS   10000
#define REFUSALS_PER_WINDOW 10

static void schedule_reconnect(struct cd_daemon *d);
static void teardown(struct cd_daemon *d);

static void replica_applied(void *data, uint32_t origin, const struct cd_op *op,
                            int rc, const char *err)
{
    struct cd_daemon *d = data;

    if (rc == 0)
        cmn_debug(CMN_LOG_CD, "applied %s '%s' from node %u: epoch %llu",
                  cd_op_type_name(op->type), op->name, origin,
                  (unsigned long long)cd_cdb_epoch(cd_replica_cdb(d->replica)));
    else if (origin == d->nodeid)
        cmn_info(CMN_LOG_CD, "change %s '%s' rejected: %s",
                 cd_op_type_name(op->type), op->name, err);
    if (origin == d->nodeid && op->type == CD_OP_ADD_NODE &&
        op->nodeid == d->nodeid) {
        d->registering = false;
        if (rc < 0) {
            cmn_err(CMN_LOG_CD,
                    "cannot add this node to the cluster database: %s "
                    "(fix with 'clusterctl' or start clusterd with -n NAME)",
                    err);
            d->register_failed = true;
        }
    }
    cd_ipc_applied(d, origin, op, rc, err);
    if (rc == 0)
        cd_orch_cdb_applied(d);
}

static void replica_changed(void *data)
{
    cd_daemon_changed(data);
}

static void replica_synced(void *data, bool adopted, uint32_t winner)
{
    struct cd_daemon *d = data;
    char hex[CD_DIGEST_HEX];
    const struct cd_cdb *cdb = cd_replica_cdb(d->replica);

    d->last_sync_ms = cmn_now_ms() - d->confchg_ms;
    cd_cdb_digest_hex(cdb, hex);
    cmn_info(CMN_LOG_CD,
             "cluster database in sync after %llu ms: epoch %llu digest "
             "%.16s (%s node %u)",
             (unsigned long long)d->last_sync_ms,
             (unsigned long long)cd_cdb_epoch(cdb), hex,
             adopted ? "adopted the copy of" : "winner", winner);
    d->register_failed = false;
    cd_daemon_maybe_register(d);
    cd_orch_cdb_applied(d);
}

/* Logs a refused cluster message naming its sender, at most
 * REFUSALS_PER_WINDOW per window. */
static void log_refusal(struct cd_daemon *d, uint32_t sender, const char *err)
{
    const struct cd_node *n =
        d->replica ? cd_cdb_node_by_id(cd_replica_cdb(d->replica), sender)
                   : NULL;
    uint64_t now = cmn_now_ms();

    if (now - d->refusal_window_ms > REFUSAL_WINDOW_MS) {
        if (d->refusals_logged > REFUSALS_PER_WINDOW)
            cmn_warn(CMN_LOG_CD, "%u more refused cluster messages not logged",
                     d->refusals_logged - REFUSALS_PER_WINDOW);
        d->refusal_window_ms = now;
        d->refusals_logged = 0;
    }
    if (d->refusals_logged++ >= REFUSALS_PER_WINDOW)
        return;
    cmn_err(CMN_LOG_CD, "cluster message from node %u '%s' refused: %s", sender,
            n ? n->name : "?", err);
}

static void replica_refused(void *data, uint32_t sender, int rc,
                            const char *err)
{
    (void)rc;
    log_refusal(data, sender, err);
}

static void rejoin_cb(void *data)
{
    struct cd_daemon *d = data;

    /* Not from inside cpg_dispatch: teardown finalizes the handle. */
    if (!d->cpg_up)
        return;
    teardown(d);
    schedule_reconnect(d);
}

static void replica_desync(void *data, const char *why)
{
    struct cd_daemon *d = data;

    cmn_err(CMN_LOG_CD,
            "cluster database out of step (%s): leaving the group to sync "
            "again",
            why);
    qb_loop_timer_add(d->loop, QB_LOOP_HIGH, 0, d, rejoin_cb,
                      &d->reconnect_timer);
}

int cd_cpg_entitled(struct cd_daemon *d, const struct cd_coord *co,
                    uint32_t sender, const struct cd_co_msg *m)
{
    const uint32_t *members = NULL;
    size_t n = d->replica ? cd_replica_members(d->replica, &members) : 0;
    char err[256];
    int rc = cd_co_msg_entitled(co, members, n, sender, m, err, sizeof(err));

    if (rc < 0)
        log_refusal(d, sender, err);
    return rc;
}

static const struct cd_replica_ops replica_ops = {
    .send = cd_cpg_send,
    .applied = replica_applied,
    .changed = replica_changed,
    .synced = replica_synced,
    .refused = replica_refused,
    .desync = replica_desync,
};

/* ------------------------------------------------------------ sending */

static int flush_queue(struct cd_daemon *d)
{
    while (d->out_head) {
        struct cd_outmsg *m = d->out_head;
        struct iovec iov = {.iov_base = m->buf, .iov_len = m->len};
        cs_error_t e;

        if (!d->cpg_up)
            return -CD_E_NO_CLUSTER;
        e = cpg_mcast_joined(d->cpg, CPG_TYPE_AGREED, &iov, 1);
        if (e == CS_ERR_TRY_AGAIN)
            return -EAGAIN;
        if (e != CS_OK) {
            cmn_warn(CMN_LOG_CD, "cpg_mcast_joined: error %d", e);
            return -CD_E_NO_CLUSTER;
        }
        d->out_head = m->next;
        if (!d->out_head)
            d->out_tail = &d->out_head;
        d->out_count--;
        d->out_bytes -= m->len;
        free(m);
    }
    return 0;
}

static void drop_queue(struct cd_daemon *d)
{
    while (d->out_head) {
        struct cd_outmsg *m = d->out_head;
        d->out_head = m->next;
        free(m);
    }
    d->out_tail = &d->out_head;
    d->out_count = d->out_bytes = 0;
}

static void flush_timer_cb(void *data)
{
    struct cd_daemon *d = data;

    d->flush_armed = false;
    if (flush_queue(d) == -EAGAIN) {
        d->flush_armed = true;
        qb_loop_timer_add(d->loop, QB_LOOP_HIGH, FLUSH_MS * 1000000ull, d,
                          flush_timer_cb, &d->flush_timer);
    }
}

int cd_cpg_send(void *data, const void *buf, size_t len)
{
    struct cd_daemon *d = data;
    struct cd_outmsg *m;
    int rc;

    if (!d->cpg_up)
        return -CD_E_NO_CLUSTER;
    if (d->out_count >= OUT_MAX_MSGS || len > OUT_MAX_BYTES - d->out_bytes) {
        cmn_warn(CMN_LOG_CD,
                 "send queue full (%zu messages, %zu bytes): corosync is not "
                 "taking messages; refusing this one",
                 d->out_count, d->out_bytes);
        return -ENOBUFS;
    }
    /* Always through the queue so that order is kept when corosync
     * pushed back on an earlier message. */
    m = malloc(sizeof(*m) + len);
    if (!m)
        return -ENOMEM;
    m->next = NULL;
    m->len = len;
    memcpy(m->buf, buf, len);
    *d->out_tail = m;
    d->out_tail = &m->next;
    d->out_count++;
    d->out_bytes += len;
    rc = flush_queue(d);
    if (rc == -EAGAIN && !d->flush_armed) {
        d->flush_armed = true;
        qb_loop_timer_add(d->loop, QB_LOOP_HIGH, FLUSH_MS * 1000000ull, d,
                          flush_timer_cb, &d->flush_timer);
    }
    return rc == -EAGAIN ? 0 : rc;
}

/* --------------------------------------------------------- callbacks */

static void cpg_deliver(cpg_handle_t handle, const struct cpg_name *group,
                        uint32_t nodeid, uint32_t pid, void *msg, size_t len)
{
    struct cd_daemon *d = NULL;

    cpg_context_get(handle, (void **)&d);
    if (cd_orch_deliver(d, nodeid, msg, len))
        return;
    if (cd_fwd_deliver(d, nodeid, msg, len))
        return;
    cd_replica_deliver(d->replica, nodeid, msg, len);
}

static void cpg_confchg(cpg_handle_t handle, const struct cpg_name *group,
                        const struct cpg_address *members, size_t nmembers,
                        const struct cpg_address *left, size_t nleft,
                        const struct cpg_address *joined, size_t njoined)
{
    struct cd_daemon *d = NULL;
    uint32_t ids[CD_MAX_MEMBERS], kept[CD_MAX_MEMBERS];
    size_t n = 0, nkept = 0;
    char list[CD_MAX_MEMBERS * 11 + 1] = "";

    cpg_context_get(handle, (void **)&d);
    for (size_t i = 0; i < nmembers && n < CD_MAX_MEMBERS; i++) {
        bool dup = false;
        for (size_t k = 0; k < n; k++)
            dup |= ids[k] == members[i].nodeid;
        if (dup)
            continue;
        ids[n++] = members[i].nodeid;
        snprintf(list + strlen(list), sizeof(list) - strlen(list), " %u",
                 members[i].nodeid);
    }
    /* Node liveness is corosync's membership, not this group's: a
     * clusterd that died (PROCDOWN) or left (LEAVE) on a node that is
     * still a member takes nothing down with it. CPG derives the reason
     * from the same totem membership, and every member sees it at the
     * same point of the agreed order. */
    for (size_t i = 0; i < nleft; i++) {
        bool still = false;
        cmn_info(CMN_LOG_CD, "node %u left the group (reason %u)",
                 left[i].nodeid, left[i].reason);
        for (size_t k = 0; k < n; k++)
            still |= ids[k] == left[i].nodeid;
        if (!still && nkept < CD_MAX_MEMBERS &&
            (left[i].reason == CPG_REASON_PROCDOWN ||
             left[i].reason == CPG_REASON_LEAVE))
            kept[nkept++] = left[i].nodeid;
    }
    for (size_t i = 0; i < njoined; i++)
        cmn_info(CMN_LOG_CD, "node %u joined the group", joined[i].nodeid);
    cmn_info(CMN_LOG_CD, "members:%s", list);
    d->confchg_ms = cmn_now_ms();
    cd_replica_confchg(d->replica, ids, n);
    cd_orch_confchg(d, ids, n, kept, nkept);
    cd_fwd_confchg(d, ids, n);
    for (size_t i = 0; i < nleft; i++)
        if (left[i].reason == CPG_REASON_PROCDOWN)
            cd_orch_member_failed(d, left[i].nodeid);
}

static void quorum_notify(quorum_handle_t handle, uint32_t quorate,
                          uint64_t ring_seq, uint32_t nviews, uint32_t *views)
{
    struct cd_daemon *d = NULL;

    quorum_context_get(handle, (const void **)&d);
    d->nview = 0;
    for (uint32_t i = 0; i < nviews && d->nview < CD_MAX_MEMBERS; i++)
        d->view[d->nview++] = views[i];
    d->view_known = true;
    if (d->quorate != !!quorate)
        cmn_info(CMN_LOG_CD, "quorum %s (%u nodes in view)",
                 quorate ? "gained" : "lost", nviews);
    d->quorate = !!quorate;
    if (d->replica) {
        cd_replica_set_quorate(d->replica, d->quorate);
        cd_daemon_maybe_register(d);
    }
    cd_orch_quorum(d);
}

/* ------------------------------------------------------- connections */

static void teardown(struct cd_daemon *d)
{
    if (d->cpg_up) {
        qb_loop_poll_del(d->loop, d->cpg_fd);
        cpg_finalize(d->cpg);
        d->cpg_up = false;
    }
    if (d->quorum_up) {
        qb_loop_poll_del(d->loop, d->quorum_fd);
        quorum_finalize(d->quorum);
        d->quorum_up = false;
    }
    drop_queue(d);
    d->quorate = false;
    d->view_known = false;
    d->nview = 0;
    d->registering = false;
    if (d->replica)
        cd_replica_reset(d->replica);
    cd_orch_confchg(d, NULL, 0, NULL, 0);
    cd_orch_quorum(d);
    cd_ipc_fail_pending(d, -CD_E_NO_CLUSTER);
    cd_fwd_fail_all(d, "this node lost corosync");
}

static int32_t cpg_fd_ready(int32_t fd, int32_t revents, void *data)
{
    struct cd_daemon *d = data;
    cs_error_t e = cpg_dispatch(d->cpg, CS_DISPATCH_ALL);

    if (e != CS_OK && e != CS_ERR_TRY_AGAIN) {
        cmn_err(CMN_LOG_CD, "lost the connection to corosync (cpg error %d)",
                e);
        teardown(d); /* removes this descriptor from the loop */
        schedule_reconnect(d);
        return 0;
    }
    return 0;
}

static int32_t quorum_fd_ready(int32_t fd, int32_t revents, void *data)
{
    struct cd_daemon *d = data;
    cs_error_t e = quorum_dispatch(d->quorum, CS_DISPATCH_ALL);

    if (e != CS_OK && e != CS_ERR_TRY_AGAIN) {
        cmn_err(CMN_LOG_CD, "lost the connection to corosync (quorum error %d)",
                e);
        teardown(d); /* removes this descriptor from the loop */
        schedule_reconnect(d);
        return 0;
    }
    return 0;
}

/* Name and ring0 address of `nodeid` from corosync's nodelist. */
static void lookup_nodelist(struct cd_daemon *d)
{
    cmap_handle_t h;
    char key[128];

    if (cmap_initialize(&h) != CS_OK)
        return;
    for (int i = 0; i < 256; i++) {
        uint32_t id;
        char *s = NULL;

        snprintf(key, sizeof(key), "nodelist.node.%d.nodeid", i);
        if (cmap_get_uint32(h, key, &id) != CS_OK)
            break;
        if (id != d->nodeid)
            continue;
        snprintf(key, sizeof(key), "nodelist.node.%d.name", i);
        if (!d->node_name[0] && cmap_get_string(h, key, &s) == CS_OK &&
            cmn_name_valid(s))
            snprintf(d->node_name, sizeof(d->node_name), "%s", s);
        free(s);
        s = NULL;
        snprintf(key, sizeof(key), "nodelist.node.%d.ring0_addr", i);
        if (!d->address[0] && cmap_get_string(h, key, &s) == CS_OK)
            snprintf(d->address, sizeof(d->address), "%s", s);
        free(s);
        break;
    }
    cmap_finalize(h);
    if (!d->node_name[0])
        snprintf(d->node_name, sizeof(d->node_name), "node%u", d->nodeid);
    if (!d->address[0])
        snprintf(d->address, sizeof(d->address), "%s", d->node_name);
}

static int connect_corosync(struct cd_daemon *d)
{
    static cpg_callbacks_t cpg_cbs = {
        .cpg_deliver_fn = cpg_deliver,
        .cpg_confchg_fn = cpg_confchg,
    };
    quorum_callbacks_t q_cbs = {.quorum_notify_fn = quorum_notify};
    struct cpg_name group;
    unsigned int nodeid;
    uint32_t qtype, max;
    int quorate = 0;
    cs_error_t e;

    e = quorum_initialize(&d->quorum, &q_cbs, &qtype);
    if (e != CS_OK)
        return -CD_E_NO_CLUSTER;
    d->quorum_up = true;
    quorum_context_set(d->quorum, d);
    quorum_fd_get(d->quorum, &d->quorum_fd);
    if (quorum_getquorate(d->quorum, &quorate) == CS_OK)
        d->quorate = !!quorate;

    e = cpg_initialize(&d->cpg, &cpg_cbs);
    if (e != CS_OK)
        goto fail;
    d->cpg_up = true;
    cpg_context_set(d->cpg, d);
    if (cpg_local_get(d->cpg, &nodeid) != CS_OK)
        goto fail;
    if (d->nodeid && d->nodeid != nodeid) {
        cmn_err(CMN_LOG_CD, "corosync nodeid changed from %u to %u", d->nodeid,
                nodeid);
        goto fail;
    }
    d->nodeid = nodeid;
    if (!d->replica) {
        lookup_nodelist(d);
        if (cd_replica_new(d->nodeid, d->boot_cdb, d->schema_path, &replica_ops,
                           d, &d->replica) < 0)
            goto fail;
        d->boot_cdb = NULL;
    }
    /* Leave room for the SYNC header under corosync's atomic limit. */
    d->chunk_max = CD_SYNC_CHUNK_MAX;
    if (cpg_max_atomic_msgsize_get(d->cpg, &max) == CS_OK && max > 4096 &&
        max - 1024 < d->chunk_max)
        d->chunk_max = max - 1024;
    cd_replica_set_chunk_size(d->replica, d->chunk_max);
    cd_replica_set_quorate(d->replica, d->quorate);
    cpg_fd_get(d->cpg, &d->cpg_fd);

    if (qb_loop_poll_add(d->loop, QB_LOOP_HIGH, d->cpg_fd, POLLIN, d,
                         cpg_fd_ready) != 0)
        goto fail;
    if (qb_loop_poll_add(d->loop, QB_LOOP_HIGH, d->quorum_fd, POLLIN, d,
                         quorum_fd_ready) != 0) {
        qb_loop_poll_del(d->loop, d->cpg_fd);
        goto fail;
    }
    /* CURRENT: the membership now, not only at the next change. */
    if (quorum_trackstart(d->quorum, CS_TRACK_CURRENT | CS_TRACK_CHANGES) !=
        CS_OK)
        goto fail_polled;
    snprintf(group.value, sizeof(group.value), "%s", CD_CPG_GROUP);
    group.length = strlen(group.value);
    for (int tries = 0; tries < 50; tries++) {
        e = cpg_join(d->cpg, &group);
        if (e != CS_ERR_TRY_AGAIN)
            break;
        poll(NULL, 0, 20);
    }
    if (e != CS_OK) {
        cmn_warn(CMN_LOG_CD, "cpg_join %s: error %d", CD_CPG_GROUP, e);
        goto fail_polled;
    }
    cmn_info(CMN_LOG_CD,
             "connected to corosync as node %u '%s' (%s), group %s, %s, "
             "sync chunks of %zu bytes",
             d->nodeid, d->node_name, d->address, CD_CPG_GROUP,
             d->quorate ? "quorate" : "not quorate", d->chunk_max);
    return 0;

fail_polled:
    qb_loop_poll_del(d->loop, d->cpg_fd);
    qb_loop_poll_del(d->loop, d->quorum_fd);
fail:
    if (d->cpg_up)
        cpg_finalize(d->cpg);
    d->cpg_up = false;
    quorum_finalize(d->quorum);
    d->quorum_up = false;
    d->quorate = false;
    return -CD_E_NO_CLUSTER;
}

static void reconnect_cb(void *data)
{
    struct cd_daemon *d = data;
    static bool warned;

    if (connect_corosync(d) == 0) {
        warned = false;
        return;
    }
    if (!warned)
        cmn_warn(CMN_LOG_CD,
                 "corosync is not reachable; retrying every %d ms (is "
                 "corosync running on this node?)",
                 RECONNECT_MS);
    warned = true;
    schedule_reconnect(d);
}

static void schedule_reconnect(struct cd_daemon *d)
{
    qb_loop_timer_add(d->loop, QB_LOOP_LOW, RECONNECT_MS * 1000000ull, d,
                      reconnect_cb, &d->reconnect_timer);
}

int cd_cpg_start(struct cd_daemon *d)
{
    d->out_tail = &d->out_head;
    reconnect_cb(d);
    return 0;
}

void cd_cpg_stop(struct cd_daemon *d)
{
    if (d->cpg_up) {
        struct cpg_name group;
        snprintf(group.value, sizeof(group.value), "%s", CD_CPG_GROUP);
        group.length = strlen(group.value);
        flush_queue(d);
        cpg_leave(d->cpg, &group);
    }
    teardown(d);
}

void cd_cpg_votes(struct cd_daemon *d, unsigned *expected, unsigned *total,
                  unsigned *quorum)
{
    votequorum_handle_t h;
    struct votequorum_info info;

    *expected = *total = *quorum = 0;
    if (!d->nodeid || votequorum_initialize(&h, NULL) != CS_OK)
        return;
    if (votequorum_getinfo(h, d->nodeid, &info) == CS_OK) {
        *expected = info.highest_expected;
        *total = info.total_votes;
        *quorum = info.quorum;
    }
    votequorum_finalize(h);
}
