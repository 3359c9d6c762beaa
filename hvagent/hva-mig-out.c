/* Live migration, source side: connect and authenticate to the target,
 * hand QEMU the data connection, watch pre-copy and apply the convergence
 * policy, release the lease at "completed", and roll back (the VM resumes
 * here with its lease) whenever anything fails before the target resumed.
 * The protocol and the safety argument are in hva-mig.c. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cmn-auto.h"
#include "common/cmn-err.h"
#include "common/cmn-ipc.h"
#include "common/cmn-log.h"
#include "common/cmn-time.h"
#include "hvagent/hva-mig-int.h"

static int split_hostport(const char *to, char *host, size_t hlen,
                          unsigned *port)
{
    const char *c = strrchr(to, ':');

    *port = HVA_MIGRATION_PORT;
    if (c) {
        *port = (unsigned)atoi(c + 1);
        snprintf(host, hlen, "%.*s", (int)(c - to), to);
    } else {
        snprintf(host, hlen, "%s", to);
    }
    return *port > 0 && *port < 65535 ? 0 : -EINVAL;
}

static void mig_progress_event(struct hva_mig *m)
{
    hva_agent_event(
        m->ag,
        "<event type=\"migration\" vm=\"%s\" phase=\"%s\" "
        "pass=\"%u\" transferred=\"%" PRIu64 "\" remaining=\"%" PRIu64
        "\" dirty-rate=\"%" PRIu64 "\" expected-downtime-ms=\"%" PRIu64 "\"/>",
        m->vm->def->name, hva_mig_phase_name(m->vm->phase), m->pass,
        m->transferred, m->remaining, m->dirty_rate, m->expected_dt);
}

/* ==== source side ======================================================== */

