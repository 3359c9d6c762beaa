/* lunbridge's per-LUN metrics in clusterd's (cd-obs.h): the text of
 * lunbridge's textfile, checked line by line and turned into the format
 * asked for. The file is another process's output that clusterd
 * re-serves, so nothing in it is trusted: a line that does not parse
 * refuses the whole file (a partial copy would mislead more than none),
 * and only the kvmcluster_lun_ families are kept. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clusterd/cd-int.h"
#include "clusterd/cd-obs.h"
#include "clusterd/cd-proto.h"

#define LUN_PREFIX   "kvmcluster_lun_"
#define LINE_MAX_LEN 2048

static bool name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           c == ':' || (!first && c >= '0' && c <= '9');
}

/* Length of the metric name at `s` (0: none). */
static size_t name_len(const char *s)
{
    size_t n = 0;

    while (name_char(s[n], n == 0))
        n++;
    return n;
}

static bool is_lun_name(const char *s, size_t n)
{
    return n > strlen(LUN_PREFIX) &&
           !strncmp(s, LUN_PREFIX, strlen(LUN_PREFIX));
}

/* {name="value",...}: label names and the escapes the text format has
 * (\\, \", \n); returns the length, 0 when malformed. */
static size_t labels_len(const char *s)
{
    const char *p = s + 1;

    if (*s != '{')
        return 0;
    if (*p == '}')
        return 2;
    for (;;) {
        size_t n = 0;
        while (name_char(p[n], n == 0) && p[n] != ':')
            n++;
        if (!n || p[n] != '=' || p[n + 1] != '"')
            return 0;
        p += n + 2;
        for (; *p != '"'; p++) {
            if (!*p || (unsigned char)*p < 0x20)
                return 0;
            if (*p == '\\') {
                p++;
                if (*p != '\\' && *p != '"' && *p != 'n')
                    return 0;
            }
        }
        p++;
        if (*p == '}')
            return (size_t)(p + 1 - s);
        if (*p != ',')
            return 0;
        p++;
    }
}

static bool value_valid(const char *s)
{
    char *end;

    if (!strcmp(s, "+Inf") || !strcmp(s, "-Inf") || !strcmp(s, "NaN"))
        return true;
    if (!*s || strchr(s, ' ') ||
        !((*s >= '0' && *s <= '9') || *s == '-' || *s == '+' || *s == '.'))
        return false;
    errno = 0;
    (void)strtod(s, &end);
    return !*end && errno == 0;
}

static bool text_valid(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

/* One family being copied: its name in the file and as written. */
struct family {
    char name[LINE_MAX_LEN];
    size_t len;
    bool counter;
};

/* "# TYPE name type" / "# HELP name text": kept (rewritten for
 * OpenMetrics, which names a counter's family without "_total") when
 * the family is a LUN one. Other comments are dropped. */
static int comment(struct cd_buf *b, char *l, enum cd_obs_format f,
                   struct family *fam, const char **why)
{
    bool type = !strncmp(l, "# TYPE ", 7), help = !strncmp(l, "# HELP ", 7);
    char *name = l + 7, *rest;
    size_t n;

    if (!type && !help)
        return 0;
    n = name_len(name);
    if (!n || name[n] != ' ') {
        *why = "a # TYPE or # HELP line without a metric name";
        return -1;
    }
    rest = name + n + 1;
    if (!is_lun_name(name, n))
        return 0;
    if (type) {
        if (strcmp(rest, "gauge") && strcmp(rest, "counter") &&
            strcmp(rest, "histogram")) {
            *why = "a type other than gauge, counter or histogram";
            return -1;
        }
        fam->counter = !strcmp(rest, "counter");
        if (fam->counter && (n < 7 || strncmp(name + n - 6, "_total", 6))) {
            *why = "a counter whose name does not end in _total";
            return -1;
        }
        memcpy(fam->name, name, n);
        fam->name[n] = '\0';
        fam->len = n;
    } else if (!text_valid(rest)) {
        *why = "a control character in a # HELP text";
        return -1;
    }
    /* The counter's family, named as its TYPE line named it. */
    if (f == CD_OBS_OPENMETRICS && fam->counter && n == fam->len &&
        !strncmp(name, fam->name, n))
        n -= 6;
    cd_buf_printf(b, "# %s %.*s %s\n", type ? "TYPE" : "HELP", (int)n, name,
                  rest);
    return 0;
}

/* name[{labels}] value: kept when a LUN sample. */
static int sample_line(struct cd_buf *b, const char *l, const char **why)
{
    size_t n = name_len(l), k;

    if (!n) {
        *why = "neither a comment nor a sample";
        return -1;
    }
    k = n;
    if (l[k] == '{') {
        size_t ll = labels_len(l + k);
        if (!ll) {
            *why = "malformed labels";
            return -1;
        }
        k += ll;
    }
    if (l[k] != ' ' || !value_valid(l + k + 1)) {
        *why = "not a number after the sample's name and labels";
        return -1;
    }
    if (is_lun_name(l, n)) {
        cd_buf_puts(b, l);
        cd_buf_puts(b, "\n");
    }
    return 0;
}

int cd_obs_lun_text(const char *in, size_t len, enum cd_obs_format f,
                    char **ret_text, char *err, size_t errlen)
{
    struct cd_buf b;
    struct family *fam = calloc(1, sizeof(*fam));
    char *line = malloc(LINE_MAX_LEN + 1);
    const char *why = NULL;
    size_t lineno = 0;
    int rc = 0;

    cd_buf_init(&b);
    if (!fam || !line) {
        rc = -ENOMEM;
        goto out;
    }
    if (len && in[len - 1] != '\n') {
        snprintf(err, errlen, "its last line is cut (no newline at the end)");
        rc = -CD_E_CORRUPT;
        goto out;
    }
    for (size_t off = 0; off < len;) {
        const char *nl = memchr(in + off, '\n', len - off);
        size_t n = (size_t)(nl - (in + off));

        lineno++;
        if (n > LINE_MAX_LEN) {
            why = "a line longer than 2048 bytes";
        } else if (memchr(in + off, '\0', n)) {
            why = "a NUL byte";
        } else {
            memcpy(line, in + off, n);
            line[n] = '\0';
            if (n && line[0] == '#')
                rc = comment(&b, line, f, fam, &why);
            else if (n)
                rc = sample_line(&b, line, &why);
        }
        if (why) {
            snprintf(err, errlen, "line %zu: %s", lineno, why);
            rc = -CD_E_CORRUPT;
            goto out;
        }
        off += n + 1;
    }
out:
    free(fam);
    free(line);
    if (rc < 0) {
        cd_buf_free(&b);
        return rc;
    }
    return cd_buf_steal(&b, ret_text, NULL);
}
