/* Change messages: explicit little-endian encoding of struct cd_op.
 *
 *   u32 magic "KCOP"  u16 version  u16 type  u32 payload length
 *   u32 crc32c(payload)
 *   payload: u64 request_id  u32 nodeid  u64 number
 *            u16 len + name  u16 len + arg  u16 len + arg2
 *            u32 len + text (0xffffffff = no text)
 *
 * Strings carry no NUL on the wire; the decoder rejects embedded NULs,
 * over-long fields, trailing bytes and unknown types, so a bad message
 * never reaches cd_cdb_apply(). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clusterd/cd-coord.h"
#include "clusterd/cd-int.h"
#include "clusterd/cd-replica.h"
#include "common/cmn-le.h"
#include "common/cmn-name.h"
#include "common/cmn-crc32c.h"

#define OP_MAGIC   0x504f434bu /* "KCOP" little-endian */
#define OP_VERSION 1
#define OP_HDR_LEN 16
#define NO_TEXT    0xffffffffu

static const char *const op_names[CD_OP_TYPE_END] = {
    [CD_OP_SET_SETTING] = "set-setting",
    [CD_OP_ADD_NODE] = "add-node",
    [CD_OP_REMOVE_NODE] = "remove-node",
    [CD_OP_SET_NODE_STATE] = "set-node-state",
    [CD_OP_ADD_VOLUME] = "add-volume",
    [CD_OP_REMOVE_VOLUME] = "remove-volume",
    [CD_OP_ADD_VM] = "add-vm",
    [CD_OP_REMOVE_VM] = "remove-vm",
    [CD_OP_SET_VM_PRIORITY] = "set-vm-priority",
    [CD_OP_SET_VM_TARGET] = "set-vm-target",
    [CD_OP_NODE_FAILURE] = "node-failure",
    [CD_OP_SET_VM_DEF] = "set-vm-definition",
    [CD_OP_SET_NODE_CPU] = "set-node-cpu",
    [CD_OP_ADD_LOCAL_VOLUME] = "add-local-volume",
};

const char *cd_op_type_name(enum cd_op_type t)
{
    return t > 0 && t < CD_OP_TYPE_END ? op_names[t] : "unknown";
}

void cd_op_clear(struct cd_op *op)
{
    free(op->text);
    memset(op, 0, sizeof(*op));
}

int cd_op_encode(const struct cd_op *op, void **ret_buf, size_t *ret_len)
{
    size_t name_len = strnlen(op->name, CD_NAME_MAX);
    size_t arg_len = strnlen(op->arg, CD_VALUE_MAX);
    size_t arg2_len = strnlen(op->arg2, CD_VALUE_MAX);
    size_t text_len = op->text ? strlen(op->text) : 0;
    size_t payload, len;
    uint8_t *buf, *p;

    if (op->type <= 0 || op->type >= CD_OP_TYPE_END ||
        name_len == CD_NAME_MAX || arg_len == CD_VALUE_MAX ||
        arg2_len == CD_VALUE_MAX || text_len > CD_TEXT_MAX)
        return -CD_E_BAD_MSG;
    payload =
        8 + 4 + 8 + 2 + name_len + 2 + arg_len + 2 + arg2_len + 4 + text_len;
    len = OP_HDR_LEN + payload;
    buf = malloc(len);
    if (!buf)
        return -ENOMEM;
    p = buf + OP_HDR_LEN;
    cmn_put_le(p, op->request_id, 8), p += 8;
    cmn_put_le(p, op->nodeid, 4), p += 4;
    cmn_put_le(p, op->number, 8), p += 8;
    cmn_put_le(p, name_len, 2), p += 2;
    memcpy(p, op->name, name_len), p += name_len;
    cmn_put_le(p, arg_len, 2), p += 2;
    memcpy(p, op->arg, arg_len), p += arg_len;
    cmn_put_le(p, arg2_len, 2), p += 2;
    memcpy(p, op->arg2, arg2_len), p += arg2_len;
    cmn_put_le(p, op->text ? text_len : NO_TEXT, 4), p += 4;
    if (text_len)
        memcpy(p, op->text, text_len);
    cmn_put_le(buf, OP_MAGIC, 4);
    cmn_put_le(buf + 4, OP_VERSION, 2);
    cmn_put_le(buf + 6, op->type, 2);
    cmn_put_le(buf + 8, payload, 4);
    cmn_put_le(buf + 12, cmn_crc32c(0, buf + OP_HDR_LEN, payload), 4);
    *ret_buf = buf;
    *ret_len = len;
    return 0;
}

