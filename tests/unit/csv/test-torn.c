/* csv crash consistency: every metadata update is replayed in a child
 * process that is cut after its n-th write (or dies in the middle of it,
 * leaving the head or the tail of the write on disk), for every n. After
 * each cut, check must pass and the volume must hold exactly the state
 * before or after the update (after only if the commit write landed), and
 * a further update must still commit. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "tests/unit/csv/csv-test-util.h"

#define MIB    (1ull << 20)
#define CUT_RC 42

enum fault_mode {
    FAULT_NONE,
    FAULT_CUT_AFTER,
    FAULT_TEAR_HEAD,
    FAULT_TEAR_TAIL
};
static const char *const mode_names[] = {"none", "cut-after", "tear-head",
                                         "tear-tail"};

static enum fault_mode fault_mode;
static int fault_n;     /* the write the fault applies to (1-based) */
static int writes_done; /* writes issued so far */

static int fault_pwrite(void *h, const void *buf, size_t len, uint64_t off)
{
    int rc;

    if (fault_mode == FAULT_TEAR_HEAD && writes_done + 1 == fault_n) {
        /* Power fails half way: only the first half reached the disk. */
        size_t half = len / 2 / 512 * 512;
        if (half)
            csv_file_io.pwrite(h, buf, half, off);
        _exit(CUT_RC);
    }
    if (fault_mode == FAULT_TEAR_TAIL && writes_done + 1 == fault_n) {
        /* Sectors can land out of order: only the second half made it. */
        size_t half = len / 2 / 512 * 512;
        if (half)
            csv_file_io.pwrite(h, (const char *)buf + half, len - half,
                               off + half);
        _exit(CUT_RC);
    }
    rc = csv_file_io.pwrite(h, buf, len, off);
    writes_done++;
    if (fault_mode == FAULT_CUT_AFTER && writes_done == fault_n)
        _exit(CUT_RC);
    return rc;
}

static struct csv_io_ops fault_io;
static struct csv_hooks fault_hooks;

/* A canonical text of everything the metadata says. */
static char *describe(struct csv_volume *vol)
{
    struct csv_extent *v = NULL;
    size_t n = 0, cap = 1 << 16, used = 0;
    char *s = malloc(cap);

    assert_non_null(s);
    s[0] = '\0';
    assert_int_equal(csv_extent_list(vol, &v, &n), 0);
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(
            s + used, cap - used, "E%llu@%llu+%llu o%u k%u i%u '%s'\n",
            (unsigned long long)v[i].id, (unsigned long long)v[i].offset,
            (unsigned long long)v[i].length, v[i].owner, v[i].kind, v[i].index,
            v[i].tag);
    free(v);
    for (uint32_t i = 0; i < csv_super(vol)->nslots; i++) {
        struct csv_slot sl;
        assert_int_equal(csv_slot_get(vol, i, &sl), 0);
        if (sl.used)
            used += (size_t)snprintf(s + used, cap - used,
                                     "S%u '%s' xml %zu:%.40s\n", i, sl.name,
                                     sl.xml_len, sl.xml);
        csv_slot_clear(&sl);
    }
    return s;
}

static char long_xml[9000];
static const uint8_t vm_uuid[16] = {1,    2,  3,  4,  5,  6,  0x47, 8,
                                    0x89, 10, 11, 12, 13, 14, 15,   16};

/* The updates, applied in sequence. Extent ids are deterministic: 1, 2, 3. */
static int apply_op(struct csv_volume *vol, int op)
{
    uint32_t idx;

    switch (op) {
    case 0:
        return csv_slot_create(vol, "vm-a", vm_uuid, "<vm name='vm-a'/>", &idx);
    case 1:
        return csv_extent_alloc(vol, 4 * MIB, 0, CSV_EXTENT_DISK, 0, "disk0",
                                NULL);
    case 2:
        return csv_extent_alloc(vol, 2 * MIB, CSV_OWNER_NONE, CSV_EXTENT_STATE,
                                0, "state", NULL);
    case 3:
        /* a record that spans several blocks */
        return csv_slot_set_xml(vol, 0, long_xml);
    case 4:
        /* extent 2 follows extent 1: grow by moving (4 data writes) */
        return csv_extent_grow(vol, 1, 8 * MIB, CSV_GROW_MOVE, NULL);
    case 5:
        return csv_extent_free(vol, 2);
    case 6:
        return csv_extent_alloc(vol, 3 * MIB, 0, CSV_EXTENT_STATE, 1, "st0",
                                NULL);
    case 7:
        return csv_extent_grow(vol, 3, 5 * MIB, 0, NULL); /* in place */
    case 8:
        return csv_extent_free(vol, 1);
    case 9:
        return csv_extent_free(vol, 3);
    case 10:
        return csv_slot_delete(vol, 0);
    default:
        return -EINVAL;
    }
}
#define NOPS 11

static uint8_t *save_prefix(const char *path, size_t len)
{
    uint8_t *b = malloc(len);
    int fd = open(path, O_RDONLY);

    assert_non_null(b);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, b, len, 0), (ssize_t)len);
    close(fd);
    return b;
}

static void restore_prefix(const char *path, const uint8_t *b, size_t len)
{
    assert_int_equal(file_patch(path, 0, b, len), 0);
}

