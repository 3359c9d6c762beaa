/* hvagent internals shared between its source files. Nothing here is for
 * other modules: clients talk to hvagent through the IPC messages that
 * hvagent/hva-proto.h describes. */
#ifndef KVMC_HVA_INT_H
#define KVMC_HVA_INT_H

#include <json-c/json.h>
#include <libxml/tree.h>
#include <qb/qbloop.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/cmn-work.h"
#include "hvagent/hva-proto.h"
#include "resources/res-vm.h"

/* ---- VM definition (the runtime form hvagent is given) ---------------- */

struct hva_disk {
    char *path;      /* a file (lunbridge LUN) or block device */
    uint64_t offset; /* bytes into path where the extent starts */
    uint64_t size;   /* extent length in bytes; 0 = to the end */
    bool direct;     /* cache=none (O_DIRECT) */
    /* PCI slot of a hot-pluggable disk (HVA_DISK_SLOT_MIN..MAX), 0 for a
     * disk QEMU places itself. A disk added to a running VM has one, and
     * keeps it in every later command line, so the target of a
     * migration has the device at the same address as the source. */
    unsigned slot;
    /* On the VM's virtio-scsi controller (scsi-hd, its scsi-id the slot,
     * or its index for a disk without one) instead of virtio-blk-pci. */
    bool scsi;
    /* Runtime only (not in def.xml): the block node and fd set QEMU has
     * the disk under after a storage mirror switched it (hva-mirror.c);
     * empty / 0: the names hva_qemu_argv gives. */
    char node[24];
    size_t fdset;
};

/* Hot-pluggable disks take the top PCI slots of bus 0: the devices QEMU
 * places itself (disks, NICs) fill the slots from the bottom, so the two
 * never meet (16 disks + 8 NICs end at slot 25 only in theory: at most
 * RES_VM_MAX_DISKS disks in all). */
#define HVA_DISK_SLOT_MIN 24u /* = RES_DISK_SLOT_MIN (hva-check.c) */
#define HVA_DISK_SLOT_MAX 31u
/* The VM's one virtio-scsi controller (id "scsi0"), present while a disk
 * of the definition is on it: just below the hot-plug slots, so a
 * command line and a hot-plug put it at the same address. */
#define HVA_SCSI_SLOT 23u
#define HVA_SCSI_ID   "scsi0"

struct hva_lease_def {
    char *lockspace; /* NULL: the VM runs without a lease (tests only) */
    char *resource;
    char *path;
    uint64_t offset;
};

/* A NIC: a tap on `bridge` handed to QEMU (hva-net.c). */
enum hva_nic_model {
    HVA_NIC_VIRTIO = 0, /* virtio-net-pci (default) */
    HVA_NIC_E1000,      /* for guests without virtio drivers */
    HVA_NIC_MODEL_END,
};
#define HVA_NIC_MTU_MIN 68
#define HVA_NIC_MTU_MAX 65535
#define HVA_VM_MAX_NICS 8 /* as resources/ (RES_VM_MAX_NICS) */

struct hva_nic {
    char bridge[16]; /* IFNAMSIZ */
    char mac[18];    /* "52:54:00:12:34:56" */
    enum hva_nic_model model;
    unsigned mtu; /* 0: the bridge's, and none advertised to the guest */
};

struct hva_vm_def {
    char *name;
    char *uuid;
    unsigned memory_mib;
    unsigned vcpus;
    char *cpu_model; /* NULL: QEMU's default for the accelerator */
    char *kernel;    /* -kernel boot (the test guest); NULL: disk boot */
    char *initrd;    /* -initrd with the kernel; NULL: none */
    char *cmdline;
    struct hva_disk *disks;
    size_t n_disks;
    struct hva_lease_def lease;
    struct hva_disk state; /* saved-state extent (quick migration) */
    struct hva_nic *nics;
    size_t n_nics;
    /* Disks on a node-local volume (<local volume node path/>), NULL
     * members when not: no lease guards them, so this agent runs the VM
     * only when it is that node and the directory says so
     * (hva_local_check). */
    struct {
        char *volume, *node, *path;
    } local;
};

void hva_vm_def_free(struct hva_vm_def *def);
/* Parses/serialises the <vm> element of the API (see hva-proto.h). */
int hva_vm_def_from_xml(const char *xml, struct hva_vm_def **ret_def, char *err,
                        size_t errlen);
int hva_vm_def_to_xml(const struct hva_vm_def *def, char **ret_xml);

/* ---- what a definition may name (hva-check.c) --------------------------- */

/* Directories a definition's files must lie in ([hvagent] settings). */
struct hva_dirs {
    char *lun_dir;  /* lunbridge's mount: LUN files directly below; NULL */
    char **storage; /* local directories for disks, leases, saved states */
    size_t n_storage;
    char **kernel; /* kernels and initrds */
    size_t n_kernel;
};

/* Sets `d` from the settings' text (lists separated by commas). Each is an
 * absolute path without '.' or '..' components, kept in canonical form if
 * it exists now. On error `d` is unchanged and `err` names the key. */
int hva_dirs_set(struct hva_dirs *d, const char *lun_dir, const char *storage,
                 const char *kernel, char *err, size_t errlen);
void hva_dirs_clear(struct hva_dirs *d);

/* Checks a definition a client sent: the rules of resources/ (name, uuid,
 * memory, vcpus, cpu model, kernel/initrd/cmdline, via
 * res_vm_core_validate) and the files it names against `dirs`; each path
 * is replaced by its canonical form. Errors name the VM, the field and the
 * path: "VM 'x': disk vda path '/etc/shadow' is outside the allowed
 * directories (...)". 0, -RES_E_INVALID or -CMN_E_BAD_VALUE. */
/* A disk to add to `def`: slot within HVA_DISK_SLOT_MIN..MAX and free,
 * room for one more disk, its path allowed (made canonical). Pure but
 * for the path's lookup; `err` names the VM, the slot and the path. */
int hva_disk_add_check(const struct hva_vm_def *def, struct hva_disk *d,
                       const struct hva_dirs *dirs, char *err, size_t errlen);
/* The index of the disk in `slot`, or -ENOENT with `err` saying which
 * slots `def` has (a disk without a slot, such as the boot disk, cannot
 * be removed). */
int hva_disk_find_slot(const struct hva_vm_def *def, unsigned slot, char *err,
                       size_t errlen);
int hva_vm_def_check(struct hva_vm_def *def, const struct hva_dirs *dirs,
                     char *err, size_t errlen);

