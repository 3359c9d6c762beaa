/* Live migration between agents, and quick migration (save/restore).
 *
 * Live migration, source S and target T:
 *
 *   T: "migrate-in" armed it for this one VM and started its QEMU -S
 *      -incoming defer (registered with sanlock, no lease) already
 *   S: connect to T's control port, TLS-PSK handshake (key from the
 *      corosync authkey) in a worker thread, QEMU's migration parameters
 *      meanwhile; "HELLO node= vm= uuid=", "PREPARE <vm xml>"
 *   T: checks the source address (allow list), its incoming limit, that
 *      it is armed for this VM (uuid, name, shape), and answers
 *      "READY <token>" once its QEMU is ready
 *   S: opens the data connection to T's data port (control port + 1),
 *      sends "DATA <token>\n" in clear, hands the socket to its QEMU
 *      (getfd + migrate fd:); T checks the token and hands its end to its
 *      QEMU (getfd + migrate-incoming fd:). The token is a 256-bit secret
 *      that only travelled inside TLS, so only the authenticated source
 *      can open a data connection; the bulk stream itself is not
 *      encrypted (memory pages on the cluster's migration network, as
 *      with Hyper-V's default "TCP/IP" option; see hvagent(8)).
 *   S: watches pre-copy passes (query-migrate every 100 ms and
 *      MIGRATION_PASS) and applies the convergence policy.
 *
 * Switchover, the lease handoff. The target's QEMU runs with -S, so the
 * guest does not start there when the state has arrived; the source's
 * QEMU stops its guest for good at "completed" (postmigrate):
 *
 *   S: "completed": release the VM lease on behalf of its QEMU pid;
 *      "LEASE-RELEASED"
 *   T: acquire the lease for its QEMU pid; "LEASE-ACQUIRED"; once its
 *      QEMU has the whole state too: cont (guest runs on T); "RESUMED"
 *   S: quit its QEMU.
 *
 * QEMU's pause-before-switchover would do the handoff before the device
 * state moves, but QEMU 7.2 (TCG at least) then resumes guests with stale
 * memory from the second hop on (bench/tcg-pbs-hops): a handoff after
 * completion costs the same downtime. It does not make TCG migration
 * sound, though: over many hops QEMU 7.2/TCG still corrupts the guest's
 * memory now and then, with this handoff and with plain QEMU's default
 * migration alike (bench/migration --qemu-consistency).
 *
 * Safety: at every instant at most one QEMU holds the lease, and a guest
 * only runs in a QEMU holding it: S's guest is stopped from "completed"
 * until it either quits or re-acquires the lease; T's guest runs only
 * after T acquired it. If anything fails before T resumes, S takes the
 * lease back (T's QEMU is killed, which frees it) and resumes; sanlock is
 * the arbiter when the two agents lose contact mid-handoff.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/cmn-auto.h"
#include "common/cmn-crc32c.h"
#include "common/cmn-err.h"
#include "common/cmn-ipc.h"
#include "common/cmn-log.h"
#include "common/cmn-time.h"
#include "hvagent/hva-int.h"

#define MIG_FDNAME      "kvmc-mig"
#define MIG_POLL_MS     100
#define MIG_TOKEN_LEN   64   /* hex chars */
#define MIG_CONNECT_MS  5000 /* connect + TLS handshake to the target */
#define MIG_DATA_MS     3000 /* data connection: the target listens already */
#define RB_LEASE_MS     5000 /* rollback: wait for the target's QEMU to die */
#define MIG_PING_MS     1000 /* control channel keepalive */
#define MIG_IDLE_MIN_MS 3000 /* target: silence that ends a migration */
#define IO_CHUNK        (1u << 20)

enum mig_kind { MIG_OUT, MIG_IN, MIG_SAVE, MIG_RESTORE };

struct hva_mig;
typedef void (*mig_lease_fn)(struct hva_mig *m, int rc, uint64_t ms);

struct hva_mig {
    struct hva_agent *ag;
    struct hva_vm *vm; /* NULL on the target until PREPARE */
    struct hva_mig *next_in;
    enum mig_kind kind;
    struct hva_mig_settings set;
    struct hva_chan *chan;
    char host[256];
    unsigned port;
    char peer_addr[64];
    char token[MIG_TOKEN_LEN + 1];
    qb_loop_timer_handle poll_timer, deadline_timer;
    bool counted;
    bool qemu_migrating; /* our QEMU has a migration running */
    bool src_completed, target_resumed;
    bool rolling_back;
    bool rb_pending; /* rollback waits for a lease call in flight */
    int rb_rc;
    char rb_msg[512];
    /* worker jobs in flight that point here: mig_free leaves the struct
     * (and the state file) to the last one's completion */
    unsigned jobs;
    bool freed;
    mig_lease_fn lease_cb; /* the lease call in flight, if any */
    bool lease_ok;         /* restore: lease ours (or none needed) */
    char hello_uuid[40];   /* target: the VM the source announced */
    /* figures; t_start: request (source) or state feed (restore) */
    uint64_t t_start, t_chan, t_ready, t_migrate;
    uint64_t t_paused, t_released, t_acquired, t_resumed;
    unsigned pass, cur_downtime;
    uint64_t transferred, remaining, dirty_rate, expected_dt;
    uint64_t qemu_downtime, qemu_total, setup_ms;
    uint64_t acquire_ms; /* the target's sanlock_acquire, as it reports */
    uint64_t t_progress; /* source: last time `transferred` grew */
    int data_fd;      /* source: our copy of QEMU's data socket (TCP state) */
    unsigned idle_ms; /* target: the source's silence that aborts */
    char result[512];
    /* save / restore (the stream itself is a worker's: struct copy_job) */
    int file_fd;
    uint64_t io_len;
    uint32_t crc;
    bool io_eof, qemu_done, restore_fed;
    struct hva_state_hdr hdr;
};

static struct hva_mig *in_migs; /* target side, for data connections */
static int data_listen_fd = -1;

static void mig_free_final(struct hva_mig *m)
{
    if (m->file_fd >= 0)
        close(m->file_fd);
    free(m);
}

static void mig_data_close(struct hva_mig *m)
{
    if (m->data_fd >= 0)
        close(m->data_fd);
    m->data_fd = -1;
}

static void mig_free(struct hva_mig *m)
{
    if (!m || m->freed)
        return;
    mig_data_close(m);
    if (m->poll_timer)
        qb_loop_timer_del(m->ag->loop, m->poll_timer);
    if (m->deadline_timer)
        qb_loop_timer_del(m->ag->loop, m->deadline_timer);
    hva_chan_free(m->chan);
    if (m->counted)
        m->ag->n_incoming--;
    m->counted = false;
    for (struct hva_mig **pp = &in_migs; *pp; pp = &(*pp)->next_in) {
        if (*pp == m) {
            *pp = m->next_in;
            break;
        }
    }
    if (m->vm && m->vm->mig == m)
        m->vm->mig = NULL;
    m->freed = true;
    if (!m->jobs)
        mig_free_final(m);
}

/* A worker job of `m` reported: false when `m` was freed meanwhile (then
 * the caller only drops what the job produced). */
static bool mig_job_done(struct hva_mig *m)
{
    m->jobs--;
    if (!m->freed)
        return true;
    if (!m->jobs)
        mig_free_final(m);
    return false;
}

static void mig_lease_done(void *owner, int rc, uint64_t ms)
{
    struct hva_mig *m = owner;
    mig_lease_fn cb = m->lease_cb;

    m->lease_cb = NULL;
    if (mig_job_done(m))
        cb(m, rc, ms);
}

/* The VM lease call `op` for m's QEMU, in a worker; `cb` runs on the loop
 * (now, with the error, if no worker could be started). */
static void mig_lease(struct hva_mig *m, enum hva_lease_op op,
                      unsigned retry_held_ms, mig_lease_fn cb)
{
    int rc = hva_lease_async(m->ag, op, &m->vm->def->lease, m->vm->pid,
                             retry_held_ms, mig_lease_done, m);

    if (rc < 0) {
        cb(m, rc, 0);
        return;
    }
    m->jobs++;
    m->lease_cb = cb;
}

static bool vm_has_lease(const struct hva_vm *vm)
{
    return vm->ag->sanlock && vm->def->lease.lockspace;
}

