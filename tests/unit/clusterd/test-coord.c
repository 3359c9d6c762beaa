/* The coordinator's pure logic: message encoding, replicated runtime
 * state, action derivation from it, idempotence, and re-derivation by a
 * new coordinator after the old one left. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clusterd/cd-coord.h"
#include "tests/unit/clusterd/coord-fixture.h"
#include "clusterd/cd-storage.h"
#include "clusterd/cd.h"
#include "resources/res-err.h"

static void rt(struct cd_coord *co, const struct cd_cdb *cdb, uint32_t node,
               const char *vm, enum cd_rt_state st, uint64_t now,
               struct cd_co_effect *eff)
{
    struct cd_co_msg m = {.type = CD_CO_RT_VM, .kind = st};

    m.n[3] = now;
    snprintf(m.vm, sizeof(m.vm), "%s", vm);
    deliver(co, cdb, node, &m, eff);
}

static uint64_t next_id = 1;

/* Publishes derived actions as the coordinator would. */
static void publish(struct cd_coord *co, const struct cd_cdb *cdb,
                    struct cd_action *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct cd_co_msg m;
        a[i].id = next_id++;
        cd_coord_action_msg(&a[i], &m);
        deliver(co, cdb, 1, &m, NULL);
    }
}

static void step(struct cd_coord *co, const struct cd_cdb *cdb, uint64_t id,
                 int rc, struct cd_co_effect *eff)
{
    const struct cd_action *a = cd_coord_action_by_id(co, id);
    struct cd_co_msg m = {.type = CD_CO_STEP, .id = id, .rc = rc};

    assert_non_null(a);
    m.cause = a->step;
    deliver(co, cdb, cd_action_executor(a), &m, eff);
}

static void test_msg_roundtrip(void **state)
{
    struct cd_co_msg m = {
        .type = CD_CO_STEP, .id = 0x123456789ull, .rc = -1042, .cause = 1};
    struct cd_co_msg back;
    uint8_t buf[CD_CO_MSG_MAX];
    size_t len;

    (void)state;
    snprintf(m.vm, sizeof(m.vm), "web1");
    snprintf(m.text, sizeof(m.text), "lease held by node 2");
    m.n[0] = 38;
    assert_int_equal(cd_co_msg_encode(&m, buf, sizeof(buf), &len), 0);
    assert_int_equal(cd_co_msg_decode(buf, len, &back), 0);
    assert_int_equal(back.rc, -1042);
    assert_int_equal(back.id, 0x123456789ull);
    assert_string_equal(back.vm, "web1");
    assert_string_equal(back.text, "lease held by node 2");
    assert_int_equal(back.n[0], 38);
    /* A flipped bit, a short message, someone else's protocol. */
    buf[len - 1] ^= 1;
    assert_int_equal(cd_co_msg_decode(buf, len, &back), -CD_E_BAD_MSG);
    assert_int_equal(cd_co_msg_decode(buf, 10, &back), -CD_E_BAD_MSG);
    memcpy(buf, "KCOP", 4);
    assert_int_equal(cd_co_msg_decode(buf, len, &back), -ENOENT);
}

/* Nothing is derived until every member announced its VMs: a cluster
 * that just formed must not start what already runs somewhere. */
static void test_wait_for_announcements(void **state)
{
    CMN_AUTO(cd_cdb) *cdb = cluster3();
    struct cd_coord *co;
    struct cd_action out[32];
    const char *const on2[] = {"web1", NULL};

    (void)state;
    add_vm(cdb, "web1", "high", 512, true);
    assert_int_equal(cd_coord_new(&co), 0);
    cd_coord_confchg(co, m123, 3);
    announce(co, cdb, 1, NULL);
    announce(co, cdb, 3, NULL);
    assert_int_equal(derive(co, cdb, m123, 3, out), 0);
    announce(co, cdb, 2, on2);
    assert_int_equal(cd_coord_vm_node(co, "web1", NULL), 2);
    /* It runs where it should: nothing to do. */
    assert_int_equal(derive(co, cdb, m123, 3, out), 0);
    cd_coord_free(co);
}

/* The lease holder is the node whose report carried CD_RT_F_LEASE; a
 * report without it (starting, or a member that predates the flag) says
 * nobody holds it there, and a stopped VM's entry takes its flag away. */
static void test_lease_holder(void **state)
{
    CMN_AUTO(cd_cdb) *cdb = cluster3();
    struct cd_coord *co;
    struct cd_co_effect eff;
    struct cd_co_msg m = {.type = CD_CO_RT_VM, .kind = CD_RT_STARTING};

    (void)state;
    add_vm(cdb, "web1", "high", 512, true);
    assert_int_equal(cd_coord_new(&co), 0);
    cd_coord_confchg(co, m123, 3);
    snprintf(m.vm, sizeof(m.vm), "web1");
    deliver(co, cdb, 2, &m, &eff);
    assert_int_equal(cd_coord_vm_node(co, "web1", NULL), 2);
    assert_int_equal(cd_coord_vm_lease(co, "web1"), 0);
    m.kind = CD_RT_RUNNING;
    m.cause = CD_RT_F_LEASE;
    deliver(co, cdb, 2, &m, &eff);
    assert_int_equal(cd_coord_vm_lease(co, "web1"), 2);
    assert_int_equal(cd_coord_vm_lease(co, "web2"), 0);
    /* A live migration's switch: the target reports it holds it, then
     * the source that it no longer does, then stops. */
    m.kind = CD_RT_MIGRATING;
    deliver(co, cdb, 2, &m, &eff);
    m.kind = CD_RT_INCOMING;
    m.cause = 0;
    deliver(co, cdb, 3, &m, &eff);
    assert_int_equal(cd_coord_vm_lease(co, "web1"), 2);
    m.kind = CD_RT_RUNNING;
    m.cause = CD_RT_F_LEASE;
    deliver(co, cdb, 3, &m, &eff);
    m.kind = CD_RT_MIGRATING;
    m.cause = 0;
    deliver(co, cdb, 2, &m, &eff);
    assert_int_equal(cd_coord_vm_lease(co, "web1"), 3);
    m.kind = CD_RT_STOPPED;
    deliver(co, cdb, 2, &m, &eff);
    assert_int_equal(cd_coord_vm_lease(co, "web1"), 3);
    m.kind = CD_RT_STOPPED;
    deliver(co, cdb, 3, &m, &eff);
    assert_int_equal(cd_coord_vm_lease(co, "web1"), 0);
    cd_coord_free(co);
}

/* A guest paused on an I/O error (CD_RT_F_IOERR, the disk in `origin`)
 * stays where it is: the coordinator neither restarts nor moves it while
 * its hvagent resumes it, every member shows the condition, and the
 * report of it running again clears it. Flags and disk survive the wire. */
