/* The action history, its counters and the metrics text (cd-obs.h). */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clusterd/cd-int.h"
#include "clusterd/cd-obs.h"
#include "clusterd/cd-proto.h"
#include "common/cmn-auto.h"
#include "common/cmn-crc32c.h"
#include "common/cmn-le.h"
#include "common/cmn-name.h"

/* Histogram bounds in milliseconds (rendered in seconds). Downtime is
 * tens of milliseconds when live migration converges, seconds for a
 * quick move; a failover is bounded by sanlock's host-dead time (about
 * 70 s with io_timeout 1, 140 s with the default 10). */
static const uint64_t downtime_le[] = {10,  25,   50,   100,  250,
                                       500, 1000, 2500, 5000, 10000};
static const uint64_t duration_le[] = {500,   1000,  2500,   5000,  10000,
                                       30000, 60000, 120000, 300000};
static const uint64_t failover_le[] = {1000,  2500,  5000,   10000,  30000,
                                       60000, 90000, 120000, 180000, 300000};
/* A failover's start phase: QEMU started and running, a second or two
 * under TCG, more with a large guest or a slow disk. */
static const uint64_t start_le[] = {100,  250,   500,   1000,  2500,
                                    5000, 10000, 30000, 60000, 120000};
#define HIST_MAX 12

struct obs_hist {
    const uint64_t *le;
    size_t n;
    uint64_t counts[HIST_MAX]; /* per bound, not cumulative */
    uint64_t count, sum_ms;
};

enum { MIG_LIVE, MIG_QUICK, MIG_KINDS };

struct pending_failover {
    char vm[CD_NAME_MAX];
    uint64_t lost_ms;  /* when the node was lost, 0 = not known here */
    uint64_t begun_ms; /* first restart published */
    uint64_t seen_ms;  /* for replacement when full */
};

struct cd_obs {
    struct cd_obs_entry *hist; /* ring of CD_OBS_HISTORY_MAX */
    size_t hstart, hcount;
    uint64_t generation;
    struct cd_obs_entry *open; /* CD_OBS_OPEN_MAX, id 0 = free */
    struct pending_failover pend[CD_OBS_OPEN_MAX];
    uint64_t lost_ms; /* the last node loss (detection start), 0 = none */

    uint64_t actions[CD_ACT_KIND_END][CD_CAUSE_END][2];
    struct obs_hist downtime[MIG_KINDS], duration[MIG_KINDS];
    uint64_t sent_bytes[MIG_KINDS], passes[MIG_KINDS];
    uint64_t failovers;
    struct obs_hist fo_detect, fo_lease, fo_start, fo_total;
};

static void hist_init(struct obs_hist *h, const uint64_t *le, size_t n)
{
    memset(h, 0, sizeof(*h));
    h->le = le;
    h->n = n;
}

static void hist_observe(struct obs_hist *h, uint64_t ms)
{
    size_t i = 0;

    while (i < h->n && ms > h->le[i])
        i++;
    h->counts[i]++; /* i == n: only +Inf */
    h->count++;
    h->sum_ms += ms;
}

int cd_obs_new(struct cd_obs **ret)
{
    struct cd_obs *o = calloc(1, sizeof(*o));

    if (!o)
        return -ENOMEM;
    o->hist = calloc(CD_OBS_HISTORY_MAX, sizeof(*o->hist));
    o->open = calloc(CD_OBS_OPEN_MAX, sizeof(*o->open));
    if (!o->hist || !o->open) {
        cd_obs_free(o);
        return -ENOMEM;
    }
    for (int k = 0; k < MIG_KINDS; k++) {
        hist_init(&o->downtime[k], downtime_le, CMN_ARRAY_SIZE(downtime_le));
        hist_init(&o->duration[k], duration_le, CMN_ARRAY_SIZE(duration_le));
    }
    hist_init(&o->fo_detect, failover_le, CMN_ARRAY_SIZE(failover_le));
    hist_init(&o->fo_lease, failover_le, CMN_ARRAY_SIZE(failover_le));
    hist_init(&o->fo_start, start_le, CMN_ARRAY_SIZE(start_le));
    hist_init(&o->fo_total, failover_le, CMN_ARRAY_SIZE(failover_le));
    *ret = o;
    return 0;
}

void cd_obs_free(struct cd_obs *o)
{
    if (!o)
        return;
    free(o->hist);
    free(o->open);
    free(o);
}

size_t cd_obs_history_count(const struct cd_obs *o)
{
    return o->hcount;
}

const struct cd_obs_entry *cd_obs_history(const struct cd_obs *o, size_t i)
{
    if (i >= o->hcount)
        return NULL;
    return &o->hist[(o->hstart + i) % CD_OBS_HISTORY_MAX];
}

static bool in_history(const struct cd_obs *o, uint64_t id)
{
    for (size_t i = 0; i < o->hcount; i++)
        if (cd_obs_history(o, i)->id == id)
            return true;
    return false;
}

static struct cd_obs_entry *open_find(struct cd_obs *o, uint64_t id)
{
    for (size_t i = 0; i < CD_OBS_OPEN_MAX; i++)
        if (o->open[i].id == id)
            return &o->open[i];
    return NULL;
}

