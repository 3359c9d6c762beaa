/* lunbridge configuration: what is accepted, and that every mistake is
 * refused with a message naming the line and the fix. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/cmn-err.h"
#include "iscsi/isc-int.h"

static char dir[64];
static char good_secret[128], open_secret[128], mutual_secret[128];

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/isc-cfg-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(good_secret, sizeof(good_secret), "%s/chap", dir);
    snprintf(open_secret, sizeof(open_secret), "%s/chap-open", dir);
    snprintf(mutual_secret, sizeof(mutual_secret), "%s/mutual", dir);
    write_file(good_secret, "s3cretpassw0rd\n", 0600);
    write_file(open_secret, "s3cretpassw0rd\n", 0644);
    write_file(mutual_secret, "an0therpassw0rd", 0400);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(good_secret);
    unlink(open_secret);
    unlink(mutual_secret);
    rmdir(dir);
    return 0;
}

static int parse(const char *text, struct isc_lb_config **cfg, char *err,
                 size_t errlen)
{
    err[0] = '\0';
    return isc_lb_config_parse("test.conf", text, cfg, err, errlen);
}

static void test_full(void **state)
{
    struct isc_lb_config *cfg = NULL;
    char text[2048], err[512];

    (void)state;
    snprintf(text, sizeof(text),
             "[cluster]\n"
             "name = alpha\n"
             "[lunbridge]\n"
             "mountpoint = /run/test/luns\n"
             "initiator-name = iqn.2026-11.org.kvmcluster:node1\n"
             "deadline = 3s\n"
             "metrics-file = /var/lib/prometheus/node-exporter/lb.prom\n"
             "metrics-interval = 2s\n"
             "[target csv0]\n"
             "portal = 198.18.200.10, 198.18.201.10:3261\n"
             "iqn = iqn.2026-11.org.kvmcluster:csv0\n"
             "chap-user = node\n"
             "chap-secret-file = %s\n"
             "mutual-chap-user = array\n"
             "mutual-chap-secret-file = %s\n"
             "[target disc]\n"
             "portal = [2001:db8::1]\n"
             "discovery = yes\n"
             "[clusterd]\n"
             "anything = goes\n",
             good_secret, mutual_secret);
    assert_int_equal(parse(text, &cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg->mountpoint, "/run/test/luns");
    assert_string_equal(cfg->initiator_name,
                        "iqn.2026-11.org.kvmcluster:node1");
    assert_int_equal(cfg->deadline_ms, 3000);
    assert_string_equal(cfg->metrics_file,
                        "/var/lib/prometheus/node-exporter/lb.prom");
    assert_int_equal(cfg->metrics_interval_ms, 2000);
    assert_int_equal(cfg->ntargets, 2);
    assert_string_equal(cfg->targets[0].name, "csv0");
    assert_int_equal(cfg->targets[0].nportals, 2);
    assert_string_equal(cfg->targets[0].portals[0], "198.18.200.10:3260");
    assert_string_equal(cfg->targets[0].portals[1], "198.18.201.10:3261");
    assert_null(cfg->targets[0].portals[2]);
    assert_string_equal(cfg->targets[0].chap_secret, "s3cretpassw0rd");
    assert_string_equal(cfg->targets[0].mutual_secret, "an0therpassw0rd");
    assert_false(cfg->targets[0].discovery);
    assert_true(cfg->targets[1].discovery);
    assert_null(cfg->targets[1].iqn);
    assert_string_equal(cfg->targets[1].portals[0], "[2001:db8::1]:3260");
    isc_lb_config_free(cfg);
}

static void test_defaults(void **state)
{
    struct isc_lb_config *cfg = NULL;
    char err[512];

    (void)state;
    assert_int_equal(parse("[target t]\nportal = 198.18.200.10\n"
                           "iqn = iqn.2026-11.org.example:t\n",
                           &cfg, err, sizeof(err)),
                     0);
    assert_string_equal(cfg->mountpoint, ISC_DEFAULT_MOUNTPOINT);
    assert_int_equal(cfg->deadline_ms, ISC_DEFAULT_DEADLINE_MS);
    assert_null(cfg->metrics_file); /* no metrics unless asked */
    assert_int_equal(cfg->metrics_interval_ms, 15000);
    assert_non_null(strstr(cfg->initiator_name, "iqn.2026-11.org.kvmcluster:"));
    assert_null(cfg->targets[0].chap_user);
    isc_lb_config_free(cfg);
}

