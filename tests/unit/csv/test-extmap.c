/* csv: the extent map's content rules (csv_extmap_validate), applied at
 * load to a copy whose crc is right: overlap, outside the data area,
 * wrap-around, owner beyond the slots, duplicate ids are refused with a
 * sentence naming the extents, and the volume refuses changes without
 * touching the disk. Also the superblock's lease region and region ends,
 * and the owner check of what a VM is handed. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/unit/csv/csv-test-util.h"

#define MIB (1ull << 20)

static const uint8_t uuid0[16] = {1}, uuid1[16] = {2};

struct fixture {
    const char *path;
    struct csv_volume *vol;
    struct csv_super sb;
    uint64_t data_off, data_len;
};

static void fixture_open(struct fixture *f)
{
    const struct csv_region *d;

    f->path = test_volume_file("extmap", 256);
    assert_int_equal(test_format(f->path, 4, 64), 0);
    assert_int_equal(csv_open(f->path, CSV_OPEN_RW, &test_hooks, &f->vol), 0);
    f->sb = *csv_super(f->vol);
    d = csv_region_get(&f->sb, CSV_REGION_DATA);
    f->data_off = d->offset;
    f->data_len = d->length;
}

static struct csv_extent ext(uint64_t id, uint64_t off, uint64_t len,
                             uint32_t owner)
{
    struct csv_extent e = {
        .id = id,
        .offset = off,
        .length = len,
        .owner = owner,
        .kind = CSV_EXTENT_DISK,
    };
    return e;
}

/* Validates a two-extent map; returns the first fault ("" when valid). */
static int validate2(const struct fixture *f, struct csv_extent a,
                     struct csv_extent b, char *first, size_t n)
{
    struct csv_extent v[2] = {a, b};
    struct csv_extmap m = {
        .generation = 5, .next_id = 10, .count = 2, .cap = 2, .ext = v};
    struct csv_extmap_faults faults;
    int rc;

    csv_extmap_sort(&m);
    rc = csv_extmap_validate(&m, &f->sb, &faults);
    snprintf(first, n, "%s", rc < 0 ? faults.first : "");
    return rc;
}

static void test_validate_rules(void **state)
{
    struct fixture f;
    uint64_t d;
    char why[CSV_FAULT_MAX];

    (void)state;
    fixture_open(&f);
    d = f.data_off;
    /* Valid: adjacent, owned by slot 3 (of 4) and by the volume. */
    assert_int_equal(validate2(&f, ext(1, d, MIB, 3),
                               ext(2, d + MIB, MIB, CSV_OWNER_NONE), why,
                               sizeof(why)),
                     0);
    /* Overlap by one allocation unit. */
    assert_int_equal(validate2(&f, ext(1, d, 2 * MIB, 0),
                               ext(2, d + MIB, MIB, 1), why, sizeof(why)),
                     -CSV_E_BAD_EXTMAP);
    assert_non_null(strstr(why, "extents 1 and 2 overlap"));
    /* Before the data area (inside the slots), and past its end. */
    assert_int_equal(validate2(&f, ext(1, d - MIB, MIB, 0),
                               ext(2, d + MIB, MIB, 1), why, sizeof(why)),
                     -CSV_E_BAD_EXTMAP);
    assert_non_null(strstr(why, "extent 1 "));
    assert_non_null(strstr(why, "outside the data area"));
    assert_int_equal(validate2(&f, ext(1, d, MIB, 0),
                               ext(2, d + f.data_len, MIB, 1), why,
                               sizeof(why)),
                     -CSV_E_BAD_EXTMAP);
    assert_non_null(strstr(why, "extent 2 "));
    /* offset + length wraps around 2^64. */
    assert_int_equal(validate2(&f, ext(1, d, MIB, 0),
                               ext(2, d + MIB, UINT64_MAX - d, 1), why,
                               sizeof(why)),
                     -CSV_E_BAD_EXTMAP);
    assert_non_null(strstr(why, "wraps around"));
    /* Owner 4 on a volume of 4 slots. */
    assert_int_equal(validate2(&f, ext(1, d, MIB, 4), ext(2, d + MIB, MIB, 1),
                               why, sizeof(why)),
                     -CSV_E_BAD_EXTMAP);
    assert_string_equal(why,
                        "extent 1 belongs to slot 4, beyond the volume's 4 "
                        "slots");
    /* The same id twice; an id at or past next_id. */
    assert_int_equal(validate2(&f, ext(3, d, MIB, 0), ext(3, d + MIB, MIB, 1),
                               why, sizeof(why)),
                     -CSV_E_BAD_EXTMAP);
    assert_string_equal(why, "extent id 3 used twice");
    assert_int_equal(validate2(&f, ext(1, d, MIB, 0), ext(10, d + MIB, MIB, 1),
                               why, sizeof(why)),
                     -CSV_E_BAD_EXTMAP);
    assert_string_equal(why, "extent id 10 out of range");
    /* Empty and misaligned. */
    assert_int_equal(validate2(&f, ext(1, d, 0, 0), ext(2, d + MIB, MIB, 1),
                               why, sizeof(why)),
                     -CSV_E_BAD_EXTMAP);
    assert_int_equal(validate2(&f, ext(1, d + 4096, MIB, 0),
                               ext(2, d + 2 * MIB, MIB, 1), why, sizeof(why)),
                     -CSV_E_BAD_EXTMAP);
    csv_close(f.vol);
}

