/* The daemon side of the coordinator (cd-coord.h has the pure logic):
 * feeds the runtime state from the local hvagent, sends and delivers the
 * coordinator's CPG messages, derives and publishes actions when this
 * node is the coordinator, runs the steps that fall to this node, stops
 * local VMs when quorum stays lost past the grace period. clusterctl's
 * VM requests are in cd-api-vm.c, which reads this state through the
 * cd_orch_* accessors of cd-daemon.h.
 *
 * Safety never rests on this code alone: a VM's QEMU holds the VM's
 * sanlock lease, so a wrong or duplicated start fails at the lease. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <libxml/tree.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clusterd/cd-coord.h"
#include "clusterd/cd-csv.h"
#include "clusterd/cd-daemon.h"
#include "clusterd/cd-hva.h"
#include "clusterd/cd-int.h"
#include "clusterd/cd-local.h"
#include "clusterd/cd-net.h"
#include "clusterd/cd-storage.h"
#include "common/cmn-auto.h"
#include "common/cmn-log.h"
#include "common/cmn-name.h"
#include "common/cmn-time.h"
#include "common/cmn-xml.h"
#include "hvagent/hva-proto.h"
#include "resources/res-place.h"
#include "resources/res-vm.h"

#define MAX_LOCAL    256
#define MAX_WAITERS  64
#define MAX_RUNNING  64
#define MAX_INFLIGHT 64
#define INFLIGHT_MS  10000
#define LEASE_WAIT_S 150 /* > sanlock host-dead time at io_timeout 1 */
#define MAX_REPORTS  16
#define MAX_VOLUMES  16 /* volumes besides the main CSV watched */
#define TICK_MS      2000
/* SIGTERM: how long the drain may take before the VMs left are stopped,
 * and how long stopping them may take before clusterd leaves anyway. */
#define SHUTDOWN_DRAIN_MS 300000
#define SHUTDOWN_STOP_MS  60000
#define STOP_TIMEOUT_MS   3000 /* guest shutdown before QEMU is killed */

struct local_vm {
    char name[CD_NAME_MAX];
    enum cd_rt_state state;
    char cpu[CD_NAME_MAX]; /* the -cpu hvagent defined it with, or "" */
    bool lease;            /* hvagent holds its lease (lease="yes") */
    unsigned ioerr;        /* paused on an I/O error: CD_RT_IOERR_* */
    int ioerr_disk;        /* its disk's index, -1 not known */
};

struct waiter { /* a move-vm client waiting for its ACTION */
    uint64_t req;
    struct cmn_ipc_conn *conn;
};

struct running { /* a step this node runs now */
    uint64_t id;
    unsigned step;
};

struct failure_report { /* a daemon failure not recorded yet */
    uint32_t node;
    uint64_t time_s;
    char what[128];
};

struct wait_seen { /* last reported wait of a VM (events on change) */
    char vm[CD_NAME_MAX];
    enum cd_wait_kind kind;
    uint64_t at_s;
    unsigned n;
};

struct inflight { /* published, not delivered yet */
    char vm[CD_NAME_MAX];
    uint64_t at_ms;
};

struct cd_orch {
    struct cd_daemon *d;
    struct cd_coord *co;
    struct cd_hva *hva;
    size_t nlocal;
    struct local_vm local[MAX_LOCAL];
    struct waiter waiters[MAX_WAITERS];
    size_t nwaiters;
    struct running running[MAX_RUNNING];
    size_t nrunning;
    struct inflight inflight[MAX_INFLIGHT];
    size_t ninflight;
    struct wait_seen waits[MAX_LOCAL];
    size_t nwaits;
    uint64_t next_req;
    uint64_t next_action;
    bool derive_queued;
    bool in_group;
    qb_loop_timer_handle grace_timer;
    bool grace_armed;
    /* Daemon failures to record in the CDB (quarantine), retried until
     * the cluster takes them (quorum, sync). */
    struct failure_report reports[MAX_REPORTS];
    size_t nreports;
    qb_loop_timer_handle tick_timer;
    bool tick_armed;
    /* Local VMs being stopped by quorum loss or shutdown. */
    unsigned nstopping;
    /* SIGTERM: drain (or stop) the local VMs, then leave. */
    bool shutting_down;
    bool shutdown_drain;
    uint64_t shutdown_deadline_ms; /* no progress by then: stop */
    uint64_t shutdown_drain_end_ms;
    /* This node's storage health (NULL without a CSV). */
    struct cd_storage *storage;
    /* The CDB's other volumes, each watched so that this node joins its
     * lockspace, and joins it again after a path loss, by itself. */
    struct {
        char name[CD_NAME_MAX];
        struct cd_storage *s;
    } vols[MAX_VOLUMES];
    size_t nvols;
    /* This node's bridges as last sent (CD_CO_BRIDGES). */
    char bridges[CD_NET_LIST_MAX];
};

static void schedule_derive(struct cd_orch *o);
static void wait_attrs(struct cd_orch *o, struct cd_buf *b, const char *vm);

/* ----------------------------------------------------------- sending */

static int co_send(struct cd_orch *o, const struct cd_co_msg *m)
{
    uint8_t buf[CD_CO_MSG_MAX];
    size_t len;
    int rc = cd_co_msg_encode(m, buf, sizeof(buf), &len);

    if (rc < 0)
        return rc;
    return cd_cpg_send(o->d, buf, len);
}

static void send_rt(struct cd_orch *o, const struct local_vm *l,
                    enum cd_rt_state st, const uint64_t *progress,
                    uint32_t downtime)
{
    struct cd_co_msg m = {
        .type = CD_CO_RT_VM,
        .kind = st,
        .b = downtime,
        .cause = (l->lease ? CD_RT_F_LEASE : 0) | cd_rt_ioerr_flags(l->ioerr),
        .origin = cd_rt_ioerr_origin(l->ioerr, l->ioerr_disk)};

    snprintf(m.vm, sizeof(m.vm), "%s", l->name);
    snprintf(m.text, sizeof(m.text), "%s", l->cpu);
    if (progress) {
        memcpy(m.n, progress, 3 * sizeof(m.n[0]));
        m.id = progress[3]; /* the dirty rate (cd-coord.h) */
    }
    m.n[3] = (uint64_t)time(NULL);
    co_send(o, &m);
}

/* Our part of the state after a configuration change or an hvagent
 * (re)connection: our VMs, then the active actions we know of (so a
 * joining member, maybe the next coordinator, learns them), then END. */
static void announce(struct cd_orch *o)
{
    struct cd_co_msg m = {.type = CD_CO_RT_BEGIN};

    if (!o->in_group)
        return;
    co_send(o, &m);
    for (size_t i = 0; i < o->nlocal; i++)
        if (o->local[i].state != CD_RT_STOPPED)
            send_rt(o, &o->local[i], o->local[i].state, NULL, 0);
    /* What still runs on nodes whose clusterd is gone, for a member that
     * joined since (it might be the next coordinator). */
    for (size_t i = 0; i < cd_coord_rt_count(o->co); i++) {
        const struct cd_rt_vm *r = cd_coord_rt(o->co, i);
        if (!cd_coord_unmanaged(o->co, r->node))
            continue;
        memset(&m, 0, sizeof(m));
        m.type = CD_CO_RT_VM;
        m.kind = r->state;
        m.a = r->node;
        m.cause = (r->lease ? CD_RT_F_LEASE : 0) | cd_rt_ioerr_flags(r->ioerr);
        m.origin = cd_rt_ioerr_origin(r->ioerr, r->ioerr_disk);
        snprintf(m.vm, sizeof(m.vm), "%s", r->vm);
        snprintf(m.text, sizeof(m.text), "%s", r->cpu);
        co_send(o, &m);
    }
    for (size_t i = 0; i < cd_coord_action_count(o->co); i++) {
        const struct cd_action *a = cd_coord_action(o->co, i);
        if (a->status == CD_AS_ACTIVE) {
            cd_coord_action_msg(a, &m);
            co_send(o, &m);
        }
    }
    if (cd_storage_current(o->storage)) {
        cd_stor_msg(cd_storage_current(o->storage), &m);
        co_send(o, &m);
    }
    cd_net_scan(NULL, o->bridges, sizeof(o->bridges));
    cd_net_msg(o->bridges, &m);
    co_send(o, &m);
    /* Our check results again (a joining member has none), READY among
     * them, sent as soon as the running checks end. */
    cd_validate_tick(o->d, true);
    memset(&m, 0, sizeof(m));
    m.type = CD_CO_RT_END;
    co_send(o, &m);
}

static void storage_report(void *data, const struct cd_stor_node *r)
{
    struct cd_orch *o = data;
    struct cd_co_msg m;

    if (!o->in_group)
        return; /* announced when it joins */
    cd_stor_msg(r, &m);
    co_send(o, &m);
}

