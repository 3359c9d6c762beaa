/* The storage mirror of a running VM (op mirror): every disk copied by
 * QEMU's blockdev-mirror to a target extent while the guest runs, then
 * switched to it, the VM lease moved from the source slot to the target
 * slot.
 *
 * Steps (clusterd drives them and polls `status` in between):
 *   start    per disk: add-fd, blockdev-add of a raw node over the target
 *            extent (as hva_qemu_argv builds a disk), blockdev-mirror
 *            (sync full, copy-mode as asked) -> COPYING; READY once every
 *            job sent BLOCK_JOB_READY (source and target in step, each
 *            guest write going to both).
 *   complete the target slot's lease acquired for the QEMU pid, THEN
 *            block-job-complete per job -> COMPLETED once every job sent
 *            BLOCK_JOB_COMPLETED without error: the guest's disks are the
 *            targets, the definition (def.xml) names them and the target
 *            lease, and the source lease is still held too.
 *   finish   (after clusterd's CDB names the target) the source lease
 *            released, the source nodes and fd sets dropped.
 *   cancel   before COMPLETED: block-job-cancel, then the target nodes
 *            and fd sets dropped and a target lease taken released: the
 *            VM runs on its source disks under its source lease, as
 *            before the start. A job error or QEMU's exit does the same
 *            (FAILED, the reason in `msg`).
 *
 * Lease safety: the VM is never without a lease (the source lease is
 * released only at finish, after the target lease was acquired at
 * complete) and never runs on disks whose slot lease another host could
 * take: from complete to finish it holds both. A source or target
 * lease held by another host fails complete before any switch.
 *
 * A part of the disks (start's <disk index="N">, move-storage --disk):
 * only those are mirrored and switched; the VM's slot does not move, so
 * no target lease is taken and the VM's lease is held throughout (finish
 * only drops the source nodes).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cmn-err.h"
#include "common/cmn-ipc.h"
#include "common/cmn-log.h"
#include "common/cmn-xml.h"
#include "hvagent/hva-int.h"
#include "resources/res-vm.h"

#define MIRROR_FDSET_BASE 200u /* 32 sets: the disks' and the targets' */
#define MIRROR_POLL_MS    500u

enum mr_state {
    MR_COPYING,
    MR_READY,
    MR_LEASING,
    MR_COMPLETING,
    MR_COMPLETED,
    MR_CANCELLING,
    MR_CANCELLED,
    MR_FAILED,
    MR_FINISHING, /* the source lease's release in flight */
    MR_FINISHED,
    MR_STATE_END,
};

/* clusterd waits on these words ("finishing" until the source lease is
 * released, then "finished"): one per state, checked below. */
static const char *const mr_names[] = {
    "copying",    "ready",     "leasing", "completing", "completed",
    "cancelling", "cancelled", "failed",  "finishing",  "finished"};
_Static_assert(sizeof(mr_names) / sizeof(mr_names[0]) == MR_STATE_END,
               "a name for every mirror state");

struct hva_mirror;

struct mr_disk {
    struct hva_mirror *m;
    size_t disk;            /* its index in the definition */
    struct hva_disk target; /* path owned */
    char node[24];          /* target node and job id */
    size_t fdset;
    bool node_added, job_started, job_ready, job_ended, job_ok;
    uint64_t done, total;
};

struct hva_mirror {
    struct hva_vm *vm;
    enum mr_state state;
    bool write_blocking;
    uint64_t speed;
    size_t n;
    struct mr_disk d[RES_VM_MAX_DISKS];
    struct hva_lease_def lease, old_lease; /* target; source after switch */
    bool lease_acquired, lease_busy;
    bool failing; /* cancelling because of a failure, not asked */
    bool dropped; /* the target nodes are gone (nothing writes there) */
    unsigned gen;
    char old_nodes[RES_VM_MAX_DISKS][24];
    size_t old_fdsets[RES_VM_MAX_DISKS];
    qb_loop_timer_handle timer;
    char msg[512];
};

static unsigned mirror_gen;

static void lease_clear(struct hva_lease_def *l)
{
    free(l->lockspace);
    free(l->resource);
    free(l->path);
    memset(l, 0, sizeof(*l));
}

void hva_disk_node_name(const struct hva_vm_def *def, size_t i, char *buf,
                        size_t len)
{
    const struct hva_disk *d = &def->disks[i];

    if (d->node[0])
        snprintf(buf, len, "%s", d->node);
    else if (d->slot)
        snprintf(buf, len, "hp%u", d->slot);
    else
        snprintf(buf, len, "disk%zu", i);
}