static void test_paused_io_error(void **state)
{
    CMN_AUTO(cd_cdb) *cdb = cluster3();
    struct cd_coord *co = coord_settled(cdb);
    struct cd_action out[32];
    struct cd_co_effect eff;
    struct cd_co_msg m = {.type = CD_CO_RT_VM, .kind = CD_RT_RUNNING};
    int disk;

    (void)state;
    add_vm(cdb, "web1", "high", 512, true);
    snprintf(m.vm, sizeof(m.vm), "web1");
    m.cause = CD_RT_F_LEASE;
    deliver(co, cdb, 2, &m, &eff);
    assert_int_equal(cd_coord_vm_ioerr(co, "web1", &disk), CD_RT_IOERR_NONE);
    assert_int_equal(disk, -1);
    m.kind = CD_RT_PAUSED;
    m.cause = CD_RT_F_LEASE | cd_rt_ioerr_flags(CD_RT_IOERR_EIO);
    m.origin = 2; /* the second disk */
    deliver(co, cdb, 2, &m, &eff);
    assert_int_equal(cd_coord_vm_ioerr(co, "web1", &disk), CD_RT_IOERR_EIO);
    assert_int_equal(disk, 1);
    assert_int_equal(cd_coord_vm_node(co, "web1", NULL), 2);
    assert_int_equal(cd_coord_vm_lease(co, "web1"), 2);
    assert_int_equal(derive(co, cdb, m123, 3, out), 0);
    /* a full volume, the disk not known (a re-attached hvagent) */
    m.cause = CD_RT_F_LEASE | cd_rt_ioerr_flags(CD_RT_IOERR_NOSPC);
    m.origin = 0;
    deliver(co, cdb, 2, &m, &eff);
    assert_int_equal(cd_coord_vm_ioerr(co, "web1", &disk), CD_RT_IOERR_NOSPC);
    assert_int_equal(disk, -1);
    assert_string_equal(cd_rt_ioerr_name(CD_RT_IOERR_NOSPC), "enospc");
    assert_int_equal(derive(co, cdb, m123, 3, out), 0);
    /* a disk index no definition has is not shown as one */
    m.origin = 1000;
    deliver(co, cdb, 2, &m, &eff);
    cd_coord_vm_ioerr(co, "web1", &disk);
    assert_int_equal(disk, -1);
    /* resumed */
    m.kind = CD_RT_RUNNING;
    m.cause = CD_RT_F_LEASE;
    m.origin = 0;
    deliver(co, cdb, 2, &m, &eff);
    assert_int_equal(cd_coord_vm_ioerr(co, "web1", &disk), CD_RT_IOERR_NONE);
    assert_int_equal(derive(co, cdb, m123, 3, out), 0);
    /* hvagent's words */
    assert_int_equal(cd_rt_ioerr_from_hva("eio"), CD_RT_IOERR_EIO);
    assert_int_equal(cd_rt_ioerr_from_hva("enospc"), CD_RT_IOERR_NOSPC);
    assert_int_equal(cd_rt_ioerr_from_hva("EIO"), CD_RT_IOERR_NONE);
    assert_int_equal(cd_rt_ioerr_from_hva(NULL), CD_RT_IOERR_NONE);
    cd_coord_free(co);
}

static void test_start_stop_idempotent(void **state)
{
    CMN_AUTO(cd_cdb) *cdb = cluster3();
    struct cd_coord *co;
    struct cd_action out[32];
    struct cd_co_effect eff;
    size_t n;

    (void)state;
    add_vm(cdb, "web1", "high", 512, true);
    add_vm(cdb, "db1", "medium", 512, false);
    co = coord_settled(cdb);
    n = derive(co, cdb, m123, 3, out);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].kind, CD_ACT_START);
    assert_string_equal(out[0].vm, "web1");
    assert_int_equal(out[0].epoch, cd_cdb_epoch(cdb));
    /* The same decision twice (coordinator derived again before its
     * first message came back): only one action exists. */
    out[1] = out[0];
    publish(co, cdb, out, 2);
    assert_int_equal(cd_coord_action_count(co), 1);
    /* While it is in flight, nothing more is derived. */
    assert_int_equal(derive(co, cdb, m123, 3, out), 0);
    const struct cd_action *a = cd_coord_active(co, "web1");
    assert_non_null(a);
    uint32_t to = a->to;
    uint64_t id = a->id;
    rt(co, cdb, to, "web1", CD_RT_RUNNING, 100000, NULL);
    /* The executor's start phase (lease free -> running) rides in n[2]. */
    struct cd_co_msg done = {.type = CD_CO_STEP, .id = id, .cause = 0};
    done.n[2] = 2345;
    deliver(co, cdb, to, &done, &eff);
    assert_true(eff.act_ended);
    assert_int_equal(cd_coord_action_by_id(co, id)->status, CD_AS_DONE);
    assert_int_equal(cd_coord_action_by_id(co, id)->start_ms, 2345);
    /* A repeated STEP report changes nothing. */
    struct cd_co_msg m = {.type = CD_CO_STEP, .id = id, .rc = -5};
    deliver(co, cdb, to, &m, &eff);
    assert_false(eff.act_ended);
    assert_int_equal(cd_coord_action_by_id(co, id)->status, CD_AS_DONE);
    assert_int_equal(derive(co, cdb, m123, 3, out), 0);

    /* vm stop: the intent changes in the CDB, a STOP is derived. */
    apply(cdb, CD_OP_SET_VM_TARGET, "web1", "stopped", 0, 0, NULL);
    n = derive(co, cdb, m123, 3, out);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].kind, CD_ACT_STOP);
    assert_int_equal(out[0].from, to);
    cd_coord_free(co);
}