static struct hva_mig *mig_new(struct hva_agent *ag, struct hva_vm *vm,
                               enum mig_kind kind)
{
    struct hva_mig *m = calloc(1, sizeof(*m));

    if (!m)
        return NULL;
    m->ag = ag;
    m->vm = vm;
    m->kind = kind;
    m->file_fd = -1;
    m->data_fd = -1;
    hva_mig_settings_default(&m->set);
    if (vm)
        vm->mig = m;
    return m;
}

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

static json_object *caps_args(bool pause_before, bool throttle)
{
    json_object *a = json_object_new_object();
    json_object *l = json_object_new_array();
    const struct {
        const char *name;
        bool on;
    } caps[] = {
        {"pause-before-switchover", pause_before},
        {"events", true},
        {"auto-converge", throttle},
    };

    for (size_t i = 0; i < CMN_ARRAY_SIZE(caps); i++) {
        json_object *c = json_object_new_object();
        json_object_object_add(c, "capability",
                               json_object_new_string(caps[i].name));
        json_object_object_add(c, "state", json_object_new_boolean(caps[i].on));
        json_object_array_add(l, c);
    }
    json_object_object_add(a, "capabilities", l);
    return a;
}

static json_object *str_arg(const char *k, const char *v)
{
    json_object *a = json_object_new_object();

    json_object_object_add(a, k, json_object_new_string(v));
    return a;
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
    if (vm_has_lease(vm) && !vm->lease_held) {
        /* We released it at "completed": take it back (the worker
         * retries while the target's QEMU is dying). If the target
         * holds it, the target runs the VM and ours must not. */
        mig_lease(m, HVA_LEASE_ACQUIRE, RB_LEASE_MS, out_rb_leased);
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
        hva_vm_reply(vm, m->rb_rc, NULL);
        mig_free(m);
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
        mig_free(m);
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
    mig_free(m);
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
        mig_free(m);
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

static uint64_t jget_u64(json_object *o, const char *k)
{
    json_object *v;

    return o && json_object_object_get_ex(o, k, &v)
               ? (uint64_t)json_object_get_int64(v)
               : 0;
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
    json_object *ram;

    (void)errmsg;
    if (rc < 0 || m->rolling_back)
        return;
    if (json_object_object_get_ex(ret, "ram", &ram)) {
        uint64_t t = jget_u64(ram, "transferred");
        uint64_t now = cmn_now_ms();
        if (t != m->transferred) {
            if (now - m->t_progress >= 1000)
                cmn_debug(CMN_LOG_HVA,
                          "VM '%s': stream moves again after %" PRIu64 " ms",
                          m->vm->def->name, now - m->t_progress);
            m->t_progress = now;
        }
        m->transferred = t;
        m->remaining = jget_u64(ram, "remaining");
        m->dirty_rate = jget_u64(ram, "dirty-pages-rate") *
                        (jget_u64(ram, "page-size") ?: 4096);
        unsigned pass = (unsigned)jget_u64(ram, "dirty-sync-count");
        if (pass > m->pass) {
            m->pass = pass;
            out_apply_policy(m);
        }
    }
    m->expected_dt = jget_u64(ret, "expected-downtime");
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

    hva_qmp_command(vm->qmp, "migrate-set-capabilities",
                    caps_args(false, m->set.converge == HVA_CONVERGE_THROTTLE),
                    -1, out_cmd_check, m);
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
    hva_qmp_command(vm->qmp, "migrate-set-parameters", p, -1, out_cmd_check, m);
}

/* The data connection is up (token sent): QEMU streams into it. */
static void out_start_qemu(struct hva_mig *m, int dfd)
{
    struct hva_vm *vm = m->vm;
    int rc;

    rc = hva_qmp_command(vm->qmp, "getfd", str_arg("fdname", MIG_FDNAME), dfd,
                         out_cmd_check, m);
    /* QEMU has its own copy now; ours only reads the TCP state for the
     * stall check (out_stalled_ms) until pre-copy ends. */
    mig_data_close(m);
    m->data_fd = dfd;
    if (rc < 0) {
        out_rollback(m, -HVA_E_MIGRATION, "getfd: %s", cmn_strerror(rc));
        return;
    }
    m->t_migrate = cmn_now_ms();
    m->t_progress = m->t_migrate;
    m->qemu_migrating = true;
    hva_vm_set_phase(vm, HVA_PH_OUT_PRECOPY);
    hva_qmp_command(vm->qmp, "migrate", str_arg("uri", "fd:" MIG_FDNAME), -1,
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
    memset(j->key, 0, sizeof(j->key));
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
    if (!mig_job_done(m) || m->rolling_back) {
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
    json_object *ram;

    (void)errmsg;
    if (rc == 0) {
        m->qemu_downtime = jget_u64(ret, "downtime");
        m->qemu_total = jget_u64(ret, "total-time");
        m->setup_ms = jget_u64(ret, "setup-time");
        if (json_object_object_get_ex(ret, "ram", &ram)) {
            m->transferred = jget_u64(ram, "transferred");
            unsigned pass = (unsigned)jget_u64(ram, "dirty-sync-count");
            if (pass)
                m->pass = pass;
        }
    }
    snprintf(m->result, sizeof(m->result),
             "downtime-ms=\"%" PRIu64 "\" total-ms=\"%" PRIu64
             "\" prep-ms=\"%" PRIu64 "\" tls-ms=\"%" PRIu64
             "\" ready-ms=\"%" PRIu64 "\" qemu-total-ms=\"%" PRIu64
             "\" bytes=\"%" PRIu64 "\" passes=\"%u\" handoff-ms=\"%" PRIu64
             "\" paused-to-resumed-ms=\"%" PRIu64 "\" downtime-limit-ms=\"%u\""
             " release-ms=\"%" PRIu64 "\" acquire-ms=\"%" PRIu64 "\"",
             /* QEMU counts from stopping the guest to sending the last
              * byte; the lease handoff and the target's cont follow. */
             m->qemu_downtime + (m->t_resumed - m->t_paused),
             /* total: from the request (connect, TLS, target ready) to
              * the guest running on the target */
             m->t_resumed - m->t_start, m->t_migrate - m->t_start,
             m->t_chan - m->t_start, m->t_ready - m->t_start, m->qemu_total,
             m->transferred, m->pass, m->t_acquired - m->t_paused,
             m->t_resumed - m->t_paused, m->cur_downtime,
             m->t_released - m->t_paused, m->acquire_ms);
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
        if (!arg || strlen(arg) != MIG_TOKEN_LEN) {
            out_rollback(m, -EPROTO, "target sent a bad token");
            return;
        }
        snprintf(m->token, sizeof(m->token), "%s", arg);
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
    if (!mig_job_done(m) || m->rolling_back) {
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
        mig_free(m);
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
    m = mig_new(ag, vm, MIG_OUT);
    if (!m)
        return -ENOMEM;
    m->set = *s;
    m->t_start = cmn_now_ms();
    if (split_hostport(to, m->host, sizeof(m->host), &m->port) < 0) {
        snprintf(err, errlen, "migrate-out: bad target '%s' (ADDR:PORT)", to);
        mig_free(m);
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
        mig_free(m);
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

static void out_qmp_migration(struct hva_mig *m, const char *status)
{
    struct hva_vm *vm = m->vm;

    if (strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0 ||
        strcmp(status, "cancelled") == 0)
        mig_data_close(m); /* QEMU is done with the stream */
    if (strcmp(status, "completed") == 0 && vm->phase == HVA_PH_OUT_PRECOPY) {
        /* QEMU stopped the guest for good (postmigrate) and sent the last
         * state; the target's QEMU waits, paused (-S), for its lease. */
        m->qemu_migrating = false;
        m->src_completed = true;
        m->t_paused = cmn_now_ms();
        hva_vm_set_phase(vm, HVA_PH_OUT_PAUSED);
        if (vm_has_lease(vm))
            mig_lease(m, HVA_LEASE_RELEASE, 0, out_released);
        else
            out_released(m, 0, 0);
    } else if (strcmp(status, "failed") == 0 ||
               strcmp(status, "cancelled") == 0) {
        m->qemu_migrating = false;
        if (m->rolling_back)
            out_rb_finish(m);
        else
            out_rollback(m, -HVA_E_MIGRATION, "QEMU migration %s", status);
    }
}

/* ==== target side ======================================================== */

/* ---- arming (migrate-in) ---- */

static void in_abort(struct hva_mig *m, const char *why);

static void arm_disarm(struct hva_vm *vm)
{
    vm->armed = false;
    vm->in_ready = false;
    if (vm->arm_timer) {
        qb_loop_timer_del(vm->ag->loop, vm->arm_timer);
        vm->arm_timer = 0;
    }
}

/* An armed VM whose migration is not coming: its prepared QEMU goes at
 * once (it holds memory, and a retry re-arms anyway). */
static void arm_drop(struct hva_vm *vm, const char *why)
{
    cmn_info(CMN_LOG_HVA, "VM '%s': %s: prepared QEMU stopped", vm->def->name,
             why);
    arm_disarm(vm);
    if (vm->phase == HVA_PH_IN_PREPARED) {
        hva_vm_set_phase(vm, HVA_PH_IN_ABORTED);
        hva_vm_set_phase(vm, HVA_PH_NONE);
    }
    if (vm->pid)
        hva_vm_kill(vm);
}

static void arm_expired(void *data)
{
    struct hva_vm *vm = data;

    vm->arm_timer = 0;
    if (vm->mig)
        return; /* receiving: the migration ends the arming */
    arm_drop(vm, "no source connected while armed");
}

static void in_send_ready(struct hva_mig *m)
{
    uint8_t rnd[MIG_TOKEN_LEN / 2];

    if (gnutls_rnd(GNUTLS_RND_KEY, rnd, sizeof(rnd)) < 0) {
        in_abort(m, "no randomness");
        return;
    }
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(m->token + 2 * i, 3, "%02x", rnd[i]);
    hva_chan_send(m->chan, "READY %s", m->token);
}

static void arm_caps_done(void *data, int rc, json_object *ret,
                          const char *errmsg)
{
    struct hva_vm *vm = data;

    (void)ret;
    if (!vm->armed)
        return;
    if (rc < 0) {
        cmn_warn(CMN_LOG_HVA, "VM '%s': preparing the incoming QEMU: %s",
                 vm->def->name, errmsg);
        if (vm->mig)
            in_abort(vm->mig, errmsg);
        else
            arm_drop(vm, "incoming QEMU not ready");
        return;
    }
    vm->in_ready = true;
    /* A source that asked while QEMU was starting waits for this. */
    if (vm->mig && vm->mig->chan && !vm->mig->token[0])
        in_send_ready(vm->mig);
}

static void arm_qmp_ready(struct hva_vm *vm, int rc, const char *err)
{
    (void)rc;
    (void)err;
    hva_qmp_command(vm->qmp, "migrate-set-capabilities",
                    caps_args(false, false), -1, arm_caps_done, vm);
}

int hva_mig_arm(struct hva_vm *vm, unsigned timeout_s, char *err, size_t errlen)
{
    struct hva_agent *ag = vm->ag;
    int rc;

    if (!timeout_s)
        timeout_s = 120;
    if (vm->armed) {
        /* Again: extend the arming, the prepared QEMU stays. */
        if (vm->arm_timer)
            qb_loop_timer_del(ag->loop, vm->arm_timer);
        vm->arm_timer = 0;
        qb_loop_timer_add(ag->loop, QB_LOOP_LOW,
                          (uint64_t)timeout_s * 1000000000ULL, vm, arm_expired,
                          &vm->arm_timer);
        return 0;
    }
    if (vm->pid || vm->mig) {
        snprintf(err, errlen,
                 "VM '%s' is %s on '%s' (pid %d): no incoming migration "
                 "for it",
                 vm->def->name, hva_vm_state_name(vm->state), ag->node_name,
                 (int)vm->pid);
        return -HVA_E_STATE;
    }
    if (ag->mig_fd < 0) {
        snprintf(err, errlen,
                 "node '%s' accepts no migrations (hvagent runs without "
                 "--listen)",
                 ag->node_name);
        return -HVA_E_STATE;
    }
    vm->armed = true;
    vm->in_ready = false;
    hva_vm_set_phase(vm, HVA_PH_IN_PREPARED);
    hva_vm_set_state(vm, HVA_VM_INCOMING);
    /* The target QEMU starts now, while the source still connects and
     * authenticates: it is ready (or nearly) when PREPARE arrives. */
    rc = hva_vm_launch(vm, true, arm_qmp_ready, err, errlen);
    if (rc < 0) {
        arm_disarm(vm);
        hva_vm_set_phase(vm, HVA_PH_IN_ABORTED);
        hva_vm_set_phase(vm, HVA_PH_NONE);
        if (!vm->pid)
            hva_vm_set_state(vm, HVA_VM_DEFINED);
        return rc;
    }
    qb_loop_timer_add(ag->loop, QB_LOOP_LOW,
                      (uint64_t)timeout_s * 1000000000ULL, vm, arm_expired,
                      &vm->arm_timer);
    cmn_info(CMN_LOG_HVA,
             "VM '%s': armed for an incoming migration for %u s (QEMU %d "
             "prepared)",
             vm->def->name, timeout_s, (int)vm->pid);
    return 0;
}

bool hva_mig_disarm(struct hva_vm *vm, hva_vm_cb then)
{
    if (!vm->armed || vm->mig || !vm->pid)
        return false;
    cmn_info(CMN_LOG_HVA,
             "VM '%s': armed for an incoming migration, asked to run here "
             "instead: prepared QEMU stopped",
             vm->def->name);
    arm_disarm(vm);
    if (vm->phase == HVA_PH_IN_PREPARED) {
        hva_vm_set_phase(vm, HVA_PH_IN_ABORTED);
        hva_vm_set_phase(vm, HVA_PH_NONE);
    }
    vm->on_ready = NULL;
    vm->on_gone = then;
    hva_vm_kill(vm);
    return true;
}

static void in_abort(struct hva_mig *m, const char *why)
{
    struct hva_vm *vm = m->vm;

    cmn_warn(CMN_LOG_HVA, "incoming migration of '%s' aborted: %s",
             vm ? vm->def->name : "?", why);
    if (m->chan)
        hva_chan_send(m->chan, "ABORT %s", why);
    if (vm) {
        arm_disarm(vm);
        hva_vm_set_phase(vm, HVA_PH_IN_ABORTED);
        /* Killing our QEMU frees the lease if we had taken it: the
         * source can take it back. */
        if (vm->pid)
            hva_vm_kill(vm);
        hva_vm_set_phase(vm, HVA_PH_NONE);
    }
    mig_free(m);
}

bool hva_mig_cancel_in(struct hva_vm *vm, const char *why)
{
    if (vm->mig && vm->mig->kind == MIG_IN) {
        if (vm->phase == HVA_PH_IN_DONE)
            return false; /* resumed here: the VM is this node's now */
        in_abort(vm->mig, why);
        return true;
    }
    if (!vm->armed || vm->mig || vm->phase != HVA_PH_IN_PREPARED)
        return false;
    arm_drop(vm, why);
    return true;
}

static void in_cont_done(void *data, int rc, json_object *ret,
                         const char *errmsg)
{
    struct hva_mig *m = data;
    struct hva_vm *vm = m->vm;

    (void)ret;
    if (rc < 0) {
        /* Our lease, the source quits on RESUMED only: tell it to take
         * the VM back. */
        in_abort(m, errmsg);
        return;
    }
    arm_disarm(vm);
    hva_vm_set_phase(vm, HVA_PH_IN_DONE);
    hva_vm_set_state(vm, HVA_VM_RUNNING);
    vm->started_ms = cmn_now_ms();
    hva_chan_send(m->chan, "RESUMED");
    cmn_info(CMN_LOG_HVA, "VM '%s': incoming migration done, running here",
             vm->def->name);
    hva_vm_set_phase(vm, HVA_PH_NONE);
    if (m->counted) {
        m->counted = false;
        m->ag->n_incoming--;
    }
    /* The source closes the channel; we only forget the migration. */
    vm->mig = NULL;
    m->vm = NULL;
}

static void in_qmp_migration(struct hva_mig *m, const char *status)
{
    struct hva_vm *vm = m->vm;

    if (strcmp(status, "completed") == 0) {
        /* The state may arrive before or after the source's
         * LEASE-RELEASED: the guest runs once both are here. */
        m->qemu_done = true;
        if (vm->phase == HVA_PH_IN_LEASED)
            hva_qmp_command(vm->qmp, "cont", NULL, -1, in_cont_done, m);
    } else if (strcmp(status, "failed") == 0) {
        in_abort(m, "incoming migration failed in QEMU");
    }
}

static bool in_allowed(struct hva_agent *ag, const char *addr)
{
    if (!ag->allow)
        return true;
    for (size_t i = 0; i < ag->n_allow; i++)
        if (strcmp(ag->allow[i], addr) == 0)
            return true;
    return false;
}

static void in_refuse(struct hva_mig *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void in_refuse(struct hva_mig *m, const char *fmt, ...)
{
    char why[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    cmn_warn(CMN_LOG_HVA, "incoming migration from %s refused: %s",
             m->peer_addr, why);
    hva_chan_send(m->chan, "REFUSED %s", why);
    /* The source gives up on a refusal: the copy prepared for the VM it
     * announced would wait for nothing (unless it receives already). */
    struct hva_vm *vm =
        m->hello_uuid[0] ? hva_vm_find(m->ag, m->hello_uuid) : NULL;
    if (vm && vm->armed && !vm->mig && vm->phase == HVA_PH_IN_PREPARED)
        arm_drop(vm, "its incoming migration was refused");
    /* The source closes; we drop our side at once. */
    mig_free(m);
}

/* "'a', 'b'" for the VMs this node is armed for, or "none". */
static void in_armed_list(struct hva_agent *ag, char *out, size_t outlen)
{
    size_t len = 0;

    out[0] = '\0';
    for (struct hva_vm *v = ag->vms; v && len < outlen; v = v->next)
        if (v->armed)
            len += (size_t)snprintf(out + len, outlen - len, "%s'%s'",
                                    len ? ", " : "", v->def->name);
    if (!out[0])
        snprintf(out, outlen, "none");
}

static void in_prepare(struct hva_mig *m, const char *xml)
{
    struct hva_agent *ag = m->ag;
    struct hva_vm_def *def = NULL;
    struct hva_vm *vm;
    char err[512], armed[200];
    int rc;

    if (!in_allowed(ag, m->peer_addr)) {
        in_refuse(m, "source address %s is not in %s's allow list",
                  m->peer_addr, ag->node_name);
        return;
    }
    if (ag->n_incoming >= ag->max_incoming) {
        in_refuse(m, "%s already receives %u migrations (limit %u)",
                  ag->node_name, ag->n_incoming, ag->max_incoming);
        return;
    }
    rc = hva_vm_def_from_xml(xml, &def, err, sizeof(err));
    if (rc < 0) {
        in_refuse(m, "bad VM definition: %s", err);
        return;
    }
    if (m->hello_uuid[0] && strcmp(m->hello_uuid, def->uuid) != 0) {
        in_refuse(m,
                  "source announced VM uuid %s but sent the definition of "
                  "'%s' (uuid %s)",
                  m->hello_uuid, def->name, def->uuid);
        hva_vm_def_free(def);
        return;
    }
    /* Only the VM this node was armed for (migrate-in), by uuid, and
     * under the same name and shape. */
    vm = hva_vm_find(ag, def->uuid);
    if (!vm || !vm->armed || strcmp(vm->def->uuid, def->uuid) != 0) {
        in_armed_list(ag, armed, sizeof(armed));
        in_refuse(m,
                  "%s is not armed for VM '%s' (uuid %s); armed for: %s "
                  "(migrate-in on the target first)",
                  ag->node_name, def->name, def->uuid, armed);
        hva_vm_def_free(def);
        return;
    }
    if (strcmp(vm->def->name, def->name) != 0 ||
        vm->def->memory_mib != def->memory_mib ||
        vm->def->vcpus != def->vcpus) {
        in_refuse(m,
                  "VM uuid %s: source sends '%s' (%u MiB, %u vCPUs), %s was "
                  "armed for '%s' (%u MiB, %u vCPUs)",
                  def->uuid, def->name, def->memory_mib, def->vcpus,
                  ag->node_name, vm->def->name, vm->def->memory_mib,
                  vm->def->vcpus);
        hva_vm_def_free(def);
        return;
    }
    hva_vm_def_free(def);
    if (vm->mig || !vm->pid || vm->phase != HVA_PH_IN_PREPARED) {
        in_refuse(m, "VM '%s' is %s on %s, not waiting for a migration",
                  vm->def->name, hva_vm_state_name(vm->state), ag->node_name);
        return;
    }
    m->vm = vm;
    vm->mig = m;
    m->counted = true;
    ag->n_incoming++;
    /* The QEMU prepared at arming; if it is still starting,
     * arm_caps_done answers. */
    if (vm->in_ready)
        in_send_ready(m);
}

static void in_leased(struct hva_mig *m, int rc, uint64_t ms)
{
    struct hva_vm *vm = m->vm;

    if (rc < 0) {
        hva_chan_send(m->chan, "LEASE-FAILED %s", cmn_strerror(rc));
        in_abort(m, "lease not acquired");
        return;
    }
    vm->lease_held = vm_has_lease(vm);
    hva_vm_set_phase(vm, HVA_PH_IN_LEASED);
    hva_chan_send(m->chan, "LEASE-ACQUIRED %" PRIu64, ms);
    if (m->qemu_done)
        hva_qmp_command(vm->qmp, "cont", NULL, -1, in_cont_done, m);
}

static void in_line(void *data, char *line)
{
    struct hva_mig *m = data;
    char *arg = strchr(line, ' ');

    if (arg)
        *arg++ = '\0';
    if (strcmp(line, "HELLO") == 0) {
        const char *u = arg ? strstr(arg, "uuid=") : NULL;
        const char *st = arg ? strstr(arg, "stall-ms=") : NULL;
        if (u)
            snprintf(m->hello_uuid, sizeof(m->hello_uuid), "%.*s",
                     (int)strcspn(u + 5, " "), u + 5);
        if (st && m->chan) {
            /* This source pings (older ones do not): its silence for
             * its own stall time means the path or the source is dead,
             * and this side discards its copy without waiting for TCP
             * or for a source that cannot reach us. */
            unsigned long v = strtoul(st + 9, NULL, 10);
            m->idle_ms = v > MIG_IDLE_MIN_MS && v < 3600000 ? (unsigned)v
                                                            : MIG_IDLE_MIN_MS;
            hva_chan_keepalive(m->chan, MIG_PING_MS, m->idle_ms);
        }
        cmn_info(CMN_LOG_HVA, "migration peer %s (%s) authenticated",
                 m->peer_addr, arg ? arg : "");
    } else if (strcmp(line, "PREPARE") == 0 && !m->vm) {
        in_prepare(m, arg ? arg : "");
    } else if (strcmp(line, "LEASE-RELEASED") == 0 && m->vm &&
               m->vm->phase == HVA_PH_IN_RECEIVING && !m->lease_cb) {
        if (vm_has_lease(m->vm))
            mig_lease(m, HVA_LEASE_ACQUIRE, 0, in_leased);
        else
            in_leased(m, 0, 0);
    } else if (strcmp(line, "ABORT") == 0) {
        in_abort(m, arg ? arg : "source aborted");
    }
}

static void in_down(void *data, int rc)
{
    struct hva_mig *m = data;

    hva_chan_free(m->chan);
    m->chan = NULL;
    if (!m->vm) {
        if (rc == -HVA_E_AUTH)
            cmn_warn(CMN_LOG_HVA, "migration peer %s failed authentication",
                     m->peer_addr);
        mig_free(m);
        return;
    }
    if (rc == -ETIMEDOUT) {
        char why[128];
        snprintf(why, sizeof(why),
                 "no word from the source %s for %u.%u s (path down?)",
                 m->peer_addr, m->idle_ms / 1000, m->idle_ms % 1000 / 100);
        in_abort(m, why);
        return;
    }
    in_abort(m, "control channel lost");
}

static const struct hva_chan_ops in_chan_ops = {
    .line = in_line,
    .down = in_down,
};

static int32_t on_control_accept(int32_t fd, int32_t revents, void *data)
{
    struct hva_agent *ag = data;
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    struct hva_mig *m;
    int cfd, one = 1;

    (void)revents;
    cfd = accept4(fd, (struct sockaddr *)&sa, &sl, SOCK_CLOEXEC);
    if (cfd < 0)
        return 0;
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    m = mig_new(ag, NULL, MIG_IN);
    if (!m) {
        close(cfd);
        return 0;
    }
    inet_ntop(AF_INET, &sa.sin_addr, m->peer_addr, sizeof(m->peer_addr));
    m->next_in = in_migs;
    in_migs = m;
    if (hva_chan_new(ag->loop, cfd, true, ag->psk, NULL, &in_chan_ops, m,
                     &m->chan) < 0)
        mig_free(m);
    return 0;
}

static void in_data_done(void *data, int rc, json_object *ret,
                         const char *errmsg)
{
    struct hva_mig *m = data;

    (void)ret;
    if (rc < 0)
        in_abort(m, errmsg);
}

/* A data connection until its token line is in: read as it arrives,
 * from the loop, never waiting (anyone can connect to the data port). */
#define DATA_TOKEN_LINE (MIG_TOKEN_LEN + 6) /* "DATA <token>\n" */
#define DATA_TOKEN_MS   2000

struct data_conn {
    struct hva_agent *ag;
    int fd;
    char addr[64];
    char buf[DATA_TOKEN_LINE + 1];
    size_t len;
    qb_loop_timer_handle timer;
};

static void data_conn_free(struct data_conn *d, bool close_fd)
{
    if (d->timer)
        qb_loop_timer_del(d->ag->loop, d->timer);
    qb_loop_poll_del(d->ag->loop, d->fd);
    if (close_fd)
        close(d->fd);
    free(d);
}

static void data_conn_timeout(void *data)
{
    struct data_conn *d = data;

    d->timer = 0;
    cmn_warn(CMN_LOG_HVA, "data connection from %s: no token within %d ms",
             d->addr, DATA_TOKEN_MS);
    data_conn_free(d, true);
}

static int32_t data_conn_read(int32_t fd, int32_t revents, void *data)
{
    struct data_conn *d = data;
    ssize_t n;

    (void)revents;
    /* Exactly the token line: what follows is QEMU's stream. */
    n = recv(fd, d->buf + d->len, DATA_TOKEN_LINE - d->len, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n <= 0) {
        cmn_warn(CMN_LOG_HVA,
                 "data connection from %s: closed before its "
                 "token",
                 d->addr);
        data_conn_free(d, true);
        return -1;
    }
    d->len += (size_t)n;
    if (d->len < DATA_TOKEN_LINE)
        return 0;
    if (strncmp(d->buf, "DATA ", 5) != 0 ||
        d->buf[DATA_TOKEN_LINE - 1] != '\n') {
        cmn_warn(CMN_LOG_HVA, "data connection from %s: no token", d->addr);
        data_conn_free(d, true);
        return -1;
    }
    d->buf[DATA_TOKEN_LINE - 1] = '\0';
    for (struct hva_mig *m = in_migs; m; m = m->next_in) {
        if (!m->vm || !m->token[0] || strcmp(m->token, d->buf + 5) != 0 ||
            strcmp(m->peer_addr, d->addr) != 0 ||
            m->vm->phase != HVA_PH_IN_PREPARED)
            continue;
        /* QEMU's incoming side does blocking I/O on it. */
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        hva_vm_set_phase(m->vm, HVA_PH_IN_RECEIVING);
        hva_qmp_command(m->vm->qmp, "getfd", str_arg("fdname", MIG_FDNAME), fd,
                        in_data_done, m);
        hva_qmp_command(m->vm->qmp, "migrate-incoming",
                        str_arg("uri", "fd:" MIG_FDNAME), -1, in_data_done, m);
        data_conn_free(d, true); /* QEMU has its own copy */
        return -1;
    }
    cmn_warn(CMN_LOG_HVA, "data connection from %s: unknown token", d->addr);
    data_conn_free(d, true);
    return -1;
}

static int32_t on_data_accept(int32_t fd, int32_t revents, void *data)
{
    struct hva_agent *ag = data;
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    struct data_conn *d;
    int cfd, one = 1;

    (void)revents;
    cfd =
        accept4(fd, (struct sockaddr *)&sa, &sl, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (cfd < 0)
        return 0;
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    d = calloc(1, sizeof(*d));
    if (!d) {
        close(cfd);
        return 0;
    }
    d->ag = ag;
    d->fd = cfd;
    inet_ntop(AF_INET, &sa.sin_addr, d->addr, sizeof(d->addr));
    if (qb_loop_poll_add(ag->loop, QB_LOOP_HIGH, cfd, POLLIN, d,
                         data_conn_read) < 0) {
        close(cfd);
        free(d);
        return 0;
    }
    qb_loop_timer_add(ag->loop, QB_LOOP_LOW, DATA_TOKEN_MS * 1000000ULL, d,
                      data_conn_timeout, &d->timer);
    return 0;
}

static int listen_tcp(const char *addr, unsigned port, int *ret_fd)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
    int fd, one = 1;

    if (!*addr || strcmp(addr, "*") == 0)
        sa.sin_addr.s_addr = htonl(INADDR_ANY);
    else if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
        return -EINVAL;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(fd, 16) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    *ret_fd = fd;
    return 0;
}

int hva_mig_listen(struct hva_agent *ag, const char *addr, unsigned port)
{
    int rc = listen_tcp(addr, port, &ag->mig_fd);

    if (rc < 0)
        return rc;
    rc = listen_tcp(addr, port + 1, &data_listen_fd);
    if (rc < 0)
        return rc;
    rc = qb_loop_poll_add(ag->loop, QB_LOOP_MED, ag->mig_fd, POLLIN, ag,
                          on_control_accept);
    if (rc == 0)
        rc = qb_loop_poll_add(ag->loop, QB_LOOP_MED, data_listen_fd, POLLIN, ag,
                              on_data_accept);
    return rc;
}

/* ==== quick migration: save ============================================== */

/* Header write in a worker: two fdatasyncs on the CSV can take long. */
struct save_job {
    struct hva_mig *m;
    int fd;
    uint64_t offset;
    uint8_t hdr[HVA_STATE_HDR_SIZE];
};

static int save_hdr_work(void *arg)
{
    struct save_job *j = arg;

    /* Data first, then the header that makes it valid. */
    if (fdatasync(j->fd) < 0 ||
        pwrite(j->fd, j->hdr, sizeof(j->hdr), (off_t)j->offset) !=
            (ssize_t)sizeof(j->hdr) ||
        fdatasync(j->fd) < 0)
        return errno ? -errno : -EIO;
    return 0;
}

static void save_released(struct hva_mig *m, int rc, uint64_t ms)
{
    struct hva_vm *vm = m->vm;

    (void)ms;
    if (rc < 0)
        cmn_warn(CMN_LOG_HVA,
                 "VM '%s': lease release after save: %s (QEMU's exit frees "
                 "it)",
                 vm->def->name, cmn_strerror(rc));
    vm->lease_held = false;
    hva_vm_set_phase(vm, HVA_PH_SAVE_DONE);
    hva_qmp_command(vm->qmp, "quit", NULL, -1, NULL, NULL);
}

/* The saved state is not valid: the guest goes on here, lease held. */
static void save_hdr_failed(struct hva_mig *m, int rc)
{
    struct hva_vm *vm = m->vm;

    snprintf(vm->last_err, sizeof(vm->last_err),
             "VM '%s': writing state header: %s", vm->def->name, strerror(-rc));
    hva_qmp_command(vm->qmp, "cont", NULL, -1, NULL, NULL);
    hva_vm_set_state(vm, HVA_VM_RUNNING);
    hva_vm_set_phase(vm, HVA_PH_NONE);
    hva_vm_reply(vm, rc, NULL);
    mig_free(m);
}

static void save_hdr_done(void *arg, int rc)
{
    struct save_job *j = arg;
    struct hva_mig *m = j->m;
    struct hva_vm *vm;

    free(j);
    if (!mig_job_done(m))
        return;
    vm = m->vm;
    if (rc < 0) {
        save_hdr_failed(m, rc);
        return;
    }
    uint64_t ms = cmn_now_ms() - m->t_start;
    snprintf(m->result, sizeof(m->result),
             "bytes=\"%" PRIu64 "\" save-ms=\"%" PRIu64 "\" mbps=\"%.1f\" "
             "crc32c=\"%08x\"",
             m->io_len, ms,
             ms ? (double)m->io_len / 1048576.0 / ((double)ms / 1000.0) : 0.0,
             m->crc);
    if (vm_has_lease(vm))
        mig_lease(m, HVA_LEASE_RELEASE, 0, save_released);
    else
        save_released(m, 0, 0);
}

static void save_finish(struct hva_mig *m)
{
    struct hva_vm *vm = m->vm;
    struct save_job *j;
    int rc;

    if (!m->io_eof || !m->qemu_done)
        return;
    m->hdr.magic = HVA_STATE_MAGIC;
    m->hdr.version = HVA_STATE_VERSION;
    snprintf(m->hdr.uuid, sizeof(m->hdr.uuid), "%s", vm->def->uuid);
    m->hdr.length = m->io_len;
    m->hdr.data_crc = m->crc;
    m->hdr.timestamp = (uint64_t)time(NULL);
    j = calloc(1, sizeof(*j));
    rc = j ? 0 : -ENOMEM;
    if (j) {
        j->m = m;
        j->fd = m->file_fd;
        j->offset = vm->def->state.offset;
        hva_state_hdr_encode(&m->hdr, j->hdr);
        rc = cmn_work_submit(m->ag->work, save_hdr_work, save_hdr_done, j);
        if (rc < 0)
            free(j);
    }
    if (rc < 0) {
        save_hdr_failed(m, rc);
        return;
    }
    m->jobs++;
}

/* The state stream, QEMU's pipe -> the state extent, runs in a worker:
 * the extent is on the CSV, where a write can stall for the storage's
 * deadline, and the agent's loop serves every other VM meanwhile. */
struct copy_job {
    struct hva_mig *m;
    int pipe_fd, file_fd;
    uint64_t offset; /* where the stream's first byte goes */
    uint64_t room;   /* bytes the extent holds after the header */
    uint64_t len;
    uint32_t crc;
};

static int save_copy_work(void *arg)
{
    struct copy_job *j = arg;
    uint8_t *buf = malloc(IO_CHUNK);
    int rc = 0;

    if (!buf)
        return -ENOMEM;
    for (;;) {
        ssize_t n = read(j->pipe_fd, buf, IO_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            break;
        }
        if (n == 0)
            break;
        if (j->len + (uint64_t)n > j->room) {
            rc = -ENOSPC;
            break;
        }
        if (pwrite(j->file_fd, buf, (size_t)n, (off_t)(j->offset + j->len)) !=
            n) {
            rc = errno ? -errno : -EIO;
            break;
        }
        j->crc = cmn_crc32c(j->crc, buf, (size_t)n);
        j->len += (uint64_t)n;
    }
    free(buf);
    return rc;
}

/* Ends a copy job on the loop: its mig, or NULL when the mig was freed
 * meanwhile (nothing left to do then). */
static struct hva_mig *copy_job_end(struct copy_job *j, uint64_t *ret_len,
                                    uint32_t *ret_crc)
{
    struct hva_mig *m = j->m;

    close(j->pipe_fd);
    *ret_len = j->len;
    *ret_crc = j->crc;
    free(j);
    return mig_job_done(m) ? m : NULL;
}

static void save_copy_done(void *arg, int rc)
{
    struct hva_mig *m;
    struct hva_vm *vm;
    uint64_t len;
    uint32_t crc;

    m = copy_job_end(arg, &len, &crc);
    if (!m)
        return;
    vm = m->vm;
    if (rc < 0) {
        if (rc == -ENOSPC)
            snprintf(vm->last_err, sizeof(vm->last_err),
                     "VM '%s': state extent of %" PRIu64 " bytes is too small",
                     vm->def->name, vm->def->state.size);
        else
            snprintf(vm->last_err, sizeof(vm->last_err),
                     "VM '%s': writing state: %s", vm->def->name,
                     strerror(-rc));
        hva_qmp_command(vm->qmp, "migrate_cancel", NULL, -1, NULL, NULL);
        hva_qmp_command(vm->qmp, "cont", NULL, -1, NULL, NULL);
        hva_vm_set_state(vm, HVA_VM_RUNNING);
        hva_vm_set_phase(vm, HVA_PH_NONE);
        hva_vm_reply(vm, -HVA_E_MIGRATION, NULL);
        mig_free(m);
        return;
    }
    m->io_len = len;
    m->crc = crc;
    m->io_eof = true;
    save_finish(m);
}

static void save_cmd_check(void *data, int rc, json_object *ret,
                           const char *errmsg)
{
    struct hva_mig *m = data;

    (void)ret;
    if (rc < 0 && m->vm->mig == m) {
        snprintf(m->vm->last_err, sizeof(m->vm->last_err), "VM '%s': save: %s",
                 m->vm->def->name, errmsg);
        /* QEMU may still hold the pipe's write end (a migrate that never
         * started): closing it ends the copy worker with EOF. */
        hva_qmp_command(m->vm->qmp, "closefd", str_arg("fdname", MIG_FDNAME),
                        -1, NULL, NULL);
        hva_qmp_command(m->vm->qmp, "cont", NULL, -1, NULL, NULL);
        hva_vm_set_state(m->vm, HVA_VM_RUNNING);
        hva_vm_set_phase(m->vm, HVA_PH_NONE);
        hva_vm_reply(m->vm, -HVA_E_MIGRATION, NULL);
        mig_free(m);
    }
}

int hva_save(struct hva_vm *vm, char *err, size_t errlen)
{
    struct copy_job *j;
    struct hva_mig *m;
    int p[2];

    if (vm->state != HVA_VM_RUNNING || !vm->qmp || vm->mig) {
        snprintf(err, errlen, "VM '%s' is %s, not running", vm->def->name,
                 hva_vm_state_name(vm->state));
        return -HVA_E_STATE;
    }
    if (!vm->def->state.path || vm->def->state.size <= HVA_STATE_HDR_SIZE) {
        snprintf(err, errlen, "VM '%s' has no state extent (<state>)",
                 vm->def->name);
        return -CMN_E_MISSING;
    }
    m = mig_new(vm->ag, vm, MIG_SAVE);
    if (!m)
        return -ENOMEM;
    m->file_fd =
        open(vm->def->state.path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (m->file_fd < 0 || pipe2(p, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "VM '%s': state extent '%s': %s", vm->def->name,
                 vm->def->state.path, strerror(errno));
        mig_free(m);
        return -HVA_E_MIGRATION;
    }
    j = calloc(1, sizeof(*j));
    if (!j) {
        close(p[0]);
        close(p[1]);
        mig_free(m);
        return -ENOMEM;
    }
    j->m = m;
    j->pipe_fd = p[0];
    j->file_fd = m->file_fd;
    j->offset = vm->def->state.offset + HVA_STATE_HDR_SIZE;
    j->room = vm->def->state.size - HVA_STATE_HDR_SIZE;
    j->crc = m->crc;
    if (cmn_work_submit(vm->ag->work, save_copy_work, save_copy_done, j) < 0) {
        snprintf(err, errlen, "VM '%s': no worker for the state copy",
                 vm->def->name);
        close(p[0]);
        close(p[1]);
        free(j);
        mig_free(m);
        return -HVA_E_MIGRATION;
    }
    m->jobs++;
    m->t_start = cmn_now_ms();
    hva_vm_set_phase(vm, HVA_PH_SAVE_STREAM);
    hva_vm_set_state(vm, HVA_VM_SAVING);
    hva_qmp_command(vm->qmp, "stop", NULL, -1, save_cmd_check, m);
    hva_qmp_command(vm->qmp, "migrate-set-capabilities",
                    caps_args(false, false), -1, save_cmd_check, m);
    json_object *pa = json_object_new_object();
    json_object_object_add(pa, "max-bandwidth",
                           json_object_new_int64((int64_t)1 << 40));
    hva_qmp_command(vm->qmp, "migrate-set-parameters", pa, -1, save_cmd_check,
                    m);
    hva_qmp_command(vm->qmp, "getfd", str_arg("fdname", MIG_FDNAME), p[1],
                    save_cmd_check, m);
    close(p[1]);
    m->qemu_migrating = true;
    hva_qmp_command(vm->qmp, "migrate", str_arg("uri", "fd:" MIG_FDNAME), -1,
                    save_cmd_check, m);
    return CMN_IPC_DEFERRED;
}

/* ==== quick migration: restore ============================================ */

static void restore_fail(struct hva_mig *m, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void restore_fail(struct hva_mig *m, int rc, const char *fmt, ...)
{
    struct hva_vm *vm = m->vm;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(vm->last_err, sizeof(vm->last_err), fmt, ap);
    va_end(ap);
    cmn_warn(CMN_LOG_HVA, "%s", vm->last_err);
    hva_vm_set_phase(vm, HVA_PH_NONE);
    hva_vm_reply(vm, rc, NULL);
    mig_free(m);
    if (vm->pid)
        hva_vm_kill(vm); /* never resumed: frees the lease */
}

static void restore_cont_done(void *data, int rc, json_object *ret,
                              const char *errmsg)
{
    struct hva_mig *m = data;
    struct hva_vm *vm = m->vm;

    (void)ret;
    if (rc < 0) {
        restore_fail(m, -HVA_E_QMP, "VM '%s': cont: %s", vm->def->name, errmsg);
        return;
    }
    uint64_t ms = cmn_now_ms() - m->t_start;
    hva_vm_set_phase(vm, HVA_PH_RESTORE_DONE);
    hva_vm_set_state(vm, HVA_VM_RUNNING);
    char extra[256];
    snprintf(extra, sizeof(extra),
             "bytes=\"%" PRIu64 "\" restore-ms=\"%" PRIu64 "\" mbps=\"%.1f\"",
             m->io_len, ms,
             ms ? (double)m->io_len / 1048576.0 / ((double)ms / 1000.0) : 0.0);
    hva_vm_set_phase(vm, HVA_PH_NONE);
    hva_vm_reply(vm, 0, extra);
    mig_free(m);
}

static void restore_maybe_resume(struct hva_mig *m)
{
    if (!m->restore_fed || !m->qemu_done || !m->lease_ok)
        return;
    if (m->crc != m->hdr.data_crc) {
        restore_fail(m, -HVA_E_STATE_CORRUPT,
                     "VM '%s': saved state fails its checksum (crc32c "
                     "%08x, header says %08x): not resumed",
                     m->vm->def->name, m->crc, m->hdr.data_crc);
        return;
    }
    hva_qmp_command(m->vm->qmp, "cont", NULL, -1, restore_cont_done, m);
}

/* The saved state, state extent -> QEMU's pipe, in a worker (as the
 * save): reads from the CSV may stall. */
static int restore_copy_work(void *arg)
{
    struct copy_job *j = arg;
    uint8_t *buf = malloc(IO_CHUNK);
    int rc = 0;

    if (!buf)
        return -ENOMEM;
    while (j->len < j->room && rc == 0) {
        uint64_t left = j->room - j->len;
        size_t want = left < IO_CHUNK ? (size_t)left : IO_CHUNK;
        ssize_t n = pread(j->file_fd, buf, want, (off_t)(j->offset + j->len));

        if (n <= 0) {
            rc = n < 0 ? -errno : -ENODATA;
            break;
        }
        j->crc = cmn_crc32c(j->crc, buf, (size_t)n);
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(j->pipe_fd, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = -EPIPE; /* QEMU stopped reading */
                break;
            }
            off += w;
        }
        j->len += (uint64_t)n;
    }
    free(buf);
    return rc;
}

static void restore_copy_done(void *arg, int rc)
{
    struct hva_mig *m;
    struct hva_vm *vm;
    uint64_t len;
    uint32_t crc;

    m = copy_job_end(arg, &len, &crc);
    if (!m)
        return;
    vm = m->vm;
    m->crc = crc;
    m->io_len = len;
    if (rc == -EPIPE) {
        restore_fail(m, -HVA_E_QEMU, "VM '%s': QEMU stopped reading its state",
                     vm->def->name);
        return;
    }
    if (rc < 0) {
        restore_fail(m, -EIO, "VM '%s': reading state: %s", vm->def->name,
                     rc == -ENODATA ? "the extent ends early" : strerror(-rc));
        return;
    }
    m->restore_fed = true;
    restore_maybe_resume(m);
}

static void restore_leased(struct hva_mig *m, int rc, uint64_t ms)
{
    struct hva_vm *vm = m->vm;

    (void)ms;
    if (rc < 0) {
        restore_fail(m, rc, "VM '%s': lease '%s' not acquired: %s",
                     vm->def->name, vm->def->lease.resource,
                     rc == -HVA_E_LEASE_HELD ? "held by another host"
                                             : cmn_strerror(rc));
        return;
    }
    vm->lease_held = true;
    m->lease_ok = true;
    restore_maybe_resume(m);
}

static void restore_cmd_check(void *data, int rc, json_object *ret,
                              const char *errmsg)
{
    struct hva_mig *m = data;

    (void)ret;
    if (rc < 0 && m->vm->mig == m)
        restore_fail(m, -HVA_E_QMP, "VM '%s': restore: %s", m->vm->def->name,
                     errmsg);
}

static void restore_ready(struct hva_vm *vm, int rc, const char *err)
{
    struct hva_mig *m = vm->mig;
    struct copy_job *j;
    int p[2];

    (void)rc;
    (void)err;
    if (!m)
        return;
    if (pipe2(p, O_CLOEXEC) < 0) {
        restore_fail(m, -errno, "pipe: %s", strerror(errno));
        return;
    }
    j = calloc(1, sizeof(*j));
    if (!j) {
        close(p[0]);
        close(p[1]);
        restore_fail(m, -ENOMEM, "VM '%s': out of memory", vm->def->name);
        return;
    }
    j->m = m;
    j->pipe_fd = p[1];
    j->file_fd = m->file_fd;
    j->offset = vm->def->state.offset + HVA_STATE_HDR_SIZE;
    j->room = m->hdr.length;
    j->crc = m->crc;
    hva_qmp_command(vm->qmp, "migrate-set-capabilities",
                    caps_args(false, false), -1, restore_cmd_check, m);
    hva_qmp_command(vm->qmp, "getfd", str_arg("fdname", MIG_FDNAME), p[0],
                    restore_cmd_check, m);
    close(p[0]);
    hva_qmp_command(vm->qmp, "migrate-incoming",
                    str_arg("uri", "fd:" MIG_FDNAME), -1, restore_cmd_check, m);
    /* After getfd: the worker's writes block until QEMU reads. */
    if (cmn_work_submit(vm->ag->work, restore_copy_work, restore_copy_done, j) <
        0) {
        close(p[1]);
        free(j);
        restore_fail(m, -HVA_E_MIGRATION,
                     "VM '%s': no worker for the state copy", vm->def->name);
        return;
    }
    m->jobs++;
}

int hva_restore(struct hva_vm *vm, char *err, size_t errlen)
{
    uint8_t hdr[HVA_STATE_HDR_SIZE];
    struct hva_mig *m;
    int rc;

    if (vm->pid || vm->mig) {
        snprintf(err, errlen, "VM '%s' is %s here already", vm->def->name,
                 hva_vm_state_name(vm->state));
        return -HVA_E_STATE;
    }
    if (!vm->def->state.path) {
        snprintf(err, errlen, "VM '%s' has no state extent (<state>)",
                 vm->def->name);
        return -CMN_E_MISSING;
    }
    m = mig_new(vm->ag, vm, MIG_RESTORE);
    if (!m)
        return -ENOMEM;
    m->file_fd = open(vm->def->state.path, O_RDONLY | O_CLOEXEC);
    if (m->file_fd < 0 ||
        pread(m->file_fd, hdr, sizeof(hdr), (off_t)vm->def->state.offset) !=
            (ssize_t)sizeof(hdr)) {
        snprintf(err, errlen, "VM '%s': state extent '%s': %s", vm->def->name,
                 vm->def->state.path, strerror(errno ? errno : EIO));
        mig_free(m);
        return -HVA_E_STATE_CORRUPT;
    }
    rc = hva_state_hdr_decode(hdr, &m->hdr);
    if (rc < 0 || strcmp(m->hdr.uuid, vm->def->uuid) != 0 ||
        HVA_STATE_HDR_SIZE + m->hdr.length > vm->def->state.size) {
        snprintf(err, errlen, "VM '%s': no valid saved state in '%s'%s",
                 vm->def->name, vm->def->state.path,
                 rc == 0 ? " (header names another VM)" : "");
        mig_free(m);
        return -HVA_E_STATE_CORRUPT;
    }
    m->t_start = cmn_now_ms();
    hva_vm_set_phase(vm, HVA_PH_RESTORE_FEED);
    hva_vm_set_state(vm, HVA_VM_INCOMING);
    rc = hva_vm_launch(vm, true, restore_ready, err, errlen);
    if (rc < 0) {
        hva_vm_set_phase(vm, HVA_PH_NONE);
        if (!vm->pid)
            hva_vm_set_state(vm, HVA_VM_DEFINED);
        mig_free(m);
        return rc;
    }
    /* The state feeds in while the worker takes the lease; the guest
     * resumes only with both done (restore_maybe_resume). */
    if (vm_has_lease(vm))
        mig_lease(m, HVA_LEASE_ACQUIRE, 0, restore_leased);
    else
        m->lease_ok = true;
    return CMN_IPC_DEFERRED;
}

/* ==== hooks from hva-vm.c ================================================ */

void hva_mig_qmp_event(struct hva_vm *vm, const char *event, json_object *data)
{
    struct hva_mig *m = vm->mig;
    json_object *st;

    if (!m)
        return;
    if (strcmp(event, "MIGRATION_PASS") == 0) {
        if (m->kind == MIG_OUT && !m->rolling_back) {
            m->pass = (unsigned)jget_u64(data, "pass");
            out_apply_policy(m);
        }
        return;
    }
    if (strcmp(event, "MIGRATION") != 0 ||
        !json_object_object_get_ex(data, "status", &st))
        return;
    const char *status = json_object_get_string(st);
    cmn_debug(CMN_LOG_HVA, "VM '%s': migration status %s", vm->def->name,
              status);
    switch (m->kind) {
    case MIG_OUT:
        out_qmp_migration(m, status);
        break;
    case MIG_IN:
        in_qmp_migration(m, status);
        break;
    case MIG_SAVE:
        if (strcmp(status, "completed") == 0) {
            m->qemu_done = true;
            save_finish(m);
        } else if (strcmp(status, "failed") == 0) {
            save_cmd_check(m, -HVA_E_MIGRATION, NULL, "QEMU save failed");
        }
        break;
    case MIG_RESTORE:
        if (strcmp(status, "completed") == 0) {
            m->qemu_done = true;
            restore_maybe_resume(m);
        } else if (strcmp(status, "failed") == 0) {
            restore_fail(m, -HVA_E_STATE_CORRUPT,
                         "VM '%s': QEMU rejected the saved state",
                         vm->def->name);
        }
        break;
    }
}

void hva_mig_qemu_gone(struct hva_vm *vm)
{
    struct hva_mig *m = vm->mig;

    if (vm->armed && (!m || m->kind == MIG_IN)) {
        /* The prepared QEMU is gone: so is the arming. */
        arm_disarm(vm);
        if (!m && vm->phase == HVA_PH_IN_PREPARED) {
            hva_vm_set_phase(vm, HVA_PH_IN_ABORTED);
            hva_vm_set_phase(vm, HVA_PH_NONE);
        }
    }
    if (!m)
        return;
    switch (m->kind) {
    case MIG_OUT:
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
        mig_free(m);
        break;
    case MIG_IN:
        m->vm = NULL;
        vm->mig = NULL;
        if (m->chan)
            hva_chan_send(m->chan, "ABORT target QEMU died");
        hva_vm_set_phase(vm, HVA_PH_NONE);
        mig_free(m);
        break;
    case MIG_SAVE:
        if (vm->phase == HVA_PH_SAVE_DONE) {
            hva_vm_set_phase(vm, HVA_PH_NONE);
            hva_vm_reply(vm, 0, m->result);
        } else {
            hva_vm_set_phase(vm, HVA_PH_NONE);
            hva_vm_reply(vm, -HVA_E_QEMU, NULL);
        }
        mig_free(m);
        break;
    case MIG_RESTORE:
        restore_fail(m, -HVA_E_QEMU, "VM '%s': QEMU exited during restore",
                     vm->def->name);
        break;
    }
}

static void recover_leased(void *owner, int rc, uint64_t ms)
{
    struct hva_vm *vm = owner;

    vm->jobs--;
    if (!vm->pid || !vm->qmp)
        return; /* QEMU went away meanwhile: nothing to resume */
    if (rc < 0) {
        /* The target holds it: the VM is there. */
        cmn_warn(CMN_LOG_HVA,
                 "VM '%s': the target owns the lease, "
                 "stopping this copy",
                 vm->def->name);
        hva_qmp_command(vm->qmp, "quit", NULL, -1, NULL, NULL);
    } else {
        vm->lease_held = true;
        hva_qmp_command(vm->qmp, "cont", NULL, -1, NULL, NULL);
        hva_vm_set_state(vm, HVA_VM_RUNNING);
        cmn_info(CMN_LOG_HVA,
                 "VM '%s': rolled back, guest resumed %" PRIu64
                 " ms after the re-attach (lease taken in %" PRIu64 " ms)",
                 vm->def->name, cmn_now_ms() - vm->started_ms, ms);
    }
    hva_vm_set_phase(vm, HVA_PH_NONE);
}

/* A restarted agent found `vm` running, in `vm->phase`. */
void hva_mig_recover(struct hva_vm *vm)
{
    enum hva_recovery r = hva_mig_recovery(vm->phase);
    bool lease = vm_has_lease(vm);

    switch (r) {
    case HVA_REC_NOTHING:
        return;
    case HVA_REC_KEEP_LOCAL:
    case HVA_REC_BY_LEASE:
        cmn_warn(CMN_LOG_HVA,
                 "VM '%s': migration interrupted in %s: "
                 "rolling back",
                 vm->def->name, hva_mig_phase_name(vm->phase));
        hva_qmp_command(vm->qmp, "migrate_cancel", NULL, -1, NULL, NULL);
        if (lease && !vm->lease_held) {
            /* The phase stays persisted until sanlock answered. A
             * target that lost us may still be killing its copy (which
             * frees the lease): wait for that as a live rollback does;
             * a target that resumed keeps the lease and we stop ours. */
            if (hva_lease_async(vm->ag, HVA_LEASE_ACQUIRE, &vm->def->lease,
                                vm->pid, RB_LEASE_MS, recover_leased,
                                vm) == 0) {
                vm->jobs++;
                return;
            }
            /* No worker: the VM stays paused, nobody provably owns it;
             * the persisted phase lets the next start decide again. */
            cmn_err(CMN_LOG_HVA, "VM '%s': lease not inquired: VM left paused",
                    vm->def->name);
            return;
        }
        vm->lease_held = vm->lease_held || lease;
        hva_qmp_command(vm->qmp, "cont", NULL, -1, NULL, NULL);
        hva_vm_set_state(vm, HVA_VM_RUNNING);
        cmn_info(CMN_LOG_HVA,
                 "VM '%s': rolled back, guest resumed %" PRIu64
                 " ms after the re-attach (lease still held)",
                 vm->def->name, cmn_now_ms() - vm->started_ms);
        break;
    case HVA_REC_FINISH_IN:
    case HVA_REC_DISCARD:
        /* Without the control channel we cannot know the source let go:
         * a half-migrated copy is discarded, and sanlock lets the source
         * take the lease back. */
        cmn_warn(CMN_LOG_HVA,
                 "VM '%s': incoming migration interrupted in "
                 "%s: discarding this copy",
                 vm->def->name, hva_mig_phase_name(vm->phase));
        hva_vm_kill(vm);
        break;
    }
    hva_vm_set_phase(vm, HVA_PH_NONE);
}
