/* Placement: where VMs should run. Pure functions, no I/O.
 *
 * Every function takes the whole picture (nodes, VMs with their policy and
 * where they run) and returns a plan: actions to take and, per VM, the
 * reasons something was not done or was done against a soft rule. The
 * coordinator in clusterd calls them and publishes the plan; the simulator
 * test calls them on made-up clusters.
 *
 * Invariants every function keeps:
 * - deterministic: the same input gives the same plan, whatever the order
 *   of the nodes and VMs arrays (ties break on node id, then VM name);
 * - admission control: a VM is never placed on a node where its memory
 *   does not fit (capacity - reserved - memory of the VMs that run there or
 *   are planned there);
 * - only nodes in state up are targets, and only possible owners;
 * - a VM goes only to a node that runs its CPU (res_cpu_fits());
 * - anti-affinity is soft: a node that runs a VM of the same class is taken
 *   only when no other eligible node fits, and the plan says so;
 * - automatic plans never start a VM of priority manual;
 * - a VM on a node-local volume (local_node) is placed on that node only:
 *   never failed over, drained or moved elsewhere, and a plan says so.
 */
#ifndef KVMC_RES_PLACE_H
#define KVMC_RES_PLACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "resources/res-cpu.h"
#include "resources/res-vm.h"

#define RES_NODE_MAX_BRIDGES 32

enum res_node_state {
    RES_NODE_UP = 0,
    RES_NODE_DRAINED,     /* administrator drained it: keeps nothing new */
    RES_NODE_PAUSED,      /* keeps its VMs, takes no new ones */
    RES_NODE_QUARANTINED, /* failed too often: no new VMs for a while */
    RES_NODE_DOWN,
};

struct res_node {
    uint32_t id; /* corosync nodeid: > 0, unique */
    char name[RES_NAME_MAX];
    enum res_node_state state;
    uint64_t memory_mib;   /* physical memory */
    uint64_t reserved_mib; /* kept for the host, never given to VMs */
    /* The bridges the node reported (VM networks); not known yet (an
     * older clusterd, or no report so far): no VM is refused for them. */
    bool bridges_known;
    size_t n_bridges;
    char bridges[RES_NODE_MAX_BRIDGES][RES_BRIDGE_MAX];
    /* CPU capability the node reported, NULL = none yet: then it takes
     * only VMs without a CPU requirement (RES_CPU_ANY). Borrowed. */
    const struct res_cpu_caps *cpu;
};

/* A VM as placement sees it. */
struct res_place_vm {
    char name[RES_NAME_MAX]; /* unique */
    uint64_t memory_mib;
    struct res_policy policy;
    uint32_t node;     /* node id it runs on; 0 = not running */
    bool want_running; /* desired state */
    /* Target of a migration in flight, 0 = none. Its memory counts on both
     * nodes until the caller reports the move done (a live migration holds
     * both copies), drain and failback leave it alone, and it counts for
     * anti-affinity on both. */
    uint32_t moving_to;
    /* The bridges its NICs need, each once: a node lacking one is not
     * eligible. */
    size_t n_bridges;
    char bridges[RES_VM_MAX_NICS][RES_BRIDGE_MAX];
    /* What it needs of a node's CPU; RES_CPU_ANY (zeroed) = nothing. */
    struct res_cpu_need cpu;
    /* Disks on a node-local volume ("" = none): the VM runs on node
     * `local_node` only. No lease can guard such disks, so "never on two
     * hosts" rests on this rule: it is never started, failed over, drained
     * or moved anywhere else. */
    char local_volume[RES_NAME_MAX];
    char local_node[RES_NAME_MAX];
};

struct res_cluster {
    const struct res_node *nodes;
    size_t n_nodes;
    const struct res_place_vm *vms;
    size_t n_vms;
};

enum res_action_kind {
    RES_ACT_START = 0, /* cold boot `vm` on `to` */
    RES_ACT_MOVE,      /* migrate `vm` from `from` to `to` (mode) */
    RES_ACT_STOP,      /* stop `vm` on `from` */
};

enum res_move_mode {
    RES_MOVE_NONE = 0,
    RES_MOVE_LIVE,
    RES_MOVE_QUICK,
};

struct res_action {
    enum res_action_kind kind;
    char vm[RES_NAME_MAX];
    uint32_t from; /* MOVE, STOP */
    uint32_t to;   /* START, MOVE */
    enum res_move_mode mode;
    /* Moves of one wave may run together; wave n+1 starts when wave n is
     * done. At most the concurrency limit of moves per wave. 0 for
     * starts and stops. */
    unsigned wave;
};

enum res_why {
    RES_WHY_NONE = 0,
    RES_WHY_NO_MEMORY,        /* not placed: no eligible node has the memory */
    RES_WHY_NO_OWNER_UP,      /* not placed: no possible owner is up */
    RES_WHY_MANUAL,           /* not placed: priority manual */
    RES_WHY_ANTI_AFFINITY,    /* placed sharing a node with its class */
    RES_WHY_FAILBACK_LATER,   /* failback waits for its time window */
    RES_WHY_FAILBACK_BLOCKED, /* preferred node can't take it back */
    RES_WHY_NO_BRIDGE,        /* not placed: no owner up has its bridges */
    RES_WHY_NO_CPU, /* not placed: no up possible owner runs its CPU */
    RES_WHY_LOCAL,  /* not placed or moved: on its node's local volume */
};

