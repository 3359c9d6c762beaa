/* The replication state machine over a simulated CPG: per-sender FIFO
 * outboxes merged into one agreed order at random (seeded), configuration
 * changes per partition, quorum = strict majority of the cluster. Checks
 * that every member ends with the same (epoch, digest) after changes,
 * partitions, heals and restarts, with OPs racing the sync. */
#include "config.h"

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "clusterd/cd-replica.h"

#define NMAX 16

struct msg {
    uint32_t from;
    void *buf;
    size_t len;
    struct msg *next;
};

struct sim;

struct node {
    struct sim *sim;
    uint32_t id;
    int group; /* partition; -1 = down */
    struct cd_replica *r;
    struct msg *out_head, **out_tail; /* sent, not yet ordered */
    int applied_ok, applied_err, changed, adopted;
    bool old; /* its STATE says version 1, as a clusterd of before v2 */
};

struct sim {
    int n;
    struct node nodes[NMAX];
    unsigned seed;
};

static const char *schema_path(void)
{
    static char path[PATH_MAX];
    const char *src = getenv("KVMC_SRCDIR");

    snprintf(path, sizeof(path), "%s/schemas/cdb.rng", src ? src : ".");
    return path;
}

static int sim_send(void *data, const void *buf, size_t len)
{
    struct node *nd = data;
    struct msg *m = calloc(1, sizeof(*m));

    assert_non_null(m);
    m->from = nd->id;
    m->buf = malloc(len);
    memcpy(m->buf, buf, len);
    if (nd->old && cd_repl_kind(buf, len) == CD_REPL_STATE) {
        /* max_version, u16 LE after magic and version */
        ((uint8_t *)m->buf)[6] = 1;
        ((uint8_t *)m->buf)[7] = 0;
    }
    m->len = len;
    *nd->out_tail = m;
    nd->out_tail = &m->next;
    return 0;
}

static void sim_applied(void *data, uint32_t origin, const struct cd_op *op,
                        int rc, const char *err)
{
    struct node *nd = data;

    if (origin != nd->id)
        return;
    if (rc == 0)
        nd->applied_ok++;
    else
        nd->applied_err++;
}

static void sim_changed(void *data)
{
    ((struct node *)data)->changed++;
}

static void sim_synced(void *data, bool adopted, uint32_t winner)
{
    if (adopted)
        ((struct node *)data)->adopted++;
}

static const struct cd_replica_ops sim_ops = {
    .send = sim_send,
    .applied = sim_applied,
    .changed = sim_changed,
    .synced = sim_synced,
};

static void node_start(struct sim *s, int i, struct cd_cdb *cdb)
{
    struct node *nd = &s->nodes[i];

    if (!cdb)
        assert_int_equal(cd_cdb_new(&cdb), 0);
    nd->sim = s;
    nd->id = (uint32_t)(i + 1);
    nd->out_head = NULL;
    nd->out_tail = &nd->out_head;
    assert_int_equal(
        cd_replica_new(nd->id, cdb, schema_path(), &sim_ops, nd, &nd->r), 0);
    /* Small chunks: every snapshot spans many messages. */
    cd_replica_set_chunk_size(nd->r, 97);
}

static void drop_outbox(struct node *nd)
{
    while (nd->out_head) {
        struct msg *m = nd->out_head;
        nd->out_head = m->next;
        free(m->buf);
        free(m);
    }
    nd->out_tail = &nd->out_head;
}

static void sim_init(struct sim *s, int n, unsigned seed)
{
    memset(s, 0, sizeof(*s));
    s->n = n;
    s->seed = seed;
    srand(seed);
    for (int i = 0; i < n; i++) {
        node_start(s, i, NULL);
        s->nodes[i].group = 0;
    }
}

static void sim_fini(struct sim *s)
{
    for (int i = 0; i < s->n; i++) {
        drop_outbox(&s->nodes[i]);
        cd_replica_free(s->nodes[i].r);
    }
}

static int group_size(struct sim *s, int g)
{
    int k = 0;

    for (int i = 0; i < s->n; i++)
        k += s->nodes[i].group == g;
    return k;
}

/* Configuration change for every group: pending messages of the old
 * configuration are delivered first (virtual synchrony), then each member
 * of each group sees its group's member list. */
static void sim_deliver_all(struct sim *s);