static void test_move_request(void **state)
{
    CMN_AUTO(cd_cdb) *cdb = cluster3();
    struct cd_coord *co;
    struct cd_action out[32];
    struct cd_co_effect eff;
    const char *const on1[] = {"web1", NULL};
    struct cd_co_msg req = {.type = CD_CO_REQ,
                            .kind = CD_ACT_LIVE,
                            .b = 3,
                            .origin = 2,
                            .origin_req = 7};
    char err[512];
    uint64_t digest_epoch;

    (void)state;
    add_vm(cdb, "web1", "high", 512, true);
    add_vm(cdb, "big", "low", 8192, false);
    add_vm(cdb, "spare", "low", 256, false);
    assert_int_equal(cd_coord_new(&co), 0);
    cd_coord_confchg(co, m123, 3);
    announce(co, cdb, 1, on1);
    announce(co, cdb, 2, NULL);
    announce(co, cdb, 3, NULL);
    digest_epoch = cd_cdb_epoch(cdb);

    /* Bad requests: each a sentence naming the input. */
    assert_int_equal(cd_coord_check_move(co, cdb, "web9", 0, CD_ACT_LIVE, NULL,
                                         NULL, err, sizeof(err)),
                     -CD_E_NOT_FOUND);
    assert_non_null(strstr(err, "VM 'web9' does not exist"));
    assert_int_equal(cd_coord_check_move(co, cdb, "big", 0, CD_ACT_LIVE, NULL,
                                         NULL, err, sizeof(err)),
                     -CD_E_NOT_RUNNING);
    assert_int_equal(cd_coord_check_move(co, cdb, "web1", 1, CD_ACT_LIVE, NULL,
                                         NULL, err, sizeof(err)),
                     -CD_E_BAD_VALUE);
    apply(cdb, CD_OP_SET_NODE_STATE, "node3", "drained", 0, 0, NULL);
    assert_int_equal(cd_coord_check_move(co, cdb, "web1", 3, CD_ACT_LIVE, NULL,
                                         NULL, err, sizeof(err)),
                     -RES_E_NODE_STATE);
    assert_non_null(strstr(err, "node3"));
    apply(cdb, CD_OP_SET_NODE_STATE, "node3", "up", 0, 0, NULL);

    snprintf(req.vm, sizeof(req.vm), "web1");
    deliver(co, cdb, 2, &req, &eff);
    assert_false(eff.rejected);
    assert_int_equal(cd_coord_req_count(co), 1);
    /* A second move of a VM already moving: refused on delivery. */
    req.origin_req = 8;
    deliver(co, cdb, 2, &req, &eff);
    assert_true(eff.rejected);
    assert_int_equal(eff.rc, -CD_E_BUSY);

    size_t n = derive(co, cdb, m123, 3, out);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].kind, CD_ACT_LIVE);
    assert_int_equal(out[0].from, 1);
    assert_int_equal(out[0].to, 3);
    assert_int_equal(out[0].origin, 2);
    assert_int_equal(out[0].origin_req, 7);
    publish(co, cdb, out, n);
    assert_int_equal(cd_coord_req_count(co), 0);
    const struct cd_action *a = cd_coord_active(co, "web1");
    /* Steps: the target prepares, then the source migrates out. */
    assert_int_equal(cd_action_executor(a), 3);
    uint64_t id = a->id;
    step(co, cdb, id, 0, &eff);
    assert_int_equal(cd_action_executor(cd_coord_action_by_id(co, id)), 1);
    rt(co, cdb, 1, "web1", CD_RT_MIGRATING, 100000, NULL);
    rt(co, cdb, 3, "web1", CD_RT_INCOMING, 100000, NULL);
    assert_int_equal(cd_coord_vm_node(co, "web1", NULL), 1);
    rt(co, cdb, 3, "web1", CD_RT_RUNNING, 100000, NULL);
    rt(co, cdb, 1, "web1", CD_RT_STOPPED, 100000, &eff);
    assert_false(eff.vm_failed); /* the move stopped it, not a failure */
    /* The target runs it, the action has not ended: other requests are
     * still placed (this window once refused every move as "no eligible
     * node"). */
    {
        uint32_t to = 0;
        assert_int_equal(cd_coord_vm_node(co, "web1", NULL), 3);
        assert_int_equal(
            cd_coord_check_start(co, cdb, "spare", &to, err, sizeof(err)), 0);
        assert_true(to >= 1 && to <= 3);
    }
    step(co, cdb, id, 0, &eff);
    assert_true(eff.act_ended);
    assert_int_equal(cd_coord_vm_node(co, "web1", NULL), 3);
    assert_int_equal(derive(co, cdb, m123, 3, out), 0);
    /* Refusals never touched the CDB. */
    assert_int_equal(cd_cdb_epoch(cdb), digest_epoch + 2);
    cd_coord_free(co);
}

/* Node 1 (coordinator) dies while running two VMs and in the middle of
 * an action: the new coordinator (node 2) derives the restarts of both,
 * high priority first, from the replicated state alone. */
static void test_failover_rederive(void **state)
{
    CMN_AUTO(cd_cdb) *cdb = cluster3();
    struct cd_coord *co;
    struct cd_action out[32];
    const char *const on1[] = {"low1", "high1", NULL};
    const uint32_t m23[] = {2, 3};
    size_t n;

    (void)state;
    add_vm(cdb, "low1", "low", 512, true);
    add_vm(cdb, "high1", "high", 512, true);
    add_vm(cdb, "med1", "medium", 512, false);
    assert_int_equal(cd_coord_new(&co), 0);
    cd_coord_confchg(co, m123, 3);
    announce(co, cdb, 1, on1);
    announce(co, cdb, 2, NULL);
    announce(co, cdb, 3, NULL);
    assert_int_equal(derive(co, cdb, m123, 3, out), 0);
    /* An action of node 1 in flight: vm start med1 decided on node 1. */
    apply(cdb, CD_OP_SET_VM_TARGET, "med1", "running", 0, 0, NULL);
    n = derive(co, cdb, m123, 3, out);
    assert_int_equal(n, 1);
    out[0].to = 1;
    publish(co, cdb, out, 1);

    cd_coord_confchg(co, m23, 2);
    /* Its executor left: the action failed, the VMs run nowhere. */
    assert_null(cd_coord_active(co, "med1"));
    assert_int_equal(cd_coord_vm_node(co, "high1", NULL), 0);
    /* Not before the survivors announced. */
    assert_int_equal(derive(co, cdb, m23, 2, out), 0);
    announce(co, cdb, 2, NULL);
    announce(co, cdb, 3, NULL);
    /* By priority, each class once the one above runs. */
    const char *const order[] = {"high1", "med1", "low1"};
    for (size_t k = 0; k < 3; k++) {
        struct cd_action again[32];
        n = derive(co, cdb, m23, 2, out);
        assert_int_equal(n, 1);
        assert_string_equal(out[0].vm, order[k]);
        assert_int_equal(out[0].kind, CD_ACT_START);
        assert_true(out[0].to == 2 || out[0].to == 3);
        /* Deterministic: the same state derives the same plan. */
        assert_int_equal(derive(co, cdb, m23, 2, again), 1);
        assert_string_equal(again[0].vm, out[0].vm);
        assert_int_equal(again[0].to, out[0].to);
        publish(co, cdb, out, 1);
        assert_int_equal(derive(co, cdb, m23, 2, again), 0);
        rt(co, cdb, out[0].to, order[k], CD_RT_RUNNING, 100000, NULL);
        step(co, cdb, out[0].id, 0, NULL);
    }
    assert_int_equal(derive(co, cdb, m23, 2, out), 0);
    cd_coord_free(co);
}