/* A definition on a local volume (def->local) runs on node `node_name`
 * only: the volume's node must be this one, the directory's marker must
 * name the volume and this node (a directory another node also sees, such
 * as an NFS mount, names its own node), and every disk (canonical, after
 * hva_vm_def_check) must lie below the directory. A definition without
 * <local> passes. 0, or -CMN_E_BAD_VALUE with `err` naming the VM, the
 * volume and both nodes. */
int hva_local_check(const struct hva_vm_def *def, const char *node_name,
                    char *err, size_t errlen);

/* ---- QMP ---------------------------------------------------------------- */

/* One message QEMU sent, classified. */
enum hva_qmp_kind {
    HVA_QMP_GREETING,
    HVA_QMP_RETURN,
    HVA_QMP_ERROR,
    HVA_QMP_EVENT,
    HVA_QMP_UNKNOWN,
};

struct hva_qmp_msg {
    enum hva_qmp_kind kind;
    int64_t id;         /* RETURN/ERROR: our command id, -1 if absent */
    const char *event;  /* EVENT: its name */
    json_object *data;  /* RETURN: "return"; EVENT: "data"; borrowed */
    const char *errcls; /* ERROR: "class" */
    const char *errmsg; /* ERROR: "desc" */
};

/* Pure: classifies a parsed object (borrowed pointers into `obj`). */
int hva_qmp_classify(json_object *obj, struct hva_qmp_msg *ret_msg);

/* Incremental framing: feed bytes as they arrive, take complete objects
 * out. Pure logic, no I/O. */
struct hva_qmp_parser;
int hva_qmp_parser_new(struct hva_qmp_parser **ret_p);
void hva_qmp_parser_free(struct hva_qmp_parser *p);
/* Appends bytes; -EPROTO on malformed JSON, CMN_E_TOO_BIG past 16 MiB. */
int hva_qmp_parser_feed(struct hva_qmp_parser *p, const char *buf, size_t len);
/* Next complete object (caller owns it) or NULL. */
json_object *hva_qmp_parser_next(struct hva_qmp_parser *p);

/* Builds the text of a command: {"execute":cmd,"arguments":args,"id":id}
 * followed by "\n". `args` borrowed, may be NULL. */
char *hva_qmp_format_command(const char *cmd, json_object *args, int64_t id);

struct hva_qmp;
/* rc 0 with `ret` ("return" value, borrowed) or negative with errmsg. */
typedef void (*hva_qmp_reply_fn)(void *data, int rc, json_object *ret,
                                 const char *errmsg);
struct hva_qmp_ops {
    void (*ready)(void *data); /* capabilities negotiated */
    void (*event)(void *data, const char *event, json_object *edata);
    void (*closed)(void *data); /* QEMU went away (or protocol error) */
};

/* Drives the QMP connection on `fd` (takes ownership) in `loop`. */
int hva_qmp_new(qb_loop_t *loop, int fd, const struct hva_qmp_ops *ops,
                void *data, struct hva_qmp **ret_q);
void hva_qmp_free(struct hva_qmp *q);
/* Queues a command; `args` is consumed (may be NULL); `pass_fd` >= 0 is
 * sent along with it (SCM_RIGHTS, for getfd); `cb` may be NULL. */
int hva_qmp_command(struct hva_qmp *q, const char *cmd, json_object *args,
                    int pass_fd, hva_qmp_reply_fn cb, void *cb_data);
/* Every pending command's callback whose cb_data is `cb_data` is dropped:
 * it will not run (its owner is going away). */
void hva_qmp_forget(struct hva_qmp *q, const void *cb_data);
/* Connects to a unix socket path (blocking connect; it is local). */
int hva_qmp_connect_path(const char *path, int *ret_fd);

/* ---- QEMU command line and process ----------------------------------- */

/* fd sets (-add-fd set=N, opened as /dev/fdset/N) of what QEMU gets as
 * descriptors instead of paths. */
#define HVA_QEMU_FDSET_SERIAL  0
#define HVA_QEMU_FDSET_DISK(i) ((size_t)(i) + 1)
/* A slotted disk's set, on the command line and when hot-plugged. */
#define HVA_QEMU_FDSET_SLOT(slot) ((size_t)(slot) + 100)

struct hva_qemu_opts {
    const char *qemu;    /* binary */
    const char *accel;   /* "kvm" or "tcg" (resolved, never "auto") */
    int qmp_fd;          /* listening unix socket handed to QEMU */
    const char *serial;  /* file the serial console appends to */
    int serial_fd;       /* >= 0: the serial file as a descriptor instead */
    const int *disk_fds; /* one read-write descriptor per disk, or NULL:
                            QEMU opens the paths itself */
    /* The kernel's and the initrd's descriptor (-1: no initrd), given to
     * QEMU as -kernel and -initrd /proc/self/fd/N, or NULL: QEMU opens
     * the paths itself. */
    const int *boot_fds;
    bool incoming;      /* -incoming defer */
    const int *nic_fds; /* one tap descriptor per NIC (hva_net_open);
                           NULL: the NICs are left out */
    /* One /dev/vhost-net descriptor per NIC, -1 for none (QEMU's own
     * virtio-net); NULL: none at all. */
    const int *vhost_fds;
};

/* Pure: the argv (NULL-terminated, malloc'd strings) for `def`. */
int hva_qemu_argv(const struct hva_vm_def *def, const struct hva_qemu_opts *o,
                  char ***ret_argv);
void hva_argv_free(char **argv);

/* Who QEMU runs as (qemu-user in [hvagent]). */
struct hva_qemu_cred {
    uid_t uid;
    gid_t gid;
    gid_t *groups; /* the user's supplementary groups */
    size_t n_groups;
};
/* Looked up in the agent, never in the forked child. A user that does
 * not exist: -HVA_E_QEMU and a message naming it. */
int hva_qemu_cred_lookup(const char *user, struct hva_qemu_cred *ret, char *err,
                         size_t errlen);
void hva_qemu_cred_free(struct hva_qemu_cred *c);

/* What the agent opens for QEMU, which the QEMU user could not open: the
 * disks (read-write, O_DIRECT as the disk asks), the serial log
 * (appending; not opened if `serial` is NULL) and the kernel and initrd
 * of a direct kernel boot (read-only; a regular file, not followed if a
 * symlink: the path hva_vm_def_check made canonical). Close-on-exec;
 * spawn lets them through. QEMU reads the kernel and the initrd by name
 * (x86 -kernel takes no fd set), /proc/self/fd/N: that reopens the file
 * without walking its directories, so kernel-dirs may lie where the QEMU
 * user cannot go (the 0700 state directory), but the file's own mode
 * still has to let that user read it. */
