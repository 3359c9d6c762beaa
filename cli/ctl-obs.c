/* clusterctl metrics | history: this node's metrics as OpenMetrics text,
 * and the history of the cluster's actions (moves, failovers, restarts,
 * drain steps) with the passes of each live migration. clusterd keeps
 * both (clusterd/cd-obs.h); this is their client. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/ctl-client.h"
#include "cli/ctl-obs.h"
#include "cli/ctl.h"
#include "clusterd/cd-proto.h"
#include "common/cmn-name.h"

void ctl_obs_usage(void)
{
    printf("observability (served by the local clusterd):\n"
           "  metrics                          this node's metrics "
           "(OpenMetrics)\n"
           "  history [VM] [--since TIME] [--output xml]\n"
           "                                   actions and their figures;\n"
           "                                   TIME: seconds since 1970, an\n"
           "                                   age (30m, 2h, 1d) or a date\n"
           "                                   (YYYY-MM-DD[ HH:MM[:SS]])\n");
}

bool ctl_obs_handles(const char *cmd)
{
    return !strcmp(cmd, "metrics") || !strcmp(cmd, "history");
}

int ctl_obs_parse_since(const char *s, time_t now, uint64_t *ret)
{
    static const char *const forms[] = {"%Y-%m-%d %H:%M:%S",
                                        "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M",
                                        "%Y-%m-%dT%H:%M", "%Y-%m-%d"};
    char *end;
    unsigned long long v;

    if (*s >= '0' && *s <= '9') {
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno == 0 && end != s) {
            uint64_t unit = !*end               ? 0
                            : !strcmp(end, "s") ? 1
                            : !strcmp(end, "m") ? 60
                            : !strcmp(end, "h") ? 3600
                            : !strcmp(end, "d") ? 86400
                                                : UINT64_MAX;
            if (unit == 0) {
                *ret = v;
                return 0;
            }
            if (unit != UINT64_MAX && v <= (uint64_t)now / unit) {
                *ret = (uint64_t)now - v * unit;
                return 0;
            }
        }
    }
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        struct tm tm = {0};
        const char *p = strptime(s, forms[i], &tm);
        if (p && !*p) {
            time_t t;
            tm.tm_isdst = -1;
            t = mktime(&tm);
            if (t < 0)
                break;
            *ret = (uint64_t)t;
            return 0;
        }
    }
    return -EINVAL;
}

static int cmd_metrics(int argc, char **argv)
{
    xmlDoc *doc = NULL;
    xmlChar *text;
    int rc;

    (void)argv;
    if (argc != 1) {
        ctl_err("usage: clusterctl metrics");
        return CTL_EXIT_USAGE;
    }
    rc = ctl_cd_call("<request op=\"metrics\"/>", &doc, NULL);
    if (rc)
        return rc;
    text = xmlNodeGetContent(xmlDocGetRootElement(doc));
    fputs(text ? (const char *)text : "", stdout);
    xmlFree(text);
    xmlFreeDoc(doc);
    return CTL_EXIT_OK;
}

static void when(const char *secs, char *buf, size_t len)
{
    time_t t = (time_t)strtoll(secs, NULL, 10);
    struct tm tm;

    if (t <= 0 || !localtime_r(&t, &tm) ||
        !strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm))
        snprintf(buf, len, "%-19s", "?");
}

static void print_action(xmlNode *a)
{
    char t[32];
    const char *v;

    when(ctl_xml_prop(a, "ended"), t, sizeof(t));
    printf("%s  %-16s %-15s %-8s %-6s", t, ctl_xml_prop(a, "vm"),
           ctl_xml_prop(a, "kind"), ctl_xml_prop(a, "cause"),
           ctl_xml_prop(a, "status"));
    if (*ctl_xml_prop(a, "from") || *ctl_xml_prop(a, "to"))
        printf("  %s -> %s",
               *ctl_xml_prop(a, "from") ? ctl_xml_prop(a, "from") : "-",
               *ctl_xml_prop(a, "to") ? ctl_xml_prop(a, "to") : "-");
    if (strcmp(ctl_xml_prop(a, "downtime-ms"), "0"))
        printf("  downtime %s ms", ctl_xml_prop(a, "downtime-ms"));
    if (strcmp(ctl_xml_prop(a, "total-ms"), "0"))
        printf("  total %s ms", ctl_xml_prop(a, "total-ms"));
    v = ctl_xml_prop(a, "failover-ms");
    if (*v) {
        /* Without start-ms (a history from before the split, or an
         * executor that did not measure it) lease wait holds the start. */
        bool split = *ctl_xml_prop(a, "start-ms");
        printf("  failover %s ms (detection %s ms, lease wait %s ms", v,
               *ctl_xml_prop(a, "detection-ms")
                   ? ctl_xml_prop(a, "detection-ms")
                   : "?",
               ctl_xml_prop(a, "lease-wait-ms"));
        if (split)
            printf(", start %s ms)", ctl_xml_prop(a, "start-ms"));
        else
            printf(" with the start)");
    }
    v = ctl_xml_prop(a, "msg");
    if (*v)
        printf("  (%s)", v);
    putchar('\n');
    for (xmlNode *p = a->children; p; p = p->next)
        if (p->type == XML_ELEMENT_NODE &&
            !strcmp((const char *)p->name, "pass"))
            printf("    pass %s at %s ms: %s bytes sent, %s remaining, "
                   "dirty rate %s bytes/s, expected downtime %s ms\n",
                   ctl_xml_prop(p, "n"), ctl_xml_prop(p, "at-ms"),
                   ctl_xml_prop(p, "transferred"), ctl_xml_prop(p, "remaining"),
                   *ctl_xml_prop(p, "dirty-rate")
                       ? ctl_xml_prop(p, "dirty-rate")
                       : "?",
                   ctl_xml_prop(p, "expected-downtime-ms"));
}