static void test_source_lost_mid_migration(void **state)
{
    CMN_AUTO(cd_cdb) *cdb = cluster3();
    struct cd_coord *co;
    struct cd_action out[32];
    const char *const on1[] = {"web1", NULL};
    const uint32_t m23[] = {2, 3};
    struct cd_co_msg req = {.type = CD_CO_REQ,
                            .kind = CD_ACT_LIVE,
                            .b = 3,
                            .origin = 2,
                            .origin_req = 1};

    (void)state;
    add_vm(cdb, "web1", "high", 512, true);
    assert_int_equal(cd_coord_new(&co), 0);
    cd_coord_confchg(co, m123, 3);
    announce(co, cdb, 1, on1);
    announce(co, cdb, 2, NULL);
    announce(co, cdb, 3, NULL);
    snprintf(req.vm, sizeof(req.vm), "web1");
    deliver(co, cdb, 2, &req, NULL);
    assert_int_equal(derive(co, cdb, m123, 3, out), 1);
    publish(co, cdb, out, 1);
    step(co, cdb, out[0].id, 0, NULL);
    rt(co, cdb, 3, "web1", CD_RT_INCOMING, 100000, NULL);
    /* node 1 (the source, and the coordinator) leaves mid-handoff. */
    cd_coord_confchg(co, m23, 2);
    assert_int_equal(cd_coord_action_by_id(co, out[0].id)->status,
                     CD_AS_FAILED);
    announce(co, cdb, 2, NULL);
    struct cd_co_msg b = {.type = CD_CO_RT_END};
    deliver(co, cdb, 3, &b, NULL);
    /* The VM arriving on node 3 is not started anywhere else. */
    assert_int_equal(derive(co, cdb, m23, 2, out), 0);
    rt(co, cdb, 3, "web1", CD_RT_RUNNING, 100000, NULL);
    assert_int_equal(cd_coord_vm_node(co, "web1", NULL), 3);
    assert_int_equal(derive(co, cdb, m23, 2, out), 0);
    cd_coord_free(co);
}

static void test_health_restart(void **state)
{
    CMN_AUTO(cd_cdb) *cdb = cluster3();
    struct cd_coord *co;
    struct cd_action out[32];
    struct cd_co_effect eff;
    const char *const on2[] = {"web1", NULL};
    size_t n;

    (void)state;
    add_vm(cdb, "web1", "high", 512, true);
    assert_int_equal(cd_coord_new(&co), 0);
    cd_coord_confchg(co, m123, 3);
    announce(co, cdb, 1, NULL);
    announce(co, cdb, 2, on2);
    announce(co, cdb, 3, NULL);
    /* QEMU dies three times within the period: restarted in place. */
    for (int k = 0; k < 3; k++) {
        rt(co, cdb, 2, "web1", CD_RT_STOPPED, 100000 - 10 + (uint64_t)k, &eff);
        assert_true(eff.vm_failed);
        n = derive(co, cdb, m123, 3, out);
        assert_int_equal(n, 1);
        assert_int_equal(out[0].kind, CD_ACT_START);
        assert_int_equal(out[0].cause, CD_CAUSE_RESTART);
        assert_int_equal(out[0].to, 2);
        publish(co, cdb, out, 1);
        rt(co, cdb, 2, "web1", CD_RT_RUNNING, 100000, NULL);
        step(co, cdb, out[0].id, 0, NULL);
    }
    /* The fourth within the hour: elsewhere. */
    rt(co, cdb, 2, "web1", CD_RT_STOPPED, 100000, &eff);
    n = derive(co, cdb, m123, 3, out);
    assert_int_equal(n, 1);
    assert_int_not_equal(out[0].to, 2);
    cd_coord_free(co);
}

static void test_drain_waves_and_fallback(void **state)
{
    CMN_AUTO(cd_cdb) *cdb = cluster3();
    struct cd_coord *co;
    struct cd_action out[32];
    struct cd_co_effect eff;
    const char *const on1[] = {"a", "b", "c", NULL};
    size_t n;

    (void)state;
    add_vm(cdb, "a", "high", 256, true);
    add_vm(cdb, "b", "medium", 256, true);
    add_vm(cdb, "c", "low", 256, true);
    apply(cdb, CD_OP_SET_SETTING, "migration-max-concurrent", "1", 0, 0, NULL);
    assert_int_equal(cd_coord_new(&co), 0);
    cd_coord_confchg(co, m123, 3);
    announce(co, cdb, 1, on1);
    announce(co, cdb, 2, NULL);
    announce(co, cdb, 3, NULL);
    apply(cdb, CD_OP_SET_NODE_STATE, "node1", "drained", 0, 0, NULL);
    n = derive(co, cdb, m123, 3, out);
    /* One at a time; high first, live. */
    assert_int_equal(n, 1);
    assert_string_equal(out[0].vm, "a");
    assert_int_equal(out[0].kind, CD_ACT_LIVE);
    assert_int_equal(out[0].cause, CD_CAUSE_DRAIN);
    publish(co, cdb, out, 1);
    assert_int_equal(derive(co, cdb, m123, 3, out), 0);
    /* The live move fails: the next derivation moves it quick. */
    uint64_t id = cd_coord_active(co, "a")->id;
    step(co, cdb, id, 0, NULL);
    step(co, cdb, id, -1, &eff);
    assert_true(eff.act_ended);
    n = derive(co, cdb, m123, 3, out);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].vm, "a");
    assert_int_equal(out[0].kind, CD_ACT_QUICK);
    assert_int_equal(out[0].cause, CD_CAUSE_FALLBACK);
    publish(co, cdb, out, 1);
    id = out[0].id;
    uint32_t to = out[0].to;
    step(co, cdb, id, 0, NULL);
    rt(co, cdb, 1, "a", CD_RT_STOPPED, 100000, NULL);
    rt(co, cdb, to, "a", CD_RT_RUNNING, 100000, NULL);
    step(co, cdb, id, 0, NULL);
    n = derive(co, cdb, m123, 3, out);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].vm, "b");
    assert_int_equal(out[0].kind, CD_ACT_LIVE);
    publish(co, cdb, out, 1);
    id = out[0].id;
    to = out[0].to;
    step(co, cdb, id, 0, NULL);
    rt(co, cdb, 1, "b", CD_RT_STOPPED, 100000, NULL);
    rt(co, cdb, to, "b", CD_RT_RUNNING, 100000, NULL);
    step(co, cdb, id, 0, NULL);
    n = derive(co, cdb, m123, 3, out);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].vm, "c");
    assert_int_equal(out[0].kind, CD_ACT_QUICK); /* low: quick */
    cd_coord_free(co);
}

static void start_req(struct cd_coord *co, const struct cd_cdb *cdb,
                      const char *vm, struct cd_co_effect *eff)
{
    struct cd_co_msg m = {.type = CD_CO_REQ, .kind = CD_ACT_START};

    snprintf(m.vm, sizeof(m.vm), "%s", vm);
    m.origin = 2;
    deliver(co, cdb, 2, &m, eff);
}

/* Priority manual: never started by a plan, even wanted running; a start
 * request (vm start) starts it once, on the best node; its QEMU dying
 * starts nothing; a request for a running VM is refused. */
