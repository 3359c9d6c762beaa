/* Cluster validation results and node readiness (see cd-check.h). */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clusterd/cd-check.h"
#include "clusterd/cd-coord.h"
#include "clusterd/cd-int.h"
#include "common/cmn-auto.h"

static const char *const chk_names[CD_CHK_END] = {
    [CD_CHK_QUORUM] = "quorum",       [CD_CHK_AUTHKEY] = "authkey",
    [CD_CHK_WATCHDOG] = "watchdog",   [CD_CHK_LUNS] = "luns",
    [CD_CHK_LOCKSPACE] = "lockspace", [CD_CHK_KVM] = "kvm",
    [CD_CHK_CLOCK] = "clock",         [CD_CHK_MEMORY] = "memory",
    [CD_CHK_READY] = "ready",         [CD_CHK_CPU] = "cpu",
};

static const char *const status_names[CD_CHK_STATUS_END] = {
    [CD_CHK_NONE] = "none",
    [CD_CHK_PASS] = "pass",
    [CD_CHK_WARN] = "warn",
    [CD_CHK_FAIL] = "fail",
};

const char *cd_chk_name(enum cd_chk_id id)
{
    return (unsigned)id < CD_CHK_END ? chk_names[id] : "?";
}

const char *cd_chk_status_name(enum cd_chk_status s)
{
    return (unsigned)s < CD_CHK_STATUS_END ? status_names[s] : "?";
}

void cd_chk_msg(enum cd_chk_id id, const struct cd_chk_result *r,
                uint64_t wall_ms, struct cd_co_msg *m)
{
    memset(m, 0, sizeof(*m));
    m->type = CD_CO_CHECK;
    m->kind = id;
    m->cause = r ? r->status : CD_CHK_NONE;
    m->n[0] = r ? r->value : 0;
    m->n[1] = wall_ms;
    if (r)
        snprintf(m->text, sizeof(m->text), "%s", r->text);
}

static struct cd_chk_node *find(struct cd_chk_table *t, uint32_t node)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i].node == node)
            return &t->v[i];
    return NULL;
}

const struct cd_chk_node *cd_chk_get(const struct cd_chk_table *t,
                                     uint32_t node)
{
    return find((struct cd_chk_table *)t, node);
}

bool cd_chk_apply(struct cd_chk_table *t, uint32_t sender,
                  const struct cd_co_msg *m, uint64_t now_wall_ms)
{
    struct cd_chk_node *e;
    struct cd_chk_result r = {0};

    if (m->type != CD_CO_CHECK || m->cause >= CD_CHK_STATUS_END)
        return false;
    e = find(t, sender);
    if (!e) {
        if (t->n == CMN_ARRAY_SIZE(t->v))
            return false;
        e = &t->v[t->n++];
        memset(e, 0, sizeof(*e));
        e->node = sender;
    }
    e->reported = true;
    if (m->n[1] && now_wall_ms) {
        e->clock_known = true;
        e->clock_offset_ms = (int64_t)(m->n[1] - now_wall_ms);
    }
    /* Results a member computes itself are not taken from a sender. */
    if (m->kind >= CD_CHK_END || m->kind == CD_CHK_CLOCK ||
        m->kind == CD_CHK_MEMORY || m->kind == CD_CHK_CPU)
        return false;
    r.status = (enum cd_chk_status)m->cause;
    r.value = m->n[0];
    cd_errf(r.text, sizeof(r.text), "%s", m->text);
    if (cd_chk_same(&e->r[m->kind], &r))
        return false;
    e->r[m->kind] = r;
    return true;
}

bool cd_chk_same(const struct cd_chk_result *a, const struct cd_chk_result *b)
{
    return a->status == b->status && a->value == b->value &&
           strcmp(a->text, b->text) == 0;
}

void cd_chk_confchg(struct cd_chk_table *t, const uint32_t *members, size_t n)
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

bool cd_chk_ready(const struct cd_chk_table *t, uint32_t node)
{
    const struct cd_chk_node *e = cd_chk_get(t, node);

    return !e || e->r[CD_CHK_READY].status != CD_CHK_FAIL;
}

