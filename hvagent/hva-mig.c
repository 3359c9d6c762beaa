/* Live migration between agents, and quick migration (save/restore): what
 * the roles share, the hooks hva-vm.c calls, and recovery after a restart.
 * The roles: hva-mig-out.c (source), hva-mig-in.c (target, arming and
 * listeners), hva-mig-save.c, hva-mig-restore.c; what QEMU's events and
 * replies mean is decided in hva-mig-event.c (pure, unit-tested).
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
 *      can open a data connection. With migration-tls = psk (off by
 *      default, see hvagent(8)) both QEMUs first get a tls-creds-psk
 *      object keyed from the stream secret and the token
 *      (hva-mig-tls.c), so the pages travel encrypted too; "READY
 *      <token> tls" says the target expects that, and a source set
 *      otherwise refuses.
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

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cmn-auto.h"
#include "common/cmn-err.h"
#include "common/cmn-ipc.h"
#include "common/cmn-log.h"
#include "common/cmn-time.h"
#include "hvagent/hva-mig-int.h"

static void mig_free_final(struct hva_mig *m)
{
    if (m->file_fd >= 0)
        close(m->file_fd);
    explicit_bzero(m->token, sizeof(m->token));
    free(m);
}

void hva_mig_data_close(struct hva_mig *m)
{
    if (m->data_fd >= 0)
        close(m->data_fd);
    m->data_fd = -1;
}

int hva_mig_tls_prepare(struct hva_mig *m, bool server, char *err,
                        size_t errlen)
{
    struct hva_qemu_cred cred = {0, 0, NULL, 0};
    uint8_t key[32];
    int rc;

    if (strcmp(m->ag->qemu_user, "root") != 0) {
        rc = hva_qemu_cred_lookup(m->ag->qemu_user, &cred, err, errlen);
        if (rc < 0)
            return rc;
    }
    rc = hva_mig_tls_key(m->ag->stream_psk, m->token, key);
    if (rc < 0) {
        snprintf(err, errlen, "migration-tls: key derivation failed");
        goto out;
    }
    snprintf(m->tls_dir, sizeof(m->tls_dir), "%s/mig-tls/%s.%s", m->ag->run_dir,
             m->vm->def->uuid, server ? "in" : "out");
    rc = hva_mig_tls_write(m->tls_dir, cred.gid, key, err, errlen);
    if (rc < 0)
        m->tls_dir[0] = '\0';
out:
    explicit_bzero(key, sizeof(key));
    hva_qemu_cred_free(&cred);
    return rc;
}

void hva_mig_tls_done(struct hva_mig *m)
{
    if (!m->tls_dir[0])
        return;
    hva_mig_tls_remove(m->tls_dir);
    m->tls_dir[0] = '\0';
}

void hva_mig_free(struct hva_mig *m)
{
    if (!m || m->freed)
        return;
    hva_mig_tls_done(m);
    hva_mig_data_close(m);
    if (m->poll_timer)
        qb_loop_timer_del(m->ag->loop, m->poll_timer);
    if (m->deadline_timer)
        qb_loop_timer_del(m->ag->loop, m->deadline_timer);
    hva_chan_free(m->chan);
    if (m->counted)
        m->ag->n_incoming--;
    m->counted = false;
    hva_mig_in_forget(m);
    /* A reply still pending for `m` (its QEMU may answer, or fail every
     * pending command when it closes, later) must not reach it. */
    if (m->vm && m->vm->qmp)
        hva_qmp_forget(m->vm->qmp, m);
    if (m->vm && m->vm->mig == m)
        m->vm->mig = NULL;
    m->freed = true;
    if (!m->jobs)
        mig_free_final(m);
}

bool hva_mig_job_done(struct hva_mig *m)
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
    hva_mig_lease_fn cb = m->lease_cb;

    m->lease_cb = NULL;
    if (hva_mig_job_done(m))
        cb(m, rc, ms);
}

void hva_mig_lease(struct hva_mig *m, enum hva_lease_op op,
                   unsigned retry_held_ms, hva_mig_lease_fn cb)
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

bool hva_mig_vm_has_lease(const struct hva_vm *vm)
{
    return vm->ag->sanlock && vm->def->lease.lockspace;
}

struct hva_mig *hva_mig_new(struct hva_agent *ag, struct hva_vm *vm,
                            enum hva_mig_kind kind)
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

json_object *hva_mig_caps_args(bool pause_before, bool throttle)
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

json_object *hva_mig_str_arg(const char *k, const char *v)
{
    json_object *a = json_object_new_object();

    json_object_object_add(a, k, json_object_new_string(v));
    return a;
}

struct hva_mig *hva_mig_copy_job_end(struct hva_mig_copy_job *j,
                                     uint64_t *ret_len, uint32_t *ret_crc)
{
    struct hva_mig *m = j->m;

    close(j->pipe_fd);
    *ret_len = j->len;
    *ret_crc = j->crc;
    free(j);
    return hva_mig_job_done(m) ? m : NULL;
}

/* ==== hooks from hva-vm.c ================================================ */

void hva_mig_qmp_event(struct hva_vm *vm, const char *event, json_object *data)
{
    struct hva_mig *m = vm->mig;
    struct hva_mig_reaction r;

    if (!m)
        return;
    hva_mig_react(m->kind, vm->phase, m->rolling_back, event, data, &r);
    if (r.status)
        cmn_debug(CMN_LOG_HVA, "VM '%s': migration status %s", vm->def->name,
                  r.status);
    if (r.what == HVA_MR_NONE && !r.stream_over)
        return;
    switch (m->kind) {
    case HVA_MIG_OUT:
        hva_mig_out_qemu_event(m, &r);
        break;
    case HVA_MIG_IN:
        hva_mig_in_qemu_event(m, &r);
        break;
    case HVA_MIG_SAVE:
        hva_mig_save_qemu_event(m, &r);
        break;
    case HVA_MIG_RESTORE:
        hva_mig_restore_qemu_event(m, &r);
        break;
    }
}

void hva_mig_qemu_gone(struct hva_vm *vm)
{
    struct hva_mig *m = vm->mig;

    hva_lease_recover_stop(vm);
    if (!m || m->kind == HVA_MIG_IN) {
        hva_mig_in_qemu_gone(vm);
        return;
    }
    switch (m->kind) {
    case HVA_MIG_OUT:
        hva_mig_out_qemu_gone(m);
        break;
    case HVA_MIG_SAVE:
        hva_mig_save_qemu_gone(m);
        break;
    case HVA_MIG_RESTORE:
        hva_mig_restore_qemu_gone(m);
        break;
    case HVA_MIG_IN:
        break;
    }
}

static void recover_leased(void *owner, int rc, uint64_t ms)
{
    struct hva_vm *vm = owner;

    vm->jobs--;
    if (!vm->pid || !vm->qmp)
        return; /* QEMU went away meanwhile: nothing to resume */
    if (rc < 0 && rc != -HVA_E_LEASE_HELD) {
        /* sanlock itself failed: nobody provably owns the VM, keep this
         * copy paused and retry (hva_lease_recover), never quit it. */
        hva_vm_set_phase(vm, HVA_PH_NONE);
        hva_lease_recover(vm, hva_lease_why(rc));
        return;
    }
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
    bool lease = hva_mig_vm_has_lease(vm);

    switch (r) {
    case HVA_REC_NOTHING:
        /* Paused without its lease and no migration: the agent before
         * us was recovering the lease after a failed handoff. */
        if (lease && !vm->lease_held && vm->state == HVA_VM_PAUSED)
            hva_lease_recover(vm, "re-attached after a restart");
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