static void test_manual_start_request(void **state)
{
    CMN_AUTO(cd_cdb) *cdb = cluster3();
    struct cd_coord *co;
    struct cd_action out[32];
    struct cd_co_effect eff;
    uint32_t to = 0;
    char err[256];
    size_t n;

    (void)state;
    add_vm(cdb, "man1", "manual", 512, true);
    co = coord_settled(cdb);
    assert_int_equal(derive(co, cdb, m123, 3, out), 0);

    assert_int_equal(
        cd_coord_check_start(co, cdb, "man1", &to, err, sizeof(err)), 0);
    assert_true(to >= 1 && to <= 3);
    assert_int_equal(
        cd_coord_check_start(co, cdb, "nope", NULL, err, sizeof(err)),
        -CD_E_NOT_FOUND);
    start_req(co, cdb, "man1", &eff);
    assert_false(eff.rejected);
    assert_int_equal(cd_coord_req_count(co), 1);
    n = derive(co, cdb, m123, 3, out);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].kind, CD_ACT_START);
    assert_int_equal(out[0].cause, CD_CAUSE_USER);
    assert_int_equal(out[0].to, to);
    publish(co, cdb, out, n);
    assert_int_equal(cd_coord_req_count(co), 0);
    step(co, cdb, out[0].id, 0, NULL);
    rt(co, cdb, to, "man1", CD_RT_RUNNING, 100, NULL);
    assert_int_equal(cd_coord_vm_node(co, "man1", NULL), to);
    /* Running: another start request is refused on delivery. */
    start_req(co, cdb, "man1", &eff);
    assert_true(eff.rejected);
    /* Its QEMU dies: no restart, no start. */
    rt(co, cdb, to, "man1", CD_RT_STOPPED, 200, &eff);
    assert_true(eff.vm_failed);
    assert_int_equal(derive(co, cdb, m123, 3, out), 0);
    /* vm start again. */
    start_req(co, cdb, "man1", &eff);
    assert_false(eff.rejected);
    n = derive(co, cdb, m123, 3, out);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].kind, CD_ACT_START);
    cd_coord_free(co);
}

/* A step result with the executor's clock and message. */
static void step_at(struct cd_coord *co, const struct cd_cdb *cdb, uint64_t id,
                    int rc, uint64_t now, const char *msg)
{
    const struct cd_action *a = cd_coord_action_by_id(co, id);
    struct cd_co_msg m = {.type = CD_CO_STEP, .id = id, .rc = rc};

    assert_non_null(a);
    m.cause = a->step;
    m.n[3] = now;
    snprintf(m.text, sizeof(m.text), "%s", msg ? msg : "");
    deliver(co, cdb, cd_action_executor(a), &m, NULL);
}

static size_t derive_at(struct cd_coord *co, const struct cd_cdb *cdb,
                        uint64_t now, struct cd_action *out)
{
    struct cd_co_view v = {.self = 1,
                           .quorate = true,
                           .members = m123,
                           .nmembers = 3,
                           .now_s = now};
    return cd_coord_derive(co, cdb, &v, out, 32);
}

static void wait_at(struct cd_coord *co, const struct cd_cdb *cdb,
                    const char *vm, uint64_t now, struct cd_vm_wait *w)
{
    struct cd_co_view v = {.self = 1,
                           .quorate = true,
                           .members = m123,
                           .nmembers = 3,
                           .now_s = now};
    cd_coord_vm_wait(co, cdb, &v, vm, w);
}

static void move_req(struct cd_coord *co, const struct cd_cdb *cdb,
                     const char *vm, uint32_t to, uint64_t req,
                     struct cd_co_effect *eff)
{
    struct cd_co_msg m = {.type = CD_CO_REQ,
                          .kind = CD_ACT_LIVE,
                          .b = to,
                          .origin = 2,
                          .origin_req = req};

    snprintf(m.vm, sizeof(m.vm), "%s", vm);
    deliver(co, cdb, 2, &m, eff);
    assert_false(eff->rejected);
}

/* Six moves asked at once from node1 (limit 2): two start, four wait in
 * order with their places; each finished move lets the next one go;
 * three moves to one target from two sources: the target's incoming
 * limit holds too. A queued move whose VM stopped meanwhile ends failed
 * when its turn comes, on every member alike. */
static void test_move_queue(void **state)
{
    CMN_AUTO(cd_cdb) *cdb = cluster3();
    struct cd_coord *co;
    struct cd_action out[32];
    struct cd_co_effect eff;
    const char *const on1[] = {"v1", "v2", "v3", "v4", "v5", "v6", NULL};
    const char *const on2[] = {"w1", NULL};
    char name[16];
    size_t n;

    (void)state;
    for (int i = 1; i <= 6; i++) {
        snprintf(name, sizeof(name), "v%d", i);
        add_vm(cdb, name, "medium", 128, true);
    }
    add_vm(cdb, "w1", "medium", 128, true);
    assert_int_equal(cd_coord_new(&co), 0);
    cd_coord_confchg(co, m123, 3);
    announce(co, cdb, 1, on1);
    announce(co, cdb, 2, on2);
    announce(co, cdb, 3, NULL);
    for (int i = 1; i <= 6; i++) {
        snprintf(name, sizeof(name), "v%d", i);
        move_req(co, cdb, name, i % 2 ? 2 : 3, (uint64_t)i, &eff);
    }
    assert_int_equal(cd_coord_req_place(co, "v1", 2), 0);
    assert_int_equal(cd_coord_req_place(co, "v2", 2), 0);
    assert_int_equal(cd_coord_req_place(co, "v3", 2), 1);
    assert_int_equal(cd_coord_req_place(co, "v6", 2), 4);
    struct cd_vm_wait w;
    wait_at(co, cdb, "v4", 100000, &w);
    assert_int_equal(w.kind, CD_WAIT_MOVE_QUEUED);
    assert_int_equal(w.n, 2);
    n = derive_at(co, cdb, 100000, out);
    assert_int_equal(n, 2); /* node1 sends at most 2 */
    assert_string_equal(out[0].vm, "v1");
    assert_string_equal(out[1].vm, "v2");
    publish(co, cdb, out, n);
    /* The same derivation again decides nothing new. */
    assert_int_equal(derive_at(co, cdb, 100000, out), 0);
    assert_int_equal(cd_coord_req_place(co, "v3", 2), 1);

    /* v1 is done: v3 goes, the rest keep their order. */
    uint64_t id1 = cd_coord_active(co, "v1")->id;
    step(co, cdb, id1, 0, NULL);
    rt(co, cdb, 2, "v1", CD_RT_RUNNING, 100000, NULL);
    rt(co, cdb, 1, "v1", CD_RT_STOPPED, 100000, NULL);
    step(co, cdb, id1, 0, NULL);
    n = derive_at(co, cdb, 100000, out);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].vm, "v3");
    publish(co, cdb, out, n);
    assert_int_equal(cd_coord_req_place(co, "v4", 2), 1);

    /* Incoming: w1 (node2 -> node3) fits beside v2 (node1 -> node3). */
    move_req(co, cdb, "w1", 3, 20, &eff);
    n = derive_at(co, cdb, 100000, out);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].vm, "w1");
    publish(co, cdb, out, n);
    /* node3 now receives 2: v4 (to node3) waits even when node1 has
     * room; v5 (to node2) passes it. */
    uint64_t id3 = cd_coord_active(co, "v3")->id;
    step(co, cdb, id3, 0, NULL);
    step(co, cdb, id3, -5, NULL); /* failed: v3 stays on node1 */
    assert_int_equal(cd_coord_req_place(co, "v4", 2), 1);
    n = derive_at(co, cdb, 100000, out);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].vm, "v5");

    /* v6 stops while it waits: its turn ends it failed, at once. */
    rt(co, cdb, 1, "v6", CD_RT_STOPPED, 100000, NULL);
    struct cd_action late = {
        .kind = CD_ACT_LIVE, .from = 1, .to = 3, .origin = 2, .origin_req = 6};
    struct cd_co_msg m;
    snprintf(late.vm, sizeof(late.vm), "v6");
    late.id = 999;
    cd_coord_action_msg(&late, &m);
    deliver(co, cdb, 1, &m, &eff);
    assert_true(eff.act_new);
    assert_true(eff.act_ended);
    assert_int_equal(eff.act->status, CD_AS_FAILED);
    assert_non_null(strstr(eff.act->msg, "no longer runs"));
    assert_null(cd_coord_req(co, "v6"));
    assert_null(cd_coord_active(co, "v6"));
    cd_coord_free(co);
}

