/* VM networks in clusterd: the warning of `vm add` and `vm edit` when no
 * node has a bridge the VM needs, and the MAC check they share with the
 * CDB's apply path. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clusterd/cd-coord.h"
#include "clusterd/cd-net.h"
#include "clusterd/cd.h"
#include "resources/res-vm.h"

#define VM(name, uuid, nics)                                                   \
    "<vm><name>" name "</name><uuid>6f1c2d3e-4a5b-4c6d-8e7f-" uuid "</uuid>"   \
    "<memory>64</memory><vcpus>1</vcpus>" nics                                 \
    "<boot dev=\"kernel\"><kernel>/k</kernel></boot></vm>"

static struct res_vm *parse(const char *xml)
{
    struct res_vm *v = NULL;
    char err[256];

    if (res_vm_parse(xml, strlen(xml), "t.xml", &v, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    return v;
}

static void add_node(struct cd_cdb *cdb, const char *name, uint32_t id)
{
    struct cd_op op = {.type = CD_OP_ADD_NODE, .nodeid = id, .number = 1024};
    char err[256];

    snprintf(op.name, sizeof(op.name), "%s", name);
    snprintf(op.arg, sizeof(op.arg), "198.18.0.%u", (unsigned)id);
    assert_int_equal(cd_cdb_apply(cdb, &op, err, sizeof(err)), 0);
}

static void report(struct cd_net_table *t, uint32_t node, const char *list)
{
    struct cd_co_msg m;

    cd_net_msg(list, &m);
    cd_net_apply(t, node, &m);
}

static void test_bridge_warning(void **state)
{
    CMN_AUTO(cd_cdb) *cdb = NULL;
    struct cd_net_table t = {0};
    struct res_vm *ok, *bad, *none;
    char w[1024] = "";

    (void)state;
    assert_int_equal(cd_cdb_new(&cdb), 0);
    add_node(cdb, "n1", 1);
    add_node(cdb, "n2", 2);
    ok = parse(VM("web1", "000000000001",
                  "<nic bridge=\"vmbr0\"/><nic bridge=\"vmbr1\"/>"));
    bad = parse(VM("web2", "000000000002",
                   "<nic bridge=\"vmbr0\"/><nic bridge=\"vmbr9\"/>"));
    none = parse(VM("web3", "000000000003", ""));

    /* Nothing reported yet: nothing known, no warning. */
    assert_false(cd_net_bridge_warning(&t, cdb, bad, w, sizeof(w)));
    report(&t, 1, "vmbr0 vmbr1");
    report(&t, 2, "vmbr0");
    report(&t, 3, ""); /* a member not in the CDB yet: named by id */
    /* vmbr1 is on one node: enough to run there. */
    assert_false(cd_net_bridge_warning(&t, cdb, ok, w, sizeof(w)));
    assert_false(cd_net_bridge_warning(&t, cdb, none, w, sizeof(w)));
    assert_true(cd_net_bridge_warning(&t, cdb, bad, w, sizeof(w)));
    assert_string_equal(w, "VM 'web2' needs bridge 'vmbr9' (NIC 1), which no "
                           "node has (n1: vmbr0 vmbr1; n2: vmbr0; node 3: "
                           "none): it cannot start until a node has it "
                           "(create the bridge, or fix <nic bridge> with "
                           "'clusterctl vm edit')");
    /* A short buffer is cut, never overrun. */
    char small[40];
    assert_true(cd_net_bridge_warning(&t, cdb, bad, small, sizeof(small)));
    assert_int_equal(strlen(small), sizeof(small) - 1);
    res_vm_free(ok);
    res_vm_free(bad);
    res_vm_free(none);
}

static void test_mac_taken(void **state)
{
    CMN_AUTO(cd_cdb) *cdb = NULL;
    struct cd_op op = {.type = CD_OP_ADD_VM};
    struct res_vm *copy, *own;
    char err[512];

    (void)state;
    assert_int_equal(cd_cdb_new(&cdb), 0);
    snprintf(op.name, sizeof(op.name), "web1");
    snprintf(op.arg, sizeof(op.arg), "high");
    op.text = (char *)VM("web1", "000000000001",
                         "<nic bridge=\"vmbr0\" mac=\"52:54:00:00:00:01\"/>");
    assert_int_equal(cd_cdb_apply(cdb, &op, err, sizeof(err)), 0);
    copy = parse(VM("web2", "000000000002",
                    "<nic bridge=\"vmbr0\" mac=\"52:54:00:00:00:01\"/>"));
    own = parse(VM("web1", "000000000001",
                   "<nic bridge=\"vmbr0\" mac=\"52:54:00:00:00:01\"/>"));
    assert_true(cd_net_mac_taken(cdb, copy, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "VM 'web2': MAC 52:54:00:00:00:01 is already "
                                "a NIC of VM 'web1'"));
    /* `vm edit web1` keeps its own MAC. */
    assert_false(cd_net_mac_taken(cdb, own, "web1", err, sizeof(err)));
    res_vm_free(copy);
    res_vm_free(own);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bridge_warning),
        cmocka_unit_test(test_mac_taken),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
