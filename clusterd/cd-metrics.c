/* The daemon side of clusterd's observability (cd-obs.h): feeds the
 * history from the coordinator messages this node delivers, keeps it in
 * <state-dir>/history across restarts, answers `metrics` and `history`,
 * and writes the metrics every metrics-interval seconds to metrics-file
 * for prometheus-node-exporter's textfile collector (written beside it
 * and renamed over it, so the collector never reads half a file). */
#include "config.h"

#include <corosync/cmap.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clusterd/cd-coord.h"
#include "clusterd/cd-csv.h"
#include "clusterd/cd-daemon.h"
#include "clusterd/cd-int.h"
#include "clusterd/cd-obs.h"
#include "common/cmn-auto.h"
#include "common/cmn-file.h"
#include "common/cmn-log.h"
#include "common/cmn-name.h"
#include "common/cmn-time.h"
#include "common/cmn-xml.h"

#define HISTORY_FILE     "history"
#define HISTORY_READ_MAX (1u << 20)
/* lunbridge's textfile: about 2 KiB per LUN, so 256 KiB is 100 LUNs and
 * more; a bigger file is not lunbridge's. */
#define LUN_READ_MAX (256u << 10)

struct cd_metrics {
    struct cd_obs *obs;
    char history_path[PATH_MAX + 16];
    qb_loop_timer_handle timer;
    uint32_t members[CD_MAX_MEMBERS]; /* last membership, for losses */
    size_t nmembers;
    bool detect_known;
    uint64_t detect_ms;   /* corosync's token + consensus timeouts */
    bool write_failed;    /* logged once until a write succeeds */
    char lun_failed[160]; /* why lunbridge's file was last refused */
};

/* How long corosync takes to declare a silent node gone: the token
 * timeout, then the consensus timeout (corosync.conf(5)). Read once
 * from corosync's runtime configuration. */
static uint64_t detect_ms(struct cd_metrics *m)
{
    cmap_handle_t h;
    uint32_t token = 0, consensus = 0;

    if (m->detect_known || cmap_initialize(&h) != CS_OK)
        return m->detect_ms;
    if (cmap_get_uint32(h, "runtime.config.totem.token", &token) == CS_OK) {
        cmap_get_uint32(h, "runtime.config.totem.consensus", &consensus);
        m->detect_ms = (uint64_t)token + consensus;
        m->detect_known = true;
    }
    cmap_finalize(h);
    return m->detect_ms;
}

static void history_save(struct cd_daemon *d)
{
    struct cd_metrics *m = d->metrics;
    cmn_autofree uint8_t *buf = NULL;
    size_t len;
    int rc = cd_obs_encode(m->obs, &buf, &len);

    if (rc == 0)
        rc = cmn_file_write_atomic(m->history_path, buf, len, 0644,
                                   CMN_FILE_SYNC);
    if (rc < 0)
        cmn_warn(CMN_LOG_CD, "cannot save the action history to '%s': %s",
                 m->history_path, cmn_strerror(rc));
}

static void history_load(struct cd_daemon *d)
{
    struct cd_metrics *m = d->metrics;
    cmn_autofree uint8_t *buf = malloc(HISTORY_READ_MAX);
    ssize_t n = -1;
    int fd, rc;

    fd = open(m->history_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT)
            cmn_warn(CMN_LOG_CD, "cannot read the action history '%s': %s",
                     m->history_path, strerror(errno));
        return;
    }
    if (buf)
        n = read(fd, buf, HISTORY_READ_MAX);
    close(fd);
    rc = n < 0 ? -EIO : cd_obs_decode(m->obs, buf, (size_t)n);
    if (rc < 0)
        cmn_warn(CMN_LOG_CD,
                 "action history '%s' not loaded (%s): starting a new one",
                 m->history_path, cmn_strerror(rc));
    else
        cmn_info(CMN_LOG_CD, "action history: %zu action(s) from '%s'",
                 cd_obs_history_count(m->obs), m->history_path);
}

void cd_metrics_confchg(struct cd_daemon *d, const uint32_t *members, size_t n,
                        const uint32_t *kept, size_t nkept)
{
    struct cd_metrics *m = d->metrics;
    bool lost = false;

    if (!m)
        return;
    /* A member gone from the group and from corosync's membership is a
     * lost node; one whose clusterd alone left (kept) is not. */
    for (size_t i = 0; i < m->nmembers; i++) {
        bool here = false;
        for (size_t k = 0; k < n; k++)
            here |= members[k] == m->members[i];
        for (size_t k = 0; k < nkept; k++)
            here |= kept[k] == m->members[i];
        lost |= !here && m->members[i] != d->nodeid;
    }
    if (lost)
        cd_obs_node_lost(m->obs, cmn_now_ms(), detect_ms(m));
    m->nmembers = n < CD_MAX_MEMBERS ? n : CD_MAX_MEMBERS;
    memcpy(m->members, members, m->nmembers * sizeof(members[0]));
}