/* Starts a monitor for every CDB volume besides the main CSV and stops
 * those of volumes gone from the CDB. They report nothing: a node's
 * health is its main CSV's (placement's condition); a VM on a volume this
 * node could not join fails its start here and is retried elsewhere. */
static void volumes_tick(struct cd_orch *o)
{
    const struct cd_cdb *cdb = cd_daemon_cdb(o->d);
    const char *main_path = cd_csv_path(o->d->csv);
    char path[PATH_MAX];
    size_t i, k;

    for (i = 0; i < o->nvols;) {
        for (k = 0; k < cd_cdb_volume_count(cdb) &&
                    strcmp(cd_cdb_volume(cdb, k)->name, o->vols[i].name);
             k++)
            ;
        if (k < cd_cdb_volume_count(cdb)) {
            i++;
            continue;
        }
        cmn_info(CMN_LOG_CD,
                 "storage: volume '%s' left the CDB: no longer "
                 "watched",
                 o->vols[i].name);
        cd_storage_free(o->vols[i].s);
        o->vols[i] = o->vols[--o->nvols];
    }
    for (k = 0; k < cd_cdb_volume_count(cdb); k++) {
        const struct cd_volume *v = cd_cdb_volume(cdb, k);
        for (i = 0; i < o->nvols && strcmp(o->vols[i].name, v->name); i++)
            ;
        if (i < o->nvols || !v->nluns || o->nvols == MAX_VOLUMES)
            continue;
        cd_csv_volume_path(o->d, v->name, path, sizeof(path));
        if (!strcmp(path, main_path))
            continue;
        if (cd_storage_new(o->d, path, NULL, NULL, &o->vols[i].s) < 0) {
            cmn_warn(CMN_LOG_CD,
                     "storage: cannot watch volume '%s' at %s: its "
                     "lockspace is not joined by clusterd",
                     v->name, path);
            continue;
        }
        snprintf(o->vols[i].name, sizeof(o->vols[i].name), "%s", v->name);
        o->nvols++;
    }
}

const struct cd_stor_table *cd_orch_storage(struct cd_daemon *d)
{
    return d->orch ? cd_coord_storage(d->orch->co) : NULL;
}

/* ------------------------------------------------------------ events */

