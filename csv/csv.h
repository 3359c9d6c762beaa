/* The cluster-shared volume (CSV): on-disk format, extent allocator and
 * the sanlock lockspace and leases that guard it.
 *
 * A volume is a LUN (or a file) laid out, at offsets recorded in its
 * superblock, as:
 *
 *     superblock (copies A and B)
 *     sanlock lockspace (one delta lease per host_id)
 *     resource leases (the metadata lease, then one lease per VM slot)
 *     metadata: the extent map and the VM slots, each record twice (A/B)
 *     data area: extents for VM disks and saved-state images
 *
 * Every metadata change happens while this process holds the metadata
 * lease (csv_lock), and is one record written to the copy that does not
 * hold the current generation: a crash at any point leaves the last
 * committed state readable.
 *
 * A VM slot's disks and state images are extents whose owner is the slot
 * (owner, kind, index in the extent map): every change is then one record,
 * and an allocation can never be half-recorded in a slot and the map.
 *
 * A csv_volume is used by one thread at a time (its sanlock registration
 * is a single connection).
 */
#ifndef KVMC_CSV_H
#define KVMC_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cmn-err.h"

enum csv_err {
    CSV_E_BAD_MAGIC = CMN_E_CSV_BASE + 1, /* not a CSV record */
    CSV_E_BAD_VERSION,  /* record of an unsupported format version */
    CSV_E_BAD_CRC,      /* record checksum mismatch (torn or damaged) */
    CSV_E_WRONG_VOLUME, /* record belongs to an earlier format */
    CSV_E_BAD_LENGTH,   /* record length field out of range */
    CSV_E_TOO_SMALL,    /* device too small for the layout */
    CSV_E_BAD_GEOMETRY, /* superblock geometry inconsistent */
    CSV_E_EXISTS,       /* format: device carries a valid CSV */
    CSV_E_HOSTS_LIVE,   /* format: a host is live in the lockspace */
    CSV_E_NOT_LOCKED,   /* change without holding the metadata lease */
    CSV_E_LEASE_BUSY,   /* metadata lease held elsewhere past deadline */
    CSV_E_LEASE,        /* sanlock refused the lease */
    CSV_E_NO_SPACE,     /* no free range large enough */
    CSV_E_MAP_FULL,     /* extent map has no free entry */
    CSV_E_NO_EXTENT,    /* no extent with that id */
    CSV_E_NO_SLOT,      /* no such VM slot / no free slot */
    CSV_E_SLOT_BUSY,    /* slot still owns extents */
    CSV_E_BAD_NAME,     /* name empty, too long or bad characters */
    CSV_E_DAMAGED,      /* check found damage */
    CSV_E_READ_ONLY,    /* volume opened read-only */
    CSV_E_CANT_GROW,    /* no room after the extent (and no move) */
    CSV_E_BAD_EXTMAP,   /* extent map with a valid crc but bad content */
    CSV_E_NOT_OWNER,    /* extent belongs to another VM slot */
    CSV_E_NO_LOCKSPACE, /* this host's sanlock has not joined the lockspace */
    CSV_E_BAD_ALIGN,    /* format: lease alignment not possible here */
    CSV_E_END,
};

/* Registers the texts of the csv error block with cmn_strerror(). Done by
 * a constructor too; calling it again is harmless. */
void csv_err_register(void);

#define CSV_NAME_MAX    47 /* volume name = sanlock lockspace name */
#define CSV_CLUSTER_MAX 63
#define CSV_VM_NAME_MAX 63
#define CSV_TAG_MAX     31
#define CSV_OWNER_NONE  0xffffffffu /* extent owned by the volume itself */

enum csv_region_type {
    CSV_REGION_SUPERBLOCK = 1,
    CSV_REGION_LOCKSPACE = 2,
    CSV_REGION_LEASES = 3,
    CSV_REGION_EXTMAP = 4,
    CSV_REGION_SLOTS = 5,
    CSV_REGION_DATA = 6,
};
#define CSV_REGION_COUNT 6

enum csv_extent_kind {
    CSV_EXTENT_DISK = 1,  /* a VM disk (raw, offset/size) */
    CSV_EXTENT_STATE = 2, /* a saved-state image */
    CSV_EXTENT_OTHER = 3,
};

struct csv_region {
    uint32_t type;  /* enum csv_region_type */
    uint32_t count; /* records in the region (leases, slots, ...) */
    uint64_t offset;
    uint64_t length;
};

