/* The action history file (cd_obs_decode): clusterd reads it from its
 * state directory at start, so a torn or tampered file must be refused,
 * never trusted. The crc32c is resealed so mutations reach the entries. */
#include "config.h"

#include <libxml/parser.h>

#include "clusterd/cd-obs.h"
#include "common/cmn-crc32c.h"
#include "common/cmn-le.h"
#include "tests/fuzz/fuzz.h"

/* The header of cd-obs.c's file: magic, version, generation, count, then
 * the crc32c over the 20 bytes before it and every entry. */
#define OBS_HDR_LEN 24
#define OBS_CRC_OFF 20

static void obs_reseal(uint8_t *buf, size_t len)
{
    uint32_t crc;

    if (len < OBS_HDR_LEN)
        return;
    crc = cmn_crc32c(0, buf, OBS_CRC_OFF);
    crc = cmn_crc32c(crc, buf + OBS_HDR_LEN, len - OBS_HDR_LEN);
    cmn_put_le32(buf + OBS_CRC_OFF, crc);
}

static bool str_in(const char *s, size_t field)
{
    return memchr(s, 0, field) != NULL;
}

/* What the decoder promises its callers (the XML and metrics code). */
static void check_entry(const struct cd_obs_entry *e)
{
    if (!e->id || e->kind < CD_ACT_START || e->kind >= CD_ACT_KIND_END ||
        (unsigned)e->cause >= CD_CAUSE_END || e->status > CD_AS_FAILED ||
        e->npasses > CD_OBS_PASS_MAX || !str_in(e->vm, sizeof(e->vm)) ||
        !str_in(e->from, sizeof(e->from)) || !str_in(e->to, sizeof(e->to)) ||
        !str_in(e->msg, sizeof(e->msg)) || !e->vm[0])
        abort();
}

static bool entry_same(const struct cd_obs_entry *a,
                       const struct cd_obs_entry *b)
{
    if (a->id != b->id || a->kind != b->kind || a->cause != b->cause ||
        a->status != b->status || a->rc != b->rc || strcmp(a->vm, b->vm) ||
        strcmp(a->from, b->from) || strcmp(a->to, b->to) ||
        strcmp(a->msg, b->msg) || a->started_s != b->started_s ||
        a->ended_s != b->ended_s || a->downtime_ms != b->downtime_ms ||
        a->total_ms != b->total_ms || a->detection_ms != b->detection_ms ||
        a->lease_wait_ms != b->lease_wait_ms || a->start_ms != b->start_ms ||
        a->failover_ms != b->failover_ms || a->npasses != b->npasses)
        return false;
    for (size_t i = 0; i < a->npasses; i++)
        if (memcmp(&a->passes[i], &b->passes[i], sizeof(a->passes[i])))
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1), *out = NULL;
    struct cd_obs *o = NULL, *again = NULL;
    size_t n, out_len;
    char *xml = NULL;

    if (!buf || cd_obs_new(&o) < 0 || cd_obs_new(&again) < 0)
        goto out;
    memcpy(buf, data, size);
    obs_reseal(buf, size);
    if (cd_obs_decode(o, buf, size) < 0) {
        /* A refused file leaves the (empty) history as it was. */
        if (cd_obs_history_count(o) != 0)
            abort();
        goto out;
    }
    n = cd_obs_history_count(o);
    if (n > CD_OBS_HISTORY_MAX)
        abort();
    for (size_t i = 0; i < n; i++)
        check_entry(cd_obs_history(o, i));
    /* What was accepted is what gets written back (in the current
     * version, whatever the input's) and read again. */
    if (cd_obs_encode(o, &out, &out_len) < 0)
        goto out;
    if (cd_obs_decode(again, out, out_len) < 0 ||
        cd_obs_history_count(again) != n)
        abort();
    for (size_t i = 0; i < n; i++)
        if (!entry_same(cd_obs_history(o, i), cd_obs_history(again, i)))
            abort();
    /* clusterctl parses the history it is sent: it must stay XML. */
    if (cd_obs_history_xml(o, NULL, 0, &xml) == 0) {
        xmlDocPtr doc = xmlReadMemory(
            xml, (int)strlen(xml), "history.xml", NULL,
            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        if (!doc)
            abort();
        xmlFreeDoc(doc);
    }
out:
    free(xml);
    free(out);
    cd_obs_free(again);
    cd_obs_free(o);
    free(buf);
    return 0;
}
