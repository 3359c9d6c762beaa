/* clusterd's use of the cluster-shared volume (see cd-csv.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clusterd/cd-csv.h"
#include "clusterd/cd-csv-int.h"
#include "clusterd/cd-daemon.h"
#include "clusterd/cd-fwd.h"
#include "clusterd/cd-hva.h"
#include "clusterd/cd-int.h"
#include "common/cmn-log.h"
#include "common/cmn-name.h"
#include "common/cmn-time.h"
#include "common/cmn-work.h"
#include "csv/csv.h"
#include "resources/res-vm.h"

/* The metadata lease is held for a few writes at a time; another node's
 * change waits at most this long: below clusterctl's 30 s, so the client
 * hears why (the holder named) instead of a bare timeout. A holder whose
 * path died keeps it on disk until sanlock counts it dead. */
#define LOCK_MS     15000
#define SCAN_MS     10000 /* orphan scan period */
#define MAX_SEEN    256
#define QUEUE_MS    10000 /* behind this node's previous change, at most */
#define MAX_VOLUMES 64    /* CDB volumes a worker may open (the first noted) */

struct seen { /* an orphan and since when the scans see it */
    char volume[CD_NAME_MAX];
    uint32_t slot;
    uint64_t gen;
    char vm[CD_NAME_MAX];
    uint64_t first_ms;
};

struct cd_csv {
    qb_loop_t *loop;
    char path[PATH_MAX];
    struct cmn_work *work; /* the changes on the volume */
    /* One change at a time from this process: each open volume registers
     * with sanlock on its own, and the metadata lease admits one writer. */
    pthread_mutex_t lock;

    /* Orphans (loop only). */
    struct seen seen[MAX_SEEN];
    size_t nseen;
    bool scanning, reclaiming;
    uint64_t last_scan_ms;
    size_t scan_idx; /* the volume the running scan looks at (scan_path) */
    /* The CDB's volumes and their paths, for workers that open a VM's
     * own volume (a VM moved off the main CSV): set by the loop. */
    pthread_mutex_t vols_lock;
    size_t nvols;
    struct {
        char name[CD_NAME_MAX];
        char path[PATH_MAX];
    } vols[MAX_VOLUMES];
    /* Space as the last scan found it (metrics). */
    bool space_known;
    uint64_t space_free, space_total;
};

struct job_ctx {
    struct cd_csv *c;
    struct cd_csv_job *job;
    cd_csv_done_fn done;
    void *data;
};

const char *cd_csv_path(const struct cd_csv *c)
{
    return c->path;
}

bool cd_csv_space(const struct cd_csv *c, uint64_t *ret_free,
                  uint64_t *ret_total)
{
    if (!c || !c->space_known)
        return false;
    *ret_free = c->space_free;
    *ret_total = c->space_total;
    return true;
}

/* ------------------------------------------------------------ worker */

static uint64_t mib_up(uint64_t bytes)
{
    return (bytes + (1u << 20) - 1) >> 20;
}

/* The message for a full volume: what was asked and what is left. */
static void no_space(struct csv_volume *vol, struct cd_csv_job *j,
                     const char *what, uint64_t size)
{
    struct csv_space sp = {0};

    csv_space(vol, &sp);
    cd_errf(j->msg, sizeof(j->msg),
            "CSV '%s': no space for VM '%s' %s (%" PRIu64 " MiB asked, %" PRIu64
            " MiB free%s)",
            csv_path(vol), j->vm, what, mib_up(size), sp.free >> 20,
            sp.largest_free < sp.free ? " in pieces" : "");
}

/* Frees what slot `slot` owns, then the slot. */
int cd_csv_free_slot(struct csv_volume *vol, uint32_t slot)
{
    struct csv_extent *ext = NULL;
    size_t n = 0;
    int rc, first = 0;

    rc = csv_extent_list(vol, &ext, &n);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (ext[i].owner == slot) {
            rc = csv_extent_free(vol, ext[i].id);
            if (rc < 0 && !first)
                first = rc;
        }
    free(ext);
    if (first < 0)
        return first;
    return csv_slot_delete(vol, slot);
}

static int open_locked(struct cd_csv *c, struct cd_csv_job *j,
                       struct csv_volume **ret)
{
    return cd_csv_open_locked(c->path, j, ret);
}

int cd_csv_open_locked(const char *path, struct cd_csv_job *j,
                       struct csv_volume **ret)
{
    struct csv_volume *vol = NULL;
    int rc = csv_open(path, CSV_OPEN_RW, NULL, &vol);

    if (rc < 0) {
        cd_errf(j->msg, sizeof(j->msg), "CSV '%s': cannot open it: %s", path,
                cmn_strerror(rc));
        return rc;
    }
    rc = csv_lock(vol, LOCK_MS);
    if (rc == -CSV_E_LEASE_BUSY) {
        uint64_t owner = 0;
        csv_lease_owner(vol, CSV_OWNER_NONE, &owner);
        cd_errf(j->msg, sizeof(j->msg),
                "CSV '%s': its metadata lease is held by host %" PRIu64
                " (node %" PRIu64 ") for more than %d s: that node's path "
                "to the volume may be broken; sanlock frees the lease once "
                "that host stops renewing for its host-dead time (see "
                "'clusterctl node list' and 'clusterctl volume inspect "
                "%s'), then retry",
                path, owner, owner, LOCK_MS / 1000, path);
        csv_close(vol);
        return rc;
    }
    if (rc == -CSV_E_NO_LOCKSPACE) {
        cd_errf(j->msg, sizeof(j->msg),
                "CSV '%s': cannot take its metadata lease: this node's "
                "sanlock has not joined lockspace '%s' (see 'clusterctl "
                "node list': storage health says why)",
                path, csv_super(vol)->name);
        csv_close(vol);
        return rc;
    }
    if (rc < 0) {
        cd_errf(j->msg, sizeof(j->msg),
                "CSV '%s': cannot take its metadata lease: %s (has this "
                "node's sanlock joined lockspace '%s'? see 'clusterctl "
                "node list')",
                path, cmn_strerror(rc), csv_super(vol)->name);
        csv_close(vol);
        return rc;
    }
    *ret = vol;
    return 0;
}

/* Checks a disk given as <extent volume id>: the extent exists on this
 * volume and no other VM's slot owns it. */
static int check_extent(struct csv_volume *vol, struct cd_csv_job *j,
                        const struct res_disk *disk)
{
    const char *vname = csv_super(vol)->name;
    struct csv_extent e;
    struct csv_slot s;
    int rc;

    if (disk->volume[0] && strcmp(disk->volume, vname) != 0) {
        cd_errf(j->msg, sizeof(j->msg),
                "VM '%s' disk %s: volume '%s' is not the cluster-shared "
                "volume '%s' (%s) this cluster uses",
                j->vm, disk->target, disk->volume, vname, csv_path(vol));
        return -CD_E_NOT_FOUND;
    }
    rc = csv_extent_get(vol, disk->extent, &e);
    if (rc == -CSV_E_NO_EXTENT) {
        cd_errf(j->msg, sizeof(j->msg),
                "VM '%s' disk %s: extent %" PRIu64
                " does not exist on CSV '%s' (%s; see 'clusterctl volume "
                "inspect %s')",
                j->vm, disk->target, disk->extent, vname, csv_path(vol),
                csv_path(vol));
        return -CD_E_NOT_FOUND;
    }
    if (rc < 0) {
        cd_errf(j->msg, sizeof(j->msg),
                "VM '%s' disk %s: extent %" PRIu64 ": %s", j->vm, disk->target,
                disk->extent, cmn_strerror(rc));
        return rc;
    }
    if (e.owner != CSV_OWNER_NONE) {
        rc = csv_slot_get(vol, e.owner, &s);
        cd_errf(j->msg, sizeof(j->msg),
                "VM '%s' disk %s: extent %" PRIu64
                " on CSV '%s' belongs to VM '%s'",
                j->vm, disk->target, disk->extent, vname,
                rc == 0 && s.used ? s.name : "?");
        if (rc == 0)
            csv_slot_clear(&s);
        return -CD_E_IN_USE;
    }
    return 0;
}

