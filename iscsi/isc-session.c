/* A session to one iSCSI target: libiscsi's async API driven by a worker
 * thread that owns the context.
 *
 * Threading: only the worker touches the libiscsi context (libiscsi is
 * not thread-safe). Callers queue a command on `pending` under `lock`,
 * poke the eventfd and sleep on the command's condition variable; the
 * worker moves commands to its own `queued` list, sends them when the
 * session is logged in (`inflight`), and completes each exactly once.
 *
 * Deadlines: every command gets now + deadline_ms when submitted. The
 * worker completes a queued command with -EIO at its deadline; an
 * in-flight command past its deadline means the connection is stuck, so
 * the connection is torn down (a wedged TCP stream cannot be trusted with
 * the next command either) and the command fails with -EIO. Callers
 * therefore never wait more than the deadline plus one poll round.
 *
 * Reconnect: when the connection dies, every in-flight command that still
 * has time and was sent only once goes back to the head of the queue, and
 * the worker logs in again (next portal, back-off 100 ms doubling to 2 s).
 * Before any command reaches a LUN pinned with isc_session_pin_id() after
 * a reconnect, its VPD 0x83 id is read again: a target that came back with
 * a different disk behind the same LUN number gets -ISC_E_IDENTITY, not
 * our writes.
 *
 * Keepalive: an idle session sends a NOP-Out every KEEPALIVE_MS (as
 * open-iscsi's noop_out_interval); no NOP-In within deadline_ms means the
 * path is dead, and the connection is dropped and logged in again before
 * a write needs it, instead of the write discovering it at its deadline.
 *
 * Libiscsi callbacks never destroy the context they run in: they record
 * what happened in flags that the loop acts on after iscsi_service().
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "common/cmn-time.h"
#include "iscsi/isc-int.h"

/* glibc's <sys/queue.h> predates the _SAFE iterators. */
#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)                             \
    for ((var) = TAILQ_FIRST(head);                                            \
         (var) && ((tvar) = TAILQ_NEXT(var, field), 1); (var) = (tvar))
#endif

#define BACKOFF_MIN_MS 100u
#define BACKOFF_MAX_MS 2000u
#define TICK_MS        1000u
#define KEEPALIVE_MS   5000u
#define UA_RETRIES     5

enum cmd_op {
    OP_READ,
    OP_WRITE,
    OP_SYNC,
    OP_INQUIRY,
    OP_READCAP16,
    OP_REPORTLUNS,
};

static const char *const op_names[] = {
    [OP_READ] = "READ(16)",
    [OP_WRITE] = "WRITE(16)",
    [OP_SYNC] = "SYNCHRONIZE CACHE(16)",
    [OP_INQUIRY] = "INQUIRY",
    [OP_READCAP16] = "READ CAPACITY(16)",
    [OP_REPORTLUNS] = "REPORT LUNS",
};

enum pin_state { PIN_OK, PIN_NEED, PIN_VERIFYING, PIN_BAD };

struct pin {
    uint32_t lun;
    char id[ISC_ID_MAX];
    enum pin_state state;
};

struct isc_cmd {
    TAILQ_ENTRY(isc_cmd) link;
    enum cmd_op op;
    uint32_t lun;
    uint64_t lba;
    uint32_t bs;
    void *buf;
    size_t len;
    int page; /* INQUIRY: VPD page, -1 = standard data */
    size_t got;
    uint64_t deadline;
    int sent;
    int ua_retries;
    struct scsi_iovec iov;
    struct scsi_task *task;
    int rc;
    bool done;
    pthread_cond_t cond;
    /* Internal identity check of the pin of `lun`. Pins are looked up by
     * LUN under the lock: the pin array moves when it grows. */
    bool verify;
    struct isc_session *s;
    /* Asynchronous command: called once from the worker, then freed. */
    isc_done_fn done_fn;
    void *done_opaque;
};

TAILQ_HEAD(cmd_list, isc_cmd);

enum conn_state { C_DOWN, C_CONNECTING, C_LOGIN, C_UP };

struct isc_session {
    char *initiator;
    char *iqn;
    char **portals;
    size_t nportals;
    char *user, *secret, *muser, *msecret;
    uint32_t deadline_ms;
    isc_event_fn on_event;
    void *opaque;

    pthread_mutex_t lock; /* pending, stop, open_*, portal_now, pins */
    struct cmd_list pending;
    bool stop;
    bool up; /* mirrors state == C_UP for isc_session_connected() */
    char portal_now[300];
    pthread_cond_t open_cond;
    bool open_done;
    int open_rc;
    char open_err[300];
    struct pin *pins;
    size_t npins;

    int efd;
    pthread_t thread;
    bool thread_started;

    /* Worker-owned from here on. */
    struct iscsi_context *ctx;
    enum conn_state state;
    struct cmd_list queued;
    struct cmd_list inflight;
    size_t cur_portal;
    uint64_t next_attempt;
    uint64_t attempt_deadline;
    uint32_t attempt_timeout_ms;
    uint64_t open_deadline;
    uint32_t backoff_ms;
    int failures;
    bool opening; /* first login, reported to isc_session_open() */
    size_t open_tries;
    bool tearing;     /* inside iscsi_destroy_context(): ignore cbs */
    bool ev_login_ok; /* flags set by callbacks, acted on by the loop */
    bool ev_attempt_failed;
    bool ev_conn_dead;
    uint64_t idle_since; /* last completion or login: keepalive clock */
    uint64_t nop_sent;   /* a NOP-Out awaits its NOP-In since; 0 = none */
    int fail_class;      /* -ISC_E_* of the last failed attempt */
    char reason[300];
};