/* Runs `op` in a child with the fault armed; returns the child's exit code. */
static int run_child(const char *path, int op, enum fault_mode mode, int n)
{
    pid_t pid = fork();
    int status;

    assert_true(pid >= 0);
    if (pid == 0) {
        struct csv_volume *vol = NULL;
        fault_mode = FAULT_NONE;
        if (csv_open(path, CSV_OPEN_RW, &fault_hooks, &vol) < 0 ||
            csv_lock(vol, 5000) < 0)
            _exit(2);
        /* Count only the update's writes. */
        writes_done = 0;
        fault_mode = mode;
        fault_n = n;
        if (apply_op(vol, op) < 0)
            _exit(3);
        fault_mode = FAULT_NONE;
        csv_close(vol);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

struct counts {
    int runs, before, after;
};

static void verify_after_cut(const char *path, const char *before,
                             const char *after, bool want_after, bool either,
                             struct counts *c, int op, enum fault_mode mode,
                             int n)
{
    CMN_AUTO(csv_volume) *vol = NULL;
    char *now;

    assert_int_equal(csv_open(path, CSV_OPEN_RW, &test_hooks, &vol), 0);
    assert_int_equal(csv_check(vol, NULL, NULL), 0);
    now = describe(vol);
    if (!strcmp(now, before))
        c->before++;
    else if (!strcmp(now, after))
        c->after++;
    if (either) {
        if (strcmp(now, before) && strcmp(now, after))
            fail_msg("op %d %s@%d: state is neither before nor after:\n%s", op,
                     mode_names[mode], n, now);
    } else if (strcmp(now, want_after ? after : before)) {
        fail_msg("op %d %s@%d: expected the %s state, found:\n%s", op,
                 mode_names[mode], n, want_after ? "new" : "old", now);
    }
    free(now);
    /* The survivor accepts the next update, which must not overwrite the
     * good copy with the torn one's neighbour. */
    assert_int_equal(csv_lock(vol, 1000), 0);
    assert_int_equal(csv_extent_alloc(vol, MIB, CSV_OWNER_NONE,
                                      CSV_EXTENT_OTHER, 0, "probe", NULL),
                     0);
    assert_int_equal(csv_unlock(vol), 0);
    csv_close(CMN_STEAL(vol));
    assert_int_equal(csv_open(path, 0, &test_hooks, &vol), 0);
    assert_int_equal(csv_check(vol, NULL, NULL), 0);
    c->runs++;
}

static void test_torn_writes(void **state)
{
    const char *path = test_volume_file("torn.img", 96);
    struct counts c = {0};
    size_t prefix;
    int total_writes = 0;

    for (size_t i = 0; i < sizeof(long_xml) - 1; i++)
        long_xml[i] = (char)('a' + i % 26);
    long_xml[sizeof(long_xml) - 1] = '\0';
    memcpy(long_xml, "<vm>", 4);

    fault_io = csv_file_io;
    fault_io.pwrite = fault_pwrite;
    fault_hooks.io = &fault_io;
    fault_hooks.lease = &csv_fake_lease;

    assert_int_equal(test_format(path, 2, 64), 0);
    {
        CMN_AUTO(csv_volume) *vol = NULL;
        assert_int_equal(csv_open(path, 0, &test_hooks, &vol), 0);
        prefix = csv_super(vol)->regions[CSV_REGION_DATA - 1].offset;
    }

    for (int op = 0; op < NOPS; op++) {
        uint8_t *pre = save_prefix(path, prefix), *post;
        char *before, *after;
        int w;

        /* Reference run: the state after, and how many writes it takes. */
        {
            CMN_AUTO(csv_volume) *vol = NULL;
            assert_int_equal(csv_open(path, CSV_OPEN_RW, &fault_hooks, &vol),
                             0);
            before = describe(vol);
            assert_int_equal(csv_lock(vol, 1000), 0);
            fault_mode = FAULT_NONE;
            writes_done = 0;
            assert_int_equal(apply_op(vol, op), 0);
            w = writes_done;
            csv_close(CMN_STEAL(vol));
            assert_int_equal(csv_open(path, 0, &test_hooks, &vol), 0);
            after = describe(vol);
            assert_string_not_equal(before, after);
        }
        post = save_prefix(path, prefix);
        total_writes += w;

        for (int n = 1; n <= w + 1; n++) {
            restore_prefix(path, pre, prefix);
            int rc = run_child(path, op, FAULT_CUT_AFTER, n);
            assert_int_equal(rc, n <= w ? CUT_RC : 0);
            /* The commit is the update's last write. */
            verify_after_cut(path, before, after, n >= w, false, &c, op,
                             FAULT_CUT_AFTER, n);
        }
        for (enum fault_mode m = FAULT_TEAR_HEAD; m <= FAULT_TEAR_TAIL; m++)
            for (int n = 1; n <= w; n++) {
                restore_prefix(path, pre, prefix);
                assert_int_equal(run_child(path, op, m, n), CUT_RC);
                /* A torn commit may or may not have carried the whole
                 * record; a torn data copy never changes the state. */
                verify_after_cut(path, before, after, false, n == w, &c, op, m,
                                 n);
            }

        restore_prefix(path, post, prefix);
        free(pre);
        free(post);
        free(before);
        free(after);
    }
    print_message("%d updates, %d writes, %d cut runs: %d kept the old "
                  "state, %d the new, all checked clean\n",
                  NOPS, total_writes, c.runs, c.before, c.after);
    assert_true(c.before > 0 && c.after > 0);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_torn_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
