/* Placement simulator: random clusters and random event sequences (node
 * loss, join, drain, resume, quarantine, VM failure, VM start/stop) fed to
 * the placement functions, every plan checked and then applied.
 *
 * Checked on every plan:
 * - determinism: computed twice, and again on shuffled input arrays, the
 *   plan is byte-identical;
 * - admission: applying the actions in order never puts more memory on a
 *   node than its capacity minus its reserve;
 * - targets are nodes in state up, never the node being lost or drained;
 * - automatic plans never start a manual VM;
 * - priority: starts come high -> medium -> low, and a VM left out for
 *   memory could not have fitted on any eligible node given only what
 *   higher-ranked VMs took;
 * - anti-affinity: a placement that shares a node with its class carries
 *   a note, and then no eligible node without the class had room;
 * - completeness: every VM of a lost/drained node is acted on or noted;
 * - waves never hold more moves than the concurrency limit.
 * Seeds are fixed, so a failure replays; SIM_SEEDS / SIM_STEPS override.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "resources/res.h"

#define MAXN 10
#define MAXV 48

struct sim {
    uint64_t rng;
    struct res_node nodes[MAXN];
    struct res_place_vm vms[MAXV];
    struct res_cluster c;
    unsigned long steps, actions, notes, aa_violations, no_memory, inflight;
};

static uint64_t rnd(struct sim *s)
{
    /* xorshift64*: small, fixed, and the same on every machine */
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return s->rng * 0x2545f4914f6cdd1dull;
}

static unsigned pick(struct sim *s, unsigned n)
{
    return (unsigned)(rnd(s) % n);
}

static ssize_t nidx(const struct sim *s, uint32_t id)
{
    for (size_t j = 0; j < s->c.n_nodes; j++)
        if (s->nodes[j].id == id)
            return (ssize_t)j;
    return -1;
}

static ssize_t vidx(const struct sim *s, const char *name)
{
    for (size_t i = 0; i < s->c.n_vms; i++)
        if (strcmp(s->vms[i].name, name) == 0)
            return (ssize_t)i;
    return -1;
}

/* Memory left on node j when VMs run at where[] and migrations in flight
 * hold memory at mv[] too. */
static uint64_t avail(const struct sim *s, size_t j, const uint32_t *where,
                      const uint32_t *mv)
{
    uint64_t used = 0, cap;

    for (size_t i = 0; i < s->c.n_vms; i++)
        if (where[i] == s->nodes[j].id || mv[i] == s->nodes[j].id)
            used += s->vms[i].memory_mib;
    cap = s->nodes[j].memory_mib - s->nodes[j].reserved_mib;
    return cap > used ? cap - used : 0;
}

static bool owner(const struct res_place_vm *v, const char *node)
{
    if (v->policy.n_possible == 0)
        return true;
    for (size_t k = 0; k < v->policy.n_possible; k++)
        if (strcmp(v->policy.possible[k], node) == 0)
            return true;
    return false;
}

static bool conflict(const struct sim *s, size_t vi, uint32_t id,
                     const uint32_t *where, const uint32_t *mv)
{
    const char *cls = s->vms[vi].policy.anti_affinity;

    if (cls[0] == '\0')
        return false;
    for (size_t k = 0; k < s->c.n_vms; k++)
        if (k != vi && (where[k] == id || mv[k] == id) &&
            strcmp(s->vms[k].policy.anti_affinity, cls) == 0)
            return true;
    return false;
}

