/* The record lunbridge's supervisor hands from one worker to the next:
 * inode numbers stay with their LUN ids whatever order a new worker finds
 * the LUNs in, and FUSE_INIT is kept for replay only once answered. */
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

#include "iscsi/isc-int.h"

static struct isc_handoff *fresh(void)
{
    struct isc_handoff *h = malloc(sizeof(*h));

    assert_non_null(h);
    memset(h, 0xa5, sizeof(*h)); /* what a new memfd is not: all zero */
    isc_handoff_reset(h);
    return h;
}

static void test_check(void **state)
{
    struct isc_handoff *h = fresh();

    (void)state;
    assert_int_equal(isc_handoff_check(h), 0);
    assert_int_equal(h->nluns, 0);
    assert_false(isc_handoff_init_answered(h));
    h->version = ISC_HANDOFF_VERSION + 1;
    assert_int_equal(isc_handoff_check(h), -EPROTO);
    isc_handoff_reset(h);
    h->magic = 0;
    assert_int_equal(isc_handoff_check(h), -EPROTO);
    isc_handoff_reset(h);
    h->nluns = ISC_HANDOFF_MAX_LUNS + 1;
    assert_int_equal(isc_handoff_check(h), -EPROTO);
    isc_handoff_reset(h);
    h->init_reply_len = ISC_HANDOFF_INIT_MAX + 1;
    assert_int_equal(isc_handoff_check(h), -EPROTO);
    free(h);
}

static void test_ino_stable(void **state)
{
    struct isc_handoff *h = fresh();
    uint64_t a, b, c, x;

    (void)state;
    /* First worker: found in this order. */
    assert_int_equal(isc_handoff_ino(h, "naa.01", &a), 0);
    assert_int_equal(isc_handoff_ino(h, "naa.02", &b), 0);
    assert_int_equal(a, 2);
    assert_int_equal(b, 3);
    /* Next worker: finds them the other way round, plus a new one. */
    assert_int_equal(isc_handoff_ino(h, "naa.03", &c), 0);
    assert_int_equal(c, 4);
    assert_int_equal(isc_handoff_ino(h, "naa.02", &x), 0);
    assert_int_equal(x, b);
    assert_int_equal(isc_handoff_ino(h, "naa.01", &x), 0);
    assert_int_equal(x, a);
    assert_int_equal(h->nluns, 3);
    assert_string_equal(h->ids[0], "naa.01");
    assert_int_equal(isc_handoff_check(h), 0);
    free(h);
}

static void test_ino_full(void **state)
{
    struct isc_handoff *h = fresh();
    char id[32];
    uint64_t ino = 0, keep = 7;
    int i;

    (void)state;
    for (i = 0; i < ISC_HANDOFF_MAX_LUNS; i++) {
        snprintf(id, sizeof(id), "naa.%04x", i);
        assert_int_equal(isc_handoff_ino(h, id, &ino), 0);
        assert_int_equal(ino, 2 + (uint64_t)i);
    }
    keep = ino;
    assert_int_equal(isc_handoff_ino(h, "naa.full", &ino), -ENOSPC);
    assert_int_equal(ino, keep); /* not written on failure */
    /* Known ids still resolve. */
    assert_int_equal(isc_handoff_ino(h, "naa.0000", &ino), 0);
    assert_int_equal(ino, 2);
    free(h);
}

static void test_ino_long_id(void **state)
{
    struct isc_handoff *h = fresh();
    char id[ISC_ID_MAX + 1];
    uint64_t ino = 5;

    (void)state;
    memset(id, 'a', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    assert_int_equal(isc_handoff_ino(h, id, &ino), -ENAMETOOLONG);
    assert_int_equal(ino, 5);
    assert_int_equal(h->nluns, 0);
    free(h);
}

static void test_init_sequence(void **state)
{
    struct isc_handoff *h = fresh();
    uint8_t req[80], reply[96], big[ISC_HANDOFF_INIT_MAX + 1];

    (void)state;
    memset(req, 1, sizeof(req));
    memset(reply, 2, sizeof(reply));
    /* No request yet: nothing to answer. */
    assert_int_equal(isc_handoff_save_init_reply(h, 2, reply, sizeof(reply)),
                     -ENOENT);
    assert_int_equal(isc_handoff_save_init(h, 2, req, sizeof(req)), 0);
    assert_int_equal(h->init_req_len, sizeof(req));
    assert_false(isc_handoff_init_answered(h));
    /* Another request's answer is not INIT's. */
    assert_int_equal(isc_handoff_save_init_reply(h, 4, reply, sizeof(reply)),
                     -ENOENT);
    assert_false(isc_handoff_init_answered(h));
    assert_int_equal(isc_handoff_save_init_reply(h, 2, big, sizeof(big)),
                     -EMSGSIZE);
    assert_int_equal(isc_handoff_save_init_reply(h, 2, reply, sizeof(reply)),
                     0);
    assert_true(isc_handoff_init_answered(h));
    assert_memory_equal(h->init_reply, reply, sizeof(reply));
    /* Answered once: a second answer is not kept. */
    assert_int_equal(isc_handoff_save_init_reply(h, 2, req, sizeof(req)),
                     -ENOENT);
    assert_memory_equal(h->init_reply, reply, sizeof(reply));
    assert_int_equal(isc_handoff_check(h), 0);
    free(h);
}

static void test_init_resent(void **state)
{
    struct isc_handoff *h = fresh();
    uint8_t req[64] = {3}, reply[80] = {4};
    const uint64_t resent = 2 | (1ull << 63);

    (void)state;
    /* The first worker took INIT and died unanswered; the kernel sends it
     * again under the resend bit: that one is what counts. */
    assert_int_equal(isc_handoff_save_init(h, 2, req, sizeof(req)), 0);
    assert_int_equal(isc_handoff_save_init(h, resent, req, sizeof(req)), 0);
    assert_int_equal(h->init_unique, resent);
    assert_int_equal(isc_handoff_save_init_reply(h, 2, reply, sizeof(reply)),
                     -ENOENT);
    assert_int_equal(
        isc_handoff_save_init_reply(h, resent, reply, sizeof(reply)), 0);
    assert_true(isc_handoff_init_answered(h));
    assert_int_equal(isc_handoff_save_init(h, 2, req, 0), -EMSGSIZE);
    assert_true(isc_handoff_init_answered(h));
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_ino_stable),
        cmocka_unit_test(test_ino_full),
        cmocka_unit_test(test_ino_long_id),
        cmocka_unit_test(test_init_sequence),
        cmocka_unit_test(test_init_resent),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
