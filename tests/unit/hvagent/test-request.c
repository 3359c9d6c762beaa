/* hvagent's request checks (hva-req.c, hva-check.c): every definition is
 * held to clusterd's rules and the node's allowed directories, each
 * refusal names the field and the path; and the status reply, whatever
 * the lengths. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "hvagent/hva-int.h"
#include "resources/res-err.h"

#define UUID "0c4e2b5a-6f1d-4e53-9a6b-1d2f3e4a5b6c"

/* A tree under a temporary directory:
 *   kernels/guest.elf  kernels/initrd.img  kernels/link -> /etc/passwd
 *   store/disk.img  store/leases  store/escape -> /etc
 *   luns/ (the LUN directory: only its names matter) */
static char top[PATH_MAX];
static struct hva_agent ag;

static char *tpath(const char *rel)
{
    static char buf[4][PATH_MAX + 64];
    static int i;

    i = (i + 1) % 4;
    if (snprintf(buf[i], sizeof(buf[i]), "%.*s/%s", PATH_MAX - 1, top, rel) >=
        (int)sizeof(buf[i]))
        fail_msg("path too long");
    return buf[i];
}

static void touch(const char *rel)
{
    FILE *f = fopen(tpath(rel), "w");

    assert_non_null(f);
    fputs("x", f);
    fclose(f);
}

static int setup(void **state)
{
    char err[256], storage[PATH_MAX * 2], kernel[PATH_MAX + 16];
    char tmpl[] = "/tmp/hva-req.XXXXXX";

    (void)state;
    res_err_init();
    hva_err_register();
    assert_non_null(mkdtemp(tmpl));
    assert_non_null(realpath(tmpl, top));
    mkdir(tpath("kernels"), 0700);
    mkdir(tpath("store"), 0700);
    mkdir(tpath("store/sub"), 0700);
    mkdir(tpath("luns"), 0700);
    touch("kernels/guest.elf");
    touch("kernels/initrd.img");
    touch("store/disk.img");
    touch("store/leases");
    assert_int_equal(symlink("/etc/passwd", tpath("kernels/link")), 0);
    assert_int_equal(symlink("/etc", tpath("store/escape")), 0);
    assert_int_equal(symlink("sub", tpath("store/inside")), 0);
    hva_mig_settings_default(&ag.mig_defaults);
    ag.arm_timeout_s = 20;
    ag.node_name = "node1";
    /* a list with blanks, a trailing slash, a missing directory */
    snprintf(storage, sizeof(storage), " %s/store/ , /nonexistent/x", top);
    snprintf(kernel, sizeof(kernel), "%s/kernels", top);
    assert_int_equal(hva_dirs_set(&ag.dirs, tpath("luns"), storage, kernel, err,
                                  sizeof(err)),
                     0);
    assert_string_equal(ag.dirs.storage[0], tpath("store"));
    return 0;
}

static int teardown(void **state)
{
    const char *const files[] = {
        "kernels/guest.elf", "kernels/initrd.img", "kernels/link",
        "store/disk.img",    "store/leases",       "store/escape",
        "store/inside",
    };
    const char *const dirs[] = {"store/sub", "kernels", "store", "luns", ""};

    (void)state;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        unlink(tpath(files[i]));
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
        rmdir(tpath(dirs[i]));
    hva_dirs_clear(&ag.dirs);
    return 0;
}

/* A define request: the <vm> start tag's attributes and its children. */
static char *define(const char *vm_attrs, const char *children)
{
    char *s = NULL;

    assert_true(asprintf(&s, "<request op=\"define\"><vm %s>%s</vm></request>",
                         vm_attrs, children) > 0);
    return s;
}

static int parse(const char *text, struct hva_request *req, char *err,
                 size_t errlen)
{
    err[0] = '\0';
    return hva_request_parse(&ag, text, req, err, errlen);
}

