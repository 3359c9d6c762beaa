/* Quick migration, restore: the header of the VM's state extent is
 * checked (csv_state_hdr_decode), QEMU starts with -incoming, a worker
 * feeds it the state from the extent while another takes the lease; the
 * guest resumes only with the state in, its crc32c matching the header's,
 * and the lease held. Any failure kills the QEMU, which frees the lease. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cmn-auto.h"
#include "common/cmn-crc32c.h"
#include "common/cmn-err.h"
#include "common/cmn-ipc.h"
#include "common/cmn-log.h"
#include "common/cmn-time.h"
#include "hvagent/hva-mig-int.h"

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
    hva_mig_free(m);
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
    hva_net_announce(vm);
    char extra[256];
    snprintf(extra, sizeof(extra),
             "bytes=\"%" PRIu64 "\" restore-ms=\"%" PRIu64 "\" mbps=\"%.1f\"",
             m->io_len, ms,
             ms ? (double)m->io_len / 1048576.0 / ((double)ms / 1000.0) : 0.0);
    hva_vm_set_phase(vm, HVA_PH_NONE);
    hva_vm_reply(vm, 0, extra);
    hva_mig_free(m);
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
    struct hva_mig_copy_job *j = arg;
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

    m = hva_mig_copy_job_end(arg, &len, &crc);
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
                     vm->def->name, vm->def->lease.resource, hva_lease_why(rc));
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
    struct hva_mig_copy_job *j;
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
    j->offset = vm->def->state.offset + CSV_STATE_HDR_SIZE;
    j->room = m->hdr.length;
    j->crc = m->crc;
    hva_qmp_command(vm->qmp, "migrate-set-capabilities",
                    hva_mig_caps_args(false, false), -1, restore_cmd_check, m);
    hva_qmp_command(vm->qmp, "getfd", hva_mig_str_arg("fdname", MIG_FDNAME),
                    p[0], restore_cmd_check, m);
    close(p[0]);
    hva_qmp_command(vm->qmp, "migrate-incoming",
                    hva_mig_str_arg("uri", "fd:" MIG_FDNAME), -1,
                    restore_cmd_check, m);
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

/* What csv_state_hdr_decode found, for the operator (hvagent does not
 * carry csv's error texts). */
static const char *state_hdr_problem(int rc)
{
    switch (rc) {
    case -CSV_E_BAD_MAGIC:
        return "no state header: nothing saved";
    case -CSV_E_BAD_VERSION:
        return "state header of another format version";
    case -CSV_E_BAD_CRC:
        return "state header checksum mismatch: torn or damaged";
    case -CSV_E_BAD_LENGTH:
        return "state header inconsistent or longer than the extent";
    default:
        return "state header unreadable";
    }
}

int hva_restore(struct hva_vm *vm, char *err, size_t errlen)
{
    uint8_t hdr[CSV_STATE_HDR_SIZE];
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
    m = hva_mig_new(vm->ag, vm, HVA_MIG_RESTORE);
    if (!m)
        return -ENOMEM;
    m->file_fd = open(vm->def->state.path, O_RDONLY | O_CLOEXEC);
    if (m->file_fd < 0 ||
        pread(m->file_fd, hdr, sizeof(hdr), (off_t)vm->def->state.offset) !=
            (ssize_t)sizeof(hdr)) {
        snprintf(err, errlen, "VM '%s': state extent '%s': %s", vm->def->name,
                 vm->def->state.path, strerror(errno ? errno : EIO));
        hva_mig_free(m);
        return -HVA_E_STATE_CORRUPT;
    }
    rc = csv_state_hdr_decode(hdr, sizeof(hdr), vm->def->state.size, &m->hdr);
    if (rc < 0 || strcmp(m->hdr.uuid, vm->def->uuid) != 0) {
        snprintf(err, errlen, "VM '%s': no valid saved state in '%s' (%s)",
                 vm->def->name, vm->def->state.path,
                 rc < 0 ? state_hdr_problem(rc) : "header names another VM");
        hva_mig_free(m);
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
        hva_mig_free(m);
        return rc;
    }
    /* The state feeds in while the worker takes the lease; the guest
     * resumes only with both done (restore_maybe_resume). */
    if (hva_mig_vm_has_lease(vm))
        hva_mig_lease(m, HVA_LEASE_ACQUIRE, 0, restore_leased);
    else
        m->lease_ok = true;
    return CMN_IPC_DEFERRED;
}

void hva_mig_restore_qemu_event(struct hva_mig *m,
                                const struct hva_mig_reaction *r)
{
    if (r->what == HVA_MR_STREAM_DONE) {
        m->qemu_done = true;
        restore_maybe_resume(m);
    } else if (r->what == HVA_MR_FAILED) {
        restore_fail(m, -HVA_E_STATE_CORRUPT,
                     "VM '%s': QEMU rejected the saved state",
                     m->vm->def->name);
    }
}

void hva_mig_restore_qemu_gone(struct hva_mig *m)
{
    restore_fail(m, -HVA_E_QEMU, "VM '%s': QEMU exited during restore",
                 m->vm->def->name);
}
