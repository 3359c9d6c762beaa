/* VM networks (see cd-net.h). */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clusterd/cd-coord.h"
#include "clusterd/cd-int.h"
#include "clusterd/cd-net.h"
#include "common/cmn-auto.h"

static int cmp_name(const void *a, const void *b)
{
    return strcmp(a, b);
}

void cd_net_scan(const char *sysfs, char *list, size_t len)
{
    char names[RES_NODE_MAX_BRIDGES][RES_BRIDGE_MAX], path[512];
    const char *dir = sysfs ? sysfs : "/sys/class/net";
    size_t n = 0, used = 0;
    struct dirent *e;
    struct stat st;
    DIR *d;

    if (len)
        list[0] = '\0';
    d = opendir(dir);
    if (!d)
        return;
    while ((e = readdir(d)) && n < RES_NODE_MAX_BRIDGES) {
        if (e->d_name[0] == '.' || strlen(e->d_name) >= RES_BRIDGE_MAX)
            continue;
        snprintf(path, sizeof(path), "%s/%s/bridge", dir, e->d_name);
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            snprintf(names[n++], RES_BRIDGE_MAX, "%s", e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(names[0]), cmp_name);
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(names[i]);
        if (used + l + (used ? 1 : 0) + 1 > len)
            break;
        used += (size_t)snprintf(list + used, len - used, "%s%s",
                                 used ? " " : "", names[i]);
    }
}

void cd_net_msg(const char *list, struct cd_co_msg *m)
{
    memset(m, 0, sizeof(*m));
    m->type = CD_CO_BRIDGES;
    snprintf(m->text, sizeof(m->text), "%s", list);
}

static ssize_t find(const struct cd_net_table *t, uint32_t node)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i].node == node)
            return (ssize_t)i;
    return -1;
}

bool cd_net_apply(struct cd_net_table *t, uint32_t sender,
                  const struct cd_co_msg *m)
{
    ssize_t i;

    if (m->type != CD_CO_BRIDGES)
        return false;
    i = find(t, sender);
    if (i < 0) {
        if (t->n == CMN_ARRAY_SIZE(t->v))
            return false;
        i = (ssize_t)t->n++;
        t->v[i].node = sender;
    } else if (strcmp(t->v[i].list, m->text) == 0) {
        return false;
    }
    snprintf(t->v[i].list, sizeof(t->v[i].list), "%s", m->text);
    return true;
}

void cd_net_confchg(struct cd_net_table *t, const uint32_t *members, size_t n)
{
    for (size_t i = 0; i < t->n;) {
        bool member = false;
        for (size_t k = 0; k < n; k++)
            member |= members[k] == t->v[i].node;
        if (member)
            i++;
        else
            t->v[i] = t->v[--t->n];
    }
}

void cd_net_fill(const struct cd_net_table *t, struct res_node *r)
{
    ssize_t i = find(t, r->id);

    if (i >= 0)
        res_node_set_bridges(r, t->v[i].list);
}

bool cd_net_mac_taken(const struct cd_cdb *cdb, const struct res_vm *def,
                      const char *except, char *err, size_t errlen)
{
    for (size_t a = 0; a < def->n_nics; a++) {
        const struct cd_vm *other =
            cd_cdb_vm_by_mac(cdb, def->nics[a].mac, except);

        if (other && strcmp(other->name, def->name) != 0) {
            cd_cdb_mac_taken_msg(def->name, other, def->nics[a].mac, err,
                                 errlen);
            return true;
        }
    }
    return false;
}

/* Whether word `w` is one of the space-separated words of `list`. */
static bool list_has(const char *list, const char *w)
{
    size_t n = strlen(w);

    for (const char *p = list; *p;) {
        size_t len;

        p += strspn(p, " ");
        len = strcspn(p, " ");
        if (len == n && strncmp(p, w, n) == 0)
            return true;
        p += len;
    }
    return false;
}

bool cd_net_bridge_warning(const struct cd_net_table *t,
                           const struct cd_cdb *cdb, const struct res_vm *def,
                           char *out, size_t len)
{
    for (size_t i = 0; i < def->n_nics; i++) {
        const char *br = def->nics[i].bridge;
        size_t used;
        bool found = false;

        for (size_t k = 0; k < t->n && !found; k++)
            found = list_has(t->v[k].list, br);
        if (found || t->n == 0)
            continue;
        used = (size_t)snprintf(out, len,
                                "VM '%s' needs bridge '%s' (NIC %zu), which "
                                "no node has (",
                                def->name, br, i);
        for (size_t k = 0; k < t->n && used < len; k++) {
            const struct cd_node *n = cd_cdb_node_by_id(cdb, t->v[k].node);
            char id[16];

            snprintf(id, sizeof(id), "node %u", (unsigned)t->v[k].node);
            used += (size_t)snprintf(out + used, len - used, "%s%s: %s",
                                     k ? "; " : "", n ? n->name : id,
                                     t->v[k].list[0] ? t->v[k].list : "none");
        }
        if (used < len)
            snprintf(out + used, len - used,
                     "): it cannot start until a node has it (create the "
                     "bridge, or fix <nic bridge> with 'clusterctl vm edit')");
        return true;
    }
    return false;
}
