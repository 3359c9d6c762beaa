#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "common/cmn-err.h"

static void test_errno_text(void **state)
{
    assert_string_equal(cmn_strerror(-ENOENT), "No such file or directory");
    assert_string_equal(cmn_strerror(0), "success");
}

static void test_common_codes(void **state)
{
    assert_string_equal(cmn_strerror(-CMN_E_SCHEMA),
                        "document does not match its schema");
    assert_string_equal(cmn_strerror(-CMN_E_UNKNOWN_KEY), "unknown key");
}

static const char *const test_block[] = {
    [0] = "unknown test error",
    [1] = "widget jammed",
};

static void test_registered_block(void **state)
{
    /* Unregistered block: a generic text that still carries the code. */
    assert_non_null(strstr(cmn_strerror(-(CMN_E_HVA_BASE + 1)), "10401"));
    cmn_err_register(CMN_E_HVA_BASE, test_block, 2);
    assert_string_equal(cmn_strerror(-(CMN_E_HVA_BASE + 1)), "widget jammed");
    /* Past the registered texts: generic again. */
    assert_non_null(strstr(cmn_strerror(-(CMN_E_HVA_BASE + 5)), "10405"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errno_text),
        cmocka_unit_test(test_common_codes),
        cmocka_unit_test(test_registered_block),
    };
    return cmocka_run_group_tests_name("err", tests, NULL, NULL);
}