static int do_alloc(struct cd_csv *c, struct cd_csv_job *j)
{
    struct res_vm *def = j->def;
    struct csv_volume *vol = NULL;
    struct csv_extent e, state;
    uint32_t slot = CSV_OWNER_NONE;
    const char *vname;
    char tag[CSV_TAG_MAX + 1];
    char *xml = NULL;
    uint64_t size;
    int rc, r2;

    rc = open_locked(c, j, &vol);
    if (rc < 0)
        return rc;
    vname = csv_super(vol)->name;
    for (size_t i = 0; i < def->n_disks; i++)
        if (def->disks[i].source == RES_DISK_EXTENT &&
            (rc = check_extent(vol, j, &def->disks[i])) < 0)
            goto out;
    /* The slot first: extents are owned by it. */
    rc = csv_slot_create(vol, def->name, def->uuid, "", &slot);
    if (rc < 0) {
        if (rc == -EEXIST)
            cd_errf(j->msg, sizeof(j->msg),
                    "CSV '%s' already has a slot for VM '%s' (left from an "
                    "earlier VM of that name? see 'clusterctl volume "
                    "inspect %s')",
                    c->path, j->vm, c->path);
        else if (rc == -CSV_E_NO_SLOT)
            cd_errf(j->msg, sizeof(j->msg),
                    "CSV '%s': no free VM slot for VM '%s' (all %u used)",
                    c->path, j->vm, csv_super(vol)->nslots);
        else
            cd_errf(j->msg, sizeof(j->msg),
                    "CSV '%s': cannot create the slot of VM '%s': %s", c->path,
                    j->vm, cmn_strerror(rc));
        slot = CSV_OWNER_NONE;
        goto out;
    }
    for (size_t i = 0; i < def->n_disks; i++) {
        struct res_disk *disk = &def->disks[i];
        if (disk->source != RES_DISK_ALLOCATE)
            continue;
        rc = cd_csv_disk_alloc(vol, j, disk, (uint16_t)i, slot, &e);
        if (rc < 0)
            goto out;
    }
    size = (def->memory_mib + CD_CSV_STATE_HEADROOM_MIB) << 20;
    snprintf(tag, sizeof(tag), "%.22s-state", def->name);
    rc = csv_extent_alloc(vol, size, slot, CSV_EXTENT_STATE, 0, tag, &state);
    if (rc < 0) {
        if (rc == -CSV_E_NO_SPACE)
            no_space(vol, j, "state image", size);
        else
            cd_errf(j->msg, sizeof(j->msg),
                    "CSV '%s': cannot allocate the state image of VM '%s' "
                    "(%" PRIu64 " MiB): %s",
                    c->path, j->vm, mib_up(size), cmn_strerror(rc));
        goto out;
    }
    rc = res_vm_serialize(def, &xml);
    if (rc == 0)
        rc = csv_slot_set_xml(vol, slot, xml);
    if (rc < 0) {
        cd_errf(j->msg, sizeof(j->msg),
                "CSV '%s': cannot store the definition of VM '%s' in slot "
                "%u: %s",
                c->path, j->vm, slot, cmn_strerror(rc));
        goto out;
    }
    snprintf(j->ref, sizeof(j->ref), CD_CSV_REF_PREFIX "%s:%u:%" PRIu64, vname,
             slot, state.id);
    j->def_xml = xml;
    xml = NULL;
    cmn_info(CMN_LOG_CD,
             "VM '%s': slot %u on CSV '%s', %zu disk(s), state extent %" PRIu64
             " (%" PRIu64 " MiB)",
             j->vm, slot, c->path, def->n_disks, state.id, state.length >> 20);
out:
    if (rc < 0 && slot != CSV_OWNER_NONE) {
        /* Nothing of a refused add stays on the volume. */
        r2 = cd_csv_free_slot(vol, slot);
        if (r2 < 0)
            cmn_err(CMN_LOG_CD,
                    "VM '%s': could not undo slot %u on CSV '%s': %s (see "
                    "'clusterctl volume inspect')",
                    j->vm, slot, c->path, cmn_strerror(r2));
    }
    free(xml);
    csv_unlock(vol);
    csv_close(vol);
    return rc;
}

/* The path of CDB volume `name` as the loop noted it; the main CSV's
 * when the CDB does not list it. The string stays valid: entries are
 * never changed or removed. */
static const char *volume_path(struct cd_csv *c, const char *name)
{
    const char *p = c->path;

    pthread_mutex_lock(&c->vols_lock);
    for (size_t i = 0; i < c->nvols; i++)
        if (!strcmp(c->vols[i].name, name))
            p = c->vols[i].path;
    pthread_mutex_unlock(&c->vols_lock);
    return p;
}

/* Opens the volume under its metadata lease and checks that slot `ref`
 * is still VM j->vm's; on success the caller unlocks and closes. */
static int open_own_slot(struct cd_csv *c, struct cd_csv_job *j,
                         struct csv_volume **ret_vol, uint32_t *ret_slot,
                         uint64_t *ret_state)
{
    struct csv_volume *vol = NULL;
    char volume[CSV_NAME_MAX + 1];
    struct csv_slot s;
    uint32_t slot;
    uint64_t state;
    int rc;

    rc = cd_csv_ref_parse(j->ref, volume, sizeof(volume), &slot, &state);
    if (rc < 0) {
        cd_errf(j->msg, sizeof(j->msg), "VM '%s': '%s' is not a CSV slot",
                j->vm, j->ref);
        return rc;
    }
    rc = cd_csv_open_locked(volume_path(c, volume), j, &vol);
    if (rc < 0)
        return rc;
    if (strcmp(volume, csv_super(vol)->name) != 0) {
        cd_errf(j->msg, sizeof(j->msg),
                "VM '%s' lives on CSV volume '%s', not on '%s' (%s): its "
                "slot is left alone",
                j->vm, volume, csv_super(vol)->name, c->path);
        rc = -CD_E_NOT_FOUND;
        goto out;
    }
    rc = csv_slot_get(vol, slot, &s);
    if (rc < 0) {
        cd_errf(j->msg, sizeof(j->msg), "CSV '%s': slot %u: %s", c->path, slot,
                cmn_strerror(rc));
        goto out;
    }
    if (!s.used || strcmp(s.name, j->vm) != 0) {
        /* Another VM's now (or nobody's): never touch what isn't ours. */
        cd_errf(j->msg, sizeof(j->msg),
                "CSV '%s': slot %u holds %s%s%s, not VM '%s': left alone",
                c->path, slot, s.used ? "VM '" : "no VM", s.used ? s.name : "",
                s.used ? "'" : "", j->vm);
        rc = -CSV_E_NO_SLOT;
    }
    csv_slot_clear(&s);
out:
    if (rc < 0) {
        csv_unlock(vol);
        csv_close(vol);
        return rc;
    }
    *ret_vol = vol;
    *ret_slot = slot;
    *ret_state = state;
    return 0;
}

