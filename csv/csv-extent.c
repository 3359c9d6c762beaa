/* The extent allocator: first fit over the data area.
 *
 * The map records allocated extents only, sorted by offset; free space is
 * the gaps between them, so freeing coalesces by construction and the map
 * can never describe a free range twice. Every change builds the next map
 * in memory and commits it as one record (csv_commit_extmap). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "csv/csv-int.h"

static uint64_t data_start(const struct csv_volume *vol)
{
    return csv_region_get(&vol->sb, CSV_REGION_DATA)->offset;
}

static uint64_t data_end(const struct csv_volume *vol)
{
    const struct csv_region *r = csv_region_get(&vol->sb, CSV_REGION_DATA);
    return r->offset + r->length;
}

static int round_size(const struct csv_volume *vol, uint64_t size,
                      uint64_t *ret)
{
    uint64_t unit = vol->sb.alloc_unit;

    if (size == 0 || size > data_end(vol))
        return size == 0 ? -EINVAL : -CSV_E_NO_SPACE;
    *ret = (size + unit - 1) / unit * unit;
    return 0;
}

/* First gap of at least `size` bytes; returns its offset and the index in
 * the sorted map where an extent there would go. */
static int first_fit(const struct csv_extmap *map, uint64_t start, uint64_t end,
                     uint64_t size, uint64_t *ret_off, size_t *ret_pos)
{
    uint64_t pos = start;
    size_t i;

    for (i = 0; i < map->count; i++) {
        const struct csv_extent *e = &map->ext[i];
        if (e->offset >= pos && e->offset - pos >= size)
            break;
        if (e->offset + e->length > pos)
            pos = e->offset + e->length;
    }
    if (i == map->count && (pos > end || end - pos < size))
        return -CSV_E_NO_SPACE;
    *ret_off = pos;
    *ret_pos = i;
    return 0;
}

static ssize_t find_id(const struct csv_extmap *map, uint64_t id)
{
    for (size_t i = 0; i < map->count; i++)
        if (map->ext[i].id == id)
            return (ssize_t)i;
    return -1;
}

static void insert_at(struct csv_extmap *map, size_t pos,
                      const struct csv_extent *e)
{
    memmove(&map->ext[pos + 1], &map->ext[pos],
            (map->count - pos) * sizeof(*e));
    map->ext[pos] = *e;
    map->count++;
}

static void remove_at(struct csv_extmap *map, size_t pos)
{
    memmove(&map->ext[pos], &map->ext[pos + 1],
            (map->count - pos - 1) * sizeof(*map->ext));
    map->count--;
}

/* Commits `next` and makes it the in-memory map; frees it on failure. */
static int commit(struct csv_volume *vol, struct csv_extmap *next)
{
    int rc = csv_commit_extmap(vol, next);

    if (rc < 0) {
        csv_extmap_clear(next);
        return rc;
    }
    uint64_t gen = vol->map.generation;
    csv_extmap_clear(&vol->map);
    vol->map = *next;
    vol->map.generation = gen;
    return 0;
}

int csv_extent_alloc(struct csv_volume *vol, uint64_t size, uint32_t owner,
                     uint16_t kind, uint16_t index, const char *tag,
                     struct csv_extent *ret_extent)
{
    struct csv_extmap next;
    struct csv_extent e;
    uint64_t off;
    size_t pos;
    int rc;

    if ((rc = csv_writable(vol)) < 0 || (rc = round_size(vol, size, &size)))
        return rc;
    if (kind < CSV_EXTENT_DISK || kind > CSV_EXTENT_OTHER ||
        (tag && strlen(tag) > CSV_TAG_MAX))
        return -EINVAL;
    if (owner != CSV_OWNER_NONE) {
        struct csv_slot s;
        rc = csv_slot_get(vol, owner, &s);
        if (rc < 0)
            return rc;
        bool used = s.used;
        csv_slot_clear(&s);
        if (!used)
            return -CSV_E_NO_SLOT;
    }
    if (vol->map.count >= vol->sb.max_extents)
        return -CSV_E_MAP_FULL;
    rc = first_fit(&vol->map, data_start(vol), data_end(vol), size, &off, &pos);
    if (rc < 0)
        return rc;
    memset(&e, 0, sizeof(e));
    e.id = vol->map.next_id;
    e.offset = off;
    e.length = size;
    e.owner = owner;
    e.kind = kind;
    e.index = index;
    if (tag)
        memcpy(e.tag, tag, strlen(tag) + 1);
    rc = csv_extmap_copy(&vol->map, &next);
    if (rc < 0)
        return rc;
    insert_at(&next, pos, &e);
    next.next_id++;
    rc = commit(vol, &next);
    if (rc < 0)
        return rc;
    if (ret_extent)
        *ret_extent = e;
    return 0;
}

int csv_extent_free(struct csv_volume *vol, uint64_t id)
{
    struct csv_extmap next;
    ssize_t i;
    int rc;

    if ((rc = csv_writable(vol)) < 0)
        return rc;
    i = find_id(&vol->map, id);
    if (i < 0)
        return -CSV_E_NO_EXTENT;
    rc = csv_extmap_copy(&vol->map, &next);
    if (rc < 0)
        return rc;
    remove_at(&next, (size_t)i);
    return commit(vol, &next);
}

