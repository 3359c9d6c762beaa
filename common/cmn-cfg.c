#include "config.h"

#include "common/cmn-cfg.h"
#include "common/cmn-err.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CFG_MAX_FILE (1u << 20)

struct cfg_value {
    const struct cmn_cfg_key *key;
    char *instance; /* NULL for singleton sections */
    char *value;
    int line;
};

struct cfg_instance {
    const char *section; /* points into the key table */
    char *name;
    int line;
};

struct cmn_cfg {
    char *name;
    unsigned flags;
    const struct cmn_cfg_key *keys;
    struct cfg_value *values;
    size_t nvalues;
    struct cfg_instance *instances;
    size_t ninstances;
};

static int cfg_error(char *err, size_t errlen, int rc, const char *name,
                     int line, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static int cfg_error(char *err, size_t errlen, int rc, const char *name,
                     int line, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (err == NULL || errlen == 0)
        return rc;
    n = snprintf(err, errlen, "%s:%d: ", name, line);
    if (n < 0 || (size_t)n >= errlen)
        return rc;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - n, fmt, ap);
    va_end(ap);
    return rc;
}

static const struct cmn_cfg_key *find_section(const struct cmn_cfg_key *keys,
                                              const char *section)
{
    for (; keys->key != NULL; keys++) {
        if (strcmp(keys->section, section) == 0)
            return keys;
    }
    return NULL;
}

static const struct cmn_cfg_key *find_key(const struct cmn_cfg_key *keys,
                                          const char *section, const char *key)
{
    for (; keys->key != NULL; keys++) {
        if (strcmp(keys->section, section) == 0 && strcmp(keys->key, key) == 0)
            return keys;
    }
    return NULL;
}

static bool same_instance(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static int parse_int(const char *s, int64_t *ret)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return -EINVAL;
    *ret = v;
    return 0;
}

/* Number with a unit suffix; `units` maps suffix -> multiplier. */
static int parse_scaled(const char *s, const char *const *suffixes,
                        const int64_t *mult, const char *dflt, int64_t *ret)
{
    char *end;
    unsigned long long v;
    const char *unit;

    if (!isdigit((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0)
        return -EINVAL;
    while (*end == ' ')
        end++;
    unit = *end ? end : dflt;
    for (int i = 0; suffixes[i] != NULL; i++) {
        if (strcasecmp(unit, suffixes[i]) == 0) {
            if (mult[i] != 0 && v > (unsigned long long)INT64_MAX / mult[i])
                return -ERANGE;
            *ret = (int64_t)v * mult[i];
            return 0;
        }
    }
    return -EINVAL;
}

static int parse_bool(const char *s, bool *ret)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};

    for (size_t i = 0; i < CMN_ARRAY_SIZE(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *ret = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *ret = false;
            return 0;
        }
    }
    return -EINVAL;
}

static int parse_number(const struct cmn_cfg_key *k, const char *s,
                        int64_t *ret)
{
    static const char *const size_sfx[] = {"",  "b",   "k", "kib", "m", "mib",
                                           "g", "gib", "t", "tib", NULL};
    static const int64_t size_mult[] = {
        1,         1,         1LL << 10, 1LL << 10, 1LL << 20,
        1LL << 20, 1LL << 30, 1LL << 30, 1LL << 40, 1LL << 40};
    static const char *const dur_sfx[] = {"ms", "s", "m", "h", NULL};
    static const int64_t dur_mult[] = {1, 1000, 60000, 3600000};

    switch (k->type) {
    case CMN_CFG_INT:
        return parse_int(s, ret);
    case CMN_CFG_SIZE:
        return parse_scaled(s, size_sfx, size_mult, "", ret);
    case CMN_CFG_DURATION:
        return parse_scaled(s, dur_sfx, dur_mult, "ms", ret);
    default:
        return -EINVAL;
    }
}

static const char *type_hint(const struct cmn_cfg_key *k)
{
    switch (k->type) {
    case CMN_CFG_INT:
        return "an integer";
    case CMN_CFG_BOOL:
        return "yes or no";
    case CMN_CFG_SIZE:
        return "a size such as 512M or 2G";
    case CMN_CFG_DURATION:
        return "a duration such as 500ms, 10s or 5m";
    case CMN_CFG_ENUM:
        return "one of the listed values";
    default:
        return "a string";
    }
}

