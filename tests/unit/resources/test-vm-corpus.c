/* Data-driven VM definition tests: every file in tests/data/vm/good must
 * parse (and survive a round trip); every file in tests/data/vm/bad must
 * fail with the error its sibling .err file names: the first line of the
 * .err is a substring the message must contain (file, line, element and
 * words), an optional second line "code: N" the expected return code
 * (negated project or errno code, e.g. "code: -10005"). */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "resources/res.h"
#include "tests/unit/resources/res-test.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.xml names of `dir`, sorted; count in *ret_n. */
static char **list_xml(const char *dir, size_t *ret_n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);

        if (len < 5 || strcmp(e->d_name + len - 4, ".xml") != 0)
            continue;
        names = realloc(names, (n + 1) * sizeof(*names));
        assert_non_null(names);
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), cmp_str);
    *ret_n = n;
    return names;
}

static void test_good(void **state)
{
    char dir[4096];
    size_t n;
    char **names;

    snprintf(dir, sizeof(dir), "%s/tests/data/vm/good", res_test_srcdir());
    names = list_xml(dir, &n);
    assert_true(n >= 3);
    for (size_t i = 0; i < n; i++) {
        char path[8192], err[1024] = "";
        struct res_vm *vm = NULL, *again = NULL;
        char *xml = NULL;
        int rc;

        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        rc = res_test_parse_file(path, &vm, err, sizeof(err));
        if (rc != 0)
            fail_msg("%s: expected to parse, got %d: %s", names[i], rc, err);
        assert_int_equal(res_vm_serialize(vm, &xml), 0);
        rc = res_vm_parse(xml, strlen(xml), names[i], &again, err, sizeof(err));
        if (rc != 0)
            fail_msg("%s: canonical form fails: %s\n%s", names[i], err, xml);
        assert_true(res_vm_equal(vm, again));
        print_message("good %-28s ok\n", names[i]);
        free(xml);
        res_vm_free(vm);
        res_vm_free(again);
        free(names[i]);
    }
    free(names);
}

static void read_expect(const char *path, char *want, size_t wantlen,
                        int *ret_code, bool *ret_has_code)
{
    FILE *f = fopen(path, "r");
    char line[1024];

    if (f == NULL)
        fail_msg("%s: missing (each bad file needs its .err)", path);
    *ret_has_code = false;
    if (fgets(want, (int)wantlen, f) == NULL)
        fail_msg("%s: empty", path);
    want[strcspn(want, "\n")] = '\0';
    if (fgets(line, sizeof(line), f) != NULL &&
        sscanf(line, "code: %d", ret_code) == 1)
        *ret_has_code = true;
    fclose(f);
}

static void test_bad(void **state)
{
    char dir[4096];
    size_t n;
    char **names;

    snprintf(dir, sizeof(dir), "%s/tests/data/vm/bad", res_test_srcdir());
    names = list_xml(dir, &n);
    assert_true(n >= 20);
    for (size_t i = 0; i < n; i++) {
        char path[8192], epath[8192], want[1024], err[1024] = "";
        struct res_vm *vm = NULL;
        bool has_code;
        int code = 0, rc;

        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        snprintf(epath, sizeof(epath), "%s/%.*s.err", dir,
                 (int)(strlen(names[i]) - 4), names[i]);
        read_expect(epath, want, sizeof(want), &code, &has_code);
        rc = res_test_parse_file(path, &vm, err, sizeof(err));
        if (rc == 0)
            fail_msg("%s: parsed, expected \"%s\"", names[i], want);
        assert_null(vm);
        if (strstr(err, want) == NULL)
            fail_msg("%s: error \"%s\" lacks \"%s\"", names[i], err, want);
        if (strstr(err, names[i]) == NULL)
            fail_msg("%s: error \"%s\" does not name the file", names[i], err);
        if (has_code && rc != code)
            fail_msg("%s: returned %d, expected %d (%s)", names[i], rc, code,
                     err);
        print_message("bad  %-28s %s\n", names[i], strstr(err, names[i]));
        free(names[i]);
    }
    free(names);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