/* A free slot, or the one followed longest (its end will not be seen
 * with its passes: an action that never ends is not worth the slot). */
static struct cd_obs_entry *open_slot(struct cd_obs *o)
{
    struct cd_obs_entry *old = &o->open[0];

    for (size_t i = 0; i < CD_OBS_OPEN_MAX; i++) {
        if (o->open[i].id == 0)
            return &o->open[i];
        if (o->open[i].began_ms < old->began_ms)
            old = &o->open[i];
    }
    return old;
}

void cd_obs_node_lost(struct cd_obs *o, uint64_t now_ms, uint64_t detect_ms)
{
    o->lost_ms = now_ms > detect_ms ? now_ms - detect_ms : 1;
}

static struct pending_failover *pend_find(struct cd_obs *o, const char *vm)
{
    for (size_t i = 0; i < CD_OBS_OPEN_MAX; i++)
        if (o->pend[i].vm[0] && !strcmp(o->pend[i].vm, vm))
            return &o->pend[i];
    return NULL;
}

static void pend_add(struct cd_obs *o, const char *vm, uint64_t now_ms)
{
    struct pending_failover *p = pend_find(o, vm);

    if (p)
        return; /* a retry of the same failover: timed from the first */
    p = &o->pend[0];
    for (size_t i = 0; i < CD_OBS_OPEN_MAX; i++) {
        if (!o->pend[i].vm[0]) {
            p = &o->pend[i];
            break;
        }
        if (o->pend[i].seen_ms < p->seen_ms)
            p = &o->pend[i];
    }
    snprintf(p->vm, sizeof(p->vm), "%s", vm);
    p->lost_ms = o->lost_ms;
    p->begun_ms = now_ms;
    p->seen_ms = now_ms;
}

static void entry_fill(struct cd_obs_entry *e, const struct cd_action *a,
                       const char *from, const char *to)
{
    e->id = a->id;
    e->kind = a->kind;
    e->cause = a->cause;
    e->status = a->status;
    e->rc = a->rc;
    snprintf(e->vm, sizeof(e->vm), "%s", a->vm);
    snprintf(e->from, sizeof(e->from), "%s", from ? from : "");
    snprintf(e->to, sizeof(e->to), "%s", to ? to : "");
}

void cd_obs_action_begin(struct cd_obs *o, const struct cd_action *a,
                         const char *from, const char *to, uint64_t now_ms,
                         uint64_t now_s)
{
    struct cd_obs_entry *e;

    if (!a->id || open_find(o, a->id) || in_history(o, a->id))
        return;
    e = open_slot(o);
    memset(e, 0, sizeof(*e));
    entry_fill(e, a, from, to);
    e->started_s = now_s;
    e->began_ms = now_ms;
    e->detection_ms = e->lease_wait_ms = e->start_ms = e->failover_ms =
        CD_OBS_NONE;
    if (a->cause == CD_CAUSE_FAILOVER && a->kind == CD_ACT_START)
        pend_add(o, a->vm, now_ms);
}

void cd_obs_pass(struct cd_obs *o, const char *vm, uint32_t pass,
                 uint64_t transferred, uint64_t remaining, uint64_t dirty_rate,
                 uint64_t expected_downtime_ms, uint64_t now_ms)
{
    struct cd_obs_entry *e = NULL;
    struct cd_obs_pass *p;

    for (size_t i = 0; i < CD_OBS_OPEN_MAX && !e; i++)
        if (o->open[i].id && o->open[i].kind == CD_ACT_LIVE &&
            !strcmp(o->open[i].vm, vm))
            e = &o->open[i];
    if (!e || !pass)
        return;
    /* Progress within a pass updates it; a new pass appends, or, once
     * the table is full, replaces the last (the final passes matter
     * most: they decide the downtime). */
    if (e->npasses && e->passes[e->npasses - 1].pass == pass)
        p = &e->passes[e->npasses - 1];
    else if (e->npasses < CD_OBS_PASS_MAX)
        p = &e->passes[e->npasses++];
    else
        p = &e->passes[CD_OBS_PASS_MAX - 1];
    p->pass = pass;
    p->transferred = transferred;
    p->remaining = remaining;
    p->dirty_rate = dirty_rate;
    p->expected_downtime_ms = expected_downtime_ms;
    p->at_ms = now_ms - e->began_ms;
}

static void count(struct cd_obs *o, const struct cd_obs_entry *e)
{
    bool done = e->status == CD_AS_DONE;
    int k = e->kind == CD_ACT_LIVE ? MIG_LIVE : MIG_QUICK;

    if ((unsigned)e->kind < CD_ACT_KIND_END &&
        (unsigned)e->cause < CD_CAUSE_END)
        o->actions[e->kind][e->cause][done ? 0 : 1]++;
    if (e->kind == CD_ACT_LIVE || e->kind == CD_ACT_QUICK) {
        if (done) {
            hist_observe(&o->downtime[k], e->downtime_ms);
            hist_observe(&o->duration[k], e->total_ms);
        }
        if (e->npasses) {
            o->sent_bytes[k] += e->passes[e->npasses - 1].transferred;
            o->passes[k] += e->passes[e->npasses - 1].pass;
        }
    }
    if (e->failover_ms != CD_OBS_NONE) {
        o->failovers++;
        if (e->detection_ms != CD_OBS_NONE)
            hist_observe(&o->fo_detect, e->detection_ms);
        hist_observe(&o->fo_lease, e->lease_wait_ms);
        if (e->start_ms != CD_OBS_NONE)
            hist_observe(&o->fo_start, e->start_ms);
        hist_observe(&o->fo_total, e->failover_ms);
    }
}

