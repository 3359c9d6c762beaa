/* csv extent allocator: sequences against a model, randomized overlap
 * checks (seeded; CSV_TEST_SEED overrides), coalescing, limits, and two
 * processes allocating under the metadata lease. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "tests/unit/csv/csv-test-util.h"

#define MIB (1ull << 20)

/* The same file I/O without fdatasync, and without the data copies of
 * grow-by-move (test_grow_move_keeps_data covers those): thousands of
 * commits would otherwise measure the disk, not the allocator. Durability
 * is the torn-write test's business. */
static uint64_t fast_data_start = UINT64_MAX;

static int noflush(void *h)
{
    (void)h;
    return 0;
}

static int skip_data_pread(void *h, void *buf, size_t len, uint64_t off)
{
    if (off >= fast_data_start) {
        memset(buf, 0, len);
        return 0;
    }
    return csv_file_io.pread(h, buf, len, off);
}

static int skip_data_pwrite(void *h, const void *buf, size_t len, uint64_t off)
{
    if (off >= fast_data_start)
        return 0;
    return csv_file_io.pwrite(h, buf, len, off);
}

static struct csv_io_ops fast_io;
static struct csv_hooks fast_hooks;

static void init_fast_hooks(void)
{
    fast_io = csv_file_io;
    fast_io.flush = noflush;
    fast_io.pread = skip_data_pread;
    fast_io.pwrite = skip_data_pwrite;
    fast_hooks.io = &fast_io;
    fast_hooks.lease = &csv_fake_lease;
}

/* The model: allocated extents by id, and an independent first fit. */
struct model_ext {
    uint64_t id, off, len;
};
struct model {
    struct model_ext *e;
    size_t n;
    uint64_t start, end;
};

static int model_cmp(const void *a, const void *b)
{
    const struct model_ext *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

static bool model_fit(struct model *m, uint64_t len, uint64_t *ret)
{
    uint64_t pos = m->start;

    qsort(m->e, m->n, sizeof(*m->e), model_cmp);
    for (size_t i = 0; i < m->n; i++) {
        if (m->e[i].off - pos >= len)
            break;
        pos = m->e[i].off + m->e[i].len;
    }
    if (m->end - pos < len)
        return false;
    *ret = pos;
    return true;
}

/* The volume's map equals the model and has no overlap. */
static void compare(struct csv_volume *vol, struct model *m)
{
    struct csv_extent *v = NULL;
    size_t n = 0;

    assert_int_equal(csv_extent_list(vol, &v, &n), 0);
    assert_int_equal(n, m->n);
    qsort(m->e, m->n, sizeof(*m->e), model_cmp);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(v[i].id, m->e[i].id);
        assert_int_equal(v[i].offset, m->e[i].off);
        assert_int_equal(v[i].length, m->e[i].len);
        assert_true(v[i].offset >= m->start);
        assert_true(v[i].offset + v[i].length <= m->end);
        if (i)
            assert_true(v[i - 1].offset + v[i - 1].length <= v[i].offset);
    }
    free(v);
}

static unsigned test_seed(void)
{
    const char *s = getenv("CSV_TEST_SEED");
    return s ? (unsigned)strtoul(s, NULL, 0) : 20261121u;
}

