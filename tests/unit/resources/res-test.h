/* Helpers shared by the resources/ unit tests. */
#ifndef KVMC_RES_TEST_H
#define KVMC_RES_TEST_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resources/res-vm.h"

/* The source tree: $KVMC_SRCDIR (make check sets it), else ".". Points
 * $KVMC_SCHEMADIR at its schemas/ unless the caller set it. */
static inline const char *res_test_srcdir(void)
{
    static char schemas[4096];
    const char *src = getenv("KVMC_SRCDIR");

    if (src == NULL || *src == '\0')
        src = ".";
    if (getenv("KVMC_SCHEMADIR") == NULL) {
        snprintf(schemas, sizeof(schemas), "%s/schemas", src);
        setenv("KVMC_SCHEMADIR", schemas, 1);
    }
    return src;
}

/* A definition file through res_vm_parse(), read here: resources/
 * itself reads no files. */
static inline int res_test_parse_file(const char *path, struct res_vm **ret_vm,
                                      char *err, size_t errlen)
{
    FILE *f;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;

    f = fopen(path, "re");
    if (f == NULL) {
        rc = -errno;
        snprintf(err, errlen, "%.200s: %s", path, strerror(errno));
        return rc;
    }
    /* Read one byte over the limit so cmn_xml_parse_mem() reports it. */
    while (len <= RES_VM_XML_MAX) {
        size_t n;

        if (len == cap) {
            char *nb = realloc(buf, cap ? cap * 2 : 8192);
            if (nb == NULL) {
                rc = -ENOMEM;
                goto out;
            }
            buf = nb;
            cap = cap ? cap * 2 : 8192;
        }
        n = fread(buf + len, 1, cap - len, f);
        if (n == 0)
            break;
        len += n;
    }
    if (ferror(f)) {
        rc = -EIO;
        snprintf(err, errlen, "%.200s: read error", path);
        goto out;
    }
    rc = res_vm_parse(buf ? buf : "", len, path, ret_vm, err, errlen);
out:
    free(buf);
    fclose(f);
    return rc;
}

#endif
