/* XML helpers: safe parsing (no DTD, no entities, size cap) and RelaxNG
 * validation reporting the first error with its line. */
#include "config.h"

#include <dirent.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/cmn-err.h"
#include "common/cmn-xml.h"

static char *data_path(const char *rel)
{
    const char *src = getenv("KVMC_SRCDIR");
    static char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/tests/data/xml/%s", src ? src : ".", rel);
    return path;
}

static struct cmn_xml_schema *load_schema(void)
{
    struct cmn_xml_schema *s = NULL;
    char err[512];

    if (cmn_xml_schema_load(data_path("test.rng"), &s, err, sizeof(err)))
        fail_msg("schema: %s", err);
    return s;
}

static void test_good(void **state)
{
    CMN_AUTO(cmn_xml_schema) *s = load_schema();
    xmlDoc *doc = NULL;
    char err[512];

    assert_int_equal(
        cmn_xml_parse_file(data_path("good/vm.xml"), 0, &doc, err, sizeof(err)),
        0);
    assert_int_equal(cmn_xml_validate(s, doc, err, sizeof(err)), 0);
    xmlFreeDoc(doc);
}

static void test_size_limit(void **state)
{
    const char *small = "<vm name=\"a\"><memory>1</memory></vm>";
    xmlDoc *doc = NULL;
    char err[512];

    assert_int_equal(cmn_xml_parse_mem(small, strlen(small), "mem", 10, &doc,
                                       err, sizeof(err)),
                     -CMN_E_TOO_BIG);
    assert_null(doc);
    assert_non_null(strstr(err, "limit is 10"));
    assert_int_equal(cmn_xml_parse_file(data_path("good/vm.xml"), 16, &doc, err,
                                        sizeof(err)),
                     -CMN_E_TOO_BIG);
    assert_int_equal(cmn_xml_parse_mem(small, strlen(small), "mem", 0, &doc,
                                       err, sizeof(err)),
                     0);
    xmlFreeDoc(doc);
}

static void test_schema_load_error(void **state)
{
    struct cmn_xml_schema *s = NULL;
    char err[512];

    assert_int_equal(
        cmn_xml_schema_load(data_path("good/vm.xml"), &s, err, sizeof(err)),
        -CMN_E_SCHEMA);
    assert_null(s);
    assert_non_null(strstr(err, "cannot load schema"));
}

/* Each bad/X.xml fails (parse or validation) with bad/X.err's text. */
static void test_bad_corpus(void **state)
{
    CMN_AUTO(cmn_xml_schema) *s = load_schema();
    char dir[PATH_MAX];
    struct dirent *de;
    DIR *d;
    int checked = 0;

    snprintf(dir, sizeof(dir), "%s", data_path("bad"));
    d = opendir(dir);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        char xml[PATH_MAX + 300], errf[PATH_MAX + 300], want[512];
        char err[512] = "";
        xmlDoc *doc = NULL;
        size_t l = strlen(de->d_name);
        FILE *f;
        int rc;

        if (l < 5 || strcmp(de->d_name + l - 4, ".xml") != 0)
            continue;
        snprintf(xml, sizeof(xml), "%s/%s", dir, de->d_name);
        snprintf(errf, sizeof(errf), "%s/%.*s.err", dir, (int)(l - 4),
                 de->d_name);
        f = fopen(errf, "r");
        if (f == NULL)
            fail_msg("%s has no .err twin", xml);
        if (fgets(want, sizeof(want), f) == NULL)
            fail_msg("%s is empty", errf);
        fclose(f);
        want[strcspn(want, "\n")] = '\0';

        rc = cmn_xml_parse_file(xml, 0, &doc, err, sizeof(err));
        if (rc == 0) {
            rc = cmn_xml_validate(s, doc, err, sizeof(err));
            xmlFreeDoc(doc);
            if (rc == 0)
                fail_msg("%s is valid but must fail with: %s", de->d_name,
                         want);
            assert_int_equal(rc, -CMN_E_SCHEMA);
        }
        if (strstr(err, want) == NULL)
            fail_msg("%s: got \"%s\", want \"%s\"", de->d_name, err, want);
        checked++;
    }
    closedir(d);
    assert_true(checked >= 7);
}

static void test_schema_path(void **state)
{
    setenv("KVMC_SCHEMADIR", "/x/schemas", 1);
    assert_string_equal(cmn_xml_schema_path("vm.rng"), "/x/schemas/vm.rng");
    unsetenv("KVMC_SCHEMADIR");
    assert_non_null(strstr(cmn_xml_schema_path("vm.rng"), "schemas/vm.rng"));
}

