/* Cluster messages from outside: STATE and SYNC truncated, oversized, of
 * an unknown version (or from a clusterd before versions), from the wrong
 * sender; OPs of an unknown version; a flood of OPs during a transfer;
 * ACTION, NODE_LOST and STEP from members not entitled to them; forwarded
 * requests (cd-fwd.h) truncated, with a byte too many, a bad crc, another
 * version or type, an embedded NUL. Every one is refused with the sender
 * named and nothing else changes. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "clusterd/cd-coord.h"
#include "clusterd/cd-fwd.h"
#include "clusterd/cd-replica.h"
#include "common/cmn-crc32c.h"
#include "common/cmn-le.h"

/* ------------------------------------------------------------ decoders */

static void state_bytes(uint8_t *buf, uint16_t version, uint64_t epoch)
{
    struct cd_state_msg m = {
        .version = version, .max_version = version, .epoch = epoch};

    memset(m.digest, 0xab, sizeof(m.digest));
    cd_state_msg_encode(&m, buf);
}

static void test_state_decode(void **state)
{
    uint8_t buf[CD_STATE_LEN + 8];
    struct cd_state_msg m;

    (void)state;
    state_bytes(buf, 1, 42);
    assert_int_equal(cd_state_msg_decode(buf, CD_STATE_LEN, &m), 0);
    assert_int_equal(m.epoch, 42);
    assert_int_equal(m.max_version, 1);
    /* Every truncation and one byte too many. */
    for (size_t len = 0; len < CD_STATE_LEN; len++)
        assert_true(cd_state_msg_decode(buf, len, &m) < 0);
    assert_int_equal(cd_state_msg_decode(buf, CD_STATE_LEN + 1, &m),
                     -CD_E_BAD_MSG);
    /* The 44-byte STATE of a clusterd from before versions. */
    assert_int_equal(cd_state_msg_decode(buf, 4 + 8 + CD_DIGEST_LEN, &m),
                     -CD_E_MSG_VERSION);
    /* A newer version, whatever its length. */
    state_bytes(buf, CD_REPLICA_VERSION + 1, 42);
    assert_int_equal(cd_state_msg_decode(buf, CD_STATE_LEN, &m),
                     -CD_E_MSG_VERSION);
    assert_int_equal(cd_state_msg_decode(buf, CD_STATE_LEN + 8, &m),
                     -CD_E_MSG_VERSION);
    state_bytes(buf, 0, 42);
    assert_int_equal(cd_state_msg_decode(buf, CD_STATE_LEN, &m),
                     -CD_E_MSG_VERSION);
}

static void sync_bytes(uint8_t *buf, uint16_t version, uint32_t total,
                       uint32_t off, size_t chunk)
{
    static const uint8_t data[64] = "<cdb/>";
    struct cd_sync_msg m = {.version = version,
                            .epoch = 3,
                            .total = total,
                            .offset = off,
                            .chunk = data,
                            .chunk_len = chunk};

    cd_sync_msg_encode(&m, buf);
}

