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
    for (size_t i = 0; i < cd_cdb_vm_count(cdb); i++) {
        const struct cd_vm *v = cd_cdb_vm(cdb, i);
        CMN_AUTO(res_vm) *other = NULL;
        char e[256];

        if (!v->definition || (except && strcmp(v->name, except) == 0) ||
            strcmp(v->name, def->name) == 0)
            continue;
        if (res_vm_parse(v->definition, strlen(v->definition), v->name, &other,
                         e, sizeof(e)) < 0)
            continue;
        for (size_t a = 0; a < def->n_nics; a++)
            for (size_t b = 0; b < other->n_nics; b++) {
                char mac[18];

                if (memcmp(def->nics[a].mac, other->nics[b].mac, 6) != 0)
                    continue;
                res_mac_format(def->nics[a].mac, mac);
                cd_errf(err, errlen,
                        "VM '%s': MAC %s is already a NIC of VM '%s'; give "
                        "the <nic> another mac (or leave mac out: one is "
                        "derived from the uuid)",
                        def->name, mac, other->name);
                return true;
            }
    }
    return false;
}
