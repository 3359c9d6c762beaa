/* lunbridge --supervise: the FUSE connection outlives the worker.
 *
 * Why: sanlock and QEMU keep the LUN files open. If the process serving
 * the FUSE mount dies with the connection, every open file is dead for
 * good ("Transport endpoint is not connected"): sanlock's renewals fail
 * and it kills the node's VMs some 8 s later, however fast a new
 * lunbridge mounts again.
 *
 * How: a supervisor that does nothing but hold things opens /dev/fuse and
 * the hand-off record (isc-int.h) and starts a worker (this binary again,
 * with --worker) that inherits both. The first worker logs in, finds its
 * LUNs and mounts the connection itself (mount(2) with fd=N); every later
 * worker finds it mounted. The kernel keeps a FUSE connection while any
 * descriptor of it is open, so when a worker dies the mount stays and the
 * requests queue in the kernel until the next worker reads them.
 *
 * What the next worker must redo:
 *  - FUSE_INIT: the kernel sends it once per connection. The worker
 *    replays the saved request into its own libfuse session and drops the
 *    answer (the kernel has it already).
 *  - Requests the dead worker had read but not answered: on Linux >= 6.9
 *    FUSE_NOTIFY_RESEND puts them back in the queue (marked with bit 63 of
 *    their unique id), and the new worker serves them like new ones.
 *    Reads and whole-block writes are idempotent, so serving one twice is
 *    harmless. Older kernels refuse the notification; the worker then
 *    reads through a clone of the connection (FUSE_DEV_IOC_CLONE) whose
 *    requests the kernel ends with ECONNABORTED when the worker dies: a
 *    caller gets an error instead of waiting forever.
 *  - Inode numbers: kept by LUN id in the record, so an open file stays
 *    on its LUN.
 * The supervisor unmounts only when it is told to stop, or when the
 * connection is gone anyway (someone unmounted it).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include "common/cmn-log.h"
#include "common/cmn-time.h"
#include "iscsi/isc-int.h"

/* Linux 6.9's notification; older headers lack it. */
#define LB_NOTIFY_RESEND 7
/* The unique id of a replayed INIT: even (a request, not an interrupt),
 * below the resend bit, far above anything the kernel counts up to. */
#define LB_REPLAY_UNIQUE 0x7ffffffffffffffeull
/* A worker that lived this long restarts at once; one that keeps dying
 * sooner waits 100 ms, doubling to 2 s, between restarts. */
#define LB_STABLE_MS      10000
#define LB_BACKOFF_MIN_MS 100
#define LB_BACKOFF_MAX_MS 2000
/* How long a worker told to stop may take before it is SIGKILLed. */
#define LB_STOP_GRACE_MS 10000

struct isc_lb_worker {
    struct isc_handoff *h;
    int fuse_fd; /* the connection, shared with the supervisor */
    int io_fd;   /* what this worker reads and answers on */
    bool resend; /* the kernel re-sent what a dead worker had taken */
    bool replaying;
    bool replay_answered;
    bool replay_differs;
};

/* ---- worker ----------------------------------------------------------- */

int isc_lb_worker_open(int fuse_fd, int state_fd, struct isc_lb_worker **ret_w)
{
    struct isc_lb_worker *w;
    void *p;

    if (fcntl(fuse_fd, F_GETFD) < 0 || fcntl(state_fd, F_GETFD) < 0)
        return -EBADF;
    p = mmap(NULL, sizeof(struct isc_handoff), PROT_READ | PROT_WRITE,
             MAP_SHARED, state_fd, 0);
    if (p == MAP_FAILED)
        return -errno;
    close(state_fd);
    if (isc_handoff_check(p) < 0) {
        munmap(p, sizeof(struct isc_handoff));
        return -EPROTO;
    }
    w = calloc(1, sizeof(*w));
    if (!w) {
        munmap(p, sizeof(struct isc_handoff));
        return -ENOMEM;
    }
    w->h = p;
    w->fuse_fd = fuse_fd;
    w->io_fd = -1;
    fcntl(fuse_fd, F_SETFD, FD_CLOEXEC);
    *ret_w = w;
    return 0;
}

