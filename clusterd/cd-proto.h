/* clusterd's local API as clients see it: the IPC name, the limits of
 * what a request may carry, and the error codes replies carry
 * (<error code="N">). The requests themselves are listed with their
 * permission class in clusterd/cd-api.h; clusterctl includes this header
 * and nothing else of clusterd. */
#ifndef KVMC_CD_PROTO_H
#define KVMC_CD_PROTO_H

#include "common/cmn-err.h"

/* libqb IPC service name clusterctl talks to. */
#define CD_IPC_NAME "kvmc-clusterd"

#define CD_NAME_MAX  64            /* node, VM, volume names, setting keys */
#define CD_VALUE_MAX 256           /* setting values, addresses, refs */
#define CD_TEXT_MAX  (512u * 1024) /* embedded VM definition, LUN list */

enum cd_err {
    CD_E_NO_QUORUM = CMN_E_CD_BASE + 1, /* write without quorum */
    CD_E_EXISTS,                        /* add of a name already there */
    CD_E_NOT_FOUND,                     /* unknown node/VM/volume/key */
    CD_E_BAD_MSG,                       /* malformed change message */
    CD_E_BAD_VALUE,                     /* value outside its domain */
    CD_E_CORRUPT,                       /* digest/checksum mismatch */
    CD_E_SYNCING,                       /* members are exchanging the CDB */
    CD_E_NO_CLUSTER,                    /* corosync not reachable */
    CD_E_IN_USE,                        /* removal of a referenced item */
    CD_E_PERM,                          /* caller may not change things */
    CD_E_BUSY,         /* VM already has an action in flight (moving) */
    CD_E_NOT_RUNNING,  /* VM runs nowhere */
    CD_E_ACTION,       /* an action failed on the node executing it */
    CD_E_NO_AGENT,     /* hvagent is not reachable on this node */
    CD_E_MSG_VERSION,  /* cluster message of a protocol version not known */
    CD_E_NOT_ENTITLED, /* cluster message from a member not entitled to it */
    CD_E_END,
};

/* Registers the clusterd error texts with cmn_strerror(): every program
 * that can receive a clusterd code calls it (clusterd, clusterctl). */
void cd_err_register(void);

#endif
