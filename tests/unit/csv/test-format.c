/* csv: format / open / inspect round trip, superblock recovery, record
 * errors, slots, the metadata-lease rule. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "tests/unit/csv/csv-test-util.h"

static const uint8_t uuid1[16] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
                                  0x47, 0x88, 0x99, 0xaa, 0xbb, 0xcc,
                                  0xdd, 0xee, 0xff, 0x01};

struct findings {
    int info, damage;
    char last[512];
};

static void collect(void *opaque, enum csv_finding kind, const char *msg)
{
    struct findings *f = opaque;

    if (kind == CSV_FIND_DAMAGE)
        f->damage++;
    else
        f->info++;
    snprintf(f->last, sizeof(f->last), "%s", msg);
}

static void test_round_trip(void **state)
{
    const char *path = test_volume_file("rt.img", 128);
    struct csv_format_opts o = {
        .name = "vol-rt",
        .cluster = "alpha",
        .io_timeout = 3,
        .nslots = 4,
        .max_extents = 128,
        .uuid = uuid1,
    };
    CMN_AUTO(csv_volume) *vol = NULL;
    const struct csv_super *sb;
    struct csv_space sp;
    struct findings f = {0};
    struct csv_host *hosts = NULL;
    size_t nhosts = 99;

    assert_int_equal(csv_format(path, &o, &test_hooks), 0);
    assert_int_equal(csv_open(path, 0, &test_hooks, &vol), 0);
    sb = csv_super(vol);
    assert_string_equal(sb->name, "vol-rt");
    assert_string_equal(sb->cluster, "alpha");
    assert_memory_equal(sb->uuid, uuid1, 16);
    assert_int_equal(sb->version, 1);
    assert_int_equal(sb->sector_size, 512);
    assert_int_equal(sb->align, 1 << 20);
    assert_int_equal(sb->io_timeout, 3);
    assert_int_equal(sb->nslots, 4);
    assert_int_equal(sb->max_extents, 128);
    assert_int_equal(sb->volume_size, 128ull << 20);
    /* Regions in order, aligned, back to back. */
    uint64_t end = 0;
    for (int i = 0; i < CSV_REGION_COUNT; i++) {
        assert_int_equal(sb->regions[i].type, i + 1);
        assert_int_equal(sb->regions[i].offset, end);
        assert_int_equal(sb->regions[i].offset % sb->align, 0);
        end += sb->regions[i].length;
    }
    assert_int_equal(sb->regions[CSV_REGION_LEASES - 1].count, 5);
    assert_true(end <= 128ull << 20);
    assert_int_equal(csv_super_copy_status(vol, 0), 0);
    assert_int_equal(csv_super_copy_status(vol, 1), 0);

    assert_int_equal(csv_space(vol, &sp), 0);
    assert_int_equal(sp.used, 0);
    assert_int_equal(sp.free, sp.data_length);
    assert_int_equal(sp.largest_free, sp.data_length);
    assert_int_equal(csv_hosts(vol, 0, &hosts, &nhosts), 0);
    assert_int_equal(nhosts, 0);
    free(hosts);
    assert_int_equal(csv_check(vol, collect, &f), 0);
    assert_int_equal(f.damage, 0);
    assert_int_equal(f.info, 0);

    struct csv_lease_loc loc;
    assert_int_equal(csv_lease_location(vol, CSV_OWNER_NONE, &loc), 0);
    assert_string_equal(loc.resource, "csv-meta");
    assert_int_equal(loc.offset, sb->regions[CSV_REGION_LEASES - 1].offset);
    assert_int_equal(csv_lease_location(vol, 2, &loc), 0);
    assert_string_equal(loc.resource, "vm-slot-2");
    assert_int_equal(loc.offset,
                     sb->regions[CSV_REGION_LEASES - 1].offset + 3 * sb->align);
    (void)state;
}

