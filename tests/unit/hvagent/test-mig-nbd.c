/* Live migration with storage copy: the NBD names and port, the QMP
 * arguments (each as QEMU 7.2 took it in bench/nbd-mirror) and the
 * target's READY line. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "hvagent/hva-mig-nbd.h"

static const char tok[] =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

static void assert_json(json_object *o, const char *want)
{
    assert_string_equal(
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), want);
    json_object_put(o);
}

static void test_names(void **state)
{
    char b[32];
    unsigned port = 0;

    (void)state;
    assert_int_equal(hva_nbd_port(49152, &port), 0);
    assert_int_equal(port, 49154);
    assert_int_equal(hva_nbd_port(65534, &port), -EINVAL);
    assert_int_equal(hva_nbd_port(0, &port), -EINVAL);
    hva_nbd_export_name(3, b, sizeof(b));
    assert_string_equal(b, "kvmc-disk3");
    hva_nbd_export_id(3, b, sizeof(b));
    assert_string_equal(b, "kvmc-nx3");
    hva_nbd_fd_name(3, b, sizeof(b));
    assert_string_equal(b, "kvmc-nbd3");
    /* QEMU's node names stop at 31 characters */
    hva_nbd_client_node(4294967295u, 15, b, sizeof(b));
    assert_string_equal(b, "nb4294967295d15");
}

static void test_qmp_args(void **state)
{
    (void)state;
    assert_json(hva_nbd_server_args("198.18.0.12", 49154, 2),
                "{\"addr\":{\"type\":\"inet\",\"data\":{\"host\":\"198.18.0."
                "12\",\"port\":\"49154\"}},\"tls-creds\":\"kvmc-mig-tls\","
                "\"max-connections\":2}");
    assert_json(hva_nbd_export_args("disk0", 0),
                "{\"type\":\"nbd\",\"id\":\"kvmc-nx0\",\"node-name\":"
                "\"disk0\",\"name\":\"kvmc-disk0\",\"writable\":true}");
    assert_json(hva_nbd_export_del_args(1), "{\"id\":\"kvmc-nx1\"}");
    assert_json(hva_nbd_client_args("nb1d0", 0),
                "{\"driver\":\"nbd\",\"node-name\":\"nb1d0\",\"server\":{"
                "\"type\":\"fd\",\"str\":\"kvmc-nbd0\"},\"export\":"
                "\"kvmc-disk0\",\"tls-creds\":\"kvmc-mig-tls\"}");
}

static void test_ready(void **state)
{
    struct hva_mig_ready r;
    char line[160];

    (void)state;
    assert_int_equal(hva_mig_ready_parse(tok, 64, &r), 0);
    assert_string_equal(r.token, tok);
    assert_false(r.tls);
    assert_int_equal(r.nbd_port, 0);
    snprintf(line, sizeof(line), "%s tls", tok);
    assert_int_equal(hva_mig_ready_parse(line, 64, &r), 0);
    assert_true(r.tls);
    snprintf(line, sizeof(line), "%s tls nbd=49154", tok);
    assert_int_equal(hva_mig_ready_parse(line, 64, &r), 0);
    assert_true(r.tls);
    assert_int_equal(r.nbd_port, 49154);
    snprintf(line, sizeof(line), "%s nbd=1", tok);
    assert_int_equal(hva_mig_ready_parse(line, 64, &r), 0);
    assert_false(r.tls);
    assert_int_equal(r.nbd_port, 1);

    /* refused: every malformed line, and nothing written */
    memset(&r, 0x5a, sizeof(r));
    assert_int_equal(hva_mig_ready_parse(NULL, 64, &r), -EPROTO);
    assert_int_equal(hva_mig_ready_parse("abc", 64, &r), -EPROTO);
    snprintf(line, sizeof(line), "%.63sg", tok);
    assert_int_equal(hva_mig_ready_parse(line, 64, &r), -EPROTO);
    const char *bad[] = {" tls ",  " tlsx",      " tls tls", " nbd=",
                         " nbd=0", " nbd=65536", " nbd=12a", " nbd=1 nbd=2",
                         " ",      "  tls",      " NBD=1",   " nbd=0000001234"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(line, sizeof(line), "%s%s", tok, bad[i]);
        assert_int_equal(hva_mig_ready_parse(line, 64, &r), -EPROTO);
    }
    assert_int_equal(r.nbd_port, 0x5a5a5a5a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_qmp_args),
        cmocka_unit_test(test_ready),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