static size_t disk_fdset(const struct hva_vm_def *def, size_t i)
{
    const struct hva_disk *d = &def->disks[i];

    if (d->fdset)
        return d->fdset;
    return d->slot ? HVA_QEMU_FDSET_SLOT(d->slot) : HVA_QEMU_FDSET_DISK(i);
}

/* The fd set of target `upto` of mirror m: the lowest of the mirror sets
 * that no disk of the VM and no earlier target uses. Never a set a disk
 * still reads from: a second fd in it could be the one QEMU opens. With
 * at most 16 disks and 16 targets, one of the 32 is always free (earlier
 * mirrors, of every disk or of some, and removed disks leave any mix). */
static size_t free_fdset(const struct hva_vm_def *def,
                         const struct hva_mirror *m, size_t upto)
{
    for (size_t s = MIRROR_FDSET_BASE;
         s < MIRROR_FDSET_BASE + 2 * RES_VM_MAX_DISKS; s++) {
        bool used = false;
        for (size_t k = 0; k < def->n_disks; k++)
            used |= disk_fdset(def, k) == s;
        for (size_t i = 0; i < upto; i++)
            used |= m->d[i].fdset == s;
        if (!used)
            return s;
    }
    return MIRROR_FDSET_BASE + 2 * RES_VM_MAX_DISKS; /* not reached */
}

void hva_mirror_free(struct hva_vm *vm)
{
    struct hva_mirror *m = vm->mirror;

    if (!m)
        return;
    if (m->timer)
        qb_loop_timer_del(vm->ag->loop, m->timer);
    for (size_t i = 0; vm->qmp && i < CMN_ARRAY_SIZE(m->d); i++)
        hva_qmp_forget(vm->qmp, &m->d[i]);
    if (vm->qmp)
        hva_qmp_forget(vm->qmp, m);
    for (size_t i = 0; i < m->n; i++)
        free(m->d[i].target.path);
    lease_clear(&m->lease);
    lease_clear(&m->old_lease);
    free(m);
    vm->mirror = NULL;
}

static bool active(const struct hva_mirror *m)
{
    return m->state <= MR_CANCELLING && m->state != MR_COMPLETED;
}

bool hva_mirror_busy(const struct hva_vm *vm)
{
    return vm->mirror &&
           (active(vm->mirror) || vm->mirror->state == MR_COMPLETED);
}

static void set_msg(struct hva_mirror *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_msg(struct hva_mirror *m, const char *fmt, ...)
{
    va_list ap;

    if (m->msg[0])
        return; /* the first reason is the one that matters */
    va_start(ap, fmt);
    vsnprintf(m->msg, sizeof(m->msg), fmt, ap);
    va_end(ap);
    cmn_err(CMN_LOG_HVA, "VM '%s': storage mirror: %s", m->vm->def->name,
            m->msg);
}

static json_object *args_str(const char *key, const char *val)
{
    json_object *a = json_object_new_object();

    json_object_object_add(a, key, json_object_new_string(val));
    return a;
}

static json_object *args_fdset(size_t id)
{
    json_object *a = json_object_new_object();

    json_object_object_add(a, "fdset-id", json_object_new_int64((int64_t)id));
    return a;
}

static void lease_released(void *owner, int rc, uint64_t ms)
{
    (void)owner;
    (void)ms;
    if (rc < 0)
        cmn_warn(CMN_LOG_HVA, "storage mirror: a lease release: %s",
                 cmn_strerror(rc));
}

/* The target nodes and descriptors go once no job uses them; a target
 * lease taken goes too. The VM is as before the start. */
static void drop_targets(struct hva_mirror *m)
{
    struct hva_vm *vm = m->vm;

    for (size_t i = 0; i < m->n; i++) {
        if (m->d[i].node_added && vm->qmp)
            hva_qmp_command(vm->qmp, "blockdev-del",
                            args_str("node-name", m->d[i].node), -1, NULL,
                            NULL);
        if (vm->qmp)
            hva_qmp_command(vm->qmp, "remove-fd", args_fdset(m->d[i].fdset), -1,
                            NULL, NULL);
        m->d[i].node_added = false;
    }
    m->dropped = true;
    if (m->lease_acquired && vm->pid && vm->ag->sanlock)
        hva_lease_async(vm->ag, HVA_LEASE_RELEASE, &m->lease, vm->pid, 0,
                        lease_released, NULL);
    m->lease_acquired = false;
}

static bool all_ended(const struct hva_mirror *m)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->d[i].job_started && !m->d[i].job_ended)
            return false;
    return true;
}

