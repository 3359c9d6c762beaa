/* The CDB model: change ops, encode/decode, canonical form, digest and
 * persistence. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "clusterd/cd.h"

static const char *schema_path(void)
{
    static char path[PATH_MAX];
    const char *src = getenv("KVMC_SRCDIR");

    snprintf(path, sizeof(path), "%s/schemas/cdb.rng", src ? src : ".");
    return path;
}

static struct cd_op mkop(enum cd_op_type t, const char *name, const char *arg)
{
    struct cd_op op = {.type = t};

    snprintf(op.name, sizeof(op.name), "%s", name);
    if (arg)
        snprintf(op.arg, sizeof(op.arg), "%s", arg);
    return op;
}

static char *ser(const struct cd_cdb *cdb)
{
    char *text = NULL;
    size_t len;

    assert_int_equal(cd_cdb_serialize(cdb, &text, &len), 0);
    assert_int_equal(strlen(text), len);
    return text;
}

/* A fixed sequence touching every op type. */
static void apply_script(struct cd_cdb *cdb)
{
    struct cd_op op;
    char err[256];

    op = mkop(CD_OP_ADD_NODE, "node1", "198.18.0.11");
    op.nodeid = 1;
    op.number = 2048;
    assert_int_equal(cd_cdb_apply(cdb, &op, err, sizeof(err)), 0);
    op = mkop(CD_OP_ADD_NODE, "node0", "198.18.0.10");
    op.nodeid = 7;
    op.number = 1024;
    assert_int_equal(cd_cdb_apply(cdb, &op, err, sizeof(err)), 0);
    op = mkop(CD_OP_SET_NODE_STATE, "node1", "drained");
    assert_int_equal(cd_cdb_apply(cdb, &op, err, sizeof(err)), 0);
    op = mkop(CD_OP_SET_SETTING, "quorum-grace", "30s");
    assert_int_equal(cd_cdb_apply(cdb, &op, err, sizeof(err)), 0);
    op = mkop(CD_OP_SET_SETTING, "failback", "window");
    assert_int_equal(cd_cdb_apply(cdb, &op, err, sizeof(err)), 0);
    op = mkop(CD_OP_SET_SETTING, "failback-window", "22:00-06:00");
    assert_int_equal(cd_cdb_apply(cdb, &op, err, sizeof(err)), 0);
    op = mkop(CD_OP_ADD_VOLUME, "csv1", "kvmc-csv1");
    op.text = (char *)"naa.6001405abc\nnaa.6001405def\n";
    assert_int_equal(cd_cdb_apply(cdb, &op, err, sizeof(err)), 0);
    op = mkop(CD_OP_ADD_VM, "web1", "high");
    op.text = (char *)"<vm name=\"web1\">\r\n\t<memory>512</memory> & "
                      "caf\xc3\xa9 </vm>";
    assert_int_equal(cd_cdb_apply(cdb, &op, err, sizeof(err)), 0);
    op = mkop(CD_OP_ADD_VM, "db1", "low");
    snprintf(op.arg2, sizeof(op.arg2), "csv1:vm/db1.xml");
    assert_int_equal(cd_cdb_apply(cdb, &op, err, sizeof(err)), 0);
    op = mkop(CD_OP_SET_VM_PRIORITY, "db1", "medium");
    assert_int_equal(cd_cdb_apply(cdb, &op, err, sizeof(err)), 0);
    op = mkop(CD_OP_ADD_VM, "tmp", "manual");
    snprintf(op.arg2, sizeof(op.arg2), "x");
    assert_int_equal(cd_cdb_apply(cdb, &op, err, sizeof(err)), 0);
    op = mkop(CD_OP_REMOVE_VM, "tmp", NULL);
    assert_int_equal(cd_cdb_apply(cdb, &op, err, sizeof(err)), 0);
}

static void test_new_is_stable(void **state)
{
    CMN_AUTO(cd_cdb) *a = NULL;
    CMN_AUTO(cd_cdb) *b = NULL;

    assert_int_equal(cd_cdb_new(&a), 0);
    assert_int_equal(cd_cdb_new(&b), 0);
    assert_int_equal(cd_cdb_epoch(a), 0);
    assert_memory_equal(cd_cdb_digest(a), cd_cdb_digest(b), CD_DIGEST_LEN);
    assert_string_equal(cd_cdb_setting(a, "quorum-grace"), "20000");
    assert_string_equal(cd_cdb_setting(a, "max-passes"), "10");
}

