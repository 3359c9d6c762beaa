/* Quarantine in the CDB: daemon failures counted within the period, the
 * threshold and duration settings, resume and expiry, persistence. */
#include "config.h"

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "clusterd/cd.h"

#define T0 1700000000ull

static const char *schema_path(void)
{
    static char path[PATH_MAX];
    const char *src = getenv("KVMC_SRCDIR");

    snprintf(path, sizeof(path), "%s/schemas/cdb.rng", src ? src : ".");
    return path;
}

static int apply(struct cd_cdb *cdb, enum cd_op_type t, const char *name,
                 const char *arg, uint64_t number)
{
    struct cd_op op = {.type = t, .number = number};
    char err[256];

    snprintf(op.name, sizeof(op.name), "%s", name);
    snprintf(op.arg, sizeof(op.arg), "%s", arg ? arg : "");
    if (t == CD_OP_ADD_NODE)
        op.nodeid = 1;
    return cd_cdb_apply(cdb, &op, err, sizeof(err));
}

static struct cd_cdb *one_node(void)
{
    struct cd_cdb *cdb = NULL;

    assert_int_equal(cd_cdb_new(&cdb), 0);
    assert_int_equal(apply(cdb, CD_OP_ADD_NODE, "n1", "198.18.0.11", 2048), 0);
    return cdb;
}

static const struct cd_node *n1(const struct cd_cdb *cdb)
{
    return cd_cdb_node_by_name(cdb, "n1");
}

static void failure(struct cd_cdb *cdb, uint64_t t)
{
    assert_int_equal(apply(cdb, CD_OP_NODE_FAILURE, "n1",
                           "hvagent exited (connection lost)", t),
                     0);
}

static void test_three_in_an_hour(void **state)
{
    struct cd_cdb *cdb = one_node();

    (void)state;
    failure(cdb, T0);
    failure(cdb, T0 + 600);
    assert_int_equal(n1(cdb)->state, CD_NODE_UP);
    assert_int_equal(n1(cdb)->nfailures, 2);
    failure(cdb, T0 + 3599);
    assert_int_equal(n1(cdb)->state, CD_NODE_QUARANTINED);
    /* Default duration 2 h from the failure that tipped it. */
    assert_int_equal(n1(cdb)->quarantined_until, T0 + 3599 + 7200);
    assert_non_null(strstr(n1(cdb)->reason, "3 daemon failures"));
    assert_non_null(strstr(n1(cdb)->reason, "hvagent exited"));
    assert_int_equal(cd_node_recent_failures(n1(cdb), T0 + 3599), 3);
    assert_int_equal(cd_node_recent_failures(n1(cdb), T0 + 3600), 2);
    /* More failures while quarantined don't extend it. */
    failure(cdb, T0 + 4000);
    assert_int_equal(n1(cdb)->quarantined_until, T0 + 3599 + 7200);
    cd_cdb_free(cdb);
}

static void test_window_forgets_old_failures(void **state)
{
    struct cd_cdb *cdb = one_node();

    (void)state;
    failure(cdb, T0);
    failure(cdb, T0 + 1800);
    /* The first is exactly an hour old: out of the period. */
    failure(cdb, T0 + 3600);
    assert_int_equal(n1(cdb)->state, CD_NODE_UP);
    assert_int_equal(n1(cdb)->nfailures, 2);
    failure(cdb, T0 + 5500); /* T0+1800 is out now, T0+3600 in */
    assert_int_equal(n1(cdb)->state, CD_NODE_UP);
    assert_int_equal(n1(cdb)->nfailures, 2);
    cd_cdb_free(cdb);
}

static void test_settings(void **state)
{
    struct cd_cdb *cdb = one_node();

    (void)state;
    assert_int_equal(
        apply(cdb, CD_OP_SET_SETTING, "quarantine-failures", "2", 0), 0);
    assert_int_equal(
        apply(cdb, CD_OP_SET_SETTING, "quarantine-duration", "10m", 0), 0);
    failure(cdb, T0);
    failure(cdb, T0 + 5);
    assert_int_equal(n1(cdb)->state, CD_NODE_QUARANTINED);
    assert_int_equal(n1(cdb)->quarantined_until, T0 + 5 + 600);
    cd_cdb_free(cdb);
}

static void test_drained_only_counts(void **state)
{
    struct cd_cdb *cdb = one_node();

    (void)state;
    assert_int_equal(apply(cdb, CD_OP_SET_NODE_STATE, "n1", "drained", 0), 0);
    failure(cdb, T0);
    failure(cdb, T0 + 1);
    failure(cdb, T0 + 2);
    assert_int_equal(n1(cdb)->state, CD_NODE_DRAINED);
    assert_int_equal(n1(cdb)->nfailures, 3);
    assert_int_equal(n1(cdb)->quarantined_until, 0);
    cd_cdb_free(cdb);
}

