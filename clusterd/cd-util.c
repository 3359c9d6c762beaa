/* Small helpers of clusterd: text buffer, XML escaping, name checks, errors,
 * digest. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clusterd/cd-int.h"
#include "common/cmn-err.h"
#include "common/cmn-name.h"
#include "common/cmn-xml.h"

void cd_buf_init(struct cd_buf *b)
{
    memset(b, 0, sizeof(*b));
}

void cd_buf_free(struct cd_buf *b)
{
    free(b->data);
    cd_buf_init(b);
}

void cd_buf_add(struct cd_buf *b, const char *s, size_t n)
{
    if (b->error)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        char *p;

        while (cap < b->len + n + 1)
            cap *= 2;
        p = realloc(b->data, cap);
        if (!p) {
            b->error = -ENOMEM;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void cd_buf_puts(struct cd_buf *b, const char *s)
{
    cd_buf_add(b, s, strlen(s));
}

void cd_buf_printf(struct cd_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->error = b->error ? b->error : -EINVAL;
        return;
    }
    if ((size_t)n < sizeof(small)) {
        cd_buf_add(b, small, n);
        return;
    }
    char *big = malloc(n + 1);
    if (!big) {
        b->error = b->error ? b->error : -ENOMEM;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, n + 1, fmt, ap);
    va_end(ap);
    cd_buf_add(b, big, n);
    free(big);
}

void cd_buf_xmlf(struct cd_buf *b, const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    s = cmn_xml_vformat(fmt, ap);
    va_end(ap);
    if (!s) {
        b->error = b->error ? b->error : -ENOMEM;
        return;
    }
    cd_buf_puts(b, s);
    free(s);
}

void cd_buf_xml_escape(struct cd_buf *b, const char *s)
{
    const char *run = s;

    for (; *s; s++) {
        const char *rep = cmn_xml_entity(*s);

        if (!rep)
            continue;
        cd_buf_add(b, run, s - run);
        cd_buf_puts(b, rep);
        run = s + 1;
    }
    cd_buf_add(b, run, s - run);
}

int cd_buf_steal(struct cd_buf *b, char **ret_text, size_t *ret_len)
{
    if (b->error) {
        int rc = b->error;
        cd_buf_free(b);
        return rc;
    }
    if (!b->data)
        cd_buf_add(b, "", 0);
    if (b->error)
        return b->error;
    *ret_text = b->data;
    if (ret_len)
        *ret_len = b->len;
    cd_buf_init(b);
    return 0;
}

void cd_errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

_Static_assert(CD_NAME_MAX == CMN_NAME_MAX, "one name rule, one length");

bool cd_token_valid(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (n == 0 || n >= max)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

int cd_sha256(const void *buf, size_t len, uint8_t *ret_digest)
{
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, buf, len, ret_digest) < 0)
        return -EIO;
    return 0;
}

int cd_thread_detached(void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    pthread_t t;
    int rc;

    rc = pthread_attr_init(&attr);
    if (rc != 0)
        return -rc;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&t, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return -rc;
}

const char *cd_node_name(const struct cd_cdb *cdb, uint32_t id)
{
    const struct cd_node *n = cd_cdb_node_by_id(cdb, id);

    return !id ? "" : n ? n->name : "?";
}

char *cd_error_text(int rc, const char *msg)
{
    struct cd_buf b;
    char *text = NULL;

    cd_buf_init(&b);
    cd_buf_printf(&b, "<error code=\"%d\">", rc < 0 ? -rc : rc);
    cd_buf_xml_escape(&b, msg && *msg ? msg : cmn_strerror(rc));
    cd_buf_puts(&b, "</error>");
    return cd_buf_steal(&b, &text, NULL) == 0 ? text : NULL;
}

int cd_error_reply(char **ret, int rc, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    *ret = cd_error_text(rc, msg);
    return *ret ? 0 : -ENOMEM;
}
