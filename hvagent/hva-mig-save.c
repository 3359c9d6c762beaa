/* Quick migration, save: the guest stops, QEMU streams its state through
 * a pipe that a worker copies into the VM's state extent on the CSV; the
 * header that makes the state valid (csv_state_hdr) is written last, then
 * the lease is released and QEMU quits. Any failure before the header is
 * on disk resumes the guest here, lease held. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/cmn-auto.h"
#include "common/cmn-crc32c.h"
#include "common/cmn-err.h"
#include "common/cmn-ipc.h"
#include "common/cmn-log.h"
#include "common/cmn-time.h"
#include "hvagent/hva-mig-int.h"

/* Header write in a worker: two fdatasyncs on the CSV can take long. */
struct save_job {
    struct hva_mig *m;
    int fd;
    uint64_t offset;
    uint64_t extent_size;
    struct csv_state_hdr h;
    uint8_t hdr[CSV_STATE_HDR_SIZE];
};

static int save_hdr_work(void *arg)
{
    struct save_job *j = arg;
    struct csv_state_hdr old;

    /* The generation counts the saves into this extent: one more than
     * the header it replaces, 1 over anything else. */
    j->h.generation = 1;
    if (pread(j->fd, j->hdr, sizeof(j->hdr), (off_t)j->offset) ==
            (ssize_t)sizeof(j->hdr) &&
        csv_state_hdr_decode(j->hdr, sizeof(j->hdr), j->extent_size, &old) == 0)
        j->h.generation = old.generation + 1;
    csv_state_hdr_encode(&j->h, j->hdr);
    errno = 0;
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
    hva_mig_free(m);
}

static void save_hdr_done(void *arg, int rc)
{
    struct save_job *j = arg;
    struct hva_mig *m = j->m;
    struct hva_vm *vm;
    uint64_t gen = j->h.generation;

    free(j);
    if (!hva_mig_job_done(m))
        return;
    vm = m->vm;
    m->hdr.generation = gen;
    cmn_debug(CMN_LOG_HVA, "VM '%s': state header written, generation %" PRIu64,
              vm->def->name, gen);
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
    if (hva_mig_vm_has_lease(vm))
        hva_mig_lease(m, HVA_LEASE_RELEASE, 0, save_released);
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
        j->extent_size = vm->def->state.size;
        j->h = m->hdr;
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

static int save_copy_work(void *arg)
{
    struct hva_mig_copy_job *j = arg;
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

static void save_copy_done(void *arg, int rc)
{
    struct hva_mig *m;
    struct hva_vm *vm;
    uint64_t len;
    uint32_t crc;

    m = hva_mig_copy_job_end(arg, &len, &crc);
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
        hva_mig_free(m);
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
        hva_qmp_command(m->vm->qmp, "closefd",
                        hva_mig_str_arg("fdname", MIG_FDNAME), -1, NULL, NULL);
        hva_qmp_command(m->vm->qmp, "cont", NULL, -1, NULL, NULL);
        hva_vm_set_state(m->vm, HVA_VM_RUNNING);
        hva_vm_set_phase(m->vm, HVA_PH_NONE);
        hva_vm_reply(m->vm, -HVA_E_MIGRATION, NULL);
        hva_mig_free(m);
    }
}

int hva_save(struct hva_vm *vm, char *err, size_t errlen)
{
    struct hva_mig_copy_job *j;
    struct hva_mig *m;
    int p[2];

    if (vm->state != HVA_VM_RUNNING || !vm->qmp || vm->mig) {
        snprintf(err, errlen, "VM '%s' is %s, not running", vm->def->name,
                 hva_vm_state_name(vm->state));
        return -HVA_E_STATE;
    }
    if (!vm->def->state.path || vm->def->state.size <= CSV_STATE_HDR_SIZE) {
        snprintf(err, errlen, "VM '%s' has no state extent (<state>)",
                 vm->def->name);
        return -CMN_E_MISSING;
    }
    m = hva_mig_new(vm->ag, vm, HVA_MIG_SAVE);
    if (!m)
        return -ENOMEM;
    m->file_fd = open(vm->def->state.path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (m->file_fd < 0 || pipe2(p, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "VM '%s': state extent '%s': %s", vm->def->name,
                 vm->def->state.path, strerror(errno));
        hva_mig_free(m);
        return -HVA_E_MIGRATION;
    }
    j = calloc(1, sizeof(*j));
    if (!j) {
        close(p[0]);
        close(p[1]);
        hva_mig_free(m);
        return -ENOMEM;
    }
    j->m = m;
    j->pipe_fd = p[0];
    j->file_fd = m->file_fd;
    j->offset = vm->def->state.offset + CSV_STATE_HDR_SIZE;
    j->room = vm->def->state.size - CSV_STATE_HDR_SIZE;
    j->crc = m->crc;
    if (cmn_work_submit(vm->ag->work, save_copy_work, save_copy_done, j) < 0) {
        snprintf(err, errlen, "VM '%s': no worker for the state copy",
                 vm->def->name);
        close(p[0]);
        close(p[1]);
        free(j);
        hva_mig_free(m);
        return -HVA_E_MIGRATION;
    }
    m->jobs++;
    m->t_start = cmn_now_ms();
    hva_vm_set_phase(vm, HVA_PH_SAVE_STREAM);
    hva_vm_set_state(vm, HVA_VM_SAVING);
    hva_qmp_command(vm->qmp, "stop", NULL, -1, save_cmd_check, m);
    hva_qmp_command(vm->qmp, "migrate-set-capabilities",
                    hva_mig_caps_args(false, false), -1, save_cmd_check, m);
    json_object *pa = json_object_new_object();
    json_object_object_add(pa, "max-bandwidth",
                           json_object_new_int64((int64_t)1 << 40));
    /* A pipe to a file has no TLS peer: clear what an encrypted live
     * migration of this QEMU (in or out) left set. */
    json_object_object_add(pa, "tls-creds", json_object_new_string(""));
    hva_qmp_command(vm->qmp, "migrate-set-parameters", pa, -1, save_cmd_check,
                    m);
    hva_qmp_command(vm->qmp, "getfd", hva_mig_str_arg("fdname", MIG_FDNAME),
                    p[1], save_cmd_check, m);
    close(p[1]);
    m->qemu_migrating = true;
    hva_qmp_command(vm->qmp, "migrate",
                    hva_mig_str_arg("uri", "fd:" MIG_FDNAME), -1,
                    save_cmd_check, m);
    return CMN_IPC_DEFERRED;
}

void hva_mig_save_qemu_event(struct hva_mig *m,
                             const struct hva_mig_reaction *r)
{
    if (r->what == HVA_MR_STREAM_DONE) {
        m->qemu_done = true;
        save_finish(m);
    } else if (r->what == HVA_MR_FAILED) {
        save_cmd_check(m, -HVA_E_MIGRATION, NULL, "QEMU save failed");
    }
}

void hva_mig_save_qemu_gone(struct hva_mig *m)
{
    struct hva_vm *vm = m->vm;

    if (vm->phase == HVA_PH_SAVE_DONE) {
        hva_vm_set_phase(vm, HVA_PH_NONE);
        hva_vm_reply(vm, 0, m->result);
    } else {
        hva_vm_set_phase(vm, HVA_PH_NONE);
        hva_vm_reply(vm, -HVA_E_QEMU, NULL);
    }
    hva_mig_free(m);
}
