/* A local VM's disk files: made where missing (sparse), grown where
 * smaller, never shrunk; and what was made, so that a move that fails
 * deletes exactly the files it created and nothing that was there. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clusterd/cd-int.h"
#include "clusterd/cd-local.h"

static int disk_file(const char *dir, const char *target, char *buf, size_t len)
{
    return (size_t)snprintf(buf, len, "%s/%s.img", dir, target) >= len
               ? -ENAMETOOLONG
               : 0;
}

int cd_local_files_make(const char *dir, const char *vm,
                        const char (*targets)[RES_TARGET_MAX],
                        const uint64_t *sizes, size_t n,
                        struct cd_local_made *ret_made, char *err,
                        size_t errlen)
{
    struct cd_local_made made = {.dir = false, .files = 0};
    char file[4096];
    int rc = 0;

    if (n > CD_LOCAL_FILES_MAX)
        return -E2BIG;
    if (mkdir(dir, 0750) == 0) {
        made.dir = true;
    } else if (errno != EEXIST) {
        rc = -errno;
        cd_errf(err, errlen, "VM '%s': cannot create '%s': %s", vm, dir,
                strerror(-rc));
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        int fd;

        rc = disk_file(dir, targets[i], file, sizeof(file));
        if (rc < 0) {
            cd_errf(err, errlen, "VM '%s': path of disk %s is too long", vm,
                    targets[i]);
            break;
        }
        /* O_EXCL tells a file made here from one that was there. */
        fd = open(file, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                  0600);
        if (fd >= 0)
            made.files |= 1u << i;
        else if (errno == EEXIST)
            fd = open(file, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 || fstat(fd, &st) < 0 ||
            ((uint64_t)st.st_size < sizes[i] &&
             ftruncate(fd, (off_t)sizes[i]) < 0)) {
            rc = -errno;
            cd_errf(err, errlen, "VM '%s': disk %s file '%s': %s", vm,
                    targets[i], file, strerror(-rc));
            if (fd >= 0)
                close(fd);
            break;
        }
        close(fd);
    }
    if (rc < 0) {
        cd_local_files_undo(dir, targets, n, &made);
        return rc;
    }
    *ret_made = made;
    return 0;
}

void cd_local_files_undo(const char *dir, const char (*targets)[RES_TARGET_MAX],
                         size_t n, const struct cd_local_made *made)
{
    char file[4096];

    for (size_t i = 0; i < n && i < CD_LOCAL_FILES_MAX; i++)
        if ((made->files & (1u << i)) &&
            disk_file(dir, targets[i], file, sizeof(file)) == 0)
            unlink(file);
    /* Only if empty: anything else in it was not this move's. */
    if (made->dir)
        rmdir(dir);
}
