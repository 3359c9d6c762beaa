/* The CDB replication state machine (see cd-replica.h for the protocol). */
#include "config.h"

#include "common/cmn-le.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clusterd/cd-int.h"
#include "clusterd/cd-replica.h"

struct member_state {
    bool got;
    uint16_t max_version;
    uint64_t epoch;
    uint8_t digest[CD_DIGEST_LEN];
};

struct pending_op {
    uint32_t origin;
    void *buf;
    size_t len;
};

struct cd_replica {
    uint32_t self;
    struct cd_cdb *cdb;
    char *schema_path;
    struct cd_replica_ops ops;
    void *data;
    bool quorate;
    size_t chunk;

    enum cd_sync_phase phase;
    size_t nmembers;
    uint32_t members[CD_MAX_MEMBERS];
    struct member_state states[CD_MAX_MEMBERS];

    /* CD_SYNC_TRANSFER */
    uint32_t winner;
    struct cd_buf snap;
    uint32_t snap_total;
    uint64_t snap_epoch;
    uint8_t snap_digest[CD_DIGEST_LEN];
    size_t npending, pending_cap, pending_bytes;
    struct pending_op *pending;
    uint16_t sync_version; /* lowest version every member speaks */

    uint64_t next_request_id;
    struct cd_replica_stats stats;
};

static const char *const phase_names[] = {"none", "collect", "transfer",
                                          "done"};

const char *cd_sync_phase_name(enum cd_sync_phase p)
{
    return (unsigned)p < CMN_ARRAY_SIZE(phase_names) ? phase_names[p] : "?";
}

int cd_replica_new(uint32_t self, struct cd_cdb *cdb, const char *schema_path,
                   const struct cd_replica_ops *ops, void *data,
                   struct cd_replica **ret_replica)
{
    struct cd_replica *r = calloc(1, sizeof(*r));

    if (!r)
        return -ENOMEM;
    if (schema_path) {
        r->schema_path = strdup(schema_path);
        if (!r->schema_path) {
            free(r);
            return -ENOMEM;
        }
    }
    r->self = self;
    r->cdb = cdb;
    r->ops = *ops;
    r->data = data;
    r->chunk = CD_SYNC_CHUNK_MAX;
    r->next_request_id = 1;
    cd_buf_init(&r->snap);
    *ret_replica = r;
    return 0;
}

static void drop_pending(struct cd_replica *r)
{
    for (size_t i = 0; i < r->npending; i++)
        free(r->pending[i].buf);
    r->npending = 0;
    r->pending_bytes = 0;
}

__attribute__((format(printf, 4, 5))) static void
refuse(struct cd_replica *r, uint32_t sender, int rc, const char *fmt, ...)
{
    char err[256];
    va_list ap;

    r->stats.refused++;
    va_start(ap, fmt);
    vsnprintf(err, sizeof(err), fmt, ap);
    va_end(ap);
    if (r->ops.refused)
        r->ops.refused(r->data, sender, rc, err);
}

void cd_replica_free(struct cd_replica *r)
{
    if (!r)
        return;
    drop_pending(r);
    free(r->pending);
    cd_buf_free(&r->snap);
    cd_cdb_free(r->cdb);
    free(r->schema_path);
    free(r);
}

void cd_replica_set_chunk_size(struct cd_replica *r, size_t size)
{
    if (size > 0 && size <= CD_SYNC_CHUNK_MAX)
        r->chunk = size;
}

void cd_replica_set_quorate(struct cd_replica *r, bool quorate)
{
    r->quorate = quorate;
}

const struct cd_cdb *cd_replica_cdb(const struct cd_replica *r)
{
    return r->cdb;
}

bool cd_replica_quorate(const struct cd_replica *r)
{
    return r->quorate;
}

enum cd_sync_phase cd_replica_phase(const struct cd_replica *r)
{
    return r->phase;
}

size_t cd_replica_members(const struct cd_replica *r, const uint32_t **ret)
{
    *ret = r->members;
    return r->nmembers;
}

uint32_t cd_replica_coordinator(const struct cd_replica *r)
{
    uint32_t low = 0;

    if (!r->quorate)
        return 0;
    for (size_t i = 0; i < r->nmembers; i++)
        if (low == 0 || r->members[i] < low)
            low = r->members[i];
    return low;
}

const struct cd_replica_stats *cd_replica_stats(const struct cd_replica *r)
{
    return &r->stats;
}

