/* The systemd scope of each QEMU (see hva-int.h for why): the unit name
 * and the decision are pure; the move itself is one StartTransientUnit
 * call on the system bus, made in the agent's worker pool because a
 * busy or hung systemd must never stall the agent's loop. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-login.h>
#endif

#include "common/cmn-log.h"
#include "common/cmn-name.h"
#include "common/cmn-time.h"
#include "hvagent/hva-int.h"

/* Bytes systemd keeps in a unit name as they are (its VALID_CHARS less
 * the backslash, which only escapes use). */
static bool unit_char_plain(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == ':' || c == '_' || c == '.' ||
           c == '-';
}

int hva_scope_unit_name(const char *vm, char *buf, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t pre = strlen(HVA_SCOPE_PREFIX), suf = strlen(HVA_SCOPE_SUFFIX);
    size_t n = pre;
    char out[HVA_UNIT_NAME_MAX + 4];

    if (!vm || !*vm)
        return -EINVAL;
    memcpy(out, HVA_SCOPE_PREFIX, pre);
    for (const unsigned char *p = (const unsigned char *)vm; *p; p++) {
        /* A leading '.' would read as a hidden name in systemd's own
         * escaping; the prefix already protects us, but stay with the
         * same rule so systemd-escape --unescape gives the name back. */
        bool plain =
            unit_char_plain(*p) && !(p == (const void *)vm && *p == '.');
        if (n + (plain ? 1 : 4) + suf >= HVA_UNIT_NAME_MAX)
            return -ENAMETOOLONG;
        if (plain) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '\\';
            out[n++] = 'x';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 0xf];
        }
    }
    memcpy(out + n, HVA_SCOPE_SUFFIX, suf);
    n += suf;
    if (n + 1 > len)
        return -ENAMETOOLONG;
    memcpy(buf, out, n);
    buf[n] = '\0';
    return 0;
}

bool hva_scope_use(enum hva_scope_setting s, bool built, bool booted, char *why,
                   size_t whylen)
{
    if (s == HVA_SCOPE_NO) {
        snprintf(why, whylen, "systemd-scope = no");
        return false;
    }
    if (!built) {
        snprintf(why, whylen, "hvagent was built without libsystemd");
        return false;
    }
    if (!booted) {
        snprintf(why, whylen, "systemd is not PID 1 (no /run/systemd/system)");
        return false;
    }
    snprintf(why, whylen, "systemd is PID 1");
    return true;
}

bool hva_scope_built(void)
{
#ifdef HAVE_LIBSYSTEMD
    return true;
#else
    return false;
#endif
}

bool hva_scope_booted(void)
{
#ifdef HAVE_LIBSYSTEMD
    return sd_booted() > 0;
#else
    return false;
#endif
}

struct scope_job {
    pid_t pid;
    char vm[CMN_NAME_MAX];
    char unit[HVA_UNIT_NAME_MAX];
    char err[384];
};

#ifdef HAVE_LIBSYSTEMD
#define SCOPE_CALL_TIMEOUT_US (10 * 1000000ULL)
/* A scope of the same name from this VM's previous QEMU may still be
 * going away (a restart right after a kill): try again for this long. */
#define SCOPE_EXISTS_RETRY_MS 3000

static int scope_call(sd_bus *bus, struct scope_job *j, const char *own_unit,
                      sd_bus_error *error)
{
    sd_bus_message *m = NULL, *reply = NULL;
    char desc[128 + CMN_NAME_MAX];
    int rc;

    snprintf(desc, sizeof(desc), "kvmcluster VM '%s' (QEMU)", j->vm);
    rc = sd_bus_message_new_method_call(
        bus, &m, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
        "org.freedesktop.systemd1.Manager", "StartTransientUnit");
    if (rc >= 0)
        rc = sd_bus_message_append(m, "ss", j->unit, "fail");
    if (rc >= 0)
        rc = sd_bus_message_open_container(m, 'a', "(sv)");
    if (rc >= 0)
        rc = sd_bus_message_append(m, "(sv)(sv)(sv)(sv)", "Description", "s",
                                   desc, "Slice", "s", HVA_SCOPE_SLICE,
                                   "CollectMode", "s", "inactive-or-failed",
                                   "PIDs", "au", 1, (uint32_t)j->pid);
    /* Stopped after hvagent's unit (and so after clusterd, which is
     * ordered after hvagent and drains the node when it stops). */
    if (rc >= 0 && own_unit)
        rc = sd_bus_message_append(m, "(sv)", "Before", "as", 1, own_unit);
    if (rc >= 0)
        rc = sd_bus_message_close_container(m);
    if (rc >= 0)
        rc = sd_bus_message_append(m, "a(sa(sv))", 0);
    if (rc >= 0)
        rc = sd_bus_call(bus, m, SCOPE_CALL_TIMEOUT_US, error, &reply);
    sd_bus_message_unref(reply);
    sd_bus_message_unref(m);
    return rc;
}

