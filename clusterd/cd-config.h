/* clusterd's part of kvmcluster.conf(5): the [clusterd] section. Other
 * daemons' sections in the shared file are skipped, not checked. */
#ifndef KVMC_CD_CONFIG_H
#define KVMC_CD_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clusterd/cd.h"

#define CD_CONFIG_DEFAULT CMN_CONF_FILE

struct cd_config {
    char state_dir[PATH_MAX];    /* state-dir */
    char node_name[CD_NAME_MAX]; /* node-name ("" = corosync nodelist) */
    char address[CD_VALUE_MAX];  /* migration-address ("" = ring0_addr) */
    uint64_t memory_mib;         /* memory (0 = MemTotal) */
    char admin_group[64];        /* admin-group ("" = root only) */
    char read_only_group[64];    /* read-only-group ("" = none) */
    char csv[PATH_MAX];          /* csv: the CSV's LUN ("" = none) */
    char metrics_file[PATH_MAX]; /* metrics-file: node-exporter's textfile */
    unsigned metrics_interval_s; /* metrics-interval (0 = no file) */
    /* [lunbridge] metrics-file: lunbridge's per-LUN metrics, which
     * `clusterctl metrics` adds to clusterd's ("" = none) */
    char lun_metrics_file[PATH_MAX];
    unsigned lun_metrics_interval_ms; /* [lunbridge] metrics-interval */
    /* allow-no-watchdog: lab only; a node whose sanlock runs without a
     * watchdog still takes VMs (cd-check.h) */
    bool allow_no_watchdog;
};

/* Where Debian's prometheus-node-exporter reads its textfile collector. */
#define CD_METRICS_FILE_DEFAULT                                                \
    "/var/lib/prometheus/node-exporter/kvmcluster.prom"

/* Defaults: state dir /var/lib/kvmcluster, everything else unset. */
void cd_config_defaults(struct cd_config *cfg);
/* Parses the text of a kvmcluster.conf; `name` is used in messages
 * ("name:line: ..."). Fields absent from the file keep their value. */
int cd_config_parse(const char *name, const char *text, struct cd_config *cfg,
                    char *err, size_t errlen);
int cd_config_load(const char *path, struct cd_config *cfg, char *err,
                   size_t errlen);

#endif