static void test_define_good(void **state)
{
    struct hva_request req;
    char err[1024], kids[4 * PATH_MAX];
    char *text;

    (void)state;
    snprintf(kids, sizeof(kids),
             "<kernel path=\"%s\" initrd=\"%s\" cmdline=\"wss=1\"/>"
             "<disk path=\"%s/luns/naa.6001405abc\" offset=\"0\" size=\"1\"/>"
             "<disk path=\"%s/store/inside/../disk.img\"/>"
             "<lease lockspace=\"ls1\" resource=\"vm-slot-3\" path=\"%s\" "
             "offset=\"1048576\"/>"
             "<state path=\"%s/store/inside/new-state\" size=\"4096\"/>",
             tpath("kernels/guest.elf"), tpath("kernels/initrd.img"), top, top,
             tpath("store/leases"), top);
    /* '..' is refused before anything resolves it */
    text = define("name=\"web-1.a_b\" uuid=\"" UUID "\" memory-mib=\"64\" "
                  "cpu=\"Haswell-noTSX\"",
                  kids);
    assert_int_equal(parse(text, &req, err, sizeof(err)), -CMN_E_BAD_VALUE);
    assert_non_null(strstr(err, "disk vdb path"));
    assert_non_null(strstr(err, "no '.' or '..' components"));
    free(text);

    snprintf(kids, sizeof(kids),
             "<kernel path=\"%s\" initrd=\"%s\" cmdline=\"wss=1\"/>"
             "<disk path=\"%s/luns/naa.6001405abc\" offset=\"0\" size=\"1\"/>"
             "<disk path=\"%s/store/inside\"/>"
             "<lease lockspace=\"ls1\" resource=\"vm-slot-3\" path=\"%s\" "
             "offset=\"1048576\"/>"
             "<state path=\"%s/store/inside/new-state\" size=\"4096\"/>",
             tpath("kernels/guest.elf"), tpath("kernels/initrd.img"), top, top,
             tpath("store/leases"), top);
    text = define("name=\"web-1.a_b\" uuid=\"" UUID "\" memory-mib=\"64\" "
                  "cpu=\"Haswell-noTSX\"",
                  kids);
    assert_int_equal(parse(text, &req, err, sizeof(err)), 0);
    free(text);
    assert_int_equal(req.op, HVA_OP_DEFINE);
    assert_string_equal(req.def->name, "web-1.a_b");
    assert_string_equal(req.def->initrd, tpath("kernels/initrd.img"));
    /* LUN files by their name; others canonical (symlinks resolved, a
     * state file not written yet in its canonical directory) */
    assert_string_equal(req.def->disks[0].path, tpath("luns/naa.6001405abc"));
    assert_string_equal(req.def->disks[1].path, tpath("store/sub"));
    assert_string_equal(req.def->state.path, tpath("store/sub/new-state"));
    hva_request_clear(&req);
}

/* A definition on a node-local volume (<local>): defined only on its
 * node (ag.node_name is node1), with the directory's marker naming the
 * volume and node, and every disk below the directory. */
