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

#include "clusterd/cd-int.h"
#include "common/cmn-le.h"
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

    if (len < OP_HDR_LEN || cmn_get_le(buf, 4) != OP_MAGIC ||
        cmn_get_le(buf + 4, 2) != OP_VERSION)
        return -CD_E_BAD_MSG;
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
