/* Volume format, open, metadata records, the metadata lease and check. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/cmn-auto.h"
#include "common/cmn-time.h"
#include "csv/csv-int.h"

/* ---- errors -----------------------------------------------------------------
 */

static const char *const csv_err_texts[CSV_E_END - CMN_E_CSV_BASE] = {
    [CSV_E_BAD_MAGIC - CMN_E_CSV_BASE] =
        "not a cluster-shared volume (bad magic)",
    [CSV_E_BAD_VERSION - CMN_E_CSV_BASE] =
        "unsupported cluster-shared volume format version",
    [CSV_E_BAD_CRC - CMN_E_CSV_BASE] = "record checksum mismatch",
    [CSV_E_WRONG_VOLUME - CMN_E_CSV_BASE] =
        "record belongs to another format of the volume",
    [CSV_E_BAD_LENGTH - CMN_E_CSV_BASE] = "record length out of range",
    [CSV_E_TOO_SMALL - CMN_E_CSV_BASE] = "device too small for the layout",
    [CSV_E_BAD_GEOMETRY - CMN_E_CSV_BASE] = "inconsistent volume geometry",
    [CSV_E_EXISTS - CMN_E_CSV_BASE] =
        "device already holds a cluster-shared volume",
    [CSV_E_HOSTS_LIVE - CMN_E_CSV_BASE] =
        "a host is live in the volume's lockspace",
    [CSV_E_NOT_LOCKED - CMN_E_CSV_BASE] =
        "metadata change without holding the metadata lease",
    [CSV_E_LEASE_BUSY - CMN_E_CSV_BASE] = "metadata lease held by another host",
    [CSV_E_LEASE - CMN_E_CSV_BASE] = "sanlock refused the lease",
    [CSV_E_NO_SPACE - CMN_E_CSV_BASE] = "no free space large enough",
    [CSV_E_MAP_FULL - CMN_E_CSV_BASE] = "extent map full",
    [CSV_E_NO_EXTENT - CMN_E_CSV_BASE] = "no such extent",
    [CSV_E_NO_SLOT - CMN_E_CSV_BASE] = "no such VM slot or no free slot",
    [CSV_E_SLOT_BUSY - CMN_E_CSV_BASE] = "VM slot still owns extents",
    [CSV_E_BAD_NAME - CMN_E_CSV_BASE] = "invalid name",
    [CSV_E_DAMAGED - CMN_E_CSV_BASE] = "volume damaged",
    [CSV_E_READ_ONLY - CMN_E_CSV_BASE] = "volume opened read-only",
    [CSV_E_CANT_GROW - CMN_E_CSV_BASE] = "no room to grow the extent",
    [CSV_E_BAD_EXTMAP - CMN_E_CSV_BASE] =
        "extent map content invalid (see 'clusterctl volume check')",
    [CSV_E_NOT_OWNER - CMN_E_CSV_BASE] = "extent belongs to another VM slot",
    [CSV_E_NO_LOCKSPACE - CMN_E_CSV_BASE] =
        "this host's sanlock has not joined the volume's lockspace",
    [CSV_E_BAD_ALIGN - CMN_E_CSV_BASE] =
        "lease alignment not possible with this sector size",
};

void csv_err_register(void)
{
    cmn_err_register(CMN_E_CSV_BASE, csv_err_texts,
                     (int)CMN_ARRAY_SIZE(csv_err_texts));
}

__attribute__((constructor)) static void csv_err_ctor(void)
{
    csv_err_register();
}

/* ---- small helpers
 * ----------------------------------------------------------- */

const struct csv_region *csv_region_get(const struct csv_super *sb,
                                        uint32_t type)
{
    return &sb->regions[type - 1];
}

const char *csv_region_name(uint32_t type)
{
    static const char *const names[] = {
        "?",          "superblock", "lockspace", "leases",
        "extent-map", "vm-slots",   "data",
    };
    return type <= CSV_REGION_COUNT ? names[type] : "?";
}

void csv_uuid_str(const uint8_t u[16], char out[37])
{
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x",
             u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10],
             u[11], u[12], u[13], u[14], u[15]);
}

static int valid_name(const char *s, size_t max, bool lockspace)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > max)
        return -CSV_E_BAD_NAME;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        /* sanlock separates fields of its names with ':' and ' ' */
        if (lockspace ? !(isalnum(c) || c == '-' || c == '_' || c == '.')
                      : (c < 0x20 || c == 0x7f))
            return -CSV_E_BAD_NAME;
    }
    return 0;
}

int csv_writable(const struct csv_volume *vol)
{
    if (!vol->rw)
        return -CSV_E_READ_ONLY;
    if (!vol->locked)
        return -CSV_E_NOT_LOCKED;
    return csv_map_status(vol, NULL);
}

/* Reads a record that may be longer than its first block: the first
 * CSV_IO_ALIGN bytes, then the rest if the frame says there is more. */
static int read_record(struct csv_volume *vol, uint64_t off, size_t maxsize,
                       uint8_t **ret_buf)
{
    uint8_t *buf = csv_iobuf(maxsize);
    size_t need;
    int rc;

    if (!buf)
        return -ENOMEM;
    rc = vol->io->pread(vol->ioh, buf, CSV_IO_ALIGN, off);
    if (rc < 0)
        goto fail;
    need = CSV_FRAME_SIZE + cmn_get_le32(buf + 16);
    if (need > CSV_IO_ALIGN && need <= maxsize) {
        need = csv_round_up(need, CSV_IO_ALIGN);
        rc = vol->io->pread(vol->ioh, buf + CSV_IO_ALIGN, need - CSV_IO_ALIGN,
                            off + CSV_IO_ALIGN);
        if (rc < 0)
            goto fail;
    }
    *ret_buf = buf;
    return 0;
fail:
    free(buf);
    return rc;
}