struct bad_case {
    const char *text; /* %s = a secret file */
    const char *secret;
    const char *expect; /* substring of the error */
};

/* Copies `tmpl` with every "%s" replaced by `val`. */
static void subst(char *out, size_t outlen, const char *tmpl, const char *val)
{
    size_t o = 0;

    for (; *tmpl && o + 1 < outlen; tmpl++) {
        if (tmpl[0] == '%' && tmpl[1] == 's') {
            o += (size_t)snprintf(out + o, outlen - o, "%s", val);
            tmpl++;
            continue;
        }
        out[o++] = *tmpl;
    }
    out[o < outlen ? o : outlen - 1] = '\0';
}

static void test_bad(void **state)
{
    const struct bad_case cases[] = {
        {"[lunbridge]\nmountpoint = /x\n", NULL, "no [target NAME] section"},
        {"[target t]\nportal = 198.18.200.10\n", NULL,
         "give either 'iqn = <target IQN>' or 'discovery = yes', not neither"},
        {"[target t]\nportal = 198.18.200.10\niqn = iqn.2026-11.x:t\n"
         "discovery = yes\n",
         NULL, "not both"},
        {"[target t]\nportal = 198.18.200.10:99999\niqn = iqn.2026-11.x:t\n",
         NULL, "test.conf:2: [target t] portal '198.18.200.10:99999'"},
        {"[target t]\nportal = 2001:db8::1\niqn = iqn.2026-11.x:t\n", NULL,
         "is not host[:port]"},
        {"[target t]\nportal = 198.18.200.10\niqn = target1\n", NULL,
         "is not an iSCSI name"},
        {"[target t]\nportal = h\niqn = iqn.2026-11.x:t\nchap-user = u\n", NULL,
         "test.conf:4: [target t] chap-user and chap-secret-file go "
         "together"},
        {"[target t]\nportal = h\niqn = iqn.2026-11.x:t\n"
         "mutual-chap-user = u\nmutual-chap-secret-file = %s\n",
         "good", "mutual CHAP needs one-way CHAP too"},
        {"[target t]\nportal = h\niqn = iqn.2026-11.x:t\nchap-user = u\n"
         "chap-secret-file = %s\n",
         "open", "must be owned by uid"},
        {"[target t]\nportal = h\niqn = iqn.2026-11.x:t\nchap-user = u\n"
         "chap-secret-file = %s\n",
         "missing", "cannot open CHAP secret file"},
        {"[target t]\nportal = h\niqn = iqn.2026-11.x:t\nchap-user = u\n"
         "chap-secret-file = %s\nmutual-chap-user = m\n"
         "mutual-chap-secret-file = %s\n",
         "same", "must differ"},
        {"[target a]\nportal = h\niqn = iqn.2026-11.x:t\n"
         "[target b]\nportal = h2\niqn = iqn.2026-11.x:t\n",
         NULL,
         "test.conf:6: [target b] iqn 'iqn.2026-11.x:t' is already "
         "used by [target a]"},
        {"[lunbridge]\nmountpoint = relative\n[target t]\nportal = h\n"
         "iqn = iqn.2026-11.x:t\n",
         NULL, "mountpoint must be an absolute path"},
        {"[lunbridge]\ndeadline = 5ms\n[target t]\nportal = h\n"
         "iqn = iqn.2026-11.x:t\n",
         NULL, "test.conf:2"},
        {"[lunbridge]\nmetrics-file = lb.prom\n[target t]\nportal = h\n"
         "iqn = iqn.2026-11.x:t\n",
         NULL, "test.conf:2: [lunbridge] metrics-file must be an absolute"},
        {"[lunbridge]\nmetrics-interval = 10ms\n[target t]\nportal = h\n"
         "iqn = iqn.2026-11.x:t\n",
         NULL, "test.conf:2"},
        {"[target t]\nportal = h\niqn = iqn.2026-11.x:t\nbogus = 1\n", NULL,
         "bogus"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct isc_lb_config *cfg = NULL;
        char text[1024], err[512], missing[160];
        const char *sec = "";
        int rc;

        snprintf(missing, sizeof(missing), "%s/nope", dir);
        if (cases[i].secret && !strcmp(cases[i].secret, "good"))
            sec = good_secret;
        else if (cases[i].secret && !strcmp(cases[i].secret, "open"))
            sec = open_secret;
        else if (cases[i].secret && !strcmp(cases[i].secret, "missing"))
            sec = missing;
        else if (cases[i].secret && !strcmp(cases[i].secret, "same"))
            sec = good_secret;
        subst(text, sizeof(text), cases[i].text, sec);
        rc = parse(text, &cfg, err, sizeof(err));
        if (rc == 0 || !strstr(err, cases[i].expect))
            print_error("case %zu: rc %d, error '%s', expected '%s'\n", i, rc,
                        err, cases[i].expect);
        assert_true(rc < 0);
        assert_null(cfg);
        assert_non_null(strstr(err, cases[i].expect));
    }
}

static void test_secret_perm_code(void **state)
{
    char *s = NULL;
    char err[512];

    (void)state;
    assert_int_equal(isc_secret_read(open_secret, &s, err, sizeof(err)),
                     -ISC_E_SECRET_PERM);
    assert_non_null(strstr(err, "chmod 600"));
    assert_int_equal(isc_secret_read(good_secret, &s, err, sizeof(err)), 0);
    assert_string_equal(s, "s3cretpassw0rd");
    free(s);
}

static void test_portal_normalize(void **state)
{
    char b[64];

    (void)state;
    assert_int_equal(isc_portal_normalize("198.18.200.10", b, sizeof(b)), 0);
    assert_string_equal(b, "198.18.200.10:3260");
    assert_int_equal(isc_portal_normalize("storage-1:3261", b, sizeof(b)), 0);
    assert_string_equal(b, "storage-1:3261");
    assert_int_equal(isc_portal_normalize("[::1]:3262", b, sizeof(b)), 0);
    assert_string_equal(b, "[::1]:3262");
    assert_int_equal(isc_portal_normalize("", b, sizeof(b)), -ISC_E_PORTAL);
    assert_int_equal(isc_portal_normalize(":3260", b, sizeof(b)),
                     -ISC_E_PORTAL);
    assert_int_equal(isc_portal_normalize("h:0", b, sizeof(b)), -ISC_E_PORTAL);
    assert_int_equal(isc_portal_normalize("h:32a", b, sizeof(b)),
                     -ISC_E_PORTAL);
    assert_int_equal(isc_portal_normalize("[]:1", b, sizeof(b)), -ISC_E_PORTAL);
    assert_int_equal(isc_portal_normalize("a/b", b, sizeof(b)), -ISC_E_PORTAL);
}

static void test_strerror(void **state)
{
    (void)state;
    isc_err_register();
    assert_non_null(strstr(cmn_strerror(-ISC_E_AUTH), "CHAP"));
    assert_non_null(strstr(cmn_strerror(-ISC_E_NO_TARGET), "IQN"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_secret_perm_code),
        cmocka_unit_test(test_portal_normalize),
        cmocka_unit_test(test_strerror),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