static void test_sector_4k(void **state)
{
    const char *path = test_volume_file("4k.img", 256);
    struct csv_format_opts o = {
        .name = "vol4k", .nslots = 2, .sector_size = 4096};
    CMN_AUTO(csv_volume) *vol = NULL;

    assert_int_equal(csv_format(path, &o, &test_hooks), 0);
    assert_int_equal(csv_open(path, 0, &test_hooks, &vol), 0);
    assert_int_equal(csv_super(vol)->sector_size, 4096);
    assert_int_equal(csv_super(vol)->align, 1 << 20);
    for (int i = 0; i < CSV_REGION_COUNT; i++)
        assert_int_equal(csv_super(vol)->regions[i].offset % (1 << 20), 0);
    assert_int_equal(csv_check(vol, NULL, NULL), 0);
    (void)state;
}

/* --lease-align: 4096-byte sectors laid out at 1 MiB (250 host ids)
 * instead of 8 MiB; the regions follow the smaller alignment; 512-byte
 * sectors take 1 MiB only, refused before the device is touched. */
static void test_lease_align(void **state)
{
    const char *path = test_volume_file("align.img", 64);
    struct csv_format_opts o = {.name = "vol-al",
                                .nslots = 8,
                                .sector_size = 4096,
                                .lease_align = 1u << 20};
    CMN_AUTO(csv_volume) *vol = NULL;
    const struct csv_super *sb;
    struct csv_lease_loc loc;
    uint32_t hosts = 0;

    assert_int_equal(csv_format(path, &o, &test_hooks), 0);
    assert_int_equal(csv_open(path, 0, &test_hooks, &vol), 0);
    sb = csv_super(vol);
    assert_int_equal(sb->sector_size, 4096);
    assert_int_equal(sb->align, 1 << 20);
    assert_int_equal(sb->max_hosts, 250);
    assert_int_equal(sb->regions[CSV_REGION_LOCKSPACE - 1].length, 1 << 20);
    /* 8 slots at 1 MiB fit where 8 MiB would need 73 MiB of leases. */
    assert_int_equal(sb->regions[CSV_REGION_LEASES - 1].length, 9 << 20);
    for (int i = 0; i < CSV_REGION_COUNT; i++)
        assert_int_equal(sb->regions[i].offset % (1 << 20), 0);
    assert_int_equal(csv_lease_location(vol, 3, &loc), 0);
    assert_int_equal(loc.align, 1 << 20);
    assert_int_equal(loc.sector_size, 4096);
    assert_int_equal(loc.offset,
                     sb->regions[CSV_REGION_LEASES - 1].offset + (4 << 20));
    assert_int_equal(csv_check(vol, NULL, NULL), 0);
    csv_close(vol);
    vol = NULL;

    /* The default at 4096 bytes is 1 MiB too (250 host ids); sanlock's
     * own 8 MiB, asked for, takes 72 MiB with 4 slots, more than the
     * 64 MiB file. */
    o.lease_align = 0;
    o.nslots = 4;
    o.force = true;
    assert_int_equal(csv_format(path, &o, &test_hooks), 0);
    assert_int_equal(csv_open(path, 0, &test_hooks, &vol), 0);
    assert_int_equal(csv_super(vol)->align, 1u << 20);
    assert_int_equal(csv_super(vol)->max_hosts, 250);
    csv_close(vol);
    vol = NULL;
    o.lease_align = 8u << 20;
    assert_int_equal(csv_format(path, &o, &test_hooks), -CSV_E_TOO_SMALL);
    o.lease_align = 2u << 20;
    assert_int_equal(csv_format(path, &o, &test_hooks), 0);
    assert_int_equal(csv_open(path, 0, &test_hooks, &vol), 0);
    assert_int_equal(csv_super(vol)->align, 2 << 20);
    assert_int_equal(csv_super(vol)->max_hosts, 500);
    csv_close(vol);
    vol = NULL;

    /* Refused, and the volume formatted before is left as it was. */
    o.sector_size = 512;
    assert_int_equal(csv_format(path, &o, &test_hooks), -CSV_E_BAD_ALIGN);
    o.lease_align = 3u << 20;
    o.sector_size = 4096;
    assert_int_equal(csv_format(path, &o, &test_hooks), -EINVAL);
    o.lease_align = 512u << 10;
    assert_int_equal(csv_format(path, &o, &test_hooks), -EINVAL);
    assert_int_equal(csv_open(path, 0, &test_hooks, &vol), 0);
    assert_int_equal(csv_super(vol)->align, 2 << 20);

    /* sanlock's table: every layout it has holds a 16-node cluster. */
    assert_int_equal(csv_lease_geometry(512, 1u << 20, &hosts), 0);
    assert_int_equal(hosts, 2000);
    for (uint32_t a = 1; a <= 8; a *= 2) {
        assert_int_equal(csv_lease_geometry(4096, a << 20, &hosts), 0);
        assert_int_equal(hosts, 250 * a);
        assert_true(hosts >= CSV_MIN_HOSTS);
    }
    assert_int_equal(csv_lease_geometry(512, 8u << 20, &hosts),
                     -CSV_E_BAD_ALIGN);
    assert_int_equal(csv_lease_geometry(4096, 16u << 20, &hosts),
                     -CSV_E_BAD_ALIGN);
    (void)state;
}

