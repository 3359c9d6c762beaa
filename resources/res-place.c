/* Placement policy: pure functions from the cluster picture to a plan.
 *
 * Every plan is computed on a private working copy of "what runs where"
 * (ctx.where, ctx.used) that the plan's own actions update as they are
 * decided, so later decisions of one plan see the memory earlier ones
 * took. Loops run over nodes sorted by id and VMs sorted by (priority,
 * name), never in input order: that is what makes a plan independent of
 * how the caller happened to order its arrays.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resources/res-int.h"
#include "resources/res-place.h"

#define NO_RANK ((size_t)-1)

struct ctx {
    const struct res_cluster *c;
    size_t *node_order; /* node indices by id */
    size_t *vm_order;   /* VM indices by priority, then name */
    uint64_t *used;     /* MiB per node index, running + planned */
    uint32_t *where;    /* per VM index: node id, 0 = nowhere */
    uint32_t *moving;   /* per VM index: migration target holding memory */
    uint32_t down;      /* a node id to treat as down (failover) */
    struct res_plan *plan;
    unsigned moves; /* moves planned so far, for waves */
};

/* Why a node can't take a VM; ordered as explain reports them. */
enum verdict {
    V_OK = 0,
    V_EXCLUDED,
    V_STATE,
    V_NOT_OWNER,
    V_BRIDGE, /* lacks a bridge the VM's NICs need */
    V_MEMORY,
    V_CPU,   /* the node cannot run the VM's CPU */
    V_LOCAL, /* not the node of the VM's local volume */
};

/* ---- input and context ---------------------------------------------- */

static int cmp_vm(const void *a, const void *b, void *arg)
{
    const struct res_place_vm *vms = arg;
    const struct res_place_vm *x = &vms[*(const size_t *)a];
    const struct res_place_vm *y = &vms[*(const size_t *)b];

    if (x->policy.priority != y->policy.priority)
        return x->policy.priority < y->policy.priority ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_node(const void *a, const void *b, void *arg)
{
    const struct res_node *nodes = arg;
    uint32_t x = nodes[*(const size_t *)a].id;
    uint32_t y = nodes[*(const size_t *)b].id;

    return x < y ? -1 : x > y;
}

static ssize_t node_idx(const struct res_cluster *c, uint32_t id)
{
    for (size_t i = 0; i < c->n_nodes; i++)
        if (c->nodes[i].id == id)
            return (ssize_t)i;
    return -1;
}

static ssize_t vm_idx(const struct res_cluster *c, const char *name)
{
    for (size_t i = 0; i < c->n_vms; i++)
        if (strcmp(c->vms[i].name, name) == 0)
            return (ssize_t)i;
    return -1;
}

static const char *node_name(const struct res_cluster *c, uint32_t id)
{
    ssize_t j = node_idx(c, id);

    return j < 0 ? "?" : c->nodes[j].name;
}

static void ctx_fini(struct ctx *x)
{
    free(x->node_order);
    free(x->vm_order);
    free(x->used);
    free(x->where);
    free(x->moving);
    res_plan_free(x->plan);
}

static int check_input(const struct res_cluster *c)
{
    for (size_t i = 0; i < c->n_nodes; i++) {
        if (c->nodes[i].id == 0)
            return -RES_E_INPUT;
        for (size_t j = 0; j < i; j++)
            if (c->nodes[i].id == c->nodes[j].id ||
                strcmp(c->nodes[i].name, c->nodes[j].name) == 0)
                return -RES_E_INPUT;
    }
    for (size_t i = 0; i < c->n_vms; i++) {
        if (c->vms[i].name[0] == '\0')
            return -RES_E_INPUT;
        if (c->vms[i].node != 0 && node_idx(c, c->vms[i].node) < 0)
            return -RES_E_INPUT;
        if (c->vms[i].moving_to != 0 &&
            (c->vms[i].node == 0 || c->vms[i].moving_to == c->vms[i].node ||
             node_idx(c, c->vms[i].moving_to) < 0))
            return -RES_E_INPUT;
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->vms[i].name, c->vms[j].name) == 0)
                return -RES_E_INPUT;
    }
    return 0;
}

static int ctx_init(struct ctx *x, const struct res_cluster *c)
{
    size_t nn = c->n_nodes ? c->n_nodes : 1, nv = c->n_vms ? c->n_vms : 1;
    int rc;

    res_err_init();
    memset(x, 0, sizeof(*x));
    x->c = c;
    rc = check_input(c);
    if (rc < 0)
        return rc;
    x->node_order = calloc(nn, sizeof(*x->node_order));
    x->vm_order = calloc(nv, sizeof(*x->vm_order));
    x->used = calloc(nn, sizeof(*x->used));
    x->where = calloc(nv, sizeof(*x->where));
    x->moving = calloc(nv, sizeof(*x->moving));
    x->plan = calloc(1, sizeof(*x->plan));
    if (!x->node_order || !x->vm_order || !x->used || !x->where || !x->moving ||
        !x->plan) {
        ctx_fini(x);
        return -ENOMEM;
    }
    for (size_t i = 0; i < c->n_nodes; i++)
        x->node_order[i] = i;
    for (size_t i = 0; i < c->n_vms; i++) {
        x->vm_order[i] = i;
        x->where[i] = c->vms[i].node;
        if (c->vms[i].node != 0)
            x->used[node_idx(c, c->vms[i].node)] += c->vms[i].memory_mib;
        x->moving[i] = c->vms[i].moving_to;
        if (c->vms[i].moving_to != 0)
            x->used[node_idx(c, c->vms[i].moving_to)] += c->vms[i].memory_mib;
    }
    qsort_r(x->node_order, c->n_nodes, sizeof(size_t), cmp_node,
            (void *)c->nodes);
    qsort_r(x->vm_order, c->n_vms, sizeof(size_t), cmp_vm, (void *)c->vms);
    return 0;
}

