/* The QEMU command line built from a VM definition. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "hvagent/hva-int.h"

static const char vm_xml[] =
    "<vm name=\"web,1\" uuid=\"0c4e2b5a-6f1d-4e53-9a6b-1d2f3e4a5b6c\" "
    "memory-mib=\"1024\" vcpus=\"2\">"
    "<kernel path=\"/g/kvmc-guest.elf\" initrd=\"/g/initrd.img\" "
    "cmdline=\"wss=64 rate=64\"/>"
    "<disk path=\"/run/kvmcluster/luns/naa.1\" offset=\"1048576\" "
    "size=\"67108864\"/>"
    "<lease lockspace=\"ls1\" resource=\"vm-web1\" path=\"/l/leases\" "
    "offset=\"3145728\"/>"
    "<state path=\"/l/state\" offset=\"0\" size=\"2147483648\"/>"
    "</vm>";

/* Index of `arg` in argv, or -1. */
static int find(char **argv, const char *arg)
{
    for (int i = 0; argv[i]; i++)
        if (strcmp(argv[i], arg) == 0)
            return i;
    return -1;
}

static void test_full(void **state)
{
    struct hva_vm_def *def;
    char err[256], **argv;
    struct hva_qemu_opts o = {
        .qemu = "/usr/bin/qemu-system-x86_64",
        .accel = "tcg",
        .qmp_fd = 7,
        .serial = "/run/x/serial.log",
        .serial_fd = -1,
        .incoming = true,
    };
    int i;

    (void)state;
    assert_int_equal(hva_vm_def_from_xml(vm_xml, &def, err, sizeof(err)), 0);
    assert_int_equal(hva_qemu_argv(def, &o, &argv), 0);
    assert_string_equal(argv[0], "/usr/bin/qemu-system-x86_64");
    /* commas in names are doubled for QEMU's option parser */
    i = find(argv, "-name");
    assert_true(i > 0);
    assert_string_equal(argv[i + 1], "guest=web,,1,debug-threads=on");
    i = find(argv, "-accel");
    assert_string_equal(argv[i + 1], "tcg");
    i = find(argv, "-m");
    /* TCG: 8 KiB over a 256 KiB multiple (QEMU 7.2 migration bug) */
    assert_string_equal(argv[i + 1], "1048584K");
    i = find(argv, "-smp");
    assert_string_equal(argv[i + 1], "2");
    assert_true(find(argv, "-S") > 0);
    i = find(argv, "-chardev");
    assert_string_equal(argv[i + 1], "socket,id=qmp,fd=7,server=on,wait=off");
    i = find(argv, "-kernel");
    assert_string_equal(argv[i + 1], "/g/kvmc-guest.elf");
    i = find(argv, "-initrd");
    assert_true(i > 0);
    assert_string_equal(argv[i + 1], "/g/initrd.img");
    i = find(argv, "-append");
    assert_string_equal(argv[i + 1], "wss=64 rate=64");
    i = find(argv, "-blockdev");
    assert_string_equal(argv[i + 1],
                        "driver=raw,node-name=disk0,offset=1048576,"
                        "size=67108864,cache.direct=on,file.driver=file,"
                        "file.filename=/run/kvmcluster/luns/naa.1,"
                        "file.aio=threads,file.locking=off");
    i = find(argv, "-incoming");
    assert_string_equal(argv[i + 1], "defer");
    i = find(argv, "-uuid");
    assert_string_equal(argv[i + 1], "0c4e2b5a-6f1d-4e53-9a6b-1d2f3e4a5b6c");
    hva_argv_free(argv);

    o.incoming = false;
    o.accel = "kvm";
    assert_int_equal(hva_qemu_argv(def, &o, &argv), 0);
    assert_int_equal(find(argv, "-incoming"), -1);
    assert_string_equal(argv[find(argv, "-accel") + 1], "kvm");
    assert_string_equal(argv[find(argv, "-m") + 1], "1024");

    /* no cpu: QEMU's default model */
    assert_int_equal(find(argv, "-cpu"), -1);
    hva_argv_free(argv);

    /* "auto" must be resolved before building a command line */
    o.accel = "auto";
    assert_int_equal(hva_qemu_argv(def, &o, &argv), -EINVAL);

    /* a host-mode VM: the host's CPU under KVM, "max" under TCG; a named
     * model (a cluster-mode VM's fixed baseline) as given */
    def->cpu_model = strdup("host");
    o.accel = "kvm";
    assert_int_equal(hva_qemu_argv(def, &o, &argv), 0);
    assert_string_equal(argv[find(argv, "-cpu") + 1], "host");
    hva_argv_free(argv);
    o.accel = "tcg";
    assert_int_equal(hva_qemu_argv(def, &o, &argv), 0);
    assert_string_equal(argv[find(argv, "-cpu") + 1], "max");
    hva_argv_free(argv);
    free(def->cpu_model);
    def->cpu_model = strdup("Westmere");
    assert_int_equal(hva_qemu_argv(def, &o, &argv), 0);
    assert_string_equal(argv[find(argv, "-cpu") + 1], "Westmere");
    hva_argv_free(argv);
    hva_vm_def_free(def);
}

