/* The storage health monitor of this node (see cd-storage.h).
 *
 * Every CHECK_MS the loop starts one worker (never two: a check that
 * blocks on a dead path is waited for, not piled up). The worker asks
 * the local sanlock daemon about the lockspace first (no volume I/O, so
 * that answer comes even when the volume hangs), then reads the volume's
 * first block with O_DIRECT (the page cache must not answer for a dead
 * path), and, when the lockspace is gone but the volume reads again,
 * joins the lockspace (blocking for a few io_timeouts). Each of these
 * steps posts its result by value through a pipe, so the loop knows the
 * latest finding while a later step still blocks. A check that has not
 * finished after STALL_MS means the volume does not answer: the node is
 * reported unreadable until it does.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <qb/qbloop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clusterd/cd-daemon.h"
#include "clusterd/cd-int.h"
#include "clusterd/cd-storage.h"
#include "common/cmn-log.h"
#include "common/cmn-time.h"
#include "csv/csv.h"

#define CHECK_MS    1000
#define STALL_MS    5000
#define BACKOFF_MAX 30 /* seconds between join attempts, at most */
#define PROBE_SIZE  4096

enum step {
    STEP_LS = 1, /* lockspace state known */
    STEP_READ,   /* read probe done */
    STEP_JOINING,
    STEP_DONE,
};

struct finding {
    enum step step;
    int open_rc; /* csv_open of the volume (until it opened once) */
    int ls_rc;
    enum csv_ls_state ls;
    int read_rc;
    int join_rc; /* STEP_DONE after a join attempt, else 1 */
    char volume[CSV_NAME_MAX + 1];
};

struct cd_storage {
    struct cd_daemon *d;
    char path[PATH_MAX];
    cd_storage_report_fn report;
    void *data;
    int pipe_rd, pipe_wr;
    qb_loop_timer_handle timer;
    bool timer_armed;

    /* The worker's (one at a time): the volume, opened once for the
     * lockspace parameters; inputs set by the loop before it starts. */
    struct csv_volume *vol;
    uint32_t host_id;
    bool may_join;

    bool busy;
    uint64_t busy_since_ms;
    bool joining;
    struct finding last; /* of the check in progress or the last one */
    unsigned backoff_s;
    uint64_t next_join_ms;
    bool path_lost; /* a read failed since the volume last read */
    bool have;
    struct cd_stor_node cur;
};

static void post(struct cd_storage *s, const struct finding *f)
{
    /* Below PIPE_BUF: never short. It fails only once clusterd stopped
     * reading (shutting down), when the finding does not matter. */
    if (write(s->pipe_wr, f, sizeof(*f)) < 0)
        return;
}

/* 0 when the first block of `path` reads from the device. */
static int read_probe(const char *path)
{
    void *buf = NULL;
    int fd, rc = 0;

    fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (posix_memalign(&buf, PROBE_SIZE, PROBE_SIZE) != 0) {
        close(fd);
        return -ENOMEM;
    }
    if (pread(fd, buf, PROBE_SIZE, 0) != PROBE_SIZE)
        rc = errno ? -errno : -EIO;
    free(buf);
    close(fd);
    return rc;
}

static void *worker(void *arg)
{
    struct cd_storage *s = arg;
    struct finding f = {.step = STEP_LS, .join_rc = 1};

    if (!s->vol) {
        errno = 0;
        f.open_rc = csv_open(s->path, 0, NULL, &s->vol);
        if (f.open_rc < 0) {
            s->vol = NULL;
            f.read_rc = f.open_rc;
            f.step = STEP_DONE;
            post(s, &f);
            return NULL;
        }
    }
    snprintf(f.volume, sizeof(f.volume), "%s", csv_super(s->vol)->name);
    f.ls_rc = csv_lockspace_state(s->vol, s->host_id, &f.ls);
    post(s, &f);
    errno = 0;
    f.read_rc = read_probe(s->path);
    f.step = STEP_READ;
    post(s, &f);
    if (f.ls_rc == 0 && f.ls == CSV_LS_ABSENT && f.read_rc == 0 &&
        s->may_join) {
        f.step = STEP_JOINING;
        post(s, &f);
        f.join_rc = csv_lockspace_add(s->vol, s->host_id);
        if (f.join_rc == -EEXIST)
            f.join_rc = 0;
        f.ls_rc = csv_lockspace_state(s->vol, s->host_id, &f.ls);
    }
    f.step = STEP_DONE;
    post(s, &f);
    return NULL;
}

