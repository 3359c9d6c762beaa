/* Worker threads for hvagent's calls that can block: sanlock requests
 * (a slow lease disk stalls them for seconds), outgoing connects and TLS
 * handshakes, the quick-migration state stream and its header. Jobs go
 * to a pool of threads that wait for work; a job finding no idle thread
 * gets a new one (up to WORK_MAX_THREADS), so one slow lease disk never
 * delays the lease handoff of another migration. Idle threads are kept:
 * waking a sleeping thread is quicker than creating one on a loaded
 * host, and the lease handoff sits inside the guest's downtime.
 * Completions come back through a pipe the agent's qb_loop watches, so
 * every `done` callback runs on the loop thread, one at a time, as all
 * other agent code does.
 * A job's `fn` must not touch agent state: it works on what its `arg`
 * holds. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cmn-log.h"
#include "hvagent/hva-int.h"

#define WORK_MAX_THREADS 16

struct hva_job {
    struct hva_job *next;
    hva_work_fn fn;
    hva_work_done_fn done;
    void *arg;
    int rc;
};

struct hva_work {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct hva_job *head, *tail; /* waiting for a thread */
    unsigned threads, idle;
    bool stop;
    int rd, wr; /* completions: job pointers */
};

static int32_t work_dispatch(int32_t fd, int32_t revents, void *data)
{
    struct hva_job *jobs[64];

    (void)revents;
    (void)data;
    for (;;) {
        ssize_t n = read(fd, jobs, sizeof(jobs));
        if (n <= 0)
            return 0; /* EAGAIN: all done; the pipe stays open */
        for (size_t i = 0; i < (size_t)n / sizeof(jobs[0]); i++) {
            struct hva_job *j = jobs[i];
            j->done(j->arg, j->rc);
            free(j);
        }
    }
}

static void *work_thread(void *arg)
{
    struct hva_work *w = arg;

    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->head && !w->stop) {
            w->idle++;
            pthread_cond_wait(&w->cv, &w->mu);
            w->idle--;
        }
        if (w->stop)
            break;
        struct hva_job *j = w->head;
        w->head = j->next;
        if (!w->head)
            w->tail = NULL;
        pthread_mutex_unlock(&w->mu);
        j->rc = j->fn(j->arg);
        if (write(w->wr, &j, sizeof(j)) != (ssize_t)sizeof(j))
            abort(); /* a pipe write of a pointer is atomic, never short */
        pthread_mutex_lock(&w->mu);
    }
    w->threads--;
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int hva_work_init(struct hva_agent *ag)
{
    struct hva_work *w = calloc(1, sizeof(*w));
    int p[2];

    if (!w)
        return -ENOMEM;
    if (pipe2(p, O_CLOEXEC) < 0) {
        free(w);
        return -errno;
    }
    /* Reads never block the loop; writes (8-byte pointers, atomic) may
     * wait for room, in the worker. */
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    w->rd = p[0];
    w->wr = p[1];
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    ag->work = w;
    return qb_loop_poll_add(ag->loop, QB_LOOP_HIGH, w->rd, POLLIN, ag,
                            work_dispatch);
}

void hva_work_fini(struct hva_agent *ag)
{
    struct hva_work *w = ag->work;
    bool busy;

    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    /* Idle threads leave at once; a thread still in a job would write
     * to the pipe: keep everything then (the process is ending). */
    for (int i = 0; i < 100; i++) {
        pthread_mutex_lock(&w->mu);
        busy = w->threads > 0;
        pthread_mutex_unlock(&w->mu);
        if (!busy)
            break;
        poll(NULL, 0, 10);
    }
    if (busy)
        return;
    qb_loop_poll_del(ag->loop, w->rd);
    close(w->rd);
    close(w->wr);
    for (struct hva_job *j = w->head, *n; j; j = n) {
        n = j->next;
        free(j);
    }
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
    ag->work = NULL;
}

int hva_work_submit(struct hva_agent *ag, hva_work_fn fn, hva_work_done_fn done,
                    void *arg)
{
    struct hva_work *w = ag->work;
    struct hva_job *j = calloc(1, sizeof(*j));
    int rc = 0;

    if (!j)
        return -ENOMEM;
    j->fn = fn;
    j->done = done;
    j->arg = arg;
    pthread_mutex_lock(&w->mu);
    if (!w->idle) {
        pthread_attr_t at;
        pthread_t t;

        if (w->threads >= WORK_MAX_THREADS) {
            /* Queued: the next thread to finish takes it. */
            goto queue;
        }
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        /* sanlock and GnuTLS need little stack. */
        pthread_attr_setstacksize(&at, 256 * 1024);
        rc = -pthread_create(&t, &at, work_thread, w);
        pthread_attr_destroy(&at);
        if (rc < 0 && !w->threads) {
            pthread_mutex_unlock(&w->mu);
            cmn_err(CMN_LOG_HVA, "worker thread: %s", strerror(-rc));
            free(j);
            return rc;
        }
        if (rc == 0)
            w->threads++;
        rc = 0; /* no new thread, but others will take it */
    }
queue:
    if (w->tail)
        w->tail->next = j;
    else
        w->head = j;
    w->tail = j;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

/* ---- VM lease requests -------------------------------------------------- */

struct lease_job {
    enum hva_lease_op op;
    struct hva_lease_def l; /* copies: the definition may be replaced */
    pid_t pid;
    unsigned retry_held_ms;
    uint64_t ms;
    hva_lease_done_fn done;
    void *owner;
};

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
    uint64_t t0 = hva_now_ms(), deadline = t0 + lj->retry_held_ms;
    int rc;

    switch (lj->op) {
    case HVA_LEASE_ACQUIRE:
        for (;;) {
            rc = hva_lease_acquire(&lj->l, lj->pid);
            if (rc != -HVA_E_LEASE_HELD || hva_now_ms() >= deadline)
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
    lj->ms = hva_now_ms() - t0;
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
    rc = hva_work_submit(ag, lease_work, lease_work_done, lj);
    if (rc < 0)
        lease_job_free(lj);
    return rc;
}