#define HVA_QEMU_BOOT_FDS 2 /* kernel, initrd */
struct hva_qemu_files {
    int *disk_fds;
    size_t n_disks;
    int serial_fd;
    int boot_fds[HVA_QEMU_BOOT_FDS]; /* -1: none */
};
#define HVA_QEMU_FILES_INIT                                                    \
    {                                                                          \
        .serial_fd = -1, .boot_fds = { -1, -1 }                                \
    }
int hva_qemu_files_open(const struct hva_vm_def *def, const char *serial,
                        struct hva_qemu_files *ret, char *err, size_t errlen);
void hva_qemu_files_close(struct hva_qemu_files *f);

struct hva_qemu_spawn_opts {
    int qmp_fd;
    int log_fd;          /* QEMU's stdout and stderr */
    bool sanlock;        /* register, so the QEMU pid can hold a lease */
    const int *keep_fds; /* further descriptors QEMU inherits */
    size_t n_keep;
    /* Descriptors QEMU opens again as /proc/self/fd/N (the kernel and
     * the initrd; -1: none), inherited too, with the paths that name them
     * in errors: the child opens each that way as the QEMU user before
     * exec, so a file that user may not read fails the start with the
     * file's name, not QEMU's "/proc/self/fd/N". */
    const int *reopen_fds;
    const char *const *reopen_paths;
    size_t n_reopen;
    const struct hva_qemu_cred *cred; /* NULL: QEMU stays root */
};

/* Forks; the child keeps only stdio, qmp_fd, keep_fds and reopen_fds
 * open, registers with sanlock (if `sanlock`), so the registration
 * belongs to the QEMU pid, switches to `cred` for good, checks that it
 * can reopen reopen_fds, and execs argv with stdout/stderr to `log_fd`.
 * Returns once exec has happened (or failed). */
int hva_qemu_spawn(char *const *argv, const struct hva_qemu_spawn_opts *so,
                   pid_t *ret_pid, char *err, size_t errlen);

/* "auto": KVM only if /dev/kvm opens and `probe_kernel` ticks under it,
 * booted by a QEMU that runs as `cred` (NULL: root), like every VM's. */
const char *hva_accel_resolve(const char *setting, const char *qemu,
                              const char *probe_kernel,
                              const struct hva_qemu_cred *cred);

/* ---- the systemd scope of each QEMU (hva-scope.c) ----------------------
 *
 * When systemd runs the node, each QEMU hvagent starts is moved into a
 * transient scope of its own, kvmcluster-vm-NAME.scope in machine.slice:
 * systemctl and systemd-cgls show the VMs by name, and QEMU leaves
 * hvagent's unit cgroup, so stopping or restarting that unit never
 * reaches a guest (hvagent re-attaches to it). The scope is ordered
 * before hvagent's own unit, so at shutdown it is stopped only after
 * hvagent and clusterd (which drains the node first). Best effort: a
 * scope that cannot be made leaves QEMU where it was (KillMode=process
 * in hvagent.service keeps it alive there too) and the VM runs. */

#define HVA_SCOPE_SLICE   "machine.slice"
#define HVA_SCOPE_PREFIX  "kvmcluster-vm-"
#define HVA_SCOPE_SUFFIX  ".scope"
#define HVA_UNIT_NAME_MAX 256 /* systemd's limit, NUL included */

/* The scope unit of VM `vm`: HVA_SCOPE_PREFIX, the name escaped the way
 * systemd escapes unit name parts (bytes other than A-Z a-z 0-9 : _ . -
 * and a leading '.' become \xNN; every name cmn_name_valid() allows is
 * kept as it is), HVA_SCOPE_SUFFIX. -EINVAL for an empty name,
 * -ENAMETOOLONG beyond systemd's limit or `len`. */
int hva_scope_unit_name(const char *vm, char *buf, size_t len);

enum hva_scope_setting {
    HVA_SCOPE_AUTO, /* a scope when systemd is PID 1 and built in */
    HVA_SCOPE_NO,
};
/* Whether scopes are used: `built` (hvagent has sd-bus), `booted`
 * (systemd is PID 1: /run/systemd/system exists). When not, `why` says
 * why, for the one line hvagent logs at start. */
bool hva_scope_use(enum hva_scope_setting s, bool built, bool booted, char *why,
                   size_t whylen);
/* sd_booted(): false without libsystemd. */
bool hva_scope_booted(void);
bool hva_scope_built(void);

/* ---- the VM's network (hva-net.c) -------------------------------------- */

const char *hva_nic_model_name(enum hva_nic_model m);
int hva_nic_model_parse(const char *s, enum hva_nic_model *ret);
/* An interface name the kernel accepts (1 to 15 bytes, no '/'). */
bool hva_ifname_valid(const char *s);
/* <nic bridge mac [model] [mtu]/> of the runtime definition; `index`
 * names it in errors. -CMN_E_MISSING or -CMN_E_BAD_VALUE. */
int hva_nic_from_xml(xmlNode *n, size_t index, struct hva_nic *ret, char *err,
                     size_t errlen);
void hva_nic_to_xml(xmlNode *root, const struct hva_nic *nic);
/* Pure: the tap name of NIC `index` of VM `uuid` ("kv" + 12 hex + index),
 * IFNAMSIZ bytes. */
void hva_tap_name(const char *uuid, size_t index, char *buf);
/* Creates a tap per NIC on its bridge (MTU set, up), close-on-exec, in
 * *ret_fds (NULL without NICs): 2 * n_nics descriptors, the taps first,
 * then each NIC's /dev/vhost-net descriptor or -1 (not virtio, not
 * available, or `vhost_skip` says why not: hva_vhost_skip_reason). A
 * bridge missing on this node: -ENODEV and nothing created; a tap that
 * fails closes those made so far (they vanish). `err` names the VM, the
 * NIC and the bridge. */
int hva_net_open(const struct hva_vm_def *def, const char *vhost_skip,
                 int **ret_fds, char *err, size_t errlen);
/* Closes the 2 * `n` descriptors of hva_net_open and frees the array
 * (NULL ok). */
void hva_net_close(int *fds, size_t n);
/* Pure: why a start does not try vhost-net (`enabled`: the vhost-net
 * setting is auto; `accel`: "kvm" or "tcg"), or NULL to try it. */