struct res_note {
    char vm[RES_NAME_MAX];
    enum res_why why;
    char text[256]; /* one line, for logs and clusterctl */
};

struct res_plan {
    size_t n_actions;
    struct res_action *actions;
    size_t n_notes;
    struct res_note *notes;
};

void res_plan_free(struct res_plan *plan);
CMN_DEFINE_AUTO(res_plan, res_plan_free)

/* The placement view of a definition: a named CPU model (not "host")
 * becomes a RES_CPU_MODEL need. */
void res_place_vm_from_def(const struct res_vm *def, uint32_t node,
                           bool want_running, struct res_place_vm *ret_pv);

/* Flags of res_place_best(). */
#define RES_PLACE_OTHER_NODE 0x1u /* not the node the VM runs on now */

/* The best node for VM `vm` given what runs where: eligible nodes (up,
 * possible owner, runs its CPU, memory fits) ranked by no anti-affinity
 * conflict, then preferred-owner rank, then most free memory after placement,
 * then lowest id. A VM's own memory is not counted on the node it runs on when
 * RES_PLACE_OTHER_NODE moves it. `ret_note` (may be NULL) receives the
 * reason when it fails or when the choice breaks anti-affinity, else
 * RES_WHY_NONE. Errors: RES_E_UNKNOWN_VM, RES_E_NO_OWNER, RES_E_CPU,
 * RES_E_NO_CAPACITY, RES_E_INPUT. Priority manual is not refused here: an
 * administrator asked. */
int res_place_best(const struct res_cluster *c, const char *vm, unsigned flags,
                   uint32_t *ret_node, struct res_note *ret_note);

/* Admission of an explicit target (move-vm --to, vm start on a node):
 * 0, or RES_E_UNKNOWN_VM / RES_E_UNKNOWN_NODE / RES_E_NODE_STATE /
 * RES_E_NOT_OWNER (also another node than a local VM's) / RES_E_CPU /
 * RES_E_NO_CAPACITY with a sentence in `err`. */
int res_place_check(const struct res_cluster *c, const char *vm, uint32_t node,
                    char *err, size_t errlen);

/* Node `lost` is gone: restart its VMs (those wanted running) on the
 * survivors, high priority first, then medium, then low, each cold-booted
 * (RES_ACT_START). Manual VMs get a RES_WHY_MANUAL note. */
int res_plan_failover(const struct res_cluster *c, uint32_t lost,
                      struct res_plan **ret_plan);

/* Move every VM off `node`: high and medium priority live, low and manual
 * quick, at most `max_concurrent` moves per wave (0 = 1). A VM with
 * nowhere to go gets a note and stays, and so does a VM on the node's
 * local volume (RES_WHY_LOCAL). */
int res_plan_drain(const struct res_cluster *c, uint32_t node,
                   unsigned max_concurrent, struct res_plan **ret_plan);

/* `node` came back (resume or join): move back the VMs whose failback
 * policy allows it now and that prefer `node` to where they run.
 * `now_minute` is the local time of day in minutes (0..1439), for
 * RES_FAILBACK_WINDOW. Moves as drain does (live/quick by priority,
 * `max_concurrent` per wave). */
int res_plan_failback(const struct res_cluster *c, uint32_t node,
                      unsigned now_minute, unsigned max_concurrent,
                      struct res_plan **ret_plan);

/* Start every VM wanted running that runs nowhere (capacity came back,
 * or the cluster just formed), by priority; manual ones get a note. */
int res_plan_pending(const struct res_cluster *c, struct res_plan **ret_plan);

/* VM `vm` failed on its node: restart it there (`failover` false, see
 * res_failure_should_failover(), and the node still up) or start it on
 * another node. Manual VMs get a note; a VM not wanted running, nothing. */
int res_plan_vm_failure(const struct res_cluster *c, const char *vm,
                        bool failover, struct res_plan **ret_plan);

/* Human-readable account of where `vm` runs or could run and why: its
 * policy, a verdict per node, the best node. Malloc'ed, several lines. */
int res_explain(const struct res_cluster *c, const char *vm, char **ret_text);

/* res-net.c: the first bridge VM `v` needs that node `n` lacks, or NULL
 * (also when the node's bridges are not known). */
const char *res_node_missing_bridge(const struct res_node *n,
                                    const struct res_place_vm *v);
/* Sets the bridges of `n` from a list separated by spaces (a node's
 * report): known from then on. Names beyond RES_NODE_MAX_BRIDGES or not
 * fitting RES_BRIDGE_MAX are left out. */
void res_node_set_bridges(struct res_node *n, const char *list);

const char *res_node_state_str(enum res_node_state state);
const char *res_why_str(enum res_why why);
const char *res_action_kind_str(enum res_action_kind kind);
const char *res_move_mode_str(enum res_move_mode mode);

#endif