static void init_cluster(struct sim *s)
{
    uint32_t ids[3 * MAXN];
    static const char *const classes[] = {"", "", "web", "db", "cache"};

    memset(s->nodes, 0, sizeof(s->nodes));
    memset(s->vms, 0, sizeof(s->vms));
    s->c.nodes = s->nodes;
    s->c.vms = s->vms;
    s->c.n_nodes = 3 + pick(s, MAXN - 2);
    s->c.n_vms = 8 + pick(s, MAXV - 7);
    /* ids: a random injection into 1..30, so order != id order */
    for (unsigned i = 0; i < 3 * MAXN; i++)
        ids[i] = i + 1;
    for (unsigned i = 3 * MAXN - 1; i > 0; i--) {
        unsigned k = pick(s, i + 1);
        uint32_t t = ids[i];
        ids[i] = ids[k];
        ids[k] = t;
    }
    for (size_t j = 0; j < s->c.n_nodes; j++) {
        struct res_node *n = &s->nodes[j];

        n->id = ids[j];
        snprintf(n->name, sizeof(n->name), "n%u", n->id);
        n->state = RES_NODE_UP;
        n->memory_mib = 2048 + 1024 * pick(s, 15);
        n->reserved_mib = 512;
    }
    for (size_t i = 0; i < s->c.n_vms; i++) {
        struct res_place_vm *v = &s->vms[i];
        struct res_policy *p = &v->policy;

        snprintf(v->name, sizeof(v->name), "vm%02zu", i);
        v->memory_mib = 256 * (1 + pick(s, 12));
        v->want_running = pick(s, 10) != 0;
        p->priority = (enum res_priority)pick(s, 4);
        p->failures_max = 3;
        p->failures_period = 3600;
        snprintf(p->anti_affinity, sizeof(p->anti_affinity), "%s",
                 classes[pick(s, 5)]);
        if (pick(s, 3) == 0)
            for (size_t j = 0; j < s->c.n_nodes; j++)
                if (pick(s, 2))
                    strcpy(p->possible[p->n_possible++], s->nodes[j].name);
        for (size_t j = 0; j < s->c.n_nodes && p->n_preferred < 3; j++)
            if (pick(s, 3) == 0 && owner(v, s->nodes[j].name))
                strcpy(p->preferred[p->n_preferred++], s->nodes[j].name);
        p->failback = (enum res_failback)pick(s, 3);
        p->window_start = pick(s, 1440);
        p->window_end = (p->window_start + 1 + pick(s, 1438)) % 1440;
    }
}

/* ---- plan computation with the determinism checks ------------------- */

enum kind { K_FAILOVER, K_DRAIN, K_FAILBACK, K_PENDING, K_FAILURE };

struct req {
    enum kind kind;
    uint32_t node;
    unsigned maxc, now;
    const char *vm;
    bool failover;
};

static int run(const struct res_cluster *c, const struct req *r,
               struct res_plan **ret)
{
    switch (r->kind) {
    case K_FAILOVER:
        return res_plan_failover(c, r->node, ret);
    case K_DRAIN:
        return res_plan_drain(c, r->node, r->maxc, ret);
    case K_FAILBACK:
        return res_plan_failback(c, r->node, r->now, r->maxc, ret);
    case K_PENDING:
        return res_plan_pending(c, ret);
    case K_FAILURE:
        return res_plan_vm_failure(c, r->vm, r->failover, ret);
    }
    return -1;
}

static void assert_same_plan(const struct res_plan *a, const struct res_plan *b)
{
    assert_int_equal(a->n_actions, b->n_actions);
    assert_int_equal(a->n_notes, b->n_notes);
    if (a->n_actions)
        assert_memory_equal(a->actions, b->actions,
                            a->n_actions * sizeof(*a->actions));
    if (a->n_notes)
        assert_memory_equal(a->notes, b->notes, a->n_notes * sizeof(*a->notes));
}

static struct res_plan *plan(struct sim *s, const struct req *r)
{
    struct res_node nodes[MAXN];
    struct res_place_vm vms[MAXV];
    struct res_cluster shuffled = s->c;
    struct res_plan *p1 = NULL, *p2 = NULL, *p3 = NULL;

    assert_int_equal(run(&s->c, r, &p1), 0);
    assert_int_equal(run(&s->c, r, &p2), 0);
    assert_same_plan(p1, p2);
    /* the same cluster with both arrays in another order */
    memcpy(nodes, s->nodes, sizeof(nodes));
    memcpy(vms, s->vms, sizeof(vms));
    for (size_t i = s->c.n_nodes - 1; i > 0; i--) {
        size_t k = pick(s, (unsigned)i + 1);
        struct res_node t = nodes[i];
        nodes[i] = nodes[k];
        nodes[k] = t;
    }
    for (size_t i = s->c.n_vms - 1; i > 0; i--) {
        size_t k = pick(s, (unsigned)i + 1);
        struct res_place_vm t = vms[i];
        vms[i] = vms[k];
        vms[k] = t;
    }
    shuffled.nodes = nodes;
    shuffled.vms = vms;
    assert_int_equal(run(&shuffled, r, &p3), 0);
    assert_same_plan(p1, p3);
    res_plan_free(p2);
    res_plan_free(p3);
    return p1;
}

static const struct res_note *note_of(const struct res_plan *p, const char *vm,
                                      enum res_why why)
{
    for (size_t i = 0; i < p->n_notes; i++)
        if (strcmp(p->notes[i].vm, vm) == 0 && p->notes[i].why == why)
            return &p->notes[i];
    return NULL;
}