void isc_lb_worker_free(struct isc_lb_worker *w)
{
    if (!w)
        return;
    munmap(w->h, sizeof(struct isc_handoff));
    /* io_fd belongs to the FUSE session, which closes it */
    if (w->fuse_fd != w->io_fd)
        close(w->fuse_fd);
    free(w);
}

struct isc_handoff *isc_lb_worker_handoff(struct isc_lb_worker *w)
{
    return w->h;
}

static size_t iov_total(const struct iovec *iov, int count)
{
    size_t n = 0;
    int i;

    for (i = 0; i < count; i++)
        n += iov[i].iov_len;
    return n;
}

static size_t iov_flatten(const struct iovec *iov, int count, uint8_t *buf,
                          size_t cap)
{
    size_t n = 0;
    int i;

    for (i = 0; i < count && n < cap; i++) {
        size_t k = iov[i].iov_len < cap - n ? iov[i].iov_len : cap - n;

        memcpy(buf + n, iov[i].iov_base, k);
        n += k;
    }
    return n;
}

ssize_t isc_lb_worker_read(struct isc_lb_worker *w, int fd, void *buf,
                           size_t len)
{
    for (;;) {
        ssize_t n = read(fd, buf, len);
        struct fuse_in_header ih;
        struct fuse_out_header oh;
        uint8_t reply[ISC_HANDOFF_INIT_MAX];

        if (n < (ssize_t)sizeof(ih))
            return n;
        memcpy(&ih, buf, sizeof(ih));
        if (ih.opcode != FUSE_INIT)
            return n;
        if (!isc_handoff_init_answered(w->h)) {
            /* Kept before libfuse answers: a worker killed right after
             * answering still leaves the request to replay. */
            if (isc_handoff_save_init(w->h, ih.unique, buf, (size_t)n) < 0)
                cmn_warn(CMN_LOG_ISCSI,
                         "FUSE INIT request of %zd bytes not kept: a "
                         "restarted worker could not serve this mount",
                         n);
            return n;
        }
        /* An INIT a dead worker had answered, sent again by the kernel:
         * it gets the answer it had. */
        memcpy(reply, w->h->init_reply, w->h->init_reply_len);
        memcpy(&oh, reply, sizeof(oh));
        oh.unique = ih.unique;
        memcpy(reply, &oh, sizeof(oh));
        if (write(fd, reply, w->h->init_reply_len) < 0)
            cmn_warn(CMN_LOG_ISCSI, "answering a re-sent FUSE INIT: %s",
                     strerror(errno));
    }
}

ssize_t isc_lb_worker_writev(struct isc_lb_worker *w, int fd, struct iovec *iov,
                             int count)
{
    struct fuse_out_header oh;
    uint8_t reply[ISC_HANDOFF_INIT_MAX];
    size_t n;

    if (count < 1 || iov[0].iov_len < sizeof(oh))
        return writev(fd, iov, count);
    memcpy(&oh, iov[0].iov_base, sizeof(oh));
    if (w->replaying && oh.unique == LB_REPLAY_UNIQUE) {
        /* The answer to the replayed INIT: the kernel has it already.
         * It should be the answer the kernel got. */
        n = iov_flatten(iov, count, reply, sizeof(reply));
        w->replay_answered = true;
        w->replay_differs =
            oh.error != 0 || n != w->h->init_reply_len ||
            memcmp(reply + sizeof(oh), w->h->init_reply + sizeof(oh),
                   n - sizeof(oh)) != 0;
        return (ssize_t)iov_total(iov, count);
    }
    if (!isc_handoff_init_answered(w->h) && w->h->init_req_len > 0 &&
        oh.unique == w->h->init_unique && oh.error == 0) {
        n = iov_flatten(iov, count, reply, sizeof(reply));
        if (n != iov_total(iov, count) ||
            isc_handoff_save_init_reply(w->h, oh.unique, reply, n) < 0)
            cmn_warn(CMN_LOG_ISCSI,
                     "FUSE INIT answer of %zu bytes not kept: a restarted "
                     "worker could not serve this mount",
                     iov_total(iov, count));
    }
    return writev(fd, iov, count);
}