static struct res_plan *ctx_take_plan(struct ctx *x)
{
    struct res_plan *p = x->plan;

    x->plan = NULL;
    return p;
}

/* ---- plan building --------------------------------------------------- */

void res_plan_free(struct res_plan *plan)
{
    if (plan == NULL)
        return;
    free(plan->actions);
    free(plan->notes);
    free(plan);
}

static int grow(void **arr, size_t n, size_t size)
{
    void *p;

    /* capacity is the next power of two: grow when n is one */
    if (n != 0 && (n & (n - 1)) != 0)
        return 0;
    p = realloc(*arr, (n ? n * 2 : 4) * size);
    if (p == NULL)
        return -ENOMEM;
    *arr = p;
    return 0;
}

static int add_action(struct ctx *x, enum res_action_kind kind, size_t vi,
                      uint32_t from, uint32_t to, enum res_move_mode mode,
                      unsigned wave)
{
    struct res_plan *p = x->plan;
    struct res_action *a;

    if (grow((void **)&p->actions, p->n_actions, sizeof(*a)) < 0)
        return -ENOMEM;
    a = &p->actions[p->n_actions++];
    memset(a, 0, sizeof(*a));
    a->kind = kind;
    strcpy(a->vm, x->c->vms[vi].name);
    a->from = from;
    a->to = to;
    a->mode = mode;
    a->wave = wave;
    return 0;
}

static int add_note(struct ctx *x, const struct res_note *n)
{
    struct res_plan *p = x->plan;

    if (grow((void **)&p->notes, p->n_notes, sizeof(*n)) < 0)
        return -ENOMEM;
    p->notes[p->n_notes++] = *n;
    return 0;
}

