/* Pure logic of migration: settings, the convergence policy, the phase
 * machine and what a restarted agent does with each phase; the PSK
 * derivation. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <string.h>
#include <unistd.h>

#include "common/cmn-auto.h"
#include "hvagent/hva-int.h"

void hva_mig_settings_default(struct hva_mig_settings *s)
{
    *s = (struct hva_mig_settings){
        .max_bandwidth = 0,
        .downtime_ms = 50,
        .max_passes = 10,
        .converge = HVA_CONVERGE_RAISE,
        .downtime_max_ms = 2000,
        .timeout_s = 300,
        .stall_ms = 10000,
        .handoff_reserve_ms = 20,
    };
}

uint64_t hva_mig_stall_ms(uint64_t since_bytes_ms, bool have_tcp,
                          uint32_t unacked, uint32_t last_ack_ms)
{
    /* QEMU's count grows while the socket buffer takes its writes, also
     * toward a dead peer; unacknowledged data tells. An idle stream (all
     * acknowledged) is judged by QEMU's count alone. */
    if (have_tcp && unacked > 0 && last_ack_ms > since_bytes_ms)
        return last_ack_ms;
    return since_bytes_ms;
}

static const char *const converge_names[] = {
    [HVA_CONVERGE_RAISE] = "raise",
    [HVA_CONVERGE_THROTTLE] = "throttle",
    [HVA_CONVERGE_CANCEL] = "cancel",
};

const char *hva_converge_name(enum hva_converge c)
{
    return (unsigned)c < CMN_ARRAY_SIZE(converge_names) ? converge_names[c]
                                                        : "?";
}