/* Checks the plan against the state it was computed on and applies it. */
static void check_and_apply(struct sim *s, const struct req *r,
                            struct res_plan *p)
{
    uint32_t where[MAXV], mv[MAXV], inflight[MAXV] = {0};
    unsigned per_wave[MAXV] = {0};
    bool automatic =
        r->kind == K_FAILOVER || r->kind == K_PENDING || r->kind == K_FAILURE;
    int last_prio = -1;

    for (size_t i = 0; i < s->c.n_vms; i++) {
        where[i] = s->vms[i].node;
        mv[i] = s->vms[i].moving_to;
    }
    /* migrations from or to a lost node die with it */
    if (r->kind == K_FAILOVER)
        for (size_t i = 0; i < s->c.n_vms; i++) {
            if (where[i] == r->node)
                where[i] = mv[i] = 0;
            if (mv[i] == r->node)
                mv[i] = 0;
        }
    /* a failed VM is dead until the plan restarts it, in place or not */
    if (r->kind == K_FAILURE) {
        where[vidx(s, r->vm)] = 0;
        mv[vidx(s, r->vm)] = 0;
    }

    for (size_t a = 0; a < p->n_actions; a++) {
        const struct res_action *act = &p->actions[a];
        ssize_t vi = vidx(s, act->vm), j = nidx(s, act->to);
        const struct res_place_vm *v;
        bool shares;

        assert_true(vi >= 0);
        assert_true(j >= 0);
        v = &s->vms[vi];
        assert_int_not_equal(act->kind, RES_ACT_STOP);
        /* targets: up, a possible owner, not the node being left */
        assert_int_equal(s->nodes[j].state, RES_NODE_UP);
        assert_true(owner(v, s->nodes[j].name));
        if (r->kind == K_FAILOVER || r->kind == K_DRAIN)
            assert_int_not_equal(act->to, r->node);
        if (automatic && act->kind == RES_ACT_START)
            assert_int_not_equal(v->policy.priority, RES_PRIO_MANUAL);
        if (act->kind == RES_ACT_MOVE) {
            /* a VM already migrating is left alone */
            assert_int_equal(mv[vi], 0);
            assert_int_equal(act->from, where[vi]);
            assert_int_equal(act->mode, v->policy.priority <= RES_PRIO_MEDIUM
                                            ? RES_MOVE_LIVE
                                            : RES_MOVE_QUICK);
            assert_true(act->wave < MAXV);
            per_wave[act->wave]++;
            assert_true(per_wave[act->wave] <= (r->maxc ? r->maxc : 1));
        }
        if ((r->kind == K_FAILOVER || r->kind == K_PENDING) &&
            act->kind == RES_ACT_START) {
            assert_true((int)v->policy.priority >= last_prio);
            last_prio = (int)v->policy.priority;
        }
        shares = conflict(s, (size_t)vi, act->to, where, mv);
        if (r->kind == K_FAILBACK) {
            /* failback never creates a violation that isn't there now */
            if (shares)
                assert_true(conflict(s, (size_t)vi, act->from, where, mv));
        } else if (!(r->kind == K_FAILURE && !r->failover &&
                     act->to == v->node)) {
            if (shares) {
                s->aa_violations++;
                assert_non_null(note_of(p, v->name, RES_WHY_ANTI_AFFINITY));
                /* and no eligible node without the class had room */
                for (size_t k = 0; k < s->c.n_nodes; k++) {
                    const struct res_node *n = &s->nodes[k];
                    uint32_t saved = where[vi];

                    if (n->state != RES_NODE_UP || n->id == r->node ||
                        n->id == act->from || !owner(v, n->name) ||
                        (r->kind == K_FAILURE && n->id == v->node))
                        continue;
                    where[vi] = 0;
                    if (avail(s, k, where, mv) >= v->memory_mib)
                        assert_true(conflict(s, (size_t)vi, n->id, where, mv));
                    where[vi] = saved;
                }
            } else {
                assert_null(note_of(p, v->name, RES_WHY_ANTI_AFFINITY));
            }
        }
        /* admission, after this very action */
        where[vi] = act->to;
        {
            uint64_t used = 0;
            for (size_t k = 0; k < s->c.n_vms; k++)
                if (where[k] == act->to || mv[k] == act->to)
                    used += s->vms[k].memory_mib;
            assert_true(used <=
                        s->nodes[j].memory_mib - s->nodes[j].reserved_mib);
        }
        /* half the moves stay in flight for a while: the VM holds memory
         * on both nodes until a later step completes or aborts them */
        if (act->kind == RES_ACT_MOVE && pick(s, 2))
            inflight[vi] = act->from;
    }

