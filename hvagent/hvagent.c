/* hvagent: the per-node VM executor (see hva-proto.h and hvagent(8)). */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libxml/entities.h>
#include <libxml/tree.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cmn-auto.h"
#include "common/cmn-cfg.h"
#include "common/cmn-err.h"
#include "common/cmn-ipc.h"
#include "common/cmn-name.h"
#include "common/cmn-log.h"
#include "common/cmn-paths.h"
#include "common/cmn-time.h"
#include "common/cmn-xml.h"
#include "hvagent/hva-int.h"
#include "resources/res-err.h"

static struct hva_agent agent;

static char *reply_error(int rc, const char *msg)
{
    return cmn_xml_format("<reply rc=\"%d\" error=\"%s\"/>", rc, msg);
}

/* start/restore of a VM that was armed, once its prepared QEMU is gone. */
static void after_disarm(struct hva_vm *vm, bool start)
{
    char err[1024] = "";
    int rc;

    rc = start ? hva_vm_start(vm, err, sizeof(err))
               : hva_restore(vm, err, sizeof(err));
    if (rc < 0) {
        snprintf(vm->last_err, sizeof(vm->last_err), "%s",
                 err[0] ? err : cmn_strerror(rc));
        hva_vm_reply(vm, rc, NULL);
    }
}

static void after_disarm_start(struct hva_vm *vm, int rc, const char *err)
{
    (void)rc;
    (void)err;
    after_disarm(vm, true);
}

static void after_disarm_restore(struct hva_vm *vm, int rc, const char *err)
{
    (void)rc;
    (void)err;
    after_disarm(vm, false);
}

/* ---- one function per operation ----------------------------------------
 * Each returns 0 (reply in *ret_reply, or the plain rc="0" one),
 * CMN_IPC_DEFERRED (the VM answers once the operation is done) or a
 * negative code with `err` set. The request was checked by
 * hva_request_parse. */

static int op_define(struct hva_agent *ag, struct hva_request *req,
                     char **ret_reply, char *err, size_t errlen)
{
    struct hva_vm *vm = NULL;
    int rc = hva_vm_define(ag, req->def, &vm);

    if (rc < 0) {
        snprintf(err, errlen, "VM '%s': %s", req->def->name, cmn_strerror(rc));
        return rc;
    }
    req->def = NULL; /* the VM owns it now */
    *ret_reply = cmn_xml_format("<reply rc=\"0\" vm=\"%s\" uuid=\"%s\"/>",
                                vm->def->name, vm->def->uuid);
    if (!*ret_reply)
        return -ENOMEM;
    return 0;
}

static int op_start(struct hva_vm *vm, char *err, size_t errlen)
{
    if (vm->pid) {
        snprintf(err, errlen, "VM '%s' is already %s (pid %d)", vm->def->name,
                 hva_vm_state_name(vm->state), (int)vm->pid);
        return -HVA_E_STATE;
    }
    return hva_vm_start(vm, err, errlen);
}

static int op_stop(struct hva_vm *vm, const struct hva_request *req, char *err,
                   size_t errlen)
{
    int rc;

    if (!vm->pid) {
        snprintf(err, errlen, "VM '%s' is not running", vm->def->name);
        return -HVA_E_STATE;
    }
    if (req->op == HVA_OP_STOP)
        return hva_vm_stop(vm, req->timeout_ms);
    rc = hva_vm_kill(vm);
    return rc == 0 ? CMN_IPC_DEFERRED : rc;
}

static int op_migrate_in(struct hva_vm *vm, const struct hva_request *req,
                         char **ret_reply, char *err, size_t errlen)
{
    /* Arms this node for this VM only; its QEMU is prepared now. */
    int rc = hva_mig_arm(vm, req->timeout_s, err, errlen);

    if (rc == 0) {
        *ret_reply =
            cmn_xml_format("<reply rc=\"0\" vm=\"%s\" state=\"%s\" pid=\"%d\" "
                           "armed-s=\"%u\"/>",
                           vm->def->name, hva_vm_state_name(vm->state),
                           (int)vm->pid, req->timeout_s);
        if (!*ret_reply)
            rc = -ENOMEM;
    }
    return rc;
}

static int op_disarm(struct hva_vm *vm, char **ret_reply)
{
    /* The caller knows the migration failed: nothing prepared for it
     * stays, whether a source came or not. */
    bool was = hva_mig_cancel_in(vm, "the migration was called off");

    *ret_reply = cmn_xml_format("<reply rc=\"0\" vm=\"%s\" disarmed=\"%s\"/>",
                                vm->def->name, was ? "yes" : "no");
    if (!*ret_reply)
        return -ENOMEM;
    return 0;
}