static void test_define_local(void **state)
{
    struct hva_request req;
    char err[1024], kids[4 * PATH_MAX], *text, *xml = NULL;
    const char *attrs = "name=\"lv\" uuid=\"" UUID "\" memory-mib=\"64\"";
    FILE *f;
    struct {
        const char *node, *dir, *disk, *marker, *error;
    } bad[] = {
        {"node2", "store/loc", "store/loc/vda.img", NULL,
         "VM 'lv' is on node-local volume 'loc1' of node 'node2': it cannot "
         "run on node 'node1'"},
        {"node1", "store/sub", "store/loc/vda.img", NULL, "is missing"},
        {"node1", "store/loc", "store/loc/vda.img",
         "kvmcluster-local-volume loc1 node2\n", "names another"},
        {"node1", "store/loc", "store/disk.img", NULL,
         "is outside its local volume 'loc1'"},
    };

    (void)state;
    mkdir(tpath("store/loc"), 0700);
    touch("store/loc/vda.img");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        f = fopen(tpath("store/loc/.kvmcluster-local"), "w");
        assert_non_null(f);
        fputs(bad[i].marker ? bad[i].marker
                            : "kvmcluster-local-volume loc1 node1\n",
              f);
        fclose(f);
        snprintf(kids, sizeof(kids),
                 "<kernel path=\"%s\"/><disk path=\"%s\"/>"
                 "<local volume=\"loc1\" node=\"%s\" path=\"%s\"/>",
                 tpath("kernels/guest.elf"), tpath(bad[i].disk), bad[i].node,
                 tpath(bad[i].dir));
        text = define(attrs, kids);
        assert_int_equal(parse(text, &req, err, sizeof(err)), -CMN_E_BAD_VALUE);
        if (!strstr(err, bad[i].error))
            fail_msg("case %zu: %s", i, err);
        free(text);
    }
    /* <local> without its attributes */
    text = define(attrs, "<local volume=\"loc1\"/>");
    assert_int_equal(parse(text, &req, err, sizeof(err)), -CMN_E_MISSING);
    free(text);

    snprintf(kids, sizeof(kids),
             "<kernel path=\"%s\"/><disk path=\"%s\" slot=\"24\"/>"
             "<local volume=\"loc1\" node=\"node1\" path=\"%s\"/>",
             tpath("kernels/guest.elf"), tpath("store/loc/vda.img"),
             tpath("store/loc"));
    text = define(attrs, kids);
    assert_int_equal(parse(text, &req, err, sizeof(err)), 0);
    free(text);
    assert_string_equal(req.def->local.volume, "loc1");
    assert_string_equal(req.def->local.node, "node1");
    assert_int_equal(hva_vm_def_to_xml(req.def, &xml), 0);
    assert_non_null(strstr(xml, "<local volume=\"loc1\" node=\"node1\""));
    free(xml);
    hva_request_clear(&req);
    unlink(tpath("store/loc/.kvmcluster-local"));
    unlink(tpath("store/loc/vda.img"));
    rmdir(tpath("store/loc"));
}

/* Each bad definition, refused with exactly this error. `%T` in the
 * children and the error stands for the test's directory. */
