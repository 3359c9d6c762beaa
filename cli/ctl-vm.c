/* clusterctl status (with VMs) | vm add|edit|remove|start|stop|list|show |
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/ctl-client.h"
#include "cli/ctl-cluster.h"
#include "cli/ctl-vm.h"
#include "cli/ctl.h"
#include "clusterd/cd-proto.h"
#include "common/cmn-auto.h"
#include "common/cmn-ipc.h"
#include "common/cmn-xml.h"
#include "common/cmn-time.h"

#define START_WAIT_MS 200000 /* failover starts wait for sanlock */
#define MOVE_WAIT_MS  660000
#define DRAIN_WAIT_MS 1800000

static bool output_xml;

void ctl_vm_usage(void)
{
    printf(
        "VM commands (served by the local clusterd):\n"
        "  status [--output xml]            cluster status and every VM\n"
        "  vm add FILE.xml                  add a VM (kvmcluster-vm(5))\n"
        "  vm edit VM [FILE.xml]            change a VM's definition (in\n"
        "                                   $EDITOR without FILE)\n"
        "  vm remove VM                     remove a stopped VM\n"
        "  vm disk add VM --size SIZE [--volume VOLUME]\n"
        "                                   a disk on the shared volume,\n"
        "                                   hot-plugged when the VM runs\n"
        "  vm disk remove VM DISK           unplug a disk added so, free it\n"
        "  vm start|stop VM [--no-wait]     keep it running / stopped\n"
        "  vm list [--output xml]           VMs: state, node, priority\n"
        "  vm show VM [--output xml]        one VM, its definition and\n"
        "                                   recent actions\n"
        "  move-vm VM [--to NODE] --live|--quick [--to-volume VOL] [--output "
        "xml]\n"
        "                                   migrate (without --to: the best\n"
        "                                   node placement finds)\n"
        "  move-storage VM --to-volume VOLUME [--no-wait] | --status | "
        "--cancel\n"
        "                                   copy a stopped VM's disks and\n"
        "                                   slot to another volume\n"
        "  node drain NODE [--no-wait]      move every VM off NODE\n"
        "  node resume NODE                 NODE takes VMs again\n"
        "  explain VM [--output xml]        why the VM is where it is\n"
        "  events [--output xml]            live stream of VM events\n");
}

bool ctl_vm_handles(const char *cmd)
{
    return !strcmp(cmd, "status") || !strcmp(cmd, "vm") ||
           !strcmp(cmd, "move-vm") || !strcmp(cmd, "explain") ||
           !strcmp(cmd, "move-storage") || !strcmp(cmd, "events") ||
           !strcmp(cmd, "node");
}

