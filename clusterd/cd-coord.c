/* The coordinator's replicated runtime state and pure logic (see
 * cd-coord.h). Nothing here does I/O or reads a clock: times come in the
 * messages and the view, so every member computes the same thing. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clusterd/cd-backoff.h"
#include "clusterd/cd-check.h"
#include "clusterd/cd-coord.h"
#include "clusterd/cd-net.h"
#include "clusterd/cd-storage.h"
#include "clusterd/cd-int.h"
#include "common/cmn-le.h"
#include "common/cmn-name.h"
#include "common/cmn-crc32c.h"
#include "resources/res-place.h"
#include "resources/res-vm.h"

/* The CDB keeps a VM's priority as an enum cd_priority and placement reads
 * it as an enum res_priority: the two convert by value. */
_Static_assert((int)CD_PRIO_HIGH == (int)RES_PRIO_HIGH &&
                   (int)CD_PRIO_MEDIUM == (int)RES_PRIO_MEDIUM &&
                   (int)CD_PRIO_LOW == (int)RES_PRIO_LOW &&
                   (int)CD_PRIO_MANUAL == (int)RES_PRIO_MANUAL,
               "enum cd_priority and enum res_priority differ");

#define CO_MAGIC   0x4f43434bu /* "KCCO" little-endian */
#define CO_VERSION 1
#define CO_HDR     12 /* magic, version+type, crc32c */
#define CO_BODY    (8 + 8 + 4 + 4 + 4 + 4 + 4 + 8 + 4 + 4 * 8)

/* ------------------------------------------------------------- names */

static const char *const rt_names[CD_RT_STATE_COUNT] = {
    [CD_RT_STOPPED] = "stopped",   [CD_RT_STARTING] = "starting",
    [CD_RT_RUNNING] = "running",   [CD_RT_PAUSED] = "paused",
    [CD_RT_STOPPING] = "stopping", [CD_RT_MIGRATING] = "migrating",
    [CD_RT_INCOMING] = "incoming", [CD_RT_SAVING] = "saving",
};

const char *cd_rt_state_name(enum cd_rt_state s)
{
    return (unsigned)s < CD_RT_STATE_COUNT ? rt_names[s] : "?";
}

enum cd_rt_state cd_rt_state_from_hva(const char *s)
{
    if (!s)
        return CD_RT_STOPPED;
    for (int i = 0; i < CD_RT_STATE_COUNT; i++)
        if (strcmp(s, rt_names[i]) == 0)
            return (enum cd_rt_state)i;
    return CD_RT_STOPPED; /* "defined" and anything unknown */
}

bool cd_rt_state_runs(enum cd_rt_state s)
{
    return s != CD_RT_STOPPED && s != CD_RT_INCOMING;
}

static const char *const kind_names[CD_ACT_KIND_END] = {
    [CD_ACT_START] = "start",
    [CD_ACT_STOP] = "stop",
    [CD_ACT_LIVE] = "live-migration",
    [CD_ACT_QUICK] = "quick-migration",
};

const char *cd_act_kind_name(enum cd_act_kind k)
{
    return k > 0 && k < CD_ACT_KIND_END ? kind_names[k] : "?";
}

const char *cd_act_status_name(enum cd_act_status s)
{
    return s == CD_AS_ACTIVE ? "active" : s == CD_AS_DONE ? "done" : "failed";
}

static const char *const cause_names[CD_CAUSE_END] = {
    "user",     "target",  "drain",    "failback",
    "failover", "restart", "fallback", "retry",
};

const char *cd_act_cause_name(enum cd_act_cause c)
{
    return (unsigned)c < CD_CAUSE_END ? cause_names[c] : "?";
}

unsigned cd_action_steps(enum cd_act_kind k)
{
    return k == CD_ACT_LIVE || k == CD_ACT_QUICK ? 2 : 1;
}

uint32_t cd_action_executor(const struct cd_action *a)
{
    if (a->step >= cd_action_steps(a->kind))
        return 0;
    switch (a->kind) {
    case CD_ACT_START:
        return a->to;
    case CD_ACT_STOP:
        return a->from;
    case CD_ACT_LIVE: /* the target prepares, then the source sends */
        return a->step == 0 ? a->to : a->from;
    case CD_ACT_QUICK: /* the source saves, then the target restores */
        return a->step == 0 ? a->from : a->to;
    default:
        return 0;
    }
}

/* ---------------------------------------------------------- messages */

bool cd_co_msg_is_mine(const void *buf, size_t len)
{
    return len >= 4 && cmn_get_le(buf, 4) == CO_MAGIC;
}

/* Layout: u32 magic, u16 version, u16 type, u32 crc32c(rest), then the
 * fixed fields little-endian, then u8 len + vm, u16 len + text. */
int cd_co_msg_encode(const struct cd_co_msg *m, void *vbuf, size_t cap,
                     size_t *ret_len)
{
    size_t vl = strnlen(m->vm, CD_NAME_MAX), tl = strnlen(m->text, 256);
    size_t len = CO_HDR + CO_BODY + 1 + vl + 2 + tl;
    uint8_t *buf = vbuf, *p;

    if (m->type <= 0 || m->type >= CD_CO_MSG_TYPE_END || vl == CD_NAME_MAX ||
        tl == 256)
        return -CD_E_BAD_MSG;
    if (len > cap)
        return -ENOSPC;
    p = buf + CO_HDR;
    cmn_put_le(p, m->id, 8), p += 8;
    cmn_put_le(p, m->epoch, 8), p += 8;
    cmn_put_le(p, m->a, 4), p += 4;
    cmn_put_le(p, m->b, 4), p += 4;
    cmn_put_le(p, m->kind, 4), p += 4;
    cmn_put_le(p, m->cause, 4), p += 4;
    cmn_put_le(p, m->origin, 4), p += 4;
    cmn_put_le(p, m->origin_req, 8), p += 8;
    cmn_put_le(p, (uint32_t)m->rc, 4), p += 4;
    for (int i = 0; i < 4; i++)
        cmn_put_le(p, m->n[i], 8), p += 8;
    *p++ = (uint8_t)vl;
    memcpy(p, m->vm, vl), p += vl;
    cmn_put_le(p, tl, 2), p += 2;
    memcpy(p, m->text, tl);
    cmn_put_le(buf, CO_MAGIC, 4);
    cmn_put_le(buf + 4, CO_VERSION, 2);
    cmn_put_le(buf + 6, m->type, 2);
    cmn_put_le(buf + 8, cmn_crc32c(0, buf + CO_HDR, len - CO_HDR), 4);
    *ret_len = len;
    return 0;
}

int cd_co_msg_decode(const void *vbuf, size_t len, struct cd_co_msg *ret)
{
    const uint8_t *buf = vbuf, *p, *end = buf + len;
    struct cd_co_msg m;
    size_t vl, tl;

    if (!cd_co_msg_is_mine(buf, len))
        return -ENOENT;
    memset(&m, 0, sizeof(m));
    if (len < CO_HDR + CO_BODY + 3 || cmn_get_le(buf + 4, 2) != CO_VERSION ||
        cmn_get_le(buf + 8, 4) != cmn_crc32c(0, buf + CO_HDR, len - CO_HDR))
        return -CD_E_BAD_MSG;
    m.type = (enum cd_co_msg_type)cmn_get_le(buf + 6, 2);
    if (m.type <= 0 || m.type >= CD_CO_MSG_TYPE_END)
        return -CD_E_BAD_MSG;
    p = buf + CO_HDR;
    m.id = cmn_get_le(p, 8), p += 8;
    m.epoch = cmn_get_le(p, 8), p += 8;
    m.a = (uint32_t)cmn_get_le(p, 4), p += 4;
    m.b = (uint32_t)cmn_get_le(p, 4), p += 4;
    m.kind = (uint32_t)cmn_get_le(p, 4), p += 4;
    m.cause = (uint32_t)cmn_get_le(p, 4), p += 4;
    m.origin = (uint32_t)cmn_get_le(p, 4), p += 4;
    m.origin_req = cmn_get_le(p, 8), p += 8;
    m.rc = (int32_t)(uint32_t)cmn_get_le(p, 4), p += 4;
    for (int i = 0; i < 4; i++)
        m.n[i] = cmn_get_le(p, 8), p += 8;
    vl = *p++;
    if (vl >= CD_NAME_MAX || (size_t)(end - p) < vl + 2 || memchr(p, 0, vl))
        return -CD_E_BAD_MSG;
    memcpy(m.vm, p, vl), p += vl;
    tl = cmn_get_le(p, 2), p += 2;
    if (tl >= sizeof(m.text) || (size_t)(end - p) != tl || memchr(p, 0, tl))
        return -CD_E_BAD_MSG;
    memcpy(m.text, p, tl);
    *ret = m;
    return 0;
}

void cd_coord_action_msg(const struct cd_action *a, struct cd_co_msg *m)
{
    memset(m, 0, sizeof(*m));
    m->type = CD_CO_ACTION;
    m->id = a->id;
    m->epoch = a->epoch;
    m->a = a->from;
    m->b = a->to;
    m->kind = a->kind;
    m->cause = a->cause;
    m->origin = a->origin;
    m->origin_req = a->origin_req;
    memcpy(m->vm, a->vm, sizeof(m->vm));
    snprintf(m->text, sizeof(m->text), "%s", a->cpu);
}

/* ------------------------------------------------------------- state */