/* Confined QEMU: its seccomp filter, and files as descriptors. */
static void test_confined(void **state)
{
    struct hva_vm_def *def;
    char err[256], **argv;
    const int disk_fds[] = {11};
    const int boot_fds[] = {14, 15};
    struct hva_qemu_opts o = {
        .accel = "tcg",
        .qmp_fd = 7,
        .serial_fd = 12,
        .disk_fds = disk_fds,
        .boot_fds = boot_fds,
    };
    int i;

    (void)state;
    assert_int_equal(hva_vm_def_from_xml(vm_xml, &def, err, sizeof(err)), 0);
    assert_int_equal(hva_qemu_argv(def, &o, &argv), 0);
    i = find(argv, "-sandbox");
    assert_true(i > 0);
    assert_string_equal(argv[i + 1], "on,obsolete=deny,elevateprivileges=deny,"
                                     "spawn=deny,resourcecontrol=deny");
    i = find(argv, "fd=12,set=0,opaque=serial");
    assert_true(i > 0);
    assert_string_equal(argv[i - 1], "-add-fd");
    assert_true(find(argv, "file,id=ser0,path=/dev/fdset/0,append=on") > 0);
    i = find(argv, "fd=11,set=1,opaque=disk0");
    assert_true(i > 0);
    assert_string_equal(argv[i - 1], "-add-fd");
    i = find(argv, "-blockdev");
    assert_string_equal(
        argv[i + 1],
        "driver=raw,node-name=disk0,offset=1048576,"
        "size=67108864,cache.direct=on,file.driver=file,"
        "file.filename=/dev/fdset/1,file.aio=threads,file.locking=off");
    /* the kernel and the initrd through the descriptors the agent opened */
    i = find(argv, "-kernel");
    assert_string_equal(argv[i + 1], "/proc/self/fd/14");
    i = find(argv, "-initrd");
    assert_string_equal(argv[i + 1], "/proc/self/fd/15");
    /* no path QEMU would have to open itself */
    for (i = 0; argv[i]; i++) {
        assert_null(strstr(argv[i], "/run/kvmcluster/luns"));
        assert_null(strstr(argv[i], "/g/"));
    }
    hva_argv_free(argv);
    hva_vm_def_free(def);
}

/* The kernel and initrd the agent opens for QEMU: read-only descriptors
 * of exactly the checked paths; a symlink or a FIFO is refused, and a
 * failure leaves nothing open. */