static void cancel_jobs(struct hva_mirror *m)
{
    struct hva_vm *vm = m->vm;

    m->state = MR_CANCELLING;
    for (size_t i = 0; i < m->n; i++) {
        if (!m->d[i].job_started || m->d[i].job_ended || !vm->qmp)
            continue;
        json_object *a = args_str("device", m->d[i].node);
        /* force: a READY job ends without its completion phase too. */
        json_object_object_add(a, "force", json_object_new_boolean(true));
        hva_qmp_command(vm->qmp, "block-job-cancel", a, -1, NULL, NULL);
    }
    if (all_ended(m)) {
        drop_targets(m);
        m->state = m->failing ? MR_FAILED : MR_CANCELLED;
    }
}

static void fail(struct hva_mirror *m)
{
    m->failing = true;
    if (m->state < MR_COMPLETED || m->state == MR_LEASING)
        cancel_jobs(m);
}

/* Every job completed: the guest writes to the targets now. */
static void switched(struct hva_mirror *m)
{
    struct hva_vm *vm = m->vm;
    struct hva_vm_def *def = vm->def;
    int rc;

    for (size_t i = 0; i < m->n; i++) {
        struct hva_disk *d = &def->disks[m->d[i].disk];
        hva_disk_node_name(def, m->d[i].disk, m->old_nodes[i],
                           sizeof(m->old_nodes[i]));
        m->old_fdsets[i] = disk_fdset(def, m->d[i].disk);
        free(d->path);
        d->path = m->d[i].target.path;
        m->d[i].target.path = NULL;
        d->offset = m->d[i].target.offset;
        d->size = m->d[i].target.size;
        snprintf(d->node, sizeof(d->node), "%s", m->d[i].node);
        d->fdset = m->d[i].fdset;
    }
    /* The definition names the target lease; the source one is kept
     * (held) until finish. A part of the disks moved: the VM's slot, and
     * so its lease, stayed. */
    if (m->lease.lockspace) {
        m->old_lease = def->lease;
        def->lease = m->lease;
        memset(&m->lease, 0, sizeof(m->lease));
    }
    m->lease_acquired = false;
    rc = hva_vm_def_save(vm);
    if (rc < 0)
        cmn_warn(CMN_LOG_HVA, "VM '%s': def.xml not rewritten: %s", def->name,
                 cmn_strerror(rc));
    m->state = MR_COMPLETED;
    cmn_info(CMN_LOG_HVA,
             "VM '%s': storage mirror complete: %zu disk(s) switched to "
             "their targets (lease '%s' held)",
             def->name, m->n, def->lease.resource ? def->lease.resource : "-");
}

static struct mr_disk *disk_of_job(struct hva_mirror *m, json_object *data)
{
    json_object *dev;
    const char *id;

    if (!json_object_object_get_ex(data, "device", &dev))
        return NULL;
    id = json_object_get_string(dev);
    for (size_t i = 0; id && i < m->n; i++)
        if (!strcmp(m->d[i].node, id))
            return &m->d[i];
    return NULL;
}

static uint64_t j_u64(json_object *o, const char *key)
{
    json_object *v;

    if (!json_object_object_get_ex(o, key, &v))
        return 0;
    return (uint64_t)json_object_get_int64(v);
}