    /* priority: a VM left out for memory fits nowhere given what the VMs
     * ranked before it took (pre-state plus their starts) */
    if (r->kind == K_FAILOVER || r->kind == K_PENDING)
        for (size_t n = 0; n < p->n_notes; n++) {
            const struct res_note *no = &p->notes[n];
            ssize_t hi = vidx(s, no->vm);
            uint32_t w2[MAXV], m2[MAXV];

            if (no->why != RES_WHY_NO_MEMORY)
                continue;
            s->no_memory++;
            for (size_t i = 0; i < s->c.n_vms; i++) {
                w2[i] = s->vms[i].node;
                m2[i] = s->vms[i].moving_to;
                if (r->kind == K_FAILOVER && w2[i] == r->node)
                    w2[i] = m2[i] = 0;
                if (r->kind == K_FAILOVER && m2[i] == r->node)
                    m2[i] = 0;
            }
            for (size_t a = 0; a < p->n_actions; a++) {
                ssize_t li = vidx(s, p->actions[a].vm);
                const struct res_place_vm *l = &s->vms[li], *h = &s->vms[hi];

                if (l->policy.priority < h->policy.priority ||
                    (l->policy.priority == h->policy.priority &&
                     strcmp(l->name, h->name) < 0))
                    w2[li] = p->actions[a].to;
            }
            for (size_t k = 0; k < s->c.n_nodes; k++)
                if (s->nodes[k].state == RES_NODE_UP &&
                    s->nodes[k].id != r->node &&
                    owner(&s->vms[hi], s->nodes[k].name))
                    assert_true(avail(s, k, w2, m2) < s->vms[hi].memory_mib);
        }

    /* completeness of failover and drain */
    if (r->kind == K_FAILOVER || r->kind == K_DRAIN)
        for (size_t i = 0; i < s->c.n_vms; i++) {
            const struct res_place_vm *v = &s->vms[i];
            bool acted = false, noted = false;

            if (v->node != r->node)
                continue;
            if (r->kind == K_FAILOVER && !v->want_running)
                continue;
            if (r->kind == K_DRAIN && v->moving_to != 0)
                continue; /* already leaving */
            for (size_t a = 0; a < p->n_actions; a++)
                acted |= strcmp(p->actions[a].vm, v->name) == 0;
            for (size_t n = 0; n < p->n_notes; n++)
                noted |= strcmp(p->notes[n].vm, v->name) == 0 &&
                         p->notes[n].why != RES_WHY_ANTI_AFFINITY;
            assert_true(acted != noted);
            if (r->kind == K_FAILOVER && v->policy.priority == RES_PRIO_MANUAL)
                assert_non_null(note_of(p, v->name, RES_WHY_MANUAL));
        }

    for (size_t i = 0; i < s->c.n_vms; i++) {
        s->vms[i].node = where[i];
        s->vms[i].moving_to = mv[i];
        if (inflight[i]) {
            s->vms[i].moving_to = where[i];
            s->vms[i].node = inflight[i];
            s->inflight++;
        }
    }
    s->actions += p->n_actions;
    s->notes += p->n_notes;
}

static void do_plan(struct sim *s, const struct req *r)
{
    struct res_plan *p = plan(s, r);

    check_and_apply(s, r, p);
    res_plan_free(p);
}

/* Every node's load fits, always (not only the nodes a plan touched). */
static void check_state(const struct sim *s)
{
    for (size_t i = 0; i < s->c.n_vms; i++) {
        uint32_t ids[2] = {s->vms[i].node, s->vms[i].moving_to};

        for (int k = 0; k < 2; k++)
            if (ids[k]) {
                ssize_t j = nidx(s, ids[k]);
                assert_true(j >= 0);
                assert_int_not_equal(s->nodes[j].state, RES_NODE_DOWN);
            }
        if (s->vms[i].moving_to)
            assert_int_not_equal(s->vms[i].node, 0);
    }
    for (size_t j = 0; j < s->c.n_nodes; j++) {
        uint64_t used = 0;
        for (size_t i = 0; i < s->c.n_vms; i++)
            if (s->vms[i].node == s->nodes[j].id ||
                s->vms[i].moving_to == s->nodes[j].id)
                used += s->vms[i].memory_mib;
        assert_true(used <= s->nodes[j].memory_mib - s->nodes[j].reserved_mib);
    }
}

