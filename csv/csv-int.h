/* csv/ internals: on-disk encoding, the I/O and lease layers. */
#ifndef KVMC_CSV_INT_H
#define KVMC_CSV_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cmn-le.h"
#include "csv/csv.h"

/* ---- on-disk constants ------------------------------------------------ */

#define CSV_VERSION 1

/* Every record starts with the same 32-byte frame, little-endian:
 *   0 magic u32     4 version u16   6 header size u16 (32)
 *   8 generation u64
 *  16 payload length u32            20 crc32c u32
 *  24 first 8 bytes of the volume uuid (0 in the superblock)
 * The crc covers the frame (crc field as 0) and the payload. */
#define CSV_FRAME_SIZE   32
#define CSV_MAGIC_SUPER  0x5653434bu /* "KCSV" */
#define CSV_MAGIC_EXTMAP 0x5845434bu /* "KCEX" */
#define CSV_MAGIC_SLOT   0x5453434bu /* "KCST" */

#define CSV_SUPER_SIZE     4096
#define CSV_SUPER_B_OFFSET 65536 /* copy B, a different sector range */
#define CSV_REGION_ENC     24
#define CSV_EXTENT_ENC     64
#define CSV_EXTMAP_HDR     16 /* next_id u64, count u32, reserved u32 */
#define CSV_SLOT_HDR       96 /* state, xml_len, uuid, name */
#define CSV_SLOT_REC_SIZE  65536
#define CSV_ALLOC_UNIT     (1u << 20)
#define CSV_IO_ALIGN       4096 /* buffers and metadata I/O */

#define CSV_DEFAULT_SLOTS      64
#define CSV_DEFAULT_EXTENTS    4096
#define CSV_DEFAULT_IO_TIMEOUT 10
#define CSV_META_LEASE_NAME    "csv-meta"
/* Host ids that may hold resource leases (sanlock's num_hosts). Every
 * acquisition reads one sector per possible host, so sanlock's default of
 * 2000 reads 8 MiB per ballot on a 4 KiB-sector LUN. A cluster has at most
 * 16 nodes; their corosync node ids (= host ids) must be <= this. */
#define CSV_LEASE_HOSTS 128

/* sanlock's on-disk leader record (src/leader.h): the fields we read. */
#define CSV_SANLK_DELTA_MAGIC 0x12212010u
#define CSV_SANLK_PAXOS_MAGIC 0x06152010u

/* ---- record frame and codecs (csv-ondisk.c) ------------------------------ */

struct csv_frame {
    uint32_t magic;
    uint16_t version;
    uint64_t generation;
    uint32_t length; /* payload bytes */
    uint64_t uuid8;
};

/* Seals `buf` (CSV_FRAME_SIZE + f->length bytes): writes the frame and the
 * crc over frame and payload. */
void csv_frame_seal(uint8_t *buf, const struct csv_frame *f);
/* Verifies a record in `buf` of `bufsize` bytes; on success fills
 * ret_frame. Errors in order: magic, version, length, crc, uuid8 (when
 * `uuid8` is non-zero). */
int csv_frame_open(const uint8_t *buf, size_t bufsize, uint32_t magic,
                   uint64_t uuid8, struct csv_frame *ret_frame);
uint64_t csv_uuid8(const uint8_t uuid[16]);

/* Superblock: CSV_SUPER_SIZE bytes. */
void csv_super_encode(const struct csv_super *sb, uint8_t *buf);
int csv_super_decode(const uint8_t *buf, struct csv_super *ret_sb);

/* Extent map: payload = header + count entries. */
struct csv_extmap {
    uint64_t generation;
    uint64_t next_id;
    size_t count, cap;
    struct csv_extent *ext; /* sorted by offset */
};
size_t csv_extmap_encoded_size(size_t count);
void csv_extmap_encode(const struct csv_extmap *map, uint64_t uuid8,
                       uint8_t *buf);
int csv_extmap_decode(const uint8_t *buf, size_t bufsize, uint64_t uuid8,
                      size_t max_extents, struct csv_extmap *ret_map);

#define CSV_FAULT_MAX 200
/* What csv_extmap_validate found: how many faults, the first in words. */
struct csv_extmap_faults {
    size_t count;
    char first[CSV_FAULT_MAX];
};
/* The content rules of an extent map, one function for load and check
 * alike (a crc only proves the bytes are the ones written, not that the
 * writer was right): each extent non-empty, aligned to the allocation
 * unit, inside the data area without wrapping around, not overlapping
 * the one before it (the map must be sorted by offset), id in
 * [1, next_id) and used once, owner CSV_OWNER_NONE or a slot index below
 * nslots, kind known. 0, CSV_E_BAD_EXTMAP (faults in ret_faults, may be
 * NULL), CSV_E_BAD_LENGTH when count exceeds max_extents, or -ENOMEM.
 * Pure: no I/O. Whether an owner slot is in use is the check's business:
 * slots are read separately. */
int csv_extmap_validate(const struct csv_extmap *map,
                        const struct csv_super *sb,
                        struct csv_extmap_faults *ret_faults);