/* Two starts failed (the second back-off would be 4 s): a node they
 * failed on reporting its storage healthy since before the last failure
 * changes nothing; one healthy since after it makes the next start due
 * start-retry-delay (2 s) after that failure. */
static void test_retry_storage_back(void **state)
{
    CMN_AUTO(cd_cdb) *cdb = cluster3();
    struct cd_coord *co;
    struct cd_action out[32];
    struct cd_stor_node r = {.state = CD_STOR_OK};
    struct cd_co_msg m;
    uint64_t t = 100000;
    uint32_t a, b;
    size_t n;

    (void)state;
    add_vm(cdb, "web1", "high", 512, true);
    co = coord_settled(cdb);
    n = derive_at(co, cdb, t, out);
    assert_int_equal(n, 1);
    a = out[0].to;
    publish(co, cdb, out, n);
    step_at(co, cdb, out[0].id, -5, t, "lease not acquired");
    n = derive_at(co, cdb, t + 2, out);
    assert_int_equal(n, 1);
    b = out[0].to;
    publish(co, cdb, out, n);
    step_at(co, cdb, out[0].id, -5, t + 3, "lease not acquired");

    r.node = a;
    r.since = t + 2;
    cd_stor_msg(&r, &m);
    deliver(co, cdb, a, &m, NULL);
    assert_int_equal(derive_at(co, cdb, t + 5, out), 0);
    r.node = b;
    r.since = t + 4;
    cd_stor_msg(&r, &m);
    deliver(co, cdb, b, &m, NULL);
    assert_int_equal(derive_at(co, cdb, t + 4, out), 0);
    n = derive_at(co, cdb, t + 5, out);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].kind, CD_ACT_START);
    assert_int_equal(out[0].cause, CD_CAUSE_RETRY);
    cd_coord_free(co);
}

/* A start fails on node A: nothing for the back-off (2 s), then again on
 * another node; the back-off doubles per failure in a row (4 s, 8 s),
 * each attempt avoids the nodes it just failed on while one can take
 * it; the VM that runs resets it; with no eligible node at all it waits
 * reported as such. */
static void test_start_retry(void **state)
{
    CMN_AUTO(cd_cdb) *cdb = cluster3();
    struct cd_coord *co;
    struct cd_action out[32];
    struct cd_vm_wait w;
    uint64_t t = 100000;
    uint32_t a, b, c;
    size_t n;

    (void)state;
    assert_int_equal(cd_coord_retry_delay(1, 2, 60), 2);
    assert_int_equal(cd_coord_retry_delay(3, 2, 60), 8);
    assert_int_equal(cd_coord_retry_delay(9, 2, 60), 60);
    add_vm(cdb, "web1", "high", 512, true);
    co = coord_settled(cdb);
    n = derive_at(co, cdb, t, out);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].kind, CD_ACT_START);
    a = out[0].to;
    publish(co, cdb, out, n);
    step_at(co, cdb, out[0].id, -28, t,
            "lease 'vm-slot-0' not acquired: No space left on device");

    /* Within the back-off: nothing, and it says so. */
    assert_int_equal(derive_at(co, cdb, t + 1, out), 0);
    wait_at(co, cdb, "web1", t + 1, &w);
    assert_int_equal(w.kind, CD_WAIT_RETRY);
    assert_int_equal(w.at_s, t + 2);
    assert_int_equal(w.node, a);
    assert_int_not_equal(w.next, a);
    assert_non_null(strstr(w.text, "not acquired"));
    /* Over: elsewhere, as a retry. */
    n = derive_at(co, cdb, t + 2, out);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].kind, CD_ACT_START);
    assert_int_equal(out[0].cause, CD_CAUSE_RETRY);
    b = out[0].to;
    assert_int_not_equal(b, a);
    assert_int_equal(b, w.next);
    publish(co, cdb, out, n);
    step_at(co, cdb, out[0].id, -5, t + 3, "hvagent is not reachable");

    /* Second failure: 4 s, and neither A nor B. */
    assert_int_equal(derive_at(co, cdb, t + 6, out), 0);
    n = derive_at(co, cdb, t + 7, out);
    assert_int_equal(n, 1);
    c = out[0].to;
    assert_true(c != a && c != b);
    publish(co, cdb, out, n);
    step_at(co, cdb, out[0].id, -5, t + 8, "failed");

    /* Third: 8 s; every node failed: not the newest one (C). */
    assert_int_equal(derive_at(co, cdb, t + 15, out), 0);
    wait_at(co, cdb, "web1", t + 15, &w);
    assert_int_equal(w.kind, CD_WAIT_RETRY);
    assert_int_equal(w.n, 3);
    assert_int_equal(w.at_s, t + 16);
    n = derive_at(co, cdb, t + 16, out);
    assert_int_equal(n, 1);
    assert_int_not_equal(out[0].to, c);

    /* It runs: the streak is over; a later failure starts at 2 s. */
    publish(co, cdb, out, n);
    uint32_t home = out[0].to;
    rt(co, cdb, home, "web1", CD_RT_RUNNING, t + 17, NULL);
    step_at(co, cdb, out[0].id, 0, t + 17, NULL);
    wait_at(co, cdb, "web1", t + 17, &w);
    assert_int_equal(w.kind, CD_WAIT_NONE);
    rt(co, cdb, home, "web1", CD_RT_STOPPED, t + 100, NULL); /* dies */
    n = derive_at(co, cdb, t + 100, out);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].cause, CD_CAUSE_RESTART);
    publish(co, cdb, out, n);
    step_at(co, cdb, out[0].id, -5, t + 101, "failed again");
    wait_at(co, cdb, "web1", t + 101, &w);
    assert_int_equal(w.kind, CD_WAIT_RETRY);
    assert_int_equal(w.n, 1);
    assert_int_equal(w.at_s, t + 103);

    /* No node can take it at all: reported, nothing started. */
    apply(cdb, CD_OP_SET_NODE_STATE, "node1", "drained", 0, 0, NULL);
    apply(cdb, CD_OP_SET_NODE_STATE, "node2", "drained", 0, 0, NULL);
    apply(cdb, CD_OP_SET_NODE_STATE, "node3", "drained", 0, 0, NULL);
    assert_int_equal(derive_at(co, cdb, t + 200, out), 0);
    wait_at(co, cdb, "web1", t + 200, &w);
    assert_int_equal(w.kind, CD_WAIT_NO_NODE);
    assert_true(w.text[0] != '\0');
    cd_coord_free(co);
}

