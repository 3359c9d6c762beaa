/* This node's CPU capability, from the local hvagent into the CDB.
 *
 * hvagent probes its QEMU at start-up (a second or two after it answers
 * requests), so the capability is asked for on the orchestrator's tick
 * until hvagent has it, then published with a set-node-cpu change when
 * the CDB holds something else for this node. Publishing waits for quorum
 * and a registered node like every change; a refused submit is retried on
 * the next tick. A reconnected hvagent (perhaps restarted with another
 * cpu-models) is asked again.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include "clusterd/cd-coord.h"
#include "clusterd/cd-daemon.h"
#include "clusterd/cd-hva.h"
#include "clusterd/cd-replica.h"
#include "common/cmn-log.h"
#include "common/cmn-time.h"
#include "hvagent/hva-proto.h"

#define CPU_CALL_MS 2000

static char *cpu_text; /* what the local hvagent reported, NULL = ask */
static bool cpu_warned;
static uint64_t cpu_submitted_ms; /* a change in flight: not again yet */

void cd_cpu_forget(void)
{
    free(cpu_text);
    cpu_text = NULL;
    cpu_warned = false;
    cpu_submitted_ms = 0;
}

/* Asks hvagent; 0 with cpu_text set, -EAGAIN while it probes. */
static int cpu_fetch(struct cd_daemon *d)
{
    xmlDoc *doc = NULL;
    xmlNode *n;
    xmlChar *text = NULL;
    char msg[256];
    int rc;

    rc = cd_hva_ask(d->hva_ipc[0] ? d->hva_ipc : HVA_IPC_NAME,
                    "<request op=\"cpu\"/>", CPU_CALL_MS, msg, sizeof(msg),
                    &doc);
    if (rc < 0)
        goto out;
    for (n = xmlDocGetRootElement(doc)->children; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE &&
            !xmlStrcmp(n->name, (const xmlChar *)"cpu"))
            break;
    text = n ? xmlNodeGetContent(n) : NULL;
    if (!text || strlen((const char *)text) > CD_TEXT_MAX) {
        rc = -EPROTO;
        goto out;
    }
    cpu_text = strdup((const char *)text);
    rc = cpu_text ? 0 : -ENOMEM;
out:
    xmlFree(text);
    xmlFreeDoc(doc);
    return rc;
}

/* Says once per change of the baseline or of this node's capability
 * what an operator must know: the baseline cluster-mode VMs start with
 * now, and when this node cannot run it (an administrator's baseline set
 * before a weaker node joined) or cannot run the model running VMs were
 * fixed to (they are never moved here). */
static void cpu_report(struct cd_daemon *d, const struct cd_node *n)
{
    static char last[2 * CD_NAME_MAX + 8];
    const struct cd_cdb *cdb = cd_daemon_cdb(d);
    struct cd_coord *co = cd_orch_coord(d);
    char base[CD_NAME_MAX], err[512], why[256], key[sizeof(last)];
    const char *vm = NULL, *vm_cpu = NULL;
    size_t stuck = 0;

    if (cd_cdb_cpu_baseline(cdb, base, sizeof(base), err, sizeof(err)) < 0)
        base[0] = '\0';
    snprintf(key, sizeof(key), "%s %u", base, (unsigned)strlen(n->cpu));
    if (!strcmp(key, last))
        return;
    snprintf(last, sizeof(last), "%s", key);
    if (!base[0]) {
        cmn_warn(CMN_LOG_CD, "cluster CPU baseline: none: %s", err);
        return;
    }
    cmn_info(CMN_LOG_CD,
             "cluster CPU baseline: '%s' (cluster-mode VMs started from now "
             "on get it; running ones keep theirs)",
             base);
    if (cd_cdb_node_lacks_baseline(n, base, why, sizeof(why)))
        cmn_warn(CMN_LOG_CD,
                 "node '%s' cannot run the cluster CPU baseline '%s': it %s; "
                 "cluster-mode VMs are not started or moved here (set "
                 "another with 'clusterctl config set cpu-baseline MODEL')",
                 n->name, base, why);
    for (size_t i = 0; co && i < cd_coord_rt_count(co); i++) {
        const struct cd_rt_vm *r = cd_coord_rt(co, i);
        struct res_cpu_need need = {.mode = RES_CPU_MODEL};

        if (!r->cpu[0] || !strcmp(r->cpu, "host") ||
            !cd_rt_state_runs(r->state))
            continue;
        snprintf(need.model, sizeof(need.model), "%s", r->cpu);
        if (!res_cpu_fits(&need, n->cpu_caps, NULL, 0)) {
            stuck++;
            vm = r->vm;
            vm_cpu = r->cpu;
        }
    }
    if (stuck)
        cmn_warn(CMN_LOG_CD,
                 "node '%s': %zu running VM(s) keep a CPU model it cannot "
                 "run (e.g. '%s' fixed to '%s'): they are not moved here "
                 "until they start again",
                 n->name, stuck, vm, vm_cpu);
}

void cd_cpu_tick(struct cd_daemon *d)
{
    const struct cd_node *n;
    struct cd_op op = {.type = CD_OP_SET_NODE_CPU};
    uint64_t id;
    int rc;

    if (!cpu_text) {
        rc = cpu_fetch(d);
        if (rc < 0) {
            /* EAGAIN: still probing; anything else is logged once */
            if (rc != -EAGAIN && !cpu_warned) {
                cmn_warn(CMN_LOG_CD,
                         "CPU capability of the local hvagent: %s (asked "
                         "again every tick)",
                         cmn_strerror(rc));
                cpu_warned = true;
            }
            return;
        }
    }
    n = cd_cdb_node_by_id(cd_daemon_cdb(d), d->nodeid);
    if (n && n->cpu && n->cpu_caps && !strcmp(n->cpu, cpu_text))
        cpu_report(d, n);
    if (!n || !d->replica || (n->cpu && !strcmp(n->cpu, cpu_text)))
        return;
    if (cpu_submitted_ms && cmn_now_ms() - cpu_submitted_ms < 10000)
        return;
    snprintf(op.name, sizeof(op.name), "%s", n->name);
    op.text = cpu_text;
    rc = cd_replica_submit(d->replica, &op, &id);
    if (rc == 0) {
        cpu_submitted_ms = cmn_now_ms();
        cmn_info(CMN_LOG_CD, "node '%s': CPU capability published", n->name);
    }
}