static void history_push(struct cd_obs *o, const struct cd_obs_entry *e)
{
    size_t slot = (o->hstart + o->hcount) % CD_OBS_HISTORY_MAX;

    if (o->hcount == CD_OBS_HISTORY_MAX)
        o->hstart = (o->hstart + 1) % CD_OBS_HISTORY_MAX;
    else
        o->hcount++;
    o->hist[slot] = *e;
    o->hist[slot].began_ms = 0;
    o->generation++;
}

/* ---------------------------------------------------------------- text */

/* The length of the UTF-8 character at s (at most `n` bytes) when it is a
 * character XML allows (#x9 #xA #xD, #x20-#xD7FF, #xE000-#xFFFD,
 * #x10000-#x10FFFF, shortest form), 0 otherwise. */
static size_t xml_char_len(const unsigned char *s, size_t n)
{
    uint32_t c;
    size_t len;

    if (s[0] < 0x80)
        return s[0] >= 0x20 || s[0] == 0x9 || s[0] == 0xa || s[0] == 0xd;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
        c = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        c = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        c = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
        (c >= 0xd800 && c <= 0xdfff) || c == 0xfffe || c == 0xffff ||
        c > 0x10ffff)
        return 0;
    return len;
}

/* Whether `s` is text an XML attribute can carry once escaped. */
static bool text_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), k;

    for (; *p; p += k, n -= k)
        if (!(k = xml_char_len(p, n)))
            return false;
    return true;
}

/* Makes `s` such text: what is not (a control byte, a character cut by
 * truncation, bytes that are not UTF-8) becomes '?', so the history
 * stays readable and its file loads again. */
static void text_clean(char *s)
{
    unsigned char *p = (unsigned char *)s;
    size_t n = strlen(s), k;

    for (; *p; p += k, n -= k)
        if (!(k = xml_char_len(p, n))) {
            *p = '?';
            k = 1;
        }
}

bool cd_obs_action_end(struct cd_obs *o, const struct cd_action *a,
                       const char *from, const char *to, uint64_t now_ms,
                       uint64_t now_s)
{
    struct cd_obs_entry *e;
    struct pending_failover *p;

    if (!a->id || in_history(o, a->id))
        return false;
    e = open_find(o, a->id);
    if (!e) {
        /* Begun before this clusterd followed it (a restart). */
        cd_obs_action_begin(o, a, from, to, now_ms, now_s);
        e = open_find(o, a->id);
        if (!e)
            return false;
        e->started_s = 0;
    }
    entry_fill(e, a, from, to);
    e->ended_s = a->ended_s ? a->ended_s : now_s;
    e->downtime_ms = a->downtime_ms;
    e->total_ms = a->total_ms;
    snprintf(e->msg, sizeof(e->msg), "%.*s", (int)sizeof(e->msg) - 1, a->msg);
    text_clean(e->msg);
    p = a->kind == CD_ACT_START ? pend_find(o, a->vm) : NULL;
    if (p && a->status == CD_AS_DONE) {
        /* The executor measured the start; what remains of the time
         * since the publication is the lease wait (and the messages'
         * transit, milliseconds), so the phases add up exactly. */
        uint64_t since_begun = now_ms - p->begun_ms;
        if (a->start_ms) {
            e->start_ms = a->start_ms < since_begun ? a->start_ms : since_begun;
            e->lease_wait_ms = since_begun - e->start_ms;
        } else {
            e->lease_wait_ms = since_begun;
        }
        if (p->lost_ms) {
            e->detection_ms = p->begun_ms - p->lost_ms;
            e->failover_ms = now_ms - p->lost_ms;
        } else {
            e->failover_ms = since_begun;
        }
        memset(p, 0, sizeof(*p));
    }
    count(o, e);
    history_push(o, e);
    memset(e, 0, sizeof(*e));
    return true;
}

/* ------------------------------------------------------------ the file */

#define HIST_MAGIC 0x48564d4bu /* "KMVH" */
/* 1: passes without their dirty rate; 2: no start phase (7 figures). */
#define HIST_VERSION 3u
#define HDR_LEN      24 /* magic, version, generation, count, crc32c */
#define PASS_LEN_V1  36
#define PASS_LEN     44
#define NFIG_V2      7
#define NFIG         8
#define ENTRY_LEN_OF(nfig, pass_len)                                           \
    (8 + 4 + 4 + 3 * CD_NAME_MAX + 8 * (nfig) + CD_OBS_MSG_MAX + 4 +           \
     CD_OBS_PASS_MAX * (pass_len))
#define ENTRY_LEN ENTRY_LEN_OF(NFIG, PASS_LEN)