static void run_random(unsigned seed, int ops, bool reopen_often)
{
    const char *path = test_volume_file("rand.img", 512);
    struct csv_volume *vol = NULL;
    struct model m = {0};
    struct csv_space sp;
    int allocs = 0, frees = 0, grows = 0, nospace = 0;

    init_fast_hooks();
    assert_int_equal(test_format(path, 2, 1024), 0);
    assert_int_equal(csv_open(path, CSV_OPEN_RW, &fast_hooks, &vol), 0);
    assert_int_equal(csv_lock(vol, 1000), 0);
    assert_int_equal(csv_space(vol, &sp), 0);
    fast_data_start = sp.data_offset;
    m.start = sp.data_offset;
    m.end = sp.data_offset + sp.data_length;
    m.e = calloc(1024, sizeof(*m.e));
    srand(seed);

    for (int op = 0; op < ops; op++) {
        int what = rand() % 10;
        if (what < 5 || m.n == 0) {
            uint64_t len = (uint64_t)(1 + rand() % 24) * MIB, off;
            /* sizes not a multiple of the unit round up */
            uint64_t ask = len - (rand() % 2 ? (uint64_t)(rand() % 4096) : 0);
            struct csv_extent e;
            bool fits = model_fit(&m, len, &off);
            int rc = csv_extent_alloc(vol, ask, CSV_OWNER_NONE, CSV_EXTENT_DISK,
                                      0, "r", &e);
            if (!fits) {
                assert_int_equal(rc, -CSV_E_NO_SPACE);
                nospace++;
            } else {
                assert_int_equal(rc, 0);
                assert_int_equal(e.offset, off);
                assert_int_equal(e.length, len);
                m.e[m.n++] = (struct model_ext){e.id, e.offset, e.length};
                allocs++;
            }
        } else if (what < 8) {
            size_t i = (size_t)rand() % m.n;
            assert_int_equal(csv_extent_free(vol, m.e[i].id), 0);
            m.e[i] = m.e[--m.n];
            frees++;
        } else {
            size_t i = (size_t)rand() % m.n;
            uint64_t nlen = m.e[i].len + (uint64_t)(1 + rand() % 8) * MIB;
            struct csv_extent e;
            struct model_ext me = m.e[i];
            uint64_t limit = m.end;
            for (size_t j = 0; j < m.n; j++)
                if (m.e[j].off > me.off && m.e[j].off < limit)
                    limit = m.e[j].off;
            int rc = csv_extent_grow(vol, me.id, nlen, CSV_GROW_MOVE, &e);
            uint64_t off;
            if (limit - me.off >= nlen) {
                assert_int_equal(rc, 0);
                assert_int_equal(e.offset, me.off);
            } else if (model_fit(&m, nlen, &off)) {
                assert_int_equal(rc, 0);
                assert_int_equal(e.offset, off);
            } else {
                assert_int_equal(rc, -CSV_E_NO_SPACE);
                continue;
            }
            for (size_t j = 0; j < m.n; j++)
                if (m.e[j].id == me.id)
                    m.e[j].off = e.offset, m.e[j].len = nlen;
            grows++;
        }
        compare(vol, &m);
        if (reopen_often && op % 97 == 0) {
            /* What is on disk is what we have in memory. */
            csv_close(vol);
            vol = NULL;
            assert_int_equal(csv_open(path, CSV_OPEN_RW, &fast_hooks, &vol), 0);
            compare(vol, &m);
            assert_int_equal(csv_lock(vol, 1000), 0);
        }
    }
    assert_int_equal(csv_check(vol, NULL, NULL), 0);
    print_message("seed %u: %d ops, %d allocs, %d frees, %d grows, %d "
                  "no-space, %zu live extents\n",
                  seed, ops, allocs, frees, grows, nospace, m.n);
    csv_close(vol);
    free(m.e);
    fast_data_start = UINT64_MAX;
}

static void test_random_model(void **state)
{
    run_random(test_seed(), 4000, true);
    (void)state;
}

static void test_random_more_seeds(void **state)
{
    for (unsigned s = 1; s <= 4; s++)
        run_random(test_seed() + s, 1000, false);
    (void)state;
}

static void test_coalesce(void **state)
{
    const char *path = test_volume_file("coal.img", 128);
    CMN_AUTO(csv_volume) *vol = NULL;
    struct csv_extent a, b, c, d;
    struct csv_space sp;

    init_fast_hooks();
    assert_int_equal(test_format(path, 2, 64), 0);
    assert_int_equal(csv_open(path, CSV_OPEN_RW, &fast_hooks, &vol), 0);
    assert_int_equal(csv_lock(vol, 1000), 0);
    assert_int_equal(csv_extent_alloc(vol, 2 * MIB, CSV_OWNER_NONE,
                                      CSV_EXTENT_DISK, 0, "a", &a),
                     0);
    assert_int_equal(csv_extent_alloc(vol, 3 * MIB, CSV_OWNER_NONE,
                                      CSV_EXTENT_DISK, 0, "b", &b),
                     0);
    assert_int_equal(csv_extent_alloc(vol, 1 * MIB, CSV_OWNER_NONE,
                                      CSV_EXTENT_STATE, 0, "c", &c),
                     0);
    assert_int_equal(b.offset, a.offset + 2 * MIB);
    assert_int_equal(c.offset, b.offset + 3 * MIB);
    assert_int_equal(csv_extent_free(vol, b.id), 0);
    assert_int_equal(csv_extent_free(vol, a.id), 0);
    /* a and b's ranges merged: 5 MiB fits at a's offset. */
    assert_int_equal(csv_extent_alloc(vol, 5 * MIB, CSV_OWNER_NONE,
                                      CSV_EXTENT_DISK, 0, "d", &d),
                     0);
    assert_int_equal(d.offset, a.offset);
    /* grow in place impossible (c follows), without MOVE: refused */
    assert_int_equal(csv_extent_grow(vol, d.id, 6 * MIB, 0, NULL),
                     -CSV_E_CANT_GROW);
    assert_int_equal(csv_extent_free(vol, c.id), 0);
    assert_int_equal(csv_extent_grow(vol, d.id, 6 * MIB, 0, &d), 0);
    assert_int_equal(d.offset, a.offset);
    assert_int_equal(csv_extent_free(vol, d.id), 0);
    assert_int_equal(csv_space(vol, &sp), 0);
    assert_int_equal(sp.free, sp.data_length);
    assert_int_equal(sp.largest_free, sp.data_length);
    assert_int_equal(csv_extent_free(vol, d.id), -CSV_E_NO_EXTENT);
    (void)state;
}

