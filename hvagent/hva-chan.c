/* The migration control channel between two agents: line-based messages
 * over TLS 1.3/1.2 with a pre-shared key derived from the corosync authkey
 * (hva_psk_derive), so only members of this cluster can talk to an agent.
 * Non-blocking, driven by the agent's qb_loop. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cmn-log.h"
#include "common/cmn-time.h"
#include "hvagent/hva-int.h"

/* TLS 1.3 (or 1.2) with PSK and ephemeral (EC)DH: forward secrecy, no
 * certificates to manage. */
#define CHAN_PRIORITY                                                          \
    "SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-KX-ALL:+ECDHE-PSK:"        \
    "+DHE-PSK"

struct hva_chan {
    qb_loop_t *loop;
    int fd;
    bool server;
    bool up;
    bool hs_done; /* handshake finished before the loop saw it */
    bool closed;
    bool dead;
    bool up_job; /* chan_up_job queued: it owns the last reference */
    int dispatching;
    gnutls_session_t s;
    gnutls_psk_client_credentials_t ccred;
    gnutls_psk_server_credentials_t scred;
    uint8_t key[32];
    char identity[64];
    const struct hva_chan_ops *ops;
    void *data;
    char *buf;
    size_t len, cap;
    /* keepalive (hva_chan_keepalive): PING every interval; down with
     * -ETIMEDOUT when nothing arrived for idle_ms (0: never) */
    qb_loop_timer_handle ka_timer;
    unsigned ka_interval_ms, ka_idle_ms;
    uint64_t last_rx_ms;
};

static int chan_server_key(gnutls_session_t s, const char *username,
                           gnutls_datum_t *key)
{
    struct hva_chan *c = gnutls_session_get_ptr(s);

    snprintf(c->identity, sizeof(c->identity), "%s", username);
    key->data = gnutls_malloc(sizeof(c->key));
    if (!key->data)
        return -1;
    memcpy(key->data, c->key, sizeof(c->key));
    key->size = sizeof(c->key);
    return 0;
}

static void chan_destroy(struct hva_chan *c)
{
    if (c->ka_timer && c->loop)
        qb_loop_timer_del(c->loop, c->ka_timer);
    if (c->fd >= 0) {
        if (c->loop)
            qb_loop_poll_del(c->loop, c->fd);
        close(c->fd);
    }
    if (c->s)
        gnutls_deinit(c->s);
    if (c->ccred)
        gnutls_psk_free_client_credentials(c->ccred);
    if (c->scred)
        gnutls_psk_free_server_credentials(c->scred);
    explicit_bzero(c->key, sizeof(c->key));
    free(c->buf);
    free(c);
}

void hva_chan_free(struct hva_chan *c)
{
    if (!c)
        return;
    if (c->dispatching || c->up_job) {
        c->dead = true;
        return;
    }
    chan_destroy(c);
}

static void chan_down(struct hva_chan *c, int rc)
{
    if (c->closed)
        return;
    c->closed = true;
    qb_loop_poll_del(c->loop, c->fd);
    if (c->ka_timer) {
        qb_loop_timer_del(c->loop, c->ka_timer);
        c->ka_timer = 0;
    }
    if (c->ops->down)
        c->ops->down(c->data, rc);
}

static int tls_err(int r)
{
    switch (r) {
    case GNUTLS_E_DECRYPTION_FAILED:
    case GNUTLS_E_INSUFFICIENT_CREDENTIALS:
    case GNUTLS_E_KEY_USAGE_VIOLATION:
    case GNUTLS_E_FATAL_ALERT_RECEIVED:
    case GNUTLS_E_NO_CIPHER_SUITES:
    case GNUTLS_E_UNKNOWN_CIPHER_SUITE:
    case GNUTLS_E_UNEXPECTED_PACKET_LENGTH:
    case GNUTLS_E_RECEIVED_ILLEGAL_PARAMETER:
    case GNUTLS_E_ERROR_IN_FINISHED_PACKET:
        return -HVA_E_AUTH;
    default:
        return -ECONNRESET;
    }
}

size_t hva_chan_split_lines(char *buf, size_t len,
                            bool (*line)(void *arg, char *line), void *arg)
{
    size_t start = 0;
    char *nl;

    while (start < len && (nl = memchr(buf + start, '\n', len - start))) {
        *nl = '\0';
        bool more = line(arg, buf + start);
        start = (size_t)(nl - buf) + 1;
        if (!more)
            break;
    }
    return start;
}

