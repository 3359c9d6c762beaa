/* Live migration, target side: arming (migrate-in prepares this VM's
 * QEMU), the control and data listeners, PREPARE checks, the token that
 * ties the data connection to the authenticated source, taking the lease
 * after the source released it, and resuming once the state is in. The
 * protocol and the safety argument are in hva-mig.c. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
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

static struct hva_mig *in_migs; /* target side, for data connections */
static int data_listen_fd = -1;
static unsigned n_preauth;   /* control connections before TLS is up */
static unsigned n_data_conn; /* data connections before their token */

/* A refused connection's warning, at most one a second: a flood of
 * connections must not flood the log too. */
static void accept_refused(const char *what, const char *addr, const char *why)
{
    static uint64_t last_ms;
    static unsigned quiet;
    uint64_t now = cmn_now_ms();

    if (last_ms && now - last_ms < 1000) {
        quiet++;
        cmn_debug(CMN_LOG_HVA, "%s from %s refused: %s", what, addr, why);
        return;
    }
    cmn_warn(CMN_LOG_HVA, "%s from %s refused: %s (%u more refused quietly)",
             what, addr, why, quiet);
    last_ms = now;
    quiet = 0;
}

/* Tokens compared in time that does not depend on where they differ. */
static bool token_equal(const char *a, const char *b, size_t n)
{
    unsigned char d = 0;

    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

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
    explicit_bzero(rnd, sizeof(rnd));
    /* " tls": the stream must come through QEMU's TLS (migration-tls). */
    hva_chan_send(m->chan, "READY %s%s", m->token,
                  m->ag->mig_tls ? " tls" : "");
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
                    hva_mig_caps_args(false, false), -1, arm_caps_done, vm);
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
    hva_mig_free(m);
}