static void broadcast(struct cd_orch *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void broadcast(struct cd_orch *o, const char *fmt, ...)
{
    va_list ap;
    char *text = NULL;

    if (!o->d->ipc)
        return;
    va_start(ap, fmt);
    text = cmn_xml_vformat(fmt, ap); /* every %s a value, escaped */
    if (text)
        cmn_ipc_broadcast(o->d->ipc, text);
    va_end(ap);
    free(text);
}

static void action_event(struct cd_orch *o, const struct cd_action *a)
{
    const struct cd_cdb *cdb = cd_daemon_cdb(o->d);
    struct cd_buf b;
    char *text = NULL;

    cd_buf_init(&b);
    cd_buf_xmlf(&b,
                "<event type=\"action\" id=\"%" PRIu64 "\" vm=\"%s\" "
                "kind=\"%s\" cause=\"%s\" from=\"%s\" to=\"%s\" "
                "status=\"%s\" step=\"%u\" rc=\"%d\" downtime-ms=\"%" PRIu64
                "\" total-ms=\"%" PRIu64 "\" epoch=\"%" PRIu64 "\" msg=\"",
                a->id, a->vm, cd_act_kind_name(a->kind),
                cd_act_cause_name(a->cause), cd_node_name(cdb, a->from),
                cd_node_name(cdb, a->to), cd_act_status_name(a->status),
                a->step, a->rc, a->downtime_ms, a->total_ms, a->epoch);
    cd_buf_xml_escape(&b, a->msg);
    cd_buf_puts(&b, "\"/>");
    if (cd_buf_steal(&b, &text, NULL) == 0 && o->d->ipc)
        cmn_ipc_broadcast(o->d->ipc, text);
    free(text);
}

/* --------------------------------------------------- runtime <vm> xml */

/* The -cpu of a VM defined on a node for action `a` ("" = QEMU's
 * default for the accelerator, what model="host" always meant): a named
 * model as written; "host" for a host-mode VM (hvagent makes it "max"
 * under TCG); for a cluster-mode VM the baseline when it starts, and on a
 * migration target the model it was fixed to on the source, so a node
 * joining or leaving never changes a running guest's CPU. A VM that runs
 * without a reported model (started by an older clusterd, or before any
 * baseline existed) moves as it runs. */
static void runtime_cpu(struct cd_orch *o, const struct cd_action *a,
                        const struct res_vm *def, char *cpu, size_t len)
{
    char err[256];

    cpu[0] = '\0';
    switch (def->cpu_mode) {
    case RES_CPU_ANY:
        return;
    case RES_CPU_MODEL:
        snprintf(cpu, len, "%s", def->cpu_model);
        return;
    case RES_CPU_HOST:
        snprintf(cpu, len, "host");
        return;
    case RES_CPU_CLUSTER:
        break;
    }
    if (a->kind != CD_ACT_START) {
        snprintf(cpu, len, "%s", a->cpu);
        return;
    }
    if (cd_cdb_cpu_baseline(cd_daemon_cdb(o->d), cpu, len, err, sizeof(err)) <
        0) {
        /* No baseline (no node reported yet, or no model all run): a VM
         * of a high-availability cluster still starts, with QEMU's
         * default as before modes existed; it is fixed on its next
         * start. */
        cmn_warn(CMN_LOG_CD,
                 "VM '%s' (cpu mode cluster): %s; starting it with QEMU's "
                 "default CPU model",
                 a->vm, err);
        cpu[0] = '\0';
    }
}

/* The runtime form hvagent takes (hvagent/hva-proto.h) from the CDB's
 * definition. A VM on the CSV gets its disks, lease and state image from
 * the volume, which only a worker may read: `j` is then set up so that
 * cd_csv_prepare adds them there. Disks without a CSV are refused with a
 * clear message instead of started without them. */
static int runtime_xml(struct cd_orch *o, const struct cd_action *a,
                       struct cd_hva_job *j, char **ret, char *msg, size_t len)
{
    const char *name = a->vm;
    char cpu[CD_NAME_MAX] = "";
    const struct cd_vm *v = cd_cdb_vm_by_name(cd_daemon_cdb(o->d), name);
    struct res_vm *def = NULL;
    char err[200], uuid[37];
    bool on_csv =
        v && !strncmp(v->ref, CD_CSV_REF_PREFIX, strlen(CD_CSV_REF_PREFIX));
    struct cd_buf b;
    int rc;

    if (!v || !v->definition) {
        snprintf(msg, len, "VM '%s' has no embedded definition", name);
        return -CD_E_NOT_FOUND;
    }
    rc = res_vm_parse(v->definition, strlen(v->definition), name, &def, err,
                      sizeof(err));
    if (rc < 0) {
        snprintf(msg, len, "%s", err);
        return rc;
    }
    if (on_csv && !o->d->csv) {
        cd_errf(msg, len,
                "VM '%s' lives on the cluster-shared volume (%s), but this "
                "clusterd runs without one (start it with --csv PATH)",
                name, v->ref);
        res_vm_free(def);
        return -ENOTSUP;
    }
    runtime_cpu(o, a, def, cpu, sizeof(cpu));
    if (cd_vm_local_volume(v)) {
        /* Disks are files on this node's local volume, without a lease
         * (cd-local.h says why that is safe). */
        rc = cd_local_runtime(o->d, v, def, j, msg, len);
        if (rc < 0) {
            res_vm_free(def);
            return rc;
        }
    } else if (def->n_disks && !on_csv) {
        snprintf(msg, len,
                 "VM '%s': disks on CSV volumes need a clusterd with the CSV "
                 "(--csv) and the VM added through it",
                 name);
        res_vm_free(def);
        return -ENOTSUP;
    }
    if (on_csv) {
        j->prepare = cd_csv_prepare;
        /* The VM's own volume: after a move-storage, not the main one. */
        cd_csv_volume_path(o->d, v->ref, j->csv_path, sizeof(j->csv_path));
        snprintf(j->csv_ref, sizeof(j->csv_ref), "%s", v->ref);
        j->csv_ndisks = 0;
        for (size_t i = 0; i < def->n_disks; i++)
            if (def->disks[i].source == RES_DISK_EXTENT &&
                j->csv_ndisks <
                    sizeof(j->csv_disks) / sizeof(j->csv_disks[0])) {
                char home[CD_NAME_MAX];
                uint64_t st;
                uint32_t sl;
                /* A disk moved alone lives on its own volume. */
                if (def->disks[i].volume[0] &&
                    cd_csv_ref_parse(v->ref, home, sizeof(home), &sl, &st) ==
                        0 &&
                    strcmp(def->disks[i].volume, home) != 0) {
                    snprintf(j->csv_dvol[j->csv_ndisks], CD_NAME_MAX, "%s",
                             def->disks[i].volume);
                    cd_csv_volume_path(o->d, def->disks[i].volume,
                                       j->csv_dpath[j->csv_ndisks],
                                       sizeof(j->csv_dpath[0]));
                }
                j->csv_slots[j->csv_ndisks] = def->disks[i].slot;
                j->csv_scsi[j->csv_ndisks] =
                    def->disks[i].bus == RES_BUS_VIRTIO_SCSI;
                j->csv_disks[j->csv_ndisks++] = def->disks[i].extent;
            }
    }
    res_uuid_format(def->uuid, uuid);
    cd_buf_init(&b);
    cd_buf_xmlf(&b,
                "<vm name=\"%s\" uuid=\"%s\" memory-mib=\"%" PRIu64 "\" "
                "vcpus=\"%u\"",
                def->name, uuid, def->memory_mib, def->vcpus);
    if (cpu[0])
        cd_buf_xmlf(&b, " cpu=\"%s\"", cpu);
    cd_buf_puts(&b, ">");
    if (def->boot == RES_BOOT_KERNEL && def->kernel) {
        cd_buf_puts(&b, "<kernel path=\"");
        cd_buf_xml_escape(&b, def->kernel);
        if (def->initrd) {
            cd_buf_puts(&b, "\" initrd=\"");
            cd_buf_xml_escape(&b, def->initrd);
        }
        cd_buf_puts(&b, "\" cmdline=\"");
        cd_buf_xml_escape(&b, def->cmdline ? def->cmdline : "");
        cd_buf_puts(&b, "\"/>");
    }
    if (o->d->lease_dir[0] && !on_csv && !cd_vm_local_volume(v)) {
        cd_buf_xmlf(&b,
                    "<lease lockspace=\"%s\" resource=\"vm-%s\" "
                    "path=\"%s/vm-%s.lease\" offset=\"0\"/>",
                    o->d->lease_lockspace, def->name, o->d->lease_dir,
                    def->name);
        cd_buf_xmlf(&b,
                    "<state path=\"%s/vm-%s.state\" offset=\"0\" "
                    "size=\"%" PRIu64 "\"/>",
                    o->d->lease_dir, def->name, (def->memory_mib + 64) << 20);
    }
    /* A tap on the node's bridge per NIC (hvagent refuses the start
     * where a bridge is missing). */
    for (size_t i = 0; i < def->n_nics; i++) {
        char mac[18];

        res_mac_format(def->nics[i].mac, mac);
        cd_buf_puts(&b, "<nic bridge=\"");
        cd_buf_xml_escape(&b, def->nics[i].bridge);
        cd_buf_printf(&b, "\" mac=\"%s\" model=\"%s\"", mac,
                      res_nic_model_str(def->nics[i].model));
        if (def->nics[i].mtu)
            cd_buf_printf(&b, " mtu=\"%u\"", def->nics[i].mtu);
        cd_buf_puts(&b, "/>");
    }
    cd_buf_puts(&b, "</vm>");
    res_vm_free(def);
    return cd_buf_steal(&b, ret, NULL);
}

/* ----------------------------------------------------------- executor */

static bool is_running(struct cd_orch *o, uint64_t id, unsigned step)
{
    for (size_t i = 0; i < o->nrunning; i++)
        if (o->running[i].id == id && o->running[i].step == step)
            return true;
    return false;
}

/* `start_ms`: a START's lease free -> running (cd_action.start_ms). */
static void send_step(struct cd_orch *o, uint64_t id, unsigned step, int rc,
                      const char *vm, const char *msg, uint64_t downtime,
                      uint64_t total, uint64_t start_ms)
{
    struct cd_co_msg m = {
        .type = CD_CO_STEP, .id = id, .cause = step, .rc = rc};

    snprintf(m.vm, sizeof(m.vm), "%s", vm);
    snprintf(m.text, sizeof(m.text), "%s", msg ? msg : "");
    m.n[0] = downtime;
    m.n[1] = total;
    m.n[2] = start_ms;
    m.n[3] = (uint64_t)time(NULL);
    co_send(o, &m);
}

static void shutdown_check(struct cd_orch *o);

static void step_done(void *data, struct cd_hva_job *j)
{
    struct cd_orch *o = data;

    for (size_t i = 0; i < o->nrunning; i++)
        if (o->running[i].id == j->action_id && o->running[i].step == j->step) {
            o->running[i] = o->running[--o->nrunning];
            break;
        }
    /* "hvagent ..." from the worker: whose hvagent, for the client of a
     * move that runs on another node. */
    if (j->rc < 0 && !strncmp(j->msg, "hvagent did not answer", 22)) {
        const struct cd_node *self =
            cd_cdb_node_by_id(cd_daemon_cdb(o->d), o->d->nodeid);
        char m[sizeof(j->msg) + CD_NAME_MAX + 16];
        snprintf(m, sizeof(m), "node '%s': %s", self ? self->name : "?",
                 j->msg);
        snprintf(j->msg, sizeof(j->msg), "%.*s", (int)sizeof(j->msg) - 1, m);
    }
    if (j->rc < 0)
        cmn_warn(CMN_LOG_CD, "VM '%s': %s step %u failed: %s", j->vm,
                 cd_act_kind_name(j->kind), j->step, j->msg);
    else
        cmn_info(CMN_LOG_CD, "VM '%s': %s step %u done in %" PRIu64 " ms",
                 j->vm, cd_act_kind_name(j->kind), j->step, j->total_ms);
    /* Outside the group the result can't be published; the next
     * coordinator sees the executor left or re-runs the step. */
    if (j->kind == CD_ACT_QUICK && !j->downtime_ms && j->rc == 0)
        j->downtime_ms = j->total_ms;
    if (o->in_group)
        send_step(o, j->action_id, j->step, j->rc, j->vm, j->msg,
                  j->downtime_ms, j->total_ms, j->start_ms);
    cd_hva_job_free(j);
    if (o->shutting_down)
        shutdown_check(o);
}

static const char *converge_arg(const char *setting)
{
    if (!strcmp(setting, "auto-converge"))
        return "throttle";
    if (!strcmp(setting, "cancel"))
        return "cancel";
    return "raise";
}

/* Runs the current step of `a` if it falls to this node. */
static void maybe_execute(struct cd_orch *o, const struct cd_action *a)
{
    const struct cd_cdb *cdb = cd_daemon_cdb(o->d);
    struct cd_hva_job *j;
    int rc = 0;

    if (a->status != CD_AS_ACTIVE || cd_action_executor(a) != o->d->nodeid ||
        is_running(o, a->id, a->step) || o->nrunning == MAX_RUNNING)
        return;
    j = calloc(1, sizeof(*j));
    if (!j)
        return;
    j->action_id = a->id;
    j->step = a->step;
    j->kind = a->kind;
    j->lease_wait_s = LEASE_WAIT_S;
    snprintf(j->vm, sizeof(j->vm), "%s", a->vm);
    if (a->kind == CD_ACT_START || (a->kind == CD_ACT_LIVE && a->step == 0) ||
        (a->kind == CD_ACT_QUICK && a->step == 1))
        rc = runtime_xml(o, a, j, &j->vm_xml, j->msg, sizeof(j->msg));
    if (o->d->lease_dir[0] && !j->prepare) {
        snprintf(j->lease_ls, sizeof(j->lease_ls), "%s", o->d->lease_lockspace);
        snprintf(j->lease_res, sizeof(j->lease_res), "vm-%s", a->vm);
        if (snprintf(j->lease_path, sizeof(j->lease_path), "%s/vm-%s.lease",
                     o->d->lease_dir, a->vm) >= (int)sizeof(j->lease_path))
            j->lease_ls[0] = '\0'; /* too long to probe: hvagent decides */
        j->lease_offset = 0;
    }
    if (a->kind == CD_ACT_LIVE && a->step == 1) {
        const struct cd_node *to = cd_cdb_node_by_id(cdb, a->to);
        const char *addr = to ? to->address : "";
        /* IPv6 literals need brackets before the port. */
        snprintf(j->target, sizeof(j->target),
                 strchr(addr, ':') ? "[%s]:%d" : "%s:%d", addr,
                 HVA_MIGRATION_PORT);
        char *args cmn_autofree = cmn_xml_format(
            "downtime-ms=\"%s\" max-passes=\"%s\" converge=\"%s\" "
            "bandwidth-mibs=\"%s\"",
            cd_cdb_setting(cdb, "downtime-target"),
            cd_cdb_setting(cdb, "max-passes"),
            converge_arg(cd_cdb_setting(cdb, "converge")),
            cd_cdb_setting(cdb, "migration-bandwidth"));
        snprintf(j->mig_args, sizeof(j->mig_args), "%s", args ? args : "");
    }
    if (rc < 0) {
        send_step(o, a->id, a->step, rc, a->vm, j->msg, 0, 0, 0);
        cd_hva_job_free(j);
        return;
    }
    cmn_info(CMN_LOG_CD, "VM '%s': running %s step %u (action %" PRIu64 ")",
             a->vm, cd_act_kind_name(a->kind), a->step, a->id);
    o->running[o->nrunning].id = a->id;
    o->running[o->nrunning].step = a->step;
    o->nrunning++;
    rc = cd_hva_run(o->hva, j, step_done, o);
    if (rc < 0) {
        o->nrunning--;
        send_step(o, a->id, a->step, rc, a->vm, "cannot start a worker", 0, 0,
                  0);
        cd_hva_job_free(j);
    }
}

/* ----------------------------------------------------------- deriving */

static bool inflight(struct cd_orch *o, const char *vm)
{
    uint64_t now = cmn_now_ms();

    for (size_t i = 0; i < o->ninflight;)
        if (now - o->inflight[i].at_ms > INFLIGHT_MS)
            o->inflight[i] = o->inflight[--o->ninflight];
        else if (strcmp(o->inflight[i].vm, vm) == 0)
            return true;
        else
            i++;
    return false;
}

static void inflight_clear(struct cd_orch *o, const char *vm)
{
    for (size_t i = 0; i < o->ninflight; i++)
        if (strcmp(o->inflight[i].vm, vm) == 0) {
            o->inflight[i] = o->inflight[--o->ninflight];
            return;
        }
}

/* The coordinator's view from this node: members, quorum, clocks. */
static void make_view(struct cd_orch *o, struct cd_co_view *v)
{
    struct cd_daemon *d = o->d;
    const uint32_t *members = NULL;
    time_t now = time(NULL);
    struct tm tm;

    memset(v, 0, sizeof(*v));
    v->self = d->nodeid;
    if (d->replica) {
        v->quorate = cd_replica_quorate(d->replica);
        v->nmembers = cd_replica_members(d->replica, &members);
        v->members = members;
    }
    v->now_s = (uint64_t)now;
    localtime_r(&now, &tm);
    v->now_minute = (unsigned)(tm.tm_hour * 60 + tm.tm_min);
}

static void derive_job(void *data)
{
    struct cd_orch *o = data;
    struct cd_daemon *d = o->d;
    struct cd_action out[32];
    struct cd_co_view v;
    size_t n;

    o->derive_queued = false;
    if (!d->replica || !o->in_group ||
        cd_replica_coordinator(d->replica) != d->nodeid ||
        cd_replica_phase(d->replica) != CD_SYNC_DONE)
        return;
    make_view(o, &v);
    n = cd_coord_derive(o->co, cd_daemon_cdb(d), &v, out, CMN_ARRAY_SIZE(out));
    for (size_t i = 0; i < n; i++) {
        struct cd_co_msg m;
        if (inflight(o, out[i].vm) || o->ninflight == MAX_INFLIGHT)
            continue;
        out[i].id =
            ((uint64_t)d->nodeid << 40) | (o->next_action++ & 0xffffffffffull);
        cd_coord_action_msg(&out[i], &m);
        /* Published before anyone acts on it: the executor starts on
         * delivery, so every member has it in the same place. */
        if (co_send(o, &m) < 0)
            continue;
        snprintf(o->inflight[o->ninflight].vm, CD_NAME_MAX, "%s", out[i].vm);
        o->inflight[o->ninflight++].at_ms = cmn_now_ms();
        cmn_info(CMN_LOG_CD,
                 "coordinator: %s VM '%s' %s%s%s%s (%s, epoch %" PRIu64 ")",
                 cd_act_kind_name(out[i].kind), out[i].vm,
                 out[i].from ? "from " : "",
                 cd_node_name(cd_daemon_cdb(d), out[i].from),
                 out[i].to ? " to " : "",
                 cd_node_name(cd_daemon_cdb(d), out[i].to),
                 cd_act_cause_name(out[i].cause), out[i].epoch);
    }
}

static void schedule_derive(struct cd_orch *o)
{
    if (o->derive_queued)
        return;
    if (qb_loop_job_add(o->d->loop, QB_LOOP_LOW, o, derive_job) == 0)
        o->derive_queued = true;
}

/* ---------------------------------------------------------- delivery */

static void reply_waiter(struct cd_orch *o, uint64_t req, const char *text)
{
    for (size_t i = 0; i < o->nwaiters; i++)
        if (o->waiters[i].req == req) {
            cmn_ipc_reply(o->waiters[i].conn, text);
            cmn_ipc_conn_unref(o->waiters[i].conn);
            o->waiters[i] = o->waiters[--o->nwaiters];
            return;
        }
}

/* A move request that has to wait for the migration limit: its client
 * learns it now, with its place, and follows the events until the move
 * starts (the ACTION then finds no waiter). */
static void reply_queued(struct cd_orch *o, const struct cd_co_msg *m)
{
    const struct cd_cdb *cdb = cd_daemon_cdb(o->d);
    const struct cd_co_req *q = cd_coord_req(o->co, m->vm);
    struct cd_vm_wait w;
    struct cd_co_view v;
    char *text cmn_autofree = NULL;

    if (!q || q->origin_req != m->origin_req ||
        (q->kind != CD_ACT_LIVE && q->kind != CD_ACT_QUICK))
        return;
    make_view(o, &v);
    cd_coord_vm_wait(o->co, cdb, &v, m->vm, &w);
    if (w.kind != CD_WAIT_MOVE_QUEUED)
        return;
    text = cmn_xml_format("<ok queued=\"%u\" vm=\"%s\" kind=\"%s\" from=\"%s\" "
                          "to=\"%s\" limit=\"%s\"/>",
                          w.n, q->vm, cd_act_kind_name(q->kind),
                          cd_node_name(cdb, q->from), cd_node_name(cdb, q->to),
                          cd_cdb_setting(cdb, "migration-max-concurrent"));
    reply_waiter(o, m->origin_req, text ? text : "<error code=\"12\"/>");
}

bool cd_orch_deliver(struct cd_daemon *d, uint32_t nodeid, const void *buf,
                     size_t len)
{
    struct cd_orch *o = d->orch;
    struct cd_co_msg m;
    struct cd_co_effect eff;
    char err[512] = "";

    if (!cd_co_msg_is_mine(buf, len))
        return false;
    if (!o || cd_co_msg_decode(buf, len, &m) < 0)
        return true;
    if (cd_cpg_entitled(d, o->co, nodeid, &m) < 0)
        return true;
    cd_coord_deliver(o->co, cd_daemon_cdb(d), nodeid, &m, &eff, err,
                     sizeof(err));
    cd_metrics_deliver(d, &m, &eff);
    switch (m.type) {
    case CD_CO_RT_VM:
        if (eff.changed) {
            broadcast(o,
                      "<event type=\"vm\" vm=\"%s\" node=\"%s\" "
                      "state=\"%s\"/>",
                      m.vm, cd_node_name(cd_daemon_cdb(d), nodeid),
                      cd_rt_state_name((enum cd_rt_state)m.kind));
            if (m.kind == CD_RT_MIGRATING && m.n[0])
                broadcast(o,
                          "<event type=\"migration\" vm=\"%s\" pass=\"%" PRIu64
                          "\" transferred=\"%" PRIu64 "\" remaining=\"%" PRIu64
                          "\" dirty-rate=\"%" PRIu64
                          "\" expected-downtime-ms=\"%u\"/>",
                          m.vm, m.n[0], m.n[1], m.n[2], m.id, m.b);
        }
        if (eff.vm_failed)
            cmn_warn(CMN_LOG_CD, "VM '%s' stopped unexpectedly on node %s",
                     m.vm, cd_node_name(cd_daemon_cdb(d), nodeid));
        break;
    case CD_CO_STORAGE:
        if (eff.changed)
            broadcast(o,
                      "<event type=\"storage\" node=\"%s\" state=\"%s\" "
                      "volume=\"%s\"/>",
                      cd_node_name(cd_daemon_cdb(d), nodeid),
                      cd_stor_state_name((enum cd_stor_state)m.kind), m.vm);
        break;
    case CD_CO_BRIDGES:
        /* A VM waiting for a node with its bridges may go now. */
        if (eff.changed)
            schedule_derive(o);
        break;
    case CD_CO_CHECK:
        cd_validate_deliver(d, nodeid, &m);
        /* A node that became ready may take the VMs that waited. */
        if (eff.changed)
            schedule_derive(o);
        break;
    case CD_CO_REQ:
        if (m.origin == d->nodeid && eff.rejected) {
            char *t = cd_error_text(eff.rc, err);
            reply_waiter(o, m.origin_req, t ? t : "<error code=\"12\"/>");
            free(t);
        } else if (m.origin == d->nodeid && m.origin_req) {
            reply_queued(o, &m);
        }
        break;
    case CD_CO_ACTION:
        inflight_clear(o, m.vm);
        if (eff.act_new) {
            action_event(o, eff.act);
            if (eff.act->origin == d->nodeid && eff.act->origin_req &&
                eff.act->status == CD_AS_FAILED) {
                char *t = cd_error_text(eff.act->rc, eff.act->msg);
                reply_waiter(o, eff.act->origin_req,
                             t ? t : "<error code=\"16\"/>");
                free(t);
            } else if (eff.act->origin == d->nodeid && eff.act->origin_req) {
                char *text cmn_autofree = cmn_xml_format(
                    "<ok action=\"%" PRIu64 "\" vm=\"%s\" kind=\"%s\" "
                    "from=\"%s\" to=\"%s\"/>",
                    eff.act->id, eff.act->vm, cd_act_kind_name(eff.act->kind),
                    cd_node_name(cd_daemon_cdb(d), eff.act->from),
                    cd_node_name(cd_daemon_cdb(d), eff.act->to));
                reply_waiter(o, eff.act->origin_req,
                             text ? text : "<error code=\"12\"/>");
            }
        } else if (!eff.act && m.origin == d->nodeid && m.origin_req) {
            /* Dropped: the VM got another action first. */
            char *t = cd_error_text(
                -CD_E_BUSY, "the VM got another action first: retry "
                            "when it is done (see 'clusterctl events')");
            reply_waiter(o, m.origin_req, t ? t : "<error code=\"16\"/>");
            free(t);
        }
        if (eff.act)
            maybe_execute(o, eff.act);
        break;
    case CD_CO_STEP:
        if (eff.act) {
            action_event(o, eff.act);
            if (eff.act_ended)
                cmn_info(CMN_LOG_CD, "VM '%s': %s %s%s%s", eff.act->vm,
                         cd_act_kind_name(eff.act->kind),
                         cd_act_status_name(eff.act->status),
                         eff.act->msg[0] ? ": " : "", eff.act->msg);
            else
                maybe_execute(o, eff.act);
        }
        break;
    case CD_CO_NODE_LOST:
        if (eff.changed) {
            cmn_info(CMN_LOG_CD,
                     "node %s is gone (it left corosync while its clusterd "
                     "was down): its VMs run nowhere now",
                     cd_node_name(cd_daemon_cdb(d), m.a));
            broadcast(o, "<event type=\"node\" node=\"%s\" state=\"lost\"/>",
                      cd_node_name(cd_daemon_cdb(d), m.a));
        }
        break;
    case CD_CO_RT_END:
        /* Settled: steps of ours that a restart interrupted run again
         * (each step is idempotent on hvagent's side). */
        if (cd_coord_settled(o->co))
            for (size_t i = 0; i < cd_coord_action_count(o->co); i++)
                maybe_execute(o, cd_coord_action(o->co, i));
        break;
    default:
        break;
    }
    schedule_derive(o);
    return true;
}

/* The coordinator tells every member, in the agreed order, which
 * unmanaged node (clusterd gone, node still there) has now left
 * corosync's membership too: only then do its VMs fail over. */
static void check_lost(struct cd_orch *o)
{
    struct cd_daemon *d = o->d;
    uint32_t um[CD_MAX_MEMBERS];
    size_t n;

    if (!d->replica || !d->quorate || !o->in_group || !d->view_known ||
        cd_replica_coordinator(d->replica) != d->nodeid)
        return;
    n = cd_coord_unmanaged_nodes(o->co, um, CMN_ARRAY_SIZE(um));
    for (size_t i = 0; i < n; i++) {
        struct cd_co_msg m = {.type = CD_CO_NODE_LOST, .a = um[i]};
        bool alive = false;

        for (size_t k = 0; k < d->nview; k++)
            alive |= d->view[k] == um[i];
        if (alive)
            continue;
        cmn_warn(CMN_LOG_CD,
                 "node %s left the corosync membership while its clusterd "
                 "was down: its VMs fail over",
                 cd_node_name(cd_daemon_cdb(d), um[i]));
        co_send(o, &m);
    }
}

void cd_orch_confchg(struct cd_daemon *d, const uint32_t *members, size_t n,
                     const uint32_t *kept, size_t nkept)
{
    struct cd_orch *o = d->orch;
    uint64_t active[CD_CO_MAX_ACTIONS];
    size_t nactive = 0;
    bool in = false;

    if (!o)
        return;
    cd_metrics_confchg(d, members, n, kept, nkept);
    for (size_t i = 0; i < n; i++)
        in |= members[i] == d->nodeid;
    for (size_t i = 0; i < cd_coord_action_count(o->co); i++)
        if (cd_coord_action(o->co, i)->status == CD_AS_ACTIVE)
            active[nactive++] = cd_coord_action(o->co, i)->id;
    o->in_group = in;
    cd_coord_confchg_kept(o->co, members, in ? n : 0, kept, nkept);
    for (size_t i = 0; in && i < nkept; i++) {
        size_t nvm = 0;
        for (size_t k = 0; k < cd_coord_rt_count(o->co); k++)
            nvm += cd_coord_rt(o->co, k)->node == kept[i];
        cmn_warn(CMN_LOG_CD,
                 "clusterd of node %s left but the node is still a corosync "
                 "member: its %zu VM(s) keep running there, unmanaged, until "
                 "its clusterd is back; it takes no new VM meanwhile",
                 cd_node_name(cd_daemon_cdb(d), kept[i]), nvm);
        broadcast(o,
                  "<event type=\"node\" node=\"%s\" state=\"unmanaged\" "
                  "vms=\"%zu\"/>",
                  cd_node_name(cd_daemon_cdb(d), kept[i]), nvm);
    }
    /* Actions the change ended (their executor left): clients waiting
     * for them (move-vm, events) learn it now. */
    for (size_t i = 0; i < nactive; i++) {
        const struct cd_action *a = cd_coord_action_by_id(o->co, active[i]);
        if (a && a->status != CD_AS_ACTIVE) {
            cmn_info(CMN_LOG_CD, "VM '%s': %s %s: %s", a->vm,
                     cd_act_kind_name(a->kind), cd_act_status_name(a->status),
                     a->msg);
            action_event(o, a);
        }
    }
    /* Requests waiting for an ACTION may never get one now. */
    while (o->nwaiters && !in) {
        char *t = cd_error_text(-CD_E_NO_CLUSTER,
                                "lost the cluster before the move was "
                                "decided: check 'clusterctl status' and retry");
        reply_waiter(o, o->waiters[0].req, t ? t : "<error code=\"1\"/>");
        free(t);
    }
    announce(o);
    check_lost(o);
    schedule_derive(o);
}

void cd_orch_cdb_applied(struct cd_daemon *d)
{
    if (d->orch)
        schedule_derive(d->orch);
}

/* ------------------------------------------------ local VM stops */

static size_t local_running(const struct cd_orch *o)
{
    size_t n = 0;

    for (size_t i = 0; i < o->nlocal; i++)
        n += cd_rt_state_runs(o->local[i].state);
    return n;
}

static void stop_done(void *data, struct cd_hva_job *j)
{
    struct cd_orch *o = data;

    o->nstopping--;
    if (j->rc < 0)
        cmn_err(CMN_LOG_CD, "VM '%s': cannot stop it: %s", j->vm,
                j->msg[0] ? j->msg : cmn_strerror(j->rc));
    else
        cmn_info(CMN_LOG_CD, "VM '%s': stopped in %" PRIu64 " ms", j->vm,
                 j->total_ms);
    cd_hva_job_free(j);
    if (o->shutting_down)
        shutdown_check(o);
}

/* Stops every VM that runs here, each in its own worker so that several
 * stop in parallel and the loop never waits for a guest: the quorum
 * grace and the shutdown paths. Returns how many stops started. */
static unsigned stop_local_vms(struct cd_orch *o)
{
    unsigned n = 0;

    for (size_t i = 0; i < o->nlocal; i++) {
        struct cd_hva_job *j;
        if (!cd_rt_state_runs(o->local[i].state))
            continue;
        j = calloc(1, sizeof(*j));
        if (!j)
            break;
        j->kind = CD_ACT_STOP;
        snprintf(j->vm, sizeof(j->vm), "%s", o->local[i].name);
        snprintf(j->mig_args, sizeof(j->mig_args), "timeout-ms=\"%d\"",
                 STOP_TIMEOUT_MS);
        if (cd_hva_run(o->hva, j, stop_done, o) < 0) {
            cmn_err(CMN_LOG_CD, "VM '%s': cannot start a worker to stop it",
                    j->vm);
            cd_hva_job_free(j);
            continue;
        }
        o->nstopping++;
        n++;
    }
    return n;
}

/* ---------------------------------------- quarantine: daemon failures */

static int submit(struct cd_orch *o, struct cd_op *op)
{
    uint64_t id;

    if (!o->d->replica)
        return -CD_E_NO_CLUSTER;
    return cd_replica_submit(o->d->replica, op, &id);
}

static void arm_tick(struct cd_orch *o);

/* Records the queued failures in the CDB; what the cluster does not take
 * now (no quorum, a sync round) is retried on the next tick. */
static void reports_flush(struct cd_orch *o)
{
    const struct cd_cdb *cdb = cd_daemon_cdb(o->d);

    while (o->nreports) {
        struct failure_report *r = &o->reports[0];
        const struct cd_node *n = cd_cdb_node_by_id(cdb, r->node);
        struct cd_op op = {.type = CD_OP_NODE_FAILURE, .number = r->time_s};
        int rc;

        if (n) {
            snprintf(op.name, sizeof(op.name), "%s", n->name);
            snprintf(op.arg, sizeof(op.arg), "%s", r->what);
            rc = submit(o, &op);
            if (rc < 0) {
                arm_tick(o);
                return;
            }
            cmn_info(CMN_LOG_CD, "recorded a failure of node '%s': %s", n->name,
                     r->what);
        }
        /* else: not registered, nothing to quarantine */
        memmove(&o->reports[0], &o->reports[1],
                (o->nreports - 1) * sizeof(o->reports[0]));
        o->nreports--;
    }
}

static void report_failure(struct cd_orch *o, uint32_t node, const char *fmt,
                           ...) __attribute__((format(printf, 3, 4)));
static void report_failure(struct cd_orch *o, uint32_t node, const char *fmt,
                           ...)
{
    struct failure_report *r;
    va_list ap;

    if (o->nreports == MAX_REPORTS) {
        cmn_warn(CMN_LOG_CD, "too many daemon failures waiting to be "
                             "recorded: dropping the oldest");
        memmove(&o->reports[0], &o->reports[1],
                (o->nreports - 1) * sizeof(o->reports[0]));
        o->nreports--;
    }
    r = &o->reports[o->nreports++];
    memset(r, 0, sizeof(*r));
    r->node = node;
    r->time_s = (uint64_t)time(NULL);
    va_start(ap, fmt);
    vsnprintf(r->what, sizeof(r->what), fmt, ap);
    va_end(ap);
    cmn_warn(CMN_LOG_CD, "node %u: %s", node, r->what);
    reports_flush(o);
}

/* A member's clusterd left the group without leaving (it died: CPG
 * reason PROCDOWN) while its node stayed in the corosync membership.
 * Every member sees the same configuration change; only the coordinator
 * records it, so it is counted once. */
void cd_orch_member_failed(struct cd_daemon *d, uint32_t nodeid)
{
    struct cd_orch *o = d->orch;

    if (!o || !d->replica || nodeid == d->nodeid ||
        cd_replica_coordinator(d->replica) != d->nodeid)
        return;
    report_failure(o, nodeid, "clusterd exited without leaving the cluster");
}

/* ------------------------------------------------------------ ticks */

static void tick(void *data);

static void arm_tick(struct cd_orch *o)
{
    if (o->tick_armed)
        return;
    if (qb_loop_timer_add(o->d->loop, QB_LOOP_LOW, TICK_MS * 1000000ull, o,
                          tick, &o->tick_timer) == 0)
        o->tick_armed = true;
}

/* Quarantines that ended (coordinator) and this node's return from a
 * shutdown drain: both are CDB changes, so they wait for quorum. */
static void node_states_tick(struct cd_orch *o)
{
    struct cd_daemon *d = o->d;
    const struct cd_cdb *cdb = cd_daemon_cdb(d);
    uint64_t now = (uint64_t)time(NULL);

    if (!d->replica || !d->quorate || !o->in_group ||
        cd_replica_phase(d->replica) != CD_SYNC_DONE)
        return;
    for (size_t i = 0; i < cd_cdb_node_count(cdb); i++) {
        const struct cd_node *n = cd_cdb_node(cdb, i);
        struct cd_op op = {.type = CD_OP_SET_NODE_STATE};

        snprintf(op.name, sizeof(op.name), "%s", n->name);
        snprintf(op.arg, sizeof(op.arg), "up");
        if (n->state == CD_NODE_QUARANTINED && n->quarantined_until &&
            now >= n->quarantined_until &&
            cd_replica_coordinator(d->replica) == d->nodeid) {
            /* Only if it is still the same quarantine when applied. */
            op.number = n->quarantined_until;
            if (submit(o, &op) == 0)
                cmn_info(CMN_LOG_CD, "node '%s': quarantine over", n->name);
        } else if (n->nodeid == d->nodeid && !o->shutting_down &&
                   n->state == CD_NODE_DRAINED &&
                   !strcmp(n->reason, "shutdown")) {
            if (submit(o, &op) == 0)
                cmn_info(CMN_LOG_CD,
                         "node '%s' is back after its shutdown "
                         "drain: it takes VMs again",
                         n->name);
        }
    }
}

/* Every member tells its own clients when a VM starts or stops waiting
 * (a retry, no node at all): the state is replicated, so all agree. */
static void waits_tick(struct cd_orch *o)
{
    const struct cd_cdb *cdb = cd_daemon_cdb(o->d);
    struct cd_co_view v;

    if (!o->in_group || !cd_coord_settled(o->co))
        return;
    make_view(o, &v);
    for (size_t i = 0; i < cd_cdb_vm_count(cdb); i++) {
        const struct cd_vm *vm = cd_cdb_vm(cdb, i);
        struct wait_seen *ws = NULL;
        struct cd_vm_wait w;

        cd_coord_vm_wait(o->co, cdb, &v, vm->name, &w);
        for (size_t k = 0; k < o->nwaits && !ws; k++)
            if (!strcmp(o->waits[k].vm, vm->name))
                ws = &o->waits[k];
        if (!ws && w.kind == CD_WAIT_NONE)
            continue;
        if (!ws) {
            if (o->nwaits == MAX_LOCAL)
                continue;
            ws = &o->waits[o->nwaits++];
            memset(ws, 0, sizeof(*ws));
            snprintf(ws->vm, sizeof(ws->vm), "%s", vm->name);
        }
        if (ws->kind == w.kind && ws->at_s == w.at_s && ws->n == w.n)
            continue;
        ws->kind = w.kind;
        ws->at_s = w.at_s;
        ws->n = w.n;
        if (w.kind == CD_WAIT_NO_NODE)
            cmn_warn(CMN_LOG_CD,
                     "VM '%s' should run but no node can run it: %s", vm->name,
                     w.text);
        else if (w.kind == CD_WAIT_RETRY)
            cmn_info(CMN_LOG_CD,
                     "VM '%s': start failed %u time(s) in a row (last on "
                     "node '%s': %s); next attempt in %" PRId64 " s on '%s'",
                     vm->name, w.n, cd_node_name(cdb, w.node), w.text,
                     (int64_t)w.at_s - (int64_t)v.now_s,
                     cd_node_name(cdb, w.next));
        else if (w.kind == CD_WAIT_MOVE_BACKOFF)
            /* Once per step of the back-off, not per attempt. */
            cmn_warn(CMN_LOG_CD,
                     "VM '%s': move off node '%s' failed %u time(s) in a "
                     "row (last: %s); next attempt in %" PRId64 " s",
                     vm->name, cd_node_name(cdb, w.node), w.n, w.text,
                     (int64_t)w.at_s - (int64_t)v.now_s);
        else if (w.kind == CD_WAIT_NOT_RUNNING)
            cmn_warn(CMN_LOG_CD, "VM '%s': drain skips it: %s", vm->name,
                     w.text);
        if (o->d->ipc) {
            struct cd_buf b;
            char *text = NULL;
            cd_buf_init(&b);
            cd_buf_xmlf(&b, "<event type=\"vm-wait\" vm=\"%s\"", vm->name);
            wait_attrs(o, &b, vm->name);
            cd_buf_puts(&b, "/>");
            if (cd_buf_steal(&b, &text, NULL) == 0)
                cmn_ipc_broadcast(o->d->ipc, text);
            free(text);
        }
    }
}

/* A bridge created or removed on this node reaches placement within a
 * tick (reading sysfs is cheap and does not block). */
static void bridges_tick(struct cd_orch *o)
{
    char now[CD_NET_LIST_MAX];
    struct cd_co_msg m;

    if (!o->in_group)
        return; /* announced when it joins */
    cd_net_scan(NULL, now, sizeof(now));
    if (strcmp(now, o->bridges) == 0)
        return;
    cmn_info(CMN_LOG_CD, "bridges of this node: '%s' (were '%s')", now,
             o->bridges);
    snprintf(o->bridges, sizeof(o->bridges), "%s", now);
    cd_net_msg(now, &m);
    co_send(o, &m);
}

static void tick(void *data)
{
    struct cd_orch *o = data;

    o->tick_armed = false;
    reports_flush(o);
    bridges_tick(o);
    node_states_tick(o);
    cd_cpu_tick(o->d);
    cd_validate_tick(o->d, false);
    waits_tick(o);
    /* Back-offs end with time, not with a message. */
    schedule_derive(o);
    if (o->d->csv) {
        cd_csv_tick(o->d, o->d->replica && cd_replica_coordinator(
                                               o->d->replica) == o->d->nodeid);
        volumes_tick(o);
    }
    if (o->shutting_down)
        shutdown_check(o);
    arm_tick(o);
}

/* ---------------------------------------------------------- shutdown */

static void shutdown_stop(struct cd_orch *o, const char *why)
{
    cmn_warn(CMN_LOG_CD, "shutdown: %s: stopping the %zu VM(s) left here", why,
             local_running(o));
    o->shutdown_drain = false;
    o->shutdown_deadline_ms = cmn_now_ms() + SHUTDOWN_STOP_MS;
    stop_local_vms(o);
}

static void shutdown_check(struct cd_orch *o)
{
    struct cd_daemon *d = o->d;
    uint64_t now = cmn_now_ms();
    bool moving = false;

    /* A step's result (the end of a migration) is published first. */
    if (!local_running(o) && !o->nstopping && !o->nrunning) {
        cmn_info(CMN_LOG_CD, "shutdown: no VM runs here any more: leaving");
        qb_loop_stop(d->loop);
        return;
    }
    if (!o->shutdown_drain) {
        if (now >= o->shutdown_deadline_ms) {
            cmn_err(CMN_LOG_CD,
                    "shutdown: VMs still running after %d s of "
                    "stopping: leaving anyway",
                    SHUTDOWN_STOP_MS / 1000);
            qb_loop_stop(d->loop);
        }
        return;
    }
    for (size_t i = 0; i < cd_coord_action_count(o->co); i++) {
        const struct cd_action *a = cd_coord_action(o->co, i);
        if (a->status == CD_AS_ACTIVE && a->from == d->nodeid)
            moving = true;
    }
    if (moving || o->ninflight)
        o->shutdown_deadline_ms = o->shutdown_deadline_ms > now + 15000
                                      ? o->shutdown_deadline_ms
                                      : now + 15000;
    if (!d->quorate || !o->in_group)
        shutdown_stop(o, "quorum lost during the drain");
    else if (now >= o->shutdown_drain_end_ms)
        shutdown_stop(o, "the drain did not finish in time");
    else if (!moving && now >= o->shutdown_deadline_ms)
        shutdown_stop(o, "the drain moves nothing more");
}

bool cd_orch_shutdown(struct cd_daemon *d)
{
    struct cd_orch *o = d->orch;
    const struct cd_cdb *cdb = cd_daemon_cdb(d);
    const struct cd_node *self;
    const uint32_t *members = NULL;
    size_t nm = d->replica ? cd_replica_members(d->replica, &members) : 0;
    bool other = false;

    if (!o || o->shutting_down)
        return false; /* a second signal: leave now */
    o->shutting_down = true;
    if (!local_running(o))
        return false;
    self = cd_cdb_node_by_id(cdb, d->nodeid);
    for (size_t i = 0; i < nm; i++) {
        const struct cd_node *n = cd_cdb_node_by_id(cdb, members[i]);
        other |= members[i] != d->nodeid && n && n->state == CD_NODE_UP;
    }
    o->shutdown_drain_end_ms = cmn_now_ms() + SHUTDOWN_DRAIN_MS;
    /* Wait for the first moves to be decided before calling it stuck. */
    o->shutdown_deadline_ms = cmn_now_ms() + 15000;
    /* Drained even when nobody can take the VMs: the coordinator then
     * neither restarts the VMs stopped below in place (health) nor
     * starts anything here while clusterd leaves. The change is sent
     * before any stop, so every member applies it first. */
    if (self && d->quorate && o->in_group &&
        cd_replica_phase(d->replica) == CD_SYNC_DONE) {
        struct cd_op op = {.type = CD_OP_SET_NODE_STATE};
        int rc = 0;
        if (self->state != CD_NODE_DRAINED) {
            snprintf(op.name, sizeof(op.name), "%s", self->name);
            snprintf(op.arg, sizeof(op.arg), "drained");
            snprintf(op.arg2, sizeof(op.arg2), "shutdown");
            rc = submit(o, &op);
        }
        if (rc == 0 && other) {
            cmn_info(CMN_LOG_CD,
                     "shutdown: draining node '%s' (%zu VM(s)) before "
                     "leaving",
                     self->name, local_running(o));
            o->shutdown_drain = true;
            arm_tick(o);
            return true;
        }
    }
    shutdown_stop(o, !d->quorate ? "no quorum"
                     : !other    ? "no other node can take the VMs"
                                 : "cannot drain");
    arm_tick(o);
    return true;
}

/* ---------------------------------------------------- quorum grace */

static void grace_expired(void *data)
{
    struct cd_orch *o = data;
    int n;

    o->grace_armed = false;
    if (o->d->quorate)
        return;
    /* The majority restarts these VMs once their leases are free:
     * releasing them now (stopping the QEMUs) makes that sooner and
     * never lets the VMs run twice. */
    n = (int)stop_local_vms(o);
    cmn_warn(CMN_LOG_CD,
             "no quorum for the grace period: stopping this node's %d VM(s) "
             "so the majority can restart them",
             n);
}

void cd_orch_quorum(struct cd_daemon *d)
{
    struct cd_orch *o = d->orch;
    uint64_t grace;

    if (!o)
        return;
    if (d->quorate) {
        if (o->grace_armed) {
            qb_loop_timer_del(d->loop, o->grace_timer);
            o->grace_armed = false;
            cmn_info(CMN_LOG_CD, "quorum back within the grace period: "
                                 "VMs keep running");
        }
        check_lost(o);
        schedule_derive(o);
        return;
    }
    if (o->grace_armed || !o->nlocal)
        return;
    grace =
        strtoull(cd_cdb_setting(cd_daemon_cdb(d), "quorum-grace"), NULL, 10);
    cmn_warn(CMN_LOG_CD,
             "quorum lost: this node's VMs stop in %" PRIu64
             " ms unless it comes back",
             grace);
    if (qb_loop_timer_add(d->loop, QB_LOOP_HIGH, grace * 1000000ull, o,
                          grace_expired, &o->grace_timer) == 0)
        o->grace_armed = true;
}

/* ---------------------------------------------------- hvagent events */

static struct local_vm *local_find(struct cd_orch *o, const char *name,
                                   bool add)
{
    for (size_t i = 0; i < o->nlocal; i++)
        if (strcmp(o->local[i].name, name) == 0)
            return &o->local[i];
    if (!add || o->nlocal == MAX_LOCAL)
        return NULL;
    memset(&o->local[o->nlocal], 0, sizeof(o->local[0]));
    snprintf(o->local[o->nlocal].name, CD_NAME_MAX, "%s", name);
    return &o->local[o->nlocal++];
}

/* cpu="..." of an hvagent <vm> or state event: what the VM was defined
 * with (absent: QEMU's default); lease="yes": hvagent holds its lease
 * (absent, from an older hvagent: not known, reported as not held). */
static void local_set_attrs(struct local_vm *l, xmlNode *n)
{
    xmlChar *cpu = xmlGetProp(n, (const xmlChar *)"cpu");
    xmlChar *lease = xmlGetProp(n, (const xmlChar *)"lease");
    xmlChar *ioerr = xmlGetProp(n, (const xmlChar *)"io-error");
    xmlChar *disk = xmlGetProp(n, (const xmlChar *)"io-error-disk");
    long dk = disk ? strtol((const char *)disk, NULL, 10) : -1;

    snprintf(l->cpu, sizeof(l->cpu), "%s",
             cpu && cmn_name_valid((const char *)cpu) ? (const char *)cpu : "");
    l->lease = lease && !strcmp((const char *)lease, "yes");
    /* io-error="eio|enospc": paused on an I/O error, which hvagent
     * resumes by itself (absent: none, or an older hvagent). */
    l->ioerr = cd_rt_ioerr_from_hva((const char *)ioerr);
    l->ioerr_disk = dk >= 0 && dk < RES_VM_MAX_DISKS ? (int)dk : -1;
    xmlFree(cpu);
    xmlFree(lease);
    xmlFree(ioerr);
    xmlFree(disk);
}

static xmlDoc *parse(const char *xml, const char *what)
{
    xmlDoc *doc = NULL;
    char err[256];

    if (cmn_xml_parse_mem(xml, strlen(xml), what, CMN_IPC_MAX_MSG, &doc, err,
                          sizeof(err)) < 0)
        return NULL;
    return doc;
}

static uint64_t prop_u64(xmlNode *n, const char *name)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
    uint64_t r = v ? strtoull((const char *)v, NULL, 10) : 0;

    xmlFree(v);
    return r;
}