/* A start that waits for higher-priority starts says how many. */
static void test_wait_priority(void **state)
{
    CMN_AUTO(cd_cdb) *cdb = cluster3();
    struct cd_coord *co;
    struct cd_action out[32];
    struct cd_vm_wait w;
    size_t n;

    (void)state;
    add_vm(cdb, "hi", "high", 256, true);
    add_vm(cdb, "lo", "low", 256, true);
    co = coord_settled(cdb);
    n = derive_at(co, cdb, 100000, out);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].vm, "hi");
    publish(co, cdb, out, n);
    wait_at(co, cdb, "lo", 100000, &w);
    assert_int_equal(w.kind, CD_WAIT_PRIORITY);
    assert_int_equal(w.n, 1);
    wait_at(co, cdb, "hi", 100000, &w);
    assert_int_equal(w.kind, CD_WAIT_NONE);
    cd_coord_free(co);
}

/* A clusterd crash is not a node failure: node 3's clusterd left the
 * group (PROCDOWN) while node 3 stayed a corosync member. Its VM is kept
 * where it runs (unmanaged), nothing starts it elsewhere, node 3 takes no
 * new VM, a member that joins meanwhile learns the entry from the
 * others' re-announcement, and node 3's clusterd re-attaches on return.
 * Only a NODE_LOST (node 3 left corosync's membership) fails it over. */
static void test_clusterd_crash_not_node_failure(void **state)
{
    CMN_AUTO(cd_cdb) *cdb = cluster3();
    struct cd_coord *co, *joiner;
    struct cd_action out[32];
    struct cd_co_effect eff;
    const char *const on3[] = {"web1", NULL};
    const uint32_t m12[] = {1, 2}, kept3[] = {3};
    struct cd_co_msg lost = {.type = CD_CO_NODE_LOST, .a = 3};
    struct cd_co_msg proxy = {
        .type = CD_CO_RT_VM, .kind = CD_RT_RUNNING, .a = 3};
    size_t n;

    (void)state;
    add_vm(cdb, "web1", "high", 512, true);
    assert_int_equal(cd_coord_new(&co), 0);
    cd_coord_confchg(co, m123, 3);
    announce(co, cdb, 1, NULL);
    announce(co, cdb, 2, NULL);
    announce(co, cdb, 3, on3);
    assert_int_equal(derive(co, cdb, m123, 3, out), 0);

    /* clusterd on node 3 dies; node 3 is still a corosync member. */
    cd_coord_confchg_kept(co, m12, 2, kept3, 1);
    assert_true(cd_coord_unmanaged(co, 3));
    assert_false(cd_coord_unmanaged(co, 1));
    assert_int_equal(cd_coord_vm_node(co, "web1", NULL), 3);
    announce(co, cdb, 1, NULL);
    announce(co, cdb, 2, NULL);
    assert_true(cd_coord_settled(co));
    assert_int_equal(derive(co, cdb, m12, 2, out), 0);
    /* Its VM can't move: nobody would send it. */
    {
        char err[512];
        uint32_t from, to;
        assert_int_equal(cd_coord_check_move(co, cdb, "web1", 1, CD_ACT_LIVE,
                                             &from, &to, err, sizeof(err)),
                         -CD_E_BUSY);
        assert_non_null(strstr(err, "whose clusterd is down"));
    }
    /* Node 3 takes no new VM while its clusterd is away. */
    add_vm(cdb, "new1", "high", 512, true);
    n = derive(co, cdb, m12, 2, out);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].vm, "new1");
    assert_true(out[0].to == 1 || out[0].to == 2);
    publish(co, cdb, out, 1);
    rt(co, cdb, out[0].to, "new1", CD_RT_RUNNING, 100000, NULL);
    step(co, cdb, out[0].id, 0, NULL);
    assert_int_equal(derive(co, cdb, m12, 2, out), 0);

    /* Another member's clusterd restarts meanwhile: the joiner learns
     * node 3's VM from the proxy announcement, not from node 3. */
    assert_int_equal(cd_coord_new(&joiner), 0);
    cd_coord_confchg(joiner, m12, 2);
    snprintf(proxy.vm, sizeof(proxy.vm), "web1");
    deliver(joiner, cdb, 2, &proxy, NULL);
    assert_true(cd_coord_unmanaged(joiner, 3));
    assert_int_equal(cd_coord_vm_node(joiner, "web1", NULL), 3);
    /* A proxy for a member is ignored: it announces for itself. */
    proxy.a = 1;
    deliver(joiner, cdb, 2, &proxy, NULL);
    assert_false(cd_coord_unmanaged(joiner, 1));
    proxy.a = 3;
    cd_coord_free(joiner);

    /* clusterd on node 3 is back: it re-announces the VM, no move. */
    cd_coord_confchg(co, m123, 3);
    assert_false(cd_coord_unmanaged(co, 3));
    announce(co, cdb, 1, NULL);
    announce(co, cdb, 2, (const char *const[]){"new1", NULL});
    announce(co, cdb, 3, on3);
    assert_int_equal(cd_coord_vm_node(co, "web1", NULL), 3);
    assert_int_equal(derive(co, cdb, m123, 3, out), 0);

    /* It dies again, then the node goes: only then a failover. */
    cd_coord_confchg_kept(co, m12, 2, kept3, 1);
    announce(co, cdb, 1, NULL);
    announce(co, cdb, 2, (const char *const[]){"new1", NULL});
    assert_int_equal(derive(co, cdb, m12, 2, out), 0);
    deliver(co, cdb, 1, &lost, &eff);
    assert_true(eff.changed);
    assert_false(cd_coord_unmanaged(co, 3));
    assert_int_equal(cd_coord_vm_node(co, "web1", NULL), 0);
    /* A re-announcement in flight when it was lost changes nothing. */
    deliver(co, cdb, 2, &proxy, NULL);
    assert_false(cd_coord_unmanaged(co, 3));
    n = derive(co, cdb, m12, 2, out);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].vm, "web1");
    assert_int_equal(out[0].kind, CD_ACT_START);
    assert_true(out[0].to == 1 || out[0].to == 2);

    /* A migration that ended just before its source's clusterd died: the
     * source's kept entry is stale. */
    cd_coord_confchg(co, m123, 3);
    announce(co, cdb, 1, NULL);
    announce(co, cdb, 2, NULL);
    announce(co, cdb, 3, NULL);
    rt(co, cdb, 3, "web1", CD_RT_MIGRATING, 100000, NULL);
    rt(co, cdb, 2, "web1", CD_RT_RUNNING, 100000, NULL);
    assert_int_equal(cd_coord_vm_node(co, "web1", NULL), 3);
    cd_coord_confchg_kept(co, m12, 2, kept3, 1);
    assert_int_equal(cd_coord_vm_node(co, "web1", NULL), 2);

    /* A node that left corosync (NODEDOWN: not kept) fails over at once,
     * as before. */
    cd_coord_confchg(co, m123, 3);
    announce(co, cdb, 1, NULL);
    announce(co, cdb, 2, NULL);
    announce(co, cdb, 3, (const char *const[]){"web1", "new1", NULL});
    cd_coord_confchg(co, m12, 2);
    assert_false(cd_coord_unmanaged(co, 3));
    assert_int_equal(cd_coord_vm_node(co, "web1", NULL), 0);
    cd_coord_free(co);
}

