/* clusterctl cluster cpu: each node's CPU capability as the CDB holds it,
 * the baseline (the administrator's cpu-baseline, else the newest model
 * every reporting node runs) with the nodes that cannot run it, and what
 * the other nodes lack for the newest model any node runs. Computed here from
 * the CDB with the code clusterd places VMs by (resources/res-cpu.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include "cli/ctl-client.h"
#include "cli/ctl-cluster.h"
#include "cli/ctl.h"
#include "resources/res-cpu.h"

#define MAX_NODES 16

struct cpu_node {
    char name[RES_NAME_MAX];
    char id[16];
    struct res_cpu_caps *caps; /* NULL: not reported */
    char err[256];             /* why the stored text did not parse */
};

static void attr_copy(xmlNode *n, const char *name, char *buf, size_t len)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);

    snprintf(buf, len, "%s", v ? (const char *)v : "");
    xmlFree(v);
}

static size_t collect(xmlDoc *doc, struct cpu_node *nodes)
{
    size_t n = 0;

    for (xmlNode *s = xmlDocGetRootElement(doc)->children; s; s = s->next) {
        if (s->type != XML_ELEMENT_NODE ||
            xmlStrcmp(s->name, (const xmlChar *)"nodes"))
            continue;
        for (xmlNode *x = s->children; x && n < MAX_NODES; x = x->next) {
            struct cpu_node *cn = &nodes[n];

            if (x->type != XML_ELEMENT_NODE ||
                xmlStrcmp(x->name, (const xmlChar *)"node"))
                continue;
            memset(cn, 0, sizeof(*cn));
            attr_copy(x, "name", cn->name, sizeof(cn->name));
            attr_copy(x, "nodeid", cn->id, sizeof(cn->id));
            for (xmlNode *c = x->children; c; c = c->next) {
                xmlChar *t;

                if (c->type != XML_ELEMENT_NODE ||
                    xmlStrcmp(c->name, (const xmlChar *)"cpu"))
                    continue;
                t = xmlNodeGetContent(c);
                if (t && res_cpu_caps_parse((const char *)t, &cn->caps, cn->err,
                                            sizeof(cn->err)) < 0)
                    cn->caps = NULL;
                xmlFree(t);
            }
            n++;
        }
    }
    return n;
}

/* The administrator's cpu-baseline setting, "" when unset. */
static void setting_baseline(xmlDoc *doc, char *buf, size_t len)
{
    buf[0] = '\0';
    for (xmlNode *s = xmlDocGetRootElement(doc)->children; s; s = s->next) {
        if (s->type != XML_ELEMENT_NODE ||
            xmlStrcmp(s->name, (const xmlChar *)"settings"))
            continue;
        for (xmlNode *x = s->children; x; x = x->next) {
            char key[64];

            if (x->type != XML_ELEMENT_NODE)
                continue;
            attr_copy(x, "name", key, sizeof(key));
            if (!strcmp(key, "cpu-baseline"))
                attr_copy(x, "value", buf, len);
        }
    }
}

/* The highest-ranked model node `c` runs, or "" */
static void newest(const struct res_cpu_caps *c, char *buf, size_t len)
{
    const struct res_cpu_caps *one[] = {c};
    char err[256];

    if (res_cpu_baseline(one, 1, buf, len, err, sizeof(err)) < 0)
        snprintf(buf, len, "-");
}

int ctl_cpu_show(void)
{
    struct cpu_node nodes[MAX_NODES];
    const struct res_cpu_caps *rep[MAX_NODES];
    const struct res_cpu_model *m;
    xmlDoc *doc = NULL;
    char *text = NULL;
    char base[RES_NAME_MAX] = "", top[RES_NAME_MAX] = "", best[RES_NAME_MAX];
    char set[RES_NAME_MAX];
    const char *names[MAX_NODES];
    size_t nnames = 0;
    char err[512];
    unsigned top_rank = 0;
    size_t n, nrep = 0;
    int rc;

    rc = ctl_cd_call("<request op=\"cdb-get\"/>", &doc, &text);
    if (rc)
        return rc;
    n = collect(doc, nodes);
    for (size_t i = 0; i < n; i++) {
        if (!nodes[i].caps)
            continue;
        rep[nrep++] = nodes[i].caps;
        newest(nodes[i].caps, best, sizeof(best));
        m = res_cpu_caps_model(nodes[i].caps, best);
        if (m && (m->rank > top_rank ||
                  (m->rank == top_rank && strcmp(best, top) < 0))) {
            top_rank = m->rank;
            snprintf(top, sizeof(top), "%s", best);
        }
    }
    printf("%-16s %-4s %-7s %-20s %s\n", "NODE", "ID", "MODELS", "NEWEST",
           top[0] ? "LACKS FOR THE NEWEST MODEL OF THE CLUSTER" : "");
    for (size_t i = 0; i < n; i++) {
        const struct cpu_node *cn = &nodes[i];
        size_t runs = 0;

        if (!cn->caps) {
            printf("%-16s %-4s %-7s %s\n", cn->name, cn->id, "-",
                   cn->err[0] ? cn->err : "(not reported)");
            continue;
        }
        for (size_t k = 0; k < cn->caps->n_models; k++)
            runs += cn->caps->models[k].n_missing == 0;
        newest(cn->caps, best, sizeof(best));
        printf("%-16s %-4s %-7zu %-20s", cn->name, cn->id, runs, best);
        m = res_cpu_caps_model(cn->caps, top);
        if (!m)
            printf(" does not know '%s'", top);
        else if (m->n_missing == 0)
            printf(" -");
        else {
            printf(" '%s':", top);
            for (size_t k = 0; k < m->n_missing; k++)
                printf(" %s", m->missing[k]);
        }
        printf("\n");
    }
    setting_baseline(doc, set, sizeof(set));
    if (set[0]) {
        printf("baseline: %s (set by 'clusterctl config set cpu-baseline')\n",
               set);
        /* nodes that joined since it was set may not run it */
        for (size_t i = 0; i < n; i++)
            if (nodes[i].caps)
                names[nnames++] = nodes[i].name;
        if (nrep &&
            res_cpu_baseline_check(rep, names, nrep, set, err, sizeof(err)) < 0)
            printf("WARNING: %s: cluster-mode VMs are not started or moved "
                   "there\n",
                   err);
    } else if (nrep == 0)
        printf("baseline: none (no node has reported its CPU)\n");
    else if (res_cpu_baseline(rep, nrep, base, sizeof(base), err, sizeof(err)) <
             0)
        printf("baseline: none: %s\n", err);
    else
        printf("baseline: %s (the newest model all %zu reporting node(s) "
               "run)\n",
               base, nrep);
    for (size_t i = 0; i < n; i++)
        res_cpu_caps_free(nodes[i].caps);
    xmlFreeDoc(doc);
    free(text);
    return CTL_EXIT_OK;
}
