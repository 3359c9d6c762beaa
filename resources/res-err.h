/* Error codes of resources/ (the CMN_E_RES_BASE block). */
#ifndef KVMC_RES_ERR_H
#define KVMC_RES_ERR_H

#include "common/cmn-err.h"

/* Project error codes of the resources/ block; functions return them
 * negated. cmn_strerror() knows their text once res_err_init() ran (every
 * res_ entry point that can return one calls it). */
enum res_err {
    /* the VM definition fails a semantic check (name, uuid, bounds...) */
    RES_E_INVALID = CMN_E_RES_BASE + 1,
    /* no eligible node has the memory the VM needs */
    RES_E_NO_CAPACITY,
    /* none of the VM's possible owners is up */
    RES_E_NO_OWNER,
    /* manual priority: the cluster never starts the VM by itself */
    RES_E_MANUAL,
    /* the VM named is not in the placement input */
    RES_E_UNKNOWN_VM,
    /* the node named is not in the placement input */
    RES_E_UNKNOWN_NODE,
    /* the node is not up (drained, paused, quarantined or down) */
    RES_E_NODE_STATE,
    /* the node is not among the VM's possible owners */
    RES_E_NOT_OWNER,
    /* placement input is inconsistent (duplicate names or ids...) */
    RES_E_INPUT,
    /* the node lacks a bridge the VM's NICs need */
    RES_E_NO_BRIDGE,
    /* CPU capability: bad report, no baseline, a CPU a node can't run */
    RES_E_CPU,
    RES_E_END_,
};

/* Registers the texts of the block with cmn_err_register(); idempotent. */
void res_err_init(void);

#endif
