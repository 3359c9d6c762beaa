/* lunbridge: iSCSI LUNs as plain files under a FUSE mount.
 *
 * One regular file per LUN, named by the LUN's stable id (VPD 0x83 NAA or
 * EUI designator), sized as the LUN. Reads and writes become READ(16) /
 * WRITE(16) of whole logical blocks (unaligned writes are read-modify-
 * write under a per-LUN lock), fsync becomes SYNCHRONIZE CACHE. Every file
 * is opened direct_io: nothing is cached here, so two nodes bridging the
 * same LUN see each other's writes, as sanlock needs.
 *
 * The FUSE multithreaded loop runs several requests at once and each
 * session's worker keeps all of them in flight on its connection. Only
 * reads, writes and fsync wait on the target, and never longer than the
 * deadline: lookup, getattr and readdir answer from memory, so the mount
 * never hangs whatever the target does.
 */
#include "config.h"

#define FUSE_USE_VERSION 312

#include <errno.h>
#include <stdbool.h>
#include <fuse_lowlevel.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/cmn-err.h"
#include "common/cmn-file.h"
#include "common/cmn-log.h"
#include "common/cmn-time.h"
#include "iscsi/isc-int.h"

#define LB_MAX_THREADS        64
#define LB_ERRLOG_INTERVAL_MS 1000

struct lb_target {
    const struct isc_lb_target *cfg;
    char *iqn;
    struct isc_session *s;
    struct lb *lb;
    uint64_t last_expired_log;
    unsigned suppressed;
    bool logged_in_once; /* a later login is a reconnect */
    uint64_t lost_ms;    /* when the connection dropped, 0 = up (atomic) */
};

struct lb_lun {
    struct lb_target *t;
    struct isc_lun_info info;
    uint64_t size;
    fuse_ino_t ino;
    /* Gate between plain I/O and read-modify-write: an RMW must not
     * interleave with any other I/O of the LUN, plain I/O may overlap.
     * Not a rwlock: an asynchronous read leaves on another thread. */
    pthread_mutex_t gate;
    pthread_cond_t gate_cond;
    unsigned plain;        /* plain I/Os in progress */
    bool rmw;              /* an RMW in progress */
    uint64_t last_err_log; /* racy on purpose: only rate-limits logging */
    struct isc_lun_stats own_stats; /* without --supervise (lun_stats()) */
};

struct lb {
    struct isc_lb_config *cfg;
    struct lb_target *targets;
    size_t ntargets;
    struct lb_lun *luns;
    size_t nluns;
    /* By inode number - 2: a worker under --supervise keeps the numbers
     * the kernel already knows, and a LUN not found again is a hole. */
    struct lb_lun **by_ino;
    size_t nby_ino;
    struct isc_lb_worker *worker; /* NULL unless run as a worker */
    struct timespec started;
    /* Asynchronous reads not yet answered: the FUSE session must outlive
     * them. */
    pthread_mutex_t async_lock;
    pthread_cond_t async_cond;
    unsigned async_reads;
    /* The metrics writer (metrics-file): a thread of its own, stopped
     * before the sessions it reads are freed. */
    pthread_t metrics_thread;
    bool metrics_running, metrics_stop;
    pthread_mutex_t metrics_lock;
    pthread_cond_t metrics_cond;
    uint32_t handoff_nluns; /* LUNs a previous worker served */
};

/* Where LUN l's counters live: in the hand-off record under --supervise,
 * so they outlive the worker; in the LUN otherwise. */
static struct isc_lun_stats *lun_stats(struct lb *lb, struct lb_lun *l)
{
    if (lb->worker)
        return &isc_lb_worker_handoff(lb->worker)->stats[l->ino - 2];
    return &l->own_stats;
}

/* ---- logging of session events ------------------------------------------ */

static const char *lun_name(struct lb_target *t, int lun)
{
    size_t i;

    if (!t->lb)
        return "?";
    for (i = 0; i < t->lb->nluns; i++)
        if (t->lb->luns[i].t == t && (int)t->lb->luns[i].info.lun == lun)
            return t->lb->luns[i].info.id;
    return "?";
}

static void on_event(const struct isc_event *ev, void *opaque)
{
    struct lb_target *t = opaque;
    const char *name = t->cfg->name;

    switch (ev->kind) {
    case ISC_EV_CONNECTED:
        cmn_info(CMN_LOG_ISCSI, "target '%s' (%s): %s at portal %s", name,
                 ev->target, ev->reason, ev->portal);
        __atomic_store_n(&t->lost_ms, 0, __ATOMIC_RELAXED);
        if (t->logged_in_once && t->lb)
            for (size_t i = 0; i < t->lb->nluns; i++)
                if (t->lb->luns[i].t == t)
                    isc_lun_stats_reconnect(lun_stats(t->lb, &t->lb->luns[i]));
        t->logged_in_once = true;
        break;
    case ISC_EV_CONN_LOST:
        if (!__atomic_load_n(&t->lost_ms, __ATOMIC_RELAXED))
            __atomic_store_n(&t->lost_ms, cmn_now_ms(), __ATOMIC_RELAXED);
        cmn_warn(CMN_LOG_ISCSI,
                 "target '%s' (%s): connection to portal %s lost: %s; "
                 "reconnecting",
                 name, ev->target, ev->portal, ev->reason);
        break;
    case ISC_EV_RECONNECT_FAIL:
        /* Every 2 s while a target is down: the first few, then 1 in 10. */
        if (ev->attempt <= 3 || ev->attempt % 10 == 0)
            cmn_warn(CMN_LOG_ISCSI,
                     "target '%s' (%s): reconnect attempt %d at portal %s "
                     "failed: %s",
                     name, ev->target, ev->attempt, ev->portal, ev->reason);
        break;
    case ISC_EV_CMD_EXPIRED: {
        uint64_t now = cmn_now_ms();

        if (now - t->last_expired_log < LB_ERRLOG_INTERVAL_MS) {
            t->suppressed++;
            break;
        }
        cmn_err(CMN_LOG_ISCSI,
                "target '%s' (%s) LUN %d (%s) at portal %s: %s got no "
                "completion within the %u ms deadline: EIO to the reader "
                "(%u similar suppressed)",
                name, ev->target, ev->lun, lun_name(t, ev->lun), ev->portal,
                ev->reason, t->lb ? t->lb->cfg->deadline_ms : 0, t->suppressed);
        t->last_expired_log = now;
        t->suppressed = 0;
        break;
    }
    case ISC_EV_CMD_FAILED:
        cmn_err(CMN_LOG_ISCSI, "target '%s' (%s) LUN %d (%s) at portal %s: %s",
                name, ev->target, ev->lun, lun_name(t, ev->lun), ev->portal,
                ev->reason);
        break;
    }
}

