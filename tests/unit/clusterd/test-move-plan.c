/* move-storage's plan (clusterd/cd-move-plan.c): which disks move, the
 * room the target needs, the refusal text, the rewritten definition and
 * reference, the copy's chunks. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "clusterd/cd-move-plan.h"
#include "clusterd/cd-proto.h"

static void vm_with(struct res_vm *def, const char *vols[], size_t n)
{
    memset(def, 0, sizeof(*def));
    snprintf(def->name, sizeof(def->name), "web1");
    for (size_t i = 0; i < n; i++) {
        struct res_disk *d = &def->disks[def->n_disks++];
        snprintf(d->target, sizeof(d->target), "vd%c", (char)('a' + i));
        if (!vols[i]) {
            d->source = RES_DISK_ALLOCATE;
            continue;
        }
        d->source = RES_DISK_EXTENT;
        snprintf(d->volume, sizeof(d->volume), "%s", vols[i]);
        d->extent = 10 + i;
    }
}

static void test_disks(void **state)
{
    const char *vols[] = {"vol1", NULL, "vol1", ""};
    const char *bad[] = {"vol1", "vol2"};
    struct res_vm def;
    size_t idx[RES_VM_MAX_DISKS], n = 99;
    char err[512];

    (void)state;
    vm_with(&def, vols, 4);
    assert_int_equal(cd_move_disks(&def, "vol1", idx, &n, err, sizeof(err)), 0);
    /* The <allocate> disk stays; an extent without a volume name is the slot's.
     */
    assert_int_equal(n, 3);
    assert_int_equal(idx[0], 0);
    assert_int_equal(idx[1], 2);
    assert_int_equal(idx[2], 3);
    vm_with(&def, bad, 2);
    n = 99;
    assert_int_equal(cd_move_disks(&def, "vol1", idx, &n, err, sizeof(err)),
                     -CD_E_BAD_VALUE);
    assert_int_equal(n, 99);
    assert_string_equal(err, "VM 'web1' disk vdb is an extent of volume "
                             "'vol2', not of volume 'vol1' where its slot is: "
                             "its storage cannot move as a whole (move its "
                             "disks with --disk)");
}

