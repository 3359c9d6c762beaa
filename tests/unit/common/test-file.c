/* cmn_file_write_atomic: the file is replaced whole, with its mode, and a
 * failed write leaves the old file and no temporary behind. */
#include "config.h"

#include <errno.h>
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

#include "common/cmn-file.h"

struct dir {
    char path[64];
    char file[96];
    char tmp[112];
};

static int setup(void **state)
{
    struct dir *d = calloc(1, sizeof(*d));

    if (!d)
        return -1;
    strcpy(d->path, "/tmp/kvmc-file-XXXXXX");
    if (!mkdtemp(d->path)) {
        free(d);
        return -1;
    }
    snprintf(d->file, sizeof(d->file), "%s/f", d->path);
    snprintf(d->tmp, sizeof(d->tmp), "%s/f.tmp", d->path);
    *state = d;
    return 0;
}

static int teardown(void **state)
{
    struct dir *d = *state;

    unlink(d->tmp);
    unlink(d->file);
    rmdir(d->path);
    free(d);
    return 0;
}

static void read_back(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    size_t n;

    assert_non_null(f);
    n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static void test_replaces_whole(void **state)
{
    struct dir *d = *state;
    char buf[64];
    struct stat st;

    umask(022);
    assert_int_equal(cmn_file_write_atomic(d->file, "first version", 13, 0600,
                                           CMN_FILE_SYNC | CMN_FILE_SYNC_DIR),
                     0);
    read_back(d->file, buf, sizeof(buf));
    assert_string_equal(buf, "first version");
    assert_int_equal(stat(d->file, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(cmn_file_write_atomic(d->file, "2nd", 3, 0644, 0), 0);
    read_back(d->file, buf, sizeof(buf));
    assert_string_equal(buf, "2nd");
    assert_int_equal(access(d->tmp, F_OK), -1);
    assert_int_equal(cmn_file_write_atomic(d->file, "", 0, 0644, 0), 0);
    assert_int_equal(stat(d->file, &st), 0);
    assert_int_equal(st.st_size, 0);
}

/* A path whose temporary cannot be created fails with errno, and one
 * whose rename fails (the target is a non-empty directory) keeps that
 * directory and leaves no temporary. */
static void test_failure_leaves_nothing(void **state)
{
    struct dir *d = *state;
    char missing[160], inner[160];

    snprintf(missing, sizeof(missing), "%s/no/such/file", d->path);
    assert_int_equal(cmn_file_write_atomic(missing, "x", 1, 0600, 0), -ENOENT);
    assert_int_equal(mkdir(d->file, 0700), 0);
    snprintf(inner, sizeof(inner), "%s/keep", d->file);
    assert_int_equal(cmn_file_write_atomic(inner, "k", 1, 0600, 0), 0);
    assert_true(cmn_file_write_atomic(d->file, "x", 1, 0600, 0) < 0);
    assert_int_equal(access(d->tmp, F_OK), -1);
    assert_int_equal(access(inner, F_OK), 0);
    unlink(inner);
    rmdir(d->file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_replaces_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_leaves_nothing, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
