/* clusterctl commands served by the local clusterd: cdb and config, and
 * the cluster part of status and node (cli/ctl-cluster.c). */
#ifndef KVMC_CTL_CLUSTER_H
#define KVMC_CTL_CLUSTER_H

#include <stdbool.h>

/* True when `cmd` (argv[1] of clusterctl) is one of these commands. */
bool ctl_cluster_handles(const char *cmd);
/* `clusterctl CMD ARGS`: argv[0] is CMD. Returns a CTL_EXIT_* code. */
int ctl_cluster_main(int argc, char **argv);
/* The cluster part of `status` and the node commands (argv[0] "node")
 * that clusterctl's vm module hands on, --output xml already taken off
 * (xml says whether it was there). */
int ctl_cluster_status(bool xml);
int ctl_cluster_node(int argc, char **argv, bool xml);
void ctl_cluster_usage(void);
/* `clusterctl cluster cpu` (cli/ctl-cpu.c). */
int ctl_cpu_show(void);

#endif
