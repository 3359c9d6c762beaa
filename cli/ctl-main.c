/* clusterctl: the administrator's tool. `volume` works on a volume
 * directly (no clusterd needed); every other command talks to the local
 * clusterd. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/ctl-cluster.h"
#include "cli/ctl-obs.h"
#include "cli/ctl-setup.h"
#include "cli/ctl-vm.h"
#include "cli/ctl.h"
#include "clusterd/cd-proto.h"
#include "csv/csv.h"
#include "hvagent/hva-proto.h"

void ctl_err(const char *fmt, ...)
{
    va_list ap;

    fputs("clusterctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: clusterctl COMMAND [ARGS]\n\n"
               "commands:\n"
               "  status                            nodes, quorum, VMs\n"
               "  vm add|edit|remove|start|stop|list|show ...  VMs\n"
               "  move-vm VM [--to NODE] --live|--quick   move a VM\n"
               "          [--to-volume VOL]             (and its storage)\n"
               "  node drain|resume|list ...        nodes\n"
               "  explain VM                        why a VM is where it is\n"
               "  events                            live event stream\n"
               "  config|cdb ...                    cluster database\n"
               "  metrics                           this node's metrics\n"
               "  history [VM] [--since TIME]       past actions\n"
               "  volume format|inspect|check|add|list ...  shared volumes\n"
               "  cluster setup NAME NODE=ADDRESS...  a new cluster's files\n"
               "  help                              this text\n\n"
               "See clusterctl(8).\n");
}

int main(int argc, char **argv)
{
    /* Codes clusterd passes on: its own and hvagent's (actions). */
    csv_err_register();
    cd_err_register();
    hva_err_register();
    if (argc < 2) {
        usage(stderr);
        return CTL_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "-h")) {
        usage(stdout);
        ctl_vm_usage();
        ctl_cluster_usage();
        ctl_volume_usage();
        ctl_setup_usage();
        ctl_obs_usage();
        return CTL_EXIT_OK;
    }
    if (!strcmp(argv[1], "volume"))
        return ctl_volume_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "cluster") && argc > 2 && !strcmp(argv[2], "setup"))
        return ctl_setup_main(argc - 1, argv + 1);
    /* ctl_vm serves `status` and `node` and asks ctl_cluster for their
     * cluster part (ctl_cluster_status, ctl_cluster_node). */
    if (ctl_vm_handles(argv[1]))
        return ctl_vm_main(argc - 1, argv + 1);
    if (ctl_cluster_handles(argv[1]))
        return ctl_cluster_main(argc - 1, argv + 1);
    if (ctl_obs_handles(argv[1]))
        return ctl_obs_main(argc - 1, argv + 1);
    ctl_err("unknown command '%s' (see 'clusterctl help')", argv[1]);
    return CTL_EXIT_USAGE;
}
