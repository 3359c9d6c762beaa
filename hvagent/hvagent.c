/* hvagent: the per-node VM executor (see hvagent/hva.h and hvagent(8)). */
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
#include "common/cmn-log.h"
#include "common/cmn-xml.h"
#include "hvagent/hva-int.h"

static struct hva_agent agent;

static char *attr(xmlNode *n, const char *name)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
    char *s = v ? strdup((const char *)v) : NULL;

    xmlFree(v);
    return s;
}

static char *reply_error(int rc, const char *msg)
{
    xmlChar *e = xmlEncodeSpecialChars(NULL, (const xmlChar *)msg);
    char *text = NULL;

    if (asprintf(&text, "<reply rc=\"%d\" error=\"%s\"/>", rc,
                 (const char *)e) < 0)
        text = NULL;
    xmlFree(e);
    return text;
}

static int status_reply(struct hva_agent *ag, struct hva_vm *only,
                        char **ret_reply)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);

    if (!buf)
        return -ENOMEM;
    len += (size_t)snprintf(buf, cap, "<reply rc=\"0\" node=\"%s\">",
                            ag->node_name);
    for (struct hva_vm *vm = ag->vms; vm; vm = vm->next) {
        char item[2048];
        char *serial = NULL;

        if (only && vm != only)
            continue;
        if (asprintf(&serial, "%s/serial.log", vm->dir) < 0)
            serial = NULL;
        int n =
            snprintf(item, sizeof(item),
                     "<vm name=\"%s\" uuid=\"%s\" state=\"%s\" pid=\"%d\" "
                     "lease=\"%s\" uptime-ms=\"%" PRIu64 "\" phase=\"%s\" "
                     "serial=\"%s\"/>",
                     vm->def->name, vm->def->uuid, hva_vm_state_name(vm->state),
                     (int)vm->pid, vm->lease_held ? "yes" : "no",
                     vm->pid ? hva_now_ms() - vm->started_ms : 0,
                     hva_mig_phase_name(vm->phase), serial ? serial : "");
        free(serial);
        if (len + (size_t)n + 16 > cap) {
            char *nb = realloc(buf, cap * 2 + (size_t)n);
            if (!nb) {
                free(buf);
                return -ENOMEM;
            }
            buf = nb;
            cap = cap * 2 + (size_t)n;
        }
        memcpy(buf + len, item, (size_t)n);
        len += (size_t)n;
    }
    snprintf(buf + len, cap - len, "</reply>");
    *ret_reply = buf;
    return 0;
}

static int u_attr(xmlNode *n, const char *name, uint64_t *v)
{
    char *s cmn_autofree = attr(n, name);

    if (!s)
        return 0;
    return hva_parse_u64(s, v);
}

static int parse_mig_settings(const struct hva_agent *ag, xmlNode *r,
                              struct hva_mig_settings *s)
{
    uint64_t v;
    char *conv cmn_autofree = attr(r, "converge");

