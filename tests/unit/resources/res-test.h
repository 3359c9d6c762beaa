/* Helpers shared by the resources/ unit tests. */
#ifndef KVMC_RES_TEST_H
#define KVMC_RES_TEST_H

#include <stdio.h>
#include <stdlib.h>

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

#endif