int cd_csv_disk_alloc(struct csv_volume *vol, struct cd_csv_job *j,
                      struct res_disk *disk, uint16_t index, uint32_t slot,
                      struct csv_extent *ret_e)
{
    const char *vname = csv_super(vol)->name;
    char tag[CSV_TAG_MAX + 1], what[64];
    int rc;

    if (disk->volume[0] && strcmp(disk->volume, vname) != 0) {
        cd_errf(j->msg, sizeof(j->msg),
                "VM '%s' disk %s: volume '%s' is not the cluster-shared "
                "volume '%s' (%s) this cluster uses (see 'clusterctl volume "
                "list')",
                j->vm, disk->target, disk->volume, vname, csv_path(vol));
        return -CD_E_NOT_FOUND;
    }
    snprintf(tag, sizeof(tag), "%.22s-%s", j->vm, disk->target);
    rc = csv_extent_alloc(vol, disk->size, slot, CSV_EXTENT_DISK, index, tag,
                          ret_e);
    if (rc < 0) {
        snprintf(what, sizeof(what), "disk %s", disk->target);
        if (rc == -CSV_E_NO_SPACE)
            no_space(vol, j, what, disk->size);
        else
            cd_errf(j->msg, sizeof(j->msg),
                    "CSV '%s': cannot allocate VM '%s' %s (%" PRIu64
                    " MiB): %s",
                    csv_path(vol), j->vm, what, mib_up(disk->size),
                    cmn_strerror(rc));
        return rc;
    }
    disk->source = RES_DISK_EXTENT;
    snprintf(disk->volume, sizeof(disk->volume), "%s", vname);
    disk->extent = ret_e->id;
    disk->size = 0;
    return 0;
}

int cd_csv_own_slot(struct cd_csv *c, struct cd_csv_job *j,
                    struct csv_volume **ret_vol, uint32_t *ret_slot)
{
    uint64_t state;

    return open_own_slot(c, j, ret_vol, ret_slot, &state);
}

void cd_csv_no_space(struct csv_volume *vol, struct cd_csv_job *j,
                     const char *what, uint64_t size)
{
    no_space(vol, j, what, size);
}

static int do_free(struct cd_csv *c, struct cd_csv_job *j)
{
    struct csv_volume *vol = NULL;
    uint32_t slot;
    uint64_t state;
    int rc;

    rc = open_own_slot(c, j, &vol, &slot, &state);
    if (rc < 0)
        return rc;
    rc = cd_csv_free_slot(vol, slot);
    if (rc < 0)
        cd_errf(j->msg, sizeof(j->msg),
                "CSV '%s': cannot free slot %u of VM '%s': %s", c->path, slot,
                j->vm, cmn_strerror(rc));
    else
        cmn_info(CMN_LOG_CD, "VM '%s': slot %u on CSV '%s' freed", j->vm, slot,
                 c->path);
    csv_unlock(vol);
    csv_close(vol);
    return rc;
}

/* `vm edit`: the slot keeps the new definition, and the state extent
 * grows when the new memory size would not fit a saved state. */
static int do_set_def(struct cd_csv *c, struct cd_csv_job *j)
{
    struct csv_volume *vol = NULL;
    struct csv_extent e;
    uint32_t slot;
    uint64_t state, need;
    int rc;

    rc = open_own_slot(c, j, &vol, &slot, &state);
    if (rc < 0)
        return rc;
    need = (j->def->memory_mib + CD_CSV_STATE_HEADROOM_MIB) << 20;
    rc = csv_extent_get(vol, state, &e);
    if (rc == 0 && e.length < need) {
        /* The VM is stopped (edit refuses memory changes of a running
         * VM), so its old state image is worthless: moving it is safe. */
        rc = csv_extent_grow(vol, state, need, CSV_GROW_MOVE, &e);
        if (rc == -CSV_E_NO_SPACE)
            no_space(vol, j, "state image", need);
    }
    if (rc < 0) {
        if (!j->msg[0])
            cd_errf(j->msg, sizeof(j->msg),
                    "VM '%s': state extent %" PRIu64 " on CSV '%s': %s", j->vm,
                    state, c->path, cmn_strerror(rc));
        goto out;
    }
    rc = csv_slot_set_xml(vol, slot, j->def_xml);
    if (rc < 0)
        cd_errf(j->msg, sizeof(j->msg),
                "CSV '%s': cannot store VM '%s''s definition in slot %u: %s",
                c->path, j->vm, slot, cmn_strerror(rc));
out:
    csv_unlock(vol);
    csv_close(vol);
    return rc;
}

/* The orphans of `vol` against the VMs of j->known whose ref names this
 * volume (into j->orphans): a move's target slot has its VM's name, but
 * the CDB places the VM on the source volume, so it is an orphan here. */
static int find_orphans(struct csv_volume *vol, struct cd_csv_job *j)
{
    uint32_t nslots = csv_super(vol)->nslots;
    struct csv_slot *slots = calloc(nslots ? nslots : 1, sizeof(*slots));
    struct cd_csv_known *known = calloc(j->nknown + 1, sizeof(*known));
    struct csv_extent *ext = NULL;
    size_t next = 0, nknown = 0;
    int rc = 0;

    if (!slots || !known) {
        free(slots);
        free(known);
        return -ENOMEM;
    }
    for (size_t i = 0; i < j->nknown; i++)
        if (!j->known_vol || !strcmp(j->known_vol[i], csv_super(vol)->name))
            known[nknown++] = j->known[i];
    for (uint32_t i = 0; i < nslots && rc == 0; i++) {
        rc = csv_slot_get(vol, i, &slots[i]);
        if (rc < 0)
            /* Never guess: an unreadable slot would look free. */
            cd_errf(j->msg, sizeof(j->msg), "CSV '%s': slot %u: %s",
                    csv_path(vol), i, cmn_strerror(rc));
    }
    if (rc == 0)
        rc = csv_extent_list(vol, &ext, &next);
    free(j->orphans);
    j->orphans = NULL;
    j->norphans = 0;
    if (rc == 0)
        rc = cd_csv_orphans(slots, nslots, ext, next, known, nknown,
                            &j->orphans, &j->norphans);
    for (uint32_t i = 0; i < nslots; i++)
        csv_slot_clear(&slots[i]);
    free(slots);
    free(known);
    free(ext);
    return rc;
}

static void check_finding(void *opaque, enum csv_finding kind, const char *msg)
{
    struct cd_csv_job *j = opaque;
    struct cd_buf b = {.data = j->report};

    if (j->report)
        b.len = b.cap = strlen(j->report);
    if (kind == CSV_FIND_DAMAGE)
        j->damage++;
    cd_buf_xmlf(&b, "<finding kind=\"%s\">",
                kind == CSV_FIND_DAMAGE ? "damage" : "note");
    cd_buf_xml_escape(&b, msg);
    cd_buf_puts(&b, "</finding>\n");
    j->report = b.data;
}

static void space_of(struct csv_volume *vol, struct cd_csv_job *j)
{
    struct csv_space sp = {0};

    csv_space(vol, &sp);
    j->free_bytes = sp.free;
    j->total_bytes = sp.data_length;
    snprintf(j->volume, sizeof(j->volume), "%s", csv_super(vol)->name);
}

/* Read-only, without the metadata lease: A/B records never show a torn
 * one, and a change by another host at worst shows an add in flight as
 * an orphan, which the grace period covers. */
static const char *job_path(const struct cd_csv *c, const struct cd_csv_job *j)
{
    return j->path[0] ? j->path : c->path;
}

/* A volume the client named must be the one opened: the main CSV's name
 * is known only from its superblock. */
