/* The forwarded-request message's encoding (see cd-fwd.h). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clusterd/cd-fwd.h"
#include "clusterd/cd-int.h"
#include "common/cmn-crc32c.h"
#include "common/cmn-le.h"

#define FWD_MAGIC   0x5746434bu /* "KCFW" little-endian */
#define FWD_VERSION 1

bool cd_fwd_msg_is_mine(const void *buf, size_t len)
{
    return len >= 4 && cmn_get_le32(buf) == FWD_MAGIC;
}

int cd_fwd_msg_encode(const struct cd_fwd_msg *m, void **ret_buf,
                      size_t *ret_len)
{
    size_t tl = m->text ? strnlen(m->text, CD_FWD_TEXT_MAX) : 0;
    size_t len = CD_FWD_HDR + CD_FWD_FIXED + tl;
    uint8_t *buf, *p;

    if (m->type <= 0 || m->type >= CD_FWD_TYPE_END || tl == CD_FWD_TEXT_MAX)
        return -CD_E_BAD_MSG;
    buf = malloc(len);
    if (!buf)
        return -ENOMEM;
    p = buf + CD_FWD_HDR;
    cmn_put_le32(p, m->to), p += 4;
    cmn_put_le64(p, m->id), p += 8;
    cmn_put_le32(p, (uint32_t)tl), p += 4;
    if (tl)
        memcpy(p, m->text, tl);
    cmn_put_le32(buf, FWD_MAGIC);
    cmn_put_le16(buf + 4, FWD_VERSION);
    cmn_put_le16(buf + 6, (uint16_t)m->type);
    cmn_put_le32(buf + 8, cmn_crc32c(0, buf + CD_FWD_HDR, len - CD_FWD_HDR));
    *ret_buf = buf;
    *ret_len = len;
    return 0;
}

int cd_fwd_msg_decode(const void *vbuf, size_t len, struct cd_fwd_msg *ret)
{
    const uint8_t *buf = vbuf, *p;
    uint32_t tl, type;
    char *text;

    if (len < CD_FWD_HDR || cmn_get_le32(buf) != FWD_MAGIC)
        return -CD_E_BAD_MSG;
    /* The version before the crc: a newer member's layout may differ. */
    if (cmn_get_le16(buf + 4) != FWD_VERSION)
        return -CD_E_MSG_VERSION;
    if (len < CD_FWD_HDR + CD_FWD_FIXED ||
        cmn_get_le32(buf + 8) !=
            cmn_crc32c(0, buf + CD_FWD_HDR, len - CD_FWD_HDR))
        return -CD_E_BAD_MSG;
    type = cmn_get_le16(buf + 6);
    if (type == 0 || type >= CD_FWD_TYPE_END)
        return -CD_E_BAD_MSG;
    p = buf + CD_FWD_HDR;
    tl = cmn_get_le32(p + 12);
    if (tl >= CD_FWD_TEXT_MAX || len != CD_FWD_HDR + CD_FWD_FIXED + tl ||
        memchr(p + CD_FWD_FIXED, '\0', tl))
        return -CD_E_BAD_MSG;
    text = malloc(tl + 1);
    if (!text)
        return -ENOMEM;
    memcpy(text, p + CD_FWD_FIXED, tl);
    text[tl] = '\0';
    ret->type = (enum cd_fwd_type)type;
    ret->to = cmn_get_le32(p);
    ret->id = cmn_get_le64(p + 4);
    ret->text = text;
    return 0;
}
