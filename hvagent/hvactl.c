/* hvactl: a small client of hvagent's local API, for tests and debugging
 * (clusterd is the real client). Not installed. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
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
            "              [--then OP [VM] [KEY=VALUE...]]...\n"
            "       hvactl define FILE.xml\n"
            "       hvactl events [COUNT]     print COUNT events (default: "
            "forever)\n"
            "OP: start stop kill status undefine migrate-out migrate-in disarm "
            "save "
            "restore cpu\n");
}

/* ` NAME="VALUE"`, VALUE escaped for an attribute. */
static int put_attr(FILE *f, const char *name, size_t namelen,
                    const char *value)
{
    xmlChar *e = xmlEncodeSpecialChars(NULL, (const xmlChar *)value);
    int rc;

    if (!e)
        return -ENOMEM;
    rc = fprintf(f, " %.*s=\"%s\"", (int)namelen, name, (const char *)e);
    xmlFree(e);
    return rc < 0 ? -EIO : 0;
}

/* <request op="OP" [vm="VM"] [KEY="VALUE"...]/> from the arguments after
 * OP; -EINVAL for an argument that is not KEY=VALUE with KEY a plain
 * attribute name. Built in a growing buffer: no length to get wrong. */
static int build_request(const char *op, int argc, char **argv, char **ret)
{
    static const char key_chars[] = "abcdefghijklmnopqrstuvwxyz0123456789-";
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    int i = 0, rc;

    if (!f)
        return -ENOMEM;
    rc = fputs("<request", f) < 0 ? -EIO : 0;
    if (rc == 0)
        rc = put_attr(f, "op", 2, op);
    if (rc == 0 && i < argc && !strchr(argv[i], '='))
        rc = put_attr(f, "vm", 2, argv[i++]);
    for (; rc == 0 && i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        size_t klen = eq ? (size_t)(eq - argv[i]) : 0;

        if (!klen || strspn(argv[i], key_chars) != klen)
            rc = -EINVAL;
        else
            rc = put_attr(f, argv[i], klen, eq + 1);
    }
    if (rc == 0 && fputs("/>", f) < 0)
        rc = -EIO;
    if (fclose(f) != 0 && rc == 0)
        rc = -ENOMEM;
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *ret = buf;
    return 0;
}

/* OP [VM] [KEY=VALUE...] [--then OP ...]: each request on this connection
 * in turn, the next sent as soon as the previous one is answered (so a
 * test can send an undefine the moment a kill is done); stops at the
 * first failure. */
static int run_ops(struct cmn_ipc_client *cl, const char *op, int argc,
                   char **argv, int timeout)
{
    for (;;) {
        char *req = NULL, *reply = NULL;
        int n = 0, rc;
        bool ok;

        while (n < argc && strcmp(argv[n], "--then") != 0)
            n++;
        rc = build_request(op, n, argv, &req);
        if (rc < 0 || (n < argc && n + 1 >= argc)) {
            free(req);
            usage();
            return 2;
        }
        rc = cmn_ipc_call(cl, req, timeout, &reply);
        free(req);
        if (rc < 0) {
            fprintf(stderr, "hvactl: %s: %s\n", op, cmn_strerror(rc));
            return 1;
        }
        printf("%s\n", reply);
        fflush(stdout);
        ok = strstr(reply, "rc=\"0\"") != NULL;
        free(reply);
        if (!ok)
            return 1;
        if (n >= argc)
            return 0;
        op = argv[n + 1];
        argv += n + 2;
        argc -= n + 2;
    }
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
    if (rc == -EACCES) {
        /* hvagent decided from our credentials at accept */
        fprintf(stderr,
                "hvactl: hvagent '%s' refused this user: it serves root "
                "only (run hvactl as root)\n",
                ipc);
        return 1;
    }
    if (rc == -EUSERS) {
        fprintf(stderr,
                "hvactl: hvagent '%s' refused the connection: this user "
                "holds too many connections to it already (end some "
                "hvactl clients, e.g. 'hvactl events')\n",
                ipc);
        return 1;
    }
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
        return run_ops(cl, op, argc - i, argv + i, timeout);
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