static void test_too_small_and_bad_name(void **state)
{
    const char *path = test_volume_file("small.img", 4);
    struct csv_format_opts o = {.name = "small", .nslots = 4};

    assert_int_equal(csv_format(path, &o, &test_hooks), -CSV_E_TOO_SMALL);
    o.name = "has:colon";
    assert_int_equal(csv_format(path, &o, &test_hooks), -CSV_E_BAD_NAME);
    o.name = "";
    assert_int_equal(csv_format(path, &o, &test_hooks), -CSV_E_BAD_NAME);
    o.name = "0123456789012345678901234567890123456789012345678";
    assert_int_equal(csv_format(path, &o, &test_hooks), -CSV_E_BAD_NAME);
    (void)state;
}

static void test_refuse_existing(void **state)
{
    const char *path = test_volume_file("exist.img", 64);
    struct csv_format_opts o = {.name = "v1", .nslots = 2, .uuid = uuid1};
    CMN_AUTO(csv_volume) *vol = NULL;

    assert_int_equal(csv_format(path, &o, &test_hooks), 0);
    o.name = "v2";
    o.uuid = NULL;
    assert_int_equal(csv_format(path, &o, &test_hooks), -CSV_E_EXISTS);
    /* A live host refuses even --force. */
    csv_fake_live_host = 2;
    o.force = true;
    assert_int_equal(csv_format(path, &o, &test_hooks), -CSV_E_HOSTS_LIVE);
    csv_fake_live_host = 0;
    assert_int_equal(csv_format(path, &o, &test_hooks), 0);
    assert_int_equal(csv_open(path, 0, &test_hooks, &vol), 0);
    assert_string_equal(csv_super(vol)->name, "v2");
    assert_memory_not_equal(csv_super(vol)->uuid, uuid1, 16);
    (void)state;
}

static void test_super_a_recovered_from_b(void **state)
{
    const char *path = test_volume_file("sba.img", 64);
    CMN_AUTO(csv_volume) *vol = NULL;
    struct findings f = {0};
    uint8_t junk[64];

    memset(junk, 0xa5, sizeof(junk));
    assert_int_equal(test_format(path, 2, 32), 0);
    assert_int_equal(file_patch(path, 40, junk, sizeof(junk)), 0);
    assert_int_equal(csv_open(path, CSV_OPEN_RW, &test_hooks, &vol), 0);
    assert_string_equal(csv_super(vol)->name, "testvol");
    assert_int_equal(csv_super_copy_status(vol, 0), -CSV_E_BAD_CRC);
    assert_int_equal(csv_super_copy_status(vol, 1), 0);
    assert_int_equal(csv_check(vol, collect, &f), -CSV_E_DAMAGED);
    assert_int_equal(f.damage, 1);
    assert_non_null(strstr(f.last, "superblock copy A"));
    assert_int_equal(csv_repair_super(vol), 0);
    memset(&f, 0, sizeof(f));
    assert_int_equal(csv_check(vol, collect, &f), 0);
    assert_int_equal(f.damage, 0);
    csv_close(CMN_STEAL(vol));
    assert_int_equal(csv_open(path, 0, &test_hooks, &vol), 0);
    assert_int_equal(csv_super_copy_status(vol, 0), 0);
    (void)state;
}

