/* clusterctl move-storage VM --to-volume VOLUME [--disk DEV]... [--no-wait]
 * | --status |
 * --cancel (from any node: clusterd passes a running VM's to its node):
 * a VM's disks, state extent and slot copied to another volume
 * (clusterd/cd-api-move.c says in which order; a running VM's through its
 * QEMU's mirror). The request returns once
 * the target is allocated; the copy is then followed by polling its
 * status, with a progress line on a terminal. */
#include "config.h"

#include <inttypes.h>
#include <libxml/tree.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/ctl-client.h"
#include "cli/ctl-vm.h"
#include "cli/ctl.h"
#include "common/cmn-xml.h"

#define POLL_MS 250
#define WAIT_S  3600

static int usage(void)
{
    ctl_err("usage: clusterctl move-storage VM --to-volume VOLUME "
            "[--disk DEV]... [--no-wait] | clusterctl move-storage VM "
            "--status|--cancel");
    return CTL_EXIT_USAGE;
}

static double mib(const char *bytes)
{
    return (double)strtoull(bytes, NULL, 10) / 1048576.0;
}

/* ", 1.2 MiB/s, 2 min 05 s left" from the status reply's window rate
 * (clusterd's, over a few seconds: a paced mirror counts in steps). */
static void rate_eta(xmlNode *r, char *buf, size_t len)
{
    uint64_t rate = strtoull(ctl_xml_prop(r, "rate"), NULL, 10);
    uint64_t done = strtoull(ctl_xml_prop(r, "done"), NULL, 10);
    uint64_t total = strtoull(ctl_xml_prop(r, "total"), NULL, 10);
    uint64_t left;

    if (rate == 0) {
        snprintf(buf, len, ", rate not known yet");
        return;
    }
    if (done >= total) {
        /* QEMU counted every chunk (read, the paced writes may lag). */
        snprintf(buf, len, ", %.1f MiB/s, finishing", (double)rate / 1048576.0);
        return;
    }
    left = (total - done + rate - 1) / rate;
    if (left < 120)
        snprintf(buf, len, ", %.1f MiB/s, %" PRIu64 " s left",
                 (double)rate / 1048576.0, left);
    else if (left < 7200)
        snprintf(buf, len, ", %.1f MiB/s, %" PRIu64 " min %02" PRIu64 " s left",
                 (double)rate / 1048576.0, left / 60, left % 60);
    else
        snprintf(buf, len, ", %.1f MiB/s, %" PRIu64 " h %02" PRIu64 " min left",
                 (double)rate / 1048576.0, left / 3600, left / 60 % 60);
}

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

static int send_cancel(const char *vm)
{
    char *req = cmn_xml_format(
        "<request op=\"move-storage\" action=\"cancel\" vm=\"%s\"/>", vm);
    xmlDoc *doc = NULL;
    int rc;

    if (!req)
        return CTL_EXIT_FAIL;
    rc = ctl_cd_call(req, &doc, NULL);
    free(req);
    xmlFreeDoc(doc);
    return rc;
}

/* Ctrl-C while following on a terminal: asks whether to cancel the move
 * (else the move goes on and so does the progress); without a terminal
 * to ask on, Ctrl-C ends clusterctl as usual and the move goes on. */
static void ask_cancel(const char *vm)
{
    char line[16] = "";

    interrupted = 0;
    printf("\nCancel the storage move of VM '%s' (the VM keeps its source "
           "disks)? [y/N] ",
           vm);
    fflush(stdout);
    if (fgets(line, sizeof(line), stdin) && (line[0] == 'y' || line[0] == 'Y'))
        send_cancel(vm);
}

