/* clusterd internals shared between its source files. */
#ifndef KVMC_CD_INT_H
#define KVMC_CD_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clusterd/cd.h"

/* A growable text buffer for serializers. */
struct cd_buf {
    char *data;
    size_t len, cap;
    int error; /* first allocation failure, sticky */
};

void cd_buf_init(struct cd_buf *b);
void cd_buf_free(struct cd_buf *b);
void cd_buf_add(struct cd_buf *b, const char *s, size_t n);
void cd_buf_puts(struct cd_buf *b, const char *s);
__attribute__((format(printf, 2, 3))) void cd_buf_printf(struct cd_buf *b,
                                                         const char *fmt, ...);
/* XML by string formatting: cd_buf_printf with every %s argument a value,
 * escaped (cmn_xml_format). Markup built elsewhere goes in through
 * cd_buf_puts, never through this. */
__attribute__((format(printf, 2, 3))) void cd_buf_xmlf(struct cd_buf *b,
                                                       const char *fmt, ...);
/* Appends `s` escaped for an XML attribute value or text node. */
void cd_buf_xml_escape(struct cd_buf *b, const char *s);
/* Hands the NUL-terminated text out (or the sticky error). */
int cd_buf_steal(struct cd_buf *b, char **ret_text, size_t *ret_len);

/* printf into err if it is non-NULL. */
__attribute__((format(printf, 3, 4))) void cd_errf(char *err, size_t errlen,
                                                   const char *fmt, ...);

/* Node `id`'s name for messages: "" for 0 (no node), "?" when the CDB
 * does not know it. */
const char *cd_node_name(const struct cd_cdb *cdb, uint32_t id);

/* A client's error reply, <error code="N">msg</error>, msg escaped
 * (cmn_strerror(rc) when msg is empty); NULL when out of memory. */
char *cd_error_text(int rc, const char *msg);

/* *ret = cd_error_text(rc, printf of fmt): a request handler's refusal.
 * 0, or -ENOMEM (then *ret is NULL). */
__attribute__((format(printf, 3, 4))) int cd_error_reply(char **ret, int rc,
                                                         const char *fmt, ...);

/* A printable token without blanks (addresses, LUN ids, refs). */
bool cd_token_valid(const char *s, size_t max);

/* SHA-256 of buf. */
int cd_sha256(const void *buf, size_t len, uint8_t *ret_digest);

/* Worker threads of each of clusterd's pools (common/cmn-work.h). A call
 * to hvagent may last a whole migration, so one pool runs as many at
 * once as a node has VM actions in flight, far above what one node
 * hosts. */
#define CD_WORK_THREADS 256

/* A VM's lease is the sanlock resource "vm-NAME", and sanlock names hold
 * 47 characters: longer VM names are refused at 'vm add', not at start. */
#define CD_VM_NAME_LEN_MAX 44

/* Runs fn(arg) in a detached thread, for the storage check, which posts
 * its steps through a pipe, never by joining. 0 or -errno. */
int cd_thread_detached(void *(*fn)(void *), void *arg);

#endif
