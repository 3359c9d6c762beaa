/* A VM's NICs: their runtime form, the QEMU arguments built from them and
 * the names of their taps. (Creating taps needs root and a bridge: the
 * cluster test test-vm-nic.sh does that on real daemons.) */
#include "config.h"

#include <errno.h>
#include <net/if.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hvagent/hva-int.h"

static const char vm_xml[] =
    "<vm name=\"web1\" uuid=\"0c4e2b5a-6f1d-4e53-9a6b-1d2f3e4a5b6c\">"
    "<nic bridge=\"vmbr0\" mac=\"52:54:00:12:34:56\"/>"
    "<nic bridge=\"vmbr1\" mac=\"52:54:00:12:34:57\" model=\"e1000\" "
    "mtu=\"1400\"/>"
    "<nic bridge=\"vmbr1\" mac=\"52:54:00:12:34:58\" mtu=\"9000\"/>"
    "</vm>";

static int find_from(char **argv, int from, const char *arg)
{
    for (int i = from; argv[i]; i++)
        if (strcmp(argv[i], arg) == 0)
            return i;
    return -1;
}

static void test_argv(void **state)
{
    struct hva_vm_def *def;
    char err[256], **argv;
    const int fds[3] = {20, 21, 22};
    struct hva_qemu_opts o = {
        .accel = "tcg", .qmp_fd = 7, .serial_fd = -1, .nic_fds = fds};
    int i;

    (void)state;
    assert_int_equal(hva_vm_def_from_xml(vm_xml, &def, err, sizeof(err)), 0);
    assert_int_equal(def->n_nics, 3);
    assert_int_equal(def->nics[0].model, HVA_NIC_VIRTIO);
    assert_int_equal(def->nics[0].mtu, 0);
    assert_int_equal(hva_qemu_argv(def, &o, &argv), 0);
    i = find_from(argv, 0, "-netdev");
    assert_true(i > 0);
    assert_string_equal(argv[i + 1], "tap,id=net0,fd=20");
    assert_string_equal(argv[i + 2], "-device");
    assert_string_equal(argv[i + 3], "virtio-net-pci,netdev=net0,id=nic0,"
                                     "mac=52:54:00:12:34:56,romfile=");
    i = find_from(argv, i + 1, "-netdev");
    assert_string_equal(argv[i + 1], "tap,id=net1,fd=21");
    /* the MTU is advertised to virtio guests only */
    assert_string_equal(argv[i + 3], "e1000,netdev=net1,id=nic1,"
                                     "mac=52:54:00:12:34:57,romfile=");
    i = find_from(argv, i + 1, "-netdev");
    assert_string_equal(argv[i + 1], "tap,id=net2,fd=22");
    assert_string_equal(argv[i + 3],
                        "virtio-net-pci,netdev=net2,id=nic2,"
                        "mac=52:54:00:12:34:58,romfile=,host_mtu=9000");
    assert_int_equal(find_from(argv, i + 1, "-netdev"), -1);
    hva_argv_free(argv);

    /* vhost-net where a descriptor was opened for the NIC (-1: none) */
    const int vfds[3] = {30, -1, -1};
    o.vhost_fds = vfds;
    assert_int_equal(hva_qemu_argv(def, &o, &argv), 0);
    i = find_from(argv, 0, "-netdev");
    assert_string_equal(argv[i + 1], "tap,id=net0,fd=20,vhost=on,vhostfd=30");
    i = find_from(argv, i + 1, "-netdev");
    assert_string_equal(argv[i + 1], "tap,id=net1,fd=21");
    i = find_from(argv, i + 1, "-netdev");
    assert_string_equal(argv[i + 1], "tap,id=net2,fd=22");
    hva_argv_free(argv);
    o.vhost_fds = NULL;

    /* without descriptors (nothing opened) no NIC reaches QEMU */
    o.nic_fds = NULL;
    assert_int_equal(hva_qemu_argv(def, &o, &argv), 0);
    assert_int_equal(find_from(argv, 0, "-netdev"), -1);
    hva_argv_free(argv);
    hva_vm_def_free(def);
}

/* vhost-net is tried for KVM guests unless turned off; the reason it is
 * not is the one info line of a start. */
static void test_vhost_reason(void **state)
{
    (void)state;
    assert_null(hva_vhost_skip_reason(true, "kvm"));
    assert_string_equal(hva_vhost_skip_reason(false, "kvm"), "vhost-net = off");
    assert_string_equal(hva_vhost_skip_reason(true, "tcg"),
                        "the guest runs under TCG (vhost-net needs KVM)");
    assert_string_equal(hva_vhost_skip_reason(false, "tcg"), "vhost-net = off");
}

static void test_roundtrip(void **state)
{
    struct hva_vm_def *a, *b;
    char err[256], *x1, *x2;

    (void)state;
    assert_int_equal(hva_vm_def_from_xml(vm_xml, &a, err, sizeof(err)), 0);
    assert_int_equal(hva_vm_def_to_xml(a, &x1), 0);
    assert_non_null(strstr(x1, "model=\"virtio\""));
    assert_int_equal(hva_vm_def_from_xml(x1, &b, err, sizeof(err)), 0);
    assert_int_equal(hva_vm_def_to_xml(b, &x2), 0);
    assert_string_equal(x1, x2);
    assert_int_equal(b->n_nics, 3);
    assert_string_equal(b->nics[1].bridge, "vmbr1");
    assert_int_equal(b->nics[1].model, HVA_NIC_E1000);
    assert_int_equal(b->nics[1].mtu, 1400);
    free(x1);
    free(x2);
    hva_vm_def_free(a);
    hva_vm_def_free(b);
}

