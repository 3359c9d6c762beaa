/* A node's CPU capability from its QEMU's QMP replies (json-c).
 *
 * The edge where QEMU's words become struct res_cpu_caps: decisions
 * (baseline, fit) never see JSON. Unit tests feed it replies recorded
 * from QEMU 7.2 under TCG (tests/data/qmp/cpu-tcg-*).
 */
#include "config.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resources/res-cpu.h"
#include "resources/res-int.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_model(const void *a, const void *b)
{
    return strcmp(((const struct res_cpu_model *)a)->name,
                  ((const struct res_cpu_model *)b)->name);
}

static int qerr(char *err, size_t errlen, const char *what, const char *why)
{
    res_err_init();
    snprintf(err, errlen, "QMP %s: %s", what, why);
    return -RES_E_CPU;
}

/* The "return" member of a reply text, a new reference, of type t. */
static int reply_return(const char *reply, json_type t, const char *what,
                        json_object **ret_obj, char *err, size_t errlen)
{
    json_object *root, *r;

    root = json_tokener_parse(reply);
    if (root == NULL)
        return qerr(err, errlen, what, "not JSON");
    if (!json_object_object_get_ex(root, "return", &r) ||
        !json_object_is_type(r, t)) {
        json_object_put(root);
        return qerr(err, errlen, what, "no 'return' of the expected type");
    }
    json_object_get(r);
    json_object_put(root);
    *ret_obj = r;
    return 0;
}

static int strv_push(char ***v, size_t *n, const char *s)
{
    char **p;

    if (*n % 64 == 0) {
        p = realloc(*v, (*n + 64) * sizeof(**v));
        if (p == NULL)
            return -ENOMEM;
        *v = p;
    }
    (*v)[*n] = strdup(s);
    if ((*v)[*n] == NULL)
        return -ENOMEM;
    (*n)++;
    return 0;
}

static void strv_sort_unique(char **v, size_t *n)
{
    size_t o = 0;

    if (*n == 0)
        return;
    qsort(v, *n, sizeof(*v), cmp_str);
    for (size_t i = 0; i < *n; i++) {
        if (o > 0 && strcmp(v[o - 1], v[i]) == 0) {
            free(v[i]);
            continue;
        }
        v[o++] = v[i];
    }
    *n = o;
}

static bool strv_has(char *const *v, size_t n, const char *s)
{
    return n > 0 && bsearch(&s, v, n, sizeof(*v), cmp_str) != NULL;
}

int res_cpu_expansion_features(const char *reply, char ***ret_feats,
                               size_t *ret_n, char *err, size_t errlen)
{
    json_object *r, *model, *props;
    char **v = NULL;
    size_t n = 0;
    int rc;

    rc = reply_return(reply, json_type_object, "query-cpu-model-expansion", &r,
                      err, errlen);
    if (rc < 0)
        return rc;
    if (!json_object_object_get_ex(r, "model", &model) ||
        !json_object_object_get_ex(model, "props", &props) ||
        !json_object_is_type(props, json_type_object)) {
        rc = qerr(err, errlen, "query-cpu-model-expansion",
                  "no model.props object");
        goto out;
    }
    json_object_object_foreach(props, key, val)
    {
        /* Features are booleans; family, model-id, level... are not. */
        if (!json_object_is_type(val, json_type_boolean) ||
            !json_object_get_boolean(val))
            continue;
        if (strlen(key) >= RES_CPU_FEAT_MAX || n >= RES_CPU_FEATS_MAX) {
            rc = qerr(err, errlen, "query-cpu-model-expansion",
                      "feature name too long or too many features");
            goto out;
        }
        if ((rc = strv_push(&v, &n, key)) < 0)
            goto out;
    }
    strv_sort_unique(v, &n);
    *ret_feats = v;
    *ret_n = n;
    v = NULL;
out:
    res_cpu_strv_free(v, n);
    json_object_put(r);
    return rc;
}

/* Features in f[0..nf) missing from h[0..nh) appended to m. */
static int add_beyond(struct res_cpu_model *m, char *const *f, size_t nf,
                      char *const *h, size_t nh)
{
    for (size_t i = 0; i < nf; i++)
        if (!strv_has(h, nh, f[i]) &&
            strv_push(&m->missing, &m->n_missing, f[i]) < 0)
            return -ENOMEM;
    return 0;
}

static const struct res_cpu_expansion *
find_exp(const struct res_cpu_expansion *exps, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(exps[i].name, name) == 0)
            return &exps[i];
    return NULL;
}