static void test_apply_in_order_identical(void **state)
{
    CMN_AUTO(cd_cdb) *a = NULL;
    CMN_AUTO(cd_cdb) *b = NULL;
    char *ta, *tb;

    assert_int_equal(cd_cdb_new(&a), 0);
    assert_int_equal(cd_cdb_new(&b), 0);
    apply_script(a);
    apply_script(b);
    assert_int_equal(cd_cdb_epoch(a), 12);
    ta = ser(a);
    tb = ser(b);
    assert_string_equal(ta, tb);
    assert_memory_equal(cd_cdb_digest(a), cd_cdb_digest(b), CD_DIGEST_LEN);
    /* Canonical: nodes sorted by name, durations normalised. */
    assert_non_null(strstr(ta, "name=\"node0\""));
    assert_true(strstr(ta, "\"node0\"") < strstr(ta, "\"node1\""));
    assert_non_null(strstr(ta, "name=\"quorum-grace\" value=\"30000\""));
    assert_non_null(strstr(ta, "state=\"drained\""));
    assert_null(strstr(ta, "\"tmp\""));
    free(ta);
    free(tb);
}

static void test_digest_changes_with_content(void **state)
{
    CMN_AUTO(cd_cdb) *a = NULL;
    uint8_t before[CD_DIGEST_LEN];
    struct cd_op op = mkop(CD_OP_SET_SETTING, "max-passes", "10");
    char err[256];

    assert_int_equal(cd_cdb_new(&a), 0);
    memcpy(before, cd_cdb_digest(a), CD_DIGEST_LEN);
    /* Same value: the epoch still moves, so the digest does too. */
    assert_int_equal(cd_cdb_apply(a, &op, err, sizeof(err)), 0);
    assert_int_equal(cd_cdb_epoch(a), 1);
    assert_memory_not_equal(before, cd_cdb_digest(a), CD_DIGEST_LEN);
}

static void test_roundtrip_parse(void **state)
{
    CMN_AUTO(cd_cdb) *a = NULL;
    CMN_AUTO(cd_cdb) *b = NULL;
    char err[512] = "";
    char *ta, *tb;

    assert_int_equal(cd_cdb_new(&a), 0);
    apply_script(a);
    ta = ser(a);
    if (cd_cdb_parse(ta, strlen(ta), "a", schema_path(), &b, err, sizeof(err)))
        fail_msg("parse: %s", err);
    tb = ser(b);
    assert_string_equal(ta, tb);
    assert_int_equal(cd_cdb_epoch(b), 12);
    assert_string_equal(cd_cdb_vm_by_name(b, "web1")->definition,
                        "<vm name=\"web1\">\r\n\t<memory>512</memory> & "
                        "caf\xc3\xa9 </vm>");
    assert_int_equal(cd_cdb_volume(b, 0)->nluns, 2);
    free(ta);
    free(tb);
}

static void test_dup(void **state)
{
    CMN_AUTO(cd_cdb) *a = NULL;
    CMN_AUTO(cd_cdb) *b = NULL;
    char *ta, *tb;

    assert_int_equal(cd_cdb_new(&a), 0);
    apply_script(a);
    assert_int_equal(cd_cdb_dup(a, &b), 0);
    ta = ser(a);
    tb = ser(b);
    assert_string_equal(ta, tb);
    free(ta);
    free(tb);
}

/* Every op type encodes and decodes to the same fields. */
static void test_encode_decode(void **state)
{
    for (int t = 1; t < CD_OP_TYPE_END; t++) {
        struct cd_op op = mkop(t, "some-name", "value 1");
        struct cd_op out;
        void *buf;
        size_t len;

        op.request_id = 0x0102030405060708ull + t;
        op.nodeid = 0xfffffff0u;
        op.number = 1ull << 40;
        snprintf(op.arg2, sizeof(op.arg2), "ref");
        op.text = t % 2 ? (char *)"text\nwith lines" : NULL;
        assert_int_equal(cd_op_encode(&op, &buf, &len), 0);
        assert_int_equal(cd_op_decode(buf, len, &out), 0);
        assert_int_equal(out.type, t);
        assert_int_equal(out.request_id, op.request_id);
        assert_int_equal(out.nodeid, op.nodeid);
        assert_int_equal(out.number, op.number);
        assert_string_equal(out.name, "some-name");
        assert_string_equal(out.arg, "value 1");
        assert_string_equal(out.arg2, "ref");
        if (op.text)
            assert_string_equal(out.text, op.text);
        else
            assert_null(out.text);
        assert_string_not_equal(cd_op_type_name(t), "unknown");
        cd_op_clear(&out);
        free(buf);
    }
}

/* Truncation, bit flips, bad type/magic: all rejected; nothing decoded
 * reaches the document. */