/* Writes `len` bytes (padded to CSV_IO_ALIGN) and waits for stability. */
static int write_stable(struct csv_volume *vol, const uint8_t *buf, size_t len,
                        uint64_t off)
{
    int rc =
        vol->io->pwrite(vol->ioh, buf, csv_round_up(len, CSV_IO_ALIGN), off);
    if (rc < 0)
        return rc;
    return vol->io->flush(vol->ioh);
}

/* ---- extent map ------------------------------------------------------------
 */

void csv_extmap_clear(struct csv_extmap *map)
{
    free(map->ext);
    memset(map, 0, sizeof(*map));
}

int csv_extmap_copy(const struct csv_extmap *src, struct csv_extmap *dst)
{
    size_t cap = src->count + 1;

    *dst = *src;
    dst->ext = calloc(cap, sizeof(*dst->ext));
    if (!dst->ext)
        return -ENOMEM;
    if (src->count)
        memcpy(dst->ext, src->ext, src->count * sizeof(*dst->ext));
    dst->cap = cap;
    return 0;
}

static uint64_t extmap_off(const struct csv_volume *vol, int copy)
{
    return csv_region_get(&vol->sb, CSV_REGION_EXTMAP)->offset +
           (uint64_t)copy * vol->sb.extmap_rec_size;
}

/* Reads and decodes copy `c`, sorted and validated: a copy whose crc is
 * right but whose content breaks the rules gets CSV_E_BAD_EXTMAP in
 * map_err with the first fault in map_fault. */
static int load_extmap_copy(struct csv_volume *vol, int c,
                            struct csv_extmap *ret_map)
{
    struct csv_extmap_faults faults;
    uint8_t *buf = NULL;
    int rc;

    vol->map_fault[c][0] = '\0';
    rc = read_record(vol, extmap_off(vol, c), vol->sb.extmap_rec_size, &buf);
    if (rc < 0)
        return rc;
    vol->map_err[c] = csv_extmap_decode(
        buf, vol->sb.extmap_rec_size, vol->uuid8, vol->sb.max_extents, ret_map);
    free(buf);
    if (vol->map_err[c] < 0)
        return 0;
    csv_extmap_sort(ret_map);
    rc = csv_extmap_validate(ret_map, &vol->sb, &faults);
    if (rc == -ENOMEM)
        return rc;
    vol->map_err[c] = rc;
    if (rc == -CSV_E_BAD_EXTMAP)
        memcpy(vol->map_fault[c], faults.first, sizeof(vol->map_fault[c]));
    return 0;
}

/* The current map is the newest copy whose crc is right. If that copy's
 * content is bad the map is refused, not replaced by the older copy: the
 * older one may show as free the space a newer allocation handed to a VM,
 * and the next allocation would give it out twice. Writes then stay
 * refused (csv_writable) until an operator looks at it. */
static int load_extmap(struct csv_volume *vol)
{
    struct csv_extmap m[2] = {{0}};
    int rc = 0, best = -1;

    for (int c = 0; c < 2; c++) {
        rc = load_extmap_copy(vol, c, &m[c]);
        if (rc < 0)
            goto out;
        if ((vol->map_err[c] == 0 || vol->map_err[c] == -CSV_E_BAD_EXTMAP) &&
            (best < 0 || m[c].generation > m[best].generation))
            best = c;
    }
    csv_extmap_clear(&vol->map);
    vol->map_cur = best >= 0 && vol->map_err[best] == 0 ? best : -1;
    if (vol->map_cur >= 0) {
        vol->map = m[best];
        m[best].ext = NULL;
    }
    rc = 0;
out:
    free(m[0].ext);
    free(m[1].ext);
    return rc;
}

int csv_map_status(const struct csv_volume *vol, const char **ret_fault)
{
    if (vol->map_cur >= 0)
        return 0;
    for (int c = 0; c < 2; c++)
        if (vol->map_err[c] == -CSV_E_BAD_EXTMAP) {
            if (ret_fault)
                *ret_fault = vol->map_fault[c];
            return -CSV_E_BAD_EXTMAP;
        }
    if (ret_fault)
        *ret_fault = NULL;
    return -CSV_E_DAMAGED;
}

int csv_commit_extmap(struct csv_volume *vol, const struct csv_extmap *map)
{
    struct csv_extmap next = *map;
    int target = vol->map_cur == 0 ? 1 : 0;
    size_t len = csv_extmap_encoded_size(map->count);
    uint8_t *buf;
    int rc;

    if (map->count > vol->sb.max_extents)
        return -CSV_E_MAP_FULL;
    buf = csv_iobuf(len);
    if (!buf)
        return -ENOMEM;
    /* The current copy stays untouched: if this write tears, a reader
     * still finds the last committed generation in it. */
    next.generation = vol->map.generation + 1;
    csv_extmap_encode(&next, vol->uuid8, buf);
    rc = write_stable(vol, buf, len, extmap_off(vol, target));
    free(buf);
    if (rc < 0)
        return rc;
    vol->map_cur = target;
    vol->map_err[target] = 0;
    vol->map.generation = next.generation;
    return 0;
}

/* ---- slots ------------------------------------------------------------------
 */

static uint64_t slot_off(const struct csv_volume *vol, uint32_t index, int copy)
{
    return csv_region_get(&vol->sb, CSV_REGION_SLOTS)->offset +
           ((uint64_t)index * 2 + (uint64_t)copy) * vol->sb.slot_rec_size;
}

