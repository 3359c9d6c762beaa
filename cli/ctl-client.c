#include "config.h"

#include "cli/ctl-client.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/ctl.h"
#include "clusterd/cd-proto.h"
#include "common/cmn-time.h"
#include "common/cmn-xml.h"

#define CALL_MS       30000
#define SYNC_RETRY_MS 15000

const char *ctl_xml_prop(xmlNode *n, const char *name)
{
    /* libxml2 keeps attribute text in the attribute node's first child. */
    for (xmlAttr *a = n ? n->properties : NULL; a; a = a->next)
        if (!strcmp((const char *)a->name, name) && a->children)
            return (const char *)a->children->content;
    return "";
}

char *ctl_xml_escape(const char *s)
{
    return cmn_xml_escape(s);
}

int ctl_cd_connect(struct cmn_ipc_client **ret_client)
{
    int rc = cmn_ipc_client_connect(CD_IPC_NAME, ret_client);

    if (rc == -EACCES) {
        ctl_err("permission denied: clusterd serves root and the members of "
                "its admin-group and read-only-group only (kvmcluster.conf, "
                "[clusterd])");
        return CTL_EXIT_REFUSED;
    }
    if (rc == -CMN_E_IPC_SERVER || rc == -EUSERS) {
        ctl_err("refused to talk to clusterd's IPC name: %s",
                rc == -EUSERS ? "this user holds too many connections to "
                                "clusterd already"
                              : cmn_strerror(rc));
        return CTL_EXIT_FAIL;
    }
    if (rc < 0) {
        ctl_err("cannot reach clusterd on this node (%s): is it running? "
                "(systemctl status clusterd, or clusterd -f)",
                strerror(-rc < 10000 ? -rc : ECONNREFUSED));
        return CTL_EXIT_FAIL;
    }
    return CTL_EXIT_OK;
}

int ctl_cd_call_on(struct cmn_ipc_client *client, const char *request,
                   xmlDoc **ret_doc, char **ret_text)
{
    uint64_t deadline = cmn_now_ms() + SYNC_RETRY_MS;
    char err[512];
    int rc;

    for (;;) {
        char *reply = NULL;
        xmlDoc *doc = NULL;
        xmlNode *root;
        xmlChar *msg;
        long code;

        rc = cmn_ipc_call(client, request, CALL_MS, &reply);
        if (rc < 0) {
            ctl_err("no answer from clusterd: %s",
                    rc == -ETIMEDOUT ? "timed out" : strerror(-rc));
            return CTL_EXIT_FAIL;
        }
        rc = cmn_xml_parse_mem(reply, strlen(reply), "reply", CMN_IPC_MAX_MSG,
                               &doc, err, sizeof(err));
        if (rc < 0) {
            ctl_err("clusterd sent a malformed reply: %s", err);
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
        code = strtol(ctl_xml_prop(root, "code"), NULL, 10);
        if (code == CD_E_SYNCING && cmn_now_ms() < deadline) {
            xmlFreeDoc(doc);
            free(reply);
            poll(NULL, 0, 100);
            continue;
        }
        msg = xmlNodeGetContent(root);
        ctl_err("%s", msg ? (const char *)msg : "request failed");
        xmlFree(msg);
        xmlFreeDoc(doc);
        free(reply);
        return code == CD_E_NO_QUORUM || code == CD_E_PERM ? CTL_EXIT_REFUSED
                                                           : CTL_EXIT_FAIL;
    }
}

int ctl_cd_call(const char *request, xmlDoc **ret_doc, char **ret_text)
{
    CMN_AUTO(cmn_ipc_client) *c = NULL;
    int rc = ctl_cd_connect(&c);

    return rc ? rc : ctl_cd_call_on(c, request, ret_doc, ret_text);
}