/* The node's health from a finding. */
static void judge(struct cd_storage *s, const struct finding *f, bool stalled,
                  struct cd_stor_node *r)
{
    memset(r, 0, sizeof(*r));
    r->node = s->d->nodeid;
    snprintf(r->volume, sizeof(r->volume), "%s",
             f->volume[0] ? f->volume : s->cur.volume);
    if (f->open_rc < 0) {
        r->state = CD_STOR_UNREADABLE;
        cd_errf(r->detail, sizeof(r->detail), "cannot open %s: %s", s->path,
                cmn_strerror(f->open_rc));
        return;
    }
    if (f->ls_rc < 0) {
        r->state = CD_STOR_LOST;
        cd_errf(r->detail, sizeof(r->detail),
                "the local sanlock does not answer: %s",
                cmn_strerror(f->ls_rc));
        return;
    }
    if (f->step == STEP_JOINING || f->ls == CSV_LS_ADDING) {
        r->state = CD_STOR_JOINING;
        cd_errf(r->detail, sizeof(r->detail), "%s reads again", s->path);
        return;
    }
    if (f->ls != CSV_LS_JOINED) {
        r->state = CD_STOR_LOST;
        if (f->step == STEP_LS)
            cd_errf(r->detail, sizeof(r->detail), "sanlock %s it",
                    f->ls == CSV_LS_REMOVING ? "is leaving" : "dropped");
        else if (f->read_rc < 0 || stalled)
            cd_errf(r->detail, sizeof(r->detail), "%s: %s", s->path,
                    stalled ? "no answer" : cmn_strerror(f->read_rc));
        else if (f->join_rc < 0 && f->join_rc != 1)
            cd_errf(r->detail, sizeof(r->detail), "joining failed: %s",
                    cmn_strerror(f->join_rc));
        else
            cd_errf(r->detail, sizeof(r->detail), "%s reads: joining it again",
                    s->path);
        return;
    }
    if (stalled || (f->step >= STEP_READ && f->read_rc < 0)) {
        r->state = CD_STOR_UNREADABLE;
        cd_errf(r->detail, sizeof(r->detail), "%s: %s", s->path,
                stalled ? "no answer" : cmn_strerror(f->read_rc));
        return;
    }
    r->state = CD_STOR_OK;
}

static void update(struct cd_storage *s, bool stalled)
{
    struct cd_stor_node r;

    if (!s->d->nodeid)
        return;
    judge(s, &s->last, stalled, &r);
    /* Before the read probe answered, a joined lockspace says nothing
     * new: keep what the previous check found. */
    if (s->last.step == STEP_LS && r.state == CD_STOR_OK && s->have)
        return;
    r.since = s->have && s->cur.state == r.state ? s->cur.since
                                                 : (uint64_t)time(NULL);
    if (s->have && !memcmp(&r, &s->cur, sizeof(r)))
        return;
    if (!s->have || s->cur.state != r.state) {
        /* The main CSV's health is a node condition; another volume's
         * only keeps its VMs from starting here. */
        if (r.state == CD_STOR_OK)
            cmn_info(CMN_LOG_CD,
                     "storage: lockspace of volume '%s' held, %s readable%s",
                     r.volume, s->path,
                     s->report ? ": this node takes VMs" : "");
        else
            cmn_warn(CMN_LOG_CD,
                     "storage: lockspace of volume '%s' %s (%s): %s until it "
                     "is back",
                     r.volume, cd_stor_state_name(r.state), r.detail,
                     s->report ? "this node takes no VMs"
                               : "its VMs cannot start on this node");
    }
    s->cur = r;
    s->have = true;
    if (s->report)
        s->report(s->data, &s->cur);
}