static int mount_connection(struct isc_lb_worker *w, const char *mountpoint,
                            char *err, size_t errlen)
{
    char opts[256];

    snprintf(opts, sizeof(opts),
             "fd=%d,rootmode=%o,user_id=%u,group_id=%u,allow_other,"
             "default_permissions",
             w->fuse_fd, (unsigned)S_IFDIR, (unsigned)getuid(),
             (unsigned)getgid());
    if (mount("lunbridge", mountpoint, "fuse.lunbridge", MS_NOSUID | MS_NODEV,
              opts) < 0) {
        snprintf(err, errlen,
                 "cannot mount the FUSE connection at %s: %s (lunbridge "
                 "--supervise mounts with mount(2) and needs root)",
                 mountpoint, strerror(errno));
        return -errno;
    }
    w->h->mounted = 1;
    return 0;
}

/* Asks the kernel to queue again what a dead worker had read; -EINVAL on
 * kernels that predate the notification. */
static int notify_resend(int fd)
{
    struct fuse_out_header oh = {
        .len = sizeof(oh),
        .error = LB_NOTIFY_RESEND,
        .unique = 0,
    };

    if (write(fd, &oh, sizeof(oh)) < 0)
        return -errno;
    return 0;
}

static int clone_connection(int fuse_fd, int *ret_fd)
{
    uint32_t from = (uint32_t)fuse_fd;
    int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);

    if (fd < 0)
        return -errno;
    if (ioctl(fd, FUSE_DEV_IOC_CLONE, &from) < 0) {
        int rc = -errno;

        close(fd);
        return rc;
    }
    *ret_fd = fd;
    return 0;
}

/* Feeds the saved INIT to the session so libfuse (and lb's init) set up
 * the connection as the kernel agreed it with the first worker. */
static int replay_init(struct isc_lb_worker *w, struct fuse_session *se,
                       const char *mountpoint, char *err, size_t errlen)
{
    uint8_t req[ISC_HANDOFF_INIT_MAX] __attribute__((aligned(8)));
    struct fuse_in_header ih;
    struct fuse_buf fb = {0};

    memcpy(req, w->h->init_req, w->h->init_req_len);
    memcpy(&ih, req, sizeof(ih));
    ih.unique = LB_REPLAY_UNIQUE;
    memcpy(req, &ih, sizeof(ih));
    fb.mem = req;
    fb.size = w->h->init_req_len;
    w->replaying = true;
    fuse_session_process_buf(se, &fb);
    w->replaying = false;
    if (!w->replay_answered) {
        snprintf(err, errlen, "replaying the mount's FUSE INIT got no answer");
        return -EPROTO;
    }
    if (w->replay_differs)
        cmn_warn(CMN_LOG_ISCSI,
                 "this lunbridge answers FUSE INIT differently from the one "
                 "that mounted %s (upgraded libfuse?): if I/O fails, stop "
                 "lunbridge and start it again to mount afresh",
                 mountpoint);
    return 0;
}

