/* clusterctl cdb get | config get|set, and the cluster part of status
 * and node list|set-state (ctl_cluster_status, ctl_cluster_node, called by
 * cli/ctl-vm.c, which serves those two commands).
 *
 * Each command is one request to the local clusterd over libqb IPC
 * (CD_IPC_NAME); the reply is an XML element, printed as text or, with
 * --output xml, as is. A change is answered once corosync has delivered
 * it to every member. */
#include "config.h"

#include <errno.h>
#include <libxml/tree.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/ctl-client.h"
#include "cli/ctl-cluster.h"
#include "cli/ctl.h"
#include "clusterd/cd-proto.h"
#include "common/cmn-ipc.h"
#include "common/cmn-xml.h"

static bool output_xml;

void ctl_cluster_usage(void)
{
    printf("cluster commands (served by the local clusterd):\n"
           "  status [--output xml]            members, quorum, coordinator,\n"
           "                                   CDB epoch and digest\n"
           "  cdb get                          the cluster database (XML)\n"
           "  cdb add-vm NAME PRIORITY FILE|--ref=REF\n"
           "  cdb remove-vm NAME\n"
           "  cdb add-volume NAME LOCKSPACE LUN...\n"
           "  cdb remove-volume NAME           low-level CDB edits (no VM\n"
           "                                   definition checks)\n"
           "  config get [KEY] [--output xml]  cluster settings\n"
           "  config set KEY VALUE             change a setting\n"
           "  node list [--output xml]         nodes, state, online\n"
           "  node set-state NODE STATE        up|drained|paused|quarantined\n"
           "  cluster cpu                      each node's CPU models, the\n"
           "                                   baseline, what nodes lack\n"
           "  cluster validate [--output xml]  every node's checks: pass,\n"
           "                                   warn or fail, and why (exit\n"
           "                                   1 on any fail)\n");
}

bool ctl_cluster_handles(const char *cmd)
{
    /* status and node are ctl_vm's, which calls ctl_cluster_status and
     * ctl_cluster_node for their cluster part. */
    return !strcmp(cmd, "cdb") || !strcmp(cmd, "config") ||
           !strcmp(cmd, "cluster");
}