/* Reads a u16-length string field into dst (size max, NUL added). */
static int get_str(const uint8_t **p, const uint8_t *end, char *dst, size_t max)
{
    size_t n;

    if (end - *p < 2)
        return -CD_E_BAD_MSG;
    n = cmn_get_le(*p, 2);
    *p += 2;
    if (n >= max || (size_t)(end - *p) < n || memchr(*p, '\0', n))
        return -CD_E_BAD_MSG;
    memcpy(dst, *p, n);
    dst[n] = '\0';
    *p += n;
    return 0;
}

int cd_op_decode(const void *vbuf, size_t len, struct cd_op *ret_op)
{
    const uint8_t *buf = vbuf, *p, *end;
    struct cd_op op = {0};
    size_t payload, n;

    if (len < OP_HDR_LEN || cmn_get_le(buf, 4) != OP_MAGIC)
        return -CD_E_BAD_MSG;
    if (cmn_get_le(buf + 4, 2) != OP_VERSION)
        return -CD_E_MSG_VERSION;
    op.type = cmn_get_le(buf + 6, 2);
    payload = cmn_get_le(buf + 8, 4);
    if (op.type <= 0 || op.type >= CD_OP_TYPE_END ||
        payload != len - OP_HDR_LEN ||
        cmn_get_le(buf + 12, 4) != cmn_crc32c(0, buf + OP_HDR_LEN, payload))
        return -CD_E_BAD_MSG;
    p = buf + OP_HDR_LEN;
    end = buf + len;
    if (end - p < 20)
        return -CD_E_BAD_MSG;
    op.request_id = cmn_get_le(p, 8), p += 8;
    op.nodeid = (uint32_t)cmn_get_le(p, 4), p += 4;
    op.number = cmn_get_le(p, 8), p += 8;
    if (get_str(&p, end, op.name, sizeof(op.name)) < 0 ||
        get_str(&p, end, op.arg, sizeof(op.arg)) < 0 ||
        get_str(&p, end, op.arg2, sizeof(op.arg2)) < 0 || end - p < 4)
        return -CD_E_BAD_MSG;
    n = cmn_get_le(p, 4);
    p += 4;
    if (n != NO_TEXT) {
        if (n > CD_TEXT_MAX || (size_t)(end - p) != n || memchr(p, '\0', n))
            return -CD_E_BAD_MSG;
        op.text = malloc(n + 1);
        if (!op.text)
            return -ENOMEM;
        memcpy(op.text, p, n);
        op.text[n] = '\0';
        p += n;
    }
    if (p != end) {
        free(op.text);
        return -CD_E_BAD_MSG;
    }
    *ret_op = op;
    return 0;
}

/* ------------------------------------------------- STATE and SYNC */

#define STATE_MAGIC 0x5453434bu /* "KCST" */
#define SYNC_MAGIC  0x5953434bu /* "KCSY" */
/* A STATE of a clusterd from before the version field. */
#define STATE_LEN_UNVERSIONED (4 + 8 + CD_DIGEST_LEN)