void hva_mirror_qmp_event(struct hva_vm *vm, const char *event,
                          json_object *data)
{
    struct hva_mirror *m = vm->mirror;
    struct mr_disk *d;
    json_object *err;
    bool ready = true;

    if (!m || strncmp(event, "BLOCK_JOB_", 10) != 0 ||
        !(d = disk_of_job(m, data)))
        return;
    if (!strcmp(event, "BLOCK_JOB_READY")) {
        d->job_ready = true;
        d->done = j_u64(data, "offset");
        d->total = j_u64(data, "len");
        for (size_t i = 0; i < m->n; i++)
            ready &= m->d[i].job_ready;
        if (ready && m->state == MR_COPYING) {
            m->state = MR_READY;
            cmn_info(CMN_LOG_HVA, "VM '%s': storage mirror ready (%zu jobs)",
                     vm->def->name, m->n);
        }
        return;
    }
    if (!strcmp(event, "BLOCK_JOB_ERROR")) {
        set_msg(
            m, "the copy of disk %zu (job %s) failed: %s error on %s", d->disk,
            d->node,
            json_object_get_string(json_object_object_get(data, "action")),
            json_object_get_string(json_object_object_get(data, "operation")));
        return;
    }
    if (strcmp(event, "BLOCK_JOB_COMPLETED") != 0 &&
        strcmp(event, "BLOCK_JOB_CANCELLED") != 0)
        return;
    d->job_ended = true;
    d->done = j_u64(data, "offset");
    d->job_ok = !strcmp(event, "BLOCK_JOB_COMPLETED") &&
                !json_object_object_get_ex(data, "error", &err);
    if (!d->job_ok && m->state != MR_CANCELLING) {
        set_msg(m, "the copy of disk %zu (job %s) ended: %s", d->disk, d->node,
                json_object_object_get_ex(data, "error", &err)
                    ? json_object_get_string(err)
                    : "cancelled by QEMU");
        if (m->state == MR_COMPLETING)
            /* Some jobs may have switched already: nothing to undo
             * safely, the VM keeps running on what QEMU has. */
            m->state = MR_FAILED;
        else
            fail(m);
        return;
    }
    if (!all_ended(m))
        return;
    if (m->state == MR_COMPLETING)
        switched(m);
    else if (m->state == MR_CANCELLING) {
        drop_targets(m);
        m->state = m->failing ? MR_FAILED : MR_CANCELLED;
        cmn_info(CMN_LOG_HVA,
                 "VM '%s': storage mirror %s: the VM stays on its source "
                 "disks",
                 vm->def->name, m->failing ? "failed" : "cancelled");
    }
}

void hva_mirror_qemu_gone(struct hva_vm *vm)
{
    struct hva_mirror *m = vm->mirror;

    vm->mirror_recheck = false;
    if (!m || !active(m))
        return;
    set_msg(m, "QEMU exited during the storage mirror");
    for (size_t i = 0; i < m->n; i++)
        m->d[i].job_ended = true;
    m->dropped = true;         /* nothing writes the targets any more */
    m->lease_acquired = false; /* sanlock freed it with the process */
    m->state = MR_FAILED;
}

/* ---- progress ----------------------------------------------------------- */

static void poll_jobs(void *data);

static void jobs_queried(void *data, int rc, json_object *ret,
                         const char *errmsg)
{
    struct hva_mirror *m = data;

    (void)errmsg;
    if (rc == 0 && json_object_is_type(ret, json_type_array)) {
        for (size_t k = 0; k < json_object_array_length(ret); k++) {
            json_object *j = json_object_array_get_idx(ret, k);
            struct mr_disk *d = disk_of_job(m, j);
            if (d && !d->job_ended) {
                d->done = j_u64(j, "offset");
                d->total = j_u64(j, "len");
            }
        }
    }
    if (active(m))
        qb_loop_timer_add(m->vm->ag->loop, QB_LOOP_LOW,
                          MIRROR_POLL_MS * 1000000ULL, m, poll_jobs, &m->timer);
}

static void poll_jobs(void *data)
{
    struct hva_mirror *m = data;

    m->timer = 0;
    if (m->vm->qmp && active(m))
        hva_qmp_command(m->vm->qmp, "query-block-jobs", NULL, -1, jobs_queried,
                        m);
}

#define STRAY_CHECKS_MAX 1000 /* query-block-jobs rounds after a cancel */

static void stray_jobs(void *data, int rc, json_object *ret, const char *errmsg)
{
    struct hva_vm *vm = data;
    bool found = false;

    (void)errmsg;
    if (rc < 0 || !json_object_is_type(ret, json_type_array) || !vm->qmp) {
        vm->mirror_recheck = false;
        return;
    }
    for (size_t k = 0; k < json_object_array_length(ret); k++) {
        json_object *j = json_object_array_get_idx(ret, k), *id;
        if (!json_object_object_get_ex(j, "device", &id) ||
            strncmp(json_object_get_string(id), "mv", 2) != 0)
            continue;
        found = true;
        if (vm->mirror_recheck_n)
            continue; /* cancelled already: waiting for it to end */
        json_object *a = args_str("device", json_object_get_string(id));
        json_object_object_add(a, "force", json_object_new_boolean(true));
        hva_qmp_command(vm->qmp, "block-job-cancel", a, -1, NULL, NULL);
        cmn_warn(CMN_LOG_HVA,
                 "VM '%s': storage mirror job %s of the agent before the "
                 "restart cancelled: the VM stays on its source disks",
                 vm->def->name, json_object_get_string(id));
    }
    /* Mirror requests wait until the jobs are gone (QEMU answers in
     * order: the next query follows the cancels). */
    if (found && ++vm->mirror_recheck_n < STRAY_CHECKS_MAX)
        hva_qmp_command(vm->qmp, "query-block-jobs", NULL, -1, stray_jobs, vm);
    else
        vm->mirror_recheck = false;
}