/* Checks `value` against the key's type and bounds; 0 or an error text. */
static int check_value(const struct cmn_cfg_key *k, const char *value,
                       const char *name, int line, char *err, size_t errlen)
{
    int64_t n;
    bool b;

    switch (k->type) {
    case CMN_CFG_STR:
        return 0;
    case CMN_CFG_BOOL:
        if (parse_bool(value, &b) < 0)
            return cfg_error(err, errlen, -CMN_E_BAD_VALUE, name, line,
                             "'%s' in [%s]: '%s' is not %s", k->key, k->section,
                             value, type_hint(k));
        return 0;
    case CMN_CFG_ENUM:
        for (int i = 0; k->enum_values && k->enum_values[i]; i++) {
            if (strcmp(value, k->enum_values[i]) == 0)
                return 0;
        }
        {
            char list[256] = "";
            size_t used = 0;
            for (int i = 0; k->enum_values && k->enum_values[i]; i++) {
                int w = snprintf(list + used, sizeof(list) - used, "%s%s",
                                 i ? ", " : "", k->enum_values[i]);
                if (w < 0 || (size_t)w >= sizeof(list) - used)
                    break;
                used += w;
            }
            return cfg_error(err, errlen, -CMN_E_BAD_VALUE, name, line,
                             "'%s' in [%s]: '%s' is not one of: %s", k->key,
                             k->section, value, list);
        }
    default:
        if (parse_number(k, value, &n) < 0)
            return cfg_error(err, errlen, -CMN_E_BAD_VALUE, name, line,
                             "'%s' in [%s]: '%s' is not %s", k->key, k->section,
                             value, type_hint(k));
        if ((k->min != 0 || k->max != 0) && (n < k->min || n > k->max))
            return cfg_error(err, errlen, -CMN_E_BAD_VALUE, name, line,
                             "'%s' in [%s]: %s is out of range [%lld, %lld]",
                             k->key, k->section, value, (long long)k->min,
                             (long long)k->max);
        return 0;
    }
}