static int32_t pipe_ready(int32_t fd, int32_t revents, void *data)
{
    struct cd_storage *s = data;
    struct finding f;

    (void)revents;
    while (read(fd, &f, sizeof(f)) == (ssize_t)sizeof(f)) {
        s->last = f;
        /* The back-off is for joins that fail while the volume reads;
         * once the path was lost and reads again, the reason for the
         * earlier failures is likely gone: try at once rather than
         * keeping the VMs of this node away for up to BACKOFF_MAX. */
        if (f.step >= STEP_READ && f.read_rc < 0) {
            s->path_lost = true;
        } else if (f.step >= STEP_READ && s->path_lost) {
            s->path_lost = false;
            s->backoff_s = 0;
            s->next_join_ms = 0;
        }
        if (f.step == STEP_JOINING) {
            s->joining = true;
            cmn_info(CMN_LOG_CD,
                     "storage: %s reads again: joining the lockspace of "
                     "volume '%s' as host %u",
                     s->path, f.volume, s->host_id);
        }
        if (f.step == STEP_DONE) {
            s->busy = false;
            if (s->joining) {
                s->joining = false;
                if (f.join_rc < 0) {
                    s->backoff_s = s->backoff_s ? s->backoff_s * 2 : 1;
                    if (s->backoff_s > BACKOFF_MAX)
                        s->backoff_s = BACKOFF_MAX;
                    s->next_join_ms = cmn_now_ms() + s->backoff_s * 1000ull;
                    cmn_warn(CMN_LOG_CD,
                             "storage: joining the lockspace of volume '%s' "
                             "failed: %s (next try in %u s)",
                             f.volume, cmn_strerror(f.join_rc), s->backoff_s);
                } else {
                    s->backoff_s = 0;
                }
            }
        }
        update(s, false);
    }
    return 0;
}

static void check(void *data)
{
    struct cd_storage *s = data;

    s->timer_armed = false;
    if (s->busy) {
        /* A join legitimately takes a few io_timeouts. */
        if (!s->joining && cmn_now_ms() - s->busy_since_ms > STALL_MS)
            update(s, true);
    } else if (s->d->nodeid) {
        s->host_id = s->d->nodeid;
        s->may_join = cmn_now_ms() >= s->next_join_ms;
        s->busy = true;
        s->busy_since_ms = cmn_now_ms();
        if (cd_thread_detached(worker, s) < 0)
            s->busy = false;
    }
    if (qb_loop_timer_add(s->d->loop, QB_LOOP_LOW, CHECK_MS * 1000000ull, s,
                          check, &s->timer) == 0)
        s->timer_armed = true;
}

int cd_storage_new(struct cd_daemon *d, const char *path,
                   cd_storage_report_fn report, void *data,
                   struct cd_storage **ret)
{
    struct cd_storage *s;
    int p[2];

    if (strlen(path) >= sizeof(s->path))
        return -EINVAL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
        free(s);
        return -errno;
    }
    s->d = d;
    snprintf(s->path, sizeof(s->path), "%s", path);
    s->report = report;
    s->data = data;
    s->pipe_rd = p[0];
    s->pipe_wr = p[1];
    qb_loop_poll_add(d->loop, QB_LOOP_MED, s->pipe_rd, POLLIN, s, pipe_ready);
    check(s);
    *ret = s;
    return 0;
}

void cd_storage_free(struct cd_storage *s)
{
    if (!s)
        return;
    if (s->timer_armed)
        qb_loop_timer_del(s->d->loop, s->timer);
    qb_loop_poll_del(s->d->loop, s->pipe_rd);
    close(s->pipe_rd);
    /* A worker still blocked on the volume keeps the rest (its last
     * write fails on the closed pipe): it ends with the process. */
    if (s->busy)
        return;
    csv_close(s->vol);
    close(s->pipe_wr);
    free(s);
}

const struct cd_stor_node *cd_storage_current(const struct cd_storage *s)
{
    return s && s->have ? &s->cur : NULL;
}