int isc_lb_worker_attach(struct isc_lb_worker *w, struct fuse_session *se,
                         const struct fuse_custom_io *io,
                         const char *mountpoint, char *err, size_t errlen)
{
    int rc;

    if (!w->h->mounted) {
        rc = mount_connection(w, mountpoint, err, errlen);
        if (rc < 0)
            return rc;
    }
    /* The variable lets tests take the old kernels' path on a new one. */
    rc = getenv("KVMC_LUNBRIDGE_NO_RESEND") ? -EINVAL
                                            : notify_resend(w->fuse_fd);
    if (rc == 0) {
        w->resend = true;
        w->io_fd = w->fuse_fd;
    } else {
        cmn_info(CMN_LOG_ISCSI,
                 "the kernel cannot re-send FUSE requests (%s; Linux < "
                 "6.9?): requests in flight when a worker dies will fail "
                 "with ECONNABORTED",
                 strerror(-rc));
        rc = clone_connection(w->fuse_fd, &w->io_fd);
        if (rc < 0) {
            snprintf(err, errlen, "cannot clone the FUSE connection: %s",
                     strerror(-rc));
            return rc;
        }
    }
    rc = fuse_session_custom_io(se, io, w->io_fd);
    if (rc < 0) {
        snprintf(err, errlen, "cannot attach the FUSE connection: %s",
                 strerror(-rc));
        if (w->io_fd != w->fuse_fd)
            close(w->io_fd);
        w->io_fd = -1;
        return rc;
    }
    if (isc_handoff_init_answered(w->h))
        return replay_init(w, se, mountpoint, err, errlen);
    return 0;
}

bool isc_lb_worker_resends(const struct isc_lb_worker *w)
{
    return w->resend;
}

long isc_lb_worker_since_death(const struct isc_lb_worker *w, int *ret_pid)
{
    if (w->h->died_pid == 0)
        return -1;
    *ret_pid = w->h->died_pid;
    return (long)(cmn_now_ms() - w->h->died_ms);
}

/* ---- supervisor -------------------------------------------------------- */

struct lb_super {
    const char *mountpoint;
    char *const *argv; /* the worker's, ending with the --worker slot */
    size_t worker_slot;
    int fuse_fd;
    int state_fd;
    struct isc_handoff *h;
    sigset_t oldmask;
    bool stopping;     /* a termination signal came */
    uint64_t stop_at;  /* when the worker gets SIGKILL (UINT64_MAX: sent) */
    bool served;       /* a worker answered FUSE_INIT on this connection */
    unsigned restarts; /* workers started after the first */
    unsigned backoff;  /* ms to wait before starting the next worker */
};

static int conn_open(struct lb_super *s)
{
    s->fuse_fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
    if (s->fuse_fd < 0)
        return -errno;
    isc_handoff_reset(s->h);
    return 0;
}

/* The connection is dead or was never mounted: drop it and the mount. */
static void conn_drop(struct lb_super *s)
{
    bool mounted = s->h->mounted;

    if (s->fuse_fd >= 0)
        close(s->fuse_fd);
    s->fuse_fd = -1;
    /* With every descriptor closed the connection is aborted, so this
     * detaches our mount, not a live one of someone else. */
    if (mounted && umount2(s->mountpoint, MNT_DETACH) < 0 && errno != EINVAL)
        cmn_warn(CMN_LOG_ISCSI, "cannot unmount %s: %s", s->mountpoint,
                 strerror(errno));
    isc_handoff_reset(s->h);
}

/* Someone unmounted the file system or aborted the connection. */
static bool conn_gone(const struct lb_super *s)
{
    struct pollfd p = {.fd = s->fuse_fd, .events = POLLIN};

    return s->h->mounted && poll(&p, 1, 0) == 1 && (p.revents & POLLERR);
}

static pid_t spawn_worker(struct lb_super *s)
{
    pid_t parent = getpid(), pid;
    char arg[64];

    snprintf(arg, sizeof(arg), "--worker=%d,%d", s->fuse_fd, s->state_fd);
    pid = fork();
    if (pid != 0)
        return pid;
    /* Child: a worker that outlives its supervisor would hold the mount
     * with nobody to restart or unmount it. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(1);
    sigprocmask(SIG_SETMASK, &s->oldmask, NULL);
    fcntl(s->fuse_fd, F_SETFD, 0);
    fcntl(s->state_fd, F_SETFD, 0);
    ((char **)s->argv)[s->worker_slot] = arg;
    execv("/proc/self/exe", s->argv);
    fprintf(stderr, "lunbridge: cannot start the worker: %s\n",
            strerror(errno));
    _exit(127);
}

static void describe(int status, char *buf, size_t len)
{
    if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
}

/* The signals the supervisor blocks and waits for (sigwaitinfo). */
static void super_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGCHLD);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGUSR2);
}