size_t cd_replica_members_below(const struct cd_replica *r, uint16_t version,
                                uint32_t *ret_nodes, size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < r->nmembers; i++) {
        if (r->phase == CD_SYNC_DONE && r->states[i].got &&
            r->states[i].max_version >= version)
            continue;
        if (n < max)
            ret_nodes[n] = r->members[i];
        n++;
    }
    return n;
}

/* Applies one encoded OP and reports it. */
static void apply_encoded(struct cd_replica *r, uint32_t origin,
                          const void *buf, size_t len)
{
    struct cd_op op;
    char err[512] = "";
    int rc;

    rc = cd_op_decode(buf, len, &op);
    if (rc < 0) {
        /* Every member decodes the same bytes, so every member rejects
         * them: the copies stay equal. */
        r->stats.bad_messages++;
        refuse(r, origin, rc, "change of %zu bytes refused: %s", len,
               rc == -CD_E_MSG_VERSION ? "unknown protocol version"
                                       : "malformed");
        return;
    }
    rc = cd_cdb_apply(r->cdb, &op, err, sizeof(err));
    if (rc == 0)
        r->stats.ops_applied++;
    else
        r->stats.ops_rejected++;
    if (r->ops.applied)
        r->ops.applied(r->data, origin, &op, rc, err);
    if (rc == 0 && r->ops.changed)
        r->ops.changed(r->data);
    cd_op_clear(&op);
}

static void apply_pending(struct cd_replica *r)
{
    for (size_t i = 0; i < r->npending; i++)
        apply_encoded(r, r->pending[i].origin, r->pending[i].buf,
                      r->pending[i].len);
    drop_pending(r);
}

/* Leaves a transfer (finished or aborted). */
static void end_transfer(struct cd_replica *r)
{
    apply_pending(r);
    cd_buf_free(&r->snap);
    r->snap_total = 0;
}

void cd_replica_reset(struct cd_replica *r)
{
    if (r->phase == CD_SYNC_TRANSFER)
        end_transfer(r);
    r->phase = CD_SYNC_NONE;
    r->nmembers = 0;
    r->quorate = false;
}

static ssize_t member_index(const struct cd_replica *r, uint32_t nodeid);

static int send_state(struct cd_replica *r)
{
    uint8_t msg[CD_STATE_LEN];
    struct cd_state_msg m = {
        .version = 1, /* STATE stays at 1: every member reads it */
        .max_version = CD_REPLICA_VERSION,
        .epoch = cd_cdb_epoch(r->cdb),
    };

    memcpy(m.digest, cd_cdb_digest(r->cdb), CD_DIGEST_LEN);
    cd_state_msg_encode(&m, msg);
    return r->ops.send(r->data, msg, sizeof(msg));
}

void cd_replica_confchg(struct cd_replica *r, const uint32_t *members, size_t n)
{
    if (r->phase == CD_SYNC_TRANSFER)
        end_transfer(r);
    if (n > CD_MAX_MEMBERS)
        n = CD_MAX_MEMBERS;
    memcpy(r->members, members, n * sizeof(*members));
    memset(r->states, 0, sizeof(r->states));
    r->nmembers = n;
    r->winner = 0;
    /* The configuration that follows our own leave: not in a group. */
    if (member_index(r, r->self) < 0) {
        r->nmembers = 0;
        r->phase = CD_SYNC_NONE;
        return;
    }
    r->phase = CD_SYNC_COLLECT;
    r->winner = 0;
    r->stats.rounds++;
    send_state(r);
}

static ssize_t member_index(const struct cd_replica *r, uint32_t nodeid)
{
    for (size_t i = 0; i < r->nmembers; i++)
        if (r->members[i] == nodeid)
            return (ssize_t)i;
    return -1;
}

static int send_snapshot(struct cd_replica *r)
{
    cmn_autofree char *text = NULL;
    cmn_autofree uint8_t *msg = NULL;
    struct cd_sync_msg m = {.version = r->sync_version};
    size_t len, off = 0;
    int rc;

    rc = cd_cdb_serialize(r->cdb, &text, &len);
    if (rc < 0)
        return rc;
    if (len > CD_SYNC_TOTAL_MAX)
        return -EMSGSIZE; /* every receiver would refuse it */
    msg = malloc(CD_SYNC_HDR_LEN + r->chunk);
    if (!msg)
        return -ENOMEM;
    m.epoch = cd_cdb_epoch(r->cdb);
    memcpy(m.digest, cd_cdb_digest(r->cdb), CD_DIGEST_LEN);
    m.total = (uint32_t)len;
    /* At least one chunk, even for an empty text. */
    do {
        m.offset = (uint32_t)off;
        m.chunk_len = len - off < r->chunk ? len - off : r->chunk;
        m.chunk = (const uint8_t *)text + off;
        cd_sync_msg_encode(&m, msg);
        rc = r->ops.send(r->data, msg, CD_SYNC_HDR_LEN + m.chunk_len);
        if (rc < 0)
            return rc;
        off += m.chunk_len;
    } while (off < len);
    r->stats.snapshots_sent++;
    return 0;
}

