/* The [clusterd] section of kvmcluster.conf. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clusterd/cd-config.h"
#include "clusterd/cd-int.h"
#include "common/cmn-cfg.h"
#include "common/cmn-name.h"

static const struct cmn_cfg_key cd_keys[] = {
    {.section = "clusterd", .key = "state-dir", .type = CMN_CFG_STR},
    {.section = "clusterd", .key = "node-name", .type = CMN_CFG_STR},
    {.section = "clusterd", .key = "migration-address", .type = CMN_CFG_STR},
    {.section = "clusterd",
     .key = "memory",
     .type = CMN_CFG_SIZE,
     .min = 16ll << 20,
     .max = 1ll << 50},
    {.section = "clusterd", .key = "admin-group", .type = CMN_CFG_STR},
    {.section = "clusterd", .key = "read-only-group", .type = CMN_CFG_STR},
    {.section = "clusterd", .key = "csv", .type = CMN_CFG_STR},
    {.section = "clusterd", .key = "metrics-file", .type = CMN_CFG_STR},
    {.section = "clusterd",
     .key = "metrics-interval",
     .type = CMN_CFG_INT,
     .min = 0,
     .max = 3600},
    {.section = "clusterd", .key = "allow-no-watchdog", .type = CMN_CFG_BOOL},
    {.section = "lunbridge",
     .key = "metrics-file",
     .type = CMN_CFG_STR,
     .borrowed = true},
    /* lunbridge's bounds and default: how old its file may grow */
    {.section = "lunbridge",
     .key = "metrics-interval",
     .type = CMN_CFG_DURATION,
     .def = "15s",
     .min = 100,
     .max = 3600000,
     .borrowed = true},
    {.key = NULL},
};

void cd_config_defaults(struct cd_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->state_dir, sizeof(cfg->state_dir), "%s",
             CD_STATE_DIR_DEFAULT);
    snprintf(cfg->metrics_file, sizeof(cfg->metrics_file), "%s",
             CD_METRICS_FILE_DEFAULT);
    cfg->lun_metrics_interval_ms = 15000;
}

static int line_err(const struct cmn_cfg *c, const char *key, char *err,
                    size_t errlen, const char *what)
{
    cd_errf(err, errlen, "%s:%d: %s: %s", cmn_cfg_name(c),
            cmn_cfg_line(c, "clusterd", NULL, key), key, what);
    return -CMN_E_BAD_VALUE;
}

/* The checks the key table can't express, and the copy into `cfg`. */
static int from_cfg(const struct cmn_cfg *c, struct cd_config *cfg, char *err,
                    size_t errlen)
{
    const char *s;
    int64_t v;

    /* lunbridge checks its own key; an unusable path only means no LUN
     * metrics in `clusterctl metrics`. */
    s = cmn_cfg_str(c, "lunbridge", NULL, "metrics-file");
    if (s && s[0] == '/' && strlen(s) < sizeof(cfg->lun_metrics_file))
        snprintf(cfg->lun_metrics_file, sizeof(cfg->lun_metrics_file), "%s", s);
    if (cmn_cfg_int(c, "lunbridge", NULL, "metrics-interval", &v) == 0)
        cfg->lun_metrics_interval_ms = (unsigned)v;
    if (cmn_cfg_count(c, "clusterd") == 0)
        return 0;
    s = cmn_cfg_str(c, "clusterd", NULL, "state-dir");
    if (s) {
        if (s[0] != '/' || strlen(s) >= sizeof(cfg->state_dir) - 16)
            return line_err(c, "state-dir", err, errlen,
                            "give an absolute directory path");
        snprintf(cfg->state_dir, sizeof(cfg->state_dir), "%s", s);
    }
    s = cmn_cfg_str(c, "clusterd", NULL, "node-name");
    if (s) {
        if (!cmn_name_valid(s))
            return line_err(c, "node-name", err, errlen,
                            "letters, digits, '.', '_', '-' (at most 63)");
        snprintf(cfg->node_name, sizeof(cfg->node_name), "%s", s);
    }
    s = cmn_cfg_str(c, "clusterd", NULL, "migration-address");
    if (s) {
        if (!cd_token_valid(s, CD_VALUE_MAX))
            return line_err(c, "migration-address", err, errlen,
                            "an address without blanks");
        snprintf(cfg->address, sizeof(cfg->address), "%s", s);
    }
    if (cmn_cfg_int(c, "clusterd", NULL, "memory", &v) == 0)
        cfg->memory_mib = (uint64_t)v >> 20;
    s = cmn_cfg_str(c, "clusterd", NULL, "admin-group");
    if (s) {
        if (!*s || strlen(s) >= sizeof(cfg->admin_group))
            return line_err(c, "admin-group", err, errlen, "a group name");
        snprintf(cfg->admin_group, sizeof(cfg->admin_group), "%s", s);
    }
    s = cmn_cfg_str(c, "clusterd", NULL, "read-only-group");
    if (s) {
        if (!*s || strlen(s) >= sizeof(cfg->read_only_group))
            return line_err(c, "read-only-group", err, errlen, "a group name");
        snprintf(cfg->read_only_group, sizeof(cfg->read_only_group), "%s", s);
    }
    s = cmn_cfg_str(c, "clusterd", NULL, "csv");
    if (s) {
        if (s[0] != '/' || strlen(s) >= sizeof(cfg->csv))
            return line_err(c, "csv", err, errlen,
                            "give the absolute path of the CSV's LUN");
        snprintf(cfg->csv, sizeof(cfg->csv), "%s", s);
    }
    s = cmn_cfg_str(c, "clusterd", NULL, "metrics-file");
    if (s) {
        if (s[0] != '/' || strlen(s) >= sizeof(cfg->metrics_file) - 16)
            return line_err(c, "metrics-file", err, errlen,
                            "give an absolute file path");
        snprintf(cfg->metrics_file, sizeof(cfg->metrics_file), "%s", s);
    }
    if (cmn_cfg_int(c, "clusterd", NULL, "metrics-interval", &v) == 0)
        cfg->metrics_interval_s = (unsigned)v;
    (void)cmn_cfg_bool(c, "clusterd", NULL, "allow-no-watchdog",
                       &cfg->allow_no_watchdog);
    return 0;
}

int cd_config_parse(const char *name, const char *text, struct cd_config *cfg,
                    char *err, size_t errlen)
{
    CMN_AUTO(cmn_cfg) *c = NULL;
    int rc = cmn_cfg_parse_flags(cd_keys, name, text,
                                 CMN_CFG_SKIP_OTHER_SECTIONS, &c, err, errlen);

    return rc < 0 ? rc : from_cfg(c, cfg, err, errlen);
}

int cd_config_load(const char *path, struct cd_config *cfg, char *err,
                   size_t errlen)
{
    CMN_AUTO(cmn_cfg) *c = NULL;
    int rc = cmn_cfg_load_flags(cd_keys, path, CMN_CFG_SKIP_OTHER_SECTIONS, &c,
                                err, errlen);

    return rc < 0 ? rc : from_cfg(c, cfg, err, errlen);
}
