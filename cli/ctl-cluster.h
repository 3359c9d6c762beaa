/* clusterctl commands served by the local clusterd: status, cdb, config,
 * node (cli/ctl-cluster.c). */
#ifndef KVMC_CTL_CLUSTER_H
#define KVMC_CTL_CLUSTER_H

#include <stdbool.h>

/* True when `cmd` (argv[1] of clusterctl) is one of these commands. */
bool ctl_cluster_handles(const char *cmd);
/* `clusterctl CMD ARGS`: argv[0] is CMD. Returns a CTL_EXIT_* code. */
int ctl_cluster_main(int argc, char **argv);
void ctl_cluster_usage(void);

#endif