static void emit(struct isc_session *s, enum isc_event_kind kind, int lun,
                 const char *reason)
{
    struct isc_event ev = {
        .kind = kind,
        .target = s->iqn,
        .portal = s->portals[s->cur_portal],
        .reason = reason ? reason : "",
        .lun = lun,
        .attempt = s->failures,
    };

    if (s->on_event)
        s->on_event(&ev, s->opaque);
}

static void wake(struct isc_session *s)
{
    uint64_t one = 1;

    if (write(s->efd, &one, sizeof(one)) < 0) {
        /* EAGAIN: the counter is already non-zero, the worker will wake. */
    }
}

static struct pin *pin_find(struct isc_session *s, uint32_t lun)
{
    size_t i;

    for (i = 0; i < s->npins; i++)
        if (s->pins[i].lun == lun)
            return &s->pins[i];
    return NULL;
}

/* ---- completion ------------------------------------------------------- */

static void verify_done(struct isc_session *s, struct isc_cmd *c);

static void complete(struct isc_session *s, struct isc_cmd *c, int rc)
{
    if (c->verify) {
        c->rc = rc;
        verify_done(s, c);
        return;
    }
    if (c->done_fn) {
        c->done_fn(rc, c->done_opaque);
        free(c);
        return;
    }
    pthread_mutex_lock(&s->lock);
    c->rc = rc;
    c->done = true;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&s->lock);
}

static void free_task(struct isc_cmd *c)
{
    if (c->task) {
        scsi_free_scsi_task(c->task);
        c->task = NULL;
    }
}

/* Fails every queued command of `lun` waiting for its identity check. */
static void fail_lun_queued(struct isc_session *s, uint32_t lun, int rc)
{
    struct isc_cmd *c, *tmp;

    TAILQ_FOREACH_SAFE(c, &s->queued, link, tmp)
    {
        if (c->lun != lun || c->verify)
            continue;
        TAILQ_REMOVE(&s->queued, c, link);
        complete(s, c, rc);
    }
}

static void verify_done(struct isc_session *s, struct isc_cmd *c)
{
    struct pin *p;
    char want[ISC_ID_MAX] = "";
    struct isc_designator d;
    char id[ISC_ID_MAX] = "";
    char why[ISC_ID_MAX + 160];
    int rc = c->rc;

    /* A LUN number the target no longer backs still answers INQUIRY,
     * with peripheral qualifier 3 and a made-up designator: that is a
     * removed LUN, not a different disk. */
    if (rc == 0 && c->got > 0 && (((uint8_t *)c->buf)[0] >> 5) != 0)
        rc = -ISC_E_NO_LUN;
    pthread_mutex_lock(&s->lock);
    p = pin_find(s, c->lun);
    if (p)
        memcpy(want, p->id, sizeof(want));
    pthread_mutex_unlock(&s->lock);
    if (rc == 0) {
        rc = isc_vpd83_select(c->buf, c->got, &d);
        if (rc == 0)
            rc = isc_id_format(&d, id, sizeof(id));
        else if (rc == -ENOENT)
            rc = 0; /* serial-named LUN: the pin holds "usn.*", keep it */
        if (rc == 0 && id[0] && strcmp(id, want) != 0)
            rc = -ISC_E_IDENTITY;
    }
    pthread_mutex_lock(&s->lock);
    p = pin_find(s, c->lun);
    if (!p) {
        /* cannot happen: pins are never removed */
    } else if (rc == 0) {
        p->state = PIN_OK;
    } else if (rc == -ISC_E_IDENTITY) {
        p->state = PIN_BAD;
    } else {
        /* Could not tell (LUN gone, connection dropped): ask again before
         * the next command; fail the waiting ones with what we know. */
        p->state = PIN_NEED;
    }
    pthread_mutex_unlock(&s->lock);
    if (rc == -ISC_E_IDENTITY) {
        snprintf(why, sizeof(why),
                 "identity check after reconnect: LUN now carries id %s, "
                 "expected %s; refusing all I/O to it",
                 id, want);
        emit(s, ISC_EV_CMD_FAILED, (int)c->lun, why);
    } else if (rc == -ISC_E_NO_LUN) {
        emit(s, ISC_EV_CMD_FAILED, (int)c->lun,
             "identity check: logical unit not supported (LUN removed from "
             "the target?)");
    }
    if (rc < 0 && rc != -EAGAIN && rc != -EIO)
        fail_lun_queued(s, c->lun, rc);
    free(c->buf);
    pthread_cond_destroy(&c->cond);
    free(c);
}

/* ---- libiscsi callbacks ------------------------------------------------ */

static int sense_to_rc(struct scsi_task *t)
{
    if (t->sense.key == SCSI_SENSE_ILLEGAL_REQUEST &&
        t->sense.ascq == SCSI_SENSE_ASCQ_LOGICAL_UNIT_NOT_SUPPORTED)
        return -ISC_E_NO_LUN;
    return -ISC_E_SCSI;
}

