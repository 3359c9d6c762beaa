/* Shared inside resources/ only. */
#ifndef KVMC_RES_INT_H
#define KVMC_RES_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/cmn-name.h"

/* Writes "src:line: <elem>: message" (or "src: ..." when line is 0, and
 * no "<elem>: " when elem is NULL) into err; returns -RES_E_INVALID. */
int res_fail(char *err, size_t errlen, const char *src, int line,
             const char *elem, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

#endif