static int want_volume(struct csv_volume *vol, struct cd_csv_job *j)
{
    if (!j->want_volume[0] || !strcmp(j->want_volume, csv_super(vol)->name))
        return 0;
    cd_errf(j->msg, sizeof(j->msg),
            "no volume '%s' in the cluster (see 'clusterctl volume list')",
            j->want_volume);
    return -CD_E_NOT_FOUND;
}

static int do_check(struct cd_csv *c, struct cd_csv_job *j)
{
    struct csv_volume *vol = NULL;
    int rc = csv_open(job_path(c, j), 0, NULL, &vol);

    if (rc < 0) {
        cd_errf(j->msg, sizeof(j->msg), "CSV '%s': cannot open it: %s",
                job_path(c, j), cmn_strerror(rc));
        return rc;
    }
    rc = want_volume(vol, j);
    if (rc < 0) {
        csv_close(vol);
        return rc;
    }
    rc = csv_check(vol, check_finding, j);
    if (rc == -CSV_E_DAMAGED)
        rc = 0;
    if (rc == 0)
        rc = find_orphans(vol, j);
    space_of(vol, j);
    csv_close(vol);
    return rc;
}

static bool eligible(const struct cd_csv_job *j, const struct cd_csv_orphan *o,
                     const char *volume)
{
    for (size_t i = 0; i < j->neligible; i++)
        if (j->eligible[i] == o->slot && j->eligible_gen[i] == o->slot_gen &&
            !strcmp(j->eligible_vol[i], volume))
            return true;
    return false;
}

static void reclaim_note(struct cd_csv_job *j, const char *what,
                         const struct cd_csv_orphan *o, const char *why)
{
    struct cd_buf b = {.data = j->report};

    if (j->report)
        b.len = b.cap = strlen(j->report);
    /* Slot names on the volume may hold any printable character. */
    cd_buf_printf(&b, "<%s slot=\"%u\" vm=\"", what, o->slot);
    cd_buf_xml_escape(&b, o->vm);
    cd_buf_xmlf(&b, "\" bytes=\"%" PRIu64 "\"", o->bytes);
    if (why) {
        cd_buf_puts(&b, " reason=\"");
        cd_buf_xml_escape(&b, why);
        cd_buf_puts(&b, "\"");
    }
    cd_buf_puts(&b, "/>\n");
    j->report = b.data;
}

/* Under the metadata lease (no other host changes slots meanwhile), and
 * only a slot whose VM lease nobody holds: a QEMU that runs the slot's
 * VM holds it, so a slot in use is never freed under it. */
static int reclaim_one(struct csv_volume *vol, struct cd_csv_job *j,
                       const struct cd_csv_orphan *o)
{
    char why[256];
    uint64_t owner = 0;
    struct csv_extent *ext = NULL;
    size_t n = 0;
    int rc;

    rc = csv_slot_lease_probe(vol, o->slot);
    if (rc == -EAGAIN) {
        csv_lease_owner(vol, o->slot, &owner);
        snprintf(why, sizeof(why),
                 "its VM lease is held by host %" PRIu64 ": left alone", owner);
        reclaim_note(j, "kept", o, why);
        j->kept++;
        return 0;
    }
    if (rc < 0) {
        snprintf(why, sizeof(why), "cannot check its VM lease: %s",
                 cmn_strerror(rc));
        reclaim_note(j, "kept", o, why);
        j->kept++;
        return rc;
    }
    if (o->slot_used) {
        rc = cd_csv_free_slot(vol, o->slot);
    } else {
        rc = csv_extent_list(vol, &ext, &n);
        for (size_t i = 0; rc == 0 && i < n; i++)
            if (ext[i].owner == o->slot)
                rc = csv_extent_free(vol, ext[i].id);
        free(ext);
    }
    if (rc < 0) {
        snprintf(why, sizeof(why), "freeing failed: %s", cmn_strerror(rc));
        reclaim_note(j, "kept", o, why);
        j->kept++;
        return rc;
    }
    cmn_warn(CMN_LOG_CD,
             "CSV '%s': reclaimed orphaned slot %u (VM '%s', not in the "
             "cluster database) and %zu extent(s), %" PRIu64 " MiB",
             csv_path(vol), o->slot, o->vm[0] ? o->vm : "-", o->nextents,
             o->bytes >> 20);
    reclaim_note(j, "reclaimed", o, NULL);
    j->reclaimed++;
    return 0;
}

/* Is `vm` the name of a VM of the CDB (j->known holds them all)? */
static bool cluster_vm(const struct cd_csv_job *j, const char *vm)
{
    for (size_t i = 0; vm[0] && i < j->nknown; i++)
        if (!strcmp(j->known[i].vm, vm))
            return true;
    return false;
}

/* Is orphan o, a storage move's target with its mover's marker, left by
 * a move that was cut (cd_csv_move_cut)? Read from the hosts of the
 * volume the VM moved from, as this node's sanlock sees them; anything
 * not known keeps the target. */
static bool move_cut(struct cd_csv *c, const struct cd_csv_orphan *o)
{
    struct csv_volume *vol = NULL;
    struct csv_host *hosts = NULL;
    size_t n = 0;
    bool cut = false;

    if (!o->moving ||
        csv_open(volume_path(c, o->mover.from), 0, NULL, &vol) < 0)
        return false;
    if (!strcmp(csv_super(vol)->name, o->mover.from) &&
        csv_hosts(vol, 0, &hosts, &n) == 0)
        cut = cd_csv_move_cut(&o->mover, hosts, n);
    free(hosts);
    csv_close(vol);
    return cut;
}

static int do_reclaim(struct cd_csv *c, struct cd_csv_job *j)
{
    struct csv_volume *vol = NULL;
    int rc;

    rc = cd_csv_open_locked(job_path(c, j), j, &vol);
    if (rc < 0)
        return rc;
    rc = want_volume(vol, j);
    if (rc == 0)
        rc = find_orphans(vol, j);
    for (size_t i = 0; rc == 0 && i < j->norphans; i++) {
        const struct cd_csv_orphan *o = &j->orphans[i];
        if (!eligible(j, o, csv_super(vol)->name))
            continue;
        /* A slot named for a VM of the cluster, yet not the one its ref
         * names, is a storage move's target: while the move copies, its
         * VM lease is free (QEMU takes it at the switch) and the mover
         * may be on any node, so neither that lease nor this node can
         * tell a move in flight from one that was cut. Freeing it could
         * hand extents QEMU still mirrors into to another VM, so it is
         * kept, unless it still holds its mover's marker (the copy was
         * not sealed) and sanlock says that mover's host can no longer
         * hold the VM's lease on the source volume, so neither its QEMU
         * nor its clusterd writes any more (move_cut). */
        if (cluster_vm(j, o->vm) && !move_cut(c, o)) {
            reclaim_note(j, "kept", o,
                         "named for a VM of the cluster: a storage move's "
                         "target (in flight, or left by a move whose node "
                         "is not known dead); freed once that VM is "
                         "removed");
            j->kept++;
            continue;
        }
        reclaim_one(vol, j, o);
    }
    /* What is left, for the answer and the next round. */
    if (rc == 0)
        rc = find_orphans(vol, j);
    space_of(vol, j);
    csv_unlock(vol);
    csv_close(vol);
    return rc;
}