static void scsi_cb(struct iscsi_context *ctx, int status, void *data,
                    void *priv)
{
    struct isc_cmd *c = priv;
    struct isc_session *s = c->s;
    struct scsi_task *t = c->task;
    char why[200];
    int rc = 0;

    (void)data;
    if (s->tearing)
        return; /* teardown decides the command's fate */
    if (status == SCSI_STATUS_CANCELLED || status == SCSI_STATUS_ERROR ||
        status == SCSI_STATUS_TIMEOUT) {
        /* The transport gave up on it: treat the connection as dead;
         * the command stays in flight until the teardown retries it. */
        if (!s->ev_conn_dead)
            snprintf(s->reason, sizeof(s->reason),
                     "%s to LUN %u failed in transport: %s", op_names[c->op],
                     c->lun, iscsi_get_error(ctx));
        s->ev_conn_dead = true;
        return;
    }
    s->idle_since = cmn_now_ms();
    TAILQ_REMOVE(&s->inflight, c, link);
    if (status == SCSI_STATUS_GOOD) {
        if (c->op == OP_READ && t->residual_status == SCSI_RESIDUAL_UNDERFLOW &&
            t->residual > 0) {
            rc = -EIO;
        } else if (c->op == OP_INQUIRY || c->op == OP_READCAP16 ||
                   c->op == OP_REPORTLUNS) {
            size_t n = (size_t)t->datain.size;

            if (n > c->len)
                n = c->len;
            memcpy(c->buf, t->datain.data, n);
            c->got = n;
        }
        free_task(c);
        complete(s, c, rc);
        return;
    }
    if (status == SCSI_STATUS_CHECK_CONDITION &&
        t->sense.key == SCSI_SENSE_UNIT_ATTENTION &&
        c->ua_retries++ < UA_RETRIES) {
        /* Power-on/reset, capacity or LUN inventory changed: the command
         * itself was not executed; send it again. */
        free_task(c);
        c->sent--;
        TAILQ_INSERT_HEAD(&s->queued, c, link);
        return;
    }
    if (status == SCSI_STATUS_BUSY || status == SCSI_STATUS_TASK_SET_FULL) {
        free_task(c);
        c->sent--;
        TAILQ_INSERT_TAIL(&s->queued, c, link);
        return;
    }
    if (status == SCSI_STATUS_CHECK_CONDITION) {
        rc = sense_to_rc(t);
        snprintf(why, sizeof(why), "%s: %s (sense key 0x%x, asc/ascq 0x%04x)%s",
                 op_names[c->op], scsi_sense_key_str(t->sense.key),
                 t->sense.key, t->sense.ascq,
                 rc == -ISC_E_NO_LUN ? ": logical unit not supported (LUN "
                                       "removed from the target?)"
                                     : "");
    } else {
        rc = -ISC_E_SCSI;
        snprintf(why, sizeof(why), "%s: SCSI status 0x%x", op_names[c->op],
                 status);
    }
    free_task(c);
    if (!c->verify)
        emit(s, ISC_EV_CMD_FAILED, (int)c->lun, why);
    complete(s, c, rc);
}

int isc_login_error_class(const char *msg)
{
    if (strstr(msg, "Authentication failure") || strstr(msg, "CHAP"))
        return -ISC_E_AUTH;
    if (strstr(msg, "Target not found") || strstr(msg, "Target removed"))
        return -ISC_E_NO_TARGET;
    return -ISC_E_LOGIN;
}

static void login_cb(struct iscsi_context *ctx, int status, void *data,
                     void *priv)
{
    struct isc_session *s = priv;

    (void)data;
    if (s->tearing)
        return;
    if (status == SCSI_STATUS_GOOD) {
        s->ev_login_ok = true;
        return;
    }
    snprintf(s->reason, sizeof(s->reason), "login failed: %s",
             iscsi_get_error(ctx));
    s->fail_class = isc_login_error_class(iscsi_get_error(ctx));
    s->ev_attempt_failed = true;
}

static void nop_cb(struct iscsi_context *ctx, int status, void *data,
                   void *priv)
{
    struct isc_session *s = priv;

    (void)data;
    if (s->tearing)
        return;
    if (status != SCSI_STATUS_GOOD) {
        if (!s->ev_conn_dead)
            snprintf(s->reason, sizeof(s->reason),
                     "keepalive NOP-Out failed: %s", iscsi_get_error(ctx));
        s->ev_conn_dead = true;
        return;
    }
    s->nop_sent = 0;
    s->idle_since = cmn_now_ms();
}

/* Sends a NOP-Out on an idle session, or declares the connection dead
 * when the last one went unanswered past the deadline. */
static void keepalive(struct isc_session *s, uint64_t now)
{
    if (s->state != C_UP || s->ev_conn_dead)
        return;
    if (s->nop_sent) {
        if (now >= s->nop_sent + s->deadline_ms) {
            snprintf(s->reason, sizeof(s->reason),
                     "keepalive NOP-Out got no answer within %u ms",
                     s->deadline_ms);
            s->ev_conn_dead = true;
        }
        return;
    }
    if (!TAILQ_EMPTY(&s->inflight) || now < s->idle_since + KEEPALIVE_MS)
        return;
    if (iscsi_nop_out_async(s->ctx, nop_cb, NULL, 0, s) != 0) {
        snprintf(s->reason, sizeof(s->reason), "keepalive NOP-Out: %s",
                 iscsi_get_error(s->ctx));
        s->ev_conn_dead = true;
        return;
    }
    s->nop_sent = now;
}

static void connect_cb(struct iscsi_context *ctx, int status, void *data,
                       void *priv)
{
    struct isc_session *s = priv;

    (void)data;
    if (s->tearing)
        return;
    if (s->state == C_CONNECTING) {
        if (status != SCSI_STATUS_GOOD) {
            snprintf(s->reason, sizeof(s->reason), "connect failed: %s",
                     iscsi_get_error(ctx));
            s->fail_class = -ISC_E_CONNECT;
            s->ev_attempt_failed = true;
            return;
        }
        s->state = C_LOGIN;
        if (iscsi_login_async(ctx, login_cb, s) < 0) {
            snprintf(s->reason, sizeof(s->reason), "login failed: %s",
                     iscsi_get_error(ctx));
            s->fail_class = -ISC_E_LOGIN;
            s->ev_attempt_failed = true;
        }
        return;
    }
    if (status != SCSI_STATUS_GOOD && s->state == C_UP) {
        snprintf(s->reason, sizeof(s->reason), "connection failed: %s",
                 iscsi_get_error(ctx));
        s->ev_conn_dead = true;
    }
}

/* ---- connection management ---------------------------------------------- */

static void destroy_ctx(struct isc_session *s)
{
    if (!s->ctx)
        return;
    s->tearing = true;
    iscsi_destroy_context(s->ctx);
    s->tearing = false;
    s->ctx = NULL;
}