/* An operation on a defined VM that runs no other operation. */
static int run_vm_op(struct hva_vm *vm, struct hva_request *req,
                     char **ret_reply, char *err, size_t errlen)
{
    /* Armed for a migration that is not coming (no source has connected):
     * the prepared QEMU goes, then the request runs. */
    if (req->op == HVA_OP_START && hva_mig_disarm(vm, after_disarm_start))
        return CMN_IPC_DEFERRED;
    if (req->op == HVA_OP_RESTORE && hva_mig_disarm(vm, after_disarm_restore))
        return CMN_IPC_DEFERRED;
    if ((req->op == HVA_OP_MIGRATE_OUT || req->op == HVA_OP_SAVE ||
         req->op == HVA_OP_DISK_ADD || req->op == HVA_OP_DISK_REMOVE) &&
        hva_mirror_busy(vm)) {
        snprintf(err, errlen,
                 "VM '%s' is moving its storage: %s waits until the move is "
                 "done or cancelled",
                 vm->def->name, hva_op_name(req->op));
        return -HVA_E_STATE;
    }
    switch (req->op) {
    case HVA_OP_START:
        return op_start(vm, err, errlen);
    case HVA_OP_STOP:
    case HVA_OP_KILL:
        return op_stop(vm, req, err, errlen);
    case HVA_OP_UNDEFINE:
        return hva_vm_undefine(vm);
    case HVA_OP_MIGRATE_OUT:
        return hva_mig_out(vm, req->to, &req->mig, err, errlen);
    case HVA_OP_MIGRATE_IN:
        return op_migrate_in(vm, req, ret_reply, err, errlen);
    case HVA_OP_DISARM:
        return op_disarm(vm, ret_reply);
    case HVA_OP_SAVE:
        return hva_save(vm, err, errlen);
    case HVA_OP_RESTORE:
        return hva_restore(vm, err, errlen);
    case HVA_OP_DISK_ADD:
        return hva_disk_add(vm, &req->disk, err, errlen);
    case HVA_OP_DISK_REMOVE:
        return hva_disk_remove(vm, req->disk.slot, err, errlen);
    case HVA_OP_MIRROR:
        return hva_mirror_request(vm, req, ret_reply, err, errlen);
    default:
        snprintf(err, errlen, "unknown op '%s'", hva_op_name(req->op));
        return -HVA_E_BAD_REQUEST;
    }
}

static void probe_cpu_async(struct hva_agent *ag);

/* <reply rc="0" node="N"><cpu>CAPABILITY</cpu></reply>; the first request
 * starts the probe (so an agent nobody asks never runs the probe's QEMU
 * beside its VMs); EAGAIN while
 * the probe runs, ENODATA when it failed (the log says why). */
static int cpu_reply(struct hva_agent *ag, char **ret_reply, char *err,
                     size_t errlen)
{
    xmlChar *node, *text;
    int n;

    if (!ag->cpu_caps && !ag->cpu_probe_started) {
        ag->cpu_probe_started = true;
        probe_cpu_async(ag);
    }
    if (!ag->cpu_caps) {
        snprintf(err, errlen, "node '%s': %s", ag->node_name,
                 ag->cpu_probe_done ? "the CPU probe failed (see the log)"
                                    : "the CPU probe is still running");
        return ag->cpu_probe_done ? -ENODATA : -EAGAIN;
    }
    node = xmlEncodeSpecialChars(NULL, (const xmlChar *)ag->node_name);
    text = xmlEncodeSpecialChars(NULL, (const xmlChar *)ag->cpu_caps);
    n = node && text ? asprintf(ret_reply,
                                "<reply rc=\"0\" node=\"%s\"><cpu>%s</cpu>"
                                "</reply>",
                                (const char *)node, (const char *)text)
                     : -1;
    xmlFree(node);
    xmlFree(text);
    return n < 0 ? -ENOMEM : 0;
}

/* <reply rc="0" accel="kvm|tcg" why="..."/>: fixed at start-up. */
static int accel_reply(struct hva_agent *ag, char **ret_reply)
{
    xmlChar *why = xmlEncodeSpecialChars(NULL, (const xmlChar *)ag->accel_why);
    int n =
        why ? asprintf(ret_reply, "<reply rc=\"0\" accel=\"%s\" why=\"%s\"/>",
                       ag->accel, (const char *)why)
            : -1;

    xmlFree(why);
    return n < 0 ? -ENOMEM : 0;
}