static int cmd_history(int argc, char **argv)
{
    const char *vm = NULL;
    bool xml = false;
    uint64_t since = 0;
    char req[256];
    xmlDoc *doc = NULL;
    char *text = NULL;
    size_t n = 0;
    int rc;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--output") && i + 1 < argc &&
            !strcmp(argv[i + 1], "xml")) {
            xml = true;
            i++;
        } else if (!strcmp(argv[i], "--since") && i + 1 < argc) {
            if (ctl_obs_parse_since(argv[i + 1], time(NULL), &since) < 0) {
                ctl_err("--since '%s' is not a time (give seconds since "
                        "1970, an age like 30m, 2h, 1d, or a date "
                        "YYYY-MM-DD[ HH:MM[:SS]])",
                        argv[i + 1]);
                return CTL_EXIT_USAGE;
            }
            i++;
        } else if (argv[i][0] != '-' && !vm) {
            vm = argv[i];
            if (!cmn_name_valid(vm)) {
                ctl_err("'%s' is not a VM name (see 'clusterctl vm list')", vm);
                return CTL_EXIT_USAGE;
            }
        } else {
            ctl_err("usage: clusterctl history [VM] [--since TIME] "
                    "[--output xml]");
            return CTL_EXIT_USAGE;
        }
    }
    snprintf(req, sizeof(req),
             "<request op=\"history\" since=\"%" PRIu64 "\"%s%s%s/>", since,
             vm ? " vm=\"" : "", vm ? vm : "", vm ? "\"" : "");
    rc = ctl_cd_call(req, &doc, &text);
    if (rc)
        return rc;
    if (xml) {
        fputs(text, stdout);
    } else {
        for (xmlNode *a = xmlDocGetRootElement(doc)->children; a; a = a->next)
            if (a->type == XML_ELEMENT_NODE &&
                !strcmp((const char *)a->name, "action")) {
                print_action(a);
                n++;
            }
        if (n == 0)
            printf("no actions%s%s%s\n", vm ? " of VM '" : "", vm ? vm : "",
                   vm ? "'" : "");
    }
    free(text);
    xmlFreeDoc(doc);
    return CTL_EXIT_OK;
}

int ctl_obs_main(int argc, char **argv)
{
    if (!strcmp(argv[0], "metrics"))
        return cmd_metrics(argc, argv);
    return cmd_history(argc, argv);
}
