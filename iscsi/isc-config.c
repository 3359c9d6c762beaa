/* lunbridge's part of kvmcluster.conf: [lunbridge] and [target NAME]. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cmn-cfg.h"
#include "iscsi/isc-int.h"

#define KEY(sec, k, t, d, rep)                                                 \
    {                                                                          \
        .section = (sec), .key = (k), .type = (t), .def = (d),                 \
        .repeatable = (rep)                                                    \
    }

static const struct cmn_cfg_key lb_keys[] = {
    KEY("lunbridge", "mountpoint", CMN_CFG_STR, ISC_DEFAULT_MOUNTPOINT, false),
    KEY("lunbridge", "initiator-name", CMN_CFG_STR, NULL, false),
    {.section = "lunbridge",
     .key = "deadline",
     .type = CMN_CFG_DURATION,
     .def = "10s",
     .min = 100,
     .max = 3600000},
    KEY("lunbridge", "metrics-file", CMN_CFG_STR, NULL, false),
    {.section = "lunbridge",
     .key = "metrics-interval",
     .type = CMN_CFG_DURATION,
     .def = "15s",
     .min = 100,
     .max = 3600000},
    {.section = "target",
     .key = "portal",
     .type = CMN_CFG_STR,
     .required = true,
     .repeatable = true},
    KEY("target", "iqn", CMN_CFG_STR, NULL, true),
    KEY("target", "discovery", CMN_CFG_BOOL, "no", true),
    KEY("target", "chap-user", CMN_CFG_STR, NULL, true),
    KEY("target", "chap-secret-file", CMN_CFG_STR, NULL, true),
    KEY("target", "mutual-chap-user", CMN_CFG_STR, NULL, true),
    KEY("target", "mutual-chap-secret-file", CMN_CFG_STR, NULL, true),
    {0},
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int isc_portal_normalize(const char *in, char *buf, size_t buflen)
{
    const char *host = in, *port = NULL, *p;
    size_t hostlen;
    long portnum = 3260;
    char *endp;

    if (!in || !*in)
        return -ISC_E_PORTAL;
    if (in[0] == '[') {
        p = strchr(in, ']');
        if (!p || p == in + 1)
            return -ISC_E_PORTAL;
        hostlen = (size_t)(p - in) + 1;
        if (p[1] == ':')
            port = p + 2;
        else if (p[1] != '\0')
            return -ISC_E_PORTAL;
    } else {
        p = strchr(in, ':');
        if (p && strchr(p + 1, ':'))
            return -ISC_E_PORTAL; /* bare IPv6 needs brackets */
        hostlen = p ? (size_t)(p - in) : strlen(in);
        if (p)
            port = p + 1;
        if (hostlen == 0)
            return -ISC_E_PORTAL;
        for (p = in; p < in + hostlen; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '.' || *p == '-'))
                return -ISC_E_PORTAL;
    }
    if (port) {
        errno = 0;
        portnum = strtol(port, &endp, 10);
        if (*port == '\0' || *endp != '\0' || errno || portnum < 1 ||
            portnum > 65535)
            return -ISC_E_PORTAL;
    }
    if ((size_t)snprintf(buf, buflen, "%.*s:%ld", (int)hostlen, host,
                         portnum) >= buflen)
        return -ENAMETOOLONG;
    return 0;
}

int isc_secret_read(const char *path, char **ret_secret, char *err,
                    size_t errlen)
{
    int fd cmn_autoclose = -1;
    struct stat st;
    char buf[512];
    ssize_t n;
    size_t len;
    char *s;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        int rc = -errno;
        set_err(err, errlen, "cannot open CHAP secret file '%s': %s", path,
                strerror(errno));
        return rc;
    }
    if (fstat(fd, &st) < 0) {
        int rc = -errno;
        set_err(err, errlen, "cannot stat '%s': %s", path, strerror(errno));
        return rc;
    }
    if (!S_ISREG(st.st_mode)) {
        set_err(err, errlen, "CHAP secret file '%s' is not a regular file",
                path);
        return -ISC_E_SECRET_PERM;
    }
    /* A secret others can read is no secret: refuse rather than warn, so
     * a packaging slip is fixed before the target is ever contacted. */
    if (st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
        set_err(err, errlen,
                "CHAP secret file '%s' has mode %04o owner uid %u: it must "
                "be owned by uid %u and not accessible to group or others "
                "(chown %u '%s'; chmod 600 '%s')",
                path, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
                (unsigned)geteuid(), (unsigned)geteuid(), path, path);
        return -ISC_E_SECRET_PERM;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    if (n < 0) {
        int rc = -errno;
        set_err(err, errlen, "cannot read '%s': %s", path, strerror(errno));
        return rc;
    }
    buf[n] = '\0';
    len = strcspn(buf, "\r\n");
    if (len == 0 || len > 255 || (buf[len] == '\0' && (size_t)n == 511)) {
        set_err(err, errlen,
                "CHAP secret file '%s' must hold one line of 1 to 255 bytes",
                path);
        return -ISC_E_CONFIG;
    }
    buf[len] = '\0';
    s = strdup(buf);
    explicit_bzero(buf, sizeof(buf));
    if (!s)
        return -ENOMEM;
    *ret_secret = s;
    return 0;
}