static void note_set(struct res_note *n, const char *vm, enum res_why why,
                     const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void note_set(struct res_note *n, const char *vm, enum res_why why,
                     const char *fmt, ...)
{
    va_list ap;

    memset(n, 0, sizeof(*n));
    snprintf(n->vm, sizeof(n->vm), "%s", vm);
    n->why = why;
    va_start(ap, fmt);
    vsnprintf(n->text, sizeof(n->text), fmt, ap);
    va_end(ap);
}

/* ---- node evaluation ------------------------------------------------- */

static enum res_node_state state_of(const struct ctx *x, size_t j)
{
    const struct res_node *n = &x->c->nodes[j];

    return n->id == x->down ? RES_NODE_DOWN : n->state;
}

static bool is_owner(const struct res_place_vm *v, const char *node)
{
    if (v->policy.n_possible == 0)
        return true;
    for (size_t i = 0; i < v->policy.n_possible; i++)
        if (strcmp(v->policy.possible[i], node) == 0)
            return true;
    return false;
}

static size_t pref_rank(const struct res_place_vm *v, const char *node)
{
    for (size_t i = 0; i < v->policy.n_preferred; i++)
        if (strcmp(v->policy.preferred[i], node) == 0)
            return i;
    return NO_RANK;
}

/* Memory node j can give VM vi: what is left, plus what vi itself holds
 * there already. */
static uint64_t avail_for(const struct ctx *x, size_t vi, size_t j)
{
    const struct res_node *n = &x->c->nodes[j];
    uint64_t cap =
        n->memory_mib > n->reserved_mib ? n->memory_mib - n->reserved_mib : 0;
    uint64_t used = x->used[j];

    if (x->where[vi] == n->id || x->moving[vi] == n->id)
        used -= x->c->vms[vi].memory_mib;
    return cap > used ? cap - used : 0;
}

/* Another VM of vi's anti-affinity class on node `id`: its index, or -1. */
static ssize_t conflict_on(const struct ctx *x, size_t vi, uint32_t id)
{
    const char *cls = x->c->vms[vi].policy.anti_affinity;

    if (cls[0] == '\0')
        return -1;
    for (size_t k = 0; k < x->c->n_vms; k++) {
        size_t o = x->vm_order[k];
        if (o != vi && (x->where[o] == id || x->moving[o] == id) &&
            strcmp(x->c->vms[o].policy.anti_affinity, cls) == 0)
            return (ssize_t)o;
    }
    return -1;
}

static enum verdict judge(const struct ctx *x, size_t vi, size_t j,
                          uint32_t exclude)
{
    const struct res_node *n = &x->c->nodes[j];
    const struct res_place_vm *v = &x->c->vms[vi];

    if (n->id == exclude)
        return V_EXCLUDED;
    if (v->local_node[0] && strcmp(v->local_node, n->name) != 0)
        return V_LOCAL;
    if (state_of(x, j) != RES_NODE_UP)
        return V_STATE;
    if (!is_owner(v, n->name))
        return V_NOT_OWNER;
    if (res_node_missing_bridge(n, v))
        return V_BRIDGE;
    if (!res_cpu_fits(&v->cpu, n->cpu, NULL, 0))
        return V_CPU;
    if (avail_for(x, vi, j) < v->memory_mib)
        return V_MEMORY;
    return V_OK;
}

struct choice {
    ssize_t node;      /* index, -1 = none */
    ssize_t conflict;  /* VM index sharing the class there, -1 = none */
    enum res_why why;  /* when node < 0: NO_OWNER_UP, NO_BRIDGE, NO_CPU or
                        * NO_MEMORY */
    ssize_t roomiest;  /* up possible owner with the most memory, or -1 */
    ssize_t unbridged; /* up possible owner lacking a bridge, or -1 */
};

/* True when candidate j beats the best so far (b). */
static bool better(const struct ctx *x, size_t vi, size_t j, bool cj,
                   const struct choice *b)
{
    const struct res_place_vm *v = &x->c->vms[vi];
    size_t bj = (size_t)b->node;
    bool cb = b->conflict >= 0;
    size_t rj = pref_rank(v, x->c->nodes[j].name);
    size_t rb = pref_rank(v, x->c->nodes[bj].name);
    uint64_t fj = avail_for(x, vi, j), fb = avail_for(x, vi, bj);

    if (cj != cb)
        return !cj;
    if (rj != rb)
        return rj < rb;
    if (fj != fb)
        return fj > fb;
    return x->c->nodes[j].id < x->c->nodes[bj].id;
}

static struct choice choose(const struct ctx *x, size_t vi, uint32_t exclude)
{
    struct choice b = {
        .node = -1, .conflict = -1, .roomiest = -1, .unbridged = -1};
    bool owner_up = false, cpu_up = false;

    for (size_t k = 0; k < x->c->n_nodes; k++) {
        size_t j = x->node_order[k];
        enum verdict v = judge(x, vi, j, exclude);
        ssize_t conf;

        if (v == V_MEMORY || v == V_OK) {
            owner_up = true;
            if (b.roomiest < 0 ||
                avail_for(x, vi, j) > avail_for(x, vi, (size_t)b.roomiest))
                b.roomiest = (ssize_t)j;
        }
        if (v == V_BRIDGE && b.unbridged < 0)
            b.unbridged = (ssize_t)j;
        cpu_up |= v == V_CPU;
        if (v != V_OK)
            continue;
        conf = conflict_on(x, vi, x->c->nodes[j].id);
        if (b.node < 0 || better(x, vi, j, conf >= 0, &b)) {
            b.node = (ssize_t)j;
            b.conflict = conf;
        }
    }
    if (b.node < 0)
        b.why = owner_up                           ? RES_WHY_NO_MEMORY
                : b.unbridged >= 0                 ? RES_WHY_NO_BRIDGE
                : cpu_up                           ? RES_WHY_NO_CPU
                : x->c->vms[vi].local_node[0] != 0 ? RES_WHY_LOCAL
                                                   : RES_WHY_NO_OWNER_UP;
    return b;
}

/* No up possible owner runs vi's CPU: the note names each with why. */
static void note_cpu(const struct ctx *x, size_t vi, struct res_note *n)
{
    const struct res_place_vm *v = &x->c->vms[vi];
    char why[160];
    size_t off;

    note_set(n, v->name, RES_WHY_NO_CPU,
             "VM '%s': no up possible owner runs its CPU:", v->name);
    for (size_t k = 0; k < x->c->n_nodes; k++) {
        size_t j = x->node_order[k];
        const struct res_node *nd = &x->c->nodes[j];

        if (state_of(x, j) != RES_NODE_UP || !is_owner(v, nd->name) ||
            res_cpu_fits(&v->cpu, nd->cpu, why, sizeof(why)))
            continue;
        off = strlen(n->text);
        snprintf(n->text + off, sizeof(n->text) - off, " '%s' %s;", nd->name,
                 why);
    }
    off = strlen(n->text);
    if (off > 0 && n->text[off - 1] == ';')
        n->text[off - 1] = '\0';
}

/* The state of local VM vi's node, as a word for a note ("down" when
 * the cluster does not know it). */
static const char *local_node_state(const struct ctx *x, size_t vi)
{
    const char *node = x->c->vms[vi].local_node;

    for (size_t j = 0; j < x->c->n_nodes; j++)
        if (strcmp(x->c->nodes[j].name, node) == 0)
            return res_node_state_str(state_of(x, j));
    return "down";
}

/* Why local VM vi was not placed: its node is down (then the words of a
 * failover: "not failed over"), or it is up but was excluded (a drain,
 * a failure on that node) or is not up. */
static void note_local(const struct ctx *x, size_t vi, struct res_note *n)
{
    const struct res_place_vm *v = &x->c->vms[vi];
    const char *st = local_node_state(x, vi);

    if (strcmp(st, "down") == 0)
        note_set(n, v->name, RES_WHY_LOCAL,
                 "VM '%s' is on node-local volume '%s' of node '%s': not "
                 "failed over (node '%s' is down; the VM starts again when "
                 "it is back)",
                 v->name, v->local_volume, v->local_node, v->local_node);
    else
        note_set(n, v->name, RES_WHY_LOCAL,
                 "VM '%s' is on node-local volume '%s' of node '%s' (%s): "
                 "it runs on no other node",
                 v->name, v->local_volume, v->local_node, st);
}

static void note_for_choice(const struct ctx *x, size_t vi,
                            const struct choice *ch, struct res_note *n)
{
    const struct res_place_vm *v = &x->c->vms[vi];

    if (ch->node >= 0 && ch->conflict >= 0) {
        note_set(n, v->name, RES_WHY_ANTI_AFFINITY,
                 "VM '%s' placed on '%s' with '%s' (anti-affinity class "
                 "'%s'): no other eligible node had room",
                 v->name, x->c->nodes[ch->node].name,
                 x->c->vms[ch->conflict].name, v->policy.anti_affinity);
    } else if (ch->node >= 0) {
        note_set(n, v->name, RES_WHY_NONE, "VM '%s' placed on '%s'", v->name,
                 x->c->nodes[ch->node].name);
    } else if (ch->why == RES_WHY_NO_MEMORY) {
        size_t r = (size_t)ch->roomiest;

        note_set(n, v->name, RES_WHY_NO_MEMORY,
                 "VM '%s' needs %llu MiB: no eligible node has it (most "
                 "free: '%s' with %llu MiB)",
                 v->name, (unsigned long long)v->memory_mib,
                 x->c->nodes[r].name, (unsigned long long)avail_for(x, vi, r));
    } else if (ch->why == RES_WHY_NO_BRIDGE) {
        const struct res_node *u = &x->c->nodes[ch->unbridged];

        note_set(n, v->name, RES_WHY_NO_BRIDGE,
                 "VM '%s': no possible owner that is up has the bridges its "
                 "NICs need ('%s' lacks bridge '%s')",
                 v->name, u->name, res_node_missing_bridge(u, v));
    } else if (ch->why == RES_WHY_NO_CPU) {
        note_cpu(x, vi, n);
    } else if (ch->why == RES_WHY_LOCAL) {
        note_local(x, vi, n);
    } else {
        note_set(n, v->name, RES_WHY_NO_OWNER_UP,
                 "VM '%s': none of its possible owners is up%s", v->name,
                 v->policy.n_possible ? "" : " (no node is up)");
    }
}

static void place(struct ctx *x, size_t vi, size_t j)
{
    uint32_t from = x->where[vi];
    uint64_t mem = x->c->vms[vi].memory_mib;

    if (from != 0)
        x->used[node_idx(x->c, from)] -= mem;
    x->used[j] += mem;
    x->where[vi] = x->c->nodes[j].id;
}

/* Cancels a migration in flight: its target's memory is free again. */
static void unmove(struct ctx *x, size_t vi)
{
    if (x->moving[vi] != 0)
        x->used[node_idx(x->c, x->moving[vi])] -= x->c->vms[vi].memory_mib;
    x->moving[vi] = 0;
}

static void unplace(struct ctx *x, size_t vi)
{
    unmove(x, vi);
    if (x->where[vi] != 0)
        x->used[node_idx(x->c, x->where[vi])] -= x->c->vms[vi].memory_mib;
    x->where[vi] = 0;
}

/* Chooses a node for vi (not `exclude`), records it and the action
 * (START when vi runs nowhere, else MOVE), or a note why not. */
static int place_or_note(struct ctx *x, size_t vi, uint32_t exclude,
                         unsigned max_concurrent)
{
    struct choice ch = choose(x, vi, exclude);
    struct res_note n;
    uint32_t from = x->where[vi];
    enum res_move_mode mode;
    int rc = 0;

    note_for_choice(x, vi, &ch, &n);
    if (ch.node < 0 || ch.conflict >= 0)
        rc = add_note(x, &n);
    if (rc < 0 || ch.node < 0)
        return rc;
    place(x, vi, (size_t)ch.node);
    if (from == 0)
        return add_action(x, RES_ACT_START, vi, 0, x->where[vi], RES_MOVE_NONE,
                          0);
    /* High and medium are worth a live migration's pre-copy; low and
     * manual take the cheaper quick migration, as Hyper-V drains. */
    mode = x->c->vms[vi].policy.priority <= RES_PRIO_MEDIUM ? RES_MOVE_LIVE
                                                            : RES_MOVE_QUICK;
    rc = add_action(x, RES_ACT_MOVE, vi, from, x->where[vi], mode,
                    x->moves / (max_concurrent ? max_concurrent : 1));
    x->moves++;
    return rc;
}

static int note_manual(struct ctx *x, size_t vi)
{
    struct res_note n;

    note_set(&n, x->c->vms[vi].name, RES_WHY_MANUAL,
             "VM '%s' has priority manual: the cluster does not start it "
             "by itself (use 'clusterctl vm start')",
             x->c->vms[vi].name);
    return add_note(x, &n);
}

/* ---- public API ------------------------------------------------------ */

void res_place_vm_from_def(const struct res_vm *def, uint32_t node,
                           bool want_running, struct res_place_vm *ret_pv)
{
    memset(ret_pv, 0, sizeof(*ret_pv));
    memcpy(ret_pv->name, def->name, sizeof(ret_pv->name));
    ret_pv->memory_mib = def->memory_mib;
    ret_pv->policy = def->policy;
    ret_pv->node = node;
    ret_pv->want_running = want_running;
    for (size_t i = 0; i < def->n_nics; i++) {
        bool seen = false;
        for (size_t k = 0; k < ret_pv->n_bridges && !seen; k++)
            seen = strcmp(ret_pv->bridges[k], def->nics[i].bridge) == 0;
        if (!seen && ret_pv->n_bridges < RES_VM_MAX_NICS)
            memcpy(ret_pv->bridges[ret_pv->n_bridges++], def->nics[i].bridge,
                   RES_BRIDGE_MAX);
    }
    /* A named model must run on the target; ANY (model="host") keeps its
     * old meaning (QEMU's default for the accelerator, no requirement).
     * CLUSTER and HOST need what the VM runs with now, which only the
     * runtime state knows: the caller fills model / host_of. */
    ret_pv->cpu.mode = def->cpu_mode;
    if (def->cpu_mode == RES_CPU_MODEL)
        snprintf(ret_pv->cpu.model, sizeof(ret_pv->cpu.model), "%s",
                 def->cpu_model);
}

int res_place_best(const struct res_cluster *c, const char *vm, unsigned flags,
                   uint32_t *ret_node, struct res_note *ret_note)
{
    struct ctx x;
    struct choice ch;
    struct res_note n;
    ssize_t vi;
    int rc;

    rc = ctx_init(&x, c);
    if (rc < 0)
        return rc;
    vi = vm_idx(c, vm);
    if (vi < 0) {
        rc = -RES_E_UNKNOWN_VM;
        note_set(&n, vm, RES_WHY_NONE, "VM '%s' does not exist", vm);
        goto out;
    }
    ch = choose(&x, (size_t)vi,
                (flags & RES_PLACE_OTHER_NODE) ? x.where[vi] : 0);
    note_for_choice(&x, (size_t)vi, &ch, &n);
    if (ch.node < 0) {
        rc = ch.why == RES_WHY_NO_MEMORY   ? -RES_E_NO_CAPACITY
             : ch.why == RES_WHY_NO_BRIDGE ? -RES_E_NO_BRIDGE
             : ch.why == RES_WHY_LOCAL     ? -RES_E_NOT_OWNER
             : ch.why == RES_WHY_NO_CPU    ? -RES_E_CPU
                                           : -RES_E_NO_OWNER;
        goto out;
    }
    *ret_node = c->nodes[ch.node].id;
out:
    if (ret_note)
        *ret_note = n;
    ctx_fini(&x);
    return rc;
}

int res_place_check(const struct res_cluster *c, const char *vm, uint32_t node,
                    char *err, size_t errlen)
{
    struct ctx x;
    ssize_t vi, j;
    const struct res_place_vm *v;
    char why[200];
    int rc;

    rc = ctx_init(&x, c);
    if (rc < 0)
        return rc;
    vi = vm_idx(c, vm);
    j = node_idx(c, node);
    if (vi < 0) {
        rc = -RES_E_UNKNOWN_VM;
        snprintf(err, errlen, "VM '%s' does not exist", vm);
        goto out;
    }
    if (j < 0) {
        rc = -RES_E_UNKNOWN_NODE;
        snprintf(err, errlen, "node %u does not exist", node);
        goto out;
    }
    v = &c->vms[vi];
    switch (judge(&x, (size_t)vi, (size_t)j, 0)) {
    case V_OK:
    case V_EXCLUDED:
        break;
    case V_STATE:
        rc = -RES_E_NODE_STATE;
        snprintf(err, errlen, "node '%s' is %s: it takes no VMs",
                 c->nodes[j].name, res_node_state_str(c->nodes[j].state));
        break;
    case V_NOT_OWNER:
        rc = -RES_E_NOT_OWNER;
        snprintf(err, errlen,
                 "node '%s' is not among the possible owners of VM '%s'",
                 c->nodes[j].name, v->name);
        break;
    case V_LOCAL:
        rc = -RES_E_NOT_OWNER;
        snprintf(err, errlen,
                 "VM '%s' is on node-local volume '%s' of node '%s': it "
                 "cannot run on node '%s' (its disks are on '%s' only)",
                 v->name, v->local_volume, v->local_node, c->nodes[j].name,
                 v->local_node);
        break;
    case V_BRIDGE:
        rc = -RES_E_NO_BRIDGE;
        snprintf(err, errlen,
                 "node '%s' has no bridge '%s', which a NIC of VM '%s' is "
                 "on (create it there, or choose another node)",
                 c->nodes[j].name, res_node_missing_bridge(&c->nodes[j], v),
                 v->name);
        break;
    case V_CPU:
        rc = -RES_E_CPU;
        res_cpu_fits(&v->cpu, c->nodes[j].cpu, why, sizeof(why));
        snprintf(err, errlen, "node '%s' cannot run the CPU of VM '%s': %s",
                 c->nodes[j].name, v->name, why);
        break;
    case V_MEMORY:
        rc = -RES_E_NO_CAPACITY;
        snprintf(err, errlen,
                 "VM '%s' needs %llu MiB, node '%s' has %llu MiB free", v->name,
                 (unsigned long long)v->memory_mib, c->nodes[j].name,
                 (unsigned long long)avail_for(&x, (size_t)vi, (size_t)j));
        break;
    }
out:
    ctx_fini(&x);
    return rc;
}

int res_plan_failover(const struct res_cluster *c, uint32_t lost,
                      struct res_plan **ret_plan)
{
    struct ctx x;
    int rc;

    rc = ctx_init(&x, c);
    if (rc < 0)
        return rc;
    if (node_idx(c, lost) < 0) {
        rc = -RES_E_UNKNOWN_NODE;
        goto out;
    }
    x.down = lost;
    /* The lost node's VMs are dead: free their memory first, so the
     * order of restarts below is purely by priority. Migrations to or from
     * it died with it. */
    for (size_t i = 0; i < c->n_vms; i++) {
        if (x.where[i] == lost)
            unplace(&x, i);
        if (x.moving[i] == lost)
            unmove(&x, i);
    }
    for (size_t k = 0; k < c->n_vms && rc == 0; k++) {
        size_t vi = x.vm_order[k];
        const struct res_place_vm *v = &c->vms[vi];

        if (v->node != lost || !v->want_running)
            continue;
        if (v->local_node[0]) {
            /* Its disks died with the node: it waits for it. */
            struct res_note n;
            note_local(&x, vi, &n);
            rc = add_note(&x, &n);
        } else if (v->policy.priority == RES_PRIO_MANUAL)
            rc = note_manual(&x, vi);
        else
            rc = place_or_note(&x, vi, lost, 0);
    }
    if (rc == 0)
        *ret_plan = ctx_take_plan(&x);
out:
    ctx_fini(&x);
    return rc;
}

int res_plan_drain(const struct res_cluster *c, uint32_t node,
                   unsigned max_concurrent, struct res_plan **ret_plan)
{
    struct ctx x;
    int rc;

    rc = ctx_init(&x, c);
    if (rc < 0)
        return rc;
    if (node_idx(c, node) < 0) {
        rc = -RES_E_UNKNOWN_NODE;
        goto out;
    }
    for (size_t k = 0; k < c->n_vms && rc == 0; k++) {
        size_t vi = x.vm_order[k];

        const struct res_place_vm *v = &c->vms[vi];

        if (v->node != node || x.moving[vi] != 0)
            continue; /* one already on its way out needs nothing more */
        if (v->local_node[0]) {
            struct res_note n;
            note_set(&n, v->name, RES_WHY_LOCAL,
                     "VM '%s' is on node-local volume '%s' of node '%s': "
                     "the drain leaves it running there (stop it, or move "
                     "its storage to a cluster volume first)",
                     v->name, v->local_volume, v->local_node);
            rc = add_note(&x, &n);
        } else
            rc = place_or_note(&x, vi, node, max_concurrent);
    }
    if (rc == 0)
        *ret_plan = ctx_take_plan(&x);
out:
    ctx_fini(&x);
    return rc;
}

static bool in_window(const struct res_policy *p, unsigned now)
{
    if (p->window_start < p->window_end)
        return now >= p->window_start && now < p->window_end;
    return now >= p->window_start || now < p->window_end; /* wraps */
}

static int failback_one(struct ctx *x, size_t vi, size_t j, unsigned now,
                        unsigned max_concurrent)
{
    const struct res_place_vm *v = &x->c->vms[vi];
    const struct res_node *n = &x->c->nodes[j];
    uint32_t from = x->where[vi];
    size_t r_new, r_cur;
    struct res_note note;
    enum res_move_mode mode;
    enum verdict vd;
    int rc;

    if (from == 0 || from == n->id || x->moving[vi] != 0 ||
        v->policy.failback == RES_FAILBACK_NEVER || v->local_node[0])
        return 0;
    /* A VM still running on a node that is down for the cluster (its
     * clusterd is gone, not the node) has nobody to send it. */
    if (node_idx(x->c, from) >= 0 &&
        state_of(x, (size_t)node_idx(x->c, from)) == RES_NODE_DOWN)
        return 0;
    r_new = pref_rank(v, n->name);
    r_cur = pref_rank(v, node_name(x->c, from));
    if (r_new == NO_RANK || r_new >= r_cur)
        return 0;
    if (v->policy.failback == RES_FAILBACK_WINDOW &&
        !in_window(&v->policy, now)) {
        note_set(&note, v->name, RES_WHY_FAILBACK_LATER,
                 "VM '%s' fails back to '%s' between %02u:%02u and "
                 "%02u:%02u",
                 v->name, n->name, v->policy.window_start / 60,
                 v->policy.window_start % 60, v->policy.window_end / 60,
                 v->policy.window_end % 60);
        return add_note(x, &note);
    }
    vd = judge(x, vi, j, 0);
    if (vd != V_OK) {
        note_set(&note, v->name, RES_WHY_FAILBACK_BLOCKED,
                 "VM '%s' stays on '%s': preferred node '%s' %s", v->name,
                 node_name(x->c, from), n->name,
                 vd == V_MEMORY      ? "lacks the memory"
                 : vd == V_NOT_OWNER ? "is not a possible owner"
                 : vd == V_BRIDGE    ? "lacks a bridge of its NICs"
                 : vd == V_CPU       ? "cannot run its CPU"
                 : vd == V_LOCAL     ? "does not have its local volume"
                                     : "is not up");
        return add_note(x, &note);
    }
    /* Failback is a convenience: it must not create an anti-affinity
     * violation that does not exist where the VM runs now. */
    if (conflict_on(x, vi, n->id) >= 0 && conflict_on(x, vi, from) < 0) {
        note_set(&note, v->name, RES_WHY_FAILBACK_BLOCKED,
                 "VM '%s' stays on '%s': '%s' runs '%s' of its "
                 "anti-affinity class '%s'",
                 v->name, node_name(x->c, from), n->name,
                 x->c->vms[conflict_on(x, vi, n->id)].name,
                 v->policy.anti_affinity);
        return add_note(x, &note);
    }
    place(x, vi, j);
    mode =
        v->policy.priority <= RES_PRIO_MEDIUM ? RES_MOVE_LIVE : RES_MOVE_QUICK;
    rc = add_action(x, RES_ACT_MOVE, vi, from, n->id, mode,
                    x->moves / (max_concurrent ? max_concurrent : 1));
    x->moves++;
    return rc;
}

int res_plan_failback(const struct res_cluster *c, uint32_t node,
                      unsigned now_minute, unsigned max_concurrent,
                      struct res_plan **ret_plan)
{
    struct ctx x;
    ssize_t j;
    int rc;

    rc = ctx_init(&x, c);
    if (rc < 0)
        return rc;
    j = node_idx(c, node);
    if (j < 0) {
        rc = -RES_E_UNKNOWN_NODE;
        goto out;
    }
    if (c->nodes[j].state == RES_NODE_UP)
        for (size_t k = 0; k < c->n_vms && rc == 0; k++)
            rc = failback_one(&x, x.vm_order[k], (size_t)j, now_minute % 1440,
                              max_concurrent);
    if (rc == 0)
        *ret_plan = ctx_take_plan(&x);
out:
    ctx_fini(&x);
    return rc;
}

int res_plan_pending(const struct res_cluster *c, struct res_plan **ret_plan)
{
    struct ctx x;
    int rc;

    rc = ctx_init(&x, c);
    if (rc < 0)
        return rc;
    for (size_t k = 0; k < c->n_vms && rc == 0; k++) {
        size_t vi = x.vm_order[k];
        const struct res_place_vm *v = &c->vms[vi];

        if (v->node != 0 || !v->want_running)
            continue;
        if (v->policy.priority == RES_PRIO_MANUAL)
            rc = note_manual(&x, vi);
        else
            rc = place_or_note(&x, vi, 0, 0);
    }
    if (rc == 0)
        *ret_plan = ctx_take_plan(&x);
    ctx_fini(&x);
    return rc;
}

int res_plan_vm_failure(const struct res_cluster *c, const char *vm,
                        bool failover, struct res_plan **ret_plan)
{
    struct ctx x;
    ssize_t vi, j = -1;
    uint32_t from;
    int rc;

    rc = ctx_init(&x, c);
    if (rc < 0)
        return rc;
    vi = vm_idx(c, vm);
    if (vi < 0) {
        rc = -RES_E_UNKNOWN_VM;
        goto out;
    }
    from = x.where[vi];
    if (from != 0)
        j = node_idx(c, from);
    unmove(&x, (size_t)vi); /* a migration dies with its VM */
    if (!c->vms[vi].want_running)
        ; /* it was meant to stop anyway */
    else if (c->vms[vi].policy.priority == RES_PRIO_MANUAL)
        rc = note_manual(&x, (size_t)vi);
    else if (!failover && j >= 0 && c->nodes[j].state == RES_NODE_UP)
        /* restart in place: its memory is still counted there. A node
         * that is not up takes no VM, not even this one back. */
        rc = add_action(&x, RES_ACT_START, (size_t)vi, 0, from, RES_MOVE_NONE,
                        0);
    else {
        unplace(&x, (size_t)vi);
        rc = place_or_note(&x, (size_t)vi, from, 0);
    }
    if (rc == 0)
        *ret_plan = ctx_take_plan(&x);
out:
    ctx_fini(&x);
    return rc;
}

/* ---- explain --------------------------------------------------------- */

struct sbuf {
    char *s;
    size_t len, cap;
    bool oom;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->oom)
        return;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        return;
    }
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = (b->len + (size_t)n + 1) * 2;
        char *p = realloc(b->s, cap);
        if (p == NULL) {
            b->oom = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static void sb_list(struct sbuf *b, const char (*list)[RES_NAME_MAX], size_t n)
{
    for (size_t i = 0; i < n; i++)
        sb_printf(b, "%s%s", i ? ", " : "", list[i]);
}

static void explain_policy(struct sbuf *b, const struct res_place_vm *v)
{
    const struct res_policy *p = &v->policy;

    sb_printf(b, "policy: preferred owners ");
    if (p->n_preferred)
        sb_list(b, p->preferred, p->n_preferred);
    else
        sb_printf(b, "none");
    sb_printf(b, "; possible owners ");
    if (p->n_possible)
        sb_list(b, p->possible, p->n_possible);
    else
        sb_printf(b, "any node");
    if (p->anti_affinity[0])
        sb_printf(b, "; anti-affinity class '%s'", p->anti_affinity);
    sb_printf(b, "; failback %s", res_failback_str(p->failback));
    if (p->failback == RES_FAILBACK_WINDOW)
        sb_printf(b, " %02u:%02u-%02u:%02u", p->window_start / 60,
                  p->window_start % 60, p->window_end / 60, p->window_end % 60);
    sb_printf(b, "\n");
}

static void explain_cpu(struct sbuf *b, const struct res_place_vm *v)
{
    switch (v->cpu.mode) {
    case RES_CPU_ANY:
        return;
    case RES_CPU_CLUSTER:
        if (v->cpu.model[0])
            sb_printf(b,
                      "cpu: cluster baseline '%s' (fixed for its "
                      "lifetime)\n",
                      v->cpu.model);
        else
            sb_printf(b, "cpu: cluster baseline (any node)\n");
        return;
    case RES_CPU_MODEL:
        sb_printf(b, "cpu: model '%s'\n", v->cpu.model);
        return;
    case RES_CPU_HOST:
        sb_printf(b, "cpu: host (only nodes with the same host CPU)\n");
        return;
    }
}

static void explain_node(struct sbuf *b, const struct ctx *x, size_t vi,
                         size_t j)
{
    const struct res_place_vm *v = &x->c->vms[vi];
    const struct res_node *n = &x->c->nodes[j];
    size_t rank = pref_rank(v, n->name);
    uint64_t avail = avail_for(x, vi, j);
    ssize_t conf;
    char why[200];

    sb_printf(b, "  %s (id %u): ", n->name, n->id);
    if (v->node == n->id) {
        /* where it runs, what matters is the room left besides it */
        sb_printf(b, "runs it now, %llu MiB free besides",
                  (unsigned long long)(avail - v->memory_mib));
        if (rank != NO_RANK)
            sb_printf(b, "; preferred #%zu", rank + 1);
        sb_printf(b, "\n");
        return;
    }
    switch (judge(x, vi, j, 0)) {
    case V_STATE:
        sb_printf(b, "%s, takes no VMs", res_node_state_str(n->state));
        break;
    case V_NOT_OWNER:
        sb_printf(b, "not a possible owner");
        break;
    case V_LOCAL:
        sb_printf(b, "does not have its node-local volume '%s'",
                  v->local_volume);
        break;
    case V_BRIDGE:
        sb_printf(b, "no bridge '%s' (a NIC of the VM is on it)",
                  res_node_missing_bridge(n, v));
        break;
    case V_CPU:
        res_cpu_fits(&v->cpu, n->cpu, why, sizeof(why));
        sb_printf(b, "excluded for CPU: %s", why);
        break;
    case V_MEMORY:
        sb_printf(b, "too small: needs %llu MiB, %llu MiB free",
                  (unsigned long long)v->memory_mib, (unsigned long long)avail);
        break;
    case V_OK:
    case V_EXCLUDED:
        conf = conflict_on(x, vi, n->id);
        sb_printf(b, "eligible, %llu MiB free", (unsigned long long)avail);
        if (conf >= 0)
            sb_printf(b, ", but runs '%s' of anti-affinity class '%s'",
                      x->c->vms[conf].name, v->policy.anti_affinity);
        break;
    }
    if (rank != NO_RANK)
        sb_printf(b, "; preferred #%zu", rank + 1);
    sb_printf(b, "\n");
}

int res_explain(const struct res_cluster *c, const char *vm, char **ret_text)
{
    struct sbuf b = {0};
    struct ctx x;
    struct choice ch;
    struct res_note note;
    const struct res_place_vm *v;
    ssize_t vi;
    int rc;

    rc = ctx_init(&x, c);
    if (rc < 0)
        return rc;
    vi = vm_idx(c, vm);
    if (vi < 0) {
        rc = -RES_E_UNKNOWN_VM;
        goto out;
    }
    v = &c->vms[vi];
    sb_printf(&b, "VM '%s': priority %s, %llu MiB, ", v->name,
              res_priority_str(v->policy.priority),
              (unsigned long long)v->memory_mib);
    if (v->node)
        sb_printf(&b, "runs on '%s' (id %u)", node_name(c, v->node), v->node);
    else
        sb_printf(&b, "not running");
    if (v->moving_to)
        sb_printf(&b, ", migrating to '%s' (id %u)", node_name(c, v->moving_to),
                  v->moving_to);
    sb_printf(&b, ", wanted %s\n", v->want_running ? "running" : "stopped");
    explain_policy(&b, v);
    explain_cpu(&b, v);
    if (v->local_node[0])
        sb_printf(&b,
                  "storage: node-local volume '%s' of node '%s': runs there "
                  "only, not failed over\n",
                  v->local_volume, v->local_node);
    sb_printf(&b, "nodes:\n");
    for (size_t k = 0; k < c->n_nodes; k++)
        explain_node(&b, &x, (size_t)vi, x.node_order[k]);
    ch = choose(&x, (size_t)vi, v->node);
    note_for_choice(&x, (size_t)vi, &ch, &note);
    if (ch.node >= 0)
        sb_printf(&b, "%s: '%s'%s\n",
                  v->node ? "best node to move it to" : "best node to start it",
                  c->nodes[ch.node].name,
                  ch.conflict >= 0 ? " (anti-affinity violated: no "
                                     "other node has room)"
                                   : "");
    else
        sb_printf(&b, "%s: %s\n",
                  v->node ? "it cannot move" : "it cannot start", note.text);
    if (v->policy.priority == RES_PRIO_MANUAL)
        sb_printf(&b, "priority manual: the cluster never starts it by "
                      "itself\n");
    if (b.oom) {
        rc = -ENOMEM;
        goto out;
    }
    *ret_text = b.s;
    b.s = NULL;
out:
    free(b.s);
    ctx_fini(&x);
    return rc;
}

const char *res_node_state_str(enum res_node_state state)
{
    switch (state) {
    case RES_NODE_UP:
        return "up";
    case RES_NODE_DRAINED:
        return "drained";
    case RES_NODE_PAUSED:
        return "paused";
    case RES_NODE_QUARANTINED:
        return "quarantined";
    case RES_NODE_DOWN:
        return "down";
    }
    return "?";
}

const char *res_why_str(enum res_why why)
{
    switch (why) {
    case RES_WHY_NONE:
        return "none";
    case RES_WHY_NO_MEMORY:
        return "no-memory";
    case RES_WHY_NO_OWNER_UP:
        return "no-owner-up";
    case RES_WHY_MANUAL:
        return "manual";
    case RES_WHY_ANTI_AFFINITY:
        return "anti-affinity";
    case RES_WHY_FAILBACK_LATER:
        return "failback-later";
    case RES_WHY_FAILBACK_BLOCKED:
        return "failback-blocked";
    case RES_WHY_NO_BRIDGE:
        return "no-bridge";
    case RES_WHY_NO_CPU:
        return "no-cpu";
    case RES_WHY_LOCAL:
        return "local";
    }
    return "?";
}

const char *res_action_kind_str(enum res_action_kind kind)
{
    switch (kind) {
    case RES_ACT_START:
        return "start";
    case RES_ACT_MOVE:
        return "move";
    case RES_ACT_STOP:
        return "stop";
    }
    return "?";
}

const char *res_move_mode_str(enum res_move_mode mode)
{
    switch (mode) {
    case RES_MOVE_NONE:
        return "none";
    case RES_MOVE_LIVE:
        return "live";
    case RES_MOVE_QUICK:
        return "quick";
    }
    return "?";
}
