/* VM supervision: QEMU per VM, its lease, its files under the run
 * directory, re-attach after an agent restart.
 *
 * Per VM, <run-dir>/vm/<uuid>/ holds def.xml, pid ("PID"), qmp.sock,
 * serial.log, qemu.log (QEMU's stdout/stderr) and phase (the migration
 * phase, see hva_mig_recovery). A restarted agent rebuilds its table from
 * these and never disturbs a running QEMU.
 */
#include "config.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libxml/entities.h>
#include <libxml/tree.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cmn-auto.h"
#include "common/cmn-err.h"
#include "common/cmn-ipc.h"
#include "common/cmn-log.h"
#include "common/cmn-time.h"
#include "common/cmn-xml.h"
#include "hvagent/hva-int.h"

void hva_agent_event(struct hva_agent *ag, const char *fmt, ...)
{
    va_list ap;
    char *text;

    if (!ag->ipc)
        return;
    va_start(ap, fmt);
    text = cmn_xml_vformat(fmt, ap); /* every %s a value, escaped */
    if (text) {
        cmn_ipc_broadcast(ag->ipc, text);
        free(text);
    }
    va_end(ap);
}

struct hva_vm *hva_vm_find(struct hva_agent *ag, const char *id)
{
    if (!id)
        return NULL;
    for (struct hva_vm *vm = ag->vms; vm; vm = vm->next)
        if (strcmp(vm->def->name, id) == 0 || strcmp(vm->def->uuid, id) == 0)
            return vm;
    return NULL;
}

static char *vm_path(const struct hva_vm *vm, const char *file)
{
    char *p;

    if (asprintf(&p, "%s/%s", vm->dir, file) < 0)
        return NULL;
    return p;
}

static void vm_timer_del(struct hva_vm *vm, qb_loop_timer_handle *t)
{
    if (*t) {
        qb_loop_timer_del(vm->ag->loop, *t);
        *t = 0;
    }
}

void hva_vm_state_event(struct hva_vm *vm)
{
    char *text = vm->ag->ipc ? hva_state_event_text(vm) : NULL;

    if (text)
        cmn_ipc_broadcast(vm->ag->ipc, text);
    free(text);
}

void hva_vm_set_state(struct hva_vm *vm, enum hva_vm_state st)
{
    if (vm->state == st)
        return;
    cmn_info(CMN_LOG_HVA, "VM '%s': %s -> %s", vm->def->name,
             hva_vm_state_name(vm->state), hva_vm_state_name(st));
    vm->state = st;
    hva_vm_state_event(vm);
}

int hva_vm_set_phase(struct hva_vm *vm, enum hva_mig_phase ph)
{
    char *p cmn_autofree = vm_path(vm, "phase");
    char text[64];

    if (!hva_mig_phase_next_ok(vm->phase, ph) && ph != HVA_PH_NONE)
        cmn_warn(CMN_LOG_HVA, "VM '%s': unexpected phase %s -> %s",
                 vm->def->name, hva_mig_phase_name(vm->phase),
                 hva_mig_phase_name(ph));
    cmn_info(CMN_LOG_HVA, "VM '%s': phase %s -> %s", vm->def->name,
             hva_mig_phase_name(vm->phase), hva_mig_phase_name(ph));
    vm->phase = ph;
    /* Persisted before acting on it: a restart finds the last phase
     * entered (hva_mig_recovery decides from there). */
    snprintf(text, sizeof(text), "%s\n", hva_mig_phase_name(ph));
    return p ? hva_write_file(p, text) : -ENOMEM;
}

int hva_vm_define(struct hva_agent *ag, struct hva_vm_def *def,
                  struct hva_vm **ret_vm)
{
    struct hva_vm *vm = hva_vm_find(ag, def->uuid);
    int rc;

    if (!vm)
        vm = hva_vm_find(ag, def->name);
    if (vm) {
        if (strcmp(vm->def->uuid, def->uuid) != 0)
            return -CMN_E_DUPLICATE; /* same name, another VM */
        if (vm->state != HVA_VM_DEFINED && vm->pid)
            return -HVA_E_STATE; /* redefining a running VM: later */
        hva_vm_def_free(vm->def);
        vm->def = def;
    } else {
        vm = calloc(1, sizeof(*vm));
        if (!vm)
            return -ENOMEM;
        vm->ag = ag;
        vm->def = def;
        if (asprintf(&vm->dir, "%s/vm/%s", ag->run_dir, def->uuid) < 0) {
            free(vm);
            return -ENOMEM;
        }
        vm->next = ag->vms;
        ag->vms = vm;
    }
    mkdir(vm->dir, 0700);
    rc = hva_vm_def_save(vm);
    if (ret_vm)
        *ret_vm = vm;
    return rc;
}

