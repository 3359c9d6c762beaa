/* Back-off of moves that keep failing for a VM (drain, failback), and
 * whether a VM may be moved at all. Pure: the coordinator (cd-coord.c)
 * decides with it on every member alike, its unit test drives it.
 *
 * The scale bench's stuck drain: a VM left paused on its source by a
 * failed lease handoff was re-issued a live and a quick move about once
 * a second for ten minutes (660 failed actions). A VM that is not
 * running is not moved (its own recovery decides, hvagent's lease
 * recovery); one whose moves failed waits CD_MVB_BASE_S after the
 * first failure, doubled per failure in a row, at most CD_MVB_CAP_S. A
 * move that succeeded, or the VM running again after it was paused
 * (recovered), ends the streak. */
#ifndef KVMC_CD_BACKOFF_H
#define KVMC_CD_BACKOFF_H

#include <stddef.h>
#include <stdint.h>

#include "clusterd/cd-coord.h"

#define CD_MVB_BASE_S 1
#define CD_MVB_CAP_S  60

struct cd_mvb_streak {
    unsigned n;          /* failed moves of the VM in a row */
    uint64_t last_end_s; /* when the newest ended (its executor's clock) */
    const struct cd_action *last; /* the newest failed move, NULL if none */
};

enum cd_mvb_verdict {
    CD_MVB_GO = 0,
    CD_MVB_NOT_RUNNING, /* migrating, paused, ... here: not moved */
    CD_MVB_BACKOFF,     /* its last moves failed: not before the due time */
};

/* The wait after `failures` failed moves in a row (0 for none). */
uint64_t cd_mvb_delay_s(unsigned failures);

/* The newest of `vm`'s `n` actions `act` delivered before sequence
 * `below` (UINT64_MAX: the newest of all), or NULL: walking a VM's
 * history newest first, as the move and the start streaks do. */
const struct cd_action *cd_act_newest_before(const struct cd_action *act,
                                             size_t n, const char *vm,
                                             uint64_t below);

/* The failed moves (LIVE, QUICK) of `vm` in a row among the `n` actions
 * of `act`, newest first by delivery order: any action that did not fail,
 * any other kind of action, a failure that is the cluster's (-CD_E_NO_
 * CLUSTER: its node left), and any action delivered at or before
 * `since_seq` (the VM ran again after a pause since) ends it. */
void cd_mvb_streak(const struct cd_action *act, size_t n, const char *vm,
                   uint64_t since_seq, struct cd_mvb_streak *ret);

/* May the drain or failback move the VM now? `st`: its state on the
 * node it runs on. BACKOFF: `*ret_due_s` is when it may (wall clock s);
 * a streak without an end time (an old executor) does not hold it. */
enum cd_mvb_verdict cd_mvb_decide(enum cd_rt_state st,
                                  const struct cd_mvb_streak *s, uint64_t now_s,
                                  uint64_t *ret_due_s);

#endif