int csv_load_slot(struct csv_volume *vol, uint32_t index)
{
    struct csv_slot_state *st = &vol->slots[index];
    struct csv_slot s[2];
    int best = -1, rc = 0;

    memset(s, 0, sizeof(s));
    for (int c = 0; c < 2; c++) {
        uint8_t *buf = NULL;
        rc = read_record(vol, slot_off(vol, index, c), vol->sb.slot_rec_size,
                         &buf);
        if (rc < 0)
            goto out;
        st->err[c] =
            csv_slot_decode(buf, vol->sb.slot_rec_size, vol->uuid8, &s[c]);
        free(buf);
        if (st->err[c] == 0 &&
            (best < 0 || s[c].generation > s[best].generation))
            best = c;
    }
    csv_slot_clear(&st->slot);
    st->cur = best;
    if (best >= 0) {
        st->slot = s[best];
        s[best].xml = NULL;
    }
    st->slot.index = index;
    st->fresh = true;
out:
    free(s[0].xml);
    free(s[1].xml);
    return rc;
}

static int ensure_slot(struct csv_volume *vol, uint32_t index)
{
    if (index >= vol->sb.nslots)
        return -CSV_E_NO_SLOT;
    return vol->slots[index].fresh ? 0 : csv_load_slot(vol, index);
}

int csv_commit_slot(struct csv_volume *vol, uint32_t index,
                    const struct csv_slot *slot)
{
    struct csv_slot_state *st = &vol->slots[index];
    struct csv_slot next = *slot;
    int target = st->cur == 0 ? 1 : 0;
    size_t len = csv_slot_encoded_size(slot);
    uint8_t *buf;
    char *xml = NULL;
    int rc;

    if (len > vol->sb.slot_rec_size)
        return -E2BIG;
    if (slot->used && slot->xml_len) {
        xml = strndup(slot->xml, slot->xml_len);
        if (!xml)
            return -ENOMEM;
    }
    buf = csv_iobuf(len);
    if (!buf) {
        free(xml);
        return -ENOMEM;
    }
    next.generation = st->slot.generation + 1;
    csv_slot_encode(&next, vol->uuid8, buf);
    rc = write_stable(vol, buf, len, slot_off(vol, index, target));
    free(buf);
    if (rc < 0) {
        free(xml);
        return rc;
    }
    csv_slot_clear(&st->slot);
    st->slot = next;
    st->slot.index = index;
    st->slot.xml = xml;
    st->slot.xml_len = xml ? next.xml_len : 0;
    st->cur = target;
    st->err[target] = 0;
    return 0;
}

void csv_slot_clear(struct csv_slot *slot)
{
    if (!slot)
        return;
    free(slot->xml);
    memset(slot, 0, sizeof(*slot));
}

int csv_load_metadata(struct csv_volume *vol)
{
    int rc = load_extmap(vol);

    if (rc < 0)
        return rc;
    /* Slots are read when first needed after each lease acquisition. */
    for (uint32_t i = 0; i < vol->sb.nslots; i++)
        vol->slots[i].fresh = false;
    return 0;
}

int csv_reload(struct csv_volume *vol)
{
    return csv_load_metadata(vol);
}

/* ---- format -----------------------------------------------------------------
 */

int csv_lease_geometry(uint32_t sector, uint32_t align, uint32_t *ret_hosts)
{
    uint32_t hosts;

    if (sector == 512 && align == 1u << 20)
        hosts = 2000;
    else if (sector == 4096 && (align == 1u << 20 || align == 2u << 20 ||
                                align == 4u << 20 || align == 8u << 20))
        hosts = 250 * (align >> 20);
    else
        return -CSV_E_BAD_ALIGN;
    /* Never true of sanlock's table today; the rule it keeps is that every
     * node of a cluster has a host id. */
    if (hosts < CSV_MIN_HOSTS)
        return -CSV_E_BAD_ALIGN;
    *ret_hosts = hosts;
    return 0;
}

static int compute_layout(struct csv_super *sb, uint64_t dev_size)
{
    uint64_t off = 0, a = sb->align;
    size_t extmap_rec =
        csv_round_up(csv_extmap_encoded_size(sb->max_extents), CSV_IO_ALIGN);
    uint64_t lens[CSV_REGION_COUNT] = {
        a,
        a,
        (uint64_t)(sb->nslots + 1) * a,
        csv_round_up(2 * extmap_rec, a),
        csv_round_up((size_t)sb->nslots * 2 * CSV_SLOT_REC_SIZE, a),
        0,
    };
    uint32_t counts[CSV_REGION_COUNT] = {
        2, sb->max_hosts, sb->nslots + 1, 2, sb->nslots, 0,
    };

    sb->extmap_rec_size = (uint32_t)extmap_rec;
    sb->slot_rec_size = CSV_SLOT_REC_SIZE;
    for (int i = 0; i < CSV_REGION_COUNT - 1; i++) {
        sb->regions[i] = (struct csv_region){
            .type = (uint32_t)(i + 1),
            .count = counts[i],
            .offset = off,
            .length = lens[i],
        };
        off += lens[i];
    }
    if (dev_size < off + sb->alloc_unit)
        return -CSV_E_TOO_SMALL;
    sb->regions[CSV_REGION_DATA - 1] = (struct csv_region){
        .type = CSV_REGION_DATA,
        .offset = off,
        .length = (dev_size - off) / sb->alloc_unit * sb->alloc_unit,
    };
    return 0;
}

