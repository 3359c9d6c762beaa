/* Worker threads for a daemon's calls that can block (see cmn-work.h):
 * in hvagent sanlock requests (a slow lease disk stalls them for
 * seconds), outgoing connects and TLS handshakes, the quick-migration
 * state stream; in clusterd the shared-volume changes and the calls to
 * the local hvagent. Jobs go to a pool of threads that wait for work; a
 * job finding no idle thread gets a new one (up to the pool's maximum),
 * so one slow lease disk never delays the lease handoff of another
 * migration. Idle threads are kept: waking a sleeping thread is quicker
 * than creating one on a loaded host, and the lease handoff sits inside
 * the guest's downtime. Completions come back through a pipe the
 * daemon's qb_loop watches, so every `done` callback runs on the loop
 * thread, one at a time, as all other daemon code does. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cmn-work.h"

struct cmn_job {
    struct cmn_job *next;
    cmn_work_fn fn;
    cmn_work_done_fn done;
    void *arg;
    int rc;
};

struct cmn_work {
    qb_loop_t *loop;
    unsigned max_threads;
    size_t stack_size;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct cmn_job *head, *tail; /* waiting for a thread */
    unsigned queued;             /* jobs in that list */
    unsigned threads, idle;
    bool stop;
    int rd, wr; /* completions: job pointers */
};

static int32_t work_dispatch(int32_t fd, int32_t revents, void *data)
{
    struct cmn_job *jobs[64];

    (void)revents;
    (void)data;
    for (;;) {
        ssize_t n = read(fd, jobs, sizeof(jobs));
        if (n <= 0)
            return 0; /* EAGAIN: all done; the pipe stays open */
        for (size_t i = 0; i < (size_t)n / sizeof(jobs[0]); i++) {
            struct cmn_job *j = jobs[i];
            j->done(j->arg, j->rc);
            free(j);
        }
    }
}

static void *work_thread(void *arg)
{
    struct cmn_work *w = arg;

    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->head && !w->stop) {
            w->idle++;
            pthread_cond_wait(&w->cv, &w->mu);
            w->idle--;
        }
        if (w->stop)
            break;
        struct cmn_job *j = w->head;
        w->queued--;
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

int cmn_work_new(qb_loop_t *loop, unsigned max_threads, size_t stack_size,
                 struct cmn_work **ret)
{
    struct cmn_work *w;
    int p[2], rc;

    if (!max_threads)
        return -EINVAL;
    w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    if (pipe2(p, O_CLOEXEC) < 0) {
        rc = -errno;
        free(w);
        return rc;
    }
    /* Reads never block the loop; writes (8-byte pointers, atomic) may
     * wait for room, in the worker. */
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    w->loop = loop;
    w->max_threads = max_threads;
    w->stack_size = stack_size;
    w->rd = p[0];
    w->wr = p[1];
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    rc = qb_loop_poll_add(loop, QB_LOOP_HIGH, w->rd, POLLIN, w, work_dispatch);
    if (rc != 0) {
        close(w->rd);
        close(w->wr);
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return rc < 0 ? rc : -EIO;
    }
    *ret = w;
    return 0;
}

void cmn_work_free(struct cmn_work *w)
{
    bool busy = false;

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
    qb_loop_poll_del(w->loop, w->rd);
    close(w->rd);
    close(w->wr);
    for (struct cmn_job *j = w->head, *n; j; j = n) {
        n = j->next;
        free(j);
    }
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

int cmn_work_submit(struct cmn_work *w, cmn_work_fn fn, cmn_work_done_fn done,
                    void *arg)
{
    struct cmn_job *j = calloc(1, sizeof(*j));
    int rc = 0;

    if (!j)
        return -ENOMEM;
    j->fn = fn;
    j->done = done;
    j->arg = arg;
    pthread_mutex_lock(&w->mu);
    /* A thread counts as idle until it wakes and takes a job: jobs
     * submitted back to back must not all count on the same idle thread,
     * or they would run one after the other. */
    if (w->idle <= w->queued) {
        pthread_attr_t at;
        pthread_t t;

        if (w->threads >= w->max_threads) {
            /* Queued: the next thread to finish takes it. */
            goto queue;
        }
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (w->stack_size)
            pthread_attr_setstacksize(&at, w->stack_size);
        rc = -pthread_create(&t, &at, work_thread, w);
        pthread_attr_destroy(&at);
        if (rc < 0 && !w->threads) {
            pthread_mutex_unlock(&w->mu);
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
    w->queued++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

unsigned cmn_work_threads(struct cmn_work *w)
{
    unsigned n;

    pthread_mutex_lock(&w->mu);
    n = w->threads;
    pthread_mutex_unlock(&w->mu);
    return n;
}

unsigned cmn_work_idle(struct cmn_work *w)
{
    unsigned n;

    pthread_mutex_lock(&w->mu);
    n = w->idle;
    pthread_mutex_unlock(&w->mu);
    return n;
}
