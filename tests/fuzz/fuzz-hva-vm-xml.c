/* hvagent's <vm> definition (hva_vm_def_from_xml): what clusterd sends
 * over IPC and a migration source sends in PREPARE. A definition that
 * parses is serialized again (hva_vm_def_to_xml), as hvagent does when
 * it passes it on. */
#include "config.h"

#include "hvagent/hva-int.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *xml = fuzz_strndup(data, size);
    struct hva_vm_def *def = NULL;
    char err[512];

    if (!xml)
        return 0;
    if (hva_vm_def_from_xml(xml, &def, err, sizeof(err)) == 0) {
        char *again = NULL;

        if (hva_vm_def_to_xml(def, &again) == 0)
            free(again);
        hva_vm_def_free(def);
    }
    free(xml);
    return 0;
}
