/* Asynchronous QMP client on json-c, driven by a qb_loop.
 *
 * The framing/parsing half (hva_qmp_parser_*, hva_qmp_classify,
 * hva_qmp_format_command) is pure so unit tests feed it canned QMP text.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/cmn-auto.h"
#include "common/cmn-err.h"
#include "common/cmn-log.h"
#include "hvagent/hva-int.h"

#define QMP_MAX_PENDING_BYTES (16u << 20)

/* ---- framing ------------------------------------------------------------ */

struct hva_qmp_parser {
    json_tokener *tok;
    size_t partial; /* bytes the tokener holds of an unfinished object */
    json_object **queue;
    size_t n, cap, head;
};

int hva_qmp_parser_new(struct hva_qmp_parser **ret_p)
{
    struct hva_qmp_parser *p = calloc(1, sizeof(*p));

    if (!p)
        return -ENOMEM;
    p->tok = json_tokener_new();
    if (!p->tok) {
        free(p);
        return -ENOMEM;
    }
    *ret_p = p;
    return 0;
}

void hva_qmp_parser_free(struct hva_qmp_parser *p)
{
    if (!p)
        return;
    for (size_t i = p->head; i < p->n; i++)
        json_object_put(p->queue[i]);
    free(p->queue);
    json_tokener_free(p->tok);
    free(p);
}

static int parser_push(struct hva_qmp_parser *p, json_object *obj)
{
    if (p->head > 0 && p->head == p->n)
        p->head = p->n = 0;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        json_object **q = realloc(p->queue, cap * sizeof(*q));

        if (!q)
            return -ENOMEM;
        p->queue = q;
        p->cap = cap;
    }
    p->queue[p->n++] = obj;
    return 0;
}

int hva_qmp_parser_feed(struct hva_qmp_parser *p, const char *buf, size_t len)
{
    size_t off = 0;

    while (off < len) {
        /* Skip the \r\n QEMU puts between objects, but only between them:
         * inside an object the tokener must see every byte. */
        if (p->partial == 0) {
            while (off < len && strchr(" \t\r\n", buf[off]))
                off++;
            if (off == len)
                break;
        }
        json_object *obj =
            json_tokener_parse_ex(p->tok, buf + off, (int)(len - off));
        enum json_tokener_error jerr = json_tokener_get_error(p->tok);

        if (jerr == json_tokener_continue) {
            p->partial += len - off;
            if (p->partial > QMP_MAX_PENDING_BYTES)
                return -CMN_E_TOO_BIG;
            break;
        }
        if (jerr != json_tokener_success || !obj) {
            json_tokener_reset(p->tok);
            p->partial = 0;
            return -EPROTO;
        }
        off += json_tokener_get_parse_end(p->tok);
        json_tokener_reset(p->tok);
        p->partial = 0;
        if (!json_object_is_type(obj, json_type_object)) {
            json_object_put(obj);
            return -EPROTO;
        }
        int rc = parser_push(p, obj);
        if (rc < 0) {
            json_object_put(obj);
            return rc;
        }
    }
    return 0;
}

json_object *hva_qmp_parser_next(struct hva_qmp_parser *p)
{
    if (p->head == p->n)
        return NULL;
    return p->queue[p->head++];
}

int hva_qmp_classify(json_object *obj, struct hva_qmp_msg *ret_msg)
{
    struct hva_qmp_msg m = {.kind = HVA_QMP_UNKNOWN, .id = -1};
    json_object *v;

    if (!json_object_is_type(obj, json_type_object))
        return -EPROTO;
    if (json_object_object_get_ex(obj, "id", &v) &&
        json_object_is_type(v, json_type_int))
        m.id = json_object_get_int64(v);
    if (json_object_object_get_ex(obj, "QMP", &v)) {
        m.kind = HVA_QMP_GREETING;
        m.data = v;
    } else if (json_object_object_get_ex(obj, "return", &v)) {
        m.kind = HVA_QMP_RETURN;
        m.data = v;
    } else if (json_object_object_get_ex(obj, "error", &v)) {
        json_object *c, *d;

        m.kind = HVA_QMP_ERROR;
        m.errcls = json_object_object_get_ex(v, "class", &c)
                       ? json_object_get_string(c)
                       : "GenericError";
        m.errmsg = json_object_object_get_ex(v, "desc", &d)
                       ? json_object_get_string(d)
                       : "(no description)";
    } else if (json_object_object_get_ex(obj, "event", &v) &&
               json_object_is_type(v, json_type_string)) {
        m.kind = HVA_QMP_EVENT;
        m.event = json_object_get_string(v);
        if (!json_object_object_get_ex(obj, "data", &m.data))
            m.data = NULL;
    }
    *ret_msg = m;
    return 0;
}

