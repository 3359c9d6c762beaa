/* move-storage of a stopped VM, the volume side: run in cd-csv's worker
 * (see cd-csv.h for the jobs, cd-api-move.c for the order of the steps).
 *
 * Safety: from PREPARE to FINISH this clusterd holds the source slot's
 * VM lease (the one hvagent's QEMU acquires before it starts), so no
 * node can start the VM from disks being copied; the VM was stopped and
 * nothing was in flight when the move was accepted. The target's slot
 * and extents carry the VM's name: until the CDB names them they are
 * orphans named for a VM of the cluster, which the orphan reclaim frees
 * only once the marker the target slot holds until seal() (this node and
 * its host generation, cd_csv_mover) names a host sanlock sees dead or
 * reborn. The source is freed only after the CDB took the new definition
 * and reference.
 *
 * --disk (m->partial): only the named disks move; the VM's slot, state
 * extent and lease stay where they are. Their extents on the target
 * belong to the VM's slot there: its own when the disks come back beside
 * it, else its disk slot (the VM's name and uuid, owning disk extents
 * only; made here when missing, freed once the VM has no disk left on
 * that volume). A stopped VM's own lease is held as for a whole move, so
 * no QEMU starts it from disks being copied; a running VM's QEMU keeps
 * its lease and only the named disks are mirrored.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clusterd/cd-csv-int.h"
#include "clusterd/cd-hva.h"
#include "clusterd/cd-int.h"
#include "common/cmn-log.h"
#include "common/cmn-time.h"
#include "common/cmn-xml.h"
#include "csv/csv.h"
#include "hvagent/hva-proto.h"
#include "resources/res-vm.h"

#define CHUNK   (1u << 20) /* O_DIRECT copy buffer */
#define ALIGN   4096       /* covers 512- and 4096-byte sectors */
#define UNDO_MS 20000      /* retrying the target's undo (path back?) */
/* The progress rate's window: a paced QEMU mirror counts its bytes in
 * steps (a chunk when read), which average out over a few seconds. */
#define RATE_WINDOW_MS 5000

void cd_csv_move_free(struct cd_move *m)
{
    if (!m)
        return;
    csv_close(m->src); /* drops a lease still held */
    csv_close(m->home);
    free(m);
}

/* The worker's progress: bytes done so far, and the rate they give. */
static void progress(struct cd_move *m, uint64_t done)
{
    atomic_store(&m->done, done);
    cmn_rate_add(&m->rate_win, cmn_now_ms(), done);
    atomic_store(&m->rate, cmn_rate_bps(&m->rate_win, RATE_WINDOW_MS));
}

/* A stopped VM's lease held for a --disk move: on its home volume, or
 * on the source when the disks leave it. */
static void release_source_lease(struct cd_move *m)
{
    if (m->home) {
        csv_slot_lease_drop(m->home, m->home_slot);
        csv_close(m->home);
        m->home = NULL;
    } else if (m->src && !m->live) {
        csv_slot_lease_drop(m->src, m->src_slot);
    }
}

static void release_source(struct cd_move *m)
{
    release_source_lease(m);
    if (!m->src)
        return;
    csv_close(m->src);
    m->src = NULL;
}

/* What this move made on the target (locked): the slot with its extents,
 * or, where the VM had its slot there already, the extents alone. */
static int free_targets(struct csv_volume *vol, struct cd_move *m)
{
    struct csv_extent e;
    int rc = 0;

    if (!m->partial || m->dst_slot_new)
        return cd_csv_free_slot(vol, m->dst_slot);
    while (m->ndst > 0 && rc == 0) {
        const struct cd_move_copy *cp = &m->copies[m->ndst - 1];
        rc = csv_extent_get_owned(vol, cp->dst_id, m->dst_slot, &e);
        if (rc == 0)
            rc = csv_extent_free(vol, cp->dst_id);
        if (rc == 0 || rc == -CSV_E_NO_EXTENT)
            m->ndst--, rc = 0;
    }
    return rc;
}

/* Frees the target slot and its extents, retrying while the path may
 * come back; what is left is an orphan the reclaim frees. */
static int undo_target(struct cd_csv_job *j, struct cd_move *m)
{
    struct cd_csv_job tmp = {0};
    struct csv_volume *vol = NULL;
    struct csv_slot s;
    int64_t until = (int64_t)cmn_now_ms() + UNDO_MS;
    int rc;

    if (!m->dst_made)
        return 0;
    snprintf(tmp.vm, sizeof(tmp.vm), "%s", j->vm);
    for (;;) {
        rc = cd_csv_open_locked(m->dst_path, &tmp, &vol);
        if (rc == 0) {
            rc = csv_slot_get(vol, m->dst_slot, &s);
            /* Only our own slot: never another VM's. */
            if (rc == 0 && s.used && !strcmp(s.name, j->vm))
                rc = free_targets(vol, m);
            if (rc == 0)
                csv_slot_clear(&s);
            csv_unlock(vol);
            csv_close(vol);
        }
        if (rc == 0 || (int64_t)cmn_now_ms() >= until)
            break;
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL);
    }
    if (rc < 0)
        cmn_err(CMN_LOG_CD,
                "VM '%s': the target slot %u of a failed move is left on "
                "volume '%s' (%s): the orphan reclaim or 'clusterctl volume "
                "check --repair' frees it",
                j->vm, m->dst_slot, m->dst_volume, cmn_strerror(rc));
    else
        m->dst_made = false;
    return rc;
}

