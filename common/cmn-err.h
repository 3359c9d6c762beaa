/* Error codes shared by every kvmcluster module.
 *
 * Functions return 0 on success and a negative value on failure: either a
 * negative errno or one of the project codes below. Each module owns a
 * block of 100 codes so a code alone tells which layer produced it.
 */
#ifndef KVMC_CMN_ERR_H
#define KVMC_CMN_ERR_H

enum cmn_err {
    CMN_ERR_BASE = 10000,

    /* common/ */
    CMN_E_PARSE = CMN_ERR_BASE + 1, /* malformed input text */
    CMN_E_UNKNOWN_KEY,              /* config key not in the schema */
    CMN_E_BAD_VALUE,                /* config value of the wrong type */
    CMN_E_TOO_BIG,                  /* input over its size limit */
    CMN_E_SCHEMA,                   /* document fails its RelaxNG schema */
    CMN_E_DTD,                      /* document carries a DTD/entities */
    CMN_E_MISSING,                  /* required item absent */
    CMN_E_DUPLICATE,                /* item given twice */
    CMN_E_IPC_SERVER,               /* IPC server is not root: impostor */

    /* iscsi/ */
    CMN_E_ISC_BASE = CMN_ERR_BASE + 100,
    /* csv/ */
    CMN_E_CSV_BASE = CMN_ERR_BASE + 200,
    /* resources/ */
    CMN_E_RES_BASE = CMN_ERR_BASE + 300,
    /* hvagent/ */
    CMN_E_HVA_BASE = CMN_ERR_BASE + 400,
    /* clusterd/ */
    CMN_E_CD_BASE = CMN_ERR_BASE + 500,
    /* cli/ */
    CMN_E_CTL_BASE = CMN_ERR_BASE + 600,

    CMN_ERR_END = CMN_ERR_BASE + 1000,
};

/* Modules register the text of their block once at start-up (or from a
 * constructor); cmn_strerror() then covers every code. `texts[i]` is the
 * message of code -(base + i); NULL entries fall back to a generic text. */
void cmn_err_register(int base, const char *const *texts, int count);

/* The message of `rc` (negative errno or negative project code). Never NULL;
 * the returned string is static or thread-local. */
const char *cmn_strerror(int rc);

#endif
