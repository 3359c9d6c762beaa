/* The node's CPU capability, asked of QEMU once (in a worker thread, on
 * the first 'cpu' request; or by hvagent --cpu-caps).
 *
 * A QEMU without a machine (-machine none) under the accelerator in use
 * answers query-cpu-definitions (which named models this host can run
 * whole, and what it lacks for the others) and query-cpu-model-expansion
 * (the features of the host model and of each named model: their ranks,
 * and what an operator's cap removes). resources/res-cpu-qmp.c turns the
 * replies into the capability; this file only talks to QEMU, within a
 * deadline. The child only dup2()s and execs (no allocation after fork in
 * a threaded process).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cmn-auto.h"
#include "common/cmn-time.h"
#include "hvagent/hva-int.h"
#include "resources/res-cpu.h"

#define PROBE_DEADLINE_MS 20000 /* QEMU 7.2 answers ~150 models in < 2 s */
#define PROBE_LINE_MAX    (1u << 20)

struct probe {
    pid_t pid;
    int in, out; /* QEMU's stdin (we write), stdout (we read) */
    char *buf;
    size_t len, cap;
    uint64_t deadline;
};

static int probe_start(struct probe *p, const char *qemu, const char *accel)
{
    int to[2], from[2];

    if (pipe2(to, O_CLOEXEC) < 0)
        return -errno;
    if (pipe2(from, O_CLOEXEC) < 0) {
        close(to[0]);
        close(to[1]);
        return -errno;
    }
    p->pid = fork();
    if (p->pid < 0) {
        int rc = -errno;

        close(to[0]);
        close(to[1]);
        close(from[0]);
        close(from[1]);
        return rc;
    }
    if (p->pid == 0) {
        int nul = open("/dev/null", O_WRONLY);

        dup2(to[0], 0);
        dup2(from[1], 1);
        if (nul >= 0)
            dup2(nul, 2);
        execlp(qemu, qemu, "-machine", "none", "-accel", accel, "-nodefaults",
               "-display", "none", "-no-user-config", "-qmp", "stdio",
               (char *)NULL);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    p->in = to[1];
    p->out = from[0];
    p->deadline = cmn_now_ms() + PROBE_DEADLINE_MS;
    return 0;
}

static void probe_stop(struct probe *p)
{
    if (p->in >= 0)
        close(p->in);
    if (p->out >= 0)
        close(p->out);
    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
    }
    free(p->buf);
}

static int probe_send(struct probe *p, const char *cmd)
{
    size_t n = strlen(cmd);

    while (n > 0) {
        ssize_t w = write(p->in, cmd, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        cmd += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The next line QEMU writes that is not an event: malloc'ed. */
static int probe_line(struct probe *p, char **ret_line)
{
    for (;;) {
        char *nl = p->len ? memchr(p->buf, '\n', p->len) : NULL;
        struct pollfd pfd = {.fd = p->out, .events = POLLIN};
        uint64_t now = cmn_now_ms();
        ssize_t r;

        if (nl != NULL) {
            size_t n = (size_t)(nl - p->buf);
            char *line = strndup(p->buf, n);

            if (line == NULL)
                return -ENOMEM;
            memmove(p->buf, nl + 1, p->len - n - 1);
            p->len -= n + 1;
            if (strncmp(line, "{\"event\"", 8) == 0) {
                free(line);
                continue;
            }
            *ret_line = line;
            return 0;
        }
        if (now >= p->deadline)
            return -ETIMEDOUT;
        if (p->len + 65536 > p->cap) {
            size_t cap = p->cap ? p->cap * 2 : 131072;
            char *b;

            if (cap > PROBE_LINE_MAX * 2)
                return -E2BIG;
            b = realloc(p->buf, cap);
            if (b == NULL)
                return -ENOMEM;
            p->buf = b;
            p->cap = cap;
        }
        if (poll(&pfd, 1, (int)(p->deadline - now)) < 0 && errno != EINTR)
            return -errno;
        r = read(p->out, p->buf + p->len, p->cap - p->len);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r <= 0)
            return r == 0 ? -EPIPE : -errno;
        p->len += (size_t)r;
    }
}

/* Sends cmd and returns its reply line. */
static int probe_ask(struct probe *p, const char *cmd, char **ret_reply)
{
    int rc = probe_send(p, cmd);

    return rc < 0 ? rc : probe_line(p, ret_reply);
}

int hva_cpu_probe(const char *qemu, const char *accel, const char *cap,
                  char **ret_text, char *err, size_t errlen)
{
    struct probe p = {.pid = -1, .in = -1, .out = -1};
    struct res_cpu_expansion *exps = NULL;
    struct res_cpu_caps *all = NULL, *caps = NULL;
    char *greeting = NULL, *ok = NULL, *defs = NULL, *host = NULL;
    char cmd[256];
    size_t n_exps = 0;
    int rc;

    rc = probe_start(&p, qemu, accel);
    if (rc < 0) {
        snprintf(err, errlen, "CPU probe: cannot start '%s': %s", qemu,
                 strerror(-rc));
        return rc;
    }
    if ((rc = probe_line(&p, &greeting)) < 0 ||
        (rc = probe_ask(&p, "{\"execute\":\"qmp_capabilities\"}\n", &ok)) < 0 ||
        (rc = probe_ask(&p, "{\"execute\":\"query-cpu-definitions\"}\n",
                        &defs)) < 0)
        goto io_err;
    snprintf(cmd, sizeof(cmd),
             "{\"execute\":\"query-cpu-model-expansion\",\"arguments\":"
             "{\"type\":\"static\",\"model\":{\"name\":\"%s\"}}}\n",
             strcmp(accel, "kvm") == 0 ? "host" : "max");
    if ((rc = probe_ask(&p, cmd, &host)) < 0)
        goto io_err;
    /* The model names first (uncapped), then each model's features. */
    rc = res_cpu_caps_from_qmp(defs, host, NULL, 0, NULL, &all, err, errlen);
    if (rc < 0)
        goto out;
    exps = calloc(all->n_models ? all->n_models : 1, sizeof(*exps));
    if (exps == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < all->n_models; i++) {
        char *reply = NULL;

        snprintf(cmd, sizeof(cmd),
                 "{\"execute\":\"query-cpu-model-expansion\",\"arguments\":"
                 "{\"type\":\"static\",\"model\":{\"name\":\"%s\"}}}\n",
                 all->models[i].name);
        if ((rc = probe_ask(&p, cmd, &reply)) < 0)
            goto io_err;
        if (strncmp(reply, "{\"return\"", 9) != 0) {
            free(reply); /* a model QEMU can't expand keeps rank 0 */
            continue;
        }
        exps[n_exps].name = all->models[i].name;
        exps[n_exps].reply = reply;
        n_exps++;
    }
    rc = res_cpu_caps_from_qmp(defs, host, exps, n_exps,
                               cap && *cap ? cap : NULL, &caps, err, errlen);
    if (rc < 0)
        goto out;
    rc = res_cpu_caps_format(caps, ret_text);
    goto out;
io_err:
    snprintf(err, errlen, "CPU probe: QEMU '%s' (accel %s): %s", qemu, accel,
             rc == -ETIMEDOUT ? "no answer within the deadline"
             : rc == -EPIPE   ? "exited"
                              : strerror(-rc));
out:
    for (size_t i = 0; i < n_exps; i++)
        free((char *)exps[i].reply);
    free(exps);
    res_cpu_caps_free(all);
    res_cpu_caps_free(caps);
    free(greeting);
    free(ok);
    free(defs);
    free(host);
    probe_stop(&p);
    return rc;
}