static void test_bad(void **state)
{
#define VM "<vm name=\"a\" uuid=\"ab\">"
    static const struct {
        const char *xml;
        const char *err;
    } bad[] = {
        {VM "<nic mac=\"52:54:00:00:00:01\"/></vm>", "'bridge' and 'mac'"},
        {VM "<nic bridge=\"br0\"/></vm>", "'bridge' and 'mac'"},
        {VM "<nic bridge=\"a/b\" mac=\"52:54:00:00:00:01\"/></vm>",
         "<nic bridge='a/b'>: not an interface name"},
        {VM "<nic bridge=\"abcdefghijklmnop\" mac=\"52:54:00:00:00:01\"/>"
            "</vm>",
         "not an interface name"},
        {VM "<nic bridge=\"br0\" mac=\"53:54:00:00:00:01\"/></vm>",
         "<nic mac='53:54:00:00:00:01'>: not a unicast MAC"},
        {VM "<nic bridge=\"br0\" mac=\"52:54:00:00:00\"/></vm>",
         "not a unicast MAC"},
        {VM "<nic bridge=\"br0\" mac=\"52-54-00-00-00-01\"/></vm>",
         "not a unicast MAC"},
        {VM "<nic bridge=\"br0\" mac=\"52:54:00:00:00:01\" model=\"ne2k\"/>"
            "</vm>",
         "<nic model='ne2k'>: not a model (virtio, e1000)"},
        {VM "<nic bridge=\"br0\" mac=\"52:54:00:00:00:01\" mtu=\"67\"/></vm>",
         "<nic mtu='67'>: not within 68..65535"},
        {VM "<nic bridge=\"br0\" mac=\"52:54:00:00:00:01\" mtu=\"1x\"/></vm>",
         "not within"},
        {VM "<nic bridge=\"br0\" mac=\"52:54:00:00:00:01\"/>"
            "<nic bridge=\"br1\" mac=\"52:54:00:00:00:01\"/></vm>",
         "<nic mac='52:54:00:00:00:01'>: two NICs with this MAC"},
        {VM "<nic bridge=\"b\" mac=\"52:54:00:00:00:01\"/>"
            "<nic bridge=\"b\" mac=\"52:54:00:00:00:02\"/>"
            "<nic bridge=\"b\" mac=\"52:54:00:00:00:03\"/>"
            "<nic bridge=\"b\" mac=\"52:54:00:00:00:04\"/>"
            "<nic bridge=\"b\" mac=\"52:54:00:00:00:05\"/>"
            "<nic bridge=\"b\" mac=\"52:54:00:00:00:06\"/>"
            "<nic bridge=\"b\" mac=\"52:54:00:00:00:07\"/>"
            "<nic bridge=\"b\" mac=\"52:54:00:00:00:08\"/>"
            "<nic bridge=\"b\" mac=\"52:54:00:00:00:09\"/></vm>",
         "more than 8 <nic> elements"},
    };
#undef VM

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct hva_vm_def *d = NULL;
        char err[256] = "";

        assert_true(hva_vm_def_from_xml(bad[i].xml, &d, err, sizeof(err)) < 0);
        assert_null(d);
        if (!strstr(err, bad[i].err))
            fail_msg("'%s': got '%s', want '%s'", bad[i].xml, err, bad[i].err);
    }
}

static void test_tap_name(void **state)
{
    char name[IFNAMSIZ];

    (void)state;
    hva_tap_name("0c4e2b5a-6f1d-4e53-9a6b-1d2f3e4a5b6c", 3, name);
    assert_string_equal(name, "kv0c4e2b5a6f1d3");
    assert_true(strlen(name) < IFNAMSIZ);
    assert_true(hva_ifname_valid(name));
    hva_tap_name("ab", 0, name);
    assert_string_equal(name, "kvab0");
}

static void test_net_open_missing_bridge(void **state)
{
    struct hva_vm_def *def;
    char err[256] = "";
    int *fds = (int *)1;

    (void)state;
    assert_int_equal(hva_vm_def_from_xml("<vm name=\"w\" uuid=\"ab\">"
                                         "<nic bridge=\"kvmcnobr0\" "
                                         "mac=\"52:54:00:00:00:01\"/></vm>",
                                         &def, err, sizeof(err)),
                     0);
    /* checked before any tap exists, so this needs no privileges */
    assert_int_equal(hva_net_open(def, NULL, &fds, err, sizeof(err)), -ENODEV);
    assert_null(fds);
    assert_non_null(strstr(err, "VM 'w': NIC 0 (52:54:00:00:00:01): bridge "
                                "'kvmcnobr0' does not exist on this node"));
    hva_vm_def_free(def);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_argv),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_vhost_reason),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_tap_name),
        cmocka_unit_test(test_net_open_missing_bridge),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