static int request_vm(const char *op, const char *vm, xmlDoc **ret_doc,
                      char **ret_text)
{
    char *e = ctl_xml_escape(vm);
    char *req = NULL;
    int rc;

    if (!e || asprintf(&req, "<request op=\"%s\" vm=\"%s\"/>", op, e) < 0) {
        free(e);
        return CTL_EXIT_FAIL;
    }
    rc = ctl_cd_call(req, ret_doc, ret_text);
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

/* "paused on I/O error of disk vda, resuming" for a VM its hvagent
 * resumes by itself, NULL for any other. */
static const char *ioerr_text(xmlNode *v, char *buf, size_t len)
{
    const char *e = ctl_xml_prop(v, "io-error");
    const char *disk = ctl_xml_prop(v, "io-error-disk");

    if (!*e)
        return NULL;
    snprintf(buf, len, "%s%s%s, resuming by itself when the storage answers",
             !strcmp(e, "enospc") ? "paused: volume full (no space left)"
                                  : "paused on an I/O error",
             *disk ? " of disk " : "", disk);
    return buf;
}

static void print_vm_table(xmlDoc *doc)
{
    xmlNode *root = xmlDocGetRootElement(doc);
    char why[160];
    int n = 0;

    for (xmlNode *v = first_elem(root->children, "vm"); v;
         v = first_elem(v->next, "vm")) {
        const char *node = ctl_xml_prop(v, "node");
        if (!n++)
            printf("%-16s %-10s %-10s %-12s %-8s %s\n", "VM", "STATE", "NODE",
                   "PRIORITY", "TARGET", "ACTION");
        printf("%-16s %-10s %-10s %-12s %-8s", ctl_xml_prop(v, "name"),
               ctl_xml_prop(v, "state"), *node ? node : "-",
               ctl_xml_prop(v, "priority"), ctl_xml_prop(v, "target"));
        if (*ctl_xml_prop(v, "action"))
            printf(" %s %s -> %s", ctl_xml_prop(v, "action"),
                   ctl_xml_prop(v, "action-from"),
                   ctl_xml_prop(v, "action-to"));
        if (strtoul(ctl_xml_prop(v, "copies"), NULL, 10) > 1)
            printf(" (reported on %s nodes!)", ctl_xml_prop(v, "copies"));
        /* A VM on a node-local volume whose node is gone is not lost
         * by the cluster: it waits for that node (res-place.h). */
        if (!strcmp(ctl_xml_prop(v, "wait"), "no-node") &&
            strstr(ctl_xml_prop(v, "wait-msg"), "node-local volume"))
            printf(" DOWN WITH ITS NODE: %s", ctl_xml_prop(v, "wait-msg"));
        else if (!strcmp(ctl_xml_prop(v, "wait"), "no-node"))
            printf(" CANNOT RUN ANYWHERE: %s", ctl_xml_prop(v, "wait-msg"));
        else if (!strcmp(ctl_xml_prop(v, "wait"), "retry"))
            printf(" start failed %s time(s): retry on %s",
                   ctl_xml_prop(v, "wait-n"), ctl_xml_prop(v, "wait-next"));
        else if (!strcmp(ctl_xml_prop(v, "wait"), "backoff"))
            printf(" move failed %s time(s): retry in %s s",
                   ctl_xml_prop(v, "wait-n"), ctl_xml_prop(v, "wait-in"));
        else if (!strcmp(ctl_xml_prop(v, "wait"), "not-running"))
            printf(" not moved: %s", ctl_xml_prop(v, "wait-msg"));
        else if (!strcmp(ctl_xml_prop(v, "wait"), "queued"))
            printf(" move queued (place %s)", ctl_xml_prop(v, "wait-n"));
        else if (!strcmp(ctl_xml_prop(v, "wait"), "priority"))
            printf(" start queued behind %s higher-priority",
                   ctl_xml_prop(v, "wait-n"));
        if (!strcmp(ctl_xml_prop(v, "managed"), "no"))
            printf(" (unmanaged: clusterd of %s is down)", node);
        if (ioerr_text(v, why, sizeof(why)))
            printf(" %s", why);
        putchar('\n');
    }
    if (!n)
        printf("no VMs (add one with 'clusterctl vm add FILE.xml')\n");
    if (!strcmp(ctl_xml_prop(root, "settled"), "no"))
        printf("(runtime state still being gathered from the members)\n");
}

static int cmd_status(void)
{
    xmlDoc *doc = NULL;
    char *text = NULL;
    int rc;

    /* One document: the cluster's <status> and the <vms> in one root. */
    if (output_xml)
        fputs("<cluster-status>\n", stdout);
    rc = ctl_cluster_status(output_xml);
    if (rc)
        return rc;
    fflush(stdout);
    rc = ctl_cd_call("<request op=\"vm-list\"/>", &doc, &text);
    if (rc)
        return rc;
    if (output_xml) {
        fputs(text, stdout);
        fputs("</cluster-status>\n", stdout);
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
    int rc = ctl_cd_call("<request op=\"vm-list\"/>", &doc, &text);

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
    char why[160];
    int rc = request_vm("vm-show", vm, &doc, &text);

    if (rc)
        return rc;
    if (output_xml) {
        fputs(text, stdout);
        goto out;
    }
    v = first_elem(xmlDocGetRootElement(doc)->children, "vm");
    printf("name:      %s\n", ctl_xml_prop(v, "name"));
    printf("state:     %s%s%s%s\n", ctl_xml_prop(v, "state"),
           *ctl_xml_prop(v, "node") ? " on " : "", ctl_xml_prop(v, "node"),
           !strcmp(ctl_xml_prop(v, "managed"), "no")
               ? " (unmanaged: its clusterd is down; the VM keeps running)"
               : "");
    if (ioerr_text(v, why, sizeof(why)))
        printf("io-error:  %s\n", why);
    if (*ctl_xml_prop(v, "lease"))
        printf("lease:     held by %s\n", ctl_xml_prop(v, "lease"));
    if (*ctl_xml_prop(v, "cpu"))
        printf("cpu:       %s\n", ctl_xml_prop(v, "cpu"));
    printf("target:    %s\n", ctl_xml_prop(v, "target"));
    printf("priority:  %s\n", ctl_xml_prop(v, "priority"));
    printf("failures:  %s\n", ctl_xml_prop(v, "failures"));
    if (*ctl_xml_prop(v, "action"))
        printf("action:    %s %s -> %s\n", ctl_xml_prop(v, "action"),
               ctl_xml_prop(v, "action-from"), ctl_xml_prop(v, "action-to"));
    for (xmlNode *a = first_elem(v->children, "action"); a;
         a = first_elem(a->next, "action"))
        printf("history:   %s %s %s%s%s -> %s: %s%s%s\n", ctl_xml_prop(a, "id"),
               ctl_xml_prop(a, "kind"), ctl_xml_prop(a, "cause"),
               *ctl_xml_prop(a, "from") ? " " : "", ctl_xml_prop(a, "from"),
               ctl_xml_prop(a, "to"), ctl_xml_prop(a, "status"),
               *ctl_xml_prop(a, "msg") ? ": " : "", ctl_xml_prop(a, "msg"));
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

/* Offset of the first byte of `s` that is not part of well-formed UTF-8
 * (RFC 3629: no overlong forms, no surrogates, at most U+10FFFF), or -1
 * when all of it is. */
static ssize_t utf8_bad_offset(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        unsigned char c = *p;
        size_t n;
        unsigned min, cp;

        if (c < 0x80) {
            p++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            n = 1, min = 0x80, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            n = 2, min = 0x800, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            n = 3, min = 0x10000, cp = c & 0x07;
        else
            return (ssize_t)(p - (const unsigned char *)s);
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return (ssize_t)(p - (const unsigned char *)s);
            cp = cp << 6 | (p[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return (ssize_t)(p - (const unsigned char *)s);
        p += n + 1;
    }
    return -1;
}

/* Builds <request op=OP [vm=VM] source=BASENAME>DEFINITION</request> from
 * a definition file. */
static int definition_request(const char *op, const char *vm, const char *path,
                              char **ret_req)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    char *text, *esc = NULL, *src = NULL, *evm = NULL, *req = NULL;
    int err = 0, rc = CTL_EXIT_FAIL;

    text = read_file(path, &err);
    if (!text) {
        ctl_err("cannot read '%s': %s", path,
                err == EFBIG ? "larger than a VM definition may be"
                             : strerror(err));
        return CTL_EXIT_FAIL;
    }
    /* Checked here, where the file's name and lines are known: inside
     * the request, clusterd could only name the request's line. */
    ssize_t bad = utf8_bad_offset(text);
    if (bad >= 0) {
        size_t line = 1, col = 1;
        for (ssize_t i = 0; i < bad; i++, col++)
            if (text[i] == '\n')
                line++, col = 0;
        ctl_err("%s:%zu:%zu: byte 0x%02x is not UTF-8 text; save the "
                "definition as UTF-8 (for example with 'iconv -f latin1 -t "
                "utf-8') and run the command again",
                path, line, col, (unsigned char)text[bad]);
        free(text);
        return CTL_EXIT_FAIL;
    }
    /* The XML declaration can't sit inside the request element. */
    char *body = text;
    if (!strncmp(body, "<?xml", 5) && strstr(body, "?>"))
        body = strstr(body, "?>") + 2;
    esc = ctl_xml_escape(body);
    src = ctl_xml_escape(base);
    evm = ctl_xml_escape(vm ? vm : "");
    if (!esc || !src || !evm ||
        asprintf(&req, "<request op=\"%s\"%s%s%s source=\"%s\">%s</request>",
                 op, vm ? " vm=\"" : "", vm ? evm : "", vm ? "\"" : "", src,
                 esc) < 0)
        goto out;
    *ret_req = req;
    rc = CTL_EXIT_OK;
out:
    free(evm);
    free(esc);
    free(src);
    free(text);
    return rc;
}

/* An accepted change the cluster cannot act on yet (a bridge no node
 * has): said on stderr, the exit status stays 0. */
static void print_warning(xmlNode *reply)
{
    const char *w = ctl_xml_prop(reply, "warning");

    if (*w)
        fprintf(stderr, "clusterctl: warning: %s\n", w);
}

static int cmd_add(const char *path)
{
    xmlDoc *doc = NULL;
    char *req = NULL;
    int rc;

    rc = definition_request("vm-add", NULL, path, &req);
    if (rc)
        return rc;
    rc = ctl_cd_call(req, &doc, NULL);
    if (rc == 0) {
        printf("VM added from '%s' (cluster database epoch %s)\n", path,
               ctl_xml_prop(xmlDocGetRootElement(doc), "epoch"));
        print_warning(xmlDocGetRootElement(doc));
    }
    free(req);
    xmlFreeDoc(doc);
    return rc;
}

/* Sends FILE as VM's new definition (`edited`: FILE is the editor's
 * temporary copy, not worth naming). */
static int edit_from_file(const char *vm, const char *path, bool edited)
{
    xmlDoc *doc = NULL;
    char *req = NULL;
    int rc;

    rc = definition_request("vm-edit", vm, path, &req);
    if (rc)
        return rc;
    rc = ctl_cd_call(req, &doc, NULL);
    if (rc == 0) {
        xmlNode *r = xmlDocGetRootElement(doc);
        if (!strcmp(ctl_xml_prop(r, "changed"), "no"))
            printf("VM '%s': the definition is unchanged\n", vm);
        else
            printf("VM '%s' updated%s%s%s (cluster database epoch %s)\n", vm,
                   edited ? "" : " from '", edited ? "" : path,
                   edited ? "" : "'", ctl_xml_prop(r, "epoch"));
        print_warning(r);
    }
    free(req);
    xmlFreeDoc(doc);
    return rc;
}

/* Runs $VISUAL, $EDITOR or vi on PATH; 0 when it exited 0. */
static int run_editor(const char *path)
{
    const char *ed = getenv("VISUAL");
    pid_t pid;
    int st;

    if (!ed || !*ed)
        ed = getenv("EDITOR");
    if (!ed || !*ed)
        ed = "vi";
    pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        /* Through sh so that EDITOR="emacs -nw" works, as git does. */
        execl("/bin/sh", "sh", "-c", "$0 \"$1\"", ed, path, (char *)NULL);
        _exit(127);
    }
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -errno;
    if (!WIFEXITED(st) || WEXITSTATUS(st)) {
        ctl_err("editor '%s' failed (exit status %d); nothing was changed", ed,
                WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
        return -ECANCELED;
    }
    return 0;
}

/* `vm edit VM [FILE]`: without FILE the current definition goes through
 * the user's editor; a rejected edit is kept so that it isn't lost. */
static int cmd_edit(const char *vm, const char *file)
{
    char path[] = "/tmp/clusterctl-vm-XXXXXX.xml";
    xmlDoc *doc = NULL;
    xmlNode *def;
    xmlChar *cur = NULL;
    char *after = NULL;
    int fd = -1, err = 0, rc;

    if (file)
        return edit_from_file(vm, file, false);
    if (!isatty(STDIN_FILENO)) {
        ctl_err("vm edit %s: no terminal for an editor; give the new "
                "definition as a file ('clusterctl vm edit %s FILE.xml')",
                vm, vm);
        return CTL_EXIT_USAGE;
    }
    rc = request_vm("vm-show", vm, &doc, NULL);
    if (rc)
        return rc;
    def = first_elem(
        first_elem(xmlDocGetRootElement(doc)->children, "vm")->children,
        "definition");
    cur = def ? xmlNodeGetContent(def) : NULL;
    rc = CTL_EXIT_FAIL;
    if (!cur) {
        ctl_err("VM '%s': clusterd sent no definition", vm);
        goto out;
    }
    fd = mkstemps(path, 4);
    if (fd < 0 || write(fd, cur, strlen((const char *)cur)) < 0) {
        ctl_err("cannot write '%s': %s", path, strerror(errno));
        goto out;
    }
    close(fd);
    fd = -1;
    if (run_editor(path) < 0) {
        unlink(path);
        goto out;
    }
    after = read_file(path, &err);
    if (!after) {
        ctl_err("cannot read '%s' back: %s", path, strerror(err));
        goto out;
    }
    if (!strcmp(after, (const char *)cur)) {
        printf("VM '%s': no change\n", vm);
        unlink(path);
        rc = CTL_EXIT_OK;
        goto out;
    }
    rc = edit_from_file(vm, path, true);
    if (rc)
        fprintf(stderr,
                "clusterctl: your edit is kept in '%s'; fix it and run "
                "'clusterctl vm edit %s %s'\n",
                path, vm, path);
    else
        unlink(path);
out:
    if (fd >= 0) {
        close(fd);
        unlink(path);
    }
    free(after);
    xmlFree(cur);
    xmlFreeDoc(doc);
    return rc;
}

/* What the VM does now, in one line, from vm-show's attributes ("" when
 * there is nothing to say). */
static void vm_now(const char *vm, xmlNode *v, char *buf, size_t len)
{
    const char *wait = ctl_xml_prop(v, "wait");

    buf[0] = '\0';
    if (!strcmp(ctl_xml_prop(v, "action"), "start")) {
        snprintf(buf, len, "VM '%s' starting on %s", vm,
                 ctl_xml_prop(v, "action-to"));
    } else if (!strcmp(wait, "priority")) {
        snprintf(buf, len, "VM '%s' queued behind %s higher-priority start(s)",
                 vm, ctl_xml_prop(v, "wait-n"));
    } else if (!strcmp(wait, "retry")) {
        time_t at = (time_t)strtoll(ctl_xml_prop(v, "wait-at"), NULL, 10);
        char hms[16] = "?";
        struct tm tm;
        if (localtime_r(&at, &tm))
            strftime(hms, sizeof(hms), "%H:%M:%S", &tm);
        snprintf(buf, len,
                 "VM '%s' waiting for a retry at %s on %s: its last start "
                 "(on %s, %s failure(s) in a row) failed: %s",
                 vm, hms, ctl_xml_prop(v, "wait-next"),
                 ctl_xml_prop(v, "wait-node"), ctl_xml_prop(v, "wait-n"),
                 ctl_xml_prop(v, "wait-msg"));
    }
}

/* Polls vm-show until the VM reaches `want` on some node (or stops),
 * or it can't. Says what happens meanwhile (starting, queued, waiting
 * for a retry); failures from before the request are history, not its
 * result. */
static int wait_vm(const char *vm, bool running, uint64_t t0)
{
    uint64_t deadline = t0 + START_WAIT_MS;
    char last_fail[512] = "", said[768] = "", now[768];
    char old[64][24];
    size_t nold = 0;
    bool first = true;

    for (;;) {
        xmlDoc *doc = NULL;
        xmlNode *v;
        int rc = request_vm("vm-show", vm, &doc, NULL);
        bool done, busy;

        if (rc)
            return rc;
        v = first_elem(xmlDocGetRootElement(doc)->children, "vm");
        busy = *ctl_xml_prop(v, "action") != '\0' ||
               *ctl_xml_prop(v, "wait") != '\0';
        done = running ? !strcmp(ctl_xml_prop(v, "state"), "running")
                       : !*ctl_xml_prop(v, "node");
        if (done) {
            if (running)
                printf("VM '%s' running on %s (%.1f s)\n", vm,
                       ctl_xml_prop(v, "node"),
                       (double)(cmn_now_ms() - t0) / 1000);
            else
                printf("VM '%s' stopped (%.1f s)\n", vm,
                       (double)(cmn_now_ms() - t0) / 1000);
            xmlFreeDoc(doc);
            return CTL_EXIT_OK;
        }
        if (running && !strcmp(ctl_xml_prop(v, "wait"), "no-node")) {
            ctl_err("VM '%s' cannot run on any node: %s (see 'clusterctl "
                    "explain %s')",
                    vm, ctl_xml_prop(v, "wait-msg"), vm);
            xmlFreeDoc(doc);
            return CTL_EXIT_FAIL;
        }
        if (running) {
            vm_now(vm, v, now, sizeof(now));
            if (now[0] && strcmp(now, said) != 0) {
                printf("%s\n", now);
                fflush(stdout);
                snprintf(said, sizeof(said), "%s", now);
            }
        }
        /* The newest failed action, if it is newer than the request,
         * explains a start that won't come. */
        last_fail[0] = '\0';
        for (xmlNode *a = first_elem(v->children, "action"); a;
             a = first_elem(a->next, "action")) {
            bool seen = false;
            for (size_t i = 0; i < nold; i++)
                seen |= !strcmp(old[i], ctl_xml_prop(a, "id"));
            if (first && nold < 64)
                snprintf(old[nold++], sizeof(old[0]), "%s",
                         ctl_xml_prop(a, "id"));
            if (!seen && !first && !strcmp(ctl_xml_prop(a, "status"), "failed"))
                snprintf(last_fail, sizeof(last_fail), "%s on %s: %s",
                         ctl_xml_prop(a, "kind"),
                         *ctl_xml_prop(a, "to") ? ctl_xml_prop(a, "to")
                                                : ctl_xml_prop(a, "from"),
                         ctl_xml_prop(a, "msg"));
            else if (!seen && !first)
                last_fail[0] = '\0';
        }
        first = false;
        xmlFreeDoc(doc);
        if (!busy && last_fail[0] && cmn_now_ms() - t0 > 2000) {
            ctl_err("VM '%s' did not %s: %s (see 'clusterctl explain %s')", vm,
                    running ? "start" : "stop", last_fail, vm);
            return CTL_EXIT_FAIL;
        }
        if (cmn_now_ms() >= deadline) {
            ctl_err("VM '%s' is not %s after %d s (see 'clusterctl explain %s' "
                    "and 'clusterctl events')",
                    vm, running ? "running" : "stopped", START_WAIT_MS / 1000,
                    vm);
            return CTL_EXIT_FAIL;
        }
        poll(NULL, 0, 200);
    }
}

static int cmd_start_stop(const char *vm, bool start, bool wait)
{
    xmlDoc *doc = NULL;
    uint64_t t0 = cmn_now_ms();
    int rc = request_vm(start ? "vm-start" : "vm-stop", vm, &doc, NULL);

    xmlFreeDoc(doc);
    if (rc || !wait)
        return rc;
    return wait_vm(vm, start, t0);
}

static int cmd_vm(int argc, char **argv)
{
    bool wait = true;
    const char *sub, *arg = NULL, *arg2 = NULL;

    if (argc < 2) {
        ctl_err("vm needs a subcommand: add, edit, remove, start, stop, list, "
                "show, disk (see 'clusterctl help')");
        return CTL_EXIT_USAGE;
    }
    sub = argv[1];
    if (!strcmp(sub, "disk"))
        return ctl_vm_disk(argc - 2, argv + 2);
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--no-wait"))
            wait = false;
        else if (!arg && argv[i][0] != '-')
            arg = argv[i];
        else if (!arg2 && !strcmp(sub, "edit") && argv[i][0] != '-')
            arg2 = argv[i];
        else {
            ctl_err("vm %s: unexpected argument '%s'", sub, argv[i]);
            return CTL_EXIT_USAGE;
        }
    }
    if (!strcmp(sub, "list"))
        return cmd_list();
    if (!arg) {
        ctl_err("vm %s needs %s", sub,
                !strcmp(sub, "add") ? "a definition file (vm add FILE.xml)"
                                    : "a VM name");
        return CTL_EXIT_USAGE;
    }
    if (!strcmp(sub, "add"))
        return cmd_add(arg);
    if (!strcmp(sub, "show"))
        return cmd_show(arg);
    if (!strcmp(sub, "edit"))
        return cmd_edit(arg, arg2);
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
    ctl_err("unknown vm subcommand '%s' (add, edit, remove, start, stop, list, "
            "show)",
            sub);
    return CTL_EXIT_USAGE;
}

/* ------------------------------------------------------------- move */

static double mib(const char *bytes)
{
    return (double)strtoull(bytes, NULL, 10) / (1024.0 * 1024.0);
}

/* "the VM now runs on node2" (or is stopped, or unknown) into buf, after
 * waiting a few seconds for the VM's state to settle on one node. */
static void vm_where_now(const char *vm, char *buf, size_t len)
{
    uint64_t deadline = cmn_now_ms() + 5000;

    snprintf(buf, len, "where the VM runs now is not known yet");
    for (;;) {
        xmlDoc *doc = NULL;
        xmlNode *v;
        bool settled;

        if (request_vm("vm-show", vm, &doc, NULL) != 0)
            return;
        v = first_elem(xmlDocGetRootElement(doc)->children, "vm");
        settled = v && !*ctl_xml_prop(v, "action") &&
                  strcmp(ctl_xml_prop(v, "state"), "migrating") != 0 &&
                  strcmp(ctl_xml_prop(v, "state"), "saving") != 0;
        if (v && *ctl_xml_prop(v, "node") && !settled &&
            cmn_now_ms() >= deadline && !*ctl_xml_prop(v, "action"))
            /* A migration state with no move in progress is the last word
             * of an hvagent that stopped answering, not the truth. */
            snprintf(buf, len,
                     "VM '%s' was last reported %s on %s, but no move is in "
                     "progress: the hvagent of %s may be down, and where the "
                     "VM runs is known once it answers again ('clusterctl "
                     "vm show %s')",
                     vm, ctl_xml_prop(v, "state"), ctl_xml_prop(v, "node"),
                     ctl_xml_prop(v, "node"), vm);
        else if (v && *ctl_xml_prop(v, "node"))
            snprintf(buf, len, "VM '%s' is now %s on %s", vm,
                     ctl_xml_prop(v, "state"), ctl_xml_prop(v, "node"));
        else if (v)
            snprintf(buf, len, "VM '%s' is now %s", vm,
                     ctl_xml_prop(v, "state"));
        xmlFreeDoc(doc);
        if (settled || cmn_now_ms() >= deadline)
            return;
        poll(NULL, 0, 250);
    }
}

#define MOVE_PASS_MAX 64 /* passes kept for --output xml */

/* One pass of a live migration, as its migration event said. */
struct move_pass {
    char n[24], transferred[24], remaining[24], dirty_rate[24], expected[24];
};

/* A move-vm command: what was asked, and what its events said so far. */
struct move {
    const char *vm, *to, *mode; /* to may be NULL; mode "live" or "quick" */
    const char *volume;         /* --to-volume: storage first, NULL: none */
    char action[32];            /* the move's ACTION id, once known */
    uint64_t t0;                /* when the command started */
    bool tty;                   /* progress rewrites one line */
    bool progress;              /* a progress line was printed */
    bool xml;                   /* --output xml: one <move> at the end */
    size_t npasses;             /* passes seen (the last kept when full) */
    struct move_pass passes[MOVE_PASS_MAX];
};

static int move_parse_args(int argc, char **argv, struct move *m)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--live") || !strcmp(argv[i], "--quick")) {
            if (m->mode) {
                ctl_err("move-vm takes one of --live or --quick");
                return CTL_EXIT_USAGE;
            }
            m->mode = argv[i] + 2;
        } else if (!strcmp(argv[i], "--to-volume") && i + 1 < argc) {
            m->volume = argv[++i];
        } else if (!strcmp(argv[i], "--to") && i + 1 < argc) {
            m->to = argv[++i];
        } else if (!strncmp(argv[i], "--to=", 5)) {
            m->to = argv[i] + 5;
        } else if (!m->vm && argv[i][0] != '-') {
            m->vm = argv[i];
        } else {
            ctl_err("move-vm: unexpected argument '%s' (move-vm VM [--to NODE] "
                    "--live|--quick [--to-volume VOLUME])",
                    argv[i]);
            return CTL_EXIT_USAGE;
        }
    }
    if (!m->vm || !m->mode) {
        ctl_err("move-vm needs a VM and --live or --quick (move-vm VM [--to "
                "NODE] --live|--quick)");
        return CTL_EXIT_USAGE;
    }
    return 0;
}

