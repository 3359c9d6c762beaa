/* Explicit little-endian encoding of every csv record. Structs never go to
 * disk raw: the layout below is the format, whatever the compiler does. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cmn-crc32c.h"
#include "csv/csv-int.h"

static uint32_t frame_crc(const uint8_t *buf, size_t len)
{
    static const uint8_t zero[4];
    uint32_t crc = cmn_crc32c(0, buf, 20);
    crc = cmn_crc32c(crc, zero, 4);
    return cmn_crc32c(crc, buf + 24, len - 24);
}

void csv_frame_seal(uint8_t *buf, const struct csv_frame *f)
{
    cmn_put_le32(buf + 0, f->magic);
    cmn_put_le16(buf + 4, f->version);
    cmn_put_le16(buf + 6, CSV_FRAME_SIZE);
    cmn_put_le64(buf + 8, f->generation);
    cmn_put_le32(buf + 16, f->length);
    cmn_put_le32(buf + 20, 0);
    cmn_put_le64(buf + 24, f->uuid8);
    cmn_put_le32(buf + 20, frame_crc(buf, CSV_FRAME_SIZE + f->length));
}

int csv_frame_open(const uint8_t *buf, size_t bufsize, uint32_t magic,
                   uint64_t uuid8, struct csv_frame *ret_frame)
{
    struct csv_frame f;

    if (bufsize < CSV_FRAME_SIZE || cmn_get_le32(buf) != magic)
        return -CSV_E_BAD_MAGIC;
    f.magic = magic;
    /* Version before crc: a newer format may checksum differently, and
     * "made by a newer kvmcluster" is the message the operator needs. */
    f.version = cmn_get_le16(buf + 4);
    if (f.version != CSV_VERSION)
        return -CSV_E_BAD_VERSION;
    f.length = cmn_get_le32(buf + 16);
    if (cmn_get_le16(buf + 6) != CSV_FRAME_SIZE ||
        f.length > bufsize - CSV_FRAME_SIZE)
        return -CSV_E_BAD_LENGTH;
    if (cmn_get_le32(buf + 20) != frame_crc(buf, CSV_FRAME_SIZE + f.length))
        return -CSV_E_BAD_CRC;
    f.generation = cmn_get_le64(buf + 8);
    f.uuid8 = cmn_get_le64(buf + 24);
    if (uuid8 != 0 && f.uuid8 != uuid8)
        return -CSV_E_WRONG_VOLUME;
    *ret_frame = f;
    return 0;
}

uint64_t csv_uuid8(const uint8_t uuid[16])
{
    uint64_t v = cmn_get_le64(uuid);
    return v ? v : 1; /* 0 means "don't check" */
}

static void put_str(uint8_t *p, const char *s, size_t field)
{
    size_t n = strnlen(s, field - 1);
    memset(p, 0, field);
    memcpy(p, s, n);
}

static void get_str(const uint8_t *p, size_t field, char *out)
{
    size_t n = strnlen((const char *)p, field - 1);
    memcpy(out, p, n);
    out[n] = '\0';
}

/* Superblock payload, offsets from the end of the frame. */
enum {
    SB_UUID = 0,
    SB_SECTOR = 16,
    SB_ALIGN = 20,
    SB_IO_TIMEOUT = 24,
    SB_MAX_HOSTS = 28,
    SB_NSLOTS = 32,
    SB_MAX_EXTENTS = 36,
    SB_SLOT_REC = 40,
    SB_EXTMAP_REC = 44,
    SB_ALLOC_UNIT = 48,
    SB_NREGIONS = 52,
    SB_VOLSIZE = 56,
    SB_CREATED = 64,
    SB_NAME = 72,     /* 48 bytes */
    SB_CLUSTER = 120, /* 64 bytes */
    SB_REGIONS = 184, /* CSV_REGION_COUNT x 24 */
    SB_PAYLOAD = SB_REGIONS + CSV_REGION_COUNT * CSV_REGION_ENC,
};