/* Writes `m` with a valid crc as the next generation, in the copy that is
 * not current (what a buggy or hostile writer holding the lease could
 * do). */
static void plant_map(struct fixture *f, struct csv_extmap *m)
{
    int target = f->vol->map_cur == 0 ? 1 : 0;
    size_t len = f->sb.extmap_rec_size;
    uint8_t *buf = calloc(1, len);

    assert_non_null(buf);
    m->generation = f->vol->map.generation + 1;
    csv_extmap_encode(m, f->vol->uuid8, buf);
    assert_int_equal(
        file_patch(f->path,
                   csv_region_get(&f->sb, CSV_REGION_EXTMAP)->offset +
                       (uint64_t)target * len,
                   buf, len),
        0);
    free(buf);
}

static uint8_t *read_all(const char *path, size_t len)
{
    uint8_t *b = malloc(len);
    FILE *fp = fopen(path, "rb");

    assert_non_null(b);
    assert_non_null(fp);
    assert_int_equal(fread(b, 1, len, fp), len);
    fclose(fp);
    return b;
}

struct findings {
    int damage;
    char all[2048];
};

static void collect(void *opaque, enum csv_finding kind, const char *msg)
{
    struct findings *fs = opaque;

    if (kind == CSV_FIND_DAMAGE)
        fs->damage++;
    strncat(fs->all, msg, sizeof(fs->all) - strlen(fs->all) - 2);
    strcat(fs->all, "\n");
}

static void check_refused_at_load(struct csv_extent a, struct csv_extent b,
                                  const char *fault)
{
    struct fixture f;
    struct csv_extent v[2] = {a, b}, got;
    struct csv_extmap m = {.next_id = 10, .count = 2, .cap = 2, .ext = v};
    struct csv_volume *vol;
    struct findings fs = {0};
    const char *why = NULL;
    size_t meta_len;
    uint8_t *before, *after;

    fixture_open(&f);
    assert_int_equal(csv_lock(f.vol, 1000), 0);
    assert_int_equal(csv_slot_create(f.vol, "vm0", uuid0, "<vm/>", NULL), 0);
    assert_int_equal(csv_slot_create(f.vol, "vm1", uuid1, "<vm/>", NULL), 0);
    assert_int_equal(csv_unlock(f.vol), 0);
    plant_map(&f, &m);
    csv_close(f.vol);

    assert_int_equal(csv_open(f.path, CSV_OPEN_RW, &test_hooks, &vol), 0);
    assert_int_equal(csv_map_status(vol, &why), -CSV_E_BAD_EXTMAP);
    assert_non_null(why);
    assert_non_null(strstr(why, fault));
    /* Refused, not replaced by the older copy, and the disk untouched. */
    meta_len = (size_t)f.data_off;
    before = read_all(f.path, meta_len);
    assert_int_equal(csv_extent_get(vol, 1, &got), -CSV_E_BAD_EXTMAP);
    assert_int_equal(csv_lock(vol, 1000), 0);
    assert_int_equal(csv_extent_alloc(vol, MIB, CSV_OWNER_NONE,
                                      CSV_EXTENT_OTHER, 0, "x", &got),
                     -CSV_E_BAD_EXTMAP);
    assert_int_equal(csv_unlock(vol), 0);
    after = read_all(f.path, meta_len);
    assert_memory_equal(before, after, meta_len);
    /* The check names the same fault. */
    assert_int_equal(csv_check(vol, collect, &fs), -CSV_E_DAMAGED);
    assert_non_null(strstr(fs.all, fault));
    assert_non_null(strstr(fs.all, "extent map copy"));
    free(before);
    free(after);
    csv_close(vol);
}

