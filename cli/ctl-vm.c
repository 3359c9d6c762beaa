/* clusterctl status (with VMs) | vm add|remove|start|stop|list|show |
 * move-vm | node drain|resume | explain | events.
 *
 * Every command is a request to the local clusterd (CD_IPC_NAME). Changes
 * are answered once every member applied them; commands that wait for
 * the cluster to act (vm start/stop, move-vm, node drain) then follow the
 * VM's state or clusterd's event stream until the work is done, with a
 * deadline. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <libxml/tree.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/ctl-cluster.h"
#include "cli/ctl-vm.h"
#include "cli/ctl.h"
#include "clusterd/cd.h"
#include "common/cmn-ipc.h"
#include "common/cmn-xml.h"

#define CALL_MS       30000
#define SYNC_RETRY_MS 15000
#define START_WAIT_MS 200000 /* failover starts wait for sanlock */
#define MOVE_WAIT_MS  660000
#define DRAIN_WAIT_MS 1800000

static bool output_xml;

static void verr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void verr(const char *fmt, ...)
{
    va_list ap;

    fputs("clusterctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void ctl_vm_usage(void)
{
    printf(
        "VM commands (served by the local clusterd):\n"
        "  status [--output xml]            cluster status and every VM\n"
        "  vm add FILE.xml                  add a VM (kvmcluster-vm(5))\n"
        "  vm remove VM                     remove a stopped VM\n"
        "  vm start|stop VM [--no-wait]     keep it running / stopped\n"
        "  vm list [--output xml]           VMs: state, node, priority\n"
        "  vm show VM [--output xml]        one VM, its definition and\n"
        "                                   recent actions\n"
        "  move-vm VM [--to NODE] --live|--quick\n"
        "                                   migrate (without --to: the best\n"
        "                                   node placement finds)\n"
        "  node drain NODE [--no-wait]      move every VM off NODE\n"
        "  node resume NODE                 NODE takes VMs again\n"
        "  explain VM [--output xml]        why the VM is where it is\n"
        "  events [--output xml]            live stream of VM events\n");
}

bool ctl_vm_handles(const char *cmd)
{
    return !strcmp(cmd, "status") || !strcmp(cmd, "vm") ||
           !strcmp(cmd, "move-vm") || !strcmp(cmd, "explain") ||
           !strcmp(cmd, "events") || !strcmp(cmd, "node");
}

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *prop(xmlNode *n, const char *name)
{
    for (xmlAttr *a = n ? n->properties : NULL; a; a = a->next)
        if (!strcmp((const char *)a->name, name) && a->children)
            return (const char *)a->children->content;
    return "";
}

static char *xml_escape(const char *s)
{
    size_t n = 0;
    char *out, *p;

    for (const char *q = s; *q; q++)
        n += *q == '&' ? 5 : *q == '<' || *q == '>' ? 4 : *q == '"' ? 6 : 1;
    out = p = malloc(n + 1);
    if (!out)
        return NULL;
    for (; *s; s++) {
        if (*s == '&')
            p = stpcpy(p, "&amp;");
        else if (*s == '<')
            p = stpcpy(p, "&lt;");
        else if (*s == '>')
            p = stpcpy(p, "&gt;");
        else if (*s == '"')
            p = stpcpy(p, "&quot;");
        else
            *p++ = *s;
    }
    *p = '\0';
    return out;
}

static int connect_cd(struct cmn_ipc_client **ret)
{
    int rc = cmn_ipc_client_connect(CD_IPC_NAME, ret);

    if (rc < 0) {
        verr("cannot reach clusterd on this node (%s): is it running? "
             "(systemctl status clusterd, or clusterd -f)",
             strerror(-rc < 10000 ? -rc : ECONNREFUSED));
        return CTL_EXIT_FAIL;
    }
    return CTL_EXIT_OK;
}

/* One request on `c`; the reply document on success, else the error is
 * printed and the exit code returned. Writes refused while members sync
 * are retried for a while. */
static int call_on(struct cmn_ipc_client *c, const char *request,
                   xmlDoc **ret_doc, char **ret_text)
{
    uint64_t deadline = now_ms() + SYNC_RETRY_MS;
    char err[512];
    int rc;

    for (;;) {
        char *reply = NULL;
        xmlDoc *doc = NULL;
        xmlNode *root;
        long code;

        rc = cmn_ipc_call(c, request, CALL_MS, &reply);
        if (rc < 0) {
            verr("no answer from clusterd: %s",
                 rc == -ETIMEDOUT ? "timed out" : strerror(-rc));
            return CTL_EXIT_FAIL;
        }
        rc = cmn_xml_parse_mem(reply, strlen(reply), "reply", CMN_IPC_MAX_MSG,
                               &doc, err, sizeof(err));
        if (rc < 0) {
            verr("clusterd sent a malformed reply: %s", err);
            free(reply);
            return CTL_EXIT_FAIL;
        }
        root = xmlDocGetRootElement(doc);
        if (strcmp((const char *)root->name, "error") != 0) {
            *ret_doc = doc;
            if (ret_text)
                *ret_text = reply;
            else
                free(reply);
            return CTL_EXIT_OK;
        }
        code = strtol(prop(root, "code"), NULL, 10);
        if (code == CD_E_SYNCING && now_ms() < deadline) {
            xmlFreeDoc(doc);
            free(reply);
            poll(NULL, 0, 100);
            continue;
        }
        {
            xmlChar *msg = xmlNodeGetContent(root);
            verr("%s", msg ? (const char *)msg : "request failed");
            xmlFree(msg);
        }
        xmlFreeDoc(doc);
        free(reply);
        return code == CD_E_NO_QUORUM || code == CD_E_PERM ? CTL_EXIT_REFUSED
                                                           : CTL_EXIT_FAIL;
    }
}

static int call(const char *request, xmlDoc **ret_doc, char **ret_text)
{
    CMN_AUTO(cmn_ipc_client) *c = NULL;
    int rc = connect_cd(&c);

    return rc ? rc : call_on(c, request, ret_doc, ret_text);
}

static int request_vm(const char *op, const char *vm, xmlDoc **ret_doc,
                      char **ret_text)
{
    char *e = xml_escape(vm);
    char *req = NULL;
    int rc;

    if (!e || asprintf(&req, "<request op=\"%s\" vm=\"%s\"/>", op, e) < 0) {
        free(e);
        return CTL_EXIT_FAIL;
    }
    rc = call(req, ret_doc, ret_text);
    free(req);
    free(e);
    return rc;
}

static xmlNode *first_elem(xmlNode *n, const char *name)
{
    for (; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name))
            return n;
    return NULL;
}

/* ------------------------------------------------------------ listing */

static void print_vm_table(xmlDoc *doc)
{
    xmlNode *root = xmlDocGetRootElement(doc);
    int n = 0;

    for (xmlNode *v = first_elem(root->children, "vm"); v;
         v = first_elem(v->next, "vm")) {
        const char *node = prop(v, "node");
        if (!n++)
            printf("%-16s %-10s %-10s %-12s %-8s %s\n", "VM", "STATE", "NODE",
                   "PRIORITY", "TARGET", "ACTION");
        printf("%-16s %-10s %-10s %-12s %-8s", prop(v, "name"),
               prop(v, "state"), *node ? node : "-", prop(v, "priority"),
               prop(v, "target"));
        if (*prop(v, "action"))
            printf(" %s %s -> %s", prop(v, "action"), prop(v, "action-from"),
                   prop(v, "action-to"));
        if (strtoul(prop(v, "copies"), NULL, 10) > 1)
            printf(" (reported on %s nodes!)", prop(v, "copies"));
        putchar('\n');
    }
    if (!n)
        printf("no VMs (add one with 'clusterctl vm add FILE.xml')\n");
    if (!strcmp(prop(root, "settled"), "no"))
        printf("(runtime state still being gathered from the members)\n");
}

static int cmd_status(int argc, char **argv)
{
    xmlDoc *doc = NULL;
    char *text = NULL;
    static char opt_output[] = "--output", opt_xml[] = "xml";
    char *args[3] = {argv[0], NULL, NULL};
    int rc;

    if (output_xml) {
        args[1] = opt_output;
        args[2] = opt_xml;
    }
    (void)argc;
    rc = ctl_cluster_main(output_xml ? 3 : 1, args);
    if (rc)
        return rc;
    fflush(stdout);
    rc = call("<request op=\"vm-list\"/>", &doc, &text);
    if (rc)
        return rc;
    if (output_xml) {
        fputs(text, stdout);
    } else {
        putchar('\n');
        print_vm_table(doc);
    }
    free(text);
    xmlFreeDoc(doc);
    return CTL_EXIT_OK;
}

static int cmd_list(void)
{
    xmlDoc *doc = NULL;
    char *text = NULL;
    int rc = call("<request op=\"vm-list\"/>", &doc, &text);

    if (rc)
        return rc;
    if (output_xml)
        fputs(text, stdout);
    else
        print_vm_table(doc);
    free(text);
    xmlFreeDoc(doc);
    return CTL_EXIT_OK;
}

static int cmd_show(const char *vm)
{
    xmlDoc *doc = NULL;
    char *text = NULL;
    xmlNode *v, *def;
    int rc = request_vm("vm-show", vm, &doc, &text);

    if (rc)
        return rc;
    if (output_xml) {
        fputs(text, stdout);
        goto out;
    }
    v = first_elem(xmlDocGetRootElement(doc)->children, "vm");
    printf("name:      %s\n", prop(v, "name"));
    printf("state:     %s%s%s\n", prop(v, "state"),
           *prop(v, "node") ? " on " : "", prop(v, "node"));
    printf("target:    %s\n", prop(v, "target"));
    printf("priority:  %s\n", prop(v, "priority"));
    printf("failures:  %s\n", prop(v, "failures"));
    if (*prop(v, "action"))
        printf("action:    %s %s -> %s\n", prop(v, "action"),
               prop(v, "action-from"), prop(v, "action-to"));
    for (xmlNode *a = first_elem(v->children, "action"); a;
         a = first_elem(a->next, "action"))
        printf("history:   %s %s %s%s%s -> %s: %s%s%s\n", prop(a, "id"),
               prop(a, "kind"), prop(a, "cause"), *prop(a, "from") ? " " : "",
               prop(a, "from"), prop(a, "to"), prop(a, "status"),
               *prop(a, "msg") ? ": " : "", prop(a, "msg"));
    def = first_elem(v->children, "definition");
    if (def) {
        xmlChar *t = xmlNodeGetContent(def);
        printf("definition:\n%s\n", t ? (const char *)t : "");
        xmlFree(t);
    }
out:
    free(text);
    xmlFreeDoc(doc);
    return CTL_EXIT_OK;
}

static char *read_file(const char *path, int *ret_errno)
{
    FILE *f = fopen(path, "re");
    char *buf = NULL;
    size_t len = 0, cap = 0;

    if (!f) {
        *ret_errno = errno;
        return NULL;
    }
    for (;;) {
        if (len + 4096 + 1 > cap) {
            char *nb = realloc(buf, cap ? cap * 2 : 8192);
            if (!nb)
                break;
            buf = nb;
            cap = cap ? cap * 2 : 8192;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
        if (len > CD_TEXT_MAX) {
            fclose(f);
            free(buf);
            *ret_errno = EFBIG;
            return NULL;
        }
    }
    fclose(f);
    if (buf)
        buf[len] = '\0';
    return buf;
}

static int cmd_add(const char *path)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    char *text, *esc, *src, *req = NULL;
    xmlDoc *doc = NULL;
    int err = 0, rc;

    text = read_file(path, &err);
    if (!text) {
        verr("cannot read '%s': %s", path,
             err == EFBIG ? "larger than a VM definition may be"
                          : strerror(err));
        return CTL_EXIT_FAIL;
    }
    /* The XML declaration can't sit inside the request element. */
    char *body = text;
    if (!strncmp(body, "<?xml", 5) && strstr(body, "?>"))
        body = strstr(body, "?>") + 2;
    esc = xml_escape(body);
    src = xml_escape(base);
    if (!esc || !src ||
        asprintf(&req, "<request op=\"vm-add\" source=\"%s\">%s</request>", src,
                 esc) < 0) {
        rc = CTL_EXIT_FAIL;
        goto out;
    }
    rc = call(req, &doc, NULL);
    if (rc == 0)
        printf("VM added from '%s' (cluster database epoch %s)\n", path,
               prop(xmlDocGetRootElement(doc), "epoch"));
out:
    free(req);
    free(esc);
    free(src);
    free(text);
    xmlFreeDoc(doc);
    return rc;
}

/* Polls vm-show until the VM reaches `want` on some node (or stops),
 * or its action fails. */
static int wait_vm(const char *vm, bool running, uint64_t t0)
{
    uint64_t deadline = t0 + START_WAIT_MS;
    char last_fail[512] = "";

    for (;;) {
        xmlDoc *doc = NULL;
        xmlNode *v;
        int rc = request_vm("vm-show", vm, &doc, NULL);
        bool done, busy;

        if (rc)
            return rc;
        v = first_elem(xmlDocGetRootElement(doc)->children, "vm");
        busy = *prop(v, "action") != '\0';
        done =
            running ? !strcmp(prop(v, "state"), "running") : !*prop(v, "node");
        if (done) {
            if (running)
                printf("VM '%s' running on %s (%.1f s)\n", vm, prop(v, "node"),
                       (double)(now_ms() - t0) / 1000);
            else
                printf("VM '%s' stopped (%.1f s)\n", vm,
                       (double)(now_ms() - t0) / 1000);
            xmlFreeDoc(doc);
            return CTL_EXIT_OK;
        }
        /* The newest failed action explains a start that won't come. */
        last_fail[0] = '\0';
        for (xmlNode *a = first_elem(v->children, "action"); a;
             a = first_elem(a->next, "action"))
            if (!strcmp(prop(a, "status"), "failed"))
                snprintf(last_fail, sizeof(last_fail), "%s on %s: %s",
                         prop(a, "kind"),
                         *prop(a, "to") ? prop(a, "to") : prop(a, "from"),
                         prop(a, "msg"));
            else
                last_fail[0] = '\0';
        xmlFreeDoc(doc);
        if (!busy && last_fail[0] && now_ms() - t0 > 2000) {
            verr("VM '%s' did not %s: %s (see 'clusterctl explain %s')", vm,
                 running ? "start" : "stop", last_fail, vm);
            return CTL_EXIT_FAIL;
        }
        if (now_ms() >= deadline) {
            verr("VM '%s' is not %s after %d s (see 'clusterctl explain %s' "
                 "and 'clusterctl events')",
                 vm, running ? "running" : "stopped", START_WAIT_MS / 1000, vm);
            return CTL_EXIT_FAIL;
        }
        poll(NULL, 0, 200);
    }
}

static int cmd_start_stop(const char *vm, bool start, bool wait)
{
    xmlDoc *doc = NULL;
    uint64_t t0 = now_ms();
    int rc = request_vm(start ? "vm-start" : "vm-stop", vm, &doc, NULL);

    xmlFreeDoc(doc);
    if (rc || !wait)
        return rc;
    return wait_vm(vm, start, t0);
}

static int cmd_vm(int argc, char **argv)
{
    bool wait = true;
    const char *sub, *arg = NULL;

    if (argc < 2) {
        verr("vm needs a subcommand: add, remove, start, stop, list, show "
             "(see 'clusterctl help')");
        return CTL_EXIT_USAGE;
    }
    sub = argv[1];
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--no-wait"))
            wait = false;
        else if (!arg && argv[i][0] != '-')
            arg = argv[i];
        else {
            verr("vm %s: unexpected argument '%s'", sub, argv[i]);
            return CTL_EXIT_USAGE;
        }
    }
    if (!strcmp(sub, "list"))
        return cmd_list();
    if (!arg) {
        verr("vm %s needs %s", sub,
             !strcmp(sub, "add") ? "a definition file (vm add FILE.xml)"
                                 : "a VM name");
        return CTL_EXIT_USAGE;
    }
    if (!strcmp(sub, "add"))
        return cmd_add(arg);
    if (!strcmp(sub, "show"))
        return cmd_show(arg);
    if (!strcmp(sub, "start") || !strcmp(sub, "stop"))
        return cmd_start_stop(arg, !strcmp(sub, "start"), wait);
    if (!strcmp(sub, "remove")) {
        xmlDoc *doc = NULL;
        int rc = request_vm("vm-remove", arg, &doc, NULL);
        if (!rc)
            printf("VM '%s' removed\n", arg);
        xmlFreeDoc(doc);
        return rc;
    }
    verr("unknown vm subcommand '%s' (add, remove, start, stop, list, show)",
         sub);
    return CTL_EXIT_USAGE;
}

