/* QEMU command line, process start, accelerator choice, VM lease calls. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sanlock.h>
#include <sanlock_resource.h>
#include <sanlock_rv.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
        argv_add(&a, "%s", def->cpu_model);
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
    /* Paused until the lease is ours (start) or the state arrived
     * (incoming): the guest never runs without its lease. */
    argv_add(&a, "-S");
    argv_add(&a, "-chardev");
    argv_add(&a, "socket,id=qmp,fd=%d,server=on,wait=off", o->qmp_fd);
    argv_add(&a, "-mon");
    argv_add(&a, "chardev=qmp,mode=control");
    if (o->serial) {
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
        argv_add(&a, "-kernel");
        argv_add(&a, "%s", def->kernel);
        if (def->initrd) {
            argv_add(&a, "-initrd");
            argv_add(&a, "%s", def->initrd);
        }
        if (def->cmdline) {
            argv_add(&a, "-append");
            argv_add(&a, "%s", def->cmdline);
        }
    }
    for (size_t i = 0; i < def->n_disks; i++) {
        const struct hva_disk *d = &def->disks[i];
        char *p cmn_autofree = qemu_escape(d->path);
        char size[48] = "";

        if (!p) {
            a.rc = -ENOMEM;
            goto out;
        }
        if (d->size)
            snprintf(size, sizeof(size), ",size=%" PRIu64, d->size);
        argv_add(&a, "-blockdev");
        argv_add(&a,
                 "driver=raw,node-name=disk%zu,offset=%" PRIu64 "%s,"
                 "cache.direct=%s,file.driver=file,file.filename=%s,"
                 "file.aio=threads",
                 i, d->offset, size, d->direct ? "on" : "off", p);
        argv_add(&a, "-device");
        argv_add(&a, "virtio-blk-pci,drive=disk%zu,id=vd%zu", i, i);
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

/* Child side of hva_qemu_spawn: never returns. Reports a failure as
 * (negative code, message) through `errfd`, a close-on-exec pipe whose
 * EOF tells the parent exec happened. */
static void __attribute__((noreturn))
spawn_child(char *const *argv, int qmp_fd, int log_fd, bool sanlock, int errfd)
{
    char msg[256];
    int rc, n;

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
    if (log_fd >= 0) {
        dup2(log_fd, 1);
        dup2(log_fd, 2);
    }
    /* The registration is the connection this process keeps open across
     * exec: the lease acquired for our pid lives as long as QEMU. */
    if (sanlock) {
        rc = sanlock_register();
        if (rc < 0) {
            n = snprintf(msg, sizeof(msg), "%d sanlock_register: %d", -1, rc);
            goto fail;
        }
        int fl = fcntl(rc, F_GETFD);
        fcntl(rc, F_SETFD, fl & ~FD_CLOEXEC);
    }
    fcntl(qmp_fd, F_SETFD, fcntl(qmp_fd, F_GETFD) & ~FD_CLOEXEC);
    execvp(argv[0], argv);
    n = snprintf(msg, sizeof(msg), "%d exec %s: %s", -1, argv[0],
                 strerror(errno));
fail:
    if (n > 0 && write(errfd, msg, (size_t)n) < 0)
        _exit(127);
    _exit(127);
}

int hva_qemu_spawn(char *const *argv, int qmp_fd, int log_fd, bool sanlock,
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
        spawn_child(argv, qmp_fd, log_fd, sanlock, pfd[1]);
    }
    close(pfd[1]);
    do {
        n = read(pfd[0], msg, sizeof(msg) - 1);
    } while (n < 0 && errno == EINTR);
    close(pfd[0]);
    if (n > 0) {
        msg[n] = '\0';
        const char *sp = strchr(msg, ' ');
        snprintf(err, errlen, "%s", sp ? sp + 1 : msg);
        waitpid(pid, NULL, 0);
        return -HVA_E_QEMU;
    }
    *ret_pid = pid;
    return 0;
}

/* Boots `kernel` under KVM for up to 3 s and watches its serial port for
 * two report lines with an advancing tick. kvm-pvm (nested) hosts fail
 * this: they triple-fault or stop with an emulation failure. */
static bool kvm_probe(const char *qemu, const char *kernel)
{
    char dir[] = "/tmp/hva-probe.XXXXXX";
    char serial[64], cmd[1024];
    bool ok = false;
    pid_t pid;

    if (!mkdtemp(dir))
        return false;
    snprintf(serial, sizeof(serial), "%s/serial", dir);
    snprintf(cmd, sizeof(cmd), "file:%s", serial);
    pid = fork();
    if (pid == 0) {
        int nul = open("/dev/null", O_RDWR);
        dup2(nul, 0);
        dup2(nul, 1);
        dup2(nul, 2);
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
                              const char *probe_kernel)
{
    if (strcmp(setting, "kvm") == 0 || strcmp(setting, "tcg") == 0)
        return setting;
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return "tcg";
    close(fd);
    if (!probe_kernel)
        return "tcg"; /* can't prove KVM works: don't trust it */
    return kvm_probe(qemu, probe_kernel) ? "kvm" : "tcg";
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
    snprintf(prefix, sizeof(prefix), "%s:%s:", l->lockspace, l->resource);
    rc = state && strstr(state, prefix) ? 1 : 0;
    free(state);
    return rc;
}