enum cd_repl_kind cd_repl_kind(const void *buf, size_t len)
{
    if (len < 4)
        return CD_REPL_NONE;
    switch (cmn_get_le(buf, 4)) {
    case STATE_MAGIC:
        return CD_REPL_STATE;
    case SYNC_MAGIC:
        return CD_REPL_SYNC;
    case OP_MAGIC:
        return CD_REPL_OP;
    default:
        return CD_REPL_NONE;
    }
}

void cd_state_msg_encode(const struct cd_state_msg *m, uint8_t *buf)
{
    cmn_put_le(buf, STATE_MAGIC, 4);
    cmn_put_le(buf + 4, m->version, 2);
    cmn_put_le(buf + 6, m->max_version, 2);
    cmn_put_le(buf + 8, m->epoch, 8);
    memcpy(buf + 16, m->digest, CD_DIGEST_LEN);
}

int cd_state_msg_decode(const void *vbuf, size_t len, struct cd_state_msg *ret)
{
    const uint8_t *buf = vbuf;
    struct cd_state_msg m;

    if (len < 4 || cmn_get_le(buf, 4) != STATE_MAGIC)
        return -CD_E_BAD_MSG;
    if (len == STATE_LEN_UNVERSIONED)
        return -CD_E_MSG_VERSION;
    if (len < 8)
        return -CD_E_BAD_MSG;
    m.version = (uint16_t)cmn_get_le(buf + 4, 2);
    m.max_version = (uint16_t)cmn_get_le(buf + 6, 2);
    /* Version before length: a newer layout may be longer. */
    if (m.version == 0 || m.version > CD_REPLICA_VERSION)
        return -CD_E_MSG_VERSION;
    if (len != CD_STATE_LEN || m.max_version < m.version)
        return -CD_E_BAD_MSG;
    m.epoch = cmn_get_le(buf + 8, 8);
    memcpy(m.digest, buf + 16, CD_DIGEST_LEN);
    *ret = m;
    return 0;
}

void cd_sync_msg_encode(const struct cd_sync_msg *m, uint8_t *buf)
{
    cmn_put_le(buf, SYNC_MAGIC, 4);
    cmn_put_le(buf + 4, m->version, 2);
    cmn_put_le(buf + 6, 0, 2);
    cmn_put_le(buf + 8, m->epoch, 8);
    memcpy(buf + 16, m->digest, CD_DIGEST_LEN);
    cmn_put_le(buf + 16 + CD_DIGEST_LEN, m->total, 4);
    cmn_put_le(buf + 20 + CD_DIGEST_LEN, m->offset, 4);
    if (m->chunk_len)
        memcpy(buf + CD_SYNC_HDR_LEN, m->chunk, m->chunk_len);
}

int cd_sync_msg_decode(const void *vbuf, size_t len, struct cd_sync_msg *ret)
{
    const uint8_t *buf = vbuf;
    struct cd_sync_msg m;

    if (len < 8 || cmn_get_le(buf, 4) != SYNC_MAGIC)
        return -CD_E_BAD_MSG;
    m.version = (uint16_t)cmn_get_le(buf + 4, 2);
    if (m.version == 0 || m.version > CD_REPLICA_VERSION)
        return -CD_E_MSG_VERSION;
    if (len < CD_SYNC_HDR_LEN || len - CD_SYNC_HDR_LEN > CD_SYNC_CHUNK_MAX ||
        cmn_get_le(buf + 6, 2) != 0)
        return -CD_E_BAD_MSG;
    m.epoch = cmn_get_le(buf + 8, 8);
    memcpy(m.digest, buf + 16, CD_DIGEST_LEN);
    m.total = (uint32_t)cmn_get_le(buf + 16 + CD_DIGEST_LEN, 4);
    m.offset = (uint32_t)cmn_get_le(buf + 20 + CD_DIGEST_LEN, 4);
    m.chunk = buf + CD_SYNC_HDR_LEN;
    m.chunk_len = len - CD_SYNC_HDR_LEN;
    /* The chunk ends inside the announced total, which is capped; an
     * empty document is one empty chunk. */
    if (m.total > CD_SYNC_TOTAL_MAX || m.offset > m.total ||
        m.chunk_len > m.total - m.offset || (m.chunk_len == 0 && m.total != 0))
        return -CD_E_BAD_MSG;
    *ret = m;
    return 0;
}

