/* clusterd: the replicated cluster database (CDB) and its change messages.
 *
 * The CDB is one document per cluster (schemas/cdb.rng): nodes, volumes,
 * VMs and cluster settings, plus an `epoch` that every applied change
 * increments and a digest (SHA-256 of the canonical serialization) that
 * lets members compare copies cheaply. Nobody edits a copy directly: a
 * change is a small typed message (struct cd_op) that every member applies
 * in the order corosync delivers it, so every member holds the same
 * document. Applying is deterministic: the same document and the same op
 * give the same result (or the same error, leaving the document untouched)
 * on every member.
 *
 * This header is the pure part (no I/O except cd_cdb_save/cd_cdb_load);
 * the corosync glue lives in the daemon (cd-int.h).
 */
#ifndef KVMC_CD_H
#define KVMC_CD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clusterd/cd-proto.h"
#include "common/cmn-auto.h"
#include "common/cmn-err.h"
#include "common/cmn-paths.h"
#include "resources/res-place.h"

/* CPG group every clusterd joins. */
#define CD_CPG_GROUP "kvmcluster"
/* Where each node keeps its copy. */
#define CD_STATE_DIR_DEFAULT CMN_STATE_DIR
#define CD_CDB_FILE          "cdb.xml"

#define CD_UUID_STR          37 /* a uuid as text: 36 + NUL */
#define CD_MAX_NODES         16
#define CD_VOLUME_LUNS       16
#define CD_DIGEST_LEN        32 /* SHA-256 */
#define CD_DIGEST_HEX        (2 * CD_DIGEST_LEN + 1)
#define CD_CDB_VERSION       1
#define CD_NODE_FAILURES_MAX 8 /* remembered per node (quarantine) */

enum cd_node_state {
    CD_NODE_UP = 0,
    CD_NODE_DRAINED,
    CD_NODE_PAUSED,
    CD_NODE_QUARANTINED,
    CD_NODE_STATE_COUNT,
};

enum cd_priority {
    CD_PRIO_HIGH = 0,
    CD_PRIO_MEDIUM,
    CD_PRIO_LOW,
    CD_PRIO_MANUAL,
    CD_PRIO_COUNT,
};

const char *cd_node_state_name(enum cd_node_state s);
int cd_node_state_parse(const char *s, enum cd_node_state *ret);
const char *cd_priority_name(enum cd_priority p);
int cd_priority_parse(const char *s, enum cd_priority *ret);

struct cd_node {
    char name[CD_NAME_MAX];
    uint32_t nodeid;            /* corosync nodeid = sanlock host_id */
    char address[CD_VALUE_MAX]; /* migration address */
    uint64_t memory_mib;        /* capacity offered to VMs */
    enum cd_node_state state;
    /* Why it is in its state ("" = none given): the quarantine's cause,
     * or "shutdown" for a drain clusterd did when it was stopped. */
    char reason[CD_VALUE_MAX];
    /* Quarantine: times (unix seconds, the reporting node's clock) of
     * the recent daemon failures (clusterd or hvagent died), oldest
     * first, and when a quarantine ends (0 = not quarantined). */
    size_t nfailures;
    uint64_t failures[CD_NODE_FAILURES_MAX];
    uint64_t quarantined_until;
    /* CPU capability its hvagent reported (resources/res-cpu.h text
     * form) and its parsed form, both NULL until reported. Owned. */
    char *cpu;
    struct res_cpu_caps *cpu_caps;
};

/* Daemon failures of a node counted within this period (quarantine). */
#define CD_QUARANTINE_PERIOD_S 3600
/* Failures of node `n` within CD_QUARANTINE_PERIOD_S before `now`. */
size_t cd_node_recent_failures(const struct cd_node *n, uint64_t now);

struct cd_volume {
    char name[CD_NAME_MAX];
    char lockspace[CD_NAME_MAX]; /* "" for a local volume */
    size_t nluns;
    char luns[CD_VOLUME_LUNS][CD_VALUE_MAX]; /* LUN designators (wwn) */
    /* Kind local: a directory on one node (`node`, `path`), no lockspace
     * and no LUNs. Its VMs (ref CD_LOCAL_REF_PREFIX + name) run on that
     * node only. */
    bool local;
    char node[CD_NAME_MAX];
    char path[CD_VALUE_MAX];
};

struct cd_vm {
    char name[CD_NAME_MAX];
    enum cd_priority priority;
    char ref[CD_VALUE_MAX]; /* where the definition lives ("" = embedded) */
    char *definition;       /* embedded definition text, or NULL */
    bool want_running;      /* administrator's intent: keep it running */
    /* What placement needs of the definition, parsed when the definition
     * is stored so the coordinator decides on structs (defaults without
     * a valid definition; name and priority come from the fields above). */
    struct res_place_vm place;
    /* Its NICs' MACs, parsed with `place` (none without a valid
     * definition): every definition entering the CDB is checked against
     * them (cd_cdb_vm_by_mac). */
    size_t n_macs;
    uint8_t macs[RES_VM_MAX_NICS][6];
};