bool hva_mig_cancel_in(struct hva_vm *vm, const char *why)
{
    if (vm->mig && vm->mig->kind == HVA_MIG_IN) {
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
    hva_net_announce(vm);
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

void hva_mig_in_qemu_event(struct hva_mig *m, const struct hva_mig_reaction *r)
{
    struct hva_vm *vm = m->vm;

    if (r->what == HVA_MR_STREAM_DONE) {
        /* The state may arrive before or after the source's
         * LEASE-RELEASED: the guest runs once both are here. */
        m->qemu_done = true;
        if (vm->phase == HVA_PH_IN_LEASED)
            hva_qmp_command(vm->qmp, "cont", NULL, -1, in_cont_done, m);
    } else if (r->what == HVA_MR_FAILED) {
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
    hva_mig_free(m);
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
    vm->lease_held = hva_mig_vm_has_lease(vm);
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
    /* The order is HELLO, PREPARE, then the handoff: anything else from
     * an authenticated peer is a bug or an attack, and ends it. */
    if ((strcmp(line, "HELLO") == 0 && m->hello) ||
        (strcmp(line, "PREPARE") == 0 && !m->hello)) {
        char why[64];
        snprintf(why, sizeof(why), "%s %s", line,
                 m->hello ? "twice" : "before HELLO");
        if (m->vm)
            in_abort(m, why);
        else
            in_refuse(m, "protocol error: %s", why);
        return;
    }
    if (strcmp(line, "PREPARE") == 0 && m->vm) {
        in_abort(m, "protocol error: PREPARE twice");
        return;
    }
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
        m->hello = true;
        cmn_info(CMN_LOG_HVA, "migration peer %s (%s) authenticated",
                 m->peer_addr, arg ? arg : "");
    } else if (strcmp(line, "PREPARE") == 0) {
        in_prepare(m, arg ? arg : "");
    } else if (strcmp(line, "LEASE-RELEASED") == 0 && m->vm &&
               m->vm->phase == HVA_PH_IN_RECEIVING && !m->lease_cb) {
        if (hva_mig_vm_has_lease(m->vm))
            hva_mig_lease(m, HVA_LEASE_ACQUIRE, 0, in_leased);
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
        hva_mig_free(m);
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

static unsigned preauth_from(const char *addr)
{
    unsigned n = 0;

    for (struct hva_mig *m = in_migs; m; m = m->next_in)
        n += m->preauth && strcmp(m->peer_addr, addr) == 0;
    return n;
}

static void in_preauth_end(struct hva_mig *m)
{
    if (m->preauth) {
        m->preauth = false;
        n_preauth--;
    }
    if (m->deadline_timer) {
        qb_loop_timer_del(m->ag->loop, m->deadline_timer);
        m->deadline_timer = 0;
    }
}

static void in_up(void *data)
{
    struct hva_mig *m = data;

    in_preauth_end(m);
    cmn_debug(CMN_LOG_HVA, "migration peer %s: TLS up", m->peer_addr);
}

static void in_handshake_expired(void *data)
{
    struct hva_mig *m = data;

    char why[64];

    m->deadline_timer = 0;
    snprintf(why, sizeof(why), "no TLS handshake within %d ms",
             MIG_HANDSHAKE_MS);
    accept_refused("migration connection", m->peer_addr, why);
    hva_mig_free(m);
}

static const struct hva_chan_ops in_chan_ops = {
    .up = in_up,
    .line = in_line,
    .down = in_down,
};

static int32_t on_control_accept(int32_t fd, int32_t revents, void *data)
{
    struct hva_agent *ag = data;
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    struct hva_mig *m;
    char addr[64], why[128];
    int cfd, one = 1;

    (void)revents;
    cfd = accept4(fd, (struct sockaddr *)&sa, &sl, SOCK_CLOEXEC);
    if (cfd < 0)
        return 0;
    inet_ntop(AF_INET, &sa.sin_addr, addr, sizeof(addr));
    /* Before any TLS work: an address outside the allow list costs one
     * accept and close, and unauthenticated connections are capped. */
    if (!in_allowed(ag, addr)) {
        snprintf(why, sizeof(why), "not in %s's allow list", ag->node_name);
        accept_refused("migration connection", addr, why);
        close(cfd);
        return 0;
    }
    if (n_preauth >= MIG_PREAUTH_MAX ||
        preauth_from(addr) >= MIG_PREAUTH_PER_ADDR) {
        snprintf(why, sizeof(why),
                 "%u connections still authenticating, %u from this address "
                 "(limits %u, %u)",
                 n_preauth, preauth_from(addr), MIG_PREAUTH_MAX,
                 MIG_PREAUTH_PER_ADDR);
        accept_refused("migration connection", addr, why);
        close(cfd);
        return 0;
    }
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    m = hva_mig_new(ag, NULL, HVA_MIG_IN);
    if (!m) {
        close(cfd);
        return 0;
    }
    snprintf(m->peer_addr, sizeof(m->peer_addr), "%s", addr);
    m->next_in = in_migs;
    in_migs = m;
    m->preauth = true;
    n_preauth++;
    if (hva_chan_new(ag->loop, cfd, true, ag->psk, NULL, &in_chan_ops, m,
                     &m->chan) < 0) {
        hva_mig_free(m);
        return 0;
    }
    qb_loop_timer_add(ag->loop, QB_LOOP_MED, MIG_HANDSHAKE_MS * 1000000ULL, m,
                      in_handshake_expired, &m->deadline_timer);
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
    n_data_conn--;
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
    if (d->len < DATA_TOKEN_LINE &&
        !memchr(d->buf, '\n', d->len)) /* a short line ends it now */
        return 0;
    if (d->len < DATA_TOKEN_LINE || strncmp(d->buf, "DATA ", 5) != 0 ||
        d->buf[DATA_TOKEN_LINE - 1] != '\n') {
        cmn_warn(CMN_LOG_HVA, "data connection from %s: no token", d->addr);
        data_conn_free(d, true);
        return -1;
    }
    d->buf[DATA_TOKEN_LINE - 1] = '\0';
    for (struct hva_mig *m = in_migs; m; m = m->next_in) {
        if (!m->vm || !m->token[0] ||
            !token_equal(m->token, d->buf + 5, MIG_TOKEN_LEN) ||
            strcmp(m->peer_addr, d->addr) != 0 ||
            m->vm->phase != HVA_PH_IN_PREPARED)
            continue;
        /* migration-tls: the stream's key comes from the token too. */
        char err[512];
        if (m->ag->mig_tls &&
            hva_mig_tls_prepare(m, true, err, sizeof(err)) < 0) {
            in_abort(m, err);
            data_conn_free(d, true);
            return -1;
        }
        /* Used: the token opens one data connection, never a second. */
        explicit_bzero(m->token, sizeof(m->token));
        if (m->tls_dir[0]) {
            /* QEMU's server reads the key at the handshake: the
             * directory stays until the migration ends (hva_mig_free). */
            hva_qmp_command(m->vm->qmp, "object-add",
                            hva_mig_tls_object(true, m->tls_dir), -1,
                            in_data_done, m);
            hva_qmp_command(m->vm->qmp, "migrate-set-parameters",
                            hva_mig_str_arg("tls-creds", HVA_MIG_TLS_OBJ), -1,
                            in_data_done, m);
        }
        /* QEMU's incoming side does blocking I/O on it. */
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        hva_vm_set_phase(m->vm, HVA_PH_IN_RECEIVING);
        hva_qmp_command(m->vm->qmp, "getfd",
                        hva_mig_str_arg("fdname", MIG_FDNAME), fd, in_data_done,
                        m);
        hva_qmp_command(m->vm->qmp, "migrate-incoming",
                        hva_mig_str_arg("uri", "fd:" MIG_FDNAME), -1,
                        in_data_done, m);
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
    char addr[64];
    int cfd, one = 1;

    (void)revents;
    cfd =
        accept4(fd, (struct sockaddr *)&sa, &sl, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (cfd < 0)
        return 0;
    inet_ntop(AF_INET, &sa.sin_addr, addr, sizeof(addr));
    if (!in_allowed(ag, addr) || n_data_conn >= MIG_DATA_CONN_MAX) {
        accept_refused("data connection", addr,
                       in_allowed(ag, addr) ? "too many waiting for a token"
                                            : "not in the allow list");
        close(cfd);
        return 0;
    }
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    d = calloc(1, sizeof(*d));
    if (!d) {
        close(cfd);
        return 0;
    }
    d->ag = ag;
    d->fd = cfd;
    snprintf(d->addr, sizeof(d->addr), "%s", addr);
    if (qb_loop_poll_add(ag->loop, QB_LOOP_HIGH, cfd, POLLIN, d,
                         data_conn_read) < 0) {
        close(cfd);
        free(d);
        return 0;
    }
    n_data_conn++;
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

void hva_mig_in_forget(struct hva_mig *m)
{
    if (m->preauth) {
        m->preauth = false;
        n_preauth--;
    }
    for (struct hva_mig **pp = &in_migs; *pp; pp = &(*pp)->next_in) {
        if (*pp == m) {
            *pp = m->next_in;
            break;
        }
    }
}

void hva_mig_in_qemu_gone(struct hva_vm *vm)
{
    struct hva_mig *m = vm->mig;

    if (vm->armed) {
        /* The prepared QEMU is gone: so is the arming. */
        arm_disarm(vm);
        if (!m && vm->phase == HVA_PH_IN_PREPARED) {
            hva_vm_set_phase(vm, HVA_PH_IN_ABORTED);
            hva_vm_set_phase(vm, HVA_PH_NONE);
        }
    }
    if (!m)
        return;
    m->vm = NULL;
    vm->mig = NULL;
    if (m->chan)
        hva_chan_send(m->chan, "ABORT target QEMU died");
    hva_vm_set_phase(vm, HVA_PH_NONE);
    hva_mig_free(m);
}