/* The source: its slot's lease held, its extents read. */
static int prepare_source(struct cd_csv_job *j, struct cd_move *m,
                          uint8_t uuid[16])
{
    size_t idx[RES_VM_MAX_DISKS], n = 0;
    struct csv_extent e;
    struct csv_slot s;
    uint64_t owner = 0;
    char err[512] = "";
    int rc;

    rc = cd_csv_open_locked(m->src_path, j, &m->src);
    if (rc < 0) {
        m->src = NULL;
        return rc;
    }
    /* The disks leave the VM's disk slot on another volume. */
    if (m->partial && strcmp(m->src_volume, m->home_volume) != 0 &&
        csv_slot_find(m->src, j->vm, &m->src_slot) < 0) {
        cd_errf(j->msg, sizeof(j->msg),
                "volume '%s' has no slot of VM '%s' for its disks there: "
                "left alone",
                m->src_volume, j->vm);
        rc = -CSV_E_NO_SLOT;
        goto out;
    }
    rc = csv_slot_get(m->src, m->src_slot, &s);
    if (rc == 0 && (!s.used || strcmp(s.name, j->vm))) {
        cd_errf(j->msg, sizeof(j->msg),
                "volume '%s': slot %u is not VM '%s''s: left alone",
                m->src_volume, m->src_slot, j->vm);
        rc = -CSV_E_NO_SLOT;
    }
    if (rc == 0)
        memcpy(uuid, s.uuid, 16);
    csv_slot_clear(&s);
    if (rc < 0)
        goto out;
    /* A running VM's QEMU holds it: the mirror keeps it there until the
     * target's is held too (hva-mirror.c). */
    if (m->live) {
        rc = 0;
    } else if (m->partial && strcmp(m->src_volume, m->home_volume) != 0) {
        /* The VM's own lease is on its home volume. */
        rc = csv_open(m->home_path, 0, NULL, &m->home);
        if (rc < 0) {
            m->home = NULL;
            cd_errf(j->msg, sizeof(j->msg), "VM '%s': volume '%s' (%s): %s",
                    j->vm, m->home_volume, m->home_path, cmn_strerror(rc));
            goto out;
        }
        rc = csv_slot_lease_hold(m->home, m->home_slot);
        if (rc < 0)
            csv_lease_owner(m->home, m->home_slot, &owner);
    } else {
        rc = csv_slot_lease_hold(m->src, m->src_slot);
        if (rc < 0)
            csv_lease_owner(m->src, m->src_slot, &owner);
    }
    if (rc < 0) {
        if (!j->msg[0])
            cd_errf(j->msg, sizeof(j->msg),
                    "VM '%s': its VM lease on volume '%s' is held by host "
                    "%" PRIu64
                    " (a QEMU of it is starting or running): stop it first",
                    j->vm, m->partial ? m->home_volume : m->src_volume, owner);
        goto out;
    }
    if (m->partial) {
        n = m->nsel;
        memcpy(idx, m->sel, n * sizeof(idx[0]));
    } else {
        rc = cd_move_disks(j->def, m->src_volume, idx, &n, err, sizeof(err));
    }
    if (rc < 0) {
        cd_errf(j->msg, sizeof(j->msg), "%s", err);
        goto out;
    }
    /* The state extent (the last copy) stays with a slot that stays. */
    for (size_t i = 0; i < n + !m->partial && rc == 0; i++) {
        uint64_t id = i < n ? j->def->disks[idx[i]].extent : m->src_state;
        rc = csv_extent_get_owned(m->src, id, m->src_slot, &e);
        if (rc < 0) {
            cd_errf(j->msg, sizeof(j->msg),
                    "VM '%s': extent %" PRIu64 " on volume '%s': %s", j->vm, id,
                    m->src_volume, cmn_strerror(rc));
            break;
        }
        m->copies[i].disk = i < n ? idx[i] : CD_MOVE_STATE;
        m->copies[i].src_id = e.id;
        m->copies[i].src_offset = e.offset;
        m->copies[i].length = e.length;
    }
    if (rc == 0)
        m->ncopies = n + !m->partial;
    if (rc == 0 && m->live && !m->partial && n != j->def->n_disks) {
        /* QEMU's mirror moves every disk of the guest: a disk that is
         * not an extent of this volume could not follow. */
        cd_errf(j->msg, sizeof(j->msg),
                "VM '%s': %zu of its %zu disks are extents of volume '%s': "
                "a running VM moves all its disks or, with --disk, the "
                "disks of one volume",
                j->vm, n, j->def->n_disks, m->src_volume);
        rc = -CD_E_BAD_VALUE;
    }
out:
    csv_unlock(m->src);
    if (rc < 0)
        release_source(m);
    return rc;
}