/* Sends the move-vm request on c and says what clusterd answered: the
 * ACTION that moves the VM, or the VM's place in the migration queue. */
static int move_send(struct cmn_ipc_client *c, struct move *m)
{
    char *req = NULL, *e_vm = ctl_xml_escape(m->vm);
    char *e_to = ctl_xml_escape(m->to ? m->to : "");
    xmlDoc *doc = NULL;
    xmlNode *root;
    int rc;

    if (!e_vm || !e_to ||
        asprintf(&req, "<request op=\"move-vm\" vm=\"%s\" mode=\"%s\"%s%s%s/>",
                 e_vm, m->mode, m->to ? " to=\"" : "", m->to ? e_to : "",
                 m->to ? "\"" : "") < 0) {
        rc = CTL_EXIT_FAIL;
        goto out;
    }
    rc = ctl_cd_call_on(c, req, &doc, NULL);
    if (rc)
        goto out;
    root = xmlDocGetRootElement(doc);
    if (m->xml) {
        if (!*ctl_xml_prop(root, "queued"))
            snprintf(m->action, sizeof(m->action), "%s",
                     ctl_xml_prop(root, "action"));
    } else if (*ctl_xml_prop(root, "queued")) {
        /* Waiting for the per-node migration limit: the ACTION comes
         * later, as an event of this connection. */
        printf("VM '%s' queued for a %s migration from %s to %s (place %s "
               "in the queue: at most %s migrations leave or reach a node "
               "at once)\n",
               m->vm, m->mode, ctl_xml_prop(root, "from"),
               ctl_xml_prop(root, "to"), ctl_xml_prop(root, "queued"),
               ctl_xml_prop(root, "limit"));
    } else {
        snprintf(m->action, sizeof(m->action), "%s",
                 ctl_xml_prop(root, "action"));
        printf("moving VM '%s' from %s to %s (%s migration, action %s)\n",
               m->vm, ctl_xml_prop(root, "from"), ctl_xml_prop(root, "to"),
               m->mode, m->action);
    }
    fflush(stdout);
out:
    xmlFreeDoc(doc);
    free(req);
    free(e_vm);
    free(e_to);
    return rc;
}

