/* QMP framing and classification on canned QEMU output; replies a caller
 * forgot (hva_qmp_forget) never reach it. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "hvagent/hva-int.h"

static const char greeting[] =
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, "
    "\"major\": 7}, \"package\": \"Debian\"}, \"capabilities\": [\"oob\"]}}"
    "\r\n";
static const char stream[] =
    "{\"return\": {}, \"id\": 1}\r\n"
    "{\"timestamp\": {\"seconds\": 1795304463, \"microseconds\": 500656}, "
    "\"event\": \"STOP\"}\r\n"
    "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": "
    "\"MIGRATION\", \"data\": {\"status\": \"pre-switchover\"}}\r\n"
    "{\"error\": {\"class\": \"GenericError\", \"desc\": \"No migration in "
    "progress\"}, \"id\": 7}\r\n"
    "{\"return\": {\"status\": \"active\", \"ram\": {\"transferred\": "
    "123456789012, \"dirty-sync-count\": 3}}, \"id\": 8}\r\n";

static void feed_all(struct hva_qmp_parser *p, const char *text, size_t step)
{
    size_t len = strlen(text);

    for (size_t off = 0; off < len; off += step) {
        size_t n = len - off < step ? len - off : step;
        assert_int_equal(hva_qmp_parser_feed(p, text + off, n), 0);
    }
}

static void check_stream(struct hva_qmp_parser *p)
{
    struct hva_qmp_msg m;
    json_object *o, *v;

    o = hva_qmp_parser_next(p);
    assert_non_null(o);
    assert_int_equal(hva_qmp_classify(o, &m), 0);
    assert_int_equal(m.kind, HVA_QMP_RETURN);
    assert_int_equal(m.id, 1);
    json_object_put(o);

    o = hva_qmp_parser_next(p);
    assert_int_equal(hva_qmp_classify(o, &m), 0);
    assert_int_equal(m.kind, HVA_QMP_EVENT);
    assert_string_equal(m.event, "STOP");
    assert_null(m.data);
    json_object_put(o);

    o = hva_qmp_parser_next(p);
    assert_int_equal(hva_qmp_classify(o, &m), 0);
    assert_int_equal(m.kind, HVA_QMP_EVENT);
    assert_string_equal(m.event, "MIGRATION");
    assert_true(json_object_object_get_ex(m.data, "status", &v));
    assert_string_equal(json_object_get_string(v), "pre-switchover");
    json_object_put(o);

    o = hva_qmp_parser_next(p);
    assert_int_equal(hva_qmp_classify(o, &m), 0);
    assert_int_equal(m.kind, HVA_QMP_ERROR);
    assert_int_equal(m.id, 7);
    assert_string_equal(m.errcls, "GenericError");
    assert_string_equal(m.errmsg, "No migration in progress");
    json_object_put(o);

    o = hva_qmp_parser_next(p);
    assert_int_equal(hva_qmp_classify(o, &m), 0);
    assert_int_equal(m.kind, HVA_QMP_RETURN);
    assert_int_equal(m.id, 8);
    assert_true(json_object_object_get_ex(m.data, "ram", &v));
    assert_true(json_object_object_get_ex(v, "transferred", &v));
    assert_true(json_object_get_int64(v) == 123456789012LL);
    json_object_put(o);

    assert_null(hva_qmp_parser_next(p));
}

static void test_greeting(void **state)
{
    struct hva_qmp_parser *p;
    struct hva_qmp_msg m;

    (void)state;
    assert_int_equal(hva_qmp_parser_new(&p), 0);
    feed_all(p, greeting, sizeof(greeting));
    json_object *o = hva_qmp_parser_next(p);
    assert_non_null(o);
    assert_int_equal(hva_qmp_classify(o, &m), 0);
    assert_int_equal(m.kind, HVA_QMP_GREETING);
    json_object_put(o);
    hva_qmp_parser_free(p);
}

/* The same stream whole, byte by byte and in odd chunks: framing must not
 * depend on how reads split it. */