static char *trim(char *s)
{
    char *e;

    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int add_instance(struct cmn_cfg *cfg, const char *section,
                        const char *inst, int line)
{
    struct cfg_instance *n;

    n = realloc(cfg->instances, (cfg->ninstances + 1) * sizeof(*n));
    if (n == NULL)
        return -ENOMEM;
    cfg->instances = n;
    n[cfg->ninstances].section = section;
    n[cfg->ninstances].name = inst ? strdup(inst) : NULL;
    n[cfg->ninstances].line = line;
    if (inst != NULL && n[cfg->ninstances].name == NULL)
        return -ENOMEM;
    cfg->ninstances++;
    return 0;
}

static int add_value(struct cmn_cfg *cfg, const struct cmn_cfg_key *k,
                     const char *inst, const char *value, int line)
{
    struct cfg_value *n;

    n = realloc(cfg->values, (cfg->nvalues + 1) * sizeof(*n));
    if (n == NULL)
        return -ENOMEM;
    cfg->values = n;
    n[cfg->nvalues].key = k;
    n[cfg->nvalues].instance = inst ? strdup(inst) : NULL;
    n[cfg->nvalues].value = strdup(value);
    n[cfg->nvalues].line = line;
    cfg->nvalues++;
    if (n[cfg->nvalues - 1].value == NULL ||
        (inst && n[cfg->nvalues - 1].instance == NULL))
        return -ENOMEM;
    return 0;
}

static const struct cfg_value *find_value(const struct cmn_cfg *cfg,
                                          const char *section, const char *inst,
                                          const char *key)
{
    for (size_t i = 0; i < cfg->nvalues; i++) {
        const struct cfg_value *v = &cfg->values[i];
        if (strcmp(v->key->section, section) == 0 &&
            strcmp(v->key->key, key) == 0 && same_instance(v->instance, inst))
            return v;
    }
    return NULL;
}

static bool has_instance(const struct cmn_cfg *cfg, const char *section,
                         const char *inst)
{
    for (size_t i = 0; i < cfg->ninstances; i++) {
        if (strcmp(cfg->instances[i].section, section) == 0 &&
            same_instance(cfg->instances[i].name, inst))
            return true;
    }
    return false;
}

/* Parses "[type]" or "[type name]" in place. */
static int parse_header(char *s, char **ret_type, char **ret_name)
{
    char *end = strchr(s, ']');
    char *sp;

    if (end == NULL || trim(end + 1)[0] != '\0')
        return -EINVAL;
    *end = '\0';
    s = trim(s + 1);
    sp = s;
    while (*sp && !isspace((unsigned char)*sp))
        sp++;
    if (*sp) {
        *sp++ = '\0';
        sp = trim(sp);
        if (*sp == '"') {
            size_t l = strlen(sp);
            if (l < 2 || sp[l - 1] != '"')
                return -EINVAL;
            sp[l - 1] = '\0';
            sp++;
        }
        *ret_name = *sp ? sp : NULL;
    } else {
        *ret_name = NULL;
    }
    if (*s == '\0')
        return -EINVAL;
    *ret_type = s;
    return 0;
}

static int parse_text(struct cmn_cfg *cfg, char *text, char *err, size_t errlen)
{
    const char *name = cfg->name;
    const struct cmn_cfg_key *section = NULL; /* first key of section */
    char *inst = NULL;
    char *save = NULL;
    bool skipping = false; /* inside another daemon's section */
    int line = 0;
    int rc;

    for (char *l = text; l != NULL; l = save) {
        char *nl = strchr(l, '\n');
        char *eq, *key, *value;
        const struct cmn_cfg_key *k;

        save = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        line++;
        l = trim(l);
        if (*l == '\0' || *l == '#' || *l == ';')
            continue;

        if (*l == '[') {
            char *type, *iname;
            if (parse_header(l, &type, &iname) < 0)
                return cfg_error(err, errlen, -CMN_E_PARSE, name, line,
                                 "malformed section header (expected "
                                 "[section] or [section name])");
            section = find_section(cfg->keys, type);
            skipping =
                section == NULL && (cfg->flags & CMN_CFG_SKIP_OTHER_SECTIONS);
            if (skipping)
                continue;
            if (section == NULL)
                return cfg_error(err, errlen, -CMN_E_UNKNOWN_KEY, name, line,
                                 "unknown section [%s]", type);
            if (section->repeatable && iname == NULL)
                return cfg_error(err, errlen, -CMN_E_PARSE, name, line,
                                 "section [%s] needs a name: [%s NAME]", type,
                                 type);
            if (!section->repeatable && iname != NULL)
                return cfg_error(err, errlen, -CMN_E_PARSE, name, line,
                                 "section [%s] takes no name", type);
            if (has_instance(cfg, section->section, iname))
                return cfg_error(err, errlen, -CMN_E_DUPLICATE, name, line,
                                 "section [%s%s%s] given twice", type,
                                 iname ? " " : "", iname ? iname : "");
            rc = add_instance(cfg, section->section, iname, line);
            if (rc < 0)
                return rc;
            inst = cfg->instances[cfg->ninstances - 1].name;
            continue;
        }

        if (skipping)
            continue;
        eq = strchr(l, '=');
        if (eq == NULL)
            return cfg_error(err, errlen, -CMN_E_PARSE, name, line,
                             "expected 'key = value'");
        *eq = '\0';
        key = trim(l);
        value = trim(eq + 1);
        if (*key == '\0')
            return cfg_error(err, errlen, -CMN_E_PARSE, name, line,
                             "missing key before '='");
        if (section == NULL)
            return cfg_error(err, errlen, -CMN_E_PARSE, name, line,
                             "'%s' outside of any section", key);
        if (*value == '"') {
            size_t vl = strlen(value);
            if (vl < 2 || value[vl - 1] != '"')
                return cfg_error(err, errlen, -CMN_E_PARSE, name, line,
                                 "unterminated quoted value for '%s'", key);
            value[vl - 1] = '\0';
            value++;
        }
        k = find_key(cfg->keys, section->section, key);
        if (k == NULL && section->borrowed)
            continue;
        if (k == NULL)
            return cfg_error(err, errlen, -CMN_E_UNKNOWN_KEY, name, line,
                             "unknown key '%s' in [%s]", key, section->section);
        if (find_value(cfg, k->section, inst, k->key) != NULL)
            return cfg_error(err, errlen, -CMN_E_DUPLICATE, name, line,
                             "'%s' given twice in [%s]", key, k->section);
        rc = check_value(k, value, name, line, err, errlen);
        if (rc < 0)
            return rc;
        rc = add_value(cfg, k, inst, value, line);
        if (rc < 0)
            return rc;
    }

    /* Required keys, per instance present in the file. */
    for (size_t i = 0; i < cfg->ninstances; i++) {
        const struct cfg_instance *in = &cfg->instances[i];
        for (const struct cmn_cfg_key *k = cfg->keys; k->key; k++) {
            if (!k->required || strcmp(k->section, in->section) != 0)
                continue;
            if (find_value(cfg, k->section, in->name, k->key) == NULL)
                return cfg_error(err, errlen, -CMN_E_MISSING, name, in->line,
                                 "[%s%s%s] lacks required key '%s'",
                                 in->section, in->name ? " " : "",
                                 in->name ? in->name : "", k->key);
        }
    }
    return 0;
}

int cmn_cfg_parse(const struct cmn_cfg_key *keys, const char *name,
                  const char *text, struct cmn_cfg **ret_cfg, char *err,
                  size_t errlen)
{
    return cmn_cfg_parse_flags(keys, name, text, 0, ret_cfg, err, errlen);
}

int cmn_cfg_parse_flags(const struct cmn_cfg_key *keys, const char *name,
                        const char *text, unsigned flags,
                        struct cmn_cfg **ret_cfg, char *err, size_t errlen)
{
    struct cmn_cfg *cfg;
    char *copy = NULL;
    int rc;

    if (err && errlen)
        err[0] = '\0';
    cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL)
        return -ENOMEM;
    cfg->keys = keys;
    cfg->flags = flags;
    cfg->name = strdup(name ? name : "<config>");
    copy = strdup(text);
    if (cfg->name == NULL || copy == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    rc = parse_text(cfg, copy, err, errlen);
out:
    free(copy);
    if (rc < 0) {
        cmn_cfg_free(cfg);
        return rc;
    }
    *ret_cfg = cfg;
    return 0;
}

int cmn_cfg_load(const struct cmn_cfg_key *keys, const char *path,
                 struct cmn_cfg **ret_cfg, char *err, size_t errlen)
{
    return cmn_cfg_load_flags(keys, path, 0, ret_cfg, err, errlen);
}

int cmn_cfg_load_flags(const struct cmn_cfg_key *keys, const char *path,
                       unsigned flags, struct cmn_cfg **ret_cfg, char *err,
                       size_t errlen)
{
    FILE *f;
    char *buf = NULL;
    size_t len;
    int rc;

    f = fopen(path, "re");
    if (f == NULL) {
        rc = -errno;
        if (err && errlen)
            snprintf(err, errlen, "cannot open configuration '%s': %s", path,
                     cmn_strerror(rc));
        return rc;
    }
    buf = malloc(CFG_MAX_FILE + 1);
    if (buf == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    len = fread(buf, 1, CFG_MAX_FILE + 1, f);
    if (ferror(f)) {
        rc = -EIO;
        if (err && errlen)
            snprintf(err, errlen, "%s: read error", path);
        goto out;
    }
    if (len > CFG_MAX_FILE) {
        rc = -CMN_E_TOO_BIG;
        if (err && errlen)
            snprintf(err, errlen, "%s: larger than %u bytes", path,
                     CFG_MAX_FILE);
        goto out;
    }
    if (memchr(buf, '\0', len) != NULL) {
        rc = cfg_error(err, errlen, -CMN_E_PARSE, path, 0,
                       "contains a NUL byte (not a text file)");
        goto out;
    }
    buf[len] = '\0';
    rc = cmn_cfg_parse_flags(keys, path, buf, flags, ret_cfg, err, errlen);
out:
    free(buf);
    fclose(f);
    return rc;
}

void cmn_cfg_free(struct cmn_cfg *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->nvalues; i++) {
        free(cfg->values[i].instance);
        free(cfg->values[i].value);
    }
    for (size_t i = 0; i < cfg->ninstances; i++)
        free(cfg->instances[i].name);
    free(cfg->values);
    free(cfg->instances);
    free(cfg->name);
    free(cfg);
}

size_t cmn_cfg_count(const struct cmn_cfg *cfg, const char *section)
{
    size_t n = 0;

    for (size_t i = 0; i < cfg->ninstances; i++)
        n += strcmp(cfg->instances[i].section, section) == 0;
    return n;
}

const char *cmn_cfg_instance(const struct cmn_cfg *cfg, const char *section,
                             size_t idx)
{
    for (size_t i = 0; i < cfg->ninstances; i++) {
        if (strcmp(cfg->instances[i].section, section) != 0)
            continue;
        if (idx-- == 0)
            return cfg->instances[i].name;
    }
    return NULL;
}

const char *cmn_cfg_str(const struct cmn_cfg *cfg, const char *section,
                        const char *instance, const char *key)
{
    const struct cfg_value *v = find_value(cfg, section, instance, key);
    const struct cmn_cfg_key *k;

    if (v != NULL)
        return v->value;
    k = find_key(cfg->keys, section, key);
    return k ? k->def : NULL;
}

int cmn_cfg_int(const struct cmn_cfg *cfg, const char *section,
                const char *instance, const char *key, int64_t *ret)
{
    const struct cmn_cfg_key *k = find_key(cfg->keys, section, key);
    const char *s = cmn_cfg_str(cfg, section, instance, key);
    int64_t n;

    if (k == NULL || s == NULL)
        return -ENOENT;
    if (parse_number(k, s, &n) < 0)
        return -CMN_E_BAD_VALUE;
    *ret = n;
    return 0;
}

int cmn_cfg_bool(const struct cmn_cfg *cfg, const char *section,
                 const char *instance, const char *key, bool *ret)
{
    const char *s = cmn_cfg_str(cfg, section, instance, key);
    bool b;

    if (s == NULL)
        return -ENOENT;
    if (parse_bool(s, &b) < 0)
        return -CMN_E_BAD_VALUE;
    *ret = b;
    return 0;
}

int cmn_cfg_line(const struct cmn_cfg *cfg, const char *section,
                 const char *instance, const char *key)
{
    const struct cfg_value *v = find_value(cfg, section, instance, key);

    return v ? v->line : 0;
}

const char *cmn_cfg_name(const struct cmn_cfg *cfg)
{
    return cfg->name;
}