/* Names with markup and shell characters survive the one escaping rule
 * into an attribute and a text node, byte for byte, and cannot add an
 * attribute or an element. */
static void test_escape_round_trip(void **state)
{
    static const char *const names[] = {
        "web\"1",
        "<vm>",
        "a&b",
        "x,y",
        "$(touch /tmp/p)",
        "\"/><x a=\"",
        "tab\there\nline\r",
        "",
    };
    char err[256], buf[1024];

    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char *e = cmn_xml_escape(names[i]);
        xmlDoc *doc = NULL;
        xmlNode *root;
        xmlChar *attr, *text;

        assert_non_null(e);
        assert_null(strpbrk(e, "<>\"\n\r\t"));
        snprintf(buf, sizeof(buf), "<event vm=\"%s\">%s</event>", e, e);
        assert_int_equal(cmn_xml_parse_mem(buf, strlen(buf), "test", 0, &doc,
                                           err, sizeof(err)),
                         0);
        root = xmlDocGetRootElement(doc);
        assert_null(root->children ? root->children->next : NULL);
        assert_null(root->properties->next);
        attr = xmlGetProp(root, (const xmlChar *)"vm");
        text = xmlNodeGetContent(root);
        assert_string_equal((const char *)attr, names[i]);
        assert_string_equal((const char *)text, names[i]);
        xmlFree(attr);
        xmlFree(text);
        xmlFreeDoc(doc);
        free(e);
    }
    assert_string_equal(cmn_xml_entity('&'), "&amp;");
    assert_null(cmn_xml_entity('$'));
}

/* cmn_xml_format: each %s a value (escaped, survives a parse byte for
 * byte); every other conversion exactly as printf writes it. */
static void test_format(void **state)
{
    static const char evil[] = "a\"<b>&c'd\"/><x y=\"";
    char err[256], want[512];
    xmlDoc *doc = NULL;
    xmlNode *root;
    xmlChar *a;
    char *s;

    (void)state;
    s = cmn_xml_format("<error node=\"%s\" code=\"%d\" n=\"%u\" big=\"%" PRIu64
                       "\" z=\"%zu\" x=\"%#06x\" c=\"%c\" pct=\"%%\" "
                       "cut=\"%.*s\" pad=\"%5s|%-3d|\">%s</error>",
                       evil, -16, 7u, UINT64_MAX, (size_t)42, 0xbeefu, 'q', 4,
                       "<<<<<<", "ab", 5,
                       "VM 'web\"9' <does not> exist & more");
    assert_non_null(s);
    snprintf(want, sizeof(want),
             "<error node=\"a&quot;&lt;b&gt;&amp;c'd&quot;/&gt;&lt;x "
             "y=&quot;\" code=\"-16\" n=\"7\" big=\"%" PRIu64
             "\" z=\"42\" x=\"0xbeef\" c=\"q\" pct=\"%%\" "
             "cut=\"&lt;&lt;&lt;&lt;\" pad=\"   ab|5  |\">VM 'web&quot;9' "
             "&lt;does not&gt; exist &amp; more</error>",
             UINT64_MAX);
    assert_string_equal(s, want);
    assert_int_equal(
        cmn_xml_parse_mem(s, strlen(s), "test", 0, &doc, err, sizeof(err)), 0);
    root = xmlDocGetRootElement(doc);
    a = xmlGetProp(root, (const xmlChar *)"node");
    assert_string_equal((const char *)a, evil);
    xmlFree(a);
    a = xmlNodeGetContent(root);
    assert_string_equal((const char *)a, "VM 'web\"9' <does not> exist & more");
    xmlFree(a);
    xmlFreeDoc(doc);
    free(s);

    /* without a %s it is printf */
    s = cmn_xml_format("<ok n=\"%ld\" m=\"%lld\" h=\"%hu\"/>", -3L, -4LL,
                       (unsigned short)65535);
    assert_string_equal(s, "<ok n=\"-3\" m=\"-4\" h=\"65535\"/>");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_schema_load_error),
        cmocka_unit_test(test_bad_corpus),
        cmocka_unit_test(test_schema_path),
        cmocka_unit_test(test_escape_round_trip),
        cmocka_unit_test(test_format),
    };
    return cmocka_run_group_tests_name("xml", tests, NULL, NULL);
}