static void hva_connected(void *data, const char *status_xml)
{
    struct cd_orch *o = data;
    xmlDoc *doc = parse(status_xml, "hvagent status");

    cd_cpu_forget();
    o->nlocal = 0;
    if (doc) {
        for (xmlNode *n = xmlDocGetRootElement(doc)->children; n; n = n->next) {
            xmlChar *name = xmlGetProp(n, (const xmlChar *)"name");
            xmlChar *st = xmlGetProp(n, (const xmlChar *)"state");
            struct local_vm *l;
            if (name && st && cmn_name_valid((const char *)name) &&
                (l = local_find(o, (const char *)name, true))) {
                l->state = cd_rt_state_from_hva((const char *)st);
                local_set_attrs(l, n);
            }
            xmlFree(name);
            xmlFree(st);
        }
        xmlFreeDoc(doc);
    }
    announce(o);
}

static void hva_lost(void *data)
{
    struct cd_orch *o = data;

    /* VMs outlive hvagent: keep announcing the last known states. An
     * hvagent that goes away while clusterd runs failed (or was
     * restarted by hand): it counts towards quarantine. */
    report_failure(o, o->d->nodeid, "hvagent exited (connection lost)");
}

static void hva_event(void *data, const char *xml)
{
    struct cd_orch *o = data;
    xmlDoc *doc = parse(xml, "hvagent event");
    xmlNode *e;
    xmlChar *type, *vm, *st;

    if (!doc)
        return;
    e = xmlDocGetRootElement(doc);
    type = xmlGetProp(e, (const xmlChar *)"type");
    vm = xmlGetProp(e, (const xmlChar *)"vm");
    st = xmlGetProp(e, (const xmlChar *)"state");
    if (type && vm && cmn_name_valid((const char *)vm)) {
        struct local_vm *l = local_find(o, (const char *)vm, true);
        if (!strcmp((const char *)type, "state") && st && l) {
            unsigned was = l->ioerr;
            l->state = cd_rt_state_from_hva((const char *)st);
            local_set_attrs(l, e);
            if (l->ioerr && !was)
                cmn_warn(CMN_LOG_CD,
                         "VM '%s': paused on an I/O error (%s, disk %d); "
                         "hvagent resumes it when the storage answers",
                         l->name, cd_rt_ioerr_name(l->ioerr), l->ioerr_disk);
            if (o->in_group)
                send_rt(o, l, l->state, NULL, 0);
            if (o->shutting_down)
                shutdown_check(o);
        } else if (!strcmp((const char *)type, "migration") && l &&
                   o->in_group) {
            uint64_t p[4] = {prop_u64(e, "pass"), prop_u64(e, "transferred"),
                             prop_u64(e, "remaining"),
                             prop_u64(e, "dirty-rate")};
            send_rt(o, l, CD_RT_MIGRATING, p,
                    (uint32_t)prop_u64(e, "expected-downtime-ms"));
        }
    }
    xmlFree(type);
    xmlFree(vm);
    xmlFree(st);
    xmlFreeDoc(doc);
}