static ssize_t node_in(struct sim *s, enum res_node_state st)
{
    size_t cand[MAXN], n = 0;

    for (size_t j = 0; j < s->c.n_nodes; j++)
        if (s->nodes[j].state == st)
            cand[n++] = j;
    return n ? (ssize_t)cand[pick(s, (unsigned)n)] : -1;
}

static void step(struct sim *s)
{
    struct req r = {
        .kind = K_PENDING, .maxc = pick(s, 4), .now = pick(s, 1440)};
    ssize_t j;

    switch (pick(s, 9)) {
    case 0: /* node loss (any state but down) */
        j = (ssize_t)pick(s, (unsigned)s->c.n_nodes);
        if (s->nodes[j].state == RES_NODE_DOWN)
            break;
        r.kind = K_FAILOVER;
        r.node = s->nodes[j].id;
        do_plan(s, &r);
        /* what the plan didn't restart is now stopped */
        for (size_t i = 0; i < s->c.n_vms; i++) {
            if (s->vms[i].node == r.node)
                s->vms[i].node = s->vms[i].moving_to = 0;
            if (s->vms[i].moving_to == r.node)
                s->vms[i].moving_to = 0;
        }
        s->nodes[j].state = RES_NODE_DOWN;
        break;
    case 1: /* join */
    case 2: /* resume */
        j = node_in(s, pick(s, 2) ? RES_NODE_DOWN : RES_NODE_DRAINED);
        if (j < 0)
            j = node_in(s, RES_NODE_QUARANTINED);
        if (j < 0)
            break;
        s->nodes[j].state = RES_NODE_UP;
        r.kind = K_FAILBACK;
        r.node = s->nodes[j].id;
        do_plan(s, &r);
        r.kind = K_PENDING;
        do_plan(s, &r);
        break;
    case 3: /* drain */
        j = node_in(s, RES_NODE_UP);
        if (j < 0)
            break;
        s->nodes[j].state = RES_NODE_DRAINED;
        r.kind = K_DRAIN;
        r.node = s->nodes[j].id;
        do_plan(s, &r);
        break;
    case 4: /* quarantine, pause (keep VMs, take no new ones), unpause */
        switch (pick(s, 3)) {
        case 0:
            j = node_in(s, RES_NODE_UP);
            if (j >= 0)
                s->nodes[j].state = RES_NODE_QUARANTINED;
            break;
        case 1:
            j = node_in(s, RES_NODE_UP);
            if (j >= 0)
                s->nodes[j].state = RES_NODE_PAUSED;
            break;
        default:
            j = node_in(s, RES_NODE_PAUSED);
            if (j >= 0)
                s->nodes[j].state = RES_NODE_UP;
            break;
        }
        break;
    case 5: { /* VM failure */
        size_t i = pick(s, (unsigned)s->c.n_vms);

        if (s->vms[i].node == 0)
            break;
        r.kind = K_FAILURE;
        r.vm = s->vms[i].name;
        r.failover = pick(s, 2);
        do_plan(s, &r);
        break;
    }
    case 6: { /* administrator stops or wants a VM */
        size_t i = pick(s, (unsigned)s->c.n_vms);

        s->vms[i].want_running = !s->vms[i].want_running;
        if (!s->vms[i].want_running)
            s->vms[i].node = s->vms[i].moving_to = 0;
        break;
    }
    case 7: { /* a migration in flight completes or is cancelled */
        size_t i = pick(s, (unsigned)s->c.n_vms);

        if (s->vms[i].moving_to == 0)
            break;
        if (pick(s, 3))
            s->vms[i].node = s->vms[i].moving_to;
        s->vms[i].moving_to = 0;
        break;
    }
    default:
        do_plan(s, &r);
        break;
    }
    check_state(s);
    s->steps++;
}

static unsigned env_or(const char *name, unsigned dflt)
{
    const char *v = getenv(name);

    return v && *v ? (unsigned)strtoul(v, NULL, 10) : dflt;
}

