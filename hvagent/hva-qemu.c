/* QEMU command line, process start, accelerator choice, VM lease calls.
 *
 * QEMU runs as an unprivileged user (qemu-user in [hvagent]) under its own
 * seccomp filter. The agent opens, as root, every file QEMU needs and the
 * user could not open itself (LUNs on the lunbridge mount, which only root
 * may enter; the serial log; the QMP socket) and hands them over as file
 * descriptors: -add-fd with /dev/fdset/N for what QEMU opens by name,
 * fd= for the QMP socket, getfd over QMP for migration streams, and
 * /proc/self/fd/N for the kernel and initrd (x86 -kernel takes no fd
 * set), which reaches the file without walking the directories above it
 * (kernel-dirs may lie under the 0700 state directory). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <pwd.h>
#include <sanlock.h>
#include <sanlock_resource.h>
#include <sanlock_rv.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cmn-auto.h"
#include "common/cmn-err.h"
#include "common/cmn-log.h"
#include "common/cmn-time.h"
#include "hvagent/hva-int.h"

struct argv_buf {
    char **v;
    size_t n, cap;
    int rc;
};

static void argv_add(struct argv_buf *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void argv_add(struct argv_buf *a, const char *fmt, ...)
{
    va_list ap;
    char *s;

    if (a->rc < 0)
        return;
    if (a->n + 2 > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 32;
        char **v = realloc(a->v, cap * sizeof(*v));
        if (!v) {
            a->rc = -ENOMEM;
            return;
        }
        a->v = v;
        a->cap = cap;
    }
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0) {
        a->rc = -ENOMEM;
        va_end(ap);
        return;
    }
    va_end(ap);
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

void hva_argv_free(char **argv)
{
    if (!argv)
        return;
    for (char **p = argv; *p; p++)
        free(*p);
    free(argv);
}

/* QEMU's option syntax uses ',' as separator: a literal comma in a value
 * is written ",,". */
static char *qemu_escape(const char *s)
{
    size_t n = strlen(s), extra = 0;

    for (size_t i = 0; i < n; i++)
        extra += s[i] == ',';
    char *o = malloc(n + extra + 1), *p = o;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        *p++ = s[i];
        if (s[i] == ',')
            *p++ = ',';
    }
    *p = '\0';
    return o;
}