/* The marker of a target slot made by this move (cd_csv_mover): this
 * node and its host generation in the lockspace of the volume whose VM
 * lease the move's writer holds (the VM's own slot's). "" when that is
 * not known: the target is then kept if the move is cut, as before. */
static void mover_marker(struct cd_move *m, char *buf, size_t len)
{
    const char *lv = m->partial ? m->home_volume : m->src_volume;
    struct csv_volume *vol = m->home                      ? m->home
                             : !strcmp(m->src_volume, lv) ? m->src
                                                          : NULL;
    struct cd_csv_mover mv = {.node = m->node};
    struct csv_host *hosts = NULL;
    size_t n = 0;
    bool found = false;

    buf[0] = '\0';
    if (!vol || !m->node || csv_hosts(vol, 0, &hosts, &n) < 0)
        return;
    for (size_t i = 0; i < n; i++)
        /* Joined (the move's writer holds the VM's lease there): its
         * generation on disk is this incarnation's. */
        if (hosts[i].host_id == m->node && hosts[i].state != CSV_HOST_FREE &&
            hosts[i].state != CSV_HOST_DEAD && hosts[i].timestamp) {
            mv.generation = hosts[i].generation;
            found = true;
        }
    free(hosts);
    snprintf(mv.from, sizeof(mv.from), "%s", lv);
    if (!found || cd_csv_mover_format(buf, len, &mv) < 0)
        buf[0] = '\0';
}

static int prepare(struct cd_csv_job *j, struct cd_move *m)
{
    char marker[CD_NAME_MAX + 96];
    uint64_t lengths[CD_MOVE_MAX], need;
    struct csv_volume *dst = NULL;
    struct csv_space sp = {0};
    struct csv_extent e, se;
    char tag[CSV_TAG_MAX + 1];
    uint8_t uuid[16];
    uint32_t other;
    int rc;

    rc = prepare_source(j, m, uuid);
    if (rc < 0)
        return rc;
    rc = cd_csv_open_locked(m->dst_path, j, &dst);
    if (rc < 0)
        goto out;
    if (strcmp(csv_super(dst)->name, m->dst_volume) != 0) {
        cd_errf(j->msg, sizeof(j->msg),
                "volume '%s': its LUN %s holds volume '%s' now", m->dst_volume,
                m->dst_path, csv_super(dst)->name);
        rc = -CD_E_NOT_FOUND;
        goto out;
    }
    for (size_t i = 0; i < m->ncopies; i++)
        lengths[i] = m->copies[i].length;
    need = cd_move_need(lengths, m->ncopies, csv_super(dst)->alloc_unit);
    csv_space(dst, &sp);
    if (need > sp.free) {
        cd_move_no_space(j->msg, sizeof(j->msg), j->vm, m->dst_volume, need,
                         sp.free, sp.largest_free);
        rc = -CSV_E_NO_SPACE;
        goto out;
    }
    if (m->partial && csv_slot_find(dst, j->vm, &other) == 0) {
        /* The VM's own slot, or its disk slot there: it takes the
         * extents. */
        m->dst_slot = other;
        m->dst_made = true;
    } else if (m->partial) {
        mover_marker(m, marker, sizeof(marker));
        rc = csv_slot_create(dst, j->vm, uuid, marker, &m->dst_slot);
        if (rc < 0) {
            cd_errf(j->msg, sizeof(j->msg),
                    "volume '%s': cannot create a slot for VM '%s''s disks: "
                    "%s",
                    m->dst_volume, j->vm, cmn_strerror(rc));
            goto out;
        }
        m->dst_made = m->dst_slot_new = true;
    } else if (csv_slot_find(dst, j->vm, &other) == 0) {
        cd_errf(j->msg, sizeof(j->msg),
                "volume '%s' already has a slot for VM '%s' (slot %u, left "
                "from a move that died? 'clusterctl volume check --repair' "
                "frees it)",
                m->dst_volume, j->vm, other);
        rc = -CD_E_EXISTS;
        goto out;
    }
    if (!m->partial) {
        /* Until seal() stores the definition: who moves, so the orphan
         * reclaim can tell a cut move's target from one in flight. */
        mover_marker(m, marker, sizeof(marker));
        rc = csv_slot_create(dst, j->vm, uuid, marker, &m->dst_slot);
        if (rc < 0) {
            cd_errf(j->msg, sizeof(j->msg),
                    "volume '%s': cannot create a slot for VM '%s': %s",
                    m->dst_volume, j->vm, cmn_strerror(rc));
            goto out;
        }
        m->dst_made = true;
    }
    if (m->live && !m->partial) {
        struct csv_lease_loc loc;
        rc = csv_lease_location(dst, m->dst_slot, &loc);
        if (rc < 0) {
            cd_errf(j->msg, sizeof(j->msg),
                    "volume '%s': the lease of slot %u: %s", m->dst_volume,
                    m->dst_slot, cmn_strerror(rc));
            goto out;
        }
        snprintf(m->dst_lease_ls, sizeof(m->dst_lease_ls), "%s", loc.lockspace);
        snprintf(m->dst_lease_res, sizeof(m->dst_lease_res), "%s",
                 loc.resource);
        m->dst_lease_offset = loc.offset;
    }
    for (size_t i = 0; i < m->ncopies; i++) {
        struct cd_move_copy *cp = &m->copies[i];
        bool state = cp->disk == CD_MOVE_STATE;
        rc = csv_extent_get(m->src, cp->src_id, &se);
        if (rc == 0) {
            snprintf(tag, sizeof(tag), "%s", se.tag);
            rc = csv_extent_alloc(dst, cp->length, m->dst_slot,
                                  state ? CSV_EXTENT_STATE : CSV_EXTENT_DISK,
                                  se.index, tag, &e);
        }
        if (rc < 0) {
            if (rc == -CSV_E_NO_SPACE) {
                csv_space(dst, &sp);
                cd_move_no_space(j->msg, sizeof(j->msg), j->vm, m->dst_volume,
                                 need, sp.free, sp.largest_free);
            } else {
                cd_errf(j->msg, sizeof(j->msg),
                        "volume '%s': cannot allocate VM '%s''s extent of "
                        "%" PRIu64 " MiB: %s",
                        m->dst_volume, j->vm, cp->length >> 20,
                        cmn_strerror(rc));
            }
            goto out;
        }
        cp->dst_id = e.id;
        cp->dst_offset = e.offset;
        m->ndst = i + 1;
        if (state)
            rc = cd_move_ref(m->new_ref, sizeof(m->new_ref), m->dst_volume,
                             m->dst_slot, e.id);
    }
out:
    if (rc == 0 && m->partial) /* the VM's slot stays */
        rc = cd_move_ref(m->new_ref, sizeof(m->new_ref), m->home_volume,
                         m->home_slot, m->src_state);
    if (rc < 0 && dst && m->dst_made) {
        /* Nothing of a refused move stays on the target. */
        if (free_targets(dst, m) == 0)
            m->dst_made = false;
    }
    if (dst) {
        csv_unlock(dst);
        csv_close(dst);
    }
    if (rc < 0) {
        if (m->dst_made)
            undo_target(j, m);
        release_source(m);
    }
    return rc;
}

