/* The replication state machine's decoders: STATE and SYNC (and OP)
 * messages as CPG delivers them to member 1 of {1, 2, 3}
 * (cd_replica_deliver), including a snapshot the member adopts when the
 * sync winner sends one (cd_cdb_parse of the received document).
 *
 * Input: records of u8 control + u16 length + message. Control bit 7
 * set: a configuration change instead, members = bits 0..3 as nodes 1..4
 * (member 1 always in); otherwise the message is from node 1 + control %
 * 4. OP messages get their crc32c rewritten (see fuzz-cdb-op.c). */
#include "config.h"

#include "clusterd/cd-replica.h"
#include "clusterd/cd.h"
#include "common/cmn-crc32c.h"
#include "common/cmn-le.h"
#include "tests/fuzz/fuzz.h"

#define OP_MAGIC 0x504f434bu /* "KCOP", see cd-msg.c */

static int on_send(void *data, const void *buf, size_t len)
{
    (void)data, (void)buf, (void)len;
    return 0;
}

static const struct cd_replica_ops ops = {.send = on_send};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_env();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t all[] = {1, 2, 3};
    struct fuzz_in in = {data, size};
    struct cd_replica *r;
    struct cd_cdb *cdb;

    if (cd_cdb_new(&cdb) < 0)
        return 0;
    if (cd_replica_new(1, cdb, FUZZ_SRCDIR "/schemas/cdb.rng", &ops, NULL, &r) <
        0) {
        cd_cdb_free(cdb);
        return 0;
    }
    cd_replica_set_quorate(r, true);
    cd_replica_confchg(r, all, 3);
    while (in.n) {
        unsigned ctl = fuzz_u8(&in);
        size_t want = fuzz_u16(&in), len;
        const uint8_t *p = fuzz_take(&in, want, &len);
        uint8_t *msg;

        if (ctl & 0x80) {
            uint32_t members[4];
            size_t n = 0;

            for (unsigned i = 0; i < 4; i++)
                if (i == 0 || ctl & (1u << i))
                    members[n++] = i + 1;
            cd_replica_confchg(r, members, n);
            continue;
        }
        msg = malloc(len ? len : 1);
        if (!msg)
            break;
        memcpy(msg, p, len);
        if (len >= 16 && cmn_get_le(msg, 4) == OP_MAGIC)
            cmn_put_le(msg + 12, cmn_crc32c(0, msg + 16, len - 16), 4);
        cd_replica_deliver(r, 1 + ctl % 4, msg, len);
        free(msg);
    }
    cd_replica_free(r);
    return 0;
}
