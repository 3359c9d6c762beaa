/* Storage health of the nodes: whether each node's sanlock holds the
 * lockspace of the cluster-shared volume and can read the volume.
 *
 * A node whose lockspace is lost (sanlock drops it when lease renewals
 * fail, after a lunbridge crash or a storage cut) cannot start a VM: the
 * VM's lease would fail with "No space left on device". So the health is
 * a node condition every member knows: each clusterd watches its own
 * node (the monitor, cd-storage.c, in a worker thread that may block on
 * a dead path without blocking the loop) and broadcasts every change as a
 * CD_CO_STORAGE message of the coordinator protocol; every member applies
 * it on delivery to its table (the pure part, cd-stor-table.c), in agreed
 * order, so placement on every member gives no VM to an unhealthy node.
 * A node that never reported (no CSV configured) counts as healthy.
 *
 * When the path is back the monitor joins the lockspace again by itself,
 * with back-off, and reports healthy once sanlock holds it; the
 * coordinator then starts the VMs that waited. The CDB's other volumes
 * (clusterctl volume add) get a monitor each that joins and re-joins
 * their lockspaces the same way but reports nothing (cd-orch.c).
 */
#ifndef KVMC_CD_STORAGE_H
#define KVMC_CD_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clusterd/cd.h"

enum cd_stor_state {
    CD_STOR_UNKNOWN = 0, /* never reported: no CSV here, counts as ok */
    CD_STOR_OK,          /* lockspace joined, volume readable */
    CD_STOR_JOINING,     /* sanlock is (re-)joining the lockspace */
    CD_STOR_LOST,        /* lockspace not held */
    CD_STOR_UNREADABLE,  /* lockspace held, but the volume does not read */
    CD_STOR_STATE_END,
};

const char *cd_stor_state_name(enum cd_stor_state s);

/* One node's storage health as it reported it. */
struct cd_stor_node {
    uint32_t node;
    enum cd_stor_state state;
    uint64_t since; /* unix seconds (reporter's clock) of the change */
    char volume[CD_NAME_MAX];
    char detail[160]; /* the cause, one line */
};

/* Every member's view of every member (replicated). */
struct cd_stor_table {
    size_t n;
    struct cd_stor_node v[CD_MAX_NODES * 4];
};

struct cd_co_msg;

/* The CD_CO_STORAGE message for a report. */
void cd_stor_msg(const struct cd_stor_node *r, struct cd_co_msg *ret);
/* Applies a delivered CD_CO_STORAGE from `sender`: true when the
 * sender's entry changed. */
bool cd_stor_apply(struct cd_stor_table *t, uint32_t sender,
                   const struct cd_co_msg *m);
/* Forgets the nodes that are no longer members (they report again when
 * they come back). */
void cd_stor_confchg(struct cd_stor_table *t, const uint32_t *members,
                     size_t n);
const struct cd_stor_node *cd_stor_get(const struct cd_stor_table *t,
                                       uint32_t node);
/* May `node` take VMs as far as storage goes? */
bool cd_stor_healthy(const struct cd_stor_table *t, uint32_t node);
/* "storage: lockspace of volume 'X' lost since 2026-12-06 16:01:02 (...)"
 * for an unhealthy node; "" for a healthy one. */
void cd_stor_reason(const struct cd_stor_table *t, uint32_t node, char *buf,
                    size_t len);

/* --------------------------------------------- the monitor (daemon) */

struct cd_daemon;
struct cd_storage;

/* Called in the loop for each change of this node's health (and once at
 * the first check): the daemon broadcasts it. */
typedef void (*cd_storage_report_fn)(void *data, const struct cd_stor_node *r);

/* Watches `path` (the CSV) every second, as host d->nodeid once it is
 * known, joining its lockspace whenever the volume reads and sanlock does
 * not hold it. `report` NULL: a volume besides the main CSV, whose state
 * is only logged. */
int cd_storage_new(struct cd_daemon *d, const char *path,
                   cd_storage_report_fn report, void *data,
                   struct cd_storage **ret);
void cd_storage_free(struct cd_storage *s);
/* The last state determined (for re-announcing after a change of
 * membership); NULL before the first check. */
const struct cd_stor_node *cd_storage_current(const struct cd_storage *s);

#endif
