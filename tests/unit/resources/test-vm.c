/* VM definition: parse, validate, serialize, round trip, defaults. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "resources/res.h"
#include "tests/unit/resources/res-test.h"

static const char full_xml[] =
    "<vm>\n"
    "  <name>web1</name>\n"
    "  <uuid>6F1C2D3E-4A5B-4C6D-8E7F-0123456789AB</uuid>\n"
    "  <memory unit=\"GiB\">2</memory>\n"
    "  <vcpus>2</vcpus>\n"
    "  <cpu model=\"x86-64-v2\"/>\n"
    "  <disk target=\"vda\" bus=\"virtio-blk\" cache=\"none\">\n"
    "    <extent volume=\"csv1\" id=\"7\"/>\n"
    "  </disk>\n"
    "  <disk target=\"sda\" bus=\"virtio-scsi\">"
    "<allocate size=\"10240\" unit=\"MiB\"/></disk>\n"
    "  <nic bridge=\"br0\"/>\n"
    "  <nic bridge=\"br1\" mac=\"52:54:00:12:34:56\"/>\n"
    "  <boot dev=\"kernel\">\n"
    "    <kernel>/usr/lib/kvmcluster/kvmc-guest.elf</kernel>\n"
    "    <cmdline> rate=64 &amp; hot=64</cmdline>\n"
    "  </boot>\n"
    "  <policy>\n"
    "    <priority>high</priority>\n"
    "    <preferred-owners><node>node1</node><node>node2</node>"
    "</preferred-owners>\n"
    "    <possible-owners><node>node2</node><node>node1</node>"
    "<node>node3</node></possible-owners>\n"
    "    <anti-affinity class=\"web\"/>\n"
    "    <failures max=\"5\" period=\"600\"/>\n"
    "    <failback mode=\"window\" start=\"22:00\" end=\"06:30\"/>\n"
    "  </policy>\n"
    "</vm>\n";

static const char minimal_xml[] =
    "<vm><name>t</name><uuid>00000000-0000-0000-0000-000000000001</uuid>"
    "<memory>64</memory><vcpus>1</vcpus>"
    "<nic bridge=\"br0\"/>"
    "<boot dev=\"kernel\"><kernel>/k</kernel></boot></vm>";

static int setup(void **state)
{
    res_test_srcdir();
    return 0;
}

static struct res_vm *parse_ok(const char *xml)
{
    struct res_vm *vm = NULL;
    char err[512] = "";
    int rc = res_vm_parse(xml, strlen(xml), "test.xml", &vm, err, sizeof(err));

    if (rc != 0)
        print_error("parse failed (%d): %s\n", rc, err);
    assert_int_equal(rc, 0);
    assert_non_null(vm);
    return vm;
}

static void test_parse_full(void **state)
{
    CMN_AUTO(res_vm) *vm = parse_ok(full_xml);
    char buf[40];

    assert_string_equal(vm->name, "web1");
    res_uuid_format(vm->uuid, buf);
    assert_string_equal(buf, "6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab");
    assert_int_equal(vm->memory_mib, 2048);
    assert_int_equal(vm->vcpus, 2);
    assert_string_equal(vm->cpu_model, "x86-64-v2");
    assert_int_equal(vm->n_disks, 2);
    assert_string_equal(vm->disks[0].target, "vda");
    assert_int_equal(vm->disks[0].source, RES_DISK_EXTENT);
    assert_string_equal(vm->disks[0].volume, "csv1");
    assert_int_equal(vm->disks[0].extent, 7);
    assert_int_equal(vm->disks[0].line, 7);
    assert_int_equal(vm->disks[1].bus, RES_BUS_VIRTIO_SCSI);
    assert_int_equal(vm->disks[1].source, RES_DISK_ALLOCATE);
    assert_int_equal(vm->disks[1].size, 10ull << 30);
    assert_string_equal(vm->disks[1].volume, "");
    assert_int_equal(vm->n_nics, 2);
    res_mac_format(vm->nics[1].mac, buf);
    assert_string_equal(buf, "52:54:00:12:34:56");
    assert_int_equal(vm->boot, RES_BOOT_KERNEL);
    assert_string_equal(vm->kernel, "/usr/lib/kvmcluster/kvmc-guest.elf");
    assert_null(vm->initrd);
    assert_string_equal(vm->cmdline, " rate=64 & hot=64");
    assert_int_equal(vm->policy.priority, RES_PRIO_HIGH);
    assert_int_equal(vm->policy.n_preferred, 2);
    assert_string_equal(vm->policy.preferred[1], "node2");
    assert_int_equal(vm->policy.n_possible, 3);
    assert_string_equal(vm->policy.anti_affinity, "web");
    assert_int_equal(vm->policy.failures_max, 5);
    assert_int_equal(vm->policy.failures_period, 600);
    assert_int_equal(vm->policy.failback, RES_FAILBACK_WINDOW);
    assert_int_equal(vm->policy.window_start, 22 * 60);
    assert_int_equal(vm->policy.window_end, 6 * 60 + 30);
}

static void test_defaults(void **state)
{
    CMN_AUTO(res_vm) *vm = parse_ok(minimal_xml);
    uint8_t mac[6];

    /* no <cpu>: processor compatibility, the default of new VMs */
    assert_int_equal(vm->cpu_mode, RES_CPU_CLUSTER);
    assert_string_equal(vm->cpu_model, "");
    assert_int_equal(vm->policy.priority, RES_PRIO_MEDIUM);
    assert_int_equal(vm->policy.failures_max, 3);
    assert_int_equal(vm->policy.failures_period, 3600);
    assert_int_equal(vm->policy.failback, RES_FAILBACK_NEVER);
    assert_int_equal(vm->policy.n_preferred, 0);
    assert_int_equal(vm->policy.n_possible, 0);
    res_vm_default_mac(vm->uuid, 0, mac);
    assert_memory_equal(vm->nics[0].mac, mac, 6);
}

