/* cdctl: clusterctl's cluster commands alone (cli/ctl-cluster.c), built
 * with clusterd so its tests run before clusterctl wires them in. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli/ctl-cluster.h"
#include "cli/ctl-vm.h"
#include "cli/ctl.h"

int main(int argc, char **argv)
{
    if (argc >= 2 && ctl_vm_handles(argv[1]))
        return ctl_vm_main(argc - 1, argv + 1);
    if (argc < 2 || !ctl_cluster_handles(argv[1])) {
        ctl_cluster_usage();
        ctl_vm_usage();
        return CTL_EXIT_USAGE;
    }
    return ctl_cluster_main(argc - 1, argv + 1);
}