struct cd_coord {
    size_t nmembers;
    uint32_t members[CD_MAX_NODES * 4];
    bool announced[CD_MAX_NODES * 4];
    /* Nodes whose clusterd left while the node stayed in corosync's
     * membership (their entries are kept), and nodes a NODE_LOST removed
     * (a late re-announcement of their entries is ignored) until their
     * clusterd joins again. */
    size_t nunmanaged;
    uint32_t unmanaged[CD_MAX_NODES * 4];
    size_t nlost;
    uint32_t lost[CD_MAX_NODES * 4];

    size_t nrt;
    struct cd_rt_vm rt[CD_CO_MAX_RT];
    size_t nact;
    struct cd_action act[CD_CO_MAX_ACTIONS];
    uint64_t act_seq;
    size_t nreq;
    struct cd_co_req req[CD_CO_MAX_REQS];
    size_t nfail;
    struct cd_vm_failures fail[CD_CO_MAX_RT];
    struct cd_stor_table stor;
    struct cd_net_table net;
    struct cd_chk_table chk;
};

int cd_coord_new(struct cd_coord **ret)
{
    struct cd_coord *co = calloc(1, sizeof(*co));

    if (!co)
        return -ENOMEM;
    *ret = co;
    return 0;
}

void cd_coord_free(struct cd_coord *co)
{
    free(co);
}

static ssize_t member_index(const struct cd_coord *co, uint32_t id)
{
    for (size_t i = 0; i < co->nmembers; i++)
        if (co->members[i] == id)
            return (ssize_t)i;
    return -1;
}

static void rt_remove_at(struct cd_coord *co, size_t i)
{
    memmove(&co->rt[i], &co->rt[i + 1], (co->nrt - i - 1) * sizeof(co->rt[0]));
    co->nrt--;
}

static bool id_in(const uint32_t *ids, size_t n, uint32_t id)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

static void id_add(uint32_t *ids, size_t *n, size_t cap, uint32_t id)
{
    if (!id_in(ids, *n, id) && *n < cap)
        ids[(*n)++] = id;
}

static void id_del(uint32_t *ids, size_t *n, uint32_t id)
{
    for (size_t i = 0; i < *n; i++)
        if (ids[i] == id) {
            ids[i] = ids[--*n];
            return;
        }
}

bool cd_coord_unmanaged(const struct cd_coord *co, uint32_t node)
{
    return id_in(co->unmanaged, co->nunmanaged, node);
}

size_t cd_coord_unmanaged_nodes(const struct cd_coord *co, uint32_t *out,
                                size_t cap)
{
    size_t n = co->nunmanaged < cap ? co->nunmanaged : cap;

    memcpy(out, co->unmanaged, n * sizeof(*out));
    return n;
}

static void rt_remove_node(struct cd_coord *co, uint32_t node)
{
    for (size_t i = 0; i < co->nrt;)
        if (co->rt[i].node == node)
            rt_remove_at(co, i);
        else
            i++;
}

void cd_coord_confchg(struct cd_coord *co, const uint32_t *members, size_t n)
{
    cd_coord_confchg_kept(co, members, n, NULL, 0);
}

void cd_coord_confchg_kept(struct cd_coord *co, const uint32_t *members,
                           size_t n, const uint32_t *kept, size_t nkept)
{
    if (n > CMN_ARRAY_SIZE(co->members))
        n = CMN_ARRAY_SIZE(co->members);
    memcpy(co->members, members, n * sizeof(*members));
    memset(co->announced, 0, sizeof(co->announced));
    co->nmembers = n;
    /* A clusterd crash is not a node failure: the node's hvagent keeps
     * its VMs running and their leases held, so starting them elsewhere
     * could only fail at the lease. Not being a member, the node takes
     * no new VM meanwhile. Outside the group ourselves (n == 0) we know
     * nothing any more. */
    if (!n)
        co->nunmanaged = co->nlost = 0;
    for (size_t i = 0; n && i < nkept; i++)
        id_add(co->unmanaged, &co->nunmanaged, CMN_ARRAY_SIZE(co->unmanaged),
               kept[i]);
    for (size_t i = 0; i < n; i++) {
        id_del(co->unmanaged, &co->nunmanaged, members[i]);
        id_del(co->lost, &co->nlost, members[i]);
    }
    cd_stor_confchg(&co->stor, members, n);
    cd_net_confchg(&co->net, members, n);
    cd_chk_confchg(&co->chk, members, n);
    /* A node that left runs nothing we can count on: its VMs are
     * restarted elsewhere once sanlock frees their leases. */
    for (size_t i = 0; i < co->nrt;)
        if (member_index(co, co->rt[i].node) < 0 &&
            !cd_coord_unmanaged(co, co->rt[i].node))
            rt_remove_at(co, i);
        else
            i++;
    /* A kept entry of a VM a member reports running is a migration that
     * ended just before its source's clusterd went away. */
    for (size_t i = 0; i < co->nrt;) {
        bool stale = false;
        for (size_t k = 0;
             cd_coord_unmanaged(co, co->rt[i].node) && k < co->nrt && !stale;
             k++)
            stale = co->rt[k].state == CD_RT_RUNNING &&
                    member_index(co, co->rt[k].node) >= 0 &&
                    strcmp(co->rt[k].vm, co->rt[i].vm) == 0;
        if (stale)
            rt_remove_at(co, i);
        else
            i++;
    }
    /* Pending requests whose origin left have nobody to answer, but the
     * intent stands: keep them. An active action whose next step belongs
     * to a node that left can't finish: it fails here, at the same point
     * of the agreed order on every member, and the coordinator derives
     * again from what is left (the VM runs where the survivors say). */
    for (size_t i = 0; i < co->nact; i++) {
        struct cd_action *a = &co->act[i];
        uint32_t ex = cd_action_executor(a);
        if (a->status != CD_AS_ACTIVE || !ex || member_index(co, ex) >= 0)
            continue;
        a->status = CD_AS_FAILED;
        a->rc = -CD_E_NO_CLUSTER;
        /* A migration's hvagents finish or roll it back on their own:
         * where the VM runs afterwards is what they report. */
        if (a->kind == CD_ACT_LIVE || a->kind == CD_ACT_QUICK)
            snprintf(a->msg, sizeof(a->msg),
                     "node %u left the cluster during the move: the VM runs "
                     "where its hvagents finish or roll it back (see "
                     "'clusterctl vm show %s')",
                     ex, a->vm);
        else
            snprintf(a->msg, sizeof(a->msg), "node %u left the cluster", ex);
    }
}

bool cd_coord_announced(const struct cd_coord *co, uint32_t node)
{
    ssize_t mi = member_index(co, node);

    return mi >= 0 && co->announced[mi];
}

bool cd_coord_settled(const struct cd_coord *co)
{
    if (!co->nmembers)
        return false;
    for (size_t i = 0; i < co->nmembers; i++)
        if (!co->announced[i])
            return false;
    return true;
}

static struct cd_rt_vm *rt_find(struct cd_coord *co, const char *vm,
                                uint32_t node)
{
    for (size_t i = 0; i < co->nrt; i++)
        if (co->rt[i].node == node && strcmp(co->rt[i].vm, vm) == 0)
            return &co->rt[i];
    return NULL;
}

/* `vm`'s entry on `node`, added (stopped, no progress) when missing; NULL
 * when the table is full. */
static struct cd_rt_vm *rt_get(struct cd_coord *co, const char *vm,
                               uint32_t node)
{
    struct cd_rt_vm *r = rt_find(co, vm, node);

    if (r || co->nrt == CD_CO_MAX_RT)
        return r;
    r = &co->rt[co->nrt++];
    memset(r, 0, sizeof(*r));
    snprintf(r->vm, sizeof(r->vm), "%s", vm);
    r->node = node;
    return r;
}

uint32_t cd_coord_vm_node(const struct cd_coord *co, const char *vm,
                          enum cd_rt_state *ret_state)
{
    uint32_t best = 0;
    enum cd_rt_state st = CD_RT_STOPPED;

    for (size_t i = 0; i < co->nrt; i++) {
        const struct cd_rt_vm *r = &co->rt[i];
        if (strcmp(r->vm, vm) != 0 || !cd_rt_state_runs(r->state))
            continue;
        /* During a handoff both ends may report: the source while it
         * migrates counts, the lowest id breaks any other tie. */
        if (!best || r->state == CD_RT_MIGRATING || r->state == CD_RT_SAVING ||
            (st != CD_RT_MIGRATING && st != CD_RT_SAVING && r->node < best)) {
            best = r->node;
            st = r->state;
        }
    }
    if (ret_state)
        *ret_state = st;
    return best;
}

uint32_t cd_coord_vm_lease(const struct cd_coord *co, const char *vm)
{
    /* Sanlock lets one host hold it; two entries saying so can only be
     * reports of a handoff crossing: the lowest id, as for the node. */
    uint32_t best = 0;

    for (size_t i = 0; i < co->nrt; i++)
        if (co->rt[i].lease && strcmp(co->rt[i].vm, vm) == 0 &&
            (!best || co->rt[i].node < best))
            best = co->rt[i].node;
    return best;
}

const char *cd_rt_ioerr_name(unsigned e)
{
    return e == CD_RT_IOERR_EIO     ? "eio"
           : e == CD_RT_IOERR_NOSPC ? "enospc"
                                    : "";
}

unsigned cd_rt_ioerr_from_hva(const char *s)
{
    if (!s)
        return CD_RT_IOERR_NONE;
    if (!strcmp(s, "eio"))
        return CD_RT_IOERR_EIO;
    if (!strcmp(s, "enospc"))
        return CD_RT_IOERR_NOSPC;
    return CD_RT_IOERR_NONE;
}