static void log_io_error(struct lb_lun *l, const char *what, uint64_t off,
                         size_t len, int rc)
{
    uint64_t now = cmn_now_ms();

    if (now - l->last_err_log < LB_ERRLOG_INTERVAL_MS)
        return;
    l->last_err_log = now;
    cmn_err(CMN_LOG_ISCSI,
            "LUN %s (target '%s', LUN %u): %s of %zu bytes at %llu failed: "
            "%s",
            l->info.id, l->t->cfg->name, l->info.lun, what, len,
            (unsigned long long)off, cmn_strerror(rc));
}

/* ---- FUSE operations -------------------------------------------------- */

static struct lb_lun *lun_of(struct lb *lb, fuse_ino_t ino)
{
    if (ino < 2 || ino - 2 >= lb->nby_ino)
        return NULL;
    return lb->by_ino[ino - 2];
}

static void fill_attr(struct lb *lb, fuse_ino_t ino, struct stat *st)
{
    struct lb_lun *l = lun_of(lb, ino);

    memset(st, 0, sizeof(*st));
    st->st_ino = ino;
    st->st_atim = st->st_mtim = st->st_ctim = lb->started;
    if (!l) {
        st->st_mode = S_IFDIR | 0755;
        st->st_nlink = 2;
        return;
    }
    st->st_mode = S_IFREG | 0600;
    st->st_nlink = 1;
    st->st_size = (off_t)l->size;
    st->st_blocks = (blkcnt_t)(l->size / 512);
    st->st_blksize = l->info.block_size > 4096 ? l->info.block_size : 4096;
}

static void lb_init(void *userdata, struct fuse_conn_info *conn)
{
    (void)userdata;
    /* Async direct I/O lets one io_submit() put several requests in
     * flight (QEMU aio=native, qemu-img bench). */
    if (conn->capable & FUSE_CAP_ASYNC_DIO)
        conn->want |= FUSE_CAP_ASYNC_DIO;
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
    conn->max_background = LB_MAX_THREADS;
    conn->congestion_threshold = LB_MAX_THREADS * 3 / 4;
}

static void lb_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct lb *lb = fuse_req_userdata(req);
    struct fuse_entry_param e = {0};
    size_t i;

    if (parent != FUSE_ROOT_ID) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    for (i = 0; i < lb->nluns; i++) {
        if (strcmp(lb->luns[i].info.id, name) == 0) {
            e.ino = lb->luns[i].ino;
            e.attr_timeout = 1.0;
            e.entry_timeout = 1.0;
            fill_attr(lb, e.ino, &e.attr);
            fuse_reply_entry(req, &e);
            return;
        }
    }
    fuse_reply_err(req, ENOENT);
}

static void lb_getattr(fuse_req_t req, fuse_ino_t ino,
                       struct fuse_file_info *fi)
{
    struct lb *lb = fuse_req_userdata(req);
    struct stat st;

    (void)fi;
    if (ino != FUSE_ROOT_ID && !lun_of(lb, ino)) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    fill_attr(lb, ino, &st);
    fuse_reply_attr(req, &st, 1.0);
}

static void lb_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
                       int to_set, struct fuse_file_info *fi)
{
    struct lb *lb = fuse_req_userdata(req);
    struct lb_lun *l = lun_of(lb, ino);
    struct stat st;

    (void)fi;
    /* A LUN's size is the target's business: truncating to the same size
     * (O_TRUNC by habit) is harmless, anything else is refused. */
    if ((to_set & FUSE_SET_ATTR_SIZE) &&
        (!l || (uint64_t)attr->st_size != l->size)) {
        fuse_reply_err(req, l ? EINVAL : EISDIR);
        return;
    }
    if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
        fuse_reply_err(req, EPERM);
        return;
    }
    fill_attr(lb, ino, &st);
    fuse_reply_attr(req, &st, 1.0);
}

static void lb_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    struct lb *lb = fuse_req_userdata(req);
    char *buf;
    size_t used = 0, i;
    off_t pos;

    (void)fi;
    if (ino != FUSE_ROOT_ID) {
        fuse_reply_err(req, ENOTDIR);
        return;
    }
    buf = malloc(size);
    if (!buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    /* Entry k (0 ".", 1 "..", 2.. LUNs) carries offset k + 1. */
    for (pos = off; (size_t)pos < lb->nluns + 2; pos++) {
        struct stat st = {0};
        const char *name;
        size_t n;

        if (pos == 0) {
            name = ".";
            st.st_ino = FUSE_ROOT_ID;
            st.st_mode = S_IFDIR;
        } else if (pos == 1) {
            name = "..";
            st.st_ino = FUSE_ROOT_ID;
            st.st_mode = S_IFDIR;
        } else {
            i = (size_t)pos - 2;
            name = lb->luns[i].info.id;
            st.st_ino = lb->luns[i].ino;
            st.st_mode = S_IFREG;
        }
        n = fuse_add_direntry(req, buf + used, size - used, name, &st, pos + 1);
        if (n > size - used)
            break;
        used += n;
    }
    fuse_reply_buf(req, buf, used);
    free(buf);
}

static void lb_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct lb *lb = fuse_req_userdata(req);

    if (ino == FUSE_ROOT_ID) {
        fuse_reply_err(req, EISDIR);
        return;
    }
    if (!lun_of(lb, ino)) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    /* No page cache: another node writes the same LUN. */
    fi->direct_io = 1;
    fi->keep_cache = 0;
    fi->noflush = 1;
    fuse_reply_open(req, fi);
}

static void *alloc_blocks(size_t len)
{
    void *p = NULL;

    if (posix_memalign(&p, 4096, len ? len : 4096) != 0)
        return NULL;
    return p;
}

static void gate_enter_plain(struct lb_lun *l)
{
    pthread_mutex_lock(&l->gate);
    while (l->rmw)
        pthread_cond_wait(&l->gate_cond, &l->gate);
    l->plain++;
    pthread_mutex_unlock(&l->gate);
}