/* The ref of a VM whose disks are files on a local volume: "local:VOL". */
#define CD_LOCAL_REF_PREFIX "local:"
/* The local volume a VM's ref names (CD_LOCAL_REF_PREFIX), or NULL. */
const char *cd_vm_local_volume(const struct cd_vm *v);
/* A local volume's path as the CDB takes it: absolute, at most
 * CD_VALUE_MAX - 1 bytes, printable, no "." or ".." component, no "//",
 * no trailing '/' (except "/" itself, which is refused too: a volume is
 * a directory of its own). */
bool cd_local_path_valid(const char *path);

/* ------------------------------------------------------------ settings */

enum cd_setting_type {
    CD_SET_INT,      /* integer within [min, max] */
    CD_SET_DURATION, /* milliseconds; input may carry ms/s/m/h */
    CD_SET_ENUM,
    CD_SET_WINDOW, /* "" or HH:MM-HH:MM */
    CD_SET_NAME,   /* "" or a name (cmn_name_valid); written to the CDB
                    * only when set, so older documents keep their digest */
};

struct cd_setting_desc {
    const char *key;
    enum cd_setting_type type;
    const char *def; /* canonical default */
    int64_t min, max;
    const char *const *values; /* CD_SET_ENUM, NULL-terminated */
    const char *help;
};

/* The table of known settings, terminated by key == NULL. */
extern const struct cd_setting_desc cd_settings[];
size_t cd_setting_count(void);
/* Index of `key` or CD_E_NOT_FOUND. */
int cd_setting_find(const char *key);
/* Checks `value` for setting `key` and writes its canonical form
 * (durations in ms without suffix) to ret (CD_VALUE_MAX bytes). */
int cd_setting_normalize(const char *key, const char *value, char *ret,
                         char *err, size_t errlen);

/* ----------------------------------------------------------------- CDB */

struct cd_cdb;

int cd_cdb_new(struct cd_cdb **ret_cdb); /* empty, epoch 0, defaults */
void cd_cdb_free(struct cd_cdb *cdb);
int cd_cdb_dup(const struct cd_cdb *cdb, struct cd_cdb **ret_cdb);

uint64_t cd_cdb_epoch(const struct cd_cdb *cdb);
const uint8_t *cd_cdb_digest(const struct cd_cdb *cdb); /* CD_DIGEST_LEN */
/* Digest as lower-case hex into buf (CD_DIGEST_HEX bytes). */
void cd_cdb_digest_hex(const struct cd_cdb *cdb, char *buf);
void cd_digest_to_hex(const uint8_t *digest, char *buf);

/* The cluster CPU baseline (resources/res-cpu.h): the cpu-baseline
 * setting when the administrator set one, else the newest model every
 * node that reported its CPU capability runs. -RES_E_CPU with err saying
 * why when there is none (no node reported, no common model). */
int cd_cdb_cpu_baseline(const struct cd_cdb *cdb, char *ret, size_t len,
                        char *err, size_t errlen);
/* Why node `n` cannot run the baseline `model`, in why; false when it
 * can or has not reported. */
bool cd_cdb_node_lacks_baseline(const struct cd_node *n, const char *model,
                                char *why, size_t len);

size_t cd_cdb_node_count(const struct cd_cdb *cdb);
const struct cd_node *cd_cdb_node(const struct cd_cdb *cdb, size_t i);
const struct cd_node *cd_cdb_node_by_name(const struct cd_cdb *cdb,
                                          const char *name);
const struct cd_node *cd_cdb_node_by_id(const struct cd_cdb *cdb,
                                        uint32_t nodeid);
size_t cd_cdb_volume_count(const struct cd_cdb *cdb);
const struct cd_volume *cd_cdb_volume(const struct cd_cdb *cdb, size_t i);
size_t cd_cdb_vm_count(const struct cd_cdb *cdb);
const struct cd_vm *cd_cdb_vm(const struct cd_cdb *cdb, size_t i);
const struct cd_vm *cd_cdb_vm_by_name(const struct cd_cdb *cdb,
                                      const char *name);
/* The VM other than `except` whose definition has `uuid` (any case), or
 * NULL: hvagent keys VMs by uuid and MAC addresses derive from it, so
 * two VMs with one uuid could never run side by side. */
const struct cd_vm *cd_cdb_vm_by_uuid(const struct cd_cdb *cdb,
                                      const char *uuid, const char *except);
/* The refusal of a definition whose uuid VM `other` has, in err. */
void cd_cdb_uuid_taken_msg(const char *vm, const struct cd_vm *other,
                           const char *uuid, char *err, size_t errlen);
/* The VM other than `except` with a NIC of MAC `mac`, or NULL: two
 * guests with one MAC on a network lose each other's packets. */
