/* A small typed configuration-file parser.
 *
 * Format (kvmcluster.conf(5)):
 *     # comment
 *     [section]            a singleton section
 *     [section name]       one instance of a repeatable section
 *     key = value          value runs to end of line, blanks trimmed;
 *                          "double quotes" keep blanks
 *
 * The caller describes every allowed key with a table; unknown sections,
 * unknown keys, duplicates and values of the wrong type are rejected with
 * "FILE:LINE: ..." so an operator can fix the file.
 */
#ifndef KVMC_CMN_CFG_H
#define KVMC_CMN_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cmn_cfg_type {
    CMN_CFG_STR,
    CMN_CFG_INT,      /* decimal integer within [min, max] */
    CMN_CFG_BOOL,     /* yes/no, true/false, on/off, 1/0 */
    CMN_CFG_ENUM,     /* one of enum_values */
    CMN_CFG_SIZE,     /* bytes with optional K/M/G/T suffix (powers of 1024) */
    CMN_CFG_DURATION, /* milliseconds; suffix ms, s, m or h (default ms) */
};

struct cmn_cfg_key {
    const char *section; /* section type, e.g. "target" */
    const char *key;
    enum cmn_cfg_type type;
    const char *def;  /* default as text; NULL = no default */
    bool required;    /* must appear in every instance of the section */
    bool repeatable;  /* repeatable *section* (set on each of its keys) */
    int64_t min, max; /* INT/SIZE/DURATION bounds; min == max == 0: none */
    const char *const *enum_values; /* NULL-terminated, for ENUM */
    /* Another daemon's key read here (set on each key of that section
     * described): the section's other keys are its owner's to check,
     * so they are skipped, not rejected. */
    bool borrowed;
};

struct cmn_cfg;

/* kvmcluster.conf is shared by every daemon: with this flag, sections
 * that `keys` does not describe (another daemon's) are skipped unread
 * instead of rejected. */
#define CMN_CFG_SKIP_OTHER_SECTIONS 0x1u

/* Parses `path` against `keys` (terminated by an entry with key == NULL).
 * On error returns a negative code and writes "path:line: message" to
 * `err` (if non-NULL). */
int cmn_cfg_load(const struct cmn_cfg_key *keys, const char *path,
                 struct cmn_cfg **ret_cfg, char *err, size_t errlen);
/* Same, from a string; `name` stands for the file name in messages. */
int cmn_cfg_parse(const struct cmn_cfg_key *keys, const char *name,
                  const char *text, struct cmn_cfg **ret_cfg, char *err,
                  size_t errlen);
/* The same with CMN_CFG_* flags. */
int cmn_cfg_load_flags(const struct cmn_cfg_key *keys, const char *path,
                       unsigned flags, struct cmn_cfg **ret_cfg, char *err,
                       size_t errlen);
int cmn_cfg_parse_flags(const struct cmn_cfg_key *keys, const char *name,
                        const char *text, unsigned flags,
                        struct cmn_cfg **ret_cfg, char *err, size_t errlen);
void cmn_cfg_free(struct cmn_cfg *cfg);

/* Instances of a repeatable section, in file order: count, and the name of
 * the i-th. Singleton sections have one instance named NULL. */
size_t cmn_cfg_count(const struct cmn_cfg *cfg, const char *section);
const char *cmn_cfg_instance(const struct cmn_cfg *cfg, const char *section,
                             size_t i);

/* Values; `instance` is NULL for singleton sections. Keys absent from the
 * file yield their default. A key absent with no default: the string
 * getter returns NULL, the others return -ENOENT. */
const char *cmn_cfg_str(const struct cmn_cfg *cfg, const char *section,
                        const char *instance, const char *key);
int cmn_cfg_int(const struct cmn_cfg *cfg, const char *section,
                const char *instance, const char *key, int64_t *ret);
int cmn_cfg_bool(const struct cmn_cfg *cfg, const char *section,
                 const char *instance, const char *key, bool *ret);
/* Line of a key in the file (0 if defaulted): for later semantic errors. */
int cmn_cfg_line(const struct cmn_cfg *cfg, const char *section,
                 const char *instance, const char *key);
const char *cmn_cfg_name(const struct cmn_cfg *cfg);

#include "common/cmn-auto.h"
CMN_DEFINE_AUTO(cmn_cfg, cmn_cfg_free)

#endif
