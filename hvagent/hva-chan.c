/* The migration control channel between two agents: line-based messages
 * over TLS 1.3/1.2 with a pre-shared key derived from the corosync authkey
 * (hva_psk_derive), so only members of this cluster can talk to an agent.
 * Non-blocking, driven by the agent's qb_loop. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cmn-log.h"
#include "hvagent/hva-int.h"

#define CHAN_MAX_LINE (256 * 1024)
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
    if (c->fd >= 0) {
        qb_loop_poll_del(c->loop, c->fd);
        close(c->fd);
    }
    if (c->s)
        gnutls_deinit(c->s);
    if (c->ccred)
        gnutls_psk_free_client_credentials(c->ccred);
    if (c->scred)
        gnutls_psk_free_server_credentials(c->scred);
    memset(c->key, 0, sizeof(c->key));
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

static void chan_lines(struct hva_chan *c)
{
    char *nl;
    size_t start = 0;

    while (!c->dead && !c->closed &&
           (nl = memchr(c->buf + start, '\n', c->len - start))) {
        *nl = '\0';
        c->ops->line(c->data, c->buf + start);
        start = (size_t)(nl - c->buf) + 1;
    }
    if (c->dead || c->closed)
        return;
    memmove(c->buf, c->buf + start, c->len - start);
    c->len -= start;
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
            if (c->cap >= CHAN_MAX_LINE) {
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

int hva_chan_new(qb_loop_t *loop, int fd, bool server, const uint8_t key[32],
                 const char *identity, const struct hva_chan_ops *ops,
                 void *data, struct hva_chan **ret_c)
{
    struct hva_chan *c = calloc(1, sizeof(*c));
    int r, rc = -EIO;

    if (!c) {
        close(fd);
        return -ENOMEM;
    }
    c->loop = loop;
    c->fd = fd;
    c->server = server;
    c->ops = ops;
    c->data = data;
    memcpy(c->key, key, sizeof(c->key));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    r = gnutls_init(&c->s,
                    (server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NONBLOCK);
    if (r < 0)
        goto fail;
    gnutls_session_set_ptr(c->s, c);
    r = gnutls_priority_set_direct(c->s, CHAN_PRIORITY, NULL);
    if (r < 0)
        goto fail;
    if (server) {
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
    gnutls_transport_set_int(c->s, fd);
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
    if (r < 0)
        cmn_debug(CMN_LOG_HVA, "TLS setup: %s", gnutls_strerror(r));
    chan_destroy(c);
    return rc;
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

const char *hva_chan_peer_identity(struct hva_chan *c)
{
    return c->identity;
}
