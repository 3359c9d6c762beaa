/* Config parser: good files parse with the right typed values; every bad
 * file in tests/data/cfg/bad fails with the error in its .err twin. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/cmn-cfg.h"
#include "common/cmn-err.h"

static const char *const accel_values[] = {"auto", "kvm", "tcg", NULL};
static const char *const conv_values[] = {"raise-downtime", "auto-converge",
                                          "cancel", NULL};

static const struct cmn_cfg_key keys[] = {
    {.section = "cluster",
     .key = "name",
     .type = CMN_CFG_STR,
     .required = true},
    {.section = "cluster",
     .key = "accel",
     .type = CMN_CFG_ENUM,
     .def = "auto",
     .enum_values = accel_values},
    {.section = "migration",
     .key = "max-concurrent",
     .type = CMN_CFG_INT,
     .def = "2",
     .min = 1,
     .max = 16},
    {.section = "migration",
     .key = "downtime",
     .type = CMN_CFG_DURATION,
     .def = "50ms"},
    {.section = "migration",
     .key = "bandwidth",
     .type = CMN_CFG_SIZE,
     .def = "0"},
    {.section = "migration",
     .key = "passes",
     .type = CMN_CFG_INT,
     .def = "10",
     .min = 1,
     .max = 100},
    {.section = "migration",
     .key = "convergence",
     .type = CMN_CFG_ENUM,
     .def = "raise-downtime",
     .enum_values = conv_values},
    {.section = "migration",
     .key = "verify",
     .type = CMN_CFG_BOOL,
     .def = "no"},
    {.section = "target",
     .key = "portal",
     .type = CMN_CFG_STR,
     .required = true,
     .repeatable = true},
    {.section = "target",
     .key = "iqn",
     .type = CMN_CFG_STR,
     .repeatable = true},
    {.section = "target",
     .key = "discovery",
     .type = CMN_CFG_BOOL,
     .def = "no",
     .repeatable = true},
    {.section = "target",
     .key = "chap-user",
     .type = CMN_CFG_STR,
     .repeatable = true},
    {.section = "target",
     .key = "chap-secret-file",
     .type = CMN_CFG_STR,
     .repeatable = true},
    {0},
};

static char *data_path(const char *rel)
{
    const char *src = getenv("KVMC_SRCDIR");
    static char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/tests/data/cfg/%s", src ? src : ".", rel);
    return path;
}

static void test_full(void **state)
{
    CMN_AUTO(cmn_cfg) *cfg = NULL;
    char err[512];
    int64_t n;
    bool b;

    assert_int_equal(
        cmn_cfg_load(keys, data_path("good/full.conf"), &cfg, err, sizeof(err)),
        0);
    assert_string_equal(cmn_cfg_str(cfg, "cluster", NULL, "name"), "prod-a");
    assert_int_equal(cmn_cfg_int(cfg, "migration", NULL, "max-concurrent", &n),
                     0);
    assert_int_equal(n, 4);
    assert_int_equal(cmn_cfg_int(cfg, "migration", NULL, "downtime", &n), 0);
    assert_int_equal(n, 50);
    assert_int_equal(cmn_cfg_int(cfg, "migration", NULL, "bandwidth", &n), 0);
    assert_int_equal(n, 10LL << 30);
    assert_int_equal(cmn_cfg_bool(cfg, "migration", NULL, "verify", &b), 0);
    assert_true(b);
    assert_int_equal(cmn_cfg_count(cfg, "target"), 2);
    assert_string_equal(cmn_cfg_instance(cfg, "target", 0), "store1");
    assert_string_equal(cmn_cfg_instance(cfg, "target", 1), "store two");
    assert_string_equal(cmn_cfg_str(cfg, "target", "store two", "portal"),
                        "198.18.0.11");
    assert_int_equal(cmn_cfg_bool(cfg, "target", "store two", "discovery", &b),
                     0);
    assert_true(b);
    /* Defaulted key of an instance; absent key without default. */
    assert_int_equal(cmn_cfg_bool(cfg, "target", "store1", "discovery", &b), 0);
    assert_false(b);
    assert_null(cmn_cfg_str(cfg, "target", "store two", "iqn"));
    assert_int_equal(cmn_cfg_line(cfg, "target", "store1", "iqn"), 16);
}

static void test_minimal_defaults(void **state)
{
    CMN_AUTO(cmn_cfg) *cfg = NULL;
    int64_t n;

    assert_int_equal(
        cmn_cfg_load(keys, data_path("good/minimal.conf"), &cfg, NULL, 0), 0);
    assert_string_equal(cmn_cfg_str(cfg, "cluster", NULL, "accel"), "auto");
    assert_int_equal(cmn_cfg_int(cfg, "migration", NULL, "passes", &n), 0);
    assert_int_equal(n, 10);
    assert_int_equal(cmn_cfg_count(cfg, "target"), 0);
    assert_int_equal(cmn_cfg_line(cfg, "cluster", NULL, "accel"), 0);
}