static void test_decode_rejects(void **state)
{
    struct cd_op op = mkop(CD_OP_SET_SETTING, "max-passes", "5"), out;
    uint8_t *buf;
    size_t len;

    assert_int_equal(cd_op_encode(&op, (void **)&buf, &len), 0);
    for (size_t n = 0; n < len; n++)
        assert_int_equal(cd_op_decode(buf, n, &out), -CD_E_BAD_MSG);
    for (size_t i = 0; i < len; i++) {
        buf[i] ^= 0x40;
        /* Bytes 4-5 are the version: another one is not guessed at. */
        assert_int_equal(cd_op_decode(buf, len, &out),
                         i == 4 || i == 5 ? -CD_E_MSG_VERSION : -CD_E_BAD_MSG);
        buf[i] ^= 0x40;
    }
    assert_int_equal(cd_op_decode(buf, len, &out), 0);
    cd_op_clear(&out);
    free(buf);
    assert_int_equal(cd_op_decode("garbage garbage garbage", 23, &out),
                     -CD_E_BAD_MSG);
    /* Unknown type cannot even be encoded. */
    op.type = CD_OP_TYPE_END;
    assert_int_equal(cd_op_encode(&op, (void **)&buf, &len), -CD_E_BAD_MSG);
}

/* Semantically bad ops leave the document byte-identical. */
static void test_bad_ops_leave_document(void **state)
{
    CMN_AUTO(cd_cdb) *a = NULL;
    char *before, *after;
    char err[256];
    struct cd_op bad[16];
    size_t n = 0;

    assert_int_equal(cd_cdb_new(&a), 0);
    apply_script(a);
    before = ser(a);
    bad[n++] = mkop(CD_OP_SET_SETTING, "no-such-key", "1");
    bad[n++] = mkop(CD_OP_SET_SETTING, "max-passes", "0");
    bad[n++] = mkop(CD_OP_SET_SETTING, "max-passes", "ten");
    bad[n++] = mkop(CD_OP_SET_SETTING, "quorum-grace", "5 days");
    bad[n++] = mkop(CD_OP_SET_SETTING, "failback", "sometimes");
    bad[n++] = mkop(CD_OP_SET_SETTING, "failback-window", "25:00-01:00");
    bad[n++] = mkop(CD_OP_ADD_NODE, "node1", "198.18.0.99"); /* exists */
    bad[n - 1].nodeid = 9;
    bad[n++] = mkop(CD_OP_ADD_NODE, "node9", "198.18.0.99"); /* id taken */
    bad[n - 1].nodeid = 1;
    bad[n++] = mkop(CD_OP_ADD_NODE, "bad name", "x");
    bad[n - 1].nodeid = 3;
    bad[n++] = mkop(CD_OP_REMOVE_NODE, "ghost", NULL);
    bad[n++] = mkop(CD_OP_SET_NODE_STATE, "node1", "asleep");
    bad[n++] = mkop(CD_OP_ADD_VM, "web1", "high"); /* exists */
    snprintf(bad[n - 1].arg2, CD_VALUE_MAX, "x");
    bad[n++] = mkop(CD_OP_ADD_VM, "web2", "urgent");
    snprintf(bad[n - 1].arg2, CD_VALUE_MAX, "x");
    bad[n++] = mkop(CD_OP_ADD_VOLUME, "csv2", "kvmc-csv1"); /* lockspace */
    bad[n - 1].text = (char *)"naa.1";
    bad[n++] = mkop(CD_OP_REMOVE_VM, "ghost", NULL);
    for (size_t i = 0; i < n; i++) {
        err[0] = '\0';
        assert_true(cd_cdb_apply(a, &bad[i], err, sizeof(err)) < 0);
        assert_true(strlen(err) > 0); /* a reason naming the input */
        after = ser(a);
        assert_string_equal(before, after);
        free(after);
    }
    assert_int_equal(cd_cdb_epoch(a), 12);
    {
        struct cd_op op = mkop(CD_OP_SET_SETTING, "max-passes", "0");
        cd_cdb_apply(a, &op, err, sizeof(err));
        assert_string_equal(err,
                            "setting 'max-passes': '0' is out of range 1..100");
    }
    free(before);
}

