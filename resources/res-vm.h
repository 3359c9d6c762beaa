/* The VM definition: what kvmcluster knows about one virtual machine.
 *
 * The XML form is described in kvmcluster-vm(5) and schemas/vm.rng. A
 * definition is checked twice: against the RelaxNG schema (structure,
 * enumerations, number syntax) and by res_vm_validate() for what a schema
 * can't say (name charset and length, uuid syntax, memory and vcpu bounds,
 * duplicate disk targets or MACs, owner lists). Every error names the
 * source, the line and the element: "web1.xml:7: <memory>: ...".
 */
#ifndef KVMC_RES_VM_H
#define KVMC_RES_VM_H

#include <libxml/tree.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cmn-auto.h"
#include "common/cmn-name.h"
#include "resources/res-err.h"

#define RES_NAME_MAX      64 /* VM, node, volume, class names: 63 + NUL */
#define RES_BRIDGE_MAX    16 /* IFNAMSIZ */
#define RES_TARGET_MAX    8  /* "vdab" */
#define RES_VM_MAX_DISKS  16
#define RES_VM_MAX_NICS   8
#define RES_VM_MAX_OWNERS 16         /* a cluster has at most 16 nodes */
#define RES_VM_XML_MAX    (1u << 20) /* a definition is a few KiB */

#define RES_VM_MEMORY_MIN_MIB 16ull
#define RES_VM_MEMORY_MAX_MIB (16ull << 20) /* 16 TiB */
#define RES_VM_VCPUS_MAX      255
#define RES_DISK_SIZE_MIN     (1ull << 20)  /* 1 MiB */
#define RES_DISK_SIZE_MAX     (64ull << 40) /* 64 TiB */
#define RES_PATH_MAX          4096          /* kernel, initrd: 4095 + NUL */
#define RES_CMDLINE_MAX       4096 /* kernel command line: 4095 + NUL */

/* Names of VMs, nodes, volumes, classes, CPU models: the one rule of
 * common/cmn-name.h. */
#define RES_NAME_RULE CMN_NAME_RULE

/* Defaults of the policy, as Hyper-V's. */
#define RES_FAILURES_MAX_DEFAULT    3
#define RES_FAILURES_PERIOD_DEFAULT 3600 /* seconds */

/* Ordered: a lower value is started and failed over first. */
enum res_priority {
    RES_PRIO_HIGH = 0,
    RES_PRIO_MEDIUM,
    RES_PRIO_LOW,
    RES_PRIO_MANUAL, /* never started automatically */
};

enum res_disk_bus {
    RES_BUS_VIRTIO_BLK = 0,
    RES_BUS_VIRTIO_SCSI,
};

enum res_disk_source {
    RES_DISK_EXTENT = 0, /* an extent already allocated on a CSV volume */
    RES_DISK_ALLOCATE,   /* a size still to allocate (clusterd does it) */
};

enum res_boot {
    RES_BOOT_DISK = 0,
    RES_BOOT_KERNEL, /* direct kernel boot: -kernel/-initrd/-append */
};

enum res_failback {
    RES_FAILBACK_NEVER = 0,
    RES_FAILBACK_IMMEDIATE,
    RES_FAILBACK_WINDOW, /* only between window_start and window_end */
};

/* PCI slots of hot-plugged disks (bus 0): QEMU places every other
 * device itself from the bottom, so the two never meet. */
#define RES_DISK_SLOT_MIN 24
#define RES_DISK_SLOT_MAX 31

struct res_disk {
    char target[RES_TARGET_MAX]; /* vda.. for virtio-blk, sda.. for scsi */
    enum res_disk_bus bus;
    enum res_disk_source source;
    char volume[RES_NAME_MAX]; /* "" = any volume (allocate only) */
    uint64_t extent;           /* RES_DISK_EXTENT: extent id on volume */
    uint64_t size;             /* RES_DISK_ALLOCATE: bytes */
    int line;                  /* source line, 0 when built in code */
    /* A hot-plugged disk's PCI slot (virtio-blk) or scsi-id on the VM's
     * one virtio-scsi controller, kept so every later QEMU of the VM has
     * it at the same address; 0: none. */
    unsigned slot;
};

enum res_nic_model {
    RES_NIC_VIRTIO = 0, /* virtio-net-pci, the default */
    RES_NIC_E1000,      /* guests without virtio drivers */
};

