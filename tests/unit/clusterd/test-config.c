/* The [clusterd] section of kvmcluster.conf: values, other daemons'
 * sections skipped, errors naming file, line and key. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "clusterd/cd-config.h"

static void test_values(void **state)
{
    struct cd_config cfg;
    char err[256] = "";
    const char *text = "# shared file\n"
                       "[lunbridge]\n"
                       "mount = /run/kvmcluster/luns\n"
                       "metrics-file = /var/lib/ne/lunbridge.prom\n"
                       "deadline = 2000\n"
                       "[target t1]\n"
                       "portal = 198.18.0.1\n"
                       "[clusterd]\n"
                       "state-dir = /srv/kvmc\n"
                       "node-name = hv1\n"
                       "migration-address = 198.18.1.1\n"
                       "memory = 8G\n"
                       "admin-group = kvmadm\n"
                       "csv = /run/kvmcluster/luns/naa.1\n"
                       "[hvagent]\n"
                       "accel = tcg\n";

    cd_config_defaults(&cfg);
    assert_string_equal(cfg.state_dir, CD_STATE_DIR_DEFAULT);
    if (cd_config_parse("k.conf", text, &cfg, err, sizeof(err)))
        fail_msg("%s", err);
    assert_string_equal(cfg.state_dir, "/srv/kvmc");
    assert_string_equal(cfg.node_name, "hv1");
    assert_string_equal(cfg.address, "198.18.1.1");
    assert_int_equal(cfg.memory_mib, 8192);
    assert_string_equal(cfg.admin_group, "kvmadm");
    assert_string_equal(cfg.csv, "/run/kvmcluster/luns/naa.1");
    /* lunbridge's metrics file is read, its other keys skipped. */
    assert_string_equal(cfg.lun_metrics_file, "/var/lib/ne/lunbridge.prom");
}

static void test_no_section(void **state)
{
    struct cd_config cfg;
    char err[256] = "";

    cd_config_defaults(&cfg);
    assert_int_equal(
        cd_config_parse("k.conf", "[hvagent]\nx = 1\n", &cfg, err, sizeof(err)),
        0);
    assert_string_equal(cfg.state_dir, CD_STATE_DIR_DEFAULT);
    assert_string_equal(cfg.node_name, "");
    assert_string_equal(cfg.lun_metrics_file, "");
    /* A relative path is lunbridge's error to report: not read here. */
    assert_int_equal(cd_config_parse("k.conf",
                                     "[lunbridge]\nmetrics-file = x.prom\n",
                                     &cfg, err, sizeof(err)),
                     0);
    assert_string_equal(cfg.lun_metrics_file, "");
}

static void test_errors(void **state)
{
    struct cd_config cfg;
    char err[256];

    cd_config_defaults(&cfg);
    assert_true(cd_config_parse("k.conf", "[clusterd]\nbogus = 1\n", &cfg, err,
                                sizeof(err)) < 0);
    assert_non_null(strstr(err, "k.conf:2"));
    assert_non_null(strstr(err, "bogus"));
    assert_true(cd_config_parse("k.conf", "\n[clusterd]\nnode-name = a b\n",
                                &cfg, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "k.conf:3: node-name"));
    assert_true(cd_config_parse("k.conf", "[clusterd]\nstate-dir = rel\n", &cfg,
                                err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "absolute"));
    assert_true(cd_config_parse("k.conf", "[clusterd]\ncsv = lun1\n", &cfg, err,
                                sizeof(err)) < 0);
    assert_non_null(strstr(err, "k.conf:2: csv"));
    assert_true(cd_config_parse("k.conf", "[clusterd]\nmemory = lots\n", &cfg,
                                err, sizeof(err)) < 0);
    assert_true(cd_config_load("/nonexistent/k.conf", &cfg, err, sizeof(err)) <
                0);
    assert_non_null(strstr(err, "/nonexistent/k.conf"));
}

/* metrics-file / metrics-interval: the textfile collector's file. */
static void test_metrics(void **state)
{
    struct cd_config cfg;
    char err[256] = "";

    (void)state;
    cd_config_defaults(&cfg);
    assert_string_equal(cfg.metrics_file, CD_METRICS_FILE_DEFAULT);
    assert_int_equal(cfg.metrics_interval_s, 0);
    assert_int_equal(cd_config_parse("k.conf",
                                     "[clusterd]\nmetrics-file = /srv/m.prom\n"
                                     "metrics-interval = 15\n",
                                     &cfg, err, sizeof(err)),
                     0);
    assert_string_equal(cfg.metrics_file, "/srv/m.prom");
    assert_int_equal(cfg.metrics_interval_s, 15);
    assert_true(cd_config_parse("k.conf", "[clusterd]\nmetrics-file = m\n",
                                &cfg, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "k.conf:2: metrics-file"));
    assert_true(cd_config_parse("k.conf", "[clusterd]\nmetrics-interval = -1\n",
                                &cfg, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "metrics-interval"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_no_section),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_metrics),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
