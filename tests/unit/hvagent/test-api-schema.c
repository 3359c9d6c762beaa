/* hvagent's API messages against schemas/hvagent-api.rng: the documents
 * hvactl and clusterd send, and the shapes hvagent answers with. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/cmn-xml.h"
#include "hvagent/hva-int.h"

static const char *const good[] = {
    "<request op=\"subscribe\"/>",
    "<request op=\"status\"/>",
    "<request op=\"status\" vm=\"g1\"/>",
    "<request op=\"start\" vm=\"g1\"/>",
    "<request op=\"stop\" vm=\"g1\" timeout-ms=\"30000\"/>",
    "<request op=\"migrate-out\" vm=\"g1\" to=\"198.18.1.2:7410\" "
    "downtime-ms=\"50\" max-passes=\"10\" converge=\"throttle\"/>",
    "<request op=\"define\"><vm name=\"g1\" uuid=\"5a1b0c2d-3e4f\" "
    "memory-mib=\"1024\" vcpus=\"1\"><kernel path=\"/k\" initrd=\"/i\" "
    "cmdline=\"wss=64\"/>"
    "<disk path=\"/run/kvmcluster/luns/naa.1\" offset=\"0\" size=\"1\"/>"
    "<lease lockspace=\"ls\" resource=\"vm-g1\" path=\"/l\" offset=\"0\"/>"
    "<state path=\"/s\" offset=\"0\" size=\"4096\"/></vm></request>",
    "<reply rc=\"0\" vm=\"g1\" state=\"defined\" downtime-ms=\"31\"/>",
    "<reply rc=\"-10403\" error=\"lease held\"/>",
    "<reply rc=\"0\" node=\"node1\"><vm name=\"g1\" uuid=\"u\" "
    "state=\"running\" pid=\"42\" lease=\"yes\" uptime-ms=\"5\" "
    "phase=\"none\" serial=\"/x\"/></reply>",
    "<reply rc=\"0\" node=\"node1\"><vm name=\"g1\" uuid=\"u\" "
    "state=\"paused\" pid=\"42\" lease=\"yes\" uptime-ms=\"5\" "
    "phase=\"none\" serial=\"/x\" io-error=\"eio\" io-error-disk=\"-1\" "
    "io-error-device=\"\" io-error-ms=\"2\" io-error-retries=\"0\"/></reply>",
    "<event type=\"state\" vm=\"g1\" uuid=\"u\" state=\"paused\" "
    "io-error=\"enospc\" io-error-disk=\"0\" io-error-device=\"vd0\"/>",
    "<event type=\"migration\" vm=\"g1\" phase=\"out-precopy\" pass=\"2\"/>",
    "<event type=\"state\" vm=\"g1\" uuid=\"u\" state=\"running\"/>",
    "<request op=\"cpu\"/>",
    "<request op=\"disk-add\" vm=\"g1\" slot=\"24\" "
    "path=\"/run/kvmcluster/luns/naa.1\" offset=\"0\" size=\"4096\"/>",
    "<request op=\"disk-remove\" vm=\"g1\" slot=\"31\"/>",
    "<request op=\"mirror\" vm=\"g1\" action=\"start\" "
    "copy-mode=\"write-blocking\" speed=\"2097152\">"
    "<disk path=\"/run/kvmcluster/luns/naa.3\" offset=\"1048576\" "
    "size=\"8388608\"/><lease lockspace=\"v2\" resource=\"slot-1\" "
    "path=\"/run/kvmcluster/luns/naa.3\" offset=\"4194304\"/></request>",
    "<request op=\"mirror\" vm=\"g1\" action=\"cancel\"/>",
    "<reply rc=\"0\" vm=\"g1\" state=\"copying\" done=\"1\" total=\"2\" "
    "disks=\"1\" targets-dropped=\"no\" msg=\"\"/>",
    "<reply rc=\"0\" node=\"node1\"><cpu>host sse sse2\nmodel Conroe 28\n"
    "model Westmere 35 aes\n</cpu></reply>",
};

static const char *const bad[] = {
    "<request op=\"frobnicate\" vm=\"g1\"/>",
    "<request op=\"start\"/>",
    "<request op=\"disk-remove\" vm=\"g1\" slot=\"23\"/>",
    "<request op=\"disk-add\" vm=\"g1\" slot=\"24\"/>",
    "<request op=\"mirror\" vm=\"g1\" action=\"start\"/>",
    "<request op=\"mirror\" vm=\"g1\" action=\"pivot\"/>",
    "<request op=\"migrate-out\" vm=\"g1\"/>",
    "<request op=\"migrate-out\" vm=\"g1\" to=\"x\" converge=\"pray\"/>",
    "<request op=\"define\"><vm uuid=\"ab\"/></request>",
    "<reply/>",
    "<reply rc=\"0\"><cpu><x/></cpu></reply>",
    /* an io-error reason hvagent never sends, or half the condition */
    "<reply rc=\"0\" node=\"node1\"><vm name=\"g1\" uuid=\"u\" "
    "state=\"paused\" pid=\"42\" lease=\"yes\" uptime-ms=\"5\" "
    "phase=\"none\" serial=\"/x\" io-error=\"bad\" io-error-disk=\"0\" "
    "io-error-device=\"vd0\" io-error-ms=\"2\" "
    "io-error-retries=\"0\"/></reply>",
    "<reply rc=\"0\" node=\"node1\"><vm name=\"g1\" uuid=\"u\" "
    "state=\"paused\" pid=\"42\" lease=\"yes\" uptime-ms=\"5\" "
    "phase=\"none\" serial=\"/x\" io-error=\"eio\"/></reply>",
    "<event type=\"gossip\" vm=\"g1\"/>",
};

static int check(struct cmn_xml_schema *s, const char *text)
{
    xmlDoc *doc = NULL;
    char err[512];
    int rc;

    rc = cmn_xml_parse_mem(text, strlen(text), "msg", 1u << 20, &doc, err,
                           sizeof(err));
    if (rc == 0)
        rc = cmn_xml_validate(s, doc, err, sizeof(err));
    xmlFreeDoc(doc);
    return rc;
}

static void test_messages(void **state)
{
    struct cmn_xml_schema *s = NULL;
    char err[512];

    (void)state;
    assert_int_equal(cmn_xml_schema_load(cmn_xml_schema_path("hvagent-api.rng"),
                                         &s, err, sizeof(err)),
                     0);
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (check(s, good[i]) != 0)
            fail_msg("valid message refused: %s", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (check(s, bad[i]) == 0)
            fail_msg("invalid message accepted: %s", bad[i]);
    cmn_xml_schema_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
