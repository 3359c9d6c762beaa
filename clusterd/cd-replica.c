/* The CDB replication state machine (see cd-replica.h for the protocol). */
#include "config.h"

#include "common/cmn-le.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clusterd/cd-int.h"
#include "clusterd/cd-replica.h"

#define STATE_MAGIC 0x5453434bu /* "KCST" */
#define SYNC_MAGIC  0x5953434bu /* "KCSY" */
#define OP_MAGIC    0x504f434bu /* "KCOP", see cd-msg.c */
#define STATE_LEN   (4 + 8 + CD_DIGEST_LEN)
#define SYNC_HDR    (4 + 8 + CD_DIGEST_LEN + 4 + 4)

struct member_state {
    bool got;
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
    size_t npending, pending_cap;
    struct pending_op *pending;

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
    uint8_t msg[STATE_LEN];

    cmn_put_le(msg, STATE_MAGIC, 4);
    cmn_put_le(msg + 4, cd_cdb_epoch(r->cdb), 8);
    memcpy(msg + 12, cd_cdb_digest(r->cdb), CD_DIGEST_LEN);
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
    size_t len, off = 0;
    int rc;

    rc = cd_cdb_serialize(r->cdb, &text, &len);
    if (rc < 0)
        return rc;
    msg = malloc(SYNC_HDR + r->chunk);
    if (!msg)
        return -ENOMEM;
    /* At least one chunk, even for an empty text. */
    do {
        size_t n = len - off < r->chunk ? len - off : r->chunk;

        cmn_put_le(msg, SYNC_MAGIC, 4);
        cmn_put_le(msg + 4, cd_cdb_epoch(r->cdb), 8);
        memcpy(msg + 12, cd_cdb_digest(r->cdb), CD_DIGEST_LEN);
        cmn_put_le(msg + 12 + CD_DIGEST_LEN, len, 4);
        cmn_put_le(msg + 16 + CD_DIGEST_LEN, off, 4);
        memcpy(msg + SYNC_HDR, text + off, n);
        rc = r->ops.send(r->data, msg, SYNC_HDR + n);
        if (rc < 0)
            return rc;
        off += n;
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

    if (len != STATE_LEN || i < 0 || r->phase != CD_SYNC_COLLECT) {
        /* A STATE from an aborted round or an unknown sender. */
        return;
    }
    r->states[i].got = true;
    r->states[i].epoch = cmn_get_le(p + 4, 8);
    memcpy(r->states[i].digest, p + 12, CD_DIGEST_LEN);
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
    uint32_t total, off;

    if (r->phase != CD_SYNC_TRANSFER || nodeid != r->winner || len < SYNC_HDR)
        return;
    total = (uint32_t)cmn_get_le(p + 12 + CD_DIGEST_LEN, 4);
    off = (uint32_t)cmn_get_le(p + 16 + CD_DIGEST_LEN, 4);
    if (off == 0) {
        cd_buf_free(&r->snap);
        r->snap_total = total;
        r->snap_epoch = cmn_get_le(p + 4, 8);
        memcpy(r->snap_digest, p + 12, CD_DIGEST_LEN);
    }
    if (off != r->snap.len || total != r->snap_total ||
        len - SYNC_HDR > total - off) {
        r->stats.bad_messages++;
        return;
    }
    cd_buf_add(&r->snap, (const char *)p + SYNC_HDR, len - SYNC_HDR);
    if (r->snap.len == r->snap_total)
        adopt_snapshot(r);
}

void cd_replica_deliver(struct cd_replica *r, uint32_t nodeid, const void *vbuf,
                        size_t len)
{
    const uint8_t *p = vbuf;
    uint32_t magic;

    if (len < 4 || r->phase == CD_SYNC_NONE) {
        r->stats.bad_messages++;
        return;
    }
    magic = (uint32_t)cmn_get_le(p, 4);
    switch (magic) {
    case STATE_MAGIC:
        deliver_state(r, nodeid, p, len);
        break;
    case SYNC_MAGIC:
        deliver_sync(r, nodeid, p, len);
        break;
    case OP_MAGIC:
        if (r->phase == CD_SYNC_TRANSFER) {
            struct pending_op *po;
            if (r->npending == r->pending_cap) {
                size_t cap = r->pending_cap ? 2 * r->pending_cap : 16;
                po = realloc(r->pending, cap * sizeof(*po));
                if (!po)
                    return;
                r->pending = po;
                r->pending_cap = cap;
            }
            po = &r->pending[r->npending];
            po->buf = malloc(len);
            if (!po->buf)
                return;
            memcpy(po->buf, p, len);
            po->len = len;
            po->origin = nodeid;
            r->npending++;
            r->stats.ops_buffered++;
        } else {
            apply_encoded(r, nodeid, p, len);
        }
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
