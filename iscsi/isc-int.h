/* Internals of iscsi/: pure helpers (unit-tested) and lunbridge's config. */
#ifndef KVMC_ISC_INT_H
#define KVMC_ISC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/cmn-paths.h"
#include "iscsi/isc.h"

/* ---- VPD and parameter data (isc-vpd.c) ------------------------------ */

/* Designator types of VPD page 0x83 (SPC-4 7.8.6). */
enum isc_desig_type {
    ISC_DESIG_VENDOR = 0x0,
    ISC_DESIG_T10 = 0x1,
    ISC_DESIG_EUI64 = 0x2,
    ISC_DESIG_NAA = 0x3,
    ISC_DESIG_REL_PORT = 0x4,
    ISC_DESIG_TPG = 0x5,
    ISC_DESIG_LU_GROUP = 0x6,
    ISC_DESIG_MD5 = 0x7,
    ISC_DESIG_SCSI_NAME = 0x8,
};

struct isc_designator {
    uint8_t type;    /* enum isc_desig_type */
    uint8_t assoc;   /* 0 = logical unit, 1 = target port, 2 = target */
    uint8_t codeset; /* 1 binary, 2 ASCII, 3 UTF-8 */
    uint8_t len;
    const uint8_t *data; /* points into the page */
};

/* The designator that names the logical unit for good: among those
 * associated with the LU, NAA (IEEE registered extended 6 > registered 5 >
 * the others) then EUI-64 (longest first). -ENOENT if none; -ISC_E_VPD if
 * the page is malformed (lengths running past its end, wrong page code). */
int isc_vpd83_select(const uint8_t *page, size_t len,
                     struct isc_designator *ret_desig);

/* "naa.<lowercase hex>" / "eui.<hex>"; -EINVAL for other types. */
int isc_id_format(const struct isc_designator *d, char *buf, size_t buflen);

/* The unit serial of VPD page 0x80, blanks trimmed. -ISC_E_VPD if
 * malformed, -ENOENT if empty. */
int isc_vpd80_serial(const uint8_t *page, size_t len, char *buf, size_t buflen);

/* "usn.<serial>" with every byte outside [A-Za-z0-9._-] as "%XX": a file
 * name that is never "." / ".." and never holds '/'. */
int isc_id_from_serial(const char *serial, char *buf, size_t buflen);

/* READ CAPACITY(16) parameter data. */
int isc_readcap16_parse(const uint8_t *data, size_t len, uint64_t *ret_nblocks,
                        uint32_t *ret_block_size);

/* REPORT LUNS parameter data: flat and peripheral addressing only. */
int isc_reportluns_parse(const uint8_t *data, size_t len, uint32_t *luns,
                         size_t max, size_t *ret_count);

/* ---- Sessions (isc-session.c) ---------------------------------------- */

/* -ISC_E_AUTH / -ISC_E_NO_TARGET / -ISC_E_LOGIN from libiscsi's text of a
 * refused login (libiscsi keeps the status code to itself). */
int isc_login_error_class(const char *msg);

/* ---- Block alignment (isc-align.c) ----------------------------------- */

/* How a byte range of a LUN maps on whole logical blocks. */
struct isc_span {
    uint64_t lba;      /* first block touched */
    uint64_t nblocks;  /* blocks touched */
    uint32_t head;     /* offset of the range inside the first block */
    size_t len;        /* bytes of the range after clipping at the end */
    bool partial_head; /* first block only partly covered */
    bool partial_tail; /* last block only partly covered */
};

/* Maps [off, off + len) of a device of `dev_size` bytes (a multiple of
 * `bs`, a power of two >= 512). Reads past the end are clipped (len 0 at
 * or past it); writes past it are -ENOSPC (`is_write`). */
int isc_span_compute(uint64_t off, size_t len, uint32_t bs, uint64_t dev_size,
                     bool is_write, struct isc_span *ret_span);

static inline bool isc_span_needs_rmw(const struct isc_span *sp)
{
    return sp->partial_head || sp->partial_tail;
}

/* ---- Portals (isc-config.c) ------------------------------------------- */

/* Splits "host[:port]" / "[v6]:port"; the port defaults to 3260. The
 * result is the "host:port" form libiscsi takes. */
int isc_portal_normalize(const char *in, char *buf, size_t buflen);

/* ---- lunbridge configuration (isc-config.c) --------------------------- */

#define ISC_DEFAULT_CONF        CMN_CONF_FILE
#define ISC_DEFAULT_MOUNTPOINT  CMN_LUN_DIR
#define ISC_DEFAULT_DEADLINE_MS 10000u