/* wait="queued|priority|retry|no-node|backoff|not-running" and its details,
 * when the VM waits for something (cd_coord_vm_wait). */
static void wait_attrs(struct cd_orch *o, struct cd_buf *b, const char *vm)
{
    const struct cd_cdb *cdb = cd_daemon_cdb(o->d);
    struct cd_vm_wait w;
    struct cd_co_view v;

    make_view(o, &v);
    cd_coord_vm_wait(o->co, cdb, &v, vm, &w);
    if (w.kind == CD_WAIT_NONE)
        return;
    cd_buf_xmlf(b, " wait=\"%s\" wait-n=\"%u\"", cd_wait_kind_name(w.kind),
                w.n);
    if (w.kind == CD_WAIT_RETRY)
        cd_buf_xmlf(b,
                    " wait-at=\"%" PRIu64 "\" wait-node=\"%s\" "
                    "wait-next=\"%s\"",
                    w.at_s, cd_node_name(cdb, w.node),
                    cd_node_name(cdb, w.next));
    else if (w.kind == CD_WAIT_MOVE_BACKOFF)
        cd_buf_xmlf(b, " wait-at=\"%" PRIu64 "\" wait-in=\"%" PRId64 "\"",
                    w.at_s, (int64_t)w.at_s - (int64_t)v.now_s);
    if (w.text[0]) {
        cd_buf_puts(b, " wait-msg=\"");
        cd_buf_xml_escape(b, w.text);
        cd_buf_puts(b, "\"");
    }
}

