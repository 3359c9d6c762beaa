/* A client of hvagent's migration ports that misbehaves on purpose, for
 * tests/cluster/test-hva-chan-abuse.sh.
 *
 *   hva-chan-probe raw SRC HOST PORT HOLD_MS
 *       connects (from SRC if not "-") and says nothing; prints "closed after N
 * ms" when the agent drops it, or "open after N ms" at HOLD_MS hva-chan-probe
 * data [SRC] HOST PORT TEXT WAIT_MS connects to the data port (from SRC if not
 * "-"), sends TEXT and a newline, and reports as raw hva-chan-probe tls AUTHKEY
 * HOST PORT WAIT_MS STEP... TLS-PSK as a source (key from AUTHKEY), then each
 * STEP: a line to send; "@big:N" a line of N bytes; "@data:SRC" a data
 * connection from SRC ("-": this host's default address) with the token of the
 *       READY received so far, reported as "data from SRC: closed|open";
 *       "@wait" prints the lines received for WAIT_MS ("< line"), or
 *       "channel closed". The exit status is 0 once connected.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cmn-err.h"
#include "common/cmn-time.h"
#include "hvagent/hva-int.h"

static char token[128];

/* Waits up to `ms` for the peer to close `fd`: its elapsed time, or -1. */
static long wait_close(int fd, unsigned ms)
{
    uint64_t t0 = cmn_now_ms();
    char b[256];

    for (;;) {
        uint64_t now = cmn_now_ms();
        if (now - t0 >= ms)
            return -1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)(ms - (now - t0))) > 0) {
            ssize_t n = read(fd, b, sizeof(b));
            if (n <= 0)
                return (long)(cmn_now_ms() - t0);
        }
    }
}

static int tcp_from(const char *src, const char *host, unsigned port,
                    int *ret_fd)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -errno;
    if (src && strcmp(src, "-") != 0) {
        struct sockaddr_in me = {.sin_family = AF_INET};
        if (inet_pton(AF_INET, src, &me.sin_addr) != 1 ||
            bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0) {
            close(fd);
            return -EADDRNOTAVAIL;
        }
    }
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    *ret_fd = fd;
    return 0;
}

static void report(const char *what, long ms, unsigned hold)
{
    if (ms < 0)
        printf("%s: open after %u ms\n", what, hold);
    else
        printf("%s: closed after %ld ms\n", what, ms);
}

static int data_conn(const char *src, const char *host, unsigned port,
                     const char *text, unsigned wait_ms, int *ret_fd)
{
    int fd, rc = tcp_from(src, host, port, &fd);
    char line[512];

    if (rc < 0) {
        printf("data from %s: connect: %s\n", src, strerror(-rc));
        return rc;
    }
    snprintf(line, sizeof(line), "%s\n", text);
    if (write(fd, line, strlen(line)) < 0)
        printf("data from %s: write: %s\n", src, strerror(errno));
    char what[128];
    snprintf(what, sizeof(what), "data from %s", src);
    report(what, wait_close(fd, wait_ms), wait_ms);
    *ret_fd = fd;
    return 0;
}

static int run_tls(int argc, char **argv)
{
    const char *host = argv[3];
    unsigned port = (unsigned)atoi(argv[4]), wait_ms = (unsigned)atoi(argv[5]);
    int kept[16], n_kept = 0;
    struct hva_chan *c;
    uint8_t key[32];
    char line[4096];
    int rc;

    rc = hva_psk_derive(argv[2], key);
    if (rc < 0) {
        fprintf(stderr, "hva-chan-probe: key from '%s': %s\n", argv[2],
                cmn_strerror(rc));
        return 2;
    }
    rc = hva_chan_connect(host, port, key, "probe", 5000, &c);
    if (rc < 0) {
        printf("connect: %s\n", cmn_strerror(rc));
        return 2;
    }
    printf("connected\n");
    for (int i = 6; i < argc; i++) {
        const char *st = argv[i];
        if (strncmp(st, "@big:", 5) == 0) {
            size_t n = strtoul(st + 5, NULL, 10);
            char *big = malloc(n + 1);
            memset(big, 'x', n);
            big[n] = '\0';
            rc = hva_chan_send(c, "%s", big);
            free(big);
            printf("sent %zu bytes: %s\n", n, rc < 0 ? cmn_strerror(rc) : "ok");
        } else if (strncmp(st, "@data:", 6) == 0) {
            char text[256];
            int fd;
            snprintf(text, sizeof(text), "DATA %s", token);
            if (data_conn(st + 6, host, port + 1, text, 1500, &fd) == 0 &&
                n_kept < 16)
                kept[n_kept++] = fd;
        } else if (strcmp(st, "@wait") == 0) {
            for (;;) {
                rc = hva_chan_recv_line(c, line, sizeof(line), wait_ms);
                if (rc < 0)
                    break;
                printf("< %.200s\n", line);
                if (strncmp(line, "READY ", 6) == 0)
                    snprintf(token, sizeof(token), "%.100s", line + 6);
            }
            if (rc != -ETIMEDOUT) {
                printf("channel closed\n");
                break;
            }
        } else {
            rc = hva_chan_send(c, "%s", st);
            if (rc < 0) {
                printf("channel closed\n");
                break;
            }
        }
        fflush(stdout);
    }
    fflush(stdout);
    for (int i = 0; i < n_kept; i++)
        close(kept[i]);
    hva_chan_free(c);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* The agent may close while a long line is still being sent: that is
     * an answer to print ("channel closed"), not a reason to die. */
    signal(SIGPIPE, SIG_IGN);
    hva_err_register();
    if (argc == 6 && strcmp(argv[1], "raw") == 0) {
        int fd, rc = tcp_from(argv[2], argv[3], (unsigned)atoi(argv[4]), &fd);
        unsigned hold = (unsigned)atoi(argv[5]);
        if (rc < 0) {
            printf("connect: %s\n", strerror(-rc));
            return 2;
        }
        report("raw", wait_close(fd, hold), hold);
        close(fd);
        return 0;
    }
    if (argc == 7 && strcmp(argv[1], "data") == 0) {
        int fd;
        if (data_conn(argv[2], argv[3], (unsigned)atoi(argv[4]), argv[5],
                      (unsigned)atoi(argv[6]), &fd) < 0)
            return 2;
        close(fd);
        return 0;
    }
    if (argc >= 6 && strcmp(argv[1], "tls") == 0)
        return run_tls(argc, argv);
    fprintf(stderr, "usage: see the comment at the top of "
                    "tests/cluster/hva-chan-probe.c\n");
    return 2;
}