static void test_stream_splits(void **state)
{
    static const size_t steps[] = {100000, 1, 2, 7, 13, 64};

    (void)state;
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        struct hva_qmp_parser *p;

        assert_int_equal(hva_qmp_parser_new(&p), 0);
        feed_all(p, stream, steps[i]);
        check_stream(p);
        hva_qmp_parser_free(p);
    }
}

static void test_garbage(void **state)
{
    struct hva_qmp_parser *p;

    (void)state;
    assert_int_equal(hva_qmp_parser_new(&p), 0);
    assert_int_equal(hva_qmp_parser_feed(p, "{\"return\": }\r\n", 14), -EPROTO);
    hva_qmp_parser_free(p);
    assert_int_equal(hva_qmp_parser_new(&p), 0);
    /* A bare scalar is not a QMP message. */
    assert_int_equal(hva_qmp_parser_feed(p, "[1,2]\r\n", 7), -EPROTO);
    hva_qmp_parser_free(p);
}

static void test_unknown_and_no_id(void **state)
{
    struct hva_qmp_msg m;
    json_object *o = json_tokener_parse("{\"foo\": 1}");

    (void)state;
    assert_int_equal(hva_qmp_classify(o, &m), 0);
    assert_int_equal(m.kind, HVA_QMP_UNKNOWN);
    json_object_put(o);
    o = json_tokener_parse("{\"return\": 5}");
    assert_int_equal(hva_qmp_classify(o, &m), 0);
    assert_int_equal(m.kind, HVA_QMP_RETURN);
    assert_int_equal(m.id, -1);
    json_object_put(o);
}

static void test_format(void **state)
{
    json_object *a = json_object_new_object();

    (void)state;
    json_object_object_add(a, "uri", json_object_new_string("fd:kvmc-mig"));
    char *t = hva_qmp_format_command("migrate", a, 42);
    assert_non_null(t);
    assert_string_equal(t, "{\"execute\":\"migrate\",\"arguments\":{\"uri\":"
                           "\"fd:kvmc-mig\"},\"id\":42}\n");
    free(t);
    t = hva_qmp_format_command("cont", NULL, 1);
    assert_string_equal(t, "{\"execute\":\"cont\",\"id\":1}\n");
    free(t);
    json_object_put(a);
}

static int owner_a, owner_b; /* callbacks each owner saw */

static void forget_reply(void *data, int rc, json_object *ret,
                         const char *errmsg)
{
    (void)ret;
    (void)errmsg;
    assert_int_equal(rc, -EPIPE); /* the monitor closed */
    (*(int *)data)++;
}

static void forget_closed(void *data)
{
    qb_loop_stop(data);
}

static const struct hva_qmp_ops forget_ops = {.closed = forget_closed};

/* A migration freed while its commands are pending: when the monitor
 * fails them (QEMU killed), only the other owner's callbacks run. */
static void test_forget(void **state)
{
    qb_loop_t *loop = qb_loop_create();
    struct hva_qmp *q;
    int sv[2];

    (void)state;
    assert_non_null(loop);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(hva_qmp_new(loop, sv[0], &forget_ops, loop, &q), 0);
    assert_int_equal(
        hva_qmp_command(q, "getfd", NULL, -1, forget_reply, &owner_a), 0);
    assert_int_equal(
        hva_qmp_command(q, "query-status", NULL, -1, forget_reply, &owner_b),
        0);
    assert_int_equal(hva_qmp_command(q, "migrate-incoming", NULL, -1,
                                     forget_reply, &owner_a),
                     0);
    hva_qmp_forget(q, &owner_a);
    close(sv[1]);
    qb_loop_run(loop);
    assert_int_equal(owner_a, 0);
    assert_int_equal(owner_b, 1);
    hva_qmp_free(q);
    qb_loop_destroy(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greeting),
        cmocka_unit_test(test_stream_splits),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_unknown_and_no_id),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_forget),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