uint32_t cd_rt_ioerr_flags(unsigned e)
{
    return e == CD_RT_IOERR_EIO     ? CD_RT_F_IOERR
           : e == CD_RT_IOERR_NOSPC ? CD_RT_F_IOERR | CD_RT_F_NOSPC
                                    : 0;
}

uint32_t cd_rt_ioerr_origin(unsigned e, int disk)
{
    return e && disk >= 0 ? (uint32_t)disk + 1 : 0;
}

void cd_rt_ioerr_from_msg(uint32_t flags, uint32_t origin, unsigned *ret_e,
                          int *ret_disk)
{
    *ret_e = !(flags & CD_RT_F_IOERR)  ? CD_RT_IOERR_NONE
             : (flags & CD_RT_F_NOSPC) ? CD_RT_IOERR_NOSPC
                                       : CD_RT_IOERR_EIO;
    /* A definition has at most RES_VM_MAX_DISKS disks: anything above is
     * not a disk of it. */
    *ret_disk = *ret_e && origin >= 1 && origin <= RES_VM_MAX_DISKS
                    ? (int)origin - 1
                    : -1;
}

unsigned cd_coord_vm_ioerr(const struct cd_coord *co, const char *vm,
                           int *ret_disk)
{
    enum cd_rt_state st;
    uint32_t node = cd_coord_vm_node(co, vm, &st);

    *ret_disk = -1;
    for (size_t i = 0; node && st == CD_RT_PAUSED && i < co->nrt; i++)
        if (co->rt[i].node == node && strcmp(co->rt[i].vm, vm) == 0) {
            *ret_disk = co->rt[i].ioerr_disk;
            return co->rt[i].ioerr;
        }
    return CD_RT_IOERR_NONE;
}

const char *cd_coord_vm_cpu(const struct cd_coord *co, const char *vm)
{
    uint32_t node = cd_coord_vm_node(co, vm, NULL);

    for (size_t i = 0; node && i < co->nrt; i++)
        if (co->rt[i].node == node && strcmp(co->rt[i].vm, vm) == 0)
            return co->rt[i].cpu;
    return "";
}

void cd_coord_cpu_need(const struct cd_coord *co, const struct cd_cdb *cdb,
                       struct res_place_vm *pv)
{
    const struct cd_node *n;
    char err[256];

    switch (pv->cpu.mode) {
    case RES_CPU_CLUSTER:
        /* A VM started before it was reported (an older hvagent) has
         * "": no requirement, as before. */
        if (pv->node)
            snprintf(pv->cpu.model, sizeof(pv->cpu.model), "%s",
                     cd_coord_vm_cpu(co, pv->name));
        else if (cd_cdb_cpu_baseline(cdb, pv->cpu.model, sizeof(pv->cpu.model),
                                     err, sizeof(err)) < 0)
            pv->cpu.model[0] = '\0';
        break;
    case RES_CPU_HOST:
        n = pv->node ? cd_cdb_node_by_id(cdb, pv->node) : NULL;
        pv->cpu.host_of = n ? n->cpu_caps : NULL;
        break;
    default:
        break;
    }
}

size_t cd_coord_rt_count(const struct cd_coord *co)
{
    return co->nrt;
}

const struct cd_rt_vm *cd_coord_rt(const struct cd_coord *co, size_t i)
{
    return i < co->nrt ? &co->rt[i] : NULL;
}

const struct cd_action *cd_coord_active(const struct cd_coord *co,
                                        const char *vm)
{
    for (size_t i = 0; i < co->nact; i++)
        if (co->act[i].status == CD_AS_ACTIVE && strcmp(co->act[i].vm, vm) == 0)
            return &co->act[i];
    return NULL;
}

size_t cd_coord_action_count(const struct cd_coord *co)
{
    return co->nact;
}

const struct cd_action *cd_coord_action(const struct cd_coord *co, size_t i)
{
    return i < co->nact ? &co->act[i] : NULL;
}

const struct cd_action *cd_coord_action_by_id(const struct cd_coord *co,
                                              uint64_t id)
{
    for (size_t i = 0; i < co->nact; i++)
        if (co->act[i].id == id)
            return &co->act[i];
    return NULL;
}

size_t cd_coord_req_count(const struct cd_coord *co)
{
    return co->nreq;
}

const struct cd_stor_table *cd_coord_storage(const struct cd_coord *co)
{
    return &co->stor;
}

const struct cd_chk_table *cd_coord_checks(const struct cd_coord *co)
{
    return &co->chk;
}

const struct cd_net_table *cd_coord_net(const struct cd_coord *co)
{
    return &co->net;
}

static struct cd_vm_failures *fail_find(const struct cd_coord *co,
                                        const char *vm)
{
    for (size_t i = 0; i < co->nfail; i++)
        if (strcmp(co->fail[i].vm, vm) == 0)
            return (struct cd_vm_failures *)&co->fail[i];
    return NULL;
}

const struct cd_vm_failures *cd_coord_failures(const struct cd_coord *co,
                                               const char *vm)
{
    return fail_find(co, vm);
}

static const struct cd_co_req *req_find(const struct cd_coord *co,
                                        const char *vm)
{
    for (size_t i = 0; i < co->nreq; i++)
        if (strcmp(co->req[i].vm, vm) == 0)
            return &co->req[i];
    return NULL;
}

const struct cd_co_req *cd_coord_req(const struct cd_coord *co, const char *vm)
{
    return req_find(co, vm);
}

static bool is_move(enum cd_act_kind k)
{
    return k == CD_ACT_LIVE || k == CD_ACT_QUICK;
}

/* Migrations leaving and reaching `node`: active ones, plus `extra`
 * (decided but not delivered yet). */
static void node_moves(const struct cd_coord *co, const struct cd_action *extra,
                       size_t nextra, uint32_t node, unsigned *ret_out,
                       unsigned *ret_in)
{
    unsigned out = 0, in = 0;

    for (size_t i = 0; i < co->nact; i++)
        if (co->act[i].status == CD_AS_ACTIVE && is_move(co->act[i].kind)) {
            out += co->act[i].from == node;
            in += co->act[i].to == node;
        }
    for (size_t i = 0; i < nextra; i++)
        if (is_move(extra[i].kind)) {
            out += extra[i].from == node;
            in += extra[i].to == node;
        }
    *ret_out = out;
    *ret_in = in;
}

/* May a migration from -> to start beside what is in flight? hvagent
 * refuses an incoming migration beyond its own limit (the target would
 * fail the move), so the cluster never asks for more: the limit holds
 * per source (outgoing) and per target (incoming). */
static bool move_fits(const struct cd_coord *co, const struct cd_action *extra,
                      size_t nextra, uint32_t from, uint32_t to, unsigned limit)
{
    unsigned out, in, dummy;

    node_moves(co, extra, nextra, from, &out, &dummy);
    node_moves(co, extra, nextra, to, &dummy, &in);
    return out < limit && in < limit;
}

/* Which pending requests may become actions now, in delivery order: a
 * move that does not fit waits, and the ones behind it may pass when
 * their nodes have room (a queue per node pair, not one global line).
 * `admitted` has co->nreq entries. Requests admitted earlier in the
 * order count as moves in flight for the later ones. */
static void reqs_admit(const struct cd_coord *co, unsigned limit,
                       bool *admitted)
{
    struct cd_action taken[CD_CO_MAX_REQS];
    size_t ntaken = 0;

    for (size_t i = 0; i < co->nreq; i++) {
        const struct cd_co_req *q = &co->req[i];
        admitted[i] = false;
        if (cd_coord_active(co, q->vm))
            continue;
        if (is_move(q->kind)) {
            if (!move_fits(co, taken, ntaken, q->from, q->to, limit))
                continue;
            memset(&taken[ntaken], 0, sizeof(taken[0]));
            taken[ntaken].kind = q->kind;
            taken[ntaken].from = q->from;
            taken[ntaken].to = q->to;
            ntaken++;
        }
        admitted[i] = true;
    }
}

unsigned cd_coord_req_place(const struct cd_coord *co, const char *vm,
                            unsigned limit)
{
    bool admitted[CD_CO_MAX_REQS];
    unsigned place = 0;

    reqs_admit(co, limit ? limit : 1, admitted);
    for (size_t i = 0; i < co->nreq; i++) {
        if (admitted[i] || cd_coord_active(co, co->req[i].vm))
            continue;
        place++;
        if (strcmp(co->req[i].vm, vm) == 0)
            return place;
    }
    return 0;
}

/* Frees a slot for a new action: drops the oldest finished one. */
static struct cd_action *act_alloc(struct cd_coord *co)
{
    size_t oldest = SIZE_MAX;

    if (co->nact < CD_CO_MAX_ACTIONS)
        return &co->act[co->nact++];
    for (size_t i = 0; i < co->nact; i++)
        if (co->act[i].status != CD_AS_ACTIVE &&
            (oldest == SIZE_MAX || co->act[i].seq < co->act[oldest].seq))
            oldest = i;
    if (oldest == SIZE_MAX)
        return NULL;
    memmove(&co->act[oldest], &co->act[oldest + 1],
            (co->nact - oldest - 1) * sizeof(co->act[0]));
    return &co->act[co->nact - 1];
}

/* ------------------------------------------------- placement picture */

