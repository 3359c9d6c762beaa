/* Logging: subsystem tags reach the output and the blackbox keeps debug
 * messages that the normal targets filter out. */
#include "config.h"

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

#include "common/cmn-log.h"

/* $JOURNAL_STREAM names the journal only when it is exactly the
 * descriptor's "DEV:INODE". */
static void test_is_journal(void **state)
{
    char buf[64];
    struct stat st;
    int fd = open("/dev/null", O_WRONLY);

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    snprintf(buf, sizeof(buf), "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    assert_true(cmn_log_is_journal(buf, fd));
    snprintf(buf, sizeof(buf), "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino + 1);
    assert_false(cmn_log_is_journal(buf, fd));
    snprintf(buf, sizeof(buf), "%llu:%llux", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    assert_false(cmn_log_is_journal(buf, fd));
    assert_false(cmn_log_is_journal(NULL, fd));
    assert_false(cmn_log_is_journal("", fd));
    assert_false(cmn_log_is_journal("12", fd));
    close(fd);
    assert_false(cmn_log_is_journal("0:0", fd));
}

static void test_blackbox_dump(void **state)
{
    char dir[] = "/tmp/kvmc-test-log-XXXXXX";
    struct cmn_log_opts opts = {0};
    const char *path;
    struct stat st;

    assert_non_null(mkdtemp(dir));
    opts.blackbox_dir = dir;
    cmn_log_init("test-log", &opts);
    for (int i = 0; i < 100; i++)
        cmn_debug(CMN_LOG_CSV, "debug message %d for the blackbox", i);
    cmn_info(CMN_LOG_CD, "an info message");

    path = cmn_log_blackbox_dump();
    assert_non_null(path);
    assert_non_null(strstr(path, dir));
    assert_int_equal(stat(path, &st), 0);
    /* 100 formatted records cannot fit in less than a few KiB. */
    assert_true(st.st_size > 2000);
    unlink(path);
    rmdir(dir);
    cmn_log_fini();
}

static void test_stderr_tag(void **state)
{
    char tmpl[] = "/tmp/kvmc-test-log-err-XXXXXX";
    struct cmn_log_opts opts = {.to_stderr = true};
    char buf[4096] = "";
    int fd = mkstemp(tmpl), saved = dup(2);
    FILE *f;

    assert_true(fd >= 0);
    dup2(fd, 2);
    cmn_log_init("test-log", &opts);
    cmn_warn(CMN_LOG_HVA, "VM '%s': lease held by node %d", "web1", 3);
    cmn_debug(CMN_LOG_HVA, "not shown without debug");
    cmn_log_fini();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);

    f = fopen(tmpl, "r");
    assert_non_null(f);
    (void)!fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    unlink(tmpl);
    assert_non_null(strstr(buf, "[hvagent] VM 'web1': lease held by node 3"));
    assert_null(strstr(buf, "not shown"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_is_journal),
        cmocka_unit_test(test_blackbox_dump),
        cmocka_unit_test(test_stderr_tag),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
