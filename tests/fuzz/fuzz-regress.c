/* Replays a harness's checked-in inputs as a cmocka test: the seed corpus
 * (tests/fuzz/corpus/<name>/) and the inputs that once made it crash
 * (tests/data/fuzz-regress/<name>/, one file per fixed bug). Linked with
 * one fuzz-<name>.c; FUZZ_NAME names it. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/fuzz/fuzz.h"

/* Optional in a harness, as for libFuzzer. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int read_all(const char *path, uint8_t **ret, size_t *ret_len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0, n;

    if (!f)
        return -errno;
    do {
        if (cap - len < 65536) {
            uint8_t *nb = realloc(buf, cap + 65536);
            if (!nb) {
                free(buf);
                fclose(f);
                return -ENOMEM;
            }
            buf = nb;
            cap += 65536;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    fclose(f);
    *ret = buf;
    *ret_len = len;
    return 0;
}

/* Runs every file of `dir` through the harness; returns how many. A
 * missing directory has none. */
static size_t replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;

    if (!d)
        return 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = realloc(names, cap * sizeof(*names));
            assert_non_null(names);
        }
        names[n] = strdup(e->d_name);
        assert_non_null(names[n]);
        n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        uint8_t *buf = NULL;
        size_t len = 0;

        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        assert_int_equal(read_all(path, &buf, &len), 0);
        /* A crash here names the file in the test log. */
        fprintf(stderr, "# %s\n", path);
        LLVMFuzzerTestOneInput(buf, len);
        free(buf);
        free(names[i]);
    }
    free(names);
    return n;
}

static const char *srcdir(void)
{
    const char *s = getenv("KVMC_SRCDIR");

    return s && *s ? s : FUZZ_SRCDIR;
}

static void test_seeds(void **state)
{
    char dir[4096];

    (void)state;
    snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s", srcdir(), FUZZ_NAME);
    /* Every harness ships seeds: an empty corpus is a packaging mistake. */
    assert_true(replay_dir(dir) > 0);
}

static void test_regressions(void **state)
{
    char dir[4096];

    (void)state;
    snprintf(dir, sizeof(dir), "%s/tests/data/fuzz-regress/%s", srcdir(),
             FUZZ_NAME);
    replay_dir(dir);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seeds),
        cmocka_unit_test(test_regressions),
    };

    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    return cmocka_run_group_tests_name("fuzz-" FUZZ_NAME, tests, NULL, NULL);
}