static void volume_free_parts(struct csv_volume *vol)
{
    if (vol->lease && vol->lease_state)
        vol->lease->release_all(&vol->lease_state);
    if (vol->ioh)
        vol->io->close(vol->ioh);
    csv_extmap_clear(&vol->map);
    if (vol->slots)
        for (uint32_t i = 0; i < vol->sb.nslots; i++)
            csv_slot_clear(&vol->slots[i].slot);
    free(vol->slots);
    free(vol->path);
    free(vol);
}

/* Reads both superblock copies of an open device into vol. Returns 0 if
 * one decodes, else the error of copy A. */
static int read_supers(struct csv_volume *vol)
{
    struct csv_super sb[2];
    uint8_t *buf = csv_iobuf(CSV_SUPER_SIZE);
    const uint64_t offs[2] = {0, CSV_SUPER_B_OFFSET};
    int best = -1, rc = 0;

    if (!buf)
        return -ENOMEM;
    for (int c = 0; c < 2; c++) {
        rc = vol->io->pread(vol->ioh, buf, CSV_SUPER_SIZE, offs[c]);
        if (rc < 0)
            goto out;
        vol->sb_err[c] = csv_super_decode(buf, &sb[c]);
        if (vol->sb_err[c] == 0 &&
            (best < 0 || sb[c].generation > sb[best].generation))
            best = c;
    }
    if (best < 0) {
        rc = vol->sb_err[0];
        goto out;
    }
    vol->sb = sb[best];
    vol->uuid8 = csv_uuid8(vol->sb.uuid);
    rc = 0;
out:
    free(buf);
    return rc;
}

static int volume_new(const char *path, bool rw, const struct csv_hooks *hooks,
                      struct csv_volume **ret_vol)
{
    struct csv_volume *vol = calloc(1, sizeof(*vol));
    int rc;

    if (!vol)
        return -ENOMEM;
    vol->io = hooks && hooks->io ? hooks->io : &csv_file_io;
    vol->lease = hooks && hooks->lease ? hooks->lease : &csv_sanlock_lease;
    vol->rw = rw;
    vol->map_cur = -1;
    vol->path = strdup(path);
    if (!vol->path) {
        rc = -ENOMEM;
        goto fail;
    }
    rc = vol->io->open(path, rw, &vol->ioh, &vol->dev_size, &vol->dev_sector);
    if (rc < 0)
        goto fail;
    *ret_vol = vol;
    return 0;
fail:
    volume_free_parts(vol);
    return rc;
}

static int format_check_existing(struct csv_volume *vol, bool force)
{
    struct csv_host *hosts = NULL;
    size_t n = 0;
    bool held = false;
    int rc;

    if (read_supers(vol) < 0)
        return 0; /* nothing we recognise: free to format */
    if (!force)
        return -CSV_E_EXISTS;
    rc = csv_hosts(vol, 0, &hosts, &n);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        held |= hosts[i].state == CSV_HOST_UNKNOWN;
    if (held) {
        /* Watch long enough for every live host to renew once (sanlock
         * renews every 2 x io_timeout). */
        free(hosts);
        hosts = NULL;
        rc = csv_hosts(vol, (int)(2 * vol->sb.io_timeout + 1) * 1000, &hosts,
                       &n);
        if (rc < 0)
            return rc;
    }
    rc = 0;
    for (size_t i = 0; i < n; i++)
        if (hosts[i].state == CSV_HOST_LIVE ||
            hosts[i].state == CSV_HOST_FAIL ||
            hosts[i].state == CSV_HOST_UNKNOWN)
            rc = -CSV_E_HOSTS_LIVE;
    free(hosts);
    return rc;
}

static int format_opts_check(const struct csv_format_opts *opts)
{
    int rc = valid_name(opts->name, CSV_NAME_MAX, true);

    if (rc < 0)
        return rc;
    if (opts->cluster && opts->cluster[0] &&
        (rc = valid_name(opts->cluster, CSV_CLUSTER_MAX, false)) < 0)
        return rc;
    if ((opts->sector_size && opts->sector_size != 512 &&
         opts->sector_size != 4096) ||
        (opts->lease_align && opts->lease_align != 1u << 20 &&
         opts->lease_align != 2u << 20 && opts->lease_align != 4u << 20 &&
         opts->lease_align != 8u << 20) ||
        opts->io_timeout > 300 || opts->nslots > 10000 ||
        (opts->max_extents &&
         (opts->max_extents < 16 || opts->max_extents > (1u << 20))))
        return -EINVAL;
    return 0;
}