static void gate_exit_plain(struct lb_lun *l)
{
    pthread_mutex_lock(&l->gate);
    if (--l->plain == 0)
        pthread_cond_broadcast(&l->gate_cond);
    pthread_mutex_unlock(&l->gate);
}

static void gate_enter_rmw(struct lb_lun *l)
{
    pthread_mutex_lock(&l->gate);
    while (l->rmw || l->plain > 0)
        pthread_cond_wait(&l->gate_cond, &l->gate);
    l->rmw = true;
    pthread_mutex_unlock(&l->gate);
}

static void gate_exit_rmw(struct lb_lun *l)
{
    pthread_mutex_lock(&l->gate);
    l->rmw = false;
    pthread_cond_broadcast(&l->gate_cond);
    pthread_mutex_unlock(&l->gate);
}

/* Read buffers outlive the FUSE thread that asked (the answer leaves from
 * the session's worker), so they come from a small free list instead of
 * being allocated, faulted in and unmapped for every request. */
#define POOL_MAX 64
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static void *pool[POOL_MAX];
static size_t pool_len[POOL_MAX];
static unsigned pool_n;

static void *pool_get(size_t len, size_t *ret_cap)
{
    void *p = NULL;
    unsigned i;

    pthread_mutex_lock(&pool_lock);
    for (i = 0; i < pool_n; i++) {
        if (pool_len[i] >= len) {
            p = pool[i];
            *ret_cap = pool_len[i];
            pool[i] = pool[pool_n - 1];
            pool_len[i] = pool_len[pool_n - 1];
            pool_n--;
            break;
        }
    }
    pthread_mutex_unlock(&pool_lock);
    if (p)
        return p;
    /* Round up so one buffer serves any request up to 1 MiB + a block. */
    *ret_cap = len < (1u << 20) + 65536 ? (1u << 20) + 65536 : len;
    return alloc_blocks(*ret_cap);
}

static void pool_put(void *p, size_t cap)
{
    pthread_mutex_lock(&pool_lock);
    if (pool_n < POOL_MAX) {
        pool[pool_n] = p;
        pool_len[pool_n] = cap;
        pool_n++;
        p = NULL;
    }
    pthread_mutex_unlock(&pool_lock);
    free(p);
}

static void pool_drain(void)
{
    pthread_mutex_lock(&pool_lock);
    while (pool_n > 0)
        free(pool[--pool_n]);
    pthread_mutex_unlock(&pool_lock);
}

struct async_read {
    fuse_req_t req;
    struct lb *lb;
    struct lb_lun *l;
    char *buf;
    size_t cap;
    uint32_t head;
    size_t len;
    off_t off;
    size_t size;
    uint64_t t0_us;
};

static void async_read_done(int rc, void *opaque)
{
    struct async_read *ar = opaque;
    struct lb *lb = ar->lb;

    gate_exit_plain(ar->l);
    isc_lun_stats_io(lun_stats(lb, ar->l), cmn_now_us() - ar->t0_us);
    if (rc < 0) {
        log_io_error(ar->l, "read", (uint64_t)ar->off, ar->size, rc);
        fuse_reply_err(ar->req, EIO);
    } else {
        fuse_reply_buf(ar->req, ar->buf + ar->head, ar->len);
    }
    pool_put(ar->buf, ar->cap);
    free(ar);
    pthread_mutex_lock(&lb->async_lock);
    if (--lb->async_reads == 0)
        pthread_cond_broadcast(&lb->async_cond);
    pthread_mutex_unlock(&lb->async_lock);
}

/* Reads are answered from the session's worker as soon as the data is
 * in: no hand-back to a FUSE thread, and the data is still in that CPU's
 * cache when it is copied to the reader. */
static void lb_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    struct lb *lb = fuse_req_userdata(req);
    struct lb_lun *l = lun_of(lb, ino);
    struct isc_span sp;
    struct async_read *ar;
    size_t blen;
    int rc;

    (void)fi;
    if (!l) {
        fuse_reply_err(req, ino == FUSE_ROOT_ID ? EISDIR : EIO);
        return;
    }
    cmn_debug(CMN_LOG_ISCSI, "read %s: %zu bytes at %lld", l->info.id, size,
              (long long)off);
    rc = isc_span_compute((uint64_t)off, size, l->info.block_size, l->size,
                          false, &sp);
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    if (sp.len == 0) {
        fuse_reply_buf(req, NULL, 0);
        return;
    }
    ar = calloc(1, sizeof(*ar));
    if (!ar) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    blen = (size_t)sp.nblocks * l->info.block_size;
    ar->buf = pool_get(blen, &ar->cap);
    if (!ar->buf) {
        free(ar);
        fuse_reply_err(req, ENOMEM);
        return;
    }
    ar->req = req;
    ar->lb = lb;
    ar->l = l;
    ar->head = sp.head;
    ar->len = sp.len;
    ar->off = off;
    ar->size = size;
    pthread_mutex_lock(&lb->async_lock);
    lb->async_reads++;
    pthread_mutex_unlock(&lb->async_lock);
    gate_enter_plain(l);
    ar->t0_us = cmn_now_us();
    rc = isc_read_async(l->t->s, l->info.lun, l->info.block_size, sp.lba,
                        ar->buf, blen, async_read_done, ar);
    if (rc < 0)
        async_read_done(rc, ar);
}

/* Unaligned write: read the partial end blocks, patch, write back, all
 * under the LUN's write lock so no other write lands in between. */
static int write_rmw(struct lb_lun *l, const struct isc_span *sp,
                     const char *data)
{
    uint32_t bs = l->info.block_size;
    size_t blen = (size_t)sp->nblocks * bs;
    char *buf = alloc_blocks(blen);
    int rc = 0;

    if (!buf)
        return -ENOMEM;
    gate_enter_rmw(l);
    if (sp->partial_head)
        rc = isc_read(l->t->s, l->info.lun, bs, sp->lba, buf, bs);
    if (rc == 0 && sp->partial_tail && (sp->nblocks > 1 || !sp->partial_head))
        rc = isc_read(l->t->s, l->info.lun, bs, sp->lba + sp->nblocks - 1,
                      buf + blen - bs, bs);
    if (rc == 0) {
        memcpy(buf + sp->head, data, sp->len);
        rc = isc_write(l->t->s, l->info.lun, bs, sp->lba, buf, blen);
    }
    gate_exit_rmw(l);
    free(buf);
    return rc;
}

