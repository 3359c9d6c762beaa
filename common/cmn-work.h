/* A pool of worker threads for calls that can block (sanlock, disk and
 * iSCSI I/O with deadlines, connects, IPC to another daemon), so that
 * nothing blocks a daemon's qb_loop. A job's `fn` runs in a worker
 * thread and must touch only what its `arg` holds; its `done` runs
 * later on the loop thread, one at a time, like all other daemon code. */
#ifndef KVMC_CMN_WORK_H
#define KVMC_CMN_WORK_H

#include <stddef.h>

#include <qb/qbloop.h>

struct cmn_work;

typedef int (*cmn_work_fn)(void *arg);               /* in the thread */
typedef void (*cmn_work_done_fn)(void *arg, int rc); /* on the loop */

/* A pool whose completions `loop` dispatches. At most `max_threads`
 * jobs run at once (more wait in order); `stack_size` 0 is the system
 * default. */
int cmn_work_new(qb_loop_t *loop, unsigned max_threads, size_t stack_size,
                 struct cmn_work **ret);
/* Stops idle workers and frees the pool once no job runs; with a job
 * still running (a process ending) the pool is left to the process. */
void cmn_work_free(struct cmn_work *w);
/* Queues `fn(arg)`; `done(arg, rc)` follows on the loop with what `fn`
 * returned. On failure neither is ever called. */
int cmn_work_submit(struct cmn_work *w, cmn_work_fn fn, cmn_work_done_fn done,
                    void *arg);
/* Worker threads alive (running or idle); for tests. */
unsigned cmn_work_threads(struct cmn_work *w);
/* Of those, the ones waiting for a job; for tests. */
unsigned cmn_work_idle(struct cmn_work *w);

#endif