static int dispatch(struct hva_agent *ag, struct cmn_ipc_conn *conn,
                    struct hva_request *req, char **ret_reply, char *err,
                    size_t errlen)
{
    struct hva_vm *vm;
    int rc;

    if (req->op == HVA_OP_SUBSCRIBE) {
        cmn_ipc_subscribe(conn, true);
        return 0;
    }
    if (req->op == HVA_OP_DEFINE)
        return op_define(ag, req, ret_reply, err, errlen);
    if (req->op == HVA_OP_STATUS && !req->vm)
        return hva_status_reply(ag, NULL, cmn_now_ms(), ret_reply);
    if (req->op == HVA_OP_CPU)
        return cpu_reply(ag, ret_reply, err, errlen);
    if (req->op == HVA_OP_ACCEL)
        return accel_reply(ag, ret_reply);
    vm = hva_vm_find(ag, req->vm);
    if (!vm) {
        snprintf(err, errlen,
                 "VM '%s' is not defined on node '%s' (define it first)",
                 req->vm ? req->vm : "", ag->node_name);
        return -HVA_E_NO_VM;
    }
    if (req->op == HVA_OP_STATUS)
        return hva_status_reply(ag, vm, cmn_now_ms(), ret_reply);
    if (vm->op_conn) {
        snprintf(err, errlen, "VM '%s': another operation is running",
                 vm->def->name);
        return -EBUSY;
    }
    rc = run_vm_op(vm, req, ret_reply, err, errlen);
    /* undefine freed the VM: only a deferred operation keeps it. */
    if (rc == CMN_IPC_DEFERRED) {
        cmn_ipc_conn_ref(conn);
        vm->op_conn = conn;
    }
    return rc;
}

static int on_request(void *data, struct cmn_ipc_conn *conn,
                      const char *request, char **ret_reply)
{
    struct hva_agent *ag = data;
    struct hva_request req;
    char err[1024] = "";
    int rc;

    rc = hva_request_parse(ag, request, &req, err, sizeof(err));
    if (rc == 0) {
        cmn_debug(CMN_LOG_HVA, "request %s %s", hva_op_name(req.op),
                  req.vm ? req.vm : "");
        rc = dispatch(ag, conn, &req, ret_reply, err, sizeof(err));
    }
    if (rc < 0) {
        if (!err[0])
            snprintf(err, sizeof(err), "%s", cmn_strerror(rc));
        cmn_info(CMN_LOG_HVA, "request '%s' failed: %s", hva_op_name(req.op),
                 err);
        *ret_reply = reply_error(rc, err);
        rc = *ret_reply ? 0 : -ENOMEM;
    } else if (rc == 0 && !*ret_reply) {
        *ret_reply = strdup("<reply rc=\"0\"/>");
    }
    hva_request_clear(&req);
    return rc;
}

static void on_closed(void *data, struct cmn_ipc_conn *conn)
{
    struct hva_agent *ag = data;

    /* The requester went away: its deferred reply has nowhere to go. */
    for (struct hva_vm *vm = ag->vms; vm; vm = vm->next) {
        if (vm->op_conn == conn) {
            vm->op_conn = NULL;
            cmn_ipc_conn_unref(conn);
        }
    }
}

static int32_t on_sigchld(int32_t sig, void *data)
{
    (void)sig;
    hva_vm_check_children(data);
    /* Reap anything else we forked (probe) that nobody waits for. */
    return 0;
}

static int32_t on_term(int32_t sig, void *data)
{
    struct hva_agent *ag = data;

    cmn_info(CMN_LOG_HVA, "signal %d: exiting, VMs keep running", sig);
    qb_loop_stop(ag->loop);
    return 0;
}

#define HVA_CONFIG_DEFAULT      CMN_CONF_FILE
#define HVA_LUN_DIR_DEFAULT     CMN_LUN_DIR /* lunbridge's */
#define HVA_KERNEL_DIRS_DEFAULT CMN_KERNEL_DIR
#define HVA_QEMU_USER_DEFAULT   "kvmcluster-qemu"

/* The memory stream of a live migration: in clear, or through QEMU's
 * TLS (hvagent(8) gives the cost measured by bench/migration and why the
 * default is off). */
#define HVA_MIG_TLS_DEFAULT "off"
static const char *const hva_mig_tls_values[] = {"off", "psk", NULL};
static const char *const hva_vhost_values[] = {"auto", "off", NULL};
static const char *const hva_scope_values[] = {"auto", "no", NULL};

/* [hvagent] in kvmcluster.conf(5); other daemons' sections are skipped. */
static const struct cmn_cfg_key hva_cfg_keys[] = {
    {"hvagent", "migration-timeout", CMN_CFG_DURATION, "300s", false, false,
     1000, 86400000, NULL, false},
    {"hvagent", "migration-stall-timeout", CMN_CFG_DURATION, "10s", false,
     false, 1000, 3600000, NULL, false},
    {"hvagent", "migration-arm-timeout", CMN_CFG_DURATION, "20s", false, false,
     1000, 86400000, NULL, false},
    {"hvagent", "lun-dir", CMN_CFG_STR, HVA_LUN_DIR_DEFAULT, false, false, 0, 0,
     NULL, false},
    {"hvagent", "storage-dirs", CMN_CFG_STR, "", false, false, 0, 0, NULL,
     false},
    {"hvagent", "kernel-dirs", CMN_CFG_STR, HVA_KERNEL_DIRS_DEFAULT, false,
     false, 0, 0, NULL, false},
    {"hvagent", "qemu-user", CMN_CFG_STR, HVA_QEMU_USER_DEFAULT, false, false,
     0, 0, NULL, false},
    /* The newest CPU model this node offers ("" = all its CPU has): lets
     * an operator line a newer host up with older ones, and the sandbox
     * reproduce mixed generations. */
    {"hvagent", "cpu-models", CMN_CFG_STR, "", false, false, 0, 0, NULL, false},
    {"hvagent", "migration-tls", CMN_CFG_ENUM, HVA_MIG_TLS_DEFAULT, false,
     false, 0, 0, hva_mig_tls_values, false},
    {"hvagent", "migration-tls-key", CMN_CFG_STR, "", false, false, 0, 0, NULL,
     false},
    /* auto: a virtio NIC of a KVM guest gets /dev/vhost-net when the
     * node has it (hva-net.c); off: QEMU's own virtio-net always. */
    {"hvagent", "vhost-net", CMN_CFG_ENUM, "auto", false, false, 0, 0,
     hva_vhost_values, false},
    /* auto: each QEMU in a systemd scope of its own when systemd is PID 1
     * (hva-scope.c); no: QEMU stays in hvagent's cgroup. */
    {"hvagent", "systemd-scope", CMN_CFG_ENUM, "auto", false, false, 0, 0,
     hva_scope_values, false},
    {NULL, NULL, 0, NULL, false, false, 0, 0, NULL, false},
};