static bool chan_line(void *arg, char *line)
{
    struct hva_chan *c = arg;

    /* Keepalives only prove the peer is there (hva_chan_keepalive);
     * agents without it ignore them as an unknown message. */
    if (strcmp(line, HVA_CHAN_PING) != 0)
        c->ops->line(c->data, line);
    return !c->dead && !c->closed;
}

static void chan_lines(struct hva_chan *c)
{
    size_t used = hva_chan_split_lines(c->buf, c->len, chan_line, c);

    if (c->dead || c->closed)
        return;
    memmove(c->buf, c->buf + used, c->len - used);
    c->len -= used;
}

static int32_t chan_dispatch(int32_t fd, int32_t revents, void *data)
{
    struct hva_chan *c = data;
    int r;

    (void)fd;
    c->dispatching++;
    if (!c->up) {
        r = c->hs_done ? 0 : gnutls_handshake(c->s);
        cmn_debug(CMN_LOG_HVA, "TLS %s fd %d: handshake step: %d (revents %x)",
                  c->server ? "server" : "client", c->fd, r, revents);
        if (r == 0) {
            c->up = true;
            if (c->ops->up)
                c->ops->up(c->data);
            if (c->dead || c->closed)
                goto out;
            /* Records may have arrived with the handshake's last flight
             * and sit in GnuTLS's buffer: read them now, no new POLLIN
             * will announce them. */
        } else if (gnutls_error_is_fatal(r)) {
            cmn_debug(CMN_LOG_HVA, "TLS handshake: %s", gnutls_strerror(r));
            /* Tell the peer why (a wrong PSK shows as a bad binder or
             * MAC): it reports an authentication failure, not a reset. */
            gnutls_alert_send_appropriate(c->s, r);
            chan_down(c, tls_err(r));
            goto out;
        } else {
            if (revents & (POLLHUP | POLLERR))
                chan_down(c, -ECONNRESET);
            goto out;
        }
    }
    for (;;) {
        if (c->cap - c->len < 4096) {
            if (c->cap >= HVA_CHAN_MAX_LINE) {
                chan_down(c, -EPROTO);
                goto out;
            }
            char *n = realloc(c->buf, c->cap + 16384);
            if (!n) {
                chan_down(c, -ENOMEM);
                goto out;
            }
            c->buf = n;
            c->cap += 16384;
        }
        ssize_t n =
            gnutls_record_recv(c->s, c->buf + c->len, c->cap - c->len - 1);
        if (n > 0) {
            c->last_rx_ms = cmn_now_ms();
            c->len += (size_t)n;
            chan_lines(c);
            if (c->dead || c->closed)
                goto out;
            continue;
        }
        if (n == 0) {
            chan_down(c, -ECONNRESET);
        } else if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
            if (revents & (POLLHUP | POLLERR))
                chan_down(c, -ECONNRESET);
        } else if (gnutls_error_is_fatal((int)n)) {
            chan_down(c, tls_err((int)n));
        }
        break;
    }
out:
    c->dispatching--;
    if (c->dead && !c->dispatching) {
        chan_destroy(c);
        return -1;
    }
    return c->closed ? -1 : 0;
}

/* The client's handshake finished inside hva_chan_new (a fast peer):
 * report it from the loop, where the caller holds its pointer already. */
static void chan_up_job(void *data)
{
    struct hva_chan *c = data;

    c->up_job = false;
    if (c->dead) {
        chan_destroy(c);
        return;
    }
    (void)chan_dispatch(c->fd, POLLIN, c);
}

/* GnuTLS session and PSK credentials of `c` (fd, key, server set).
 * Runs in worker threads too: no logging here (the GnuTLS code goes to
 * *ret_tls for the caller). */
static int chan_setup(struct hva_chan *c, const char *identity, int *ret_tls)
{
    int r;

    r = gnutls_init(&c->s, (c->server ? GNUTLS_SERVER : GNUTLS_CLIENT) |
                               GNUTLS_NONBLOCK);
    if (r < 0)
        goto fail;
    gnutls_session_set_ptr(c->s, c);
    r = gnutls_priority_set_direct(c->s, CHAN_PRIORITY, NULL);
    if (r < 0)
        goto fail;
    if (c->server) {
        r = gnutls_psk_allocate_server_credentials(&c->scred);
        if (r < 0)
            goto fail;
        gnutls_psk_set_server_credentials_function(c->scred, chan_server_key);
        r = gnutls_credentials_set(c->s, GNUTLS_CRD_PSK, c->scred);
    } else {
        gnutls_datum_t k = {.data = c->key, .size = sizeof(c->key)};

        snprintf(c->identity, sizeof(c->identity), "%s", identity);
        r = gnutls_psk_allocate_client_credentials(&c->ccred);
        if (r < 0)
            goto fail;
        r = gnutls_psk_set_client_credentials(c->ccred, identity, &k,
                                              GNUTLS_PSK_KEY_RAW);
        if (r < 0)
            goto fail;
        r = gnutls_credentials_set(c->s, GNUTLS_CRD_PSK, c->ccred);
    }
    if (r < 0)
        goto fail;
    gnutls_transport_set_int(c->s, c->fd);
    return 0;
fail:
    *ret_tls = r;
    return -EIO;
}