#define RES_NIC_MTU_MIN 68
#define RES_NIC_MTU_MAX 65535

struct res_nic {
    char bridge[RES_BRIDGE_MAX];
    uint8_t mac[6];
    int line;
    enum res_nic_model model;
    unsigned mtu; /* 0: the bridge's (none advertised to the guest) */
};

struct res_policy {
    enum res_priority priority;
    /* node names, most preferred first */
    size_t n_preferred;
    char preferred[RES_VM_MAX_OWNERS][RES_NAME_MAX];
    /* node names the VM may run on; none listed = every node */
    size_t n_possible;
    char possible[RES_VM_MAX_OWNERS][RES_NAME_MAX];
    char anti_affinity[RES_NAME_MAX]; /* "" = none */
    unsigned failures_max;            /* restarts in place per period */
    unsigned failures_period;         /* seconds */
    enum res_failback failback;
    unsigned window_start; /* minutes after midnight, RES_FAILBACK_WINDOW */
    unsigned window_end;   /* exclusive; may wrap past midnight */
};

/* Lines of the elements a semantic error can point at (0 = unknown). */
struct res_vm_lines {
    int vm, name, uuid, memory, vcpus, cpu, boot, policy;
    int preferred, possible, anti_affinity, failures, failback;
};

/* How a VM's CPU is chosen (<cpu> of kvmcluster-vm(5); res-cpu.h says
 * what placement makes of each). */
enum res_cpu_mode {
    /* <cpu model="host"/>, what every definition stored before CPU modes
     * existed says: QEMU's default model for the accelerator, no check */
    RES_CPU_ANY = 0,
    RES_CPU_CLUSTER, /* the cluster baseline, fixed when the VM starts */
    RES_CPU_MODEL,   /* a named model */
    RES_CPU_HOST,    /* the host's CPU: identical host feature sets only */
};

struct res_vm {
    char name[RES_NAME_MAX];
    uint8_t uuid[16];
    uint64_t memory_mib;
    unsigned vcpus;
    enum res_cpu_mode cpu_mode;
    /* MODEL: a QEMU model ("Haswell"); ANY: "host"; CLUSTER, HOST: "" */
    char cpu_model[RES_NAME_MAX];
    size_t n_disks;
    struct res_disk disks[RES_VM_MAX_DISKS];
    size_t n_nics;
    struct res_nic nics[RES_VM_MAX_NICS];
    enum res_boot boot;
    char *kernel;  /* RES_BOOT_KERNEL: absolute path on every node */
    char *initrd;  /* optional */
    char *cmdline; /* optional */
    struct res_policy policy;
    struct res_vm_lines lines;
};

/* A VM with defaults: cpu mode cluster, boot from disk, priority medium,
 * failures 3 per hour, failback never. Name and uuid empty. */
int res_vm_new(struct res_vm **ret_vm);
void res_vm_free(struct res_vm *vm);
CMN_DEFINE_AUTO(res_vm, res_vm_free)

int res_vm_dup(const struct res_vm *vm, struct res_vm **ret_vm);

/* Field-by-field comparison, source lines ignored. */
bool res_vm_equal(const struct res_vm *a, const struct res_vm *b);

/* May `old` become `nw` through `clusterctl vm edit`? Never a new name or
 * uuid, never other disks (they are extents allocated when the VM was
 * added); while the VM runs (`running`), only its policy. 0, or
 * -RES_E_INVALID with err naming the field ("SRC:LINE: <elem>: ..."). */
int res_vm_edit_check(const struct res_vm *old, const struct res_vm *nw,
                      const char *src, bool running, char *err, size_t errlen);

/* A disk size as clusterctl takes it: a whole number with MiB, GiB or
 * TiB (or M, G, T; no unit: MiB), 1 MiB to 64 TiB. 0 with the bytes, or
 * -RES_E_INVALID with a sentence naming `text`. */
int res_disk_size_parse(const char *text, uint64_t *ret_bytes, char *err,
                        size_t errlen);
/* Index of the disk with target `target`, or -RES_E_INVALID. */
int res_vm_disk_find(const struct res_vm *vm, const char *target);
/* Where a disk on `bus` added to `vm` goes: the lowest hot-plug slot no
 * disk of it has (on virtio-scsi, the disk's scsi-id: slots are shared by
 * both buses) and the first target of the bus (vda, vdb... or sda,
 * sdb...) not taken, in *ret_disk (size and source left to the caller).
 * -RES_E_INVALID with a sentence when every slot is taken or the VM has
 * RES_VM_MAX_DISKS disks. */