int hva_qemu_argv(const struct hva_vm_def *def, const struct hva_qemu_opts *o,
                  char ***ret_argv)
{
    struct argv_buf a = {0};

    if (!o->accel || (strcmp(o->accel, "kvm") && strcmp(o->accel, "tcg")))
        return -EINVAL;
    char *name cmn_autofree = qemu_escape(def->name);
    if (!name)
        return -ENOMEM;
    argv_add(&a, "%s", o->qemu ? o->qemu : "qemu-system-x86_64");
    argv_add(&a, "-name");
    argv_add(&a, "guest=%s,debug-threads=on", name);
    argv_add(&a, "-uuid");
    argv_add(&a, "%s", def->uuid);
    argv_add(&a, "-machine");
    argv_add(&a, "pc");
    argv_add(&a, "-accel");
    /* One TCG thread per vCPU would compete with corosync on 2 cores;
     * QEMU's default (MTTCG) is fine for 1 vCPU. */
    argv_add(&a, "%s", o->accel);
    if (def->cpu_model) {
        argv_add(&a, "-cpu");
        /* "host" (a host-mode VM) is KVM's; TCG's equivalent, every
         * feature it emulates, is "max" (what hva-cpu.c reports as the
         * host's features under TCG). */
        argv_add(&a, "%s",
                 !strcmp(def->cpu_model, "host") && !strcmp(o->accel, "tcg")
                     ? "max"
                     : def->cpu_model);
    }
    argv_add(&a, "-m");
    /* QEMU 7.2 under TCG loses guest writes during live migration when
     * the RAM block's size is a multiple of 256 KiB: the dirty-bitmap
     * sync then takes a word-at-a-time fast path that clears the
     * migration bits without write-protecting the vCPUs' TLB entries,
     * so later stores through those entries are never sent (stale tick
     * counter, verify failures, #GP at iret, a dead guest on the
     * target). 8 KiB more (QEMU's -m granularity) forces the per-page
     * path, which resets the TLB. Plain QEMU, test guest wss=64 rate=128
     * on a loaded host: -m 256 broke 19 of 38 hops, -m 262152K 0 of 60
     * (bench/tcg-dirty-hops). KVM tracks dirty pages itself: unchanged. */
    if (!strcmp(o->accel, "tcg"))
        argv_add(&a, "%lluK", (unsigned long long)def->memory_mib * 1024 + 8);
    else
        argv_add(&a, "%u", def->memory_mib);
    argv_add(&a, "-smp");
    argv_add(&a, "%u", def->vcpus);
    argv_add(&a, "-nodefaults");
    argv_add(&a, "-display");
    argv_add(&a, "none");
    argv_add(&a, "-no-user-config");
    /* QEMU's seccomp filter: no obsolete syscalls, no set*id, no
     * fork/exec, no scheduler or affinity changes. */
    argv_add(&a, "-sandbox");
    argv_add(&a, "on,obsolete=deny,elevateprivileges=deny,spawn=deny,"
                 "resourcecontrol=deny");
    /* Paused until the lease is ours (start) or the state arrived
     * (incoming): the guest never runs without its lease. */
    argv_add(&a, "-S");
    argv_add(&a, "-chardev");
    argv_add(&a, "socket,id=qmp,fd=%d,server=on,wait=off", o->qmp_fd);
    argv_add(&a, "-mon");
    argv_add(&a, "chardev=qmp,mode=control");
    if (o->serial_fd >= 0) {
        argv_add(&a, "-add-fd");
        argv_add(&a, "fd=%d,set=%d,opaque=serial", o->serial_fd,
                 HVA_QEMU_FDSET_SERIAL);
        argv_add(&a, "-chardev");
        argv_add(&a, "file,id=ser0,path=/dev/fdset/%d,append=on",
                 HVA_QEMU_FDSET_SERIAL);
        argv_add(&a, "-serial");
        argv_add(&a, "chardev:ser0");
    } else if (o->serial) {
        char *ser cmn_autofree = qemu_escape(o->serial);
        if (!ser) {
            a.rc = -ENOMEM;
            goto out;
        }
        argv_add(&a, "-chardev");
        argv_add(&a, "file,id=ser0,path=%s,append=on", ser);
        argv_add(&a, "-serial");
        argv_add(&a, "chardev:ser0");
    }
    if (def->kernel) {
        /* By descriptor: the same argument on a migration's target, which
         * reads the kernel at its start like a fresh QEMU (the fd number
         * may differ; only the file's contents matter). */
        argv_add(&a, "-kernel");
        if (o->boot_fds)
            argv_add(&a, "/proc/self/fd/%d", o->boot_fds[0]);
        else
            argv_add(&a, "%s", def->kernel);
        if (def->initrd) {
            argv_add(&a, "-initrd");
            if (o->boot_fds && o->boot_fds[1] >= 0)
                argv_add(&a, "/proc/self/fd/%d", o->boot_fds[1]);
            else
                argv_add(&a, "%s", def->initrd);
        }
        if (def->cmdline) {
            argv_add(&a, "-append");
            argv_add(&a, "%s", def->cmdline);
        }
    }
    /* The scsi controller before its disks, at the address a hot-plug
     * gives it (hva-disk.c). */
    for (size_t i = 0; i < def->n_disks; i++)
        if (def->disks[i].scsi) {
            argv_add(&a, "-device");
            argv_add(&a, "virtio-scsi-pci,id=%s,addr=0x%x", HVA_SCSI_ID,
                     HVA_SCSI_SLOT);
            break;
        }
    for (size_t i = 0; i < def->n_disks; i++) {
        const struct hva_disk *d = &def->disks[i];
        char *p cmn_autofree = NULL;
        char size[48] = "";
        /* A slotted disk has the names and the fd set its hot-plug gave
         * it (hva-disk.c), so a later removal finds it, and its address,
         * so a migration finds it where the source had it. */
        size_t set =
            d->slot ? HVA_QEMU_FDSET_SLOT(d->slot) : HVA_QEMU_FDSET_DISK(i);
        char node[32], id[32], addr[16] = "";

        if (d->slot) {
            snprintf(node, sizeof(node), "hp%u", d->slot);
            snprintf(id, sizeof(id), "hp%u", d->slot);
            snprintf(addr, sizeof(addr), ",addr=0x%x", d->slot);
        } else {
            snprintf(node, sizeof(node), "disk%zu", i);
            snprintf(id, sizeof(id), "vd%zu", i);
        }
        if (o->disk_fds) {
            /* QEMU dups a descriptor of the set whose access mode
             * matches what it opens (read-write). */
            argv_add(&a, "-add-fd");
            argv_add(&a, "fd=%d,set=%zu,opaque=disk%zu", o->disk_fds[i], set,
                     i);
            if (asprintf(&p, "/dev/fdset/%zu", set) < 0)
                p = NULL;
        } else {
            p = qemu_escape(d->path);
        }
        if (!p) {
            a.rc = -ENOMEM;
            goto out;
        }
        if (d->size)
            snprintf(size, sizeof(size), ",size=%" PRIu64, d->size);
        /* file.locking=off: the disks of a VM are extents of one LUN
         * file, and QEMU's image locks (OFD locks on the file) would
         * refuse the second disk. They could not keep two hosts apart
         * anyway: the VM lease does (hva-disk.c hot-plugs the same way). */
        argv_add(&a, "-blockdev");
        argv_add(&a,
                 "driver=raw,node-name=%s,offset=%" PRIu64 "%s,"
                 "cache.direct=%s,file.driver=file,file.filename=%s,"
                 "file.aio=threads,file.locking=off",
                 node, d->offset, size, d->direct ? "on" : "off", p);
        /* werror/rerror=stop: a failed request pauses the guest instead
         * of reaching it, and is retried on resume (hva-ioerr.c). */
        argv_add(&a, "-device");
        if (d->scsi)
            argv_add(&a,
                     "scsi-hd,bus=%s.0,scsi-id=%u,lun=0,drive=%s,id=%s,"
                     "werror=stop,rerror=stop",
                     HVA_SCSI_ID, d->slot ? d->slot : (unsigned)i, node, id);
        else
            argv_add(&a,
                     "virtio-blk-pci,drive=%s,id=%s%s,werror=stop,"
                     "rerror=stop",
                     node, id, addr);
    }
    for (size_t i = 0; o->nic_fds && i < def->n_nics; i++) {
        const struct hva_nic *n = &def->nics[i];
        char mtu[32] = "";

        argv_add(&a, "-netdev");
        if (o->vhost_fds && o->vhost_fds[i] >= 0)
            argv_add(&a, "tap,id=net%zu,fd=%d,vhost=on,vhostfd=%d", i,
                     o->nic_fds[i], o->vhost_fds[i]);
        else
            argv_add(&a, "tap,id=net%zu,fd=%d", i, o->nic_fds[i]);
        /* romfile=: no PXE option ROM (nothing boots from the network,
         * and the ROM is not installed everywhere); host_mtu tells a
         * virtio guest the MTU the definition gives. */
        if (n->mtu && n->model == HVA_NIC_VIRTIO)
            snprintf(mtu, sizeof(mtu), ",host_mtu=%u", n->mtu);
        argv_add(&a, "-device");
        argv_add(&a, "%s,netdev=net%zu,id=nic%zu,mac=%s,romfile=%s",
                 n->model == HVA_NIC_E1000 ? "e1000" : "virtio-net-pci", i, i,
                 n->mac, mtu);
    }
    if (o->incoming) {
        argv_add(&a, "-incoming");
        argv_add(&a, "defer");
    }
out:
    if (a.rc < 0) {
        hva_argv_free(a.v);
        return a.rc;
    }
    *ret_argv = a.v;
    return 0;
}

