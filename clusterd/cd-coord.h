/* The coordinator's replicated state and its pure logic (no I/O).
 *
 * Besides the CDB (persisted, cd.h), the members share a second, runtime
 * state that is broadcast over the same CPG group but never written to
 * disk: where each VM runs and in which state (fed by every node's
 * hvagent), migration progress, the user's pending move requests, the
 * actions in flight and the recent history of VM failures. Every change
 * of it is a message (struct cd_co_msg) applied on delivery, in agreed
 * order, by every member, the sender included, so every member holds the
 * same runtime state, exactly as for the CDB.
 *
 * The coordinator (lowest nodeid of the quorate membership) calls
 * cd_coord_derive() on that state to decide what must happen next and
 * publishes each decision as an ACTION message before anyone acts on it.
 * The node that must act (each step of an action names one) runs the step
 * through its hvagent and publishes a STEP message with the result. A new
 * coordinator derives from the same replicated state, so unfinished work
 * is picked up without any hand-over; duplicates are harmless because an
 * ACTION for a VM that already has one active is dropped on delivery by
 * every member alike.
 *
 * After every configuration change each member re-announces its own VMs
 * (RT_BEGIN, RT_VM..., RT_END) and the coordinator re-announces the
 * active actions, so a joining member learns the whole state; the
 * coordinator derives nothing until every member has announced.
 */
#ifndef KVMC_CD_COORD_H
#define KVMC_CD_COORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clusterd/cd.h"

#define CD_CO_MAX_ACTIONS  256 /* active + recent history */
#define CD_CO_MAX_RT       1024
#define CD_CO_MAX_REQS     64
#define CD_CO_MAX_FAILURES 8 /* remembered per VM */
#define CD_CO_MSG_MAX      512

/* What hvagent says about a VM on one node. */
enum cd_rt_state {
    CD_RT_STOPPED = 0, /* defined or unknown: not running here */
    CD_RT_STARTING,
    CD_RT_RUNNING,
    CD_RT_PAUSED,
    CD_RT_STOPPING,
    CD_RT_MIGRATING, /* live migration source */
    CD_RT_INCOMING,  /* live migration target, not running yet */
    CD_RT_SAVING,    /* quick migration source */
    CD_RT_STATE_COUNT,
};

const char *cd_rt_state_name(enum cd_rt_state s);
/* hvagent's state names ("defined", "running", ...); unknown: stopped. */
enum cd_rt_state cd_rt_state_from_hva(const char *s);
/* True for states in which the VM occupies (runs on) that node. */
bool cd_rt_state_runs(enum cd_rt_state s);

enum cd_act_kind {
    CD_ACT_START = 1, /* cold boot on `to` */
    CD_ACT_STOP,      /* stop on `from` */
    CD_ACT_LIVE,      /* live migration `from` -> `to` */
    CD_ACT_QUICK,     /* quick migration (save/restore) `from` -> `to` */
    CD_ACT_KIND_END,
};

enum cd_act_status {
    CD_AS_ACTIVE = 0,
    CD_AS_DONE,
    CD_AS_FAILED,
};

/* Why an action exists (for logs, events and explain). */
enum cd_act_cause {
    CD_CAUSE_USER = 0, /* move-vm */
    CD_CAUSE_TARGET,   /* vm start / vm stop intent, or pending start */
    CD_CAUSE_DRAIN,
    CD_CAUSE_FAILBACK,
    CD_CAUSE_FAILOVER, /* its node left the membership */
    CD_CAUSE_RESTART,  /* its QEMU died: health */
    CD_CAUSE_FALLBACK, /* a live move failed: quick instead */
    CD_CAUSE_RETRY,    /* a start failed: again, after a back-off */
    CD_CAUSE_END,
};

const char *cd_act_kind_name(enum cd_act_kind k);
const char *cd_act_status_name(enum cd_act_status s);
const char *cd_act_cause_name(enum cd_act_cause c);