static void test_sync_decode(void **state)
{
    uint8_t buf[CD_SYNC_HDR_LEN + 64];
    struct cd_sync_msg m;
    uint8_t *big;

    (void)state;
    sync_bytes(buf, 1, 10, 4, 6);
    assert_int_equal(cd_sync_msg_decode(buf, CD_SYNC_HDR_LEN + 6, &m), 0);
    assert_int_equal(m.total, 10);
    assert_int_equal(m.offset, 4);
    assert_int_equal(m.chunk_len, 6);
    for (size_t len = 0; len < CD_SYNC_HDR_LEN; len++)
        assert_true(cd_sync_msg_decode(buf, len, &m) < 0);
    /* The chunk runs past the total. */
    assert_int_equal(cd_sync_msg_decode(buf, CD_SYNC_HDR_LEN + 7, &m),
                     -CD_E_BAD_MSG);
    /* A total over the cap, and an offset past the total. */
    sync_bytes(buf, 1, CD_SYNC_TOTAL_MAX + 1, 0, 6);
    assert_int_equal(cd_sync_msg_decode(buf, CD_SYNC_HDR_LEN + 6, &m),
                     -CD_E_BAD_MSG);
    sync_bytes(buf, 1, 10, 11, 0);
    assert_int_equal(cd_sync_msg_decode(buf, CD_SYNC_HDR_LEN, &m),
                     -CD_E_BAD_MSG);
    /* A chunk over CD_SYNC_CHUNK_MAX. */
    big = calloc(1, CD_SYNC_HDR_LEN + CD_SYNC_CHUNK_MAX + 1);
    assert_non_null(big);
    sync_bytes(big, 1, CD_SYNC_CHUNK_MAX + 1, 0, 0);
    assert_int_equal(
        cd_sync_msg_decode(big, CD_SYNC_HDR_LEN + CD_SYNC_CHUNK_MAX + 1, &m),
        -CD_E_BAD_MSG);
    free(big);
    sync_bytes(buf, CD_REPLICA_VERSION + 1, 10, 0, 6);
    assert_int_equal(cd_sync_msg_decode(buf, CD_SYNC_HDR_LEN + 6, &m),
                     -CD_E_MSG_VERSION);
}

static void test_op_decode(void **state)
{
    struct cd_op op = {.type = CD_OP_SET_SETTING}, out;
    uint8_t *buf;
    size_t len;

    (void)state;
    snprintf(op.name, sizeof(op.name), "k");
    snprintf(op.arg, sizeof(op.arg), "v");
    assert_int_equal(cd_op_encode(&op, (void **)&buf, &len), 0);
    assert_int_equal(cd_op_decode(buf, len, &out), 0);
    cd_op_clear(&out);
    for (size_t l = 0; l < len; l++)
        assert_int_equal(cd_op_decode(buf, l, &out), -CD_E_BAD_MSG);
    cmn_put_le(buf + 4, 2, 2);
    assert_int_equal(cd_op_decode(buf, len, &out), -CD_E_MSG_VERSION);
    free(buf);
}

/* ------------------------------------------------------------ replica */

struct probe {
    uint32_t refused_from;
    int refused, desynced;
    char err[256];
};

static int probe_send(void *data, const void *buf, size_t len)
{
    (void)data, (void)buf, (void)len;
    return 0;
}

static void probe_refused(void *data, uint32_t sender, int rc, const char *err)
{
    struct probe *p = data;

    (void)rc;
    p->refused++;
    p->refused_from = sender;
    snprintf(p->err, sizeof(p->err), "%s", err);
}

static void probe_desync(void *data, const char *why)
{
    (void)why;
    ((struct probe *)data)->desynced++;
}

static const struct cd_replica_ops probe_ops = {
    .send = probe_send,
    .refused = probe_refused,
    .desync = probe_desync,
};

static struct cd_replica *replica_of_two(struct probe *p)
{
    struct cd_replica *r;
    struct cd_cdb *cdb;
    const uint32_t members[] = {1, 2};

    assert_int_equal(cd_cdb_new(&cdb), 0);
    assert_int_equal(cd_replica_new(1, cdb, NULL, &probe_ops, p, &r), 0);
    cd_replica_confchg(r, members, 2);
    return r;
}

/* A member speaking a newer version: refused and named, the round does
 * not complete (writes stay refused), nothing crashes. */
static void test_state_unknown_version(void **state)
{
    struct probe p = {0};
    struct cd_replica *r = replica_of_two(&p);
    uint8_t buf[CD_STATE_LEN];

    (void)state;
    state_bytes(buf, 1, 0);
    memcpy(buf + 16, cd_cdb_digest(cd_replica_cdb(r)), CD_DIGEST_LEN);
    cd_replica_deliver(r, 1, buf, sizeof(buf));
    state_bytes(buf, 7, 0);
    cd_replica_deliver(r, 2, buf, sizeof(buf));
    assert_int_equal(p.refused, 1);
    assert_int_equal(p.refused_from, 2);
    assert_non_null(strstr(p.err, "unknown protocol version"));
    assert_int_equal(cd_replica_phase(r), CD_SYNC_COLLECT);
    /* The same member's 44-byte STATE from before versions. */
    cd_replica_deliver(r, 2, buf, 4 + 8 + CD_DIGEST_LEN);
    assert_int_equal(p.refused, 2);
    assert_int_equal(cd_replica_phase(r), CD_SYNC_COLLECT);
    cd_replica_free(r);
}

