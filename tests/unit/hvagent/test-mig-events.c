/* Migration phases driven by recorded QEMU monitor transcripts
 * (tests/data/qmp): every object QEMU sent goes through the QMP framing
 * and classification hvagent uses, each event through hva_mig_react and
 * each query-migrate reply through hva_mig_progress_parse and the
 * convergence policy, as hvagent's migration code does; the phases the
 * decisions lead to are asserted, every change a legal transition. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hvagent/hva-int.h"

#define MAX_SEEN 16

struct sim {
    enum hva_mig_kind kind;
    enum hva_mig_phase phase;
    bool rolling_back;
    struct hva_mig_settings set;
    unsigned pass, downtime_ms;
    bool stream_over, stream_done, failed;
    unsigned events, replies, policy_raises;
    uint64_t transferred, qemu_downtime;
    enum hva_mig_phase seen[MAX_SEEN]; /* phases entered, in order */
    size_t n_seen;
};

static void sim_init(struct sim *s, enum hva_mig_kind kind,
                     enum hva_mig_phase phase)
{
    memset(s, 0, sizeof(*s));
    s->kind = kind;
    s->phase = phase;
    hva_mig_settings_default(&s->set);
    s->downtime_ms = s->set.downtime_ms;
}

static void sim_enter(struct sim *s, enum hva_mig_phase next)
{
    if (next == s->phase)
        return;
    if (!hva_mig_phase_next_ok(s->phase, next))
        fail_msg("illegal transition %s -> %s", hva_mig_phase_name(s->phase),
                 hva_mig_phase_name(next));
    s->phase = next;
    assert_true(s->n_seen < MAX_SEEN);
    s->seen[s->n_seen++] = next;
}

/* The source's reaction to a new pass (hva-mig-out.c: out_apply_policy). */
static void sim_policy(struct sim *s, uint64_t remaining, uint64_t dirty)
{
    unsigned nd = 0;

    switch (hva_mig_policy(&s->set, s->pass, s->downtime_ms, remaining, dirty,
                           &nd)) {
    case HVA_MIG_SET_DOWNTIME:
        s->downtime_ms = nd;
        s->policy_raises++;
        break;
    case HVA_MIG_CANCEL:
        s->rolling_back = true;
        sim_enter(s, HVA_PH_OUT_ROLLBACK);
        break;
    case HVA_MIG_WAIT:
    case HVA_MIG_THROTTLE:
        break;
    }
}

static void sim_event(struct sim *s, const struct hva_qmp_msg *m)
{
    struct hva_mig_reaction r;

    s->events++;
    hva_mig_react(s->kind, s->phase, s->rolling_back, m->event, m->data, &r);
    s->stream_over = s->stream_over || r.stream_over;
    switch (r.what) {
    case HVA_MR_PASS:
        assert_int_equal(s->kind, HVA_MIG_OUT);
        s->pass = r.pass;
        sim_policy(s, 1ull << 30, 0);
        break;
    case HVA_MR_STREAM_DONE:
        s->stream_done = true;
        sim_enter(s, r.next);
        break;
    case HVA_MR_FAILED:
        s->failed = true;
        sim_enter(s, r.next);
        break;
    case HVA_MR_NONE:
        assert_int_equal(r.next, s->phase);
        break;
    }
}

/* A query-migrate reply (hva-mig-out.c: out_query_done, out_final_stats). */
static void sim_reply(struct sim *s, const struct hva_qmp_msg *m)
{
    struct hva_mig_progress p;

    hva_mig_progress_parse(m->data, &p);
    if (!p.have_ram)
        return;
    s->replies++;
    s->transferred = p.transferred;
    if (p.downtime)
        s->qemu_downtime = p.downtime;
    if (s->kind == HVA_MIG_OUT && !s->rolling_back &&
        s->phase == HVA_PH_OUT_PRECOPY && p.pass > s->pass) {
        s->pass = p.pass;
        sim_policy(s, p.remaining, p.dirty_rate);
    }
}