/* ------------------------------------------------------------- move */

static double mib(const char *bytes)
{
    return (double)strtoull(bytes, NULL, 10) / (1024.0 * 1024.0);
}

static int cmd_move(int argc, char **argv)
{
    CMN_AUTO(cmn_ipc_client) *c = NULL;
    const char *vm = NULL, *to = NULL, *mode = NULL;
    char *req = NULL, *e_vm = NULL, *e_to = NULL;
    char action[32] = "";
    xmlDoc *doc = NULL;
    uint64_t t0 = now_ms(), deadline = t0 + MOVE_WAIT_MS;
    bool tty = isatty(STDOUT_FILENO), progress = false;
    int rc;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--live") || !strcmp(argv[i], "--quick")) {
            if (mode) {
                verr("move-vm takes one of --live or --quick");
                return CTL_EXIT_USAGE;
            }
            mode = argv[i] + 2;
        } else if (!strcmp(argv[i], "--to") && i + 1 < argc) {
            to = argv[++i];
        } else if (!strncmp(argv[i], "--to=", 5)) {
            to = argv[i] + 5;
        } else if (!vm && argv[i][0] != '-') {
            vm = argv[i];
        } else {
            verr("move-vm: unexpected argument '%s' (move-vm VM [--to NODE] "
                 "--live|--quick)",
                 argv[i]);
            return CTL_EXIT_USAGE;
        }
    }
    if (!vm || !mode) {
        verr("move-vm needs a VM and --live or --quick (move-vm VM [--to "
             "NODE] --live|--quick)");
        return CTL_EXIT_USAGE;
    }
    rc = connect_cd(&c);
    if (rc)
        return rc;
    /* Subscribe first so no event of the move is missed. */
    rc = call_on(c, "<request op=\"events\"/>", &doc, NULL);
    xmlFreeDoc(doc);
    doc = NULL;
    if (rc)
        return rc;
    e_vm = xml_escape(vm);
    e_to = xml_escape(to ? to : "");
    if (!e_vm || !e_to ||
        asprintf(&req, "<request op=\"move-vm\" vm=\"%s\" mode=\"%s\"%s%s%s/>",
                 e_vm, mode, to ? " to=\"" : "", to ? e_to : "",
                 to ? "\"" : "") < 0) {
        rc = CTL_EXIT_FAIL;
        goto out;
    }
    rc = call_on(c, req, &doc, NULL);
    if (rc)
        goto out;
    snprintf(action, sizeof(action), "%s",
             prop(xmlDocGetRootElement(doc), "action"));
    printf("moving VM '%s' from %s to %s (%s migration, action %s)\n", vm,
           prop(xmlDocGetRootElement(doc), "from"),
           prop(xmlDocGetRootElement(doc), "to"), mode, action);
    fflush(stdout);
    xmlFreeDoc(doc);
    doc = NULL;
    for (;;) {
        char *ev = NULL;
        char err[256];
        xmlNode *n;
        int64_t left = (int64_t)(deadline - now_ms());

        if (left <= 0) {
            verr("no result for the move of VM '%s' after %d s: see "
                 "'clusterctl vm show %s'",
                 vm, MOVE_WAIT_MS / 1000, vm);
            rc = CTL_EXIT_FAIL;
            goto out;
        }
        rc = cmn_ipc_next_event(c, left > 1000 ? 1000 : (int)left, &ev);
        if (rc == -ETIMEDOUT)
            continue;
        if (rc < 0) {
            verr("lost clusterd while VM '%s' moves (%s): see 'clusterctl vm "
                 "show %s'",
                 vm, strerror(-rc), vm);
            rc = CTL_EXIT_FAIL;
            goto out;
        }
        if (cmn_xml_parse_mem(ev, strlen(ev), "event", CMN_IPC_MAX_MSG, &doc,
                              err, sizeof(err)) < 0) {
            free(ev);
            continue;
        }
        free(ev);
        n = xmlDocGetRootElement(doc);
        if (!strcmp(prop(n, "type"), "migration") &&
            !strcmp(prop(n, "vm"), vm)) {
            printf("%spass %s: transferred %.0f MiB, remaining %.0f MiB, "
                   "expected downtime %s ms%s",
                   tty ? "\r" : "", prop(n, "pass"),
                   mib(prop(n, "transferred")), mib(prop(n, "remaining")),
                   prop(n, "expected-downtime-ms"), tty ? "   " : "\n");
            fflush(stdout);
            progress = true;
        } else if (!strcmp(prop(n, "type"), "action") &&
                   !strcmp(prop(n, "id"), action) &&
                   strcmp(prop(n, "status"), "active") != 0) {
            if (progress && tty)
                putchar('\n');
            if (!strcmp(prop(n, "status"), "done")) {
                printf("VM '%s' moved %s -> %s by %s migration: downtime %s "
                       "ms, total %.2f s\n",
                       vm, prop(n, "from"), prop(n, "to"), mode,
                       prop(n, "downtime-ms"), (double)(now_ms() - t0) / 1000);
                rc = CTL_EXIT_OK;
            } else {
                verr("the %s migration of VM '%s' to %s failed: %s (the VM "
                     "keeps running where it was; see 'clusterctl explain "
                     "%s')",
                     mode, vm, prop(n, "to"), prop(n, "msg"), vm);
                rc = CTL_EXIT_FAIL;
            }
            goto out;
        }
        xmlFreeDoc(doc);
        doc = NULL;
    }