/* One entry of query-cpu-definitions into c (or skipped). */
static int add_definition(struct res_cpu_caps *c, json_object *d,
                          const struct res_cpu_expansion *exps, size_t n_exps,
                          const char *cap, char *err, size_t errlen)
{
    json_object *jn, *js, *ju;
    const struct res_cpu_expansion *e;
    struct res_cpu_model *m;
    const char *name;
    char **f = NULL;
    size_t nf = 0;
    int rc = 0;

    if (!json_object_object_get_ex(d, "name", &jn) ||
        !json_object_is_type(jn, json_type_string))
        return qerr(err, errlen, "query-cpu-definitions", "entry without name");
    name = json_object_get_string(jn);
    /* host and max differ per node and base is no CPU anyone wants: none
     * is a model to move a guest with. */
    if (!json_object_object_get_ex(d, "migration-safe", &js) ||
        !json_object_get_boolean(js) || !strcmp(name, "base") ||
        !strcmp(name, "host") || !strcmp(name, "max") || !cmn_name_valid(name))
        return 0;
    e = find_exp(exps, n_exps, name);
    if (cap != NULL && e == NULL)
        return 0; /* its features are unknown: the cap can't be applied */
    if (c->n_models >= RES_CPU_MODELS_MAX)
        return qerr(err, errlen, "query-cpu-definitions", "too many models");
    if (c->n_models % 64 == 0) {
        void *p = realloc(c->models, (c->n_models + 64) * sizeof(*c->models));
        if (p == NULL)
            return -ENOMEM;
        c->models = p;
    }
    m = &c->models[c->n_models++];
    memset(m, 0, sizeof(*m));
    snprintf(m->name, sizeof(m->name), "%s", name);
    if (json_object_object_get_ex(d, "unavailable-features", &ju) &&
        json_object_is_type(ju, json_type_array))
        for (size_t i = 0; i < json_object_array_length(ju); i++) {
            const char *s =
                json_object_get_string(json_object_array_get_idx(ju, i));
            if (s == NULL || strlen(s) >= RES_CPU_FEAT_MAX)
                return qerr(err, errlen, "query-cpu-definitions",
                            "bad unavailable feature");
            if (strv_push(&m->missing, &m->n_missing, s) < 0)
                return -ENOMEM;
        }
    if (e != NULL) {
        rc = res_cpu_expansion_features(e->reply, &f, &nf, err, errlen);
        if (rc < 0)
            return rc;
        m->rank = (unsigned)nf;
        if (cap != NULL)
            rc = add_beyond(m, f, nf, c->host, c->n_host);
        res_cpu_strv_free(f, nf);
    }
    strv_sort_unique(m->missing, &m->n_missing);
    return rc;
}

int res_cpu_caps_from_qmp(const char *defs, const char *host,
                          const struct res_cpu_expansion *exps, size_t n_exps,
                          const char *cap, struct res_cpu_caps **ret_caps,
                          char *err, size_t errlen)
{
    struct res_cpu_caps *c;
    json_object *list = NULL;
    const struct res_cpu_expansion *ce = NULL;
    int rc;

    res_err_init();
    if (cap != NULL && (ce = find_exp(exps, n_exps, cap)) == NULL) {
        snprintf(err, errlen,
                 "CPU cap '%.64s': not a model this QEMU expanded (see "
                 "query-cpu-definitions)",
                 cap);
        return -RES_E_CPU;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    rc = res_cpu_expansion_features(host, &c->host, &c->n_host, err, errlen);
    if (rc < 0)
        goto out;
    if (ce != NULL) {
        /* The capped host offers what both the host and the cap model
         * have. */
        char **f = NULL;
        size_t nf = 0, o = 0;

        rc = res_cpu_expansion_features(ce->reply, &f, &nf, err, errlen);
        if (rc < 0)
            goto out;
        for (size_t i = 0; i < c->n_host; i++) {
            if (strv_has(f, nf, c->host[i]))
                c->host[o++] = c->host[i];
            else
                free(c->host[i]);
        }
        c->n_host = o;
        res_cpu_strv_free(f, nf);
    }
    rc = reply_return(defs, json_type_array, "query-cpu-definitions", &list,
                      err, errlen);
    if (rc < 0)
        goto out;
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        rc = add_definition(c, json_object_array_get_idx(list, i), exps, n_exps,
                            cap, err, errlen);
        if (rc < 0)
            goto out;
    }
    if (c->n_models > 1)
        qsort(c->models, c->n_models, sizeof(*c->models), cmp_model);
    for (size_t i = 1; i < c->n_models; i++)
        if (strcmp(c->models[i - 1].name, c->models[i].name) == 0) {
            rc = qerr(err, errlen, "query-cpu-definitions",
                      "a model listed twice");
            goto out;
        }
    *ret_caps = c;
    c = NULL;
out:
    json_object_put(list);
    res_cpu_caps_free(c);
    return rc;
}