/* The bytes of the state extent worth copying: its saved state when the
 * header is valid, else none (the target's header is zeroed instead, so
 * no stale state of an earlier owner of that space is ever restored). */
static int state_bytes(int fd, const struct cd_move_copy *cp, uint8_t *buf,
                       uint64_t *ret)
{
    struct csv_state_hdr h;
    ssize_t n = pread(fd, buf, CSV_STATE_HDR_SIZE, (off_t)cp->src_offset);

    if (n != CSV_STATE_HDR_SIZE)
        return n < 0 ? -errno : -EIO;
    if (csv_state_hdr_decode(buf, CSV_STATE_HDR_SIZE, cp->length, &h) < 0) {
        *ret = 0;
        return 0;
    }
    *ret = CSV_STATE_HDR_SIZE + (h.length + ALIGN - 1) / ALIGN * ALIGN;
    if (*ret > cp->length)
        *ret = cp->length;
    return 0;
}

/* Sleeps until the `copied` bytes of this range are no more than the
 * bandwidth allows since the range began (m->t0_ms). */
static void pace(struct cd_move *m, uint64_t copied)
{
    uint64_t due_ms, now;

    if (!m->bandwidth)
        return;
    due_ms = m->t0_ms + copied * 1000 / m->bandwidth;
    now = cmn_now_ms();
    if (due_ms > now) {
        struct timespec ts = {(time_t)((due_ms - now) / 1000),
                              (long)((due_ms - now) % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static int copy_range(struct cd_csv_job *j, struct cd_move *m, int in, int out,
                      uint8_t *buf, const struct cd_move_copy *cp,
                      uint64_t bytes)
{
    uint64_t done = 0, n;
    ssize_t r;

    m->t0_ms = cmn_now_ms();
    while ((n = cd_move_chunk(done, bytes, CHUNK)) > 0) {
        r = pread(in, buf, n, (off_t)(cp->src_offset + done));
        if (r != (ssize_t)n) {
            cd_errf(j->msg, sizeof(j->msg),
                    "VM '%s': reading extent %" PRIu64 " of volume '%s' at "
                    "%" PRIu64 ": %s",
                    j->vm, cp->src_id, m->src_volume, done,
                    r < 0 ? strerror(errno) : "short read");
            return r < 0 ? -errno : -EIO;
        }
        r = pwrite(out, buf, n, (off_t)(cp->dst_offset + done));
        if (r != (ssize_t)n) {
            cd_errf(j->msg, sizeof(j->msg),
                    "VM '%s': writing extent %" PRIu64 " of volume '%s' at "
                    "%" PRIu64 ": %s",
                    j->vm, cp->dst_id, m->dst_volume, done,
                    r < 0 ? strerror(errno) : "short write");
            return r < 0 ? -errno : -EIO;
        }
        done += n;
        progress(m, atomic_load(&m->done) + n);
        if (atomic_load(&m->cancel)) {
            cd_errf(j->msg, sizeof(j->msg),
                    "VM '%s': the move was cancelled (move-storage "
                    "--cancel)",
                    j->vm);
            return -ECANCELED;
        }
        pace(m, done);
    }
    return 0;
}

int cd_csv_move_copy(struct cd_csv_job *j)
{
    struct cd_move *m = j->move;
    uint8_t *buf = NULL;
    uint64_t bytes;
    int in = -1, out = -1, rc = 0;

    in = open(m->src_path, O_RDONLY | O_DIRECT | O_CLOEXEC);
    out = open(m->dst_path, O_WRONLY | O_DIRECT | O_CLOEXEC);
    if (in < 0 || out < 0) {
        rc = -errno;
        cd_errf(j->msg, sizeof(j->msg), "VM '%s': cannot open %s: %s", j->vm,
                in < 0 ? m->src_path : m->dst_path, strerror(errno));
        goto out;
    }
    if (posix_memalign((void **)&buf, ALIGN, CHUNK) != 0) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < m->ncopies && rc == 0; i++) {
        struct cd_move_copy *cp = &m->copies[i];
        bytes = cp->length;
        if (cp->disk == CD_MOVE_STATE) {
            rc = state_bytes(in, cp, buf, &bytes);
            if (rc == 0 && bytes == 0) {
                memset(buf, 0, CSV_STATE_HDR_SIZE);
                if (pwrite(out, buf, CSV_STATE_HDR_SIZE,
                           (off_t)cp->dst_offset) != CSV_STATE_HDR_SIZE)
                    rc = -EIO;
                /* Counted as done: the total planned the whole extent. */
                progress(m, atomic_load(&m->done) + cp->length);
                continue;
            }
            if (rc == 0)
                progress(m, atomic_load(&m->done) + cp->length - bytes);
        }
        if (rc == 0)
            rc = copy_range(j, m, in, out, buf, cp, bytes);
    }
    if (rc == 0 && fdatasync(out) < 0) {
        rc = -errno;
        cd_errf(j->msg, sizeof(j->msg), "VM '%s': flushing volume '%s': %s",
                j->vm, m->dst_volume, strerror(errno));
    }
    if (rc < 0 && !j->msg[0])
        cd_errf(j->msg, sizeof(j->msg), "VM '%s': copy to volume '%s': %s",
                j->vm, m->dst_volume, cmn_strerror(rc));
out:
    free(buf);
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    return rc;
}

/* ---- a running VM: QEMU's mirror through hvagent (hva-mirror.c) -------- */

#define MIRROR_POLL_MS   500
#define MIRROR_ASK_MS    10000
#define MIRROR_LOST_MS   30000 /* hvagent away this long: give up */
#define MIRROR_SWITCH_MS 60000

struct mirror_st {
    char state[16];
    uint64_t done, total;
    bool dropped; /* hvagent dropped the target nodes */
    char msg[400];
};

/* hvagent's mirror request with `action`; 0 with *st filled, or < 0 with
 * hvagent's error (or why it did not answer) in st->msg. */
static int mirror_ask(struct cd_csv_job *j, struct cd_move *m,
                      const char *action, struct mirror_st *st)
{
    struct mirror_st tmp;
    struct cd_buf b;
    xmlDoc *doc = NULL;
    xmlNode *r;
    char *req = NULL;
    int rc;

    if (!st)
        st = &tmp;
    memset(st, 0, sizeof(*st));
    cd_buf_init(&b);
    cd_buf_xmlf(&b, "<request op=\"mirror\" vm=\"%s\" action=\"%s\"", j->vm,
                action);
    if (!strcmp(action, "start")) {
        /* storage-move-bandwidth paces QEMU's copy as it paces ours. */
        cd_buf_xmlf(&b, " copy-mode=\"%s\" speed=\"%" PRIu64 "\">",
                    m->write_blocking ? "write-blocking" : "background",
                    m->bandwidth);
        /* In the definition's order: hvagent pairs them with its disks. */
        for (size_t k = 0; k < j->def->n_disks; k++)
            for (size_t i = 0; i < m->ncopies; i++) {
                if (m->copies[i].disk != k)
                    continue;
                if (m->partial)
                    cd_buf_xmlf(&b, "<disk index=\"%zu\"", k);
                cd_buf_puts(&b, m->partial ? " path=\"" : "<disk path=\"");
                cd_buf_xml_escape(&b, m->dst_path);
                cd_buf_xmlf(&b,
                            "\" offset=\"%" PRIu64 "\" size=\"%" PRIu64 "\"/>",
                            m->copies[i].dst_offset, m->copies[i].length);
            }
        /* A part of the disks: the VM's slot and its lease stay. */
        if (!m->partial) {
            cd_buf_xmlf(&b, "<lease lockspace=\"%s\" resource=\"%s\" path=\"",
                        m->dst_lease_ls, m->dst_lease_res);
            cd_buf_xml_escape(&b, m->dst_path);
            cd_buf_xmlf(&b, "\" offset=\"%" PRIu64 "\"/>", m->dst_lease_offset);
        }
        cd_buf_puts(&b, "</request>");
    } else {
        cd_buf_puts(&b, "/>");
    }
    rc = cd_buf_steal(&b, &req, NULL);
    if (rc < 0)
        return rc;
    rc = cd_hva_ask(m->hva_ipc, req, MIRROR_ASK_MS, st->msg, sizeof(st->msg),
                    &doc);
    free(req);
    r = doc ? xmlDocGetRootElement(doc) : NULL;
    if (rc == 0 && r) {
        char num[24] = "", dropped[8] = "";
        cmn_xml_attr_copy(r, "state", st->state, sizeof(st->state));
        cmn_xml_attr_copy(r, "done", num, sizeof(num));
        st->done = strtoull(num, NULL, 10);
        cmn_xml_attr_copy(r, "total", num, sizeof(num));
        st->total = strtoull(num, NULL, 10);
        cmn_xml_attr_copy(r, "targets-dropped", dropped, sizeof(dropped));
        st->dropped = !strcmp(dropped, "yes");
        cmn_xml_attr_copy(r, "msg", st->msg, sizeof(st->msg));
    }
    xmlFreeDoc(doc);
    return rc;
}

static void mirror_sleep(void)
{
    struct timespec ts = {0, MIRROR_POLL_MS * 1000000L};

    nanosleep(&ts, NULL);
}

/* Polls the mirror until its state is one of `want` (space-separated) or
 * it failed; 0, -ECANCELED (--cancel: asked of hvagent), or < 0 with
 * j->msg set. */
static int mirror_wait(struct cd_csv_job *j, struct cd_move *m,
                       const char *want, uint64_t state_len, int64_t limit_ms)
{
    struct mirror_st st;
    int64_t lost_since = -1, t0 = (int64_t)cmn_now_ms();
    bool cancel_sent = false;
    int rc;

    for (;;) {
        int64_t now = (int64_t)cmn_now_ms();
        if (!cancel_sent && atomic_load(&m->cancel) && !m->completing) {
            rc = mirror_ask(j, m, "cancel", &st);
            cancel_sent = rc == 0;
        }
        rc = mirror_ask(j, m, "status", &st);
        if (rc < 0 && st.state[0] == '\0' && rc != -ENOENT &&
            rc != -HVA_E_NO_VM) {
            /* No answer: hvagent restarting? Its re-attach cancels
             * mirrors it finds, so wait for it a while. */
            if (lost_since < 0)
                lost_since = now;
            if (now - lost_since >= MIRROR_LOST_MS) {
                cd_errf(j->msg, sizeof(j->msg),
                        "VM '%s': hvagent on this node did not answer for "
                        "%d s during the storage mirror (%s)",
                        j->vm, MIRROR_LOST_MS / 1000, st.msg);
                return -ETIMEDOUT;
            }
            mirror_sleep();
            continue;
        }
        lost_since = -1;
        if (rc < 0) {
            /* The agent came back without the mirror (its re-attach
             * cancelled QEMU's jobs), or the VM is gone. */
            cd_errf(j->msg, sizeof(j->msg),
                    "VM '%s': the storage mirror is gone from hvagent (%s)",
                    j->vm, st.msg);
            m->mirror_gone = true;
            return rc;
        }
        progress(m, state_len + st.done);
        if (st.state[0] && strstr(want, st.state))
            return 0;
        if (!strcmp(st.state, "cancelled") || !strcmp(st.state, "failed")) {
            m->mirror_gone = st.dropped;
            if (!strcmp(st.state, "cancelled") || cancel_sent) {
                cd_errf(j->msg, sizeof(j->msg),
                        "VM '%s': the move was cancelled (move-storage "
                        "--cancel); the VM runs on volume '%s' as before",
                        j->vm, m->src_volume);
                return -ECANCELED;
            }
            cd_errf(j->msg, sizeof(j->msg),
                    "VM '%s': the storage mirror failed: %s; the VM runs on "
                    "volume '%s' as before",
                    j->vm, st.msg[0] ? st.msg : "?", m->src_volume);
            return -CD_E_ACTION;
        }
        if (limit_ms > 0 && now - t0 >= limit_ms) {
            cd_errf(j->msg, sizeof(j->msg),
                    "VM '%s': the storage mirror stayed %s for %" PRId64 " s",
                    j->vm, st.state, limit_ms / 1000);
            return -ETIMEDOUT;
        }
        mirror_sleep();
    }
}

/* The copy of a running VM, up to READY (source and target in step). */
int cd_csv_move_mirror(struct cd_csv_job *j)
{
    struct cd_move *m = j->move;
    struct mirror_st st;
    uint64_t state_len = 0;
    uint8_t *buf = NULL;
    int out, rc;

    /* The state extent holds no saved state while the VM runs: the
     * target's header is zeroed (no stale state of an earlier owner of
     * that space is ever restored). */
    out = open(m->dst_path, O_WRONLY | O_DIRECT | O_CLOEXEC);
    if (out < 0 || posix_memalign((void **)&buf, ALIGN, CSV_STATE_HDR_SIZE)) {
        rc = out < 0 ? -errno : -ENOMEM;
        cd_errf(j->msg, sizeof(j->msg), "VM '%s': cannot open %s: %s", j->vm,
                m->dst_path, cmn_strerror(rc));
        goto out;
    }
    memset(buf, 0, CSV_STATE_HDR_SIZE);
    for (size_t i = 0; i < m->ncopies; i++) {
        if (m->copies[i].disk != CD_MOVE_STATE)
            continue;
        if (pwrite(out, buf, CSV_STATE_HDR_SIZE,
                   (off_t)m->copies[i].dst_offset) != CSV_STATE_HDR_SIZE ||
            fdatasync(out) < 0) {
            rc = -EIO;
            cd_errf(j->msg, sizeof(j->msg),
                    "VM '%s': writing the state header on volume '%s': %s",
                    j->vm, m->dst_volume, strerror(errno));
            goto out;
        }
        state_len = m->copies[i].length;
    }
    progress(m, state_len);
    rc = mirror_ask(j, m, "start", &st);
    if (rc < 0) {
        cd_errf(j->msg, sizeof(j->msg),
                "VM '%s': hvagent refused the storage mirror: %s", j->vm,
                st.msg);
        m->mirror_gone = true;
        goto out;
    }
    m->state_len = state_len;
    rc = mirror_wait(j, m, "ready", state_len, 0);
out:
    free(buf);
    if (out >= 0)
        close(out);
    return rc;
}

/* The switch: hvagent takes the target slot's lease for the QEMU pid,
 * then completes every job (the guest's disks are the targets). */
static int mirror_switch(struct cd_csv_job *j, struct cd_move *m)
{
    struct mirror_st st;
    int rc;

    if (atomic_load(&m->cancel)) {
        cd_errf(j->msg, sizeof(j->msg),
                "VM '%s': the move was cancelled (move-storage --cancel); "
                "the VM runs on volume '%s' as before",
                j->vm, m->src_volume);
        return -ECANCELED;
    }
    m->completing = true;
    rc = mirror_ask(j, m, "complete", &st);
    if (rc < 0) {
        cd_errf(j->msg, sizeof(j->msg),
                "VM '%s': hvagent did not switch the disks: %s", j->vm, st.msg);
        return rc;
    }
    rc = mirror_wait(j, m, "completed", m->state_len, MIRROR_SWITCH_MS);
    if (rc == 0)
        m->switched = true;
    return rc;
}

/* A live move that failed before the CDB switch: hvagent's mirror is
 * cancelled (it may still copy), so the target can be freed. Where
 * hvagent may have switched some disks to the target already, the
 * target is kept (never freed under a running guest). */
static void mirror_undo(struct cd_csv_job *j, struct cd_move *m)
{
    struct mirror_st st;
    int64_t until = (int64_t)cmn_now_ms() + MIRROR_SWITCH_MS;

    if (m->switched) {
        /* The CDB refused the new ref after QEMU switched: the guest
         * writes to the target, which must stay. */
        cmn_err(CMN_LOG_CD,
                "VM '%s' runs on its disks on volume '%s' but the CDB still "
                "names volume '%s': both slots are kept (stop the VM and "
                "retry the move)",
                j->vm, m->dst_volume, m->src_volume);
        m->dst_made = false;
        return;
    }
    if (m->mirror_gone)
        return;
    mirror_ask(j, m, "cancel", &st);
    while (mirror_ask(j, m, "status", &st) == 0 &&
           strcmp(st.state, "cancelled") && strcmp(st.state, "failed") &&
           (int64_t)cmn_now_ms() < until)
        mirror_sleep();
    if (strcmp(st.state, "cancelled") && strcmp(st.state, "failed")) {
        cmn_err(CMN_LOG_CD,
                "VM '%s': the storage mirror to volume '%s' did not end "
                "(%s): its target slot %u is kept for the orphan reclaim",
                j->vm, m->dst_volume, st.state[0] ? st.state : st.msg,
                m->dst_slot);
        m->dst_made = false;
    } else if (m->completing && !st.dropped) {
        cmn_err(CMN_LOG_CD,
                "VM '%s': the storage mirror failed while switching (%s): "
                "its target slot %u on volume '%s' is kept",
                j->vm, st.msg, m->dst_slot, m->dst_volume);
        m->dst_made = false;
    }
}

/* After the copy: the target slot keeps the definition that names it. */
static int seal(struct cd_csv_job *j, struct cd_move *m)
{
    struct csv_volume *dst = NULL;
    int rc;

    cd_move_rewrite(j->def, m->dst_volume, m->copies, m->ncopies);
    free(j->def_xml);
    j->def_xml = NULL;
    rc = res_vm_serialize(j->def, &j->def_xml);
    if (rc < 0)
        return rc;
    rc = cd_csv_open_locked(m->dst_path, j, &dst);
    if (rc < 0)
        return rc;
    rc = csv_slot_set_xml(dst, m->dst_slot, j->def_xml);
    if (rc < 0)
        cd_errf(j->msg, sizeof(j->msg),
                "volume '%s': cannot store VM '%s''s definition in slot %u: "
                "%s",
                m->dst_volume, j->vm, m->dst_slot, cmn_strerror(rc));
    csv_unlock(dst);
    csv_close(dst);
    if (rc == 0 && m->partial && strcmp(m->dst_volume, m->home_volume) != 0 &&
        cd_csv_open_locked(m->home_path, j, &dst) == 0) {
        /* The VM's own slot keeps a copy too; the CDB is the authority
         * (the next change rewrites it). */
        if (csv_slot_set_xml(dst, m->home_slot, j->def_xml) < 0)
            cmn_warn(CMN_LOG_CD, "VM '%s': slot %u keeps an older definition",
                     j->vm, m->home_slot);
        csv_unlock(dst);
        csv_close(dst);
        j->msg[0] = '\0';
    }
    return rc;
}

/* --disk, after the CDB names the target: the source extents of the
 * disks that moved, and the VM's disk slot there once it holds none of
 * its disks (never its own slot). Under the source's metadata lease. */
static int free_moved(struct cd_csv_job *j, struct cd_move *m)
{
    struct csv_extent e;
    bool left = false;
    int rc = 0;

    for (size_t i = 0; i < m->ncopies && rc == 0; i++) {
        const struct cd_move_copy *cp = &m->copies[i];
        rc = csv_extent_get_owned(m->src, cp->src_id, m->src_slot, &e);
        if (rc == 0)
            rc = csv_extent_free(m->src, cp->src_id);
    }
    for (size_t i = 0; i < j->def->n_disks; i++)
        left |= !strcmp(cd_move_disk_volume(&j->def->disks[i], m->home_volume),
                        m->src_volume);
    if (rc == 0 && !left && strcmp(m->src_volume, m->home_volume) != 0)
        rc = cd_csv_free_slot(m->src, m->src_slot);
    return rc;
}

/* The CDB names the target now: the source lease goes, then the source
 * slot and its extents. */
static int finish_commit(struct cd_csv_job *j, struct cd_move *m)
{
    int rc;

    if (m->live) {
        /* QEMU lets the source lease go (it holds the target's since the
         * switch): only then may the source slot be freed. With --disk it
         * holds its one lease throughout; finish drops the source nodes. */
        struct mirror_st st;
        int64_t until = (int64_t)cmn_now_ms() + MIRROR_SWITCH_MS;
        rc = mirror_ask(j, m, "finish", &st);
        /* Freed only once QEMU's pid no longer holds the source lease. */
        while (rc == 0 && !strcmp(st.state, "finishing") &&
               (int64_t)cmn_now_ms() < until) {
            mirror_sleep();
            rc = mirror_ask(j, m, "status", &st);
        }
        if (rc == 0 && strcmp(st.state, "finished") != 0)
            rc = -CD_E_ACTION;
        if (rc < 0) {
            cd_errf(j->msg, sizeof(j->msg),
                    "VM '%s' moved to volume '%s', but its QEMU still holds "
                    "the old slot %u's lease on volume '%s' (%s): the slot is "
                    "freed once the VM stops (the orphan reclaim, or "
                    "'clusterctl volume check --repair')",
                    j->vm, m->dst_volume, m->src_slot, m->src_volume,
                    cmn_strerror(rc));
            csv_close(m->src);
            m->src = NULL;
            return rc;
        }
    } else if (m->partial) {
        release_source_lease(m);
    } else {
        csv_slot_lease_drop(m->src, m->src_slot);
    }
    rc = csv_lock(m->src, 15000);
    if (rc == 0) {
        rc = m->partial ? free_moved(j, m)
                        : cd_csv_free_slot(m->src, m->src_slot);
        csv_unlock(m->src);
    }
    if (rc < 0)
        cd_errf(j->msg, sizeof(j->msg),
                "VM '%s' moved to volume '%s', but its old slot %u on "
                "volume '%s' was not freed: %s (the orphan reclaim or "
                "'clusterctl volume check --repair' frees it)",
                j->vm, m->dst_volume, m->src_slot, m->src_volume,
                cmn_strerror(rc));
    csv_close(m->src);
    m->src = NULL;
    return rc;
}

int cd_csv_move_job(struct cd_csv *c, struct cd_csv_job *j, int copy_rc)
{
    struct cd_move *m = j->move;

    (void)c;
    if (!m)
        return -EINVAL;
    switch (j->op) {
    case CD_CSV_MOVE_PREPARE:
        return prepare(j, m);
    case CD_CSV_MOVE_COPY:
        if (copy_rc < 0)
            return copy_rc;
        copy_rc = seal(j, m);
        /* Running: the target slot names the new disks before QEMU
         * switches to them. */
        if (copy_rc == 0 && m->live)
            copy_rc = mirror_switch(j, m);
        return copy_rc;
    case CD_CSV_MOVE_FINISH:
        if (m->commit)
            return finish_commit(j, m);
        if (m->live)
            mirror_undo(j, m);
        undo_target(j, m);
        release_source(m);
        return 0;
    default:
        return -EINVAL;
    }
}