static void lb_write(fuse_req_t req, fuse_ino_t ino, const char *data,
                     size_t size, off_t off, struct fuse_file_info *fi)
{
    struct lb *lb = fuse_req_userdata(req);
    struct lb_lun *l = lun_of(lb, ino);
    struct isc_span sp;
    uint64_t t0;
    int rc;

    (void)fi;
    if (!l) {
        fuse_reply_err(req, ino == FUSE_ROOT_ID ? EISDIR : EIO);
        return;
    }
    rc = isc_span_compute((uint64_t)off, size, l->info.block_size, l->size,
                          true, &sp);
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    if (sp.len == 0) {
        fuse_reply_write(req, 0);
        return;
    }
    t0 = cmn_now_us();
    if (isc_span_needs_rmw(&sp)) {
        rc = write_rmw(l, &sp, data);
    } else {
        gate_enter_plain(l);
        rc = isc_write(l->t->s, l->info.lun, l->info.block_size, sp.lba, data,
                       sp.len);
        gate_exit_plain(l);
    }
    isc_lun_stats_io(lun_stats(lb, l), cmn_now_us() - t0);
    if (rc < 0) {
        log_io_error(l, "write", (uint64_t)off, size, rc);
        fuse_reply_err(req, rc == -ENOMEM ? ENOMEM : EIO);
        return;
    }
    fuse_reply_write(req, sp.len);
}

static void lb_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
                     struct fuse_file_info *fi)
{
    struct lb *lb = fuse_req_userdata(req);
    struct lb_lun *l = lun_of(lb, ino);
    int rc;

    (void)datasync;
    (void)fi;
    if (!l) {
        fuse_reply_err(req, 0);
        return;
    }
    rc = isc_sync_cache(l->t->s, l->info.lun);
    if (rc < 0) {
        log_io_error(l, "SYNCHRONIZE CACHE", 0, 0, rc);
        fuse_reply_err(req, EIO);
        return;
    }
    fuse_reply_err(req, 0);
}

static void lb_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    (void)fi;
    fuse_reply_err(req, 0);
}

static void lb_statfs(fuse_req_t req, fuse_ino_t ino)
{
    struct lb *lb = fuse_req_userdata(req);
    struct statvfs sv = {0};
    uint64_t total = 0;
    size_t i;

    (void)ino;
    for (i = 0; i < lb->nluns; i++)
        total += lb->luns[i].size;
    sv.f_bsize = 4096;
    sv.f_frsize = 4096;
    sv.f_blocks = total / 4096;
    sv.f_files = lb->nluns + 1;
    sv.f_namemax = ISC_ID_MAX - 1;
    fuse_reply_statfs(req, &sv);
}

static const struct fuse_lowlevel_ops lb_ops = {
    .init = lb_init,
    .lookup = lb_lookup,
    .getattr = lb_getattr,
    .setattr = lb_setattr,
    .readdir = lb_readdir,
    .open = lb_open,
    .read = lb_read,
    .write = lb_write,
    .flush = lb_flush,
    .fsync = lb_fsync,
    .statfs = lb_statfs,
};

/* ---- start-up -------------------------------------------------------- */

static int add_lun(struct lb *lb, struct lb_target *t,
                   const struct isc_lun_info *info)
{
    struct lb_lun *l;
    uint64_t ino = 2 + lb->nluns;
    size_t i;
    int rc;

    for (i = 0; i < lb->nluns; i++) {
        if (strcmp(lb->luns[i].info.id, info->id) == 0) {
            cmn_warn(CMN_LOG_ISCSI,
                     "target '%s' LUN %u has id %s, already exported from "
                     "target '%s' LUN %u: skipping the second path",
                     t->cfg->name, info->lun, info->id,
                     lb->luns[i].t->cfg->name, lb->luns[i].info.lun);
            return 0;
        }
    }
    if (lb->worker) {
        struct isc_handoff *h = isc_lb_worker_handoff(lb->worker);

        rc = isc_handoff_ino(h, info->id, &ino);
        if (rc < 0) {
            cmn_err(CMN_LOG_ISCSI,
                    "target '%s' LUN %u (%s): no inode number left (at most "
                    "%d LUNs per mount): not exported",
                    t->cfg->name, info->lun, info->id, ISC_HANDOFF_MAX_LUNS);
            return 0;
        }
        /* A LUN a dead worker served: this worker's login to it is a
         * reconnect of the LUN. */
        if (ino - 2 < lb->handoff_nluns)
            isc_lun_stats_reconnect(&h->stats[ino - 2]);
    }
    l = realloc(lb->luns, (lb->nluns + 1) * sizeof(*l));
    if (!l)
        return -ENOMEM;
    lb->luns = l;
    l = &lb->luns[lb->nluns];
    memset(l, 0, sizeof(*l));
    l->t = t;
    l->info = *info;
    l->size = info->nblocks * info->block_size;
    l->ino = ino;
    pthread_mutex_init(&l->gate, NULL);
    pthread_cond_init(&l->gate_cond, NULL);
    lb->nluns++;
    return isc_session_pin_id(t->s, info->lun, info->id);
}

