/* clusterd's use of the cluster-shared volume (csv/csv.h).
 *
 * With a CSV configured (clusterd --csv, [clusterd] csv), a VM lives on
 * it: `vm add` creates the VM's slot (name, uuid, definition), allocates
 * its <allocate> disks and a state extent for quick migration, all under
 * the volume's metadata lease, before the CDB change is proposed; the CDB
 * then records the slot and extents (disks as <extent volume id> in the
 * definition, slot and state extent in the VM's ref, "csv:VOLUME:SLOT:ID").
 * `vm remove` frees them after the CDB removal. Steps for hvagent resolve
 * the VM lease (the slot's lease in the CSV lockspace), the disks and the
 * state image to offsets on the volume.
 *
 * Volume I/O and the sanlock metadata lease can take seconds: every access
 * runs in a worker thread, never in the loop. Changes made by one clusterd
 * are serialised (the csv library keeps one sanlock registration per
 * open volume and one change at a time is what the lease allows anyway).
 */
#ifndef KVMC_CD_CSV_H
#define KVMC_CD_CSV_H

#include <limits.h>
#include <qb/qbloop.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clusterd/cd.h"
#include "clusterd/cd-move-plan.h"
#include "common/cmn-rate.h"

#define CD_CSV_REF_PREFIX "csv:"
/* Room in the state extent beyond the guest's memory: device state and
 * the state header (hvagent's HVA_STATE_HDR_SIZE is far below it). */
#define CD_CSV_STATE_HEADROOM_MIB 64

struct cd_csv;
struct res_vm;
struct cmn_ipc_conn;
struct cd_hva_job;
struct cd_daemon;
struct cd_move;

/* Remembers the volume's path; nothing is read until the first job. */
int cd_csv_new(qb_loop_t *loop, const char *path, struct cd_csv **ret);
void cd_csv_free(struct cd_csv *c);
const char *cd_csv_path(const struct cd_csv *c);
/* Free and total data bytes of the volume at its last periodic scan;
 * false before the first one (or without a CSV). */
bool cd_csv_space(const struct cd_csv *c, uint64_t *ret_free,
                  uint64_t *ret_total);

/* "csv:VOLUME:SLOT:STATE-EXTENT-ID": 0, or CD_E_BAD_VALUE when `ref` is
 * not of that form (a VM not on the CSV). */
int cd_csv_ref_parse(const char *ref, char *ret_volume, size_t volume_len,
                     uint32_t *ret_slot, uint64_t *ret_state);

/* The path of the volume a CSV ref ("csv:VOLUME:...") or a bare volume
 * name names: the LUN file of that CDB volume, beside the main CSV's
 * (lunbridge serves every LUN in one directory); the main CSV's path when
 * the CDB does not list that volume. */
void cd_csv_volume_path(struct cd_daemon *d, const char *ref_or_name, char *buf,
                        size_t len);

/* ------------------------------------------- orphans (pure, no I/O)
 *
 * A slot is an orphan when the CDB has no VM of its name on it (a VM's
 * ref names its slot): left by an add whose CDB change never came, or a
 * remove whose free failed (lunbridge died). Extents owned by a slot that
 * is not in use are orphans too. Orphans are reclaimed only after they
 * stayed orphans for CD_CSV_ORPHAN_GRACE_MS (an add in flight creates its
 * slot before the CDB records it), under the metadata lease, and never
 * while the slot's VM lease is held. */
#define CD_CSV_ORPHAN_GRACE_MS 20000
#define CD_CSV_ORPHAN_EXTENTS  8 /* listed per orphan; the rest counted */

struct csv_slot;
struct csv_extent;
struct csv_host;

/* A VM of the CDB on this volume: its name and slot, or
 * CD_CSV_KNOWN_ANY for its disk slot (a slot of its name that owns the
 * extents of its disks on this volume, move-storage --disk). */
#define CD_CSV_KNOWN_ANY 0xfffffffeu
struct cd_csv_known {
    char vm[CD_NAME_MAX];
    uint32_t slot;
};

