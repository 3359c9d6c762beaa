/* lunbridge's per-LUN metrics (see isc-int.h): the counters, the state of
 * a LUN's session, and their text for prometheus-node-exporter. Pure but
 * for the atomic adds, so unit tests drive it. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "iscsi/isc-int.h"

/* 0.5 ms to 10 s: a LUN on a healthy network answers in well under a
 * millisecond to a few, a stalled one at the deadline (10 s by default). */
const uint64_t isc_lat_le_us[ISC_LAT_BUCKETS] = {
    500,    1000,   2500,   5000,    10000,   25000,   50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};

void isc_lun_stats_io(struct isc_lun_stats *s, uint64_t us)
{
    size_t i = 0;

    while (i < ISC_LAT_BUCKETS && us > isc_lat_le_us[i])
        i++;
    __atomic_fetch_add(&s->io_sum_us, us, __ATOMIC_RELAXED);
    __atomic_fetch_add(&s->io_buckets[i], 1, __ATOMIC_RELAXED);
}

void isc_lun_stats_reconnect(struct isc_lun_stats *s)
{
    __atomic_fetch_add(&s->reconnects, 1, __ATOMIC_RELAXED);
}

const char *isc_lun_state_name(enum isc_lun_state s)
{
    static const char *const names[ISC_LUN_STATE_COUNT] = {
        "logged_in", "reconnecting", "down"};

    return s < ISC_LUN_STATE_COUNT ? names[s] : "?";
}

enum isc_lun_state isc_lun_state_of(bool connected, uint64_t lost_ms,
                                    uint64_t now_ms, uint32_t deadline_ms)
{
    if (connected)
        return ISC_LUN_LOGGED_IN;
    /* Within the deadline a command still waits for the reconnect; past
     * it every command fails with EIO: the LUN is down for its users. */
    if (lost_ms && now_ms - lost_ms < deadline_ms)
        return ISC_LUN_RECONNECTING;
    return ISC_LUN_DOWN;
}

/* A label value with \\, \" and \n escaped. */
static void label(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            fputc('\\', f);
        if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
}

/* name{node="..",lun=".."[,k="v"] */
static void start(FILE *f, const char *name, const char *node, const char *lun)
{
    fprintf(f, "%s{node=\"", name);
    label(f, node);
    fputs("\",lun=\"", f);
    label(f, lun);
    fputc('"', f);
}

static void seconds(FILE *f, uint64_t us)
{
    fprintf(f, "%" PRIu64 ".%06" PRIu64, us / 1000000, us % 1000000);
}

static void render_histogram(FILE *f, const char *node,
                             const struct isc_metrics_lun *l)
{
    const char *name = "kvmcluster_lun_io_seconds_bucket";
    uint64_t cum = 0;

    for (size_t b = 0; b <= ISC_LAT_BUCKETS; b++) {
        cum += __atomic_load_n(&l->stats->io_buckets[b], __ATOMIC_RELAXED);
        start(f, name, node, l->id);
        fputs(",le=\"", f);
        if (b < ISC_LAT_BUCKETS)
            seconds(f, isc_lat_le_us[b]);
        else
            fputs("+Inf", f);
        fprintf(f, "\"} %" PRIu64 "\n", cum);
    }
    start(f, "kvmcluster_lun_io_seconds_sum", node, l->id);
    fputs("} ", f);
    seconds(f, __atomic_load_n(&l->stats->io_sum_us, __ATOMIC_RELAXED));
    fputc('\n', f);
    start(f, "kvmcluster_lun_io_seconds_count", node, l->id);
    fprintf(f, "} %" PRIu64 "\n", cum);
}

int isc_metrics_render(const char *node, const struct isc_metrics_lun *luns,
                       size_t n, char **ret_text)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    if (!f)
        return -ENOMEM;
    fputs("# TYPE kvmcluster_lun_session_state gauge\n"
          "# HELP kvmcluster_lun_session_state 1 for the state of the "
          "session of the LUN's target (logged_in, reconnecting, down: lost "
          "for longer than the deadline, or not found by this lunbridge)\n",
          f);
    for (size_t i = 0; i < n; i++)
        for (int s = 0; s < ISC_LUN_STATE_COUNT; s++) {
            start(f, "kvmcluster_lun_session_state", node, luns[i].id);
            fprintf(f, ",state=\"%s\"} %d\n",
                    isc_lun_state_name((enum isc_lun_state)s),
                    luns[i].state == (enum isc_lun_state)s);
        }
    fputs("# TYPE kvmcluster_lun_reconnects_total counter\n"
          "# HELP kvmcluster_lun_reconnects_total logins to the LUN's target "
          "after the first (a lost connection, a restarted worker)\n",
          f);
    for (size_t i = 0; i < n; i++) {
        start(f, "kvmcluster_lun_reconnects_total", node, luns[i].id);
        fprintf(f, "} %" PRIu64 "\n",
                __atomic_load_n(&luns[i].stats->reconnects, __ATOMIC_RELAXED));
    }
    fputs("# TYPE kvmcluster_lun_io_seconds histogram\n"
          "# HELP kvmcluster_lun_io_seconds time of each read and write of "
          "the LUN, from the request to its answer (errors included)\n",
          f);
    for (size_t i = 0; i < n; i++)
        render_histogram(f, node, &luns[i]);
    if (fclose(f) != 0) {
        free(text);
        return -ENOMEM;
    }
    *ret_text = text;
    return 0;
}