static int cmd_status(void)
{
    xmlDoc *doc = NULL;
    char *text = NULL;
    xmlNode *s;
    int rc;

    rc = ctl_cd_call("<request op=\"status\"/>", &doc, &text);
    if (rc)
        return rc;
    if (output_xml) {
        fputs(text, stdout);
        goto out;
    }
    s = xmlDocGetRootElement(doc);
    printf("node:        %s (nodeid %s)\n", ctl_xml_prop(s, "node"),
           ctl_xml_prop(s, "nodeid"));
    printf("corosync:    %s\n", ctl_xml_prop(s, "corosync"));
    printf("quorum:      %s (%s of %s votes, %s needed)\n",
           !strcmp(ctl_xml_prop(s, "quorate"), "yes") ? "quorate"
                                                      : "NOT quorate",
           ctl_xml_prop(s, "total-votes"), ctl_xml_prop(s, "expected-votes"),
           ctl_xml_prop(s, "quorum-votes"));
    printf("coordinator: %s\n", !strcmp(ctl_xml_prop(s, "coordinator"), "0")
                                    ? "none"
                                    : ctl_xml_prop(s, "coordinator"));
    printf("members:    ");
    for (xmlNode *m = s->children; m; m = m->next)
        if (m->type == XML_ELEMENT_NODE &&
            !xmlStrcmp(m->name, (const xmlChar *)"member")) {
            const char *st = ctl_xml_prop(m, "state");
            bool up = !*st || !strcmp(st, "up");
            printf(" %s%s%s%s%s%s", ctl_xml_prop(m, "nodeid"),
                   *ctl_xml_prop(m, "name") ? "(" : "", ctl_xml_prop(m, "name"),
                   up ? "" : " ", up ? "" : st,
                   *ctl_xml_prop(m, "name") ? ")" : "");
        }
    printf("\n");
    for (xmlNode *m = s->children; m; m = m->next) {
        if (m->type == XML_ELEMENT_NODE &&
            !xmlStrcmp(m->name, (const xmlChar *)"clusterd-down"))
            printf("clusterd down: %s%s%s%s (in the corosync membership: its "
                   "VMs keep running, unmanaged)\n",
                   ctl_xml_prop(m, "nodeid"),
                   *ctl_xml_prop(m, "name") ? "(" : "", ctl_xml_prop(m, "name"),
                   *ctl_xml_prop(m, "name") ? ")" : "");
        if (m->type == XML_ELEMENT_NODE && *ctl_xml_prop(m, "storage-reason"))
            printf("storage:     %s %s; takes no VMs\n",
                   ctl_xml_prop(m, "name"), ctl_xml_prop(m, "storage-reason"));
        if (m->type == XML_ELEMENT_NODE && *ctl_xml_prop(m, "ready-reason"))
            printf(
                "ready:       %s %s: %s%s\n", ctl_xml_prop(m, "name"),
                strcmp(ctl_xml_prop(m, "ready"), "no") ? "ready" : "NOT READY",
                ctl_xml_prop(m, "ready-reason"),
                strcmp(ctl_xml_prop(m, "ready"), "no") ? "" : "; takes no VMs");
    }
    printf("cdb:         epoch %s digest %.16s (sync %s, last sync %s ms)\n",
           ctl_xml_prop(s, "epoch"), ctl_xml_prop(s, "digest"),
           ctl_xml_prop(s, "sync"), ctl_xml_prop(s, "last-sync-ms"));
out:
    xmlFreeDoc(doc);
    free(text);
    return CTL_EXIT_OK;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "re");
    char *buf = NULL;
    size_t len = 0, cap = 0, n;

    if (!f) {
        ctl_err("cannot read '%s': %s", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        if (cap - len < 4096) {
            char *p;
            cap = cap ? cap * 2 : 65536;
            if (cap > CMN_IPC_MAX_MSG) {
                ctl_err("'%s' is larger than %d KiB", path,
                        CMN_IPC_MAX_MSG / 2048);
                goto fail;
            }
            p = realloc(buf, cap);
            if (!p)
                goto fail;
            buf = p;
        }
        n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        ctl_err("cannot read '%s': %s", path, strerror(errno));
        goto fail;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
fail:
    fclose(f);
    free(buf);
    return NULL;
}

/* Sends a change request and prints the resulting epoch. */
static int change(const char *req, const char *what)
{
    xmlDoc *doc = NULL;
    int rc = ctl_cd_call(req, &doc, NULL);

    if (rc)
        return rc;
    {
        xmlNode *ok = xmlDocGetRootElement(doc);
        printf("%s (cluster database epoch %s, digest %.16s)\n", what,
               ctl_xml_prop(ok, "epoch"), ctl_xml_prop(ok, "digest"));
    }
    xmlFreeDoc(doc);
    return CTL_EXIT_OK;
}

static int cmd_cdb(int argc, char **argv)
{
    xmlDoc *doc = NULL;
    char *text = NULL, *req = NULL, what[256];
    int rc = CTL_EXIT_FAIL;

    if (argc == 2 && !strcmp(argv[1], "get")) {
        rc = ctl_cd_call("<request op=\"cdb-get\"/>", &doc, &text);
        if (rc)
            return rc;
        fputs(text, stdout);
        xmlFreeDoc(doc);
        free(text);
        return CTL_EXIT_OK;
    }
    /* Low-level edits of the CDB (no VM definition checks). */
    if (argc == 5 && !strcmp(argv[1], "add-vm")) {
        bool ref = !strncmp(argv[4], "--ref=", 6);
        char *n = ctl_xml_escape(argv[2]), *p = ctl_xml_escape(argv[3]);
        char *body = ref ? strdup("") : read_file(argv[4]);
        char *ebody = body ? ctl_xml_escape(body) : NULL;
        char *eref = ref ? ctl_xml_escape(argv[4] + 6) : NULL;

        if (n && p && ebody && (!ref || eref) &&
            asprintf(&req,
                     "<request op=\"cdb-add-vm\" name=\"%s\" priority=\"%s\""
                     "%s%s%s>%s</request>",
                     n, p, ref ? " ref=\"" : "", ref ? eref : "",
                     ref ? "\"" : "", ebody) < 0)
            req = NULL;
        free(n);
        free(p);
        free(body);
        free(ebody);
        free(eref);
        if (req) {
            snprintf(what, sizeof(what), "VM %s added", argv[2]);
            rc = change(req, what);
        }
        free(req);
        return rc;
    }
    if (argc >= 5 && !strcmp(argv[1], "add-volume")) {
        size_t len = 0;
        char *luns, *n = ctl_xml_escape(argv[2]), *l = ctl_xml_escape(argv[3]);
        char *el;

        for (int i = 4; i < argc; i++)
            len += strlen(argv[i]) + 1;
        luns = calloc(1, len + 1);
        for (int i = 4; luns && i < argc; i++) {
            strcat(luns, argv[i]);
            strcat(luns, "\n");
        }
        el = luns ? ctl_xml_escape(luns) : NULL;
        if (n && l && el &&
            asprintf(&req,
                     "<request op=\"cdb-add-volume\" name=\"%s\" "
                     "lockspace=\"%s\">%s</request>",
                     n, l, el) < 0)
            req = NULL;
        free(n);
        free(l);
        free(luns);
        free(el);
        if (req) {
            snprintf(what, sizeof(what), "volume %s added", argv[2]);
            rc = change(req, what);
        }
        free(req);
        return rc;
    }
    if (argc == 3 &&
        (!strcmp(argv[1], "remove-vm") || !strcmp(argv[1], "remove-volume"))) {
        char *n = ctl_xml_escape(argv[2]);
        bool vm = !strcmp(argv[1], "remove-vm");

        if (n && asprintf(&req, "<request op=\"cdb-%s\" name=\"%s\"/>", argv[1],
                          n) < 0)
            req = NULL;
        free(n);
        if (req) {
            snprintf(what, sizeof(what), "%s %s removed", vm ? "VM" : "volume",
                     argv[2]);
            rc = change(req, what);
        }
        free(req);
        return rc;
    }
    ctl_err(
        "usage: clusterctl cdb get | cdb add-vm NAME PRIORITY FILE|--ref=REF"
        " | cdb remove-vm NAME | cdb add-volume NAME LOCKSPACE LUN... | cdb "
        "remove-volume NAME");
    return CTL_EXIT_USAGE;
}

static int cmd_config(int argc, char **argv)
{
    xmlDoc *doc = NULL;
    char *text = NULL, *req = NULL;
    int rc;

    if (argc >= 2 && !strcmp(argv[1], "get") && argc <= 3) {
        char *k = argc == 3 ? ctl_xml_escape(argv[2]) : NULL;
        if (asprintf(&req, "<request op=\"config-get\"%s%s%s/>",
                     k ? " key=\"" : "", k ? k : "", k ? "\"" : "") < 0)
            req = NULL;
        free(k);
        if (!req)
            return CTL_EXIT_FAIL;
        rc = ctl_cd_call(req, &doc, &text);
        free(req);
        if (rc)
            return rc;
        if (output_xml) {
            fputs(text, stdout);
        } else {
            for (xmlNode *n = xmlDocGetRootElement(doc)->children; n;
                 n = n->next)
                if (n->type == XML_ELEMENT_NODE) {
                    if (argc == 3)
                        printf("%s\n", ctl_xml_prop(n, "value"));
                    else
                        printf("%-26s %-16s %s\n", ctl_xml_prop(n, "name"),
                               *ctl_xml_prop(n, "value")
                                   ? ctl_xml_prop(n, "value")
                                   : "\"\"",
                               ctl_xml_prop(n, "unit"));
                }
        }
        xmlFreeDoc(doc);
        free(text);
        return CTL_EXIT_OK;
    }
    if (argc == 4 && !strcmp(argv[1], "set")) {
        char *k = ctl_xml_escape(argv[2]), *v = ctl_xml_escape(argv[3]);
        if (!k || !v ||
            asprintf(&req,
                     "<request op=\"config-set\" key=\"%s\" "
                     "value=\"%s\"/>",
                     k, v) < 0)
            req = NULL;
        free(k);
        free(v);
        if (!req)
            return CTL_EXIT_FAIL;
        rc = ctl_cd_call(req, &doc, NULL);
        free(req);
        if (rc)
            return rc;
        {
            xmlNode *ok = xmlDocGetRootElement(doc);
            printf("%s set (cluster database epoch %s, digest %.16s)\n",
                   argv[2], ctl_xml_prop(ok, "epoch"),
                   ctl_xml_prop(ok, "digest"));
        }
        xmlFreeDoc(doc);
        return CTL_EXIT_OK;
    }
    ctl_err("usage: clusterctl config get [KEY] | config set KEY VALUE");
    return CTL_EXIT_USAGE;
}

/* One line of node list; a quarantine or a reason gets a second line. */
static void print_node(xmlNode *n)
{
    const char *until = ctl_xml_prop(n, "quarantined-until");
    const char *reason = ctl_xml_prop(n, "reason");

    printf("%-16s %6s %-12s %-20s %6s MiB %s%s\n",
           *ctl_xml_prop(n, "name") ? ctl_xml_prop(n, "name") : "-",
           ctl_xml_prop(n, "nodeid"), ctl_xml_prop(n, "state"),
           *ctl_xml_prop(n, "address") ? ctl_xml_prop(n, "address") : "-",
           ctl_xml_prop(n, "memory-mib"), ctl_xml_prop(n, "online"),
           !strcmp(ctl_xml_prop(n, "coordinator"), "yes") ? " (coordinator)"
                                                          : "");
    if (*until && strcmp(until, "0") != 0) {
        time_t t = (time_t)strtoll(until, NULL, 10);
        struct tm tm;
        char when[32] = "?";
        if (localtime_r(&t, &tm))
            strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
        printf("    quarantined until %s: %s ('clusterctl node resume %s' "
               "ends it)\n",
               when, reason, ctl_xml_prop(n, "name"));
    } else if (*reason) {
        printf("    %s: %s\n", ctl_xml_prop(n, "state"), reason);
    }
    if (*ctl_xml_prop(n, "storage-reason"))
        printf("    %s; takes no VMs\n", ctl_xml_prop(n, "storage-reason"));
    if (*ctl_xml_prop(n, "ready-reason"))
        printf("    %s: %s%s\n",
               strcmp(ctl_xml_prop(n, "ready"), "no") ? "ready" : "not ready",
               ctl_xml_prop(n, "ready-reason"),
               strcmp(ctl_xml_prop(n, "ready"), "no") ? "" : "; takes no VMs");
}

/* cluster validate: a table of every node's checks; 1 on any fail. */
static int cmd_validate(void)
{
    xmlDoc *doc = NULL;
    char *text = NULL;
    xmlNode *root;
    int rc = ctl_cd_call("<request op=\"validate\"/>", &doc, &text);

    if (rc)
        return rc;
    root = xmlDocGetRootElement(doc);
    if (output_xml) {
        fputs(text, stdout);
    } else {
        for (xmlNode *n = root->children; n; n = n->next) {
            if (n->type != XML_ELEMENT_NODE)
                continue;
            printf("node %s (nodeid %s)%s\n", ctl_xml_prop(n, "name"),
                   ctl_xml_prop(n, "nodeid"),
                   strcmp(ctl_xml_prop(n, "ready"), "no") ? "" : ": NOT READY");
            for (xmlNode *c = n->children; c; c = c->next) {
                xmlChar *why;
                if (c->type != XML_ELEMENT_NODE)
                    continue;
                why = xmlNodeGetContent(c);
                printf("  %-10s %-4s %s\n", ctl_xml_prop(c, "name"),
                       ctl_xml_prop(c, "status"), why ? (const char *)why : "");
                xmlFree(why);
            }
        }
        printf("%s: %s fail(s), %s warning(s) over %s node(s), as node %s "
               "sees them\n",
               strcmp(ctl_xml_prop(root, "fails"), "0") ? "FAILED" : "passed",
               ctl_xml_prop(root, "fails"), ctl_xml_prop(root, "warns"),
               ctl_xml_prop(root, "nodes"), ctl_xml_prop(root, "node"));
    }
    rc = strcmp(ctl_xml_prop(root, "fails"), "0") ? CTL_EXIT_FAIL : CTL_EXIT_OK;
    xmlFreeDoc(doc);
    free(text);
    return rc;
}

static int cmd_node(int argc, char **argv)
{
    xmlDoc *doc = NULL;
    char *text = NULL, *req = NULL;
    int rc;

    if (argc == 2 && !strcmp(argv[1], "list")) {
        rc = ctl_cd_call("<request op=\"node-list\"/>", &doc, &text);
        if (rc)
            return rc;
        if (output_xml) {
            fputs(text, stdout);
        } else {
            printf("%-16s %6s %-12s %-20s %10s %s\n", "NAME", "NODEID", "STATE",
                   "ADDRESS", "MEMORY", "ONLINE");
            for (xmlNode *n = xmlDocGetRootElement(doc)->children; n;
                 n = n->next)
                if (n->type == XML_ELEMENT_NODE)
                    print_node(n);
        }
        xmlFreeDoc(doc);
        free(text);
        return CTL_EXIT_OK;
    }
    if (argc == 4 && !strcmp(argv[1], "set-state")) {
        char *n = ctl_xml_escape(argv[2]), *s = ctl_xml_escape(argv[3]);
        if (!n || !s ||
            asprintf(&req,
                     "<request op=\"node-state\" node=\"%s\" "
                     "state=\"%s\"/>",
                     n, s) < 0)
            req = NULL;
        free(n);
        free(s);
        if (!req)
            return CTL_EXIT_FAIL;
        rc = ctl_cd_call(req, &doc, NULL);
        free(req);
        if (rc)
            return rc;
        printf("node %s is now %s\n", argv[2], argv[3]);
        xmlFreeDoc(doc);
        return CTL_EXIT_OK;
    }
    ctl_err("usage: clusterctl node list | node set-state NODE STATE");
    return CTL_EXIT_USAGE;
}

int ctl_cluster_status(bool xml)
{
    output_xml = xml;
    return cmd_status();
}

int ctl_cluster_node(int argc, char **argv, bool xml)
{
    output_xml = xml;
    return cmd_node(argc, argv);
}

int ctl_cluster_main(int argc, char **argv)
{
    char *args[16];
    int n = 0;

    /* --output xml may appear anywhere after the command. */
    output_xml = false;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--output") && i + 1 < argc) {
            if (strcmp(argv[i + 1], "xml") != 0) {
                ctl_err("--output '%s' is not supported (use --output xml)",
                        argv[i + 1]);
                return CTL_EXIT_USAGE;
            }
            output_xml = true;
            i++;
            continue;
        }
        if (n == (int)(sizeof(args) / sizeof(args[0]))) {
            ctl_err("too many arguments");
            return CTL_EXIT_USAGE;
        }
        args[n++] = argv[i];
    }
    if (n == 0)
        return CTL_EXIT_USAGE;
    if (!strcmp(args[0], "cdb"))
        return cmd_cdb(n, args);
    if (!strcmp(args[0], "config"))
        return cmd_config(n, args);
    if (!strcmp(args[0], "cluster") && n == 2 && !strcmp(args[1], "cpu"))
        return ctl_cpu_show();
    if (!strcmp(args[0], "cluster") && n == 2 && !strcmp(args[1], "validate"))
        return cmd_validate();
    if (!strcmp(args[0], "cluster")) {
        if (n > 1)
            ctl_err("unknown cluster command '%s' (cluster setup | cpu | "
                    "validate; see 'clusterctl help')",
                    args[1]);
        else
            ctl_err("cluster: which? (cluster setup | cpu | validate)");
        return CTL_EXIT_USAGE;
    }
    ctl_err("usage: clusterctl cdb ... | config get|set (see 'clusterctl "
            "help')");
    return CTL_EXIT_USAGE;
}