static int set_dirs(struct hva_agent *ag, const char *lun, const char *storage,
                    const char *kernel, const char *path)
{
    char err[512];
    int rc = hva_dirs_set(&ag->dirs, lun, storage, kernel, err, sizeof(err));

    if (rc < 0)
        cmn_err(CMN_LOG_HVA, "%s: %s", path, err);
    return rc;
}

/* The settings of `path`; a missing default file means the defaults. */
static int load_config(struct hva_agent *ag, const char *path, bool given)
{
    CMN_AUTO(cmn_cfg) *c = NULL;
    char err[512];
    int64_t v;
    int rc;

    hva_mig_settings_default(&ag->mig_defaults);
    ag->arm_timeout_s = 20;
    ag->qemu_user = HVA_QEMU_USER_DEFAULT;
    ag->cpu_cap = "";
    ag->mig_tls = strcmp(HVA_MIG_TLS_DEFAULT, "psk") == 0;
    ag->mig_tls_key = NULL;
    ag->vhost_net = true;
    ag->scope_setting = HVA_SCOPE_AUTO;
    if (!given && access(path, F_OK) < 0)
        return set_dirs(ag, HVA_LUN_DIR_DEFAULT, "", HVA_KERNEL_DIRS_DEFAULT,
                        path);
    rc = cmn_cfg_load_flags(hva_cfg_keys, path, CMN_CFG_SKIP_OTHER_SECTIONS, &c,
                            err, sizeof(err));
    if (rc < 0) {
        cmn_err(CMN_LOG_HVA, "%s", err);
        return rc;
    }
    if (cmn_cfg_int(c, "hvagent", NULL, "migration-timeout", &v) == 0)
        ag->mig_defaults.timeout_s = (unsigned)((v + 999) / 1000);
    if (cmn_cfg_int(c, "hvagent", NULL, "migration-stall-timeout", &v) == 0)
        ag->mig_defaults.stall_ms = (unsigned)v;
    if (cmn_cfg_int(c, "hvagent", NULL, "migration-arm-timeout", &v) == 0)
        ag->arm_timeout_s = (unsigned)((v + 999) / 1000);
    ag->mig_tls =
        strcmp(cmn_cfg_str(c, "hvagent", NULL, "migration-tls"), "psk") == 0;
    ag->vhost_net =
        strcmp(cmn_cfg_str(c, "hvagent", NULL, "vhost-net"), "off") != 0;
    ag->scope_setting =
        strcmp(cmn_cfg_str(c, "hvagent", NULL, "systemd-scope"), "no") == 0
            ? HVA_SCOPE_NO
            : HVA_SCOPE_AUTO;
    const char *tk = cmn_cfg_str(c, "hvagent", NULL, "migration-tls-key");
    if (tk && *tk) {
        ag->mig_tls_key = strdup(tk);
        if (!ag->mig_tls_key)
            return -ENOMEM;
    }
    const char *user = cmn_cfg_str(c, "hvagent", NULL, "qemu-user");
    if (!user || !*user) {
        cmn_err(CMN_LOG_HVA, "%s:%d: qemu-user: a user name is required", path,
                cmn_cfg_line(c, "hvagent", NULL, "qemu-user"));
        return -EINVAL;
    }
    ag->qemu_user = strdup(user);
    if (!ag->qemu_user)
        return -ENOMEM;
    const char *cap = cmn_cfg_str(c, "hvagent", NULL, "cpu-models");
    if (cap && *cap && !cmn_name_valid(cap)) {
        cmn_err(CMN_LOG_HVA,
                "%s:%d: cpu-models: '%s' is not a CPU model name "
                "(%s)",
                path, cmn_cfg_line(c, "hvagent", NULL, "cpu-models"), cap,
                CMN_NAME_RULE);
        return -EINVAL;
    }
    if (cap && *cap && !(ag->cpu_cap = strdup(cap)))
        return -ENOMEM;
    return set_dirs(ag, cmn_cfg_str(c, "hvagent", NULL, "lun-dir"),
                    cmn_cfg_str(c, "hvagent", NULL, "storage-dirs"),
                    cmn_cfg_str(c, "hvagent", NULL, "kernel-dirs"), path);
}