/* What differs between the versions an entry is read in. */
struct entry_layout {
    int nfig;        /* u64 figures after the names */
    size_t pass_len; /* bytes per pass */
};

static uint8_t *put_str(uint8_t *p, const char *s, size_t field)
{
    memset(p, 0, field);
    memcpy(p, s, strnlen(s, field - 1));
    return p + field;
}

static const uint8_t *get_str(const uint8_t *p, char *s, size_t field, bool *ok)
{
    if (!memchr(p, 0, field))
        *ok = false;
    else
        memcpy(s, p, field);
    return p + field;
}

static void entry_encode(const struct cd_obs_entry *e, uint8_t *p)
{
    cmn_put_le64(p, e->id);
    p[8] = (uint8_t)e->kind;
    p[9] = (uint8_t)e->cause;
    p[10] = (uint8_t)e->status;
    p[11] = 0;
    cmn_put_le32(p + 12, (uint32_t)e->rc);
    p += 16;
    p = put_str(p, e->vm, CD_NAME_MAX);
    p = put_str(p, e->from, CD_NAME_MAX);
    p = put_str(p, e->to, CD_NAME_MAX);
    const uint64_t n[NFIG] = {e->started_s,   e->ended_s,      e->downtime_ms,
                              e->total_ms,    e->detection_ms, e->lease_wait_ms,
                              e->failover_ms, e->start_ms};
    for (int i = 0; i < NFIG; i++, p += 8)
        cmn_put_le64(p, n[i]);
    p = put_str(p, e->msg, CD_OBS_MSG_MAX);
    cmn_put_le32(p, e->npasses);
    p += 4;
    for (size_t i = 0; i < CD_OBS_PASS_MAX; i++, p += PASS_LEN) {
        const struct cd_obs_pass *s = &e->passes[i];
        bool used = i < e->npasses;
        cmn_put_le32(p, used ? s->pass : 0);
        cmn_put_le64(p + 4, used ? s->transferred : 0);
        cmn_put_le64(p + 12, used ? s->remaining : 0);
        cmn_put_le64(p + 20, used ? s->expected_downtime_ms : 0);
        cmn_put_le64(p + 28, used ? s->at_ms : 0);
        cmn_put_le64(p + 36, used ? s->dirty_rate : 0);
    }
}

static int entry_decode(const uint8_t *p, const struct entry_layout *l,
                        struct cd_obs_entry *e)
{
    bool ok = true;
    uint64_t n[NFIG];

    memset(e, 0, sizeof(*e));
    e->id = cmn_get_le64(p);
    e->kind = (enum cd_act_kind)p[8];
    e->cause = (enum cd_act_cause)p[9];
    e->status = (enum cd_act_status)p[10];
    e->rc = (int32_t)cmn_get_le32(p + 12);
    p += 16;
    p = get_str(p, e->vm, CD_NAME_MAX, &ok);
    p = get_str(p, e->from, CD_NAME_MAX, &ok);
    p = get_str(p, e->to, CD_NAME_MAX, &ok);
    n[7] = CD_OBS_NONE; /* a start phase: version 3 */
    for (int i = 0; i < l->nfig; i++, p += 8)
        n[i] = cmn_get_le64(p);
    e->started_s = n[0];
    e->ended_s = n[1];
    e->downtime_ms = n[2];
    e->total_ms = n[3];
    e->detection_ms = n[4];
    e->lease_wait_ms = n[5];
    e->failover_ms = n[6];
    e->start_ms = n[7];
    p = get_str(p, e->msg, CD_OBS_MSG_MAX, &ok);
    e->npasses = cmn_get_le32(p);
    p += 4;
    if (!ok || !e->id || e->kind < CD_ACT_START || e->kind >= CD_ACT_KIND_END ||
        (unsigned)e->cause >= CD_CAUSE_END || e->status > CD_AS_FAILED ||
        e->npasses > CD_OBS_PASS_MAX || !cmn_name_valid(e->vm) ||
        (e->from[0] && !cmn_name_valid(e->from)) ||
        (e->to[0] && !cmn_name_valid(e->to)) || !text_valid(e->msg))
        return -CD_E_CORRUPT;
    for (size_t i = 0; i < e->npasses; i++, p += l->pass_len) {
        struct cd_obs_pass *s = &e->passes[i];
        s->pass = cmn_get_le32(p);
        s->transferred = cmn_get_le64(p + 4);
        s->remaining = cmn_get_le64(p + 12);
        s->expected_downtime_ms = cmn_get_le64(p + 20);
        s->at_ms = cmn_get_le64(p + 28);
        s->dirty_rate = l->pass_len > PASS_LEN_V1 ? cmn_get_le64(p + 36) : 0;
    }
    return 0;
}