/* The superblock as decoded (host byte order). */
struct csv_super {
    uint16_t version;
    uint64_t generation;
    uint8_t uuid[16];
    char name[CSV_NAME_MAX + 1];
    char cluster[CSV_CLUSTER_MAX + 1];
    uint32_t sector_size;
    uint32_t align;      /* sanlock align size of lockspace and leases */
    uint32_t io_timeout; /* seconds, as the lockspace was written */
    uint32_t max_hosts;
    uint32_t nslots;
    uint32_t max_extents;
    uint32_t slot_rec_size;   /* bytes of one slot record copy */
    uint32_t extmap_rec_size; /* bytes of one extent-map copy */
    uint32_t alloc_unit;      /* extents are multiples of this */
    uint64_t volume_size;     /* device size at format time */
    uint64_t created;         /* unix time */
    struct csv_region regions[CSV_REGION_COUNT];
};

struct csv_extent {
    uint64_t id; /* unique within the volume, never reused */
    uint64_t offset;
    uint64_t length;
    uint32_t owner; /* slot index or CSV_OWNER_NONE */
    uint16_t kind;  /* enum csv_extent_kind */
    uint16_t index; /* disk number within the owner */
    char tag[CSV_TAG_MAX + 1];
};

struct csv_slot {
    uint32_t index;
    bool used;
    uint64_t generation;
    uint8_t uuid[16];
    char name[CSV_VM_NAME_MAX + 1];
    size_t xml_len;
    char *xml; /* NUL-terminated; owned by the csv_slot */
};

/* Test and embedding hooks; NULL everywhere means the real thing (file or
 * block device I/O, sanlock). See csv-int.h. */
struct csv_hooks;

struct csv_format_opts {
    const char *name;     /* volume and lockspace name (required) */
    const char *cluster;  /* cluster name; NULL = "" */
    uint32_t io_timeout;  /* sanlock io_timeout seconds; 0 = 10 */
    uint32_t sector_size; /* 512 or 4096; 0 = detect */
    uint32_t nslots;      /* VM slots; 0 = 64 */
    uint32_t max_extents; /* extent-map entries; 0 = 4096 */
    uint32_t lease_align; /* sanlock area alignment, bytes; 0 = 8 MiB at
                           * 4096-byte sectors, 1 MiB at 512 */
    bool force;           /* overwrite a valid CSV (never a live one) */
    const uint8_t *uuid;  /* 16 bytes; NULL = random */
};

/* At least this many host ids fit in every lockspace: a cluster's 16
 * nodes, whose corosync node ids are their host ids. */
#define CSV_MIN_HOSTS 16

/* The host ids a lockspace holds with sanlock's areas aligned at `align`
 * bytes on `sector`-byte sectors (sanlock's own table: 2000 at 512 bytes
 * and 1 MiB; 250 per MiB at 4096 bytes), into *ret_hosts;
 * -CSV_E_BAD_ALIGN when sanlock has no such layout (512-byte sectors take
 * 1 MiB only; 4096-byte sectors 1, 2, 4 or 8 MiB) or fewer than
 * CSV_MIN_HOSTS would fit. */
int csv_lease_geometry(uint32_t sector, uint32_t align, uint32_t *ret_hosts);

/* Formats `path`. Refuses (CSV_E_EXISTS) a device that carries a valid CSV
 * superblock unless opts->force, and always (CSV_E_HOSTS_LIVE) while a
 * host is live in that CSV's lockspace. */
int csv_format(const char *path, const struct csv_format_opts *opts,
               const struct csv_hooks *hooks);

struct csv_volume;

enum csv_open_flags {
    CSV_OPEN_RW = 1 << 0,
};

/* Opens a formatted volume: reads both superblock copies (the valid one
 * with the higher generation wins) and the metadata. */
int csv_open(const char *path, unsigned flags, const struct csv_hooks *hooks,
             struct csv_volume **ret_vol);
void csv_close(struct csv_volume *vol);

const struct csv_super *csv_super(const struct csv_volume *vol);
const char *csv_path(const struct csv_volume *vol);
/* 0 if copy `copy` (0 = A, 1 = B) of the superblock decoded, else its
 * error as read at open time. */
int csv_super_copy_status(const struct csv_volume *vol, int copy);

/* Re-reads the metadata records from disk (after another host changed
 * them). csv_lock does it already. */
int csv_reload(struct csv_volume *vol);

/* The metadata lease: csv_lock acquires it for this process (through the
 * sanlock daemon; the lockspace must have been joined by this host),
 * retrying while another host holds it for up to `timeout_ms`, and
 * re-reads the metadata. */
int csv_lock(struct csv_volume *vol, int timeout_ms);
int csv_unlock(struct csv_volume *vol);
bool csv_locked(const struct csv_volume *vol);