/* Same uuid and index, same MAC; locally administered unicast; different
 * indexes and uuids differ. The figure is pinned: a change of the
 * derivation would change every stored VM's generated MAC. */
static void test_default_mac(void **state)
{
    uint8_t u1[16] = {0x6f, 0x1c, 0x2d, 0x3e, 0x4a, 0x5b, 0x4c, 0x6d,
                      0x8e, 0x7f, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab};
    uint8_t u2[16] = {0};
    uint8_t a[6], b[6], c[6], d[6];
    char buf[18];

    u2[15] = 1;
    res_vm_default_mac(u1, 0, a);
    res_vm_default_mac(u1, 0, b);
    res_vm_default_mac(u1, 1, c);
    res_vm_default_mac(u2, 0, d);
    assert_memory_equal(a, b, 6);
    assert_memory_not_equal(a, c, 6);
    assert_memory_not_equal(a, d, 6);
    for (int i = 0; i < 64; i++) {
        res_vm_default_mac(u1, (unsigned)i, a);
        assert_int_equal(a[0] & 0x03, 0x02);
    }
    res_vm_default_mac(u1, 0, a);
    res_mac_format(a, buf);
    print_message("default MAC of nic 0: %s\n", buf);
    res_vm_default_mac(u1, 0, b);
    assert_memory_equal(a, b, 6);
}

/* parse -> serialize -> parse gives an equal VM, and the canonical text
 * is a fixed point of serialize(parse(.)). */
static void roundtrip(const char *xml)
{
    CMN_AUTO(res_vm) *a = parse_ok(xml);
    CMN_AUTO(res_vm) *b = NULL;
    CMN_AUTO(res_vm) *c = NULL;
    char *s1 cmn_autofree = NULL;
    char *s2 cmn_autofree = NULL;

    assert_int_equal(res_vm_serialize(a, &s1), 0);
    b = parse_ok(s1);
    assert_true(res_vm_equal(a, b));
    assert_int_equal(res_vm_serialize(b, &s2), 0);
    assert_string_equal(s1, s2);
    assert_int_equal(res_vm_dup(b, &c), 0);
    assert_true(res_vm_equal(b, c));
}

static void test_roundtrip(void **state)
{
    roundtrip(full_xml);
    roundtrip(minimal_xml);
}

static void test_serialize_canonical(void **state)
{
    CMN_AUTO(res_vm) *vm = parse_ok(full_xml);
    char *s cmn_autofree = NULL;

    assert_int_equal(res_vm_serialize(vm, &s), 0);
    assert_non_null(strstr(s, "<memory unit=\"MiB\">2048</memory>"));
    assert_non_null(strstr(s, "size=\"10\" unit=\"GiB\""));
    assert_non_null(strstr(s, "<cmdline> rate=64 &amp; hot=64</cmdline>"));
    assert_non_null(strstr(s, "start=\"22:00\" end=\"06:30\""));
    /* the generated MAC is pinned in the stored form */
    assert_non_null(strstr(s, "<nic bridge=\"br0\" mac=\""));
}

/* A VM built in code, not from XML: validate reports without a line. */
static void test_validate_in_code(void **state)
{
    CMN_AUTO(res_vm) *vm = NULL;
    char err[512];

    assert_int_equal(res_vm_new(&vm), 0);
    strcpy(vm->name, "db1");
    assert_int_equal(
        res_uuid_parse("00000000-0000-0000-0000-0000000000aa", vm->uuid), 0);
    vm->memory_mib = 512;
    vm->boot = RES_BOOT_KERNEL;
    vm->kernel = strdup("/boot/k");
    assert_int_equal(res_vm_validate(vm, "db1", err, sizeof(err)), 0);
    vm->vcpus = 0;
    assert_int_equal(res_vm_validate(vm, "db1", err, sizeof(err)),
                     -RES_E_INVALID);
    assert_string_equal(err, "db1: <vcpus>: 0 is out of range (1 to 255)");
    assert_string_equal(cmn_strerror(-RES_E_INVALID), "invalid VM definition");
}