struct cd_action {
    uint64_t id; /* unique: publisher nodeid << 40 | sequence */
    enum cd_act_kind kind;
    enum cd_act_cause cause;
    char vm[CD_NAME_MAX];
    uint32_t from, to;
    uint64_t epoch;  /* CDB epoch it was decided on */
    uint32_t origin; /* node whose client asked (move-vm), 0 = none */
    uint64_t origin_req;
    unsigned step; /* next step to run (cd_action_executor) */
    enum cd_act_status status;
    int rc;
    char msg[256];
    uint64_t downtime_ms, total_ms; /* figures reported by the executor */
    uint64_t seq;                   /* delivery order, for history */
    /* LIVE/QUICK: the -cpu the VM ran with on `from` when the action was
     * delivered (the ACTION message's text when re-announced), which
     * the target is defined with; "" = QEMU's default. */
    char cpu[CD_NAME_MAX];
    uint64_t ended_s; /* when it ended (the executor's clock), 0 unknown */
    /* START: how long the start itself took on the executor, from the
     * moment the VM's lease was free (no live host held it) to QEMU
     * running with it; 0 = not reported (a repeated start, or an
     * executor that predates the figure). A duration, not a time: the
     * executor's clock is not this node's. */
    uint64_t start_ms;
};

/* Steps: START [to]; STOP [from]; LIVE [to: prepare, from: migrate-out];
 * QUICK [from: save, to: restore]. Returns the node that runs step
 * `a->step`, 0 when there are no more steps. */
uint32_t cd_action_executor(const struct cd_action *a);
unsigned cd_action_steps(enum cd_act_kind k);

/* One VM on one node, as its hvagent reported it. */
struct cd_rt_vm {
    char vm[CD_NAME_MAX];
    uint32_t node;
    enum cd_rt_state state;
    /* The -cpu its hvagent defined it with ("" = QEMU's default or not
     * reported): for a cluster-mode VM the baseline fixed when it
     * started, which every migration target is given again. */
    char cpu[CD_NAME_MAX];
    /* Its hvagent holds the VM's lease, as its last report said. */
    bool lease;
    /* Paused on an I/O error (CD_RT_IOERR_*), and the index of the disk
     * in its definition (-1: not known), as its last report said. */
    unsigned ioerr;
    int ioerr_disk;
    /* The coordinator's action sequence when the VM last went from
     * paused to running here (lease recovered, I/O resumed): the moves
     * that failed before do not hold back the next (cd-backoff.h). */
    uint64_t resumed_seq;
    /* live migration progress (source side) */
    unsigned pass;
    uint64_t transferred, remaining, expected_downtime_ms;
};

/* RT_VM flag: the sender's hvagent holds the VM's lease. Members that
 * predate it send 0 (lease not known). */
#define CD_RT_F_LEASE 0x1u
/* RT_VM flags: the guest is paused on an I/O error of its storage
 * (hvagent resumes it by itself), NOSPC with it: a full volume. `origin`
 * is then the failed disk's index in the definition + 1 (0: not known).
 * Members that predate them ignore both (they see a paused VM). */
#define CD_RT_F_IOERR 0x2u
#define CD_RT_F_NOSPC 0x4u

enum cd_rt_ioerr {
    CD_RT_IOERR_NONE = 0,
    CD_RT_IOERR_EIO,
    CD_RT_IOERR_NOSPC,
};
/* "eio", "enospc" (hvagent's io-error="..."); "" for none. */
const char *cd_rt_ioerr_name(unsigned e);
unsigned cd_rt_ioerr_from_hva(const char *s);
/* The RT_VM flags and `origin` of an I/O error condition (origin: the
 * disk's index + 1, 0 for none or not known), and back. */
uint32_t cd_rt_ioerr_flags(unsigned e);
uint32_t cd_rt_ioerr_origin(unsigned e, int disk);
void cd_rt_ioerr_from_msg(uint32_t flags, uint32_t origin, unsigned *ret_e,
                          int *ret_disk);

/* A user's move request accepted on delivery, waiting for its ACTION. */
struct cd_co_req {
    char vm[CD_NAME_MAX];
    enum cd_act_kind kind; /* LIVE or QUICK */
    uint32_t from, to;
    uint32_t origin;
    uint64_t origin_req;
    uint64_t epoch;
};

struct cd_vm_failures {
    char vm[CD_NAME_MAX];
    uint32_t node; /* where it last failed */
    bool pending;  /* failed and not restarted yet */
    size_t n;
    uint64_t times[CD_CO_MAX_FAILURES]; /* seconds (sender's clock) */
};

/* ------------------------------------------------------------ messages */

