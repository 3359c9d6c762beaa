/* iSCSI client for kvmcluster: a session per target on libiscsi.
 *
 * A session owns one libiscsi context driven by a worker thread of its own
 * (libiscsi's async API under a private poll loop), so any number of
 * threads may call the blocking I/O functions at once and their commands
 * are all in flight on the connection together.
 *
 * Every command carries a deadline (isc_target_opts.deadline_ms). A dead
 * connection is torn down and re-established with exponential back-off
 * (100 ms doubling to 2 s, rotating through the portals); a command that
 * was in flight when it died is sent once more on the new connection. A
 * command that cannot complete before its deadline returns -EIO: callers
 * never wait longer than the deadline plus scheduling noise.
 *
 * The library logs nothing above debug: it reports connection changes
 * through the optional event callback and returns error codes (negative
 * errno or -ISC_E_*, see cmn_strerror()).
 */
#ifndef KVMC_ISC_H
#define KVMC_ISC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cmn-err.h"

enum isc_err {
    ISC_E_CONNECT = CMN_E_ISC_BASE + 1, /* TCP connection to portal failed */
    ISC_E_LOGIN,       /* target rejected the login (other reason) */
    ISC_E_AUTH,        /* CHAP authentication failed */
    ISC_E_NO_TARGET,   /* no such target IQN at the portal */
    ISC_E_TIMEOUT,     /* deadline expired (session set-up) */
    ISC_E_SCSI,        /* command failed with CHECK CONDITION */
    ISC_E_NO_LUN,      /* logical unit not supported (removed?) */
    ISC_E_NO_ID,       /* LUN has neither NAA/EUI designator nor serial */
    ISC_E_VPD,         /* malformed VPD / parameter data */
    ISC_E_SECRET_PERM, /* CHAP secret file readable by group or others */
    ISC_E_CONFIG,      /* invalid lunbridge configuration */
    ISC_E_DISCOVERY,   /* SendTargets discovery failed */
    ISC_E_IDENTITY,    /* LUN identity changed behind our back */
    ISC_E_PORTAL,      /* malformed portal address */
    ISC_E_END_,
};

/* Registers the texts of the ISC_E_* codes with cmn_strerror(). */
void isc_err_register(void);

/* Longest LUN id, NUL included: "naa." + 32 hex digits, or a serial. */
#define ISC_ID_MAX 272

struct isc_auth {
    const char *user; /* NULL: no CHAP */
    const char *secret;
    const char *mutual_user; /* NULL: target not authenticated */
    const char *mutual_secret;
};

enum isc_event_kind {
    ISC_EV_CONNECTED,      /* logged in (again); `portal` names where */
    ISC_EV_CONN_LOST,      /* connection dropped; `reason` says why */
    ISC_EV_RECONNECT_FAIL, /* one reconnect attempt failed */
    ISC_EV_CMD_EXPIRED,    /* a command got -EIO at its deadline */
    ISC_EV_CMD_FAILED,     /* a command failed with a SCSI error */
};

struct isc_event {
    enum isc_event_kind kind;
    const char *target; /* IQN */
    const char *portal;
    const char *reason; /* human text, may be "" */
    int lun;            /* -1 if not about one LUN */
    int attempt;        /* RECONNECT_FAIL: consecutive failures */
};

/* Called from the session's worker thread: must not block or call back
 * into the session. */
typedef void (*isc_event_fn)(const struct isc_event *ev, void *opaque);

struct isc_target_opts {
    const char *initiator_name;
    const char *const *portals; /* "host[:port]", at least one */
    size_t nportals;
    const char *iqn;
    struct isc_auth auth;
    uint32_t deadline_ms;  /* per command, and for the first login */
    isc_event_fn on_event; /* optional */
    void *opaque;
};

struct isc_session;

/* Connects and logs in to one of the portals within the deadline. On
 * failure returns -ISC_E_{CONNECT,AUTH,NO_TARGET,LOGIN,TIMEOUT} and puts
 * the target's own words in `err`. */
int isc_session_open(const struct isc_target_opts *opts,
                     struct isc_session **ret_session, char *err,
                     size_t errlen);
/* Fails every queued command with -EIO, closes the connection, frees.
 * NULL ok. */
void isc_session_free(struct isc_session *s);
bool isc_session_connected(struct isc_session *s);
const char *isc_session_target(const struct isc_session *s);
/* The portal of the current (or last) connection. */
void isc_session_portal(struct isc_session *s, char *buf, size_t buflen);

/* SendTargets discovery at `portal`: the IQNs it offers, as a
 * NULL-terminated array (free with isc_strv_free). */
int isc_discover(const char *initiator_name, const char *portal,
                 const struct isc_auth *auth, uint32_t deadline_ms,
                 char ***ret_iqns, char *err, size_t errlen);
void isc_strv_free(char **v);

/* LUN numbers the target reports (REPORT LUNS). */
int isc_report_luns(struct isc_session *s, uint32_t **ret_luns,
                    size_t *ret_count);

struct isc_lun_info {
    uint32_t lun;
    char id[ISC_ID_MAX]; /* "naa.<hex>", "eui.<hex>" or "usn.<serial>" */
    bool id_from_serial; /* no NAA/EUI designator: id is the serial */
    char serial[256];    /* VPD 0x80, "" if none */
    char vendor[9];
    char product[17];
    uint32_t block_size; /* logical block length */
    uint64_t nblocks;
};

/* INQUIRY (standard, VPD 0x80, VPD 0x83) and READ CAPACITY(16). */
int isc_lun_probe(struct isc_session *s, uint32_t lun,
                  struct isc_lun_info *ret_info);

/* Blocking block I/O; `len` must be a multiple of `block_size`. Returns 0,
 * or -EIO (connection lost beyond the deadline), -ISC_E_NO_LUN,
 * -ISC_E_SCSI, -ISC_E_IDENTITY. */
int isc_read(struct isc_session *s, uint32_t lun, uint32_t block_size,
             uint64_t lba, void *buf, size_t len);
/* The same read without waiting: `done` runs once, on the session's
 * worker thread (it must not block, nor call back into the session), with
 * 0 or the error isc_read() would return. 0 = queued; < 0 = `done` will
 * not be called. */
typedef void (*isc_done_fn)(int rc, void *opaque);
int isc_read_async(struct isc_session *s, uint32_t lun, uint32_t block_size,
                   uint64_t lba, void *buf, size_t len, isc_done_fn done,
                   void *opaque);
int isc_write(struct isc_session *s, uint32_t lun, uint32_t block_size,
              uint64_t lba, const void *buf, size_t len);
int isc_sync_cache(struct isc_session *s, uint32_t lun);

/* Makes the session check, after every reconnect, that `lun` still carries
 * `id` (VPD 0x83); on a mismatch every later command to it fails with
 * -ISC_E_IDENTITY rather than touch someone else's disk. */
int isc_session_pin_id(struct isc_session *s, uint32_t lun, const char *id);

#endif
