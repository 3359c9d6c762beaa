/* A copy's rate over a sliding window of (time, bytes) samples, and the
 * expected end it gives. A window, not the last two samples: a copy paced
 * by QEMU's mirror `speed` counts a chunk when it is read and then waits,
 * so its byte count moves in steps; over a few seconds the steps average
 * out to the pace. */
#ifndef CMN_RATE_H
#define CMN_RATE_H

#include <stdint.h>

#define CMN_RATE_SAMPLES 64

struct cmn_rate {
    uint64_t t_ms[CMN_RATE_SAMPLES];
    uint64_t bytes[CMN_RATE_SAMPLES];
    unsigned n;    /* samples kept (<= CMN_RATE_SAMPLES) */
    unsigned next; /* where the next sample goes */
};

/* Records that `bytes` were done at `t_ms` (monotonic). A sample less
 * than 100 ms after the last one replaces it, so a fast caller does not
 * shrink the window below CMN_RATE_SAMPLES * 100 ms. */
void cmn_rate_add(struct cmn_rate *r, uint64_t t_ms, uint64_t bytes);

/* Bytes per second over the last `window_ms` before the newest sample
 * (from the oldest sample inside it, or the newest one before it when
 * none is); 0 while fewer than 2 samples span any time. */
uint64_t cmn_rate_bps(const struct cmn_rate *r, uint64_t window_ms);

/* Seconds until `total` at `bps` from the newest sample's count; -1 when
 * the rate is 0 (unknown). */
int64_t cmn_rate_eta_s(const struct cmn_rate *r, uint64_t bps, uint64_t total);

#endif
