/* Local persistence of the CDB copy.
 *
 * A save never leaves a half-written cdb.xml: the text goes to a temp file
 * in the same directory, which is fsynced and renamed over the old copy,
 * then the directory is fsynced so the rename itself survives a crash. A
 * loaded copy must parse, match schemas/cdb.rng and its recorded digest;
 * anything else is set aside for inspection and the node takes the
 * cluster's copy on its next sync. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clusterd/cd-int.h"
#include "common/cmn-file.h"

int cd_cdb_save(const struct cd_cdb *cdb, const char *path)
{
    cmn_autofree char *text = NULL;
    size_t len;
    int rc;

    rc = cd_cdb_serialize(cdb, &text, &len);
    if (rc < 0)
        return rc;
    return cmn_file_write_atomic(path, text, len, 0600,
                                 CMN_FILE_SYNC | CMN_FILE_SYNC_DIR);
}

int cd_cdb_load(const char *path, const char *schema_path,
                struct cd_cdb **ret_cdb, char *err, size_t errlen)
{
    cmn_autofree char *text = NULL;
    int fd cmn_autoclose = -1;
    struct stat st;
    size_t off = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int rc = -errno;
        cd_errf(err, errlen, "%s: %s", path, strerror(errno));
        return rc;
    }
    if (fstat(fd, &st) < 0)
        return -errno;
    if (st.st_size > (64 << 20)) {
        cd_errf(err, errlen, "%s: larger than 64 MiB", path);
        return -CMN_E_TOO_BIG;
    }
    text = malloc((size_t)st.st_size + 1);
    if (!text)
        return -ENOMEM;
    while (off < (size_t)st.st_size) {
        ssize_t r = read(fd, text + off, (size_t)st.st_size - off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            break;
        off += (size_t)r;
    }
    text[off] = '\0';
    return cd_cdb_parse(text, off, path, schema_path, ret_cdb, err, errlen);
}

int cd_cdb_set_aside(const char *path, char *ret_name, size_t len)
{
    char aside[4096];

    snprintf(aside, sizeof(aside), "%s.bad-%lld", path, (long long)time(NULL));
    if (rename(path, aside) < 0)
        return -errno;
    if (ret_name)
        snprintf(ret_name, len, "%s", aside);
    return cmn_file_sync_dir(path);
}