const struct cd_vm *cd_cdb_vm_by_mac(const struct cd_cdb *cdb,
                                     const uint8_t mac[6], const char *except);
/* The refusal of a definition whose NIC has MAC `mac` of VM `other`. */
void cd_cdb_mac_taken_msg(const char *vm, const struct cd_vm *other,
                          const uint8_t mac[6], char *err, size_t errlen);
/* Canonical value of a setting (its default when never set). */
const char *cd_cdb_setting(const struct cd_cdb *cdb, const char *key);

/* Canonical serialization, the digest's input and the on-disk and on-wire
 * form: a malloc'd NUL-terminated XML text. */
int cd_cdb_serialize(const struct cd_cdb *cdb, char **ret_text,
                     size_t *ret_len);
/* Parses a serialized CDB: validates it against schemas/cdb.rng (when
 * `schema_path` is non-NULL), rebuilds the model and checks the recorded
 * digest (CD_E_CORRUPT on mismatch). `name` is used in messages. */
int cd_cdb_parse(const char *text, size_t len, const char *name,
                 const char *schema_path, struct cd_cdb **ret_cdb, char *err,
                 size_t errlen);

/* Writes `cdb` to `path` durably: temp file, fsync, rename, fsync dir. */
int cd_cdb_save(const struct cd_cdb *cdb, const char *path);
/* Loads `path`. -ENOENT when absent; CMN_E_SCHEMA / CD_E_CORRUPT / parse
 * errors when the file is damaged (the caller sets it aside). */
int cd_cdb_load(const char *path, const char *schema_path,
                struct cd_cdb **ret_cdb, char *err, size_t errlen);
/* Renames a damaged `path` to `path`.bad-<unix time>; the new name goes
 * to ret_name (may be NULL). */
int cd_cdb_set_aside(const char *path, char *ret_name, size_t len);

/* ------------------------------------------------------ change messages */

enum cd_op_type {
    CD_OP_SET_SETTING = 1,  /* name = key, arg = value */
    CD_OP_ADD_NODE,         /* name, nodeid, arg = address, number = MiB */
    CD_OP_REMOVE_NODE,      /* name */
    CD_OP_SET_NODE_STATE,   /* name, arg = state, arg2 = reason; number:
                             * when non-zero, applies only while the node's
                             * quarantined_until equals it (expiry) */
    CD_OP_ADD_VOLUME,       /* name, arg = lockspace, text = LUNs, 1/line */
    CD_OP_REMOVE_VOLUME,    /* name */
    CD_OP_ADD_VM,           /* name, arg = priority, arg2 = ref, text = def */
    CD_OP_REMOVE_VM,        /* name */
    CD_OP_SET_VM_PRIORITY,  /* name, arg = priority */
    CD_OP_SET_VM_TARGET,    /* name, arg = "running" | "stopped" */
    CD_OP_NODE_FAILURE,     /* name = node, number = unix time, arg = what
                             * failed: counted, and an up node with
                             * quarantine-failures of them within
                             * CD_QUARANTINE_PERIOD_S is quarantined for
                             * quarantine-duration */
    CD_OP_SET_VM_DEF,       /* name, arg = priority, text = definition
                             * (vm edit; the caller checked what may change);
                             * arg2 = new ref when non-empty (move-storage) */
    CD_OP_SET_NODE_CPU,     /* name = node, text = CPU capability (res-cpu.h
                             * text form; none = forget it) */
    CD_OP_ADD_LOCAL_VOLUME, /* name, arg = node, arg2 = directory path */
    CD_OP_TYPE_END,
};

const char *cd_op_type_name(enum cd_op_type t);

struct cd_op {
    enum cd_op_type type;
    uint64_t request_id; /* sender's correlation id; not part of the CDB */
    uint32_t nodeid;
    uint64_t number;
    char name[CD_NAME_MAX];
    char arg[CD_VALUE_MAX];
    char arg2[CD_VALUE_MAX];
    char *text; /* malloc'd or NULL */
};

void cd_op_clear(struct cd_op *op); /* frees text, zeroes */

/* Explicit little-endian encoding (cd-msg.c): a malloc'd buffer. */
int cd_op_encode(const struct cd_op *op, void **ret_buf, size_t *ret_len);
/* CD_E_MSG_VERSION for a version it does not know; rejects anything
 * malformed with CD_E_BAD_MSG: short, bad magic,
 * checksum, unknown type, over-long or non-terminated strings. */
int cd_op_decode(const void *buf, size_t len, struct cd_op *ret_op);

/* Applies `op`: on success the epoch grows by one and the digest is
 * recomputed; on failure the document is unchanged and a one-line reason
 * naming the input goes to err. */
int cd_cdb_apply(struct cd_cdb *cdb, const struct cd_op *op, char *err,
                 size_t errlen);

CMN_DEFINE_AUTO(cd_cdb, cd_cdb_free)

#endif