int hva_converge_parse(const char *s, enum hva_converge *ret)
{
    for (size_t i = 0; i < CMN_ARRAY_SIZE(converge_names); i++) {
        if (s && strcmp(s, converge_names[i]) == 0) {
            *ret = (enum hva_converge)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* Passes allowed past max_passes once the policy has done what it can
 * (downtime at its ceiling, or throttling at work) before cancelling. */
#define HVA_GRACE_PASSES 10

enum hva_mig_action hva_mig_policy(const struct hva_mig_settings *s,
                                   unsigned pass, unsigned cur_downtime_ms,
                                   uint64_t remaining, uint64_t dirty_rate,
                                   unsigned *ret_downtime_ms)
{
    /* QEMU completes by itself as soon as the remaining dirty memory fits
     * the downtime limit at the measured bandwidth; the policy only acts
     * once the pass budget is spent. */
    (void)remaining;
    (void)dirty_rate;
    if (pass < s->max_passes)
        return HVA_MIG_WAIT;
    switch (s->converge) {
    case HVA_CONVERGE_RAISE:
        if (cur_downtime_ms < s->downtime_max_ms) {
            unsigned next = cur_downtime_ms * 2;

            if (next < cur_downtime_ms + 50)
                next = cur_downtime_ms + 50;
            if (next > s->downtime_max_ms)
                next = s->downtime_max_ms;
            *ret_downtime_ms = next;
            return HVA_MIG_SET_DOWNTIME;
        }
        return pass >= s->max_passes + HVA_GRACE_PASSES ? HVA_MIG_CANCEL
                                                        : HVA_MIG_WAIT;
    case HVA_CONVERGE_THROTTLE:
        return pass >= s->max_passes + HVA_GRACE_PASSES ? HVA_MIG_CANCEL
                                                        : HVA_MIG_THROTTLE;
    case HVA_CONVERGE_CANCEL:
    default:
        return HVA_MIG_CANCEL;
    }
}

static const char *const phase_names[HVA_PH_COUNT] = {
    [HVA_PH_NONE] = "none",
    [HVA_PH_OUT_CONNECT] = "out-connect",
    [HVA_PH_OUT_PREPARE] = "out-prepare",
    [HVA_PH_OUT_PRECOPY] = "out-precopy",
    [HVA_PH_OUT_PAUSED] = "out-paused",
    [HVA_PH_OUT_RELEASED] = "out-released",
    [HVA_PH_OUT_CONTINUED] = "out-continued",
    [HVA_PH_OUT_DONE] = "out-done",
    [HVA_PH_OUT_ROLLBACK] = "out-rollback",
    [HVA_PH_IN_PREPARED] = "in-prepared",
    [HVA_PH_IN_RECEIVING] = "in-receiving",
    [HVA_PH_IN_LEASED] = "in-leased",
    [HVA_PH_IN_DONE] = "in-done",
    [HVA_PH_IN_ABORTED] = "in-aborted",
    [HVA_PH_SAVE_STREAM] = "save-stream",
    [HVA_PH_SAVE_DONE] = "save-done",
    [HVA_PH_RESTORE_FEED] = "restore-feed",
    [HVA_PH_RESTORE_DONE] = "restore-done",
};

const char *hva_mig_phase_name(enum hva_mig_phase p)
{
    return (unsigned)p < HVA_PH_COUNT ? phase_names[p] : "?";
}

int hva_mig_phase_parse(const char *s, enum hva_mig_phase *ret)
{
    for (int i = 0; i < HVA_PH_COUNT; i++) {
        if (s && strcmp(s, phase_names[i]) == 0) {
            *ret = (enum hva_mig_phase)i;
            return 0;
        }
    }
    return -EINVAL;
}

bool hva_mig_phase_next_ok(enum hva_mig_phase from, enum hva_mig_phase to)
{
    switch (from) {
    case HVA_PH_NONE:
        return to == HVA_PH_OUT_CONNECT || to == HVA_PH_IN_PREPARED ||
               to == HVA_PH_SAVE_STREAM || to == HVA_PH_RESTORE_FEED;
    case HVA_PH_OUT_CONNECT:
    case HVA_PH_OUT_PREPARE:
    case HVA_PH_OUT_PRECOPY:
    case HVA_PH_OUT_PAUSED:
    case HVA_PH_OUT_RELEASED:
        return to == from + 1 || to == HVA_PH_OUT_ROLLBACK;
    case HVA_PH_OUT_CONTINUED:
        /* The target may die before resuming: the source takes the lease
         * back and resumes (rollback) — sanlock arbitrates. */
        return to == HVA_PH_OUT_DONE || to == HVA_PH_OUT_ROLLBACK;
    case HVA_PH_IN_PREPARED:
    case HVA_PH_IN_RECEIVING:
    case HVA_PH_IN_LEASED:
        return to == from + 1 || to == HVA_PH_IN_ABORTED;
    case HVA_PH_SAVE_STREAM:
        return to == HVA_PH_SAVE_DONE || to == HVA_PH_NONE;
    case HVA_PH_RESTORE_FEED:
        return to == HVA_PH_RESTORE_DONE || to == HVA_PH_NONE;
    case HVA_PH_OUT_DONE:
    case HVA_PH_OUT_ROLLBACK:
    case HVA_PH_IN_DONE:
    case HVA_PH_IN_ABORTED:
    case HVA_PH_SAVE_DONE:
    case HVA_PH_RESTORE_DONE:
        return to == HVA_PH_NONE;
    default:
        return false;
    }
}

enum hva_recovery hva_mig_recovery(enum hva_mig_phase phase)
{
    switch (phase) {
    case HVA_PH_OUT_CONNECT:
    case HVA_PH_OUT_PREPARE:
    case HVA_PH_OUT_PRECOPY:
    case HVA_PH_OUT_PAUSED:
    case HVA_PH_OUT_ROLLBACK:
    case HVA_PH_SAVE_STREAM:
        /* The lease never left: this node runs the VM. */
        return HVA_REC_KEEP_LOCAL;
    case HVA_PH_OUT_RELEASED:
    case HVA_PH_OUT_CONTINUED:
        /* The lease was released: the target may hold it now. */
        return HVA_REC_BY_LEASE;
    case HVA_PH_IN_LEASED:
        return HVA_REC_FINISH_IN;
    case HVA_PH_IN_PREPARED:
    case HVA_PH_IN_RECEIVING:
    case HVA_PH_RESTORE_FEED:
        return HVA_REC_DISCARD;
    default:
        return HVA_REC_NOTHING;
    }
}

/* ---- PSK ------------------------------------------------------------------
 */

int hva_psk_derive(const char *authkey_path, uint8_t key[32])
{
    uint8_t ikm[4096], prk[32];
    static const char salt[] = "kvmcluster";
    static const char info[] = "kvmcluster migration v1";
    int fd cmn_autoclose = open(authkey_path, O_RDONLY | O_CLOEXEC);
    ssize_t n;
    int rc;

    if (fd < 0)
        return -errno;
    n = read(fd, ikm, sizeof(ikm));
    if (n < 0)
        return -errno;
    if (n < 16)
        return -EINVAL; /* an authkey is 128+ bytes; refuse a stub */
    gnutls_datum_t k = {.data = ikm, .size = (unsigned)n};
    gnutls_datum_t s = {.data = (unsigned char *)salt,
                        .size = sizeof(salt) - 1};
    gnutls_datum_t i = {.data = (unsigned char *)info,
                        .size = sizeof(info) - 1};
    rc = gnutls_hkdf_extract(GNUTLS_MAC_SHA256, &k, &s, prk);
    if (rc == 0) {
        gnutls_datum_t p = {.data = prk, .size = sizeof(prk)};
        rc = gnutls_hkdf_expand(GNUTLS_MAC_SHA256, &p, &i, key, 32);
    }
    explicit_bzero(ikm, sizeof(ikm));
    explicit_bzero(prk, sizeof(prk));
    return rc == 0 ? 0 : -EIO;
}