static struct hva_chan *chan_alloc(int fd, bool server, const uint8_t key[32])
{
    struct hva_chan *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->fd = fd;
    c->server = server;
    memcpy(c->key, key, sizeof(c->key));
    return c;
}

int hva_chan_new(qb_loop_t *loop, int fd, bool server, const uint8_t key[32],
                 const char *identity, const struct hva_chan_ops *ops,
                 void *data, struct hva_chan **ret_c)
{
    struct hva_chan *c = chan_alloc(fd, server, key);
    int r = 0, rc;

    if (!c) {
        close(fd);
        return -ENOMEM;
    }
    c->loop = loop;
    c->ops = ops;
    c->data = data;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    rc = chan_setup(c, identity, &r);
    if (rc < 0) {
        cmn_debug(CMN_LOG_HVA, "TLS setup: %s", gnutls_strerror(r));
        goto fail;
    }
    gnutls_handshake_set_timeout(c->s, 0);
    rc = qb_loop_poll_add(loop, QB_LOOP_HIGH, fd, POLLIN, c, chan_dispatch);
    if (rc < 0)
        goto fail;
    if (!server) {
        /* Sends the ClientHello; the rest happens in chan_dispatch. */
        r = gnutls_handshake(c->s);
        if (r < 0 && gnutls_error_is_fatal(r)) {
            rc = tls_err(r);
            qb_loop_poll_del(loop, fd);
            goto fail;
        }
        if (r == 0) {
            c->hs_done = true;
            /* No POLLIN will come for what GnuTLS already read: run the
             * dispatch once from the loop (it sees the session is up). */
            c->up_job = true;
            qb_loop_job_add(loop, QB_LOOP_HIGH, c, chan_up_job);
        }
    }
    *ret_c = c;
    return 0;
fail:
    c->loop = NULL;
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    chan_destroy(c);
    return rc;
}

int hva_tcp_connect(const char *host, unsigned port, unsigned timeout_ms,
                    int *ret_fd)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
    int fd, rc, one = 1, soerr = 0;
    socklen_t sl = sizeof(soerr);

    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return -EINVAL;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
        errno != EINPROGRESS) {
        rc = -errno;
        goto fail;
    }
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    rc = poll(&p, 1, (int)timeout_ms);
    if (rc <= 0) {
        rc = rc == 0 ? -ETIMEDOUT : -errno;
        goto fail;
    }
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    if (soerr) {
        rc = -soerr;
        goto fail;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    *ret_fd = fd;
    return 0;
fail:
    close(fd);
    return rc;
}

int hva_chan_connect(const char *host, unsigned port, const uint8_t key[32],
                     const char *identity, unsigned timeout_ms,
                     struct hva_chan **ret_c)
{
    uint64_t deadline = cmn_now_ms() + timeout_ms;
    struct hva_chan *c;
    int fd, r, rc;

    rc = hva_tcp_connect(host, port, timeout_ms, &fd);
    if (rc < 0)
        return rc;
    c = chan_alloc(fd, false, key);
    if (!c) {
        close(fd);
        return -ENOMEM;
    }
    /* Non-blocking session on a socket we poll ourselves: the deadline
     * covers the whole handshake, however the peer dribbles. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    rc = chan_setup(c, identity, &r);
    if (rc < 0)
        goto fail;
    gnutls_handshake_set_timeout(c->s, 0);
    for (;;) {
        r = gnutls_handshake(c->s);
        if (r == 0)
            break;
        if (gnutls_error_is_fatal(r)) {
            /* (a worker thread: the caller reports, not us) */
            gnutls_alert_send_appropriate(c->s, r);
            rc = tls_err(r);
            goto fail;
        }
        uint64_t now = cmn_now_ms();
        if (now >= deadline) {
            rc = -ETIMEDOUT;
            goto fail;
        }
        struct pollfd p = {
            .fd = fd,
            .events = gnutls_record_get_direction(c->s) ? POLLOUT : POLLIN};
        if (poll(&p, 1, (int)(deadline - now)) < 0 && errno != EINTR) {
            rc = -errno;
            goto fail;
        }
    }
    c->up = true;
    *ret_c = c;
    return 0;
fail:
    chan_destroy(c);
    return rc;
}