/* A pass of the move (migration event n): kept for --output xml. A pass
 * reported again replaces its first report; beyond MOVE_PASS_MAX the
 * last slot takes the latest pass (the final passes matter most). */
static void move_keep_pass(struct move *m, xmlNode *n)
{
    struct move_pass *p;

    if (m->npasses &&
        !strcmp(m->passes[m->npasses - 1].n, ctl_xml_prop(n, "pass")))
        p = &m->passes[m->npasses - 1];
    else if (m->npasses < MOVE_PASS_MAX)
        p = &m->passes[m->npasses++];
    else
        p = &m->passes[MOVE_PASS_MAX - 1];
    snprintf(p->n, sizeof(p->n), "%s", ctl_xml_prop(n, "pass"));
    snprintf(p->transferred, sizeof(p->transferred), "%s",
             ctl_xml_prop(n, "transferred"));
    snprintf(p->remaining, sizeof(p->remaining), "%s",
             ctl_xml_prop(n, "remaining"));
    snprintf(p->dirty_rate, sizeof(p->dirty_rate), "%s",
             ctl_xml_prop(n, "dirty-rate"));
    snprintf(p->expected, sizeof(p->expected), "%s",
             ctl_xml_prop(n, "expected-downtime-ms"));
}

/* --output xml: the move's result from its ACTION's last event n, with
 * the passes seen, the attributes named as in `clusterctl history`
 * (where: the VM's place after a failed move). */
