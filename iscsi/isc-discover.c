/* SendTargets discovery: a short-lived discovery session driven by the
 * caller's thread, with the same deadline rule as every other command. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "common/cmn-time.h"
#include "iscsi/isc-int.h"

/* ---- discovery ------------------------------------------------------------
 */

struct disc_state {
    int step; /* 0 connecting, 1 logging in, 2 discovering, 3 done */
    int rc;
    char **iqns;
    char msg[300];
};

static void disc_fail(struct disc_state *d, struct iscsi_context *ctx, int rc,
                      const char *what)
{
    d->rc = rc;
    d->step = 3;
    snprintf(d->msg, sizeof(d->msg), "%s: %s", what, iscsi_get_error(ctx));
}

static void disc_list_cb(struct iscsi_context *ctx, int status, void *data,
                         void *priv)
{
    struct disc_state *d = priv;
    struct iscsi_discovery_address *a;
    size_t n = 0, i = 0;

    if (status != SCSI_STATUS_GOOD) {
        disc_fail(d, ctx, -ISC_E_DISCOVERY, "SendTargets failed");
        return;
    }
    for (a = data; a; a = a->next)
        n++;
    d->iqns = calloc(n + 1, sizeof(char *));
    if (!d->iqns) {
        d->rc = -ENOMEM;
        d->step = 3;
        return;
    }
    for (a = data; a; a = a->next) {
        d->iqns[i] = strdup(a->target_name);
        if (!d->iqns[i]) {
            d->rc = -ENOMEM;
            break;
        }
        i++;
    }
    d->step = 3;
}

static void disc_login_cb(struct iscsi_context *ctx, int status, void *data,
                          void *priv)
{
    struct disc_state *d = priv;

    (void)data;
    if (status != SCSI_STATUS_GOOD) {
        disc_fail(d, ctx, isc_login_error_class(iscsi_get_error(ctx)),
                  "discovery login failed");
        return;
    }
    d->step = 2;
    if (iscsi_discovery_async(ctx, disc_list_cb, d) < 0)
        disc_fail(d, ctx, -ISC_E_DISCOVERY, "SendTargets failed");
}

static void disc_connect_cb(struct iscsi_context *ctx, int status, void *data,
                            void *priv)
{
    struct disc_state *d = priv;

    (void)data;
    if (d->step != 0)
        return; /* second invocation at teardown */
    if (status != SCSI_STATUS_GOOD) {
        disc_fail(d, ctx, -ISC_E_CONNECT, "connect failed");
        return;
    }
    d->step = 1;
    if (iscsi_login_async(ctx, disc_login_cb, d) < 0)
        disc_fail(d, ctx, -ISC_E_LOGIN, "discovery login failed");
}

void isc_strv_free(char **v)
{
    char **p;

    if (!v)
        return;
    for (p = v; *p; p++)
        free(*p);
    free(v);
}

int isc_discover(const char *initiator_name, const char *portal,
                 const struct isc_auth *auth, uint32_t deadline_ms,
                 char ***ret_iqns, char *err, size_t errlen)
{
    struct iscsi_context *ctx;
    struct disc_state d = {0};
    uint64_t deadline = cmn_now_ms() + deadline_ms;
    int rc;

    ctx = iscsi_create_context(initiator_name);
    if (!ctx)
        return -ENOMEM;
    iscsi_set_noautoreconnect(ctx, 1);
    iscsi_set_session_type(ctx, ISCSI_SESSION_DISCOVERY);
    if (auth && auth->user)
        iscsi_set_initiator_username_pwd(ctx, auth->user, auth->secret);
    if (auth && auth->mutual_user)
        iscsi_set_target_username_pwd(ctx, auth->mutual_user,
                                      auth->mutual_secret);
    if (iscsi_connect_async(ctx, portal, disc_connect_cb, &d) < 0)
        disc_fail(&d, ctx, -ISC_E_CONNECT, "connect failed");
    while (d.step != 3) {
        uint64_t now = cmn_now_ms();
        struct pollfd pfd = {.fd = iscsi_get_fd(ctx)};
        int ev;

        if (now >= deadline) {
            d.rc = d.step == 0 ? -ISC_E_CONNECT : -ISC_E_TIMEOUT;
            snprintf(d.msg, sizeof(d.msg), "no answer from portal within %u ms",
                     deadline_ms);
            break;
        }
        ev = iscsi_which_events(ctx);
        pfd.events = (short)ev;
        if (poll(&pfd, ev ? 1 : 0,
                 (int)(deadline - now < 100 ? deadline - now : 100)) < 0)
            continue;
        if (pfd.revents && iscsi_service(ctx, pfd.revents) < 0 && d.step != 3)
            disc_fail(&d, ctx, d.step == 0 ? -ISC_E_CONNECT : -ISC_E_LOGIN,
                      "connection failed");
    }
    iscsi_destroy_context(ctx);
    rc = d.rc;
    if (rc < 0) {
        if (err && errlen)
            snprintf(err, errlen, "%s", d.msg);
        isc_strv_free(d.iqns);
        return rc;
    }
    *ret_iqns = d.iqns;
    return 0;
}
