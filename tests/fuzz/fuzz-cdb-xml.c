/* The serialized CDB (cd_cdb_parse): what a member adopts from a sync
 * snapshot and what clusterd loads from its state directory, checked
 * against schemas/cdb.rng as the daemon does. */
#include "config.h"

#include "clusterd/cd.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_env();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cd_cdb *cdb = NULL;
    char err[512];

    if (cd_cdb_parse((const char *)data, size, "fuzz",
                     FUZZ_SRCDIR "/schemas/cdb.rng", &cdb, err,
                     sizeof(err)) == 0) {
        char *text = NULL;
        size_t len;

        /* What a member then sends as winner of a sync round. */
        if (cd_cdb_serialize(cdb, &text, &len) == 0)
            free(text);
        cd_cdb_free(cdb);
    }
    return 0;
}