/* ---- the QEMU user and the files handed to QEMU ------------------------ */

int hva_qemu_cred_lookup(const char *user, struct hva_qemu_cred *ret, char *err,
                         size_t errlen)
{
    struct passwd pw, *res = NULL;
    char buf[4096];
    int rc, n = 16;

    memset(ret, 0, sizeof(*ret));
    rc = getpwnam_r(user, &pw, buf, sizeof(buf), &res);
    if (rc != 0 || !res) {
        if (rc)
            snprintf(err, errlen,
                     "QEMU user '%s' (qemu-user in [hvagent]): looking it up: "
                     "%s",
                     user, strerror(rc));
        else
            snprintf(err, errlen,
                     "QEMU user '%s' (qemu-user in [hvagent]) does not exist: "
                     "create it as a system user or set another",
                     user);
        return rc ? -rc : -HVA_E_QEMU;
    }
    ret->uid = pw.pw_uid;
    ret->gid = pw.pw_gid;
    /* Its supplementary groups too (kvm, for /dev/kvm), nothing of ours. */
    for (;;) {
        gid_t *g = realloc(ret->groups, (size_t)n * sizeof(*g));
        if (!g) {
            hva_qemu_cred_free(ret);
            return -ENOMEM;
        }
        ret->groups = g;
        int want = n;
        if (getgrouplist(user, pw.pw_gid, g, &want) >= 0) {
            ret->n_groups = (size_t)want;
            break;
        }
        if (want <= n || want > 65536) {
            hva_qemu_cred_free(ret);
            snprintf(err, errlen, "QEMU user '%s': its groups: too many", user);
            return -HVA_E_QEMU;
        }
        n = want;
    }
    return 0;
}