static void test_define_bad(void **state)
{
    static const struct {
        const char *attrs, *kids, *err;
    } bad[] = {
        {"name='a\"&lt;&gt;&amp;,b' uuid='" UUID "'", "",
         "VM definition: <name>: 'a\"<>&,b' is not a valid VM name (1 to 63 "
         "of A-Z a-z 0-9 . _ -, starting with a letter or digit)"},
        {"name='$(touch /tmp/x)' uuid='" UUID "'", "",
         "VM definition: <name>: '$(touch /tmp/x)' is not a valid VM name (1 "
         "to 63 of A-Z a-z 0-9 . _ -, starting with a letter or digit)"},
        {"name='a234567890123456789012345678901234567890123456789012345678901"
         "234' uuid='" UUID "'",
         "",
         "VM definition: <name>: "
         "'a234567890123456789012345678901234567890123456789012345678901234' "
         "is not a valid VM name (1 to 63 of A-Z a-z 0-9 . _ -, starting "
         "with a letter or digit)"},
        {"name='g' uuid='" UUID "' cpu='host,+vmx'", "",
         "VM 'g': <cpu>: model 'host,+vmx' is not a valid CPU model name (1 "
         "to 63 of A-Z a-z 0-9 . _ -, starting with a letter or digit)"},
        {"name='g' uuid='5a1b'", "",
         "VM 'g': <uuid>: '5a1b' is not a UUID (expected "
         "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"},
        {"name='g' uuid='" UUID "' memory-mib='4294967312'", "",
         "<vm memory-mib='4294967312'>: out of range"},
        {"name='g' uuid='" UUID "' memory-mib='8'", "",
         "VM 'g': <memory>: 8 MiB is out of range (16 MiB to 16777216 MiB)"},
        {"name='g' uuid='" UUID "' vcpus='256'", "",
         "VM 'g': <vcpus>: 256 is out of range (1 to 255)"},
        {"name='g' uuid='" UUID "'", "<kernel path='/etc/shadow'/>",
         "VM 'g': kernel '/etc/shadow' is outside the allowed directories "
         "(%T/kernels; see kernel-dirs in [hvagent])"},
        {"name='g' uuid='" UUID "'", "<kernel path='%T/kernels/link'/>",
         "VM 'g': kernel '%T/kernels/link' is outside the allowed "
         "directories (%T/kernels; see kernel-dirs in [hvagent])"},
        {"name='g' uuid='" UUID "'",
         "<kernel path='%T/kernels/../store/disk.img'/>",
         "VM 'g': kernel '%T/kernels/../store/disk.img' is not a plain "
         "absolute path (no '.' or '..' components, no control characters)"},
        {"name='g' uuid='" UUID "'", "<kernel path='%T/kernels/none'/>",
         "VM 'g': kernel '%T/kernels/none': No such file or directory"},
        {"name='g' uuid='" UUID "'",
         "<kernel path='%T/kernels/guest.elf' initrd='/etc/shadow'/>",
         "VM 'g': initrd '/etc/shadow' is outside the allowed directories "
         "(%T/kernels; see kernel-dirs in [hvagent])"},
        {"name='g' uuid='" UUID "'",
         "<kernel path='%T/kernels/guest.elf' initrd='%T/kernels/a,b'/>",
         "VM 'g': initrd '%T/kernels/a,b' contains ','"},
        {"name='g' uuid='" UUID "'",
         "<kernel path='%T/kernels/guest.elf' initrd='rel.img'/>",
         "VM 'g': <initrd>: 'rel.img' is not an absolute path"},
        {"name='g' uuid='" UUID "'", "<disk path='/etc/shadow'/>",
         "VM 'g': disk vda path '/etc/shadow' is outside the allowed "
         "directories (%T/luns, %T/store, /nonexistent/x; see lun-dir and "
         "storage-dirs in [hvagent])"},
        {"name='g' uuid='" UUID "'",
         "<disk path='%T/store/disk.img'/><disk "
         "path='%T/store/escape/shadow'/>",
         "VM 'g': disk vdb path '%T/store/escape/shadow' is outside the "
         "allowed directories (%T/luns, %T/store, /nonexistent/x; see "
         "lun-dir and storage-dirs in [hvagent])"},
        {"name='g' uuid='" UUID "'", "<disk path='%T/luns/../etc'/>",
         "VM 'g': disk vda path '%T/luns/../etc' is not a plain absolute "
         "path (no '.' or '..' components, no control characters)"},
        {"name='g' uuid='" UUID "'", "<state path='/var/tmp/state'/>",
         "VM 'g': state path '/var/tmp/state' is outside the allowed "
         "directories (%T/luns, %T/store, /nonexistent/x; see lun-dir and "
         "storage-dirs in [hvagent])"},
        {"name='g' uuid='" UUID "'",
         "<lease lockspace='ls' resource='r' path='/dev/sda'/>",
         "VM 'g': lease path '/dev/sda' is outside the allowed directories "
         "(%T/luns, %T/store, /nonexistent/x; see lun-dir and storage-dirs "
         "in [hvagent])"},
        {"name='g' uuid='" UUID "'",
         "<lease lockspace='ls;x' resource='r' path='%T/store/leases'/>",
         "VM 'g': lease lockspace 'ls;x' is not a valid sanlock name (1 to "
         "47 of A-Z a-z 0-9 . _ -, starting with a letter or digit)"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct hva_request req = {0};
        char err[2048], want[2048], kids[2048];
        char *text;
        int rc;

        /* %T: the test directory */
        const char *in[2] = {bad[i].kids, bad[i].err};
        char *out[2] = {kids, want};
        for (int k = 0; k < 2; k++) {
            size_t o = 0;
            for (const char *p = in[k]; *p && o < 2000; p++) {
                if (p[0] == '%' && p[1] == 'T') {
                    o += (size_t)snprintf(out[k] + o, 2048 - o, "%s", top);
                    p++;
                } else {
                    out[k][o++] = *p;
                }
            }
            out[k][o] = '\0';
        }
        text = define(bad[i].attrs, kids);
        rc = parse(text, &req, err, sizeof(err));
        if (rc == 0 || strcmp(err, want) != 0)
            fail_msg("case %zu: rc %d, got\n  '%s'\nwant\n  '%s'", i, rc, err,
                     want);
        assert_null(req.def);
        free(text);
    }
}

static void test_lengths(void **state)
{
    struct hva_request req = {0};
    char *kids = malloc(3 * 5000), *text, err[1024];
    char *longp = malloc(5000);

    (void)state;
    memset(longp, 'a', 4999);
    longp[0] = '/';
    longp[4999] = '\0';
    snprintf(kids, 3 * 5000, "<disk path='%s'/>", longp);
    text = define("name='g' uuid='" UUID "'", kids);
    assert_int_equal(parse(text, &req, err, sizeof(err)), -CMN_E_BAD_VALUE);
    assert_non_null(strstr(err, "VM 'g': disk vda path '/aaaa"));
    assert_non_null(strstr(err, "...' is longer than 4095 characters"));
    free(text);
    snprintf(kids, 3 * 5000,
             "<kernel path='%s/kernels/guest.elf' "
             "cmdline='%s'/>",
             top, longp);
    text = define("name='g' uuid='" UUID "'", kids);
    assert_int_equal(parse(text, &req, err, sizeof(err)), -RES_E_INVALID);
    assert_string_equal(err, "VM 'g': <cmdline>: longer than 4095 characters");
    free(text);
    kids[0] = '\0';
    for (int i = 0; i < 17; i++)
        strcat(kids, "<disk path='/run/x'/>");
    text = define("name='g' uuid='" UUID "'", kids);
    assert_int_equal(parse(text, &req, err, sizeof(err)), -CMN_E_BAD_VALUE);
    assert_string_equal(err, "VM 'g': 17 disks (at most 16)");
    free(text);
    free(kids);
    free(longp);
}

static void test_other_ops(void **state)
{
    struct hva_request req;
    char err[512];

    (void)state;
    assert_int_equal(
        parse("<request op=\"stop\" vm=\"g\"/>", &req, err, sizeof(err)), 0);
    assert_int_equal(req.op, HVA_OP_STOP);
    assert_string_equal(req.vm, "g");
    assert_int_equal(req.timeout_ms, 30000);
    hva_request_clear(&req);
    assert_int_equal(parse("<request op=\"kill\" vm=\"g\" "
                           "timeout-ms=\"4294967296\"/>",
                           &req, err, sizeof(err)),
                     -HVA_E_BAD_REQUEST);
    assert_string_equal(err, "kill: timeout-ms must be 0..86400000 ms");
    assert_int_equal(
        parse("<request op=\"migrate-in\" vm=\"g\"/>", &req, err, sizeof(err)),
        0);
    assert_int_equal(req.timeout_s, 20);
    hva_request_clear(&req);
    assert_int_equal(parse("<request op=\"migrate-in\" vm=\"g\" "
                           "timeout-s=\"86401\"/>",
                           &req, err, sizeof(err)),
                     -HVA_E_BAD_REQUEST);
    assert_int_equal(parse("<request op=\"migrate-out\" vm=\"g\" to=\"a:1\" "
                           "stall-ms=\"5000\" bandwidth-mibs=\"10\"/>",
                           &req, err, sizeof(err)),
                     0);
    assert_int_equal(req.mig.stall_ms, 5000);
    assert_true(req.mig.max_bandwidth == 10ull << 20);
    hva_request_clear(&req);
    assert_int_equal(parse("<request op=\"migrate-out\" vm=\"g\" to=\"a:1\" "
                           "stall-ms=\"3600001\"/>",
                           &req, err, sizeof(err)),
                     -HVA_E_BAD_REQUEST);
    assert_int_equal(
        parse("<request op=\"format-disk\"/>", &req, err, sizeof(err)),
        -HVA_E_BAD_REQUEST);
    assert_string_equal(err, "unknown op 'format-disk'");
    assert_int_equal(parse("<reply/>", &req, err, sizeof(err)),
                     -HVA_E_BAD_REQUEST);
    assert_int_equal(parse("<request op=\"define\"/>", &req, err, sizeof(err)),
                     -HVA_E_BAD_REQUEST);
    assert_string_equal(err, "define: no <vm> element");
}

/* disk-add / disk-remove: the request's attributes, then the checks
 * against the VM's definition (slot range and use, count, path). */
static void test_disk_ops(void **state)
{
    struct hva_request req;
    char name[] = "g", uuid[] = UUID, x[] = "/x", y[] = "/y";
    struct hva_vm_def def = {.name = name, .uuid = uuid};
    struct hva_disk disks[2] = {{.path = x}, {.path = y, .slot = 25}};
    char err[1024], text[2 * PATH_MAX];

    (void)state;
    snprintf(text, sizeof(text),
             "<request op=\"disk-add\" vm=\"g\" path=\"%s/luns/naa.1\" "
             "offset=\"1048576\" size=\"4194304\" slot=\"24\"/>",
             top);
    assert_int_equal(parse(text, &req, err, sizeof(err)), 0);
    assert_int_equal(req.op, HVA_OP_DISK_ADD);
    assert_int_equal(req.disk.slot, 24);
    assert_true(req.disk.offset == 1048576 && req.disk.size == 4194304);
    assert_true(req.disk.direct);

    def.disks = disks;
    def.n_disks = 2;
    assert_int_equal(
        hva_disk_add_check(&def, &req.disk, &ag.dirs, err, sizeof(err)), 0);
    assert_string_equal(req.disk.path, tpath("luns/naa.1"));
    req.disk.slot = 25;
    assert_int_equal(
        hva_disk_add_check(&def, &req.disk, &ag.dirs, err, sizeof(err)),
        -CMN_E_DUPLICATE);
    assert_string_equal(err, "VM 'g': slot 25 already has a disk");
    req.disk.slot = 5;
    assert_int_equal(
        hva_disk_add_check(&def, &req.disk, &ag.dirs, err, sizeof(err)),
        -CMN_E_BAD_VALUE);
    assert_string_equal(
        err, "VM 'g': disk slot 5 is not a hot-plug slot (24 to 31)");
    free(req.disk.path);
    req.disk.path = strdup("/etc/shadow");
    req.disk.slot = 26;
    assert_int_equal(
        hva_disk_add_check(&def, &req.disk, &ag.dirs, err, sizeof(err)),
        -CMN_E_BAD_VALUE);
    assert_non_null(strstr(err, "disk in slot 26 path '/etc/shadow'"));
    hva_request_clear(&req);

    assert_int_equal(hva_disk_find_slot(&def, 25, err, sizeof(err)), 1);
    assert_int_equal(hva_disk_find_slot(&def, 24, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "VM 'g' has no hot-plugged disk in slot 24 "
                                "(its hot-plugged disks: 25;"));

    assert_int_equal(parse("<request op=\"disk-remove\" vm=\"g\" slot=\"31\"/>",
                           &req, err, sizeof(err)),
                     0);
    assert_int_equal(req.disk.slot, 31);
    hva_request_clear(&req);
    assert_int_equal(parse("<request op=\"disk-remove\" vm=\"g\" slot=\"32\"/>",
                           &req, err, sizeof(err)),
                     -HVA_E_BAD_REQUEST);
    assert_string_equal(err, "disk-remove: needs slot=\"N\", 24 to 31");
    assert_int_equal(parse("<request op=\"disk-add\" vm=\"g\" path=\"/a\" "
                           "slot=\"24\"/>",
                           &req, err, sizeof(err)),
                     -HVA_E_BAD_REQUEST);
    assert_non_null(strstr(err, "size=\"BYTES\" (not 0)"));
}

/* mirror: the actions, start's disks, lease, copy mode and speed, and
 * the refusals naming what is missing. */
static void test_mirror_ops(void **state)
{
    struct hva_request req;
    char err[1024];

    (void)state;
    assert_int_equal(parse("<request op=\"mirror\" vm=\"g\" "
                           "action=\"start\" copy-mode=\"write-blocking\" "
                           "speed=\"2097152\"><disk path=\"/a\" "
                           "offset=\"4096\" size=\"8192\"/><disk path=\"/b\" "
                           "offset=\"0\" size=\"512\"/><lease lockspace=\"v2\" "
                           "resource=\"s1\" path=\"/a\" offset=\"1048576\"/>"
                           "</request>",
                           &req, err, sizeof(err)),
                     0);
    assert_int_equal(req.op, HVA_OP_MIRROR);
    assert_int_equal(req.mirror_action, HVA_MIRROR_START);
    assert_true(req.mirror_write_blocking);
    assert_true(req.mirror_speed == 2097152);
    assert_int_equal(req.n_mirror_disks, 2);
    assert_string_equal(req.mirror_disks[1].path, "/b");
    assert_true(req.mirror_disks[0].offset == 4096 &&
                req.mirror_disks[0].size == 8192);
    assert_string_equal(req.mirror_lease.resource, "s1");
    assert_true(req.mirror_lease.offset == 1048576);
    hva_request_clear(&req);

    assert_int_equal(parse("<request op=\"mirror\" vm=\"g\" "
                           "action=\"cancel\"/>",
                           &req, err, sizeof(err)),
                     0);
    assert_int_equal(req.mirror_action, HVA_MIRROR_CANCEL);
    hva_request_clear(&req);
    assert_int_equal(parse("<request op=\"mirror\" vm=\"g\" "
                           "action=\"pivot\"/>",
                           &req, err, sizeof(err)),
                     -HVA_E_BAD_REQUEST);
    assert_non_null(strstr(err, "status|start|complete|cancel|finish"));
    assert_int_equal(parse("<request op=\"mirror\" vm=\"g\" "
                           "action=\"start\"/>",
                           &req, err, sizeof(err)),
                     -HVA_E_BAD_REQUEST);
    assert_string_equal(err, "mirror: start needs a <disk> per disk");
    assert_int_equal(parse("<request op=\"mirror\" vm=\"g\" "
                           "action=\"start\" copy-mode=\"eager\">"
                           "<disk path=\"/a\" size=\"1\"/></request>",
                           &req, err, sizeof(err)),
                     -HVA_E_BAD_REQUEST);
    assert_non_null(strstr(err, "copy-mode 'eager'"));
    assert_int_equal(parse("<request op=\"mirror\" vm=\"g\" "
                           "action=\"start\"><disk path=\"/a\" size=\"0\"/>"
                           "</request>",
                           &req, err, sizeof(err)),
                     -HVA_E_BAD_REQUEST);
    assert_non_null(strstr(err, "size=\"BYTES\" (not 0)"));
}

static void test_dirs_setting(void **state)
{
    struct hva_dirs d = {0};
    char err[256];

    (void)state;
    assert_int_equal(hva_dirs_set(&d, "/run/kvmcluster/luns", "",
                                  "relative/dir", err, sizeof(err)),
                     -CMN_E_BAD_VALUE);
    assert_string_equal(err, "[hvagent] kernel-dirs: 'relative/dir' is not an "
                             "absolute directory path (no '.' or '..')");
    assert_int_equal(hva_dirs_set(&d, "/run/../etc", "", "", err, sizeof(err)),
                     -CMN_E_BAD_VALUE);
    assert_null(d.lun_dir);
}

/* The status reply grows with what it holds: a long run directory and
 * names needing escapes (from an older agent's def.xml) are reported
 * whole, never cut or copied past a buffer. */
static void test_status_reply(void **state)
{
    char name[] = "a<b", uuid[] = UUID;
    struct hva_vm_def def = {.name = name, .uuid = uuid};
    struct hva_vm vm = {.def = &def,
                        .state = HVA_VM_RUNNING,
                        .pid = 42,
                        .started_ms = 1000,
                        .lease_held = true};
    struct hva_agent a = {.node_name = "node&1", .vms = &vm};
    char *dir = malloc(3001), *reply = NULL, *want = NULL;

    (void)state;
    memset(dir, 'd', 3000);
    dir[0] = '/';
    dir[3000] = '\0';
    vm.dir = dir;
    assert_int_equal(hva_status_reply(&a, NULL, 1500, &reply), 0);
    assert_true(asprintf(&want,
                         "<reply rc=\"0\" node=\"node&amp;1\"><vm "
                         "name=\"a&lt;b\" uuid=\"" UUID "\" state=\"running\" "
                         "pid=\"42\" lease=\"yes\" uptime-ms=\"500\" "
                         "phase=\"none\" serial=\"%s/serial.log\"/></reply>",
                         dir) > 0);
    assert_string_equal(reply, want);
    free(reply);
    free(want);
    /* Paused on an I/O error: the reply says so on the <vm>; running
     * again (a `cont` settling), it does not. */
    vm.state = HVA_VM_PAUSED;
    vm.ioerr = (struct hva_vm_ioerr){.active = true,
                                     .nospace = true,
                                     .disk = 1,
                                     .device = "hp24",
                                     .since_ms = 1200,
                                     .attempts = 3};
    assert_int_equal(hva_status_reply(&a, NULL, 1500, &reply), 0);
    assert_true(asprintf(&want,
                         "<reply rc=\"0\" node=\"node&amp;1\"><vm "
                         "name=\"a&lt;b\" uuid=\"" UUID "\" state=\"paused\" "
                         "pid=\"42\" lease=\"yes\" uptime-ms=\"500\" "
                         "phase=\"none\" serial=\"%s/serial.log\" "
                         "io-error=\"enospc\" io-error-disk=\"1\" "
                         "io-error-device=\"hp24\" io-error-ms=\"300\" "
                         "io-error-retries=\"3\"/></reply>",
                         dir) > 0);
    assert_string_equal(reply, want);
    free(reply);
    vm.state = HVA_VM_RUNNING;
    assert_int_equal(hva_status_reply(&a, NULL, 1500, &reply), 0);
    assert_null(strstr(reply, "io-error"));
    free(reply);
    struct hva_vm other = {.def = &def};
    assert_int_equal(hva_status_reply(&a, &other, 0, &reply), 0);
    assert_string_equal(reply, "<reply rc=\"0\" node=\"node&amp;1\"></reply>");
    free(reply);
    free(want);
    free(dir);
}

/* The state event, with and without the I/O error condition: well-formed
 * (a stray attribute once broke clusterd's parse of every event). */
static void test_state_event(void **state)
{
    char name[] = "a<b", uuid[] = UUID, cpu[] = "Westmere";
    struct hva_vm_def def = {.name = name, .uuid = uuid, .cpu_model = cpu};
    struct hva_vm vm = {.def = &def, .state = HVA_VM_RUNNING, .pid = 42};
    char *t;

    (void)state;
    t = hva_state_event_text(&vm);
    assert_string_equal(t, "<event type=\"state\" vm=\"a&lt;b\" uuid=\"" UUID
                           "\" state=\"running\" pid=\"42\" cpu=\"Westmere\" "
                           "lease=\"no\"/>");
    free(t);
    /* in an episode but running (a cont settling): not shown */
    vm.ioerr =
        (struct hva_vm_ioerr){.active = true, .disk = 1, .device = "hp24"};
    t = hva_state_event_text(&vm);
    assert_null(strstr(t, "io-error"));
    free(t);
    vm.state = HVA_VM_PAUSED;
    vm.lease_held = true;
    t = hva_state_event_text(&vm);
    assert_string_equal(t, "<event type=\"state\" vm=\"a&lt;b\" uuid=\"" UUID
                           "\" state=\"paused\" pid=\"42\" cpu=\"Westmere\" "
                           "lease=\"yes\" io-error=\"eio\" io-error-disk=\"1\" "
                           "io-error-device=\"hp24\"/>");
    free(t);
    vm.ioerr.nospace = true;
    vm.ioerr.disk = -1;
    vm.ioerr.device[0] = '\0';
    def.cpu_model = NULL;
    t = hva_state_event_text(&vm);
    assert_string_equal(t, "<event type=\"state\" vm=\"a&lt;b\" uuid=\"" UUID
                           "\" state=\"paused\" pid=\"42\" cpu=\"\" "
                           "lease=\"yes\" io-error=\"enospc\" "
                           "io-error-disk=\"-1\" io-error-device=\"\"/>");
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_define_good),
        cmocka_unit_test(test_define_bad),
        cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_other_ops),
        cmocka_unit_test(test_disk_ops),
        cmocka_unit_test(test_mirror_ops),
        cmocka_unit_test(test_define_local),
        cmocka_unit_test(test_dirs_setting),
        cmocka_unit_test(test_status_reply),
        cmocka_unit_test(test_state_event),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