/* Waits for a signal for at most `ms` (forever if < 0). */
static int wait_signal(int ms)
{
    sigset_t set;
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (long)(ms % 1000) * 1000000};

    super_signals(&set);
    return ms < 0 ? sigwaitinfo(&set, NULL) : sigtimedwait(&set, NULL, &ts);
}

/* The hand-off record the supervisor shares with its workers, and the
 * FUSE connection they serve. */
static int super_open(struct lb_super *s)
{
    s->state_fd = memfd_create("lunbridge-handoff", MFD_CLOEXEC);
    if (s->state_fd < 0 ||
        ftruncate(s->state_fd, sizeof(struct isc_handoff)) < 0) {
        cmn_err(CMN_LOG_ISCSI,
                "supervisor: cannot create the hand-off "
                "record: %s",
                strerror(errno));
        return -1;
    }
    s->h = mmap(NULL, sizeof(struct isc_handoff), PROT_READ | PROT_WRITE,
                MAP_SHARED, s->state_fd, 0);
    if (s->h == MAP_FAILED) {
        cmn_err(CMN_LOG_ISCSI,
                "supervisor: cannot map the hand-off "
                "record: %s",
                strerror(errno));
        return -1;
    }
    if (conn_open(s) < 0) {
        cmn_err(CMN_LOG_ISCSI, "supervisor: cannot open /dev/fuse: %s",
                strerror(errno));
        return -1;
    }
    return 0;
}

/* Waits for worker pid to end and returns its wait status. SIGUSR2 is
 * passed on; a termination signal becomes SIGTERM to the worker, and
 * SIGKILL LB_STOP_GRACE_MS later. */
static int wait_worker(struct lb_super *s, pid_t pid)
{
    int status = 0;

    for (;;) {
        int sig, left = -1;

        if (s->stopping) {
            uint64_t now = cmn_now_ms();

            left = s->stop_at == UINT64_MAX ? -1
                   : now >= s->stop_at      ? 0
                                            : (int)(s->stop_at - now);
            if (left == 0) {
                cmn_warn(CMN_LOG_ISCSI,
                         "supervisor: worker %d still running %d ms "
                         "after SIGTERM: SIGKILL",
                         (int)pid, LB_STOP_GRACE_MS);
                kill(pid, SIGKILL);
                s->stop_at = UINT64_MAX;
                left = -1;
            }
        }
        if (waitpid(pid, &status, WNOHANG) == pid)
            return status;
        sig = wait_signal(left);
        if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
            if (!s->stopping) {
                cmn_info(CMN_LOG_ISCSI,
                         "supervisor: %s: stopping worker %d, then "
                         "unmounting %s",
                         strsignal(sig), (int)pid, s->mountpoint);
                s->stop_at = cmn_now_ms() + LB_STOP_GRACE_MS;
            }
            s->stopping = true;
            kill(pid, SIGTERM);
        } else if (sig == SIGUSR2) {
            kill(pid, SIGUSR2);
        }
    }
}

/* Worker pid ended with wait status `status` (`how`, in words). Returns
 * true when another worker is to serve the connection, else false with
 * the supervisor's exit status in *ret_status. */
static bool worker_replaceable(struct lb_super *s, pid_t pid, int status,
                               const char *how, int *ret_status)
{
    *ret_status = 0;
    if (s->stopping)
        return false;
    if (conn_gone(s)) {
        cmn_info(CMN_LOG_ISCSI,
                 "supervisor: worker %d %s and the FUSE connection at "
                 "%s has ended (unmounted?): exiting",
                 (int)pid, how, s->mountpoint);
        s->h->mounted = 0; /* nothing left to unmount */
        return false;
    }
    if (isc_handoff_init_answered(s->h)) {
        s->served = true;
        return true;
    }
    /* No worker ever served this connection. Before any did, a failure
     * to start is final, as without the supervisor. */
    if (!s->served && WIFEXITED(status) &&
        (WEXITSTATUS(status) == 1 || WEXITSTATUS(status) == 2)) {
        *ret_status = WEXITSTATUS(status);
        return false;
    }
    /* A half-set-up connection (mounted, INIT not answered) is started
     * afresh rather than trusted. */
    conn_drop(s);
    if (conn_open(s) < 0) {
        cmn_err(CMN_LOG_ISCSI, "supervisor: cannot open /dev/fuse: %s",
                strerror(errno));
        *ret_status = 1;
        return false;
    }
    return true;
}

