#include "config.h"

#include "common/cmn-err.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define CMN_ERR_BLOCK  100
#define CMN_ERR_BLOCKS ((CMN_ERR_END - CMN_ERR_BASE) / CMN_ERR_BLOCK)

/* One table per block; written once by the owning module at start-up. */
static struct {
    const char *const *texts;
    int count;
} blocks[CMN_ERR_BLOCKS];
static pthread_mutex_t blocks_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const common_texts[] = {
    [0] = "unknown error",
    [CMN_E_PARSE - CMN_ERR_BASE] = "malformed input",
    [CMN_E_UNKNOWN_KEY - CMN_ERR_BASE] = "unknown key",
    [CMN_E_BAD_VALUE - CMN_ERR_BASE] = "bad value",
    [CMN_E_TOO_BIG - CMN_ERR_BASE] = "input too large",
    [CMN_E_SCHEMA - CMN_ERR_BASE] = "document does not match its schema",
    [CMN_E_DTD - CMN_ERR_BASE] = "document type declarations are not allowed",
    [CMN_E_MISSING - CMN_ERR_BASE] = "required item missing",
    [CMN_E_DUPLICATE - CMN_ERR_BASE] = "item given twice",
    [CMN_E_IPC_SERVER - CMN_ERR_BASE] =
        "the process serving this IPC name does not run as root: refused "
        "(the daemon is down and another user holds its socket name)",
};

void cmn_err_register(int base, const char *const *texts, int count)
{
    int b = (base - CMN_ERR_BASE) / CMN_ERR_BLOCK;

    if (base < CMN_ERR_BASE || b >= (int)CMN_ERR_BLOCKS || b == 0)
        return;
    if (count > CMN_ERR_BLOCK)
        count = CMN_ERR_BLOCK;
    pthread_mutex_lock(&blocks_lock);
    blocks[b].texts = texts;
    blocks[b].count = count;
    pthread_mutex_unlock(&blocks_lock);
}

const char *cmn_strerror(int rc)
{
    static __thread char buf[64];
    int code = rc < 0 ? -rc : rc;

    if (code == 0)
        return "success";
    if (code < CMN_ERR_BASE) {
        /* strerror_r (GNU) may or may not use buf. */
        return strerror_r(code, buf, sizeof(buf));
    }
    if (code < CMN_ERR_END) {
        int b = (code - CMN_ERR_BASE) / CMN_ERR_BLOCK;
        int i = (code - CMN_ERR_BASE) % CMN_ERR_BLOCK;
        const char *text = NULL;

        if (b == 0) {
            if (i < (int)(sizeof(common_texts) / sizeof(common_texts[0])))
                text = common_texts[i];
        } else {
            pthread_mutex_lock(&blocks_lock);
            if (i < blocks[b].count)
                text = blocks[b].texts[i];
            pthread_mutex_unlock(&blocks_lock);
        }
        if (text != NULL)
            return text;
    }
    snprintf(buf, sizeof(buf), "error %d", rc);
    return buf;
}