/* 0 when the extent map loaded; otherwise why not: CSV_E_BAD_EXTMAP
 * (a copy with a valid crc but bad content; *ret_fault, if ret_fault is
 * non-NULL, names the first fault, e.g. "extents 3 and 4 overlap at
 * 9437184") or CSV_E_DAMAGED (no copy with a valid crc, fault NULL).
 * Changes and extent look-ups are refused meanwhile. */
int csv_map_status(const struct csv_volume *vol, const char **ret_fault);

/* Extents. Sizes are rounded up to the allocation unit. */
int csv_extent_alloc(struct csv_volume *vol, uint64_t size, uint32_t owner,
                     uint16_t kind, uint16_t index, const char *tag,
                     struct csv_extent *ret_extent);
int csv_extent_free(struct csv_volume *vol, uint64_t id);
enum csv_grow_flags {
    CSV_GROW_MOVE = 1 << 0, /* relocate (copying data) if no room after */
};
int csv_extent_grow(struct csv_volume *vol, uint64_t id, uint64_t new_size,
                    unsigned flags, struct csv_extent *ret_extent);
int csv_extent_get(const struct csv_volume *vol, uint64_t id,
                   struct csv_extent *ret_extent);
/* The same, refused with CSV_E_NOT_OWNER unless slot `owner` owns it: what
 * a VM is given must be its own, whatever the reference said. */
int csv_extent_get_owned(const struct csv_volume *vol, uint64_t id,
                         uint32_t owner, struct csv_extent *ret_extent);
/* Extents in offset order. The array is the caller's (free()). */
int csv_extent_list(const struct csv_volume *vol,
                    struct csv_extent **ret_extents, size_t *ret_count);

struct csv_space {
    uint64_t data_offset, data_length;
    uint64_t used, free;
    uint64_t largest_free;
    size_t extents, max_extents;
};
int csv_space(const struct csv_volume *vol, struct csv_space *ret_space);

/* VM slots. */
int csv_slot_create(struct csv_volume *vol, const char *name,
                    const uint8_t uuid[16], const char *xml,
                    uint32_t *ret_index);
int csv_slot_set_xml(struct csv_volume *vol, uint32_t index, const char *xml);
/* Refuses (CSV_E_SLOT_BUSY) while the slot owns extents. */
int csv_slot_delete(struct csv_volume *vol, uint32_t index);
/* Copies the slot out; free with csv_slot_clear(). */
int csv_slot_get(struct csv_volume *vol, uint32_t index,
                 struct csv_slot *ret_slot);
int csv_slot_find(struct csv_volume *vol, const char *name,
                  uint32_t *ret_index);
void csv_slot_clear(struct csv_slot *slot);

/* Where a slot's VM lease (or, with index CSV_OWNER_NONE, the metadata
 * lease) lives, for sanlock_acquire by hvagent. */
struct csv_lease_loc {
    char lockspace[CSV_NAME_MAX + 1];
    char resource[48];
    uint64_t offset;
    uint32_t align, sector_size;
};
int csv_lease_location(const struct csv_volume *vol, uint32_t slot,
                       struct csv_lease_loc *ret_loc);

/* Takes slot `slot`'s VM lease for this process and releases it at once:
 * 0 when nobody held it (no QEMU runs that slot's VM anywhere), -EAGAIN
 * when some host holds it. Used before reclaiming an orphaned slot. */
int csv_slot_lease_probe(struct csv_volume *vol, uint32_t slot);
/* Takes slot `slot`'s VM lease for this process and keeps it until
 * csv_slot_lease_drop (or csv_close): -EAGAIN when some host holds it.
 * A stopped VM's storage move holds it so that no QEMU can start the VM
 * from disks being copied. */
int csv_slot_lease_hold(struct csv_volume *vol, uint32_t slot);
int csv_slot_lease_drop(struct csv_volume *vol, uint32_t slot);
/* The host id that holds slot `slot`'s lease (CSV_OWNER_NONE: the
 * metadata lease) as recorded on disk, 0 when none; -ENOTSUP without
 * sanlock (test hooks). */
int csv_lease_owner(struct csv_volume *vol, uint32_t slot,
                    uint64_t *ret_host_id);

/* 1 when the lease `resource` of `lockspace` at `path`:`offset` is held
 * by a live host (an acquire would fail), 0 when free or its owner is
 * dead, negative when unknown. Read through the local sanlock daemon,
 * which knows which hosts of the lockspace are alive: clusterd asks it
 * before a VM start, so no QEMU starts while the lease is taken. */
int csv_lease_held_live(const char *lockspace, const char *resource,
                        const char *path, uint64_t offset);

/* Lockspace hosts, read from their delta leases on disk, with the local
 * sanlock daemon's view when it has joined the lockspace. */