static void sim_confchg(struct sim *s)
{
    sim_deliver_all(s);
    for (int i = 0; i < s->n; i++) {
        struct node *nd = &s->nodes[i];
        uint32_t members[NMAX];
        size_t k = 0;

        if (nd->group < 0)
            continue;
        for (int j = 0; j < s->n; j++)
            if (s->nodes[j].group == nd->group)
                members[k++] = s->nodes[j].id;
        cd_replica_set_quorate(nd->r, group_size(s, nd->group) > s->n / 2);
        cd_replica_confchg(nd->r, members, k);
    }
}

/* Orders one message of a random sender that has something to send and
 * delivers it to the sender's group. Returns false when all is quiet. */
static bool sim_step(struct sim *s)
{
    int cand[NMAX], k = 0;
    struct node *from;
    struct msg *m;

    for (int i = 0; i < s->n; i++)
        if (s->nodes[i].out_head)
            cand[k++] = i;
    if (!k)
        return false;
    from = &s->nodes[cand[rand() % k]];
    m = from->out_head;
    from->out_head = m->next;
    if (!from->out_head)
        from->out_tail = &from->out_head;
    for (int j = 0; j < s->n; j++)
        if (s->nodes[j].group == from->group && from->group >= 0)
            cd_replica_deliver(s->nodes[j].r, m->from, m->buf, m->len);
    free(m->buf);
    free(m);
    return true;
}

static void sim_deliver_all(struct sim *s)
{
    while (sim_step(s))
        ;
}

static struct cd_op set_op(const char *key, const char *value)
{
    struct cd_op op = {.type = CD_OP_SET_SETTING};

    snprintf(op.name, sizeof(op.name), "%s", key);
    snprintf(op.arg, sizeof(op.arg), "%s", value);
    return op;
}

/* A random valid change from a random node that accepts it; returns the
 * submit result. */
static int random_change(struct sim *s, int i)
{
    static const char *const keys[] = {"max-passes", "migration-bandwidth",
                                       "migration-max-concurrent"};
    char v[16];
    struct cd_op op;

    snprintf(v, sizeof(v), "%d", 1 + rand() % 16);
    op = set_op(keys[rand() % 3], v);
    if (rand() % 4 == 0) {
        /* VMs too, so snapshots carry text. */
        op = (struct cd_op){.type = CD_OP_ADD_VM};
        snprintf(op.name, sizeof(op.name), "vm%d", rand() % 1000);
        snprintf(op.arg, sizeof(op.arg), "low");
        op.text = (char *)"<vm>\n  <memory>64</memory>\n</vm>";
    }
    return cd_replica_submit(s->nodes[i].r, &op, NULL);
}

static void assert_converged(struct sim *s, int group)
{
    const struct cd_cdb *ref = NULL;

    for (int i = 0; i < s->n; i++) {
        struct node *nd = &s->nodes[i];
        const struct cd_cdb *c;

        if (nd->group != group)
            continue;
        assert_int_equal(cd_replica_phase(nd->r), CD_SYNC_DONE);
        c = cd_replica_cdb(nd->r);
        if (!ref) {
            ref = c;
            continue;
        }
        if (cd_cdb_epoch(c) != cd_cdb_epoch(ref) ||
            memcmp(cd_cdb_digest(c), cd_cdb_digest(ref), CD_DIGEST_LEN))
            fail_msg("seed %u: node %u epoch %llu differs from epoch %llu",
                     s->seed, nd->id, (unsigned long long)cd_cdb_epoch(c),
                     (unsigned long long)cd_cdb_epoch(ref));
    }
}

static void test_form_and_change(void **state)
{
    struct sim s;
    struct cd_op op = set_op("quorum-grace", "30s");

    sim_init(&s, 3, 1);
    /* Before the first configuration change: not in a group. */
    assert_int_equal(cd_replica_submit(s.nodes[0].r, &op, NULL),
                     -CD_E_NO_CLUSTER);
    sim_confchg(&s);
    sim_deliver_all(&s);
    assert_converged(&s, 0);
    /* All empty and equal: nobody sent a snapshot. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(cd_replica_stats(s.nodes[i].r)->snapshots_sent, 0);
    assert_int_equal(cd_replica_coordinator(s.nodes[2].r), 1);

    assert_int_equal(cd_replica_submit(s.nodes[0].r, &op, NULL), 0);
    /* Applied on delivery, not on submit. */
    assert_int_equal(cd_cdb_epoch(cd_replica_cdb(s.nodes[0].r)), 0);
    sim_deliver_all(&s);
    assert_converged(&s, 0);
    assert_int_equal(cd_cdb_epoch(cd_replica_cdb(s.nodes[2].r)), 1);
    assert_string_equal(
        cd_cdb_setting(cd_replica_cdb(s.nodes[2].r), "quorum-grace"), "30000");
    assert_int_equal(s.nodes[0].applied_ok, 1);

    /* A rejected change is rejected everywhere, epoch unchanged. */
    op = set_op("max-passes", "1000");
    assert_int_equal(cd_replica_submit(s.nodes[1].r, &op, NULL), 0);
    sim_deliver_all(&s);
    assert_converged(&s, 0);
    assert_int_equal(s.nodes[1].applied_err, 1);
    assert_int_equal(cd_cdb_epoch(cd_replica_cdb(s.nodes[0].r)), 1);
    sim_fini(&s);
}

