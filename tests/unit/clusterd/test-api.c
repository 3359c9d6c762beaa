/* clusterd's request table and permission decision (cd-api.c): every
 * operation's class, who gets which class at accept, request validation,
 * and the refusal naming the group a write needs. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "clusterd/cd-api.h"
#include "common/cmn-xml.h"

static const struct cd_api_policy policy = {
    .admin_group = "kvmadm",
    .admin_gid = 5001,
    .read_only_group = "kvmread",
    .read_only_gid = 5002,
};

static void test_table(void **state)
{
    size_t writes = 0;

    (void)state;
    for (size_t i = 0; i < CD_API_COUNT; i++) {
        const struct cd_api_op *op = &cd_api_ops[i];
        assert_int_equal(op->id, i);
        assert_ptr_equal(cd_api_find(op->name), op);
        assert_true(op->cls == CD_API_READ || op->cls == CD_API_WRITE);
        writes += op->cls == CD_API_WRITE;
    }
    assert_null(cd_api_find("vm-destroy"));
    /* Everything that changes the cluster is a write. */
    const char *const w[] = {
        "config-set",     "node-state",    "cdb-add-vm",
        "cdb-add-volume", "cdb-remove-vm", "cdb-remove-volume",
        "vm-add",         "vm-edit",       "vm-remove",
        "vm-start",       "vm-stop",       "move-vm",
        "vm-disk",        "move-storage",  "volume-add-local"};
    for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
        assert_int_equal(cd_api_find(w[i])->cls, CD_API_WRITE);
    assert_int_equal(writes, sizeof(w) / sizeof(w[0]));
    /* Metrics and history only read (a read-only group may watch). */
    assert_int_equal(cd_api_find("metrics")->cls, CD_API_READ);
    assert_int_equal(cd_api_find("history")->cls, CD_API_READ);
}

static void test_peer_class(void **state)
{
    gid_t admin[] = {100, 5001}, ro[] = {5002};
    struct cmn_ipc_peer root = {.uid = 0, .gid = 0};
    struct cmn_ipc_peer member = {
        .uid = 1000, .gid = 1000, .ngroups = 2, .groups = admin};
    struct cmn_ipc_peer reader = {
        .uid = 1001, .gid = 1001, .ngroups = 1, .groups = ro};
    struct cmn_ipc_peer primary = {.uid = 1002, .gid = 5002};
    struct cmn_ipc_peer nobody = {.uid = 65534, .gid = 65534};
    struct cd_api_policy none = {0};

    (void)state;
    assert_int_equal(cd_api_peer_class(&policy, &root), CD_API_WRITE);
    assert_int_equal(cd_api_peer_class(&policy, &member), CD_API_WRITE);
    assert_int_equal(cd_api_peer_class(&policy, &reader), CD_API_READ);
    assert_int_equal(cd_api_peer_class(&policy, &primary), CD_API_READ);
    assert_int_equal(cd_api_peer_class(&policy, &nobody), -EACCES);
    /* Nothing configured: root only, gid 0 of a group not set counts for
     * nothing. */
    assert_int_equal(cd_api_peer_class(&none, &root), CD_API_WRITE);
    assert_int_equal(cd_api_peer_class(&none, &member), -EACCES);
    struct cmn_ipc_peer gid0 = {.uid = 1003, .gid = 0};
    assert_int_equal(cd_api_peer_class(&none, &gid0), -EACCES);
}

static int check(const char *xml, const struct cd_api_op **op,
                 enum cd_api_class *cls, char *err, size_t len)
{
    xmlDoc *doc = NULL;
    char perr[256];
    int rc;

    if (cmn_xml_parse_mem(xml, strlen(xml), "request", 1 << 20, &doc, perr,
                          sizeof(perr)) < 0)
        fail_msg("cannot parse %s: %s", xml, perr);
    rc = cd_api_check(xmlDocGetRootElement(doc), op, cls, err, len);
    xmlFreeDoc(doc);
    return rc;
}