static void set_up(struct isc_session *s, bool up)
{
    pthread_mutex_lock(&s->lock);
    s->up = up;
    if (up)
        snprintf(s->portal_now, sizeof(s->portal_now), "%s",
                 s->portals[s->cur_portal]);
    pthread_mutex_unlock(&s->lock);
}

static void start_attempt(struct isc_session *s, uint64_t now)
{
    struct iscsi_context *ctx;

    s->ev_attempt_failed = false;
    s->ev_login_ok = false;
    s->ev_conn_dead = false;
    ctx = iscsi_create_context(s->initiator);
    if (!ctx) {
        snprintf(s->reason, sizeof(s->reason), "out of memory");
        s->fail_class = -ENOMEM;
        s->ev_attempt_failed = true;
        return;
    }
    s->ctx = ctx;
    /* We reconnect ourselves (deadlines, portal rotation, identity
     * checks); libiscsi's own reconnect would hide all of that. */
    iscsi_set_noautoreconnect(ctx, 1);
    iscsi_set_targetname(ctx, s->iqn);
    iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
    iscsi_set_header_digest(ctx, ISCSI_HEADER_DIGEST_NONE);
    if (s->user)
        iscsi_set_initiator_username_pwd(ctx, s->user, s->secret);
    if (s->muser)
        iscsi_set_target_username_pwd(ctx, s->muser, s->msecret);
    s->state = C_CONNECTING;
    /* After the first login, one silent portal must not eat the whole
     * deadline of the commands waiting for the next one. */
    s->attempt_timeout_ms =
        s->opening || s->deadline_ms < 3000 ? s->deadline_ms : 3000;
    /* At start-up the deadline is shared by the portals, so a silent
     * first portal leaves time to try the others. */
    if (s->opening && s->nportals > 1)
        s->attempt_timeout_ms = s->deadline_ms / (uint32_t)s->nportals;
    s->attempt_deadline = now + s->attempt_timeout_ms;
    if (s->opening && s->attempt_deadline > s->open_deadline) {
        s->attempt_deadline = s->open_deadline;
        s->attempt_timeout_ms = (uint32_t)(s->open_deadline - now);
    }
    if (iscsi_connect_async(ctx, s->portals[s->cur_portal], connect_cb, s) <
        0) {
        snprintf(s->reason, sizeof(s->reason), "connect failed: %s",
                 iscsi_get_error(ctx));
        s->fail_class = -ISC_E_CONNECT;
        s->ev_attempt_failed = true;
    }
}

static void open_finish(struct isc_session *s, int rc)
{
    pthread_mutex_lock(&s->lock);
    s->open_done = true;
    s->open_rc = rc;
    snprintf(s->open_err, sizeof(s->open_err), "%s", rc < 0 ? s->reason : "");
    if (rc < 0)
        s->stop = true;
    pthread_cond_broadcast(&s->open_cond);
    pthread_mutex_unlock(&s->lock);
    s->opening = false;
}

static void attempt_failed(struct isc_session *s, uint64_t now)
{
    destroy_ctx(s);
    s->state = C_DOWN;
    s->failures++;
    if (s->opening) {
        s->open_tries++;
        /* A refused login will be refused at every portal of the target;
         * an unreachable portal may have a reachable sibling. */
        if (s->fail_class == -ISC_E_AUTH || s->fail_class == -ISC_E_NO_TARGET ||
            s->open_tries >= s->nportals || now >= s->open_deadline) {
            open_finish(s, s->fail_class);
            return;
        }
        s->cur_portal = (s->cur_portal + 1) % s->nportals;
        s->next_attempt = now;
        return;
    }
    emit(s, ISC_EV_RECONNECT_FAIL, -1, s->reason);
    s->cur_portal = (s->cur_portal + 1) % s->nportals;
    s->next_attempt = now + s->backoff_ms;
    s->backoff_ms =
        s->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : s->backoff_ms * 2;
}

static void login_ok(struct isc_session *s)
{
    size_t i;
    bool first = s->opening;

    s->state = C_UP;
    s->idle_since = cmn_now_ms();
    s->nop_sent = 0;
    s->failures = 0;
    s->backoff_ms = BACKOFF_MIN_MS;
    set_up(s, true);
    if (!first) {
        pthread_mutex_lock(&s->lock);
        for (i = 0; i < s->npins; i++)
            if (s->pins[i].state != PIN_BAD)
                s->pins[i].state = PIN_NEED;
        pthread_mutex_unlock(&s->lock);
    }
    emit(s, ISC_EV_CONNECTED, -1, first ? "logged in" : "logged in again");
    if (first)
        open_finish(s, 0);
}

/* Drops the connection; in-flight commands are retried once if they have
 * time left, else fail with -EIO. */
static void conn_lost(struct isc_session *s, uint64_t now, const char *why)
{
    struct isc_cmd *c, *tmp;
    struct cmd_list retry = TAILQ_HEAD_INITIALIZER(retry);

    emit(s, ISC_EV_CONN_LOST, -1, why);
    set_up(s, false);
    destroy_ctx(s);
    TAILQ_FOREACH_SAFE(c, &s->inflight, link, tmp)
    {
        TAILQ_REMOVE(&s->inflight, c, link);
        free_task(c);
        if (c->sent >= 2 || now >= c->deadline) {
            if (c->verify) {
                struct pin *p;

                pthread_mutex_lock(&s->lock);
                p = pin_find(s, c->lun);
                if (p)
                    p->state = PIN_NEED;
                pthread_mutex_unlock(&s->lock);
                free(c->buf);
                pthread_cond_destroy(&c->cond);
                free(c);
                continue;
            }
            emit(s, ISC_EV_CMD_EXPIRED, (int)c->lun, op_names[c->op]);
            complete(s, c, -EIO);
        } else {
            TAILQ_INSERT_TAIL(&retry, c, link);
        }
    }
    /* Identity checks are reissued after the next login anyway. */
    TAILQ_FOREACH_SAFE(c, &retry, link, tmp)
    {
        if (c->verify) {
            TAILQ_REMOVE(&retry, c, link);
            free(c->buf);
            pthread_cond_destroy(&c->cond);
            free(c);
        }
    }
    TAILQ_CONCAT(&retry, &s->queued, link);
    TAILQ_CONCAT(&s->queued, &retry, link);
    s->state = C_DOWN;
    s->backoff_ms = BACKOFF_MIN_MS;
    s->next_attempt = now; /* first try at once, then back off */
    s->cur_portal = (s->cur_portal + 1) % s->nportals;
}

