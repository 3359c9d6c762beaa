/* Texts of the iscsi/ error block for cmn_strerror(). */
#include "config.h"

#include "common/cmn-auto.h"
#include "common/cmn-err.h"
#include "iscsi/isc.h"

static const char *const isc_err_texts[] = {
    [ISC_E_CONNECT - CMN_E_ISC_BASE] = "cannot connect to the iSCSI portal",
    [ISC_E_LOGIN - CMN_E_ISC_BASE] = "iSCSI login rejected by the target",
    [ISC_E_AUTH - CMN_E_ISC_BASE] =
        "iSCSI CHAP authentication failed (check user and secret)",
    [ISC_E_NO_TARGET - CMN_E_ISC_BASE] =
        "no such iSCSI target at the portal (check the IQN)",
    [ISC_E_TIMEOUT - CMN_E_ISC_BASE] = "iSCSI deadline expired",
    [ISC_E_SCSI - CMN_E_ISC_BASE] = "SCSI command failed",
    [ISC_E_NO_LUN - CMN_E_ISC_BASE] =
        "logical unit not supported (LUN removed?)",
    [ISC_E_NO_ID - CMN_E_ISC_BASE] =
        "LUN has no NAA/EUI designator and no serial number",
    [ISC_E_VPD - CMN_E_ISC_BASE] = "malformed SCSI VPD or parameter data",
    [ISC_E_SECRET_PERM - CMN_E_ISC_BASE] =
        "CHAP secret file is accessible to others",
    [ISC_E_CONFIG - CMN_E_ISC_BASE] = "invalid lunbridge configuration",
    [ISC_E_DISCOVERY - CMN_E_ISC_BASE] = "iSCSI SendTargets discovery failed",
    [ISC_E_IDENTITY - CMN_E_ISC_BASE] =
        "LUN identity changed: it is no longer the disk it was",
    [ISC_E_PORTAL - CMN_E_ISC_BASE] = "malformed iSCSI portal address",
};

void isc_err_register(void)
{
    cmn_err_register(CMN_E_ISC_BASE, isc_err_texts,
                     (int)CMN_ARRAY_SIZE(isc_err_texts));
}