static int worker(void *arg)
{
    struct job_ctx *ctx = arg;
    struct cd_csv_job *j = ctx->job;

    struct timespec until;
    int copy_rc = 0;

    /* The data copy of a move takes long and changes no metadata: it
     * runs before this node's change lock, so it holds nothing back. */
    /* A change before this one may be stuck on a dead path: wait for it
     * a bounded time, so the client hears why before its own timeout. */
    if (j->op == CD_CSV_MOVE_COPY)
        copy_rc = j->move->live ? cd_csv_move_mirror(j) : cd_csv_move_copy(j);
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += QUEUE_MS / 1000;
    if (pthread_mutex_timedlock(&ctx->c->lock, &until) != 0) {
        j->rc = -CSV_E_LEASE_BUSY;
        cd_errf(j->msg, sizeof(j->msg),
                "CSV '%s': an earlier change on this node has been stuck "
                "for more than %d s (is the volume reachable? see "
                "'clusterctl node list'): retry once it is",
                ctx->c->path, QUEUE_MS / 1000);
        goto out;
    }
    switch (j->op) {
    case CD_CSV_ALLOC:
        j->rc = do_alloc(ctx->c, j);
        break;
    case CD_CSV_FREE:
        j->rc = do_free(ctx->c, j);
        break;
    case CD_CSV_SET_DEF:
        j->rc = do_set_def(ctx->c, j);
        break;
    case CD_CSV_CHECK:
        j->rc = do_check(ctx->c, j);
        break;
    case CD_CSV_RECLAIM:
        j->rc = do_reclaim(ctx->c, j);
        break;
    case CD_CSV_DISK_ADD:
    case CD_CSV_DISK_UNPLUG:
    case CD_CSV_DISK_FREE:
        j->rc = cd_csv_disk_job(ctx->c, j);
        break;
    case CD_CSV_MOVE_PREPARE:
    case CD_CSV_MOVE_COPY:
    case CD_CSV_MOVE_FINISH:
        j->rc = cd_csv_move_job(ctx->c, j, copy_rc);
        break;
    }
    pthread_mutex_unlock(&ctx->c->lock);
out:
    if (j->rc < 0 && !j->msg[0])
        cd_errf(j->msg, sizeof(j->msg), "CSV '%s': %s", ctx->c->path,
                cmn_strerror(j->rc));
    return j->rc;
}

static void worker_done(void *arg, int rc)
{
    struct job_ctx *ctx = arg;

    (void)rc; /* in the job */
    ctx->done(ctx->data, ctx->job);
    free(ctx);
}

int cd_csv_new(qb_loop_t *loop, const char *path, struct cd_csv **ret)
{
    struct cd_csv *c;
    int rc;

    if (path[0] != '/' || strlen(path) >= sizeof(c->path))
        return -EINVAL;
    c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    rc = cmn_work_new(loop, CD_WORK_THREADS, 0, &c->work);
    if (rc < 0) {
        free(c);
        return rc;
    }
    c->loop = loop;
    snprintf(c->path, sizeof(c->path), "%s", path);
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->vols_lock, NULL);
    *ret = c;
    return 0;
}

void cd_csv_free(struct cd_csv *c)
{
    if (!c)
        return;
    /* A change still running keeps the pool and the mutex: both stay,
     * it finishes with the process. */
    cmn_work_free(c->work);
}

int cd_csv_run(struct cd_csv *c, struct cd_csv_job *job, cd_csv_done_fn done,
               void *data)
{
    struct job_ctx *ctx = calloc(1, sizeof(*ctx));
    int rc;

    if (!ctx)
        return -ENOMEM;
    ctx->c = c;
    ctx->job = job;
    ctx->done = done;
    ctx->data = data;
    job->rc = 0;
    job->msg[0] = '\0';
    rc = cmn_work_submit(c->work, worker, worker_done, ctx);
    if (rc < 0)
        free(ctx);
    return rc;
}

void cd_csv_job_free(struct cd_csv_job *job)
{
    if (!job)
        return;
    res_vm_free(job->def);
    free(job->def_xml);
    free(job->known);
    free(job->known_vol);
    free(job->eligible);
    free(job->eligible_gen);
    free(job->eligible_vol);
    free(job->orphans);
    free(job->report);
    free(job->reply);
    cd_csv_move_free(job->move);
    free(job);
}

void cd_csv_job_origin(struct cd_csv_job *j, struct cd_daemon *d,
                       struct cmn_ipc_conn *conn,
                       const struct cd_fwd_origin *from)
{
    j->conn = conn;
    if (conn)
        cmn_ipc_conn_ref(conn);
    if (from->node) {
        j->fwd_d = d;
        j->fwd_node = from->node;
        j->fwd_id = from->id;
    }
}

void cd_csv_job_drop_origin(struct cd_csv_job *j)
{
    if (j->conn)
        cmn_ipc_conn_unref(j->conn);
    j->conn = NULL;
    j->fwd_d = NULL;
}

void cd_csv_job_reply(struct cd_csv_job *j, const char *reply)
{
    if (!reply)
        reply =
            j->reply ? j->reply : "<error code=\"12\">out of memory</error>";
    if (j->conn) {
        cmn_ipc_reply(j->conn, reply);
        cmn_ipc_conn_unref(j->conn);
    } else if (j->fwd_d) {
        cd_fwd_answer(j->fwd_d, j->fwd_node, j->fwd_id, reply);
    }
    j->conn = NULL;
    j->fwd_d = NULL;
}

void cd_csv_job_answer(struct cd_csv_job *j, const char *reply)
{
    cd_csv_job_reply(j, reply);
    cd_csv_job_free(j);
}

/* Notes the CDB's volumes for the workers (volume_path). An entry is
 * added once and never changed or removed: a worker may hold its string
 * (a volume removed and added again on another LUN keeps its first
 * path until clusterd restarts). */
/* Volume v's device: its first LUN's file, beside the main CSV's (every
 * LUN of lunbridge lies in the one mount). */
static void lun_path(const char *main_path, const char *slash,
                     const struct cd_volume *v, char *buf, size_t len)
{
    snprintf(buf, len, "%.*s/%s", (int)(slash - main_path), main_path,
             v->luns[0]);
}

static void note_volumes(struct cd_daemon *d)
{
    const struct cd_cdb *cdb = cd_daemon_cdb(d);
    struct cd_csv *c = d->csv;
    const char *slash = c ? strrchr(c->path, '/') : NULL;

    if (!slash)
        return;
    pthread_mutex_lock(&c->vols_lock);
    for (size_t i = 0; i < cd_cdb_volume_count(cdb); i++) {
        const struct cd_volume *v = cd_cdb_volume(cdb, i);
        size_t k;
        char path[PATH_MAX];

        if (!v->nluns)
            continue;
        lun_path(c->path, slash, v, path, sizeof(path));
        for (k = 0; k < c->nvols && strcmp(c->vols[k].name, v->name); k++)
            ;
        if (k == c->nvols && c->nvols < MAX_VOLUMES) {
            snprintf(c->vols[k].name, sizeof(c->vols[k].name), "%s", v->name);
            snprintf(c->vols[k].path, sizeof(c->vols[k].path), "%s", path);
            c->nvols++;
        }
    }
    pthread_mutex_unlock(&c->vols_lock);
}

void cd_csv_volume_path(struct cd_daemon *d, const char *ref_or_name, char *buf,
                        size_t len)
{
    const struct cd_cdb *cdb = cd_daemon_cdb(d);
    const char *main_path = d->csv ? cd_csv_path(d->csv) : "";
    const char *slash = strrchr(main_path, '/');
    char name[CSV_NAME_MAX + 1];
    uint64_t state;
    uint32_t slot;

    snprintf(buf, len, "%s", main_path);
    if (cd_csv_ref_parse(ref_or_name, name, sizeof(name), &slot, &state) < 0)
        snprintf(name, sizeof(name), "%s", ref_or_name);
    for (size_t i = 0; slash && i < cd_cdb_volume_count(cdb); i++) {
        const struct cd_volume *v = cd_cdb_volume(cdb, i);
        if (!strcmp(v->name, name) && v->nluns)
            lun_path(main_path, slash, v, buf, len);
    }
    note_volumes(d);
}

