/* A guest paused on an I/O error (hvagent/hva-ioerr.c): QEMU 7.2's
 * BLOCK_IO_ERROR events as it sends them, the disk they name, the
 * back-off between resumes. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hvagent/hva-int.h"

static int parse(const char *json, struct hva_ioerr_event *ev)
{
    json_object *o = json_tokener_parse(json);
    int rc;

    assert_non_null(o);
    rc = hva_ioerr_parse(o, ev);
    json_object_put(o);
    return rc;
}

/* Recorded from QEMU 7.2 on a -blockdev disk (device "" : no
 * BlockBackend name), lunbridge answering EIO to a write. */
static void test_parse_eio(void **state)
{
    struct hva_ioerr_event ev;

    (void)state;
    assert_int_equal(
        parse("{\"device\": \"\", \"node-name\": \"disk0\", \"reason\": "
              "\"Input/output error\", \"operation\": \"write\", "
              "\"action\": \"stop\", \"nospace\": false, \"qom-path\": "
              "\"/machine/peripheral/vd0/virtio-backend\"}",
              &ev),
        0);
    assert_string_equal(ev.device, "vd0");
    assert_true(ev.stop);
    assert_true(ev.write);
    assert_false(ev.nospace);
    assert_string_equal(ev.reason, "Input/output error");
}

/* Recorded from QEMU 7.2 (no qom-path), a write to a hot-plugged disk
 * while tgtd was stopped past lunbridge's deadline. */
static void test_parse_qemu72(void **state)
{
    struct hva_ioerr_event ev;

    (void)state;
    assert_int_equal(
        parse("{\"device\": \"\", \"nospace\": false, \"node-name\": "
              "\"hp24\", \"reason\": \"Input/output error\", "
              "\"operation\": \"write\", \"action\": \"stop\"}",
              &ev),
        0);
    assert_string_equal(ev.device, "hp24");
    assert_true(ev.stop);
    assert_true(ev.write);
    assert_false(ev.nospace);
}

static void test_parse_nospace_scsi(void **state)
{
    struct hva_ioerr_event ev;

    (void)state;
    assert_int_equal(
        parse("{\"device\": \"\", \"node-name\": \"hp25\", \"reason\": "
              "\"No space left on device\", \"operation\": \"read\", "
              "\"action\": \"stop\", \"nospace\": true, "
              "\"qom-path\": \"/machine/peripheral/hp25\"}",
              &ev),
        0);
    assert_string_equal(ev.device, "hp25");
    assert_false(ev.write);
    assert_true(ev.nospace);
    /* action report (a disk of an older definition): not a pause */
    assert_int_equal(parse("{\"device\": \"drive0\", \"operation\": "
                           "\"read\", \"action\": \"report\"}",
                           &ev),
                     0);
    assert_false(ev.stop);
    assert_string_equal(ev.device, "drive0");
}

static void test_parse_bad(void **state)
{
    struct hva_ioerr_event ev;

    (void)state;
    /* no action, no operation, no device at all */
    assert_int_equal(
        parse("{\"device\": \"vd0\", \"operation\": \"write\"}", &ev), -EINVAL);
    assert_int_equal(parse("{\"device\": \"vd0\", \"action\": \"stop\"}", &ev),
                     -EINVAL);
    assert_int_equal(
        parse("{\"device\": \"\", \"operation\": \"write\", \"action\": "
              "\"stop\"}",
              &ev),
        -EINVAL);
    /* ids outside what hvagent gives never reach XML or logs */
    assert_int_equal(
        parse("{\"device\": \"\", \"operation\": \"write\", \"action\": "
              "\"stop\", \"qom-path\": \"/machine/peripheral/a\\\"b/x\"}",
              &ev),
        -EINVAL);
    assert_int_equal(parse("{\"device\": \"<x>\", \"operation\": \"write\", "
                           "\"action\": \"stop\"}",
                           &ev),
                     -EINVAL);
    assert_int_equal(
        parse("{\"device\": \"\", \"operation\": \"write\", \"action\": "
              "\"stop\", \"qom-path\": \"/machine/peripheral/"
              "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/x\"}",
              &ev),
        -EINVAL);
}

static void test_disk_index(void **state)
{
    struct hva_disk disks[3] = {{.slot = 0}, {.slot = 26}, {.slot = 0}};
    struct hva_vm_def def = {.disks = disks, .n_disks = 3};

    (void)state;
    assert_int_equal(hva_ioerr_disk_index(&def, "vd0"), 0);
    assert_int_equal(hva_ioerr_disk_index(&def, "vd2"), 2);
    assert_int_equal(hva_ioerr_disk_index(&def, "hp26"), 1);
    /* vd1 is the hot-plugged one: it has no vd id */
    assert_int_equal(hva_ioerr_disk_index(&def, "vd1"), -ENOENT);
    assert_int_equal(hva_ioerr_disk_index(&def, "hp24"), -ENOENT);
    assert_int_equal(hva_ioerr_disk_index(&def, "vd3"), -ENOENT);
    assert_int_equal(hva_ioerr_disk_index(&def, "vd"), -ENOENT);
    assert_int_equal(hva_ioerr_disk_index(&def, "vd0x"), -ENOENT);
    assert_int_equal(hva_ioerr_disk_index(&def, "drive0"), -ENOENT);
    /* QEMU 7.2 names nodes: diskN, hpS, a mirror's target node */
    assert_int_equal(hva_ioerr_disk_index(&def, "disk2"), 2);
    assert_int_equal(hva_ioerr_disk_index(&def, "disk1"), -ENOENT);
    assert_int_equal(hva_ioerr_disk_index(&def, "mt2"), -ENOENT);
    snprintf(disks[2].node, sizeof(disks[2].node), "mt2");
    assert_int_equal(hva_ioerr_disk_index(&def, "mt2"), 2);
    assert_int_equal(hva_ioerr_disk_index(&def, NULL), -ENOENT);
}

static void test_backoff(void **state)
{
    static const uint64_t eio[] = {250, 500, 1000, 2000, 4000, 5000, 5000};
    static const uint64_t nospc[] = {1000, 2000, 4000, 8000, 16000, 30000};

    (void)state;
    for (unsigned i = 0; i < sizeof(eio) / sizeof(eio[0]); i++)
        assert_int_equal(hva_ioerr_backoff_ms(i, false), eio[i]);
    for (unsigned i = 0; i < sizeof(nospc) / sizeof(nospc[0]); i++)
        assert_int_equal(hva_ioerr_backoff_ms(i, true), nospc[i]);
    /* bounded however long the outage */
    assert_int_equal(hva_ioerr_backoff_ms(1000000, false), HVA_IOERR_MAX_MS);
    assert_int_equal(hva_ioerr_backoff_ms(~0u, true), HVA_IOERR_NOSPC_MAX_MS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_eio),
        cmocka_unit_test(test_parse_qemu72),
        cmocka_unit_test(test_parse_nospace_scsi),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_disk_index),
        cmocka_unit_test(test_backoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