int cd_obs_encode(const struct cd_obs *o, uint8_t **ret_buf, size_t *ret_len)
{
    size_t len = HDR_LEN + o->hcount * ENTRY_LEN;
    uint8_t *buf = calloc(1, len);
    uint32_t crc;

    if (!buf)
        return -ENOMEM;
    cmn_put_le32(buf, HIST_MAGIC);
    cmn_put_le32(buf + 4, HIST_VERSION);
    cmn_put_le64(buf + 8, o->generation);
    cmn_put_le32(buf + 16, (uint32_t)o->hcount);
    for (size_t i = 0; i < o->hcount; i++)
        entry_encode(cd_obs_history(o, i), buf + HDR_LEN + i * ENTRY_LEN);
    /* The crc covers the header before it and every entry. */
    crc = cmn_crc32c(0, buf, 20);
    crc = cmn_crc32c(crc, buf + HDR_LEN, len - HDR_LEN);
    cmn_put_le32(buf + 20, crc);
    *ret_buf = buf;
    *ret_len = len;
    return 0;
}

int cd_obs_decode(struct cd_obs *o, const uint8_t *buf, size_t len)
{
    struct cd_obs_entry *tmp;
    uint32_t n, crc, version;
    struct entry_layout l;
    size_t entry_len;
    int rc = 0;

    if (len < HDR_LEN || cmn_get_le32(buf) != HIST_MAGIC)
        return -CD_E_CORRUPT;
    /* The version first: a newer layout may place its crc elsewhere. */
    version = cmn_get_le32(buf + 4);
    if (version < 1 || version > HIST_VERSION)
        return -CD_E_MSG_VERSION;
    l.nfig = version < 3 ? NFIG_V2 : NFIG;
    l.pass_len = version == 1 ? PASS_LEN_V1 : PASS_LEN;
    entry_len = ENTRY_LEN_OF(l.nfig, l.pass_len);
    n = cmn_get_le32(buf + 16);
    if (n > CD_OBS_HISTORY_MAX || len != HDR_LEN + (size_t)n * entry_len)
        return -CD_E_CORRUPT;
    crc = cmn_crc32c(0, buf, 20);
    crc = cmn_crc32c(crc, buf + HDR_LEN, len - HDR_LEN);
    if (crc != cmn_get_le32(buf + 20))
        return -CD_E_CORRUPT;
    tmp = calloc(CD_OBS_HISTORY_MAX, sizeof(*tmp));
    if (!tmp)
        return -ENOMEM;
    for (uint32_t i = 0; i < n && rc == 0; i++)
        rc = entry_decode(buf + HDR_LEN + (size_t)i * entry_len, &l, &tmp[i]);
    if (rc == 0) {
        free(o->hist);
        o->hist = tmp;
        o->hstart = 0;
        o->hcount = n;
        o->generation = cmn_get_le64(buf + 8);
    } else {
        free(tmp);
    }
    return rc;
}

/* ---------------------------------------------------------- history xml */

static void ms_attr(struct cd_buf *b, const char *name, uint64_t v)
{
    if (v != CD_OBS_NONE)
        cd_buf_printf(b, " %s=\"%" PRIu64 "\"", name, v);
}

int cd_obs_history_xml(const struct cd_obs *o, const char *vm, uint64_t since_s,
                       char **ret_text)
{
    struct cd_buf b;

    cd_buf_init(&b);
    cd_buf_puts(&b, "<history>\n");
    for (size_t i = 0; i < o->hcount; i++) {
        const struct cd_obs_entry *e = cd_obs_history(o, i);
        if ((vm && strcmp(vm, e->vm)) || e->ended_s < since_s)
            continue;
        cd_buf_printf(&b,
                      "  <action id=\"%" PRIu64 "\" vm=\"%s\" kind=\"%s\" "
                      "cause=\"%s\" status=\"%s\" rc=\"%d\" from=\"%s\" "
                      "to=\"%s\" started=\"%" PRIu64 "\" ended=\"%" PRIu64
                      "\" downtime-ms=\"%" PRIu64 "\" total-ms=\"%" PRIu64 "\"",
                      e->id, e->vm, cd_act_kind_name(e->kind),
                      cd_act_cause_name(e->cause),
                      cd_act_status_name(e->status), e->rc, e->from, e->to,
                      e->started_s, e->ended_s, e->downtime_ms, e->total_ms);
        ms_attr(&b, "detection-ms", e->detection_ms);
        ms_attr(&b, "lease-wait-ms", e->lease_wait_ms);
        ms_attr(&b, "start-ms", e->start_ms);
        ms_attr(&b, "failover-ms", e->failover_ms);
        cd_buf_puts(&b, " msg=\"");
        cd_buf_xml_escape(&b, e->msg);
        cd_buf_puts(&b, e->npasses ? "\">\n" : "\"/>\n");
        for (size_t k = 0; k < e->npasses; k++) {
            const struct cd_obs_pass *p = &e->passes[k];
            cd_buf_printf(&b,
                          "    <pass n=\"%u\" transferred=\"%" PRIu64
                          "\" remaining=\"%" PRIu64 "\" dirty-rate=\"%" PRIu64
                          "\" expected-downtime-ms=\"%" PRIu64
                          "\" at-ms=\"%" PRIu64 "\"/>\n",
                          p->pass, p->transferred, p->remaining, p->dirty_rate,
                          p->expected_downtime_ms, p->at_ms);
        }
        if (e->npasses)
            cd_buf_puts(&b, "  </action>\n");
    }
    cd_buf_puts(&b, "</history>\n");
    return cd_buf_steal(&b, ret_text, NULL);
}

