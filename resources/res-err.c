/* Texts of the resources/ error block. */
#include "config.h"

#include "common/cmn-auto.h"
#include "common/cmn-err.h"
#include "resources/res-err.h"

static const char *const res_err_texts[] = {
    [0] = NULL,
    [RES_E_INVALID - CMN_E_RES_BASE] = "invalid VM definition",
    [RES_E_NO_CAPACITY - CMN_E_RES_BASE] =
        "no eligible node has the memory the VM needs",
    [RES_E_NO_OWNER - CMN_E_RES_BASE] =
        "none of the VM's possible owners is up",
    [RES_E_MANUAL - CMN_E_RES_BASE] =
        "priority manual: the cluster does not start this VM by itself",
    [RES_E_UNKNOWN_VM - CMN_E_RES_BASE] = "unknown VM",
    [RES_E_UNKNOWN_NODE - CMN_E_RES_BASE] = "unknown node",
    [RES_E_NODE_STATE - CMN_E_RES_BASE] =
        "node is not up (drained, paused, quarantined or down)",
    [RES_E_NOT_OWNER - CMN_E_RES_BASE] =
        "node is not among the VM's possible owners",
    [RES_E_INPUT - CMN_E_RES_BASE] = "inconsistent placement input",
    [RES_E_NO_BRIDGE - CMN_E_RES_BASE] = "the node lacks a bridge the VM needs",
    [RES_E_CPU - CMN_E_RES_BASE] =
        "CPU model not runnable or CPU capability invalid",
};

void res_err_init(void)
{
    static int done;

    /* Every caller runs on the thread that uses resources/ first or from
     * the constructor below, before threads exist. */
    if (done)
        return;
    done = 1;
    cmn_err_register(CMN_E_RES_BASE, res_err_texts,
                     (int)CMN_ARRAY_SIZE(res_err_texts));
}

__attribute__((constructor)) static void res_err_ctor(void)
{
    res_err_init();
}