/* The placement view of the CDB plus the runtime state. Definitions are
 * parsed on demand; one that does not parse (it passed the checks when
 * added, so only a newer schema could refuse it) counts with its CDB
 * priority and no memory. */
struct picture {
    struct res_node nodes[CD_MAX_NODES];
    size_t n_nodes;
    struct res_place_vm *vms;
    size_t n_vms;
    struct res_cluster c;
};

static bool view_member(const struct cd_co_view *v, uint32_t id)
{
    for (size_t i = 0; i < v->nmembers; i++)
        if (v->members[i] == id)
            return true;
    return false;
}

enum res_node_state cd_coord_node_state(const struct cd_node *n, bool member,
                                        bool storage_ok, bool ready)
{
    if (!member)
        return RES_NODE_DOWN;
    /* Keeps what runs there (sanlock decides about those), takes nothing
     * new: a start would fail at the lease. A node not ready (no
     * watchdog, cd-check.h) takes nothing new either. */
    if ((!storage_ok || !ready) && n->state == CD_NODE_UP)
        return RES_NODE_PAUSED;
    switch (n->state) {
    case CD_NODE_DRAINED:
        return RES_NODE_DRAINED;
    case CD_NODE_PAUSED:
        return RES_NODE_PAUSED;
    case CD_NODE_QUARANTINED:
        return RES_NODE_QUARANTINED;
    default:
        return RES_NODE_UP;
    }
}

/* The CDB parsed the definition when it stored it. */
static void vm_policy(const struct cd_vm *v, struct res_place_vm *pv)
{
    *pv = v->place;
    snprintf(pv->name, sizeof(pv->name), "%s", v->name);
    /* The CDB's priority is the one the administrator set last. */
    pv->policy.priority = (enum res_priority)v->priority;
}

/* Why placement found no node: its note, or (an empty note) what its
 * return code says. RES_E_INPUT means this file built an inconsistent
 * picture, never the user's input. */
static const char *why_none(const struct res_note *note, int rc)
{
    if (note->text[0])
        return note->text;
    if (rc == -RES_E_INPUT)
        return "internal error: inconsistent cluster picture (a bug: "
               "clusterd's log has the details; try again)";
    return "no eligible node";
}

static bool picture_has_node(const struct picture *p, uint32_t id)
{
    for (size_t i = 0; i < p->n_nodes; i++)
        if (p->nodes[i].id == id)
            return true;
    return false;
}

static int picture_build(const struct cd_coord *co, const struct cd_cdb *cdb,
                         const uint32_t *members, size_t nmembers,
                         struct picture *p)
{
    struct cd_co_view view = {.members = members, .nmembers = nmembers};

    memset(p, 0, sizeof(*p));
    for (size_t i = 0; i < cd_cdb_node_count(cdb) && i < CD_MAX_NODES; i++) {
        const struct cd_node *n = cd_cdb_node(cdb, i);
        struct res_node *r = &p->nodes[p->n_nodes++];
        r->id = n->nodeid;
        snprintf(r->name, sizeof(r->name), "%s", n->name);
        r->state = cd_coord_node_state(n, view_member(&view, n->nodeid),
                                       cd_stor_healthy(&co->stor, n->nodeid),
                                       cd_chk_ready(&co->chk, n->nodeid));
        r->memory_mib = n->memory_mib;
        cd_net_fill(&co->net, r);
        r->cpu = n->cpu_caps;
    }
    p->n_vms = cd_cdb_vm_count(cdb);
    p->vms = calloc(p->n_vms ? p->n_vms : 1, sizeof(*p->vms));
    if (!p->vms)
        return -ENOMEM;
    for (size_t i = 0; i < p->n_vms; i++) {
        const struct cd_vm *v = cd_cdb_vm(cdb, i);
        const struct cd_action *a = cd_coord_active(co, v->name);
        struct res_place_vm *pv = &p->vms[i];

        vm_policy(v, pv);
        pv->node = cd_coord_vm_node(co, v->name, NULL);
        cd_coord_cpu_need(co, cdb, pv);
        pv->want_running = v->want_running;
        if (a && (a->kind == CD_ACT_LIVE || a->kind == CD_ACT_QUICK)) {
            if (!pv->node)
                pv->node = a->from;
            /* Between the target's "running" and the action's last step
             * the VM already runs where it was going: nothing is in
             * flight any more (and a move onto its own node would make
             * the whole picture invalid for every other VM). */
            if (pv->node != a->to && picture_has_node(p, a->to))
                pv->moving_to = a->to;
        } else if (a && a->kind == CD_ACT_START && !pv->node) {
            /* Its memory is spoken for on the target already. */
            pv->node = a->to;
        }
        /* A VM arriving somewhere (a live migration whose source's
         * clusterd went away) is not started anew: it runs there as soon
         * as the handoff ends, or its source keeps it. */
        for (size_t k = 0; !pv->node && k < co->nrt; k++)
            if (co->rt[k].state == CD_RT_INCOMING &&
                strcmp(co->rt[k].vm, v->name) == 0)
                pv->node = co->rt[k].node;
    }
    p->c.nodes = p->nodes;
    p->c.n_nodes = p->n_nodes;
    p->c.vms = p->vms;
    p->c.n_vms = p->n_vms;
    return 0;
}

static void picture_free(struct picture *p)
{
    free(p->vms);
    p->vms = NULL;
}

static const char *node_name(const struct cd_cdb *cdb, uint32_t id)
{
    const struct cd_node *n = cd_cdb_node_by_id(cdb, id);
    return n ? n->name : "?";
}

int cd_coord_check_move(const struct cd_coord *co, const struct cd_cdb *cdb,
                        const char *vm, uint32_t to, enum cd_act_kind kind,
                        uint32_t *ret_from, uint32_t *ret_to, char *err,
                        size_t errlen)
{
    struct picture p;
    const struct cd_action *a;
    uint32_t from, best = to;
    struct res_note note = {0};
    int rc;

    if (kind != CD_ACT_LIVE && kind != CD_ACT_QUICK) {
        cd_errf(err, errlen, "a move is --live or --quick");
        return -CD_E_BAD_VALUE;
    }
    if (!cd_cdb_vm_by_name(cdb, vm)) {
        cd_errf(err, errlen,
                "VM '%s' does not exist (see 'clusterctl vm "
                "list')",
                vm);
        return -CD_E_NOT_FOUND;
    }
    a = cd_coord_active(co, vm);
    if (a || req_find(co, vm)) {
        if (a)
            cd_errf(err, errlen,
                    "VM '%s' is already in a %s (%s -> %s): wait for it to "
                    "finish (see 'clusterctl events')",
                    vm, cd_act_kind_name(a->kind), node_name(cdb, a->from),
                    node_name(cdb, a->to));
        else
            cd_errf(err, errlen,
                    "VM '%s' is already being moved: wait for it to finish "
                    "(see 'clusterctl events')",
                    vm);
        return -CD_E_BUSY;
    }
    from = cd_coord_vm_node(co, vm, NULL);
    if (!from) {
        cd_errf(err, errlen,
                "VM '%s' is not running: nothing to move (start it with "
                "'clusterctl vm start %s')",
                vm, vm);
        return -CD_E_NOT_RUNNING;
    }
    if (cd_coord_unmanaged(co, from)) {
        cd_errf(err, errlen,
                "VM '%s' runs on node '%s' whose clusterd is down: it can "
                "move once that clusterd is back (start clusterd on '%s')",
                vm, node_name(cdb, from), node_name(cdb, from));
        return -CD_E_BUSY;
    }
    rc = picture_build(co, cdb, co->members, co->nmembers, &p);
    if (rc < 0)
        return rc;
    if (to) {
        if (to == from) {
            cd_errf(err, errlen, "VM '%s' already runs on node '%s'", vm,
                    node_name(cdb, to));
            rc = -CD_E_BAD_VALUE;
            goto out;
        }
        const struct cd_node *tn = cd_cdb_node_by_id(cdb, to);
        rc = res_place_check(&p.c, vm, to, err, errlen);
        if (rc == -RES_E_NODE_STATE && tn && tn->state == CD_NODE_UP &&
            !cd_stor_healthy(&co->stor, to)) {
            char why[384];
            cd_stor_reason(&co->stor, to, why, sizeof(why));
            cd_errf(err, errlen,
                    "node '%s' takes no VMs: %s (clusterd re-joins the "
                    "lockspace once the volume reads again)",
                    tn->name, why);
        }
        if (rc == -RES_E_NODE_STATE && tn && tn->state == CD_NODE_UP &&
            cd_stor_healthy(&co->stor, to) && !cd_chk_ready(&co->chk, to))
            cd_errf(err, errlen,
                    "node '%s' takes no VMs: it is not ready (%s); see "
                    "'clusterctl cluster validate'",
                    tn->name, cd_chk_get(&co->chk, to)->r[CD_CHK_READY].text);
        if (rc == -RES_E_NODE_STATE && tn && tn->state == CD_NODE_QUARANTINED &&
            err && strlen(err) + 2 * CD_NAME_MAX + 64 < errlen)
            snprintf(err + strlen(err), errlen - strlen(err),
                     "; it failed too often (%s): 'clusterctl node resume "
                     "%s' ends the quarantine",
                     tn->reason, tn->name);
        if (rc < 0 && err && strlen(err) + 48 + strlen(vm) < errlen)
            snprintf(err + strlen(err), errlen - strlen(err),
                     " (see 'clusterctl explain %s')", vm);
    } else {
        rc = res_place_best(&p.c, vm, RES_PLACE_OTHER_NODE, &best, &note);
        if (rc < 0)
            cd_errf(err, errlen,
                    "VM '%s': no other node can take it: %s (see "
                    "'clusterctl explain %s')",
                    vm, why_none(&note, rc), vm);
    }
    if (rc == 0) {
        if (ret_from)
            *ret_from = from;
        if (ret_to)
            *ret_to = best;
    }
out:
    picture_free(&p);
    return rc;
}