enum cd_co_msg_type {
    CD_CO_RT_BEGIN = 1, /* sender re-announces: forget its entries */
    CD_CO_RT_VM,        /* sender's hvagent: vm, state (+ progress) */
    CD_CO_RT_END,       /* sender's announcement is complete */
    CD_CO_REQ,          /* a user's move (or manual start) request */
    CD_CO_ACTION,       /* coordinator's decision */
    CD_CO_STEP,         /* executor's result of action `id` step `step` */
    CD_CO_NODE_LOST,    /* coordinator: unmanaged node `a` left corosync */
    CD_CO_STORAGE,      /* sender's storage health (cd-storage.h) */
    CD_CO_BRIDGES,      /* sender's bridges, text = names (cd-net.h) */
    CD_CO_CHECK,        /* sender's check result `kind` (cd-check.h) */
    CD_CO_MSG_TYPE_END,
};

struct cd_co_msg {
    enum cd_co_msg_type type;
    uint64_t id;    /* ACTION/STEP: action id; REQ: origin's request id;
                     * RT_VM migrating: dirty rate, bytes/s (0 unknown) */
    uint64_t epoch; /* ACTION/REQ: CDB epoch */
    uint32_t a, b;  /* ACTION/REQ: from, to */
    uint32_t kind;  /* ACTION/REQ: enum cd_act_kind; RT_VM: state */
    uint32_t cause; /* ACTION: enum cd_act_cause; STEP: step index;
                     * RT_VM: CD_RT_F_* flags */
    uint32_t origin;
    uint64_t origin_req;
    int32_t rc;    /* STEP */
    uint64_t n[4]; /* RT_VM: pass, transferred, remaining, downtime;
                    * STEP: downtime, total, START's start_ms;
                    * RT_VM/STEP: n[3] = time */
    char vm[CD_NAME_MAX];
    char text[256]; /* STEP: error message */
};

int cd_co_msg_encode(const struct cd_co_msg *m, void *buf, size_t cap,
                     size_t *ret_len);
/* CD_E_BAD_MSG for anything malformed; -ENOENT when `buf` is not a
 * coordinator message at all (another protocol on the group). */
int cd_co_msg_decode(const void *buf, size_t len, struct cd_co_msg *ret);
bool cd_co_msg_is_mine(const void *buf, size_t len);

/* --------------------------------------------------------------- state */

struct cd_coord;

int cd_coord_new(struct cd_coord **ret);
void cd_coord_free(struct cd_coord *co);

/* A configuration change: entries of nodes no longer members are dropped
 * (their VMs run nowhere now: failover), every member must announce
 * again. */
void cd_coord_confchg(struct cd_coord *co, const uint32_t *members, size_t n);

/* The same, where the nodes in `kept` left the group but are still
 * corosync members (CPG reason PROCDOWN or LEAVE: only their clusterd is
 * gone, their hvagent still runs their VMs and holds the leases). Their
 * entries are kept, unmanaged, so nothing starts those VMs elsewhere;
 * such a node takes no new VM (it is not a member) and stays unmanaged
 * until its clusterd joins again (it re-announces) or a NODE_LOST says
 * the node itself is gone (then its VMs fail over). A member that
 * announces also announces the unmanaged entries it holds (RT_VM with
 * `a` = their node), so a joining member learns them. */
void cd_coord_confchg_kept(struct cd_coord *co, const uint32_t *members,
                           size_t n, const uint32_t *kept, size_t nkept);

/* True when member `node` finished its announcement (RT_END) since the
 * last configuration change. */
bool cd_coord_announced(const struct cd_coord *co, uint32_t node);

/* Whether `sender` may send `m` at this point of the agreed order, given
 * the group's `members` (the CPG membership, the same list on every
 * member at this point; the coordinator is its lowest id, whatever the
 * quorum, which is not in the agreed order). ACTION and NODE_LOST: a
 * decision only from the coordinator, naming members (or 0) as from/to;
 * an ACTION whose id is known already, or one a member re-announces
 * before its RT_END, from any member. STEP: only from the executor of
 * the step it reports. Every member computes the same answer, so a
 * refused message is dropped everywhere. 0, CD_E_NOT_ENTITLED, or
 * CD_E_BAD_MSG for a VM/volume name outside cmn_name_valid (it would go
 * into XML events), with a sentence naming the sender in err. Pure
 * (cd-msg.c). */
int cd_co_msg_entitled(const struct cd_coord *co, const uint32_t *members,
                       size_t nmembers, uint32_t sender,
                       const struct cd_co_msg *m, char *err, size_t errlen);

/* True when `node` is unmanaged (see cd_coord_confchg_kept). */
bool cd_coord_unmanaged(const struct cd_coord *co, uint32_t node);
/* The unmanaged nodes, to compare with corosync's membership. */
size_t cd_coord_unmanaged_nodes(const struct cd_coord *co, uint32_t *out,
                                size_t cap);