const char *hva_vhost_skip_reason(bool enabled, const char *accel);
#define HVA_VHOST_NET_DEV "/dev/vhost-net"

struct hva_vm;

/* QMP announce-self of the guest's MACs (no NICs: nothing), after the
 * guest resumed on this node. */
void hva_net_announce(struct hva_vm *vm);

/* The CPU capability of this node under `accel` (hva-cpu.c): QEMU asked
 * with -machine none, the models capped at `cap` (NULL or "": none); the
 * malloc'ed text form of res_cpu_caps_format(). Blocks up to 20 s. */
int hva_cpu_probe(const char *qemu, const char *accel, const char *cap,
                  char **ret_text, char *err, size_t errlen);

/* ---- sanlock VM lease ---------------------------------------------------- */

int hva_lease_acquire(const struct hva_lease_def *l, pid_t pid);
int hva_lease_release(const struct hva_lease_def *l, pid_t pid);
/* 1 if `pid` holds the lease, 0 if not, negative on error. */
int hva_lease_held(const struct hva_lease_def *l, pid_t pid);
/* Why an acquire failed, in an operator's words. */
const char *hva_lease_why(int rc);

/* ---- lease requests off the loop (hva-lease.c) ---------------------------
 * Through the agent's worker pool (common/cmn-work.h): `done` runs on the
 * agent's loop. */
struct hva_agent;
enum hva_lease_op { HVA_LEASE_ACQUIRE, HVA_LEASE_RELEASE, HVA_LEASE_INQUIRE };
/* rc as the synchronous call returns it; `ms` the time it took. */
typedef void (*hva_lease_done_fn)(void *owner, int rc, uint64_t ms);
/* The lease call in a worker thread (`l` is copied). ACQUIRE retries for
 * up to `retry_held_ms` while another process holds the lease. The caller
 * keeps `owner` alive until `done` ran. */
int hva_lease_async(struct hva_agent *ag, enum hva_lease_op op,
                    const struct hva_lease_def *l, pid_t pid,
                    unsigned retry_held_ms, hva_lease_done_fn done,
                    void *owner);

/* Lease recovery after a failed migration (hva-lease.c). The source gave
 * its lease up at the handoff, the target did not resume, and taking the
 * lease back failed because the storage erred: the VM stays paused here
 * ("paused: lease recovery", state paused) and the lease is retried every
 * HVA_LEASE_REC_MIN_MS, doubled per failure up to HVA_LEASE_REC_MAX_MS.
 * Once it is ours the guest continues (state running); when another host
 * holds it (the target resumed after all) our QEMU quits. The guest never
 * runs here without the lease. `why`: the failed migration, for the log. */
struct hva_vm;
#define HVA_LEASE_REC_MIN_MS 1000u
#define HVA_LEASE_REC_MAX_MS 30000u
void hva_lease_recover(struct hva_vm *vm, const char *why);
/* Ends a recovery (QEMU gone): no timer or retry points to `vm` after. */
void hva_lease_recover_stop(struct hva_vm *vm);
/* The retry delay after `failures` failed attempts (pure). */
unsigned hva_lease_recover_delay_ms(unsigned failures);

/* ---- migration: pure policy --------------------------------------------- */

enum hva_converge {
    HVA_CONVERGE_RAISE,    /* raise the downtime limit stepwise */
    HVA_CONVERGE_THROTTLE, /* auto-converge: throttle the guest's vCPUs */
    HVA_CONVERGE_CANCEL,   /* give up, the VM stays on the source */
};

struct hva_mig_settings {
    uint64_t max_bandwidth; /* bytes/s, 0 = unlimited */
    unsigned downtime_ms;   /* target (QEMU's downtime-limit) */
    unsigned max_passes;    /* pre-copy passes before convergence */
    enum hva_converge converge;
    unsigned downtime_max_ms; /* RAISE stops there, then cancels */
    unsigned timeout_s;       /* whole migration */
    unsigned stall_ms;        /* pre-copy moving no byte that long: cancelled */
    unsigned handoff_reserve_ms; /* part of downtime_ms kept for the lease
                                    handoff (QEMU gets the rest) */
};

void hva_mig_settings_default(struct hva_mig_settings *s);
const char *hva_converge_name(enum hva_converge c);
int hva_converge_parse(const char *s, enum hva_converge *ret);

/* What the source does after seeing pre-copy pass `pass`. */
enum hva_mig_action {
    HVA_MIG_WAIT,         /* keep copying */
    HVA_MIG_SET_DOWNTIME, /* *ret_downtime_ms is the new limit */
    HVA_MIG_THROTTLE,     /* auto-converge is on: let it work */
    HVA_MIG_CANCEL,
};

/* Pure: the convergence decision. `cur_downtime_ms` is the limit now in
 * force; remaining/dirty_rate (bytes, bytes/s) from query-migrate. */
enum hva_mig_action hva_mig_policy(const struct hva_mig_settings *s,
                                   unsigned pass, unsigned cur_downtime_ms,
                                   uint64_t remaining, uint64_t dirty_rate,
                                   unsigned *ret_downtime_ms);

/* Pure: how long a pre-copy stream has not moved, in ms: since QEMU's
 * byte count last grew (`since_bytes_ms`) or, with the data socket's TCP
 * state known (`have_tcp`), since the last ACK while data is in flight
 * (`unacked` segments, `last_ack_ms`), whichever is longer. */
uint64_t hva_mig_stall_ms(uint64_t since_bytes_ms, bool have_tcp,
                          uint32_t unacked, uint32_t last_ack_ms);

/* Phases of a migration, on each side. Persisted at every transition so a
 * restarted agent can finish or roll back (hva_mig_recovery). */