/* Polls the move until it is done or failed. */
static int follow(const char *vm, bool tty, bool once)
{
    char *req = cmn_xml_format(
        "<request op=\"move-storage\" action=\"status\" vm=\"%s\"/>", vm);
    struct timespec ts = {0, POLL_MS * 1000000L};
    int rc = CTL_EXIT_FAIL;

    if (!req)
        return CTL_EXIT_FAIL;
    for (long n = 0; n < WAIT_S * 1000L / POLL_MS; n++) {
        xmlDoc *doc = NULL;
        xmlNode *r;
        const char *st;

        rc = ctl_cd_call(req, &doc, NULL);
        if (rc)
            break;
        r = xmlDocGetRootElement(doc);
        st = ctl_xml_prop(r, "state");
        if (!strcmp(st, "done")) {
            double s =
                (double)strtoull(ctl_xml_prop(r, "ms"), NULL, 10) / 1000.0;
            printf("%sVM '%s': storage moved to volume '%s' (%.0f MiB "
                   "copied) in %.1f s, %.1f MiB/s%s%s\n",
                   tty ? "\r" : "", vm, ctl_xml_prop(r, "volume"),
                   mib(ctl_xml_prop(r, "done")), s,
                   s > 0 ? mib(ctl_xml_prop(r, "done")) / s : 0.0,
                   ctl_xml_prop(r, "msg")[0] ? "; " : "",
                   ctl_xml_prop(r, "msg"));
            xmlFreeDoc(doc);
            rc = CTL_EXIT_OK;
            break;
        }
        if (!strcmp(st, "failed")) {
            if (tty)
                printf("\n");
            ctl_err("VM '%s': storage move to volume '%s' failed: %s", vm,
                    ctl_xml_prop(r, "volume"), ctl_xml_prop(r, "msg"));
            xmlFreeDoc(doc);
            rc = CTL_EXIT_FAIL;
            break;
        }
        if (tty || once) {
            char eta[64] = "";
            if (!strcmp(st, "copying"))
                rate_eta(r, eta, sizeof(eta));
            printf("%sVM '%s': %s, %.0f of %.0f MiB copied to volume '%s'%s%s",
                   tty ? "\r" : "", vm, st, mib(ctl_xml_prop(r, "done")),
                   mib(ctl_xml_prop(r, "total")), ctl_xml_prop(r, "volume"),
                   eta, tty && !once ? "   " : "\n");
        }
        fflush(stdout);
        xmlFreeDoc(doc);
        if (once) {
            rc = CTL_EXIT_OK;
            break;
        }
        nanosleep(&ts, NULL);
        if (interrupted)
            ask_cancel(vm);
    }
    free(req);
    return rc;
}

int ctl_move_storage(int argc, char **argv)
{
    const char *vm = NULL, *volume = NULL;
    bool wait = true, status = false, cancel = false;
    /* --disk DEV, repeated: "vdb,vdc" (clusterd checks each name). */
    char disks[16 * 8 + 1] = "";
    size_t len = 0;
    xmlDoc *doc = NULL;
    xmlNode *r;
    char *req;
    int rc;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--to-volume") && i + 1 < argc)
            volume = argv[++i];
        else if (!strcmp(argv[i], "--disk") && i + 1 < argc) {
            int n = snprintf(disks + len, sizeof(disks) - len, "%s%s",
                             len ? "," : "", argv[++i]);
            if (n < 0 || (size_t)n >= sizeof(disks) - len) {
                ctl_err("move-storage: too many or too long --disk names "
                        "(at most 16 disks such as 'vdb')");
                return CTL_EXIT_USAGE;
            }
            len += (size_t)n;
        } else if (!strcmp(argv[i], "--no-wait"))
            wait = false;
        else if (!strcmp(argv[i], "--status"))
            status = true;
        else if (!strcmp(argv[i], "--cancel"))
            cancel = true;
        else if (argv[i][0] == '-') {
            ctl_err("move-storage: unexpected option '%s'", argv[i]);
            return usage();
        } else if (!vm)
            vm = argv[i];
        else {
            ctl_err("move-storage: unexpected argument '%s'", argv[i]);
            return usage();
        }
    }
    if (!vm || (!!volume + status + cancel) != 1 || (len && !volume))
        return usage();
    if (status)
        return follow(vm, false, true);
    if (cancel) {
        rc = send_cancel(vm);
        if (rc)
            return rc;
        /* The move ends (its target freed) before this returns. */
        rc = follow(vm, false, false);
        return rc == CTL_EXIT_FAIL ? CTL_EXIT_OK : rc;
    }
    req = cmn_xml_format("<request op=\"move-storage\" vm=\"%s\" "
                         "volume=\"%s\" disks=\"%s\"/>",
                         vm, volume, disks);
    if (!req)
        return CTL_EXIT_FAIL;
    rc = ctl_cd_call(req, &doc, NULL);
    free(req);
    if (rc)
        return rc;
    r = xmlDocGetRootElement(doc);
    printf("VM '%s': moving %s extent(s), %.0f MiB, from volume '%s' to "
           "volume '%s'%s\n",
           vm, ctl_xml_prop(r, "extents"), mib(ctl_xml_prop(r, "total")),
           ctl_xml_prop(r, "from"), ctl_xml_prop(r, "volume"),
           wait ? ""
                : " (follow it with 'clusterctl move-storage VM "
                  "--status')");
    xmlFreeDoc(doc);
    if (!wait)
        return CTL_EXIT_OK;
    if (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)) {
        struct sigaction sa = {.sa_handler = on_sigint};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
    }
    return follow(vm, isatty(STDOUT_FILENO), false);
}