void cd_metrics_deliver(struct cd_daemon *d, const struct cd_co_msg *msg,
                        const struct cd_co_effect *eff)
{
    struct cd_metrics *m = d->metrics;
    const struct cd_cdb *cdb = cd_daemon_cdb(d);
    const struct cd_action *a = eff->act;
    uint64_t now_ms = cmn_now_ms(), now_s = (uint64_t)time(NULL);

    if (!m)
        return;
    switch (msg->type) {
    case CD_CO_ACTION:
        if (!a || !eff->act_new)
            break;
        cd_obs_action_begin(m->obs, a, cd_node_name(cdb, a->from),
                            cd_node_name(cdb, a->to), now_ms, now_s);
        if (a->status != CD_AS_ACTIVE &&
            cd_obs_action_end(m->obs, a, cd_node_name(cdb, a->from),
                              cd_node_name(cdb, a->to), now_ms, now_s))
            history_save(d);
        break;
    case CD_CO_STEP:
        if (a && eff->act_ended &&
            cd_obs_action_end(m->obs, a, cd_node_name(cdb, a->from),
                              cd_node_name(cdb, a->to), now_ms, now_s))
            history_save(d);
        break;
    case CD_CO_RT_VM:
        if (msg->kind == CD_RT_MIGRATING && msg->n[0])
            cd_obs_pass(m->obs, msg->vm, (uint32_t)msg->n[0], msg->n[1],
                        msg->n[2], msg->id, msg->b, now_ms);
        break;
    case CD_CO_NODE_LOST:
        if (eff->changed)
            cd_obs_node_lost(m->obs, now_ms, 0);
        break;
    default:
        break;
    }
}

/* This node's view for the metrics text; the caller frees the arrays. */
static void fill_view(struct cd_daemon *d, struct cd_obs_view *v,
                      struct cd_obs_node **ret_nodes,
                      struct cd_obs_vm **ret_vms)
{
    const struct cd_cdb *cdb = cd_daemon_cdb(d);
    struct cd_coord *co = cd_orch_coord(d);
    const uint32_t *mem = NULL;
    size_t nmem = 0, nn = cd_cdb_node_count(cdb), nv = cd_cdb_vm_count(cdb);
    struct cd_obs_node *nodes = calloc(nn ? nn : 1, sizeof(*nodes));
    struct cd_obs_vm *vms = calloc(nv ? nv : 1, sizeof(*vms));

    memset(v, 0, sizeof(*v));
    v->self = d->node_name;
    v->connected = d->cpg_up;
    if (d->replica) {
        v->quorate = cd_replica_quorate(d->replica);
        v->coordinator = cd_replica_coordinator(d->replica);
        nmem = cd_replica_members(d->replica, &mem);
    }
    v->members = (unsigned)nmem;
    cd_cpg_votes(d, &v->expected_votes, &v->total_votes, &v->quorum_votes);
    v->epoch = cd_cdb_epoch(cdb);
    v->csv_known =
        cd_csv_space(d->csv, &v->csv_free_bytes, &v->csv_total_bytes);
    v->last_sync_ms = d->last_sync_ms;
    for (size_t i = 0; nodes && i < nn; i++) {
        const struct cd_node *n = cd_cdb_node(cdb, i);
        snprintf(nodes[i].name, sizeof(nodes[i].name), "%s", n->name);
        nodes[i].nodeid = n->nodeid;
        nodes[i].state = n->state;
        for (size_t k = 0; k < nmem; k++)
            nodes[i].member |= mem[k] == n->nodeid;
    }
    for (size_t i = 0; vms && i < nv; i++) {
        const struct cd_vm *vm = cd_cdb_vm(cdb, i);
        enum cd_rt_state st = CD_RT_STOPPED;
        uint32_t where = co ? cd_coord_vm_node(co, vm->name, &st) : 0;
        snprintf(vms[i].name, sizeof(vms[i].name), "%s", vm->name);
        vms[i].priority = vm->priority;
        vms[i].state = where ? st : CD_RT_STOPPED;
        vms[i].want_running = vm->want_running;
        snprintf(vms[i].node, sizeof(vms[i].node), "%s",
                 cd_node_name(cdb, where));
        snprintf(vms[i].lease, sizeof(vms[i].lease), "%s",
                 co ? cd_node_name(cdb, cd_coord_vm_lease(co, vm->name)) : "");
    }
    v->nodes = nodes;
    v->nnodes = nodes ? nn : 0;
    v->vms = vms;
    v->nvms = vms ? nv : 0;
    *ret_nodes = nodes;
    *ret_vms = vms;
}