/* "/a, /b" or "none", for the startup log. */
static void log_dirs(const struct hva_dirs *d)
{
    char st[1024] = "", k[1024] = "";
    size_t n = 0;

    for (size_t i = 0; i < d->n_storage && n < sizeof(st); i++)
        n += (size_t)snprintf(st + n, sizeof(st) - n, "%s%s", i ? ", " : "",
                              d->storage[i]);
    n = 0;
    for (size_t i = 0; i < d->n_kernel && n < sizeof(k); i++)
        n += (size_t)snprintf(k + n, sizeof(k) - n, "%s%s", i ? ", " : "",
                              d->kernel[i]);
    cmn_info(CMN_LOG_HVA,
             "definitions may use: LUNs in %s, storage in %s, "
             "kernels in %s",
             d->lun_dir ? d->lun_dir : "none", st[0] ? st : "none",
             k[0] ? k : "none");
}

/* The KVM probe's QEMU runs as the VMs' QEMU will (a user that cannot
 * be looked up: tcg, and the start of a VM says why). */
static const char *resolve_accel_probe(const struct hva_agent *ag,
                                       const char *setting, const char *probe,
                                       bool *ret_user_ok)
{
    struct hva_qemu_cred cred;
    const char *accel;
    char err[256];

    *ret_user_ok = true;
    if (strcmp(ag->qemu_user, "root") == 0)
        return hva_accel_resolve(setting, ag->qemu, probe, NULL);
    if (hva_qemu_cred_lookup(ag->qemu_user, &cred, err, sizeof(err)) < 0) {
        *ret_user_ok = false;
        return hva_accel_resolve(setting, ag->qemu, NULL, NULL);
    }
    accel = hva_accel_resolve(setting, ag->qemu, probe, &cred);
    hva_qemu_cred_free(&cred);
    return accel;
}

/* The accelerator, and in ag->accel_why how it was chosen, in the words
 * 'clusterctl cluster validate' shows for the node. */
static const char *resolve_accel(struct hva_agent *ag, const char *setting,
                                 const char *probe)
{
    bool user_ok;
    const char *accel = resolve_accel_probe(ag, setting, probe, &user_ok);
    char *w = ag->accel_why;
    size_t l = sizeof(ag->accel_why);

    if (strcmp(setting, "auto") != 0)
        snprintf(w, l, "accelerator %s by setting (--accel %s)", accel,
                 setting);
    else if (strcmp(accel, "kvm") == 0)
        snprintf(w, l, "KVM probed: a paging guest ran under KVM");
    else if (access("/dev/kvm", R_OK | W_OK) < 0)
        snprintf(w, l, "no usable /dev/kvm (%s): VMs run under TCG",
                 strerror(errno));
    else if (!probe || access(probe, R_OK) < 0)
        snprintf(w, l,
                 "KVM probe guest '%s' missing: KVM not trusted, "
                 "VMs run under TCG",
                 probe ? probe : "");
    else if (!user_ok)
        snprintf(w, l,
                 "QEMU user '%s' unknown: KVM not probed, VMs run "
                 "under TCG",
                 ag->qemu_user);
    else
        snprintf(w, l,
                 "/dev/kvm present but the paging probe guest failed "
                 "under KVM (a kvm-pvm or nested host?): VMs run "
                 "under TCG");
    return accel;
}

/* Says at startup what a VM start would run into later. */
static void check_qemu_user(const struct hva_agent *ag)
{
    struct hva_qemu_cred cred;
    char err[256];

    if (strcmp(ag->qemu_user, "root") == 0) {
        cmn_warn(CMN_LOG_HVA,
                 "qemu-user = root: QEMU runs with every privilege; "
                 "a guest that escapes QEMU owns this node");
        return;
    }
    if (hva_qemu_cred_lookup(ag->qemu_user, &cred, err, sizeof(err)) < 0) {
        cmn_warn(CMN_LOG_HVA, "%s: VMs will not start", err);
        return;
    }
    cmn_info(CMN_LOG_HVA, "QEMU runs as '%s' (uid %u, gid %u)", ag->qemu_user,
             (unsigned)cred.uid, (unsigned)cred.gid);
    hva_qemu_cred_free(&cred);
}

