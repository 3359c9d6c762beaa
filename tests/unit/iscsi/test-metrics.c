/* lunbridge's per-LUN metrics: the latency buckets, the state of a LUN's
 * session, and the text node-exporter's textfile collector reads. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "iscsi/isc-int.h"

static void test_buckets(void **state)
{
    struct isc_lun_stats s = {0};

    (void)state;
    isc_lun_stats_io(&s, 0);        /* <= 0.5 ms */
    isc_lun_stats_io(&s, 500);      /* the bound itself is in */
    isc_lun_stats_io(&s, 501);      /* <= 1 ms */
    isc_lun_stats_io(&s, 10000000); /* <= 10 s */
    isc_lun_stats_io(&s, 10000001); /* +Inf */
    assert_int_equal(s.io_buckets[0], 2);
    assert_int_equal(s.io_buckets[1], 1);
    assert_int_equal(s.io_buckets[ISC_LAT_BUCKETS - 1], 1);
    assert_int_equal(s.io_buckets[ISC_LAT_BUCKETS], 1);
    assert_int_equal(s.io_sum_us, 20001002);
    isc_lun_stats_reconnect(&s);
    assert_int_equal(s.reconnects, 1);
}

static void test_state(void **state)
{
    (void)state;
    assert_int_equal(isc_lun_state_of(true, 0, 5000, 1000), ISC_LUN_LOGGED_IN);
    /* up again: a stale loss time does not matter */
    assert_int_equal(isc_lun_state_of(true, 10, 5000, 1000), ISC_LUN_LOGGED_IN);
    assert_int_equal(isc_lun_state_of(false, 4500, 5000, 1000),
                     ISC_LUN_RECONNECTING);
    assert_int_equal(isc_lun_state_of(false, 4000, 5000, 1000), ISC_LUN_DOWN);
    /* never connected here (a LUN this worker did not find) */
    assert_int_equal(isc_lun_state_of(false, 0, 5000, 1000), ISC_LUN_DOWN);
    assert_string_equal(isc_lun_state_name(ISC_LUN_LOGGED_IN), "logged_in");
    assert_string_equal(isc_lun_state_name(ISC_LUN_RECONNECTING),
                        "reconnecting");
    assert_string_equal(isc_lun_state_name(ISC_LUN_DOWN), "down");
    assert_string_equal(isc_lun_state_name(ISC_LUN_STATE_COUNT), "?");
}

static void want(const char *text, const char *line)
{
    if (!strstr(text, line))
        print_error("missing '%s' in:\n%s\n", line, text);
    assert_non_null(strstr(text, line));
}

static void test_render(void **state)
{
    struct isc_lun_stats a = {0}, b = {0};
    struct isc_metrics_lun luns[] = {
        {"naa.6001405aaaa", ISC_LUN_LOGGED_IN, &a},
        {"usn.x%22\"y", ISC_LUN_DOWN, &b},
    };
    char *text = NULL;

    (void)state;
    isc_lun_stats_io(&a, 300);
    isc_lun_stats_io(&a, 2000);
    isc_lun_stats_reconnect(&a);
    isc_lun_stats_reconnect(&a);
    assert_int_equal(isc_metrics_render("node\\1", luns, 2, &text), 0);
    /* one family each, typed for the 0.0.4 text format */
    want(text, "# TYPE kvmcluster_lun_session_state gauge\n");
    want(text, "# TYPE kvmcluster_lun_reconnects_total counter\n");
    want(text, "# TYPE kvmcluster_lun_io_seconds histogram\n");
    /* every state of each LUN, 1 for its own; labels escaped */
    want(text, "kvmcluster_lun_session_state{node=\"node\\\\1\","
               "lun=\"naa.6001405aaaa\",state=\"logged_in\"} 1\n");
    want(text, "kvmcluster_lun_session_state{node=\"node\\\\1\","
               "lun=\"naa.6001405aaaa\",state=\"down\"} 0\n");
    want(text, "kvmcluster_lun_session_state{node=\"node\\\\1\","
               "lun=\"usn.x%22\\\"y\",state=\"down\"} 1\n");
    want(text, "kvmcluster_lun_reconnects_total{node=\"node\\\\1\","
               "lun=\"naa.6001405aaaa\"} 2\n");
    want(text, "kvmcluster_lun_reconnects_total{node=\"node\\\\1\","
               "lun=\"usn.x%22\\\"y\"} 0\n");
    /* cumulative buckets, +Inf = count, sum in seconds */
    want(text, "kvmcluster_lun_io_seconds_bucket{node=\"node\\\\1\","
               "lun=\"naa.6001405aaaa\",le=\"0.000500\"} 1\n");
    want(text, "kvmcluster_lun_io_seconds_bucket{node=\"node\\\\1\","
               "lun=\"naa.6001405aaaa\",le=\"0.001000\"} 1\n");
    want(text, "kvmcluster_lun_io_seconds_bucket{node=\"node\\\\1\","
               "lun=\"naa.6001405aaaa\",le=\"0.002500\"} 2\n");
    want(text, "kvmcluster_lun_io_seconds_bucket{node=\"node\\\\1\","
               "lun=\"naa.6001405aaaa\",le=\"+Inf\"} 2\n");
    want(text, "kvmcluster_lun_io_seconds_sum{node=\"node\\\\1\","
               "lun=\"naa.6001405aaaa\"} 0.002300\n");
    want(text, "kvmcluster_lun_io_seconds_count{node=\"node\\\\1\","
               "lun=\"naa.6001405aaaa\"} 2\n");
    want(text, "kvmcluster_lun_io_seconds_count{node=\"node\\\\1\","
               "lun=\"usn.x%22\\\"y\"} 0\n");
    /* 3 states x 2 + 2 reconnects + (15 buckets + sum + count) x 2 */
    {
        size_t samples = 0;
        for (const char *p = text; (p = strchr(p, '\n')); p++)
            samples += p[1] == 'k';
        samples += text[0] == 'k';
        assert_int_equal(samples, 6 + 2 + 17 * 2);
    }
    free(text);

    /* no LUN: the families alone */
    assert_int_equal(isc_metrics_render("n", NULL, 0, &text), 0);
    assert_null(strstr(text, "\nkvmcluster_"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets),
        cmocka_unit_test(test_state),
        cmocka_unit_test(test_render),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
