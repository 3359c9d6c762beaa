/* Helpers shared by the csv unit tests: file-backed volumes in a private
 * temporary directory, and the fake (fcntl) lease layer. */
#ifndef KVMC_CSV_TEST_UTIL_H
#define KVMC_CSV_TEST_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csv/csv-int.h"

static const struct csv_hooks test_hooks = {
    .io = NULL,
    .lease = &csv_fake_lease,
};

static char test_dir[256];

static inline void test_dir_cleanup(void)
{
    char cmd[300];

    if (test_dir[0]) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", test_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cleanup of %s failed\n", test_dir);
    }
}

/* A sparse file of `mib` MiB; returns its path (static per call site). */
static inline const char *test_volume_file(const char *name, unsigned mib)
{
    static char path[512];
    const char *tmp = getenv("TMPDIR");
    int fd;

    if (!test_dir[0]) {
        /* ext4 under /var/tmp supports O_DIRECT; tmpfs does not (the io
         * layer falls back, but test what production does). */
        snprintf(test_dir, sizeof(test_dir), "%s/csv-test-XXXXXX",
                 tmp ? tmp : "/var/tmp");
        if (!mkdtemp(test_dir)) {
            perror("mkdtemp");
            exit(1);
        }
        atexit(test_dir_cleanup);
    }
    snprintf(path, sizeof(path), "%s/%s", test_dir, name);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, (off_t)mib << 20) < 0) {
        perror(path);
        exit(1);
    }
    close(fd);
    return path;
}

static inline int test_format(const char *path, uint32_t nslots,
                              uint32_t max_extents)
{
    struct csv_format_opts o = {
        .name = "testvol",
        .cluster = "testcluster",
        .io_timeout = 2,
        .nslots = nslots,
        .max_extents = max_extents,
    };
    return csv_format(path, &o, &test_hooks);
}

static inline int file_patch(const char *path, uint64_t off, const void *b,
                             size_t len)
{
    int fd = open(path, O_RDWR);
    ssize_t n;

    if (fd < 0)
        return -errno;
    n = pwrite(fd, b, len, (off_t)off);
    close(fd);
    return n == (ssize_t)len ? 0 : -EIO;
}

#endif
