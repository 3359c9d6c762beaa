/* hvagent's saved-state header (hva_state_hdr_decode), read back from the
 * VM's state extent on the shared volume before a quick-migration
 * restore. The harness rewrites the header crc32c (offset 72, over bytes
 * 0..71) so mutations reach the fields; a decoded header must encode to
 * the same fields again. */
#include "config.h"

#include "common/cmn-crc32c.h"
#include "common/cmn-le.h"
#include "hvagent/hva-int.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t buf[HVA_STATE_HDR_SIZE] = {0}, again[HVA_STATE_HDR_SIZE];
    struct hva_state_hdr h, h2;

    memcpy(buf, data, size < sizeof(buf) ? size : sizeof(buf));
    cmn_put_le(buf + 72, cmn_crc32c(0, buf, 72), 4);
    if (hva_state_hdr_decode(buf, &h) < 0)
        return 0;
    if (strlen(h.uuid) >= sizeof(h.uuid))
        abort();
    hva_state_hdr_encode(&h, again);
    if (hva_state_hdr_decode(again, &h2) < 0 || h2.length != h.length ||
        h2.data_crc != h.data_crc || strcmp(h2.uuid, h.uuid) != 0)
        abort();
    return 0;
}
