/* Forwarded-request messages (cd_fwd_msg_decode) as CPG delivers them:
 * another node's bytes. Whatever decodes encodes back to the same bytes
 * (the format has one encoding per message), so nothing is read past the
 * message or dropped from it. The harness rewrites the crc32c (offset 8,
 * over the bytes after the 12-byte header) so mutations reach the
 * fields. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "clusterd/cd-fwd.h"
#include "common/cmn-crc32c.h"
#include "common/cmn-le.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cd_fwd_msg m = {0};
    uint8_t *buf;
    void *again = NULL;
    size_t again_len = 0;

    buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    if (size >= CD_FWD_HDR)
        cmn_put_le32(buf + 8,
                     cmn_crc32c(0, buf + CD_FWD_HDR, size - CD_FWD_HDR));
    if (cd_fwd_msg_decode(buf, size, &m) == 0) {
        if (m.type <= 0 || m.type >= CD_FWD_TYPE_END || !m.text ||
            strlen(m.text) >= CD_FWD_TEXT_MAX)
            abort();
        if (cd_fwd_msg_encode(&m, &again, &again_len) < 0 ||
            again_len != size || memcmp(again, buf, size))
            abort();
        free(again);
        free(m.text);
    }
    free(buf);
    return 0;
}