/* ------------------------------ for the request API (cd-api-vm.c) */

struct cd_coord *cd_orch_coord(struct cd_daemon *d)
{
    return d->orch ? d->orch->co : NULL;
}

void cd_orch_view(struct cd_daemon *d, struct cd_co_view *v)
{
    make_view(d->orch, v);
}

bool cd_orch_in_group(struct cd_daemon *d)
{
    return d->orch->in_group;
}

void cd_orch_wait_attrs(struct cd_daemon *d, struct cd_buf *b, const char *vm)
{
    wait_attrs(d->orch, b, vm);
}

bool cd_orch_waiters_full(struct cd_daemon *d)
{
    return d->orch->nwaiters == MAX_WAITERS;
}

int cd_orch_send(struct cd_daemon *d, struct cd_co_msg *m,
                 struct cmn_ipc_conn *waiter)
{
    struct cd_orch *o = d->orch;
    int rc;

    if (waiter && o->nwaiters == MAX_WAITERS)
        return -EBUSY;
    if (waiter)
        m->origin_req = ++o->next_req;
    rc = co_send(o, m);
    if (rc < 0 || !waiter)
        return rc;
    o->waiters[o->nwaiters].req = m->origin_req;
    o->waiters[o->nwaiters].conn = waiter;
    o->nwaiters++;
    cmn_ipc_conn_ref(waiter);
    return rc;
}