static void sim_feed_text(struct sim *s, const char *text)
{
    struct hva_qmp_parser *p;
    json_object *o;

    assert_int_equal(hva_qmp_parser_new(&p), 0);
    assert_int_equal(hva_qmp_parser_feed(p, text, strlen(text)), 0);
    while ((o = hva_qmp_parser_next(p))) {
        struct hva_qmp_msg m;

        assert_int_equal(hva_qmp_classify(o, &m), 0);
        if (m.kind == HVA_QMP_EVENT)
            sim_event(s, &m);
        else if (m.kind == HVA_QMP_RETURN)
            sim_reply(s, &m);
        json_object_put(o);
    }
    hva_qmp_parser_free(p);
}

static void sim_feed(struct sim *s, const char *name)
{
    const char *src = getenv("KVMC_SRCDIR");
    char path[4096];
    FILE *f;
    long n;

    snprintf(path, sizeof(path), "%s/tests/data/qmp/%s", src ? src : ".", name);
    f = fopen(path, "r");
    if (!f)
        fail_msg("%s: cannot open (KVMC_SRCDIR?)", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    char *text = calloc(1, (size_t)n + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    sim_feed_text(s, text);
    free(text);
}

/* Source, converging: four passes, then "completed" starts the handoff. */
static void test_out_live(void **state)
{
    struct sim s;

    (void)state;
    sim_init(&s, HVA_MIG_OUT, HVA_PH_OUT_PRECOPY);
    sim_feed(&s, "mig-live-out.jsonl");
    assert_int_equal(s.n_seen, 1);
    assert_int_equal(s.seen[0], HVA_PH_OUT_PAUSED);
    assert_true(s.stream_done && s.stream_over && !s.failed);
    assert_int_equal(s.pass, 4);
    assert_int_equal(s.policy_raises, 0);
    assert_true(s.replies >= 10);
    assert_int_equal(s.qemu_downtime, 2);
    assert_true(s.transferred == 806566);
}

/* Same recording under a policy that gives up after two passes: the
 * rollback starts at pass 3, and QEMU's later "completed" (the cancel
 * raced with the end) starts no lease handoff. */
static void test_out_policy_cancel(void **state)
{
    struct sim s;

    (void)state;
    sim_init(&s, HVA_MIG_OUT, HVA_PH_OUT_PRECOPY);
    s.set.max_passes = 2;
    s.set.converge = HVA_CONVERGE_CANCEL;
    sim_feed(&s, "mig-live-out.jsonl");
    assert_int_equal(s.n_seen, 1);
    assert_int_equal(s.seen[0], HVA_PH_OUT_ROLLBACK);
    assert_false(s.stream_done);
    assert_true(s.stream_over); /* the data socket is closed all the same */
}

/* Source whose target died: "failed" rolls back. */
static void test_out_failed(void **state)
{
    struct sim s;

    (void)state;
    sim_init(&s, HVA_MIG_OUT, HVA_PH_OUT_PRECOPY);
    sim_feed(&s, "mig-fail-out.jsonl");
    assert_int_equal(s.n_seen, 1);
    assert_int_equal(s.seen[0], HVA_PH_OUT_ROLLBACK);
    assert_true(s.failed && s.stream_over && !s.stream_done);
    assert_int_equal(s.policy_raises, 0);
}

/* Target: the state in changes no phase (the lease and cont do); before
 * the source released the lease and after. */
static void test_in_live(void **state)
{
    struct sim s;

    (void)state;
    sim_init(&s, HVA_MIG_IN, HVA_PH_IN_RECEIVING);
    sim_feed(&s, "mig-live-in.jsonl");
    assert_true(s.stream_done && !s.failed);
    assert_int_equal(s.n_seen, 0);
    assert_int_equal(s.phase, HVA_PH_IN_RECEIVING);
    sim_init(&s, HVA_MIG_IN, HVA_PH_IN_LEASED);
    sim_feed(&s, "mig-live-in.jsonl");
    assert_true(s.stream_done);
    assert_int_equal(s.phase, HVA_PH_IN_LEASED);
    /* a failure aborts */
    sim_init(&s, HVA_MIG_IN, HVA_PH_IN_RECEIVING);
    sim_feed_text(&s, "{\"event\": \"MIGRATION\", \"data\": {\"status\": "
                      "\"failed\"}}");
    assert_int_equal(s.seen[0], HVA_PH_IN_ABORTED);
}

/* Save: MIGRATION_PASS is the source's business only; "completed" lets
 * the header be written, SAVE_DONE comes after it and the release. */
static void test_save(void **state)
{
    struct sim s;

    (void)state;
    sim_init(&s, HVA_MIG_SAVE, HVA_PH_SAVE_STREAM);
    sim_feed(&s, "mig-save.jsonl");
    assert_true(s.stream_done && !s.failed);
    assert_int_equal(s.n_seen, 0);
    assert_int_equal(s.pass, 0);
    /* the same events for a restore whose QEMU rejects the state */
    sim_init(&s, HVA_MIG_RESTORE, HVA_PH_RESTORE_FEED);
    sim_feed_text(&s, "{\"event\": \"MIGRATION\", \"data\": {\"status\": "
                      "\"setup\"}}\n{\"event\": \"MIGRATION\", \"data\": "
                      "{\"status\": \"failed\"}}");
    assert_true(s.failed);
    assert_int_equal(s.seen[0], HVA_PH_NONE);
}

/* Events without data or status, and unknown statuses, change nothing. */
static void test_odd_events(void **state)
{
    struct hva_mig_reaction r;
    json_object *d = json_object_new_object();

    (void)state;
    hva_mig_react(HVA_MIG_OUT, HVA_PH_OUT_PRECOPY, false, "MIGRATION", NULL,
                  &r);
    assert_int_equal(r.what, HVA_MR_NONE);
    assert_null(r.status);
    hva_mig_react(HVA_MIG_OUT, HVA_PH_OUT_PRECOPY, false, "MIGRATION", d, &r);
    assert_int_equal(r.what, HVA_MR_NONE);
    json_object_object_add(d, "status", json_object_new_int(7));
    hva_mig_react(HVA_MIG_OUT, HVA_PH_OUT_PRECOPY, false, "MIGRATION", d, &r);
    assert_int_equal(r.what, HVA_MR_NONE);
    json_object_object_add(d, "status", json_object_new_string("wait-unplug"));
    hva_mig_react(HVA_MIG_OUT, HVA_PH_OUT_PRECOPY, false, "MIGRATION", d, &r);
    assert_int_equal(r.what, HVA_MR_NONE);
    assert_false(r.stream_over);
    hva_mig_react(HVA_MIG_OUT, HVA_PH_OUT_PRECOPY, true, "MIGRATION_PASS", NULL,
                  &r);
    assert_int_equal(r.what, HVA_MR_NONE); /* rolling back: no policy */
    assert_int_equal(r.next, HVA_PH_OUT_PRECOPY);
    json_object_put(d);
}

/* A pass of 500 ms that left 64 MiB dirty: 128 MiB/s; no time, or a
 * figure that would overflow, gives no rate rather than a wrong one. */
static void test_dirty_estimate(void **state)
{
    (void)state;
    assert_int_equal(hva_mig_dirty_estimate(64ull << 20, 500), 128ull << 20);
    assert_int_equal(hva_mig_dirty_estimate(64ull << 20, 0), 0);
    assert_int_equal(hva_mig_dirty_estimate(UINT64_MAX / 10, 7), 0);
    assert_int_equal(hva_mig_dirty_estimate(0, 100), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_out_live),
        cmocka_unit_test(test_out_policy_cancel),
        cmocka_unit_test(test_out_failed),
        cmocka_unit_test(test_in_live),
        cmocka_unit_test(test_save),
        cmocka_unit_test(test_odd_events),
        cmocka_unit_test(test_dirty_estimate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