static void usage(void)
{
    printf("usage: hvagent [options]\n"
           "  --node NAME          this node's name (default: hostname)\n"
           "  --run-dir DIR        state directory (default " CMN_HVA_RUN_DIR
           ")\n"
           "  --ipc-name NAME      local API service (default hvagent)\n"
           "  --qemu PATH          QEMU binary (default qemu-system-x86_64)\n"
           "  --accel A            auto|kvm|tcg (default auto)\n"
           "  --probe-kernel PATH  guest kernel the 'auto' KVM probe boots\n"
           "                       (default " CMN_PROBE_KERNEL ")\n"
           "  --listen ADDR[:PORT] migration listener (default port %d)\n"
           "  --authkey PATH       corosync authkey for the migration PSK\n"
           "                       (default /etc/corosync/authkey)\n"
           "  --allow ADDR,...     sources allowed to migrate in (default any "
           "authenticated)\n"
           "  --max-incoming N     concurrent incoming migrations (default 2)\n"
           "  --config PATH        settings ([hvagent]; "
           "default " HVA_CONFIG_DEFAULT ")\n"
           "  --no-sanlock         run VMs without leases (testing only)\n"
           "  --debug              debug logging to stderr\n"
           "  --cpu-caps           print this node's CPU capability (with\n"
           "                       [hvagent] cpu-models applied) and exit\n",
           HVA_MIGRATION_PORT);
}

/* What the command line sets besides the agent's own fields. */
struct hva_opts {
    const char *ipc_name, *accel, *probe, *listen_addr, *authkey, *config;
    bool config_given, debug;
    bool cpu_caps; /* --cpu-caps: print the CPU capability and exit */
};

static void add_allowed(struct hva_agent *ag, const char *text)
{
    char *list = strdup(text), *save = NULL;

    for (char *t = list ? strtok_r(list, ",", &save) : NULL; t;
         t = strtok_r(NULL, ",", &save)) {
        ag->allow = realloc(ag->allow, (ag->n_allow + 1) * sizeof(char *));
        ag->allow[ag->n_allow++] = strdup(t);
    }
    free(list);
}

/* -1: go on; otherwise the exit status. */
static int parse_options(int argc, char **argv, struct hva_agent *ag,
                         struct hva_opts *o)
{
    static const struct option opts[] = {
        {"node", required_argument, NULL, 'n'},
        {"run-dir", required_argument, NULL, 'r'},
        {"ipc-name", required_argument, NULL, 'i'},
        {"qemu", required_argument, NULL, 'q'},
        {"accel", required_argument, NULL, 'a'},
        {"probe-kernel", required_argument, NULL, 'p'},
        {"listen", required_argument, NULL, 'l'},
        {"authkey", required_argument, NULL, 'k'},
        {"allow", required_argument, NULL, 'A'},
        {"max-incoming", required_argument, NULL, 'm'},
        {"no-sanlock", no_argument, NULL, 'S'},
        {"config", required_argument, NULL, 'c'},
        {"debug", no_argument, NULL, 'd'},
        {"cpu-caps", no_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int c;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            ag->node_name = optarg;
            break;
        case 'r':
            ag->run_dir = optarg;
            break;
        case 'i':
            o->ipc_name = optarg;
            break;
        case 'q':
            ag->qemu = optarg;
            break;
        case 'a':
            o->accel = optarg;
            break;
        case 'p':
            o->probe = optarg;
            break;
        case 'l':
            o->listen_addr = optarg;
            break;
        case 'k':
            o->authkey = optarg;
            break;
        case 'A':
            add_allowed(ag, optarg);
            break;
        case 'm':
            ag->max_incoming = (unsigned)atoi(optarg);
            break;
        case 'S':
            ag->sanlock = false;
            break;
        case 'c':
            o->config = optarg;
            o->config_given = true;
            break;
        case 'd':
            o->debug = true;
            break;
        case 'C':
            o->cpu_caps = true;
            break;
        case 'h':
            usage();
            return 0;
        default:
            usage();
            return 2;
        }
    }
    if (strcmp(o->accel, "auto") && strcmp(o->accel, "kvm") &&
        strcmp(o->accel, "tcg")) {
        fprintf(stderr, "hvagent: --accel '%s': use auto, kvm or tcg\n",
                o->accel);
        return 2;
    }
    return -1;
}

/* The run directory, its parents created as needed. */
static void make_run_dir(const char *run_dir)
{
    char *p;

    if (mkdir(run_dir, 0700) == 0 || errno == EEXIST)
        return;
    p = strdup(run_dir);
    if (!p)
        return;
    for (char *s = p + 1; *s; s++) {
        if (*s == '/') {
            *s = '\0';
            mkdir(p, 0755);
            *s = '/';
        }
    }
    mkdir(p, 0700);
    free(p);
}

/* The CPU capability clusterd places VMs by, probed in a worker on the
 * first 'cpu' request so the agent serves requests meanwhile (QEMU takes
 * a second or two to list its models). A cap naming a model QEMU does not know
 * is an operator's error: the agent stops rather than offer more than the
 * operator allowed. Other failures leave the node without a capability: it then
 * takes only VMs without a CPU need. */
struct cpu_job {
    struct hva_agent *ag;
    uint64_t t0;
    char *text;
    char err[512];
};