/* Says that worker pid (started at t0) ended and waits before starting
 * the next: no wait after a worker that ran LB_STABLE_MS, then a backoff
 * that doubles up to LB_BACKOFF_MAX_MS. Returns false when a termination
 * signal came meanwhile. */
static bool restart_delay(struct lb_super *s, pid_t pid, const char *how,
                          uint64_t t0)
{
    if (cmn_now_ms() - t0 >= LB_STABLE_MS)
        s->backoff = 0;
    s->restarts++;
    cmn_warn(CMN_LOG_ISCSI,
             "supervisor: worker %d %s after %.1f s; starting worker "
             "#%u in %u ms (restart %u), the mount at %s stays",
             (int)pid, how, (double)(cmn_now_ms() - t0) / 1000.0,
             s->restarts + 1, s->backoff, s->restarts, s->mountpoint);
    if (s->backoff > 0) {
        uint64_t until = cmn_now_ms() + s->backoff;

        while (!s->stopping && cmn_now_ms() < until) {
            int sig = wait_signal((int)(until - cmn_now_ms()));

            if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP)
                s->stopping = true;
        }
        if (s->stopping)
            return false;
    }
    s->backoff = s->backoff == 0                      ? LB_BACKOFF_MIN_MS
                 : s->backoff * 2 > LB_BACKOFF_MAX_MS ? LB_BACKOFF_MAX_MS
                                                      : s->backoff * 2;
    return true;
}

/* The supervisor leaves: unmounts what is mounted, closes the rest. */
static void super_close(struct lb_super *s)
{
    if (s->h->mounted) {
        if (umount2(s->mountpoint, MNT_DETACH) < 0)
            cmn_warn(CMN_LOG_ISCSI, "supervisor: cannot unmount %s: %s",
                     s->mountpoint, strerror(errno));
        else
            cmn_info(CMN_LOG_ISCSI, "unmounted %s", s->mountpoint);
    }
    if (s->fuse_fd >= 0)
        close(s->fuse_fd);
    munmap(s->h, sizeof(struct isc_handoff));
    close(s->state_fd);
}

int isc_lb_supervise(const char *mountpoint, char *const *argv,
                     size_t worker_slot)
{
    struct lb_super s = {
        .mountpoint = mountpoint,
        .argv = argv,
        .worker_slot = worker_slot,
        .fuse_fd = -1,
    };
    sigset_t set;
    int ret = 0;

    super_signals(&set);
    sigprocmask(SIG_BLOCK, &set, &s.oldmask);
    if (super_open(&s) < 0)
        return 1;
    for (;;) {
        uint64_t t0 = cmn_now_ms();
        pid_t pid = spawn_worker(&s);
        int status;
        char how[96];

        if (pid < 0) {
            cmn_err(CMN_LOG_ISCSI, "supervisor: cannot fork a worker: %s",
                    strerror(errno));
            ret = 1;
            break;
        }
        cmn_info(CMN_LOG_ISCSI, "supervisor: worker %d started", (int)pid);
        status = wait_worker(&s, pid);
        describe(status, how, sizeof(how));
        s.h->died_ms = cmn_now_ms();
        s.h->died_pid = (int32_t)pid;
        if (!worker_replaceable(&s, pid, status, how, &ret) ||
            !restart_delay(&s, pid, how, t0))
            break;
    }
    super_close(&s);
    return ret;
}
