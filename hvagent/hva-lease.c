/* VM lease requests (hva-qemu.c's sanlock calls) in the agent's worker
 * pool: a slow lease disk stalls a sanlock call for seconds, which the
 * agent's loop must never wait for. A request copies the lease
 * definition, which a redefine may replace while the call runs. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "common/cmn-time.h"
#include "hvagent/hva-int.h"

struct lease_job {
    enum hva_lease_op op;
    struct hva_lease_def l; /* copies: the definition may be replaced */
    pid_t pid;
    unsigned retry_held_ms;
    uint64_t ms;
    hva_lease_done_fn done;
    void *owner;
};

const char *hva_lease_why(int rc)
{
    if (rc == -HVA_E_LEASE_HELD)
        return "held by another host";
    /* sanlock's answer for a lockspace it has not joined: "No space left
     * on device" would send an operator to the wrong place. */
    if (rc == -ENOSPC)
        return "this host's sanlock has not joined its lockspace";
    return cmn_strerror(rc);
}

static void lease_job_free(struct lease_job *lj)
{
    free(lj->l.lockspace);
    free(lj->l.resource);
    free(lj->l.path);
    free(lj);
}

static int lease_work(void *arg)
{
    struct lease_job *lj = arg;
    uint64_t t0 = cmn_now_ms(), deadline = t0 + lj->retry_held_ms;
    int rc;

    switch (lj->op) {
    case HVA_LEASE_ACQUIRE:
        for (;;) {
            rc = hva_lease_acquire(&lj->l, lj->pid);
            if (rc != -HVA_E_LEASE_HELD || cmn_now_ms() >= deadline)
                break;
            /* The holder is going away (a dying QEMU): sanlock frees
             * its lease once the process is gone. */
            poll(NULL, 0, 250);
        }
        break;
    case HVA_LEASE_RELEASE:
        rc = hva_lease_release(&lj->l, lj->pid);
        break;
    case HVA_LEASE_INQUIRE:
    default:
        rc = hva_lease_held(&lj->l, lj->pid);
        break;
    }
    lj->ms = cmn_now_ms() - t0;
    return rc;
}

static void lease_work_done(void *arg, int rc)
{
    struct lease_job *lj = arg;

    lj->done(lj->owner, rc, lj->ms);
    lease_job_free(lj);
}

int hva_lease_async(struct hva_agent *ag, enum hva_lease_op op,
                    const struct hva_lease_def *l, pid_t pid,
                    unsigned retry_held_ms, hva_lease_done_fn done, void *owner)
{
    struct lease_job *lj = calloc(1, sizeof(*lj));
    int rc;

    if (!lj)
        return -ENOMEM;
    lj->op = op;
    lj->pid = pid;
    lj->retry_held_ms = retry_held_ms;
    lj->done = done;
    lj->owner = owner;
    lj->l.offset = l->offset;
    lj->l.lockspace = l->lockspace ? strdup(l->lockspace) : NULL;
    lj->l.resource = l->resource ? strdup(l->resource) : NULL;
    lj->l.path = l->path ? strdup(l->path) : NULL;
    if ((l->lockspace && !lj->l.lockspace) ||
        (l->resource && !lj->l.resource) || (l->path && !lj->l.path)) {
        lease_job_free(lj);
        return -ENOMEM;
    }
    rc = cmn_work_submit(ag->work, lease_work, lease_work_done, lj);
    if (rc < 0)
        lease_job_free(lj);
    return rc;
}

/* The lease recovery's retry delay (hva-mig-out.c runs it). */
unsigned hva_lease_recover_delay_ms(unsigned failures)
{
    return (unsigned)hva_backoff_ms(failures ? failures - 1 : 0,
                                    HVA_LEASE_REC_MIN_MS, HVA_LEASE_REC_MAX_MS);
}
