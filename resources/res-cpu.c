/* Processor compatibility: capability text form, baseline, fit check.
 *
 * Sets of names are kept as sorted arrays of malloc'ed strings, so
 * membership is a bsearch and two sets compare element by element.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resources/res-cpu.h"
#include "resources/res-int.h"

/* ---- sets of names -------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_model(const void *a, const void *b)
{
    return strcmp(((const struct res_cpu_model *)a)->name,
                  ((const struct res_cpu_model *)b)->name);
}

void res_cpu_strv_free(char **v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Sorts v and drops duplicates; returns the new count. */
static size_t strv_normalize(char **v, size_t n)
{
    size_t o = 0;

    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (o > 0 && strcmp(v[o - 1], v[i]) == 0) {
            free(v[i]);
            continue;
        }
        v[o++] = v[i];
    }
    return o;
}

static bool feature_name_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= RES_CPU_FEAT_MAX)
        return false;
    for (; *s; s++)
        if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
            !(*s >= '0' && *s <= '9') && *s != '.' && *s != '_' && *s != '-')
            return false;
    return true;
}

void res_cpu_caps_free(struct res_cpu_caps *caps)
{
    if (caps == NULL)
        return;
    for (size_t i = 0; i < caps->n_models; i++)
        res_cpu_strv_free(caps->models[i].missing, caps->models[i].n_missing);
    free(caps->models);
    res_cpu_strv_free(caps->host, caps->n_host);
    free(caps);
}

/* ---- text form ------------------------------------------------------ */

struct tbuf {
    char *s;
    size_t len, cap;
    bool oom;
};

static void tb_puts(struct tbuf *b, const char *s)
{
    size_t n = strlen(s);

    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *p;

        while (b->len + n + 1 > cap)
            cap *= 2;
        p = realloc(b->s, cap);
        if (p == NULL) {
            b->oom = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n + 1);
    b->len += n;
}

int res_cpu_caps_format(const struct res_cpu_caps *caps, char **ret_text)
{
    struct tbuf b = {0};
    char num[32];

    tb_puts(&b, "host");
    for (size_t i = 0; i < caps->n_host; i++) {
        tb_puts(&b, " ");
        tb_puts(&b, caps->host[i]);
    }
    tb_puts(&b, "\n");
    for (size_t i = 0; i < caps->n_models; i++) {
        const struct res_cpu_model *m = &caps->models[i];

        snprintf(num, sizeof(num), " %u", m->rank);
        tb_puts(&b, "model ");
        tb_puts(&b, m->name);
        tb_puts(&b, num);
        for (size_t k = 0; k < m->n_missing; k++) {
            tb_puts(&b, " ");
            tb_puts(&b, m->missing[k]);
        }
        tb_puts(&b, "\n");
    }
    if (b.oom) {
        free(b.s);
        return -ENOMEM;
    }
    *ret_text = b.s;
    return 0;
}

