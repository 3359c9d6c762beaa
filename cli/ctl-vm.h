/* clusterctl commands about VMs, served by the local clusterd
 * (cli/ctl-vm.c): status (with VMs), vm, move-vm, node drain|resume,
 * explain, events. Check ctl_vm_handles() before ctl_cluster_handles():
 * `status` and `node` are shared (other node subcommands go on to
 * ctl_cluster_main). */
#ifndef KVMC_CTL_VM_H
#define KVMC_CTL_VM_H

#include <stdbool.h>

/* True when `cmd` (argv[1] of clusterctl) is one of these commands. */
bool ctl_vm_handles(const char *cmd);
/* `clusterctl CMD ARGS`: argv[0] is CMD. Returns a CTL_EXIT_* code. */
int ctl_vm_main(int argc, char **argv);
void ctl_vm_usage(void);
/* `clusterctl vm disk add|remove ...`: argv[0] is add or remove
 * (ctl-disk.c). */
int ctl_vm_disk(int argc, char **argv);
/* ctl-move-storage.c: move-storage VM --to-volume VOLUME. */
int ctl_move_storage(int argc, char **argv);

#endif