int hva_vm_def_save(struct hva_vm *vm)
{
    char *xml cmn_autofree = NULL;
    char *p cmn_autofree = vm_path(vm, "def.xml");
    int rc = p ? hva_vm_def_to_xml(vm->def, &xml) : -ENOMEM;

    return rc == 0 ? hva_write_file(p, xml) : rc;
}

int hva_vm_undefine(struct hva_vm *vm)
{
    struct hva_agent *ag = vm->ag;
    char *p cmn_autofree = vm_path(vm, "def.xml");

    if (vm->pid || vm->jobs || vm->mig || vm->op_conn)
        return -HVA_E_STATE;
    for (struct hva_vm **pp = &ag->vms; *pp; pp = &(*pp)->next)
        if (*pp == vm) {
            *pp = vm->next;
            break;
        }
    if (p)
        unlink(p);
    /* Whatever timer still points to this VM goes with it (a kill's reap
     * check, a stop's deadline, an arming's timeout). */
    vm_timer_del(vm, &vm->reap_timer);
    vm_timer_del(vm, &vm->stop_timer);
    vm_timer_del(vm, &vm->arm_timer);
    hva_vm_ioerr_end(vm, "VM undefined");
    hva_mirror_free(vm);
    hva_qmp_free(vm->qmp);
    hva_vm_def_free(vm->def);
    free(vm->dir);
    free(vm);
    return 0;
}

void hva_vm_reply(struct hva_vm *vm, int rc, const char *extra)
{
    char *text = NULL;
    struct cmn_ipc_conn *c = vm->op_conn;

    if (!c)
        return;
    vm->op_conn = NULL;
    if (rc < 0) {
        text = cmn_xml_format(
            "<reply rc=\"%d\" vm=\"%s\" error=\"%s\"/>", rc, vm->def->name,
            vm->last_err[0] ? vm->last_err : cmn_strerror(rc));
    } else {
        /* `extra`: attributes the migration code built */
        char *head cmn_autofree =
            cmn_xml_format("<reply rc=\"0\" vm=\"%s\" state=\"%s\" ",
                           vm->def->name, hva_vm_state_name(vm->state));
        if (!head || asprintf(&text, "%s%s/>", head, extra ? extra : "") < 0)
            text = NULL;
    }
    cmn_ipc_reply(c, text ? text : "<reply rc=\"-12\"/>");
    cmn_ipc_conn_unref(c);
    free(text);
    vm->last_err[0] = '\0';
}

/* ---- QEMU exit ---------------------------------------------------------- */

static void vm_qemu_gone(struct hva_vm *vm)
{
    char *p cmn_autofree = vm_path(vm, "pid");

    cmn_info(CMN_LOG_HVA, "VM '%s': QEMU %d exited", vm->def->name,
             (int)vm->pid);
    /* Nothing left to stop or reap: a timer left armed would run on a VM
     * that an undefine may free before it fires. */
    vm_timer_del(vm, &vm->stop_timer);
    vm_timer_del(vm, &vm->reap_timer);
    hva_vm_ioerr_end(vm, "QEMU exited");
    hva_qmp_free(vm->qmp);
    vm->qmp = NULL;
    vm->pid = 0;
    vm->lease_held = false; /* sanlock frees it with the process */
    if (p)
        unlink(p);
    hva_vm_set_state(vm, HVA_VM_DEFINED);
    hva_disk_qemu_gone(vm);
    hva_mirror_qemu_gone(vm);
    hva_mig_qemu_gone(vm);
    if (vm->on_gone) {
        hva_vm_cb cb = vm->on_gone;
        vm->on_gone = NULL;
        cb(vm, 0, NULL);
    }
}

