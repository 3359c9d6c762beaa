/* clusterd's request API: every operation a client may ask for, with its
 * permission class, in one table (cd_api_ops). cd-ipc.c carries requests
 * and replies; this module decides, before any handler runs, whether a
 * request is well formed and whether the connection may make it.
 *
 * Who may do what is fixed when a client connects, from the credentials
 * the kernel recorded on its socket (common/cmn-ipc.h): root and members
 * of [clusterd] admin-group may read and write; members of read-only-group
 * may read; nobody else gets a connection. */
#ifndef KVMC_CD_API_H
#define KVMC_CD_API_H

#include <libxml/tree.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "clusterd/cd-proto.h"
#include "common/cmn-ipc.h"

enum cd_api_class {
    CD_API_READ = 1,  /* answered from the local copy, changes nothing */
    CD_API_WRITE = 2, /* changes the cluster (CDB, VMs, slots) */
};

enum cd_api_id {
    CD_API_STATUS,
    CD_API_CDB_GET,
    CD_API_CONFIG_GET,
    CD_API_NODE_LIST,
    CD_API_VOLUME_LIST,
    CD_API_VOLUME_CHECK, /* a write with repair="yes" */
    CD_API_VM_LIST,
    CD_API_VM_SHOW,
    CD_API_EXPLAIN,
    CD_API_EVENTS,
    CD_API_CONFIG_SET,
    CD_API_NODE_STATE,
    CD_API_CDB_ADD_VM,
    CD_API_CDB_ADD_VOLUME,
    CD_API_CDB_REMOVE_VM,
    CD_API_CDB_REMOVE_VOLUME,
    CD_API_VM_ADD,
    CD_API_VM_EDIT,
    CD_API_VM_REMOVE,
    CD_API_VM_START,
    CD_API_VM_STOP,
    CD_API_MOVE_VM,
    CD_API_METRICS,
    CD_API_HISTORY,
    CD_API_VALIDATE,
    CD_API_VM_DISK,
    CD_API_MOVE_STORAGE,
    CD_API_VOLUME_ADD_LOCAL,
    CD_API_COUNT,
};

struct cd_api_op {
    const char *name;    /* <request op="..."> */
    const char *command; /* what clusterctl calls it, for messages */
    enum cd_api_id id;
    enum cd_api_class cls;
    const char *need; /* attribute the request must carry, or NULL */
};

/* The operations, in cd_api_id order. */
extern const struct cd_api_op cd_api_ops[CD_API_COUNT];

/* The operation called `name`, or NULL. */
const struct cd_api_op *cd_api_find(const char *name);

/* Who may do what, from kvmcluster.conf's [clusterd] section. */
struct cd_api_policy {
    char admin_group[64]; /* "" = root only */
    gid_t admin_gid;
    char read_only_group[64]; /* "" = none */
    gid_t read_only_gid;
};

/* Resolves the group names of `p` to gids; -CMN_E_BAD_VALUE with a message
 * naming the group when one does not exist. */
int cd_api_policy_resolve(struct cd_api_policy *p, char *err, size_t errlen);

/* The class a connecting peer gets: CD_API_WRITE for uid 0 and members of
 * the admin group, CD_API_READ for members of the read-only group,
 * -EACCES for anyone else (the connection is refused). */
int cd_api_peer_class(const struct cd_api_policy *p,
                      const struct cmn_ipc_peer *peer);

/* Checks a parsed request: a <request> element with a known op, its
 * required attribute present and shorter than CD_VALUE_MAX. Returns the
 * operation and the class this request needs (volume-check with
 * repair="yes" is a write), or a negative code with a message in err. */
int cd_api_check(xmlNode *req, const struct cd_api_op **ret_op,
                 enum cd_api_class *ret_cls, char *err, size_t errlen);

/* Whether a connection granted `granted` (cd_api_peer_class) may make a
 * request of class `cls`: 0, or -CD_E_PERM with a message naming the
 * command and the group it needs. */
int cd_api_permit(const struct cd_api_policy *p, const struct cd_api_op *op,
                  enum cd_api_class cls, int granted, char *err, size_t errlen);

#endif