enum hva_mig_phase {
    HVA_PH_NONE = 0,
    /* source */
    HVA_PH_OUT_CONNECT, /* control channel: connect, authenticate */
    HVA_PH_OUT_PREPARE, /* target is starting its QEMU */
    HVA_PH_OUT_PRECOPY, /* memory pre-copy; VM runs here */
    /* QEMU's "completed": every byte of the state sent, guest stopped for
     * good (postmigrate); the lease still here, its release in flight */
    HVA_PH_OUT_PAUSED,
    HVA_PH_OUT_RELEASED, /* lease released, target acquiring */
    /* the target acquired the lease (LEASE-ACQUIRED); waiting for it to
     * resume the guest (RESUMED), then this QEMU quits */
    HVA_PH_OUT_CONTINUED,
    HVA_PH_OUT_DONE,     /* target resumed; source QEMU quit */
    HVA_PH_OUT_ROLLBACK, /* failed: VM resumed here with its lease */
    /* target */
    HVA_PH_IN_PREPARED,  /* QEMU -incoming defer started, no lease */
    HVA_PH_IN_RECEIVING, /* data socket handed to QEMU */
    HVA_PH_IN_LEASED,    /* lease acquired for our QEMU pid */
    HVA_PH_IN_DONE,      /* resumed here */
    HVA_PH_IN_ABORTED,   /* our QEMU killed; the source keeps the VM */
    /* quick migration */
    HVA_PH_SAVE_STREAM,  /* paused, state streaming to the extent */
    HVA_PH_SAVE_DONE,    /* state saved, lease released, QEMU gone */
    HVA_PH_RESTORE_FEED, /* lease held, state feeding into QEMU */
    HVA_PH_RESTORE_DONE,
    HVA_PH_COUNT,
};

const char *hva_mig_phase_name(enum hva_mig_phase p);
int hva_mig_phase_parse(const char *s, enum hva_mig_phase *ret);
/* Pure: whether `from` -> `to` is a legal transition. */
bool hva_mig_phase_next_ok(enum hva_mig_phase from, enum hva_mig_phase to);

/* What a restarted agent does with a VM found in `phase`. */
enum hva_recovery {
    HVA_REC_NOTHING,    /* no migration in flight */
    HVA_REC_KEEP_LOCAL, /* cancel any migration, resume here (re-take lease) */
    HVA_REC_BY_LEASE,   /* whoever holds the lease runs it: re-acquire; on
                           failure the peer has it and local QEMU quits */
    HVA_REC_DISCARD,    /* local QEMU is a half-received copy: kill it */
    HVA_REC_FINISH_IN,  /* lease is ours and state arrived: resume */
};
enum hva_recovery hva_mig_recovery(enum hva_mig_phase phase);

/* ---- migration: what QEMU's events and replies mean (hva-mig-event.c)
 * Pure: the daemon's reaction to each QMP event of a migration is decided
 * here, so a unit test can drive it with recorded QEMU transcripts. */

enum hva_mig_kind { HVA_MIG_OUT, HVA_MIG_IN, HVA_MIG_SAVE, HVA_MIG_RESTORE };

enum hva_mig_react {
    HVA_MR_NONE,        /* nothing for this migration */
    HVA_MR_PASS,        /* source: a pre-copy pass ended (`pass`) */
    HVA_MR_STREAM_DONE, /* QEMU sent or received the whole state */
    HVA_MR_FAILED,      /* QEMU's migration failed (or was cancelled) */
};

struct hva_mig_reaction {
    enum hva_mig_react what;
    enum hva_mig_phase next; /* phase this leads to; the current: none */
    bool stream_over;        /* QEMU is done with the data stream */
    unsigned pass;           /* HVA_MR_PASS */
    const char *status;      /* MIGRATION's status (borrowed), or NULL */
};

/* QMP event `event` with `data` (may be NULL) for a migration of `kind`
 * in `phase`; `rolling_back`: the source is undoing it already. */
void hva_mig_react(enum hva_mig_kind kind, enum hva_mig_phase phase,
                   bool rolling_back, const char *event, json_object *data,
                   struct hva_mig_reaction *ret_r);

/* The figures of a query-migrate reply (absent ones 0). */
struct hva_mig_progress {
    bool have_ram;
    uint64_t transferred, remaining;
    uint64_t dirty_rate; /* bytes/s: dirty-pages-rate x page-size, or 0 */
    unsigned pass;       /* dirty-sync-count */
    uint64_t expected_downtime, downtime, total_time, setup_time; /* ms */
};
void hva_mig_progress_parse(json_object *ret, struct hva_mig_progress *ret_p);

/* Bytes/s the guest dirtied, estimated from the `remaining` bytes a pass
 * starts with after the last pass took `pass_ms`; 0 if unknown. */
uint64_t hva_mig_dirty_estimate(uint64_t remaining, uint64_t pass_ms);

/* ---- TLS-PSK key ------------------------------------------------------ */

/* HKDF-SHA256 of the corosync authkey, info "kvmcluster migration v1". */
int hva_psk_derive(const char *authkey_path, uint8_t key[32]);

/* ---- memory stream encryption (migration-tls = psk; hva-mig-tls.c) ---- */

#define HVA_MIG_TLS_USER "kvmcluster" /* the PSK identity in keys.psk */
#define HVA_MIG_TLS_OBJ  "kvmc-mig-tls"
/* The key of one migration's stream: HKDF-SHA256-Expand of `base` (the
 * stream secret) with the migration's token. Both agents know the token
 * from READY, which only travelled inside the control channel's TLS; the
 * token alone (it goes in clear on the data connection) gives nothing. */
int hva_mig_tls_key(const uint8_t base[32], const char *token, uint8_t key[32]);
/* Creates `dir` (0750 root:gid) holding keys.psk (the key under
 * HVA_MIG_TLS_USER) and dh-params.pem for QEMU's tls-creds-psk. Error:
 * negative errno and a message naming the directory. */
int hva_mig_tls_write(const char *dir, gid_t gid, const uint8_t key[32],
                      char *err, size_t errlen);
void hva_mig_tls_remove(const char *dir);
/* Removes every credentials directory under `parent` (agent start). */
void hva_mig_tls_sweep(const char *parent);
/* object-add's arguments for the tls-creds-psk object reading `dir`. */
json_object *hva_mig_tls_object(bool server, const char *dir);

/* ---- control channel (line-based, TLS-PSK) --------------------------- */

struct hva_chan;
struct hva_chan_ops {
    void (*up)(void *data);               /* handshake done */
    void (*line)(void *data, char *line); /* one message */
    void (*down)(void *data, int rc);     /* closed or failed */
};
/* Pure, the channel's framing: calls `line` on each complete line of
 * buf[0..len) (its newline replaced by a NUL, in place) until it returns
 * false; returns the bytes consumed (the rest is an incomplete line). */
size_t hva_chan_split_lines(char *buf, size_t len,
                            bool (*line)(void *arg, char *line), void *arg);
/* `fd` is a connected TCP socket (ownership taken). */
int hva_chan_new(qb_loop_t *loop, int fd, bool server, const uint8_t key[32],
                 const char *identity, const struct hva_chan_ops *ops,
                 void *data, struct hva_chan **ret_c);