void hva_mirror_reattach(struct hva_vm *vm)
{
    vm->mirror_recheck_n = 0;
    if (vm->qmp && !vm->mirror)
        hva_qmp_command(vm->qmp, "query-block-jobs", NULL, -1, stray_jobs, vm);
    else
        vm->mirror_recheck = false;
}

/* ---- start -------------------------------------------------------------- */

/* A command of the start failed: what it would have made does not exist
 * (QEMU runs them in order, so the later ones of that disk fail too). */
static void step_failed(struct mr_disk *d, const char *what, int rc,
                        const char *errmsg)
{
    struct hva_mirror *m = d->m;

    set_msg(m, "disk %zu: %s: %s", d->disk, what,
            errmsg ? errmsg : cmn_strerror(rc));
    if (m->state == MR_CANCELLING) {
        /* A cancel waiting for this job's end: it never started. */
        if (all_ended(m)) {
            drop_targets(m);
            m->state = m->failing ? MR_FAILED : MR_CANCELLED;
        }
    } else if (active(m)) {
        fail(m);
    }
}

static void fd_added(void *data, int rc, json_object *ret, const char *errmsg)
{
    (void)ret;
    if (rc < 0)
        step_failed(data, "add-fd", rc, errmsg);
}

static void node_added(void *data, int rc, json_object *ret, const char *errmsg)
{
    struct mr_disk *d = data;

    (void)ret;
    if (rc < 0) {
        d->node_added = false;
        step_failed(d, "blockdev-add", rc, errmsg);
    }
}

static void job_started(void *data, int rc, json_object *ret,
                        const char *errmsg)
{
    struct mr_disk *d = data;

    (void)ret;
    if (rc < 0) {
        d->job_started = false;
        step_failed(d, "blockdev-mirror", rc, errmsg);
    }
}

static void job_completing(void *data, int rc, json_object *ret,
                           const char *errmsg)
{
    struct mr_disk *d = data;

    (void)ret;
    if (rc < 0) /* the job goes on mirroring: the switch fails */
        step_failed(d, "block-job-complete", rc, errmsg);
}

