/* The per-VM systemd scope: the unit name of every VM name, escaped so
 * systemd accepts it, and when hvagent uses scopes at all. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/cmn-name.h"
#include "hvagent/hva-int.h"

/* systemd's rule for a plain (non-template) unit name of type scope,
 * written out here independently of the code under test: 1 to 255
 * bytes of A-Z a-z 0-9 : - _ . \, a non-empty prefix, no '@', the
 * suffix ".scope", and every '\' starting a \xNN escape. */
static bool unit_name_ok(const char *n)
{
    size_t len = strlen(n), sl = strlen(".scope");

    if (len == 0 || len > 255 || len <= sl ||
        strcmp(n + len - sl, ".scope") != 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = n[i];
        if (c == '\\') {
            if (i + 3 >= len || n[i + 1] != 'x' ||
                !strchr("0123456789abcdef", n[i + 2]) ||
                !strchr("0123456789abcdef", n[i + 3]))
                return false;
            continue;
        }
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    "0123456789:-_.",
                    c))
            return false;
    }
    return true;
}

/* Undoes the escaping: the name part of the unit gives the VM back. */
static void unescape(const char *unit, char *out)
{
    const char *p = unit + strlen(HVA_SCOPE_PREFIX);
    const char *end = unit + strlen(unit) - strlen(HVA_SCOPE_SUFFIX);

    while (p < end) {
        if (*p == '\\') {
            char h[3] = {p[2], p[3], 0};
            *out++ = (char)strtoul(h, NULL, 16);
            p += 4;
        } else {
            *out++ = *p++;
        }
    }
    *out = '\0';
}

static void test_plain_names(void **state)
{
    char u[HVA_UNIT_NAME_MAX];

    (void)state;
    assert_int_equal(hva_scope_unit_name("web1", u, sizeof(u)), 0);
    assert_string_equal(u, "kvmcluster-vm-web1.scope");
    /* '-', '.' and '_' are plain in unit names: VMs show as named. */
    assert_int_equal(hva_scope_unit_name("db-2.prod_x", u, sizeof(u)), 0);
    assert_string_equal(u, "kvmcluster-vm-db-2.prod_x.scope");
    assert_int_equal(hva_scope_unit_name("0", u, sizeof(u)), 0);
    assert_string_equal(u, "kvmcluster-vm-0.scope");
}

/* Every name cmn_name_valid() allows, up to its longest, is kept as it
 * is and gives a valid unit name; names are drawn over the whole
 * alphabet of the rule. */