void csv_super_encode(const struct csv_super *sb, uint8_t *buf)
{
    uint8_t *p = buf + CSV_FRAME_SIZE;

    memset(buf, 0, CSV_SUPER_SIZE);
    memcpy(p + SB_UUID, sb->uuid, 16);
    cmn_put_le32(p + SB_SECTOR, sb->sector_size);
    cmn_put_le32(p + SB_ALIGN, sb->align);
    cmn_put_le32(p + SB_IO_TIMEOUT, sb->io_timeout);
    cmn_put_le32(p + SB_MAX_HOSTS, sb->max_hosts);
    cmn_put_le32(p + SB_NSLOTS, sb->nslots);
    cmn_put_le32(p + SB_MAX_EXTENTS, sb->max_extents);
    cmn_put_le32(p + SB_SLOT_REC, sb->slot_rec_size);
    cmn_put_le32(p + SB_EXTMAP_REC, sb->extmap_rec_size);
    cmn_put_le32(p + SB_ALLOC_UNIT, sb->alloc_unit);
    cmn_put_le32(p + SB_NREGIONS, CSV_REGION_COUNT);
    cmn_put_le64(p + SB_VOLSIZE, sb->volume_size);
    cmn_put_le64(p + SB_CREATED, sb->created);
    put_str(p + SB_NAME, sb->name, 48);
    put_str(p + SB_CLUSTER, sb->cluster, 64);
    for (int i = 0; i < CSV_REGION_COUNT; i++) {
        uint8_t *r = p + SB_REGIONS + i * CSV_REGION_ENC;
        cmn_put_le32(r + 0, sb->regions[i].type);
        cmn_put_le32(r + 4, sb->regions[i].count);
        cmn_put_le64(r + 8, sb->regions[i].offset);
        cmn_put_le64(r + 16, sb->regions[i].length);
    }
    csv_frame_seal(buf, &(struct csv_frame){
                            .magic = CSV_MAGIC_SUPER,
                            .version = CSV_VERSION,
                            .generation = sb->generation,
                            .length = SB_PAYLOAD,
                            .uuid8 = csv_uuid8(sb->uuid),
                        });
}

/* The geometry must make sense before anything trusts an offset from it:
 * regions in table order, each aligned, none overlapping the next. */
static int super_validate(const struct csv_super *sb)
{
    uint64_t end = 0;

    if (sb->sector_size != 512 && sb->sector_size != 4096)
        return -CSV_E_BAD_GEOMETRY;
    if (sb->align == 0 || sb->align % sb->sector_size || sb->alloc_unit == 0 ||
        sb->alloc_unit % CSV_IO_ALIGN)
        return -CSV_E_BAD_GEOMETRY;
    if (sb->nslots == 0 || sb->nslots > 100000 || sb->max_extents == 0 ||
        sb->max_extents > (1u << 20))
        return -CSV_E_BAD_GEOMETRY;
    if (sb->slot_rec_size < CSV_FRAME_SIZE + CSV_SLOT_HDR ||
        sb->slot_rec_size % CSV_IO_ALIGN ||
        sb->extmap_rec_size < csv_extmap_encoded_size(sb->max_extents) ||
        sb->extmap_rec_size % CSV_IO_ALIGN)
        return -CSV_E_BAD_GEOMETRY;
    for (int i = 0; i < CSV_REGION_COUNT; i++) {
        const struct csv_region *r = &sb->regions[i];
        if (r->type != (uint32_t)(i + 1) || r->offset < end ||
            r->offset % sb->align || r->length == 0)
            return -CSV_E_BAD_GEOMETRY;
        end = r->offset + r->length;
        if (end < r->offset)
            return -CSV_E_BAD_GEOMETRY;
    }
    /* Every region, the data area included, ends inside the volume the
     * format saw; the lockspace holds at least one delta lease and the
     * lease region one paxos lease (align bytes each) per slot plus the
     * metadata lease, so no lease offset computed from a slot index lands
     * in the extent map or the slots. */
    if (end > sb->volume_size ||
        sb->regions[CSV_REGION_LOCKSPACE - 1].length < sb->align ||
        sb->regions[CSV_REGION_LEASES - 1].length <
            ((uint64_t)sb->nslots + 1) * sb->align ||
        sb->regions[CSV_REGION_DATA - 1].length % sb->alloc_unit)
        return -CSV_E_BAD_GEOMETRY;
    if (sb->regions[CSV_REGION_LEASES - 1].count != sb->nslots + 1 ||
        sb->regions[CSV_REGION_SLOTS - 1].count != sb->nslots ||
        (uint64_t)sb->regions[CSV_REGION_SLOTS - 1].count * 2 *
                sb->slot_rec_size >
            sb->regions[CSV_REGION_SLOTS - 1].length ||
        2ull * sb->extmap_rec_size > sb->regions[CSV_REGION_EXTMAP - 1].length)
        return -CSV_E_BAD_GEOMETRY;
    return 0;
}