static void test_settings(void **state)
{
    char v[CD_VALUE_MAX], err[256];

    assert_int_equal(
        cd_setting_normalize("quorum-grace", "2m", v, err, sizeof(err)), 0);
    assert_string_equal(v, "120000");
    assert_int_equal(
        cd_setting_normalize("downtime-target", "50ms", v, err, sizeof(err)),
        0);
    assert_string_equal(v, "50");
    assert_int_equal(
        cd_setting_normalize("converge", "cancel", v, err, sizeof(err)), 0);
    assert_int_equal(cd_setting_normalize("converge", "x", v, err, sizeof(err)),
                     -CD_E_BAD_VALUE);
    assert_string_equal(err, "setting 'converge': 'x' is not one of: "
                             "raise-downtime, auto-converge, cancel");
    assert_int_equal(cd_setting_normalize("nope", "1", v, err, sizeof(err)),
                     -CD_E_NOT_FOUND);
    assert_non_null(strstr(err, "clusterctl config get"));
    assert_int_equal(cd_setting_normalize("storage-move-copy-mode",
                                          "write-blocking", v, err,
                                          sizeof(err)),
                     0);
    assert_int_equal(cd_setting_normalize("storage-move-copy-mode", "eager", v,
                                          err, sizeof(err)),
                     -CD_E_BAD_VALUE);
    assert_string_equal(err, "setting 'storage-move-copy-mode': 'eager' is "
                             "not one of: background, write-blocking");
    assert_int_equal(cd_setting_count(), 17);
}

static void tmpdir(char *buf, size_t len)
{
    snprintf(buf, len, "/tmp/test-cdb-XXXXXX");
    assert_non_null(mkdtemp(buf));
}