/* Reads at most LUN_READ_MAX bytes of regular file `path`: *ret_len
 * bytes in *ret_buf (the caller frees). A file not written for
 * `stale_s` seconds is refused: lunbridge rewrites it at every interval,
 * so an old one is a dead lunbridge's, and its last samples (logged in,
 * no errors) would hide the outage. */
static int read_bounded(const char *path, time_t stale_s, char **ret_buf,
                        size_t *ret_len, char *why, size_t whylen)
{
    struct timespec now;
    struct stat st;
    char *buf = NULL;
    size_t len = 0;
    ssize_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY), rc = 0;

    if (fd < 0) {
        snprintf(why, whylen, "%s", strerror(errno));
        return -errno;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, whylen, "not a regular file");
        rc = -EINVAL;
        goto out;
    }
    clock_gettime(CLOCK_REALTIME, &now);
    if (now.tv_sec - st.st_mtim.tv_sec > stale_s) {
        snprintf(why, whylen,
                 "not written for over %lld s (3 x [lunbridge] "
                 "metrics-interval): is lunbridge running?",
                 (long long)stale_s);
        rc = -ESTALE;
        goto out;
    }
    buf = malloc(LUN_READ_MAX + 1);
    if (!buf) {
        rc = -ENOMEM;
        goto out;
    }
    /* One byte more than allowed tells a file that is too big. */
    while (len <= LUN_READ_MAX &&
           (n = read(fd, buf + len, LUN_READ_MAX + 1 - len)) > 0)
        len += (size_t)n;
    if (n < 0) {
        snprintf(why, whylen, "%s", strerror(errno));
        rc = -errno;
    } else if (len > LUN_READ_MAX) {
        snprintf(why, whylen, "larger than %u KiB", LUN_READ_MAX >> 10);
        rc = -EFBIG;
    }
out:
    close(fd);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *ret_buf = buf;
    *ret_len = len;
    return 0;
}

/* lunbridge's per-LUN samples for `clusterctl metrics`, NULL when there
 * are none to show: no [lunbridge] metrics-file, no file yet (lunbridge
 * not started), or a file refused (warned once per reason). A small
 * local file, read in the loop like the history at start. */
static char *lun_text(struct cd_daemon *d, enum cd_obs_format f)
{
    struct cd_metrics *m = d->metrics;
    cmn_autofree char *buf = NULL;
    char *text = NULL, why[128] = "";
    size_t len = 0;
    int rc;

    if (!d->lun_metrics_file[0])
        return NULL;
    /* Three intervals: a write delayed by a slow disk is not an outage. */
    rc = read_bounded(d->lun_metrics_file,
                      3 * (time_t)((d->lun_metrics_interval_ms + 999) / 1000),
                      &buf, &len, why, sizeof(why));
    if (rc == -ENOENT)
        return NULL;
    if (rc == 0)
        rc = cd_obs_lun_text(buf, len, f, &text, why, sizeof(why));
    if (rc < 0) {
        if (strcmp(m->lun_failed, why))
            cmn_warn(CMN_LOG_CD,
                     "lunbridge's metrics '%s' ([lunbridge] metrics-file) "
                     "not shown: %s",
                     d->lun_metrics_file, why[0] ? why : cmn_strerror(rc));
        snprintf(m->lun_failed, sizeof(m->lun_failed), "%s", why);
        return NULL;
    }
    m->lun_failed[0] = '\0';
    return text;
}

/* `with_luns`: lunbridge's samples too (clusterctl's text only: in the
 * textfile they would be node-exporter's duplicates of lunbridge's own
 * file, which it refuses). */
static int render(struct cd_daemon *d, enum cd_obs_format f, bool with_luns,
                  char **ret)
{
    struct cd_obs_view v;
    struct cd_obs_node *nodes;
    struct cd_obs_vm *vms;
    cmn_autofree char *luns = NULL;
    int rc;

    fill_view(d, &v, &nodes, &vms);
    if (with_luns)
        v.lun_text = luns = lun_text(d, f);
    rc = cd_obs_render(d->metrics->obs, &v, f, ret);
    free(nodes);
    free(vms);
    return rc;
}