int csv_super_decode(const uint8_t *buf, struct csv_super *ret_sb)
{
    struct csv_super sb;
    struct csv_frame f;
    const uint8_t *p = buf + CSV_FRAME_SIZE;
    int rc;

    rc = csv_frame_open(buf, CSV_SUPER_SIZE, CSV_MAGIC_SUPER, 0, &f);
    if (rc < 0)
        return rc;
    if (f.length < SB_PAYLOAD ||
        cmn_get_le32(p + SB_NREGIONS) != CSV_REGION_COUNT)
        return -CSV_E_BAD_LENGTH;
    memset(&sb, 0, sizeof(sb));
    sb.version = f.version;
    sb.generation = f.generation;
    memcpy(sb.uuid, p + SB_UUID, 16);
    sb.sector_size = cmn_get_le32(p + SB_SECTOR);
    sb.align = cmn_get_le32(p + SB_ALIGN);
    sb.io_timeout = cmn_get_le32(p + SB_IO_TIMEOUT);
    sb.max_hosts = cmn_get_le32(p + SB_MAX_HOSTS);
    sb.nslots = cmn_get_le32(p + SB_NSLOTS);
    sb.max_extents = cmn_get_le32(p + SB_MAX_EXTENTS);
    sb.slot_rec_size = cmn_get_le32(p + SB_SLOT_REC);
    sb.extmap_rec_size = cmn_get_le32(p + SB_EXTMAP_REC);
    sb.alloc_unit = cmn_get_le32(p + SB_ALLOC_UNIT);
    sb.volume_size = cmn_get_le64(p + SB_VOLSIZE);
    sb.created = cmn_get_le64(p + SB_CREATED);
    get_str(p + SB_NAME, 48, sb.name);
    get_str(p + SB_CLUSTER, 64, sb.cluster);
    for (int i = 0; i < CSV_REGION_COUNT; i++) {
        const uint8_t *r = p + SB_REGIONS + i * CSV_REGION_ENC;
        sb.regions[i].type = cmn_get_le32(r + 0);
        sb.regions[i].count = cmn_get_le32(r + 4);
        sb.regions[i].offset = cmn_get_le64(r + 8);
        sb.regions[i].length = cmn_get_le64(r + 16);
    }
    if (f.uuid8 != csv_uuid8(sb.uuid))
        return -CSV_E_WRONG_VOLUME;
    rc = super_validate(&sb);
    if (rc < 0)
        return rc;
    *ret_sb = sb;
    return 0;
}

/* ---- extent map ------------------------------------------------------------
 */

size_t csv_extmap_encoded_size(size_t count)
{
    return CSV_FRAME_SIZE + CSV_EXTMAP_HDR + count * CSV_EXTENT_ENC;
}

void csv_extmap_encode(const struct csv_extmap *map, uint64_t uuid8,
                       uint8_t *buf)
{
    uint8_t *p = buf + CSV_FRAME_SIZE;
    size_t len = CSV_EXTMAP_HDR + map->count * CSV_EXTENT_ENC;

    memset(buf, 0, CSV_FRAME_SIZE + len);
    cmn_put_le64(p + 0, map->next_id);
    cmn_put_le32(p + 8, (uint32_t)map->count);
    p += CSV_EXTMAP_HDR;
    for (size_t i = 0; i < map->count; i++, p += CSV_EXTENT_ENC) {
        const struct csv_extent *e = &map->ext[i];
        cmn_put_le64(p + 0, e->id);
        cmn_put_le64(p + 8, e->offset);
        cmn_put_le64(p + 16, e->length);
        cmn_put_le32(p + 24, e->owner);
        cmn_put_le16(p + 28, e->kind);
        cmn_put_le16(p + 30, e->index);
        put_str(p + 32, e->tag, 32);
    }
    csv_frame_seal(buf, &(struct csv_frame){
                            .magic = CSV_MAGIC_EXTMAP,
                            .version = CSV_VERSION,
                            .generation = map->generation,
                            .length = (uint32_t)len,
                            .uuid8 = uuid8,
                        });
}

