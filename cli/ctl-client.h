/* clusterctl's client of the local clusterd, shared by its command groups
 * (cli/ctl-cluster.c, cli/ctl-vm.c). */
#ifndef KVMC_CTL_CLIENT_H
#define KVMC_CTL_CLIENT_H

#include <libxml/tree.h>
#include <stdint.h>

#include "common/cmn-ipc.h"

/* Connects to clusterd; prints why not and returns CTL_EXIT_FAIL. */
int ctl_cd_connect(struct cmn_ipc_client **ret_client);

/* Sends `request` on `client`. On success *ret_doc holds the reply
 * document (and *ret_text its text when ret_text is not NULL); else the
 * error is printed. Returns a CTL_EXIT_* code. A request refused while
 * members synchronise is retried for a while. */
int ctl_cd_call_on(struct cmn_ipc_client *client, const char *request,
                   xmlDoc **ret_doc, char **ret_text);
/* The same on a connection of its own. */
int ctl_cd_call(const char *request, xmlDoc **ret_doc, char **ret_text);

/* An attribute's text ("" when absent), valid as long as the document. */
const char *ctl_xml_prop(xmlNode *n, const char *name);
/* `s` with XML's special characters escaped (malloc'd; NULL on ENOMEM). */
char *ctl_xml_escape(const char *s);

#endif