out:
    xmlFreeDoc(doc);
    free(req);
    free(e_vm);
    free(e_to);
    return rc;
}

/* ------------------------------------------------------ node drain */

static int node_state(const char *node, const char *state)
{
    char *e = xml_escape(node), *req = NULL;
    xmlDoc *doc = NULL;
    int rc = CTL_EXIT_FAIL;

    if (e &&
        asprintf(&req, "<request op=\"node-state\" node=\"%s\" state=\"%s\"/>",
                 e, state) >= 0)
        rc = call(req, &doc, NULL);
    xmlFreeDoc(doc);
    free(req);
    free(e);
    return rc;
}

static int cmd_drain(const char *node, bool wait)
{
    uint64_t t0 = now_ms(), quiet_since = 0;
    int rc = node_state(node, "drained");

    if (rc || !wait) {
        if (!rc)
            printf("node '%s' is draining\n", node);
        return rc;
    }
    for (;;) {
        xmlDoc *doc = NULL;
        unsigned left = 0, moving = 0;
        char names[512] = "";

        rc = call("<request op=\"vm-list\"/>", &doc, NULL);
        if (rc)
            return rc;
        for (xmlNode *v = first_elem(xmlDocGetRootElement(doc)->children, "vm");
             v; v = first_elem(v->next, "vm")) {
            if (!strcmp(prop(v, "node"), node)) {
                left++;
                snprintf(names + strlen(names), sizeof(names) - strlen(names),
                         "%s%s", left > 1 ? ", " : "", prop(v, "name"));
            }
            if (*prop(v, "action"))
                moving++;
        }
        xmlFreeDoc(doc);
        if (!left) {
            printf("node '%s' drained: no VM runs there (%.1f s)\n", node,
                   (double)(now_ms() - t0) / 1000);
            return CTL_EXIT_OK;
        }
        /* Nothing in flight for a while: what is left can't move. */
        if (moving)
            quiet_since = 0;
        else if (!quiet_since)
            quiet_since = now_ms();
        if ((quiet_since && now_ms() - quiet_since > 5000) ||
            now_ms() - t0 > DRAIN_WAIT_MS) {
            verr("node '%s' is drained but VM(s) %s still run there: no "
                 "other node can take them (see 'clusterctl explain VM')",
                 node, names);
            return CTL_EXIT_FAIL;
        }
        poll(NULL, 0, 500);
    }
}

