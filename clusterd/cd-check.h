/* Cluster validation ('clusterctl cluster validate') and node readiness.
 *
 * Every clusterd checks its own node every few seconds (cd-validate.c:
 * corosync quorum, the authkey's digest, sanlock's watchdog, the LUNs
 * lunbridge shows, the CSV lockspace, the accelerator hvagent chose) and
 * broadcasts each result that changed as a CD_CO_CHECK message of the
 * coordinator protocol; every member applies it on delivery to its table
 * (this module, pure), in agreed order, as it does storage health. So any
 * member answers 'validate' for the whole cluster from its own copy, and
 * the checks that compare nodes (same authkey digest, same LUN ids, clocks
 * in step, memory for a failover) are made where the answer is built.
 *
 * Readiness is the one result placement uses: a node whose own checks
 * fail one that matters for safety (sanlock without a watchdog: a node
 * that loses its lease is never reset, so a VM could run twice) reports
 * itself not ready, unless its kvmcluster.conf has the lab override
 * `allow-no-watchdog = yes`; placement gives such a node no new VM (it
 * keeps what runs there), exactly like a node with unhealthy storage.
 * Every member applies the same READY message at the same point of the
 * agreed order, so placement agrees everywhere. A node that never
 * reported (an older clusterd during a rolling upgrade) counts as ready.
 */
#ifndef KVMC_CD_CHECK_H
#define KVMC_CD_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clusterd/cd.h"

enum cd_chk_id {
    CD_CHK_QUORUM = 0, /* corosync quorate with the expected members */
    CD_CHK_AUTHKEY,    /* value: the first 8 bytes of its SHA-256 */
    CD_CHK_WATCHDOG,   /* sanlock uses wdmd and a watchdog device */
    CD_CHK_LUNS,       /* value: crc32c of the sorted ids; text: the ids */
    CD_CHK_LOCKSPACE,  /* the CSV's lockspace joined */
    CD_CHK_KVM,        /* hvagent's accelerator (its paging-guest probe) */
    CD_CHK_CLOCK,      /* the sender's wall clock against ours */
    CD_CHK_MEMORY,     /* its VMs fit on the others if it fails */
    CD_CHK_READY,      /* the node's own verdict: may take VMs */
    CD_CHK_CPU,        /* it runs the cluster CPU baseline */
    CD_CHK_END,
};

enum cd_chk_status {
    CD_CHK_NONE = 0, /* not reported */
    CD_CHK_PASS,
    CD_CHK_WARN,
    CD_CHK_FAIL,
    CD_CHK_STATUS_END,
};

const char *cd_chk_name(enum cd_chk_id id);
const char *cd_chk_status_name(enum cd_chk_status s);

#define CD_CHK_TEXT 240

struct cd_chk_result {
    enum cd_chk_status status;
    uint64_t value;
    char text[CD_CHK_TEXT];
};

/* One node's results as this member knows them. */
struct cd_chk_node {
    uint32_t node;
    char name[CD_NAME_MAX]; /* filled by the caller of cd_chk_evaluate */
    bool reported;
    bool clock_known;
    int64_t clock_offset_ms; /* its clock minus ours at delivery */
    struct cd_chk_result r[CD_CHK_END];
};

struct cd_chk_table {
    size_t n;
    struct cd_chk_node v[CD_MAX_NODES];
};

struct cd_co_msg;

/* Same status, value and text. */
bool cd_chk_same(const struct cd_chk_result *a, const struct cd_chk_result *b);

/* Sets `r` to status `s` with a reason formatted like printf. */
void cd_chk_set(struct cd_chk_result *r, enum cd_chk_status s, const char *fmt,
                ...) __attribute__((format(printf, 3, 4)));

/* The CD_CO_CHECK message of result `id` of this node, stamped with
 * `wall_ms` (the sender's clock, unix milliseconds). */
void cd_chk_msg(enum cd_chk_id id, const struct cd_chk_result *r,
                uint64_t wall_ms, struct cd_co_msg *ret);
/* Applies a delivered CD_CO_CHECK of `sender`, at `now_wall_ms` of this
 * member's clock (the clock offset, not replicated: only shown). True
 * when the result changed. CLOCK, MEMORY and unknown ids only stamp. */
bool cd_chk_apply(struct cd_chk_table *t, uint32_t sender,
                  const struct cd_co_msg *m, uint64_t now_wall_ms);
/* Forgets the nodes not in `members`. */
void cd_chk_confchg(struct cd_chk_table *t, const uint32_t *members, size_t n);
const struct cd_chk_node *cd_chk_get(const struct cd_chk_table *t,
                                     uint32_t node);
/* May `node` take VMs (its READY result is not a fail)? */
bool cd_chk_ready(const struct cd_chk_table *t, uint32_t node);

/* Clock offsets (absolute, ms) from which CLOCK warns and fails. */
#define CD_CHK_CLOCK_WARN_MS 1000
#define CD_CHK_CLOCK_FAIL_MS 5000

/* The cross-node part of a validation, on copies of the nodes' entries
 * (`v[i].name` set; a node without any report has reported = false):
 * an unreported node fails every check; AUTHKEY and LUNS fail on the
 * nodes whose value differs from the majority's, naming those nodes and
 * (LUNS) the ids missing or extra; CLOCK from the offsets. */
void cd_chk_evaluate(struct cd_chk_node *v, size_t n);

/* MEMORY of node i: the memory its VMs use must fit in what the other
 * ready nodes have free. `mem` and `used` in MiB, `up[i]` whether node i
 * can take VMs. Sets v[i].r[CD_CHK_MEMORY] for every reported node. */
void cd_chk_memory(struct cd_chk_node *v, size_t n, const uint64_t *mem,
                   const uint64_t *used, const bool *up);

#endif