/* A storage move's target slot, until its copy is sealed, holds this
 * marker instead of a definition: the moving node (its corosync nodeid,
 * which is its sanlock host id) and that host's generation in the
 * lockspace of the volume the VM moves from, where the mover's writer
 * (its QEMU, or the clusterd that copies) holds the VM's lease. */
struct cd_csv_mover {
    char from[CD_NAME_MAX]; /* the source volume */
    uint32_t node;
    uint64_t generation;
};

struct cd_csv_orphan {
    uint32_t slot;
    bool slot_used;    /* false: extents of a free slot */
    uint64_t slot_gen; /* generation of the slot record */
    char vm[CD_NAME_MAX];
    char uuid[37];
    size_t nextents;
    uint64_t extents[CD_CSV_ORPHAN_EXTENTS];
    uint64_t bytes;
    bool moving; /* the slot holds a move's marker (mover) */
    struct cd_csv_mover mover;
};

/* The marker a move writes into its target slot ("<move-target .../>"):
 * 0, or -ENAMETOOLONG. */
int cd_csv_mover_format(char *buf, size_t len, const struct cd_csv_mover *mv);
/* 0 with *ret filled when `xml` is such a marker, else CD_E_BAD_VALUE. */
int cd_csv_mover_parse(const char *xml, struct cd_csv_mover *ret);

/* Is the move that wrote `mv` cut? Only when sanlock says its writer
 * cannot write any more: the mover's host in the source lockspace
 * (`hosts`, as csv_hosts reads them) is dead, or joined since with
 * another generation (sanlock ended every lease of the old one, and
 * with it the QEMU or clusterd that held the VM's). Anything else,
 * unknown included, keeps the target: freeing extents still written to
 * could give them to another VM. */
bool cd_csv_move_cut(const struct cd_csv_mover *mv,
                     const struct csv_host *hosts, size_t nhosts);

/* The VMs of `cdb` that live on volume `volume` (from their refs). The
 * array is the caller's. */
int cd_csv_known_from_cdb(const struct cd_cdb *cdb, const char *volume,
                          struct cd_csv_known **ret, size_t *ret_n);
/* Compares the volume's slots (every index, used or not) and extents
 * with the CDB's VMs: orphans in slot order. The array is the caller's. */
int cd_csv_orphans(const struct csv_slot *slots, size_t nslots,
                   const struct csv_extent *ext, size_t next,
                   const struct cd_csv_known *known, size_t nknown,
                   struct cd_csv_orphan **ret, size_t *ret_n);

enum cd_csv_op {
    CD_CSV_ALLOC, /* slot, disks and state extent of `def` */
    CD_CSV_FREE,  /* everything slot `ref` owns, then the slot */
    /* slot `ref` keeps def_xml; its state extent grows to fit def */
    CD_CSV_SET_DEF,
    CD_CSV_CHECK,   /* the volume's check, and its orphans against `known` */
    CD_CSV_RECLAIM, /* frees the `eligible` orphans that still are orphans */
    /* `vm disk add` (cd-csv-disk.c): the extent of def->disks[disk_index]
     * (an <allocate>), owned by slot `ref`; hot-plugged through hva_ipc
     * when set; then the slot keeps def (def_xml, the result). */
    CD_CSV_DISK_ADD,
    /* `vm disk remove` of a running VM: hvagent's disk-remove of
     * disk_slot through hva_ipc; the volume is not touched. */
    CD_CSV_DISK_UNPLUG,
    /* disk-remove first when hva_ipc is set (the undo of an add), then
     * extent disk_extent of slot `ref` freed and the slot given def_xml
     * when set. */
    CD_CSV_DISK_FREE,
    /* move-storage (cd-csv-move.c, j->move): PREPARE holds the source
     * slot's VM lease and makes the target slot and extents; COPY copies
     * the data (without this node's change lock) and stores the new
     * definition in the target slot, or undoes the target; FINISH frees
     * the source (move->commit) or the target, and lets the lease go. */
    CD_CSV_MOVE_PREPARE,
    CD_CSV_MOVE_COPY,
    CD_CSV_MOVE_FINISH,
};