static void test_disk_list(void **state)
{
    char names[RES_VM_MAX_DISKS][RES_TARGET_MAX], err[256];
    size_t n = 99;

    (void)state;
    assert_int_equal(cd_move_disk_list("vdb", names, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1);
    assert_string_equal(names[0], "vdb");
    assert_int_equal(
        cd_move_disk_list("vdb,sda,vdc", names, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 3);
    assert_string_equal(names[1], "sda");
    assert_string_equal(names[2], "vdc");
    n = 99;
    /* Empty names, too long a name, odd characters, too many: refused. */
    assert_int_equal(cd_move_disk_list("", names, &n, err, sizeof(err)),
                     -CD_E_BAD_VALUE);
    assert_int_equal(cd_move_disk_list("vdb,", names, &n, err, sizeof(err)),
                     -CD_E_BAD_VALUE);
    assert_int_equal(
        cd_move_disk_list("vdbbbbbbbb", names, &n, err, sizeof(err)),
        -CD_E_BAD_VALUE);
    assert_int_equal(cd_move_disk_list("vd\"b", names, &n, err, sizeof(err)),
                     -CD_E_BAD_VALUE);
    assert_string_equal(err, "'vd\"b' is not a disk name such as 'vdb' (see "
                             "'clusterctl vm show VM')");
    assert_int_equal(cd_move_disk_list("a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q",
                                       names, &n, err, sizeof(err)),
                     -CD_E_BAD_VALUE);
    assert_int_equal(n, 99);
}

/* A list of names for cd_move_select. */
static size_t names_of(char names[][RES_TARGET_MAX], const char *a,
                       const char *b)
{
    snprintf(names[0], RES_TARGET_MAX, "%s", a);
    if (!b)
        return 1;
    snprintf(names[1], RES_TARGET_MAX, "%s", b);
    return 2;
}

static void test_select(void **state)
{
    const char *vols[] = {"vol1", "vol1", "vol2"};
    const char *two[] = {"vol1", ""};
    char names[RES_VM_MAX_DISKS][RES_TARGET_MAX], from[RES_NAME_MAX] = "";
    size_t idx[RES_VM_MAX_DISKS], n = 99, k;
    struct res_vm def;
    bool whole = true;
    char err[512];

    (void)state;
    vm_with(&def, vols, 3);
    /* One disk beside the slot goes to vol2: the slot stays. */
    k = names_of(names, "vdb", NULL);
    assert_int_equal(cd_move_select(&def, "vol1", "vol3", names, k, idx, &n,
                                    from, &whole, err, sizeof(err)),
                     0);
    assert_int_equal(n, 1);
    assert_int_equal(idx[0], 1);
    assert_string_equal(from, "vol1");
    assert_false(whole);
    /* The disk on vol2 back beside its slot. */
    k = names_of(names, "vdc", NULL);
    assert_int_equal(cd_move_select(&def, "vol1", "vol1", names, k, idx, &n,
                                    from, &whole, err, sizeof(err)),
                     0);
    assert_int_equal(idx[0], 2);
    assert_string_equal(from, "vol2");
    assert_false(whole);
    /* Refusals name the input and change nothing. */
    n = 99;
    k = names_of(names, "vdz", NULL);
    assert_int_equal(cd_move_select(&def, "vol1", "vol2", names, k, idx, &n,
                                    from, &whole, err, sizeof(err)),
                     -CD_E_NOT_FOUND);
    assert_string_equal(err, "VM 'web1' has no disk 'vdz' (see 'clusterctl vm "
                             "show web1')");
    k = names_of(names, "vdc", NULL);
    assert_int_equal(cd_move_select(&def, "vol1", "vol2", names, k, idx, &n,
                                    from, &whole, err, sizeof(err)),
                     -CD_E_BAD_VALUE);
    assert_string_equal(err, "VM 'web1' disk 'vdc' is already on volume "
                             "'vol2'");
    k = names_of(names, "vda", "vda");
    assert_int_equal(cd_move_select(&def, "vol1", "vol2", names, k, idx, &n,
                                    from, &whole, err, sizeof(err)),
                     -CD_E_BAD_VALUE);
    assert_string_equal(err, "VM 'web1': disk 'vda' is named twice");
    k = names_of(names, "vda", "vdc");
    assert_int_equal(cd_move_select(&def, "vol1", "vol3", names, k, idx, &n,
                                    from, &whole, err, sizeof(err)),
                     -CD_E_BAD_VALUE);
    assert_string_equal(err, "VM 'web1': disk 'vda' is on volume 'vol1', "
                             "disk 'vdc' on volume 'vol2': move the disks of "
                             "one volume at a time");
    assert_int_equal(n, 99);
    /* Its disk slots: vol2 once, never the slot's own volume. */
    const char *three[] = {"vol1", "vol2", "vol2", NULL, "vol3"};
    char vlist[RES_VM_MAX_DISKS][RES_NAME_MAX];
    vm_with(&def, three, 5);
    assert_int_equal(cd_move_disk_volumes(&def, "vol1", vlist, 16), 2);
    assert_string_equal(vlist[0], "vol2");
    assert_string_equal(vlist[1], "vol3");
    assert_int_equal(cd_move_disk_volumes(&def, "vol1", vlist, 1), 1);
    assert_int_equal(cd_move_disk_volumes(&def, "vol2", vlist, 16), 2);
    assert_string_equal(vlist[0], "vol1");
    /* Every disk, all beside the slot (a disk without a volume name is
     * the slot's): a whole move. */
    vm_with(&def, two, 2);
    k = names_of(names, "vdb", "vda");
    assert_int_equal(cd_move_select(&def, "vol1", "vol2", names, k, idx, &n,
                                    from, &whole, err, sizeof(err)),
                     0);
    assert_true(whole);
    assert_int_equal(n, 2);
    assert_int_equal(idx[0], 1);
    assert_int_equal(idx[1], 0);
}

static void test_need_and_message(void **state)
{
    const uint64_t lengths[] = {8 << 20, (1 << 20) + 1, 192 << 20};
    char err[256];

    (void)state;
    assert_int_equal(cd_move_need(lengths, 3, 0), (201ull << 20) + 1);
    assert_int_equal(cd_move_need(lengths, 3, 1 << 20), 202ull << 20);
    assert_int_equal(cd_move_need(lengths, 0, 1 << 20), 0);
    cd_move_no_space(err, sizeof(err), "web1", "small", 202ull << 20,
                     150ull << 20, 150ull << 20);
    assert_string_equal(err, "volume 'small' has not enough space for VM "
                             "'web1' (202 MiB needed, 150 MiB free)");
    cd_move_no_space(err, sizeof(err), "web1", "small", 1, 150ull << 20,
                     10ull << 20);
    assert_string_equal(err, "volume 'small' has not enough space for VM "
                             "'web1' (1 MiB needed, 150 MiB free in pieces)");
}

static void test_rewrite_and_ref(void **state)
{
    const char *vols[] = {"vol1", NULL, "vol1"};
    struct cd_move_copy cp[3] = {
        {.disk = 0, .src_id = 10, .dst_id = 4},
        {.disk = 2, .src_id = 12, .dst_id = 5},
        {.disk = CD_MOVE_STATE, .src_id = 7, .dst_id = 6},
    };
    struct res_vm def;
    char ref[32];

    (void)state;
    vm_with(&def, vols, 3);
    cd_move_rewrite(&def, "vol2", cp, 3);
    assert_string_equal(def.disks[0].volume, "vol2");
    assert_int_equal(def.disks[0].extent, 4);
    assert_int_equal(def.disks[1].source, RES_DISK_ALLOCATE);
    assert_string_equal(def.disks[1].volume, "");
    assert_string_equal(def.disks[2].volume, "vol2");
    assert_int_equal(def.disks[2].extent, 5);
    assert_int_equal(cd_move_ref(ref, sizeof(ref), "vol2", 3, 6), 0);
    assert_string_equal(ref, "csv:vol2:3:6");
    assert_int_equal(cd_move_ref(ref, 8, "vol2", 3, 6), -ENAMETOOLONG);
}

static void test_chunk(void **state)
{
    (void)state;
    assert_int_equal(cd_move_chunk(0, 3 << 20, 1 << 20), 1 << 20);
    assert_int_equal(cd_move_chunk(2 << 20, (2 << 20) + 4096, 1 << 20), 4096);
    assert_int_equal(cd_move_chunk(3 << 20, 3 << 20, 1 << 20), 0);
    assert_int_equal(cd_move_chunk(4 << 20, 3 << 20, 1 << 20), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disks),
        cmocka_unit_test(test_disk_list),
        cmocka_unit_test(test_select),
        cmocka_unit_test(test_need_and_message),
        cmocka_unit_test(test_rewrite_and_ref),
        cmocka_unit_test(test_chunk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
