/* The lease layer: sanlock for real, fcntl locks for unit tests. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <stdint.h> /* sanlock.h needs it first */
#include <sanlock.h>
#include <sanlock_admin.h>
#include <sanlock_direct.h>
#include <sanlock_resource.h>
#include <sanlock_rv.h>

#include "common/cmn-time.h"
#include "csv/csv-int.h"

/* ---- sanlock ----------------------------------------------------------------
 */

static uint32_t align_flag(uint32_t align)
{
    switch (align) {
    case 1u << 20:
        return SANLK_LSF_ALIGN1M; /* == SANLK_RES_ALIGN1M */
    case 2u << 20:
        return SANLK_LSF_ALIGN2M;
    case 4u << 20:
        return SANLK_LSF_ALIGN4M;
    default:
        return SANLK_LSF_ALIGN8M;
    }
}

static uint32_t sector_flag(uint32_t sector)
{
    return sector == 4096 ? SANLK_LSF_SECTOR4K : SANLK_LSF_SECTOR512;
}

/* sanlock's own codes (-2xx) mean nothing to cmn_strerror: fold them into
 * ours, keeping errno values as they are. */
static int sanlock_rc(int rv)
{
    if (rv >= 0)
        return 0;
    if (rv <= -200 && rv > -300)
        return -CSV_E_LEASE;
    return rv;
}

static void fill_resource(struct sanlk_resource *res,
                          const struct csv_lease_target *t)
{
    snprintf(res->lockspace_name, SANLK_NAME_LEN, "%s", t->lockspace);
    snprintf(res->name, SANLK_NAME_LEN, "%s", t->resource);
    res->num_disks = 1;
    res->flags = align_flag(t->align) | sector_flag(t->sector_size);
    snprintf(res->disks[0].path, SANLK_PATH_LEN, "%s", t->path);
    res->disks[0].offset = t->offset;
}

#define RES_BUF_SIZE (sizeof(struct sanlk_resource) + sizeof(struct sanlk_disk))

static int sl_write_lockspace(const struct csv_lease_target *t)
{
    struct sanlk_lockspace ls;

    memset(&ls, 0, sizeof(ls));
    snprintf(ls.name, SANLK_NAME_LEN, "%s", t->lockspace);
    ls.flags = align_flag(t->align) | sector_flag(t->sector_size);
    snprintf(ls.host_id_disk.path, SANLK_PATH_LEN, "%s", t->path);
    ls.host_id_disk.offset = t->offset;
    /* Direct I/O from this process: formatting needs no daemon. */
    return sanlock_rc(sanlock_direct_write_lockspace(&ls, 0, 0, t->io_timeout));
}

static int sl_write_resource(const struct csv_lease_target *t)
{
    union {
        struct sanlk_resource r;
        char buf[RES_BUF_SIZE];
    } u;

    memset(&u, 0, sizeof(u));
    fill_resource(&u.r, t);
    return sanlock_rc(
        sanlock_direct_write_resource(&u.r, 0, CSV_LEASE_HOSTS, 0));
}

static enum csv_host_state host_state(uint32_t flags)
{
    switch (flags & SANLK_HOST_MASK) {
    case SANLK_HOST_FREE:
        return CSV_HOST_FREE;
    case SANLK_HOST_LIVE:
        return CSV_HOST_LIVE;
    case SANLK_HOST_FAIL:
        return CSV_HOST_FAIL;
    case SANLK_HOST_DEAD:
        return CSV_HOST_DEAD;
    default:
        return CSV_HOST_UNKNOWN;
    }
}

static int sl_daemon_hosts(const char *lockspace, struct csv_host **ret_hosts,
                           size_t *ret_count)
{
    struct sanlk_host *hss = NULL;
    struct csv_host *hosts;
    int n = 0, rv;

    rv = sanlock_get_hosts(lockspace, 0, &hss, &n, 0);
    if (rv < 0) {
        free(hss);
        /* No daemon, or it has not joined this lockspace. */
        return -ENOENT;
    }
    hosts = calloc(n ? (size_t)n : 1, sizeof(*hosts));
    if (!hosts) {
        free(hss);
        return -ENOMEM;
    }
    for (int i = 0; i < n; i++) {
        hosts[i].host_id = hss[i].host_id;
        hosts[i].generation = hss[i].generation;
        hosts[i].timestamp = hss[i].timestamp;
        hosts[i].state = host_state(hss[i].flags);
    }
    free(hss);
    *ret_hosts = hosts;
    *ret_count = (size_t)n;
    return 0;
}

struct sl_state {
    int sock; /* registered connection: leases live as long as it */
};

