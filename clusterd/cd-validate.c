/* This node's checks for 'clusterctl cluster validate' and its readiness
 * (see cd-check.h), and the `validate` request.
 *
 * Every VALIDATE_PERIOD_MS, on the orchestrator's tick, a job in a worker
 * thread looks at what may block (sanlock's status through its client,
 * the LUN directory of lunbridge's FUSE mount, hvagent's IPC, the authkey
 * file); its results come back to the loop, which adds what the daemon
 * knows itself (quorum, the lockspace) and broadcasts each result that
 * changed as a CD_CO_CHECK message, plus a CLOCK stamp every run. The
 * node judges its own readiness from its watchdog result and its
 * `allow-no-watchdog` setting and broadcasts that as READY.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <inttypes.h>
#include <libxml/tree.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "clusterd/cd-check.h"
#include "clusterd/cd-coord.h"
#include "clusterd/cd-csv.h"
#include "clusterd/cd-daemon.h"
#include "clusterd/cd-hva.h"
#include "clusterd/cd-int.h"
#include "clusterd/cd-storage.h"
#include "common/cmn-auto.h"
#include "common/cmn-crc32c.h"
#include "common/cmn-log.h"
#include "common/cmn-paths.h"
#include "common/cmn-time.h"
#include "common/cmn-work.h"
#include "hvagent/hva-proto.h"

#define VALIDATE_PERIOD_MS 3000
#define AUTHKEY_PATH       "/etc/corosync/authkey"
#define WDMD_PID_FILE      "/run/wdmd/wdmd.pid"
#define HVA_CALL_MS        2000
/* hvagent chooses its accelerator at start-up: asked again this often
 * (and at every run while it does not answer). */
#define KVM_PERIOD_MS 30000

/* What a worker job looks at, and what it found. */
struct job {
    struct cd_validate *v;
    char hva_ipc[64];
    char csv[PATH_MAX];
    bool ask_kvm;
    bool kvm_answered; /* hvagent sent a readable reply */
    struct cd_chk_result authkey, watchdog, luns, kvm;
};

struct cd_validate {
    struct cd_daemon *d;
    struct cmn_work *work;
    bool running; /* a job is out */
    bool stopping;
    uint64_t last_ms;
    bool force;      /* resend everything after the running job */
    uint64_t kvm_ms; /* when hvagent last answered about its accelerator */
    /* What this node found last (also answers for itself when it is cut
     * off) and what it sent. */
    bool have;
    struct cd_chk_result cur[CD_CHK_END];
    struct cd_chk_result sent[CD_CHK_END];
    bool sent_valid[CD_CHK_END];
    /* Clock offsets of the senders, at delivery here. */
    struct cd_chk_table clocks;
};

static uint64_t wall_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

/* ------------------------------------------------- checks (in a worker) */

/* The digest, never the key: the first 8 bytes of its SHA-256. */
static void check_authkey(struct cd_chk_result *r)
{
    uint8_t key[4096], md[32];
    size_t n;
    int rc;
    FILE *f = fopen(AUTHKEY_PATH, "re");

    if (!f) {
        cd_chk_set(r, CD_CHK_FAIL,
                   "cannot read %s: %s (corosync needs it with "
                   "crypto on)",
                   AUTHKEY_PATH, strerror(errno));
        return;
    }
    n = fread(key, 1, sizeof(key), f);
    fclose(f);
    rc = n == 0 ? -1 : gnutls_hash_fast(GNUTLS_DIG_SHA256, key, n, md);
    explicit_bzero(key, sizeof(key));
    if (rc < 0) {
        cd_chk_set(r, CD_CHK_FAIL, "%s is empty or could not be digested",
                   AUTHKEY_PATH);
        return;
    }
    r->value = 0;
    for (int i = 0; i < 8; i++)
        r->value = r->value << 8 | md[i];
    cd_chk_set(r, CD_CHK_PASS, "sha256 of %s starts %016" PRIx64 " (%zu bytes)",
               AUTHKEY_PATH, r->value, n);
}

