/* CDB change messages (cd_op_decode), as CPG delivers them, applied to a
 * three-node CDB with one VM (cd_cdb_apply) when they decode.
 *
 * Input: records of u16 length + message, applied in order to a copy of
 * the same starting CDB. The harness rewrites each message's crc32c
 * (offset 12, over the bytes after the 16-byte header) so mutations reach
 * the fields instead of dying at the checksum. */
#include "config.h"

#include "clusterd/cd.h"
#include "common/cmn-crc32c.h"
#include "common/cmn-le.h"
#include "tests/fuzz/fuzz.h"

static struct cd_cdb *start;

static void setup_apply(struct cd_cdb *cdb, enum cd_op_type t, const char *name,
                        const char *arg, uint32_t nodeid, uint64_t number,
                        const char *text)
{
    struct cd_op op = {.type = t, .nodeid = nodeid, .number = number};
    char err[256];

    snprintf(op.name, sizeof(op.name), "%s", name);
    snprintf(op.arg, sizeof(op.arg), "%s", arg);
    op.text = text ? strdup(text) : NULL;
    if (cd_cdb_apply(cdb, &op, err, sizeof(err)) < 0) {
        fprintf(stderr, "fixture: %s\n", err);
        abort();
    }
    free(op.text);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_env();
    if (cd_cdb_new(&start) < 0)
        abort();
    setup_apply(start, CD_OP_ADD_NODE, "node1", "198.18.0.1", 1, 4096, NULL);
    setup_apply(start, CD_OP_ADD_NODE, "node2", "198.18.0.2", 2, 4096, NULL);
    setup_apply(start, CD_OP_ADD_VM, "web1", "medium", 0, 0,
                "<vm><name>web1</name>"
                "<uuid>6f1c2d3e-4a5b-4c6d-8e7f-000000000001</uuid>"
                "<memory unit=\"MiB\">256</memory><vcpus>1</vcpus>"
                "<boot dev=\"kernel\"><kernel>/k.elf</kernel></boot>"
                "<policy><priority>medium</priority></policy></vm>");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    struct cd_cdb *cdb;

    if (cd_cdb_dup(start, &cdb) < 0)
        return 0;
    while (in.n) {
        size_t want = fuzz_u16(&in), len;
        const uint8_t *p = fuzz_take(&in, want, &len);
        uint8_t *msg = malloc(len ? len : 1);
        struct cd_op op;
        char err[512];

        if (!msg)
            break;
        memcpy(msg, p, len);
        if (len >= 16)
            cmn_put_le(msg + 12, cmn_crc32c(0, msg + 16, len - 16), 4);
        if (cd_op_decode(msg, len, &op) == 0) {
            cd_cdb_apply(cdb, &op, err, sizeof(err));
            cd_op_clear(&op);
        }
        free(msg);
    }
    cd_cdb_free(cdb);
    return 0;
}