enum csv_host_state {
    CSV_HOST_UNKNOWN = 0, /* lease held; daemon has no opinion */
    CSV_HOST_FREE,
    CSV_HOST_LIVE,
    CSV_HOST_FAIL,
    CSV_HOST_DEAD,
    CSV_HOST_STALE, /* held, but not renewed while we watched */
};
struct csv_host {
    uint64_t host_id;
    uint64_t generation;
    uint64_t timestamp; /* 0 = lease released */
    char owner[49];     /* the host's sanlock name */
    enum csv_host_state state;
};
const char *csv_host_state_str(enum csv_host_state state);
/* Hosts that ever joined. With `sample_ms` > 0 and no daemon view, leases
 * whose timestamp changes within sample_ms are reported LIVE. */
int csv_hosts(struct csv_volume *vol, int sample_ms,
              struct csv_host **ret_hosts, size_t *ret_count);

/* Joins / leaves the volume's lockspace in the local sanlock daemon as
 * `host_id` (the node's corosync nodeid). Joining blocks until the delta
 * lease is held (a few io_timeouts). -EEXIST if already joined. */
int csv_lockspace_add(struct csv_volume *vol, uint64_t host_id);
int csv_lockspace_rem(struct csv_volume *vol, uint64_t host_id);

/* Where the local sanlock daemon stands with the volume's lockspace for
 * `host_id`: it asks the daemon only (no volume I/O), so it answers
 * quickly even when the volume does not. */
enum csv_ls_state {
    CSV_LS_ABSENT = 0, /* not joined (never, removed, or dropped) */
    CSV_LS_ADDING,     /* joining: the delta lease is being acquired */
    CSV_LS_JOINED,
    CSV_LS_REMOVING,
};
const char *csv_ls_state_str(enum csv_ls_state state);
/* 0 with the state, or a negative errno when sanlock does not answer. */
int csv_lockspace_state(const struct csv_volume *vol, uint64_t host_id,
                        enum csv_ls_state *ret_state);

/* Consistency check: both superblock copies, every metadata record (one
 * good copy of each is enough: the other may be a torn write), extents
 * within the data area, no overlap, no extent of a free slot, the sanlock
 * lockspace and lease records present. Every finding is passed to `report`
 * (if non-NULL); returns 0 if clean, CSV_E_DAMAGED otherwise. */
enum csv_finding { CSV_FIND_INFO, CSV_FIND_DAMAGE };
typedef void (*csv_report_fn)(void *opaque, enum csv_finding kind,
                              const char *msg);
int csv_check(struct csv_volume *vol, csv_report_fn report, void *opaque);
/* Rewrites a damaged superblock copy from the good one. */
int csv_repair_super(struct csv_volume *vol);

const char *csv_region_name(uint32_t type);
void csv_uuid_str(const uint8_t uuid[16], char out[37]);

/* ---- saved-state header (csv-state.c) --------------------------------------
 * The record in front of a VM's saved state in its state extent (quick
 * migration). Pure codec: no I/O, for hvagent and the fuzzers. */
#define CSV_STATE_MAGIC    0x5441545343564b4bULL /* "KKVCSTAT" LE */
#define CSV_STATE_VERSION  2    /* 2: generation, crc over the whole header */
#define CSV_STATE_HDR_SIZE 4096 /* the state starts here (O_DIRECT) */

struct csv_state_hdr {
    uint64_t generation; /* the writer's count of saves into the extent */
    char uuid[40];       /* the VM's */
    uint64_t length;     /* bytes of state after the header */
    uint32_t data_crc;   /* crc32c of those bytes */
    uint64_t timestamp;  /* unix seconds when saved */
};

/* Fills CSV_STATE_HDR_SIZE bytes of `buf`. */
void csv_state_hdr_encode(const struct csv_state_hdr *h, uint8_t *buf);
/* Decodes the header in `buf` (`bufsize` bytes) of a state extent of
 * `extent_size` bytes (header included). Errors, checked in this order:
 * CSV_E_BAD_MAGIC (no saved state), CSV_E_BAD_VERSION, CSV_E_BAD_LENGTH
 * (header size field), CSV_E_BAD_CRC (torn or damaged), CSV_E_BAD_LENGTH
 * (non-zero bytes past the fields, uuid unterminated, or a state longer
 * than the extent). ret_h is written only on success. */
int csv_state_hdr_decode(const uint8_t *buf, size_t bufsize,
                         uint64_t extent_size, struct csv_state_hdr *ret_h);

#include "common/cmn-auto.h"
CMN_DEFINE_AUTO(csv_volume, csv_close)

#endif