static bool wdmd_running(pid_t *ret)
{
    FILE *f = fopen(WDMD_PID_FILE, "re");
    int pid = 0;
    bool ok;

    if (!f)
        return false;
    ok = fscanf(f, "%d", &pid) == 1 && pid > 0 &&
         (kill(pid, 0) == 0 || errno == EPERM);
    fclose(f);
    *ret = pid;
    return ok;
}

/* The first watchdog device's identity ("" when none). */
static void watchdog_identity(char *buf, size_t len)
{
    DIR *dir = opendir("/sys/class/watchdog");
    struct dirent *e;

    buf[0] = '\0';
    if (!dir)
        return;
    while ((e = readdir(dir))) {
        char path[300];
        FILE *f;
        if (strncmp(e->d_name, "watchdog", 8) != 0)
            continue;
        snprintf(path, sizeof(path), "/sys/class/watchdog/%s/identity",
                 e->d_name);
        f = fopen(path, "re");
        snprintf(buf, len, "/dev/%.32s", e->d_name);
        if (f) {
            char id[64] = "";
            if (fgets(id, sizeof(id), f))
                id[strcspn(id, "\n")] = '\0';
            fclose(f);
            snprintf(buf, len, "/dev/%.32s (%.63s)", e->d_name, id);
        }
        break;
    }
    closedir(dir);
}

/* sanlock's own word on its watchdog ('client status -D' prints
 * use_watchdog=N in its daemon line), then wdmd and the device. */
static void check_watchdog(struct cd_chk_result *r)
{
    FILE *p = popen("sanlock client status -D 2>/dev/null", "re");
    char line[1024], dev[128];
    int use = -1;
    pid_t wdmd;

    if (p) {
        while (fgets(line, sizeof(line), p)) {
            const char *u = strstr(line, "use_watchdog=");
            if (u)
                use = atoi(u + 13);
        }
        pclose(p);
    }
    if (use < 0) {
        cd_chk_set(r, CD_CHK_FAIL,
                   "sanlock is not running here ('sanlock client "
                   "status' got no answer): start sanlock (and wdmd) first");
        return;
    }
    if (use == 0) {
        cd_chk_set(
            r, CD_CHK_FAIL,
            "sanlock runs without a watchdog (use_watchdog=0, '-w 0'): a "
            "node that loses its leases is never reset, so a VM could run "
            "twice; start wdmd on a watchdog device (softdog if the board "
            "has none) and sanlock with -w 1");
        return;
    }
    watchdog_identity(dev, sizeof(dev));
    if (!wdmd_running(&wdmd)) {
        cd_chk_set(r, CD_CHK_FAIL,
                   "sanlock wants the watchdog but wdmd is not "
                   "running (%s): start wdmd",
                   WDMD_PID_FILE);
        return;
    }
    if (!dev[0]) {
        cd_chk_set(
            r, CD_CHK_FAIL,
            "wdmd runs (pid %d) but there is no watchdog "
            "device: load the board's driver, or softdog as the fallback",
            (int)wdmd);
        return;
    }
    if (strstr(dev, "Software Watchdog"))
        cd_chk_set(r, CD_CHK_PASS,
                   "sanlock through wdmd (pid %d) on %s: softdog, "
                   "the fallback (resets only while the kernel still runs)",
                   (int)wdmd, dev);
    else
        cd_chk_set(r, CD_CHK_PASS, "sanlock through wdmd (pid %d) on %s",
                   (int)wdmd, dev);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The LUN ids lunbridge shows (its files), sorted: digest of all of
 * them, text with as many as fit. */
static void check_luns(struct cd_chk_result *r, const char *csv)
{
    DIR *dir = opendir(CMN_LUN_DIR);
    char *names[512];
    size_t n = 0, used;
    struct dirent *e;
    const char *csv_id = NULL;
    bool csv_seen = false;
    uint32_t crc = 0;

    if (csv[0] && strncmp(csv, CMN_LUN_DIR "/", strlen(CMN_LUN_DIR) + 1) == 0)
        csv_id = csv + strlen(CMN_LUN_DIR) + 1;
    if (!dir) {
        cd_chk_set(r, csv_id ? CD_CHK_FAIL : CD_CHK_WARN,
                   "no LUN directory %s (%s): is lunbridge running?",
                   CMN_LUN_DIR, strerror(errno));
        return;
    }
    while ((e = readdir(dir)) && n < CMN_ARRAY_SIZE(names)) {
        if (e->d_name[0] == '.')
            continue;
        names[n] = strdup(e->d_name);
        if (names[n])
            n++;
    }
    closedir(dir);
    qsort(names, n, sizeof(names[0]), cmp_str);
    used = (size_t)snprintf(r->text, sizeof(r->text), "%zu LUN(s): ", n);
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(names[i]);
        crc = cmn_crc32c(crc, names[i], l + 1);
        if (csv_id && strcmp(names[i], csv_id) == 0)
            csv_seen = true;
        if (used + l + 5 < sizeof(r->text))
            used += (size_t)snprintf(r->text + used, sizeof(r->text) - used,
                                     "%s%s", i ? " " : "", names[i]);
        else if (used + 5 < sizeof(r->text) && !strstr(r->text, "..."))
            used += (size_t)snprintf(r->text + used, sizeof(r->text) - used,
                                     " ...");
        free(names[i]);
    }
    r->value = crc;
    if (csv_id && !csv_seen)
        r->status = CD_CHK_FAIL; /* the text lists what is there */
    else
        r->status = n ? CD_CHK_PASS : CD_CHK_WARN;
}

