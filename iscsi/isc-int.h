/* Internals of iscsi/: pure helpers (unit-tested) and lunbridge's config. */
#ifndef KVMC_ISC_INT_H
#define KVMC_ISC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

#define ISC_DEFAULT_CONF        "/etc/kvmcluster/kvmcluster.conf"
#define ISC_DEFAULT_MOUNTPOINT  "/run/kvmcluster/luns"
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

#include "common/cmn-auto.h"
CMN_DEFINE_AUTO(isc_lb_config, isc_lb_config_free)

#endif
