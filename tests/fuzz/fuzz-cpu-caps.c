/* A node's CPU capability as the CDB replicates it (res_cpu_caps_parse):
 * the text an hvagent sent, kept per node and parsed again by every
 * clusterd and by clusterctl. What parses is formatted and parsed again
 * (the second text must be the first: the CDB compares them to decide
 * whether to publish), then goes through the queries placement makes:
 * each model's lookup, the baseline of the node alone and with itself,
 * the administrator's check and the fit of a VM in each mode. */
#include "config.h"

#include "resources/res-cpu.h"
#include "tests/fuzz/fuzz.h"

static void queries(const struct res_cpu_caps *caps)
{
    const struct res_cpu_caps *two[] = {caps, caps};
    const char *const names[] = {"n1", "n2"};
    struct res_cpu_need need = {.mode = RES_CPU_HOST, .host_of = caps};
    char model[RES_NAME_MAX], err[512], why[256];

    for (size_t i = 0; i < caps->n_models; i++) {
        const char *name = caps->models[i].name;

        if (res_cpu_caps_model(caps, name) != &caps->models[i])
            abort();
        res_cpu_caps_runs(caps, name);
    }
    if (res_cpu_baseline(two, 2, model, sizeof(model), err, sizeof(err)) == 0) {
        /* a baseline both run must pass the administrator's check */
        if (res_cpu_baseline_check(two, names, 2, model, err, sizeof(err)))
            abort();
    }
    if (caps->n_models)
        res_cpu_baseline_check(two, names, 2, caps->models[0].name, err,
                               sizeof(err));
    res_cpu_fits(&need, caps, why, sizeof(why));
    need.mode = RES_CPU_MODEL;
    snprintf(need.model, sizeof(need.model), "%s",
             caps->n_models ? caps->models[caps->n_models - 1].name : "x");
    res_cpu_fits(&need, caps, why, sizeof(why));
    if (!res_cpu_caps_same_host(caps, caps))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct res_cpu_caps *caps = NULL, *back = NULL;
    char *text = fuzz_strndup(data, size), *out = NULL, *out2 = NULL;
    char err[512];

    if (!text)
        return 0;
    if (res_cpu_caps_parse(text, &caps, err, sizeof(err)) < 0)
        goto out;
    queries(caps);
    if (res_cpu_caps_format(caps, &out) < 0)
        goto out;
    if (res_cpu_caps_parse(out, &back, err, sizeof(err)) < 0) {
        fprintf(stderr, "formatted capability does not parse: %s\n%s\n", err,
                out);
        abort();
    }
    if (res_cpu_caps_format(back, &out2) == 0 && strcmp(out, out2) != 0) {
        fprintf(stderr, "format is not stable:\n%s\n--\n%s\n", out, out2);
        abort();
    }
out:
    free(out2);
    free(out);
    res_cpu_caps_free(back);
    res_cpu_caps_free(caps);
    free(text);
    return 0;
}
