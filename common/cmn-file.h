/* Whole-file writes that a crash cannot leave half done. */
#ifndef KVMC_CMN_FILE_H
#define KVMC_CMN_FILE_H

#include <stddef.h>
#include <sys/types.h>

enum {
    /* The data is on disk before the rename makes it the file. */
    CMN_FILE_SYNC = 1 << 0,
    /* ...and the rename itself is, once this returns. */
    CMN_FILE_SYNC_DIR = 1 << 1,
};

/* Replaces `path` with `len` bytes of `buf` through "<path>.tmp" and a
 * rename, so a reader sees the old file or the new one, never a part.
 * The new file gets `mode` (umask applies). 0 or negative errno; on
 * failure the old file is untouched and no temporary is left. */
int cmn_file_write_atomic(const char *path, const void *buf, size_t len,
                          mode_t mode, unsigned flags);

/* fsync of the directory holding `path`: makes a rename or unlink of it
 * durable. 0 or negative errno. */
int cmn_file_sync_dir(const char *path);

#endif
