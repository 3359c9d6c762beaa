/* The replicated storage health of the nodes (see cd-storage.h). */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clusterd/cd-coord.h"
#include "clusterd/cd-int.h"
#include "clusterd/cd-storage.h"
#include "common/cmn-auto.h"

static const char *const state_names[CD_STOR_STATE_END] = {
    [CD_STOR_UNKNOWN] = "unknown",       [CD_STOR_OK] = "ok",
    [CD_STOR_JOINING] = "joining",       [CD_STOR_LOST] = "lost",
    [CD_STOR_UNREADABLE] = "unreadable",
};

const char *cd_stor_state_name(enum cd_stor_state s)
{
    return s < CD_STOR_STATE_END ? state_names[s] : "?";
}

void cd_stor_msg(const struct cd_stor_node *r, struct cd_co_msg *m)
{
    memset(m, 0, sizeof(*m));
    m->type = CD_CO_STORAGE;
    m->kind = r->state;
    m->n[0] = r->since;
    snprintf(m->vm, sizeof(m->vm), "%s", r->volume);
    snprintf(m->text, sizeof(m->text), "%s", r->detail);
}

static struct cd_stor_node *find(struct cd_stor_table *t, uint32_t node)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i].node == node)
            return &t->v[i];
    return NULL;
}

const struct cd_stor_node *cd_stor_get(const struct cd_stor_table *t,
                                       uint32_t node)
{
    return find((struct cd_stor_table *)t, node);
}

bool cd_stor_apply(struct cd_stor_table *t, uint32_t sender,
                   const struct cd_co_msg *m)
{
    struct cd_stor_node r = {.node = sender}, *e;

    if (m->type != CD_CO_STORAGE || m->kind >= CD_STOR_STATE_END)
        return false;
    r.state = (enum cd_stor_state)m->kind;
    r.since = m->n[0];
    snprintf(r.volume, sizeof(r.volume), "%s", m->vm);
    cd_errf(r.detail, sizeof(r.detail), "%s", m->text);
    e = find(t, sender);
    if (!e) {
        if (t->n == CMN_ARRAY_SIZE(t->v))
            return false;
        e = &t->v[t->n++];
    } else if (!memcmp(e, &r, sizeof(r))) {
        return false;
    }
    *e = r;
    return true;
}

void cd_stor_confchg(struct cd_stor_table *t, const uint32_t *members, size_t n)
{
    for (size_t i = 0; i < t->n;) {
        bool member = false;
        for (size_t k = 0; k < n; k++)
            member |= members[k] == t->v[i].node;
        if (member) {
            i++;
            continue;
        }
        t->v[i] = t->v[--t->n];
    }
}

bool cd_stor_healthy(const struct cd_stor_table *t, uint32_t node)
{
    const struct cd_stor_node *e = cd_stor_get(t, node);

    return !e || e->state == CD_STOR_OK || e->state == CD_STOR_UNKNOWN;
}

void cd_stor_reason(const struct cd_stor_table *t, uint32_t node, char *buf,
                    size_t len)
{
    const struct cd_stor_node *e = cd_stor_get(t, node);
    char when[32] = "?";
    time_t since;
    struct tm tm;
    const char *what;

    if (!len)
        return;
    buf[0] = '\0';
    if (cd_stor_healthy(t, node))
        return;
    since = (time_t)e->since;
    if (since && localtime_r(&since, &tm))
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
    switch (e->state) {
    case CD_STOR_JOINING:
        what = "being joined again";
        break;
    case CD_STOR_UNREADABLE:
        what = "unreadable";
        break;
    default:
        what = "lost";
        break;
    }
    snprintf(buf, len, "storage: %s of volume '%s' %s since %s%s%s%s",
             e->state == CD_STOR_UNREADABLE ? "path" : "lockspace",
             e->volume[0] ? e->volume : "?", what, when,
             e->detail[0] ? " (" : "", e->detail, e->detail[0] ? ")" : "");
}