static int cmd_node(int argc, char **argv)
{
    bool wait = true;
    const char *node = NULL;

    if (argc < 2 || (strcmp(argv[1], "drain") && strcmp(argv[1], "resume")))
        return ctl_cluster_main(argc, argv);
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--no-wait"))
            wait = false;
        else if (!node && argv[i][0] != '-')
            node = argv[i];
        else {
            verr("node %s: unexpected argument '%s'", argv[1], argv[i]);
            return CTL_EXIT_USAGE;
        }
    }
    if (!node) {
        verr("node %s needs a node name (see 'clusterctl node list')", argv[1]);
        return CTL_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "drain"))
        return cmd_drain(node, wait);
    if (node_state(node, "up"))
        return CTL_EXIT_FAIL;
    printf("node '%s' resumed: it takes VMs again (failback per each VM's "
           "policy)\n",
           node);
    return CTL_EXIT_OK;
}

/* ------------------------------------------------- explain, events */

static int cmd_explain(const char *vm)
{
    xmlDoc *doc = NULL;
    char *text = NULL;
    int rc = request_vm("explain", vm, &doc, &text);

    if (rc)
        return rc;
    if (output_xml) {
        fputs(text, stdout);
    } else {
        xmlChar *t = xmlNodeGetContent(xmlDocGetRootElement(doc));
        fputs(t ? (const char *)t : "", stdout);
        xmlFree(t);
    }
    free(text);
    xmlFreeDoc(doc);
    return CTL_EXIT_OK;
}