static int perr(char *err, size_t errlen, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int perr(char *err, size_t errlen, unsigned line, const char *fmt, ...)
{
    va_list ap;
    int n;

    res_err_init();
    n = snprintf(err, errlen, "CPU capability line %u: ", line);
    if (n >= 0 && (size_t)n < errlen) {
        va_start(ap, fmt);
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -RES_E_CPU;
}

/* Splits line (modified in place) into words; at most max. */
static size_t split_words(char *line, char **words, size_t max)
{
    size_t n = 0;
    char *save = NULL;

    for (char *w = strtok_r(line, " \t", &save); w && n < max;
         w = strtok_r(NULL, " \t", &save))
        words[n++] = w;
    return n;
}

static int strv_from_words(char *const *w, size_t n, char ***ret_v,
                           size_t *ret_n)
{
    char **v = calloc(n ? n : 1, sizeof(*v));

    if (v == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        v[i] = strdup(w[i]);
        if (v[i] == NULL) {
            res_cpu_strv_free(v, i);
            return -ENOMEM;
        }
    }
    *ret_n = strv_normalize(v, n);
    *ret_v = v;
    return 0;
}

static int parse_line(struct res_cpu_caps *c, char *line, unsigned ln,
                      bool *seen_host, char **words, char *err, size_t errlen)
{
    size_t nw = split_words(line, words, RES_CPU_FEATS_MAX + 4);
    size_t first;
    struct res_cpu_model *m;
    char *end;
    unsigned long rank;

    if (nw == 0)
        return 0;
    if (nw > RES_CPU_FEATS_MAX + 3)
        return perr(err, errlen, ln, "more than %d features",
                    RES_CPU_FEATS_MAX);
    first = strcmp(words[0], "host") == 0 ? 1 : 3;
    if (strcmp(words[0], "host") != 0 && strcmp(words[0], "model") != 0)
        return perr(err, errlen, ln, "'%.64s' is neither 'host' nor 'model'",
                    words[0]);
    for (size_t i = first; i < nw; i++)
        if (!feature_name_valid(words[i]))
            return perr(err, errlen, ln, "'%.64s' is not a feature name",
                        words[i]);
    if (first == 1) {
        if (*seen_host)
            return perr(err, errlen, ln, "a second 'host' line");
        *seen_host = true;
        return strv_from_words(words + 1, nw - 1, &c->host, &c->n_host);
    }
    if (nw < 3)
        return perr(err, errlen, ln, "'model' needs a name and a rank");
    if (!cmn_name_valid(words[1]))
        return perr(err, errlen, ln, "'%.64s' is not a CPU model name (%s)",
                    words[1], RES_NAME_RULE);
    errno = 0;
    rank = strtoul(words[2], &end, 10);
    if (errno || *end || end == words[2] || words[2][0] == '-' ||
        rank > RES_CPU_FEATS_MAX)
        return perr(err, errlen, ln, "model '%s': rank '%.32s' is not 0 to %d",
                    words[1], words[2], RES_CPU_FEATS_MAX);
    if (c->n_models >= RES_CPU_MODELS_MAX)
        return perr(err, errlen, ln, "more than %d models", RES_CPU_MODELS_MAX);
    if (c->n_models % 64 == 0) {
        void *p = realloc(c->models, (c->n_models + 64) * sizeof(*c->models));
        if (p == NULL)
            return -ENOMEM;
        c->models = p;
    }
    m = &c->models[c->n_models];
    memset(m, 0, sizeof(*m));
    snprintf(m->name, sizeof(m->name), "%s", words[1]);
    m->rank = (unsigned)rank;
    if (strv_from_words(words + 3, nw - 3, &m->missing, &m->n_missing) < 0)
        return -ENOMEM;
    c->n_models++;
    return 0;
}

int res_cpu_caps_parse(const char *text, struct res_cpu_caps **ret_caps,
                       char *err, size_t errlen)
{
    struct res_cpu_caps *c = NULL;
    char *copy = NULL, *save = NULL;
    char **words = NULL;
    bool seen_host = false;
    unsigned ln = 0;
    int rc = 0;

    res_err_init();
    if (strlen(text) > RES_CPU_TEXT_MAX)
        return perr(err, errlen, 0, "longer than %u bytes", RES_CPU_TEXT_MAX);
    c = calloc(1, sizeof(*c));
    copy = strdup(text);
    words = calloc(RES_CPU_FEATS_MAX + 4, sizeof(*words));
    if (c == NULL || copy == NULL || words == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    /* strtok_r would merge empty lines and shift the numbers: walk by
     * hand. */
    for (char *l = copy; l != NULL; l = save) {
        char *nl = strchr(l, '\n');

        save = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        ln++;
        rc = parse_line(c, l, ln, &seen_host, words, err, errlen);
        if (rc < 0)
            goto out;
    }
    if (!seen_host) {
        rc = perr(err, errlen, ln, "no 'host' line");
        goto out;
    }
    if (c->n_models > 1) {
        qsort(c->models, c->n_models, sizeof(*c->models), cmp_model);
        for (size_t i = 1; i < c->n_models; i++)
            if (strcmp(c->models[i - 1].name, c->models[i].name) == 0) {
                rc = perr(err, errlen, 0, "model '%s' listed twice",
                          c->models[i].name);
                goto out;
            }
    }
    *ret_caps = c;
    c = NULL;
out:
    free(words);
    free(copy);
    res_cpu_caps_free(c);
    return rc;
}

/* ---- queries ---------------------------------------------------------- */

const struct res_cpu_model *res_cpu_caps_model(const struct res_cpu_caps *caps,
                                               const char *name)
{
    struct res_cpu_model key;

    if (caps == NULL || caps->n_models == 0 || strlen(name) >= sizeof(key.name))
        return NULL;
    strcpy(key.name, name);
    return bsearch(&key, caps->models, caps->n_models, sizeof(key), cmp_model);
}

bool res_cpu_caps_runs(const struct res_cpu_caps *caps, const char *name)
{
    const struct res_cpu_model *m = res_cpu_caps_model(caps, name);

    return m != NULL && m->n_missing == 0;
}

bool res_cpu_caps_same_host(const struct res_cpu_caps *a,
                            const struct res_cpu_caps *b)
{
    if (a->n_host != b->n_host)
        return false;
    for (size_t i = 0; i < a->n_host; i++)
        if (strcmp(a->host[i], b->host[i]) != 0)
            return false;
    return true;
}

/* "avx2, fma, ..." of model m into buf: at most 8 named, then a count. */
static void list_missing(const struct res_cpu_model *m, char *buf, size_t len)
{
    size_t off = 0;

    buf[0] = '\0';
    for (size_t k = 0; k < m->n_missing && off < len; k++) {
        int n;

        if (k == 8) {
            snprintf(buf + off, len - off, " and %zu more", m->n_missing - k);
            return;
        }
        n = snprintf(buf + off, len - off, "%s%s", k ? ", " : "",
                     m->missing[k]);
        if (n < 0)
            return;
        off += (size_t)n;
    }
}

int res_cpu_baseline(const struct res_cpu_caps *const *caps, size_t n,
                     char *ret_model, size_t len, char *err, size_t errlen)
{
    const struct res_cpu_model *best = NULL;

    res_err_init();
    if (n == 0) {
        snprintf(err, errlen, "no node has reported its CPU capability");
        return -RES_E_CPU;
    }
    /* Candidates come from the first node: a model every node runs is one
     * it runs. */
    for (size_t i = 0; i < caps[0]->n_models; i++) {
        const struct res_cpu_model *m = &caps[0]->models[i];
        bool all = m->n_missing == 0;

        for (size_t k = 1; all && k < n; k++)
            all = res_cpu_caps_runs(caps[k], m->name);
        if (!all)
            continue;
        /* models are sorted by name: a tie keeps the lowest name */
        if (best == NULL || m->rank > best->rank)
            best = m;
    }
    if (best == NULL) {
        snprintf(err, errlen,
                 "no named CPU model runs on all %zu nodes; set one with "
                 "'clusterctl config set cpu-baseline MODEL'",
                 n);
        return -RES_E_CPU;
    }
    if (strlen(best->name) >= len)
        return -ENAMETOOLONG;
    strcpy(ret_model, best->name);
    return 0;
}

int res_cpu_baseline_check(const struct res_cpu_caps *const *caps,
                           const char *const *names, size_t n,
                           const char *model, char *err, size_t errlen)
{
    size_t off = 0, bad = 0, known = 0;
    char miss[512];

    res_err_init();
    if (!cmn_name_valid(model)) {
        snprintf(err, errlen, "'%.64s' is not a CPU model name (%s)", model,
                 RES_NAME_RULE);
        return -RES_E_CPU;
    }
    for (size_t i = 0; i < n; i++)
        if (res_cpu_caps_model(caps[i], model) != NULL)
            known++;
    if (n > 0 && known == 0) {
        snprintf(err, errlen,
                 "CPU model '%s' is unknown to every node (see 'clusterctl "
                 "cluster cpu')",
                 model);
        return -RES_E_CPU;
    }
    err[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const struct res_cpu_model *m = res_cpu_caps_model(caps[i], model);

        if (m != NULL && m->n_missing == 0)
            continue;
        if (m != NULL)
            list_missing(m, miss, sizeof(miss));
        if (bad++ == 0)
            snprintf(err, errlen,
                     "CPU model '%s' does not run on node '%s' (%s%s)", model,
                     names[i], m ? "lacks " : "does not know it",
                     m ? miss : "");
        else if (off < errlen)
            snprintf(err + off, errlen - off, ", nor on node '%s' (%s%s)",
                     names[i], m ? "lacks " : "does not know it",
                     m ? miss : "");
        off = strlen(err);
    }
    return bad ? -RES_E_CPU : 0;
}

/* ---- the fit of a VM -------------------------------------------------- */

bool res_cpu_fits(const struct res_cpu_need *need,
                  const struct res_cpu_caps *node, char *why, size_t len)
{
    const struct res_cpu_model *m;
    char miss[512];

    if (len)
        why[0] = '\0';
    if (need->mode == RES_CPU_ANY)
        return true;
    if (need->mode == RES_CPU_CLUSTER && need->model[0] == '\0')
        return true;
    if (need->mode == RES_CPU_HOST && need->host_of == NULL)
        return true;
    if (node == NULL) {
        snprintf(why, len, "has not reported its CPU capability");
        return false;
    }
    if (need->mode == RES_CPU_HOST) {
        if (res_cpu_caps_same_host(need->host_of, node))
            return true;
        snprintf(why, len,
                 "host CPU differs from the VM's node (cpu mode host)");
        return false;
    }
    m = res_cpu_caps_model(node, need->model);
    if (m == NULL) {
        snprintf(why, len, "does not know CPU model '%s'", need->model);
        return false;
    }
    if (m->n_missing == 0)
        return true;
    list_missing(m, miss, sizeof(miss));
    snprintf(why, len, "lacks %s for CPU model '%s'", miss, need->model);
    return false;
}

const char *res_cpu_mode_str(enum res_cpu_mode mode)
{
    switch (mode) {
    case RES_CPU_ANY:
        return "any";
    case RES_CPU_CLUSTER:
        return "cluster";
    case RES_CPU_MODEL:
        return "model";
    case RES_CPU_HOST:
        return "host";
    }
    return "?";
}

int res_cpu_mode_parse(const char *s, enum res_cpu_mode *ret_mode)
{
    static const enum res_cpu_mode modes[] = {RES_CPU_CLUSTER, RES_CPU_MODEL,
                                              RES_CPU_HOST};

    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
        if (strcmp(s, res_cpu_mode_str(modes[i])) == 0) {
            *ret_mode = modes[i];
            return 0;
        }
    return -EINVAL;
}