static int start(struct hva_vm *vm, struct hva_request *req, char *err,
                 size_t errlen)
{
    struct hva_vm_def *def = vm->def;
    struct hva_mirror *m;
    char what[48];
    int rc;

    if (vm->state != HVA_VM_RUNNING && vm->state != HVA_VM_PAUSED) {
        snprintf(err, errlen,
                 "VM '%s' is %s: only a running VM mirrors its storage",
                 def->name, hva_vm_state_name(vm->state));
        return -HVA_E_STATE;
    }
    if (!vm->qmp || vm->hotplug || vm->mig || vm->op_conn ||
        (vm->mirror &&
         (active(vm->mirror) || vm->mirror->state == MR_COMPLETED))) {
        snprintf(err, errlen,
                 "VM '%s' is busy (%s): its storage mirror waits until "
                 "that is done",
                 def->name,
                 vm->mirror && vm->mirror->state <= MR_COMPLETED
                     ? "a storage mirror"
                 : vm->hotplug ? "a disk change"
                 : vm->mig     ? "a migration"
                               : "another operation");
        return -HVA_E_STATE;
    }
    if (!req->mirror_indexed && req->n_mirror_disks != def->n_disks) {
        snprintf(err, errlen,
                 "VM '%s' has %zu disk(s), the mirror names %zu: every disk "
                 "moves (or index=\"N\" names the disks that do)",
                 def->name, def->n_disks, req->n_mirror_disks);
        return -HVA_E_BAD_REQUEST;
    }
    for (size_t i = 0; i < req->n_mirror_disks; i++) {
        bool twice = false;
        for (size_t k = 0; k < i; k++)
            twice |= req->mirror_index[k] == req->mirror_index[i];
        if (req->mirror_index[i] >= def->n_disks || twice) {
            snprintf(err, errlen,
                     "VM '%s' has %zu disk(s): the mirror's disk index %zu "
                     "is %s",
                     def->name, def->n_disks, req->mirror_index[i],
                     twice ? "named twice" : "not one of them");
            return -HVA_E_BAD_REQUEST;
        }
    }
    /* A part of the disks moves without the slot: the lease stays. */
    if (req->n_mirror_disks < def->n_disks && req->mirror_lease.lockspace) {
        snprintf(err, errlen,
                 "VM '%s': %zu of its %zu disks move, so its slot and lease "
                 "stay: the mirror takes no <lease>",
                 def->name, req->n_mirror_disks, def->n_disks);
        return -HVA_E_BAD_REQUEST;
    }
    if (vm->ag->sanlock && def->lease.lockspace &&
        req->n_mirror_disks == def->n_disks && !req->mirror_lease.lockspace) {
        snprintf(err, errlen,
                 "VM '%s' holds a lease: the mirror needs the target's "
                 "<lease>",
                 def->name);
        return -HVA_E_BAD_REQUEST;
    }
    for (size_t i = 0; i < req->n_mirror_disks; i++) {
        snprintf(what, sizeof(what), "mirror target of disk %zu", i);
        rc = hva_storage_path_check(def, &vm->ag->dirs, what,
                                    &req->mirror_disks[i].path, err, errlen);
        if (rc < 0)
            return rc;
    }
    if (req->mirror_lease.lockspace) {
        snprintf(what, sizeof(what), "mirror target lease");
        rc = hva_storage_path_check(def, &vm->ag->dirs, what,
                                    &req->mirror_lease.path, err, errlen);
        if (rc < 0)
            return rc;
    }
    hva_mirror_free(vm);
    m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    m->vm = vm;
    m->n = req->n_mirror_disks;
    m->write_blocking = req->mirror_write_blocking;
    m->speed = req->mirror_speed;
    m->gen = ++mirror_gen;
    m->lease = req->mirror_lease;
    memset(&req->mirror_lease, 0, sizeof(req->mirror_lease));
    vm->mirror = m;
    m->state = MR_COPYING;
    for (size_t i = 0; i < m->n; i++) {
        struct mr_disk *d = &m->d[i];
        char src[24], fdpath[32];
        json_object *a, *file;
        int fd;

        d->m = m;
        d->disk = req->mirror_index[i];
        d->target = req->mirror_disks[i];
        req->mirror_disks[i].path = NULL;
        d->target.direct = def->disks[d->disk].direct;
        d->total = d->target.size;
        d->fdset = free_fdset(def, m, i);
        /* Unique in this QEMU's life: a later mirror adds its own. */
        /* At most 23 characters: QEMU's node names stop at 31. */
        snprintf(d->node, sizeof(d->node), "mv%ud%u", m->gen, (unsigned)i);
        hva_disk_node_name(def, d->disk, src, sizeof(src));
        fd = open(d->target.path,
                  O_RDWR | O_CLOEXEC | (d->target.direct ? O_DIRECT : 0));
        if (fd < 0) {
            rc = -errno;
            set_msg(m, "target of disk %zu '%s': %s", d->disk, d->target.path,
                    strerror(-rc));
            snprintf(err, errlen, "VM '%s': %s", def->name, m->msg);
            /* The earlier disks' jobs are cancelled and their targets
             * dropped (status says when). */
            fail(m);
            return rc;
        }
        snprintf(fdpath, sizeof(fdpath), "/dev/fdset/%zu", d->fdset);
        a = args_fdset(d->fdset);
        json_object_object_add(a, "opaque", json_object_new_string(d->node));
        hva_qmp_command(vm->qmp, "add-fd", a, fd, fd_added, d);
        close(fd);

        a = json_object_new_object();
        json_object_object_add(a, "driver", json_object_new_string("raw"));
        json_object_object_add(a, "node-name", json_object_new_string(d->node));
        json_object_object_add(
            a, "offset", json_object_new_int64((int64_t)d->target.offset));
        json_object_object_add(a, "size",
                               json_object_new_int64((int64_t)d->target.size));
        file = json_object_new_object();
        json_object_object_add(file, "direct",
                               json_object_new_boolean(d->target.direct));
        json_object_object_add(a, "cache", file);
        file = json_object_new_object();
        json_object_object_add(file, "driver", json_object_new_string("file"));
        json_object_object_add(file, "filename",
                               json_object_new_string(fdpath));
        json_object_object_add(file, "aio", json_object_new_string("threads"));
        json_object_object_add(file, "locking", json_object_new_string("off"));
        json_object_object_add(a, "file", file);
        hva_qmp_command(vm->qmp, "blockdev-add", a, -1, node_added, d);
        d->node_added = true;

        a = json_object_new_object();
        json_object_object_add(a, "job-id", json_object_new_string(d->node));
        json_object_object_add(a, "device", json_object_new_string(src));
        json_object_object_add(a, "target", json_object_new_string(d->node));
        json_object_object_add(a, "sync", json_object_new_string("full"));
        json_object_object_add(a, "copy-mode",
                               json_object_new_string(m->write_blocking
                                                          ? "write-blocking"
                                                          : "background"));
        if (m->speed)
            json_object_object_add(a, "speed",
                                   json_object_new_int64((int64_t)m->speed));
        hva_qmp_command(vm->qmp, "blockdev-mirror", a, -1, job_started, d);
        d->job_started = true;
    }
    cmn_info(CMN_LOG_HVA, "VM '%s': storage mirror of %zu disk(s) started (%s)",
             def->name, m->n,
             m->write_blocking ? "write-blocking" : "background");
    qb_loop_timer_add(vm->ag->loop, QB_LOOP_LOW, MIRROR_POLL_MS * 1000000ULL, m,
                      poll_jobs, &m->timer);
    return 0;
}