static void test_boot_files(void **state)
{
    char dir[] = "/tmp/kvmc-test-boot.XXXXXX", k[64], r[64], l[64], f[64];
    char xml[512], err[256] = "", link[PATH_MAX];
    struct hva_qemu_files files;
    struct hva_vm_def *def;
    ssize_t n;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(k, sizeof(k), "%s/kernel", dir);
    snprintf(r, sizeof(r), "%s/initrd", dir);
    snprintf(l, sizeof(l), "%s/link", dir);
    snprintf(f, sizeof(f), "%s/fifo", dir);
    for (const char *p = k; p; p = p == k ? r : NULL) {
        FILE *fp = fopen(p, "w");
        assert_non_null(fp);
        fputs("boot\n", fp);
        fclose(fp);
    }
    assert_int_equal(symlink(k, l), 0);
    assert_int_equal(mkfifo(f, 0600), 0);

    snprintf(xml, sizeof(xml),
             "<vm name=\"g\" uuid=\"0c4e2b5a-6f1d-4e53-9a6b-1d2f3e4a5b6c\">"
             "<kernel path=\"%s\" initrd=\"%s\"/></vm>",
             k, r);
    assert_int_equal(hva_vm_def_from_xml(xml, &def, err, sizeof(err)), 0);
    assert_int_equal(hva_qemu_files_open(def, NULL, &files, err, sizeof(err)),
                     0);
    for (size_t i = 0; i < HVA_QEMU_BOOT_FDS; i++) {
        char self[32];

        assert_true(files.boot_fds[i] > 2);
        assert_int_equal(fcntl(files.boot_fds[i], F_GETFL) & O_ACCMODE,
                         O_RDONLY);
        /* close-on-exec here: only the spawned child lets them through */
        assert_true(fcntl(files.boot_fds[i], F_GETFD) & FD_CLOEXEC);
        snprintf(self, sizeof(self), "/proc/self/fd/%d", files.boot_fds[i]);
        n = readlink(self, link, sizeof(link) - 1);
        assert_true(n > 0);
        link[n] = '\0';
        assert_string_equal(link, i == 0 ? k : r);
    }
    hva_qemu_files_close(&files);
    assert_int_equal(files.boot_fds[0], -1);
    assert_int_equal(files.boot_fds[1], -1);
    hva_vm_def_free(def);

    /* no initrd: its descriptor stays -1 */
    snprintf(xml, sizeof(xml),
             "<vm name=\"g\" uuid=\"0c4e2b5a-6f1d-4e53-9a6b-1d2f3e4a5b6c\">"
             "<kernel path=\"%s\"/></vm>",
             k);
    assert_int_equal(hva_vm_def_from_xml(xml, &def, err, sizeof(err)), 0);
    assert_int_equal(hva_qemu_files_open(def, NULL, &files, err, sizeof(err)),
                     0);
    assert_true(files.boot_fds[0] > 2);
    assert_int_equal(files.boot_fds[1], -1);
    hva_qemu_files_close(&files);
    hva_vm_def_free(def);

    /* a symlink (not the canonical path) and a FIFO are refused, named */
    snprintf(xml, sizeof(xml),
             "<vm name=\"g\" uuid=\"0c4e2b5a-6f1d-4e53-9a6b-1d2f3e4a5b6c\">"
             "<kernel path=\"%s\" initrd=\"%s\"/></vm>",
             k, l);
    assert_int_equal(hva_vm_def_from_xml(xml, &def, err, sizeof(err)), 0);
    assert_int_equal(hva_qemu_files_open(def, NULL, &files, err, sizeof(err)),
                     -ELOOP);
    assert_non_null(strstr(err, "initrd '"));
    assert_non_null(strstr(err, l));
    assert_int_equal(files.boot_fds[0], -1); /* the kernel's closed again */
    hva_vm_def_free(def);
    snprintf(xml, sizeof(xml),
             "<vm name=\"g\" uuid=\"0c4e2b5a-6f1d-4e53-9a6b-1d2f3e4a5b6c\">"
             "<kernel path=\"%s\"/></vm>",
             f);
    assert_int_equal(hva_vm_def_from_xml(xml, &def, err, sizeof(err)), 0);
    assert_int_equal(hva_qemu_files_open(def, NULL, &files, err, sizeof(err)),
                     -CMN_E_BAD_VALUE);
    assert_non_null(strstr(err, "is not a regular file"));
    hva_vm_def_free(def);

    unlink(f);
    unlink(l);
    unlink(r);
    unlink(k);
    rmdir(dir);
}

/* A hot-plugged disk (a slot in the definition): on every later command
 * line at its own address, under the names and fd set its hot-plug gave
 * it, whatever its index; the slot survives the XML round trip. */
