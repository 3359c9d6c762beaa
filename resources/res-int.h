/* Shared inside resources/ only. */
#ifndef KVMC_RES_INT_H
#define KVMC_RES_INT_H

#include <stdbool.h>
#include <stddef.h>

/* Writes "src:line: <elem>: message" (or "src: ..." when line is 0, and
 * no "<elem>: " when elem is NULL) into err; returns -RES_E_INVALID. */
int res_fail(char *err, size_t errlen, const char *src, int line,
             const char *elem, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* 1..63 of [A-Za-z0-9._-], starting with a letter or a digit. */
bool res_name_ok(const char *s);

#define RES_NAME_RULE                                                          \
    "1 to 63 of A-Z a-z 0-9 . _ -, starting with a letter or digit"

#endif