/* Called when the last STATE of the round has been delivered: the sync
 * point, at the same place in the agreed order on every member. */
static void sync_point(struct cd_replica *r)
{
    size_t w = 0;
    bool all_equal = true;
    const struct member_state *ws, *mine;

    for (size_t i = 1; i < r->nmembers; i++) {
        const struct member_state *a = &r->states[i], *b = &r->states[w];
        if (a->epoch > b->epoch ||
            (a->epoch == b->epoch && r->members[i] > r->members[w]))
            w = i;
    }
    ws = &r->states[w];
    /* The snapshot goes out in a version every member reads. */
    r->sync_version = CD_REPLICA_VERSION;
    for (size_t i = 0; i < r->nmembers; i++)
        if (r->states[i].max_version < r->sync_version)
            r->sync_version = r->states[i].max_version;
    for (size_t i = 0; i < r->nmembers; i++)
        if (r->states[i].epoch != ws->epoch ||
            memcmp(r->states[i].digest, ws->digest, CD_DIGEST_LEN) != 0)
            all_equal = false;
    r->winner = r->members[w];
    mine = &r->states[member_index(r, r->self)];
    if (all_equal || r->winner == r->self ||
        (mine->epoch == ws->epoch &&
         memcmp(mine->digest, ws->digest, CD_DIGEST_LEN) == 0)) {
        if (!all_equal && r->winner == r->self)
            send_snapshot(r);
        r->phase = CD_SYNC_DONE;
        if (r->ops.synced)
            r->ops.synced(r->data, false, r->winner);
        return;
    }
    r->phase = CD_SYNC_TRANSFER;
    cd_buf_free(&r->snap);
    r->snap_total = 0;
}

static void deliver_state(struct cd_replica *r, uint32_t nodeid,
                          const uint8_t *p, size_t len)
{
    ssize_t i = member_index(r, nodeid);
    struct cd_state_msg m;
    int rc = cd_state_msg_decode(p, len, &m);

    if (rc < 0) {
        /* The round waits for this member's STATE, so it cannot end:
         * writes stay refused, which is what a mixed group must get. */
        refuse(r, nodeid, rc, "STATE of %zu bytes refused: %s", len,
               rc == -CD_E_MSG_VERSION
                   ? "unknown protocol version (upgrade every member)"
                   : "malformed");
        return;
    }
    if (i < 0 || r->phase != CD_SYNC_COLLECT) {
        /* A STATE from an aborted round or an unknown sender. */
        return;
    }
    r->states[i].got = true;
    r->states[i].max_version = m.max_version;
    r->states[i].epoch = m.epoch;
    memcpy(r->states[i].digest, m.digest, CD_DIGEST_LEN);
    for (size_t k = 0; k < r->nmembers; k++)
        if (!r->states[k].got)
            return;
    sync_point(r);
}

static void adopt_snapshot(struct cd_replica *r)
{
    struct cd_cdb *cdb = NULL;
    char err[512] = "";
    int rc;

    rc = cd_cdb_parse(r->snap.data ? r->snap.data : "", r->snap.len,
                      "sync snapshot", r->schema_path, &cdb, err, sizeof(err));
    if (rc == 0 &&
        (cd_cdb_epoch(cdb) != r->snap_epoch ||
         memcmp(cd_cdb_digest(cdb), r->snap_digest, CD_DIGEST_LEN) != 0))
        rc = -CD_E_CORRUPT;
    if (rc < 0) {
        /* Keep our copy; the next configuration change retries. */
        cd_cdb_free(cdb);
        r->stats.bad_messages++;
    } else {
        cd_cdb_free(r->cdb);
        r->cdb = cdb;
        r->stats.snapshots_taken++;
    }
    r->phase = CD_SYNC_DONE;
    /* Snapshot first, then the OPs delivered after the sync point. */
    if (rc == 0 && r->ops.changed)
        r->ops.changed(r->data);
    end_transfer(r);
    if (r->ops.synced)
        r->ops.synced(r->data, rc == 0, r->winner);
}