void hva_qemu_cred_free(struct hva_qemu_cred *c)
{
    free(c->groups);
    c->groups = NULL;
    c->n_groups = 0;
}

/* A kernel or initrd, read-only for QEMU's /proc/self/fd/N. O_NOFOLLOW:
 * `path` is canonical (hva_vm_def_check), so what is opened is what was
 * checked; O_NONBLOCK so that a FIFO put there cannot block the agent
 * before fstat refuses it. */
static int boot_file_open(const char *what, const char *path, int *ret_fd,
                          char *err, size_t errlen)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    int rc;

    if (fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "%s '%s': %s", what, path, strerror(-rc));
        return rc;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        snprintf(err, errlen, "%s '%s' is not a regular file", what, path);
        return -CMN_E_BAD_VALUE;
    }
    *ret_fd = fd;
    return 0;
}

int hva_qemu_files_open(const struct hva_vm_def *def, const char *serial,
                        struct hva_qemu_files *ret, char *err, size_t errlen)
{
    *ret = (struct hva_qemu_files)HVA_QEMU_FILES_INIT;
    if (def->n_disks) {
        ret->disk_fds = malloc(def->n_disks * sizeof(int));
        if (!ret->disk_fds)
            return -ENOMEM;
    }
    for (size_t i = 0; i < def->n_disks; i++) {
        const struct hva_disk *d = &def->disks[i];
        /* The flags QEMU asks for (read-write, O_DIRECT for
         * cache.direct=on): its dup of the descriptor keeps them. */
        int fd = open(d->path, O_RDWR | O_CLOEXEC | (d->direct ? O_DIRECT : 0));
        if (fd < 0) {
            int rc = -errno;
            snprintf(err, errlen, "disk '%s': %s", d->path, strerror(-rc));
            hva_qemu_files_close(ret);
            return rc;
        }
        ret->disk_fds[ret->n_disks++] = fd;
    }
    if (serial) {
        ret->serial_fd =
            open(serial, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (ret->serial_fd < 0) {
            int rc = -errno;
            snprintf(err, errlen, "serial log '%s': %s", serial, strerror(-rc));
            hva_qemu_files_close(ret);
            return rc;
        }
    }
    if (def->kernel) {
        int rc = boot_file_open("kernel", def->kernel, &ret->boot_fds[0], err,
                                errlen);
        if (rc == 0 && def->initrd)
            rc = boot_file_open("initrd", def->initrd, &ret->boot_fds[1], err,
                                errlen);
        if (rc < 0) {
            hva_qemu_files_close(ret);
            return rc;
        }
    }
    return 0;
}

void hva_qemu_files_close(struct hva_qemu_files *f)
{
    for (size_t i = 0; i < f->n_disks; i++)
        close(f->disk_fds[i]);
    free(f->disk_fds);
    f->disk_fds = NULL;
    f->n_disks = 0;
    if (f->serial_fd >= 0)
        close(f->serial_fd);
    f->serial_fd = -1;
    for (size_t i = 0; i < HVA_QEMU_BOOT_FDS; i++) {
        if (f->boot_fds[i] >= 0)
            close(f->boot_fds[i]);
        f->boot_fds[i] = -1;
    }
}

/* Child side: what it sends to the parent fits the parent's buffer, even
 * when the text was truncated. */
static void __attribute__((format(printf, 2, 3)))
child_report(int errfd, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    size_t len = (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1;
    if (write(errfd, msg, len) < 0)
        return;
}

static void keep_across_exec(int fd)
{
    int fl = fcntl(fd, F_GETFD);

    if (fl >= 0)
        fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
}

/* Becomes `c` for good: groups, then gid, then uid (real, effective and
 * saved), then checks that no way back to root is left. */
static int drop_privileges(const struct hva_qemu_cred *c, int errfd)
{
    uid_t ru, eu, su;
    gid_t rg, eg, sg;

    if (setgroups(c->n_groups, c->groups) < 0 ||
        setresgid(c->gid, c->gid, c->gid) < 0 ||
        setresuid(c->uid, c->uid, c->uid) < 0) {
        child_report(errfd, "switching to uid %u gid %u: %s", (unsigned)c->uid,
                     (unsigned)c->gid, strerror(errno));
        return -1;
    }
    if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 ||
        ru != c->uid || eu != c->uid || su != c->uid || rg != c->gid ||
        eg != c->gid || sg != c->gid) {
        child_report(errfd, "uid/gid not switched to %u/%u", (unsigned)c->uid,
                     (unsigned)c->gid);
        return -1;
    }
    if (c->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0 ||
                        setgroups(0, NULL) == 0)) {
        child_report(errfd, "root could be regained after dropping it");
        return -1;
    }
    /* Nothing QEMU execs (it may not: -sandbox spawn=deny) gains more. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        child_report(errfd, "no_new_privs: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* Child side of hva_qemu_spawn: never returns. Reports a failure as a
 * message through `errfd`, a close-on-exec pipe whose EOF tells the
 * parent exec happened. */
static void __attribute__((noreturn))
spawn_child(char *const *argv, const struct hva_qemu_spawn_opts *so, int errfd)
{
    int rc;

    setsid(); /* an agent restart or its signals never reach QEMU */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0 && nul != 0) {
        dup2(nul, 0);
        close(nul);
    }
    if (so->log_fd >= 0) {
        dup2(so->log_fd, 1);
        dup2(so->log_fd, 2);
    }
    /* QEMU inherits only what it is given below, whatever the agent
     * left open without close-on-exec (IPC, listeners). */
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
        child_report(errfd, "close_range: %s", strerror(errno));
        _exit(127);
    }
    /* The registration is the connection this process keeps open across
     * exec: the lease acquired for our pid lives as long as QEMU. It is
     * made as root, before the switch to the QEMU user. */
    if (so->sanlock) {
        rc = sanlock_register();
        if (rc < 0) {
            child_report(errfd, "sanlock_register: %d", rc);
            _exit(127);
        }
        keep_across_exec(rc);
    }
    keep_across_exec(so->qmp_fd);
    for (size_t i = 0; i < so->n_keep; i++)
        keep_across_exec(so->keep_fds[i]);
    for (size_t i = 0; i < so->n_reopen; i++)
        if (so->reopen_fds[i] >= 0)
            keep_across_exec(so->reopen_fds[i]);
    if (chdir("/") < 0) {
        child_report(errfd, "chdir /: %s", strerror(errno));
        _exit(127);
    }
    if (so->cred && drop_privileges(so->cred, errfd) < 0)
        _exit(127);
    for (size_t i = 0; i < so->n_reopen; i++) {
        char self[32];
        int fd = so->reopen_fds[i];

        if (fd < 0)
            continue;
        snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
        int t = open(self, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (t < 0) {
            child_report(errfd,
                         "'%s': the QEMU user (uid %u) may not read it: %s "
                         "(the file itself must be readable by qemu-user; "
                         "its directories need not be)",
                         so->reopen_paths[i],
                         so->cred ? (unsigned)so->cred->uid : 0,
                         strerror(errno));
            _exit(127);
        }
        close(t);
    }
    execvp(argv[0], argv);
    child_report(errfd, "exec %s: %s", argv[0], strerror(errno));
    _exit(127);
}