static void test_slotted_disk(void **state)
{
    static const char xml[] =
        "<vm name=\"g\" uuid=\"0c4e2b5a-6f1d-4e53-9a6b-1d2f3e4a5b6c\" "
        "memory-mib=\"64\" vcpus=\"1\">"
        "<disk path=\"/run/kvmcluster/luns/naa.1\" offset=\"0\" size=\"4096\"/>"
        "<disk path=\"/run/kvmcluster/luns/naa.1\" offset=\"8192\" "
        "size=\"4096\" slot=\"26\"/></vm>";
    struct hva_vm_def *def, *again;
    char err[256], **argv, *text;
    const int disk_fds[] = {11, 13};
    struct hva_qemu_opts o = {
        .accel = "tcg", .qmp_fd = 7, .serial_fd = -1, .disk_fds = disk_fds};

    (void)state;
    assert_int_equal(hva_vm_def_from_xml(xml, &def, err, sizeof(err)), 0);
    assert_int_equal(def->disks[1].slot, 26);
    assert_int_equal(hva_qemu_argv(def, &o, &argv), 0);
    assert_true(find(argv, "fd=11,set=1,opaque=disk0") > 0);
    assert_true(find(argv, "virtio-blk-pci,drive=disk0,id=vd0,werror=stop,"
                           "rerror=stop") > 0);
    assert_true(find(argv, "fd=13,set=126,opaque=disk1") > 0);
    assert_true(find(argv, "driver=raw,node-name=hp26,offset=8192,size=4096,"
                           "cache.direct=on,file.driver=file,"
                           "file.filename=/dev/fdset/126,"
                           "file.aio=threads,file.locking=off") > 0);
    assert_true(find(argv, "virtio-blk-pci,drive=hp26,id=hp26,addr=0x1a,"
                           "werror=stop,rerror=stop") > 0);
    hva_argv_free(argv);
    assert_int_equal(hva_vm_def_to_xml(def, &text), 0);
    assert_non_null(strstr(text, "slot=\"26\""));
    assert_int_equal(hva_vm_def_from_xml(text, &again, err, sizeof(err)), 0);
    assert_int_equal(again->disks[1].slot, 26);
    assert_int_equal(again->disks[0].slot, 0);
    free(text);
    hva_vm_def_free(again);
    hva_vm_def_free(def);
    assert_int_equal(
        hva_vm_def_from_xml("<vm name=\"g\" uuid=\"0c4e2b5a-6f1d-4e53-9a6b-"
                            "1d2f3e4a5b6c\"><disk path=\"/d\" "
                            "slot=\"32\"/></vm>",
                            &def, err, sizeof(err)),
        -CMN_E_BAD_VALUE);
    assert_string_equal(err,
                        "<disk slot='32'>: not a hot-plug slot (24 to 31)");
}

/* Disks on virtio-scsi: one controller at PCI slot 23 before them (as a
 * hot-plug puts it), each a scsi-hd whose scsi-id is its slot (or its
 * index without one); the bus survives the XML round trip; an unknown
 * bus is refused naming it. */
static void test_scsi_disk(void **state)
{
    static const char xml[] =
        "<vm name=\"g\" uuid=\"0c4e2b5a-6f1d-4e53-9a6b-1d2f3e4a5b6c\" "
        "memory-mib=\"64\" vcpus=\"1\">"
        "<disk path=\"/run/kvmcluster/luns/naa.1\" offset=\"0\" size=\"4096\"/>"
        "<disk path=\"/run/kvmcluster/luns/naa.1\" offset=\"8192\" "
        "size=\"4096\" slot=\"25\" bus=\"virtio-scsi\"/>"
        "<disk path=\"/run/kvmcluster/luns/naa.1\" offset=\"16384\" "
        "size=\"4096\" bus=\"virtio-scsi\"/></vm>";
    struct hva_vm_def *def, *again;
    char err[256], **argv, *text;
    const int disk_fds[] = {11, 13, 15};
    struct hva_qemu_opts o = {
        .accel = "tcg", .qmp_fd = 7, .serial_fd = -1, .disk_fds = disk_fds};
    int ctrl;

    (void)state;
    assert_int_equal(hva_vm_def_from_xml(xml, &def, err, sizeof(err)), 0);
    assert_false(def->disks[0].scsi);
    assert_true(def->disks[1].scsi);
    assert_int_equal(hva_qemu_argv(def, &o, &argv), 0);
    ctrl = find(argv, "virtio-scsi-pci,id=scsi0,addr=0x17");
    assert_true(ctrl > 0);
    assert_true(find(argv, "virtio-blk-pci,drive=disk0,id=vd0,werror=stop,"
                           "rerror=stop") > ctrl);
    assert_true(find(argv, "scsi-hd,bus=scsi0.0,scsi-id=25,lun=0,drive=hp25,"
                           "id=hp25,werror=stop,rerror=stop") > ctrl);
    assert_true(find(argv, "scsi-hd,bus=scsi0.0,scsi-id=2,lun=0,drive=disk2,"
                           "id=vd2,werror=stop,rerror=stop") > ctrl);
    hva_argv_free(argv);
    assert_int_equal(hva_vm_def_to_xml(def, &text), 0);
    assert_int_equal(hva_vm_def_from_xml(text, &again, err, sizeof(err)), 0);
    assert_true(again->disks[1].scsi && again->disks[2].scsi);
    assert_false(again->disks[0].scsi);
    free(text);
    hva_vm_def_free(again);
    /* No scsi disk, no controller. */
    def->disks[1].scsi = def->disks[2].scsi = false;
    assert_int_equal(hva_qemu_argv(def, &o, &argv), 0);
    assert_true(find(argv, "virtio-scsi-pci,id=scsi0,addr=0x17") < 0);
    hva_argv_free(argv);
    hva_vm_def_free(def);
    assert_int_equal(
        hva_vm_def_from_xml("<vm name=\"g\" uuid=\"0c4e2b5a-6f1d-4e53-9a6b-"
                            "1d2f3e4a5b6c\"><disk path=\"/d\" "
                            "bus=\"ide\"/></vm>",
                            &def, err, sizeof(err)),
        -CMN_E_BAD_VALUE);
    assert_string_equal(
        err, "<disk bus='ide'>: unknown bus (virtio-blk or virtio-scsi)");
}