static void test_garbage_is_ignored(void **state)
{
    struct sim s;

    sim_init(&s, 2, 2);
    sim_confchg(&s);
    sim_deliver_all(&s);
    sim_send(&s.nodes[0], "KCOPxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 32);
    sim_send(&s.nodes[0], "zz", 2);
    sim_deliver_all(&s);
    assert_converged(&s, 0);
    assert_int_equal(cd_cdb_epoch(cd_replica_cdb(s.nodes[1].r)), 0);
    assert_int_equal(cd_replica_stats(s.nodes[1].r)->bad_messages, 2);
    sim_fini(&s);
}

/* Minority refuses writes; after heal the majority's copy wins. */
static void test_partition_heal(void **state)
{
    struct sim s;
    struct cd_op op = set_op("max-passes", "7");

    sim_init(&s, 3, 3);
    sim_confchg(&s);
    sim_deliver_all(&s);
    s.nodes[2].group = 1;
    sim_confchg(&s);
    sim_deliver_all(&s);
    assert_int_equal(cd_replica_submit(s.nodes[2].r, &op, NULL),
                     -CD_E_NO_QUORUM);
    assert_int_equal(cd_replica_coordinator(s.nodes[2].r), 0);
    assert_int_equal(cd_replica_submit(s.nodes[1].r, &op, NULL), 0);
    sim_deliver_all(&s);
    assert_int_equal(cd_cdb_epoch(cd_replica_cdb(s.nodes[0].r)), 1);
    assert_int_equal(cd_cdb_epoch(cd_replica_cdb(s.nodes[2].r)), 0);

    s.nodes[2].group = 0;
    sim_confchg(&s);
    sim_deliver_all(&s);
    assert_converged(&s, 0);
    assert_int_equal(s.nodes[2].adopted, 1);
    assert_int_equal(s.nodes[0].adopted, 0);
    assert_string_equal(
        cd_cdb_setting(cd_replica_cdb(s.nodes[2].r), "max-passes"), "7");
    sim_fini(&s);
}

/* The highest epoch wins even from the lowest nodeid; a restarted node
 * with an empty copy takes the cluster's. */
static void test_restart_takes_cluster_copy(void **state)
{
    struct sim s;

    sim_init(&s, 3, 4);
    sim_confchg(&s);
    sim_deliver_all(&s);
    for (int k = 0; k < 5; k++) {
        assert_int_equal(random_change(&s, k % 3), 0);
        sim_deliver_all(&s);
    }
    /* node1 crashes and restarts empty. */
    s.nodes[0].group = -1;
    drop_outbox(&s.nodes[0]);
    sim_confchg(&s);
    cd_replica_free(s.nodes[0].r);
    node_start(&s, 0, NULL);
    s.nodes[0].group = 0;
    sim_confchg(&s);
    sim_deliver_all(&s);
    assert_converged(&s, 0);
    assert_int_equal(cd_cdb_epoch(cd_replica_cdb(s.nodes[0].r)), 5);
    assert_int_equal(s.nodes[0].adopted, 1);
    sim_fini(&s);
}

/* Random changes race configuration changes and snapshot transfers;
 * after each quiet period every group has one copy. Many seeds. */
static void test_random_races(void **state)
{
    uint64_t buffered = 0, taken = 0;

    for (unsigned seed = 100; seed < 400; seed++) {
        struct sim s;
        int n = 3 + seed % 6;

        sim_init(&s, n, seed);
        sim_confchg(&s);
        for (int round = 0; round < 6; round++) {
            /* Partition: each node in group 0 or 1 at random. */
            for (int i = 0; i < n; i++)
                s.nodes[i].group = round == 5 ? 0 : rand() % 2;
            sim_confchg(&s);
            /* Interleave submissions with deliveries, so OPs land
             * before, between and after STATEs and SYNC chunks. */
            for (int k = 0; k < 40; k++) {
                if (rand() % 3 == 0)
                    random_change(&s, rand() % n); /* may be refused */
                sim_step(&s);
            }
            sim_deliver_all(&s);
            assert_converged(&s, 0);
            assert_converged(&s, 1);
        }
        assert_converged(&s, 0);
        for (int i = 0; i < n; i++) {
            buffered += cd_replica_stats(s.nodes[i].r)->ops_buffered;
            taken += cd_replica_stats(s.nodes[i].r)->snapshots_taken;
        }
        sim_fini(&s);
    }
    /* The races this test is about did happen. */
    print_message("300 runs: %llu snapshots adopted, %llu OPs buffered "
                  "during transfers\n",
                  (unsigned long long)taken, (unsigned long long)buffered);
    assert_true(buffered > 0 && taken > 0);
}

/* 16 members, 20 random changes from random members. */
static void test_sixteen(void **state)
{
    struct sim s;
    int ok = 0;

    sim_init(&s, 16, 16);
    sim_confchg(&s);
    sim_deliver_all(&s);
    for (int k = 0; k < 20; k++)
        ok += random_change(&s, rand() % 16) == 0;
    sim_deliver_all(&s);
    assert_int_equal(ok, 20);
    assert_converged(&s, 0);
    sim_fini(&s);
}

/* A configuration without ourselves (after our own leave) takes us out of
 * the group instead of waiting for our own STATE. */
static void test_self_not_member(void **state)
{
    struct sim s;
    uint32_t others[] = {2, 3};
    struct cd_op op = set_op("max-passes", "4");

    sim_init(&s, 3, 5);
    sim_confchg(&s);
    sim_deliver_all(&s);
    cd_replica_confchg(s.nodes[0].r, others, 2);
    assert_int_equal(cd_replica_phase(s.nodes[0].r), CD_SYNC_NONE);
    assert_int_equal(cd_replica_submit(s.nodes[0].r, &op, NULL),
                     -CD_E_NO_CLUSTER);
    sim_fini(&s);
}

/* A member that speaks version 1 is named until it is upgraded; the round
 * still completes (the snapshot goes out in version 1). */
static void test_members_below(void **state)
{
    struct sim s;
    struct cd_op op = set_op("max-passes", "7");
    uint32_t old[4];

    (void)state;
    sim_init(&s, 3, 5);
    s.nodes[1].old = true;
    sim_confchg(&s);
    sim_deliver_all(&s);
    assert_converged(&s, 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(
            cd_replica_members_below(s.nodes[i].r, CD_REPLICA_V_VM_REF, old, 4),
            1);
        assert_int_equal(old[0], 2);
        assert_int_equal(cd_replica_members_below(s.nodes[i].r, 1, old, 4), 0);
    }
    /* A partition: node 3 alone diverges, the heal syncs it from a
     * winner while node 2 still speaks version 1. */
    s.nodes[2].group = 1;
    sim_confchg(&s);
    sim_deliver_all(&s);
    assert_int_equal(cd_replica_submit(s.nodes[0].r, &op, NULL), 0);
    sim_deliver_all(&s);
    s.nodes[2].group = 0;
    sim_confchg(&s);
    sim_deliver_all(&s);
    assert_converged(&s, 0);
    assert_string_equal(
        cd_cdb_setting(cd_replica_cdb(s.nodes[2].r), "max-passes"), "7");
    /* Node 2 upgraded (it rejoins speaking version 2): nobody is named. */
    s.nodes[1].old = false;
    sim_confchg(&s);
    assert_int_equal(
        cd_replica_members_below(s.nodes[0].r, CD_REPLICA_V_VM_REF, old, 4),
        3); /* mid-round: every member counts */
    sim_deliver_all(&s);
    for (int i = 0; i < 3; i++)
        assert_int_equal(
            cd_replica_members_below(s.nodes[i].r, CD_REPLICA_V_VM_REF, old, 4),
            0);
    sim_fini(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_form_and_change),
        cmocka_unit_test(test_garbage_is_ignored),
        cmocka_unit_test(test_partition_heal),
        cmocka_unit_test(test_restart_takes_cluster_copy),
        cmocka_unit_test(test_random_races),
        cmocka_unit_test(test_sixteen),
        cmocka_unit_test(test_self_not_member),
        cmocka_unit_test(test_members_below),
    };

    cd_err_register();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