/* ------------------------------------------------------------ evaluate */

void cd_chk_set(struct cd_chk_result *r, enum cd_chk_status s, const char *fmt,
                ...)
{
    va_list ap;

    r->status = s;
    va_start(ap, fmt);
    vsnprintf(r->text, sizeof(r->text), fmt, ap);
    va_end(ap);
}

/* The value most reported nodes have for `id` among those whose own
 * check passed (ties: the lowest node's). False when none has one. */
static bool majority(const struct cd_chk_node *v, size_t n, enum cd_chk_id id,
                     uint64_t *ret)
{
    size_t best = 0;

    for (size_t i = 0; i < n; i++) {
        size_t c = 0;
        if (!v[i].reported || v[i].r[id].status == CD_CHK_NONE ||
            v[i].r[id].status == CD_CHK_FAIL)
            continue;
        for (size_t k = 0; k < n; k++)
            c += v[k].reported && v[k].r[id].status != CD_CHK_NONE &&
                 v[k].r[id].status != CD_CHK_FAIL &&
                 v[k].r[id].value == v[i].r[id].value;
        if (c > best) {
            best = c;
            *ret = v[i].r[id].value;
        }
    }
    return best > 0;
}

/* "node1, node3": the nodes with `value` for `id`. */
static void nodes_with(const struct cd_chk_node *v, size_t n, enum cd_chk_id id,
                       uint64_t value, char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < n && used + 1 < len; i++)
        if (v[i].reported && v[i].r[id].status != CD_CHK_NONE &&
            v[i].r[id].status != CD_CHK_FAIL && v[i].r[id].value == value)
            used += (size_t)snprintf(buf + used, len - used, "%s%s",
                                     used ? ", " : "", v[i].name);
}

/* Words of `a` (ids separated by spaces) that are not words of `b`. */
static void words_missing(const char *a, const char *b, char *out, size_t len)
{
    char pa[CD_CHK_TEXT], *save = NULL;
    size_t used = 0;

    out[0] = '\0';
    snprintf(pa, sizeof(pa), "%s", a);
    for (char *w = strtok_r(pa, " ", &save); w;
         w = strtok_r(NULL, " ", &save)) {
        char pb[CD_CHK_TEXT], *s2 = NULL;
        bool found = false;
        snprintf(pb, sizeof(pb), "%s", b);
        for (char *x = strtok_r(pb, " ", &s2); x && !found;
             x = strtok_r(NULL, " ", &s2))
            found = strcmp(w, x) == 0;
        if (!found && used + 1 < len)
            used += (size_t)snprintf(out + used, len - used, "%s%s",
                                     used ? " " : "", w);
    }
}

/* The ids part of a LUNS text: "N LUN(s): id id ..." -> "id id ...". */
static const char *lun_ids(const char *text)
{
    const char *p = strstr(text, ": ");
    return p ? p + 2 : "";
}

static void eval_authkey(struct cd_chk_node *v, size_t n)
{
    uint64_t maj;
    char who[160];

    if (!majority(v, n, CD_CHK_AUTHKEY, &maj))
        return;
    nodes_with(v, n, CD_CHK_AUTHKEY, maj, who, sizeof(who));
    for (size_t i = 0; i < n; i++) {
        struct cd_chk_result *r = &v[i].r[CD_CHK_AUTHKEY];
        if (!v[i].reported || r->status == CD_CHK_NONE ||
            r->status == CD_CHK_FAIL || r->value == maj)
            continue;
        cd_chk_set(r, CD_CHK_FAIL,
                   "authkey digest %016" PRIx64 " differs from %016" PRIx64
                   " on %s: corosync will not admit this node once it restarts "
                   "(copy /etc/corosync/authkey from %s)",
                   r->value, maj, who, who);
    }
}