    *s = ag->mig_defaults;
    v = s->downtime_ms;
    if (u_attr(r, "downtime-ms", &v) < 0)
        return -EINVAL;
    s->downtime_ms = (unsigned)v;
    v = s->max_passes;
    if (u_attr(r, "max-passes", &v) < 0)
        return -EINVAL;
    s->max_passes = (unsigned)v;
    v = 0;
    if (u_attr(r, "bandwidth-mibs", &v) < 0)
        return -EINVAL;
    s->max_bandwidth = v << 20;
    v = s->timeout_s;
    if (u_attr(r, "timeout-s", &v) < 0)
        return -EINVAL;
    s->timeout_s = (unsigned)v;
    v = s->stall_ms;
    if (u_attr(r, "stall-ms", &v) < 0 || v > 3600000)
        return -EINVAL;
    s->stall_ms = (unsigned)v;
    v = s->handoff_reserve_ms;
    if (u_attr(r, "handoff-reserve-ms", &v) < 0)
        return -EINVAL;
    s->handoff_reserve_ms = (unsigned)v;
    v = s->downtime_max_ms;
    if (u_attr(r, "downtime-max-ms", &v) < 0)
        return -EINVAL;
    s->downtime_max_ms = (unsigned)v;
    if (conv && hva_converge_parse(conv, &s->converge) < 0)
        return -EINVAL;
    return 0;
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

static int on_request(void *data, struct cmn_ipc_conn *conn,
                      const char *request, char **ret_reply)
{
    struct hva_agent *ag = data;
    xmlDoc *doc = NULL;
    char err[1024] = "";
    char *op = NULL, *id = NULL;
    struct hva_vm *vm = NULL;
    int rc;

    rc = cmn_xml_parse_mem(request, strlen(request), "request", 1u << 20, &doc,
                           err, sizeof(err));
    if (rc < 0)
        goto out;
    xmlNode *r = xmlDocGetRootElement(doc);
    if (!r || strcmp((const char *)r->name, "request") != 0 ||
        !(op = attr(r, "op"))) {
        snprintf(err, sizeof(err), "expected <request op=\"...\">");
        rc = -HVA_E_BAD_REQUEST;
        goto out;
    }
    id = attr(r, "vm");
    cmn_debug(CMN_LOG_HVA, "request %s %s", op, id ? id : "");

    if (strcmp(op, "subscribe") == 0) {
        cmn_ipc_subscribe(conn, true);
        *ret_reply = strdup("<reply rc=\"0\"/>");
        goto out;
    }
    if (strcmp(op, "define") == 0) {
        xmlNode *v = r->children;
        while (v && v->type != XML_ELEMENT_NODE)
            v = v->next;
        xmlBufferPtr b = xmlBufferCreate();
        struct hva_vm_def *def = NULL;
        if (!v || !b || xmlNodeDump(b, doc, v, 0, 0) < 0) {
            xmlBufferFree(b);
            snprintf(err, sizeof(err), "define: no <vm> element");
            rc = -HVA_E_BAD_REQUEST;
            goto out;
        }
        rc = hva_vm_def_from_xml((const char *)xmlBufferContent(b), &def, err,
                                 sizeof(err));
        xmlBufferFree(b);
        if (rc < 0)
            goto out;
        rc = hva_vm_define(ag, def, &vm);
        if (rc < 0) {
            snprintf(err, sizeof(err), "VM '%s': %s", def->name,
                     cmn_strerror(rc));
            hva_vm_def_free(def);
            goto out;
        }
        if (asprintf(ret_reply, "<reply rc=\"0\" vm=\"%s\" uuid=\"%s\"/>",
                     vm->def->name, vm->def->uuid) < 0)
            rc = -ENOMEM;
        goto out;
    }
    if (strcmp(op, "status") == 0 && !id) {
        rc = status_reply(ag, NULL, ret_reply);
        goto out;
    }
    vm = hva_vm_find(ag, id);
    if (!vm) {
        snprintf(err, sizeof(err),
                 "VM '%s' is not defined on node '%s' (define it first)",
                 id ? id : "", ag->node_name);
        rc = -HVA_E_NO_VM;
        goto out;
    }
    if (strcmp(op, "status") == 0) {
        rc = status_reply(ag, vm, ret_reply);
        goto out;
    }
    if (vm->op_conn) {
        snprintf(err, sizeof(err), "VM '%s': another operation is running",
                 vm->def->name);
        rc = -EBUSY;
        goto out;
    }
    if ((strcmp(op, "start") == 0 || strcmp(op, "restore") == 0) &&
        hva_mig_disarm(vm, strcmp(op, "start") == 0 ? after_disarm_start
                                                    : after_disarm_restore)) {
        /* Armed for a migration that is not coming (no source has
         * connected): the prepared QEMU goes, then the request runs. */
        rc = CMN_IPC_DEFERRED;
    } else if (strcmp(op, "start") == 0) {
        if (vm->pid) {
            snprintf(err, sizeof(err), "VM '%s' is already %s (pid %d)",
                     vm->def->name, hva_vm_state_name(vm->state), (int)vm->pid);
            rc = -HVA_E_STATE;
            goto out;
        }
        rc = hva_vm_start(vm, err, sizeof(err));
    } else if (strcmp(op, "stop") == 0 || strcmp(op, "kill") == 0) {
        uint64_t t = 30000;
        if (u_attr(r, "timeout-ms", &t) < 0) {
            rc = -HVA_E_BAD_REQUEST;
            goto out;
        }
        if (!vm->pid) {
            snprintf(err, sizeof(err), "VM '%s' is not running", vm->def->name);
            rc = -HVA_E_STATE;
            goto out;
        }
        if (op[1] == 't') {
            rc = hva_vm_stop(vm, (unsigned)t);
        } else {
            rc = hva_vm_kill(vm);
            if (rc == 0)
                rc = CMN_IPC_DEFERRED;
        }
    } else if (strcmp(op, "undefine") == 0) {
        if (vm->pid || vm->jobs || vm->mig) {
            rc = -HVA_E_STATE;
            goto out;
        }
        struct hva_vm **pp = &ag->vms;
        while (*pp != vm)
            pp = &(*pp)->next;
        *pp = vm->next;
        char cmd[4200];
        snprintf(cmd, sizeof(cmd), "%s/def.xml", vm->dir);
        unlink(cmd);
        hva_vm_def_free(vm->def);
        free(vm->dir);
        free(vm);
        vm = NULL;
        *ret_reply = strdup("<reply rc=\"0\"/>");
    } else if (strcmp(op, "migrate-out") == 0) {
        struct hva_mig_settings s;
        char *to cmn_autofree = attr(r, "to");
        if (!to || parse_mig_settings(ag, r, &s) < 0) {
            snprintf(err, sizeof(err),
                     "migrate-out: needs to=\"ADDR:PORT\" and numeric "
                     "settings");
            rc = -HVA_E_BAD_REQUEST;
            goto out;
        }
        rc = hva_mig_out(vm, to, &s, err, sizeof(err));
    } else if (strcmp(op, "migrate-in") == 0) {
        /* Arms this node for this VM only; its QEMU is prepared now. */
        uint64_t t = ag->arm_timeout_s;
        if (u_attr(r, "timeout-s", &t) < 0 || t == 0 || t > 86400) {
            snprintf(err, sizeof(err),
                     "migrate-in: timeout-s must be 1..86400 seconds");
            rc = -HVA_E_BAD_REQUEST;
            goto out;
        }
        rc = hva_mig_arm(vm, (unsigned)t, err, sizeof(err));
        if (rc == 0 &&
            asprintf(ret_reply,
                     "<reply rc=\"0\" vm=\"%s\" state=\"%s\" pid=\"%d\" "
                     "armed-s=\"%u\"/>",
                     vm->def->name, hva_vm_state_name(vm->state), (int)vm->pid,
                     (unsigned)t) < 0)
            rc = -ENOMEM;
    } else if (strcmp(op, "disarm") == 0) {
        /* The caller knows the migration failed: nothing prepared for it
         * stays, whether a source came or not. */
        bool was = hva_mig_cancel_in(vm, "the migration was called off");
        if (asprintf(ret_reply, "<reply rc=\"0\" vm=\"%s\" disarmed=\"%s\"/>",
                     vm->def->name, was ? "yes" : "no") < 0)
            rc = -ENOMEM;
    } else if (strcmp(op, "save") == 0) {
        rc = hva_save(vm, err, sizeof(err));
    } else if (strcmp(op, "restore") == 0) {
        rc = hva_restore(vm, err, sizeof(err));
    } else {
        snprintf(err, sizeof(err), "unknown op '%s'", op);
        rc = -HVA_E_BAD_REQUEST;
    }
    if (rc == CMN_IPC_DEFERRED && vm) {
        cmn_ipc_conn_ref(conn);
        vm->op_conn = conn;
    }
out:
    if (rc < 0) {
        if (!err[0])
            snprintf(err, sizeof(err), "%s", cmn_strerror(rc));
        cmn_info(CMN_LOG_HVA, "request '%s' failed: %s", op ? op : "?", err);
        *ret_reply = reply_error(rc, err);
        rc = *ret_reply ? 0 : -ENOMEM;
    } else if (rc == 0 && !*ret_reply) {
        *ret_reply = strdup("<reply rc=\"0\"/>");
    }
    free(op);
    free(id);
    xmlFreeDoc(doc);
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

#define HVA_CONFIG_DEFAULT    "/etc/kvmcluster/kvmcluster.conf"
#define HVA_QEMU_USER_DEFAULT "kvmcluster-qemu"

/* [hvagent] in kvmcluster.conf(5); other daemons' sections are skipped. */
static const struct cmn_cfg_key hva_cfg_keys[] = {
    {"hvagent", "migration-timeout", CMN_CFG_DURATION, "300s", false, false,
     1000, 86400000, NULL},
    {"hvagent", "migration-stall-timeout", CMN_CFG_DURATION, "10s", false,
     false, 1000, 3600000, NULL},
    {"hvagent", "migration-arm-timeout", CMN_CFG_DURATION, "20s", false, false,
     1000, 86400000, NULL},
    {"hvagent", "qemu-user", CMN_CFG_STR, HVA_QEMU_USER_DEFAULT, false, false,
     0, 0, NULL},
    {NULL, NULL, 0, NULL, false, false, 0, 0, NULL},
};

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
    if (!given && access(path, F_OK) < 0)
        return 0;
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
    const char *user = cmn_cfg_str(c, "hvagent", NULL, "qemu-user");
    if (!user || !*user) {
        cmn_err(CMN_LOG_HVA, "%s:%d: qemu-user: a user name is required", path,
                cmn_cfg_line(c, "hvagent", NULL, "qemu-user"));
        return -EINVAL;
    }
    ag->qemu_user = strdup(user);
    if (!ag->qemu_user)
        return -ENOMEM;
    return 0;
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
           "  --run-dir DIR        state directory (default "
           "/run/kvmcluster/hvagent)\n"
           "  --ipc-name NAME      local API service (default hvagent)\n"
           "  --qemu PATH          QEMU binary (default qemu-system-x86_64)\n"
           "  --accel A            auto|kvm|tcg (default auto)\n"
           "  --probe-kernel PATH  guest kernel the 'auto' KVM probe boots\n"
           "  --listen ADDR[:PORT] migration listener (default port %d)\n"
           "  --authkey PATH       corosync authkey for the migration PSK\n"
           "                       (default /etc/corosync/authkey)\n"
           "  --allow ADDR,...     sources allowed to migrate in (default any "
           "authenticated)\n"
           "  --max-incoming N     concurrent incoming migrations (default 2)\n"
           "  --config PATH        settings ([hvagent]; "
           "default " HVA_CONFIG_DEFAULT ")\n"
           "  --no-sanlock         run VMs without leases (testing only)\n"
           "  --debug              debug logging to stderr\n",
           HVA_MIGRATION_PORT);
}