static int open_target(struct lb *lb, const struct isc_lb_target *tc,
                       const char *iqn)
{
    struct lb_target *t = &lb->targets[lb->ntargets];
    struct isc_target_opts o = {
        .initiator_name = lb->cfg->initiator_name,
        .portals = (const char *const *)tc->portals,
        .nportals = tc->nportals,
        .iqn = iqn,
        .auth = {tc->chap_user, tc->chap_secret, tc->mutual_user,
                 tc->mutual_secret},
        .deadline_ms = lb->cfg->deadline_ms,
        .on_event = on_event,
        .opaque = t,
    };
    uint32_t *luns = NULL;
    size_t n = 0, i;
    char err[512] = "";
    int rc;

    memset(t, 0, sizeof(*t));
    t->cfg = tc;
    t->lb = NULL; /* set once the LUN table is complete */
    t->iqn = strdup(iqn);
    if (!t->iqn)
        return -ENOMEM;
    rc = isc_session_open(&o, &t->s, err, sizeof(err));
    if (rc < 0) {
        cmn_err(CMN_LOG_ISCSI, "target '%s' (%s) at portal %s: %s: %s",
                tc->name, iqn, tc->portals[0], cmn_strerror(rc), err);
        free(t->iqn);
        return rc;
    }
    lb->ntargets++;
    rc = isc_report_luns(t->s, &luns, &n);
    if (rc < 0) {
        cmn_err(CMN_LOG_ISCSI, "target '%s' (%s): REPORT LUNS failed: %s",
                tc->name, iqn, cmn_strerror(rc));
        return rc;
    }
    for (i = 0; i < n; i++) {
        struct isc_lun_info info;

        rc = isc_lun_probe(t->s, luns[i], &info);
        if (rc == -ENOTBLK || rc == -ISC_E_NO_LUN) {
            /* tgt's LUN 0 is its controller: not a disk, not an error. */
            cmn_debug(CMN_LOG_ISCSI, "target '%s' LUN %u: not a disk", tc->name,
                      luns[i]);
            continue;
        }
        if (rc < 0) {
            cmn_err(CMN_LOG_ISCSI,
                    "target '%s' (%s) LUN %u: probe failed: %s; not "
                    "exported",
                    tc->name, iqn, luns[i], cmn_strerror(rc));
            continue;
        }
        if (info.id_from_serial)
            cmn_warn(CMN_LOG_ISCSI,
                     "target '%s' (%s) LUN %u has no NAA/EUI designator in "
                     "VPD page 0x83: named by its serial '%s' as %s, which "
                     "is only as unique as the target makes it",
                     tc->name, iqn, luns[i], info.serial, info.id);
        rc = add_lun(lb, t, &info);
        if (rc < 0)
            break;
        cmn_info(CMN_LOG_ISCSI,
                 "target '%s' (%s) LUN %u: %s %s, %llu blocks of %u bytes "
                 "(%llu MiB), exported as %s",
                 tc->name, iqn, luns[i], info.vendor, info.product,
                 (unsigned long long)info.nblocks, info.block_size,
                 (unsigned long long)(info.nblocks * info.block_size >> 20),
                 info.id);
    }
    free(luns);
    return rc < 0 && rc != -ENOTBLK && rc != -ISC_E_NO_LUN ? rc : 0;
}

static int open_targets(struct lb *lb)
{
    size_t i, j, cap = 0;
    int failed = 0;

    for (i = 0; i < lb->cfg->ntargets; i++)
        cap += lb->cfg->targets[i].discovery ? 64 : 1;
    lb->targets = calloc(cap, sizeof(*lb->targets));
    if (!lb->targets)
        return -ENOMEM;
    for (i = 0; i < lb->cfg->ntargets; i++) {
        const struct isc_lb_target *tc = &lb->cfg->targets[i];
        struct isc_auth auth = {tc->chap_user, tc->chap_secret, tc->mutual_user,
                                tc->mutual_secret};
        char **iqns = NULL;
        char err[512] = "";
        int rc;

        if (!tc->discovery) {
            if (open_target(lb, tc, tc->iqn) < 0)
                failed++;
            continue;
        }
        rc = isc_discover(lb->cfg->initiator_name, tc->portals[0], &auth,
                          lb->cfg->deadline_ms, &iqns, err, sizeof(err));
        if (rc < 0) {
            cmn_err(CMN_LOG_ISCSI,
                    "target '%s': SendTargets discovery at portal %s "
                    "failed: %s: %s",
                    tc->name, tc->portals[0], cmn_strerror(rc), err);
            failed++;
            continue;
        }
        for (j = 0; iqns[j]; j++) {
            if (j >= 64) {
                cmn_warn(CMN_LOG_ISCSI,
                         "target '%s': discovery offered more than 64 "
                         "targets; ignoring the rest",
                         tc->name);
                break;
            }
            cmn_info(CMN_LOG_ISCSI, "target '%s': discovered %s at %s",
                     tc->name, iqns[j], tc->portals[0]);
            if (open_target(lb, tc, iqns[j]) < 0)
                failed++;
        }
        if (!iqns[0])
            cmn_warn(CMN_LOG_ISCSI,
                     "target '%s': portal %s offers no target to initiator "
                     "%s",
                     tc->name, tc->portals[0], lb->cfg->initiator_name);
        isc_strv_free(iqns);
    }
    for (i = 0; i < lb->ntargets; i++)
        lb->targets[i].lb = lb;
    return failed;
}

/* lun_of()'s table. A worker also names the LUNs the previous worker
 * served and this one did not find: their files answer EIO. */
static int index_luns(struct lb *lb)
{
    struct isc_handoff *h =
        lb->worker ? isc_lb_worker_handoff(lb->worker) : NULL;
    size_t n = h ? h->nluns : lb->nluns, i;

    lb->by_ino = calloc(n ? n : 1, sizeof(*lb->by_ino));
    if (!lb->by_ino)
        return -ENOMEM;
    lb->nby_ino = n;
    for (i = 0; i < lb->nluns; i++)
        lb->by_ino[lb->luns[i].ino - 2] = &lb->luns[i];
    for (i = 0; i < n; i++)
        if (!lb->by_ino[i] && h)
            cmn_err(CMN_LOG_ISCSI,
                    "LUN %s, served under %s before this worker started, "
                    "was not found again (see the target's errors above): "
                    "its file answers EIO; once the target offers it, "
                    "SIGTERM this worker (pid %d) and the supervisor starts "
                    "one that looks again",
                    h->ids[i], lb->cfg->mountpoint, (int)getpid());
    return 0;
}

static void close_targets(struct lb *lb)
{
    size_t i;

    for (i = 0; i < lb->ntargets; i++) {
        isc_session_free(lb->targets[i].s);
        free(lb->targets[i].iqn);
    }
    free(lb->targets);
    for (i = 0; i < lb->nluns; i++) {
        pthread_mutex_destroy(&lb->luns[i].gate);
        pthread_cond_destroy(&lb->luns[i].gate_cond);
    }
    free(lb->luns);
    free(lb->by_ino);
}

/* ---- metrics ------------------------------------------------------------ */

/* Writes the metrics of every LUN to metrics-file (beside it, then
 * renamed over it: node-exporter never reads half a file). A worker also
 * shows the LUNs a dead worker served and it did not find, as down. */