int cd_coord_check_start(const struct cd_coord *co, const struct cd_cdb *cdb,
                         const char *vm, uint32_t *ret_to, char *err,
                         size_t errlen)
{
    struct picture p;
    uint32_t best = 0;
    struct res_note note = {0};
    int rc;

    if (!cd_cdb_vm_by_name(cdb, vm)) {
        cd_errf(err, errlen,
                "VM '%s' does not exist (see 'clusterctl vm list')", vm);
        return -CD_E_NOT_FOUND;
    }
    if (cd_coord_active(co, vm) || req_find(co, vm)) {
        cd_errf(err, errlen,
                "VM '%s' has an action in progress: wait for it to finish "
                "(see 'clusterctl events')",
                vm);
        return -CD_E_BUSY;
    }
    if (cd_coord_vm_node(co, vm, NULL)) {
        cd_errf(err, errlen, "VM '%s' runs already", vm);
        return -CD_E_BAD_VALUE;
    }
    rc = picture_build(co, cdb, co->members, co->nmembers, &p);
    if (rc < 0)
        return rc;
    /* An administrator asked: priority manual does not stop this one. */
    rc = res_place_best(&p.c, vm, 0, &best, &note);
    if (rc < 0)
        cd_errf(err, errlen,
                "VM '%s': no node can start it: %s (see 'clusterctl explain "
                "%s')",
                vm, why_none(&note, rc), vm);
    else if (ret_to)
        *ret_to = best;
    picture_free(&p);
    return rc;
}

/* ----------------------------------------------------------- deliver */

/* A CPU model a message carries: a name, or "" for anything else. */
static void cpu_copy(char dst[CD_NAME_MAX], const char *text)
{
    if (cmn_name_valid(text))
        memcpy(dst, text, strlen(text) + 1);
    else
        dst[0] = '\0';
}

static void deliver_rt_vm(struct cd_coord *co, uint32_t sender,
                          const struct cd_co_msg *m, struct cd_co_effect *eff)
{
    enum cd_rt_state st = (enum cd_rt_state)m->kind;
    struct cd_rt_vm *r = rt_find(co, m->vm, sender);
    bool was_running =
        r && (r->state == CD_RT_RUNNING || r->state == CD_RT_PAUSED);
    const struct cd_action *a = cd_coord_active(co, m->vm);

    if (st >= CD_RT_STATE_COUNT)
        return;
    if (st == CD_RT_STOPPED) {
        if (!r)
            return;
        rt_remove_at(co, (size_t)(r - co->rt));
        eff->changed = true;
        /* Stopped without anyone asking: QEMU died or the guest powered
         * off. Health counts it and the coordinator restarts it. */
        if (was_running && !a) {
            struct cd_vm_failures *f = fail_find(co, m->vm);
            if (!f && co->nfail < CD_CO_MAX_RT) {
                f = &co->fail[co->nfail++];
                memset(f, 0, sizeof(*f));
                snprintf(f->vm, sizeof(f->vm), "%s", m->vm);
            }
            if (f) {
                if (f->n == CD_CO_MAX_FAILURES) {
                    memmove(f->times, f->times + 1,
                            (f->n - 1) * sizeof(f->times[0]));
                    f->n--;
                }
                f->times[f->n++] = m->n[3];
                f->node = sender;
                f->pending = true;
            }
            eff->vm_failed = true;
        }
        return;
    }
    r = rt_get(co, m->vm, sender);
    if (!r)
        return;
    if (r->state == CD_RT_PAUSED && st == CD_RT_RUNNING)
        r->resumed_seq = co->act_seq;
    r->state = st;
    r->lease = (m->cause & CD_RT_F_LEASE) != 0;
    cd_rt_ioerr_from_msg(m->cause, m->origin, &r->ioerr, &r->ioerr_disk);
    /* text: the -cpu hvagent defined it with (a model name or "host") */
    cpu_copy(r->cpu, m->text);
    r->pass = (unsigned)m->n[0];
    r->transferred = m->n[1];
    r->remaining = m->n[2];
    r->expected_downtime_ms = m->b; /* progress: b = expected downtime */
    eff->changed = true;
    if (cd_rt_state_runs(st)) {
        struct cd_vm_failures *f = fail_find(co, m->vm);
        if (f && st == CD_RT_RUNNING)
            f->pending = false;
    }
    /* Running on a member: an unmanaged node's entry of the same VM is
     * stale (a migration its hvagent finished without its clusterd). */
    for (size_t i = 0; st == CD_RT_RUNNING && i < co->nrt;) {
        if (co->rt[i].node != sender &&
            cd_coord_unmanaged(co, co->rt[i].node) &&
            strcmp(co->rt[i].vm, m->vm) == 0)
            rt_remove_at(co, i);
        else
            i++;
    }
}

/* A member re-announces an unmanaged node's entry (RT_VM with `a` set),
 * for members that joined since that node's clusterd left. */
static void deliver_rt_proxy(struct cd_coord *co, const struct cd_co_msg *m,
                             struct cd_co_effect *eff)
{
    enum cd_rt_state st = (enum cd_rt_state)m->kind;
    struct cd_rt_vm *r;

    if (st >= CD_RT_STATE_COUNT || st == CD_RT_STOPPED ||
        member_index(co, m->a) >= 0 || id_in(co->lost, co->nlost, m->a))
        return;
    id_add(co->unmanaged, &co->nunmanaged, CMN_ARRAY_SIZE(co->unmanaged), m->a);
    r = rt_get(co, m->vm, m->a);
    if (!r)
        return;
    if (r->state != st)
        eff->changed = true;
    r->state = st;
    r->lease = (m->cause & CD_RT_F_LEASE) != 0;
    cd_rt_ioerr_from_msg(m->cause, m->origin, &r->ioerr, &r->ioerr_disk);
    cpu_copy(r->cpu, m->text);
}

/* The coordinator saw an unmanaged node leave corosync's membership: the
 * node is gone, its VMs run nowhere now (failover). */
static void deliver_node_lost(struct cd_coord *co, const struct cd_co_msg *m,
                              struct cd_co_effect *eff)
{
    if (!m->a || member_index(co, m->a) >= 0)
        return;
    id_add(co->lost, &co->nlost, CMN_ARRAY_SIZE(co->lost), m->a);
    if (!cd_coord_unmanaged(co, m->a))
        return;
    id_del(co->unmanaged, &co->nunmanaged, m->a);
    rt_remove_node(co, m->a);
    eff->changed = true;
}

static void deliver_req(struct cd_coord *co, const struct cd_cdb *cdb,
                        const struct cd_co_msg *m, struct cd_co_effect *eff,
                        char *err, size_t errlen)
{
    uint32_t from = 0, to = 0;
    struct cd_co_req *q;
    int rc;

    if (m->kind == CD_ACT_START)
        rc = cd_coord_check_start(co, cdb, m->vm, &to, err, errlen);
    else
        rc =
            cd_coord_check_move(co, cdb, m->vm, m->b, (enum cd_act_kind)m->kind,
                                &from, &to, err, errlen);
    if (rc == 0 && co->nreq == CD_CO_MAX_REQS) {
        cd_errf(err, errlen, "too many move requests pending: retry later");
        rc = -EBUSY;
    }
    if (rc < 0) {
        eff->rejected = true;
        eff->rc = rc;
        return;
    }
    q = &co->req[co->nreq++];
    memset(q, 0, sizeof(*q));
    snprintf(q->vm, sizeof(q->vm), "%s", m->vm);
    q->kind = (enum cd_act_kind)m->kind;
    q->from = from;
    q->to = to;
    q->origin = m->origin;
    q->origin_req = m->origin_req;
    q->epoch = cd_cdb_epoch(cdb);
    eff->changed = true;
}

static void deliver_action(struct cd_coord *co, const struct cd_co_msg *m,
                           struct cd_co_effect *eff)
{
    struct cd_action *a;
    bool answered = false;