/* False when hvagent did not answer (asked again at the next run). */
static bool check_kvm(struct cd_chk_result *r, const char *ipc)
{
    char msg[256];
    xmlDoc *doc = NULL;
    xmlNode *root;
    xmlChar *accel = NULL, *why = NULL;
    int e;

    e = cd_hva_ask(ipc[0] ? ipc : HVA_IPC_NAME, "<request op=\"accel\"/>",
                   HVA_CALL_MS, msg, sizeof(msg), &doc);
    if (!doc) {
        cd_chk_set(r, CD_CHK_FAIL, "hvagent not reachable: %s",
                   cmn_strerror(e));
        return false;
    }
    root = xmlDocGetRootElement(doc);
    accel = xmlGetProp(root, (const xmlChar *)"accel");
    why = xmlGetProp(root, (const xmlChar *)"why");
    if (e != 0 || !accel) {
        cd_chk_set(r, CD_CHK_WARN,
                   "hvagent does not say which accelerator it "
                   "uses (an older hvagent?)");
        goto out;
    }
    if (strcmp((const char *)accel, "kvm") == 0)
        cd_chk_set(r, CD_CHK_PASS, "%s", why ? (const char *)why : "kvm");
    else
        cd_chk_set(r,
                   why && strstr((const char *)why, "by setting") ? CD_CHK_WARN
                                                                  : CD_CHK_FAIL,
                   "%s", why ? (const char *)why : "tcg");
out:
    xmlFree(accel);
    xmlFree(why);
    xmlFreeDoc(doc);
    return true;
}

static int job_run(void *arg)
{
    struct job *j = arg;

    check_authkey(&j->authkey);
    check_watchdog(&j->watchdog);
    check_luns(&j->luns, j->csv);
    if (j->ask_kvm)
        j->kvm_answered = check_kvm(&j->kvm, j->hva_ipc);
    return 0;
}

/* ---------------------------------------------------- on the loop */