/* ----------------------------------------------- steps for hvagent */

/* Disk i of a hvagent job that lives on another volume than the VM's
 * slot: its extent, owned by the VM's disk slot on that volume. */
static int other_volume_extent(struct cd_hva_job *j, size_t i,
                               struct csv_extent *ret)
{
    struct csv_volume *vol = NULL;
    uint32_t slot;
    int rc;

    rc = csv_open(j->csv_dpath[i], 0, NULL, &vol);
    if (rc < 0) {
        cd_errf(j->msg, sizeof(j->msg), "VM '%s': CSV '%s': %s", j->vm,
                j->csv_dpath[i], cmn_strerror(rc));
        return rc;
    }
    if (strcmp(csv_super(vol)->name, j->csv_dvol[i]) != 0) {
        cd_errf(j->msg, sizeof(j->msg),
                "VM '%s' has a disk on volume '%s', but '%s' is volume '%s'",
                j->vm, j->csv_dvol[i], j->csv_dpath[i], csv_super(vol)->name);
        rc = -CD_E_NOT_FOUND;
    }
    if (rc == 0 && csv_slot_find(vol, j->vm, &slot) < 0) {
        cd_errf(j->msg, sizeof(j->msg),
                "VM '%s': volume '%s' has no slot of it for its disk there",
                j->vm, j->csv_dvol[i]);
        rc = -CSV_E_NO_SLOT;
    }
    if (rc == 0)
        rc = csv_extent_get_owned(vol, j->csv_disks[i], slot, ret);
    csv_close(vol);
    return rc;
}

int cd_csv_prepare(struct cd_hva_job *j)
{
    struct csv_volume *vol = NULL;
    char volume[CSV_NAME_MAX + 1];
    struct csv_lease_loc loc;
    struct csv_extent e;
    struct csv_slot s;
    struct cd_buf b;
    uint32_t slot;
    uint64_t state;
    char *tail = NULL, *end, *xml;
    int rc;

    rc = cd_csv_ref_parse(j->csv_ref, volume, sizeof(volume), &slot, &state);
    if (rc < 0) {
        cd_errf(j->msg, sizeof(j->msg), "VM '%s': bad CSV reference '%s'",
                j->vm, j->csv_ref);
        return rc;
    }
    /* Read-only, without the metadata lease: the VM's records only change
     * when it is removed, and A/B records never show a torn one. */
    rc = csv_open(j->csv_path, 0, NULL, &vol);
    if (rc < 0) {
        cd_errf(j->msg, sizeof(j->msg), "VM '%s': CSV '%s': %s", j->vm,
                j->csv_path, cmn_strerror(rc));
        return rc;
    }
    if (strcmp(csv_super(vol)->name, volume) != 0) {
        cd_errf(j->msg, sizeof(j->msg),
                "VM '%s' lives on CSV volume '%s', but '%s' is volume '%s'",
                j->vm, volume, j->csv_path, csv_super(vol)->name);
        rc = -CD_E_NOT_FOUND;
        goto out;
    }
    rc = csv_slot_get(vol, slot, &s);
    if (rc == 0) {
        if (!s.used || strcmp(s.name, j->vm) != 0)
            rc = -CSV_E_NO_SLOT;
        csv_slot_clear(&s);
    }
    if (rc < 0) {
        cd_errf(j->msg, sizeof(j->msg),
                "VM '%s': its slot %u on CSV '%s' is gone (%s)", j->vm, slot,
                j->csv_path, cmn_strerror(rc));
        goto out;
    }
    rc = csv_lease_location(vol, slot, &loc);
    if (rc < 0) {
        cd_errf(j->msg, sizeof(j->msg), "VM '%s': lease of slot %u: %s", j->vm,
                slot, cmn_strerror(rc));
        goto out;
    }
    snprintf(j->lease_ls, sizeof(j->lease_ls), "%s", loc.lockspace);
    snprintf(j->lease_res, sizeof(j->lease_res), "%s", loc.resource);
    snprintf(j->lease_path, sizeof(j->lease_path), "%s", j->csv_path);
    j->lease_offset = loc.offset;
    if (!j->vm_xml)
        goto out;

    cd_buf_init(&b);
    for (size_t i = 0; i < j->csv_ndisks; i++) {
        const char *dpath = j->csv_dvol[i][0] ? j->csv_dpath[i] : j->csv_path;
        rc = j->csv_dvol[i][0]
                 ? other_volume_extent(j, i, &e)
                 : csv_extent_get_owned(vol, j->csv_disks[i], slot, &e);
        if (rc < 0) {
            if (!j->msg[0])
                cd_errf(j->msg, sizeof(j->msg),
                        "VM '%s': disk extent %" PRIu64 " on CSV '%s': %s",
                        j->vm, j->csv_disks[i], dpath, cmn_strerror(rc));
            cd_buf_free(&b);
            goto out;
        }
        cd_buf_puts(&b, "<disk path=\"");
        cd_buf_xml_escape(&b, dpath);
        cd_buf_xmlf(&b, "\" offset=\"%" PRIu64 "\" size=\"%" PRIu64 "\"",
                    e.offset, e.length);
        if (j->csv_slots[i])
            cd_buf_xmlf(&b, " slot=\"%u\"", j->csv_slots[i]);
        if (j->csv_scsi[i])
            cd_buf_puts(&b, " bus=\"virtio-scsi\"");
        cd_buf_puts(&b, "/>");
    }
    cd_buf_xmlf(&b, "<lease lockspace=\"%s\" resource=\"%s\" path=\"",
                loc.lockspace, loc.resource);
    cd_buf_xml_escape(&b, j->csv_path);
    cd_buf_xmlf(&b, "\" offset=\"%" PRIu64 "\"/>", loc.offset);
    rc = csv_extent_get_owned(vol, state, slot, &e);
    if (rc < 0) {
        cd_errf(j->msg, sizeof(j->msg),
                "VM '%s': state extent %" PRIu64 " on CSV '%s': %s", j->vm,
                state, j->csv_path, cmn_strerror(rc));
        cd_buf_free(&b);
        goto out;
    }
    cd_buf_puts(&b, "<state path=\"");
    cd_buf_xml_escape(&b, j->csv_path);
    cd_buf_xmlf(&b, "\" offset=\"%" PRIu64 "\" size=\"%" PRIu64 "\"/>",
                e.offset, e.length);
    rc = cd_buf_steal(&b, &tail, NULL);
    if (rc < 0)
        goto out;
    /* Into the runtime <vm>, before its end tag. */
    end = strstr(j->vm_xml, "</vm>");
    if (!end) {
        rc = -EINVAL;
        goto out;
    }
    if (asprintf(&xml, "%.*s%s</vm>", (int)(end - j->vm_xml), j->vm_xml, tail) <
        0) {
        rc = -ENOMEM;
        goto out;
    }
    free(j->vm_xml);
    j->vm_xml = xml;
out:
    free(tail);
    csv_close(vol);
    return rc;
}

/* ------------------------------------------------ orphans, in the loop */

static int cd_csv_err(char **ret, int rc, const char *msg)
{
    struct cd_buf b;

    cd_buf_init(&b);
    cd_buf_xmlf(&b, "<error code=\"%d\">", -rc);
    cd_buf_xml_escape(&b, msg);
    cd_buf_puts(&b, "</error>");
    return cd_buf_steal(&b, ret, NULL);
}

