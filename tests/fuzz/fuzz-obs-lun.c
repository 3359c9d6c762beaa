/* lunbridge's metrics textfile as clusterd reads it (cd_obs_lun_text):
 * another process's output, re-served by clusterd, so whatever it holds
 * must be refused or turned into lines of the LUN families only. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "clusterd/cd-obs.h"
#include "tests/fuzz/fuzz.h"

/* Every line kept is a LUN family's TYPE, HELP or sample. */
static void check_lines(const char *t)
{
    for (const char *l = t; *l;) {
        const char *nl = strchr(l, '\n');
        if (!nl || (strncmp(l, "# TYPE kvmcluster_lun_", 22) &&
                    strncmp(l, "# HELP kvmcluster_lun_", 22) &&
                    strncmp(l, "kvmcluster_lun_", 15)))
            abort();
        l = nl + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *om = NULL, *prom = NULL, *again = NULL, err[160];

    if (cd_obs_lun_text((const char *)data, size, CD_OBS_OPENMETRICS, &om, err,
                        sizeof(err)) < 0) {
        /* Refused in one format, refused in the other. */
        if (cd_obs_lun_text((const char *)data, size, CD_OBS_PROMETHEUS, &prom,
                            err, sizeof(err)) == 0)
            abort();
        return 0;
    }
    check_lines(om);
    if (cd_obs_lun_text((const char *)data, size, CD_OBS_PROMETHEUS, &prom, err,
                        sizeof(err)) < 0)
        abort();
    check_lines(prom);
    /* What was kept reads again, unchanged. */
    if (cd_obs_lun_text(prom, strlen(prom), CD_OBS_PROMETHEUS, &again, err,
                        sizeof(err)) < 0 ||
        strcmp(again, prom))
        abort();
    free(again);
    free(prom);
    free(om);
    return 0;
}
