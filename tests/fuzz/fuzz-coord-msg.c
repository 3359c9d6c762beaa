/* Coordinator messages (cd_co_msg_decode) as CPG delivers them, applied
 * in order to a coordinator (cd_coord_deliver) over a three-node CDB with
 * two VMs; the actions it would then derive are computed too, so every
 * state a message sequence leaves is read back.
 *
 * Input: records of u8 sender (1..4) + u16 length + message. The harness
 * rewrites each message's crc32c (offset 8, over the bytes after the
 * 12-byte header) so mutations reach the fields. */
#include "config.h"

#include "clusterd/cd-coord.h"
#include "clusterd/cd.h"
#include "common/cmn-crc32c.h"
#include "common/cmn-le.h"
#include "tests/fuzz/fuzz.h"

static struct cd_cdb *cdb;

static void setup_apply(enum cd_op_type t, const char *name, const char *arg,
                        uint32_t nodeid, uint64_t number, const char *text)
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

static void add_vm(const char *name, const char *uuid_tail, const char *prio)
{
    char xml[1024];

    snprintf(xml, sizeof(xml),
             "<vm><name>%s</name>"
             "<uuid>6f1c2d3e-4a5b-4c6d-8e7f-%s</uuid>"
             "<memory unit=\"MiB\">256</memory><vcpus>1</vcpus>"
             "<boot dev=\"kernel\"><kernel>/k.elf</kernel></boot>"
             "<policy><priority>%s</priority></policy></vm>",
             name, uuid_tail, prio);
    setup_apply(CD_OP_ADD_VM, name, prio, 0, 0, xml);
    setup_apply(CD_OP_SET_VM_TARGET, name, "running", 0, 0, NULL);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_env();
    if (cd_cdb_new(&cdb) < 0)
        abort();
    setup_apply(CD_OP_ADD_NODE, "node1", "198.18.0.1", 1, 4096, NULL);
    setup_apply(CD_OP_ADD_NODE, "node2", "198.18.0.2", 2, 4096, NULL);
    setup_apply(CD_OP_ADD_NODE, "node3", "198.18.0.3", 3, 4096, NULL);
    add_vm("web1", "000000000001", "high");
    add_vm("db1", "000000000002", "medium");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t members[] = {1, 2, 3};
    struct fuzz_in in = {data, size};
    struct cd_coord *co;
    struct cd_action out[32];
    struct cd_co_view view = {
        .self = 1,
        .quorate = true,
        .members = members,
        .nmembers = 3,
        .now_s = 100000,
    };

    if (cd_coord_new(&co) < 0)
        return 0;
    cd_coord_confchg(co, members, 3);
    while (in.n) {
        uint32_t sender = 1 + fuzz_u8(&in) % 4;
        size_t want = fuzz_u16(&in), len;
        const uint8_t *p = fuzz_take(&in, want, &len);
        uint8_t *msg = malloc(len ? len : 1);
        struct cd_co_effect eff;
        struct cd_co_msg m;
        char err[512];

        if (!msg)
            break;
        memcpy(msg, p, len);
        if (len >= 12)
            cmn_put_le(msg + 8, cmn_crc32c(0, msg + 12, len - 12), 4);
        if (cd_co_msg_decode(msg, len, &m) == 0) {
            memset(&eff, 0, sizeof(eff));
            cd_coord_deliver(co, cdb, sender, &m, &eff, err, sizeof(err));
        }
        free(msg);
    }
    cd_coord_derive(co, cdb, &view, out, CMN_ARRAY_SIZE(out));
    cd_coord_free(co);
    return 0;
}