/* Damages both superblock copies the same way; open must name the kind. */
static void both_copies(const char *path, uint64_t off, const void *b,
                        size_t len)
{
    assert_int_equal(file_patch(path, off, b, len), 0);
    assert_int_equal(file_patch(path, CSV_SUPER_B_OFFSET + off, b, len), 0);
}

static void test_bad_magic_version_crc(void **state)
{
    const char *path = test_volume_file("bad.img", 64);
    struct csv_volume *vol = NULL;
    uint8_t v[2];

    assert_int_equal(test_format(path, 2, 32), 0);
    both_copies(path, 0, "XXXX", 4);
    assert_int_equal(csv_open(path, 0, &test_hooks, &vol), -CSV_E_BAD_MAGIC);

    assert_int_equal(test_format(path, 2, 32), 0);
    cmn_put_le16(v, 2);
    both_copies(path, 4, v, 2);
    assert_int_equal(csv_open(path, 0, &test_hooks, &vol), -CSV_E_BAD_VERSION);

    assert_int_equal(test_format(path, 2, 32), 0);
    both_copies(path, 32 + 72, "Z", 1); /* a byte of the name */
    assert_int_equal(csv_open(path, 0, &test_hooks, &vol), -CSV_E_BAD_CRC);

    /* The codes are distinct and have texts. */
    assert_string_not_equal(cmn_strerror(-CSV_E_BAD_MAGIC),
                            cmn_strerror(-CSV_E_BAD_VERSION));
    assert_non_null(strstr(cmn_strerror(-CSV_E_BAD_CRC), "checksum"));

    /* Same rules on metadata records, through the codec. */
    uint8_t *buf = csv_iobuf(8192);
    struct csv_extmap m = {.generation = 5, .next_id = 3, .count = 1};
    struct csv_extent e = {.id = 2,
                           .offset = 1 << 20,
                           .length = 1 << 20,
                           .owner = CSV_OWNER_NONE,
                           .kind = 1};
    struct csv_extmap out = {0};
    m.ext = &e;
    csv_extmap_encode(&m, 77, buf);
    assert_int_equal(csv_extmap_decode(buf, 8192, 77, 16, &out), 0);
    assert_int_equal(out.count, 1);
    assert_int_equal(out.ext[0].offset, 1 << 20);
    csv_extmap_clear(&out);
    assert_int_equal(csv_extmap_decode(buf, 8192, 78, 16, &out),
                     -CSV_E_WRONG_VOLUME);
    buf[40] ^= 1;
    assert_int_equal(csv_extmap_decode(buf, 8192, 77, 16, &out),
                     -CSV_E_BAD_CRC);
    buf[40] ^= 1;
    buf[4] = 9;
    assert_int_equal(csv_extmap_decode(buf, 8192, 77, 16, &out),
                     -CSV_E_BAD_VERSION);
    buf[0] ^= 0xff;
    assert_int_equal(csv_extmap_decode(buf, 8192, 77, 16, &out),
                     -CSV_E_BAD_MAGIC);
    free(buf);
    (void)state;
}