/* The new superblock in vol->sb: identity, sanlock geometry, layout. */
static int format_super_init(struct csv_volume *vol,
                             const struct csv_format_opts *opts)
{
    struct csv_super *sb = &vol->sb;
    int rc;

    memset(sb, 0, sizeof(*sb));
    sb->version = CSV_VERSION;
    sb->generation = 1;
    if (opts->uuid) {
        memcpy(sb->uuid, opts->uuid, 16);
    } else if (getrandom(sb->uuid, 16, 0) != 16) {
        return -errno;
    } else {
        sb->uuid[6] = (uint8_t)((sb->uuid[6] & 0x0f) | 0x40);
        sb->uuid[8] = (uint8_t)((sb->uuid[8] & 0x3f) | 0x80);
    }
    snprintf(sb->name, sizeof(sb->name), "%s", opts->name);
    snprintf(sb->cluster, sizeof(sb->cluster), "%s",
             opts->cluster ? opts->cluster : "");
    sb->sector_size = opts->sector_size         ? opts->sector_size
                      : vol->dev_sector == 4096 ? 4096
                                                : 512;
    if (sb->sector_size < vol->dev_sector)
        return -CSV_E_BAD_GEOMETRY;
    /* 1 MiB areas unless asked (--lease-align). sanlock's own default at
     * 4 KiB sectors is 8 MiB for 2000 host ids; a cluster has 16 nodes
     * at most, 1 MiB holds 250, and a VM lease's acquire in the live
     * migration's handoff took 12-16 ms at 1 MiB against 87-167 ms at
     * 8 MiB (bench/migration --lease-align, doc/architecture.md). */
    sb->align = opts->lease_align ? opts->lease_align : 1u << 20;
    rc = csv_lease_geometry(sb->sector_size, sb->align, &sb->max_hosts);
    if (rc < 0)
        return rc;
    sb->io_timeout =
        opts->io_timeout ? opts->io_timeout : CSV_DEFAULT_IO_TIMEOUT;
    sb->nslots = opts->nslots ? opts->nslots : CSV_DEFAULT_SLOTS;
    sb->max_extents =
        opts->max_extents ? opts->max_extents : CSV_DEFAULT_EXTENTS;
    sb->alloc_unit = CSV_ALLOC_UNIT;
    sb->volume_size = vol->dev_size;
    sb->created = (uint64_t)time(NULL);
    rc = compute_layout(sb, vol->dev_size);
    if (rc < 0)
        return rc;
    vol->uuid8 = csv_uuid8(sb->uuid);
    return 0;
}

/* Invalidates the old superblocks first: a crash during format must not
 * leave an old superblock describing half-new regions. The new ones are
 * written last (format_write_supers), once everything they describe
 * exists. */
static int format_wipe_supers(struct csv_volume *vol)
{
    cmn_autofree uint8_t *buf = csv_iobuf(CSV_SUPER_SIZE);
    int rc;

    if (!buf)
        return -ENOMEM;
    if ((rc = vol->io->pwrite(vol->ioh, buf, CSV_SUPER_SIZE, 0)) < 0 ||
        (rc = vol->io->pwrite(vol->ioh, buf, CSV_SUPER_SIZE,
                              CSV_SUPER_B_OFFSET)) < 0)
        return rc;
    return vol->io->flush(vol->ioh);
}

/* sanlock's records: the lockspace, then the metadata lease and one lease
 * per slot. */