/* Node 2 wins the round (higher epoch): only it may send SYNC; OPs
 * buffered meanwhile are capped, past the cap the member rejoins. */
static void test_transfer_sender_and_cap(void **state)
{
    struct probe p = {0};
    struct cd_replica *r = replica_of_two(&p);
    uint8_t buf[CD_STATE_LEN], sync[CD_SYNC_HDR_LEN + 8];
    struct cd_op op = {.type = CD_OP_SET_SETTING};
    uint8_t *ob;
    size_t olen;

    (void)state;
    state_bytes(buf, 1, 0);
    memcpy(buf + 16, cd_cdb_digest(cd_replica_cdb(r)), CD_DIGEST_LEN);
    cd_replica_deliver(r, 1, buf, sizeof(buf));
    state_bytes(buf, 1, 5);
    cd_replica_deliver(r, 2, buf, sizeof(buf));
    assert_int_equal(cd_replica_phase(r), CD_SYNC_TRANSFER);

    sync_bytes(sync, 1, 6, 0, 6);
    cd_replica_deliver(r, 1, sync, CD_SYNC_HDR_LEN + 6);
    assert_int_equal(p.refused, 1);
    assert_int_equal(p.refused_from, 1);
    assert_non_null(strstr(p.err, "node 2 is the winner"));
    /* From the winner but oversized: refused, still waiting. */
    sync_bytes(sync, 1, CD_SYNC_TOTAL_MAX + 1, 0, 6);
    cd_replica_deliver(r, 2, sync, CD_SYNC_HDR_LEN + 6);
    assert_int_equal(p.refused, 2);
    assert_int_equal(cd_replica_phase(r), CD_SYNC_TRANSFER);

    snprintf(op.name, sizeof(op.name), "k");
    snprintf(op.arg, sizeof(op.arg), "v");
    assert_int_equal(cd_op_encode(&op, (void **)&ob, &olen), 0);
    for (int i = 0; i < CD_SYNC_PENDING_MAX; i++)
        cd_replica_deliver(r, 2, ob, olen);
    assert_int_equal(p.desynced, 0);
    assert_int_equal(cd_replica_stats(r)->ops_buffered, CD_SYNC_PENDING_MAX);
    cd_replica_deliver(r, 2, ob, olen);
    assert_int_equal(p.desynced, 1);
    assert_int_equal(cd_replica_phase(r), CD_SYNC_NONE);
    /* Nothing applied from the dropped buffer. */
    assert_int_equal(cd_cdb_epoch(cd_replica_cdb(r)), 0);
    free(ob);
    cd_replica_free(r);
}

/* ------------------------------------------------------- entitlement */

static const uint32_t m123[] = {1, 2, 3};

static struct cd_co_msg action(uint64_t id, uint32_t from, uint32_t to)
{
    struct cd_co_msg m = {.type = CD_CO_ACTION,
                          .id = id,
                          .a = from,
                          .b = to,
                          .kind = CD_ACT_LIVE};

    snprintf(m.vm, sizeof(m.vm), "web1");
    return m;
}

static void deliver(struct cd_coord *co, uint32_t sender,
                    const struct cd_co_msg *m)
{
    struct cd_co_effect eff;
    char err[256];

    assert_int_equal(
        cd_coord_deliver(co, NULL, sender, m, &eff, err, sizeof(err)), 0);
}

