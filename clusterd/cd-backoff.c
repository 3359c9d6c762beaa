/* Back-off of failing moves (cd-backoff.h). */
#include "config.h"

#include <string.h>

#include "clusterd/cd-backoff.h"
#include "clusterd/cd-proto.h"

uint64_t cd_mvb_delay_s(unsigned failures)
{
    /* The failed starts' doubling (cd_coord_retry_delay), at this
     * module's base and cap. */
    return failures
               ? cd_coord_retry_delay(failures, CD_MVB_BASE_S, CD_MVB_CAP_S)
               : 0;
}

const struct cd_action *cd_act_newest_before(const struct cd_action *act,
                                             size_t n, const char *vm,
                                             uint64_t below)
{
    const struct cd_action *best = NULL;

    for (size_t i = 0; i < n; i++)
        if (act[i].seq < below && strcmp(act[i].vm, vm) == 0 &&
            (!best || act[i].seq > best->seq))
            best = &act[i];
    return best;
}

void cd_mvb_streak(const struct cd_action *act, size_t n, const char *vm,
                   uint64_t since_seq, struct cd_mvb_streak *ret)
{
    uint64_t below = UINT64_MAX;

    memset(ret, 0, sizeof(*ret));
    for (;;) {
        const struct cd_action *best = cd_act_newest_before(act, n, vm, below);
        if (!best || best->seq <= since_seq ||
            (best->kind != CD_ACT_LIVE && best->kind != CD_ACT_QUICK) ||
            best->status != CD_AS_FAILED || best->rc == -CD_E_NO_CLUSTER)
            return;
        if (!ret->n) {
            ret->last = best;
            ret->last_end_s = best->ended_s;
        }
        ret->n++;
        below = best->seq;
    }
}

enum cd_mvb_verdict cd_mvb_decide(enum cd_rt_state st,
                                  const struct cd_mvb_streak *s, uint64_t now_s,
                                  uint64_t *ret_due_s)
{
    uint64_t due;

    if (st != CD_RT_RUNNING)
        return CD_MVB_NOT_RUNNING;
    if (!s->n)
        return CD_MVB_GO;
    /* No end time (an executor that predates it): nothing to count
     * from, the move goes as it did before. */
    if (!s->last_end_s)
        return CD_MVB_GO;
    due = s->last_end_s + cd_mvb_delay_s(s->n);
    if (now_s >= due)
        return CD_MVB_GO;
    *ret_due_s = due;
    return CD_MVB_BACKOFF;
}