/* ---- dispatch ----------------------------------------------------------- */

static int send_cmd(struct isc_session *s, struct isc_cmd *c)
{
    struct iscsi_context *ctx = s->ctx;
    int lun = (int)c->lun;
    uint32_t nb = c->bs ? (uint32_t)(c->len / c->bs) : 0;

    c->iov.iov_base = c->buf;
    c->iov.iov_len = c->len;
    switch (c->op) {
    case OP_READ:
        c->task = iscsi_read16_iov_task(ctx, lun, c->lba, (uint32_t)c->len,
                                        (int)c->bs, 0, 0, 0, 0, 0, scsi_cb, c,
                                        &c->iov, 1);
        break;
    case OP_WRITE:
        c->task = iscsi_write16_iov_task(ctx, lun, c->lba, NULL,
                                         (uint32_t)c->len, (int)c->bs, 0, 0, 0,
                                         0, 0, scsi_cb, c, &c->iov, 1);
        break;
    case OP_SYNC:
        c->task =
            iscsi_synchronizecache16_task(ctx, lun, 0, 0, 0, 0, scsi_cb, c);
        break;
    case OP_INQUIRY:
        c->task = iscsi_inquiry_task(ctx, lun, c->page >= 0,
                                     c->page >= 0 ? c->page : 0, (int)c->len,
                                     scsi_cb, c);
        break;
    case OP_READCAP16:
        c->task = iscsi_readcapacity16_task(ctx, lun, scsi_cb, c);
        break;
    case OP_REPORTLUNS:
        c->task = iscsi_reportluns_task(ctx, 0, (int)c->len, scsi_cb, c);
        break;
    }
    (void)nb;
    if (!c->task)
        return -EIO;
    c->sent++;
    return 0;
}

static struct isc_cmd *verify_cmd_new(struct isc_session *s, uint32_t lun,
                                      uint64_t now)
{
    struct isc_cmd *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->buf = malloc(1024);
    if (!c->buf) {
        free(c);
        return NULL;
    }
    pthread_cond_init(&c->cond, NULL);
    c->op = OP_INQUIRY;
    c->page = 0x83;
    c->len = 1024;
    c->lun = lun;
    c->verify = true;
    c->s = s;
    c->deadline = now + s->deadline_ms;
    return c;
}

static void dispatch(struct isc_session *s, uint64_t now)
{
    struct isc_cmd *c, *tmp;

    TAILQ_FOREACH_SAFE(c, &s->queued, link, tmp)
    {
        struct pin *p = NULL;
        enum pin_state st = PIN_OK;

        if (s->ev_conn_dead)
            return;
        if (!c->verify) {
            pthread_mutex_lock(&s->lock);
            p = pin_find(s, c->lun);
            if (p) {
                st = p->state;
                if (st == PIN_NEED)
                    p->state = PIN_VERIFYING;
            }
            pthread_mutex_unlock(&s->lock);
        }
        if (st == PIN_BAD) {
            TAILQ_REMOVE(&s->queued, c, link);
            complete(s, c, -ISC_E_IDENTITY);
            continue;
        }
        if (st == PIN_VERIFYING)
            continue;
        if (st == PIN_NEED) {
            struct isc_cmd *v = verify_cmd_new(s, c->lun, now);

            if (!v || send_cmd(s, v) < 0) {
                if (v) {
                    free(v->buf);
                    free(v);
                }
                s->ev_conn_dead = true;
                snprintf(s->reason, sizeof(s->reason),
                         "cannot queue identity check: %s",
                         iscsi_get_error(s->ctx));
                return;
            }
            TAILQ_INSERT_TAIL(&s->inflight, v, link);
            continue;
        }
        TAILQ_REMOVE(&s->queued, c, link);
        if (send_cmd(s, c) < 0) {
            TAILQ_INSERT_HEAD(&s->queued, c, link);
            s->ev_conn_dead = true;
            snprintf(s->reason, sizeof(s->reason), "cannot queue %s: %s",
                     op_names[c->op], iscsi_get_error(s->ctx));
            return;
        }
        TAILQ_INSERT_TAIL(&s->inflight, c, link);
    }
}

static void expire_queued(struct isc_session *s, uint64_t now)
{
    struct isc_cmd *c, *tmp;

    TAILQ_FOREACH_SAFE(c, &s->queued, link, tmp)
    {
        if (now < c->deadline)
            continue;
        TAILQ_REMOVE(&s->queued, c, link);
        if (!c->verify)
            emit(s, ISC_EV_CMD_EXPIRED, (int)c->lun, op_names[c->op]);
        complete(s, c, -EIO);
    }
}

static bool inflight_expired(struct isc_session *s, uint64_t now,
                             struct isc_cmd **ret)
{
    struct isc_cmd *c;

    TAILQ_FOREACH(c, &s->inflight, link)
    {
        if (now >= c->deadline) {
            *ret = c;
            return true;
        }
    }
    return false;
}