int csv_extmap_decode(const uint8_t *buf, size_t bufsize, uint64_t uuid8,
                      size_t max_extents, struct csv_extmap *ret_map)
{
    struct csv_frame f;
    const uint8_t *p = buf + CSV_FRAME_SIZE;
    struct csv_extent *ext = NULL;
    size_t count;
    int rc;

    rc = csv_frame_open(buf, bufsize, CSV_MAGIC_EXTMAP, uuid8, &f);
    if (rc < 0)
        return rc;
    if (f.length < CSV_EXTMAP_HDR)
        return -CSV_E_BAD_LENGTH;
    count = cmn_get_le32(p + 8);
    if (count > max_extents ||
        f.length != CSV_EXTMAP_HDR + count * CSV_EXTENT_ENC)
        return -CSV_E_BAD_LENGTH;
    ext = calloc(count ? count : 1, sizeof(*ext));
    if (!ext)
        return -ENOMEM;
    ret_map->generation = f.generation;
    ret_map->next_id = cmn_get_le64(p + 0);
    p += CSV_EXTMAP_HDR;
    for (size_t i = 0; i < count; i++, p += CSV_EXTENT_ENC) {
        struct csv_extent *e = &ext[i];
        e->id = cmn_get_le64(p + 0);
        e->offset = cmn_get_le64(p + 8);
        e->length = cmn_get_le64(p + 16);
        e->owner = cmn_get_le32(p + 24);
        e->kind = cmn_get_le16(p + 28);
        e->index = cmn_get_le16(p + 30);
        get_str(p + 32, 32, e->tag);
    }
    ret_map->ext = ext;
    ret_map->count = count;
    ret_map->cap = count ? count : 1;
    return 0;
}

__attribute__((format(printf, 3, 4))) static void
extmap_fault(struct csv_extmap_faults *f, size_t *n, const char *fmt, ...)
{
    va_list ap;

    if ((*n)++ > 0 || !f)
        return; /* the first fault is the one named */
    va_start(ap, fmt);
    vsnprintf(f->first, sizeof(f->first), fmt, ap);
    va_end(ap);
}