static int cpu_job_run(void *arg)
{
    struct cpu_job *j = arg;

    return hva_cpu_probe(j->ag->qemu, j->ag->accel, j->ag->cpu_cap, &j->text,
                         j->err, sizeof(j->err));
}

static int cpu_probe_result(struct hva_agent *ag, int rc, const char *err,
                            uint64_t t0)
{
    if (rc == -RES_E_CPU && ag->cpu_cap[0]) {
        cmn_err(CMN_LOG_HVA, "[hvagent] cpu-models: %s", err);
        return rc;
    }
    if (rc < 0) {
        cmn_err(CMN_LOG_HVA, "%s", err[0] ? err : cmn_strerror(rc));
        return 0;
    }
    cmn_info(CMN_LOG_HVA, "CPU capability probed in %" PRIu64 " ms%s%s%s",
             cmn_now_ms() - t0, ag->cpu_cap[0] ? " (capped at '" : "",
             ag->cpu_cap, ag->cpu_cap[0] ? "')" : "");
    return 0;
}

static void cpu_job_done(void *arg, int rc)
{
    struct cpu_job *j = arg;

    j->ag->cpu_probe_done = true;
    if (cpu_probe_result(j->ag, rc, j->err, j->t0) < 0)
        qb_loop_stop(j->ag->loop);
    else if (rc == 0)
        j->ag->cpu_caps = j->text;
    else
        free(j->text);
    free(j);
}

static void probe_cpu_async(struct hva_agent *ag)
{
    struct cpu_job *j = calloc(1, sizeof(*j));

    if (j == NULL)
        return;
    j->ag = ag;
    j->t0 = cmn_now_ms();
    if (cmn_work_submit(ag->work, cpu_job_run, cpu_job_done, j) < 0) {
        cmn_err(CMN_LOG_HVA, "CPU probe: no worker");
        free(j);
    }
}

/* Event loop, worker threads, signals. */
static int setup_loop(struct hva_agent *ag)
{
    int rc;

    ag->loop = qb_loop_create();
    if (!ag->loop) {
        cmn_err(CMN_LOG_HVA, "qb_loop_create failed");
        return -ENOMEM;
    }
    cmn_log_attach_loop(ag->loop);
    /* 16 threads: one slow lease disk must not delay another VM's lease
     * handoff; sanlock and GnuTLS need little stack. */
    rc = cmn_work_new(ag->loop, 16, 256 * 1024, &ag->work);
    if (rc < 0) {
        cmn_err(CMN_LOG_HVA, "worker pipe: %s", cmn_strerror(rc));
        return rc;
    }
    qb_loop_signal_add(ag->loop, QB_LOOP_HIGH, SIGCHLD, ag, on_sigchld, NULL);
    qb_loop_signal_add(ag->loop, QB_LOOP_HIGH, SIGTERM, ag, on_term, NULL);
    qb_loop_signal_add(ag->loop, QB_LOOP_HIGH, SIGINT, ag, on_term, NULL);
    return 0;
}

/* migration-tls = psk: the stream secret, and the directory QEMU reads
 * its per-migration credentials from. The run directory becomes 0711 so
 * that the QEMU user can reach them by name (everything else in it stays
 * 0700/0600, root's). */
static int setup_stream_tls(struct hva_agent *ag)
{
    char dir[4096];
    int rc;

    if (!ag->mig_tls) {
        cmn_info(CMN_LOG_HVA, "migration-tls = off: live migrations send "
                              "guest memory in clear");
        return 0;
    }
    if (ag->mig_tls_key) {
        rc = hva_psk_derive(ag->mig_tls_key, ag->stream_psk);
        if (rc < 0) {
            cmn_err(CMN_LOG_HVA, "migration-tls-key '%s': %s", ag->mig_tls_key,
                    rc == -EINVAL ? "shorter than 16 bytes" : cmn_strerror(rc));
            return rc;
        }
    } else {
        memcpy(ag->stream_psk, ag->psk, sizeof(ag->stream_psk));
    }
    snprintf(dir, sizeof(dir), "%s/mig-tls", ag->run_dir);
    if ((mkdir(dir, 0711) < 0 && errno != EEXIST) || chmod(dir, 0711) < 0 ||
        chmod(ag->run_dir, 0711) < 0) {
        rc = -errno;
        cmn_err(CMN_LOG_HVA, "migration-tls: '%s': %s", dir, cmn_strerror(rc));
        return rc;
    }
    hva_mig_tls_sweep(dir);
    cmn_info(CMN_LOG_HVA,
             "migration-tls = psk: live migration streams go through "
             "QEMU's TLS (key from %s)",
             ag->mig_tls_key ? ag->mig_tls_key : "the authkey");
    return 0;
}