static uint64_t next_wakeup(struct isc_session *s, uint64_t now)
{
    uint64_t t = now + TICK_MS;
    struct isc_cmd *c;

    TAILQ_FOREACH(c, &s->queued, link)
    if (c->deadline < t)
        t = c->deadline;
    TAILQ_FOREACH(c, &s->inflight, link)
    if (c->deadline < t)
        t = c->deadline;
    if (s->state == C_DOWN && s->next_attempt < t)
        t = s->next_attempt;
    if ((s->state == C_CONNECTING || s->state == C_LOGIN) &&
        s->attempt_deadline < t)
        t = s->attempt_deadline;
    if (s->state == C_UP) {
        uint64_t k = s->nop_sent ? s->nop_sent + s->deadline_ms
                                 : s->idle_since + KEEPALIVE_MS;
        if (k < t)
            t = k > now ? k : now;
    }
    return t;
}

static void service_fd(struct isc_session *s, short revents)
{
    int fd = iscsi_get_fd(s->ctx);
    char c;

    if (revents & POLLIN) {
        /* libiscsi with auto-reconnect off swallows EOF on an idle
         * session; look for it ourselves so a killed target is noticed
         * before the next command needs it. */
        ssize_t r = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

        if (r == 0) {
            snprintf(s->reason, sizeof(s->reason),
                     "target closed the connection");
            if (s->state == C_UP)
                s->ev_conn_dead = true;
            else {
                s->fail_class = s->fail_class ? s->fail_class : -ISC_E_LOGIN;
                s->ev_attempt_failed = true;
            }
            return;
        }
    }
    if (iscsi_service(s->ctx, revents) < 0 || (revents & (POLLHUP | POLLERR))) {
        if (s->state == C_UP) {
            if (!s->ev_conn_dead)
                snprintf(s->reason, sizeof(s->reason), "socket error: %s",
                         iscsi_get_error(s->ctx));
            s->ev_conn_dead = true;
        } else if (!s->ev_login_ok && !s->ev_attempt_failed) {
            snprintf(s->reason, sizeof(s->reason), "connect failed: %s",
                     iscsi_get_error(s->ctx));
            s->fail_class = -ISC_E_CONNECT;
            s->ev_attempt_failed = true;
        }
    }
}

static void fail_all(struct isc_session *s)
{
    struct isc_cmd *c, *tmp;

    destroy_ctx(s);
    pthread_mutex_lock(&s->lock);
    TAILQ_CONCAT(&s->queued, &s->pending, link);
    pthread_mutex_unlock(&s->lock);
    TAILQ_CONCAT(&s->queued, &s->inflight, link);
    TAILQ_FOREACH_SAFE(c, &s->queued, link, tmp)
    {
        TAILQ_REMOVE(&s->queued, c, link);
        free_task(c);
        if (c->verify) {
            free(c->buf);
            pthread_cond_destroy(&c->cond);
            free(c);
            continue;
        }
        complete(s, c, -EIO);
    }
}

static void *worker(void *arg)
{
    struct isc_session *s = arg;

    for (;;) {
        struct pollfd pfd[2] = {{.fd = s->efd, .events = POLLIN}};
        struct isc_cmd *late;
        uint64_t now, wakeup;
        int nfds = 1, ev = 0, timeout;

        pthread_mutex_lock(&s->lock);
        if (s->stop) {
            pthread_mutex_unlock(&s->lock);
            break;
        }
        TAILQ_CONCAT(&s->queued, &s->pending, link);
        pthread_mutex_unlock(&s->lock);

        now = cmn_now_ms();
        if (s->ev_login_ok &&
            (s->state == C_LOGIN || s->state == C_CONNECTING)) {
            s->ev_login_ok = false;
            login_ok(s);
        }
        if (s->ev_attempt_failed && s->state != C_UP && s->state != C_DOWN)
            attempt_failed(s, now);
        if ((s->state == C_CONNECTING || s->state == C_LOGIN) &&
            now >= s->attempt_deadline) {
            snprintf(s->reason, sizeof(s->reason),
                     "no answer from portal %s within %u ms",
                     s->portals[s->cur_portal],
                     (unsigned)s->attempt_timeout_ms);
            if (s->state == C_CONNECTING)
                s->fail_class = -ISC_E_CONNECT;
            else
                s->fail_class = -ISC_E_TIMEOUT;
            attempt_failed(s, now);
        }
        if (s->state == C_UP && !s->ev_conn_dead &&
            inflight_expired(s, now, &late)) {
            snprintf(s->reason, sizeof(s->reason),
                     "%s to LUN %u got no answer within %u ms",
                     op_names[late->op], late->lun, s->deadline_ms);
            s->ev_conn_dead = true;
        }
        keepalive(s, now);
        if (s->state == C_UP && s->ev_conn_dead) {
            char why[sizeof(s->reason)];

            memcpy(why, s->reason, sizeof(why));
            s->ev_conn_dead = false;
            conn_lost(s, now, why);
        }
        pthread_mutex_lock(&s->lock);
        if (s->stop) {
            pthread_mutex_unlock(&s->lock);
            break;
        }
        pthread_mutex_unlock(&s->lock);
        expire_queued(s, now);
        if (s->state == C_DOWN && now >= s->next_attempt)
            start_attempt(s, now);
        if (s->state == C_UP)
            dispatch(s, now);
        if (s->ev_attempt_failed || s->ev_conn_dead || s->ev_login_ok)
            continue; /* act on it right away */

        wakeup = next_wakeup(s, now);
        timeout = wakeup > now ? (int)(wakeup - now) : 0;
        if (s->ctx) {
            ev = iscsi_which_events(s->ctx);
            if (ev) {
                pfd[1].fd = iscsi_get_fd(s->ctx);
                pfd[1].events = (short)ev;
                nfds = 2;
            } else if (timeout > 100) {
                timeout = 100; /* libiscsi asks to be polled again */
            }
        }
        if (poll(pfd, (nfds_t)nfds, timeout) < 0)
            continue;
        if (pfd[0].revents & POLLIN) {
            uint64_t v;

            if (read(s->efd, &v, sizeof(v)) < 0) {
                /* EAGAIN: another round drained it */
            }
        }
        if (nfds == 2 && pfd[1].revents && s->ctx)
            service_fd(s, pfd[1].revents);
    }
    if (s->opening)
        open_finish(s, -ECANCELED);
    fail_all(s);
    return NULL;
}