static void test_grow_move_keeps_data(void **state)
{
    const char *path = test_volume_file("move.img", 128);
    CMN_AUTO(csv_volume) *vol = NULL;
    struct csv_extent a, b, a2;
    char pattern[4096], back[4096];
    int fd;

    assert_int_equal(test_format(path, 2, 64), 0);
    assert_int_equal(csv_open(path, CSV_OPEN_RW, &test_hooks, &vol), 0);
    assert_int_equal(csv_lock(vol, 1000), 0);
    assert_int_equal(
        csv_extent_alloc(vol, MIB, CSV_OWNER_NONE, CSV_EXTENT_DISK, 0, "a", &a),
        0);
    assert_int_equal(
        csv_extent_alloc(vol, MIB, CSV_OWNER_NONE, CSV_EXTENT_DISK, 0, "b", &b),
        0);
    for (size_t i = 0; i < sizeof(pattern); i++)
        pattern[i] = (char)(i * 7 + 3);
    assert_int_equal(
        file_patch(path, a.offset + MIB - 4096, pattern, sizeof(pattern)), 0);
    assert_int_equal(csv_extent_grow(vol, a.id, 3 * MIB, CSV_GROW_MOVE, &a2),
                     0);
    assert_int_equal(a2.offset, b.offset + MIB);
    assert_int_equal(a2.length, 3 * MIB);
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(
        pread(fd, back, sizeof(back), (off_t)(a2.offset + MIB - 4096)),
        sizeof(back));
    close(fd);
    assert_memory_equal(back, pattern, sizeof(back));
    assert_int_equal(csv_check(vol, NULL, NULL), 0);
    (void)state;
}

static void test_limits(void **state)
{
    const char *path = test_volume_file("lim.img", 64);
    CMN_AUTO(csv_volume) *vol = NULL;
    struct csv_space sp;
    struct csv_extent e;
    int n = 0, rc;

    init_fast_hooks();
    assert_int_equal(test_format(path, 2, 16), 0);
    assert_int_equal(csv_open(path, CSV_OPEN_RW, &fast_hooks, &vol), 0);
    assert_int_equal(csv_lock(vol, 1000), 0);
    assert_int_equal(csv_space(vol, &sp), 0);
    assert_int_equal(csv_extent_alloc(vol, sp.data_length + MIB, CSV_OWNER_NONE,
                                      CSV_EXTENT_DISK, 0, NULL, NULL),
                     -CSV_E_NO_SPACE);
    assert_int_equal(csv_extent_alloc(vol, 0, CSV_OWNER_NONE, CSV_EXTENT_DISK,
                                      0, NULL, NULL),
                     -EINVAL);
    while ((rc = csv_extent_alloc(vol, MIB, CSV_OWNER_NONE, CSV_EXTENT_DISK, 0,
                                  NULL, &e)) == 0)
        n++;
    assert_int_equal(rc, -CSV_E_MAP_FULL);
    assert_int_equal(n, 16);
    (void)state;
}

/* Two processes, each with its own open volume, allocate under the
 * metadata lease at the same time: nothing lost, nothing overlapping. */
static void test_two_processes(void **state)
{
    const char *path = test_volume_file("two.img", 1024);
    CMN_AUTO(csv_volume) *vol = NULL;
    struct csv_extent *v = NULL;
    size_t n = 0;
    const int per = 150;
    pid_t pids[2];
    int seen[2] = {0, 0};

    assert_int_equal(test_format(path, 2, 512), 0);
    for (int p = 0; p < 2; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            struct csv_volume *cv = NULL;
            if (csv_open(path, CSV_OPEN_RW, &test_hooks, &cv) < 0)
                _exit(2);
            for (int i = 0; i < per; i++) {
                char tag[32];
                snprintf(tag, sizeof(tag), "p%d-%d", p, i);
                if (csv_lock(cv, 30000) < 0 ||
                    csv_extent_alloc(cv, MIB * (1 + (unsigned)i % 2),
                                     CSV_OWNER_NONE, CSV_EXTENT_OTHER, 0, tag,
                                     NULL) < 0 ||
                    csv_unlock(cv) < 0)
                    _exit(3);
            }
            csv_close(cv);
            _exit(0);
        }
    }
    for (int p = 0; p < 2; p++) {
        int status;
        assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_int_equal(csv_open(path, 0, &test_hooks, &vol), 0);
    assert_int_equal(csv_check(vol, NULL, NULL), 0);
    assert_int_equal(csv_extent_list(vol, &v, &n), 0);
    assert_int_equal(n, 2 * per);
    for (size_t i = 0; i < n; i++) {
        int p, k;
        assert_int_equal(sscanf(v[i].tag, "p%d-%d", &p, &k), 2);
        seen[p]++;
        if (i)
            assert_true(v[i - 1].offset + v[i - 1].length <= v[i].offset);
    }
    assert_int_equal(seen[0], per);
    assert_int_equal(seen[1], per);
    free(v);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_coalesce),
        cmocka_unit_test(test_grow_move_keeps_data),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_random_model),
        cmocka_unit_test(test_random_more_seeds),
        cmocka_unit_test(test_two_processes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
