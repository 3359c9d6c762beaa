/* A guest paused on an I/O error of its storage: the episode hvagent
 * runs from QEMU's first BLOCK_IO_ERROR to the guest running again.
 *
 * QEMU stops the guest when a disk request fails (werror/rerror=stop,
 * hva-ioerr.c) and retries the request on `cont`. One episode runs from
 * the first BLOCK_IO_ERROR to a guest that ran HVA_IOERR_SETTLE_MS after
 * a `cont` with no new error; it is logged at its start and its end,
 * not per request. Only these stops are resumed here: a guest stopped
 * for a migration's switchover or a save is its migration's (vm->mig,
 * state migrating/saving), which resumes or ends it itself.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/cmn-err.h"
#include "common/cmn-log.h"
#include "common/cmn-time.h"
#include "hvagent/hva-int.h"

static void timer_del(struct hva_vm *vm, qb_loop_timer_handle *t)
{
    if (*t) {
        qb_loop_timer_del(vm->ag->loop, *t);
        *t = 0;
    }
}

void hva_vm_ioerr_end(struct hva_vm *vm, const char *why)
{
    struct hva_vm_ioerr *e = &vm->ioerr;

    if (!e->active)
        return;
    timer_del(vm, &e->timer);
    cmn_info(CMN_LOG_HVA,
             "VM '%s': I/O error episode of disk %d (%s) ended after %" PRIu64
             " ms: %s",
             vm->def->name, e->disk, e->device[0] ? e->device : "?",
             cmn_now_ms() - e->since_ms, why);
    e->active = false;
}

static void vm_ioerr_arm(struct hva_vm *vm, uint64_t ms);

static void vm_ioerr_cont_done(void *data, int rc, json_object *ret,
                               const char *errmsg)
{
    struct hva_vm *vm = data;

    (void)ret;
    if (rc < 0 && vm->ioerr.active) {
        cmn_debug(CMN_LOG_HVA, "VM '%s': cont after an I/O error: %s",
                  vm->def->name, errmsg ? errmsg : cmn_strerror(rc));
        vm_ioerr_arm(
            vm, hva_ioerr_backoff_ms(vm->ioerr.attempts, vm->ioerr.nospace));
    }
}

static void vm_ioerr_tick(void *data)
{
    struct hva_vm *vm = data;
    struct hva_vm_ioerr *e = &vm->ioerr;
    bool leased =
        !vm->ag->sanlock || !vm->def->lease.lockspace || vm->lease_held;

    e->timer = 0;
    if (!e->active)
        return;
    if (!vm->pid || !vm->qmp) {
        hva_vm_ioerr_end(vm, "QEMU gone");
        return;
    }
    if (vm->state == HVA_VM_RUNNING) {
        uint64_t now = cmn_now_ms();
        /* Resumed by someone else (a migration's rollback): settle from
         * now as after our own `cont`. */
        if (!e->resumed_ms)
            e->resumed_ms = now;
        if (now - e->resumed_ms < HVA_IOERR_SETTLE_MS) {
            vm_ioerr_arm(vm, HVA_IOERR_SETTLE_MS - (now - e->resumed_ms));
            return;
        }
        /* Ran the settle time since the last resume: over. */
        cmn_info(CMN_LOG_HVA,
                 "VM '%s': resumed after an I/O error of disk %d (%s): "
                 "paused %" PRIu64 " ms, %u cont, %u failed requests",
                 vm->def->name, e->disk, e->device[0] ? e->device : "?",
                 e->resumed_ms - e->since_ms, e->attempts, e->errors);
        e->active = false;
        return;
    }
    /* Someone else's stop (a migration's switchover, a save) or a
     * transition: not ours to resume; look again later. A VM whose lease
     * is being recovered (hva_lease_recover) resumes there, once the
     * lease is back, never here. */
    if (vm->mig || vm->state != HVA_VM_PAUSED || !leased || vm->lease_rec_pid) {
        vm_ioerr_arm(vm, hva_ioerr_backoff_ms(e->attempts, e->nospace));
        return;
    }
    e->attempts++;
    hva_qmp_command(vm->qmp, "cont", NULL, -1, vm_ioerr_cont_done, vm);
    vm_ioerr_arm(vm, hva_ioerr_backoff_ms(e->attempts, e->nospace));
}

static void vm_ioerr_arm(struct hva_vm *vm, uint64_t ms)
{
    timer_del(vm, &vm->ioerr.timer);
    qb_loop_timer_add(vm->ag->loop, QB_LOOP_MED, ms * 1000000ULL, vm,
                      vm_ioerr_tick, &vm->ioerr.timer);
}

/* A failed request stopped the guest (BLOCK_IO_ERROR, action stop), or a
 * re-attached QEMU is in status io-error (ev NULL: which disk unknown). */
void hva_vm_ioerr_begin(struct hva_vm *vm, const struct hva_ioerr_event *ev)
{
    struct hva_vm_ioerr *e = &vm->ioerr;
    bool first = !e->active;

    if (first) {
        memset(e, 0, sizeof(*e));
        e->active = true;
        e->since_ms = cmn_now_ms();
        e->disk = ev ? hva_ioerr_disk_index(vm->def, ev->device) : -1;
        snprintf(e->device, sizeof(e->device), "%s", ev ? ev->device : "");
    }
    e->errors++;
    e->resumed_ms = 0; /* a `cont` did not settle: still paused */
    if (ev) {
        e->nospace = ev->nospace;
        snprintf(e->reason, sizeof(e->reason), "%s", ev->reason);
    }
    if (first)
        cmn_warn(CMN_LOG_HVA,
                 "VM '%s': guest paused: %s on disk %d (%s, %s: %s); "
                 "resuming it while the lease is held, first try in %" PRIu64
                 " ms",
                 vm->def->name, hva_ioerr_reason_text(e->nospace), e->disk,
                 e->device[0] ? e->device : "?",
                 ev ? (ev->write ? "write" : "read") : "not known",
                 e->reason[0] ? e->reason : "status io-error",
                 hva_ioerr_backoff_ms(0, e->nospace));
    else
        cmn_debug(CMN_LOG_HVA, "VM '%s': I/O error again (%u), disk %s",
                  vm->def->name, e->errors, ev ? ev->device : "?");
    vm_ioerr_arm(vm, hva_ioerr_backoff_ms(e->attempts, e->nospace));
    /* Already paused (a new error before the STOP of the first, or
     * re-attach): the event carries the condition now. */
    if (vm->state == HVA_VM_PAUSED && first)
        hva_vm_state_event(vm);
}

void hva_vm_ioerr_resumed(struct hva_vm *vm)
{
    if (!vm->ioerr.active)
        return;
    vm->ioerr.resumed_ms = cmn_now_ms();
    vm_ioerr_arm(vm, HVA_IOERR_SETTLE_MS);
}

/* QEMU's BLOCK_IO_ERROR. One it cannot parse still paused the guest
 * (every disk hvagent makes stops on errors): an episode of a disk not
 * known, so the guest is resumed all the same. */
void hva_vm_ioerr_event(struct hva_vm *vm, json_object *edata)
{
    struct hva_ioerr_event ev;

    if (hva_ioerr_parse(edata, &ev) < 0) {
        if (!vm->ioerr.active)
            cmn_warn(CMN_LOG_HVA,
                     "VM '%s': BLOCK_IO_ERROR not understood: taken as a "
                     "pause on a disk not known",
                     vm->def->name);
        hva_vm_ioerr_begin(vm, NULL);
    } else if (ev.stop) {
        hva_vm_ioerr_begin(vm, &ev);
    }
}