/* ------------------------------------- who may send coordinator messages */

static bool is_member(const uint32_t *members, size_t n, uint32_t id)
{
    for (size_t i = 0; i < n; i++)
        if (members[i] == id)
            return true;
    return false;
}

static uint32_t lowest(const uint32_t *members, size_t n)
{
    uint32_t low = 0;

    for (size_t i = 0; i < n; i++)
        if (low == 0 || members[i] < low)
            low = members[i];
    return low;
}

static int decision_entitled(const uint32_t *members, size_t n, uint32_t sender,
                             const struct cd_co_msg *m, const char *what,
                             char *err, size_t errlen)
{
    uint32_t co = lowest(members, n);

    if (sender != co) {
        cd_errf(err, errlen,
                "%s for '%s' from node %u refused: only the coordinator "
                "(node %u) decides",
                what, m->vm, sender, co);
        return -CD_E_NOT_ENTITLED;
    }
    if ((m->a && !is_member(members, n, m->a)) ||
        (m->b && !is_member(members, n, m->b))) {
        cd_errf(err, errlen,
                "%s for '%s' from node %u refused: it names node %u, not a "
                "member",
                what, m->vm, sender,
                m->a && !is_member(members, n, m->a) ? m->a : m->b);
        return -CD_E_NOT_ENTITLED;
    }
    return 0;
}

int cd_co_msg_entitled(const struct cd_coord *co, const uint32_t *members,
                       size_t nmembers, uint32_t sender,
                       const struct cd_co_msg *m, char *err, size_t errlen)
{
    const struct cd_action *a;
    uint32_t ex;

    if (!is_member(members, nmembers, sender)) {
        cd_errf(err, errlen, "message from node %u refused: not a member",
                sender);
        return -CD_E_NOT_ENTITLED;
    }
    /* Every VM or volume name a member sends goes into events and replies
     * as XML: only names of the CDB's rule get that far. */
    if (m->vm[0] && !cmn_name_valid(m->vm)) {
        cd_errf(err, errlen,
                "message from node %u refused: '%.64s' is not a valid VM or "
                "volume name",
                sender, m->vm);
        return -CD_E_BAD_MSG;
    }
    switch (m->type) {
    case CD_CO_ACTION:
        /* Known already: a duplicate changes nothing. Unknown from a
         * member still announcing: a joining member learns it. */
        if (cd_coord_action_by_id(co, m->id) ||
            (sender != lowest(members, nmembers) &&
             !cd_coord_announced(co, sender)))
            return 0;
        return decision_entitled(members, nmembers, sender, m, "ACTION", err,
                                 errlen);
    case CD_CO_NODE_LOST: {
        uint32_t c = lowest(members, nmembers);
        if (sender == c)
            return 0;
        cd_errf(err, errlen,
                "NODE_LOST of node %u from node %u refused: only the "
                "coordinator (node %u) declares a node lost",
                m->a, sender, c);
        return -CD_E_NOT_ENTITLED;
    }
    case CD_CO_STEP:
        a = cd_coord_action_by_id(co, m->id);
        /* Unknown, ended or another step: delivery ignores it anyway. */
        if (!a || a->status != CD_AS_ACTIVE || a->step != m->cause)
            return 0;
        ex = cd_action_executor(a);
        if (ex == sender)
            return 0;
        cd_errf(err, errlen,
                "STEP %u of action %llu (VM '%s') from node %u refused: "
                "node %u executes that step",
                m->cause, (unsigned long long)m->id, a->vm, sender, ex);
        return -CD_E_NOT_ENTITLED;
    default:
        return 0;
    }
}