static bool vm_pid_alive(struct hva_vm *vm)
{
    if (vm->pid <= 0)
        return false;
    if (vm->our_child) {
        int st;
        pid_t r = waitpid(vm->pid, &st, WNOHANG);
        return r == 0;
    }
    /* Not our child (re-attached): gone when kill(0) fails or it is a
     * zombie waiting for another reaper. */
    if (kill(vm->pid, 0) < 0 && errno == ESRCH)
        return false;
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)vm->pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    return !(rp && rp[1] == ' ' && rp[2] == 'Z');
}

static void vm_reap_check(void *data)
{
    struct hva_vm *vm = data;

    vm->reap_timer = 0;
    if (!vm->pid)
        return;
    if (!vm_pid_alive(vm)) {
        vm_qemu_gone(vm);
        return;
    }
    if (cmn_now_ms() > vm->reap_deadline) {
        /* Monitor closed but the process lingers: finish it. */
        cmn_warn(CMN_LOG_HVA, "VM '%s': QEMU %d lingers, killing",
                 vm->def->name, (int)vm->pid);
        kill(vm->pid, SIGKILL);
        vm->reap_deadline = cmn_now_ms() + 5000;
    }
    qb_loop_timer_add(vm->ag->loop, QB_LOOP_MED, 20 * 1000000ULL, vm,
                      vm_reap_check, &vm->reap_timer);
}

static void vm_watch_exit(struct hva_vm *vm)
{
    if (vm->reap_timer)
        return;
    vm->reap_deadline = cmn_now_ms() + 5000;
    qb_loop_timer_add(vm->ag->loop, QB_LOOP_MED, 1 * 1000000ULL, vm,
                      vm_reap_check, &vm->reap_timer);
}

/* ---- QMP events ------------------------------------------------------------
 */

static void vm_qmp_ready(void *data)
{
    struct hva_vm *vm = data;
    hva_vm_cb cb = vm->on_ready;

    vm->on_ready = NULL;
    if (cb)
        cb(vm, 0, NULL);
}

static void vm_qmp_event(void *data, const char *event, json_object *edata)
{
    struct hva_vm *vm = data;

    cmn_debug(CMN_LOG_QEMU, "VM '%s': event %s", vm->def->name, event);
    if (strcmp(event, "STOP") == 0) {
        if (vm->state == HVA_VM_RUNNING)
            hva_vm_set_state(vm, HVA_VM_PAUSED);
    } else if (strcmp(event, "RESUME") == 0) {
        if (vm->state == HVA_VM_PAUSED)
            hva_vm_set_state(vm, HVA_VM_RUNNING);
        hva_vm_ioerr_resumed(vm);
    } else if (strcmp(event, "BLOCK_IO_ERROR") == 0) {
        hva_vm_ioerr_event(vm, edata);
    } else if (strcmp(event, "SHUTDOWN") == 0) {
        /* QEMU exits after SHUTDOWN (no -no-shutdown): watch for it. */
        vm_watch_exit(vm);
    }
    hva_disk_qmp_event(vm, event, edata);
    hva_mirror_qmp_event(vm, event, edata);
    hva_mig_qmp_event(vm, event, edata);
}

static void vm_qmp_closed(void *data)
{
    struct hva_vm *vm = data;

    vm_watch_exit(vm);
}

static const struct hva_qmp_ops vm_qmp_ops = {
    .ready = vm_qmp_ready,
    .event = vm_qmp_event,
    .closed = vm_qmp_closed,
};

/* ---- launch / start ---------------------------------------------------------
 */

static int listen_unix(const char *path, int *ret_fd)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    strcpy(sa.sun_path, path);
    unlink(path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    *ret_fd = fd;
    return 0;
}

/* Last lines of QEMU's log, for error messages. */
static void vm_log_tail(struct hva_vm *vm, char *out, size_t outlen)
{
    char *p cmn_autofree = vm_path(vm, "qemu.log");
    char *text cmn_autofree = NULL;

    out[0] = '\0';
    if (!p || hva_read_file(p, &text) < 0)
        return;
    size_t n = strlen(text);
    while (n && text[n - 1] == '\n')
        text[--n] = '\0';
    const char *s = n > 300 ? text + n - 300 : text;
    snprintf(out, outlen, "%s", s);
    for (char *c = out; *c; c++)
        if (*c == '\n')
            *c = ' ';
}

