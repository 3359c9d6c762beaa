/* clusterd's XML built by string formatting (cd_buf_xmlf, cd_error_text):
 * a value holding markup characters, as error texts carrying a user's
 * input do, stays one attribute or text node and reads back unchanged. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "clusterd/cd-int.h"
#include "common/cmn-xml.h"

/* What a client could send as a VM name, a path or a move target. */
static const char *const inputs[] = {
    "web\"1",  "<vm name=\"x\"/>", "a&b",      "it's",
    "\"/><x>", "$(touch /tmp/p)",  "&amp;lt;", "tab\tcr\r",
};

static xmlDoc *parse(const char *text)
{
    char err[256];
    xmlDoc *doc = NULL;

    assert_int_equal(cmn_xml_parse_mem(text, strlen(text), "reply", 0, &doc,
                                       err, sizeof(err)),
                     0);
    return doc;
}

static void test_buf_xmlf(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        struct cd_buf b;
        char *text = NULL;
        xmlDoc *doc;
        xmlNode *root;
        xmlChar *v;

        cd_buf_init(&b);
        cd_buf_xmlf(&b, "<ok action=\"%u\" vm=\"%s\" from=\"%s\">", 7u,
                    inputs[i], "node1");
        cd_buf_xmlf(&b, "VM '%s': queued\n", inputs[i]);
        cd_buf_puts(&b, "</ok>");
        assert_int_equal(cd_buf_steal(&b, &text, NULL), 0);
        doc = parse(text);
        root = xmlDocGetRootElement(doc);
        assert_null(root->children->next); /* one text node, no element */
        v = xmlGetProp(root, (const xmlChar *)"vm");
        assert_string_equal((const char *)v, inputs[i]);
        xmlFree(v);
        v = xmlGetProp(root, (const xmlChar *)"from");
        assert_string_equal((const char *)v, "node1");
        xmlFree(v);
        v = xmlNodeGetContent(root);
        char want[128];
        snprintf(want, sizeof(want), "VM '%s': queued\n", inputs[i]);
        assert_string_equal((const char *)v, want);
        xmlFree(v);
        xmlFreeDoc(doc);
        free(text);
    }
}

/* An error naming the user's input, as the request handlers build it. */
static void test_error_text(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        char msg[256];
        char *text;
        xmlDoc *doc;
        xmlChar *v;

        snprintf(msg, sizeof(msg),
                 "VM '%s' does not exist (see 'clusterctl vm list')",
                 inputs[i]);
        text = cd_error_text(-ENOENT, msg);
        assert_non_null(text);
        doc = parse(text);
        v = xmlNodeGetContent(xmlDocGetRootElement(doc));
        assert_string_equal((const char *)v, msg);
        xmlFree(v);
        xmlFreeDoc(doc);
        free(text);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_xmlf),
        cmocka_unit_test(test_error_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