char *hva_qmp_format_command(const char *cmd, json_object *args, int64_t id)
{
    json_object *o = json_object_new_object();
    char *text = NULL;

    if (!o)
        return NULL;
    json_object_object_add(o, "execute", json_object_new_string(cmd));
    if (args)
        json_object_object_add(o, "arguments", json_object_get(args));
    json_object_object_add(o, "id", json_object_new_int64(id));
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    if (s && asprintf(&text, "%s\n", s) < 0)
        text = NULL;
    json_object_put(o);
    return text;
}

/* ---- connection -----------------------------------------------------------
 */

struct qmp_pending {
    int64_t id;
    hva_qmp_reply_fn cb;
    void *data;
    struct qmp_pending *next;
};

struct hva_qmp {
    qb_loop_t *loop;
    int fd;
    struct hva_qmp_parser *parser;
    const struct hva_qmp_ops *ops;
    void *data;
    bool ready;
    bool closed;
    int dispatching; /* depth: free is deferred while > 0 */
    bool dead;
    int64_t next_id;
    struct qmp_pending *pending; /* oldest first */
};

static void qmp_destroy(struct hva_qmp *q)
{
    struct qmp_pending *p = q->pending;

    while (p) {
        struct qmp_pending *n = p->next;
        free(p);
        p = n;
    }
    if (q->fd >= 0) {
        qb_loop_poll_del(q->loop, q->fd);
        close(q->fd);
    }
    hva_qmp_parser_free(q->parser);
    free(q);
}

void hva_qmp_free(struct hva_qmp *q)
{
    if (!q)
        return;
    if (q->dispatching) {
        q->dead = true;
        return;
    }
    qmp_destroy(q);
}

/* Writes all of `text`; QMP commands are small and QEMU reads them
 * promptly, so a short bounded wait for POLLOUT is acceptable. */
static int qmp_write(struct hva_qmp *q, const char *text, int pass_fd)
{
    size_t len = strlen(text), off = 0;

    while (off < len) {
        struct iovec iov = {.iov_base = (char *)text + off,
                            .iov_len = len - off};
        union {
            char buf[CMSG_SPACE(sizeof(int))];
            struct cmsghdr align;
        } u;
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

        if (pass_fd >= 0 && off == 0) {
            memset(&u, 0, sizeof(u));
            mh.msg_control = u.buf;
            mh.msg_controllen = sizeof(u.buf);
            struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
        }
        ssize_t n = sendmsg(q->fd, &mh, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                struct pollfd pfd = {.fd = q->fd, .events = POLLOUT};
                if (poll(&pfd, 1, 2000) <= 0)
                    return -ETIMEDOUT;
                continue;
            }
            return -errno;
        }
        off += (size_t)n;
    }
    return 0;
}

static void qmp_fail_all(struct hva_qmp *q, int rc)
{
    while (q->pending && !q->dead) {
        struct qmp_pending *p = q->pending;

        q->pending = p->next;
        if (p->cb)
            p->cb(p->data, rc, NULL, "QEMU monitor connection closed");
        free(p);
    }
}

static void qmp_close(struct hva_qmp *q)
{
    if (q->closed)
        return;
    q->closed = true;
    qb_loop_poll_del(q->loop, q->fd);
    qmp_fail_all(q, -EPIPE);
    if (!q->dead && q->ops->closed)
        q->ops->closed(q->data);
}

static void qmp_reply(struct hva_qmp *q, const struct hva_qmp_msg *m)
{
    struct qmp_pending **pp = &q->pending;

    while (*pp && (*pp)->id != m->id)
        pp = &(*pp)->next;
    if (!*pp)
        return; /* a reply nobody waits for (cancelled caller) */
    struct qmp_pending *p = *pp;
    *pp = p->next;
    if (p->cb) {
        if (m->kind == HVA_QMP_RETURN)
            p->cb(p->data, 0, m->data, NULL);
        else
            p->cb(p->data, -HVA_E_QMP, NULL, m->errmsg);
    }
    free(p);
}