static bool cdb_trusted(struct cd_daemon *d)
{
    /* A CDB out of sync would make every newer VM look like an orphan. */
    return d->replica && d->quorate &&
           cd_replica_phase(d->replica) == CD_SYNC_DONE;
}

/* The orphans of volume j->volume become what the scans see there; the
 * other volumes' entries stay. */
static void seen_update(struct cd_csv *c, const struct cd_csv_job *j)
{
    struct seen next[MAX_SEEN];
    size_t n = 0;
    uint64_t now = cmn_now_ms();

    for (size_t k = 0; k < c->nseen; k++)
        if (strcmp(c->seen[k].volume, j->volume) != 0)
            next[n++] = c->seen[k];
    for (size_t i = 0; i < j->norphans && n < MAX_SEEN; i++) {
        const struct cd_csv_orphan *o = &j->orphans[i];
        struct seen *e = &next[n++];
        snprintf(e->volume, sizeof(e->volume), "%s", j->volume);
        e->slot = o->slot;
        e->gen = o->slot_gen;
        snprintf(e->vm, sizeof(e->vm), "%s", o->vm);
        e->first_ms = now;
        for (size_t k = 0; k < c->nseen; k++)
            if (c->seen[k].slot == o->slot && c->seen[k].gen == o->slot_gen &&
                !strcmp(c->seen[k].vm, o->vm) &&
                !strcmp(c->seen[k].volume, j->volume))
                e->first_ms = c->seen[k].first_ms;
    }
    memcpy(c->seen, next, n * sizeof(next[0]));
    c->nseen = n;
}

static uint64_t seen_since(const struct cd_csv *c, const char *volume,
                           uint32_t slot)
{
    for (size_t k = 0; k < c->nseen; k++)
        if (c->seen[k].slot == slot && !strcmp(c->seen[k].volume, volume))
            return c->seen[k].first_ms;
    return cmn_now_ms();
}

/* The path of the scan's volume `idx`: 0 is the main CSV, then every CDB
 * volume on another LUN. False past the last. */
static bool scan_path(struct cd_csv *c, size_t idx, char *buf, size_t len)
{
    bool found = false;

    if (idx == 0) {
        buf[0] = '\0'; /* the main CSV */
        return true;
    }
    pthread_mutex_lock(&c->vols_lock);
    for (size_t k = 0; k < c->nvols && !found; k++) {
        if (!strcmp(c->vols[k].path, c->path))
            continue;
        if (--idx == 0) {
            snprintf(buf, len, "%s", c->vols[k].path);
            found = true;
        }
    }
    pthread_mutex_unlock(&c->vols_lock);
    return found;
}

/* A job on the volume at `path` ("" = the main CSV) with the CDB's VMs and
 * their volumes as `known`; a RECLAIM's eligible orphans are those of
 * every volume (the worker takes those of the volume it opens). */
/* The disk slots of the CDB's VMs (move-storage --disk: a VM's disks on
 * another volume than its slot belong to a slot of its name there):
 * counted, or, with j, added to j->known with the volume each is on. */
static size_t disk_slots(struct cd_daemon *d, struct cd_csv_job *j)
{
    const struct cd_cdb *cdb = cd_daemon_cdb(d);
    size_t n = 0;

    for (size_t i = 0; i < cd_cdb_vm_count(cdb); i++) {
        const struct cd_vm *v = cd_cdb_vm(cdb, i);
        char home[CSV_NAME_MAX + 1], err[128];
        char vols[RES_VM_MAX_DISKS][RES_NAME_MAX];
        struct res_vm *def = NULL;
        size_t nv;
        uint32_t slot;
        uint64_t st;

        if (!v->definition ||
            cd_csv_ref_parse(v->ref, home, sizeof(home), &slot, &st) < 0 ||
            res_vm_parse(v->definition, strlen(v->definition), v->name, &def,
                         err, sizeof(err)) < 0)
            continue;
        nv = cd_move_disk_volumes(def, home, vols, RES_VM_MAX_DISKS);
        res_vm_free(def);
        for (size_t k = 0; k < nv; k++, n++) {
            if (!j)
                continue;
            snprintf(j->known[j->nknown].vm, sizeof(j->known[0].vm), "%s",
                     v->name);
            snprintf(j->known_vol[j->nknown], sizeof(j->known_vol[0]), "%s",
                     vols[k]);
            j->known[j->nknown++].slot = CD_CSV_KNOWN_ANY;
        }
    }
    return n;
}

static struct cd_csv_job *orphan_job(struct cd_daemon *d, enum cd_csv_op op,
                                     const char *path)
{
    struct cd_csv *c = d->csv;
    struct cd_csv_job *j = calloc(1, sizeof(*j));
    size_t nvm = cd_cdb_vm_count(cd_daemon_cdb(d));
    uint64_t now = cmn_now_ms();

    if (!j)
        return NULL;
    j->op = op;
    snprintf(j->path, sizeof(j->path), "%s", path);
    /* Each VM's slot, and its disk slots on other volumes. */
    nvm += disk_slots(d, NULL);
    j->known = calloc(nvm + 1, sizeof(*j->known));
    j->known_vol = calloc(nvm + 1, sizeof(*j->known_vol));
    if (!j->known || !j->known_vol)
        goto fail;
    for (size_t i = 0; i < cd_cdb_vm_count(cd_daemon_cdb(d)); i++) {
        const struct cd_vm *v = cd_cdb_vm(cd_daemon_cdb(d), i);
        char vol_name[CSV_NAME_MAX + 1];
        uint32_t slot;
        uint64_t st;
        if (cd_csv_ref_parse(v->ref, vol_name, sizeof(vol_name), &slot, &st) <
            0)
            continue;
        snprintf(j->known[j->nknown].vm, sizeof(j->known[0].vm), "%s", v->name);
        snprintf(j->known_vol[j->nknown], sizeof(j->known_vol[0]), "%s",
                 vol_name);
        j->known[j->nknown++].slot = slot;
    }
    disk_slots(d, j);
    if (op == CD_CSV_RECLAIM) {
        j->eligible = calloc(c->nseen + 1, sizeof(*j->eligible));
        j->eligible_gen = calloc(c->nseen + 1, sizeof(*j->eligible_gen));
        j->eligible_vol = calloc(c->nseen + 1, sizeof(*j->eligible_vol));
        if (!j->eligible || !j->eligible_gen || !j->eligible_vol)
            goto fail;
        for (size_t k = 0; k < c->nseen; k++)
            if (now - c->seen[k].first_ms >= CD_CSV_ORPHAN_GRACE_MS) {
                snprintf(j->eligible_vol[j->neligible],
                         sizeof(j->eligible_vol[0]), "%s", c->seen[k].volume);
                j->eligible[j->neligible] = c->seen[k].slot;
                j->eligible_gen[j->neligible++] = c->seen[k].gen;
            }
    }
    return j;
fail:
    cd_csv_job_free(j);
    return NULL;
}

static void scan_done(void *data, struct cd_csv_job *j);

static void reclaim_done(void *data, struct cd_csv_job *j)
{
    struct cd_daemon *d = data;
    struct cd_csv *c = d->csv;

    c->reclaiming = false;
    if (j->rc < 0)
        cmn_warn(CMN_LOG_CD, "CSV orphans: %s (retried in %d s)", j->msg,
                 SCAN_MS / 1000);
    else
        seen_update(c, j);
    cd_csv_job_free(j);
}