/* Client side in a worker thread: connects to host:port and completes the
 * TLS-PSK handshake, blocking for at most `timeout_ms`. -HVA_E_AUTH when
 * the peer rejects the key. The result is not attached to any loop. */
int hva_chan_connect(const char *host, unsigned port, const uint8_t key[32],
                     const char *identity, unsigned timeout_ms,
                     struct hva_chan **ret_c);
/* On the loop: drives a channel hva_chan_connect made; `ops->up` is not
 * called (it is up already). */
int hva_chan_attach(struct hva_chan *c, qb_loop_t *loop,
                    const struct hva_chan_ops *ops, void *data);
/* Blocking TCP connect with a deadline (for worker threads); the socket
 * is returned blocking, TCP_NODELAY on. */
int hva_tcp_connect(const char *host, unsigned port, unsigned timeout_ms,
                    int *ret_fd);
void hva_chan_free(struct hva_chan *c);
/* On the loop: sends HVA_CHAN_PING every `interval_ms` and, if `idle_ms`
 * is not 0, takes the channel down (ops->down, -ETIMEDOUT) once nothing
 * arrived from the peer for `idle_ms`: a dead path shows in seconds, not
 * at TCP's retransmission timeout. Received pings are not passed on. */
#define HVA_CHAN_PING "PING"
int hva_chan_keepalive(struct hva_chan *c, unsigned interval_ms,
                       unsigned idle_ms);