/* Processor compatibility: a cluster-mode VM keeps the model it was
 * fixed to when it started (its hvagent reports it with every state)
 * while a weaker node joins and the baseline falls; it moves only where
 * that model runs, and a move hands it to the target. A VM not running
 * needs the baseline of now, the administrator's when set. */
static void test_cpu_fixed(void **state)
{
    CMN_AUTO(cd_cdb) *cdb = cluster3();
    struct cd_coord *co;
    struct cd_action out[32];
    struct cd_co_effect eff;
    struct cd_co_msg m = {.type = CD_CO_RT_VM, .kind = CD_RT_RUNNING};
    struct cd_co_msg req = {.type = CD_CO_REQ,
                            .kind = CD_ACT_LIVE,
                            .b = 2,
                            .origin = 2,
                            .origin_req = 9};
    static const char strong[] = "host aes sse\nmodel Conroe 28\n"
                                 "model Westmere 35\n";
    static const char weak[] = "host sse\nmodel Conroe 28\n"
                               "model Westmere 35 aes\n";
    struct res_place_vm pv;
    char base[CD_NAME_MAX], err[512], why[256];
    const struct cd_action *a;

    (void)state;
    apply(cdb, CD_OP_SET_NODE_CPU, "node1", NULL, 0, 0, strong);
    apply(cdb, CD_OP_SET_NODE_CPU, "node2", NULL, 0, 0, strong);
    add_vm(cdb, "web1", "high", 512, true);
    add_vm(cdb, "db1", "low", 512, false);
    assert_int_equal(cd_cdb_vm_by_name(cdb, "web1")->place.cpu.mode,
                     RES_CPU_CLUSTER);
    assert_int_equal(
        cd_cdb_cpu_baseline(cdb, base, sizeof(base), err, sizeof(err)), 0);
    assert_string_equal(base, "Westmere");

    assert_int_equal(cd_coord_new(&co), 0);
    cd_coord_confchg(co, m123, 3);
    deliver(co, cdb, 1, &(struct cd_co_msg){.type = CD_CO_RT_BEGIN}, NULL);
    snprintf(m.vm, sizeof(m.vm), "web1");
    snprintf(m.text, sizeof(m.text), "Westmere");
    deliver(co, cdb, 1, &m, NULL);
    deliver(co, cdb, 1, &(struct cd_co_msg){.type = CD_CO_RT_END}, NULL);
    announce(co, cdb, 2, NULL);
    announce(co, cdb, 3, NULL);
    assert_string_equal(cd_coord_vm_cpu(co, "web1"), "Westmere");
    assert_string_equal(cd_coord_vm_cpu(co, "db1"), "");

    /* the weaker node3 reports: the baseline falls, web1 keeps its */
    apply(cdb, CD_OP_SET_NODE_CPU, "node3", NULL, 0, 0, weak);
    assert_int_equal(
        cd_cdb_cpu_baseline(cdb, base, sizeof(base), err, sizeof(err)), 0);
    assert_string_equal(base, "Conroe");
    pv = cd_cdb_vm_by_name(cdb, "web1")->place;
    pv.node = 1;
    cd_coord_cpu_need(co, cdb, &pv);
    assert_string_equal(pv.cpu.model, "Westmere");
    pv = cd_cdb_vm_by_name(cdb, "db1")->place;
    cd_coord_cpu_need(co, cdb, &pv);
    assert_string_equal(pv.cpu.model, "Conroe");
    assert_int_equal(cd_coord_check_move(co, cdb, "web1", 3, CD_ACT_LIVE, NULL,
                                         NULL, err, sizeof(err)),
                     -RES_E_CPU);
    assert_non_null(strstr(err, "node3"));
    assert_non_null(strstr(err, "aes"));
    assert_int_equal(cd_coord_check_move(co, cdb, "web1", 2, CD_ACT_LIVE, NULL,
                                         NULL, err, sizeof(err)),
                     0);

    /* the administrator's baseline wins over the computed one */
    apply(cdb, CD_OP_SET_SETTING, "cpu-baseline", "Westmere", 0, 0, NULL);
    assert_int_equal(
        cd_cdb_cpu_baseline(cdb, base, sizeof(base), err, sizeof(err)), 0);
    assert_string_equal(base, "Westmere");
    assert_true(cd_cdb_node_lacks_baseline(cd_cdb_node_by_id(cdb, 3), base, why,
                                           sizeof(why)));
    assert_non_null(strstr(why, "aes"));
    assert_false(cd_cdb_node_lacks_baseline(cd_cdb_node_by_id(cdb, 2), base,
                                            why, sizeof(why)));
    pv = cd_cdb_vm_by_name(cdb, "db1")->place;
    cd_coord_cpu_need(co, cdb, &pv);
    assert_string_equal(pv.cpu.model, "Westmere");

    /* a move takes the fixed model along, through a re-announcement too */
    snprintf(req.vm, sizeof(req.vm), "web1");
    deliver(co, cdb, 2, &req, &eff);
    assert_false(eff.rejected);
    assert_int_equal(derive(co, cdb, m123, 3, out), 1);
    assert_int_equal(out[0].to, 2);
    publish(co, cdb, out, 1);
    a = cd_coord_active(co, "web1");
    assert_non_null(a);
    assert_string_equal(a->cpu, "Westmere");
    cd_coord_action_msg(a, &m);
    assert_string_equal(m.text, "Westmere");
    cd_coord_free(co);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msg_roundtrip),
        cmocka_unit_test(test_wait_for_announcements),
        cmocka_unit_test(test_lease_holder),
        cmocka_unit_test(test_paused_io_error),
        cmocka_unit_test(test_start_stop_idempotent),
        cmocka_unit_test(test_move_request),
        cmocka_unit_test(test_cpu_fixed),
        cmocka_unit_test(test_failover_rederive),
        cmocka_unit_test(test_source_lost_mid_migration),
        cmocka_unit_test(test_health_restart),
        cmocka_unit_test(test_drain_waves_and_fallback),
        cmocka_unit_test(test_manual_start_request),
        cmocka_unit_test(test_move_queue),
        cmocka_unit_test(test_start_retry),
        cmocka_unit_test(test_retry_storage_back),
        cmocka_unit_test(test_wait_priority),
        cmocka_unit_test(test_clusterd_crash_not_node_failure),
    };
    char dir[4096];
    const char *src = getenv("KVMC_SRCDIR");

    snprintf(dir, sizeof(dir), "%s/schemas", src ? src : "../..");
    setenv("KVMC_SCHEMADIR", dir, 0);
    cd_err_register();
    res_err_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