/* ---- complete ------------------------------------------------------------ */

static void target_leased(void *owner, int rc, uint64_t ms)
{
    struct hva_vm *vm = owner;
    struct hva_mirror *m = vm->mirror;

    vm->jobs--;
    if (!m)
        return;
    m->lease_busy = false;
    if (m->state != MR_LEASING) {
        /* Cancelled or failed meanwhile: the lease goes again. */
        if (rc == 0 && vm->pid)
            hva_lease_async(vm->ag, HVA_LEASE_RELEASE, &m->lease, vm->pid, 0,
                            lease_released, NULL);
        return;
    }
    if (rc < 0) {
        set_msg(m, "the target slot's lease '%s' not acquired: %s",
                m->lease.resource, cmn_strerror(rc));
        m->state = MR_READY;
        fail(m);
        return;
    }
    m->lease_acquired = true;
    cmn_info(CMN_LOG_HVA,
             "VM '%s': target lease '%s' acquired in %" PRIu64 " ms",
             vm->def->name, m->lease.resource, ms);
    m->state = MR_COMPLETING;
    for (size_t i = 0; i < m->n; i++)
        hva_qmp_command(vm->qmp, "block-job-complete",
                        args_str("device", m->d[i].node), -1, job_completing,
                        &m->d[i]);
}

static int complete(struct hva_vm *vm, char *err, size_t errlen)
{
    struct hva_mirror *m = vm->mirror;
    int rc;

    if (m->state != MR_READY) {
        snprintf(err, errlen,
                 "VM '%s': the storage mirror is %s, not ready: it completes "
                 "once every disk is copied",
                 vm->def->name, mr_names[m->state]);
        return -HVA_E_STATE;
    }
    m->state = MR_LEASING;
    if (!vm->ag->sanlock || !m->lease.lockspace) {
        vm->jobs++;
        target_leased(vm, 0, 0);
        return 0;
    }
    m->lease_busy = true;
    rc = hva_lease_async(vm->ag, HVA_LEASE_ACQUIRE, &m->lease, vm->pid, 0,
                         target_leased, vm);
    if (rc < 0) {
        m->lease_busy = false;
        m->state = MR_READY;
        snprintf(err, errlen, "VM '%s': target lease: %s", vm->def->name,
                 cmn_strerror(rc));
        return rc;
    }
    vm->jobs++;
    return 0;
}

/* ---- finish ------------------------------------------------------------- */

static void source_released(void *owner, int rc, uint64_t ms)
{
    struct hva_vm *vm = owner;
    struct hva_mirror *m = vm->mirror;

    vm->jobs--;
    if (!m || m->state != MR_FINISHING)
        return;
    if (rc < 0)
        set_msg(m, "the source slot's lease '%s' not released: %s",
                m->old_lease.resource, cmn_strerror(rc));
    else
        cmn_info(CMN_LOG_HVA,
                 "VM '%s': storage mirror finished: the source lease '%s' "
                 "released in %" PRIu64 " ms",
                 vm->def->name, m->old_lease.resource, ms);
    m->state = rc < 0 ? MR_FAILED : MR_FINISHED;
}

