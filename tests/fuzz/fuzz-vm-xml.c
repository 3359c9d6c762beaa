/* The VM definition of clusterctl and the CDB (res_vm_parse): size limit,
 * DTD refusal, schemas/vm.rng and res_vm_validate. A definition that
 * parses is serialized and parsed again: what clusterd stores must load. */
#include "config.h"

#include "resources/res-vm.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_env();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct res_vm *vm = NULL, *back = NULL;
    char err[512];
    char *text = NULL;

    if (res_vm_parse((const char *)data, size, "fuzz", &vm, err, sizeof(err)) <
        0)
        return 0;
    if (res_vm_serialize(vm, &text) == 0) {
        if (res_vm_parse(text, strlen(text), "again", &back, err, sizeof(err)) <
            0) {
            fprintf(stderr, "serialized definition does not parse: %s\n%s\n",
                    err, text);
            abort();
        }
        res_vm_free(back);
        free(text);
    }
    res_vm_free(vm);
    return 0;
}