static void test_slots_and_lease_rule(void **state)
{
    const char *path = test_volume_file("slots.img", 96);
    CMN_AUTO(csv_volume) *vol = NULL;
    struct csv_extent e;
    struct csv_slot s;
    uint32_t idx, idx2;

    assert_int_equal(test_format(path, 3, 32), 0);
    assert_int_equal(csv_open(path, CSV_OPEN_RW, &test_hooks, &vol), 0);
    /* No change without the metadata lease. */
    assert_int_equal(csv_slot_create(vol, "web1", uuid1, "<vm/>", &idx),
                     -CSV_E_NOT_LOCKED);
    assert_int_equal(csv_extent_alloc(vol, 1 << 20, CSV_OWNER_NONE,
                                      CSV_EXTENT_DISK, 0, NULL, &e),
                     -CSV_E_NOT_LOCKED);
    assert_int_equal(csv_lock(vol, 1000), 0);
    assert_int_equal(csv_slot_create(vol, "web1", uuid1, "<vm/>", &idx), 0);
    assert_int_equal(csv_slot_create(vol, "web1", uuid1, "<vm/>", &idx2),
                     -EEXIST);
    assert_int_equal(
        csv_slot_create(vol, "db1", uuid1, "<vm name='db1'/>", &idx2), 0);
    assert_int_not_equal(idx, idx2);
    assert_int_equal(
        csv_extent_alloc(vol, 5 << 20, idx, CSV_EXTENT_DISK, 0, "disk0", &e),
        0);
    assert_int_equal(
        csv_extent_alloc(vol, 1 << 20, 2, CSV_EXTENT_DISK, 0, NULL, NULL),
        -CSV_E_NO_SLOT);
    assert_int_equal(csv_slot_delete(vol, idx), -CSV_E_SLOT_BUSY);
    assert_int_equal(csv_slot_set_xml(vol, idx, "<vm name='web1'/>"), 0);
    assert_int_equal(csv_unlock(vol), 0);
    csv_close(CMN_STEAL(vol));

    assert_int_equal(csv_open(path, CSV_OPEN_RW, &test_hooks, &vol), 0);
    assert_int_equal(csv_slot_find(vol, "web1", &idx2), 0);
    assert_int_equal(idx2, idx);
    assert_int_equal(csv_slot_get(vol, idx, &s), 0);
    assert_true(s.used);
    assert_string_equal(s.xml, "<vm name='web1'/>");
    assert_memory_equal(s.uuid, uuid1, 16);
    csv_slot_clear(&s);
    assert_int_equal(csv_check(vol, NULL, NULL), 0);
    assert_int_equal(csv_lock(vol, 1000), 0);
    assert_int_equal(csv_extent_free(vol, e.id), 0);
    assert_int_equal(csv_slot_delete(vol, idx), 0);
    assert_int_equal(csv_slot_find(vol, "web1", &idx2), -CSV_E_NO_SLOT);
    assert_int_equal(csv_unlock(vol), 0);
    assert_int_equal(csv_check(vol, NULL, NULL), 0);
    (void)state;
}

/* Read-only open refuses the lease; a second process can't take a held
 * lease. */
static void test_lease_exclusive(void **state)
{
    const char *path = test_volume_file("lease.img", 64);
    CMN_AUTO(csv_volume) *a = NULL;
    CMN_AUTO(csv_volume) *b = NULL;
    CMN_AUTO(csv_volume) *ro = NULL;

    assert_int_equal(test_format(path, 2, 32), 0);
    assert_int_equal(csv_open(path, CSV_OPEN_RW, &test_hooks, &a), 0);
    assert_int_equal(csv_open(path, CSV_OPEN_RW, &test_hooks, &b), 0);
    assert_int_equal(csv_open(path, 0, &test_hooks, &ro), 0);
    assert_int_equal(csv_lock(ro, 10), -CSV_E_READ_ONLY);
    assert_int_equal(csv_lock(a, 100), 0);
    assert_int_equal(csv_lock(b, 100), -CSV_E_LEASE_BUSY);
    assert_int_equal(csv_unlock(a), 0);
    assert_int_equal(csv_lock(b, 100), 0);
    (void)state;
}

/* Writes host `id`'s delta lease as sanlock would (owner, generation,
 * name, timestamp). */