static int cmd_events(void)
{
    CMN_AUTO(cmn_ipc_client) *c = NULL;
    xmlDoc *doc = NULL;
    int rc = connect_cd(&c);

    if (rc)
        return rc;
    rc = call_on(c, "<request op=\"events\"/>", &doc, NULL);
    xmlFreeDoc(doc);
    if (rc)
        return rc;
    for (;;) {
        char *ev = NULL, err[256], stamp[32];
        time_t now;
        struct tm tm;
        xmlNode *n;

        rc = cmn_ipc_next_event(c, -1, &ev);
        if (rc == -ETIMEDOUT)
            continue;
        if (rc < 0) {
            verr("clusterd went away (%s)", strerror(-rc));
            return CTL_EXIT_FAIL;
        }
        if (output_xml) {
            printf("%s\n", ev);
            fflush(stdout);
            free(ev);
            continue;
        }
        doc = NULL;
        if (cmn_xml_parse_mem(ev, strlen(ev), "event", CMN_IPC_MAX_MSG, &doc,
                              err, sizeof(err)) < 0) {
            free(ev);
            continue;
        }
        free(ev);
        now = time(NULL);
        localtime_r(&now, &tm);
        strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
        n = xmlDocGetRootElement(doc);
        if (!strcmp(prop(n, "type"), "vm"))
            printf("%s vm %s: %s on %s\n", stamp, prop(n, "vm"),
                   prop(n, "state"), prop(n, "node"));
        else if (!strcmp(prop(n, "type"), "migration"))
            printf("%s vm %s: pass %s, transferred %.0f MiB, remaining %.0f "
                   "MiB, expected downtime %s ms\n",
                   stamp, prop(n, "vm"), prop(n, "pass"),
                   mib(prop(n, "transferred")), mib(prop(n, "remaining")),
                   prop(n, "expected-downtime-ms"));
        else if (!strcmp(prop(n, "type"), "action"))
            printf("%s action %s: %s VM %s (%s)%s%s -> %s: %s%s%s\n", stamp,
                   prop(n, "id"), prop(n, "kind"), prop(n, "vm"),
                   prop(n, "cause"), *prop(n, "from") ? " " : "",
                   prop(n, "from"), prop(n, "to"), prop(n, "status"),
                   *prop(n, "msg") ? ": " : "", prop(n, "msg"));
        fflush(stdout);
        xmlFreeDoc(doc);
    }
}

