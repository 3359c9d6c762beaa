/* kvmcluster.conf (common/cmn-cfg.c), through a key table with every
 * value type and a repeatable section, with and without
 * CMN_CFG_SKIP_OTHER_SECTIONS, then through clusterd's own table
 * (cd_config_parse). Every key of a parsed file is read back with its
 * typed getter. The input is the file's text. */
#include "config.h"

#include "clusterd/cd-config.h"
#include "common/cmn-cfg.h"
#include "tests/fuzz/fuzz.h"

static const char *const accel_values[] = {"auto", "kvm", "tcg", NULL};

static const struct cmn_cfg_key keys[] = {
    {.section = "cluster",
     .key = "name",
     .type = CMN_CFG_STR,
     .required = true},
    {.section = "cluster",
     .key = "accel",
     .type = CMN_CFG_ENUM,
     .def = "auto",
     .enum_values = accel_values},
    {.section = "migration",
     .key = "max-concurrent",
     .type = CMN_CFG_INT,
     .def = "2",
     .min = 1,
     .max = 16},
    {.section = "migration",
     .key = "downtime",
     .type = CMN_CFG_DURATION,
     .def = "50ms"},
    {.section = "migration",
     .key = "bandwidth",
     .type = CMN_CFG_SIZE,
     .def = "0"},
    {.section = "migration",
     .key = "verify",
     .type = CMN_CFG_BOOL,
     .def = "no"},
    {.section = "target",
     .key = "portal",
     .type = CMN_CFG_STR,
     .required = true,
     .repeatable = true},
    {.section = "target",
     .key = "discovery",
     .type = CMN_CFG_BOOL,
     .def = "no",
     .repeatable = true},
    {0},
};

static void read_back(const struct cmn_cfg *cfg)
{
    for (const struct cmn_cfg_key *k = keys; k->key; k++) {
        size_t n = cmn_cfg_count(cfg, k->section);

        for (size_t i = 0; i < n; i++) {
            const char *inst = cmn_cfg_instance(cfg, k->section, i);
            int64_t v;
            bool b;

            switch (k->type) {
            case CMN_CFG_INT:
            case CMN_CFG_SIZE:
            case CMN_CFG_DURATION:
                cmn_cfg_int(cfg, k->section, inst, k->key, &v);
                break;
            case CMN_CFG_BOOL:
                cmn_cfg_bool(cfg, k->section, inst, k->key, &b);
                break;
            default:
                cmn_cfg_str(cfg, k->section, inst, k->key);
                break;
            }
            cmn_cfg_line(cfg, k->section, inst, k->key);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned flags[] = {0, CMN_CFG_SKIP_OTHER_SECTIONS};
    char *text = fuzz_strndup(data, size);
    struct cd_config cd;
    char err[512];

    if (!text)
        return 0;
    for (size_t i = 0; i < CMN_ARRAY_SIZE(flags); i++) {
        struct cmn_cfg *cfg = NULL;

        if (cmn_cfg_parse_flags(keys, "fuzz.conf", text, flags[i], &cfg, err,
                                sizeof(err)) == 0) {
            read_back(cfg);
            cmn_cfg_free(cfg);
        }
    }
    cd_config_defaults(&cd);
    cd_config_parse("fuzz.conf", text, &cd, err, sizeof(err));
    free(text);
    return 0;
}