static void local_checks(struct cd_validate *v)
{
    struct cd_daemon *d = v->d;
    const struct cd_cdb *cdb = cd_daemon_cdb(d);
    const struct cd_stor_table *st = cd_orch_storage(d);
    const struct cd_stor_node *sn = st ? cd_stor_get(st, d->nodeid) : NULL;
    struct cd_chk_result *r;
    unsigned expected = 0, total = 0, quorum = 0;
    size_t nodes = cd_cdb_node_count(cdb);

    r = &v->cur[CD_CHK_QUORUM];
    r->value = 0;
    /* votequorum's figures only when they explain a failure: each ask is
     * a new connection to corosync. */
    if (!d->quorate)
        cd_cpg_votes(d, &expected, &total, &quorum);
    if (!d->quorate)
        cd_chk_set(r, CD_CHK_FAIL,
                   "not quorate: %u of %u expected votes, %u needed (a cut "
                   "network, or too few nodes up)",
                   total, expected, quorum);
    else if (d->view_known && d->nview < nodes)
        cd_chk_set(r, CD_CHK_WARN,
                   "quorate, but %zu of the %zu nodes are members", d->nview,
                   nodes);
    else
        cd_chk_set(r, CD_CHK_PASS, "quorate: %zu of %zu nodes", d->nview,
                   nodes);

    r = &v->cur[CD_CHK_LOCKSPACE];
    r->value = 0;
    if (!d->csv)
        cd_chk_set(r, CD_CHK_WARN,
                   "no CSV here (csv in [clusterd]): no lockspace "
                   "to join");
    else if (!sn)
        cd_chk_set(r, CD_CHK_WARN, "no storage report yet");
    else if (sn->state == CD_STOR_OK)
        cd_chk_set(r, CD_CHK_PASS, "lockspace of volume '%s' joined",
                   sn->volume);
    else
        cd_chk_set(r, CD_CHK_FAIL, "lockspace of volume '%s' %s: %s",
                   sn->volume, cd_stor_state_name(sn->state), sn->detail);

    r = &v->cur[CD_CHK_READY];
    r->value = 0;
    if (v->cur[CD_CHK_WATCHDOG].status != CD_CHK_FAIL)
        cd_chk_set(r, CD_CHK_PASS, "ready");
    else if (d->allow_no_watchdog)
        cd_chk_set(r, CD_CHK_WARN,
                   "ready by the lab override allow-no-watchdog = "
                   "yes, without a watchdog");
    else
        cd_chk_set(r, CD_CHK_FAIL,
                   "no watchdog (see the watchdog check; "
                   "allow-no-watchdog = yes in [clusterd] is for labs only)");
}

static void send_results(struct cd_validate *v, bool all)
{
    uint8_t buf[CD_CO_MSG_MAX];
    struct cd_co_msg m;
    size_t len;

    if (!cd_orch_in_group(v->d))
        return;
    for (unsigned id = 0; id < CD_CHK_END; id++) {
        if (id == CD_CHK_CLOCK || id == CD_CHK_MEMORY || id == CD_CHK_CPU)
            continue;
        if (!all && v->sent_valid[id] && cd_chk_same(&v->cur[id], &v->sent[id]))
            continue;
        cd_chk_msg(id, &v->cur[id], wall_ms(), &m);
        if (cd_co_msg_encode(&m, buf, sizeof(buf), &len) < 0 ||
            cd_cpg_send(v->d, buf, len) < 0)
            continue;
        if (id == CD_CHK_READY &&
            (!v->sent_valid[id] || v->sent[id].status != v->cur[id].status))
            cmn_info(CMN_LOG_CD, "this node: %s (%s)",
                     v->cur[id].status == CD_CHK_FAIL ? "not ready" : "ready",
                     v->cur[id].text);
        v->sent[id] = v->cur[id];
        v->sent_valid[id] = true;
    }
    /* The clock stamp, every run. */
    cd_chk_msg(CD_CHK_CLOCK, NULL, wall_ms(), &m);
    if (cd_co_msg_encode(&m, buf, sizeof(buf), &len) == 0)
        cd_cpg_send(v->d, buf, len);
}

static void job_done(void *arg, int rc)
{
    struct job *j = arg;
    struct cd_validate *v = j->v;

    (void)rc;
    v->running = false;
    if (v->stopping) {
        free(j);
        free(v);
        return;
    }
    v->cur[CD_CHK_AUTHKEY] = j->authkey;
    v->cur[CD_CHK_WATCHDOG] = j->watchdog;
    v->cur[CD_CHK_LUNS] = j->luns;
    if (j->ask_kvm) {
        v->cur[CD_CHK_KVM] = j->kvm;
        v->kvm_ms = j->kvm_answered ? cmn_now_ms() : 0;
    }
    free(j);
    local_checks(v);
    v->have = true;
    send_results(v, v->force);
    v->force = false;
}