/* What applying a delivered message did, for the daemon's side effects. */
struct cd_co_effect {
    bool changed;          /* runtime state changed (events) */
    bool rejected;         /* REQ refused: err says why */
    int rc;                /* REQ refusal code */
    struct cd_action *act; /* ACTION/STEP: the action it touched */
    bool act_new;          /* ACTION created it */
    bool act_ended;        /* this message finished it */
    bool vm_failed;        /* RT_VM: an unexpected stop (health) */
};

/* Applies a delivered message from `sender`. `cdb` is the replicated
 * CDB at the same point of the agreed order (used to validate REQs).
 * `err` receives the reason of a refused REQ. */
int cd_coord_deliver(struct cd_coord *co, const struct cd_cdb *cdb,
                     uint32_t sender, const struct cd_co_msg *m,
                     struct cd_co_effect *ret_eff, char *err, size_t errlen);

/* Checks a move request the way delivery will (so clusterd can answer
 * the obvious mistakes without a round trip): 0 or a CD_E_* / RES_E_*
 * code with a sentence naming the input and the fix in err. On success
 * ret_from / ret_to give the resolved nodes (`to` 0 = best node). */
int cd_coord_check_move(const struct cd_coord *co, const struct cd_cdb *cdb,
                        const char *vm, uint32_t to, enum cd_act_kind kind,
                        uint32_t *ret_from, uint32_t *ret_to, char *err,
                        size_t errlen);

/* Checks a start request of an administrator (vm start of a VM of
 * priority manual, which automatic plans never start): 0 with the best
 * node in ret_to, or a CD_E_* / RES_E_* code and a sentence in err. A
 * CD_CO_REQ of kind CD_ACT_START carries such a request. */
int cd_coord_check_start(const struct cd_coord *co, const struct cd_cdb *cdb,
                         const char *vm, uint32_t *ret_to, char *err,
                         size_t errlen);

/* True once every member announced its VMs since the last change. */
bool cd_coord_settled(const struct cd_coord *co);

/* Node a VM runs on (0 = nowhere) and its state there. */
uint32_t cd_coord_vm_node(const struct cd_coord *co, const char *vm,
                          enum cd_rt_state *ret_state);
const struct cd_rt_vm *cd_coord_rt(const struct cd_coord *co, size_t i);
size_t cd_coord_rt_count(const struct cd_coord *co);
/* The node whose hvagent last reported holding `vm`'s lease (0 = none
 * known: not running, no lease, or a member that does not report it). */
uint32_t cd_coord_vm_lease(const struct cd_coord *co, const char *vm);
/* The -cpu `vm` runs with where it runs ("" = not running or not
 * reported). */
const char *cd_coord_vm_cpu(const struct cd_coord *co, const char *vm);
/* Where `vm` runs, is it paused on an I/O error (CD_RT_IOERR_*), and on
 * which disk (index, -1 not known)? */
unsigned cd_coord_vm_ioerr(const struct cd_coord *co, const char *vm,
                           int *ret_disk);
/* Completes what placement needs of a VM's CPU (pv from the CDB, its
 * node set): a cluster-mode VM that runs needs the model it was fixed
 * to, one that does not needs the cluster baseline of now (it would be
 * fixed to it on start); a host-mode VM that runs needs the host of its
 * node. Pure. */
void cd_coord_cpu_need(const struct cd_coord *co, const struct cd_cdb *cdb,
                       struct res_place_vm *pv);
/* The active action of `vm`, or NULL. */
const struct cd_action *cd_coord_active(const struct cd_coord *co,
                                        const char *vm);
size_t cd_coord_action_count(const struct cd_coord *co);
const struct cd_action *cd_coord_action(const struct cd_coord *co, size_t i);
const struct cd_action *cd_coord_action_by_id(const struct cd_coord *co,
                                              uint64_t id);
size_t cd_coord_req_count(const struct cd_coord *co);
/* The pending move (or start) request of `vm`, or NULL. */
const struct cd_co_req *cd_coord_req(const struct cd_coord *co, const char *vm);
/* Place of `vm`'s pending move request in the queue of moves that wait
 * for the per-node migration limit (`limit` migrations leaving and
 * `limit` reaching one node at once): 1 = next, 0 = not waiting (it can
 * start now, or there is no request). */
unsigned cd_coord_req_place(const struct cd_coord *co, const char *vm,
                            unsigned limit);
const struct cd_vm_failures *cd_coord_failures(const struct cd_coord *co,
                                               const char *vm);
