/* The texts of clusterd's error block (cd-proto.h), in a library of their
 * own so clusterctl links them without clusterd's internals. */
#include "config.h"

#include "clusterd/cd-proto.h"
#include "common/cmn-auto.h"

static const char *const cd_err_texts[] = {
    [0] = "clusterd error",
    [CD_E_NO_QUORUM - CMN_E_CD_BASE] =
        "the cluster has no quorum: changes are refused",
    [CD_E_EXISTS - CMN_E_CD_BASE] = "already exists",
    [CD_E_NOT_FOUND - CMN_E_CD_BASE] = "not found",
    [CD_E_BAD_MSG - CMN_E_CD_BASE] = "malformed change message",
    [CD_E_BAD_VALUE - CMN_E_CD_BASE] = "value out of range",
    [CD_E_CORRUPT - CMN_E_CD_BASE] = "cluster database fails its checksum",
    [CD_E_SYNCING - CMN_E_CD_BASE] =
        "members are synchronising the cluster database; retry",
    [CD_E_NO_CLUSTER - CMN_E_CD_BASE] = "corosync is not reachable",
    [CD_E_IN_USE - CMN_E_CD_BASE] = "still in use",
    [CD_E_PERM - CMN_E_CD_BASE] =
        "permission denied: only root or the admin group may change the "
        "cluster",
    [CD_E_BUSY - CMN_E_CD_BASE] = "VM already has an action in flight",
    [CD_E_NOT_RUNNING - CMN_E_CD_BASE] = "VM is not running",
    [CD_E_ACTION - CMN_E_CD_BASE] = "action failed",
    [CD_E_NO_AGENT - CMN_E_CD_BASE] = "hvagent is not reachable",
    [CD_E_MSG_VERSION - CMN_E_CD_BASE] =
        "cluster message of an unknown protocol version (a newer clusterd?)",
    [CD_E_NOT_ENTITLED - CMN_E_CD_BASE] =
        "cluster message from a member not entitled to send it",
};

void cd_err_register(void)
{
    cmn_err_register(CMN_E_CD_BASE, cd_err_texts,
                     (int)CMN_ARRAY_SIZE(cd_err_texts));
}
