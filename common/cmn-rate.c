/* Sliding-window copy rate (see cmn-rate.h). */
#include "config.h"

#include "common/cmn-rate.h"

#define MIN_GAP_MS 100

static unsigned idx(const struct cmn_rate *r, unsigned back)
{
    /* back = 0: the newest sample */
    return (r->next + CMN_RATE_SAMPLES - 1 - back) % CMN_RATE_SAMPLES;
}

void cmn_rate_add(struct cmn_rate *r, uint64_t t_ms, uint64_t bytes)
{
    if (r->n > 1 && t_ms < r->t_ms[idx(r, 1)] + MIN_GAP_MS) {
        /* Too close to the one before the newest: the newest moves. */
        r->t_ms[idx(r, 0)] = t_ms;
        r->bytes[idx(r, 0)] = bytes;
        return;
    }
    r->t_ms[r->next] = t_ms;
    r->bytes[r->next] = bytes;
    r->next = (r->next + 1) % CMN_RATE_SAMPLES;
    if (r->n < CMN_RATE_SAMPLES)
        r->n++;
}

uint64_t cmn_rate_bps(const struct cmn_rate *r, uint64_t window_ms)
{
    unsigned k, first;
    uint64_t t1, b1, dt;

    if (r->n < 2)
        return 0;
    t1 = r->t_ms[idx(r, 0)];
    b1 = r->bytes[idx(r, 0)];
    first = 1;
    for (k = 1; k < r->n; k++) {
        first = k;
        if (t1 - r->t_ms[idx(r, k)] >= window_ms)
            break;
    }
    dt = t1 - r->t_ms[idx(r, first)];
    if (dt == 0 || b1 < r->bytes[idx(r, first)])
        return 0;
    return (b1 - r->bytes[idx(r, first)]) * 1000 / dt;
}

int64_t cmn_rate_eta_s(const struct cmn_rate *r, uint64_t bps, uint64_t total)
{
    uint64_t done = r->n ? r->bytes[idx(r, 0)] : 0;

    if (bps == 0)
        return -1;
    if (done >= total)
        return 0;
    return (int64_t)((total - done + bps - 1) / bps);
}