/* ------------------------------------------------------------- metrics */

void cd_obs_label_escape(struct cd_buf *b, const char *s)
{
    const char *run = s;

    for (; *s; s++) {
        const char *rep = *s == '\\'   ? "\\\\"
                          : *s == '"'  ? "\\\""
                          : *s == '\n' ? "\\n"
                                       : NULL;
        if (!rep)
            continue;
        cd_buf_add(b, run, s - run);
        cd_buf_puts(b, rep);
        run = s + 1;
    }
    cd_buf_add(b, run, s - run);
}

struct render {
    struct cd_buf b;
    enum cd_obs_format f;
};

enum fam_type { T_GAUGE, T_COUNTER, T_HISTOGRAM, T_INFO };

/* # TYPE / # UNIT / # HELP of a family. OpenMetrics names a counter's
 * family without "_total" and an info family without "_info"; the older
 * text format node-exporter reads names them as their samples. */
static void family(struct render *r, const char *name, enum fam_type t,
                   const char *unit, const char *help)
{
    static const char *const om[] = {"gauge", "counter", "histogram", "info"};
    static const char *const prom[] = {"gauge", "counter", "histogram",
                                       "gauge"};
    const char *suffix = "";

    if (r->f == CD_OBS_PROMETHEUS)
        suffix = t == T_COUNTER ? "_total" : t == T_INFO ? "_info" : "";
    cd_buf_printf(&r->b, "# TYPE %s%s %s\n", name, suffix,
                  r->f == CD_OBS_OPENMETRICS ? om[t] : prom[t]);
    if (unit && r->f == CD_OBS_OPENMETRICS)
        cd_buf_printf(&r->b, "# UNIT %s %s\n", name, unit);
    cd_buf_printf(&r->b, "# HELP %s%s %s\n", name, suffix, help);
}

/* name+suffix{k1="v1",...} value; kv is NULL-terminated pairs. */
static void sample(struct render *r, const char *name, const char *suffix,
                   const char *const *kv, const char *value)
{
    cd_buf_printf(&r->b, "%s%s", name, suffix);
    for (size_t i = 0; kv && kv[i]; i += 2) {
        cd_buf_printf(&r->b, "%s%s=\"", i ? "," : "{", kv[i]);
        cd_obs_label_escape(&r->b, kv[i + 1]);
        cd_buf_puts(&r->b, "\"");
        if (!kv[i + 2])
            cd_buf_puts(&r->b, "}");
    }
    cd_buf_printf(&r->b, " %s\n", value);
}

static void sample_u(struct render *r, const char *name, const char *suffix,
                     const char *const *kv, uint64_t v)
{
    char t[24];

    snprintf(t, sizeof(t), "%" PRIu64, v);
    sample(r, name, suffix, kv, t);
}

static void gauge1(struct render *r, const char *name, const char *help,
                   const char *unit, uint64_t v)
{
    family(r, name, T_GAUGE, unit, help);
    sample_u(r, name, "", NULL, v);
}

static void seconds(char *t, size_t len, uint64_t ms)
{
    snprintf(t, len, "%" PRIu64 ".%03" PRIu64, ms / 1000, ms % 1000);
}

/* Samples of one histogram with the extra label pair `k`=`v` (or none). */
static void hist_samples(struct render *r, const char *name, const char *k,
                         const char *v, const struct obs_hist *h)
{
    uint64_t cum = 0;
    char le[24], t[32];
    const char *kv[5] = {NULL};
    const char *kv_le[5] = {NULL};
    size_t n = 0;

    if (k) {
        kv[0] = kv_le[0] = k;
        kv[1] = kv_le[1] = v;
        n = 2;
    }
    kv_le[n] = "le";
    kv_le[n + 1] = le;
    for (size_t i = 0; i <= h->n; i++) {
        cum += h->counts[i];
        if (i < h->n)
            seconds(le, sizeof(le), h->le[i]);
        else
            snprintf(le, sizeof(le), "+Inf");
        sample_u(r, name, "_bucket", kv_le, cum);
    }
    seconds(t, sizeof(t), h->sum_ms);
    sample(r, name, "_sum", kv, t);
    sample_u(r, name, "_count", kv, h->count);
}

static void render_cluster(struct render *r, const struct cd_obs_view *v)
{
    char t[32];

    gauge1(r, "kvmcluster_corosync_connected",
           "1 when clusterd is connected to corosync", NULL, v->connected);
    gauge1(r, "kvmcluster_quorate", "1 when this node's partition is quorate",
           NULL, v->quorate);
    gauge1(r, "kvmcluster_members", "clusterd members in this node's view",
           NULL, v->members);
    gauge1(r, "kvmcluster_expected_votes", "votequorum's expected votes", NULL,
           v->expected_votes);
    gauge1(r, "kvmcluster_total_votes", "votes present", NULL, v->total_votes);
    gauge1(r, "kvmcluster_quorum_votes", "votes needed for quorum", NULL,
           v->quorum_votes);
    gauge1(r, "kvmcluster_cdb_epoch", "epoch of the cluster database", NULL,
           v->epoch);
    family(r, "kvmcluster_cdb_sync_seconds", T_GAUGE, "seconds",
           "how long the last synchronisation of the cluster database took");
    seconds(t, sizeof(t), v->last_sync_ms);
    sample(r, "kvmcluster_cdb_sync_seconds", "", NULL, t);
    if (v->csv_known) {
        gauge1(r, "kvmcluster_csv_size_bytes", "size of the shared volume",
               "bytes", v->csv_total_bytes);
        gauge1(r, "kvmcluster_csv_free_bytes",
               "free space on the shared volume", "bytes", v->csv_free_bytes);
    }
}