int main(int argc, char **argv)
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
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct hva_agent *ag = &agent;
    uint64_t t_main = hva_now_ms();
    const char *ipc_name = HVA_IPC_NAME, *accel = "auto", *probe = NULL;
    const char *listen_addr = NULL, *authkey = "/etc/corosync/authkey";
    const char *config = HVA_CONFIG_DEFAULT;
    bool config_given = false;
    char host[256];
    bool debug = false;
    int c, rc;

    ag->run_dir = "/run/kvmcluster/hvagent";
    ag->qemu = "qemu-system-x86_64";
    ag->sanlock = true;
    ag->max_incoming = 2;
    ag->mig_fd = -1;
    gethostname(host, sizeof(host));
    ag->node_name = host;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            ag->node_name = optarg;
            break;
        case 'r':
            ag->run_dir = optarg;
            break;
        case 'i':
            ipc_name = optarg;
            break;
        case 'q':
            ag->qemu = optarg;
            break;
        case 'a':
            accel = optarg;
            break;
        case 'p':
            probe = optarg;
            break;
        case 'l':
            listen_addr = optarg;
            break;
        case 'k':
            authkey = optarg;
            break;
        case 'A': {
            char *list = strdup(optarg), *save = NULL;
            for (char *t = strtok_r(list, ",", &save); t;
                 t = strtok_r(NULL, ",", &save)) {
                ag->allow =
                    realloc(ag->allow, (ag->n_allow + 1) * sizeof(char *));
                ag->allow[ag->n_allow++] = strdup(t);
            }
            free(list);
            break;
        }
        case 'm':
            ag->max_incoming = (unsigned)atoi(optarg);
            break;
        case 'S':
            ag->sanlock = false;
            break;
        case 'c':
            config = optarg;
            config_given = true;
            break;
        case 'd':
            debug = true;
            break;
        case 'h':
            usage();
            return 0;
        default:
            usage();
            return 2;
        }
    }
    if (strcmp(accel, "auto") && strcmp(accel, "kvm") && strcmp(accel, "tcg")) {
        fprintf(stderr, "hvagent: --accel '%s': use auto, kvm or tcg\n", accel);
        return 2;
    }
    struct cmn_log_opts lo = {.to_stderr = true, .debug = debug};
    cmn_log_init("hvagent", &lo);
    hva_err_register();
    signal(SIGPIPE, SIG_IGN);
    if (load_config(ag, config, config_given) < 0)
        return 1;
    check_qemu_user(ag);
    cmn_info(CMN_LOG_HVA,
             "migrations: timeout %u s, stall timeout %u ms, arming %u s",
             ag->mig_defaults.timeout_s, ag->mig_defaults.stall_ms,
             ag->arm_timeout_s);

    char path[4096];
    snprintf(path, sizeof(path), "mkdir -p '%s/vm'", ag->run_dir);
    if (mkdir(ag->run_dir, 0700) < 0 && errno != EEXIST) {
        /* parents missing: create the whole path */
        char *p = strdup(ag->run_dir);
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
    ag->accel = hva_accel_resolve(accel, ag->qemu, probe);
    cmn_info(CMN_LOG_HVA, "node '%s': accelerator %s (setting %s)",
             ag->node_name, ag->accel, accel);

    ag->loop = qb_loop_create();
    if (!ag->loop) {
        cmn_err(CMN_LOG_HVA, "qb_loop_create failed");
        return 1;
    }
    cmn_log_attach_loop(ag->loop);
    rc = hva_work_init(ag);
    if (rc < 0) {
        cmn_err(CMN_LOG_HVA, "worker pipe: %s", cmn_strerror(rc));
        return 1;
    }
    qb_loop_signal_add(ag->loop, QB_LOOP_HIGH, SIGCHLD, ag, on_sigchld, NULL);
    qb_loop_signal_add(ag->loop, QB_LOOP_HIGH, SIGTERM, ag, on_term, NULL);
    qb_loop_signal_add(ag->loop, QB_LOOP_HIGH, SIGINT, ag, on_term, NULL);

    if (listen_addr) {
        rc = hva_psk_derive(authkey, ag->psk);
        if (rc < 0) {
            cmn_err(CMN_LOG_HVA,
                    "migration key from '%s': %s (is corosync configured?)",
                    authkey, cmn_strerror(rc));
            return 1;
        }
        ag->have_psk = true;
        char addr[256];
        unsigned port = HVA_MIGRATION_PORT;
        snprintf(addr, sizeof(addr), "%s", listen_addr);
        char *colon = strrchr(addr, ':');
        if (colon) {
            *colon = '\0';
            port = (unsigned)atoi(colon + 1);
        }
        rc = hva_mig_listen(ag, addr, port);
        if (rc < 0) {
            cmn_err(CMN_LOG_HVA, "migration listener %s: %s", listen_addr,
                    cmn_strerror(rc));
            return 1;
        }
    } else if (hva_psk_derive(authkey, ag->psk) == 0) {
        ag->have_psk = true; /* outgoing migrations still authenticate */
    }

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
             hva_now_ms() - t_main, ag->run_dir, ipc_name);
    qb_loop_run(ag->loop);
    cmn_ipc_server_free(ag->ipc);
    cmn_log_fini();
    return 0;
}