/* Copies an extent's data to its new place before the map points there;
 * the old range stays allocated (and intact) until the commit. */
static int copy_data(struct csv_volume *vol, uint64_t from, uint64_t to,
                     uint64_t len)
{
    const size_t chunk = 1u << 20;
    uint8_t *buf = csv_iobuf(chunk);
    int rc = 0;

    if (!buf)
        return -ENOMEM;
    for (uint64_t done = 0; done < len && rc == 0; done += chunk) {
        size_t n = len - done < chunk ? (size_t)(len - done) : chunk;
        rc = vol->io->pread(vol->ioh, buf, n, from + done);
        if (rc == 0)
            rc = vol->io->pwrite(vol->ioh, buf, n, to + done);
    }
    if (rc == 0)
        rc = vol->io->flush(vol->ioh);
    free(buf);
    return rc;
}

int csv_extent_grow(struct csv_volume *vol, uint64_t id, uint64_t new_size,
                    unsigned flags, struct csv_extent *ret_extent)
{
    struct csv_extmap next;
    struct csv_extent e;
    uint64_t limit, off;
    size_t pos;
    ssize_t i;
    int rc;

    if ((rc = csv_writable(vol)) < 0 ||
        (rc = round_size(vol, new_size, &new_size)))
        return rc;
    i = find_id(&vol->map, id);
    if (i < 0)
        return -CSV_E_NO_EXTENT;
    e = vol->map.ext[i];
    if (new_size < e.length)
        return -EINVAL; /* shrinking would cut a disk under its VM */
    if (new_size == e.length)
        goto done;
    limit = (size_t)i + 1 < vol->map.count ? vol->map.ext[i + 1].offset
                                           : data_end(vol);
    rc = csv_extmap_copy(&vol->map, &next);
    if (rc < 0)
        return rc;
    if (limit - e.offset >= new_size) {
        next.ext[i].length = new_size;
    } else if (flags & CSV_GROW_MOVE) {
        /* The new range must not overlap the old one: the old data must
         * survive a crash until the map points at the copy. */
        rc = first_fit(&vol->map, data_start(vol), data_end(vol), new_size,
                       &off, &pos);
        if (rc == 0)
            rc = copy_data(vol, e.offset, off, e.length);
        if (rc < 0) {
            csv_extmap_clear(&next);
            return rc;
        }
        remove_at(&next, (size_t)i);
        if (pos > (size_t)i)
            pos--;
        e.offset = off;
        e.length = new_size;
        insert_at(&next, pos, &e);
    } else {
        csv_extmap_clear(&next);
        return -CSV_E_CANT_GROW;
    }
    rc = commit(vol, &next);
    if (rc < 0)
        return rc;
done:
    return csv_extent_get(vol, id, ret_extent);
}

int csv_extent_get(const struct csv_volume *vol, uint64_t id,
                   struct csv_extent *ret_extent)
{
    ssize_t i;
    int rc = csv_map_status(vol, NULL);

    if (rc < 0)
        return rc;
    i = find_id(&vol->map, id);
    if (i < 0)
        return -CSV_E_NO_EXTENT;
    if (ret_extent)
        *ret_extent = vol->map.ext[i];
    return 0;
}

int csv_extent_get_owned(const struct csv_volume *vol, uint64_t id,
                         uint32_t owner, struct csv_extent *ret_extent)
{
    struct csv_extent e;
    int rc = csv_extent_get(vol, id, &e);

    if (rc < 0)
        return rc;
    if (e.owner != owner)
        return -CSV_E_NOT_OWNER;
    if (ret_extent)
        *ret_extent = e;
    return 0;
}

int csv_extent_list(const struct csv_volume *vol,
                    struct csv_extent **ret_extents, size_t *ret_count)
{
    struct csv_extent *v = calloc(vol->map.count + 1, sizeof(*v));

    if (!v)
        return -ENOMEM;
    if (vol->map.count)
        memcpy(v, vol->map.ext, vol->map.count * sizeof(*v));
    *ret_extents = v;
    *ret_count = vol->map.count;
    return 0;
}

int csv_space(const struct csv_volume *vol, struct csv_space *ret_space)
{
    struct csv_space s;
    uint64_t pos = data_start(vol), end = data_end(vol);

    memset(&s, 0, sizeof(s));
    s.data_offset = pos;
    s.data_length = end - pos;
    s.extents = vol->map.count;
    s.max_extents = vol->sb.max_extents;
    for (size_t i = 0; i <= vol->map.count; i++) {
        uint64_t next = i < vol->map.count ? vol->map.ext[i].offset : end;
        if (next > pos) {
            s.free += next - pos;
            if (next - pos > s.largest_free)
                s.largest_free = next - pos;
        }
        if (i < vol->map.count) {
            s.used += vol->map.ext[i].length;
            if (next + vol->map.ext[i].length > pos)
                pos = next + vol->map.ext[i].length;
        }
    }
    *ret_space = s;
    return 0;
}