int res_vm_disk_next(const struct res_vm *vm, enum res_disk_bus bus,
                     struct res_disk *ret_disk, char *err, size_t errlen);

/* Parses and validates a definition: the size limit and DTD refusal of
 * cmn_xml_parse_mem(), then schemas/vm.rng (found through
 * cmn_xml_schema_path(), so $KVMC_SCHEMADIR overrides it; read on the
 * first parse and kept for the process), then
 * res_vm_validate(). `name` stands for the source in messages. NICs
 * without a MAC get res_vm_default_mac(). Errors: CMN_E_PARSE,
 * CMN_E_TOO_BIG, CMN_E_DTD, CMN_E_SCHEMA, RES_E_INVALID, negative errno;
 * `err` then holds "name:line: message". */
int res_vm_parse(const char *buf, size_t len, const char *name,
                 struct res_vm **ret_vm, char *err, size_t errlen);

/* Builds a VM from a <vm> element already validated against vm.rng (the
 * cluster database embeds them), then runs res_vm_validate(). */
int res_vm_from_node(const xmlNode *node, const char *name,
                     struct res_vm **ret_vm, char *err, size_t errlen);

/* Semantic checks; `name` prefixes the messages (NULL: "vm"). */
int res_vm_validate(const struct res_vm *vm, const char *name, char *err,
                    size_t errlen);

/* The fields every form of a definition carries, hvagent's runtime <vm>
 * included (borrowed strings). */
struct res_vm_core {
    const char *name;
    uint8_t uuid[16];
    uint64_t memory_mib;
    unsigned vcpus;
    const char *cpu_model; /* NULL: "host" */
    const char *kernel;    /* NULL: no kernel boot (initrd, cmdline unused) */
    const char *initrd;    /* NULL: none */
    const char *cmdline;   /* NULL: none */
};

/* The checks of res_vm_validate() on those fields, with the same rules and
 * messages ("src: <elem>: ..."): name, nil uuid, memory and vcpu bounds,
 * cpu model charset, absolute kernel and initrd paths, lengths. So a
 * definition that reaches hvagent another way than through clusterd is
 * held to the same rules, by the same code. 0 or -RES_E_INVALID. */
int res_vm_core_validate(const struct res_vm_core *c, const char *src,
                         char *err, size_t errlen);

/* Canonical XML (every default written out, generated MACs included, so
 * the stored form pins them): a NUL-terminated malloc'ed string. */
int res_vm_serialize(const struct res_vm *vm, char **ret_xml);
/* The same as a <vm> element, created in `doc` (not linked anywhere). */
int res_vm_to_node(const struct res_vm *vm, xmlDoc *doc, xmlNode **ret_node);

/* The MAC of NIC `index` when the definition gives none: a stable function
 * of the VM's uuid and the index (46 hashed bits), with the locally
 * administered bit set and the multicast bit clear in the first octet. */
void res_vm_default_mac(const uint8_t uuid[16], unsigned index,
                        uint8_t ret_mac[6]);

/* Text helpers (static storage, never NULL). */
const char *res_priority_str(enum res_priority prio);
int res_priority_parse(const char *s, enum res_priority *ret_prio);
const char *res_failback_str(enum res_failback fb);
const char *res_disk_bus_str(enum res_disk_bus bus);
const char *res_nic_model_str(enum res_nic_model model);
/* "01234567-89ab-cdef-0123-456789abcdef": buf of 37 bytes */
void res_uuid_format(const uint8_t uuid[16], char buf[37]);
int res_uuid_parse(const char *s, uint8_t ret_uuid[16]);
/* "56:12:34:56:78:9a": buf of 18 bytes */
void res_mac_format(const uint8_t mac[6], char buf[18]);
int res_mac_parse(const char *s, uint8_t ret_mac[6]);

/* True when a failure now should move the VM rather than restart it in
 * place: `times` are the VM's earlier failure times (seconds, any order),
 * the one happening at `now` included; more than failures_max of them
 * within failures_period seconds before `now` means fail over. */
bool res_failure_should_failover(const struct res_policy *policy,
                                 const uint64_t *times, size_t n_times,
                                 uint64_t now);

#endif