int hva_vm_launch(struct hva_vm *vm, bool incoming, hva_vm_cb on_ready,
                  char *err, size_t errlen)
{
    struct hva_agent *ag = vm->ag;
    char *sock cmn_autofree = vm_path(vm, "qmp.sock");
    char *serial cmn_autofree = vm_path(vm, "serial.log");
    char *logp cmn_autofree = vm_path(vm, "qemu.log");
    char *pidp cmn_autofree = vm_path(vm, "pid");
    char **argv = NULL;
    int lfd cmn_autoclose = -1;
    int logfd cmn_autoclose = -1;
    struct hva_qemu_cred cred = {0};
    struct hva_qemu_files files = HVA_QEMU_FILES_INIT;
    bool as_root = strcmp(ag->qemu_user, "root") == 0;
    int *keep = NULL, *nic_fds = NULL;
    int cfd = -1, rc;
    pid_t pid;

    if (!sock || !serial || !logp || !pidp)
        return -ENOMEM;
    if (!as_root) {
        rc = hva_qemu_cred_lookup(ag->qemu_user, &cred, err, errlen);
        if (rc < 0)
            return rc;
    }
    /* Everything here stays root's (0700 directory, 0600 files): QEMU
     * reaches its files only through the descriptors it is given. */
    mkdir(vm->dir, 0700);
    rc = listen_unix(sock, &lfd);
    if (rc == 0 && chmod(sock, 0600) < 0)
        rc = -errno;
    if (rc < 0) {
        snprintf(err, errlen, "QMP socket '%s': %s", sock, strerror(-rc));
        goto out;
    }
    logfd = open(logp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (logfd < 0) {
        rc = -errno;
        goto out;
    }
    rc = hva_qemu_files_open(vm->def, serial, &files, err, errlen);
    if (rc < 0)
        goto out;
    /* The taps last: a missing bridge leaves nothing behind. */
    rc = hva_net_open(vm->def, hva_vhost_skip_reason(ag->vhost_net, ag->accel),
                      &nic_fds, err, errlen);
    if (rc < 0)
        goto out;
    /* Taps and vhost descriptors (-1 for none: not kept). */
    keep = calloc(files.n_disks + 1 + 2 * vm->def->n_nics, sizeof(*keep));
    if (!keep) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < files.n_disks; i++)
        keep[i] = files.disk_fds[i];
    keep[files.n_disks] = files.serial_fd;
    for (size_t i = 0; i < 2 * vm->def->n_nics; i++)
        keep[files.n_disks + 1 + i] = nic_fds[i];
    struct hva_qemu_opts o = {
        .qemu = ag->qemu,
        .accel = ag->accel,
        .qmp_fd = lfd,
        .serial_fd = files.serial_fd,
        .disk_fds = files.disk_fds,
        .boot_fds = vm->def->kernel ? files.boot_fds : NULL,
        .incoming = incoming,
        .nic_fds = nic_fds,
        .vhost_fds = nic_fds ? nic_fds + vm->def->n_nics : NULL,
    };
    rc = hva_qemu_argv(vm->def, &o, &argv);
    if (rc < 0)
        goto out;
    const char *const boot_paths[HVA_QEMU_BOOT_FDS] = {vm->def->kernel,
                                                       vm->def->initrd};
    struct hva_qemu_spawn_opts so = {
        .qmp_fd = lfd,
        .log_fd = logfd,
        .sanlock = ag->sanlock && vm->def->lease.lockspace,
        .keep_fds = keep,
        .n_keep = files.n_disks + 1 + 2 * vm->def->n_nics,
        .reopen_fds = files.boot_fds,
        .reopen_paths = boot_paths,
        .n_reopen = HVA_QEMU_BOOT_FDS,
        .cred = as_root ? NULL : &cred,
    };
    rc = hva_qemu_spawn(argv, &so, &pid, err, errlen);
    if (rc < 0)
        goto out;
    vm->pid = pid;
    vm->our_child = true;
    vm->started_ms = cmn_now_ms();
    vm->lease_held = false;
    char pidtext[32];
    snprintf(pidtext, sizeof(pidtext), "%d\n", (int)pid);
    hva_write_file(pidp, pidtext);
    /* Out of hvagent's unit before anything else can go wrong; best
     * effort, logged by hva-scope.c (a VM never fails for it). */
    (void)hva_scope_move(ag, vm->def->name, pid);
    /* QEMU listens on lfd already (it inherited it): the connection is
     * queued in the backlog until QEMU accepts it. */
    rc = hva_qmp_connect_path(sock, &cfd);
    if (rc == 0)
        rc = hva_qmp_new(ag->loop, cfd, &vm_qmp_ops, vm, &vm->qmp);
    if (rc < 0) {
        snprintf(err, errlen, "QMP connect: %s", strerror(-rc));
        kill(pid, SIGKILL);
        vm_watch_exit(vm);
        goto out;
    }
    vm->on_ready = on_ready;
    cmn_info(CMN_LOG_HVA, "VM '%s': QEMU %d started as %s (%s%s)",
             vm->def->name, (int)pid, ag->qemu_user, ag->accel,
             incoming ? ", incoming" : "");
out:
    hva_argv_free(argv);
    free(keep);
    /* QEMU holds its own copies: ours go, so the taps go with QEMU. */
    hva_net_close(nic_fds, nic_fds ? vm->def->n_nics : 0);
    hva_qemu_files_close(&files);
    hva_qemu_cred_free(&cred);
    return rc;
}