/* A move-storage in progress (cd-csv-move.c): set up by the loop
 * (paths, names), filled by the worker. `done` is read by the loop while
 * the copy runs. */
struct cd_move {
    char src_path[PATH_MAX], dst_path[PATH_MAX];
    char src_volume[CD_NAME_MAX], dst_volume[CD_NAME_MAX];
    uint32_t src_slot, dst_slot;
    uint64_t src_state; /* state extent id (from the ref) */
    size_t ncopies;
    struct cd_move_copy copies[CD_MOVE_MAX];
    uint64_t total;        /* bytes to copy */
    uint64_t bandwidth;    /* bytes per second, 0 = unlimited */
    uint64_t t0_ms;        /* the worker's: when this range began */
    _Atomic uint64_t done; /* bytes copied */
    /* The worker's samples of `done`, and the rate over their window
     * that the loop reads (bytes per second, 0 while unknown). */
    struct cmn_rate rate_win;
    _Atomic uint64_t rate;
    struct csv_volume *src; /* open; the source slot's VM lease held */
    bool dst_made;          /* the target slot exists */
    bool commit;            /* FINISH: the CDB took the move */
    char new_ref[CD_VALUE_MAX];
    /* A running VM (cd-csv-move.c's mirror): its QEMU copies through
     * hvagent (hva_ipc) instead of the O_DIRECT copy; src holds no lease
     * (the QEMU holds it). */
    bool live;
    bool write_blocking;
    char hva_ipc[64];
    char dst_lease_ls[64], dst_lease_res[48]; /* the target slot's lease */
    uint64_t dst_lease_offset;
    /* Set by the loop (move-storage --cancel): the copy stops and the
     * target is freed, as after a failure. */
    _Atomic bool cancel;
    /* the worker's: hvagent switched the disks (complete asked); a
     * failure after it may have left the guest on the target */
    bool completing, switched;
    bool mirror_gone;   /* hvagent has no mirror left to cancel */
    uint64_t state_len; /* counted as done: the state header is zeroed */
    /* --disk, a part of the disks (cd_move_select): the VM's slot, state
     * extent and lease stay on home_volume. src_* name the volume the
     * disks leave and the slot that owns their extents there (the VM's
     * own, or its disk slot: a slot of the VM's name owning only disk
     * extents); the target's extents go to the VM's slot on dst_volume,
     * made by this move when it had none (dst_slot_new). A stopped VM's
     * home lease is held through `home` when the disks leave another
     * volume. */
    bool partial;
    size_t nsel, sel[RES_VM_MAX_DISKS]; /* the disks, by definition index */
    char home_volume[CD_NAME_MAX], home_path[PATH_MAX];
    uint32_t home_slot;
    struct csv_volume *home;
    bool dst_slot_new;
    size_t ndst;   /* target extents allocated (copies[0..ndst)) */
    uint32_t node; /* this node's id: the mover the target's marker names */
};

struct cd_csv_job {
    enum cd_csv_op op;
    char vm[CD_NAME_MAX];
    struct res_vm *def;     /* ALLOC, SET_DEF: the definition (owned) */
    char ref[CD_VALUE_MAX]; /* ALLOC: result; FREE: input */
    char *def_xml;          /* ALLOC: result; SET_DEF: input (owned) */
    int rc;
    char msg[768];