static void test_random_sequences(void **state)
{
    unsigned seeds = env_or("SIM_SEEDS", 24), steps = env_or("SIM_STEPS", 500);
    struct sim total = {0};

    for (unsigned seed = 1; seed <= seeds; seed++) {
        struct sim *s = calloc(1, sizeof(*s));
        struct req r = {.kind = K_PENDING};

        assert_non_null(s);
        s->rng = 0x9e3779b97f4a7c15ull * seed;
        init_cluster(s);
        do_plan(s, &r);
        check_state(s);
        for (unsigned k = 0; k < steps; k++)
            step(s);
        total.steps += s->steps;
        total.actions += s->actions;
        total.notes += s->notes;
        total.aa_violations += s->aa_violations;
        total.no_memory += s->no_memory;
        total.inflight += s->inflight;
        free(s);
    }
    print_message("simulated %lu steps over %u seeds: %lu actions (%lu moves "
                  "left in flight), %lu notes (%lu soft anti-affinity, %lu "
                  "no-memory), all checks held\n",
                  total.steps, seeds, total.actions, total.inflight,
                  total.notes, total.aa_violations, total.no_memory);
    assert_true(total.steps >= 1000 || seeds * steps < 1000);
    assert_true(total.actions > 0);
}

/* A scripted sequence whose every plan is known. */
static void test_scripted(void **state)
{
    struct sim *s = calloc(1, sizeof(*s));
    struct req r = {.kind = K_PENDING, .maxc = 1};
    const char *names[] = {"db", "web1", "web2", "batch", "man"};
    enum res_priority prios[] = {RES_PRIO_HIGH, RES_PRIO_MEDIUM,
                                 RES_PRIO_MEDIUM, RES_PRIO_LOW,
                                 RES_PRIO_MANUAL};

    assert_non_null(s);
    s->c.nodes = s->nodes;
    s->c.vms = s->vms;
    s->c.n_nodes = 3;
    for (size_t j = 0; j < 3; j++) {
        s->nodes[j].id = (uint32_t)(j + 1);
        snprintf(s->nodes[j].name, RES_NAME_MAX, "node%zu", j + 1);
        s->nodes[j].memory_mib = 4096 + 512;
        s->nodes[j].reserved_mib = 512;
    }
    s->c.n_vms = 5;
    for (size_t i = 0; i < 5; i++) {
        snprintf(s->vms[i].name, RES_NAME_MAX, "%s", names[i]);
        s->vms[i].memory_mib = 2048;
        s->vms[i].want_running = true;
        s->vms[i].policy.priority = prios[i];
        s->vms[i].policy.failures_period = 3600;
    }
    strcpy(s->vms[1].policy.anti_affinity, "web");
    strcpy(s->vms[2].policy.anti_affinity, "web");
    strcpy(s->vms[0].policy.preferred[0], "node1");
    s->vms[0].policy.n_preferred = 1;
    s->vms[0].policy.failback = RES_FAILBACK_IMMEDIATE;

    /* start: db on node1 (preferred), web1/web2 apart, batch where room */
    do_plan(s, &r);
    assert_int_equal(s->vms[0].node, 1);
    assert_int_not_equal(s->vms[1].node, s->vms[2].node);
    assert_int_equal(s->vms[4].node, 0); /* manual */
    /* lose node1: db (high) comes back first */
    r.kind = K_FAILOVER;
    r.node = 1;
    {
        struct res_plan *p = plan(s, &r);
        assert_true(p->n_actions >= 1);
        assert_string_equal(p->actions[0].vm, "db");
        check_and_apply(s, &r, p);
        res_plan_free(p);
    }
    for (size_t i = 0; i < 5; i++)
        if (s->vms[i].node == 1)
            s->vms[i].node = 0;
    s->nodes[0].state = RES_NODE_DOWN;
    check_state(s);
    assert_int_not_equal(s->vms[0].node, 0);
    /* node1 returns: db fails back (immediate), live (high) */
    s->nodes[0].state = RES_NODE_UP;
    r.kind = K_FAILBACK;
    {
        struct res_plan *p = plan(s, &r);
        assert_int_equal(p->n_actions, 1);
        assert_string_equal(p->actions[0].vm, "db");
        assert_int_equal(p->actions[0].mode, RES_MOVE_LIVE);
        check_and_apply(s, &r, p);
        res_plan_free(p);
    }
    assert_int_equal(s->vms[0].node, 1);
    /* drain node1 with one move at a time */
    s->nodes[0].state = RES_NODE_DRAINED;
    r.kind = K_DRAIN;
    do_plan(s, &r);
    for (size_t i = 0; i < 5; i++)
        assert_int_not_equal(s->vms[i].node, 1);
    check_state(s);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scripted),
        cmocka_unit_test(test_random_sequences),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