static void put_delta(const char *path, uint64_t ls_off, uint64_t id,
                      uint64_t ts)
{
    uint8_t rec[512];

    memset(rec, 0, sizeof(rec));
    cmn_put_le32(rec + 0, CSV_SANLK_DELTA_MAGIC);
    cmn_put_le64(rec + 32, id);
    cmn_put_le64(rec + 40, 7);
    snprintf((char *)rec + 104, 48, "host%llu", (unsigned long long)id);
    cmn_put_le64(rec + 152, ts);
    assert_int_equal(file_patch(path, ls_off + (id - 1) * 512, rec, 512), 0);
}

/* Without a sanlock view, a host is live if its delta lease is renewed
 * while we watch; a held lease that stands still is stale, and does not
 * block format --force. */
static void test_hosts_by_watching(void **state)
{
    const char *path = test_volume_file("watch.img", 64);
    CMN_AUTO(csv_volume) *vol = NULL;
    struct csv_format_opts o = {.name = "watch", .nslots = 2, .force = true};
    struct csv_host *h = NULL;
    size_t n = 0;
    uint64_t ls_off;
    pid_t pid;
    int status;
    /* io_timeout 1: format watches 2 x 1 + 1 s for renewals */
    struct csv_format_opts first = {
        .name = "watch", .nslots = 2, .io_timeout = 1};

    assert_int_equal(csv_format(path, &first, &test_hooks), 0);
    assert_int_equal(csv_open(path, 0, &test_hooks, &vol), 0);
    ls_off = csv_super(vol)->regions[CSV_REGION_LOCKSPACE - 1].offset;
    put_delta(path, ls_off, 3, 1000);
    put_delta(path, ls_off, 5, 0); /* joined once, left cleanly */

    /* Host 3 renews every 100 ms in a child. */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        for (uint64_t ts = 1001; ts < 1100; ts++) {
            put_delta(path, ls_off, 3, ts);
            usleep(100000);
        }
        _exit(0);
    }
    assert_int_equal(csv_hosts(vol, 0, &h, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(h[0].host_id, 3);
    assert_int_equal(h[0].state, CSV_HOST_UNKNOWN);
    assert_string_equal(h[0].owner, "host3");
    assert_int_equal(h[1].host_id, 5);
    assert_int_equal(h[1].state, CSV_HOST_FREE);
    free(h);
    assert_int_equal(csv_hosts(vol, 2000, &h, &n), 0);
    assert_int_equal(h[0].state, CSV_HOST_LIVE);
    free(h);
    assert_int_equal(csv_format(path, &o, &test_hooks), -CSV_E_HOSTS_LIVE);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);

    /* Dead host: its lease stays held but stands still. */
    assert_int_equal(csv_hosts(vol, 600, &h, &n), 0);
    assert_int_equal(h[0].state, CSV_HOST_STALE);
    free(h);
    csv_close(CMN_STEAL(vol));
    assert_int_equal(csv_format(path, &o, &test_hooks), 0);
    (void)state;
}

/* The real sanlock on-disk records (direct I/O, no daemon needed). */
static void test_real_sanlock_format(void **state)
{
    const char *path = test_volume_file("sanlock.img", 96);
    struct csv_format_opts o = {.name = "vol-sl", .nslots = 3, .io_timeout = 1};
    CMN_AUTO(csv_volume) *vol = NULL;
    struct findings f = {0};
    int rc;

    rc = csv_format(path, &o, NULL);
    if (rc == -CSV_E_LEASE || rc == -ENOSYS || rc == -EPERM) {
        skip();
        return;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(csv_open(path, 0, NULL, &vol), 0);
    assert_int_equal(csv_check(vol, collect, &f), 0);
    assert_int_equal(f.damage, 0);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_sector_4k),
        cmocka_unit_test(test_lease_align),
        cmocka_unit_test(test_too_small_and_bad_name),
        cmocka_unit_test(test_refuse_existing),
        cmocka_unit_test(test_super_a_recovered_from_b),
        cmocka_unit_test(test_bad_magic_version_crc),
        cmocka_unit_test(test_slots_and_lease_rule),
        cmocka_unit_test(test_lease_exclusive),
        cmocka_unit_test(test_hosts_by_watching),
        cmocka_unit_test(test_real_sanlock_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