static void test_every_allowed_name(void **state)
{
    static const char first[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    static const char rest[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";
    char name[CMN_NAME_MAX], u[HVA_UNIT_NAME_MAX], back[HVA_UNIT_NAME_MAX];
    unsigned seed = 12345;

    (void)state;
    for (int i = 0; i < 20000; i++) {
        size_t len = 1 + (size_t)(i % (CMN_NAME_MAX - 1));
        seed = seed * 1103515245u + 12345u;
        name[0] = first[(seed >> 16) % (sizeof(first) - 1)];
        for (size_t k = 1; k < len; k++) {
            seed = seed * 1103515245u + 12345u;
            name[k] = rest[(seed >> 16) % (sizeof(rest) - 1)];
        }
        name[len] = '\0';
        assert_true(cmn_name_valid(name));
        assert_int_equal(hva_scope_unit_name(name, u, sizeof(u)), 0);
        assert_true(unit_name_ok(u));
        assert_null(strchr(u, '\\'));
        assert_int_equal(strlen(u), strlen(HVA_SCOPE_PREFIX) + len +
                                        strlen(HVA_SCOPE_SUFFIX));
        unescape(u, back);
        assert_string_equal(back, name);
    }
}

/* Bytes outside the unit alphabet, whatever a later name rule or a
 * hand-written definition might let through, are escaped, never passed
 * on: '/', '@' (a template), '\', space, newline, UTF-8, a leading '.'. */
static void test_escaped(void **state)
{
    static const char *const odd[] = {
        "a/b",         "a@b",     "a\\b", "a b", "a\nb",
        "caf\xc3\xa9", ".hidden", "x.y.", "@",   "\x01\x7f\xff",
    };
    char u[HVA_UNIT_NAME_MAX], back[HVA_UNIT_NAME_MAX];

    (void)state;
    assert_int_equal(hva_scope_unit_name("a/b@c", u, sizeof(u)), 0);
    assert_string_equal(u, "kvmcluster-vm-a\\x2fb\\x40c.scope");
    assert_int_equal(hva_scope_unit_name(".x", u, sizeof(u)), 0);
    assert_string_equal(u, "kvmcluster-vm-\\x2ex.scope");
    assert_int_equal(hva_scope_unit_name("x.", u, sizeof(u)), 0);
    assert_string_equal(u, "kvmcluster-vm-x..scope");
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
        assert_int_equal(hva_scope_unit_name(odd[i], u, sizeof(u)), 0);
        assert_true(unit_name_ok(u));
        unescape(u, back);
        assert_string_equal(back, odd[i]);
    }
}

/* Past systemd's 255 bytes, or the caller's buffer: refused, the buffer
 * untouched. The longest allowed VM name needs no escaping and fits. */
static void test_too_long(void **state)
{
    char name[300], u[HVA_UNIT_NAME_MAX];
    size_t fix = strlen(HVA_SCOPE_PREFIX) + strlen(HVA_SCOPE_SUFFIX);

    (void)state;
    memset(name, 'a', sizeof(name));
    name[255 - fix] = '\0'; /* exactly 255 bytes of unit name */
    assert_int_equal(hva_scope_unit_name(name, u, sizeof(u)), 0);
    assert_int_equal(strlen(u), 255);
    assert_true(unit_name_ok(u));
    name[255 - fix] = 'a';
    name[256 - fix] = '\0';
    strcpy(u, "untouched");
    assert_int_equal(hva_scope_unit_name(name, u, sizeof(u)), -ENAMETOOLONG);
    assert_string_equal(u, "untouched");
    /* Four bytes per escaped byte: 63 of them no longer fit. */
    memset(name, '/', 63);
    name[63] = '\0';
    assert_int_equal(hva_scope_unit_name(name, u, sizeof(u)), -ENAMETOOLONG);
    /* A short buffer. */
    assert_int_equal(hva_scope_unit_name("web1", u, 24), -ENAMETOOLONG);
    assert_int_equal(hva_scope_unit_name("web1", u, 25), 0);
    assert_string_equal(u, "kvmcluster-vm-web1.scope");
    assert_int_equal(hva_scope_unit_name("", u, sizeof(u)), -EINVAL);
    assert_int_equal(hva_scope_unit_name(NULL, u, sizeof(u)), -EINVAL);
}

/* Scopes only with the setting on auto, sd-bus built in and systemd as
 * PID 1; otherwise the reason hvagent logs once. */
static void test_use(void **state)
{
    char why[128];

    (void)state;
    assert_true(hva_scope_use(HVA_SCOPE_AUTO, true, true, why, sizeof(why)));
    assert_false(hva_scope_use(HVA_SCOPE_NO, true, true, why, sizeof(why)));
    assert_string_equal(why, "systemd-scope = no");
    assert_false(hva_scope_use(HVA_SCOPE_AUTO, false, true, why, sizeof(why)));
    assert_non_null(strstr(why, "without libsystemd"));
    assert_false(hva_scope_use(HVA_SCOPE_AUTO, true, false, why, sizeof(why)));
    assert_non_null(strstr(why, "not PID 1"));
    assert_false(hva_scope_use(HVA_SCOPE_NO, false, false, why, sizeof(why)));
    assert_string_equal(why, "systemd-scope = no");
    /* What the build says matches configure's finding. */
#ifdef HAVE_LIBSYSTEMD
    assert_true(hva_scope_built());
#else
    assert_false(hva_scope_built());
    assert_false(hva_scope_booted());
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_names),
        cmocka_unit_test(test_every_allowed_name),
        cmocka_unit_test(test_escaped),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_use),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