static void target_clear(struct isc_lb_target *t)
{
    char **p;

    free(t->name);
    if (t->portals)
        for (p = t->portals; *p; p++)
            free(*p);
    free(t->portals);
    free(t->iqn);
    free(t->chap_user);
    free(t->mutual_user);
    if (t->chap_secret) {
        explicit_bzero(t->chap_secret, strlen(t->chap_secret));
        free(t->chap_secret);
    }
    if (t->mutual_secret) {
        explicit_bzero(t->mutual_secret, strlen(t->mutual_secret));
        free(t->mutual_secret);
    }
}

void isc_lb_config_free(struct isc_lb_config *cfg)
{
    size_t i;

    if (!cfg)
        return;
    for (i = 0; i < cfg->ntargets; i++)
        target_clear(&cfg->targets[i]);
    free(cfg->targets);
    free(cfg->mountpoint);
    free(cfg->initiator_name);
    free(cfg->metrics_file);
    free(cfg);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* The portal key takes one address or several separated by blanks or
 * commas: the session moves to the next one when a connection fails. */
static int parse_portals(const struct cmn_cfg *c, const char *inst,
                         struct isc_lb_target *t, char *err, size_t errlen)
{
    const char *v = cmn_cfg_str(c, "target", inst, "portal");
    char *copy cmn_autofree = strdup(v ? v : "");
    char *save = NULL, *tok;
    size_t n = 0;

    if (!copy)
        return -ENOMEM;
    t->portals = calloc(strlen(copy) / 2 + 2, sizeof(char *));
    if (!t->portals)
        return -ENOMEM;
    for (tok = strtok_r(copy, " \t,", &save); tok;
         tok = strtok_r(NULL, " \t,", &save)) {
        char norm[300];
        int rc = isc_portal_normalize(tok, norm, sizeof(norm));

        if (rc < 0) {
            set_err(err, errlen,
                    "%s:%d: [target %s] portal '%s' is not host[:port] "
                    "(e.g. 198.18.0.10:3260 or [2001:db8::1]:3260)",
                    cmn_cfg_name(c), cmn_cfg_line(c, "target", inst, "portal"),
                    inst, tok);
            return -ISC_E_CONFIG;
        }
        t->portals[n] = strdup(norm);
        if (!t->portals[n])
            return -ENOMEM;
        n++;
    }
    if (n == 0) {
        set_err(err, errlen, "%s:%d: [target %s] portal is empty",
                cmn_cfg_name(c), cmn_cfg_line(c, "target", inst, "portal"),
                inst);
        return -ISC_E_CONFIG;
    }
    t->nportals = n;
    return 0;
}

static int load_secret(const struct cmn_cfg *c, const char *inst,
                       const char *key, char **ret, char *err, size_t errlen)
{
    const char *path = cmn_cfg_str(c, "target", inst, key);
    char sub[400];
    int rc;

    rc = isc_secret_read(path, ret, sub, sizeof(sub));
    if (rc < 0)
        set_err(err, errlen, "%s:%d: [target %s] %s: %s", cmn_cfg_name(c),
                cmn_cfg_line(c, "target", inst, key), inst, key, sub);
    return rc;
}

static int build_target(const struct cmn_cfg *c, const char *inst,
                        struct isc_lb_target *t, char *err, size_t errlen)
{
    const char *name = cmn_cfg_name(c);
    const char *iqn = cmn_cfg_str(c, "target", inst, "iqn");
    const char *cu = cmn_cfg_str(c, "target", inst, "chap-user");
    const char *cf = cmn_cfg_str(c, "target", inst, "chap-secret-file");
    const char *mu = cmn_cfg_str(c, "target", inst, "mutual-chap-user");
    const char *mf = cmn_cfg_str(c, "target", inst, "mutual-chap-secret-file");
    int rc;

    t->name = strdup(inst ? inst : "");
    if (!t->name)
        return -ENOMEM;
    rc = parse_portals(c, inst, t, err, errlen);
    if (rc < 0)
        return rc;
    rc = cmn_cfg_bool(c, "target", inst, "discovery", &t->discovery);
    if (rc < 0)
        return rc;
    if (!iqn == !t->discovery) {
        set_err(err, errlen,
                "%s:%d: [target %s] give either 'iqn = <target IQN>' or "
                "'discovery = yes', not %s",
                name, cmn_cfg_line(c, "target", inst, iqn ? "iqn" : "portal"),
                inst, iqn ? "both" : "neither");
        return -ISC_E_CONFIG;
    }
    if (iqn && strncmp(iqn, "iqn.", 4) != 0 && strncmp(iqn, "eui.", 4) != 0 &&
        strncmp(iqn, "naa.", 4) != 0) {
        set_err(err, errlen,
                "%s:%d: [target %s] iqn '%s' is not an iSCSI name (iqn.*, "
                "eui.* or naa.*)",
                name, cmn_cfg_line(c, "target", inst, "iqn"), inst, iqn);
        return -ISC_E_CONFIG;
    }
    if (!cu != !cf) {
        set_err(err, errlen,
                "%s:%d: [target %s] chap-user and chap-secret-file go "
                "together: give both or neither",
                name,
                cmn_cfg_line(c, "target", inst,
                             cu ? "chap-user" : "chap-secret-file"),
                inst);
        return -ISC_E_CONFIG;
    }
    if (!mu != !mf) {
        set_err(
            err, errlen,
            "%s:%d: [target %s] mutual-chap-user and "
            "mutual-chap-secret-file go together: give both or neither",
            name,
            cmn_cfg_line(c, "target", inst,
                         mu ? "mutual-chap-user" : "mutual-chap-secret-file"),
            inst);
        return -ISC_E_CONFIG;
    }
    if (mu && !cu) {
        set_err(err, errlen,
                "%s:%d: [target %s] mutual CHAP needs one-way CHAP too: add "
                "chap-user and chap-secret-file",
                name, cmn_cfg_line(c, "target", inst, "mutual-chap-user"),
                inst);
        return -ISC_E_CONFIG;
    }
    t->iqn = dup_or_null(iqn);
    t->chap_user = dup_or_null(cu);
    t->mutual_user = dup_or_null(mu);
    if ((iqn && !t->iqn) || (cu && !t->chap_user) || (mu && !t->mutual_user))
        return -ENOMEM;
    if (cf) {
        rc = load_secret(c, inst, "chap-secret-file", &t->chap_secret, err,
                         errlen);
        if (rc < 0)
            return rc;
    }
    if (mf) {
        rc = load_secret(c, inst, "mutual-chap-secret-file", &t->mutual_secret,
                         err, errlen);
        if (rc < 0)
            return rc;
        if (strcmp(t->mutual_secret, t->chap_secret) == 0) {
            /* RFC 7143 12.1.3: the two directions must use different
             * secrets, and targets (tgt included) enforce it. */
            set_err(err, errlen,
                    "%s:%d: [target %s] the mutual CHAP secret must differ "
                    "from the initiator's CHAP secret",
                    name,
                    cmn_cfg_line(c, "target", inst, "mutual-chap-secret-file"),
                    inst);
            return -ISC_E_CONFIG;
        }
    }
    return 0;
}

static int build(const struct cmn_cfg *c, struct isc_lb_config **ret_cfg,
                 char *err, size_t errlen)
{
    CMN_AUTO(isc_lb_config) *cfg = calloc(1, sizeof(*cfg));
    const char *s;
    int64_t v;
    size_t n, i, j;
    int rc;

    if (!cfg)
        return -ENOMEM;
    s = cmn_cfg_str(c, "lunbridge", NULL, "mountpoint");
    if (!s || s[0] != '/') {
        set_err(err, errlen,
                "%s:%d: [lunbridge] mountpoint must be an absolute path",
                cmn_cfg_name(c),
                cmn_cfg_line(c, "lunbridge", NULL, "mountpoint"));
        return -ISC_E_CONFIG;
    }
    cfg->mountpoint = strdup(s);
    if (!cfg->mountpoint)
        return -ENOMEM;
    s = cmn_cfg_str(c, "lunbridge", NULL, "initiator-name");
    if (s) {
        cfg->initiator_name = strdup(s);
    } else {
        /* One IQN per host: targets with ACLs tell nodes apart by it. */
        char host[256] = "localhost";
        char buf[320];

        gethostname(host, sizeof(host) - 1);
        host[sizeof(host) - 1] = '\0';
        snprintf(buf, sizeof(buf), "iqn.2026-11.org.kvmcluster:%s", host);
        cfg->initiator_name = strdup(buf);
    }
    if (!cfg->initiator_name)
        return -ENOMEM;
    rc = cmn_cfg_int(c, "lunbridge", NULL, "deadline", &v);
    if (rc < 0)
        return rc;
    cfg->deadline_ms = (uint32_t)v;
    s = cmn_cfg_str(c, "lunbridge", NULL, "metrics-file");
    if (s) {
        if (s[0] != '/') {
            set_err(err, errlen,
                    "%s:%d: [lunbridge] metrics-file must be an absolute "
                    "path (node-exporter's textfile directory, e.g. "
                    "/var/lib/prometheus/node-exporter/lunbridge.prom)",
                    cmn_cfg_name(c),
                    cmn_cfg_line(c, "lunbridge", NULL, "metrics-file"));
            return -ISC_E_CONFIG;
        }
        cfg->metrics_file = strdup(s);
        if (!cfg->metrics_file)
            return -ENOMEM;
    }
    rc = cmn_cfg_int(c, "lunbridge", NULL, "metrics-interval", &v);
    if (rc < 0)
        return rc;
    cfg->metrics_interval_ms = (uint32_t)v;

    n = cmn_cfg_count(c, "target");
    if (n == 0) {
        set_err(err, errlen,
                "%s: no [target NAME] section: lunbridge has nothing to "
                "export (add one with portal and iqn)",
                cmn_cfg_name(c));
        return -ISC_E_CONFIG;
    }
    cfg->targets = calloc(n, sizeof(*cfg->targets));
    if (!cfg->targets)
        return -ENOMEM;
    for (i = 0; i < n; i++) {
        const char *inst = cmn_cfg_instance(c, "target", i);

        cfg->ntargets = i + 1;
        rc = build_target(c, inst, &cfg->targets[i], err, errlen);
        if (rc < 0)
            return rc;
        for (j = 0; j < i; j++) {
            const struct isc_lb_target *o = &cfg->targets[j];
            const struct isc_lb_target *t = &cfg->targets[i];

            if (t->iqn && o->iqn && strcmp(t->iqn, o->iqn) == 0) {
                set_err(err, errlen,
                        "%s:%d: [target %s] iqn '%s' is already used by "
                        "[target %s]; list several portals in one section",
                        cmn_cfg_name(c), cmn_cfg_line(c, "target", inst, "iqn"),
                        inst, t->iqn, o->name);
                return -ISC_E_CONFIG;
            }
        }
    }
    *ret_cfg = CMN_STEAL(cfg);
    return 0;
}

int isc_lb_config_parse(const char *name, const char *text,
                        struct isc_lb_config **ret_cfg, char *err,
                        size_t errlen)
{
    CMN_AUTO(cmn_cfg) *c = NULL;
    int rc = cmn_cfg_parse_flags(lb_keys, name, text,
                                 CMN_CFG_SKIP_OTHER_SECTIONS, &c, err, errlen);

    if (rc < 0)
        return rc;
    return build(c, ret_cfg, err, errlen);
}

int isc_lb_config_load(const char *path, struct isc_lb_config **ret_cfg,
                       char *err, size_t errlen)
{
    CMN_AUTO(cmn_cfg) *c = NULL;
    int rc = cmn_cfg_load_flags(lb_keys, path, CMN_CFG_SKIP_OTHER_SECTIONS, &c,
                                err, errlen);

    return rc < 0 ? rc : build(c, ret_cfg, err, errlen);
}