struct isc_lb_target {
    char *name;     /* section instance name */
    char **portals; /* normalized, NULL-terminated */
    size_t nportals;
    char *iqn; /* NULL with discovery */
    bool discovery;
    char *chap_user;
    char *chap_secret; /* read from chap-secret-file */
    char *mutual_user;
    char *mutual_secret;
};

struct isc_lb_config {
    char *mountpoint;
    char *initiator_name;
    uint32_t deadline_ms;
    char *metrics_file;           /* NULL: no metrics written */
    uint32_t metrics_interval_ms; /* how often they are */
    struct isc_lb_target *targets;
    size_t ntargets;
};

/* Loads and validates kvmcluster.conf's [lunbridge] and [target NAME]
 * sections; reads the CHAP secrets, refusing a secret file that is not a
 * regular file owned by us with no group/other permission. Errors go to
 * `err` as "FILE:LINE: ..." naming the key and the fix. */
int isc_lb_config_load(const char *path, struct isc_lb_config **ret_cfg,
                       char *err, size_t errlen);
int isc_lb_config_parse(const char *name, const char *text,
                        struct isc_lb_config **ret_cfg, char *err,
                        size_t errlen);
void isc_lb_config_free(struct isc_lb_config *cfg);

/* Reads a CHAP secret: one line, trailing newline dropped, 1..255 bytes;
 * -ISC_E_SECRET_PERM if the file is group/world accessible or not ours. */
int isc_secret_read(const char *path, char **ret_secret, char *err,
                    size_t errlen);

/* ---- Per-LUN metrics (isc-metrics.c) -----------------------------------
 *
 * lunbridge's figures of each LUN, written by lunbridge itself as a
 * textfile for prometheus-node-exporter (metrics-file): nothing else can
 * see its sessions, and one process owns the file. Under --supervise the
 * counters live in the hand-off record, so they keep counting across
 * worker restarts (a counter that fell back to 0 would hide the restart
 * it should show). Updated with atomic adds from any thread; a reader
 * sees each field whole. */

/* Upper bounds of the I/O latency buckets, in microseconds; one more
 * bucket (+Inf) follows. */
#define ISC_LAT_BUCKETS 14
extern const uint64_t isc_lat_le_us[ISC_LAT_BUCKETS];

struct isc_lun_stats {
    uint64_t reconnects; /* logins to the LUN's target after the first */
    uint64_t io_sum_us;  /* reads and writes, submission to answer */
    /* Per bucket (not cumulative), [ISC_LAT_BUCKETS] is +Inf. The count
     * is their sum, so a worker killed between two adds never leaves the
     * +Inf bucket and the count apart. */
    uint64_t io_buckets[ISC_LAT_BUCKETS + 1];
};

void isc_lun_stats_io(struct isc_lun_stats *s, uint64_t us);
void isc_lun_stats_reconnect(struct isc_lun_stats *s);

enum isc_lun_state {
    ISC_LUN_LOGGED_IN,    /* the target's session is up */
    ISC_LUN_RECONNECTING, /* lost for less than the deadline */
    ISC_LUN_DOWN,         /* lost for longer (I/O fails), or not found */
    ISC_LUN_STATE_COUNT,
};

const char *isc_lun_state_name(enum isc_lun_state s);
/* The state of a LUN whose session is `connected`, or was lost at
 * `lost_ms` (monotonic, 0 = never), at `now_ms`. */
enum isc_lun_state isc_lun_state_of(bool connected, uint64_t lost_ms,
                                    uint64_t now_ms, uint32_t deadline_ms);

struct isc_metrics_lun {
    const char *id;
    enum isc_lun_state state;
    const struct isc_lun_stats *stats;
};

/* The metrics of `n` LUNs of node `node` in the Prometheus text format
 * 0.0.4 that node-exporter's textfile collector reads (labels node and
 * lun). Free *ret_text. */
int isc_metrics_render(const char *node, const struct isc_metrics_lun *luns,
                       size_t n, char **ret_text);

/* ---- Hand-off between lunbridge's supervisor and its workers
 * (isc-handoff.c) ---------------------------------------------------------
 *
 * The supervisor keeps the FUSE connection (/dev/fuse) open across worker
 * deaths; this record, in a shared memory file the supervisor creates and
 * every worker maps, carries what a new worker must know to serve that
 * connection as the dead one did:
 *  - the kernel's FUSE_INIT request and the answer it got: the kernel
 *    sends INIT once per connection, so a new worker replays the saved
 *    request into its own libfuse session (the answer goes nowhere) and
 *    answers a re-sent INIT with the saved answer;
 *  - inode numbers by LUN id: the kernel keeps open files by inode
 *    number, so LUN `id` keeps its number whatever order a new worker
 *    finds the LUNs in (a LUN not found again gets EIO, never another
 *    LUN's data).
 * Only ever shared between processes of one host running one binary (the
 * supervisor starts /proc/self/exe): native layout, magic and version
 * checked. Every writer stores the data first and the length or count
 * that publishes it last, so a worker killed mid-update leaves a record
 * that is whole. */