static int format_write_leases(struct csv_volume *vol)
{
    const struct csv_super *sb = &vol->sb;
    const struct csv_region *r = csv_region_get(sb, CSV_REGION_LOCKSPACE);
    int rc;

    rc = vol->lease->write_lockspace(&(struct csv_lease_target){
        .path = vol->path,
        .lockspace = sb->name,
        .offset = r->offset,
        .sector_size = sb->sector_size,
        .align = sb->align,
        .io_timeout = sb->io_timeout,
    });
    if (rc < 0)
        return rc;
    for (uint32_t i = 0; i < sb->nslots + 1; i++) {
        char res[48];
        struct csv_lease_target t;
        csv_lease_target_fill(vol, i, res, sizeof(res), &t);
        rc = vol->lease->write_resource(&t);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Extent map: generation 1 in copy A, 0 in copy B, both empty. */
static int format_write_extmap(struct csv_volume *vol)
{
    const struct csv_super *sb = &vol->sb;
    size_t len = 2 * (size_t)sb->extmap_rec_size;
    cmn_autofree uint8_t *buf = csv_iobuf(len);

    if (!buf)
        return -ENOMEM;
    for (int c = 0; c < 2; c++) {
        struct csv_extmap m = {.generation = (uint64_t)(1 - c), .next_id = 1};
        csv_extmap_encode(&m, vol->uuid8, buf + c * sb->extmap_rec_size);
    }
    return vol->io->pwrite(vol->ioh, buf, len,
                           csv_region_get(sb, CSV_REGION_EXTMAP)->offset);
}

/* Every slot free, both copies; then everything so far reaches the disk. */
static int format_write_slots(struct csv_volume *vol)
{
    const struct csv_super *sb = &vol->sb;
    size_t len = (size_t)sb->nslots * 2 * sb->slot_rec_size;
    cmn_autofree uint8_t *buf = csv_iobuf(len);
    int rc;

    if (!buf)
        return -ENOMEM;
    for (uint32_t i = 0; i < sb->nslots * 2; i++) {
        struct csv_slot s = {.generation = 1 - (i & 1)};
        csv_slot_encode(&s, vol->uuid8, buf + (size_t)i * sb->slot_rec_size);
    }
    rc = vol->io->pwrite(vol->ioh, buf, len,
                         csv_region_get(sb, CSV_REGION_SLOTS)->offset);
    if (rc < 0)
        return rc;
    return vol->io->flush(vol->ioh);
}

/* Copy B first, then A: a crash between them leaves one good copy. */
static int format_write_supers(struct csv_volume *vol)
{
    cmn_autofree uint8_t *buf = csv_iobuf(CSV_SUPER_SIZE);
    int rc;

    if (!buf)
        return -ENOMEM;
    csv_super_encode(&vol->sb, buf);
    rc = write_stable(vol, buf, CSV_SUPER_SIZE, CSV_SUPER_B_OFFSET);
    if (rc < 0)
        return rc;
    return write_stable(vol, buf, CSV_SUPER_SIZE, 0);
}

int csv_format(const char *path, const struct csv_format_opts *opts,
               const struct csv_hooks *hooks)
{
    struct csv_volume *vol = NULL;
    int rc;

    rc = format_opts_check(opts);
    if (rc < 0)
        return rc;
    rc = volume_new(path, true, hooks, &vol);
    if (rc < 0)
        return rc;
    if ((rc = format_check_existing(vol, opts->force)) < 0 ||
        (rc = format_super_init(vol, opts)) < 0 ||
        (rc = format_wipe_supers(vol)) < 0 ||
        (rc = format_write_leases(vol)) < 0 ||
        (rc = format_write_extmap(vol)) < 0 ||
        (rc = format_write_slots(vol)) < 0 ||
        (rc = format_write_supers(vol)) < 0)
        goto out;
    rc = 0;
out:
    volume_free_parts(vol);
    return rc;
}

/* ---- open / close
 * ------------------------------------------------------------ */

int csv_open(const char *path, unsigned flags, const struct csv_hooks *hooks,
             struct csv_volume **ret_vol)
{
    struct csv_volume *vol = NULL;
    const struct csv_region *data;
    int rc;

    rc = volume_new(path, flags & CSV_OPEN_RW, hooks, &vol);
    if (rc < 0)
        return rc;
    rc = read_supers(vol);
    if (rc < 0)
        goto fail;
    data = csv_region_get(&vol->sb, CSV_REGION_DATA);
    if (vol->dev_size < data->offset + data->length) {
        rc = -CSV_E_TOO_SMALL;
        goto fail;
    }
    vol->slots = calloc(vol->sb.nslots, sizeof(*vol->slots));
    if (!vol->slots) {
        rc = -ENOMEM;
        goto fail;
    }
    for (uint32_t i = 0; i < vol->sb.nslots; i++)
        vol->slots[i].cur = -1;
    rc = csv_load_metadata(vol);
    if (rc < 0)
        goto fail;
    *ret_vol = vol;
    return 0;
fail:
    volume_free_parts(vol);
    return rc;
}

void csv_close(struct csv_volume *vol)
{
    if (!vol)
        return;
    if (vol->locked)
        csv_unlock(vol);
    volume_free_parts(vol);
}

const struct csv_super *csv_super(const struct csv_volume *vol)
{
    return &vol->sb;
}

const char *csv_path(const struct csv_volume *vol)
{
    return vol->path;
}

int csv_super_copy_status(const struct csv_volume *vol, int copy)
{
    return vol->sb_err[copy ? 1 : 0];
}

/* ---- the metadata lease -----------------------------------------------------
 */

int csv_lock(struct csv_volume *vol, int timeout_ms)
{
    struct csv_lease_target t;
    char res[48];
    int64_t deadline =
        (int64_t)cmn_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    unsigned seed = (unsigned)getpid() ^ (unsigned)(int64_t)cmn_now_ms();
    int rc;

    if (!vol->rw)
        return -CSV_E_READ_ONLY;
    if (vol->locked)
        return 0;
    csv_lease_target_fill(vol, 0, res, sizeof(res), &t);
    for (;;) {
        rc = vol->lease->acquire(&vol->lease_state, &t);
        if (rc != -EAGAIN)
            break;
        if ((int64_t)cmn_now_ms() >= deadline)
            return -CSV_E_LEASE_BUSY;
        /* The holder keeps it for a few writes: retry soon, with jitter so
         * contending hosts don't collide in step. */
        struct timespec ts = {0, (long)(2 + rand_r(&seed) % 20) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (rc < 0)
        return rc;
    /* Another host may have committed since we last looked. */
    rc = csv_reload(vol);
    if (rc < 0) {
        vol->lease->release(&vol->lease_state, &t);
        return rc;
    }
    vol->locked = true;
    return 0;
}

int csv_unlock(struct csv_volume *vol)
{
    struct csv_lease_target t;
    char res[48];

    if (!vol->locked)
        return 0;
    csv_lease_target_fill(vol, 0, res, sizeof(res), &t);
    vol->locked = false;
    return vol->lease->release(&vol->lease_state, &t);
}

bool csv_locked(const struct csv_volume *vol)
{
    return vol->locked;
}

int csv_slot_lease_probe(struct csv_volume *vol, uint32_t slot)
{
    struct csv_lease_target t;
    char res[48];
    int rc;

    if (slot >= vol->sb.nslots)
        return -CSV_E_NO_SLOT;
    csv_lease_target_fill(vol, slot + 1, res, sizeof(res), &t);
    rc = vol->lease->acquire(&vol->lease_state, &t);
    if (rc < 0)
        return rc;
    vol->lease->release(&vol->lease_state, &t);
    return 0;
}

static int slot_lease(struct csv_volume *vol, uint32_t slot, bool hold)
{
    struct csv_lease_target t;
    char res[48];

    if (slot >= vol->sb.nslots)
        return -CSV_E_NO_SLOT;
    csv_lease_target_fill(vol, slot + 1, res, sizeof(res), &t);
    return hold ? vol->lease->acquire(&vol->lease_state, &t)
                : vol->lease->release(&vol->lease_state, &t);
}

int csv_slot_lease_hold(struct csv_volume *vol, uint32_t slot)
{
    return slot_lease(vol, slot, true);
}

int csv_slot_lease_drop(struct csv_volume *vol, uint32_t slot)
{
    return slot_lease(vol, slot, false);
}

int csv_lease_location(const struct csv_volume *vol, uint32_t slot,
                       struct csv_lease_loc *ret_loc)
{
    struct csv_lease_target t;
    struct csv_lease_loc loc;
    uint32_t idx = slot == CSV_OWNER_NONE ? 0 : slot + 1;

    if (slot != CSV_OWNER_NONE && slot >= vol->sb.nslots)
        return -CSV_E_NO_SLOT;
    memset(&loc, 0, sizeof(loc));
    csv_lease_target_fill(vol, idx, loc.resource, sizeof(loc.resource), &t);
    snprintf(loc.lockspace, sizeof(loc.lockspace), "%s", vol->sb.name);
    loc.offset = t.offset;
    loc.align = t.align;
    loc.sector_size = t.sector_size;
    *ret_loc = loc;
    return 0;
}

/* ---- slots API
 * ----------------------------------------------------------------- */

int csv_slot_get(struct csv_volume *vol, uint32_t index,
                 struct csv_slot *ret_slot)
{
    struct csv_slot s;
    int rc = ensure_slot(vol, index);

    if (rc < 0)
        return rc;
    if (vol->slots[index].cur < 0)
        return -CSV_E_DAMAGED;
    s = vol->slots[index].slot;
    s.xml = NULL;
    if (vol->slots[index].slot.xml) {
        s.xml = strdup(vol->slots[index].slot.xml);
        if (!s.xml)
            return -ENOMEM;
    }
    *ret_slot = s;
    return 0;
}

int csv_slot_find(struct csv_volume *vol, const char *name, uint32_t *ret_index)
{
    for (uint32_t i = 0; i < vol->sb.nslots; i++) {
        int rc = ensure_slot(vol, i);
        if (rc < 0)
            return rc;
        if (vol->slots[i].slot.used && !strcmp(vol->slots[i].slot.name, name)) {
            *ret_index = i;
            return 0;
        }
    }
    return -CSV_E_NO_SLOT;
}

static size_t xml_max(const struct csv_volume *vol)
{
    return vol->sb.slot_rec_size - CSV_FRAME_SIZE - CSV_SLOT_HDR;
}

int csv_slot_create(struct csv_volume *vol, const char *name,
                    const uint8_t uuid[16], const char *xml,
                    uint32_t *ret_index)
{
    struct csv_slot s;
    uint32_t idx;
    int rc;

    if ((rc = csv_writable(vol)) < 0 ||
        (rc = valid_name(name, CSV_VM_NAME_MAX, false)) < 0)
        return rc;
    if (xml && strlen(xml) > xml_max(vol))
        return -E2BIG;
    rc = csv_slot_find(vol, name, &idx);
    if (rc == 0)
        return -EEXIST;
    if (rc != -CSV_E_NO_SLOT)
        return rc;
    for (idx = 0; idx < vol->sb.nslots; idx++)
        if (!vol->slots[idx].slot.used && vol->slots[idx].cur >= 0)
            break;
    if (idx == vol->sb.nslots)
        return -CSV_E_NO_SLOT;
    memset(&s, 0, sizeof(s));
    s.used = true;
    memcpy(s.uuid, uuid, 16);
    snprintf(s.name, sizeof(s.name), "%s", name);
    s.xml = (char *)(xml ? xml : "");
    s.xml_len = strlen(s.xml);
    rc = csv_commit_slot(vol, idx, &s);
    if (rc < 0)
        return rc;
    if (ret_index)
        *ret_index = idx;
    return 0;
}

int csv_slot_set_xml(struct csv_volume *vol, uint32_t index, const char *xml)
{
    struct csv_slot s;
    int rc;

    if ((rc = csv_writable(vol)) < 0 || (rc = ensure_slot(vol, index)) < 0)
        return rc;
    if (!vol->slots[index].slot.used)
        return -CSV_E_NO_SLOT;
    if (strlen(xml) > xml_max(vol))
        return -E2BIG;
    s = vol->slots[index].slot;
    s.xml = (char *)xml;
    s.xml_len = strlen(xml);
    return csv_commit_slot(vol, index, &s);
}

int csv_slot_delete(struct csv_volume *vol, uint32_t index)
{
    struct csv_slot s;
    int rc;

    if ((rc = csv_writable(vol)) < 0 || (rc = ensure_slot(vol, index)) < 0)
        return rc;
    if (!vol->slots[index].slot.used)
        return -CSV_E_NO_SLOT;
    /* Extents go first (their own commit): a crash between the two commits
     * leaves an empty slot, never an extent owned by a free slot. */
    for (size_t i = 0; i < vol->map.count; i++)
        if (vol->map.ext[i].owner == index)
            return -CSV_E_SLOT_BUSY;
    memset(&s, 0, sizeof(s));
    s.generation = vol->slots[index].slot.generation;
    return csv_commit_slot(vol, index, &s);
}

/* ---- check
 * -------------------------------------------------------------------- */

struct checker {
    csv_report_fn report;
    void *opaque;
    int damage;
};

__attribute__((format(printf, 3, 4))) static void
finding(struct checker *ck, enum csv_finding kind, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (kind == CSV_FIND_DAMAGE)
        ck->damage++;
    if (ck->report)
        ck->report(ck->opaque, kind, msg);
}

static void check_leader(struct csv_volume *vol, struct checker *ck,
                         uint8_t *buf, uint64_t off, uint32_t magic,
                         const char *resource, const char *what)
{
    int rc = vol->io->pread(vol->ioh, buf, vol->sb.sector_size, off);
    char space[49], res[49];

    if (rc < 0) {
        finding(ck, CSV_FIND_DAMAGE, "%s at %llu: read failed: %s", what,
                (unsigned long long)off, strerror(-rc));
        return;
    }
    memcpy(space, buf + 56, 48);
    space[48] = '\0';
    memcpy(res, buf + 104, 48);
    res[48] = '\0';
    if (cmn_get_le32(buf) != magic)
        finding(ck, CSV_FIND_DAMAGE, "%s at %llu: no sanlock record", what,
                (unsigned long long)off);
    else if (strcmp(space, vol->sb.name) || (resource && strcmp(res, resource)))
        finding(ck, CSV_FIND_DAMAGE, "%s at %llu: sanlock record names '%s:%s'",
                what, (unsigned long long)off, space, res);
}

static const char *copy_name(int c)
{
    return c ? "B" : "A";
}

int csv_check(struct csv_volume *vol, csv_report_fn report, void *opaque)
{
    struct checker ck = {report, opaque, 0};
    const struct csv_super *sb = &vol->sb;
    const struct csv_region *data = csv_region_get(sb, CSV_REGION_DATA);
    uint8_t *buf = NULL;
    int rc;

    rc = read_supers(vol);
    if (rc < 0)
        return rc;
    for (int c = 0; c < 2; c++)
        if (vol->sb_err[c])
            finding(&ck, CSV_FIND_DAMAGE,
                    "superblock copy %s: %s (repair rewrites it from copy %s)",
                    copy_name(c), cmn_strerror(vol->sb_err[c]), copy_name(!c));
    if (vol->dev_size < data->offset + data->length)
        finding(&ck, CSV_FIND_DAMAGE,
                "device is %llu bytes, the data area ends at %llu",
                (unsigned long long)vol->dev_size,
                (unsigned long long)(data->offset + data->length));

    buf = csv_iobuf(sb->sector_size);
    if (!buf)
        return -ENOMEM;
    check_leader(vol, &ck, buf,
                 csv_region_get(sb, CSV_REGION_LOCKSPACE)->offset,
                 CSV_SANLK_DELTA_MAGIC, NULL, "lockspace");
    for (uint32_t i = 0; i < sb->nslots + 1; i++) {
        struct csv_lease_target t;
        char res[48], what[64];
        csv_lease_target_fill(vol, i, res, sizeof(res), &t);
        snprintf(what, sizeof(what), "lease '%s'", res);
        check_leader(vol, &ck, buf, t.offset, CSV_SANLK_PAXOS_MAGIC, res, what);
    }
    free(buf);

    rc = csv_load_metadata(vol);
    if (rc < 0)
        return rc;
    for (int c = 0; c < 2; c++)
        if (vol->map_err[c] == -CSV_E_BAD_EXTMAP)
            finding(&ck, CSV_FIND_DAMAGE, "extent map copy %s: %s",
                    copy_name(c), vol->map_fault[c]);
    if (vol->map_cur < 0) {
        finding(&ck, CSV_FIND_DAMAGE,
                "extent map: no valid copy (A: %s; B: %s)",
                cmn_strerror(vol->map_err[0]), cmn_strerror(vol->map_err[1]));
    } else {
        int other = !vol->map_cur;
        if (vol->map_err[other])
            finding(&ck, CSV_FIND_INFO,
                    "extent map copy %s: %s (an interrupted update; copy %s "
                    "generation %llu is current)",
                    copy_name(other), cmn_strerror(vol->map_err[other]),
                    copy_name(vol->map_cur),
                    (unsigned long long)vol->map.generation);
    }
    for (uint32_t i = 0; i < sb->nslots; i++) {
        struct csv_slot_state *st = &vol->slots[i];
        rc = csv_load_slot(vol, i);
        if (rc < 0)
            return rc;
        if (st->cur < 0)
            finding(&ck, CSV_FIND_DAMAGE, "slot %u: no valid copy (A: %s)", i,
                    cmn_strerror(st->err[0]));
        else if (st->err[!st->cur])
            finding(&ck, CSV_FIND_INFO,
                    "slot %u copy %s: %s (an interrupted update)", i,
                    copy_name(!st->cur), cmn_strerror(st->err[!st->cur]));
        for (uint32_t j = 0; st->slot.used && j < i; j++)
            if (vol->slots[j].slot.used &&
                !strcmp(vol->slots[j].slot.name, st->slot.name))
                finding(&ck, CSV_FIND_DAMAGE,
                        "slots %u and %u are both named '%s'", j, i,
                        st->slot.name);
    }

    /* The content rules themselves ran at load (csv_extmap_validate): a
     * map that breaks them is not current and was reported above. What
     * load cannot see is whether an owner slot is in use. */
    for (size_t i = 0; vol->map_cur >= 0 && i < vol->map.count; i++) {
        const struct csv_extent *e = &vol->map.ext[i];
        if (e->owner != CSV_OWNER_NONE && !vol->slots[e->owner].slot.used)
            finding(&ck, CSV_FIND_DAMAGE, "extent %llu belongs to free slot %u",
                    (unsigned long long)e->id, e->owner);
    }
    return ck.damage ? -CSV_E_DAMAGED : 0;
}

int csv_repair_super(struct csv_volume *vol)
{
    uint8_t *buf;
    int rc = 0;

    if (!vol->rw)
        return -CSV_E_READ_ONLY;
    rc = read_supers(vol);
    if (rc < 0)
        return rc;
    buf = csv_iobuf(CSV_SUPER_SIZE);
    if (!buf)
        return -ENOMEM;
    csv_super_encode(&vol->sb, buf);
    if (vol->sb_err[0])
        rc = write_stable(vol, buf, CSV_SUPER_SIZE, 0);
    if (rc == 0 && vol->sb_err[1])
        rc = write_stable(vol, buf, CSV_SUPER_SIZE, CSV_SUPER_B_OFFSET);
    free(buf);
    if (rc == 0)
        rc = read_supers(vol);
    return rc;
}