    /* CHECK, RECLAIM: the volume to open ("" = the main CSV) and, when
     * want_volume is set, the name its superblock must have (a volume
     * named by the client). */
    char path[PATH_MAX];
    char want_volume[CD_NAME_MAX];
    /* CHECK, RECLAIM: the CDB's VMs (owned), each with the volume its
     * ref names (known_vol[i]): only those of the opened volume count. */
    struct cd_csv_known *known;
    char (*known_vol)[CD_NAME_MAX];
    size_t nknown;
    /* RECLAIM: slots (and their record generations and volumes) orphaned
     * long enough (owned). */
    uint32_t *eligible;
    uint64_t *eligible_gen;
    char (*eligible_vol)[CD_NAME_MAX];
    size_t neligible;
    /* CHECK, RECLAIM results: orphans found (owned), the volume's name,
     * findings of the format check and of the reclaim as XML elements
     * (owned), space. */
    struct cd_csv_orphan *orphans;
    size_t norphans;
    char volume[CD_NAME_MAX];
    char *report;
    int damage;
    unsigned reclaimed, kept;
    uint64_t free_bytes, total_bytes;

    /* DISK_*: the disk, and hvagent's IPC name when the VM runs here
     * ("" = it does not: the definition alone changes). */
    size_t disk_index;
    char disk_target[16];
    bool disk_hotplug; /* the guest got (or let go of) the device */
    bool disk_scsi;    /* ADD: on the virtio-scsi controller */
    unsigned disk_slot;
    uint64_t disk_extent, disk_size, disk_offset;
    char hva_ipc[64];

    /* MOVE_*: the move in progress (owned; cd-csv-move.c). */
    struct cd_move *move;

    /* The caller's, carried along (not touched by cd-csv.c). */
    struct cmn_ipc_conn *conn;
    /* A request forwarded by node fwd_node (cd-fwd.h): the answer goes
     * back there (fwd_d's corosync) rather than to conn. */
    struct cd_daemon *fwd_d;
    uint32_t fwd_node;
    uint64_t fwd_id;
    char *reply;
    char priority[16];
};

typedef void (*cd_csv_done_fn)(void *data, struct cd_csv_job *job);

/* Runs `job` in a worker thread; `done` is called in the loop, and then
 * owns the job (cd_csv_job_free). */
int cd_csv_run(struct cd_csv *c, struct cd_csv_job *job, cd_csv_done_fn done,
               void *data);
void cd_csv_job_free(struct cd_csv_job *job);

/* The job answers where the request came from: the local client `conn`
 * (referenced), or the node of `from` when it is not 0. */
struct cd_fwd_origin;
void cd_csv_job_origin(struct cd_csv_job *j, struct cd_daemon *d,
                       struct cmn_ipc_conn *conn,
                       const struct cd_fwd_origin *from);
/* Undoes cd_csv_job_origin when the caller answers itself (the job
 * could not start). */
void cd_csv_job_drop_origin(struct cd_csv_job *j);
/* Answers the job's client, if any (or the node it was forwarded from),
 * with `reply`, or j->reply when reply is NULL ("out of memory" when both
 * are), once: the job is kept (a move answers when accepted and goes on). */
void cd_csv_job_reply(struct cd_csv_job *j, const char *reply);
/* cd_csv_job_reply, then frees the job. */
void cd_csv_job_answer(struct cd_csv_job *j, const char *reply);

/* `volume check [VOLUME]` / `--repair` through clusterd: runs the job on
 * volume `volume` (a CDB volume's or the main CSV's name; NULL = the main
 * CSV) and answers `conn` (CMN_IPC_DEFERRED), or an error in *ret. */
int cd_csv_ipc(struct cd_daemon *d, struct cmn_ipc_conn *conn, bool repair,
               const char *volume, char **ret);
/* Every few seconds (cd-orch's tick): looks for orphans in a worker, on
 * the main CSV and then on every other volume of the CDB, and keeps when
 * each was first seen (per volume); the coordinator (`reclaim`) frees
 * those orphaned for CD_CSV_ORPHAN_GRACE_MS: the free that a dead path
 * made fail is retried once the path is back (a move's target slot left
 * on a second volume is reclaimed the same way). */
void cd_csv_tick(struct cd_daemon *d, bool reclaim);

/* cd_hva_job.prepare for a VM on the CSV (runs in cd-hva's worker): fills
 * the job's lease from the slot and, when the job defines the VM, adds
 * <disk>, <lease> and <state> to its runtime <vm>. */
int cd_csv_prepare(struct cd_hva_job *j);

#endif
