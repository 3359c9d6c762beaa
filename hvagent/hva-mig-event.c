/* What QEMU's migration events and query-migrate replies mean to a
 * migration, by role and phase. Pure: hva_mig_qmp_event (hva-mig.c) acts
 * on the decision, and tests/unit/hvagent/test-mig-events.c drives it with
 * transcripts of QEMU's monitor. */
#include "config.h"

#include <string.h>

#include "hvagent/hva-int.h"

static uint64_t jget_u64(json_object *o, const char *k)
{
    json_object *v;

    return o && json_object_object_get_ex(o, k, &v)
               ? (uint64_t)json_object_get_int64(v)
               : 0;
}

/* MIGRATION's status for each role. QEMU's other statuses (setup, active,
 * device, ...) change nothing: the source's pre-copy is watched by polling
 * and MIGRATION_PASS. */
static void react_status(enum hva_mig_kind kind, enum hva_mig_phase phase,
                         const char *st, struct hva_mig_reaction *r)
{
    bool completed = strcmp(st, "completed") == 0;
    bool failed = strcmp(st, "failed") == 0;
    bool cancelled = strcmp(st, "cancelled") == 0;

    switch (kind) {
    case HVA_MIG_OUT:
        r->stream_over = completed || failed || cancelled;
        if (completed && phase == HVA_PH_OUT_PRECOPY) {
            /* QEMU stopped the guest for good (postmigrate) and sent the
             * last state: the lease handoff starts. */
            r->what = HVA_MR_STREAM_DONE;
            r->next = HVA_PH_OUT_PAUSED;
        } else if (failed || cancelled) {
            /* A guest QEMU stopped is resumed by the rollback; a
             * cancel we asked for ends the rollback's wait. */
            r->what = HVA_MR_FAILED;
            r->next = HVA_PH_OUT_ROLLBACK;
        }
        break;
    case HVA_MIG_IN:
        /* The state may arrive before or after the source's
         * LEASE-RELEASED: the guest runs once both are here, and the
         * phase moves with the lease (IN_LEASED) and cont (IN_DONE). */
        if (completed) {
            r->what = HVA_MR_STREAM_DONE;
        } else if (failed) {
            r->what = HVA_MR_FAILED;
            r->next = HVA_PH_IN_ABORTED;
        }
        break;
    case HVA_MIG_SAVE:
    case HVA_MIG_RESTORE:
        /* Saved: the header is written next (SAVE_DONE after it and the
         * lease release). Restored: the guest resumes once the state's
         * crc and the lease are checked. A failure ends it. */
        if (completed) {
            r->what = HVA_MR_STREAM_DONE;
        } else if (failed) {
            r->what = HVA_MR_FAILED;
            r->next = HVA_PH_NONE;
        }
        break;
    }
}

void hva_mig_react(enum hva_mig_kind kind, enum hva_mig_phase phase,
                   bool rolling_back, const char *event, json_object *data,
                   struct hva_mig_reaction *ret_r)
{
    struct hva_mig_reaction r = {.what = HVA_MR_NONE, .next = phase};

    if (strcmp(event, "MIGRATION_PASS") == 0) {
        /* The convergence policy looks at every pass of a pre-copy that
         * is not being cancelled already. */
        if (kind == HVA_MIG_OUT && !rolling_back) {
            r.what = HVA_MR_PASS;
            r.pass = (unsigned)jget_u64(data, "pass");
        }
    } else if (strcmp(event, "MIGRATION") == 0) {
        r.status = hva_json_str(data, "status");
        if (r.status)
            react_status(kind, phase, r.status, &r);
    }
    *ret_r = r;
}

void hva_mig_progress_parse(json_object *ret, struct hva_mig_progress *ret_p)
{
    struct hva_mig_progress p = {0};
    json_object *ram;

    if (ret && json_object_object_get_ex(ret, "ram", &ram)) {
        uint64_t page = jget_u64(ram, "page-size");

        p.have_ram = true;
        p.transferred = jget_u64(ram, "transferred");
        p.remaining = jget_u64(ram, "remaining");
        p.dirty_rate = jget_u64(ram, "dirty-pages-rate") * (page ? page : 4096);
        p.pass = (unsigned)jget_u64(ram, "dirty-sync-count");
    }
    p.expected_downtime = jget_u64(ret, "expected-downtime");
    p.downtime = jget_u64(ret, "downtime");
    p.total_time = jget_u64(ret, "total-time");
    p.setup_time = jget_u64(ret, "setup-time");
    *ret_p = p;
}

uint64_t hva_mig_dirty_estimate(uint64_t remaining, uint64_t pass_ms)
{
    if (!pass_ms || remaining > UINT64_MAX / 1000)
        return 0;
    return remaining * 1000 / pass_ms;
}