static void test_uuid_mac_parse(void **state)
{
    uint8_t u[16], m[6];

    assert_int_equal(res_uuid_parse("6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab", u),
                     0);
    assert_int_not_equal(
        res_uuid_parse("6f1c2d3e4a5b-4c6d-8e7f-0123456789ab00", u), 0);
    assert_int_not_equal(
        res_uuid_parse("6f1c2d3e-4a5b-4c6d-8e7f-0123456789ag", u), 0);
    assert_int_equal(res_mac_parse("02:00:00:00:00:01", m), 0);
    assert_int_not_equal(res_mac_parse("02:00:00:00:00", m), 0);
    assert_int_not_equal(res_mac_parse("02-00-00-00-00-01", m), 0);
}

static void test_failure_policy(void **state)
{
    struct res_policy p = {.failures_max = 3, .failures_period = 3600};
    uint64_t t[] = {1000, 2000, 3000, 4000};

    assert_false(res_failure_should_failover(&p, t, 1, 1000));
    assert_false(res_failure_should_failover(&p, t, 3, 3000));
    /* the 4th within the hour moves it */
    assert_true(res_failure_should_failover(&p, t, 4, 4000));
    /* an hour later the first ones have aged out */
    assert_false(res_failure_should_failover(&p, t, 4, 4700));
    p.failures_max = 0;
    assert_true(res_failure_should_failover(&p, t, 1, 1000));
}

static void test_parse_file_and_errors(void **state)
{
    char path[4096], err[512];
    struct res_vm *vm = NULL;

    snprintf(path, sizeof(path), "%s/tests/data/vm/good/test-guest.xml",
             res_test_srcdir());
    assert_int_equal(res_test_parse_file(path, &vm, err, sizeof(err)), 0);
    res_vm_free(vm);
    vm = NULL;
    assert_int_equal(
        res_test_parse_file("/nonexistent/x.xml", &vm, err, sizeof(err)),
        -ENOENT);
    assert_null(vm);
    res_vm_free(NULL);
}

/* Input over the size limit is refused before parsing. */
static char *replace(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    char *out;

    assert_non_null(at);
    out = malloc(strlen(text) - strlen(from) + strlen(to) + 1);
    assert_non_null(out);
    sprintf(out, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    return out;
}

/* edit_check(FROM, TO, running): the edit of full_xml replacing FROM by
 * TO; returns the error text ("" when allowed). */
static void edit_check(const char *from, const char *to, bool running,
                       const char *want)
{
    CMN_AUTO(res_vm) *old = parse_ok(full_xml);
    char *text = replace(full_xml, from, to);
    CMN_AUTO(res_vm) *nw = parse_ok(text);
    char err[512] = "";
    int rc = res_vm_edit_check(old, nw, "new.xml", running, err, sizeof(err));

    free(text);
    if (!want) {
        assert_int_equal(rc, 0);
        return;
    }
    assert_int_equal(rc, -RES_E_INVALID);
    if (!strstr(err, want))
        fail_msg("edit %s -> %s: '%s' lacks '%s'", from, to, err, want);
}

static void test_edit_check(void **state)
{
    (void)state;
    /* The policy may change at any time. */
    edit_check("<priority>high</priority>", "<priority>low</priority>", true,
               NULL);
    edit_check("<anti-affinity class=\"web\"/>", "", true, NULL);
    /* What QEMU runs with: only while stopped. */
    edit_check("<vcpus>2</vcpus>", "<vcpus>4</vcpus>", false, NULL);
    edit_check("<vcpus>2</vcpus>", "<vcpus>4</vcpus>", true,
               "VM 'web1' is running: its <vcpus> can't change");
    edit_check(">2</memory>", ">3</memory>", true, "its <memory> can't");
    edit_check("bridge=\"br1\"", "bridge=\"br2\"", true, "its <nic> can't");
    edit_check("hot=64", "hot=32", true, "its <boot> can't");
    /* Never. */
    edit_check("<name>web1</name>", "<name>web2</name>", false,
               "new.xml:2: <name>: VM 'web1' can't be renamed by an edit (the "
               "new definition says 'web2')");
    edit_check("4A5B", "4A5C", false, "the uuid can't change");
    edit_check("id=\"7\"", "id=\"8\"", false,
               "<disk>: VM 'web1': disk vda can't be added, removed or "
               "changed");
    edit_check("size=\"10240\"", "size=\"20480\"", false, "disk sda can't");
}

static void test_too_big(void **state)
{
    size_t len = (1u << 20) + 1;
    char *buf = malloc(len);
    struct res_vm *vm = NULL;
    char err[512];

    assert_non_null(buf);
    memset(buf, ' ', len);
    memcpy(buf, "<vm>", 4);
    assert_int_equal(res_vm_parse(buf, len, "huge.xml", &vm, err, sizeof(err)),
                     -CMN_E_TOO_BIG);
    assert_null(vm);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_full),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_default_mac),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_serialize_canonical),
        cmocka_unit_test(test_validate_in_code),
        cmocka_unit_test(test_uuid_mac_parse),
        cmocka_unit_test(test_failure_policy),
        cmocka_unit_test(test_parse_file_and_errors),
        cmocka_unit_test(test_too_big),
        cmocka_unit_test(test_edit_check),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