static int cmp_extent(const void *a, const void *b)
{
    const struct csv_extent *x = a, *y = b;

    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

void csv_extmap_sort(struct csv_extmap *map)
{
    if (map->count > 1)
        qsort(map->ext, map->count, sizeof(*map->ext), cmp_extent);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* One pass over the extents in offset order: an extent that passes
 * cannot reach outside the data area (no wrap-around either), so the
 * allocator's first-fit and a VM's disk offsets can trust it. */
static size_t extmap_check_ranges(const struct csv_extmap *map,
                                  const struct csv_super *sb,
                                  struct csv_extmap_faults *f)
{
    const struct csv_region *data = &sb->regions[CSV_REGION_DATA - 1];
    uint64_t data_end = data->offset + data->length;
    size_t n = 0;

    for (size_t i = 0; i < map->count; i++) {
        const struct csv_extent *e = &map->ext[i];
        const struct csv_extent *p = i ? &map->ext[i - 1] : NULL;

        if (e->offset + e->length < e->offset)
            extmap_fault(f, &n,
                         "extent %llu [%llu, +%llu) wraps around the end of "
                         "the address space",
                         (unsigned long long)e->id,
                         (unsigned long long)e->offset,
                         (unsigned long long)e->length);
        else if (e->length == 0 || e->offset % sb->alloc_unit ||
                 e->length % sb->alloc_unit || e->offset < data->offset ||
                 e->offset + e->length > data_end)
            extmap_fault(f, &n,
                         "extent %llu [%llu, +%llu) outside the data area or "
                         "misaligned",
                         (unsigned long long)e->id,
                         (unsigned long long)e->offset,
                         (unsigned long long)e->length);
        if (p && (e->offset < p->offset || p->length > e->offset - p->offset))
            extmap_fault(f, &n, "extents %llu and %llu overlap at %llu",
                         (unsigned long long)p->id, (unsigned long long)e->id,
                         (unsigned long long)e->offset);
        if (e->id == 0 || e->id >= map->next_id)
            extmap_fault(f, &n, "extent id %llu out of range",
                         (unsigned long long)e->id);
        if (e->owner != CSV_OWNER_NONE && e->owner >= sb->nslots)
            extmap_fault(f, &n,
                         "extent %llu belongs to slot %u, beyond the "
                         "volume's %u slots",
                         (unsigned long long)e->id, e->owner, sb->nslots);
        if (e->kind < CSV_EXTENT_DISK || e->kind > CSV_EXTENT_OTHER)
            extmap_fault(f, &n, "extent %llu has unknown kind %u",
                         (unsigned long long)e->id, e->kind);
    }
    return n;
}

int csv_extmap_validate(const struct csv_extmap *map,
                        const struct csv_super *sb,
                        struct csv_extmap_faults *ret_faults)
{
    uint64_t *ids = NULL;
    size_t n;

    if (ret_faults)
        memset(ret_faults, 0, sizeof(*ret_faults));
    if (map->count > sb->max_extents)
        return -CSV_E_BAD_LENGTH;
    n = extmap_check_ranges(map, sb, ret_faults);
    /* Ids unique: sorted copy, then neighbours. */
    if (map->count > 1) {
        ids = malloc(map->count * sizeof(*ids));
        if (!ids)
            return -ENOMEM;
        for (size_t i = 0; i < map->count; i++)
            ids[i] = map->ext[i].id;
        qsort(ids, map->count, sizeof(*ids), cmp_u64);
        for (size_t i = 1; i < map->count; i++)
            if (ids[i] == ids[i - 1])
                extmap_fault(ret_faults, &n, "extent id %llu used twice",
                             (unsigned long long)ids[i]);
        free(ids);
    }
    if (ret_faults)
        ret_faults->count = n;
    return n ? -CSV_E_BAD_EXTMAP : 0;
}

/* ---- VM slot ----------------------------------------------------------------
 */

size_t csv_slot_encoded_size(const struct csv_slot *slot)
{
    return CSV_FRAME_SIZE + CSV_SLOT_HDR + (slot->used ? slot->xml_len : 0);
}

void csv_slot_encode(const struct csv_slot *slot, uint64_t uuid8, uint8_t *buf)
{
    uint8_t *p = buf + CSV_FRAME_SIZE;
    size_t xml_len = slot->used ? slot->xml_len : 0;

    memset(buf, 0, CSV_FRAME_SIZE + CSV_SLOT_HDR);
    cmn_put_le32(p + 0, slot->used ? 1 : 0);
    cmn_put_le32(p + 4, (uint32_t)xml_len);
    if (slot->used) {
        memcpy(p + 8, slot->uuid, 16);
        put_str(p + 24, slot->name, 64);
        if (xml_len)
            memcpy(p + CSV_SLOT_HDR, slot->xml, xml_len);
    }
    csv_frame_seal(buf, &(struct csv_frame){
                            .magic = CSV_MAGIC_SLOT,
                            .version = CSV_VERSION,
                            .generation = slot->generation,
                            .length = (uint32_t)(CSV_SLOT_HDR + xml_len),
                            .uuid8 = uuid8,
                        });
}

int csv_slot_decode(const uint8_t *buf, size_t bufsize, uint64_t uuid8,
                    struct csv_slot *ret_slot)
{
    struct csv_frame f;
    const uint8_t *p = buf + CSV_FRAME_SIZE;
    uint32_t state, xml_len;
    char *xml = NULL;
    int rc;

    rc = csv_frame_open(buf, bufsize, CSV_MAGIC_SLOT, uuid8, &f);
    if (rc < 0)
        return rc;
    if (f.length < CSV_SLOT_HDR)
        return -CSV_E_BAD_LENGTH;
    state = cmn_get_le32(p + 0);
    xml_len = cmn_get_le32(p + 4);
    if (state > 1 || f.length != CSV_SLOT_HDR + xml_len ||
        (state == 0 && xml_len))
        return -CSV_E_BAD_LENGTH;
    if (state) {
        xml = malloc(xml_len + 1);
        if (!xml)
            return -ENOMEM;
        memcpy(xml, p + CSV_SLOT_HDR, xml_len);
        xml[xml_len] = '\0';
    }
    memset(ret_slot, 0, sizeof(*ret_slot));
    ret_slot->used = state == 1;
    ret_slot->generation = f.generation;
    if (state) {
        memcpy(ret_slot->uuid, p + 8, 16);
        get_str(p + 24, 64, ret_slot->name);
    }
    ret_slot->xml = xml;
    ret_slot->xml_len = xml_len;
    return 0;
}