static void test_load_refuses_overlap(void **state)
{
    struct fixture f;

    (void)state;
    fixture_open(&f);
    csv_close(f.vol);
    check_refused_at_load(ext(1, f.data_off, 2 * MIB, 0),
                          ext(2, f.data_off + MIB, MIB, 1), "overlap");
}

static void test_load_refuses_outside(void **state)
{
    struct fixture f;

    (void)state;
    fixture_open(&f);
    csv_close(f.vol);
    check_refused_at_load(ext(1, MIB, MIB, 0), ext(2, f.data_off, MIB, 1),
                          "outside the data area");
}

static void test_load_refuses_overflow(void **state)
{
    struct fixture f;

    (void)state;
    fixture_open(&f);
    csv_close(f.vol);
    check_refused_at_load(ext(1, f.data_off, MIB, 0),
                          ext(2, f.data_off + MIB, UINT64_MAX - MIB + 1, 1),
                          "wraps around");
}

static void test_load_refuses_owner(void **state)
{
    struct fixture f;

    (void)state;
    fixture_open(&f);
    csv_close(f.vol);
    check_refused_at_load(ext(1, f.data_off, MIB, 0),
                          ext(2, f.data_off + MIB, MIB, 7),
                          "belongs to slot 7, beyond the volume's 4 slots");
}

/* What a VM is handed must be its own extent. */
static void test_extent_get_owned(void **state)
{
    struct fixture f;
    struct csv_extent e0, e1, got;
    uint32_t s0, s1;

    (void)state;
    fixture_open(&f);
    assert_int_equal(csv_lock(f.vol, 1000), 0);
    assert_int_equal(csv_slot_create(f.vol, "vm0", uuid0, "<vm/>", &s0), 0);
    assert_int_equal(csv_slot_create(f.vol, "vm1", uuid1, "<vm/>", &s1), 0);
    assert_int_equal(
        csv_extent_alloc(f.vol, MIB, s0, CSV_EXTENT_DISK, 0, "d", &e0), 0);
    assert_int_equal(
        csv_extent_alloc(f.vol, MIB, s1, CSV_EXTENT_DISK, 0, "d", &e1), 0);
    assert_int_equal(csv_unlock(f.vol), 0);
    assert_int_equal(csv_extent_get_owned(f.vol, e0.id, s0, &got), 0);
    assert_int_equal(got.offset, e0.offset);
    assert_int_equal(csv_extent_get_owned(f.vol, e1.id, s0, &got),
                     -CSV_E_NOT_OWNER);
    assert_int_equal(csv_extent_get_owned(f.vol, 999, s0, &got),
                     -CSV_E_NO_EXTENT);
    csv_close(f.vol);
}

/* The superblock's geometry: a lease region too short for one lease per
 * slot plus the metadata lease, or a region ending past the volume, is
 * refused before any offset is trusted. */
static void test_super_lease_region_and_ends(void **state)
{
    struct fixture f;
    struct csv_super sb, out;
    uint8_t *buf = calloc(1, CSV_SUPER_SIZE);

    (void)state;
    assert_non_null(buf);
    fixture_open(&f);
    csv_close(f.vol);
    sb = f.sb;
    csv_super_encode(&sb, buf);
    assert_int_equal(csv_super_decode(buf, &out), 0);

    sb = f.sb;
    sb.regions[CSV_REGION_LEASES - 1].length = (uint64_t)sb.nslots * sb.align;
    sb.regions[CSV_REGION_EXTMAP - 1].offset -= sb.align; /* keep ordered */
    sb.regions[CSV_REGION_EXTMAP - 1].length += sb.align;
    csv_super_encode(&sb, buf);
    assert_int_equal(csv_super_decode(buf, &out), -CSV_E_BAD_GEOMETRY);

    sb = f.sb;
    sb.regions[CSV_REGION_DATA - 1].length += sb.alloc_unit;
    csv_super_encode(&sb, buf);
    assert_int_equal(csv_super_decode(buf, &out), -CSV_E_BAD_GEOMETRY);

    sb = f.sb;
    sb.regions[CSV_REGION_LOCKSPACE - 1].length = sb.sector_size;
    csv_super_encode(&sb, buf);
    assert_int_equal(csv_super_decode(buf, &out), -CSV_E_BAD_GEOMETRY);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate_rules),
        cmocka_unit_test(test_load_refuses_overlap),
        cmocka_unit_test(test_load_refuses_outside),
        cmocka_unit_test(test_load_refuses_overflow),
        cmocka_unit_test(test_load_refuses_owner),
        cmocka_unit_test(test_extent_get_owned),
        cmocka_unit_test(test_super_lease_region_and_ends),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