static void render_nodes(struct render *r, const struct cd_obs_view *v)
{
    family(r, "kvmcluster_node_member", T_GAUGE, NULL,
           "1 when the node's clusterd is a member of this node's view");
    for (size_t i = 0; i < v->nnodes; i++) {
        const char *kv[] = {"node", v->nodes[i].name, NULL};
        sample_u(r, "kvmcluster_node_member", "", kv, v->nodes[i].member);
    }
    family(r, "kvmcluster_node_coordinator", T_GAUGE, NULL,
           "1 for the node that is the coordinator");
    for (size_t i = 0; i < v->nnodes; i++) {
        const char *kv[] = {"node", v->nodes[i].name, NULL};
        sample_u(r, "kvmcluster_node_coordinator", "", kv,
                 v->coordinator && v->nodes[i].nodeid == v->coordinator);
    }
    family(r, "kvmcluster_node_state", T_GAUGE, NULL,
           "1 for the node's administrative state (up, drained, paused, "
           "quarantined)");
    for (size_t i = 0; i < v->nnodes; i++)
        for (int s = 0; s < CD_NODE_STATE_COUNT; s++) {
            const char *kv[] = {"node", v->nodes[i].name, "state",
                                cd_node_state_name((enum cd_node_state)s),
                                NULL};
            sample_u(r, "kvmcluster_node_state", "", kv,
                     v->nodes[i].state == (enum cd_node_state)s);
        }
}

static void render_vms(struct render *r, const struct cd_obs_view *v)
{
    family(r, "kvmcluster_vm", T_INFO, NULL,
           "a VM: where it runs (node=\"\" when nowhere) and its priority");
    for (size_t i = 0; i < v->nvms; i++) {
        const struct cd_obs_vm *m = &v->vms[i];
        const char *kv[] = {"vm",    m->name,    "node",
                            m->node, "priority", cd_priority_name(m->priority),
                            NULL};
        sample(r, "kvmcluster_vm", "_info", kv, "1");
    }
    family(r, "kvmcluster_vm_lease", T_INFO, NULL,
           "a VM's lease: the node whose hvagent holds it (holder=\"\" "
           "when none is known to)");
    for (size_t i = 0; i < v->nvms; i++) {
        const char *kv[] = {"vm", v->vms[i].name, "holder", v->vms[i].lease,
                            NULL};
        sample(r, "kvmcluster_vm_lease", "_info", kv, "1");
    }
    family(r, "kvmcluster_vm_state", T_GAUGE, NULL,
           "1 for the VM's state on the node it runs on (stopped when "
           "nowhere)");
    for (size_t i = 0; i < v->nvms; i++)
        for (int s = 0; s < CD_RT_STATE_COUNT; s++) {
            const char *kv[] = {"vm", v->vms[i].name, "state",
                                cd_rt_state_name((enum cd_rt_state)s), NULL};
            sample_u(r, "kvmcluster_vm_state", "", kv,
                     v->vms[i].state == (enum cd_rt_state)s);
        }
    family(r, "kvmcluster_vm_want_running", T_GAUGE, NULL,
           "1 when the administrator wants the VM running");
    for (size_t i = 0; i < v->nvms; i++) {
        const char *kv[] = {"vm", v->vms[i].name, NULL};
        sample_u(r, "kvmcluster_vm_want_running", "", kv,
                 v->vms[i].want_running);
    }
}

/* Whether entry `e` is a live migration whose last pass has a dirty
 * rate. */
static bool has_dirty_rate(const struct cd_obs_entry *e)
{
    return e->kind == CD_ACT_LIVE && e->npasses &&
           e->passes[e->npasses - 1].dirty_rate;
}

/* Per VM (labels bounded by the VMs in the history), the dirty rate of
 * the last pass of its latest live migration: how hard the guest writes
 * when it moves, what decides whether live migration converges. */
static void render_dirty_rates(struct render *r, const struct cd_obs *o)
{
    size_t n = cd_obs_history_count(o);

    family(r, "kvmcluster_migration_dirty_rate_bytes_per_second", T_GAUGE,
           "bytes_per_second",
           "rate the guest dirtied its memory in the last pass of its latest "
           "live migration (QEMU's measure)");
    for (size_t i = n; i-- > 0;) {
        const struct cd_obs_entry *e = cd_obs_history(o, i);
        bool newer = false;

        if (!has_dirty_rate(e))
            continue;
        for (size_t k = i + 1; k < n && !newer; k++)
            newer = has_dirty_rate(cd_obs_history(o, k)) &&
                    !strcmp(cd_obs_history(o, k)->vm, e->vm);
        if (newer)
            continue;
        const char *kv[] = {"vm", e->vm, NULL};
        sample_u(r, "kvmcluster_migration_dirty_rate_bytes_per_second", "", kv,
                 e->passes[e->npasses - 1].dirty_rate);
    }
}