static int sl_acquire(void **state, const struct csv_lease_target *t)
{
    struct sl_state *st = *state;
    union {
        struct sanlk_resource r;
        char buf[RES_BUF_SIZE];
    } u;
    struct sanlk_resource *res[1] = {&u.r};
    int rv;

    if (!st) {
        st = calloc(1, sizeof(*st));
        if (!st)
            return -ENOMEM;
        st->sock = -1;
        *state = st;
    }
    if (st->sock < 0) {
        /* The registration ties the lease to this process: if this host
         * loses its lockspace lease, sanlock kills us before another host
         * can take the metadata lease, so we never write after losing it. */
        st->sock = sanlock_register();
        if (st->sock < 0)
            return st->sock == -ECONNREFUSED || st->sock == -ENOENT
                       ? -ECONNREFUSED
                       : sanlock_rc(st->sock);
    }
    memset(&u, 0, sizeof(u));
    fill_resource(&u.r, t);
    rv =
        sanlock_acquire(st->sock, -1, SANLK_ACQUIRE_OWNER_NOWAIT, 1, res, NULL);
    switch (rv) {
    case 0:
        return 0;
    case -EAGAIN:
    case SANLK_ACQUIRE_IDLIVE:
    case SANLK_ACQUIRE_OWNED:
    case SANLK_ACQUIRE_OTHER:
    case SANLK_ACQUIRE_OWNED_RETRY:
    case SANLK_ACQUIRE_LVER:
    case SANLK_ACQUIRE_SHRETRY:
    case SANLK_DBLOCK_MBAL:
    case SANLK_DBLOCK_LVER:
        return -EAGAIN;
    case -ENOSPC:
        /* sanlock's answer for a lockspace it has not joined: "No space
         * left on device" would send an operator to the wrong place. */
        return -CSV_E_NO_LOCKSPACE;
    default:
        return sanlock_rc(rv);
    }
}

static int sl_release(void **state, const struct csv_lease_target *t)
{
    struct sl_state *st = *state;
    union {
        struct sanlk_resource r;
        char buf[RES_BUF_SIZE];
    } u;
    struct sanlk_resource *res[1] = {&u.r};

    if (!st || st->sock < 0)
        return -ENOENT;
    memset(&u, 0, sizeof(u));
    fill_resource(&u.r, t);
    return sanlock_rc(sanlock_release(st->sock, -1, 0, 1, res));
}

static void sl_release_all(void **state)
{
    struct sl_state *st = *state;

    if (!st)
        return;
    if (st->sock >= 0)
        close(st->sock); /* the daemon releases what the client held */
    free(st);
    *state = NULL;
}

const struct csv_lease_ops csv_sanlock_lease = {
    .write_lockspace = sl_write_lockspace,
    .write_resource = sl_write_resource,
    .daemon_hosts = sl_daemon_hosts,
    .acquire = sl_acquire,
    .release = sl_release,
    .release_all = sl_release_all,
};

/* ---- fake: fcntl byte-range locks -------------------------------------------
 */

/* Writes a leader record in sanlock's layout so inspect and check see the
 * same thing as on a sanlock-written volume. */