int hva_qemu_spawn(char *const *argv, const struct hva_qemu_spawn_opts *so,
                   pid_t *ret_pid, char *err, size_t errlen)
{
    int pfd[2];
    char msg[256];
    ssize_t n;
    pid_t pid;

    if (pipe2(pfd, O_CLOEXEC) < 0)
        return -errno;
    pid = fork();
    if (pid < 0) {
        int rc = -errno;
        close(pfd[0]);
        close(pfd[1]);
        return rc;
    }
    if (pid == 0) {
        close(pfd[0]);
        spawn_child(argv, so, pfd[1]);
    }
    close(pfd[1]);
    do {
        n = read(pfd[0], msg, sizeof(msg) - 1);
    } while (n < 0 && errno == EINTR);
    close(pfd[0]);
    if (n > 0) {
        msg[n] = '\0';
        snprintf(err, errlen, "%s", msg);
        waitpid(pid, NULL, 0);
        return -HVA_E_QEMU;
    }
    *ret_pid = pid;
    return 0;
}

/* Boots `kernel` under KVM for up to 3 s and watches its serial port for
 * two report lines with an advancing tick. kvm-pvm (nested) hosts fail
 * this: they triple-fault or stop with an emulation failure. */
static bool kvm_probe(const char *qemu, const char *kernel,
                      const struct hva_qemu_cred *cred)
{
    char dir[] = "/tmp/hva-probe.XXXXXX";
    char serial[64], cmd[1024];
    bool ok = false;
    pid_t pid;

    if (!mkdtemp(dir))
        return false;
    /* The probe's QEMU writes its serial log here, as the QEMU user. */
    if (cred && chown(dir, cred->uid, cred->gid) < 0) {
        rmdir(dir);
        return false;
    }
    snprintf(serial, sizeof(serial), "%s/serial", dir);
    snprintf(cmd, sizeof(cmd), "file:%s", serial);
    pid = fork();
    if (pid == 0) {
        int nul = open("/dev/null", O_RDWR);
        dup2(nul, 0);
        dup2(nul, 1);
        dup2(nul, 2);
        if (cred && drop_privileges(cred, nul) < 0)
            _exit(126);
        execlp(qemu, qemu, "-machine", "pc", "-accel", "kvm", "-m", "64",
               "-nodefaults", "-display", "none", "-no-reboot", "-kernel",
               kernel, "-append", "wss=4 rate=0 verify=0 report=50", "-serial",
               cmd, (char *)NULL);
        _exit(127);
    }
    uint64_t deadline = cmn_now_ms() + 3000;
    while (pid > 0 && cmn_now_ms() < deadline) {
        char *text = NULL;
        long first = -1;

        if (hva_read_file(serial, &text) == 0) {
            for (char *l = strstr(text, "tick="); l;
                 l = strstr(l + 1, "tick=")) {
                long t = strtol(l + 5, NULL, 10);
                if (first < 0)
                    first = t;
                else if (t > first)
                    ok = true;
            }
            free(text);
        }
        if (ok || waitpid(pid, NULL, WNOHANG) == pid) {
            if (!ok)
                pid = 0;
            break;
        }
        poll(NULL, 0, 100); /* polling interval of the probe */
    }
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    unlink(serial);
    rmdir(dir);
    return ok;
}