static void qmp_caps_done(void *data, int rc, json_object *ret,
                          const char *errmsg)
{
    struct hva_qmp *q = data;

    (void)ret;
    if (rc < 0) {
        cmn_debug(CMN_LOG_HVA, "qmp_capabilities failed: %s", errmsg);
        qmp_close(q);
        return;
    }
    q->ready = true;
    if (q->ops->ready)
        q->ops->ready(q->data);
}

static void qmp_handle(struct hva_qmp *q, json_object *obj)
{
    struct hva_qmp_msg m;

    if (hva_qmp_classify(obj, &m) < 0)
        return;
    switch (m.kind) {
    case HVA_QMP_GREETING:
        hva_qmp_command(q, "qmp_capabilities", NULL, -1, qmp_caps_done, q);
        break;
    case HVA_QMP_RETURN:
    case HVA_QMP_ERROR:
        qmp_reply(q, &m);
        break;
    case HVA_QMP_EVENT:
        if (q->ops->event)
            q->ops->event(q->data, m.event, m.data);
        break;
    case HVA_QMP_UNKNOWN:
        break;
    }
}

static int32_t qmp_dispatch(int32_t fd, int32_t revents, void *data)
{
    struct hva_qmp *q = data;
    char buf[65536];
    json_object *obj;

    q->dispatching++;
    if (revents & POLLIN) {
        ssize_t n = read(fd, buf, sizeof(buf));

        if (n > 0) {
            if (hva_qmp_parser_feed(q->parser, buf, (size_t)n) < 0)
                qmp_close(q);
            while (!q->dead && (obj = hva_qmp_parser_next(q->parser))) {
                qmp_handle(q, obj);
                json_object_put(obj);
            }
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            qmp_close(q);
        }
    } else if (revents & (POLLHUP | POLLERR | POLLNVAL)) {
        qmp_close(q);
    }
    q->dispatching--;
    if (q->dead && q->dispatching == 0) {
        qmp_destroy(q);
        return -1;
    }
    return q->closed ? -1 : 0;
}

int hva_qmp_new(qb_loop_t *loop, int fd, const struct hva_qmp_ops *ops,
                void *data, struct hva_qmp **ret_q)
{
    struct hva_qmp *q = calloc(1, sizeof(*q));
    int rc;

    if (!q) {
        close(fd);
        return -ENOMEM;
    }
    q->loop = loop;
    q->fd = fd;
    q->ops = ops;
    q->data = data;
    q->next_id = 1;
    rc = hva_qmp_parser_new(&q->parser);
    if (rc < 0)
        goto fail;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    rc = qb_loop_poll_add(loop, QB_LOOP_HIGH, fd, POLLIN, q, qmp_dispatch);
    if (rc < 0)
        goto fail;
    *ret_q = q;
    return 0;
fail:
    q->fd = -1;
    close(fd);
    hva_qmp_parser_free(q->parser);
    free(q);
    return rc;
}

int hva_qmp_command(struct hva_qmp *q, const char *cmd, json_object *args,
                    int pass_fd, hva_qmp_reply_fn cb, void *cb_data)
{
    struct qmp_pending *p = NULL, **tail;
    char *text = NULL;
    int rc;

    if (q->closed) {
        rc = -EPIPE;
        goto out;
    }
    p = calloc(1, sizeof(*p));
    if (!p) {
        rc = -ENOMEM;
        goto out;
    }
    p->id = q->next_id++;
    p->cb = cb;
    p->data = cb_data;
    text = hva_qmp_format_command(cmd, args, p->id);
    if (!text) {
        rc = -ENOMEM;
        goto out;
    }
    cmn_debug(CMN_LOG_QEMU, "qmp -> %s", text);
    rc = qmp_write(q, text, pass_fd);
    if (rc < 0)
        goto out;
    for (tail = &q->pending; *tail; tail = &(*tail)->next)
        ;
    *tail = CMN_STEAL(p);
out:
    json_object_put(args);
    free(text);
    free(p);
    return rc;
}

void hva_qmp_forget(struct hva_qmp *q, const void *cb_data)
{
    for (struct qmp_pending *p = q->pending; p; p = p->next)
        if (p->data == cb_data)
            p->cb = NULL;
}

int hva_qmp_connect_path(const char *path, int *ret_fd)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    *ret_fd = fd;
    return 0;
}
