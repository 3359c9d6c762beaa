/* The pure part of clusterd's CSV use: refs and orphans (see cd-csv.h). */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clusterd/cd-csv.h"
#include "csv/csv.h"

int cd_csv_ref_parse(const char *ref, char *ret_volume, size_t volume_len,
                     uint32_t *ret_slot, uint64_t *ret_state)
{
    const char *p, *colon;
    unsigned long long slot, state;
    char *end;

    if (strncmp(ref, CD_CSV_REF_PREFIX, strlen(CD_CSV_REF_PREFIX)) != 0)
        return -CD_E_BAD_VALUE;
    p = ref + strlen(CD_CSV_REF_PREFIX);
    colon = strchr(p, ':');
    if (!colon || colon == p || (size_t)(colon - p) >= volume_len)
        return -CD_E_BAD_VALUE;
    errno = 0;
    slot = strtoull(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end != ':' || slot >= CSV_OWNER_NONE)
        return -CD_E_BAD_VALUE;
    p = end + 1;
    state = strtoull(p, &end, 10);
    if (errno || end == p || *end)
        return -CD_E_BAD_VALUE;
    memcpy(ret_volume, ref + strlen(CD_CSV_REF_PREFIX),
           (size_t)(colon - ref) - strlen(CD_CSV_REF_PREFIX));
    ret_volume[colon - ref - strlen(CD_CSV_REF_PREFIX)] = '\0';
    *ret_slot = (uint32_t)slot;
    *ret_state = state;
    return 0;
}

int cd_csv_known_from_cdb(const struct cd_cdb *cdb, const char *volume,
                          struct cd_csv_known **ret, size_t *ret_n)
{
    size_t nvm = cd_cdb_vm_count(cdb), n = 0;
    struct cd_csv_known *k = calloc(nvm ? nvm : 1, sizeof(*k));

    if (!k)
        return -ENOMEM;
    for (size_t i = 0; i < nvm; i++) {
        const struct cd_vm *v = cd_cdb_vm(cdb, i);
        char vol[CSV_NAME_MAX + 1];
        uint64_t state;
        uint32_t slot;

        if (cd_csv_ref_parse(v->ref, vol, sizeof(vol), &slot, &state) < 0 ||
            strcmp(vol, volume) != 0)
            continue;
        snprintf(k[n].vm, sizeof(k[n].vm), "%s", v->name);
        k[n].slot = slot;
        n++;
    }
    *ret = k;
    *ret_n = n;
    return 0;
}

static bool known_has(const struct cd_csv_known *known, size_t nknown,
                      uint32_t slot, const char *vm)
{
    for (size_t i = 0; i < nknown; i++)
        if ((known[i].slot == slot || known[i].slot == CD_CSV_KNOWN_ANY) &&
            !strcmp(known[i].vm, vm))
            return true;
    return false;
}

int cd_csv_mover_format(char *buf, size_t len, const struct cd_csv_mover *mv)
{
    int n = snprintf(buf, len,
                     "<move-target from=\"%s\" node=\"%u\" "
                     "generation=\"%" PRIu64 "\"/>",
                     mv->from, mv->node, mv->generation);

    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int cd_csv_mover_parse(const char *xml, struct cd_csv_mover *ret)
{
    struct cd_csv_mover mv = {0};
    char from[CD_NAME_MAX + 1];
    unsigned node;
    uint64_t gen;
    int end = 0;

    if (!xml ||
        sscanf(xml,
               "<move-target from=\"%64[^\"]\" node=\"%u\" "
               "generation=\"%" SCNu64 "\"/>%n",
               from, &node, &gen, &end) != 3 ||
        end == 0 || xml[end] != '\0' || strlen(from) >= sizeof(mv.from) ||
        node == 0)
        return -CD_E_BAD_VALUE;
    snprintf(mv.from, sizeof(mv.from), "%s", from);
    mv.node = node;
    mv.generation = gen;
    *ret = mv;
    return 0;
}

bool cd_csv_move_cut(const struct cd_csv_mover *mv,
                     const struct csv_host *hosts, size_t nhosts)
{
    for (size_t i = 0; i < nhosts; i++) {
        if (hosts[i].host_id != mv->node)
            continue;
        if (hosts[i].state == CSV_HOST_DEAD)
            return true;
        /* Joined again since: the old incarnation's leases are gone
         * (a generation is only ever seen once it renews). */
        return hosts[i].generation != mv->generation &&
               hosts[i].state == CSV_HOST_LIVE;
    }
    return false; /* never seen there: not known, kept */
}

static void add_extent(struct cd_csv_orphan *o, const struct csv_extent *e)
{
    if (o->nextents < CD_CSV_ORPHAN_EXTENTS)
        o->extents[o->nextents] = e->id;
    o->nextents++;
    o->bytes += e->length;
}

int cd_csv_orphans(const struct csv_slot *slots, size_t nslots,
                   const struct csv_extent *ext, size_t next,
                   const struct cd_csv_known *known, size_t nknown,
                   struct cd_csv_orphan **ret, size_t *ret_n)
{
    struct cd_csv_orphan *v = calloc(nslots ? nslots : 1, sizeof(*v));
    size_t n = 0;

    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < nslots; i++) {
        const struct csv_slot *s = &slots[i];
        struct cd_csv_orphan *o = &v[n];
        bool owns = false;

        if (s->used && known_has(known, nknown, s->index, s->name))
            continue;
        memset(o, 0, sizeof(*o));
        o->slot = s->index;
        o->slot_used = s->used;
        o->slot_gen = s->generation;
        for (size_t k = 0; k < next; k++)
            if (ext[k].owner == s->index) {
                add_extent(o, &ext[k]);
                owns = true;
            }
        /* A free slot that owns nothing is just free. */
        if (!s->used && !owns)
            continue;
        if (s->used) {
            o->moving = cd_csv_mover_parse(s->xml, &o->mover) == 0;
            snprintf(o->vm, sizeof(o->vm), "%s", s->name);
            for (int b = 0, p = 0; b < 16; b++) {
                p += snprintf(o->uuid + p, sizeof(o->uuid) - (size_t)p, "%02x",
                              s->uuid[b]);
                if (b == 3 || b == 5 || b == 7 || b == 9)
                    o->uuid[p++] = '-';
            }
        }
        n++;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}