static void render_actions(struct render *r, const struct cd_obs *o)
{
    static const char *const mig[MIG_KINDS] = {"live", "quick"};

    family(r, "kvmcluster_actions", T_COUNTER, NULL,
           "actions ended, by kind, cause and result");
    for (int k = CD_ACT_START; k < CD_ACT_KIND_END; k++)
        for (int c = 0; c < CD_CAUSE_END; c++)
            for (int res = 0; res < 2; res++) {
                if (!o->actions[k][c][res])
                    continue;
                const char *kv[] = {
                    "kind",   cd_act_kind_name((enum cd_act_kind)k),
                    "cause",  cd_act_cause_name((enum cd_act_cause)c),
                    "result", res ? "failed" : "done",
                    NULL};
                sample_u(r, "kvmcluster_actions", "_total", kv,
                         o->actions[k][c][res]);
            }
    family(r, "kvmcluster_migrations", T_COUNTER, NULL,
           "migrations ended, by kind and result");
    for (int k = 0; k < MIG_KINDS; k++)
        for (int res = 0; res < 2; res++) {
            enum cd_act_kind ak = k == MIG_LIVE ? CD_ACT_LIVE : CD_ACT_QUICK;
            uint64_t n = 0;
            for (int c = 0; c < CD_CAUSE_END; c++)
                n += o->actions[ak][c][res];
            const char *kv[] = {"kind", mig[k], "result",
                                res ? "failed" : "done", NULL};
            sample_u(r, "kvmcluster_migrations", "_total", kv, n);
        }
    family(r, "kvmcluster_migration_downtime_seconds", T_HISTOGRAM, "seconds",
           "guest-visible downtime of each migration that completed");
    for (int k = 0; k < MIG_KINDS; k++)
        hist_samples(r, "kvmcluster_migration_downtime_seconds", "kind", mig[k],
                     &o->downtime[k]);
    family(r, "kvmcluster_migration_duration_seconds", T_HISTOGRAM, "seconds",
           "total time of each migration that completed");
    for (int k = 0; k < MIG_KINDS; k++)
        hist_samples(r, "kvmcluster_migration_duration_seconds", "kind", mig[k],
                     &o->duration[k]);
    family(r, "kvmcluster_migration_sent_bytes", T_COUNTER, "bytes",
           "bytes a live migration sent, as its last pass reported");
    {
        const char *kv[] = {"kind", "live", NULL};
        sample_u(r, "kvmcluster_migration_sent_bytes", "_total", kv,
                 o->sent_bytes[MIG_LIVE]);
    }
    family(r, "kvmcluster_migration_passes", T_COUNTER, NULL,
           "memory passes of live migrations");
    {
        const char *kv[] = {"kind", "live", NULL};
        sample_u(r, "kvmcluster_migration_passes", "_total", kv,
                 o->passes[MIG_LIVE]);
    }
    render_dirty_rates(r, o);
    family(r, "kvmcluster_failovers", T_COUNTER, NULL,
           "VMs running again after their node was lost");
    sample_u(r, "kvmcluster_failovers", "_total", NULL, o->failovers);
    family(r, "kvmcluster_failover_detection_seconds", T_HISTOGRAM, "seconds",
           "node loss (corosync's token timeout included) to the restart's "
           "publication");
    hist_samples(r, "kvmcluster_failover_detection_seconds", NULL, NULL,
                 &o->fo_detect);
    family(r, "kvmcluster_failover_lease_wait_seconds", T_HISTOGRAM, "seconds",
           "restart published to the VM's lease free (retries included; "
           "the start too when its executor did not measure it)");
    hist_samples(r, "kvmcluster_failover_lease_wait_seconds", NULL, NULL,
                 &o->fo_lease);
    family(r, "kvmcluster_failover_start_seconds", T_HISTOGRAM, "seconds",
           "the VM's lease free to QEMU running with it (the guest's own "
           "boot is not included)");
    hist_samples(r, "kvmcluster_failover_start_seconds", NULL, NULL,
                 &o->fo_start);
    family(r, "kvmcluster_failover_seconds", T_HISTOGRAM, "seconds",
           "node loss to the VM running again");
    hist_samples(r, "kvmcluster_failover_seconds", NULL, NULL, &o->fo_total);
    gauge1(r, "kvmcluster_history_actions", "actions kept in the history", NULL,
           o->hcount);
}

int cd_obs_render(const struct cd_obs *o, const struct cd_obs_view *v,
                  enum cd_obs_format f, char **ret_text)
{
    struct render r = {.f = f};

    cd_buf_init(&r.b);
    render_cluster(&r, v);
    render_nodes(&r, v);
    render_vms(&r, v);
    render_actions(&r, o);
    if (v->lun_text)
        cd_buf_puts(&r.b, v->lun_text);
    if (f == CD_OBS_OPENMETRICS)
        cd_buf_puts(&r.b, "# EOF\n");
    return cd_buf_steal(&r.b, ret_text, NULL);
}
