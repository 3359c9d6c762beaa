/* The rule for the names of nodes, VMs, volumes and lockspaces, the one
 * place both the CDB and the VM definition check it. */
#ifndef KVMC_CMN_NAME_H
#define KVMC_CMN_NAME_H

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#define CMN_NAME_MAX 64 /* 63 + NUL */

#define CMN_NAME_RULE                                                          \
    "1 to 63 of A-Z a-z 0-9 . _ -, starting with a letter or digit"

/* [A-Za-z0-9][A-Za-z0-9._-]*, shorter than CMN_NAME_MAX: safe in a file
 * name, an XML attribute, a sanlock name and a shell word. */
static inline bool cmn_name_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= CMN_NAME_MAX || !isalnum((unsigned char)s[0]))
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
            return false;
    return true;
}

#endif