static void test_resume_and_expiry(void **state)
{
    struct cd_cdb *cdb = one_node();
    uint64_t until, epoch;

    (void)state;
    for (int i = 0; i < 3; i++)
        failure(cdb, T0 + (uint64_t)i);
    until = n1(cdb)->quarantined_until;
    /* Expiry names the quarantine it ends: a stale one changes nothing. */
    epoch = cd_cdb_epoch(cdb);
    assert_int_equal(apply(cdb, CD_OP_SET_NODE_STATE, "n1", "up", until + 1),
                     -CD_E_BAD_VALUE);
    assert_int_equal(cd_cdb_epoch(cdb), epoch);
    assert_int_equal(n1(cdb)->state, CD_NODE_QUARANTINED);
    assert_int_equal(apply(cdb, CD_OP_SET_NODE_STATE, "n1", "up", until), 0);
    assert_int_equal(n1(cdb)->state, CD_NODE_UP);
    assert_int_equal(n1(cdb)->nfailures, 0);
    assert_int_equal(n1(cdb)->quarantined_until, 0);
    assert_string_equal(n1(cdb)->reason, "");

    /* node resume: a plain state change ends it early, clean record. */
    for (int i = 0; i < 3; i++)
        failure(cdb, T0 + 100 + (uint64_t)i);
    assert_int_equal(n1(cdb)->state, CD_NODE_QUARANTINED);
    assert_int_equal(apply(cdb, CD_OP_SET_NODE_STATE, "n1", "up", 0), 0);
    assert_int_equal(n1(cdb)->state, CD_NODE_UP);
    assert_int_equal(n1(cdb)->nfailures, 0);
    failure(cdb, T0 + 200);
    assert_int_equal(n1(cdb)->state, CD_NODE_UP);
    cd_cdb_free(cdb);
}

static void test_bad_input(void **state)
{
    struct cd_cdb *cdb = one_node();

    (void)state;
    assert_int_equal(apply(cdb, CD_OP_NODE_FAILURE, "nope", "x", T0),
                     -CD_E_NOT_FOUND);
    assert_int_equal(apply(cdb, CD_OP_NODE_FAILURE, "n1", "x", 0),
                     -CD_E_BAD_VALUE);
    assert_int_equal(n1(cdb)->nfailures, 0);
    cd_cdb_free(cdb);
}

/* Many failures: only the most recent CD_NODE_FAILURES_MAX are kept. */
static void test_many_failures(void **state)
{
    struct cd_cdb *cdb = one_node();

    (void)state;
    assert_int_equal(apply(cdb, CD_OP_SET_NODE_STATE, "n1", "paused", 0), 0);
    for (uint64_t i = 0; i < 20; i++)
        failure(cdb, T0 + i);
    assert_int_equal(n1(cdb)->nfailures, CD_NODE_FAILURES_MAX);
    assert_int_equal(n1(cdb)->failures[0], T0 + 20 - CD_NODE_FAILURES_MAX);
    cd_cdb_free(cdb);
}

/* The record survives serialization (disk, sync) and keeps the digest. */
static void test_roundtrip(void **state)
{
    struct cd_cdb *cdb = one_node(), *back = NULL;
    char *text = NULL, *text2 = NULL, err[512];
    size_t len, len2;

    (void)state;
    for (int i = 0; i < 3; i++)
        failure(cdb, T0 + (uint64_t)i);
    assert_int_equal(cd_cdb_serialize(cdb, &text, &len), 0);
    assert_non_null(strstr(text, "quarantined-until=\""));
    assert_int_equal(
        cd_cdb_parse(text, len, "test", schema_path(), &back, err, sizeof(err)),
        0);
    assert_int_equal(n1(back)->state, CD_NODE_QUARANTINED);
    assert_int_equal(n1(back)->nfailures, 3);
    assert_int_equal(n1(back)->failures[2], T0 + 2);
    assert_int_equal(n1(back)->quarantined_until, n1(cdb)->quarantined_until);
    assert_string_equal(n1(back)->reason, n1(cdb)->reason);
    assert_memory_equal(cd_cdb_digest(back), cd_cdb_digest(cdb), CD_DIGEST_LEN);
    assert_int_equal(cd_cdb_serialize(back, &text2, &len2), 0);
    assert_string_equal(text, text2);
    free(text);
    free(text2);
    cd_cdb_free(back);
    cd_cdb_free(cdb);
}

/* A node with no record serializes as before (no new attributes). */
static void test_plain_node_unchanged(void **state)
{
    struct cd_cdb *cdb = one_node();
    char *text = NULL;
    size_t len;

    (void)state;
    assert_int_equal(cd_cdb_serialize(cdb, &text, &len), 0);
    assert_null(strstr(text, "failures=\""));
    assert_null(strstr(text, "quarantined-until"));
    assert_null(strstr(text, "reason="));
    free(text);
    cd_cdb_free(cdb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_in_an_hour),
        cmocka_unit_test(test_window_forgets_old_failures),
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_drained_only_counts),
        cmocka_unit_test(test_resume_and_expiry),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_many_failures),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_plain_node_unchanged),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