const char *hva_accel_resolve(const char *setting, const char *qemu,
                              const char *probe_kernel,
                              const struct hva_qemu_cred *cred)
{
    if (strcmp(setting, "kvm") == 0 || strcmp(setting, "tcg") == 0)
        return setting;
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return "tcg";
    close(fd);
    if (!probe_kernel)
        return "tcg"; /* can't prove KVM works: don't trust it */
    return kvm_probe(qemu, probe_kernel, cred) ? "kvm" : "tcg";
}

/* ---- VM lease -------------------------------------------------------------
 */

struct lease_res {
    struct sanlk_resource r;
    struct sanlk_disk d;
};

static int lease_fill(const struct hva_lease_def *l, struct lease_res *res)
{
    memset(res, 0, sizeof(*res));
    if (!l->lockspace || strlen(l->lockspace) >= SANLK_NAME_LEN ||
        strlen(l->resource) >= SANLK_NAME_LEN ||
        strlen(l->path) >= SANLK_PATH_LEN)
        return -EINVAL;
    strcpy(res->r.lockspace_name, l->lockspace);
    strcpy(res->r.name, l->resource);
    res->r.num_disks = 1;
    strcpy(res->d.path, l->path);
    res->d.offset = l->offset;
    return 0;
}

int hva_lease_acquire(const struct hva_lease_def *l, pid_t pid)
{
    struct lease_res res;
    struct sanlk_resource *rv[1] = {&res.r};
    int rc = lease_fill(l, &res);

    if (rc < 0)
        return rc;
    rc = sanlock_acquire(-1, pid, 0, 1, rv, NULL);
    if (rc == -EAGAIN || rc == SANLK_ACQUIRE_IDLIVE ||
        rc == SANLK_ACQUIRE_OWNED || rc == SANLK_ACQUIRE_OTHER ||
        rc == SANLK_ACQUIRE_SHRETRY)
        return -HVA_E_LEASE_HELD;
    return rc < 0 ? rc : 0;
}

int hva_lease_release(const struct hva_lease_def *l, pid_t pid)
{
    struct lease_res res;
    struct sanlk_resource *rv[1] = {&res.r};
    int rc = lease_fill(l, &res);

    if (rc < 0)
        return rc;
    rc = sanlock_release(-1, pid, 0, 1, rv);
    return rc < 0 ? rc : 0;
}

int hva_lease_held(const struct hva_lease_def *l, pid_t pid)
{
    char *state = NULL;
    int count = 0, rc;

    rc = sanlock_inquire(-1, pid, 0, &count, &state);
    if (rc < 0)
        return rc == -ESRCH || rc == -ENOENT ? 0 : rc;
    /* state: "LOCKSPACE:RESOURCE:PATH:OFFSET[:lver] ..." */
    char prefix[2 * SANLK_NAME_LEN + 2];
    int n =
        snprintf(prefix, sizeof(prefix), "%s:%s:", l->lockspace, l->resource);
    /* A truncated prefix could match another resource. */
    if (n < 0 || (size_t)n >= sizeof(prefix)) {
        free(state);
        return -EINVAL;
    }
    rc = state && strstr(state, prefix) ? 1 : 0;
    free(state);
    return rc;
}