static int fake_write_leader(const struct csv_lease_target *t, uint32_t magic,
                             int records)
{
    uint8_t *buf = NULL;
    int fd = -1, rc = 0;
    size_t len = (size_t)t->sector_size * (size_t)records;

    buf = csv_iobuf(len);
    if (!buf)
        return -ENOMEM;
    for (int i = 0; i < records; i++) {
        uint8_t *p = buf + (size_t)i * t->sector_size;
        cmn_put_le32(p + 0, magic);
        cmn_put_le32(p + 12, t->sector_size);
        snprintf((char *)p + 56, 48, "%s", t->lockspace);
        if (t->resource)
            snprintf((char *)p + 104, 48, "%s", t->resource);
    }
    fd = open(t->path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    if (pwrite(fd, buf, len, (off_t)t->offset) != (ssize_t)len)
        rc = -EIO;
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    return rc;
}

static int fake_write_lockspace(const struct csv_lease_target *t)
{
    return fake_write_leader(t, CSV_SANLK_DELTA_MAGIC, 16);
}

static int fake_write_resource(const struct csv_lease_target *t)
{
    return fake_write_leader(t, CSV_SANLK_PAXOS_MAGIC, 1);
}

uint64_t csv_fake_live_host;

static int fake_daemon_hosts(const char *lockspace, struct csv_host **ret_hosts,
                             size_t *ret_count)
{
    struct csv_host *h;

    if (!csv_fake_live_host)
        return -ENOENT;
    h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->host_id = csv_fake_live_host;
    h->generation = 1;
    h->timestamp = 1;
    h->state = CSV_HOST_LIVE;
    *ret_hosts = h;
    *ret_count = 1;
    return 0;
}

struct fake_state {
    int fd;
};

static int fake_lock(void **state, const struct csv_lease_target *t, short type)
{
    struct fake_state *st = *state;
    struct flock fl = {
        .l_type = type,
        .l_whence = SEEK_SET,
        .l_start = (off_t)t->offset,
        .l_len = 1,
    };

    if (!st) {
        st = calloc(1, sizeof(*st));
        if (!st)
            return -ENOMEM;
        st->fd = open(t->path, O_RDWR | O_CLOEXEC);
        if (st->fd < 0) {
            int rc = -errno;
            free(st);
            return rc;
        }
        *state = st;
    }
    if (fcntl(st->fd, F_OFD_SETLK, &fl) < 0)
        return errno == EACCES || errno == EAGAIN ? -EAGAIN : -errno;
    return 0;
}

static int fake_acquire(void **state, const struct csv_lease_target *t)
{
    return fake_lock(state, t, F_WRLCK);
}

static int fake_release(void **state, const struct csv_lease_target *t)
{
    return fake_lock(state, t, F_UNLCK);
}

static void fake_release_all(void **state)
{
    struct fake_state *st = *state;

    if (!st)
        return;
    close(st->fd);
    free(st);
    *state = NULL;
}

const struct csv_lease_ops csv_fake_lease = {
    .write_lockspace = fake_write_lockspace,
    .write_resource = fake_write_resource,
    .daemon_hosts = fake_daemon_hosts,
    .acquire = fake_acquire,
    .release = fake_release,
    .release_all = fake_release_all,
};

/* ---- helpers
 * ------------------------------------------------------------------ */

void csv_lease_target_fill(const struct csv_volume *vol, uint32_t lease_idx,
                           char *resbuf, size_t reslen,
                           struct csv_lease_target *ret_t)
{
    const struct csv_region *r = csv_region_get(&vol->sb, CSV_REGION_LEASES);

    if (lease_idx == 0)
        snprintf(resbuf, reslen, "%s", CSV_META_LEASE_NAME);
    else
        snprintf(resbuf, reslen, "vm-slot-%u", lease_idx - 1);
    *ret_t = (struct csv_lease_target){
        .path = vol->path,
        .lockspace = vol->sb.name,
        .resource = resbuf,
        .offset = r->offset + (uint64_t)lease_idx * vol->sb.align,
        .sector_size = vol->sb.sector_size,
        .align = vol->sb.align,
        .io_timeout = vol->sb.io_timeout,
    };
}

/* Delta lease leader record fields (sanlock src/leader.h, little-endian). */
enum {
    DL_MAGIC = 0,
    DL_OWNER_ID = 32,
    DL_OWNER_GEN = 40,
    DL_SPACE = 56,
    DL_RESOURCE = 104,
    DL_TIMESTAMP = 152,
};

int csv_read_delta_leases(struct csv_volume *vol, struct csv_host **ret_hosts,
                          size_t *ret_count)
{
    const struct csv_region *r = csv_region_get(&vol->sb, CSV_REGION_LOCKSPACE);
    uint32_t sector = vol->sb.sector_size;
    size_t nrec = vol->sb.max_hosts ? vol->sb.max_hosts : 2000;
    size_t len = nrec * sector, n = 0;
    struct csv_host *hosts = NULL;
    uint8_t *buf = NULL;
    int rc;

    if (len > r->length)
        len = r->length, nrec = len / sector;
    buf = csv_iobuf(len);
    hosts = calloc(nrec, sizeof(*hosts));
    if (!buf || !hosts) {
        rc = -ENOMEM;
        goto out;
    }
    rc = vol->io->pread(vol->ioh, buf, len, r->offset);
    if (rc < 0)
        goto out;
    for (size_t i = 0; i < nrec; i++) {
        const uint8_t *p = buf + i * sector;
        struct csv_host *h = &hosts[n];
        if (cmn_get_le32(p + DL_MAGIC) != CSV_SANLK_DELTA_MAGIC)
            continue;
        h->host_id = i + 1;
        h->generation = cmn_get_le64(p + DL_OWNER_GEN);
        h->timestamp = cmn_get_le64(p + DL_TIMESTAMP);
        if (cmn_get_le64(p + DL_OWNER_ID) == 0 && h->generation == 0 &&
            h->timestamp == 0)
            continue; /* never joined */
        memcpy(h->owner, p + DL_RESOURCE, 48);
        h->owner[48] = '\0';
        h->state = h->timestamp ? CSV_HOST_UNKNOWN : CSV_HOST_FREE;
        n++;
    }
    *ret_hosts = hosts;
    *ret_count = n;
    hosts = NULL;
    rc = 0;
out:
    free(hosts);
    free(buf);
    return rc;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

int csv_hosts(struct csv_volume *vol, int sample_ms,
              struct csv_host **ret_hosts, size_t *ret_count)
{
    struct csv_host *hosts = NULL, *dh = NULL, *again = NULL;
    size_t n = 0, dn = 0, an = 0;
    int rc;

    rc = csv_read_delta_leases(vol, &hosts, &n);
    if (rc < 0)
        goto out;
    rc = vol->lease->daemon_hosts(vol->sb.name, &dh, &dn);
    if (rc == 0) {
        for (size_t i = 0; i < n; i++) {
            /* Not among the hosts the daemon has seen alive. */
            hosts[i].state =
                hosts[i].timestamp ? CSV_HOST_STALE : CSV_HOST_FREE;
            for (size_t j = 0; j < dn; j++)
                if (dh[j].host_id == hosts[i].host_id)
                    hosts[i].state = dh[j].state;
        }
        /* Hosts the daemon sees that the disk scan missed. */
        for (size_t j = 0; j < dn; j++) {
            bool found = false;
            for (size_t i = 0; i < n; i++)
                found |= hosts[i].host_id == dh[j].host_id;
            if (!found && (dh[j].state == CSV_HOST_LIVE ||
                           dh[j].state == CSV_HOST_FAIL)) {
                struct csv_host *nh = realloc(hosts, (n + 1) * sizeof(*hosts));
                if (!nh) {
                    rc = -ENOMEM;
                    goto out;
                }
                hosts = nh;
                hosts[n++] = dh[j];
            }
        }
    } else if (sample_ms > 0) {
        /* No daemon view: a lease is live if its timestamp moves. */
        int64_t deadline = (int64_t)cmn_now_ms() + sample_ms;
        bool pending = true;
        while (pending && (int64_t)cmn_now_ms() < deadline) {
            sleep_ms(250);
            free(again);
            again = NULL;
            rc = csv_read_delta_leases(vol, &again, &an);
            if (rc < 0)
                goto out;
            pending = false;
            for (size_t i = 0; i < n; i++) {
                if (hosts[i].state != CSV_HOST_UNKNOWN)
                    continue;
                for (size_t j = 0; j < an; j++)
                    if (again[j].host_id == hosts[i].host_id &&
                        (again[j].timestamp != hosts[i].timestamp ||
                         again[j].generation != hosts[i].generation))
                        hosts[i].state =
                            again[j].timestamp ? CSV_HOST_LIVE : CSV_HOST_FREE;
                pending |= hosts[i].state == CSV_HOST_UNKNOWN;
            }
        }
        for (size_t i = 0; i < n; i++)
            if (hosts[i].state == CSV_HOST_UNKNOWN)
                hosts[i].state = CSV_HOST_STALE;
    }
    *ret_hosts = hosts;
    *ret_count = n;
    hosts = NULL;
    rc = 0;
out:
    free(hosts);
    free(dh);
    free(again);
    return rc;
}

const char *csv_host_state_str(enum csv_host_state state)
{
    switch (state) {
    case CSV_HOST_FREE:
        return "free";
    case CSV_HOST_LIVE:
        return "live";
    case CSV_HOST_FAIL:
        return "fail";
    case CSV_HOST_DEAD:
        return "dead";
    case CSV_HOST_STALE:
        return "stale (not renewing)";
    default:
        return "unknown";
    }
}

static void fill_lockspace(const struct csv_volume *vol, uint64_t host_id,
                           struct sanlk_lockspace *ls)
{
    const struct csv_region *r = csv_region_get(&vol->sb, CSV_REGION_LOCKSPACE);

    memset(ls, 0, sizeof(*ls));
    snprintf(ls->name, SANLK_NAME_LEN, "%s", vol->sb.name);
    ls->host_id = host_id;
    snprintf(ls->host_id_disk.path, SANLK_PATH_LEN, "%s", vol->path);
    ls->host_id_disk.offset = r->offset;
}

int csv_lockspace_add(struct csv_volume *vol, uint64_t host_id)
{
    struct sanlk_lockspace ls;
    int rv;

    if (host_id == 0 || host_id > vol->sb.max_hosts)
        return -EINVAL;
    fill_lockspace(vol, host_id, &ls);
    rv = sanlock_add_lockspace_timeout(&ls, 0, vol->sb.io_timeout);
    return rv == -EEXIST ? -EEXIST : sanlock_rc(rv);
}

int csv_lockspace_rem(struct csv_volume *vol, uint64_t host_id)
{
    struct sanlk_lockspace ls;

    fill_lockspace(vol, host_id, &ls);
    return sanlock_rc(sanlock_rem_lockspace(&ls, 0));
}

const char *csv_ls_state_str(enum csv_ls_state state)
{
    switch (state) {
    case CSV_LS_ADDING:
        return "joining";
    case CSV_LS_JOINED:
        return "joined";
    case CSV_LS_REMOVING:
        return "leaving";
    default:
        return "not joined";
    }
}

int csv_lockspace_state(const struct csv_volume *vol, uint64_t host_id,
                        enum csv_ls_state *ret_state)
{
    struct sanlk_lockspace *lss = NULL;
    enum csv_ls_state st = CSV_LS_ABSENT;
    int n = 0, rv;

    /* get_lockspaces (not inq_lockspace) because it tells a lockspace
     * being joined from one that is held. */
    rv = sanlock_get_lockspaces(&lss, &n, 0);
    if (rv < 0 && rv != -ENOSPC) {
        free(lss);
        return sanlock_rc(rv);
    }
    for (int i = 0; lss && i < n; i++) {
        if (strncmp(lss[i].name, vol->sb.name, SANLK_NAME_LEN) != 0 ||
            lss[i].host_id != host_id)
            continue;
        st = lss[i].flags & SANLK_LSF_ADD   ? CSV_LS_ADDING
             : lss[i].flags & SANLK_LSF_REM ? CSV_LS_REMOVING
                                            : CSV_LS_JOINED;
    }
    free(lss);
    *ret_state = st;
    return 0;
}

int csv_lease_owner(struct csv_volume *vol, uint32_t slot,
                    uint64_t *ret_host_id)
{
    union {
        struct sanlk_resource r;
        char buf[RES_BUF_SIZE];
    } u;
    struct csv_lease_target t;
    struct sanlk_host *hs = NULL;
    uint64_t owner = 0;
    char res[48];
    int n = 0, rv;

    if (vol->lease != &csv_sanlock_lease)
        return -ENOTSUP;
    if (slot != CSV_OWNER_NONE && slot >= vol->sb.nslots)
        return -CSV_E_NO_SLOT;
    csv_lease_target_fill(vol, slot == CSV_OWNER_NONE ? 0 : slot + 1, res,
                          sizeof(res), &t);
    memset(&u, 0, sizeof(u));
    fill_resource(&u.r, &t);
    rv = sanlock_read_resource_owners(&u.r, 0, &hs, &n);
    if (rv < 0) {
        free(hs);
        return sanlock_rc(rv);
    }
    for (int i = 0; hs && i < n; i++)
        if (hs[i].timestamp)
            owner = hs[i].host_id;
    free(hs);
    *ret_host_id = owner;
    return 0;
}

/* ---- a VM lease's live holder -----------------------------------------------
 */

int csv_lease_held_live(const char *lockspace, const char *resource,
                        const char *path, uint64_t offset)
{
    union {
        struct sanlk_resource r;
        char buf[RES_BUF_SIZE];
    } u;
    struct sanlk_host *owners = NULL, *hosts = NULL;
    int nowners = 0, nhosts = 0, rc;
    uint32_t test = 0;

    memset(&u, 0, sizeof(u));
    /* sanlock names are 48 bytes, no terminator needed. */
    if (strlen(lockspace) > SANLK_NAME_LEN ||
        strlen(resource) > SANLK_NAME_LEN ||
        strlen(path) >= sizeof(u.r.disks[0].path))
        return -ENAMETOOLONG;
    memcpy(u.r.lockspace_name, lockspace, strlen(lockspace));
    memcpy(u.r.name, resource, strlen(resource));
    u.r.num_disks = 1;
    memcpy(u.r.disks[0].path, path, strlen(path) + 1);
    u.r.disks[0].offset = offset;
    rc = sanlock_read_resource_owners(&u.r, 0, &owners, &nowners);
    if (rc < 0)
        goto out;
    if (!nowners) {
        rc = 0;
        goto out;
    }
    rc = sanlock_get_hosts(lockspace, 0, &hosts, &nhosts, 0);
    if (rc < 0)
        goto out;
    rc = sanlock_test_resource_owners(&u.r, 0, owners, nowners, hosts, nhosts,
                                      &test);
    if (rc == 0)
        rc = (test & SANLK_TRF_FAIL) ? 1 : 0;
out:
    free(owners);
    free(hosts);
    return rc;
}