void cd_orch_conn_closed(struct cd_daemon *d, struct cmn_ipc_conn *conn)
{
    struct cd_orch *o = d->orch;

    if (!o)
        return;
    for (size_t i = 0; i < o->nwaiters;)
        if (o->waiters[i].conn == conn) {
            cmn_ipc_conn_unref(conn);
            o->waiters[i] = o->waiters[--o->nwaiters];
        } else {
            i++;
        }
}

/* ---------------------------------------------------------- lifecycle */

int cd_orch_start(struct cd_daemon *d)
{
    static const struct cd_hva_ops hops = {
        .connected = hva_connected,
        .lost = hva_lost,
        .event = hva_event,
    };
    struct cd_orch *o = calloc(1, sizeof(*o));
    struct timespec ts;
    int rc;

    if (!o)
        return -ENOMEM;
    o->d = d;
    rc = cd_coord_new(&o->co);
    if (rc < 0) {
        free(o);
        return rc;
    }
    /* Action ids stay unique across restarts of this node. */
    clock_gettime(CLOCK_REALTIME, &ts);
    o->next_action =
        (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    d->orch = o;
    rc = cd_hva_new(d->loop, d->hva_ipc[0] ? d->hva_ipc : HVA_IPC_NAME, &hops,
                    o, &o->hva);
    if (rc == 0 && d->csv &&
        cd_storage_new(d, cd_csv_path(d->csv), storage_report, o, &o->storage) <
            0)
        cmn_warn(CMN_LOG_CD,
                 "storage: cannot watch %s: this node's "
                 "lockspace is not re-joined by clusterd",
                 cd_csv_path(d->csv));
    if (rc == 0)
        arm_tick(o);
    if (rc < 0) {
        cd_coord_free(o->co);
        free(o);
        d->orch = NULL;
    }
    return rc;
}

void cd_orch_stop(struct cd_daemon *d)
{
    struct cd_orch *o = d->orch;

    if (!o)
        return;
    while (o->nwaiters) {
        cmn_ipc_reply(o->waiters[0].conn,
                      "<error code=\"1\">clusterd is stopping</error>");
        cmn_ipc_conn_unref(o->waiters[0].conn);
        o->waiters[0] = o->waiters[--o->nwaiters];
    }
    if (o->grace_armed)
        qb_loop_timer_del(d->loop, o->grace_timer);
    if (o->tick_armed)
        qb_loop_timer_del(d->loop, o->tick_timer);
    cd_storage_free(o->storage);
    while (o->nvols)
        cd_storage_free(o->vols[--o->nvols].s);
    cd_hva_free(o->hva);
    cd_coord_free(o->co);
    free(o);
    d->orch = NULL;
}