static void start_cont_done(void *data, int rc, json_object *ret,
                            const char *errmsg)
{
    struct hva_vm *vm = data;

    (void)ret;
    if (rc < 0) {
        snprintf(vm->last_err, sizeof(vm->last_err), "VM '%s': cont failed: %s",
                 vm->def->name, errmsg);
        hva_vm_reply(vm, rc, NULL);
        hva_vm_kill(vm);
        return;
    }
    vm->on_gone = NULL;
    hva_vm_set_state(vm, HVA_VM_RUNNING);
    hva_net_announce(vm);
    hva_vm_reply(vm, 0, NULL);
}

/* The guest runs once QMP is up and the lease is ours, in either order. */
static void start_maybe_cont(struct hva_vm *vm)
{
    if (vm->start_qmp_up && vm->start_leased && vm->state == HVA_VM_STARTING)
        hva_qmp_command(vm->qmp, "cont", NULL, -1, start_cont_done, vm);
}

static void start_ready(struct hva_vm *vm, int rc, const char *err)
{
    (void)rc;
    (void)err;
    vm->start_qmp_up = true;
    start_maybe_cont(vm);
}

static void start_failed_gone(struct hva_vm *vm, int rc, const char *err)
{
    (void)rc;
    (void)err;
    hva_vm_reply(vm, vm->start_rc ? vm->start_rc : -HVA_E_QEMU, NULL);
}

static void start_leased(void *owner, int rc, uint64_t ms)
{
    struct hva_vm *vm = owner;

    (void)ms;
    vm->jobs--;
    if (!vm->pid || vm->state != HVA_VM_STARTING)
        return; /* QEMU went away meanwhile: start_failed_gone answered */
    if (rc < 0) {
        snprintf(vm->last_err, sizeof(vm->last_err),
                 "VM '%s': lease '%s' not acquired: %s", vm->def->name,
                 vm->def->lease.resource, hva_lease_why(rc));
        /* Answered once QEMU is gone: a refused start leaves nothing. */
        vm->start_rc = rc;
        vm->on_ready = NULL;
        kill(vm->pid, SIGKILL);
        vm_watch_exit(vm);
        return;
    }
    vm->lease_held = true;
    vm->start_leased = true;
    start_maybe_cont(vm);
}