static void eval_luns(struct cd_chk_node *v, size_t n)
{
    const struct cd_chk_node *ref = NULL;
    uint64_t maj;
    char who[160];

    if (!majority(v, n, CD_CHK_LUNS, &maj))
        return;
    for (size_t i = 0; i < n && !ref; i++)
        if (v[i].reported && v[i].r[CD_CHK_LUNS].status != CD_CHK_FAIL &&
            v[i].r[CD_CHK_LUNS].status != CD_CHK_NONE &&
            v[i].r[CD_CHK_LUNS].value == maj)
            ref = &v[i];
    nodes_with(v, n, CD_CHK_LUNS, maj, who, sizeof(who));
    for (size_t i = 0; i < n; i++) {
        struct cd_chk_result *r = &v[i].r[CD_CHK_LUNS];
        char missing[CD_CHK_TEXT], extra[CD_CHK_TEXT];
        if (!v[i].reported || r->status == CD_CHK_NONE || r->value == maj)
            continue;
        if (r->status == CD_CHK_FAIL && !strstr(r->text, ": "))
            continue; /* its own failure says more */
        words_missing(lun_ids(ref->r[CD_CHK_LUNS].text), lun_ids(r->text),
                      missing, sizeof(missing));
        words_missing(lun_ids(r->text), lun_ids(ref->r[CD_CHK_LUNS].text),
                      extra, sizeof(extra));
        /* Name only the side that differs (an empty list reads as a LUN
         * with an empty id). */
        cd_chk_set(r, CD_CHK_FAIL,
                   "LUNs differ from %s:%s%s%s%s%s%s (check lunbridge's "
                   "targets and the target's ACLs)",
                   who, missing[0] ? " missing here '" : "", missing,
                   missing[0] ? "'" : "", extra[0] ? " only here '" : "", extra,
                   extra[0] ? "'" : "");
    }
}

static void eval_clock(struct cd_chk_node *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct cd_chk_result *r = &v[i].r[CD_CHK_CLOCK];
        int64_t off = v[i].clock_offset_ms;
        uint64_t a = (uint64_t)(off < 0 ? -off : off);

        if (!v[i].reported)
            continue;
        if (!v[i].clock_known)
            cd_chk_set(r, CD_CHK_WARN, "no time stamp from this node yet");
        else if (a < CD_CHK_CLOCK_WARN_MS)
            cd_chk_set(r, CD_CHK_PASS,
                       "in step: %+" PRId64 " ms against the node "
                       "answering",
                       off);
        else
            cd_chk_set(r, a < CD_CHK_CLOCK_FAIL_MS ? CD_CHK_WARN : CD_CHK_FAIL,
                       "clock %+" PRId64
                       " ms off the node answering (run chrony "
                       "or systemd-timesyncd on every node)",
                       off);
    }
}

void cd_chk_evaluate(struct cd_chk_node *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (v[i].reported)
            continue;
        for (unsigned id = 0; id < CD_CHK_END; id++)
            cd_chk_set(
                &v[i].r[id], CD_CHK_FAIL,
                "no report from node %s: its clusterd is not in this "
                "node's cluster group (down, cut off, or without quorum)",
                v[i].name);
    }
    eval_authkey(v, n);
    eval_luns(v, n);
    eval_clock(v, n);
}

void cd_chk_memory(struct cd_chk_node *v, size_t n, const uint64_t *mem,
                   const uint64_t *used, const bool *up)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t spare = 0;

        if (!v[i].reported)
            continue;
        for (size_t k = 0; k < n; k++)
            if (k != i && up[k] && mem[k] > used[k])
                spare += mem[k] - used[k];
        if (!used[i])
            cd_chk_set(&v[i].r[CD_CHK_MEMORY], CD_CHK_PASS,
                       "no VM runs here: nothing to fail over");
        else if (used[i] <= spare)
            cd_chk_set(&v[i].r[CD_CHK_MEMORY], CD_CHK_PASS,
                       "its VMs (%" PRIu64
                       " MiB) fit in the other nodes' %" PRIu64 " MiB free",
                       used[i], spare);
        else
            cd_chk_set(&v[i].r[CD_CHK_MEMORY], CD_CHK_WARN,
                       "its VMs need %" PRIu64
                       " MiB, the other ready nodes have %" PRIu64
                       " MiB free: a failover would leave some stopped (by "
                       "priority)",
                       used[i], spare);
    }
}