/* ---- public API -------------------------------------------------------- */

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void wipe_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

void isc_session_free(struct isc_session *s)
{
    size_t i;

    if (!s)
        return;
    if (s->thread_started) {
        pthread_mutex_lock(&s->lock);
        s->stop = true;
        pthread_mutex_unlock(&s->lock);
        wake(s);
        pthread_join(s->thread, NULL);
    }
    if (s->efd >= 0)
        close(s->efd);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->open_cond);
    free(s->initiator);
    free(s->iqn);
    for (i = 0; i < s->nportals; i++)
        free(s->portals[i]);
    free(s->portals);
    free(s->user);
    wipe_free(s->secret);
    free(s->muser);
    wipe_free(s->msecret);
    free(s->pins);
    free(s);
}

int isc_session_open(const struct isc_target_opts *o,
                     struct isc_session **ret_session, char *err, size_t errlen)
{
    struct isc_session *s;
    size_t i;
    int rc;

    if (!o || !o->iqn || !o->initiator_name || o->nportals == 0 ||
        o->deadline_ms == 0)
        return -EINVAL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->efd = -1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->open_cond, NULL);
    TAILQ_INIT(&s->pending);
    TAILQ_INIT(&s->queued);
    TAILQ_INIT(&s->inflight);
    s->initiator = xstrdup(o->initiator_name);
    s->iqn = xstrdup(o->iqn);
    s->portals = calloc(o->nportals, sizeof(char *));
    if (!s->initiator || !s->iqn || !s->portals) {
        rc = -ENOMEM;
        goto out;
    }
    s->nportals = o->nportals;
    for (i = 0; i < o->nportals; i++) {
        s->portals[i] = xstrdup(o->portals[i]);
        if (!s->portals[i]) {
            rc = -ENOMEM;
            goto out;
        }
    }
    s->user = xstrdup(o->auth.user);
    s->secret = xstrdup(o->auth.secret);
    s->muser = xstrdup(o->auth.mutual_user);
    s->msecret = xstrdup(o->auth.mutual_secret);
    s->deadline_ms = o->deadline_ms;
    s->on_event = o->on_event;
    s->opaque = o->opaque;
    s->backoff_ms = BACKOFF_MIN_MS;
    s->opening = true;
    s->state = C_DOWN;
    s->next_attempt = cmn_now_ms();
    s->open_deadline = s->next_attempt + s->deadline_ms;
    s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->efd < 0) {
        rc = -errno;
        goto out;
    }
    rc = -pthread_create(&s->thread, NULL, worker, s);
    if (rc < 0)
        goto out;
    s->thread_started = true;

    pthread_mutex_lock(&s->lock);
    while (!s->open_done)
        pthread_cond_wait(&s->open_cond, &s->lock);
    rc = s->open_rc;
    if (rc < 0 && err && errlen)
        snprintf(err, errlen, "%s", s->open_err);
    pthread_mutex_unlock(&s->lock);
    if (rc < 0)
        goto out;
    *ret_session = s;
    s = NULL;
out:
    isc_session_free(s);
    return rc;
}

bool isc_session_connected(struct isc_session *s)
{
    bool up;

    pthread_mutex_lock(&s->lock);
    up = s->up;
    pthread_mutex_unlock(&s->lock);
    return up;
}

const char *isc_session_target(const struct isc_session *s)
{
    return s->iqn;
}

void isc_session_portal(struct isc_session *s, char *buf, size_t buflen)
{
    pthread_mutex_lock(&s->lock);
    snprintf(buf, buflen, "%s",
             s->portal_now[0] ? s->portal_now : s->portals[0]);
    pthread_mutex_unlock(&s->lock);
}

static int run_cmd(struct isc_session *s, struct isc_cmd *c)
{
    int rc;

    pthread_cond_init(&c->cond, NULL);
    c->s = s;
    c->deadline = cmn_now_ms() + s->deadline_ms;
    pthread_mutex_lock(&s->lock);
    if (s->stop) {
        pthread_mutex_unlock(&s->lock);
        pthread_cond_destroy(&c->cond);
        return -EIO;
    }
    TAILQ_INSERT_TAIL(&s->pending, c, link);
    pthread_mutex_unlock(&s->lock);
    wake(s);
    pthread_mutex_lock(&s->lock);
    while (!c->done)
        pthread_cond_wait(&c->cond, &s->lock);
    rc = c->rc;
    pthread_mutex_unlock(&s->lock);
    pthread_cond_destroy(&c->cond);
    return rc;
}

int isc_read(struct isc_session *s, uint32_t lun, uint32_t block_size,
             uint64_t lba, void *buf, size_t len)
{
    struct isc_cmd c = {.op = OP_READ,
                        .lun = lun,
                        .bs = block_size,
                        .lba = lba,
                        .buf = buf,
                        .len = len};

    if (block_size == 0 || len % block_size != 0 || len > UINT32_MAX)
        return -EINVAL;
    if (len == 0)
        return 0;
    return run_cmd(s, &c);
}