static void move_print_xml(const struct move *m, xmlNode *n, const char *where)
{
    const char *last = m->npasses ? m->passes[m->npasses - 1].n : "0";
    char *text = cmn_xml_format(
        "<move vm=\"%s\" action=\"%s\" kind=\"%s\" mode=\"%s\" "
        "status=\"%s\" from=\"%s\" to=\"%s\" downtime-ms=\"%s\" "
        "total-ms=\"%s\" elapsed-ms=\"%" PRIu64 "\" passes=\"%s\" "
        "msg=\"%s\" where=\"%s\"",
        m->vm, m->action, ctl_xml_prop(n, "kind"), m->mode,
        ctl_xml_prop(n, "status"), ctl_xml_prop(n, "from"),
        ctl_xml_prop(n, "to"), ctl_xml_prop(n, "downtime-ms"),
        ctl_xml_prop(n, "total-ms"), cmn_now_ms() - m->t0, last,
        ctl_xml_prop(n, "msg"), where);

    if (!text)
        return;
    /* Not through the format: it would escape the markup. */
    printf("%s%s\n", text, m->npasses ? ">" : "/>");
    free(text);
    for (size_t i = 0; i < m->npasses; i++) {
        const struct move_pass *p = &m->passes[i];
        text = cmn_xml_format("  <pass n=\"%s\" transferred=\"%s\" "
                              "remaining=\"%s\" dirty-rate=\"%s\" "
                              "expected-downtime-ms=\"%s\"/>\n",
                              p->n, p->transferred, p->remaining, p->dirty_rate,
                              p->expected);
        if (text)
            fputs(text, stdout);
        free(text);
    }
    if (m->npasses)
        fputs("</move>\n", stdout);
    fflush(stdout);
}