void cd_validate_tick(struct cd_daemon *d, bool force)
{
    struct cd_validate *v = d->validate;
    struct job *j;

    if (!v)
        return;
    if (force) {
        v->force = true;
        memset(v->sent_valid, 0, sizeof(v->sent_valid));
    }
    if (v->running)
        return;
    if (!force && v->last_ms && cmn_now_ms() - v->last_ms < VALIDATE_PERIOD_MS)
        return;
    j = calloc(1, sizeof(*j));
    if (!j)
        return;
    j->v = v;
    snprintf(j->hva_ipc, sizeof(j->hva_ipc), "%s", d->hva_ipc);
    snprintf(j->csv, sizeof(j->csv), "%s", d->csv ? cd_csv_path(d->csv) : "");
    j->ask_kvm =
        !v->kvm_ms || force || cmn_now_ms() - v->kvm_ms >= KVM_PERIOD_MS;
    if (cmn_work_submit(v->work, job_run, job_done, j) < 0) {
        free(j);
        return;
    }
    v->running = true;
    v->last_ms = cmn_now_ms();
}

void cd_validate_deliver(struct cd_daemon *d, uint32_t sender,
                         const struct cd_co_msg *m)
{
    if (d->validate)
        (void)cd_chk_apply(&d->validate->clocks, sender, m, wall_ms());
}

int cd_validate_start(struct cd_daemon *d)
{
    struct cd_validate *v = calloc(1, sizeof(*v));
    int rc;

    if (!v)
        return -ENOMEM;
    v->d = d;
    rc = cmn_work_new(d->loop, 1, 0, &v->work);
    if (rc < 0) {
        free(v);
        return rc;
    }
    d->validate = v;
    return 0;
}

void cd_validate_stop(struct cd_daemon *d)
{
    struct cd_validate *v = d->validate;

    if (!v)
        return;
    d->validate = NULL;
    cmn_work_free(v->work);
    if (v->running)
        v->stopping = true; /* freed by job_done, if it ever runs */
    else
        free(v);
}

/* ------------------------------------------------------- the request */

/* The CPU check, made where the answer is built (the CDB holds every
 * node's capability): a node that cannot run the cluster baseline takes
 * no cluster-mode VM, so a failover has fewer places to go. The computed
 * baseline runs everywhere by definition; an administrator's may not. */
static void eval_cpu(const struct cd_cdb *cdb, struct cd_chk_node *nodes,
                     size_t n)
{
    char base[CD_NAME_MAX], err[512], why[256];
    bool have =
        cd_cdb_cpu_baseline(cdb, base, sizeof(base), err, sizeof(err)) == 0;

    for (size_t i = 0; i < n; i++) {
        const struct cd_node *cn = cd_cdb_node(cdb, i);
        struct cd_chk_result *r = &nodes[i].r[CD_CHK_CPU];

        if (!nodes[i].reported)
            continue;
        /* NULL until the node published its capability (cd-cpu.c): a
         * validate in the first seconds of a cluster meets that. */
        if (!cn->cpu || !cn->cpu[0])
            cd_chk_set(r, CD_CHK_WARN,
                       "its CPU models are not reported yet (hvagent not "
                       "answering?)");
        else if (!have)
            cd_chk_set(r, CD_CHK_WARN, "no cluster CPU baseline: %s", err);
        else if (cd_cdb_node_lacks_baseline(cn, base, why, sizeof(why)))
            cd_chk_set(r, CD_CHK_WARN,
                       "cannot run the cluster CPU baseline '%s': it %s; "
                       "cluster-mode VMs are not started or moved here",
                       base, why);
        else
            cd_chk_set(r, CD_CHK_PASS, "runs the cluster CPU baseline '%s'",
                       base);
    }
}

