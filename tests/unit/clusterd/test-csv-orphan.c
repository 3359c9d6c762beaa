/* Orphans of the cluster-shared volume: slots and extents that no VM of
 * the cluster database owns (cd-csv.h), and VM refs read from the CDB. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clusterd/cd-csv.h"
#include "clusterd/cd.h"
#include "csv/csv.h"

static void slot(struct csv_slot *s, uint32_t i, const char *name, uint64_t gen)
{
    memset(s, 0, sizeof(*s));
    s->index = i;
    s->generation = gen;
    if (name) {
        s->used = true;
        snprintf(s->name, sizeof(s->name), "%s", name);
        s->uuid[0] = 0xab;
        s->uuid[15] = 0x01;
    }
}

static void extent(struct csv_extent *e, uint64_t id, uint32_t owner,
                   uint64_t mib)
{
    memset(e, 0, sizeof(*e));
    e->id = id;
    e->owner = owner;
    e->length = mib << 20;
}

/* web1 (slot 0) and db1 (slot 2) are in the CDB; slot 1 holds 'old1'
 * with two extents (a remove whose free failed); slot 3 is free but
 * still owns an extent; slot 4 has db1's name but the CDB says db1 is in
 * slot 2 (a second add of db1 left it); volume-owned extents are no
 * one's orphans. */