static int finish(struct hva_vm *vm, char *err, size_t errlen)
{
    struct hva_mirror *m = vm->mirror;

    if (m->state != MR_COMPLETED) {
        snprintf(err, errlen,
                 "VM '%s': the storage mirror is %s: only a completed one "
                 "finishes",
                 vm->def->name, mr_names[m->state]);
        return -HVA_E_STATE;
    }
    m->state = MR_FINISHED;
    if (m->old_lease.lockspace && vm->pid && vm->ag->sanlock &&
        hva_lease_async(vm->ag, HVA_LEASE_RELEASE, &m->old_lease, vm->pid, 0,
                        source_released, vm) == 0) {
        /* clusterd frees the source slot once this says finished. */
        vm->jobs++;
        m->state = MR_FINISHING;
    }
    for (size_t i = 0; i < m->n && vm->qmp; i++) {
        hva_qmp_command(vm->qmp, "blockdev-del",
                        args_str("node-name", m->old_nodes[i]), -1, NULL, NULL);
        hva_qmp_command(vm->qmp, "remove-fd", args_fdset(m->old_fdsets[i]), -1,
                        NULL, NULL);
    }
    return 0;
}

/* ---- the request ----------------------------------------------------------
 */

static int reply(struct hva_vm *vm, char **ret_reply)
{
    const struct hva_mirror *m = vm->mirror;
    uint64_t done = 0, total = 0;
    xmlChar *msg;

    for (size_t i = 0; i < m->n; i++) {
        done += m->d[i].done;
        total += m->d[i].total ? m->d[i].total : m->d[i].target.size;
    }
    if (m->state >= MR_COMPLETING && m->state != MR_CANCELLING &&
        m->state != MR_CANCELLED && m->state != MR_FAILED)
        done = total;
    msg = xmlEncodeSpecialChars(NULL, (const xmlChar *)m->msg);
    *ret_reply =
        cmn_xml_format("<reply rc=\"0\" vm=\"%s\" state=\"%s\" done=\"%" PRIu64
                       "\" total=\"%" PRIu64 "\" disks=\"%zu\" "
                       "targets-dropped=\"%s\" msg=\"%s\"/>",
                       vm->def->name, mr_names[m->state], done, total, m->n,
                       m->dropped ? "yes" : "no", msg ? (const char *)msg : "");
    xmlFree(msg);
    return *ret_reply ? 0 : -ENOMEM;
}

int hva_mirror_request(struct hva_vm *vm, struct hva_request *req,
                       char **ret_reply, char *err, size_t errlen)
{
    struct hva_mirror *m = vm->mirror;
    int rc = 0;

    if (vm->mirror_recheck) {
        snprintf(err, errlen,
                 "VM '%s': hvagent is re-attaching to its QEMU (mirror jobs "
                 "of the agent before the restart are being cancelled): "
                 "retry",
                 vm->def->name);
        return -EAGAIN;
    }
    if (req->mirror_action == HVA_MIRROR_START) {
        rc = start(vm, req, err, errlen);
        return rc < 0 ? rc : reply(vm, ret_reply);
    }
    if (!m) {
        snprintf(err, errlen, "VM '%s' has no storage mirror on node '%s'",
                 vm->def->name, vm->ag->node_name);
        return -ENOENT;
    }
    switch (req->mirror_action) {
    case HVA_MIRROR_COMPLETE:
        rc = complete(vm, err, errlen);
        break;
    case HVA_MIRROR_CANCEL:
        if (m->state == MR_COMPLETED || m->state == MR_FINISHED) {
            snprintf(err, errlen,
                     "VM '%s': the storage mirror has switched the disks "
                     "already: too late to cancel",
                     vm->def->name);
            return -HVA_E_STATE;
        }
        if (m->state == MR_COMPLETING) {
            snprintf(err, errlen,
                     "VM '%s': the storage mirror is switching the disks: "
                     "too late to cancel",
                     vm->def->name);
            return -HVA_E_STATE;
        }
        if (active(m)) {
            set_msg(m, "cancelled");
            if (m->state == MR_LEASING)
                m->state = MR_READY; /* target_leased lets it go */
            cancel_jobs(m);
        }
        break;
    case HVA_MIRROR_FINISH:
        rc = finish(vm, err, errlen);
        break;
    default:
        break;
    }
    return rc < 0 ? rc : reply(vm, ret_reply);
}