/* Starts the scan of volume c->scan_idx (false: none left this round). */
static bool scan_start(struct cd_daemon *d, bool reclaim)
{
    struct cd_csv *c = d->csv;
    char path[PATH_MAX];
    struct cd_csv_job *j;

    if (!scan_path(c, c->scan_idx, path, sizeof(path)))
        return false;
    j = orphan_job(d, CD_CSV_CHECK, path);
    if (!j)
        return false;
    snprintf(j->priority, sizeof(j->priority), "%s", reclaim ? "r" : "");
    if (cd_csv_run(c, j, scan_done, d) == 0)
        c->scanning = true;
    else
        cd_csv_job_free(j);
    return c->scanning;
}

/* One volume scanned: its orphans noted, those past the grace period
 * reclaimed (by the coordinator), then the next volume of the round. */
static void scan_done(void *data, struct cd_csv_job *j)
{
    struct cd_daemon *d = data;
    struct cd_csv *c = d->csv;
    bool reclaim = j->priority[0] == 'r';
    uint64_t now = cmn_now_ms();

    c->scanning = false;
    if (j->rc < 0) {
        /* A volume whose LUN is gone here: the others are still scanned,
         * and its orphans keep their first sighting. */
        cmn_debug(CMN_LOG_CD, "CSV orphan scan: %s", j->msg);
        goto next;
    }
    seen_update(c, j);
    if (j->total_bytes && !j->path[0]) {
        c->space_known = true;
        c->space_free = j->free_bytes;
        c->space_total = j->total_bytes;
    }
    if (!reclaim || c->reclaiming || !cdb_trusted(d))
        goto next;
    for (size_t k = 0; k < c->nseen; k++)
        if (!strcmp(c->seen[k].volume, j->volume) &&
            now - c->seen[k].first_ms >= CD_CSV_ORPHAN_GRACE_MS) {
            struct cd_csv_job *r = orphan_job(d, CD_CSV_RECLAIM, j->path);
            if (r && cd_csv_run(c, r, reclaim_done, d) == 0)
                c->reclaiming = true;
            else
                cd_csv_job_free(r);
            break;
        }
next:
    cd_csv_job_free(j);
    c->scan_idx++;
    if (cdb_trusted(d))
        scan_start(d, reclaim);
}

void cd_csv_tick(struct cd_daemon *d, bool reclaim)
{
    struct cd_csv *c = d->csv;

    if (c)
        note_volumes(d);
    if (!c || c->scanning || !cdb_trusted(d) ||
        cmn_now_ms() - c->last_scan_ms < SCAN_MS)
        return;
    c->last_scan_ms = cmn_now_ms();
    c->scan_idx = 0;
    scan_start(d, reclaim);
}

static void ipc_done(void *data, struct cd_csv_job *j)
{
    struct cd_daemon *d = data;
    struct cd_csv *c = d->csv;
    uint64_t now = cmn_now_ms();
    struct cd_buf b;
    char *text = NULL;

    if (j->op == CD_CSV_RECLAIM)
        c->reclaiming = false;
    if (j->rc < 0) {
        char *e = NULL;
        cd_buf_init(&b);
        cd_buf_xmlf(&b, "<error code=\"%d\">", -j->rc);
        cd_buf_xml_escape(&b, j->msg);
        cd_buf_puts(&b, "</error>");
        cd_buf_steal(&b, &e, NULL);
        j->reply = e;
        cd_csv_job_answer(j, NULL);
        return;
    }
    seen_update(c, j);
    cd_buf_init(&b);
    cd_buf_xmlf(&b, "<volume-check volume=\"%s\" path=\"", j->volume);
    cd_buf_xml_escape(&b, job_path(c, j));
    cd_buf_xmlf(&b,
                "\" clean=\"%s\" problems=\"%d\" orphans=\"%zu\" "
                "free=\"%" PRIu64 "\" size=\"%" PRIu64 "\" "
                "reclaimed=\"%u\" kept=\"%u\" grace-s=\"%d\">\n",
                j->damage || j->norphans ? "no" : "yes", j->damage, j->norphans,
                j->free_bytes, j->total_bytes, j->reclaimed, j->kept,
                CD_CSV_ORPHAN_GRACE_MS / 1000);
    if (j->report)
        cd_buf_puts(&b, j->report);
    for (size_t i = 0; i < j->norphans; i++) {
        const struct cd_csv_orphan *o = &j->orphans[i];
        cd_buf_xmlf(&b, "<orphan slot=\"%u\" vm=\"", o->slot);
        cd_buf_xml_escape(&b, o->vm);
        cd_buf_xmlf(&b,
                    "\" uuid=\"%s\" used=\"%s\" "
                    "nextents=\"%zu\" bytes=\"%" PRIu64 "\" "
                    "orphaned-s=\"%" PRIu64 "\" extents=\"",
                    o->uuid, o->slot_used ? "yes" : "no", o->nextents, o->bytes,
                    (now - seen_since(c, j->volume, o->slot)) / 1000);
        for (size_t k = 0; k < o->nextents && k < CD_CSV_ORPHAN_EXTENTS; k++)
            cd_buf_xmlf(&b, "%s%" PRIu64, k ? "," : "", o->extents[k]);
        cd_buf_puts(&b, "\"/>\n");
    }
    cd_buf_puts(&b, "</volume-check>\n");
    cd_buf_steal(&b, &text, NULL);
    j->reply = text;
    cd_csv_job_answer(j, NULL);
}

int cd_csv_ipc(struct cd_daemon *d, struct cmn_ipc_conn *conn, bool repair,
               const char *volume, char **ret)
{
    char path[PATH_MAX] = "";
    struct cd_csv_job *j;
    int rc;

    if (!d->csv)
        return cd_csv_err(ret, -CD_E_NOT_FOUND,
                          "this clusterd keeps no VMs on a cluster-shared "
                          "volume (no [clusterd] csv): check a volume with "
                          "'clusterctl volume check PATH'");
    if (!cdb_trusted(d))
        return cd_csv_err(ret, -CD_E_NO_CLUSTER,
                          "the cluster database is not in sync here (no "
                          "quorum?), so slots cannot be compared with it: "
                          "see 'clusterctl status', or check the format "
                          "alone with 'clusterctl volume check PATH'");
    if (repair && d->csv->reclaiming)
        return cd_csv_err(ret, -EBUSY,
                          "a reclaim of orphaned slots is running: retry in "
                          "a few seconds");
    if (volume && !cmn_name_valid(volume))
        return cd_csv_err(ret, -CD_E_BAD_VALUE,
                          "volume name is not valid (a volume's name, as "
                          "'clusterctl volume list' shows it; a path checks "
                          "the device alone)");
    /* A CDB volume on another LUN by its path; any other name must be the
     * main CSV's (the worker compares it with the superblock). */
    if (volume) {
        cd_csv_volume_path(d, volume, path, sizeof(path));
        if (!strcmp(path, d->csv->path))
            path[0] = '\0';
    }
    j = orphan_job(d, repair ? CD_CSV_RECLAIM : CD_CSV_CHECK, path);
    if (!j)
        return -ENOMEM;
    if (volume)
        snprintf(j->want_volume, sizeof(j->want_volume), "%s", volume);
    j->conn = conn;
    cmn_ipc_conn_ref(conn);
    rc = cd_csv_run(d->csv, j, ipc_done, d);
    if (rc < 0) {
        cmn_ipc_conn_unref(conn);
        j->conn = NULL;
        cd_csv_job_free(j);
        return rc;
    }
    if (repair)
        d->csv->reclaiming = true;
    return CMN_IPC_DEFERRED;
}