#define ISC_HANDOFF_MAGIC    0x4c42484fu /* "LBHO" */
#define ISC_HANDOFF_VERSION  2u          /* 2: stats */
#define ISC_HANDOFF_MAX_LUNS 256
#define ISC_HANDOFF_INIT_MAX 512

struct isc_handoff {
    uint32_t magic;
    uint32_t version;
    uint32_t mounted;                  /* a worker mounted the connection */
    uint32_t nluns;                    /* ids[i] is inode 2 + i */
    int64_t started_sec, started_nsec; /* the files' times */
    uint64_t init_unique;
    uint64_t died_ms;        /* CLOCK_MONOTONIC when the last worker died */
    int32_t died_pid;        /* and its pid; 0: none died yet */
    uint32_t init_req_len;   /* 0: INIT not read yet */
    uint32_t init_reply_len; /* 0: INIT not answered yet */
    uint8_t init_req[ISC_HANDOFF_INIT_MAX];
    uint8_t init_reply[ISC_HANDOFF_INIT_MAX];
    char ids[ISC_HANDOFF_MAX_LUNS][ISC_ID_MAX];
    struct isc_lun_stats stats[ISC_HANDOFF_MAX_LUNS]; /* as ids */
};

void isc_handoff_reset(struct isc_handoff *h);
/* -EPROTO if `h` was not written by this version of lunbridge. */
int isc_handoff_check(const struct isc_handoff *h);
/* The inode number of LUN `id`: the one it had, else the next free one.
 * -ENOSPC past ISC_HANDOFF_MAX_LUNS. */
int isc_handoff_ino(struct isc_handoff *h, const char *id, uint64_t *ret_ino);
/* Keeps the kernel's INIT request (`unique` read from its header). */
int isc_handoff_save_init(struct isc_handoff *h, uint64_t unique,
                          const void *req, size_t len);
/* Keeps the answer to the saved INIT request if `unique` is its; -ENOENT
 * if it is not. */
int isc_handoff_save_init_reply(struct isc_handoff *h, uint64_t unique,
                                const void *reply, size_t len);
static inline bool isc_handoff_init_answered(const struct isc_handoff *h)
{
    return h->init_reply_len > 0;
}

/* ---- lunbridge --supervise (lunbridge-super.c) ---------------------------
 * The supervisor holds the FUSE connection and the hand-off record and
 * restarts the worker; the worker serves the connection it inherits. */
struct fuse_session;
struct fuse_custom_io;
struct iovec;
struct isc_lb_worker;

/* Runs the supervisor until told to stop; `argv` is the worker's command
 * line with argv[worker_slot] left for the "--worker=FD,FD" argument.
 * Returns the exit status. */
int isc_lb_supervise(const char *mountpoint, char *const *argv,
                     size_t worker_slot);
/* Worker: takes the inherited connection and hand-off record. */
int isc_lb_worker_open(int fuse_fd, int state_fd, struct isc_lb_worker **ret_w);
void isc_lb_worker_free(struct isc_lb_worker *w);
struct isc_handoff *isc_lb_worker_handoff(struct isc_lb_worker *w);
/* Mounts the connection if no worker has, asks the kernel to re-send what
 * a dead worker had read, attaches `se` through `io` and replays the
 * connection's INIT into it. */
int isc_lb_worker_attach(struct isc_lb_worker *w, struct fuse_session *se,
                         const struct fuse_custom_io *io,
                         const char *mountpoint, char *err, size_t errlen);
bool isc_lb_worker_resends(const struct isc_lb_worker *w);
/* Milliseconds since the previous worker died (its pid in `ret_pid`), -1
 * if none did. */
long isc_lb_worker_since_death(const struct isc_lb_worker *w, int *ret_pid);
/* The session's custom I/O: keep and replay FUSE_INIT. */
ssize_t isc_lb_worker_read(struct isc_lb_worker *w, int fd, void *buf,
                           size_t len);
ssize_t isc_lb_worker_writev(struct isc_lb_worker *w, int fd, struct iovec *iov,
                             int count);

#include "common/cmn-auto.h"
CMN_DEFINE_AUTO(isc_lb_config, isc_lb_config_free)

#endif