/* Sorts the entries by offset, as the allocator and the validation need. */
void csv_extmap_sort(struct csv_extmap *map);

/* Slot record: CSV_SLOT_REC_SIZE bytes at most. */
size_t csv_slot_encoded_size(const struct csv_slot *slot);
void csv_slot_encode(const struct csv_slot *slot, uint64_t uuid8, uint8_t *buf);
int csv_slot_decode(const uint8_t *buf, size_t bufsize, uint64_t uuid8,
                    struct csv_slot *ret_slot);

/* ---- I/O layer (csv-io.c) ------------------------------------------------ */

/* Every byte the csv library reads or writes goes through these, so tests
 * can inject faults (cut the process after the n-th write, tear a write).
 * Offsets and lengths are multiples of the sector size; buffers are
 * CSV_IO_ALIGN-aligned. */
struct csv_io_ops {
    int (*open)(const char *path, bool rw, void **ret_h, uint64_t *ret_size,
                uint32_t *ret_sector);
    int (*pread)(void *h, void *buf, size_t len, uint64_t off);
    int (*pwrite)(void *h, const void *buf, size_t len, uint64_t off);
    int (*flush)(void *h);
    void (*close)(void *h);
};
extern const struct csv_io_ops csv_file_io;

/* ---- lease layer (csv-lease.c) ------------------------------------------ */

/* A lockspace or resource lease on the volume. */
struct csv_lease_target {
    const char *path;
    const char *lockspace;
    const char *resource; /* NULL for the lockspace */
    uint64_t offset;
    uint32_t sector_size, align, io_timeout;
};

/* What the csv library needs of sanlock. The real implementation talks
 * to libsanlock; unit tests on plain files use csv_fake_lease (fcntl
 * locks), so they run without a daemon. */
struct csv_lease_ops {
    /* Initialises the lockspace / a resource lease area on disk. */
    int (*write_lockspace)(const struct csv_lease_target *t);
    int (*write_resource)(const struct csv_lease_target *t);
    /* The local daemon's view of the hosts of a lockspace: -ENOENT if it
     * has not joined it. Array is the caller's. */
    int (*daemon_hosts)(const char *lockspace, struct csv_host **ret_hosts,
                        size_t *ret_count);
    /* Acquires / releases `t` for the calling process. `state` is per
     * volume, initially NULL, freed by release_all. Returns 0, -EAGAIN
     * while another host holds it, or another negative code. */
    int (*acquire)(void **state, const struct csv_lease_target *t);
    int (*release)(void **state, const struct csv_lease_target *t);
    void (*release_all)(void **state);
};
extern const struct csv_lease_ops csv_sanlock_lease;
extern const struct csv_lease_ops csv_fake_lease;
/* Host the fake daemon reports live (0: none), for format refusal tests. */
extern uint64_t csv_fake_live_host;

struct csv_hooks {
    const struct csv_io_ops *io;
    const struct csv_lease_ops *lease;
};

/* ---- the volume ------------------------------------------------------------
 */

struct csv_slot_state {
    struct csv_slot slot;
    bool fresh; /* read since the metadata lease was last taken */
    int cur;    /* copy holding the current generation, -1 = none valid */
    int err[2]; /* decode result per copy at the last load */
};

struct csv_volume {
    char *path;
    bool rw;
    const struct csv_io_ops *io;
    const struct csv_lease_ops *lease;
    void *ioh;
    void *lease_state;
    uint64_t dev_size;
    uint32_t dev_sector;
    bool locked;

    struct csv_super sb;
    int sb_err[2];
    uint64_t uuid8;

    struct csv_extmap map;
    int map_cur; /* copy of the current generation, -1 = none valid */
    int map_err[2];
    /* map_err CSV_E_BAD_EXTMAP: the first fault */
    char map_fault[2][CSV_FAULT_MAX];

    struct csv_slot_state *slots; /* sb.nslots */
};

const struct csv_region *csv_region_get(const struct csv_super *sb,
                                        uint32_t type);
void *csv_iobuf(size_t len); /* aligned, zeroed; free() */
size_t csv_round_up(size_t v, size_t to);

/* Lease helpers (csv-lease.c) */
void csv_lease_target_fill(const struct csv_volume *vol, uint32_t lease_idx,
                           char *resbuf, size_t reslen,
                           struct csv_lease_target *ret_t);
int csv_read_delta_leases(struct csv_volume *vol, struct csv_host **ret_hosts,
                          size_t *ret_count);

/* Loads extent map and slots (csv-volume.c). */
int csv_load_metadata(struct csv_volume *vol);
/* Writes the extent map as the next generation (csv-volume.c). */
int csv_commit_extmap(struct csv_volume *vol, const struct csv_extmap *map);
int csv_commit_slot(struct csv_volume *vol, uint32_t index,
                    const struct csv_slot *slot);
int csv_load_slot(struct csv_volume *vol, uint32_t index);
int csv_writable(const struct csv_volume *vol);
void csv_extmap_clear(struct csv_extmap *map);
int csv_extmap_copy(const struct csv_extmap *src, struct csv_extmap *dst);

#endif
