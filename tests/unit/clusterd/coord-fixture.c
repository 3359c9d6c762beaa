/* Fixtures shared by the coordinator's unit tests (test-coord.c,
 * test-storage.c): a three-node CDB, VMs in it, and messages delivered
 * through the wire format as on CPG. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/unit/clusterd/coord-fixture.h"

const char *vm_xml(const char *name, const char *prio, unsigned mib,
                   const char *extra)
{
    static char buf[2048];
    unsigned h = 0;

    for (const char *p = name; *p; p++)
        h = h * 31 + (unsigned char)*p;
    snprintf(buf, sizeof(buf),
             "<vm><name>%s</name>"
             "<uuid>6f1c2d3e-4a5b-4c6d-8e7f-%012x</uuid>"
             "<memory unit=\"MiB\">%u</memory><vcpus>1</vcpus>"
             "<boot dev=\"kernel\"><kernel>/k.elf</kernel></boot>"
             "<policy><priority>%s</priority>%s</policy></vm>",
             name, h & 0xffffff, mib, prio, extra ? extra : "");
    return buf;
}

void apply(struct cd_cdb *cdb, enum cd_op_type t, const char *name,
           const char *arg, uint32_t nodeid, uint64_t number, const char *text)
{
    struct cd_op op = {.type = t, .nodeid = nodeid, .number = number};
    char err[256];

    snprintf(op.name, sizeof(op.name), "%s", name);
    snprintf(op.arg, sizeof(op.arg), "%s", arg ? arg : "");
    op.text = text ? strdup(text) : NULL;
    assert_int_equal(cd_cdb_apply(cdb, &op, err, sizeof(err)), 0);
    free(op.text);
}

void add_vm(struct cd_cdb *cdb, const char *name, const char *prio,
            unsigned mib, bool run)
{
    apply(cdb, CD_OP_ADD_VM, name, prio, 0, 0, vm_xml(name, prio, mib, NULL));
    if (run)
        apply(cdb, CD_OP_SET_VM_TARGET, name, "running", 0, 0, NULL);
}

/* Three nodes of 4 GiB. */
struct cd_cdb *cluster3(void)
{
    struct cd_cdb *cdb;

    assert_int_equal(cd_cdb_new(&cdb), 0);
    apply(cdb, CD_OP_ADD_NODE, "node1", "198.18.0.1", 1, 4096, NULL);
    apply(cdb, CD_OP_ADD_NODE, "node2", "198.18.0.2", 2, 4096, NULL);
    apply(cdb, CD_OP_ADD_NODE, "node3", "198.18.0.3", 3, 4096, NULL);
    return cdb;
}

void deliver(struct cd_coord *co, const struct cd_cdb *cdb, uint32_t sender,
             const struct cd_co_msg *m, struct cd_co_effect *eff)
{
    struct cd_co_effect dummy;
    char err[512] = "";
    uint8_t buf[CD_CO_MSG_MAX];
    struct cd_co_msg back;
    size_t len;

    /* Every message goes through the wire format, as on CPG. */
    assert_int_equal(cd_co_msg_encode(m, buf, sizeof(buf), &len), 0);
    assert_int_equal(cd_co_msg_decode(buf, len, &back), 0);
    assert_int_equal(cd_coord_deliver(co, cdb, sender, &back,
                                      eff ? eff : &dummy, err, sizeof(err)),
                     0);
}

void announce(struct cd_coord *co, const struct cd_cdb *cdb, uint32_t node,
              const char *const *vms)
{
    struct cd_co_msg m = {.type = CD_CO_RT_BEGIN};

    deliver(co, cdb, node, &m, NULL);
    for (; vms && *vms; vms++) {
        memset(&m, 0, sizeof(m));
        m.type = CD_CO_RT_VM;
        m.kind = CD_RT_RUNNING;
        snprintf(m.vm, sizeof(m.vm), "%s", *vms);
        deliver(co, cdb, node, &m, NULL);
    }
    memset(&m, 0, sizeof(m));
    m.type = CD_CO_RT_END;
    deliver(co, cdb, node, &m, NULL);
}

const uint32_t m123[] = {1, 2, 3};

size_t derive(struct cd_coord *co, const struct cd_cdb *cdb,
              const uint32_t *members, size_t n, struct cd_action *out)
{
    struct cd_co_view v = {
        .self = members[0],
        .quorate = true,
        .members = members,
        .nmembers = n,
        .now_s = 100000,
    };
    return cd_coord_derive(co, cdb, &v, out, 32);
}

struct cd_coord *coord_settled(const struct cd_cdb *cdb)
{
    struct cd_coord *co;

    assert_int_equal(cd_coord_new(&co), 0);
    cd_coord_confchg(co, m123, 3);
    for (uint32_t i = 1; i <= 3; i++)
        announce(co, cdb, i, NULL);
    return co;
}