/* The migration key and, with --listen, the listener. */
static int setup_migration(struct hva_agent *ag, const struct hva_opts *o)
{
    char addr[256];
    unsigned port = HVA_MIGRATION_PORT;
    int rc;

    if (!o->listen_addr) {
        if (hva_psk_derive(o->authkey, ag->psk) == 0) {
            ag->have_psk = true; /* outgoing migrations still authenticate */
            return setup_stream_tls(ag);
        }
        return 0;
    }
    rc = hva_psk_derive(o->authkey, ag->psk);
    if (rc < 0) {
        cmn_err(CMN_LOG_HVA,
                "migration key from '%s': %s (is corosync configured?)",
                o->authkey, cmn_strerror(rc));
        return rc;
    }
    ag->have_psk = true;
    rc = setup_stream_tls(ag);
    if (rc < 0)
        return rc;
    snprintf(addr, sizeof(addr), "%s", o->listen_addr);
    char *colon = strrchr(addr, ':');
    if (colon) {
        *colon = '\0';
        port = (unsigned)atoi(colon + 1);
    }
    rc = hva_mig_listen(ag, addr, port);
    if (rc < 0)
        cmn_err(CMN_LOG_HVA, "migration listener %s: %s", o->listen_addr,
                cmn_strerror(rc));
    return rc;
}

int main(int argc, char **argv)
{
    struct hva_agent *ag = &agent;
    uint64_t t_main = cmn_now_ms();
    struct hva_opts o = {
        .ipc_name = HVA_IPC_NAME,
        .accel = "auto",
        .authkey = "/etc/corosync/authkey",
        .config = HVA_CONFIG_DEFAULT,
    };
    char host[256];
    int rc;

    ag->run_dir = CMN_HVA_RUN_DIR;
    ag->qemu = "qemu-system-x86_64";
    ag->sanlock = true;
    ag->max_incoming = 2;
    ag->mig_fd = -1;
    gethostname(host, sizeof(host));
    ag->node_name = host;
    rc = parse_options(argc, argv, ag, &o);
    if (rc >= 0)
        return rc;
    struct cmn_log_opts lo = {.to_stderr = true, .debug = o.debug};
    cmn_log_init("hvagent", &lo);
    hva_err_register();
    res_err_init();
    signal(SIGPIPE, SIG_IGN);
    if (load_config(ag, o.config, o.config_given) < 0)
        return 1;
    check_qemu_user(ag);
    cmn_info(CMN_LOG_HVA,
             "migrations: timeout %u s, stall timeout %u ms, arming %u s",
             ag->mig_defaults.timeout_s, ag->mig_defaults.stall_ms,
             ag->arm_timeout_s);
    log_dirs(&ag->dirs);
    make_run_dir(ag->run_dir);
    {
        char why[128];

        ag->scope = hva_scope_use(ag->scope_setting, hva_scope_built(),
                                  hva_scope_booted(), why, sizeof(why));
        if (ag->scope)
            cmn_info(CMN_LOG_HVA,
                     "%s: each QEMU in its own scope "
                     "(" HVA_SCOPE_SLICE "/" HVA_SCOPE_PREFIX
                     "NAME" HVA_SCOPE_SUFFIX ")",
                     why);
        else
            cmn_info(CMN_LOG_HVA,
                     "no per-VM systemd scope, %s: QEMU stays in hvagent's "
                     "cgroup",
                     why);
    }
    /* The installed probe guest, unless another was named. */
    if (!o.probe && access(CMN_PROBE_KERNEL, R_OK) == 0)
        o.probe = CMN_PROBE_KERNEL;
    ag->accel = resolve_accel(ag, o.accel, o.probe);
    cmn_info(CMN_LOG_HVA, "node '%s': accelerator %s (setting %s)",
             ag->node_name, ag->accel, o.accel);
    if (o.cpu_caps) {
        char err[512] = "";
        uint64_t t0 = cmn_now_ms();

        rc = hva_cpu_probe(ag->qemu, ag->accel, ag->cpu_cap, &ag->cpu_caps, err,
                           sizeof(err));
        if (cpu_probe_result(ag, rc, err, t0) < 0 || rc < 0)
            return 1;
        fputs(ag->cpu_caps, stdout);
        return 0;
    }
    if (setup_loop(ag) < 0 || setup_migration(ag, &o) < 0)
        return 1;

    const char *ipc_name = o.ipc_name;
    rc = cmn_ipc_server_new(ag->loop, ipc_name, on_request, on_closed, ag,
                            &ag->ipc);
    if (rc < 0) {
        cmn_err(CMN_LOG_HVA, "IPC service '%s': %s", ipc_name,
                cmn_strerror(rc));
        return 1;
    }
    hva_vm_reattach_all(ag);
    cmn_info(CMN_LOG_HVA,
             "hvagent ready in %" PRIu64 " ms (run dir '%s', IPC '%s')",
             cmn_now_ms() - t_main, ag->run_dir, ipc_name);
    qb_loop_run(ag->loop);
    cmn_ipc_server_free(ag->ipc);
    hva_dirs_clear(&ag->dirs);
    cmn_log_fini();
    return 0;
}