static void deliver_sync(struct cd_replica *r, uint32_t nodeid,
                         const uint8_t *p, size_t len)
{
    struct cd_sync_msg m;
    int rc;

    if (r->phase != CD_SYNC_TRANSFER)
        return;
    if (nodeid != r->winner) {
        refuse(r, nodeid, -CD_E_NOT_ENTITLED,
               "SYNC refused: node %u is the winner of this round", r->winner);
        return;
    }
    rc = cd_sync_msg_decode(p, len, &m);
    if (rc < 0) {
        r->stats.bad_messages++;
        refuse(r, nodeid, rc, "SYNC chunk of %zu bytes refused: %s", len,
               rc == -CD_E_MSG_VERSION ? "unknown protocol version"
                                       : "malformed or over the size limit");
        return;
    }
    if (m.offset == 0) {
        cd_buf_free(&r->snap);
        r->snap_total = m.total;
        r->snap_epoch = m.epoch;
        memcpy(r->snap_digest, m.digest, CD_DIGEST_LEN);
    }
    if (m.offset != r->snap.len || m.total != r->snap_total) {
        r->stats.bad_messages++;
        return;
    }
    cd_buf_add(&r->snap, (const char *)m.chunk, m.chunk_len);
    if (r->snap.len == r->snap_total)
        adopt_snapshot(r);
}

/* This copy cannot keep every OP of the transfer: out of the group until
 * the glue rejoins (another round, another snapshot). Dropping one OP
 * instead would leave this copy different from the others for good. */
static void give_up_round(struct cd_replica *r, const char *why)
{
    cd_buf_free(&r->snap);
    r->snap_total = 0;
    drop_pending(r);
    r->phase = CD_SYNC_NONE;
    r->nmembers = 0;
    if (r->ops.desync)
        r->ops.desync(r->data, why);
}

static void buffer_op(struct cd_replica *r, uint32_t nodeid, const void *p,
                      size_t len)
{
    struct pending_op *po;

    if (r->npending == CD_SYNC_PENDING_MAX ||
        len > CD_SYNC_PENDING_BYTES_MAX - r->pending_bytes) {
        give_up_round(r, "too many changes arrived while waiting for the "
                         "sync snapshot");
        return;
    }
    if (r->npending == r->pending_cap) {
        size_t cap = r->pending_cap ? 2 * r->pending_cap : 16;
        po = realloc(r->pending, cap * sizeof(*po));
        if (!po) {
            give_up_round(r, "out of memory buffering changes");
            return;
        }
        r->pending = po;
        r->pending_cap = cap;
    }
    po = &r->pending[r->npending];
    po->buf = malloc(len);
    if (!po->buf) {
        give_up_round(r, "out of memory buffering changes");
        return;
    }
    memcpy(po->buf, p, len);
    po->len = len;
    po->origin = nodeid;
    r->npending++;
    r->pending_bytes += len;
    r->stats.ops_buffered++;
}

void cd_replica_deliver(struct cd_replica *r, uint32_t nodeid, const void *vbuf,
                        size_t len)
{
    const uint8_t *p = vbuf;

    if (len < 4 || r->phase == CD_SYNC_NONE) {
        r->stats.bad_messages++;
        return;
    }
    switch (cd_repl_kind(p, len)) {
    case CD_REPL_STATE:
        deliver_state(r, nodeid, p, len);
        break;
    case CD_REPL_SYNC:
        deliver_sync(r, nodeid, p, len);
        break;
    case CD_REPL_OP:
        if (r->phase == CD_SYNC_TRANSFER)
            buffer_op(r, nodeid, p, len);
        else
            apply_encoded(r, nodeid, p, len);
        break;
    default:
        r->stats.bad_messages++;
        break;
    }
}

int cd_replica_submit(struct cd_replica *r, struct cd_op *op,
                      uint64_t *ret_request_id)
{
    void *buf = NULL;
    size_t len;
    int rc;

    if (r->phase == CD_SYNC_NONE)
        return -CD_E_NO_CLUSTER;
    if (!r->quorate)
        return -CD_E_NO_QUORUM;
    if (r->phase != CD_SYNC_DONE)
        return -CD_E_SYNCING;
    op->request_id = r->next_request_id++;
    rc = cd_op_encode(op, &buf, &len);
    if (rc < 0)
        return rc;
    rc = r->ops.send(r->data, buf, len);
    free(buf);
    if (rc < 0)
        return rc;
    if (ret_request_id)
        *ret_request_id = op->request_id;
    return 0;
}
