/* clusterctl vm disk add|remove: a VM's disks on the cluster-shared
 * volume, changed through clusterd (clusterd/cd-api-disk.c says in which
 * order). The size is checked here first, with the parser clusterd uses,
 * so a typo is answered without a round trip. */
#include "config.h"

#include <inttypes.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ctl-client.h"
#include "cli/ctl-vm.h"
#include "cli/ctl.h"
#include "common/cmn-xml.h"
#include "resources/res-vm.h"

static int usage(void)
{
    ctl_err("usage: clusterctl vm disk add VM --size SIZE [--volume VOLUME] "
            "[--bus virtio-blk|virtio-scsi] | clusterctl vm disk remove VM "
            "DISK");
    return CTL_EXIT_USAGE;
}

static int disk_call(const char *req, bool add)
{
    xmlDoc *doc = NULL;
    xmlNode *r;
    int rc = ctl_cd_call(req, &doc, NULL);

    if (rc)
        return rc;
    r = xmlDocGetRootElement(doc);
    if (add)
        printf("VM '%s': disk %s added (%.0f MiB, extent %s at offset %s of "
               "volume '%s', hot-plug slot %s%s%s)\n",
               ctl_xml_prop(r, "vm"), ctl_xml_prop(r, "disk"),
               (double)strtoull(ctl_xml_prop(r, "size"), NULL, 10) / 1048576.0,
               ctl_xml_prop(r, "extent"), ctl_xml_prop(r, "offset"),
               ctl_xml_prop(r, "volume"), ctl_xml_prop(r, "slot"),
               !strcmp(ctl_xml_prop(r, "bus"), "virtio-scsi")
                   ? " on the virtio-scsi controller"
                   : "",
               !strcmp(ctl_xml_prop(r, "hotplug"), "yes")
                   ? "; the running guest has it"
                   : "; the VM has it from its next start");
    else
        printf("VM '%s': disk %s removed (slot %s, extent %s freed%s)\n",
               ctl_xml_prop(r, "vm"), ctl_xml_prop(r, "disk"),
               ctl_xml_prop(r, "slot"), ctl_xml_prop(r, "extent"),
               !strcmp(ctl_xml_prop(r, "hotplug"), "yes")
                   ? "; the guest released it"
                   : "");
    xmlFreeDoc(doc);
    return CTL_EXIT_OK;
}

int ctl_vm_disk(int argc, char **argv)
{
    const char *sub, *vm = NULL, *disk = NULL, *size = NULL, *volume = NULL;
    const char *bus = NULL;
    char err[512], *req = NULL;
    uint64_t bytes;
    bool add;
    int rc;

    if (argc < 1)
        return usage();
    sub = argv[0];
    if (strcmp(sub, "add") && strcmp(sub, "remove")) {
        ctl_err("vm disk: unknown subcommand '%s' (add, remove)", sub);
        return CTL_EXIT_USAGE;
    }
    add = !strcmp(sub, "add");
    for (int i = 1; i < argc; i++) {
        if (add && !strcmp(argv[i], "--size") && i + 1 < argc)
            size = argv[++i];
        else if (add && !strcmp(argv[i], "--volume") && i + 1 < argc)
            volume = argv[++i];
        else if (add && !strcmp(argv[i], "--bus") && i + 1 < argc)
            bus = argv[++i];
        else if (argv[i][0] == '-') {
            ctl_err("vm disk %s: unexpected option '%s'", sub, argv[i]);
            return usage();
        } else if (!vm)
            vm = argv[i];
        else if (!add && !disk)
            disk = argv[i];
        else {
            ctl_err("vm disk %s: unexpected argument '%s'", sub, argv[i]);
            return usage();
        }
    }
    if (!vm || (add && !size) || (!add && !disk))
        return usage();
    if (add) {
        if (res_disk_size_parse(size, &bytes, err, sizeof(err)) < 0) {
            ctl_err("%s", err);
            return CTL_EXIT_USAGE;
        }
        if (bus && strcmp(bus, "virtio-blk") && strcmp(bus, "virtio-scsi")) {
            ctl_err("vm disk add: bus '%s' is not virtio-blk or virtio-scsi",
                    bus);
            return CTL_EXIT_USAGE;
        }
        req = cmn_xml_format("<request op=\"vm-disk\" action=\"add\" "
                             "vm=\"%s\" size=\"%s\" volume=\"%s\" "
                             "bus=\"%s\"/>",
                             vm, size, volume ? volume : "", bus ? bus : "");
    } else {
        req = cmn_xml_format("<request op=\"vm-disk\" action=\"remove\" "
                             "vm=\"%s\" disk=\"%s\"/>",
                             vm, disk);
    }
    if (!req)
        return CTL_EXIT_FAIL;
    rc = disk_call(req, add);
    free(req);
    return rc;
}