static void write_tick(void *data)
{
    struct cd_daemon *d = data;
    struct cd_metrics *m = d->metrics;
    cmn_autofree char *text = NULL;
    int rc = render(d, CD_OBS_PROMETHEUS, false, &text);

    if (rc == 0)
        rc =
            cmn_file_write_atomic(d->metrics_file, text, strlen(text), 0644, 0);
    if (rc < 0 && !m->write_failed)
        cmn_warn(CMN_LOG_CD,
                 "cannot write metrics to '%s': %s (is the directory of "
                 "metrics-file there?)",
                 d->metrics_file, cmn_strerror(rc));
    m->write_failed = rc < 0;
    qb_loop_timer_add(d->loop, QB_LOOP_LOW,
                      (uint64_t)d->metrics_interval_s * 1000000000ull, d,
                      write_tick, &m->timer);
}

int cd_metrics_start(struct cd_daemon *d)
{
    struct cd_metrics *m = calloc(1, sizeof(*m));
    int rc;

    if (!m)
        return -ENOMEM;
    rc = cd_obs_new(&m->obs);
    if (rc < 0) {
        free(m);
        return rc;
    }
    snprintf(m->history_path, sizeof(m->history_path), "%s/%s", d->state_dir,
             HISTORY_FILE);
    d->metrics = m;
    history_load(d);
    if (d->metrics_interval_s) {
        cmn_info(CMN_LOG_CD, "metrics to '%s' every %u s", d->metrics_file,
                 d->metrics_interval_s);
        qb_loop_timer_add(d->loop, QB_LOOP_LOW, 0, d, write_tick, &m->timer);
    }
    return 0;
}

void cd_metrics_stop(struct cd_daemon *d)
{
    struct cd_metrics *m = d->metrics;

    if (!m)
        return;
    if (d->metrics_interval_s)
        qb_loop_timer_del(d->loop, m->timer);
    cd_obs_free(m->obs);
    free(m);
    d->metrics = NULL;
}

/* since="N": unix seconds (clusterctl turns the user's forms into it). */
static int do_history(struct cd_daemon *d, xmlNode *req, char **ret)
{
    char vm[CD_VALUE_MAX], since[CD_VALUE_MAX], msg[CD_VALUE_MAX + 64];
    bool has_vm = cmn_xml_attr_copy(req, "vm", vm, sizeof(vm)) != NULL;
    uint64_t since_s = 0;

    if (has_vm && !cmn_name_valid(vm)) {
        snprintf(msg, sizeof(msg), "'%s' is not a VM name", vm);
        *ret = cd_error_text(-CD_E_BAD_VALUE, msg);
        return *ret ? 0 : -ENOMEM;
    }
    if (cmn_xml_attr_copy(req, "since", since, sizeof(since))) {
        char *end;
        errno = 0;
        since_s = strtoull(since, &end, 10);
        if (errno || end == since || *end) {
            snprintf(msg, sizeof(msg),
                     "since '%s' is not a time in seconds since 1970", since);
            *ret = cd_error_text(-CD_E_BAD_VALUE, msg);
            return *ret ? 0 : -ENOMEM;
        }
    }
    return cd_obs_history_xml(d->metrics->obs, has_vm ? vm : NULL, since_s,
                              ret);
}

static int do_metrics(struct cd_daemon *d, char **ret)
{
    cmn_autofree char *text = NULL;
    struct cd_buf b;
    int rc = render(d, CD_OBS_OPENMETRICS, true, &text);

    if (rc < 0)
        return rc;
    cd_buf_init(&b);
    cd_buf_puts(&b, "<metrics format=\"openmetrics\">");
    cd_buf_xml_escape(&b, text);
    cd_buf_puts(&b, "</metrics>\n");
    return cd_buf_steal(&b, ret, NULL);
}

int cd_metrics_request(struct cd_daemon *d, enum cd_api_id id, xmlNode *req,
                       char **ret)
{
    if (!d->metrics) {
        *ret = cd_error_text(-CD_E_NO_CLUSTER,
                             "clusterd is still starting: retry in a moment");
        return *ret ? 0 : -ENOMEM;
    }
    return id == CD_API_METRICS ? do_metrics(d, ret) : do_history(d, req, ret);
}