static void test_orphans(void **state)
{
    struct csv_slot s[6];
    struct csv_extent e[7];
    const struct cd_csv_known k[] = {{"web1", 0}, {"db1", 2}};
    struct cd_csv_orphan *o = NULL;
    size_t n = 0;

    (void)state;
    slot(&s[0], 0, "web1", 3);
    slot(&s[1], 1, "old1", 7);
    slot(&s[2], 2, "db1", 2);
    slot(&s[3], 3, NULL, 9);
    slot(&s[4], 4, "db1", 4);
    slot(&s[5], 5, NULL, 0);
    extent(&e[0], 10, 0, 64);
    extent(&e[1], 11, 1, 64);
    extent(&e[2], 12, 1, 192);
    extent(&e[3], 13, 2, 192);
    extent(&e[4], 14, 3, 32);
    extent(&e[5], 15, CSV_OWNER_NONE, 8);
    extent(&e[6], 16, 4, 16);
    assert_int_equal(cd_csv_orphans(s, 6, e, 7, k, 2, &o, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(o[0].slot, 1);
    assert_true(o[0].slot_used);
    assert_string_equal(o[0].vm, "old1");
    assert_int_equal(o[0].slot_gen, 7);
    assert_int_equal(o[0].nextents, 2);
    assert_int_equal(o[0].extents[0], 11);
    assert_int_equal(o[0].extents[1], 12);
    assert_int_equal(o[0].bytes, 256ull << 20);
    assert_string_equal(o[0].uuid, "ab000000-0000-0000-0000-000000000001");
    assert_int_equal(o[1].slot, 3);
    assert_false(o[1].slot_used);
    assert_string_equal(o[1].vm, "");
    assert_int_equal(o[1].nextents, 1);
    assert_int_equal(o[1].extents[0], 14);
    assert_int_equal(o[2].slot, 4);
    assert_string_equal(o[2].vm, "db1");
    assert_int_equal(o[2].bytes, 16ull << 20);
    free(o);

    /* Everything known: clean. */
    const struct cd_csv_known all[] = {
        {"web1", 0}, {"old1", 1}, {"db1", 2}, {"db1", 4}};
    assert_int_equal(cd_csv_orphans(s, 3, e, 4, all, 4, &o, &n), 0);
    assert_int_equal(n, 0);
    free(o);
    /* A VM's disk slot (its disks on this volume, move-storage --disk)
     * is known by its name, whatever its index; another VM's is not. */
    const struct cd_csv_known disk[] = {
        {"web1", 0}, {"old1", CD_CSV_KNOWN_ANY}, {"db1", 2}};
    assert_int_equal(cd_csv_orphans(s, 3, e, 4, disk, 3, &o, &n), 0);
    assert_int_equal(n, 0);
    free(o);
    const struct cd_csv_known other[] = {
        {"web1", 0}, {"web1", CD_CSV_KNOWN_ANY}, {"db1", 2}};
    assert_int_equal(cd_csv_orphans(s, 3, e, 4, other, 3, &o, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(o[0].vm, "old1");
    free(o);
    /* An empty CDB makes every used slot an orphan (which is why the
     * daemon compares only with a CDB in sync). */
    assert_int_equal(cd_csv_orphans(s, 3, e, 4, NULL, 0, &o, &n), 0);
    assert_int_equal(n, 3);
    free(o);
}

/* A move's target slot names its mover until the copy is sealed: the
 * marker round-trips, anything else is no marker. */
static void test_mover_marker(void **state)
{
    struct cd_csv_mover mv = {.from = "vol1", .node = 2, .generation = 7};
    struct cd_csv_mover back = {0};
    struct csv_slot s[2];
    struct cd_csv_orphan *o = NULL;
    const struct cd_csv_known k[] = {{"web1", 5}};
    char buf[160], small[20];
    size_t n = 0;

    (void)state;
    assert_int_equal(cd_csv_mover_format(buf, sizeof(buf), &mv), 0);
    assert_string_equal(
        buf, "<move-target from=\"vol1\" node=\"2\" generation=\"7\"/>");
    assert_int_equal(cd_csv_mover_format(small, sizeof(small), &mv),
                     -ENAMETOOLONG);
    assert_int_equal(cd_csv_mover_parse(buf, &back), 0);
    assert_string_equal(back.from, "vol1");
    assert_int_equal(back.node, 2);
    assert_int_equal(back.generation, 7);
    /* A definition, trailing bytes, node 0, nothing: no marker. */
    assert_int_equal(cd_csv_mover_parse("<vm name=\"web1\"/>", &back),
                     -CD_E_BAD_VALUE);
    strcat(buf, "x");
    assert_int_equal(cd_csv_mover_parse(buf, &back), -CD_E_BAD_VALUE);
    assert_int_equal(cd_csv_mover_parse("<move-target from=\"v\" node=\"0\" "
                                        "generation=\"1\"/>",
                                        &back),
                     -CD_E_BAD_VALUE);
    assert_int_equal(cd_csv_mover_parse(NULL, &back), -CD_E_BAD_VALUE);
    assert_int_equal(cd_csv_mover_parse("", &back), -CD_E_BAD_VALUE);

    /* The orphan scan reads it from the slot. */
    assert_int_equal(cd_csv_mover_format(buf, sizeof(buf), &mv), 0);
    slot(&s[0], 0, "web1", 1);
    s[0].xml = buf;
    slot(&s[1], 1, "db1", 1);
    s[1].xml = (char *)"<vm name=\"db1\"/>";
    assert_int_equal(cd_csv_orphans(s, 2, NULL, 0, k, 1, &o, &n), 0);
    assert_int_equal(n, 2);
    assert_true(o[0].moving);
    assert_string_equal(o[0].mover.from, "vol1");
    assert_int_equal(o[0].mover.node, 2);
    assert_false(o[1].moving);
    free(o);
}

/* A target is freed only when sanlock says its mover's host can no
 * longer write: dead, or joined again with another generation. */
static void test_move_cut(void **state)
{
    const struct cd_csv_mover mv = {.from = "vol1", .node = 2, .generation = 7};
    struct csv_host h[2] = {
        {.host_id = 1, .generation = 3, .state = CSV_HOST_LIVE},
        {.host_id = 2, .generation = 7, .state = CSV_HOST_LIVE}};

    (void)state;
    assert_false(cd_csv_move_cut(&mv, h, 2)); /* in flight */
    h[1].state = CSV_HOST_FAIL;               /* failing, not dead yet */
    assert_false(cd_csv_move_cut(&mv, h, 2));
    h[1].state = CSV_HOST_STALE;
    assert_false(cd_csv_move_cut(&mv, h, 2));
    h[1].state = CSV_HOST_FREE; /* left: which leases went is not known */
    assert_false(cd_csv_move_cut(&mv, h, 2));
    h[1].state = CSV_HOST_DEAD;
    assert_true(cd_csv_move_cut(&mv, h, 2));
    h[1].state = CSV_HOST_LIVE; /* back with a new incarnation */
    h[1].generation = 8;
    assert_true(cd_csv_move_cut(&mv, h, 2));
    h[1].state = CSV_HOST_UNKNOWN;
    assert_false(cd_csv_move_cut(&mv, h, 2));
    /* Not among the hosts: not known, kept. */
    assert_false(cd_csv_move_cut(&mv, h, 1));
    assert_false(cd_csv_move_cut(&mv, NULL, 0));
}

/* Many extents: the first few are listed, all are counted. */
static void test_many_extents(void **state)
{
    struct csv_slot s[1];
    struct csv_extent e[CD_CSV_ORPHAN_EXTENTS + 3];
    struct cd_csv_orphan *o = NULL;
    size_t n = 0;

    (void)state;
    slot(&s[0], 0, "big", 1);
    for (size_t i = 0; i < CMN_ARRAY_SIZE(e); i++)
        extent(&e[i], 100 + i, 0, 1);
    assert_int_equal(
        cd_csv_orphans(s, 1, e, CMN_ARRAY_SIZE(e), NULL, 0, &o, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(o[0].nextents, CMN_ARRAY_SIZE(e));
    assert_int_equal(o[0].bytes, (uint64_t)CMN_ARRAY_SIZE(e) << 20);
    free(o);
}

static void test_ref_parse(void **state)
{
    char vol[CSV_NAME_MAX + 1];
    uint32_t slot;
    uint64_t st;

    (void)state;
    assert_int_equal(
        cd_csv_ref_parse("csv:sb-csv:4:17", vol, sizeof(vol), &slot, &st), 0);
    assert_string_equal(vol, "sb-csv");
    assert_int_equal(slot, 4);
    assert_int_equal(st, 17);
    assert_int_equal(cd_csv_ref_parse("", vol, sizeof(vol), &slot, &st),
                     -CD_E_BAD_VALUE);
    assert_int_equal(
        cd_csv_ref_parse("csv:sb-csv:x:1", vol, sizeof(vol), &slot, &st),
        -CD_E_BAD_VALUE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_orphans),
        cmocka_unit_test(test_many_extents),
        cmocka_unit_test(test_mover_marker),
        cmocka_unit_test(test_move_cut),
        cmocka_unit_test(test_ref_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