/* The move's ACTION ended (status n): says how, and where the VM is if it
 * failed. Returns the command's exit code. */
static int move_finished(struct move *m, xmlNode *n)
{
    char where[512];

    if (m->progress && m->tty)
        putchar('\n');
    if (m->xml) {
        bool done = !strcmp(ctl_xml_prop(n, "status"), "done");
        if (!done)
            vm_where_now(m->vm, where, sizeof(where));
        move_print_xml(m, n, done ? "" : where);
        if (!done)
            ctl_err("the %s migration of VM '%s' to %s failed: %s (%s)",
                    m->mode, m->vm, ctl_xml_prop(n, "to"),
                    ctl_xml_prop(n, "msg"), where);
        return done ? CTL_EXIT_OK : CTL_EXIT_FAIL;
    }
    if (!strcmp(ctl_xml_prop(n, "status"), "done")) {
        printf("VM '%s' moved %s -> %s by %s migration: downtime %s "
               "ms, total %.2f s\n",
               m->vm, ctl_xml_prop(n, "from"), ctl_xml_prop(n, "to"), m->mode,
               ctl_xml_prop(n, "downtime-ms"),
               (double)(cmn_now_ms() - m->t0) / 1000);
        return CTL_EXIT_OK;
    }
    /* The action failed as the cluster saw it (a node left...), but the
     * hvagents finish or roll back on their own: say where the VM is,
     * rather than guess. */
    vm_where_now(m->vm, where, sizeof(where));
    ctl_err("the %s migration of VM '%s' to %s failed: %s (%s; "
            "see 'clusterctl explain %s')",
            m->mode, m->vm, ctl_xml_prop(n, "to"), ctl_xml_prop(n, "msg"),
            where, m->vm);
    return CTL_EXIT_FAIL;
}

/* One event n of the connection. Returns -EINPROGRESS while the move goes
 * on, the command's exit code once its ACTION ended. */
