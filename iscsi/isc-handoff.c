/* The record lunbridge's supervisor hands from one worker to the next
 * (see isc-int.h for what it holds and why). */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "iscsi/isc-int.h"

/* Data before the length that publishes it: a worker killed between the
 * two leaves the old, whole record. The reader is another process that
 * maps the same pages, so a compiler barrier is what it takes (one
 * writer at a time, the next worker starts after the last one died). */
#define publish() __atomic_thread_fence(__ATOMIC_RELEASE)

void isc_handoff_reset(struct isc_handoff *h)
{
    memset(h, 0, sizeof(*h));
    h->magic = ISC_HANDOFF_MAGIC;
    h->version = ISC_HANDOFF_VERSION;
}

int isc_handoff_check(const struct isc_handoff *h)
{
    if (h->magic != ISC_HANDOFF_MAGIC || h->version != ISC_HANDOFF_VERSION ||
        h->nluns > ISC_HANDOFF_MAX_LUNS ||
        h->init_req_len > ISC_HANDOFF_INIT_MAX ||
        h->init_reply_len > ISC_HANDOFF_INIT_MAX)
        return -EPROTO;
    return 0;
}

int isc_handoff_ino(struct isc_handoff *h, const char *id, uint64_t *ret_ino)
{
    uint32_t i;

    if (strlen(id) >= ISC_ID_MAX)
        return -ENAMETOOLONG;
    for (i = 0; i < h->nluns; i++) {
        if (strcmp(h->ids[i], id) == 0) {
            *ret_ino = 2 + i;
            return 0;
        }
    }
    if (h->nluns >= ISC_HANDOFF_MAX_LUNS)
        return -ENOSPC;
    memset(h->ids[i], 0, ISC_ID_MAX);
    strcpy(h->ids[i], id);
    publish();
    h->nluns = i + 1;
    *ret_ino = 2 + i;
    return 0;
}

int isc_handoff_save_init(struct isc_handoff *h, uint64_t unique,
                          const void *req, size_t len)
{
    if (len == 0 || len > ISC_HANDOFF_INIT_MAX)
        return -EMSGSIZE;
    /* A new INIT (the first worker died before answering it and the
     * kernel sent it again) replaces what was kept of the old one. */
    h->init_reply_len = 0;
    h->init_req_len = 0;
    publish();
    memcpy(h->init_req, req, len);
    h->init_unique = unique;
    publish();
    h->init_req_len = (uint32_t)len;
    return 0;
}

int isc_handoff_save_init_reply(struct isc_handoff *h, uint64_t unique,
                                const void *reply, size_t len)
{
    if (h->init_req_len == 0 || h->init_reply_len > 0 ||
        unique != h->init_unique)
        return -ENOENT;
    if (len == 0 || len > ISC_HANDOFF_INIT_MAX)
        return -EMSGSIZE;
    memcpy(h->init_reply, reply, len);
    publish();
    h->init_reply_len = (uint32_t)len;
    return 0;
}
