/* Processor compatibility: which QEMU CPU models a node can run, the
 * cluster baseline, and whether a VM's CPU fits a node.
 *
 * A node's capability (struct res_cpu_caps) is what its QEMU says under
 * the accelerator in use: every migration-safe named model with the
 * features the node lacks for it (query-cpu-definitions'
 * unavailable-features, plus what an operator's cap takes away), the
 * model's rank (how many features it enables: of two models the newer has
 * more), and the host model's feature set. hvagent builds it from QMP
 * replies (res-cpu-qmp.c) and sends its text form; clusterd keeps that
 * text per node and decides on the parsed struct.
 *
 * Why the check matters: a guest that started with a feature keeps using
 * it, so a migration to a node that lacks it either fails late in QEMU or
 * leaves a guest that faults on its next such instruction. A VM therefore
 * runs a named model every candidate node can run ("cluster": the baseline
 * in force when it started, kept for its lifetime; "model": a fixed one),
 * or the host's own CPU, and then only among nodes whose host feature sets
 * are identical.
 *
 * Pure functions, no I/O; errors return -RES_E_CPU with a sentence naming
 * the model and the nodes.
 */
#ifndef KVMC_RES_CPU_H
#define KVMC_RES_CPU_H

#include <stdbool.h>
#include <stddef.h>

#include "common/cmn-auto.h"
#include "resources/res-vm.h"

#define RES_CPU_FEAT_MAX   64   /* a QEMU feature property name + NUL */
#define RES_CPU_MODELS_MAX 512  /* QEMU 7.2 lists ~150 x86 models */
#define RES_CPU_FEATS_MAX  1024 /* QEMU 7.2 knows ~300 x86 features */
#define RES_CPU_TEXT_MAX   (1u << 20)

struct res_cpu_model {
    char name[RES_NAME_MAX];
    unsigned rank;    /* features the model enables; 0 = unknown */
    size_t n_missing; /* 0: the node can run it */
    char **missing;   /* features the node lacks for it, sorted */
};

struct res_cpu_caps {
    size_t n_models;
    struct res_cpu_model *models; /* sorted by name, unique */
    size_t n_host;
    char **host; /* features of the node's host CPU, sorted, unique */
};

void res_cpu_caps_free(struct res_cpu_caps *caps);
CMN_DEFINE_AUTO(res_cpu_caps, res_cpu_caps_free)

/* The text form, one record a line, what hvagent sends and the CDB keeps:
 *   host FEATURE...
 *   model NAME RANK [MISSING...]
 * Malloc'ed, NUL-terminated. */
int res_cpu_caps_format(const struct res_cpu_caps *caps, char **ret_text);
/* Parses that form (order of lines and words free); bad input gets
 * -RES_E_CPU with "line N: ..." in err. */
int res_cpu_caps_parse(const char *text, struct res_cpu_caps **ret_caps,
                       char *err, size_t errlen);

/* Model `name` in caps, or NULL. */
const struct res_cpu_model *res_cpu_caps_model(const struct res_cpu_caps *caps,
                                               const char *name);
/* True when the node knows model `name` and lacks none of its features. */
bool res_cpu_caps_runs(const struct res_cpu_caps *caps, const char *name);
/* Same host feature sets: what a host-mode VM needs to move. */
bool res_cpu_caps_same_host(const struct res_cpu_caps *a,
                            const struct res_cpu_caps *b);

/* The cluster baseline: of the models every node in caps[0..n) runs, the
 * one of highest rank (ties: the lowest name). -RES_E_CPU when there is
 * no node or no such model, with err saying so. */
int res_cpu_baseline(const struct res_cpu_caps *const *caps, size_t n,
                     char *ret_model, size_t len, char *err, size_t errlen);

/* An administrator's baseline: 0 when every node runs `model`; else
 * -RES_E_CPU with err naming the model and the nodes that cannot run it
 * with what they lack ("node 'n3' lacks avx2, fma"), or saying that no
 * node knows the model. names[i] names caps[i]. */
int res_cpu_baseline_check(const struct res_cpu_caps *const *caps,
                           const char *const *names, size_t n,
                           const char *model, char *err, size_t errlen);

/* What a VM needs of a node's CPU, as placement sees it. */
struct res_cpu_need {
    enum res_cpu_mode mode;
    /* CLUSTER: the model fixed at start ("" before the first start: any
     * node of the cluster runs the baseline); MODEL: the model. */
    char model[RES_NAME_MAX];
    /* HOST: the capability of the node it runs on, NULL when not running
     * (any node may start it). Borrowed. */
    const struct res_cpu_caps *host_of;
};

/* Can a node with capability `node` (NULL: not reported) run it? True, or
 * false with a sentence in why: "lacks avx2, fma for model 'Haswell'",
 * "does not know model 'X'", "host CPU differs", "has not reported its
 * CPU". */
bool res_cpu_fits(const struct res_cpu_need *need,
                  const struct res_cpu_caps *node, char *why, size_t len);

const char *res_cpu_mode_str(enum res_cpu_mode mode);
int res_cpu_mode_parse(const char *s, enum res_cpu_mode *ret_mode);

/* ---- from QMP (res-cpu-qmp.c) -------------------------------------- */

/* A query-cpu-model-expansion reply for model `name` (the reply names
 * only the static base model, so the caller says which it asked for). */
struct res_cpu_expansion {
    const char *name;
    const char *reply; /* one QMP reply: {"return": {"model": ...}} */
};

/* A node's capability from its QEMU's replies: `defs`, the reply to
 * query-cpu-definitions; `host`, the expansion of the accelerator's host
 * model ("host" under KVM, "max" under TCG); `exps`, expansions of the
 * named models (their rank; needed for a capped model to be kept);
 * `cap`, NULL or the name of a model in exps that the node offers at most
 * (the operator's cap: the host's features become the host's and the
 * cap's common ones, and a model needing one of the others lacks it).
 * Only migration-safe models are kept, never "base", "host" or "max".
 * Errors: -RES_E_CPU with err naming the reply or the cap. */
int res_cpu_caps_from_qmp(const char *defs, const char *host,
                          const struct res_cpu_expansion *exps, size_t n_exps,
                          const char *cap, struct res_cpu_caps **ret_caps,
                          char *err, size_t errlen);

/* The features of one expansion reply (bool properties set true), sorted:
 * for callers that keep them, e.g. to build the list above. */
int res_cpu_expansion_features(const char *reply, char ***ret_feats,
                               size_t *ret_n, char *err, size_t errlen);
void res_cpu_strv_free(char **v, size_t n);

#endif