/* A user that does not exist is named in the error. */
static void test_cred_missing(void **state)
{
    struct hva_qemu_cred c;
    char err[256] = "";

    (void)state;
    assert_int_equal(
        hva_qemu_cred_lookup("kvmc-no-such-user", &c, err, sizeof(err)),
        -HVA_E_QEMU);
    assert_non_null(strstr(err, "'kvmc-no-such-user'"));
    assert_int_equal(hva_qemu_cred_lookup("root", &c, err, sizeof(err)), 0);
    assert_int_equal(c.uid, 0);
    hva_qemu_cred_free(&c);
}

static void test_def_roundtrip(void **state)
{
    struct hva_vm_def *a, *b;
    char err[256], *x1, *x2;

    (void)state;
    assert_int_equal(hva_vm_def_from_xml(vm_xml, &a, err, sizeof(err)), 0);
    assert_int_equal(hva_vm_def_to_xml(a, &x1), 0);
    assert_null(strchr(x1, '\n')); /* travels as one control line */
    assert_int_equal(hva_vm_def_from_xml(x1, &b, err, sizeof(err)), 0);
    assert_int_equal(hva_vm_def_to_xml(b, &x2), 0);
    assert_string_equal(x1, x2);
    assert_int_equal(b->memory_mib, 1024);
    assert_true(b->state.size == 2147483648ULL);
    assert_string_equal(b->lease.resource, "vm-web1");
    free(x1);
    free(x2);
    hva_vm_def_free(a);
    hva_vm_def_free(b);
}

static void test_def_bad(void **state)
{
    static const struct {
        const char *xml;
        const char *err;
    } bad[] = {
        {"<vm uuid=\"ab\"/>", "'name' and 'uuid' are required"},
        {"<vm name=\"a\" uuid=\"zz\"/>", "not a UUID"},
        {"<vm name=\"a\" uuid=\"ab\" memory-mib=\"lots\"/>",
         "not a whole number"},
        {"<vm name=\"a\" uuid=\"ab\"><disk offset=\"0\"/></vm>",
         "'path' missing"},
        {"<vm name=\"a\" uuid=\"ab\"><lease lockspace=\"x\"/></vm>",
         "lockspace, resource and path required"},
        {"<vm name=\"a\" uuid=\"ab\"><nic/></vm>",
         "'bridge' and 'mac' are required"},
        {"<vm name=\"a\" uuid=\"ab\"><nac/></vm>", "unknown element <nac>"},
        {"<domain/>", "expected a <vm> element"},
    };

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_confined),
        cmocka_unit_test(test_boot_files),
        cmocka_unit_test(test_slotted_disk),
        cmocka_unit_test(test_scsi_disk),
        cmocka_unit_test(test_cred_missing),
        cmocka_unit_test(test_def_roundtrip),
        cmocka_unit_test(test_def_bad),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