    if (m->kind <= 0 || m->kind >= CD_ACT_KIND_END || !m->vm[0])
        return;
    /* Re-announced by a new coordinator or published twice: the first
     * one delivered wins, everywhere. */
    for (size_t i = 0; i < co->nact; i++)
        if (co->act[i].id == m->id) {
            eff->act = &co->act[i];
            return;
        }
    if (cd_coord_active(co, m->vm))
        return;
    a = act_alloc(co);
    if (!a)
        return;
    memset(a, 0, sizeof(*a));
    a->id = m->id;
    a->kind = (enum cd_act_kind)m->kind;
    a->cause =
        m->cause < CD_CAUSE_END ? (enum cd_act_cause)m->cause : CD_CAUSE_USER;
    snprintf(a->vm, sizeof(a->vm), "%s", m->vm);
    a->from = m->a;
    a->to = m->b;
    a->epoch = m->epoch;
    a->origin = m->origin;
    a->origin_req = m->origin_req;
    a->status = CD_AS_ACTIVE;
    a->seq = ++co->act_seq;
    /* Taken now, while the source still runs it (a quick migration's
     * source has stopped by the time the target restores). */
    if (is_move(a->kind))
        cpu_copy(a->cpu, cmn_name_valid(m->text) ? m->text
                                                 : cd_coord_vm_cpu(co, a->vm));
    /* The request it answers is satisfied. */
    for (size_t i = 0; i < co->nreq; i++)
        if (strcmp(co->req[i].vm, a->vm) == 0) {
            answered = co->req[i].origin_req == a->origin_req;
            memmove(&co->req[i], &co->req[i + 1],
                    (co->nreq - i - 1) * sizeof(co->req[0]));
            co->nreq--;
            break;
        }
    /* A move that waited in the queue may find the world changed: the
     * VM left its source (stopped, failed over) or the target left the
     * cluster. It ends here, failed, at the same point of the agreed
     * order on every member, instead of waiting for an executor that
     * can't act. */
    if (is_move(a->kind) && a->origin_req && answered) {
        uint32_t now = cd_coord_vm_node(co, a->vm, NULL);
        if (now != a->from || member_index(co, a->to) < 0) {
            a->status = CD_AS_FAILED;
            a->rc = -CD_E_BUSY;
            if (now != a->from)
                snprintf(a->msg, sizeof(a->msg),
                         "VM '%s' no longer runs on node %u (it is %s "
                         "now): the move waited in the queue and was "
                         "dropped; move it again if still needed",
                         a->vm, a->from, now ? "elsewhere" : "stopped");
            else
                snprintf(a->msg, sizeof(a->msg),
                         "target node %u left the cluster while the move "
                         "of VM '%s' waited in the queue: the VM stays "
                         "where it runs",
                         a->to, a->vm);
            eff->act_ended = true;
        }
    }
    if (a->kind == CD_ACT_START) {
        struct cd_vm_failures *f = fail_find(co, a->vm);
        if (f)
            f->pending = false;
    }
    eff->act = a;
    eff->act_new = true;
    eff->changed = true;
}

static void deliver_step(struct cd_coord *co, const struct cd_co_msg *m,
                         struct cd_co_effect *eff)
{
    struct cd_action *a = NULL;

    for (size_t i = 0; i < co->nact; i++)
        if (co->act[i].id == m->id)
            a = &co->act[i];
    /* A late or repeated report (executor restarted) changes nothing. */
    if (!a || a->status != CD_AS_ACTIVE || a->step != m->cause)
        return;
    eff->act = a;
    eff->changed = true;
    /* A quick migration's VM is down from the save to the end of the
     * restore: its steps add up. */
    if (a->kind == CD_ACT_QUICK) {
        a->downtime_ms += m->n[0];
        a->total_ms += m->n[1];
    } else {
        if (m->n[0])
            a->downtime_ms = m->n[0];
        if (m->n[1])
            a->total_ms = m->n[1];
    }
    if (a->kind == CD_ACT_START && m->n[2])
        a->start_ms = m->n[2];
    if (m->rc < 0) {
        a->status = CD_AS_FAILED;
        a->rc = m->rc;
        a->ended_s = m->n[3];
        snprintf(a->msg, sizeof(a->msg), "%s", m->text);
        eff->act_ended = true;
        return;
    }
    a->step++;
    if (a->step >= cd_action_steps(a->kind)) {
        a->status = CD_AS_DONE;
        a->ended_s = m->n[3];
        eff->act_ended = true;
    }
}

int cd_coord_deliver(struct cd_coord *co, const struct cd_cdb *cdb,
                     uint32_t sender, const struct cd_co_msg *m,
                     struct cd_co_effect *eff, char *err, size_t errlen)
{
    ssize_t mi;

    memset(eff, 0, sizeof(*eff));
    switch (m->type) {
    case CD_CO_RT_BEGIN:
        for (size_t i = 0; i < co->nrt;)
            if (co->rt[i].node == sender)
                rt_remove_at(co, i);
            else
                i++;
        eff->changed = true;
        break;
    case CD_CO_RT_VM:
        if (m->a && m->a != sender)
            deliver_rt_proxy(co, m, eff);
        else
            deliver_rt_vm(co, sender, m, eff);
        break;
    case CD_CO_RT_END:
        mi = member_index(co, sender);
        if (mi >= 0)
            co->announced[mi] = true;
        break;
    case CD_CO_REQ:
        deliver_req(co, cdb, m, eff, err, errlen);
        break;
    case CD_CO_ACTION:
        deliver_action(co, m, eff);
        break;
    case CD_CO_STEP:
        deliver_step(co, m, eff);
        break;
    case CD_CO_NODE_LOST:
        deliver_node_lost(co, m, eff);
        break;
    case CD_CO_STORAGE:
        eff->changed = cd_stor_apply(&co->stor, sender, m);
        break;
    case CD_CO_BRIDGES:
        eff->changed = cd_net_apply(&co->net, sender, m);
        break;
    case CD_CO_CHECK:
        /* The clock offset is the daemon's business (not replicated). */
        eff->changed = cd_chk_apply(&co->chk, sender, m, 0);
        break;
    default:
        return -CD_E_BAD_MSG;
    }
    return 0;
}

/* ------------------------------------------------------------ derive */

struct out {
    struct cd_action *v;
    size_t n, cap;
    uint64_t epoch;
};

static bool out_has(const struct out *o, const char *vm)
{
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->v[i].vm, vm) == 0)
            return true;
    return false;
}

static void emit(struct out *o, enum cd_act_kind kind, enum cd_act_cause cause,
                 const char *vm, uint32_t from, uint32_t to)
{
    struct cd_action *a;

    if (o->n == o->cap || out_has(o, vm))
        return;
    a = &o->v[o->n++];
    memset(a, 0, sizeof(*a));
    a->kind = kind;
    a->cause = cause;
    snprintf(a->vm, sizeof(a->vm), "%s", vm);
    a->from = from;
    a->to = to;
    a->epoch = o->epoch;
    a->status = CD_AS_ACTIVE;
}

static bool busy(const struct cd_coord *co, const struct out *o, const char *vm)
{
    return cd_coord_active(co, vm) || req_find(co, vm) || out_has(o, vm);
}

/* The last finished action of vm, or NULL. */
static const struct cd_action *last_action(const struct cd_coord *co,
                                           const char *vm)
{
    const struct cd_action *best = NULL;

    for (size_t i = 0; i < co->nact; i++)
        if (strcmp(co->act[i].vm, vm) == 0 &&
            (!best || co->act[i].seq > best->seq))
            best = &co->act[i];
    return best;
}

static unsigned active_moves(const struct cd_coord *co, const struct out *o)
{
    unsigned n = 0;

    for (size_t i = 0; i < co->nact; i++)
        if (co->act[i].status == CD_AS_ACTIVE &&
            (co->act[i].kind == CD_ACT_LIVE || co->act[i].kind == CD_ACT_QUICK))
            n++;
    for (size_t i = 0; i < o->n; i++)
        if (o->v[i].kind == CD_ACT_LIVE || o->v[i].kind == CD_ACT_QUICK)
            n++;
    return n;
}

static enum cd_act_kind move_kind(enum res_move_mode m)
{
    return m == RES_MOVE_LIVE ? CD_ACT_LIVE : CD_ACT_QUICK;
}

/* May a drain or failback move `vm` now (cd-backoff.h)? `ret_node`,
 * `ret_st`: where it runs and its state there; `s`: its failed moves. */
static enum cd_mvb_verdict move_gate(const struct cd_coord *co, const char *vm,
                                     uint64_t now_s, uint32_t *ret_node,
                                     enum cd_rt_state *ret_st,
                                     struct cd_mvb_streak *s,
                                     uint64_t *ret_due_s)
{
    uint64_t since = 0;

    *ret_node = cd_coord_vm_node(co, vm, ret_st);
    for (size_t i = 0; i < co->nrt; i++)
        if (strcmp(co->rt[i].vm, vm) == 0 && co->rt[i].resumed_seq > since)
            since = co->rt[i].resumed_seq;
    cd_mvb_streak(co->act, co->nact, vm, since, s);
    return cd_mvb_decide(*ret_st, s, now_s, ret_due_s);
}

/* Turns the moves of a drain or failback plan into actions, first wave
 * first, within the concurrency limit (overall for the plan, and per
 * node beside the user's moves). A VM whose last live move failed moves
 * quick (never stop/start); one that is not running is left alone, and
 * one whose moves keep failing waits its back-off (cd-backoff.h). */
static void emit_moves(const struct cd_coord *co, struct out *o,
                       const struct cd_co_view *view,
                       const struct res_plan *plan, enum cd_act_cause cause,
                       unsigned limit)
{
    for (size_t i = 0; i < plan->n_actions; i++) {
        const struct res_action *ra = &plan->actions[i];
        const struct cd_action *last;
        struct cd_mvb_streak s;
        enum cd_rt_state st;
        enum cd_act_kind k;
        uint32_t node;
        uint64_t due;

        if (ra->kind != RES_ACT_MOVE || busy(co, o, ra->vm))
            continue;
        if (active_moves(co, o) >= limit)
            return;
        if (!move_fits(co, o->v, o->n, ra->from, ra->to, limit))
            continue;
        if (move_gate(co, ra->vm, view->now_s, &node, &st, &s, &due) !=
            CD_MVB_GO)
            continue;
        k = move_kind(ra->mode);
        last = last_action(co, ra->vm);
        if (k == CD_ACT_LIVE && last && last->kind == CD_ACT_LIVE &&
            last->status == CD_AS_FAILED && last->from == ra->from) {
            k = CD_ACT_QUICK;
            cause = CD_CAUSE_FALLBACK;
        }
        emit(o, k, cause, ra->vm, ra->from, ra->to);
    }
}