int hva_vm_start(struct hva_vm *vm, char *err, size_t errlen)
{
    int rc;

    if (vm->pid)
        return -HVA_E_STATE;
    if (vm->jobs) {
        snprintf(err, errlen, "VM '%s': a lease request is still in flight",
                 vm->def->name);
        return -EBUSY;
    }
    vm->start_qmp_up = vm->start_leased = false;
    vm->start_rc = 0;
    hva_vm_set_state(vm, HVA_VM_STARTING);
    rc = hva_vm_launch(vm, false, start_ready, err, errlen);
    if (rc < 0) {
        char tail[320];
        vm_log_tail(vm, tail, sizeof(tail));
        if (tail[0]) {
            size_t l = strlen(err);
            snprintf(err + l, errlen - l, " (QEMU: %s)", tail);
        }
        if (!vm->pid)
            hva_vm_set_state(vm, HVA_VM_DEFINED);
        return rc;
    }
    /* The guest is paused (-S) until the lease is ours: a VM whose lease
     * another host holds never runs here. sanlock answers in a worker
     * (a slow lease disk takes seconds) while QMP comes up. */
    vm->on_gone = start_failed_gone;
    if (vm->ag->sanlock && vm->def->lease.lockspace) {
        rc = hva_lease_async(vm->ag, HVA_LEASE_ACQUIRE, &vm->def->lease,
                             vm->pid, 0, start_leased, vm);
        if (rc < 0) {
            snprintf(err, errlen, "VM '%s': lease '%s': %s", vm->def->name,
                     vm->def->lease.resource, cmn_strerror(rc));
            vm->on_ready = NULL;
            vm->on_gone = NULL;
            kill(vm->pid, SIGKILL);
            vm_watch_exit(vm);
            return rc;
        }
        vm->jobs++;
    } else {
        vm->start_leased = true;
    }
    return CMN_IPC_DEFERRED;
}

static void stop_timeout(void *data)
{
    struct hva_vm *vm = data;

    vm->stop_timer = 0;
    if (vm->pid) {
        cmn_info(CMN_LOG_HVA, "VM '%s': no ACPI shutdown in time, killing",
                 vm->def->name);
        kill(vm->pid, SIGKILL);
        vm_watch_exit(vm);
    }
}

static void stop_gone(struct hva_vm *vm, int rc, const char *err)
{
    (void)rc;
    (void)err;
    hva_vm_reply(vm, 0, NULL);
}

int hva_vm_stop(struct hva_vm *vm, unsigned timeout_ms)
{
    if (!vm->pid)
        return -HVA_E_STATE;
    hva_vm_set_state(vm, HVA_VM_STOPPING);
    vm->on_gone = stop_gone;
    if (vm->qmp)
        hva_qmp_command(vm->qmp, "system_powerdown", NULL, -1, NULL, NULL);
    qb_loop_timer_add(vm->ag->loop, QB_LOOP_MED,
                      (uint64_t)timeout_ms * 1000000ULL, vm, stop_timeout,
                      &vm->stop_timer);
    return CMN_IPC_DEFERRED;
}

int hva_vm_kill(struct hva_vm *vm)
{
    if (!vm->pid)
        return -HVA_E_STATE;
    /* The request (if any) is answered once QEMU is gone; its conn is
     * attached by the caller after we return. */
    if (!vm->on_gone)
        vm->on_gone = stop_gone;
    kill(vm->pid, SIGKILL);
    vm_watch_exit(vm);
    return 0;
}

/* ---- re-attach ----------------------------------------------------------- */

static void reattach_status(void *data, int rc, json_object *ret,
                            const char *errmsg)
{
    struct hva_vm *vm = data;
    json_object *st;

    (void)errmsg;
    if (rc < 0 || !json_object_object_get_ex(ret, "status", &st)) {
        hva_mirror_reattach(vm); /* its jobs are checked all the same */
        return;
    }
    const char *s = json_object_get_string(st);
    if (strcmp(s, "running") == 0)
        hva_vm_set_state(vm, HVA_VM_RUNNING);
    else
        hva_vm_set_state(vm, HVA_VM_PAUSED);
    /* Stopped on an I/O error before the restart: resumed as if we had
     * seen it (which disk is not known any more). */
    if (strcmp(s, "io-error") == 0)
        hva_vm_ioerr_begin(vm, NULL);
    cmn_info(CMN_LOG_HVA, "VM '%s': re-attached to QEMU %d (%s, lease %s)",
             vm->def->name, (int)vm->pid, s,
             vm->lease_held ? "held" : "not held");
    hva_mig_recover(vm);
    hva_mirror_reattach(vm);
}

static void reattach_inquired(void *owner, int rc, uint64_t ms)
{
    struct hva_vm *vm = owner;

    (void)ms;
    vm->jobs--;
    vm->lease_held = rc == 1;
    if (vm->qmp)
        hva_qmp_command(vm->qmp, "query-status", NULL, -1, reattach_status, vm);
}

