/* clusterctl cluster setup: the files of a new cluster, per node
 * (cli/ctl-setup.c). Needs no daemon. */
#ifndef KVMC_CTL_SETUP_H
#define KVMC_CTL_SETUP_H

/* `clusterctl cluster ARGS`: argv[0] is "cluster". Returns a CTL_EXIT_*
 * code. */
int ctl_setup_main(int argc, char **argv);
void ctl_setup_usage(void);

#endif