int hva_chan_send(struct hva_chan *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const char *hva_chan_peer_identity(struct hva_chan *c);
/* Blocking, for tools (tests/cluster/hva-chan-probe): the next line
 * (without its newline) of a channel from hva_chan_connect that is not
 * attached to a loop, within `timeout_ms`. -ETIMEDOUT; -ECONNRESET when the
 * peer closed; -EPROTO for a line longer than `len`. */
int hva_chan_recv_line(struct hva_chan *c, char *buf, size_t len,
                       unsigned timeout_ms);
/* The receive buffer never grows past this: a peer that sends a longer
 * line is cut off (-EPROTO). */
#define HVA_CHAN_MAX_LINE (256 * 1024)

/* ---- small helpers ------------------------------------------------------ */

int hva_write_file(const char *path, const char *text); /* atomic */
int hva_read_file(const char *path, char **ret_text);
int hva_parse_u64(const char *s, uint64_t *ret);
/* `first` doubled `doublings` times, at most `max`: the retry waits of
 * the I/O-error resume and of the lease recovery. */
uint64_t hva_backoff_ms(unsigned doublings, uint64_t first, uint64_t max);
/* Member `k` of QMP object `o` when it is a string, else NULL. */
const char *hva_json_str(json_object *o, const char *k);

/* ---- the daemon (hva-vm.c, hva-mig.c, hvagent.c) ----------------------- */

struct cmn_ipc_server;
struct cmn_ipc_conn;
struct hva_mig;

enum hva_vm_state {
    HVA_VM_DEFINED,  /* no QEMU */
    HVA_VM_STARTING, /* QEMU paused, taking the lease */
    HVA_VM_RUNNING,
    HVA_VM_PAUSED,
    HVA_VM_STOPPING,
    HVA_VM_MIGRATING, /* source of a live migration */
    HVA_VM_INCOMING,  /* target of a live migration or restore */
    HVA_VM_SAVING,
    HVA_VM_STATE_COUNT,
};
const char *hva_vm_state_name(enum hva_vm_state s);

struct hva_vm;
typedef void (*hva_vm_cb)(struct hva_vm *vm, int rc, const char *err);

struct hva_vm {
    struct hva_agent *ag;
    struct hva_vm *next;
    struct hva_vm_def *def;
    char *dir; /* <run-dir>/vm/<uuid> */
    enum hva_vm_state state;
    pid_t pid;      /* QEMU, 0 if none */
    bool our_child; /* reaped by us (not after a re-attach) */
    uint64_t started_ms;
    bool lease_held;
    struct hva_qmp *qmp;
    hva_vm_cb on_ready; /* QMP up after a launch */
    hva_vm_cb on_gone;  /* QEMU exited */
    qb_loop_timer_handle reap_timer;
    qb_loop_timer_handle stop_timer;
    uint64_t reap_deadline;
    /* the request waiting for this VM's current operation */
    struct cmn_ipc_conn *op_conn;
    enum hva_mig_phase phase;
    struct hva_mig *mig;
    char last_err[512];
    unsigned jobs; /* worker jobs in flight that point to this VM */
    /* start: the guest runs once QMP is up and the lease is ours */
    bool start_qmp_up, start_leased;
    int start_rc;
    /* migrate-in: armed for this VM (QEMU prepared, -incoming defer) */
    bool armed, in_ready;
    qb_loop_timer_handle arm_timer;
    /* disk-add/disk-remove in flight on the running QEMU (hva-disk.c) */
    struct hva_hotplug *hotplug;
    /* storage mirror in flight or its outcome (hva-mirror.c); after a
     * re-attach, until QEMU has no mirror job of the agent before the
     * restart left (mirror requests wait: a target still written must
     * not be called free) */
    struct hva_mirror *mirror;
    bool mirror_recheck;
    unsigned mirror_recheck_n;
    /* Paused on an I/O error (hva-vm.c, hva-ioerr.c): one episode from
     * the first BLOCK_IO_ERROR until the guest ran HVA_IOERR_SETTLE_MS
     * after a `cont` without a new one. */
    struct hva_vm_ioerr {
        bool active;
        bool nospace;
        int disk;        /* index into def->disks, -1 not known */
        char device[32]; /* QEMU's device id: vd0, hp24 */
        char reason[96]; /* QEMU's text of the last error */
        uint64_t since_ms;
        uint64_t resumed_ms; /* last RESUME of the episode, 0: none yet */
        unsigned attempts;   /* `cont` sent in this episode */
        unsigned errors;     /* BLOCK_IO_ERROR events in this episode */
        qb_loop_timer_handle timer;
    } ioerr;
    /* lease recovery after a failed migration (hva_lease_recover): the
     * QEMU it is for, the retry timer, failed attempts so far */
    pid_t lease_rec_pid;
    qb_loop_timer_handle lease_rec_timer;
    unsigned lease_rec_n;
};

struct hva_agent {
    qb_loop_t *loop;
    const char *run_dir;
    const char *node_name;
    const char *qemu;
    const char *qemu_user; /* QEMU runs as this user ("root": opted out) */
    const char *accel;     /* resolved: kvm or tcg */
    char accel_why[192];   /* how `accel` was chosen (op "accel") */
    bool sanlock;          /* leases on (off only for unit-ish runs) */
    struct cmn_ipc_server *ipc;
    struct hva_vm *vms;
    /* migration listener */
    int mig_fd;
    bool have_psk;
    uint8_t psk[32];
    char **allow; /* source addresses allowed to migrate in; NULL: any */
    size_t n_allow;
    unsigned max_incoming;
    unsigned n_incoming;
    /* migration-tls = psk: the memory stream goes through QEMU's TLS
     * too, keyed per migration (hva_mig_tls_key) from stream_psk */
    bool mig_tls;
    bool vhost_net;          /* vhost-net = auto (true) or off */
    const char *mig_tls_key; /* migration-tls-key; NULL: from the authkey */
    uint8_t stream_psk[32];
    /* [hvagent] settings: what a request does not say */
    struct hva_mig_settings mig_defaults;
    unsigned arm_timeout_s; /* migrate-in without timeout-s */
    struct hva_dirs dirs;   /* where a definition's files may lie */
    struct cmn_work *work;  /* worker threads (common/cmn-work.c) */
    /* CPU capability (resources/res-cpu.h text form) probed at start-up,
     * NULL when the probe failed; cpu_cap: [hvagent] cpu-models ("" =
     * no cap). */
    char *cpu_caps;
    const char *cpu_cap;
    bool cpu_probe_started, cpu_probe_done;
    /* [hvagent] systemd-scope, and whether it is used (hva-scope.c) */
    enum hva_scope_setting scope_setting;
    bool scope;
};

/* ---- a guest paused on an I/O error (hva-ioerr.c, pure) ---------------- */

#define HVA_IOERR_FIRST_MS       250u
#define HVA_IOERR_MAX_MS         5000u
#define HVA_IOERR_NOSPC_FIRST_MS 1000u
#define HVA_IOERR_NOSPC_MAX_MS   30000u
/* Running this long after a `cont` with no new error ends the episode. */
#define HVA_IOERR_SETTLE_MS 1000u

/* QEMU's BLOCK_IO_ERROR event, checked. */
struct hva_ioerr_event {
    char device[32]; /* the device's id (from qom-path, else "device") */
    bool stop;       /* action "stop": QEMU paused the guest */
    bool write;
    bool nospace; /* ENOSPC */
    char reason[96];
};

/* 0, or -EINVAL for an event without action, operation or device. */
int hva_ioerr_parse(json_object *edata, struct hva_ioerr_event *ret);
/* Index in def->disks of the device id hvagent gave it, or -ENOENT. */
int hva_ioerr_disk_index(const struct hva_vm_def *def, const char *device);
/* Wait before `cont` number `attempt` (0 first) of an episode. */
uint64_t hva_ioerr_backoff_ms(unsigned attempt, bool nospace);
const char *hva_ioerr_reason_text(bool nospace);

/* True while `vm` is paused on an I/O error (hva-vm.c): its state event
 * and status say so. */
static inline bool hva_vm_ioerr_shown(const struct hva_vm *vm)
{
    return vm->ioerr.active && vm->state == HVA_VM_PAUSED;
}

/* The episode of a guest paused on an I/O error (hva-vm-ioerr.c, daemon):
 * QEMU's BLOCK_IO_ERROR, a re-attached QEMU in status io-error (ev NULL),
 * its RESUME, and QEMU gone or the VM undefined. */
void hva_vm_ioerr_event(struct hva_vm *vm, json_object *edata);
void hva_vm_ioerr_begin(struct hva_vm *vm, const struct hva_ioerr_event *ev);
void hva_vm_ioerr_resumed(struct hva_vm *vm);
void hva_vm_ioerr_end(struct hva_vm *vm, const char *why);
/* Sends `vm`'s state event (hva_state_event_text) to clusterd. */
void hva_vm_state_event(struct hva_vm *vm);

/* ---- API requests (hva-req.c) ------------------------------------------ */

/* The text of `vm`'s state event (malloc'd; NULL without memory). */
char *hva_state_event_text(const struct hva_vm *vm);

enum hva_mirror_action {
    HVA_MIRROR_STATUS,
    HVA_MIRROR_START,
    HVA_MIRROR_COMPLETE,
    HVA_MIRROR_CANCEL,
    HVA_MIRROR_FINISH,
};

enum hva_op {
    HVA_OP_SUBSCRIBE,
    HVA_OP_DEFINE,
    HVA_OP_STATUS,
    HVA_OP_START,
    HVA_OP_STOP,
    HVA_OP_KILL,
    HVA_OP_UNDEFINE,
    HVA_OP_MIGRATE_OUT,
    HVA_OP_MIGRATE_IN,
    HVA_OP_DISARM,
    HVA_OP_SAVE,
    HVA_OP_RESTORE,
    HVA_OP_CPU,         /* the node's CPU capability (res-cpu.h text form) */
    HVA_OP_ACCEL,       /* the accelerator in use and why (cluster validate) */
    HVA_OP_DISK_ADD,    /* a disk in a PCI slot, hot-plugged if running */
    HVA_OP_DISK_REMOVE, /* the disk in a slot, hot-unplugged if running */
    HVA_OP_MIRROR,      /* storage mirror of a running VM (hva-mirror.c) */
    HVA_OP_COUNT,
};
const char *hva_op_name(enum hva_op op);

/* A request as hvagent.c carries it out: every value checked. */
struct hva_request {
    enum hva_op op;
    char *vm;                    /* vm="...", NULL if absent */
    struct hva_vm_def *def;      /* define: parsed, checked, paths canonical */
    unsigned timeout_ms;         /* stop (kill: parsed, unused) */
    unsigned timeout_s;          /* migrate-in */
    char *to;                    /* migrate-out: ADDR:PORT */
    struct hva_mig_settings mig; /* migrate-out, over ag->mig_defaults */
    struct hva_disk disk;        /* disk-add (path checked); disk-remove:
                                    only .slot */
    /* mirror: action, and for start the target of every disk (in the
     * definition's order) and the target slot's lease; or, with `index`
     * on each <disk>, the targets of those disks alone (the lease stays) */
    enum hva_mirror_action mirror_action;
    bool mirror_write_blocking;
    uint64_t mirror_speed; /* bytes/s of each job, 0 = unlimited */
    struct hva_disk *mirror_disks;
    size_t n_mirror_disks;
    size_t mirror_index[RES_VM_MAX_DISKS]; /* each target's disk */
    bool mirror_indexed;                   /* index given (all or none) */
    struct hva_lease_def mirror_lease;
};

/* Parses and checks the request `text` with the agent's settings
 * (mig_defaults, arm_timeout_s, dirs); nothing else of `ag` is read. On
 * error `err` says what is wrong, naming the field: -HVA_E_BAD_REQUEST,
 * -RES_E_INVALID, -CMN_E_BAD_VALUE or a parse error; *ret_req then holds
 * only the op (HVA_OP_COUNT if not known), for the log. */
int hva_request_parse(const struct hva_agent *ag, const char *text,
                      struct hva_request *ret_req, char *err, size_t errlen);
void hva_request_clear(struct hva_request *r);

/* <reply rc="0" node=...><vm .../>...</reply> for every VM, or `only`;
 * names and paths escaped, uptimes against `now_ms`. */
int hva_status_reply(const struct hva_agent *ag, const struct hva_vm *only,
                     uint64_t now_ms, char **ret_reply);

/* hva-vm.c */
struct hva_vm *hva_vm_find(struct hva_agent *ag, const char *name_or_uuid);
int hva_vm_define(struct hva_agent *ag, struct hva_vm_def *def,
                  struct hva_vm **ret_vm);
/* Writes the VM's def.xml (what a restarted agent re-attaches with). */
int hva_vm_def_save(struct hva_vm *vm);
/* Removes a VM without QEMU, job, migration or pending request (else
 * -HVA_E_STATE) and frees it, its timers cancelled. */
int hva_vm_undefine(struct hva_vm *vm);
void hva_vm_set_state(struct hva_vm *vm, enum hva_vm_state st);
int hva_vm_set_phase(struct hva_vm *vm, enum hva_mig_phase ph);
/* Spawns QEMU (paused; `incoming`: -incoming defer); on_ready runs once
 * QMP is up. Does not take the lease. */
int hva_vm_launch(struct hva_vm *vm, bool incoming, hva_vm_cb on_ready,
                  char *err, size_t errlen);
int hva_vm_start(struct hva_vm *vm, char *err, size_t errlen);
/* Moves QEMU `pid` of VM `vm` into its scope (hva-scope.c) when ag->scope,
 * in the worker pool; the outcome is logged, a failure as a warning
 * naming the VM and systemd's error. Never fails the VM. */
int hva_scope_move(struct hva_agent *ag, const char *vm, pid_t pid);
int hva_vm_stop(struct hva_vm *vm, unsigned timeout_ms);
int hva_vm_kill(struct hva_vm *vm);
int hva_vm_reattach_all(struct hva_agent *ag);
void hva_vm_check_children(struct hva_agent *ag); /* on SIGCHLD */
/* Replies to the VM's pending request, if any. */
void hva_vm_reply(struct hva_vm *vm, int rc, const char *extra_attrs);
void hva_agent_event(struct hva_agent *ag, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Called by the QMP event handler for migration events. */
void hva_mig_qmp_event(struct hva_vm *vm, const char *event, json_object *data);
void hva_mig_qemu_gone(struct hva_vm *vm);

/* hva-disk.c: disks added to and removed from a VM. On a VM without QEMU
 * only its definition changes; on a running (or paused) one, QEMU gets
 * the disk first (add-fd, blockdev-add, device_add in slot d->slot) and
 * the definition changes only once QEMU has it; a removal waits for the
 * guest to release the device (DEVICE_DELETED) before the block node and
 * the descriptor go. Both answer through vm->op_conn (CMN_IPC_DEFERRED)
 * or fail at once with `err` set; a failure changes nothing. `d` is
 * taken (its path) in every case. */
int hva_disk_add(struct hva_vm *vm, struct hva_disk *d, char *err,
                 size_t errlen);
int hva_disk_remove(struct hva_vm *vm, unsigned slot, char *err, size_t errlen);
void hva_disk_qmp_event(struct hva_vm *vm, const char *event,
                        json_object *data);
/* QEMU went away: the operation in flight fails. */
void hva_disk_qemu_gone(struct hva_vm *vm);

/* hva-mirror.c: the storage mirror of a running VM (op mirror). Every
 * action answers at once with the mirror's state (status polls it). */
int hva_mirror_request(struct hva_vm *vm, struct hva_request *req,
                       char **ret_reply, char *err, size_t errlen);
void hva_mirror_qmp_event(struct hva_vm *vm, const char *event,
                          json_object *data);
void hva_mirror_qemu_gone(struct hva_vm *vm);
void hva_mirror_free(struct hva_vm *vm);
/* A mirror runs or waits for its finish: no migration, save or stop
 * through the API meanwhile. */
bool hva_mirror_busy(const struct hva_vm *vm);
/* After a re-attach: a mirror of the agent before the restart is
 * cancelled in QEMU (nobody completes it; clusterd frees its target once
 * this agent answers that it has no mirror). */
void hva_mirror_reattach(struct hva_vm *vm);
/* The block node QEMU has disk `i` of `def` under (hva_qemu_argv's names
 * unless a mirror switched it). */
void hva_disk_node_name(const struct hva_vm_def *def, size_t i, char *buf,
                        size_t len);
/* A storage path held to the [hvagent] storage directories (canonical
 * in *path on success). */
int hva_storage_path_check(const struct hva_vm_def *def,
                           const struct hva_dirs *dirs, const char *what,
                           char **path, char *err, size_t errlen);
void hva_mig_recover(struct hva_vm *vm);

/* hva-mig.c */
int hva_mig_listen(struct hva_agent *ag, const char *addr, unsigned port);
int hva_mig_out(struct hva_vm *vm, const char *to,
                const struct hva_mig_settings *s, char *err, size_t errlen);
/* migrate-in: this node accepts an incoming migration of `vm` (and no
 * other VM) for `timeout_s`; its QEMU is prepared at once. */
int hva_mig_arm(struct hva_vm *vm, unsigned timeout_s, char *err,
                size_t errlen);
/* If `vm` is armed and no source has come: disarms it, stops the
 * prepared QEMU and runs `then` once it is gone; returns true. */
bool hva_mig_disarm(struct hva_vm *vm, hva_vm_cb then);
/* The migration into `vm` failed elsewhere: an armed QEMU, or a copy
 * being received and not yet resumed, is discarded (`why` in the log and
 * to the source). True if there was one. */
bool hva_mig_cancel_in(struct hva_vm *vm, const char *why);
int hva_save(struct hva_vm *vm, char *err, size_t errlen);
int hva_restore(struct hva_vm *vm, char *err, size_t errlen);

#endif