static int scope_work(void *arg)
{
    struct scope_job *j = arg;
    sd_bus_error error = SD_BUS_ERROR_NULL;
    sd_bus *bus = NULL;
    char *own = NULL;
    uint64_t deadline = cmn_now_ms() + SCOPE_EXISTS_RETRY_MS;
    int rc;

    rc = sd_bus_open_system(&bus);
    if (rc < 0) {
        snprintf(j->err, sizeof(j->err), "system bus: %s", strerror(-rc));
        goto out;
    }
    /* Only a service is worth ordering against: hvagent run by hand
     * sits in a session scope. */
    if (sd_pid_get_unit(0, &own) < 0 || !own || strlen(own) < 9 ||
        strcmp(own + strlen(own) - 8, ".service") != 0) {
        free(own);
        own = NULL;
    }
    for (;;) {
        sd_bus_error_free(&error);
        rc = scope_call(bus, j, own, &error);
        if (rc >= 0 ||
            !sd_bus_error_has_name(&error,
                                   "org.freedesktop.systemd1.UnitExists") ||
            cmn_now_ms() >= deadline)
            break;
        poll(NULL, 0, 200);
    }
    if (rc < 0) {
        if (sd_bus_error_is_set(&error))
            snprintf(j->err, sizeof(j->err), "%s: %s", error.name,
                     error.message ? error.message : "");
        else
            snprintf(j->err, sizeof(j->err), "%s", strerror(-rc));
    }
out:
    sd_bus_error_free(&error);
    free(own);
    sd_bus_flush_close_unref(bus);
    return rc < 0 ? rc : 0;
}
#else
static int scope_work(void *arg)
{
    struct scope_job *j = arg;

    snprintf(j->err, sizeof(j->err), "built without libsystemd");
    return -ENOTSUP;
}
#endif

static void scope_work_done(void *arg, int rc)
{
    struct scope_job *j = arg;

    if (rc < 0)
        cmn_warn(CMN_LOG_HVA,
                 "VM '%s': QEMU %d stays in hvagent's cgroup, no systemd "
                 "scope '%s': %s",
                 j->vm, (int)j->pid, j->unit, j->err);
    else
        cmn_info(CMN_LOG_HVA, "VM '%s': QEMU %d in %s/%s", j->vm, (int)j->pid,
                 HVA_SCOPE_SLICE, j->unit);
    free(j);
}

int hva_scope_move(struct hva_agent *ag, const char *vm, pid_t pid)
{
    struct scope_job *j;
    int rc;

    if (!ag->scope)
        return 0;
    j = calloc(1, sizeof(*j));
    if (!j)
        return -ENOMEM;
    j->pid = pid;
    snprintf(j->vm, sizeof(j->vm), "%s", vm);
    rc = hva_scope_unit_name(vm, j->unit, sizeof(j->unit));
    if (rc < 0) {
        cmn_warn(CMN_LOG_HVA, "VM '%s': no systemd scope: %s", vm,
                 strerror(-rc));
        free(j);
        return rc;
    }
    rc = cmn_work_submit(ag->work, scope_work, scope_work_done, j);
    if (rc < 0) {
        cmn_warn(CMN_LOG_HVA, "VM '%s': no systemd scope '%s': %s", vm, j->unit,
                 strerror(-rc));
        free(j);
    }
    return rc;
}