/* The members' storage health (CD_CO_STORAGE): a node without a healthy
 * lockspace takes no VMs. */
struct cd_stor_table;
const struct cd_stor_table *cd_coord_storage(const struct cd_coord *co);
/* The members' bridges (CD_CO_BRIDGES): a VM goes only where its NICs'
 * bridges are. */
struct cd_net_table;
const struct cd_net_table *cd_coord_net(const struct cd_coord *co);
/* The members' check results (CD_CO_CHECK): a node not ready takes no
 * VMs. */
struct cd_chk_table;
const struct cd_chk_table *cd_coord_checks(const struct cd_coord *co);
/* A node as placement sees it: down unless a member; one with storage
 * not healthy or not ready keeps its VMs and takes no new one (paused). */
enum res_node_state cd_coord_node_state(const struct cd_node *n, bool member,
                                        bool storage_ok, bool ready);

/* ------------------------------------------------------------ deriving */

struct cd_co_view {
    uint32_t self;
    bool quorate;
    const uint32_t *members;
    size_t nmembers;
    uint64_t now_s;      /* wall clock seconds (failure periods) */
    unsigned now_minute; /* local time of day, failback windows */
};

/* The actions the coordinator should publish now, given the replicated
 * state: accepted move requests within the per-node migration limit
 * (migration-max-concurrent leaving and reaching each node; the rest
 * wait their turn, in order); stops of VMs wanted stopped; starts of
 * VMs wanted running that run nowhere (by priority: failover, cluster
 * start); restarts of failed VMs in place or elsewhere (health); a
 * start that failed is retried after a back-off (start-retry-delay,
 * doubled per failure in a row up to start-retry-max-delay, from the
 * failed actions' end times, so a new coordinator keeps the pace) on
 * another node than those it just failed on when one can take it; drain
 * moves off drained nodes within the concurrency limit, with a live move
 * that failed retried quick; failback to resumed nodes. Deterministic.
 * Returns the number of actions written to `out` (at most `cap`), with
 * ids 0 (the daemon numbers them) and the CDB epoch filled in. */
size_t cd_coord_derive(const struct cd_coord *co, const struct cd_cdb *cdb,
                       const struct cd_co_view *view, struct cd_action *out,
                       size_t cap);

/* Why a VM that should run (or move) does not do it now, derived from
 * the same replicated state as cd_coord_derive, so every member answers
 * alike (status, explain, vm start, events). */
enum cd_wait_kind {
    CD_WAIT_NONE = 0,
    CD_WAIT_MOVE_QUEUED,  /* its move waits for the migration limit */
    CD_WAIT_PRIORITY,     /* its start waits for higher-priority starts */
    CD_WAIT_RETRY,        /* its start failed: retried at `at_s` */
    CD_WAIT_NO_NODE,      /* wanted running, but no node can run it */
    CD_WAIT_MOVE_BACKOFF, /* drain/failback move failed: again at `at_s` */
    CD_WAIT_NOT_RUNNING,  /* drain/failback: not moved while not running */
};

struct cd_vm_wait {
    enum cd_wait_kind kind;
    unsigned n;     /* QUEUED: place; PRIORITY: starts ahead; RETRY and
                     * NO_NODE: failed starts in a row; MOVE_BACKOFF:
                     * failed moves in a row */
    uint64_t at_s;  /* RETRY: when the next attempt is due */
    uint32_t node;  /* RETRY, NO_NODE: where the last attempt failed;
                     * MOVE_BACKOFF, NOT_RUNNING: where the VM is */
    uint32_t next;  /* RETRY: where the next attempt goes (0 = unknown) */
    char text[256]; /* RETRY, MOVE_BACKOFF: the last failure; NO_NODE:
                     * why no node; NOT_RUNNING: its state */
};

const char *cd_wait_kind_name(enum cd_wait_kind k);

/* Back-off of the next start after `failures` failed starts in a row:
 * `base_s` doubled per failure, at most `cap_s`. */
uint64_t cd_coord_retry_delay(unsigned failures, uint64_t base_s,
                              uint64_t cap_s);

void cd_coord_vm_wait(const struct cd_coord *co, const struct cd_cdb *cdb,
                      const struct cd_co_view *view, const char *vm,
                      struct cd_vm_wait *ret);

/* The ACTION message for `a` (also used to re-announce). */
void cd_coord_action_msg(const struct cd_action *a, struct cd_co_msg *ret);

#endif