/* ------------------------------------------------------------ retries */

/* The starts of a VM that failed in a row, up to its newest action: a
 * start that succeeded, or any other action, ends the streak (the VM ran
 * or someone moved it: the back-off starts again from the bottom). A
 * start failed by a membership change (its node left) is no failure of
 * the VM and ends it too. */
struct streak {
    unsigned n;
    const struct cd_action *last; /* the newest failed start */
    uint32_t nodes[CD_MAX_NODES]; /* where they failed, newest first */
    size_t nnodes;
};

static void start_streak(const struct cd_coord *co, const char *vm,
                         struct streak *s)
{
    uint64_t below = UINT64_MAX;

    memset(s, 0, sizeof(*s));
    for (;;) {
        const struct cd_action *best =
            cd_act_newest_before(co->act, co->nact, vm, below);
        bool seen = false;
        if (!best || best->kind != CD_ACT_START ||
            best->status != CD_AS_FAILED || best->rc == -CD_E_NO_CLUSTER)
            return;
        if (!s->n)
            s->last = best;
        s->n++;
        for (size_t i = 0; i < s->nnodes; i++)
            seen |= s->nodes[i] == best->to;
        if (!seen && best->to && s->nnodes < CMN_ARRAY_SIZE(s->nodes))
            s->nodes[s->nnodes++] = best->to;
        below = best->seq;
    }
}

uint64_t cd_coord_retry_delay(unsigned failures, uint64_t base_s,
                              uint64_t cap_s)
{
    uint64_t d = base_s ? base_s : 1;

    for (unsigned i = 1; i < failures && d < cap_s; i++)
        d *= 2;
    return d < cap_s ? d : cap_s;
}

static void retry_settings(const struct cd_cdb *cdb, uint64_t *ret_base_s,
                           uint64_t *ret_cap_s)
{
    const char *b = cd_cdb_setting(cdb, "start-retry-delay");
    const char *c = cd_cdb_setting(cdb, "start-retry-max-delay");
    uint64_t base = b ? strtoull(b, NULL, 10) / 1000 : 2;
    uint64_t cap = c ? strtoull(c, NULL, 10) / 1000 : 60;

    *ret_base_s = base ? base : 1;
    *ret_cap_s = cap > *ret_base_s ? cap : *ret_base_s;
}

/* Did the storage of a node the VM failed on become healthy after the
 * last failure? Then the likely cause of the failures is gone. */
static bool storage_back(const struct cd_coord *co, const struct streak *s)
{
    for (size_t i = 0; i < s->nnodes; i++) {
        const struct cd_stor_node *r = cd_stor_get(&co->stor, s->nodes[i]);
        if (r && cd_stor_healthy(&co->stor, s->nodes[i]) &&
            r->since > s->last->ended_s)
            return true;
    }
    return false;
}

/* When the next start is due: after the back-off, or after the first
 * step of it once storage came back (a VM must not stay down for up to
 * start-retry-max-delay after the lockspace that failed it is joined
 * again). */
static uint64_t retry_due(const struct cd_coord *co, const struct cd_cdb *cdb,
                          const struct streak *s)
{
    uint64_t base, cap;

    retry_settings(cdb, &base, &cap);
    if (storage_back(co, s))
        return s->last->ended_s + base;
    return s->last->ended_s + cd_coord_retry_delay(s->n, base, cap);
}

/* The best node for another attempt: not one of the nodes the VM just
 * failed on; if they are all it has, not the newest of them; if that is
 * its only node, there again (the cause may have passed: a lockspace
 * re-joined, an agent restarted). */
static int retry_target(struct picture *p, const char *vm,
                        const struct streak *s, uint32_t *ret_to,
                        struct res_note *note)
{
    enum res_node_state saved[CD_MAX_NODES];
    int rc = -RES_E_NO_OWNER;

    for (size_t i = 0; i < p->n_nodes; i++)
        saved[i] = p->nodes[i].state;
    for (int round = 0; round < 3 && rc < 0; round++) {
        size_t nex = round == 0 ? s->nnodes : round == 1 ? 1 : 0;
        if (round == 1 && s->nnodes < 2)
            continue; /* the same as round 0 */
        for (size_t i = 0; i < p->n_nodes; i++) {
            p->nodes[i].state = saved[i];
            for (size_t k = 0; k < nex && k < s->nnodes; k++)
                if (p->nodes[i].id == s->nodes[k])
                    p->nodes[i].state = RES_NODE_DOWN;
        }
        memset(note, 0, sizeof(*note));
        rc = res_place_best(&p->c, vm, 0, ret_to, note);
    }
    for (size_t i = 0; i < p->n_nodes; i++)
        p->nodes[i].state = saved[i];
    return rc;
}

static struct res_place_vm *picture_vm(struct picture *p, const char *vm)
{
    for (size_t k = 0; k < p->n_vms; k++)
        if (strcmp(p->vms[k].name, vm) == 0)
            return &p->vms[k];
    return NULL;
}

/* Arriving somewhere (the target of a live migration whose source went
 * away): not to be started anew. */
static bool incoming_somewhere(const struct cd_coord *co, const char *vm)
{
    for (size_t k = 0; k < co->nrt; k++)
        if (co->rt[k].state == CD_RT_INCOMING && strcmp(co->rt[k].vm, vm) == 0)
            return true;
    return false;
}

static unsigned migration_limit(const struct cd_cdb *cdb)
{
    const char *l = cd_cdb_setting(cdb, "migration-max-concurrent");
    unsigned limit = l ? (unsigned)strtoul(l, NULL, 10) : 0;

    return limit ? limit : 1;
}

static const char *const wait_names[] = {
    [CD_WAIT_NONE] = "none",
    [CD_WAIT_MOVE_QUEUED] = "queued",
    [CD_WAIT_PRIORITY] = "priority",
    [CD_WAIT_RETRY] = "retry",
    [CD_WAIT_NO_NODE] = "no-node",
    [CD_WAIT_MOVE_BACKOFF] = "backoff",
    [CD_WAIT_NOT_RUNNING] = "not-running",
};

const char *cd_wait_kind_name(enum cd_wait_kind k)
{
    return (unsigned)k < CMN_ARRAY_SIZE(wait_names) ? wait_names[k] : "?";
}

/* A VM on a drained node that the drain holds back: not running there
 * (a paused VM recovers or is resumed first), or its moves failed and
 * it waits its back-off. */
static bool drain_wait(const struct cd_coord *co, const struct cd_cdb *cdb,
                       const struct cd_co_view *view, const char *vm,
                       struct cd_vm_wait *ret)
{
    const struct cd_node *n;
    struct cd_mvb_streak s;
    enum cd_rt_state st;
    enum cd_mvb_verdict vd;
    uint32_t node;
    uint64_t due = 0;

    vd = move_gate(co, vm, view->now_s, &node, &st, &s, &due);
    n = node ? cd_cdb_node_by_id(cdb, node) : NULL;
    if (vd == CD_MVB_GO || !n || n->state != CD_NODE_DRAINED)
        return false;
    ret->node = node;
    if (vd == CD_MVB_NOT_RUNNING) {
        ret->kind = CD_WAIT_NOT_RUNNING;
        snprintf(ret->text, sizeof(ret->text),
                 "VM is %s on node '%s', not running: not moved until it "
                 "runs (its node recovers or resumes it)",
                 cd_rt_state_name(st), n->name);
        return true;
    }
    ret->kind = CD_WAIT_MOVE_BACKOFF;
    ret->n = s.n;
    ret->at_s = due;
    snprintf(ret->text, sizeof(ret->text), "%s", s.last ? s.last->msg : "");
    return true;
}

void cd_coord_vm_wait(const struct cd_coord *co, const struct cd_cdb *cdb,
                      const struct cd_co_view *view, const char *vm,
                      struct cd_vm_wait *ret)
{
    const struct cd_vm *v = cd_cdb_vm_by_name(cdb, vm);
    const struct cd_co_req *q = req_find(co, vm);
    struct picture p;
    struct streak s;
    struct res_note note = {0};
    uint32_t to = 0;
    int rc;

    memset(ret, 0, sizeof(*ret));
    if (!v)
        return;
    if (q && is_move(q->kind)) {
        ret->n = cd_coord_req_place(co, vm, migration_limit(cdb));
        if (ret->n)
            ret->kind = CD_WAIT_MOVE_QUEUED;
        return;
    }
    if (!q && !cd_coord_active(co, vm) && drain_wait(co, cdb, view, vm, ret))
        return;
    if (!v->want_running || q || cd_coord_active(co, vm) ||
        cd_coord_vm_node(co, vm, NULL) || incoming_somewhere(co, vm))
        return;
    if (picture_build(co, cdb, view->members, view->nmembers, &p) < 0)
        return;
    start_streak(co, vm, &s);
    if (s.n) {
        ret->n = s.n;
        ret->node = s.last->to;
        rc = retry_target(&p, vm, &s, &to, &note);
        if (rc == 0) {
            ret->kind = CD_WAIT_RETRY;
            ret->at_s = retry_due(co, cdb, &s);
            ret->next = to;
            snprintf(ret->text, sizeof(ret->text), "%s", s.last->msg);
        } else {
            ret->kind = CD_WAIT_NO_NODE;
            snprintf(ret->text, sizeof(ret->text), "%s", why_none(&note, rc));
        }
    } else if (v->priority != CD_PRIO_MANUAL &&
               (rc = res_place_best(&p.c, vm, 0, &to, &note)) < 0) {
        ret->kind = CD_WAIT_NO_NODE;
        snprintf(ret->text, sizeof(ret->text), "%s", why_none(&note, rc));
    } else {
        /* cd_coord_derive starts a class once the starts of the classes
         * above it are done. */
        for (size_t i = 0; i < co->nact; i++) {
            const struct cd_vm *w = cd_cdb_vm_by_name(cdb, co->act[i].vm);
            if (co->act[i].status == CD_AS_ACTIVE &&
                co->act[i].kind == CD_ACT_START && w &&
                w->priority < v->priority)
                ret->n++;
        }
        if (ret->n)
            ret->kind = CD_WAIT_PRIORITY;
    }
    picture_free(&p);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Accepted user requests, in the order they were delivered; moves
 * within the per-node limit, the others wait their turn. */
static void derive_requests(const struct cd_coord *co, unsigned limit,
                            struct out *o)
{
    bool admitted[CD_CO_MAX_REQS];