static int move_on_event(struct move *m, xmlNode *n)
{
    const char *type = ctl_xml_prop(n, "type");

    /* A queued move's ACTION: the user's move of this VM. */
    if (!m->action[0] && !strcmp(type, "action") &&
        !strcmp(ctl_xml_prop(n, "vm"), m->vm) &&
        !strcmp(ctl_xml_prop(n, "cause"), "user")) {
        snprintf(m->action, sizeof(m->action), "%s", ctl_xml_prop(n, "id"));
        if (!m->xml)
            printf("moving VM '%s' from %s to %s (%s migration, action %s, "
                   "after %.1f s in the queue)\n",
                   m->vm, ctl_xml_prop(n, "from"), ctl_xml_prop(n, "to"),
                   m->mode, m->action, (double)(cmn_now_ms() - m->t0) / 1000);
        fflush(stdout);
    }
    if (!strcmp(type, "migration") && !strcmp(ctl_xml_prop(n, "vm"), m->vm)) {
        if (m->xml) {
            move_keep_pass(m, n);
            return -EINPROGRESS;
        }
        printf("%spass %s: transferred %.0f MiB, remaining %.0f MiB, "
               "expected downtime %s ms%s",
               m->tty ? "\r" : "", ctl_xml_prop(n, "pass"),
               mib(ctl_xml_prop(n, "transferred")),
               mib(ctl_xml_prop(n, "remaining")),
               ctl_xml_prop(n, "expected-downtime-ms"), m->tty ? "   " : "\n");
        fflush(stdout);
        m->progress = true;
    } else if (!strcmp(type, "action") &&
               !strcmp(ctl_xml_prop(n, "id"), m->action) &&
               strcmp(ctl_xml_prop(n, "status"), "active") != 0) {
        return move_finished(m, n);
    }
    return -EINPROGRESS;
}

/* Follows the events of c until the move's ACTION ends, clusterd goes away
 * or MOVE_WAIT_MS passed. Returns the command's exit code. */
static int move_follow(struct cmn_ipc_client *c, struct move *m)
{
    uint64_t deadline = m->t0 + MOVE_WAIT_MS;

    for (;;) {
        char *ev = NULL;
        char err[256];
        xmlDoc *doc = NULL;
        int64_t left = (int64_t)(deadline - cmn_now_ms());
        int rc;

        if (left <= 0) {
            ctl_err("no result for the move of VM '%s' after %d s: see "
                    "'clusterctl vm show %s'",
                    m->vm, MOVE_WAIT_MS / 1000, m->vm);
            return CTL_EXIT_FAIL;
        }
        rc = cmn_ipc_next_event(c, left > 1000 ? 1000 : (int)left, &ev);
        if (rc == -ETIMEDOUT)
            continue;
        if (rc < 0) {
            ctl_err(
                "lost clusterd while VM '%s' moves (%s): see 'clusterctl vm "
                "show %s'",
                m->vm, strerror(-rc), m->vm);
            return CTL_EXIT_FAIL;
        }
        rc = cmn_xml_parse_mem(ev, strlen(ev), "event", CMN_IPC_MAX_MSG, &doc,
                               err, sizeof(err));
        free(ev);
        if (rc < 0)
            continue;
        rc = move_on_event(m, xmlDocGetRootElement(doc));
        xmlFreeDoc(doc);
        if (rc != -EINPROGRESS)
            return rc;
    }
}

static int cmd_move(int argc, char **argv)
{
    CMN_AUTO(cmn_ipc_client) *c = NULL;
    struct move m = {.t0 = cmn_now_ms(),
                     .tty = isatty(STDOUT_FILENO) && !output_xml,
                     .xml = output_xml};
    xmlDoc *doc = NULL;
    int rc = move_parse_args(argc, argv, &m);

    if (rc)
        return rc;
    if (m.volume) {
        /* VM and storage: the storage first (a live mirror on the VM's
         * node, asked of this node's clusterd), then the VM; a storage
         * move that fails leaves the VM where it was. */
        char *sargv[] = {(char *)"move-storage", (char *)m.vm,
                         (char *)"--to-volume", (char *)m.volume, NULL};
        rc = ctl_move_storage(4, sargv);
        if (rc) {
            ctl_err("VM '%s' was not moved (its storage did not move)", m.vm);
            return rc;
        }
    }
    rc = ctl_cd_connect(&c);
    if (rc)
        return rc;
    /* Subscribe first so no event of the move is missed. */
    rc = ctl_cd_call_on(c, "<request op=\"events\"/>", &doc, NULL);
    xmlFreeDoc(doc);
    if (rc)
        return rc;
    rc = move_send(c, &m);
    if (rc)
        return rc;
    return move_follow(c, &m);
}

/* ------------------------------------------------------ node drain */

static int node_state(const char *node, const char *state)
{
    char *e = ctl_xml_escape(node), *req = NULL;
    xmlDoc *doc = NULL;
    int rc = CTL_EXIT_FAIL;

    if (e &&
        asprintf(&req, "<request op=\"node-state\" node=\"%s\" state=\"%s\"/>",
                 e, state) >= 0)
        rc = ctl_cd_call(req, &doc, NULL);
    xmlFreeDoc(doc);
    free(req);
    free(e);
    return rc;
}

/* A VM the drain holds back, printed when its reason changes. */
static void drain_say(const char *vm, const char *wait, const char *n,
                      const char *msg)
{
    static char last[32][512];
    char now[512];
    size_t slot = 0;

    snprintf(now, sizeof(now), "%s %s %s %s", vm, wait, n, msg);
    /* one line per VM: the slot its name hashes to */
    for (const char *c = vm; *c; c++)
        slot = slot * 31 + (unsigned char)*c;
    slot %= CMN_ARRAY_SIZE(last);
    if (!strcmp(now, last[slot]))
        return;
    snprintf(last[slot], sizeof(last[slot]), "%s", now);
    if (!strcmp(wait, "backoff"))
        printf("VM '%s': move failed %s time(s) in a row, retried with a "
               "back-off: %s\n",
               vm, n, msg);
    else
        printf("VM '%s': %s\n", vm, msg);
    fflush(stdout);
}