static void test_save_load(void **state)
{
    CMN_AUTO(cd_cdb) *a = NULL;
    CMN_AUTO(cd_cdb) *b = NULL;
    char dir[64], path[128], err[512] = "";
    struct stat st;

    tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/cdb.xml", dir);
    assert_int_equal(cd_cdb_new(&a), 0);
    apply_script(a);
    assert_int_equal(cd_cdb_save(a, path), 0);
    if (cd_cdb_load(path, schema_path(), &b, err, sizeof(err)))
        fail_msg("load: %s", err);
    assert_memory_equal(cd_cdb_digest(a), cd_cdb_digest(b), CD_DIGEST_LEN);
    assert_int_equal(cd_cdb_epoch(b), 12);
    /* No temp file left behind. */
    snprintf(err, sizeof(err), "%s.tmp", path);
    assert_int_equal(stat(err, &st), -1);
    /* Saving again replaces atomically. */
    assert_int_equal(cd_cdb_save(b, path), 0);
    unlink(path);
    assert_int_equal(cd_cdb_load(path, schema_path(), &b, err, sizeof(err)),
                     -ENOENT);
    rmdir(dir);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A tampered copy fails its digest, a malformed one its schema; both are
 * renamed aside. */
static void test_load_damaged(void **state)
{
    CMN_AUTO(cd_cdb) *a = NULL;
    struct cd_cdb *b = NULL;
    char dir[64], path[128], aside[256], err[512];
    char *text, *p;
    struct stat st;

    tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/cdb.xml", dir);
    assert_int_equal(cd_cdb_new(&a), 0);
    apply_script(a);
    text = ser(a);
    p = strstr(text, "value=\"30000\"");
    assert_non_null(p);
    p[7] = '4'; /* quorum-grace 40000: still schema-valid */
    write_file(path, text);
    assert_int_equal(cd_cdb_load(path, schema_path(), &b, err, sizeof(err)),
                     -CD_E_CORRUPT);
    assert_non_null(strstr(err, "digest mismatch"));
    assert_null(b);

    p = strstr(text, "state=\"drained\"");
    memcpy(p, "state=\"drunken", 14);
    write_file(path, text);
    assert_int_equal(cd_cdb_load(path, schema_path(), &b, err, sizeof(err)),
                     -CMN_E_SCHEMA);
    write_file(path, "<cdb><oops");
    assert_true(cd_cdb_load(path, schema_path(), &b, err, sizeof(err)) < 0);

    assert_int_equal(cd_cdb_set_aside(path, aside, sizeof(aside)), 0);
    assert_int_equal(stat(path, &st), -1);
    assert_int_equal(stat(aside, &st), 0);
    assert_non_null(strstr(aside, "cdb.xml.bad-"));
    unlink(aside);
    rmdir(dir);
    free(text);
}

/* A definition whose uuid another VM has is refused on the apply path
 * (every member alike), for an add and for a new definition, naming the
 * VM that has it; the document is unchanged. */
static void test_duplicate_uuid(void **state)
{
    CMN_AUTO(cd_cdb) *a = NULL;
    char *before, *after;
    char err[512];
    struct cd_op op;
    const struct cd_vm *v;

    (void)state;
    assert_int_equal(cd_cdb_new(&a), 0);
    op = mkop(CD_OP_ADD_VM, "web1", "high");
    op.text = (char *)"<vm>\n  <name>web1</name>\n"
                      "  <uuid>6F1C2D3E-4a5b-4c6d-8e7f-000000000001</uuid>\n"
                      "</vm>\n";
    assert_int_equal(cd_cdb_apply(a, &op, err, sizeof(err)), 0);
    op = mkop(CD_OP_ADD_VM, "db1", "low");
    op.text = (char *)"<vm><name>db1</name>"
                      "<uuid>6f1c2d3e-4a5b-4c6d-8e7f-000000000002</uuid></vm>";
    assert_int_equal(cd_cdb_apply(a, &op, err, sizeof(err)), 0);
    before = ser(a);

    /* A copy of web1 with only the name changed (any case). */
    op = mkop(CD_OP_ADD_VM, "web2", "high");
    op.text =
        (char *)"<vm><name>web2</name>"
                "<uuid> 6f1c2d3e-4a5b-4c6d-8e7f-000000000001 </uuid></vm>";
    assert_int_equal(cd_cdb_apply(a, &op, err, sizeof(err)), -CD_E_EXISTS);
    assert_string_equal(err,
                        "VM 'web2' has the uuid of VM 'web1' "
                        "(6f1c2d3e-4a5b-4c6d-8e7f-000000000001); give it its "
                        "own <uuid> (generate one with uuidgen)");
    /* A new definition of db1 with web1's uuid. */
    op = mkop(CD_OP_SET_VM_DEF, "db1", "low");
    op.text = (char *)"<vm><name>db1</name>"
                      "<uuid>6f1c2d3e-4a5b-4c6d-8e7f-000000000001</uuid></vm>";
    assert_int_equal(cd_cdb_apply(a, &op, err, sizeof(err)), -CD_E_EXISTS);
    assert_non_null(strstr(err, "VM 'db1' has the uuid of VM 'web1'"));
    after = ser(a);
    assert_string_equal(before, after);
    free(after);

    /* Its own uuid again is no conflict; lookups ignore case. */
    op = mkop(CD_OP_SET_VM_DEF, "web1", "medium");
    op.text = (char *)"<vm><name>web1</name>"
                      "<uuid>6f1c2d3e-4a5b-4c6d-8e7f-000000000001</uuid></vm>";
    assert_int_equal(cd_cdb_apply(a, &op, err, sizeof(err)), 0);
    v = cd_cdb_vm_by_uuid(a, "6F1C2D3E-4A5B-4C6D-8E7F-000000000002", NULL);
    assert_non_null(v);
    assert_string_equal(v->name, "db1");
    assert_null(
        cd_cdb_vm_by_uuid(a, "6f1c2d3e-4a5b-4c6d-8e7f-000000000002", "db1"));
    assert_null(cd_cdb_vm_by_uuid(a, "", NULL));
    free(before);
}

/* A definition with a NIC whose MAC another VM's NIC has is refused on
 * the apply path (every member alike, whoever submitted it: vm add, vm
 * edit, a CSV's add, cdb-add-vm), naming that VM; the document is
 * unchanged. Its own MACs again are no conflict. */
#define BOOT "<boot dev=\"kernel\"><kernel>/k</kernel></boot></vm>"
static void test_duplicate_mac(void **state)
{
    CMN_AUTO(cd_cdb) *a = NULL;
    char *before, *after;
    char err[512];
    struct cd_op op;
    const uint8_t mac[6] = {0x52, 0x54, 0x00, 0xaa, 0xbb, 0x01};

    (void)state;
    assert_int_equal(cd_cdb_new(&a), 0);
    op = mkop(CD_OP_ADD_VM, "web1", "high");
    op.text = (char *)"<vm><name>web1</name>"
                      "<uuid>6f1c2d3e-4a5b-4c6d-8e7f-000000000001</uuid>"
                      "<memory>64</memory><vcpus>1</vcpus>"
                      "<nic bridge=\"vmbr0\" mac=\"52:54:00:AA:BB:01\"/>" BOOT;
    assert_int_equal(cd_cdb_apply(a, &op, err, sizeof(err)), 0);
    op = mkop(CD_OP_ADD_VM, "db1", "low");
    op.text = (char *)"<vm><name>db1</name>"
                      "<uuid>6f1c2d3e-4a5b-4c6d-8e7f-000000000002</uuid>"
                      "<memory>64</memory><vcpus>1</vcpus>"
                      "<nic bridge=\"vmbr0\" mac=\"52:54:00:aa:bb:02\"/>" BOOT;
    assert_int_equal(cd_cdb_apply(a, &op, err, sizeof(err)), 0);
    before = ser(a);

    op = mkop(CD_OP_ADD_VM, "web2", "high");
    op.text = (char *)"<vm><name>web2</name>"
                      "<uuid>6f1c2d3e-4a5b-4c6d-8e7f-000000000003</uuid>"
                      "<memory>64</memory><vcpus>1</vcpus>"
                      "<nic bridge=\"vmbr1\" mac=\"52:54:00:aa:bb:09\"/>"
                      "<nic bridge=\"vmbr0\" mac=\"52:54:00:aa:bb:01\"/>" BOOT;
    assert_int_equal(cd_cdb_apply(a, &op, err, sizeof(err)), -CD_E_EXISTS);
    assert_string_equal(err, "VM 'web2': MAC 52:54:00:aa:bb:01 is already a "
                             "NIC of VM 'web1'; give the <nic> another mac "
                             "(or leave mac out: one is derived from the "
                             "uuid)");
    op = mkop(CD_OP_SET_VM_DEF, "db1", "low");
    op.text = (char *)"<vm><name>db1</name>"
                      "<uuid>6f1c2d3e-4a5b-4c6d-8e7f-000000000002</uuid>"
                      "<memory>64</memory><vcpus>1</vcpus>"
                      "<nic bridge=\"vmbr0\" mac=\"52:54:00:aa:bb:01\"/>" BOOT;
    assert_int_equal(cd_cdb_apply(a, &op, err, sizeof(err)), -CD_E_EXISTS);
    assert_non_null(strstr(err, "VM 'db1': MAC 52:54:00:aa:bb:01 is already "
                                "a NIC of VM 'web1'"));
    after = ser(a);
    assert_string_equal(before, after);
    free(after);

    /* Its own MAC again, and a MAC freed by a removal, are no conflict. */
    op = mkop(CD_OP_SET_VM_DEF, "web1", "medium");
    op.text = (char *)"<vm><name>web1</name>"
                      "<uuid>6f1c2d3e-4a5b-4c6d-8e7f-000000000001</uuid>"
                      "<memory>64</memory><vcpus>1</vcpus>"
                      "<nic bridge=\"vmbr0\" mac=\"52:54:00:aa:bb:01\"/>" BOOT;
    assert_int_equal(cd_cdb_apply(a, &op, err, sizeof(err)), 0);
    assert_string_equal(cd_cdb_vm_by_mac(a, mac, NULL)->name, "web1");
    assert_null(cd_cdb_vm_by_mac(a, mac, "web1"));
    op = mkop(CD_OP_REMOVE_VM, "web1", "");
    assert_int_equal(cd_cdb_apply(a, &op, err, sizeof(err)), 0);
    assert_null(cd_cdb_vm_by_mac(a, mac, NULL));
    op = mkop(CD_OP_SET_VM_DEF, "db1", "low");
    op.text = (char *)"<vm><name>db1</name>"
                      "<uuid>6f1c2d3e-4a5b-4c6d-8e7f-000000000002</uuid>"
                      "<memory>64</memory><vcpus>1</vcpus>"
                      "<nic bridge=\"vmbr0\" mac=\"52:54:00:aa:bb:01\"/>" BOOT;
    assert_int_equal(cd_cdb_apply(a, &op, err, sizeof(err)), 0);
    assert_string_equal(cd_cdb_vm_by_mac(a, mac, NULL)->name, "db1");
    free(before);
}

/* move-storage's CDB change: the definition and the slot reference in
 * one op; a reference another VM has, or one for a VM without any, is
 * refused and the document is unchanged; without arg2 the ref stays. */
static void test_set_def_ref(void **state)
{
    CMN_AUTO(cd_cdb) *a = NULL;
    char *before, *after;
    char err[512];
    struct cd_op op;

    (void)state;
    assert_int_equal(cd_cdb_new(&a), 0);
    op = mkop(CD_OP_ADD_VM, "web1", "high");
    snprintf(op.arg2, sizeof(op.arg2), "csv:vol1:0:7");
    op.text = (char *)"<vm><name>web1</name></vm>";
    assert_int_equal(cd_cdb_apply(a, &op, err, sizeof(err)), 0);
    op = mkop(CD_OP_ADD_VM, "db1", "low");
    snprintf(op.arg2, sizeof(op.arg2), "csv:vol2:0:3");
    op.text = (char *)"<vm><name>db1</name></vm>";
    assert_int_equal(cd_cdb_apply(a, &op, err, sizeof(err)), 0);
    op = mkop(CD_OP_ADD_VM, "emb", "low");
    op.text = (char *)"<vm><name>emb</name></vm>";
    assert_int_equal(cd_cdb_apply(a, &op, err, sizeof(err)), 0);
    before = ser(a);

    op = mkop(CD_OP_SET_VM_DEF, "web1", "high");
    snprintf(op.arg2, sizeof(op.arg2), "csv:vol2:0:3");
    op.text = (char *)"<vm><name>web1</name><memory>64</memory></vm>";
    assert_int_equal(cd_cdb_apply(a, &op, err, sizeof(err)), -CD_E_IN_USE);
    assert_string_equal(err, "VM 'web1': reference 'csv:vol2:0:3' is VM "
                             "'db1''s");
    op = mkop(CD_OP_SET_VM_DEF, "emb", "low");
    snprintf(op.arg2, sizeof(op.arg2), "csv:vol2:1:4");
    op.text = (char *)"<vm><name>emb</name></vm>";
    assert_int_equal(cd_cdb_apply(a, &op, err, sizeof(err)), -CD_E_BAD_VALUE);
    op = mkop(CD_OP_SET_VM_DEF, "web1", "high");
    snprintf(op.arg2, sizeof(op.arg2), "csv:vol2 1");
    op.text = (char *)"<vm><name>web1</name></vm>";
    assert_int_equal(cd_cdb_apply(a, &op, err, sizeof(err)), -CD_E_BAD_VALUE);
    after = ser(a);
    assert_string_equal(before, after);
    free(after);

    op = mkop(CD_OP_SET_VM_DEF, "web1", "high");
    snprintf(op.arg2, sizeof(op.arg2), "csv:vol2:1:9");
    op.text = (char *)"<vm><name>web1</name><memory>64</memory></vm>";
    assert_int_equal(cd_cdb_apply(a, &op, err, sizeof(err)), 0);
    assert_string_equal(cd_cdb_vm_by_name(a, "web1")->ref, "csv:vol2:1:9");
    assert_non_null(strstr(cd_cdb_vm_by_name(a, "web1")->definition, "64"));
    op = mkop(CD_OP_SET_VM_DEF, "web1", "high");
    op.text = (char *)"<vm><name>web1</name></vm>";
    assert_int_equal(cd_cdb_apply(a, &op, err, sizeof(err)), 0);
    assert_string_equal(cd_cdb_vm_by_name(a, "web1")->ref, "csv:vol2:1:9");
    free(before);
}

/* A node's CPU capability: stored parsed, kept through the canonical
 * form, dup and the wire; bad text leaves the document alone. */
static void test_node_cpu(void **state)
{
    CMN_AUTO(cd_cdb) *a = NULL;
    CMN_AUTO(cd_cdb) *b = NULL;
    CMN_AUTO(cd_cdb) *c = NULL;
    static const char caps[] = "host cx8 sse sse2\nmodel Conroe 28\n"
                               "model Westmere 35 aes pclmulqdq\n";
    struct cd_op op, back;
    char err[512] = "";
    char *ta, *tb;
    void *buf;
    size_t len;
    uint64_t epoch;

    (void)state;
    assert_int_equal(cd_cdb_new(&a), 0);
    op = mkop(CD_OP_ADD_NODE, "node1", "198.18.0.11");
    op.nodeid = 1;
    op.number = 2048;
    assert_int_equal(cd_cdb_apply(a, &op, err, sizeof(err)), 0);
    op = mkop(CD_OP_SET_NODE_CPU, "node1", NULL);
    op.text = (char *)caps;
    assert_int_equal(cd_cdb_apply(a, &op, err, sizeof(err)), 0);
    assert_string_equal(cd_cdb_node(a, 0)->cpu, caps);
    assert_true(res_cpu_caps_runs(cd_cdb_node(a, 0)->cpu_caps, "Conroe"));
    assert_false(res_cpu_caps_runs(cd_cdb_node(a, 0)->cpu_caps, "Westmere"));
    assert_int_equal(cd_op_encode(&op, &buf, &len), 0);
    assert_int_equal(cd_op_decode(buf, len, &back), 0);
    assert_int_equal(back.type, CD_OP_SET_NODE_CPU);
    assert_string_equal(back.text, caps);
    cd_op_clear(&back);
    free(buf);

    ta = ser(a);
    assert_non_null(strstr(ta, "<cpu>host cx8"));
    if (cd_cdb_parse(ta, strlen(ta), "a", schema_path(), &b, err, sizeof(err)))
        fail_msg("parse: %s", err);
    tb = ser(b);
    assert_string_equal(ta, tb);
    assert_true(res_cpu_caps_runs(cd_cdb_node(b, 0)->cpu_caps, "Conroe"));
    free(tb);
    assert_int_equal(cd_cdb_dup(a, &c), 0);
    tb = ser(c);
    assert_string_equal(ta, tb);
    free(tb);
    free(ta);

    /* bad text, unknown node: refused, nothing changes */
    epoch = cd_cdb_epoch(a);
    op.text = (char *)"host sse\nmodel Con/roe 3\n";
    assert_int_equal(cd_cdb_apply(a, &op, err, sizeof(err)), -CD_E_BAD_VALUE);
    assert_non_null(strstr(err, "node 'node1': CPU capability line 2"));
    assert_string_equal(cd_cdb_node(a, 0)->cpu, caps);
    op = mkop(CD_OP_SET_NODE_CPU, "node9", NULL);
    op.text = (char *)caps;
    assert_int_equal(cd_cdb_apply(a, &op, err, sizeof(err)), -CD_E_NOT_FOUND);
    assert_int_equal(cd_cdb_epoch(a), epoch);

    /* forgotten, then the node removed with one set (no leak) */
    op = mkop(CD_OP_SET_NODE_CPU, "node1", NULL);
    assert_int_equal(cd_cdb_apply(a, &op, err, sizeof(err)), 0);
    assert_null(cd_cdb_node(a, 0)->cpu);
    assert_null(cd_cdb_node(a, 0)->cpu_caps);
    op = mkop(CD_OP_REMOVE_NODE, "node1", NULL);
    assert_int_equal(cd_cdb_apply(c, &op, err, sizeof(err)), 0);
    assert_int_equal(cd_cdb_node_count(c), 0);
}

/* cpu-baseline: a name or "", written to the document only when set (so
 * documents from before it existed keep their digest). */
static void test_cpu_baseline_setting(void **state)
{
    CMN_AUTO(cd_cdb) *a = NULL;
    CMN_AUTO(cd_cdb) *b = NULL;
    char canon[CD_VALUE_MAX], err[512] = "";
    struct cd_op op;
    char *ta, *tb;

    (void)state;
    assert_int_equal(cd_cdb_new(&a), 0);
    ta = ser(a);
    assert_null(strstr(ta, "cpu-baseline"));
    free(ta);
    assert_string_equal(cd_cdb_setting(a, "cpu-baseline"), "");
    assert_int_equal(
        cd_cdb_cpu_baseline(a, canon, sizeof(canon), err, sizeof(err)),
        -RES_E_CPU);
    assert_non_null(strstr(err, "no node has reported"));
    assert_int_equal(cd_setting_normalize("cpu-baseline", "Has/well", canon,
                                          err, sizeof(err)),
                     -CD_E_BAD_VALUE);
    assert_non_null(strstr(err, "setting 'cpu-baseline': 'Has/well' is not"));

    op = mkop(CD_OP_SET_SETTING, "cpu-baseline", "Nehalem");
    assert_int_equal(cd_cdb_apply(a, &op, err, sizeof(err)), 0);
    assert_int_equal(
        cd_cdb_cpu_baseline(a, canon, sizeof(canon), err, sizeof(err)), 0);
    assert_string_equal(canon, "Nehalem");
    ta = ser(a);
    assert_non_null(strstr(ta, "<setting name=\"cpu-baseline\" "
                               "value=\"Nehalem\"/>"));
    if (cd_cdb_parse(ta, strlen(ta), "a", schema_path(), &b, err, sizeof(err)))
        fail_msg("parse: %s", err);
    tb = ser(b);
    assert_string_equal(ta, tb);
    free(ta);
    free(tb);
    op = mkop(CD_OP_SET_SETTING, "cpu-baseline", "");
    assert_int_equal(cd_cdb_apply(a, &op, err, sizeof(err)), 0);
    ta = ser(a);
    assert_null(strstr(ta, "cpu-baseline"));
    free(ta);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_is_stable),
        cmocka_unit_test(test_apply_in_order_identical),
        cmocka_unit_test(test_digest_changes_with_content),
        cmocka_unit_test(test_roundtrip_parse),
        cmocka_unit_test(test_dup),
        cmocka_unit_test(test_encode_decode),
        cmocka_unit_test(test_decode_rejects),
        cmocka_unit_test(test_bad_ops_leave_document),
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_load_damaged),
        cmocka_unit_test(test_duplicate_uuid),
        cmocka_unit_test(test_duplicate_mac),
        cmocka_unit_test(test_set_def_ref),
        cmocka_unit_test(test_node_cpu),
        cmocka_unit_test(test_cpu_baseline_setting),
    };

    cd_err_register();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