int cd_validate_request(struct cd_daemon *d, char **ret)
{
    struct cd_validate *v = d->validate;
    const struct cd_cdb *cdb = cd_daemon_cdb(d);
    struct cd_coord *co = cd_orch_coord(d);
    const struct cd_chk_table *t = co ? cd_coord_checks(co) : NULL;
    const struct cd_stor_table *st = cd_orch_storage(d);
    size_t n = cd_cdb_node_count(cdb), fails = 0, warns = 0;
    struct cd_chk_node *nodes cmn_autofree = NULL;
    uint64_t mem[CD_MAX_NODES], used[CD_MAX_NODES];
    bool up[CD_MAX_NODES];
    struct cd_co_view view;
    struct cd_buf b;

    if (n > CD_MAX_NODES)
        n = CD_MAX_NODES;
    nodes = calloc(n ? n : 1, sizeof(*nodes));
    if (!nodes)
        return -ENOMEM;
    memset(&view, 0, sizeof(view));
    if (co)
        cd_orch_view(d, &view);
    for (size_t i = 0; i < n; i++) {
        const struct cd_node *cn = cd_cdb_node(cdb, i);
        const struct cd_chk_node *e = t ? cd_chk_get(t, cn->nodeid) : NULL;
        const struct cd_chk_node *c =
            v ? cd_chk_get(&v->clocks, cn->nodeid) : NULL;
        bool member = false;

        if (e)
            nodes[i] = *e;
        nodes[i].node = cn->nodeid;
        snprintf(nodes[i].name, sizeof(nodes[i].name), "%s", cn->name);
        /* Cut off, a node still answers for itself. */
        if (cn->nodeid == d->nodeid && v && v->have) {
            nodes[i].reported = true;
            memcpy(nodes[i].r, v->cur, sizeof(v->cur));
        }
        nodes[i].clock_known = false;
        if (c && c->clock_known && e) {
            nodes[i].clock_known = true;
            nodes[i].clock_offset_ms = c->clock_offset_ms;
        }
        if (cn->nodeid == d->nodeid) {
            nodes[i].clock_known = true;
            nodes[i].clock_offset_ms = 0;
        }
        for (size_t k = 0; k < view.nmembers; k++)
            member |= view.members[k] == cn->nodeid;
        mem[i] = cn->memory_mib;
        used[i] = 0;
        up[i] = member && cn->state == CD_NODE_UP &&
                (!st || cd_stor_healthy(st, cn->nodeid)) &&
                (!t || cd_chk_ready(t, cn->nodeid));
    }
    for (size_t k = 0; co && k < cd_coord_rt_count(co); k++) {
        const struct cd_rt_vm *r = cd_coord_rt(co, k);
        const struct cd_vm *vm = cd_cdb_vm_by_name(cdb, r->vm);
        if (!vm || !cd_rt_state_runs(r->state))
            continue;
        for (size_t i = 0; i < n; i++)
            if (nodes[i].node == r->node)
                used[i] += vm->place.memory_mib;
    }
    cd_chk_evaluate(nodes, n);
    cd_chk_memory(nodes, n, mem, used, up);
    eval_cpu(cdb, nodes, n);

    cd_buf_init(&b);
    for (size_t i = 0; i < n; i++)
        for (unsigned id = 0; id < CD_CHK_END; id++) {
            fails += nodes[i].r[id].status == CD_CHK_FAIL;
            warns += nodes[i].r[id].status == CD_CHK_WARN;
        }
    cd_buf_xmlf(&b,
                "<validate node=\"%s\" nodes=\"%zu\" fails=\"%zu\" "
                "warns=\"%zu\">\n",
                d->node_name, n, fails, warns);
    for (size_t i = 0; i < n; i++) {
        cd_buf_xmlf(&b, "  <node name=\"%s\" nodeid=\"%u\" ready=\"%s\">\n",
                    nodes[i].name, nodes[i].node,
                    nodes[i].r[CD_CHK_READY].status == CD_CHK_FAIL ? "no"
                                                                   : "yes");
        for (unsigned id = 0; id < CD_CHK_END; id++) {
            cd_buf_xmlf(&b, "    <check name=\"%s\" status=\"%s\">",
                        cd_chk_name(id),
                        cd_chk_status_name(nodes[i].r[id].status));
            cd_buf_xml_escape(&b, nodes[i].r[id].text);
            cd_buf_puts(&b, "</check>\n");
        }
        cd_buf_puts(&b, "  </node>\n");
    }
    cd_buf_puts(&b, "</validate>\n");
    return cd_buf_steal(&b, ret, NULL);
}