static void test_quoted_and_units(void **state)
{
    CMN_AUTO(cmn_cfg) *cfg = NULL;
    int64_t n;

    assert_int_equal(
        cmn_cfg_load(keys, data_path("good/quoted.conf"), &cfg, NULL, 0), 0);
    assert_string_equal(cmn_cfg_str(cfg, "cluster", NULL, "name"),
                        "  spaced name  ");
    assert_int_equal(cmn_cfg_int(cfg, "migration", NULL, "downtime", &n), 0);
    assert_int_equal(n, 2000);
    assert_int_equal(cmn_cfg_int(cfg, "migration", NULL, "bandwidth", &n), 0);
    assert_int_equal(n, 512LL << 20);
}

static void test_missing_file(void **state)
{
    struct cmn_cfg *cfg = NULL;
    char err[512];

    assert_int_equal(cmn_cfg_load(keys, "/nonexistent/kvmcluster.conf", &cfg,
                                  err, sizeof(err)),
                     -ENOENT);
    assert_null(cfg);
    assert_non_null(strstr(err, "/nonexistent/kvmcluster.conf"));
}

/* A daemon reads its own sections of the shared file; with the flag,
 * other daemons' sections are skipped, without it they are an error. */
static void test_skip_other_sections(void **state)
{
    const char *text = "[hvagent]\nlisten = 198.18.0.1:7410\nbogus line\n"
                       "[cluster]\nname = a\n[other x]\ny = 1\n";
    CMN_AUTO(cmn_cfg) *cfg = NULL;
    struct cmn_cfg *none = NULL;
    char err[512];

    assert_int_equal(cmn_cfg_parse_flags(keys, "shared.conf", text,
                                         CMN_CFG_SKIP_OTHER_SECTIONS, &cfg, err,
                                         sizeof(err)),
                     0);
    assert_string_equal(cmn_cfg_str(cfg, "cluster", NULL, "name"), "a");
    assert_int_equal(cmn_cfg_line(cfg, "cluster", NULL, "name"), 5);
    assert_int_equal(
        cmn_cfg_parse(keys, "shared.conf", text, &none, err, sizeof(err)),
        -CMN_E_UNKNOWN_KEY);
    assert_string_equal(err, "shared.conf:1: unknown section [hvagent]");
    /* Our own sections stay strict. */
    assert_int_equal(cmn_cfg_parse_flags(keys, "shared.conf",
                                         "[other]\nx=1\n[cluster]\nnam = a\n",
                                         CMN_CFG_SKIP_OTHER_SECTIONS, &none,
                                         err, sizeof(err)),
                     -CMN_E_UNKNOWN_KEY);
    assert_string_equal(err, "shared.conf:4: unknown key 'nam' in [cluster]");
}

static void test_bad_corpus(void **state)
{
    char dir[PATH_MAX];
    struct dirent *de;
    DIR *d;
    int checked = 0;

    snprintf(dir, sizeof(dir), "%s", data_path("bad"));
    d = opendir(dir);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        char conf[PATH_MAX + 300], errf[PATH_MAX + 300], want[512];
        char err[512] = "";
        struct cmn_cfg *cfg = NULL;
        size_t l = strlen(de->d_name);
        FILE *f;
        int rc;

        if (l < 6 || strcmp(de->d_name + l - 5, ".conf") != 0)
            continue;
        snprintf(conf, sizeof(conf), "%s/%s", dir, de->d_name);
        snprintf(errf, sizeof(errf), "%s/%.*s.err", dir, (int)(l - 5),
                 de->d_name);
        f = fopen(errf, "r");
        if (f == NULL)
            fail_msg("%s has no .err twin", conf);
        if (fgets(want, sizeof(want), f) == NULL)
            fail_msg("%s is empty", errf);
        fclose(f);
        want[strcspn(want, "\n")] = '\0';

        rc = cmn_cfg_load(keys, conf, &cfg, err, sizeof(err));
        if (rc == 0)
            fail_msg("%s parsed but must fail with: %s", de->d_name, want);
        assert_null(cfg);
        if (strstr(err, want) == NULL)
            fail_msg("%s: got \"%s\", want \"%s\"", de->d_name, err, want);
        checked++;
    }
    closedir(d);
    assert_true(checked >= 15);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_minimal_defaults),
        cmocka_unit_test(test_quoted_and_units),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_skip_other_sections),
        cmocka_unit_test(test_bad_corpus),
    };
    return cmocka_run_group_tests_name("cfg", tests, NULL, NULL);
}
