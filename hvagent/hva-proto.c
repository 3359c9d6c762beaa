/* The texts of hvagent's error block (hva-proto.h), in a library of their
 * own so every program that can receive an hvagent code links them. */
#include "config.h"

#include "common/cmn-auto.h"
#include "common/cmn-err.h"
#include "hvagent/hva-proto.h"

static const char *const hva_err_texts[] = {
    [1] = "no such VM",
    [2] = "VM is not in a state that allows this",
    [3] = "the VM lease is held by another host",
    [4] = "QEMU failed",
    [5] = "QEMU refused a monitor command",
    [6] = "migration target refused the VM",
    [7] = "migration peer failed authentication",
    [8] = "migration failed; the VM stays on the source",
    [9] = "migration did not converge; cancelled",
    [10] = "saved state fails its checksum",
    [11] = "malformed request",
};

void hva_err_register(void)
{
    cmn_err_register(CMN_E_HVA_BASE, hva_err_texts,
                     (int)CMN_ARRAY_SIZE(hva_err_texts));
}