int isc_read_async(struct isc_session *s, uint32_t lun, uint32_t block_size,
                   uint64_t lba, void *buf, size_t len, isc_done_fn done,
                   void *opaque)
{
    struct isc_cmd *c;

    if (block_size == 0 || len == 0 || len % block_size != 0 ||
        len > UINT32_MAX || !done)
        return -EINVAL;
    c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->op = OP_READ;
    c->lun = lun;
    c->bs = block_size;
    c->lba = lba;
    c->buf = buf;
    c->len = len;
    c->s = s;
    c->done_fn = done;
    c->done_opaque = opaque;
    c->deadline = cmn_now_ms() + s->deadline_ms;
    pthread_mutex_lock(&s->lock);
    if (s->stop) {
        pthread_mutex_unlock(&s->lock);
        free(c);
        return -EIO;
    }
    TAILQ_INSERT_TAIL(&s->pending, c, link);
    pthread_mutex_unlock(&s->lock);
    wake(s);
    return 0;
}

int isc_write(struct isc_session *s, uint32_t lun, uint32_t block_size,
              uint64_t lba, const void *buf, size_t len)
{
    /* libiscsi only reads from an output iovec. */
    struct isc_cmd c = {.op = OP_WRITE,
                        .lun = lun,
                        .bs = block_size,
                        .lba = lba,
                        .buf = (void *)(uintptr_t)buf,
                        .len = len};

    if (block_size == 0 || len % block_size != 0 || len > UINT32_MAX)
        return -EINVAL;
    if (len == 0)
        return 0;
    return run_cmd(s, &c);
}

int isc_sync_cache(struct isc_session *s, uint32_t lun)
{
    struct isc_cmd c = {.op = OP_SYNC, .lun = lun};

    return run_cmd(s, &c);
}

static int inquiry(struct isc_session *s, uint32_t lun, int page, uint8_t *buf,
                   size_t len, size_t *ret_got)
{
    struct isc_cmd c = {
        .op = OP_INQUIRY, .lun = lun, .page = page, .buf = buf, .len = len};
    int rc = run_cmd(s, &c);

    if (rc == 0)
        *ret_got = c.got;
    return rc;
}

int isc_report_luns(struct isc_session *s, uint32_t **ret_luns,
                    size_t *ret_count)
{
    uint8_t *buf;
    uint32_t *luns = NULL;
    size_t max = 1024, n = 0;
    struct isc_cmd c = {.op = OP_REPORTLUNS};
    int rc;

    buf = malloc(8 + 8 * max);
    luns = calloc(max, sizeof(*luns));
    if (!buf || !luns) {
        rc = -ENOMEM;
        goto out;
    }
    c.buf = buf;
    c.len = 8 + 8 * max;
    rc = run_cmd(s, &c);
    if (rc < 0)
        goto out;
    rc = isc_reportluns_parse(buf, c.got, luns, max, &n);
    if (rc < 0)
        goto out;
    *ret_luns = luns;
    *ret_count = n;
    luns = NULL;
out:
    free(buf);
    free(luns);
    return rc;
}

static void copy_trim(char *dst, size_t dstlen, const uint8_t *src, size_t len)
{
    while (len > 0 && (src[len - 1] == ' ' || src[len - 1] == 0))
        len--;
    if (len >= dstlen)
        len = dstlen - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

int isc_lun_probe(struct isc_session *s, uint32_t lun,
                  struct isc_lun_info *ret_info)
{
    struct isc_lun_info info = {.lun = lun};
    uint8_t buf[1024];
    struct isc_designator d;
    size_t got = 0;
    int rc;

    rc = inquiry(s, lun, -1, buf, 96, &got);
    if (rc < 0)
        return rc;
    if (got < 36)
        return -ISC_E_VPD;
    /* Peripheral qualifier 0 and type 0 (direct access block device). */
    if ((buf[0] & 0xe0) != 0)
        return -ISC_E_NO_LUN;
    if ((buf[0] & 0x1f) != 0)
        return -ENOTBLK;
    copy_trim(info.vendor, sizeof(info.vendor), buf + 8, 8);
    copy_trim(info.product, sizeof(info.product), buf + 16, 16);

    rc = inquiry(s, lun, 0x80, buf, 255, &got);
    if (rc == 0)
        rc = isc_vpd80_serial(buf, got, info.serial, sizeof(info.serial));
    if (rc < 0 && rc != -ENOENT && rc != -ISC_E_SCSI && rc != -ISC_E_VPD)
        return rc;

    rc = inquiry(s, lun, 0x83, buf, sizeof(buf), &got);
    if (rc == 0)
        rc = isc_vpd83_select(buf, got, &d);
    if (rc == 0) {
        rc = isc_id_format(&d, info.id, sizeof(info.id));
        if (rc < 0)
            return rc;
    } else if (rc == -ENOENT || rc == -ISC_E_SCSI || rc == -ISC_E_VPD) {
        rc = isc_id_from_serial(info.serial, info.id, sizeof(info.id));
        if (rc < 0)
            return -ISC_E_NO_ID;
        info.id_from_serial = true;
    } else {
        return rc;
    }

    {
        struct isc_cmd c = {
            .op = OP_READCAP16, .lun = lun, .buf = buf, .len = 32};

        rc = run_cmd(s, &c);
        if (rc < 0)
            return rc;
        rc = isc_readcap16_parse(buf, c.got, &info.nblocks, &info.block_size);
        if (rc < 0)
            return rc;
    }
    *ret_info = info;
    return 0;
}

int isc_session_pin_id(struct isc_session *s, uint32_t lun, const char *id)
{
    struct pin *p;
    int rc = 0;

    pthread_mutex_lock(&s->lock);
    p = pin_find(s, lun);
    if (!p) {
        p = realloc(s->pins, (s->npins + 1) * sizeof(*p));
        if (!p) {
            rc = -ENOMEM;
            goto out;
        }
        s->pins = p;
        p = &s->pins[s->npins++];
    }
    p->lun = lun;
    snprintf(p->id, sizeof(p->id), "%s", id);
    p->state = PIN_OK;
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}