    reqs_admit(co, limit, admitted);
    for (size_t i = 0; i < co->nreq; i++) {
        const struct cd_co_req *q = &co->req[i];
        if (admitted[i] && !out_has(o, q->vm) && o->n < o->cap) {
            emit(o, q->kind, CD_CAUSE_USER, q->vm, q->from, q->to);
            o->v[o->n - 1].origin = q->origin;
            o->v[o->n - 1].origin_req = q->origin_req;
        }
    }
}

/* Stops: wanted stopped, running somewhere. */
static void derive_stops(const struct cd_coord *co, const struct cd_cdb *cdb,
                         struct out *o)
{
    for (size_t i = 0; i < cd_cdb_vm_count(cdb); i++) {
        const struct cd_vm *v = cd_cdb_vm(cdb, i);
        uint32_t n = cd_coord_vm_node(co, v->name, NULL);
        if (!v->want_running && n && !busy(co, o, v->name))
            emit(o, CD_ACT_STOP, CD_CAUSE_TARGET, v->name, n, 0);
    }
}

/* Health: a VM that died is restarted in place until it failed
 * too often in its period, then elsewhere. */
static void derive_restarts(const struct cd_coord *co, const struct cd_cdb *cdb,
                            const struct cd_co_view *view, struct picture *p,
                            struct out *o)
{
    for (size_t i = 0; i < co->nfail; i++) {
        const struct cd_vm_failures *f = &co->fail[i];
        const struct cd_vm *v = cd_cdb_vm_by_name(cdb, f->vm);
        struct res_plan *plan = NULL;
        struct res_place_vm *pv = NULL;
        bool failover;

        if (!f->pending || !v || !v->want_running || busy(co, o, f->vm) ||
            cd_coord_vm_node(co, f->vm, NULL))
            continue;
        for (size_t k = 0; k < p->n_vms; k++)
            if (strcmp(p->vms[k].name, f->vm) == 0)
                pv = &p->vms[k];
        if (!pv)
            continue;
        failover = res_failure_should_failover(&pv->policy, f->times, f->n,
                                               view->now_s);
        /* Placement sees the VM where it failed. */
        pv->node = f->node;
        if (res_plan_vm_failure(&p->c, f->vm, failover, &plan) == 0) {
            for (size_t k = 0; k < plan->n_actions; k++)
                if (plan->actions[k].kind == RES_ACT_START)
                    emit(o, CD_ACT_START, CD_CAUSE_RESTART, f->vm, 0,
                         plan->actions[k].to);
        }
        res_plan_free(plan);
        pv->node = 0;
    }
}

/* Retries: a VM wanted running whose last starts failed starts
 * again once its back-off is over, on another node if one can take
 * it. Placement counts it where it goes for the starts below. */
static void derive_retries(const struct cd_coord *co, const struct cd_cdb *cdb,
                           const struct cd_co_view *view, struct picture *p,
                           struct out *o)
{
    for (size_t i = 0; i < cd_cdb_vm_count(cdb); i++) {
        const struct cd_vm *v = cd_cdb_vm(cdb, i);
        struct res_note note;
        struct res_place_vm *pv;
        struct streak s;
        uint32_t to = 0;

        if (!v->want_running || busy(co, o, v->name) ||
            cd_coord_vm_node(co, v->name, NULL) ||
            incoming_somewhere(co, v->name))
            continue;
        start_streak(co, v->name, &s);
        if (!s.n || view->now_s < retry_due(co, cdb, &s))
            continue;
        if (retry_target(p, v->name, &s, &to, &note) < 0)
            continue; /* no node: cd_coord_vm_wait reports it */
        emit(o, CD_ACT_START, CD_CAUSE_RETRY, v->name, 0, to);
        pv = picture_vm(p, v->name);
        if (pv && out_has(o, v->name))
            pv->node = to;
    }
}

/* Starts: wanted running, running nowhere (a lost node's VMs, a
 * cluster that just formed, vm start), by priority. A VM whose last
 * home left the membership is a failover. */
static void derive_starts(const struct cd_coord *co, const struct cd_cdb *cdb,
                          const struct cd_co_view *view, struct picture *p,
                          struct out *o)
{
    struct res_plan *plan = NULL;
    /* Priority order means order of running, not only of deciding:
     * a class starts when the starts of the classes above it are
     * done (they may all wait on the same dead host's leases). */
    int cls = CD_PRIO_COUNT;
    for (size_t i = 0; i < co->nact; i++) {
        const struct cd_vm *v = cd_cdb_vm_by_name(cdb, co->act[i].vm);
        if (co->act[i].status == CD_AS_ACTIVE &&
            co->act[i].kind == CD_ACT_START && v && (int)v->priority < cls)
            cls = (int)v->priority;
    }
    if (res_plan_pending(&p->c, &plan) == 0) {
        for (size_t k = 0; k < plan->n_actions; k++) {
            const struct res_action *ra = &plan->actions[k];
            const struct cd_action *last = last_action(co, ra->vm);
            enum cd_act_cause cause = CD_CAUSE_TARGET;
            const struct cd_vm *cv = cd_cdb_vm_by_name(cdb, ra->vm);
            struct streak s;
            if (ra->kind != RES_ACT_START || busy(co, o, ra->vm) || !cv)
                continue;
            if ((int)cv->priority > cls)
                continue;
            /* A start that failed waits for its back-off (3b). */
            start_streak(co, ra->vm, &s);
            if (s.n)
                continue;
            if (last && last->status == CD_AS_DONE &&
                last->kind != CD_ACT_STOP &&
                !view_member(view, last->kind == CD_ACT_LIVE ||
                                           last->kind == CD_ACT_QUICK ||
                                           last->kind == CD_ACT_START
                                       ? last->to
                                       : last->from))
                cause = CD_CAUSE_FAILOVER;
            emit(o, CD_ACT_START, cause, ra->vm, 0, ra->to);
            cls = (int)cv->priority;
        }
    }
    res_plan_free(plan);
}

/* Drain, then failback, node by node in id order. */
static void derive_moves(const struct cd_coord *co, const struct cd_cdb *cdb,
                         const struct cd_co_view *view, struct picture *p,
                         unsigned limit, struct out *o)
{
    uint32_t ids[CD_MAX_NODES];
    size_t nids = 0;

    for (size_t i = 0; i < p->n_nodes; i++)
        ids[nids++] = p->nodes[i].id;
    qsort(ids, nids, sizeof(ids[0]), cmp_u32);
    for (size_t i = 0; i < nids; i++) {
        const struct cd_node *n = cd_cdb_node_by_id(cdb, ids[i]);
        struct res_plan *plan = NULL;
        if (!n || n->state != CD_NODE_DRAINED || !view_member(view, ids[i]))
            continue;
        if (res_plan_drain(&p->c, ids[i], limit, &plan) == 0)
            emit_moves(co, o, view, plan, CD_CAUSE_DRAIN, limit);
        res_plan_free(plan);
    }
    for (size_t i = 0; i < nids; i++) {
        const struct cd_node *n = cd_cdb_node_by_id(cdb, ids[i]);
        struct res_plan *plan = NULL;
        if (!n || n->state != CD_NODE_UP || !view_member(view, ids[i]))
            continue;
        if (res_plan_failback(&p->c, ids[i], view->now_minute, limit, &plan) ==
            0)
            emit_moves(co, o, view, plan, CD_CAUSE_FAILBACK, limit);
        res_plan_free(plan);
    }
}

size_t cd_coord_derive(const struct cd_coord *co, const struct cd_cdb *cdb,
                       const struct cd_co_view *view, struct cd_action *outv,
                       size_t cap)
{
    struct out o = {.v = outv, .cap = cap, .epoch = cd_cdb_epoch(cdb)};
    struct picture p;
    unsigned limit;

    if (!view->quorate || !cd_coord_settled(co))
        return 0;
    limit = migration_limit(cdb);
    /* In this order: a step sees what the steps before it emitted. */
    derive_requests(co, limit, &o);
    if (picture_build(co, cdb, view->members, view->nmembers, &p) < 0)
        return o.n;
    derive_stops(co, cdb, &o);
    derive_restarts(co, cdb, view, &p, &o);
    derive_retries(co, cdb, view, &p, &o);
    derive_starts(co, cdb, view, &p, &o);
    derive_moves(co, cdb, view, &p, limit, &o);
    picture_free(&p);
    return o.n;
}