static void test_entitled(void **state)
{
    struct cd_coord *co;
    struct cd_co_msg m, end = {.type = CD_CO_RT_END};
    char err[256];

    (void)state;
    assert_int_equal(cd_coord_new(&co), 0);
    cd_coord_confchg(co, m123, 3);
    for (uint32_t n = 1; n <= 3; n++)
        deliver(co, n, &end);

    /* A decision from node 2 (node 1 coordinates): refused, named. */
    m = action(7, 2, 3);
    assert_int_equal(cd_co_msg_entitled(co, m123, 3, 2, &m, err, sizeof(err)),
                     -CD_E_NOT_ENTITLED);
    assert_non_null(strstr(err, "from node 2"));
    assert_non_null(strstr(err, "coordinator (node 1)"));
    /* From the coordinator, naming a node that is not a member. */
    m = action(7, 2, 9);
    assert_int_equal(cd_co_msg_entitled(co, m123, 3, 1, &m, err, sizeof(err)),
                     -CD_E_NOT_ENTITLED);
    assert_non_null(strstr(err, "node 9, not a member"));
    /* From a node outside the group. */
    m = action(7, 2, 3);
    assert_int_equal(cd_co_msg_entitled(co, m123, 3, 4, &m, err, sizeof(err)),
                     -CD_E_NOT_ENTITLED);
    /* The coordinator's decision; then node 2 repeating it is fine. */
    assert_int_equal(cd_co_msg_entitled(co, m123, 3, 1, &m, err, sizeof(err)),
                     0);
    deliver(co, 1, &m);
    assert_int_equal(cd_co_msg_entitled(co, m123, 3, 2, &m, err, sizeof(err)),
                     0);

    /* LIVE step 0 is the target's (node 3): a STEP from node 2 is
     * refused, from node 3 accepted. */
    memset(&m, 0, sizeof(m));
    m.type = CD_CO_STEP;
    m.id = 7;
    m.cause = 0;
    assert_int_equal(cd_co_msg_entitled(co, m123, 3, 2, &m, err, sizeof(err)),
                     -CD_E_NOT_ENTITLED);
    assert_non_null(strstr(err, "node 3 executes"));
    assert_int_equal(cd_co_msg_entitled(co, m123, 3, 3, &m, err, sizeof(err)),
                     0);

    /* NODE_LOST only from the coordinator. */
    memset(&m, 0, sizeof(m));
    m.type = CD_CO_NODE_LOST;
    m.a = 5;
    assert_int_equal(cd_co_msg_entitled(co, m123, 3, 3, &m, err, sizeof(err)),
                     -CD_E_NOT_ENTITLED);
    assert_int_equal(cd_co_msg_entitled(co, m123, 3, 1, &m, err, sizeof(err)),
                     0);

    /* After a change, a member re-announcing an action the others may
     * not know is accepted until its RT_END. */
    cd_coord_confchg(co, m123, 3);
    m = action(99, 2, 3);
    assert_int_equal(cd_co_msg_entitled(co, m123, 3, 3, &m, err, sizeof(err)),
                     0);
    deliver(co, 3, &end);
    assert_int_equal(cd_co_msg_entitled(co, m123, 3, 3, &m, err, sizeof(err)),
                     -CD_E_NOT_ENTITLED);
    cd_coord_free(co);
}

/* A VM name with markup or shell characters from a member never reaches
 * the events and replies clusterd builds as XML. */
static void test_bad_names_refused(void **state)
{
    static const char *const names[] = {"web\"1", "<vm>",      "a&b",
                                        "x,y",    "$(reboot)", "-lead"};
    struct cd_coord *co;
    struct cd_co_msg m = {.type = CD_CO_RT_VM, .kind = CD_RT_RUNNING};
    char err[256];

    (void)state;
    assert_int_equal(cd_coord_new(&co), 0);
    cd_coord_confchg(co, m123, 3);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(m.vm, sizeof(m.vm), "%s", names[i]);
        assert_int_equal(
            cd_co_msg_entitled(co, m123, 3, 2, &m, err, sizeof(err)),
            -CD_E_BAD_MSG);
        assert_non_null(strstr(err, "not a valid VM or volume name"));
        assert_non_null(strstr(err, "node 2"));
    }
    snprintf(m.vm, sizeof(m.vm), "web1.b_c-2");
    assert_int_equal(cd_co_msg_entitled(co, m123, 3, 2, &m, err, sizeof(err)),
                     0);
    cd_coord_free(co);
}

