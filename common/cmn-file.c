/* Whole-file writes that a crash cannot leave half done. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cmn-auto.h"
#include "common/cmn-file.h"

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (w == 0)
            return -EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int cmn_file_sync_dir(const char *path)
{
    cmn_autofree char *copy = strdup(path);
    int fd cmn_autoclose = -1;

    if (!copy)
        return -ENOMEM;
    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    return fsync(fd) < 0 ? -errno : 0;
}

int cmn_file_write_atomic(const char *path, const void *buf, size_t len,
                          mode_t mode, unsigned flags)
{
    cmn_autofree char *tmp = NULL;
    int fd, rc;

    if (asprintf(&tmp, "%s.tmp", path) < 0) {
        tmp = NULL;
        return -ENOMEM;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -errno;
    rc = write_all(fd, buf, len);
    if (rc == 0 && (flags & CMN_FILE_SYNC) && fsync(fd) < 0)
        rc = -errno;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0) {
        unlink(tmp);
        return rc;
    }
    return (flags & CMN_FILE_SYNC_DIR) ? cmn_file_sync_dir(path) : 0;
}