static int metrics_write(struct lb *lb, const char *node)
{
    struct isc_handoff *h =
        lb->worker ? isc_lb_worker_handoff(lb->worker) : NULL;
    size_t n = h ? h->nluns : lb->nluns;
    struct isc_metrics_lun *m = calloc(n ? n : 1, sizeof(*m));
    uint64_t now = cmn_now_ms();
    char *text = NULL;
    int rc;

    if (!m)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        struct lb_lun *l =
            h ? (i < lb->nby_ino ? lb->by_ino[i] : NULL) : &lb->luns[i];

        m[i].id = h ? h->ids[i] : l->info.id;
        m[i].stats = h ? &h->stats[i] : &l->own_stats;
        m[i].state = l ? isc_lun_state_of(
                             isc_session_connected(l->t->s),
                             __atomic_load_n(&l->t->lost_ms, __ATOMIC_RELAXED),
                             now, lb->cfg->deadline_ms)
                       : ISC_LUN_DOWN;
    }
    rc = isc_metrics_render(node, m, n, &text);
    if (rc == 0)
        rc = cmn_file_write_atomic(lb->cfg->metrics_file, text, strlen(text),
                                   0644, 0);
    free(text);
    free(m);
    return rc;
}

static void *metrics_thread(void *arg)
{
    struct lb *lb = arg;
    char node[256] = "";
    bool failed = false;

    /* The node as its other metrics name it: the sandbox and Debian's
     * clusterd default to the host name too. */
    gethostname(node, sizeof(node) - 1);
    pthread_mutex_lock(&lb->metrics_lock);
    while (!lb->metrics_stop) {
        struct timespec until;
        int rc;

        pthread_mutex_unlock(&lb->metrics_lock);
        rc = metrics_write(lb, node);
        if (rc < 0 && !failed)
            cmn_warn(CMN_LOG_ISCSI,
                     "cannot write metrics to '%s': %s (is the directory of "
                     "metrics-file there?)",
                     lb->cfg->metrics_file, cmn_strerror(rc));
        failed = rc < 0;
        pthread_mutex_lock(&lb->metrics_lock);
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += lb->cfg->metrics_interval_ms / 1000;
        until.tv_nsec += (long)(lb->cfg->metrics_interval_ms % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        while (!lb->metrics_stop &&
               pthread_cond_timedwait(&lb->metrics_cond, &lb->metrics_lock,
                                      &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&lb->metrics_lock);
    return NULL;
}

static void metrics_start(struct lb *lb)
{
    pthread_condattr_t ca;

    if (!lb->cfg->metrics_file)
        return;
    pthread_mutex_init(&lb->metrics_lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&lb->metrics_cond, &ca);
    pthread_condattr_destroy(&ca);
    lb->metrics_running =
        pthread_create(&lb->metrics_thread, NULL, metrics_thread, lb) == 0;
    if (!lb->metrics_running)
        cmn_warn(CMN_LOG_ISCSI,
                 "cannot start the metrics writer: no "
                 "metrics in '%s'",
                 lb->cfg->metrics_file);
    else
        cmn_info(CMN_LOG_ISCSI, "metrics to '%s' every %u ms",
                 lb->cfg->metrics_file, lb->cfg->metrics_interval_ms);
}

static void metrics_stop(struct lb *lb)
{
    if (!lb->metrics_running)
        return;
    pthread_mutex_lock(&lb->metrics_lock);
    lb->metrics_stop = true;
    pthread_cond_signal(&lb->metrics_cond);
    pthread_mutex_unlock(&lb->metrics_lock);
    pthread_join(lb->metrics_thread, NULL);
    lb->metrics_running = false;
}

static int mkdir_p(const char *path)
{
    char *p cmn_autofree = strdup(path);
    char *s;

    if (!p)
        return -ENOMEM;
    for (s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            return -errno;
        *s = '/';
    }
    if (mkdir(p, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* Is a lunbridge FUSE mount on `mp` (the top one or one beneath it)? */
static bool lb_mount_at(const char *mp)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[4096];
    bool found = false;

    if (!f)
        return false;
    while (!found && fgets(line, sizeof(line), f)) {
        /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS... - FSTYPE ... */
        char point[1024], *sep = strstr(line, " - ");
        if (sscanf(line, "%*s %*s %*s %*s %1023s", point) != 1 || !sep)
            continue;
        found = strcmp(point, mp) == 0 &&
                strncmp(sep + 3, "fuse.lunbridge ", 15) == 0;
    }
    fclose(f);
    return found;
}

/* A lunbridge that died leaves its mount behind: dead ("Transport
 * endpoint is not connected"), or still looking alive while some process
 * holds a copy of its /dev/fuse descriptor. Mounting over it would bury
 * it instead of ending it, so every lunbridge mount at the mountpoint is
 * detached first (lazily: files still open on it keep working). Only
 * called when no lunbridge of ours serves the mountpoint yet. */
static void clear_stale_mount(const char *mp)
{
    for (int i = 0; i < 16 && lb_mount_at(mp); i++) {
        cmn_warn(CMN_LOG_ISCSI,
                 "stale FUSE mount at %s (a previous lunbridge died?): "
                 "detaching it",
                 mp);
        if (umount2(mp, MNT_DETACH) < 0)
            break;
    }
}

/* SIGUSR2 dumps the log blackbox. A thread of its own waits for it, so
 * the dump never runs inside a signal handler. */
static void *blackbox_thread(void *arg)
{
    sigset_t set;
    int sig;

    (void)arg;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    for (;;) {
        const char *path;

        if (sigwait(&set, &sig) != 0 || sig != SIGUSR2)
            continue;
        path = cmn_log_blackbox_dump();
        cmn_info(CMN_LOG_ISCSI, "blackbox written to %s",
                 path ? path : "(nowhere: dump failed)");
    }
    return NULL;
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: lunbridge [-f] [-d] [-s] [-c FILE]\n"
            "Presents the iSCSI LUNs configured in kvmcluster.conf as files "
            "under a FUSE mount.\n\n"
            "  -c, --config FILE  configuration (default %s)\n"
            "  -f, --foreground   stay in the foreground, log to stderr\n"
            "  -s, --supervise    keep the mount across restarts of the "
            "process serving it\n"
            "  -d, --debug        log debug messages\n"
            "  -h, --help         this text\n"
            "  -V, --version      print the version\n",
            ISC_DEFAULT_CONF);
}

/* The custom I/O of a worker's session: the hand-off code sees FUSE_INIT
 * go by. */
static ssize_t lb_io_read(int fd, void *buf, size_t len, void *userdata)
{
    struct lb *lb = userdata;

    return isc_lb_worker_read(lb->worker, fd, buf, len);
}

static ssize_t lb_io_writev(int fd, struct iovec *iov, int count,
                            void *userdata)
{
    struct lb *lb = userdata;

    return isc_lb_worker_writev(lb->worker, fd, iov, count);
}

/* "--worker=FUSE_FD,STATE_FD", as the supervisor passes it. */
static int parse_worker_fds(const char *arg, int *ret_fuse, int *ret_state)
{
    int a, b, n = 0;

    if (sscanf(arg, "%d,%d%n", &a, &b, &n) != 2 || arg[n] != '\0' || a < 0 ||
        b < 0)
        return -EINVAL;
    *ret_fuse = a;
    *ret_state = b;
    return 0;
}

/* lunbridge --supervise: checks the configuration as the worker will,
 * clears a dead mount, then hands over to the supervisor. */
static int supervise(char *argv0, const char *conf, bool foreground, bool debug)
{
    CMN_AUTO(isc_lb_config) *cfg = NULL;
    char err[1024] = "";
    char *wargv[8];
    size_t n = 0, slot;
    int rc;

    rc = isc_lb_config_load(conf, &cfg, err, sizeof(err));
    if (rc < 0) {
        cmn_err(CMN_LOG_ISCSI, "%s", err[0] ? err : cmn_strerror(rc));
        if (!foreground)
            fprintf(stderr, "lunbridge: %s\n", err[0] ? err : cmn_strerror(rc));
        return 2;
    }
    rc = mkdir_p(cfg->mountpoint);
    if (rc < 0) {
        cmn_err(CMN_LOG_ISCSI, "cannot create mountpoint %s: %s",
                cfg->mountpoint, strerror(-rc));
        return 1;
    }
    clear_stale_mount(cfg->mountpoint);
    if (!foreground && fuse_daemonize(0) < 0)
        return 1;
    wargv[n++] = argv0;
    wargv[n++] = (char *)"-c";
    wargv[n++] = (char *)conf;
    if (foreground)
        wargv[n++] = (char *)"-f";
    if (debug)
        wargv[n++] = (char *)"-d";
    slot = n;
    wargv[n++] = NULL; /* --worker=..., filled in for each worker */
    wargv[n] = NULL;
    return isc_lb_supervise(cfg->mountpoint, wargv, slot);
}

/* The command line of lunbridge. */
struct lb_args {
    const char *conf;
    bool foreground, debug;
    bool supervised;        /* --supervise */
    const char *worker_arg; /* --worker=FUSE_FD,STATE_FD */
};

/* Returns true when lunbridge is to run with a, else false with the exit
 * status in *ret_status (--help, --version, bad usage). */
static bool parse_args(int argc, char **argv, struct lb_args *a,
                       int *ret_status)
{
    static const struct option lopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"foreground", no_argument, NULL, 'f'},
        {"debug", no_argument, NULL, 'd'},
        {"supervise", no_argument, NULL, 's'},
        {"worker", required_argument, NULL, 'W'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {0},
    };
    int opt;

    while ((opt = getopt_long(argc, argv, "c:fdshV", lopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            a->conf = optarg;
            break;
        case 'f':
            a->foreground = true;
            break;
        case 'd':
            a->debug = true;
            break;
        case 's':
            a->supervised = true;
            break;
        case 'W':
            a->worker_arg = optarg;
            break;
        case 'h':
            usage(stdout);
            *ret_status = 0;
            return false;
        case 'V':
            printf("lunbridge %s\n", PACKAGE_VERSION);
            *ret_status = 0;
            return false;
        default:
            usage(stderr);
            *ret_status = 2;
            return false;
        }
    }
    if (optind != argc || (a->supervised && a->worker_arg)) {
        usage(stderr);
        *ret_status = 2;
        return false;
    }
    return true;
}

/* A worker started by the supervisor: takes over the FUSE connection and
 * the hand-off state it was given. */
static int worker_open(struct lb *lb, const char *worker_arg)
{
    int fuse_fd, state_fd, rc;

    /* Started as /proc/self/exe: named as the operator knows it. */
    prctl(PR_SET_NAME, "lunbridge");
    rc = parse_worker_fds(worker_arg, &fuse_fd, &state_fd);
    if (rc == 0)
        rc = isc_lb_worker_open(fuse_fd, state_fd, &lb->worker);
    if (rc < 0)
        cmn_err(CMN_LOG_ISCSI,
                "--worker=%s: %s (--worker is for lunbridge --supervise "
                "only: start lunbridge --supervise instead)",
                worker_arg, cmn_strerror(rc));
    return rc;
}

static int config_load(struct lb *lb, const char *conf, bool foreground)
{
    char err[1024] = "";
    int rc = isc_lb_config_load(conf, &lb->cfg, err, sizeof(err));

    if (rc < 0) {
        cmn_err(CMN_LOG_ISCSI, "%s", err[0] ? err : cmn_strerror(rc));
        if (!foreground)
            fprintf(stderr, "lunbridge: %s\n", err[0] ? err : cmn_strerror(rc));
    }
    return rc;
}

/* Sets the time the files show as theirs; a lone lunbridge then leaves
 * the foreground unless told not to. */
static int start_clock(struct lb *lb, bool foreground)
{
    if (lb->worker) {
        struct isc_handoff *h = isc_lb_worker_handoff(lb->worker);

        /* The files keep the times the first worker gave them. */
        if (h->started_sec == 0) {
            clock_gettime(CLOCK_REALTIME, &lb->started);
            h->started_nsec = lb->started.tv_nsec;
            h->started_sec = lb->started.tv_sec;
        }
        lb->started.tv_sec = (time_t)h->started_sec;
        lb->started.tv_nsec = (long)h->started_nsec;
        return 0;
    }
    clock_gettime(CLOCK_REALTIME, &lb->started);
    if (!foreground && fuse_daemonize(0) < 0)
        return -1;
    return 0;
}

/* Blocks the termination signals and SIGUSR2 in this thread and every
 * thread started after it (sigs says which), and starts the thread that
 * dumps the blackbox on SIGUSR2. */
static void block_signals(sigset_t *sigs)
{
    pthread_t bb;

    /* Session workers must not take the termination signals: libfuse's
     * handler has to run on a thread its loop waits for. */
    sigemptyset(sigs);
    sigaddset(sigs, SIGTERM);
    sigaddset(sigs, SIGINT);
    sigaddset(sigs, SIGHUP);
    sigaddset(sigs, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, sigs, NULL);
    if (pthread_create(&bb, NULL, blackbox_thread, NULL) == 0)
        pthread_detach(bb);
}

/* Logs in to the targets and indexes their LUNs; a lone lunbridge also
 * makes its mountpoint ready (a worker's is its supervisor's). */
static int luns_open(struct lb *lb)
{
    int failed, rc;

    if (lb->worker)
        lb->handoff_nluns = isc_lb_worker_handoff(lb->worker)->nluns;
    failed = open_targets(lb);

    if (lb->nluns == 0) {
        cmn_err(CMN_LOG_ISCSI,
                "no LUN to export (%d of %zu targets failed): exiting", failed,
                lb->cfg->ntargets);
        return -ENOENT;
    }
    rc = index_luns(lb);
    if (rc < 0)
        return rc;
    if (!lb->worker) {
        rc = mkdir_p(lb->cfg->mountpoint);
        if (rc < 0) {
            cmn_err(CMN_LOG_ISCSI, "cannot create mountpoint %s: %s",
                    lb->cfg->mountpoint, strerror(-rc));
            return rc;
        }
        clear_stale_mount(lb->cfg->mountpoint);
    }
    return 0;
}

/* Connects session se to the kernel: a worker attaches to the connection
 * its supervisor holds (and says so when it takes over from a dead one), a
 * lone lunbridge mounts. */
static int session_mount(struct lb *lb, struct fuse_session *se)
{
    static const struct fuse_custom_io lb_io = {
        .read = lb_io_read,
        .writev = lb_io_writev,
    };
    char err[1024] = "";
    bool again;
    int rc;

    if (!lb->worker) {
        if (fuse_session_mount(se, lb->cfg->mountpoint) < 0) {
            cmn_err(CMN_LOG_ISCSI, "cannot mount FUSE file system at %s",
                    lb->cfg->mountpoint);
            return -EIO;
        }
        return 0;
    }
    again = isc_lb_worker_handoff(lb->worker)->mounted;
    rc = isc_lb_worker_attach(lb->worker, se, &lb_io, lb->cfg->mountpoint, err,
                              sizeof(err));
    if (rc < 0) {
        cmn_err(CMN_LOG_ISCSI, "%s", err);
        return rc;
    }
    if (again) {
        int dead = 0;
        long ms = isc_lb_worker_since_death(lb->worker, &dead);

        cmn_info(CMN_LOG_ISCSI,
                 "took over the mount at %s %ld ms after worker %d "
                 "died%s",
                 lb->cfg->mountpoint, ms, dead,
                 isc_lb_worker_resends(lb->worker)
                     ? "; requests it had taken are sent again"
                     : "");
    }
    return 0;
}

/* Serves se until a termination signal. Returns the exit status. */
static int serve(struct lb *lb, struct fuse_session *se)
{
    struct fuse_loop_config *lcfg = fuse_loop_cfg_create();
    int rc;

    if (!lcfg)
        return 1;
    fuse_loop_cfg_set_max_threads(lcfg, LB_MAX_THREADS);
    fuse_loop_cfg_set_idle_threads(lcfg, 16);
    rc = fuse_session_loop_mt(se, lcfg);
    fuse_loop_cfg_destroy(lcfg);
    /* Reads still with the target answer within the deadline; their
     * replies need the session. */
    pthread_mutex_lock(&lb->async_lock);
    while (lb->async_reads > 0)
        pthread_cond_wait(&lb->async_cond, &lb->async_lock);
    pthread_mutex_unlock(&lb->async_lock);
    return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    struct lb_args a = {.conf = ISC_DEFAULT_CONF};
    struct cmn_log_opts lo = {0};
    struct lb lb = {0};
    char *fargv[] = {argv[0], (char *)"-o",
                     (char *)"fsname=lunbridge,subtype=lunbridge,"
                             "allow_other,default_permissions",
                     NULL};
    struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
    struct fuse_session *se = NULL;
    sigset_t sigs;
    int ret = 1;

    if (!parse_args(argc, argv, &a, &ret))
        return ret;
    pthread_mutex_init(&lb.async_lock, NULL);
    pthread_cond_init(&lb.async_cond, NULL);
    /* A worker logs where its supervisor does. */
    lo.to_stderr = a.foreground;
    lo.to_syslog = !a.foreground;
    lo.debug = a.debug;
    cmn_log_init("lunbridge", &lo);
    isc_err_register();

    if (a.supervised) {
        ret = supervise(argv[0], a.conf, a.foreground, a.debug);
        cmn_log_fini();
        return ret;
    }
    if (a.worker_arg && worker_open(&lb, a.worker_arg) < 0)
        goto out;
    if (config_load(&lb, a.conf, a.foreground) < 0) {
        ret = 2;
        goto out;
    }
    if (start_clock(&lb, a.foreground) < 0)
        goto out;
    block_signals(&sigs);
    if (luns_open(&lb) < 0)
        goto out;
    se = fuse_session_new(&args, &lb_ops, sizeof(lb_ops), &lb);
    if (!se || fuse_set_signal_handlers(se) < 0)
        goto out;
    if (session_mount(&lb, se) < 0) {
        fuse_remove_signal_handlers(se);
        goto out;
    }
    cmn_info(CMN_LOG_ISCSI, "serving %zu LUN(s) under %s (deadline %u ms)",
             lb.nluns, lb.cfg->mountpoint, lb.cfg->deadline_ms);
    metrics_start(&lb);
    sigdelset(&sigs, SIGUSR2);
    pthread_sigmask(SIG_UNBLOCK, &sigs, NULL);

    ret = serve(&lb, se);
    fuse_remove_signal_handlers(se);
    /* A worker leaves the mount to its supervisor. */
    if (!lb.worker) {
        fuse_session_unmount(se);
        cmn_info(CMN_LOG_ISCSI, "unmounted %s", lb.cfg->mountpoint);
    }
out:
    metrics_stop(&lb);
    if (se)
        fuse_session_destroy(se);
    fuse_opt_free_args(&args);
    close_targets(&lb);
    isc_lb_config_free(lb.cfg);
    isc_lb_worker_free(lb.worker);
    pool_drain();
    cmn_log_fini();
    return ret;
}