int ctl_vm_main(int argc, char **argv)
{
    int n = 0;

    /* --output xml anywhere; the rest keeps its order. */
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--output") && i + 1 < argc) {
            if (strcmp(argv[i + 1], "xml") != 0) {
                verr("--output takes 'xml', not '%s'", argv[i + 1]);
                return CTL_EXIT_USAGE;
            }
            output_xml = true;
            i++;
            continue;
        }
        if (!strcmp(argv[i], "--output=xml")) {
            output_xml = true;
            continue;
        }
        argv[n++] = argv[i];
    }
    argc = n;
    if (!strcmp(argv[0], "status"))
        return cmd_status(argc, argv);
    if (!strcmp(argv[0], "vm"))
        return cmd_vm(argc, argv);
    if (!strcmp(argv[0], "move-vm"))
        return cmd_move(argc, argv);
    if (!strcmp(argv[0], "node")) {
        if (output_xml && (argc < 2 || (strcmp(argv[1], "drain") &&
                                        strcmp(argv[1], "resume")))) {
            static char opt_output[] = "--output", opt_xml[] = "xml";
            char *args[16];
            int k = 0;
            for (int i = 0; i < argc && k < 13; i++)
                args[k++] = argv[i];
            args[k++] = opt_output;
            args[k++] = opt_xml;
            args[k] = NULL;
            return ctl_cluster_main(k, args);
        }
        return cmd_node(argc, argv);
    }
    if (!strcmp(argv[0], "explain")) {
        if (argc != 2) {
            verr("explain needs one VM name (explain VM)");
            return CTL_EXIT_USAGE;
        }
        return cmd_explain(argv[1]);
    }
    if (!strcmp(argv[0], "events"))
        return cmd_events();
    verr("unknown command '%s' (see 'clusterctl help')", argv[0]);
    return CTL_EXIT_USAGE;
}