static void reattach_ready(struct hva_vm *vm, int rc, const char *err)
{
    (void)rc;
    (void)err;
    /* Whether the QEMU holds its lease decides the recovery: sanlock
     * answers first (in a worker), then QEMU's status. */
    if (vm->ag->sanlock && vm->def->lease.lockspace &&
        hva_lease_async(vm->ag, HVA_LEASE_INQUIRE, &vm->def->lease, vm->pid, 0,
                        reattach_inquired, vm) == 0) {
        vm->jobs++;
        return;
    }
    hva_qmp_command(vm->qmp, "query-status", NULL, -1, reattach_status, vm);
}

static void reattach_one(struct hva_agent *ag, const char *uuid)
{
    char dir[4096], path[4200];
    char *xml cmn_autofree = NULL;
    char *pidtext cmn_autofree = NULL;
    char *phase cmn_autofree = NULL;
    char err[256];
    struct hva_vm_def *def = NULL;
    struct hva_vm *vm;
    int fd;

    snprintf(dir, sizeof(dir), "%s/vm/%s", ag->run_dir, uuid);
    snprintf(path, sizeof(path), "%s/def.xml", dir);
    if (hva_read_file(path, &xml) < 0 ||
        hva_vm_def_from_xml(xml, &def, err, sizeof(err)) < 0)
        return;
    if (hva_vm_define(ag, def, &vm) < 0) {
        hva_vm_def_free(def);
        return;
    }
    snprintf(path, sizeof(path), "%s/phase", dir);
    if (hva_read_file(path, &phase) == 0) {
        phase[strcspn(phase, "\n")] = '\0';
        hva_mig_phase_parse(phase, &vm->phase);
    }
    snprintf(path, sizeof(path), "%s/pid", dir);
    if (hva_read_file(path, &pidtext) < 0)
        return;
    vm->pid = (pid_t)atoi(pidtext);
    vm->our_child = false;
    /* The pid must still be this VM's QEMU: its command line names the
     * VM's uuid (pids are reused). */
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)vm->pid);
    char *cmd = NULL;
    bool ours = false;
    if (vm->pid > 0 && hva_read_file(path, &cmd) == 0) {
        /* cmdline is NUL-separated: search every argument. */
        FILE *f = fopen(path, "re");
        char buf[8192];
        size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
        if (f)
            fclose(f);
        buf[n] = '\0';
        for (size_t i = 0; i < n; i += strlen(buf + i) + 1)
            if (strcmp(buf + i, uuid) == 0)
                ours = true;
    }
    free(cmd);
    if (!ours) {
        vm->pid = 0;
        snprintf(path, sizeof(path), "%s/pid", dir);
        unlink(path);
        return;
    }
    vm->started_ms = cmn_now_ms();
    snprintf(path, sizeof(path), "%s/qmp.sock", dir);
    if (hva_qmp_connect_path(path, &fd) < 0 ||
        hva_qmp_new(ag->loop, fd, &vm_qmp_ops, vm, &vm->qmp) < 0) {
        cmn_warn(CMN_LOG_HVA,
                 "VM '%s': QEMU %d alive but its monitor "
                 "does not answer",
                 def->name, (int)vm->pid);
        vm->state = HVA_VM_RUNNING;
        /* Still say whether it holds the lease (no recovery without
         * the monitor). */
        if (ag->sanlock && def->lease.lockspace &&
            hva_lease_async(ag, HVA_LEASE_INQUIRE, &def->lease, vm->pid, 0,
                            reattach_inquired, vm) == 0)
            vm->jobs++;
        return;
    }
    vm->state = HVA_VM_PAUSED;
    vm->on_ready = reattach_ready;
    vm->mirror_recheck = true; /* hva_mirror_reattach clears it */
}

int hva_vm_reattach_all(struct hva_agent *ag)
{
    char path[4096];
    DIR *d;
    struct dirent *e;

    snprintf(path, sizeof(path), "%s/vm", ag->run_dir);
    mkdir(path, 0700);
    d = opendir(path);
    if (!d)
        return -errno;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            reattach_one(ag, e->d_name);
    closedir(d);
    return 0;
}

void hva_vm_check_children(struct hva_agent *ag)
{
    for (struct hva_vm *vm = ag->vms; vm; vm = vm->next)
        if (vm->pid && vm->our_child && !vm_pid_alive(vm))
            vm_qemu_gone(vm);
}