static int cmd_drain(const char *node, bool wait)
{
    uint64_t t0 = cmn_now_ms(), quiet_since = 0;
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

        rc = ctl_cd_call("<request op=\"vm-list\"/>", &doc, NULL);
        if (rc)
            return rc;
        for (xmlNode *v = first_elem(xmlDocGetRootElement(doc)->children, "vm");
             v; v = first_elem(v->next, "vm")) {
            /* A VM on its way off the node (quick migration: saved,
             * running nowhere yet) has not left it. */
            if (!strcmp(ctl_xml_prop(v, "node"), node) ||
                (*ctl_xml_prop(v, "action") &&
                 !strcmp(ctl_xml_prop(v, "action-from"), node))) {
                left++;
                snprintf(names + strlen(names), sizeof(names) - strlen(names),
                         "%s%s", left > 1 ? ", " : "", ctl_xml_prop(v, "name"));
            }
            /* Held back (not running, back-off): the drain goes on
             * once the VM recovers; say why once per change. */
            if (*ctl_xml_prop(v, "action") ||
                (!strcmp(ctl_xml_prop(v, "node"), node) &&
                 (!strcmp(ctl_xml_prop(v, "wait"), "backoff") ||
                  !strcmp(ctl_xml_prop(v, "wait"), "not-running"))))
                moving++;
            if (!strcmp(ctl_xml_prop(v, "node"), node) &&
                *ctl_xml_prop(v, "wait-msg") &&
                (!strcmp(ctl_xml_prop(v, "wait"), "backoff") ||
                 !strcmp(ctl_xml_prop(v, "wait"), "not-running")))
                drain_say(ctl_xml_prop(v, "name"), ctl_xml_prop(v, "wait"),
                          ctl_xml_prop(v, "wait-n"),
                          ctl_xml_prop(v, "wait-msg"));
        }
        xmlFreeDoc(doc);
        if (!left) {
            printf("node '%s' drained: no VM runs there (%.1f s)\n", node,
                   (double)(cmn_now_ms() - t0) / 1000);
            return CTL_EXIT_OK;
        }
        /* Nothing in flight for a while: what is left can't move. */
        if (moving)
            quiet_since = 0;
        else if (!quiet_since)
            quiet_since = cmn_now_ms();
        if ((quiet_since && cmn_now_ms() - quiet_since > 5000) ||
            cmn_now_ms() - t0 > DRAIN_WAIT_MS) {
            ctl_err("node '%s' is drained but VM(s) %s still run there: no "
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
        return ctl_cluster_node(argc, argv, output_xml);
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--no-wait"))
            wait = false;
        else if (!node && argv[i][0] != '-')
            node = argv[i];
        else {
            ctl_err("node %s: unexpected argument '%s'", argv[1], argv[i]);
            return CTL_EXIT_USAGE;
        }
    }
    if (!node) {
        ctl_err("node %s needs a node name (see 'clusterctl node list')",
                argv[1]);
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
    int rc = ctl_cd_connect(&c);

    if (rc)
        return rc;
    rc = ctl_cd_call_on(c, "<request op=\"events\"/>", &doc, NULL);
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
            ctl_err("clusterd went away (%s)", strerror(-rc));
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
        if (!strcmp(ctl_xml_prop(n, "type"), "vm"))
            printf("%s vm %s: %s on %s\n", stamp, ctl_xml_prop(n, "vm"),
                   ctl_xml_prop(n, "state"), ctl_xml_prop(n, "node"));
        else if (!strcmp(ctl_xml_prop(n, "type"), "migration"))
            printf("%s vm %s: pass %s, transferred %.0f MiB, remaining %.0f "
                   "MiB, expected downtime %s ms\n",
                   stamp, ctl_xml_prop(n, "vm"), ctl_xml_prop(n, "pass"),
                   mib(ctl_xml_prop(n, "transferred")),
                   mib(ctl_xml_prop(n, "remaining")),
                   ctl_xml_prop(n, "expected-downtime-ms"));
        else if (!strcmp(ctl_xml_prop(n, "type"), "action"))
            printf("%s action %s: %s VM %s (%s)%s%s -> %s: %s%s%s\n", stamp,
                   ctl_xml_prop(n, "id"), ctl_xml_prop(n, "kind"),
                   ctl_xml_prop(n, "vm"), ctl_xml_prop(n, "cause"),
                   *ctl_xml_prop(n, "from") ? " " : "", ctl_xml_prop(n, "from"),
                   ctl_xml_prop(n, "to"), ctl_xml_prop(n, "status"),
                   *ctl_xml_prop(n, "msg") ? ": " : "", ctl_xml_prop(n, "msg"));
        else if (!strcmp(ctl_xml_prop(n, "type"), "vm-wait")) {
            const char *w = ctl_xml_prop(n, "wait");
            if (!strcmp(w, "retry"))
                printf("%s vm %s: start failed %s time(s) in a row on %s (%s): "
                       "retry on %s\n",
                       stamp, ctl_xml_prop(n, "vm"), ctl_xml_prop(n, "wait-n"),
                       ctl_xml_prop(n, "wait-node"),
                       ctl_xml_prop(n, "wait-msg"),
                       ctl_xml_prop(n, "wait-next"));
            else if (!strcmp(w, "no-node"))
                printf("%s vm %s: CANNOT RUN ANYWHERE: %s\n", stamp,
                       ctl_xml_prop(n, "vm"), ctl_xml_prop(n, "wait-msg"));
            else if (*w)
                printf("%s vm %s: waiting (%s %s)\n", stamp,
                       ctl_xml_prop(n, "vm"), w, ctl_xml_prop(n, "wait-n"));
            else
                printf("%s vm %s: no longer waiting\n", stamp,
                       ctl_xml_prop(n, "vm"));
        }
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
                ctl_err("--output takes 'xml', not '%s'", argv[i + 1]);
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
        return cmd_status();
    if (!strcmp(argv[0], "vm"))
        return cmd_vm(argc, argv);
    if (!strcmp(argv[0], "move-vm"))
        return cmd_move(argc, argv);
    if (!strcmp(argv[0], "move-storage"))
        return ctl_move_storage(argc, argv);
    if (!strcmp(argv[0], "node"))
        return cmd_node(argc, argv);
    if (!strcmp(argv[0], "explain")) {
        if (argc != 2) {
            ctl_err("explain needs one VM name (explain VM)");
            return CTL_EXIT_USAGE;
        }
        return cmd_explain(argv[1]);
    }
    if (!strcmp(argv[0], "events"))
        return cmd_events();
    ctl_err("unknown command '%s' (see 'clusterctl help')", argv[0]);
    return CTL_EXIT_USAGE;
}