static void test_check(void **state)
{
    const struct cd_api_op *op = NULL;
    enum cd_api_class cls = 0;
    char err[256], big[CD_VALUE_MAX + 64], xml[CD_VALUE_MAX + 128];

    (void)state;
    assert_int_equal(
        check("<request op=\"vm-list\"/>", &op, &cls, err, sizeof(err)), 0);
    assert_int_equal(op->id, CD_API_VM_LIST);
    assert_int_equal(cls, CD_API_READ);

    assert_int_equal(
        check("<reply op=\"status\"/>", &op, &cls, err, sizeof(err)), -EPROTO);
    assert_string_equal(err, "request is not <request op=\"...\"/>");
    assert_int_equal(check("<request/>", &op, &cls, err, sizeof(err)), -EPROTO);
    assert_int_equal(
        check("<request op=\"vm-nuke\"/>", &op, &cls, err, sizeof(err)),
        -EPROTO);
    assert_string_equal(err, "unknown request op 'vm-nuke'");

    assert_int_equal(
        check("<request op=\"vm-start\"/>", &op, &cls, err, sizeof(err)),
        -EINVAL);
    assert_string_equal(err, "vm-start needs attribute 'vm'");
    assert_int_equal(check("<request op=\"vm-start\" vm=\"\"/>", &op, &cls, err,
                           sizeof(err)),
                     -EINVAL);
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    snprintf(xml, sizeof(xml), "<request op=\"vm-show\" vm=\"%s\"/>", big);
    assert_int_equal(check(xml, &op, &cls, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "attribute 'vm' is longer than 255 bytes"));

    /* volume check reads; with repair it writes. */
    assert_int_equal(
        check("<request op=\"volume-check\"/>", &op, &cls, err, sizeof(err)),
        0);
    assert_int_equal(cls, CD_API_READ);
    assert_int_equal(check("<request op=\"volume-check\" repair=\"yes\"/>", &op,
                           &cls, err, sizeof(err)),
                     0);
    assert_int_equal(cls, CD_API_WRITE);
}

static void test_permit(void **state)
{
    struct cd_api_policy root_only = {0};
    char err[256];

    (void)state;
    for (size_t i = 0; i < CD_API_COUNT; i++) {
        const struct cd_api_op *op = &cd_api_ops[i];
        /* A writer may do everything, a reader every read. */
        assert_int_equal(
            cd_api_permit(&policy, op, op->cls, CD_API_WRITE, err, sizeof(err)),
            0);
        assert_int_equal(
            cd_api_permit(&policy, op, op->cls, CD_API_READ, err, sizeof(err)),
            op->cls == CD_API_READ ? 0 : -CD_E_PERM);
    }
    assert_int_equal(cd_api_permit(&policy, cd_api_find("vm-add"), CD_API_WRITE,
                                   CD_API_READ, err, sizeof(err)),
                     -CD_E_PERM);
    assert_string_equal(err, "permission denied: 'vm add' needs root or group "
                             "'kvmadm'");
    assert_int_equal(cd_api_permit(&policy, cd_api_find("volume-check"),
                                   CD_API_WRITE, CD_API_READ, err, sizeof(err)),
                     -CD_E_PERM);
    assert_string_equal(err, "permission denied: 'volume check --repair' needs "
                             "root or group 'kvmadm'");
    assert_int_equal(cd_api_permit(&root_only, cd_api_find("move-vm"),
                                   CD_API_WRITE, CD_API_READ, err, sizeof(err)),
                     -CD_E_PERM);
    assert_string_equal(err, "permission denied: 'move-vm' needs root (no "
                             "admin-group is configured for clusterd)");
}

static void test_policy_resolve(void **state)
{
    struct cd_api_policy p = {.admin_group = "root"};
    char err[256];

    (void)state;
    assert_int_equal(cd_api_policy_resolve(&p, err, sizeof(err)), 0);
    assert_int_equal(p.admin_gid, 0);
    snprintf(p.read_only_group, sizeof(p.read_only_group), "%s",
             "kvmc-no-such-group");
    assert_int_equal(cd_api_policy_resolve(&p, err, sizeof(err)),
                     -CMN_E_BAD_VALUE);
    assert_string_equal(err, "read-only-group 'kvmc-no-such-group' does not "
                             "exist (create the group or remove the "
                             "setting)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_peer_class),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_permit),
        cmocka_unit_test(test_policy_resolve),
    };
    return cmocka_run_group_tests_name("clusterd-api", tests, NULL, NULL);
}
