/* hvactl: a small client of hvagent's local API, for tests and debugging
 * (clusterd is the real client). Not installed. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/entities.h>

#include "common/cmn-auto.h"
#include "common/cmn-err.h"
#include "common/cmn-ipc.h"
#include "hvagent/hva-int.h"

static void usage(void)
{
    fprintf(stderr,
            "usage: hvactl [--ipc NAME] [--timeout MS] OP [VM] [KEY=VALUE...]\n"
            "       hvactl define FILE.xml\n"
            "       hvactl events [COUNT]     print COUNT events (default: "
            "forever)\n"
            "OP: start stop kill status undefine migrate-out migrate-in disarm "
            "save "
            "restore\n");
}

int main(int argc, char **argv)
{
    const char *ipc =
        getenv("HVA_IPC_NAME") ? getenv("HVA_IPC_NAME") : HVA_IPC_NAME;
    int timeout = 600000, i = 1, rc;
    CMN_AUTO(cmn_ipc_client) *cl = NULL;
    char *req = NULL, *reply = NULL;

    while (i < argc && strncmp(argv[i], "--", 2) == 0) {
        if (strcmp(argv[i], "--ipc") == 0 && i + 1 < argc) {
            ipc = argv[i + 1];
            i += 2;
        } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            timeout = atoi(argv[i + 1]);
            i += 2;
        } else {
            usage();
            return 2;
        }
    }
    if (i >= argc) {
        usage();
        return 2;
    }
    hva_err_register();
    const char *op = argv[i++];
    rc = cmn_ipc_client_connect(ipc, &cl);
    if (rc < 0) {
        fprintf(stderr, "hvactl: hvagent '%s' not reachable: %s\n", ipc,
                cmn_strerror(rc));
        return 1;
    }
    if (strcmp(op, "define") == 0) {
        char *xml = NULL;
        if (i >= argc || hva_read_file(argv[i], &xml) < 0) {
            fprintf(stderr, "hvactl: define needs a readable file\n");
            return 2;
        }
        /* Drop an XML declaration: the definition is embedded. */
        char *body = xml;
        if (strncmp(body, "<?xml", 5) == 0) {
            char *e = strstr(body, "?>");
            body = e ? e + 2 : body;
        }
        if (asprintf(&req, "<request op=\"define\">%s</request>", body) < 0)
            return 1;
        free(xml);
    } else if (strcmp(op, "events") == 0) {
        long count = i < argc ? atol(argv[i]) : -1;
        rc = cmn_ipc_call(cl, "<request op=\"subscribe\"/>", 5000, &reply);
        if (rc < 0) {
            fprintf(stderr, "hvactl: subscribe: %s\n", cmn_strerror(rc));
            return 1;
        }
        free(reply);
        fflush(stdout);
        for (long n = 0; count < 0 || n < count; n++) {
            char *ev = NULL;
            rc = cmn_ipc_next_event(cl, timeout, &ev);
            if (rc < 0) {
                fprintf(stderr, "hvactl: events: %s\n", cmn_strerror(rc));
                return 1;
            }
            printf("%s\n", ev);
            fflush(stdout);
            free(ev);
        }
        return 0;
    } else {
        size_t cap = 4096, len;
        req = malloc(cap);
        if (!req)
            return 1;
        len = (size_t)snprintf(req, cap, "<request op=\"%s\"", op);
        if (i < argc && !strchr(argv[i], '=')) {
            xmlChar *e = xmlEncodeSpecialChars(NULL, (xmlChar *)argv[i++]);
            len +=
                (size_t)snprintf(req + len, cap - len, " vm=\"%s\"", (char *)e);
            xmlFree(e);
        }
        for (; i < argc; i++) {
            char *eq = strchr(argv[i], '=');
            if (!eq) {
                usage();
                return 2;
            }
            xmlChar *e = xmlEncodeSpecialChars(NULL, (xmlChar *)eq + 1);
            len += (size_t)snprintf(req + len, cap - len, " %.*s=\"%s\"",
                                    (int)(eq - argv[i]), argv[i], (char *)e);
            xmlFree(e);
            if (len >= cap - 64)
                return 2;
        }
        snprintf(req + len, cap - len, "/>");
    }
    rc = cmn_ipc_call(cl, req, timeout, &reply);
    free(req);
    if (rc < 0) {
        fprintf(stderr, "hvactl: %s: %s\n", op, cmn_strerror(rc));
        return 1;
    }
    printf("%s\n", reply);
    rc = strstr(reply, "rc=\"0\"") ? 0 : 1;
    free(reply);
    return rc;
}