/* ------------------------------------------------- forwarded requests */

static void test_fwd_msg(void **state)
{
    const char *req = "<request op=\"vm-disk\" action=\"add\" vm=\"web1\"/>";
    struct cd_fwd_msg m = {.type = CD_FWD_REQUEST, .to = 3, .id = 77},
                      out = {0};
    uint8_t *buf, *big;
    size_t len;
    char *huge;

    (void)state;
    m.text = (char *)req;
    assert_int_equal(cd_fwd_msg_encode(&m, (void **)&buf, &len), 0);
    assert_true(cd_fwd_msg_is_mine(buf, len));
    assert_int_equal(cd_fwd_msg_decode(buf, len, &out), 0);
    assert_int_equal(out.type, CD_FWD_REQUEST);
    assert_int_equal(out.to, 3);
    assert_int_equal(out.id, 77);
    assert_string_equal(out.text, req);
    free(out.text);
    /* Every truncation, and one byte too many. */
    for (size_t l = 0; l < len; l++)
        assert_true(cd_fwd_msg_decode(buf, l, &out) < 0);
    big = calloc(1, len + 1);
    assert_non_null(big);
    memcpy(big, buf, len);
    assert_int_equal(cd_fwd_msg_decode(big, len + 1, &out), -CD_E_BAD_MSG);
    free(big);
    /* A flipped byte of the text fails the crc. */
    buf[len - 1] ^= 1;
    assert_int_equal(cd_fwd_msg_decode(buf, len, &out), -CD_E_BAD_MSG);
    buf[len - 1] ^= 1;
    /* Another version: refused before the crc. */
    cmn_put_le16(buf + 4, 2);
    assert_int_equal(cd_fwd_msg_decode(buf, len, &out), -CD_E_MSG_VERSION);
    free(buf);
    /* An unknown type, to encode or decode. */
    m.type = CD_FWD_TYPE_END;
    assert_int_equal(cd_fwd_msg_encode(&m, (void **)&buf, &len), -CD_E_BAD_MSG);
    m.type = CD_FWD_ANSWER;
    assert_int_equal(cd_fwd_msg_encode(&m, (void **)&buf, &len), 0);
    cmn_put_le16(buf + 6, CD_FWD_TYPE_END);
    cmn_put_le32(buf + 8, cmn_crc32c(0, buf + CD_FWD_HDR, len - CD_FWD_HDR));
    assert_int_equal(cd_fwd_msg_decode(buf, len, &out), -CD_E_BAD_MSG);
    /* An embedded NUL, with a good crc. */
    cmn_put_le16(buf + 6, CD_FWD_ANSWER);
    buf[CD_FWD_HDR + CD_FWD_FIXED + 3] = '\0';
    cmn_put_le32(buf + 8, cmn_crc32c(0, buf + CD_FWD_HDR, len - CD_FWD_HDR));
    assert_int_equal(cd_fwd_msg_decode(buf, len, &out), -CD_E_BAD_MSG);
    free(buf);
    /* A text at the cap is not sent. */
    huge = malloc(CD_FWD_TEXT_MAX + 1);
    assert_non_null(huge);
    memset(huge, 'x', CD_FWD_TEXT_MAX);
    huge[CD_FWD_TEXT_MAX] = '\0';
    m.text = huge;
    assert_int_equal(cd_fwd_msg_encode(&m, (void **)&buf, &len), -CD_E_BAD_MSG);
    free(huge);
    /* Not one of these: left to the other decoders. */
    assert_false(cd_fwd_msg_is_mine("KCOP", 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_decode),
        cmocka_unit_test(test_fwd_msg),
        cmocka_unit_test(test_sync_decode),
        cmocka_unit_test(test_op_decode),
        cmocka_unit_test(test_state_unknown_version),
        cmocka_unit_test(test_transfer_sender_and_cap),
        cmocka_unit_test(test_entitled),
        cmocka_unit_test(test_bad_names_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
