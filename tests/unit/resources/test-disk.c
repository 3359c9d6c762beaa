/* Disks added to a VM: the size text and where the new disk goes. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "resources/res.h"

static void test_size_parse(void **state)
{
    static const struct {
        const char *text;
        uint64_t bytes;
    } good[] = {
        {"1", 1ull << 20},      {"64M", 64ull << 20},    {"64MiB", 64ull << 20},
        {"2G", 2ull << 30},     {"2GiB", 2ull << 30},    {"1T", 1ull << 40},
        {"64TiB", 64ull << 40}, {"65536G", 64ull << 40},
    };
    static const char *const bad[] = {
        "",    "0",    "0M",  "-1",     " 1",
        "+1",  "1.5G", "1K",  "1KiB",   "1GB",
        "1 G", "G",    "65T", "65537G", "99999999999999999999",
        "1g",  "1Mi",
    };
    char err[256];
    uint64_t b;

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        b = 0;
        assert_int_equal(
            res_disk_size_parse(good[i].text, &b, err, sizeof(err)), 0);
        assert_true(b == good[i].bytes);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        b = 7;
        err[0] = '\0';
        assert_int_equal(res_disk_size_parse(bad[i], &b, err, sizeof(err)),
                         -RES_E_INVALID);
        assert_true(b == 7); /* written only on success */
        /* The message names the text given. */
        char quoted[64];
        snprintf(quoted, sizeof(quoted), "size '%s'", bad[i]);
        assert_non_null(strstr(err, quoted));
    }
    assert_int_equal(res_disk_size_parse(NULL, &b, err, sizeof(err)),
                     -RES_E_INVALID);
}

static void add_disk(struct res_vm *vm, const char *target, unsigned slot)
{
    struct res_disk *d = &vm->disks[vm->n_disks++];

    memset(d, 0, sizeof(*d));
    snprintf(d->target, sizeof(d->target), "%s", target);
    d->slot = slot;
}

static void test_next(void **state)
{
    struct res_vm *vm = NULL;
    struct res_disk d;
    char err[256];

    (void)state;
    assert_int_equal(res_vm_new(&vm), 0);
    snprintf(vm->name, sizeof(vm->name), "web1");
    /* No disk at all: vda in the first hot-plug slot. */
    assert_int_equal(
        res_vm_disk_next(vm, RES_BUS_VIRTIO_BLK, &d, err, sizeof(err)), 0);
    assert_string_equal(d.target, "vda");
    assert_int_equal(d.slot, RES_DISK_SLOT_MIN);
    assert_int_equal(d.bus, RES_BUS_VIRTIO_BLK);

    /* The boot disk has no slot; a gap is filled first, in slots and in
     * names alike. */
    add_disk(vm, "vda", 0);
    add_disk(vm, "vdc", 25);
    assert_int_equal(
        res_vm_disk_next(vm, RES_BUS_VIRTIO_BLK, &d, err, sizeof(err)), 0);
    assert_string_equal(d.target, "vdb");
    assert_int_equal(d.slot, 24);
    add_disk(vm, d.target, d.slot);
    assert_int_equal(
        res_vm_disk_next(vm, RES_BUS_VIRTIO_BLK, &d, err, sizeof(err)), 0);
    assert_string_equal(d.target, "vdd");
    assert_int_equal(d.slot, 26);
    assert_int_equal(res_vm_disk_find(vm, "vdc"), 1);
    assert_int_equal(res_vm_disk_find(vm, "vdz"), -RES_E_INVALID);
    /* On virtio-scsi: an sd name, the same slot numbers. */
    assert_int_equal(
        res_vm_disk_next(vm, RES_BUS_VIRTIO_SCSI, &d, err, sizeof(err)), 0);
    assert_string_equal(d.target, "sda");
    assert_int_equal(d.slot, 26);
    assert_int_equal(d.bus, RES_BUS_VIRTIO_SCSI);

    /* Every slot taken: refused, naming the VM and the way out. */
    for (unsigned s = 26; s <= RES_DISK_SLOT_MAX; s++) {
        char t[RES_TARGET_MAX];
        snprintf(t, sizeof(t), "vd%c", 'a' + (int)(s - 22));
        add_disk(vm, t, s);
    }
    assert_int_equal(
        res_vm_disk_next(vm, RES_BUS_VIRTIO_BLK, &d, err, sizeof(err)),
        -RES_E_INVALID);
    assert_non_null(strstr(err, "VM 'web1' has a disk in every hot-plug slot"));

    /* Free slots but the most disks a VM may have. */
    vm->disks[3].slot = 0;
    while (vm->n_disks < RES_VM_MAX_DISKS)
        add_disk(vm, "vdz", 0);
    assert_int_equal(
        res_vm_disk_next(vm, RES_BUS_VIRTIO_BLK, &d, err, sizeof(err)),
        -RES_E_INVALID);
    assert_non_null(strstr(err, "has 16 disks"));
    res_vm_free(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size_parse),
        cmocka_unit_test(test_next),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