static void out_rollback(struct hva_mig *m, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void out_rb_status(void *data, int rc, json_object *ret,
                          const char *errmsg);

static void out_rb_leased(struct hva_mig *m, int rc, uint64_t ms);

/* Rollback, last step: the VM runs here again, with its lease. */
static void out_rb_finish(struct hva_mig *m)
{
    struct hva_vm *vm = m->vm;

    if (m->lease_cb) {
        /* A release is in flight: decide once it reported. */
        m->rb_pending = true;
        return;
    }
    if (hva_mig_vm_has_lease(vm) && !vm->lease_held) {
        /* We released it at "completed": take it back (the worker
         * retries while the target's QEMU is dying). If the target
         * holds it, the target runs the VM and ours must not. */
        hva_mig_lease(m, HVA_LEASE_ACQUIRE, RB_LEASE_MS, out_rb_leased);
        return;
    }
    hva_qmp_command(vm->qmp, "query-status", NULL, -1, out_rb_status, m);
}

static void out_rb_leased(struct hva_mig *m, int rc, uint64_t ms)
{
    struct hva_vm *vm = m->vm;

    (void)ms;
    if (!vm->qmp) {
        /* QEMU went away meanwhile (hva_mig_qemu_gone answered). */
        return;
    }
    if (rc < 0 && rc != -HVA_E_LEASE_HELD) {
        /* Nobody provably owns the VM (sanlock itself failed): keep
         * this copy paused, state intact, rather than lose the VM by
         * quitting a QEMU the target may never have replaced. */
        cmn_err(CMN_LOG_HVA,
                "VM '%s': lease not recovered after a failed migration "
                "(%s): VM kept paused here until the lease can be taken",
                vm->def->name, cmn_strerror(rc));
        snprintf(vm->last_err, sizeof(vm->last_err),
                 "%.300s; lease not recovered (%.60s): VM paused on "
                 "'%.64s'",
                 m->rb_msg, cmn_strerror(rc), vm->ag->node_name);
        hva_vm_set_phase(vm, HVA_PH_NONE);
        /* Not for ever: retried until sanlock answers (hva-lease.c);
         * the VM shows paused, not migrating, before clusterd hears
         * of the failure. */
        hva_lease_recover(vm, cmn_strerror(rc));
        hva_vm_reply(vm, m->rb_rc, NULL);
        hva_mig_free(m);
        return;
    }
    if (rc < 0) {
        cmn_err(CMN_LOG_HVA,
                "VM '%s': lease not recovered after a failed migration "
                "(%s): the target owns the VM, stopping the copy here",
                vm->def->name, cmn_strerror(rc));
        snprintf(vm->last_err, sizeof(vm->last_err),
                 "%.400s; lease now held by the target, VM runs there",
                 m->rb_msg);
        hva_qmp_command(vm->qmp, "quit", NULL, -1, NULL, NULL);
        hva_vm_set_phase(vm, HVA_PH_NONE);
        hva_vm_reply(vm, m->rb_rc, NULL);
        hva_mig_free(m);
        return;
    }
    vm->lease_held = true;
    hva_qmp_command(vm->qmp, "query-status", NULL, -1, out_rb_status, m);
}

static void out_rb_cont(void *data, int rc, json_object *ret,
                        const char *errmsg)
{
    struct hva_mig *m = data;
    struct hva_vm *vm = m->vm;

    (void)ret;
    if (rc < 0)
        cmn_err(CMN_LOG_HVA, "VM '%s': cont after rollback: %s", vm->def->name,
                errmsg);
    else
        hva_vm_set_state(vm, HVA_VM_RUNNING);
    cmn_warn(CMN_LOG_HVA, "VM '%s': migration rolled back: %s", vm->def->name,
             m->rb_msg);
    snprintf(vm->last_err, sizeof(vm->last_err), "%.400s; VM kept on '%.64s'",
             m->rb_msg, vm->ag->node_name);
    hva_vm_set_phase(vm, HVA_PH_NONE);
    hva_vm_reply(vm, m->rb_rc, NULL);
    hva_mig_free(m);
}

static void out_rb_status(void *data, int rc, json_object *ret,
                          const char *errmsg)
{
    struct hva_mig *m = data;
    json_object *st;

    (void)errmsg;
    if (rc == 0 && json_object_object_get_ex(ret, "status", &st) &&
        strcmp(json_object_get_string(st), "running") == 0) {
        out_rb_cont(m, 0, NULL, NULL);
        return;
    }
    hva_qmp_command(m->vm->qmp, "cont", NULL, -1, out_rb_cont, m);
}

static void out_rollback(struct hva_mig *m, int rc, const char *fmt, ...)
{
    va_list ap;

    if (m->rolling_back)
        return;
    m->rolling_back = true;
    m->rb_rc = rc;
    va_start(ap, fmt);
    vsnprintf(m->rb_msg, sizeof(m->rb_msg), fmt, ap);
    va_end(ap);
    if (m->poll_timer) {
        qb_loop_timer_del(m->ag->loop, m->poll_timer);
        m->poll_timer = 0;
    }
    if (m->chan) {
        hva_chan_send(m->chan, "ABORT %s", m->rb_msg);
        hva_chan_free(m->chan);
        m->chan = NULL;
    }
    hva_vm_set_phase(m->vm, HVA_PH_OUT_ROLLBACK);
    if (!m->vm->qmp) {
        hva_vm_reply(m->vm, rc, NULL);
        hva_mig_free(m);
        return;
    }
    if (m->qemu_migrating) {
        /* QEMU resumes a guest that was running when the migration is
         * cancelled; we continue in out_qmp_migration on "cancelled". */
        hva_qmp_command(m->vm->qmp, "migrate_cancel", NULL, -1, NULL, NULL);
        return;
    }
    out_rb_finish(m);
}

static void out_cmd_check(void *data, int rc, json_object *ret,
                          const char *errmsg)
{
    struct hva_mig *m = data;

    (void)ret;
    if (rc < 0)
        out_rollback(m, -HVA_E_MIGRATION,
                     "QEMU refused a migration "
                     "command: %s",
                     errmsg);
}

static void out_migrate_done(void *data, int rc, json_object *ret,
                             const char *errmsg)
{
    struct hva_mig *m = data;

    (void)ret;
    if (rc < 0) {
        m->qemu_migrating = false;
        out_rollback(m, -HVA_E_MIGRATION, "migrate: %s", errmsg);
    }
}

static void out_apply_policy(struct hva_mig *m)
{
    unsigned nd = 0;
    enum hva_mig_action a = hva_mig_policy(&m->set, m->pass, m->cur_downtime,
                                           m->remaining, m->dirty_rate, &nd);

    switch (a) {
    case HVA_MIG_SET_DOWNTIME: {
        json_object *p = json_object_new_object();
        cmn_info(CMN_LOG_HVA,
                 "VM '%s': pass %u, raising downtime limit %u "
                 "-> %u ms",
                 m->vm->def->name, m->pass, m->cur_downtime, nd);
        m->cur_downtime = nd;
        json_object_object_add(p, "downtime-limit", json_object_new_int64(nd));
        hva_qmp_command(m->vm->qmp, "migrate-set-parameters", p, -1, NULL,
                        NULL);
        break;
    }
    case HVA_MIG_CANCEL:
        out_rollback(m, -HVA_E_CONVERGE,
                     "no convergence after %u passes (policy %s, downtime "
                     "limit %u ms)",
                     m->pass, hva_converge_name(m->set.converge),
                     m->cur_downtime);
        break;
    case HVA_MIG_WAIT:
    case HVA_MIG_THROTTLE:
        break;
    }
}

static void out_poll(void *data);

/* How long the stream has not moved. QEMU's byte count alone misses a
 * dead path for as long as the socket buffer takes what QEMU writes (4
 * MiB of zero-page records are most of a large idle guest), so the ACKs
 * the target's kernel sends count too: data in flight and no ACK for a
 * while is a stall. */
static uint64_t out_stalled_ms(struct hva_mig *m)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    bool tcp = m->data_fd >= 0 &&
               getsockopt(m->data_fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0;
    uint64_t ms = hva_mig_stall_ms(cmn_now_ms() - m->t_progress, tcp,
                                   tcp ? ti.tcpi_unacked : 0,
                                   tcp ? ti.tcpi_last_ack_recv : 0);
    if (ms >= 1000 && ms / 1000 != (ms - MIG_POLL_MS) / 1000)
        cmn_debug(CMN_LOG_HVA, "VM '%s': stream idle for %" PRIu64 " ms",
                  m->vm->def->name, ms);
    return ms;
}

static void out_query_done(void *data, int rc, json_object *ret,
                           const char *errmsg)
{
    struct hva_mig *m = data;
    struct hva_mig_progress p;

    (void)errmsg;
    if (rc < 0 || m->rolling_back)
        return;
    hva_mig_progress_parse(ret, &p);
    if (p.have_ram) {
        uint64_t now = cmn_now_ms();
        if (p.transferred != m->transferred) {
            if (now - m->t_progress >= 1000)
                cmn_debug(CMN_LOG_HVA,
                          "VM '%s': stream moves again after %" PRIu64 " ms",
                          m->vm->def->name, now - m->t_progress);
            m->t_progress = now;
        }
        m->transferred = p.transferred;
        m->remaining = p.remaining;
        if (p.dirty_rate) {
            m->dirty_rate = p.dirty_rate;
        } else if (p.pass > m->rate_pass) {
            /* QEMU measures the rate over a second of syncs at least, so
             * a pre-copy of shorter passes would show none: what the
             * new pass has left to send is what the guest dirtied during
             * the last one. */
            m->dirty_rate =
                hva_mig_dirty_estimate(p.remaining, now - m->t_pass);
            m->rate_pass = p.pass;
            m->t_pass = now;
        }
        if (p.pass > m->pass) {
            m->pass = p.pass;
            out_apply_policy(m);
        }
    }
    m->expected_dt = p.expected_downtime;
    if (m->rolling_back)
        return; /* the policy gave up */
    if (m->vm->phase == HVA_PH_OUT_PRECOPY && m->set.stall_ms &&
        out_stalled_ms(m) >= m->set.stall_ms) {
        /* The stream moves nothing (a dead path blocks QEMU's writes):
         * waiting for TCP or the overall timeout would keep the guest
         * tied to a migration that cannot finish. Nothing switched
         * over: the VM and its lease stay here. */
        out_rollback(m, -HVA_E_MIGRATION,
                     "migration to %s stalled: no data moved for %u.%u s "
                     "(%" PRIu64 " MiB sent; migration-stall-timeout %u ms), "
                     "cancelled: check the migration network from '%s' to "
                     "%s (ports %u-%u)",
                     m->host, m->set.stall_ms / 1000,
                     m->set.stall_ms % 1000 / 100, m->transferred >> 20,
                     m->set.stall_ms, m->ag->node_name, m->host, m->port,
                     m->port + 1);
        return;
    }
    if (m->vm->phase == HVA_PH_OUT_PRECOPY) {
        mig_progress_event(m);
        qb_loop_timer_add(m->ag->loop, QB_LOOP_MED, MIG_POLL_MS * 1000000ULL, m,
                          out_poll, &m->poll_timer);
    }
}

static void out_poll(void *data)
{
    struct hva_mig *m = data;

    m->poll_timer = 0;
    if (m->vm->phase != HVA_PH_OUT_PRECOPY || !m->vm->qmp)
        return;
    hva_qmp_command(m->vm->qmp, "query-migrate", NULL, -1, out_query_done, m);
}

/* QEMU's migration parameters, set while the channel is still being
 * set up (they only apply once "migrate" runs). */
static void out_qemu_params(struct hva_mig *m)
{
    struct hva_vm *vm = m->vm;

    hva_qmp_command(
        vm->qmp, "migrate-set-capabilities",
        hva_mig_caps_args(false, m->set.converge == HVA_CONVERGE_THROTTLE), -1,
        out_cmd_check, m);
    json_object *p = json_object_new_object();
    /* QEMU's downtime-limit covers only its own stop-to-complete work;
     * the lease handoff happens inside the same pause. Reserve room for
     * it so the guest-visible downtime meets the target. */
    unsigned reserve = m->set.handoff_reserve_ms;
    m->cur_downtime =
        m->set.downtime_ms > reserve + 10 ? m->set.downtime_ms - reserve : 10;
    json_object_object_add(p, "downtime-limit",
                           json_object_new_int64(m->cur_downtime));
    /* 0 would mean QEMU's default of 128 MiB/s: "unlimited" is large. */
    json_object_object_add(
        p, "max-bandwidth",
        json_object_new_int64(m->set.max_bandwidth
                                  ? (int64_t)m->set.max_bandwidth
                                  : (int64_t)1 << 40));
    /* Clear unless this migration turns it on (out_start_qemu): the QEMU
     * may have received the VM encrypted, or tried to send it before. */
    json_object_object_add(p, "tls-creds", json_object_new_string(""));
    hva_qmp_command(vm->qmp, "migrate-set-parameters", p, -1, out_cmd_check, m);
}

/* QEMU's client read the key at object-add: its file goes now. */
static void out_tls_added(void *data, int rc, json_object *ret,
                          const char *errmsg)
{
    struct hva_mig *m = data;

    (void)ret;
    hva_mig_tls_done(m);
    if (rc < 0)
        out_rollback(m, -HVA_E_MIGRATION,
                     "migration-tls: QEMU refused its TLS credentials: %s",
                     errmsg);
}

/* migration-tls = psk: QEMU's TLS credentials, keyed for this migration,
 * and its stream through them; QMP runs the commands in order, before
 * the "migrate" that follows. */
static int out_tls_setup(struct hva_mig *m)
{
    struct hva_vm *vm = m->vm;
    char err[512];
    int rc = hva_mig_tls_prepare(m, false, err, sizeof(err));

    if (rc < 0) {
        out_rollback(m, -HVA_E_MIGRATION, "%s", err);
        return rc;
    }
    /* An earlier attempt's (or the incoming side's) object goes first. */
    hva_qmp_command(vm->qmp, "object-del",
                    hva_mig_str_arg("id", HVA_MIG_TLS_OBJ), -1, NULL, NULL);
    hva_qmp_command(vm->qmp, "object-add",
                    hva_mig_tls_object(false, m->tls_dir), -1, out_tls_added,
                    m);
    hva_qmp_command(vm->qmp, "migrate-set-parameters",
                    hva_mig_str_arg("tls-creds", HVA_MIG_TLS_OBJ), -1,
                    out_cmd_check, m);
    return 0;
}

/* QEMU's reason for a failed stream, from query-migrate: with TLS on, a
 * key that differs is only seen as a failed handshake there. */
static void out_failed_desc(void *data, int rc, json_object *ret,
                            const char *errmsg)
{
    struct hva_mig *m = data;
    json_object *d;
    const char *desc = NULL;

    (void)errmsg;
    if (m->rolling_back)
        return;
    if (rc == 0 && json_object_object_get_ex(ret, "error-desc", &d))
        desc = json_object_get_string(d);
    if (desc && strstr(desc, "TLS"))
        out_rollback(m, -HVA_E_MIGRATION,
                     "memory stream to %s: %s (migration-tls = psk: is the "
                     "target's stream key the same, see "
                     "migration-tls-key?)",
                     m->host, desc);
    else
        out_rollback(m, -HVA_E_MIGRATION, "QEMU migration failed%s%s",
                     desc ? ": " : "", desc ? desc : "");
}

/* The data connection is up (token sent): QEMU streams into it. */
static void out_start_qemu(struct hva_mig *m, int dfd)
{
    struct hva_vm *vm = m->vm;
    int rc;

    rc =
        hva_qmp_command(vm->qmp, "getfd", hva_mig_str_arg("fdname", MIG_FDNAME),
                        dfd, out_cmd_check, m);
    /* QEMU has its own copy now; ours only reads the TCP state for the
     * stall check (out_stalled_ms) until pre-copy ends. */
    hva_mig_data_close(m);
    m->data_fd = dfd;
    if (rc < 0) {
        out_rollback(m, -HVA_E_MIGRATION, "getfd: %s", cmn_strerror(rc));
        return;
    }
    if (m->ag->mig_tls && out_tls_setup(m) < 0)
        return;
    m->t_migrate = cmn_now_ms();
    m->t_progress = m->t_migrate;
    m->rate_pass = 1; /* QEMU's first pass starts with the command */
    m->t_pass = m->t_migrate;
    m->qemu_migrating = true;
    hva_vm_set_phase(vm, HVA_PH_OUT_PRECOPY);
    hva_qmp_command(vm->qmp, "migrate",
                    hva_mig_str_arg("uri", "fd:" MIG_FDNAME), -1,
                    out_migrate_done, m);
    qb_loop_timer_add(m->ag->loop, QB_LOOP_MED, MIG_POLL_MS * 1000000ULL, m,
                      out_poll, &m->poll_timer);
}

/* ---- connects in worker threads ---- */

struct out_conn_job {
    struct hva_mig *m;
    char host[256];
    unsigned port;
    uint8_t key[32];
    char identity[64];
    char token_line[MIG_TOKEN_LEN + 8]; /* data connection only */
    struct hva_chan *chan;              /* control connection result */
    int fd;                             /* data connection result */
};

static struct out_conn_job *out_conn_job_new(struct hva_mig *m)
{
    struct out_conn_job *j = calloc(1, sizeof(*j));

    if (!j)
        return NULL;
    j->m = m;
    j->fd = -1;
    snprintf(j->host, sizeof(j->host), "%s", m->host);
    j->port = m->port;
    memcpy(j->key, m->ag->psk, sizeof(j->key));
    snprintf(j->identity, sizeof(j->identity), "%s", m->ag->node_name);
    return j;
}

static void out_conn_job_free(struct out_conn_job *j)
{
    explicit_bzero(j->key, sizeof(j->key));
    explicit_bzero(j->token_line, sizeof(j->token_line));
    free(j);
}

static int out_data_work(void *arg)
{
    struct out_conn_job *j = arg;
    size_t n = strlen(j->token_line);
    int rc = hva_tcp_connect(j->host, j->port + 1, MIG_DATA_MS, &j->fd);

    if (rc < 0)
        return rc;
    if (write(j->fd, j->token_line, n) != (ssize_t)n) {
        close(j->fd);
        j->fd = -1;
        return -EIO;
    }
    return 0;
}

static void out_data_done(void *arg, int rc)
{
    struct out_conn_job *j = arg;
    struct hva_mig *m = j->m;
    int fd = j->fd;

    out_conn_job_free(j);
    if (!hva_mig_job_done(m) || m->rolling_back) {
        if (fd >= 0)
            close(fd);
        return;
    }
    if (rc < 0) {
        out_rollback(m, -HVA_E_MIGRATION, "data connection to %s:%u: %s",
                     m->host, m->port + 1, strerror(-rc));
        return;
    }
    out_start_qemu(m, fd);
}

static void out_data_connect(struct hva_mig *m)
{
    struct out_conn_job *j = out_conn_job_new(m);
    int rc = j ? 0 : -ENOMEM;

    if (j) {
        snprintf(j->token_line, sizeof(j->token_line), "DATA %s\n", m->token);
        rc = cmn_work_submit(m->ag->work, out_data_work, out_data_done, j);
        if (rc < 0)
            out_conn_job_free(j);
    }
    if (rc < 0) {
        out_rollback(m, -HVA_E_MIGRATION, "data connection: %s",
                     cmn_strerror(rc));
        return;
    }
    m->jobs++;
}

static void out_final_stats(void *data, int rc, json_object *ret,
                            const char *errmsg)
{
    struct hva_mig *m = data;
    struct hva_vm *vm = m->vm;
    struct hva_mig_progress p;

    (void)errmsg;
    if (rc == 0) {
        hva_mig_progress_parse(ret, &p);
        m->qemu_downtime = p.downtime;
        m->qemu_total = p.total_time;
        m->setup_ms = p.setup_time;
        if (p.have_ram) {
            m->transferred = p.transferred;
            if (p.pass)
                m->pass = p.pass;
        }
    }
    snprintf(m->result, sizeof(m->result),
             "downtime-ms=\"%" PRIu64 "\" total-ms=\"%" PRIu64
             "\" prep-ms=\"%" PRIu64 "\" tls-ms=\"%" PRIu64
             "\" ready-ms=\"%" PRIu64 "\" qemu-total-ms=\"%" PRIu64
             "\" bytes=\"%" PRIu64 "\" passes=\"%u\" handoff-ms=\"%" PRIu64
             "\" paused-to-resumed-ms=\"%" PRIu64 "\" downtime-limit-ms=\"%u\""
             " release-ms=\"%" PRIu64 "\" acquire-ms=\"%" PRIu64 "\""
             " stream=\"%s\"",
             /* QEMU counts from stopping the guest to sending the last
              * byte; the lease handoff and the target's cont follow. */
             m->qemu_downtime + (m->t_resumed - m->t_paused),
             /* total: from the request (connect, TLS, target ready) to
              * the guest running on the target */
             m->t_resumed - m->t_start, m->t_migrate - m->t_start,
             m->t_chan - m->t_start, m->t_ready - m->t_start, m->qemu_total,
             m->transferred, m->pass, m->t_acquired - m->t_paused,
             m->t_resumed - m->t_paused, m->cur_downtime,
             m->t_released - m->t_paused, m->acquire_ms,
             m->ag->mig_tls ? "tls" : "clear");
    cmn_info(CMN_LOG_HVA, "VM '%s': migrated to %s: %s", vm->def->name, m->host,
             m->result);
    hva_vm_set_phase(vm, HVA_PH_OUT_DONE);
    /* The guest runs on the target: this copy goes. The reply waits for
     * QEMU's exit (hva_mig_qemu_gone) so "done" means "nothing left". */
    hva_qmp_command(vm->qmp, "quit", NULL, -1, NULL, NULL);
}

static void out_maybe_finish(struct hva_mig *m)
{
    if (!m->src_completed || !m->target_resumed || m->rolling_back)
        return;
    if (m->vm->phase != HVA_PH_OUT_CONTINUED)
        return;
    hva_qmp_command(m->vm->qmp, "query-migrate", NULL, -1, out_final_stats, m);
}

static void out_up(void *data)
{
    struct hva_mig *m = data;
    char *xml cmn_autofree = NULL;

    if (hva_vm_def_to_xml(m->vm->def, &xml) < 0) {
        out_rollback(m, -ENOMEM, "out of memory");
        return;
    }
    hva_vm_set_phase(m->vm, HVA_PH_OUT_PREPARE);
    /* Pings let the target notice a dead path by itself (it cannot
     * count on our ABORT getting through); stall-ms tells it how long a
     * silence means that. */
    hva_chan_keepalive(m->chan, MIG_PING_MS, 0);
    /* Says which VM we bring: the target takes only the one it was
     * armed for (migrate-in). */
    hva_chan_send(m->chan, "HELLO node=%s vm=%s uuid=%s stall-ms=%u",
                  m->ag->node_name, m->vm->def->name, m->vm->def->uuid,
                  m->set.stall_ms);
    hva_chan_send(m->chan, "PREPARE %s", xml);
}

static void out_line(void *data, char *line)
{
    struct hva_mig *m = data;
    struct hva_vm *vm = m->vm;
    char *arg = strchr(line, ' ');

    if (arg)
        *arg++ = '\0';
    cmn_debug(CMN_LOG_HVA, "VM '%s': target says %s", vm->def->name, line);
    if (strcmp(line, "READY") == 0 && vm->phase == HVA_PH_OUT_PREPARE) {
        /* "READY <token>[ tls]": tls, the target expects the memory
         * stream through QEMU's TLS (its migration-tls = psk). */
        bool tls = arg && strlen(arg) == MIG_TOKEN_LEN + 4 &&
                   strcmp(arg + MIG_TOKEN_LEN, " tls") == 0;
        if (!arg || (strlen(arg) != MIG_TOKEN_LEN && !tls)) {
            out_rollback(m, -EPROTO, "target sent a bad token");
            return;
        }
        if (tls != m->ag->mig_tls) {
            out_rollback(m, -HVA_E_REFUSED,
                         "target %s has migration-tls = %s, node '%s' %s: "
                         "set the same on every node",
                         m->host, tls ? "psk" : "off", m->ag->node_name,
                         m->ag->mig_tls ? "psk" : "off");
            return;
        }
        snprintf(m->token, sizeof(m->token), "%.*s", MIG_TOKEN_LEN, arg);
        m->t_ready = cmn_now_ms();
        out_data_connect(m);
    } else if (strcmp(line, "REFUSED") == 0) {
        out_rollback(m, -HVA_E_REFUSED, "target %s refused: %s", m->host,
                     arg ? arg : "");
    } else if (strcmp(line, "ABORT") == 0) {
        out_rollback(m, -HVA_E_MIGRATION, "target %s aborted: %s", m->host,
                     arg ? arg : "");
    } else if (strcmp(line, "LEASE-ACQUIRED") == 0 &&
               vm->phase == HVA_PH_OUT_RELEASED) {
        m->t_acquired = cmn_now_ms();
        m->acquire_ms = arg ? strtoull(arg, NULL, 10) : 0;
        hva_vm_set_phase(vm, HVA_PH_OUT_CONTINUED);
        out_maybe_finish(m);
    } else if (strcmp(line, "LEASE-FAILED") == 0) {
        out_rollback(m, -HVA_E_LEASE_HELD,
                     "target could not take the "
                     "lease: %s",
                     arg ? arg : "");
    } else if (strcmp(line, "RESUMED") == 0) {
        m->t_resumed = cmn_now_ms();
        m->target_resumed = true;
        out_maybe_finish(m);
    }
}

static void out_down(void *data, int rc)
{
    struct hva_mig *m = data;

    hva_chan_free(m->chan); /* deferred: we are in its dispatch */
    m->chan = NULL;
    if (m->target_resumed)
        return;
    out_rollback(m, rc == -HVA_E_AUTH ? -HVA_E_AUTH : -HVA_E_MIGRATION,
                 "control channel to %s lost: %s", m->host,
                 rc == -HVA_E_AUTH ? "authentication failed (wrong key?)"
                                   : cmn_strerror(rc));
}

static const struct hva_chan_ops out_chan_ops = {
    .up = out_up,
    .line = out_line,
    .down = out_down,
};

static void out_deadline(void *data)
{
    struct hva_mig *m = data;

    m->deadline_timer = 0;
    if (m->vm->phase < HVA_PH_OUT_RELEASED)
        out_rollback(m, -ETIMEDOUT, "migration timed out after %u s",
                     m->set.timeout_s);
}

static int out_connect_work(void *arg)
{
    struct out_conn_job *j = arg;

    return hva_chan_connect(j->host, j->port, j->key, j->identity,
                            MIG_CONNECT_MS, &j->chan);
}

static void out_connect_done(void *arg, int rc)
{
    struct out_conn_job *j = arg;
    struct hva_mig *m = j->m;
    struct hva_chan *c = j->chan;

    out_conn_job_free(j);
    if (!hva_mig_job_done(m) || m->rolling_back) {
        hva_chan_free(c);
        return;
    }
    if (rc == 0)
        rc = hva_chan_attach(c, m->ag->loop, &out_chan_ops, m);
    if (rc < 0) {
        struct hva_vm *vm = m->vm;

        hva_chan_free(c);
        if (rc == -HVA_E_AUTH)
            snprintf(vm->last_err, sizeof(vm->last_err),
                     "VM '%s': target %s:%u: authentication failed (wrong "
                     "key?); VM kept on '%s'",
                     vm->def->name, m->host, m->port, vm->ag->node_name);
        else if (rc == -ECONNRESET)
            /* The target closes before TLS a source outside its allow
             * list, or while it has too many unauthenticated peers. */
            snprintf(vm->last_err, sizeof(vm->last_err),
                     "VM '%s': target %s:%u closed the connection before "
                     "authentication (is '%s' in its migration allow list? "
                     "see the target's log); VM kept on '%s'",
                     vm->def->name, m->host, m->port, vm->ag->node_name,
                     vm->ag->node_name);
        else
            snprintf(vm->last_err, sizeof(vm->last_err),
                     "VM '%s': target %s:%u not reachable: %s; VM kept on "
                     "'%s'",
                     vm->def->name, m->host, m->port, cmn_strerror(rc),
                     vm->ag->node_name);
        /* The guest never stopped and the lease never moved. */
        hva_vm_set_phase(vm, HVA_PH_OUT_ROLLBACK);
        hva_vm_set_phase(vm, HVA_PH_NONE);
        hva_vm_set_state(vm, HVA_VM_RUNNING);
        hva_vm_reply(vm, rc == -HVA_E_AUTH ? rc : -HVA_E_MIGRATION, NULL);
        hva_mig_free(m);
        return;
    }
    m->chan = c;
    m->t_chan = cmn_now_ms();
    out_up(m);
}

int hva_mig_out(struct hva_vm *vm, const char *to,
                const struct hva_mig_settings *s, char *err, size_t errlen)
{
    struct hva_agent *ag = vm->ag;
    struct out_conn_job *j;
    struct hva_mig *m;
    int rc;

    if (vm->state != HVA_VM_RUNNING || !vm->qmp || vm->mig) {
        snprintf(err, errlen, "VM '%s' is %s, not running", vm->def->name,
                 hva_vm_state_name(vm->state));
        return -HVA_E_STATE;
    }
    if (!ag->have_psk) {
        snprintf(err, errlen, "no migration key (corosync authkey missing)");
        return -HVA_E_AUTH;
    }
    m = hva_mig_new(ag, vm, HVA_MIG_OUT);
    if (!m)
        return -ENOMEM;
    m->set = *s;
    m->t_start = cmn_now_ms();
    if (split_hostport(to, m->host, sizeof(m->host), &m->port) < 0) {
        snprintf(err, errlen, "migrate-out: bad target '%s' (ADDR:PORT)", to);
        hva_mig_free(m);
        return -HVA_E_BAD_REQUEST;
    }
    j = out_conn_job_new(m);
    rc = j ? cmn_work_submit(ag->work, out_connect_work, out_connect_done, j)
           : -ENOMEM;
    if (rc < 0) {
        if (j)
            out_conn_job_free(j);
        snprintf(err, errlen, "VM '%s': migrate-out: %s", vm->def->name,
                 cmn_strerror(rc));
        hva_mig_free(m);
        return rc;
    }
    m->jobs++;
    hva_vm_set_phase(vm, HVA_PH_OUT_CONNECT);
    hva_vm_set_state(vm, HVA_VM_MIGRATING);
    /* Connect and TLS run in the worker meanwhile. */
    out_qemu_params(m);
    qb_loop_timer_add(ag->loop, QB_LOOP_LOW,
                      (uint64_t)s->timeout_s * 1000000000ULL, m, out_deadline,
                      &m->deadline_timer);
    return CMN_IPC_DEFERRED;
}

static void out_released(struct hva_mig *m, int rc, uint64_t ms)
{
    struct hva_vm *vm = m->vm;

    (void)ms;
    if (rc == 0)
        vm->lease_held = false;
    if (m->rolling_back) {
        /* The rollback waited for this call: it knows now whether to
         * take the lease back. */
        if (m->rb_pending) {
            m->rb_pending = false;
            out_rb_finish(m);
        }
        return;
    }
    if (rc < 0) {
        out_rollback(m, rc, "lease release: %s", cmn_strerror(rc));
        return;
    }
    m->t_released = cmn_now_ms();
    hva_vm_set_phase(vm, HVA_PH_OUT_RELEASED);
    hva_chan_send(m->chan, "LEASE-RELEASED");
}

void hva_mig_out_qemu_event(struct hva_mig *m, const struct hva_mig_reaction *r)
{
    struct hva_vm *vm = m->vm;

    if (r->stream_over)
        hva_mig_data_close(m); /* QEMU is done with the stream */
    switch (r->what) {
    case HVA_MR_PASS:
        m->pass = r->pass;
        out_apply_policy(m);
        break;
    case HVA_MR_STREAM_DONE:
        /* QEMU stopped the guest for good (postmigrate) and sent the last
         * state; the target's QEMU waits, paused (-S), for its lease. */
        m->qemu_migrating = false;
        m->src_completed = true;
        m->t_paused = cmn_now_ms();
        hva_vm_set_phase(vm, r->next);
        if (hva_mig_vm_has_lease(vm))
            hva_mig_lease(m, HVA_LEASE_RELEASE, 0, out_released);
        else
            out_released(m, 0, 0);
        break;
    case HVA_MR_FAILED:
        m->qemu_migrating = false;
        if (m->rolling_back)
            out_rb_finish(m);
        else if (m->ag->mig_tls && r->status &&
                 strcmp(r->status, "failed") == 0)
            hva_qmp_command(vm->qmp, "query-migrate", NULL, -1, out_failed_desc,
                            m);
        else
            out_rollback(m, -HVA_E_MIGRATION, "QEMU migration %s", r->status);
        break;
    case HVA_MR_NONE:
        break;
    }
}

void hva_mig_out_qemu_gone(struct hva_mig *m)
{
    struct hva_vm *vm = m->vm;

    if (vm->phase == HVA_PH_OUT_DONE) {
        hva_vm_set_phase(vm, HVA_PH_NONE);
        hva_vm_reply(vm, 0, m->result);
    } else {
        snprintf(vm->last_err, sizeof(vm->last_err),
                 "VM '%s': QEMU died during migration", vm->def->name);
        if (m->chan)
            hva_chan_send(m->chan, "ABORT source QEMU died");
        hva_vm_set_phase(vm, HVA_PH_NONE);
        hva_vm_reply(vm, -HVA_E_QEMU, NULL);
    }
    hva_mig_free(m);
}

/* ---- lease recovery after a failed migration -----------------------------
 *
 * Why this never runs the guest on two hosts: the guest continues here
 * only after sanlock granted this host's QEMU the VM lease, and sanlock
 * grants it to one host at a time; a target that resumed holds it (then
 * our acquire answers "held" and our copy quits), a target that did not
 * resume has lost it with its QEMU. While the storage errs nobody can
 * take the lease, so the guest runs nowhere: paused here, its memory
 * intact, is the one copy that can continue. */

static void lease_rec_try(void *data);

static bool lease_rec_current(const struct hva_vm *vm)
{
    return vm->lease_rec_pid && vm->pid == vm->lease_rec_pid && vm->qmp;
}

static void lease_rec_schedule(struct hva_vm *vm)
{
    unsigned ms = hva_lease_recover_delay_ms(vm->lease_rec_n);

    if (vm->lease_rec_timer)
        return;
    qb_loop_timer_add(vm->ag->loop, QB_LOOP_MED, (uint64_t)ms * 1000000ULL, vm,
                      lease_rec_try, &vm->lease_rec_timer);
}

static void lease_rec_cont(void *data, int rc, json_object *ret,
                           const char *errmsg)
{
    struct hva_vm *vm = data;

    (void)ret;
    if (!lease_rec_current(vm))
        return;
    if (rc < 0) {
        /* The lease is ours: a guest that does not continue is an
         * ordinary paused VM now (the operator's or clusterd's call). */
        cmn_err(CMN_LOG_HVA, "VM '%s': cont after lease recovery: %s",
                vm->def->name, errmsg ? errmsg : cmn_strerror(rc));
        vm->lease_rec_pid = 0;
        return;
    }
    cmn_info(CMN_LOG_HVA,
             "VM '%s': lease recovered after %u failed attempt(s): VM "
             "runs here again",
             vm->def->name, vm->lease_rec_n);
    vm->lease_rec_pid = 0;
    vm->lease_rec_n = 0;
    vm->last_err[0] = '\0';
    hva_vm_set_state(vm, HVA_VM_RUNNING);
}

static void lease_rec_done(void *owner, int rc, uint64_t ms)
{
    struct hva_vm *vm = owner;

    vm->jobs--;
    if (!lease_rec_current(vm))
        return; /* QEMU went away (stopped, killed) meanwhile */
    if (rc == -HVA_E_LEASE_HELD) {
        /* The target resumed with it: that copy is the VM now. */
        cmn_warn(CMN_LOG_HVA,
                 "VM '%s': lease held by another host (the migration's "
                 "target resumed): stopping the paused copy here",
                 vm->def->name);
        snprintf(vm->last_err, sizeof(vm->last_err),
                 "lease recovery: held by another host, VM runs there");
        vm->lease_rec_pid = 0;
        hva_qmp_command(vm->qmp, "quit", NULL, -1, NULL, NULL);
        return;
    }
    if (rc < 0) {
        vm->lease_rec_n++;
        /* Logged on the first failures and then at each cap-length
         * step, not at every attempt: the storage may err for long. */
        if (vm->lease_rec_n <= 3 ||
            hva_lease_recover_delay_ms(vm->lease_rec_n) <
                HVA_LEASE_REC_MAX_MS ||
            vm->lease_rec_n % 10 == 0)
            cmn_warn(CMN_LOG_HVA,
                     "VM '%s': lease recovery attempt %u failed (%s, %" PRIu64
                     " ms): still paused, next attempt in %u ms",
                     vm->def->name, vm->lease_rec_n, hva_lease_why(rc), ms,
                     hva_lease_recover_delay_ms(vm->lease_rec_n));
        snprintf(vm->last_err, sizeof(vm->last_err),
                 "paused: lease recovery (%u failed attempt(s), last: %.200s)",
                 vm->lease_rec_n, hva_lease_why(rc));
        lease_rec_schedule(vm);
        return;
    }
    vm->lease_held = true;
    hva_qmp_command(vm->qmp, "cont", NULL, -1, lease_rec_cont, vm);
}

static void lease_rec_try(void *data)
{
    struct hva_vm *vm = data;
    int rc;

    vm->lease_rec_timer = 0;
    if (!lease_rec_current(vm))
        return;
    /* A little wait while "held": a target's QEMU may be dying. */
    rc = hva_lease_async(vm->ag, HVA_LEASE_ACQUIRE, &vm->def->lease, vm->pid,
                         2000, lease_rec_done, vm);
    if (rc < 0) {
        vm->lease_rec_n++;
        lease_rec_schedule(vm);
        return;
    }
    vm->jobs++;
}

void hva_lease_recover(struct hva_vm *vm, const char *why)
{
    if (!vm->pid || !vm->qmp)
        return;
    cmn_warn(CMN_LOG_HVA,
             "VM '%s': paused: lease recovery (%s): retrying the lease "
             "every %u..%u ms",
             vm->def->name, why, HVA_LEASE_REC_MIN_MS, HVA_LEASE_REC_MAX_MS);
    vm->lease_rec_pid = vm->pid;
    vm->lease_rec_n = 1; /* the rollback's acquire failed already */
    /* Not migrating any more: the truth is a VM paused here. */
    hva_vm_set_state(vm, HVA_VM_PAUSED);
    lease_rec_schedule(vm);
}

void hva_lease_recover_stop(struct hva_vm *vm)
{
    vm->lease_rec_pid = 0;
    vm->lease_rec_n = 0;
    if (vm->lease_rec_timer) {
        qb_loop_timer_del(vm->ag->loop, vm->lease_rec_timer);
        vm->lease_rec_timer = 0;
    }
}
