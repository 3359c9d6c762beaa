/* File and block-device I/O for csv. Reads bypass the page cache (O_DIRECT
 * where the file system supports it): other hosts write this device, and a
 * cached metadata record would be a stale one. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "csv/csv-int.h"

#define CSV_FUSE_SUPER_MAGIC 0x65735546

struct file_h {
    int fd;
};

static int file_open(const char *path, bool rw, void **ret_h,
                     uint64_t *ret_size, uint32_t *ret_sector)
{
    struct file_h *h = NULL;
    struct stat st;
    uint64_t size;
    int sector = 512;
    int fd, rc;
    int mode = rw ? O_RDWR : O_RDONLY;

    fd = open(path, mode | O_DIRECT | O_CLOEXEC);
    if (fd < 0 && errno == EINVAL) /* tmpfs and friends */
        fd = open(path, mode | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto fail;
    }
    if (S_ISBLK(st.st_mode)) {
        if (ioctl(fd, BLKGETSIZE64, &size) < 0 ||
            ioctl(fd, BLKSSZGET, &sector) < 0) {
            rc = -errno;
            goto fail;
        }
    } else if (S_ISREG(st.st_mode)) {
        struct statfs sfs;
        size = (uint64_t)st.st_size;
        /* A LUN behind a FUSE bridge (lunbridge) may have 4096-byte
         * logical blocks, and the file does not say. 512-byte writes to it
         * become read-modify-write of a whole block, which two hosts can
         * interleave: sanlock's per-host records would overwrite each
         * other. 4096 is safe for either LUN. */
        if (fstatfs(fd, &sfs) == 0 && sfs.f_type == CSV_FUSE_SUPER_MAGIC)
            sector = 4096;
    } else {
        rc = -ENOTBLK;
        goto fail;
    }
    h = malloc(sizeof(*h));
    if (!h) {
        rc = -ENOMEM;
        goto fail;
    }
    h->fd = fd;
    *ret_h = h;
    *ret_size = size;
    *ret_sector = (uint32_t)sector;
    return 0;
fail:
    close(fd);
    return rc;
}

static int file_pread(void *vh, void *buf, size_t len, uint64_t off)
{
    struct file_h *h = vh;
    size_t done = 0;

    while (done < len) {
        ssize_t n =
            pread(h->fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0) {
            /* Past the end of a sparse file that was never written. */
            memset((char *)buf + done, 0, len - done);
            break;
        }
        done += (size_t)n;
    }
    return 0;
}

static int file_pwrite(void *vh, const void *buf, size_t len, uint64_t off)
{
    struct file_h *h = vh;
    size_t done = 0;

    while (done < len) {
        ssize_t n = pwrite(h->fd, (const char *)buf + done, len - done,
                           (off_t)(off + done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        done += (size_t)n;
    }
    return 0;
}

static int file_flush(void *vh)
{
    struct file_h *h = vh;

    return fdatasync(h->fd) < 0 ? -errno : 0;
}

static void file_close(void *vh)
{
    struct file_h *h = vh;

    if (!h)
        return;
    close(h->fd);
    free(h);
}

const struct csv_io_ops csv_file_io = {
    .open = file_open,
    .pread = file_pread,
    .pwrite = file_pwrite,
    .flush = file_flush,
    .close = file_close,
};

void *csv_iobuf(size_t len)
{
    void *p = NULL;

    if (len == 0)
        len = CSV_IO_ALIGN;
    len = csv_round_up(len, CSV_IO_ALIGN);
    if (posix_memalign(&p, CSV_IO_ALIGN, len) != 0)
        return NULL;
    memset(p, 0, len);
    return p;
}

size_t csv_round_up(size_t v, size_t to)
{
    return (v + to - 1) / to * to;
}