int hva_chan_attach(struct hva_chan *c, qb_loop_t *loop,
                    const struct hva_chan_ops *ops, void *data)
{
    int rc;

    c->loop = loop;
    c->ops = ops;
    c->data = data;
    rc = qb_loop_poll_add(loop, QB_LOOP_HIGH, c->fd, POLLIN, c, chan_dispatch);
    if (rc < 0) {
        c->loop = NULL;
        return rc;
    }
    if (gnutls_record_check_pending(c->s) > 0) {
        /* Records came with the handshake's last flight: no POLLIN
         * announces what GnuTLS has buffered already. */
        c->up_job = true;
        qb_loop_job_add(loop, QB_LOOP_HIGH, c, chan_up_job);
    }
    return 0;
}

int hva_chan_send(struct hva_chan *c, const char *fmt, ...)
{
    va_list ap;
    char *line;
    int n;
    size_t off = 0;

    if (c->closed || !c->up)
        return -ENOTCONN;
    va_start(ap, fmt);
    n = vasprintf(&line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -ENOMEM;
    line[n] = '\n'; /* replaces the NUL: we send n + 1 bytes */
    while (off < (size_t)n + 1) {
        ssize_t w = gnutls_record_send(c->s, line + off, (size_t)n + 1 - off);
        if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED) {
            /* Messages are small; the peer drains them promptly. */
            struct pollfd p = {.fd = c->fd, .events = POLLOUT};
            if (poll(&p, 1, 2000) <= 0) {
                free(line);
                return -ETIMEDOUT;
            }
            continue;
        }
        if (w < 0) {
            free(line);
            return -ECONNRESET;
        }
        off += (size_t)w;
    }
    free(line);
    return 0;
}

static void chan_ka_tick(void *data)
{
    struct hva_chan *c = data;

    c->ka_timer = 0;
    if (c->closed || c->dead)
        return;
    if (c->ka_idle_ms && cmn_now_ms() - c->last_rx_ms >= c->ka_idle_ms) {
        /* The owner's down() may free us: the same guard as a dispatch. */
        c->dispatching++;
        chan_down(c, -ETIMEDOUT);
        c->dispatching--;
        if (c->dead)
            chan_destroy(c);
        return;
    }
    (void)hva_chan_send(c, HVA_CHAN_PING);
    if (!c->closed)
        qb_loop_timer_add(c->loop, QB_LOOP_MED,
                          (uint64_t)c->ka_interval_ms * 1000000ULL, c,
                          chan_ka_tick, &c->ka_timer);
}

int hva_chan_keepalive(struct hva_chan *c, unsigned interval_ms,
                       unsigned idle_ms)
{
    if (!c->loop || c->closed || !interval_ms)
        return -EINVAL;
    if (c->ka_timer)
        qb_loop_timer_del(c->loop, c->ka_timer);
    c->ka_timer = 0;
    c->ka_interval_ms = interval_ms;
    c->ka_idle_ms = idle_ms;
    c->last_rx_ms = cmn_now_ms();
    return qb_loop_timer_add(c->loop, QB_LOOP_MED,
                             (uint64_t)interval_ms * 1000000ULL, c,
                             chan_ka_tick, &c->ka_timer);
}

const char *hva_chan_peer_identity(struct hva_chan *c)
{
    return c->identity;
}

int hva_chan_recv_line(struct hva_chan *c, char *buf, size_t len,
                       unsigned timeout_ms)
{
    uint64_t deadline = cmn_now_ms() + timeout_ms;

    for (;;) {
        char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - c->buf);
            if (n >= len)
                return -EPROTO;
            memcpy(buf, c->buf, n);
            buf[n] = '\0';
            memmove(c->buf, nl + 1, c->len - n - 1);
            c->len -= n + 1;
            return 0;
        }
        if (c->cap - c->len < 4096) {
            if (c->cap >= HVA_CHAN_MAX_LINE)
                return -EPROTO;
            char *b = realloc(c->buf, c->cap + 16384);
            if (!b)
                return -ENOMEM;
            c->buf = b;
            c->cap += 16384;
        }
        ssize_t r =
            gnutls_record_recv(c->s, c->buf + c->len, c->cap - c->len - 1);
        if (r > 0) {
            c->len += (size_t)r;
            continue;
        }
        if (r == 0)
            return -ECONNRESET;
        if (r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED)
            return tls_err((int)r);
        uint64_t now = cmn_now_ms();
        if (now >= deadline)
            return -ETIMEDOUT;
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (poll(&p, 1, (int)(deadline - now)) < 0 && errno != EINTR)
            return -errno;
    }
}
