/* Processor compatibility on QMP replies recorded from QEMU 7.2 under TCG
 * (tests/data/qmp/cpu-tcg-*): QEMU's own models stand for the CPU
 * generations of real hosts, a node capped at a model offering what that
 * generation offers.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "res-test.h"
#include "resources/res-cpu.h"
#include "resources/res-place.h"

#define MAX_EXPS 32

static char *defs_reply;
static char *exp_text; /* the transcript, split in place */
static struct res_cpu_expansion exps[MAX_EXPS];
static size_t n_exps;

static char *slurp(const char *rel)
{
    char path[4096];
    FILE *f;
    char *buf;
    long len;

    snprintf(path, sizeof(path), "%s/%s", res_test_srcdir(), rel);
    f = fopen(path, "re");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    len = ftell(f);
    assert_true(len > 0);
    rewind(f);
    buf = malloc((size_t)len + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    buf[len] = '\0';
    fclose(f);
    return buf;
}

/* The expansions transcript: a request line naming the model, then
 * QEMU's reply line. */
static int setup(void **state)
{
    char *save = NULL, *req;

    (void)state;
    defs_reply = slurp("tests/data/qmp/cpu-tcg-definitions.json");
    exp_text = slurp("tests/data/qmp/cpu-tcg-expansions.jsonl");
    for (req = strtok_r(exp_text, "\n", &save); req != NULL;
         req = strtok_r(NULL, "\n", &save)) {
        char *reply = strtok_r(NULL, "\n", &save);
        char *p = strstr(req, "\"model\": {\"name\": \"");
        char *q;

        assert_non_null(reply);
        assert_non_null(p);
        p += strlen("\"model\": {\"name\": \"");
        q = strchr(p, '"');
        assert_non_null(q);
        *q = '\0';
        assert_true(n_exps < MAX_EXPS);
        exps[n_exps].name = p;
        exps[n_exps].reply = reply;
        n_exps++;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(defs_reply);
    free(exp_text);
    return 0;
}

static const char *exp_of(const char *name)
{
    for (size_t i = 0; i < n_exps; i++)
        if (strcmp(exps[i].name, name) == 0)
            return exps[i].reply;
    fail_msg("no recorded expansion of %s", name);
    return NULL;
}

/* A node offering at most `cap` (NULL: all TCG offers). */
static struct res_cpu_caps *node_caps(const char *cap)
{
    struct res_cpu_caps *c = NULL;
    char err[256] = "";
    int rc = res_cpu_caps_from_qmp(defs_reply, exp_of("max"), exps, n_exps, cap,
                                   &c, err, sizeof(err));

    if (rc < 0)
        fail_msg("caps %s: %d %s", cap ? cap : "-", rc, err);
    return c;
}

static void test_tcg_uncapped(void **state)
{
    CMN_AUTO(res_cpu_caps) *c = node_caps(NULL);
    const struct res_cpu_model *m;

    (void)state;
    /* QEMU 7.2's TCG runs the older Intel models whole... */
    assert_true(res_cpu_caps_runs(c, "Conroe"));
    assert_true(res_cpu_caps_runs(c, "Penryn"));
    assert_true(res_cpu_caps_runs(c, "Nehalem"));
    assert_true(res_cpu_caps_runs(c, "Westmere"));
    /* ...but not Haswell: TCG has no pcid, x2apic, TSX. */
    m = res_cpu_caps_model(c, "Haswell");
    assert_non_null(m);
    assert_false(res_cpu_caps_runs(c, "Haswell"));
    assert_true(m->n_missing >= 3);
    /* never the per-node models */
    assert_null(res_cpu_caps_model(c, "max"));
    assert_null(res_cpu_caps_model(c, "host"));
    assert_null(res_cpu_caps_model(c, "base"));
    /* ranks from the expansions: a newer generation enables more */
    assert_true(res_cpu_caps_model(c, "Nehalem")->rank >
                res_cpu_caps_model(c, "Penryn")->rank);
    assert_true(res_cpu_caps_model(c, "Westmere")->rank >
                res_cpu_caps_model(c, "Nehalem")->rank);
    assert_true(c->n_host > 50);
    assert_true(c->n_models > 100); /* every migration-safe model */
}

static void test_cap_generations(void **state)
{
    CMN_AUTO(res_cpu_caps) *neh = node_caps("Nehalem");
    CMN_AUTO(res_cpu_caps) *con = node_caps("Conroe");
    const struct res_cpu_model *m;
    bool aes = false;

    (void)state;
    assert_true(res_cpu_caps_runs(neh, "Nehalem"));
    assert_true(res_cpu_caps_runs(neh, "Penryn"));
    assert_true(res_cpu_caps_runs(neh, "Conroe"));
    /* Westmere adds aes and pclmulqdq to Nehalem */
    m = res_cpu_caps_model(neh, "Westmere");
    assert_non_null(m);
    for (size_t i = 0; i < m->n_missing; i++)
        aes |= strcmp(m->missing[i], "aes") == 0;
    assert_true(aes);
    assert_false(res_cpu_caps_runs(con, "Nehalem"));
    assert_true(res_cpu_caps_runs(con, "Conroe"));
    /* only models with a known expansion survive a cap */
    assert_null(res_cpu_caps_model(con, "Nehalem-IBRS"));
    assert_false(res_cpu_caps_same_host(neh, con));
}

static void test_baseline(void **state)
{
    CMN_AUTO(res_cpu_caps) *full = node_caps(NULL);
    CMN_AUTO(res_cpu_caps) *wsm = node_caps("Westmere");
    CMN_AUTO(res_cpu_caps) *neh = node_caps("Nehalem");
    CMN_AUTO(res_cpu_caps) *con = node_caps("Conroe");
    const struct res_cpu_caps *two[] = {full, wsm};
    const struct res_cpu_caps *three[] = {wsm, full, neh};
    const struct res_cpu_caps *four[] = {con, wsm, full, neh};
    char model[RES_NAME_MAX], err[512];

    (void)state;
    assert_int_equal(
        res_cpu_baseline(two, 2, model, sizeof(model), err, sizeof(err)), 0);
    assert_string_equal(model, "Westmere");
    /* the weakest node decides, whatever the order */
    assert_int_equal(
        res_cpu_baseline(three, 3, model, sizeof(model), err, sizeof(err)), 0);
    assert_string_equal(model, "Nehalem");
    assert_int_equal(
        res_cpu_baseline(four, 4, model, sizeof(model), err, sizeof(err)), 0);
    assert_string_equal(model, "Conroe");
    assert_int_equal(
        res_cpu_baseline(four, 0, model, sizeof(model), err, sizeof(err)),
        -RES_E_CPU);
}

static void test_baseline_check(void **state)
{
    CMN_AUTO(res_cpu_caps) *full = node_caps(NULL);
    CMN_AUTO(res_cpu_caps) *neh = node_caps("Nehalem");
    const struct res_cpu_caps *c[] = {full, neh};
    const char *names[] = {"n1", "n2"};
    char err[512];

    (void)state;
    assert_int_equal(
        res_cpu_baseline_check(c, names, 2, "Penryn", err, sizeof(err)), 0);
    assert_int_equal(
        res_cpu_baseline_check(c, names, 2, "Westmere", err, sizeof(err)),
        -RES_E_CPU);
    assert_non_null(strstr(err, "'Westmere'"));
    assert_non_null(strstr(err, "node 'n2'"));
    assert_non_null(strstr(err, "aes"));
    assert_null(strstr(err, "'n1'"));
    /* Haswell: neither runs it, both named */
    assert_int_equal(
        res_cpu_baseline_check(c, names, 2, "Haswell", err, sizeof(err)),
        -RES_E_CPU);
    assert_non_null(strstr(err, "'n1'"));
    assert_non_null(strstr(err, "'n2'"));
    assert_int_equal(
        res_cpu_baseline_check(c, names, 2, "Pentium9", err, sizeof(err)),
        -RES_E_CPU);
    assert_non_null(strstr(err, "'Pentium9' is unknown to every node"));
    assert_int_equal(
        res_cpu_baseline_check(c, names, 2, "bad model", err, sizeof(err)),
        -RES_E_CPU);
    assert_non_null(strstr(err, "not a CPU model name"));
}

static void test_fits(void **state)
{
    CMN_AUTO(res_cpu_caps) *full = node_caps(NULL);
    CMN_AUTO(res_cpu_caps) *full2 = node_caps(NULL);
    CMN_AUTO(res_cpu_caps) *neh = node_caps("Nehalem");
    struct res_cpu_need need = {.mode = RES_CPU_MODEL};
    char why[512];

    (void)state;
    strcpy(need.model, "Westmere");
    assert_true(res_cpu_fits(&need, full, why, sizeof(why)));
    assert_false(res_cpu_fits(&need, neh, why, sizeof(why)));
    assert_non_null(strstr(why, "lacks "));
    assert_non_null(strstr(why, "aes"));
    assert_non_null(strstr(why, "'Westmere'"));
    assert_false(res_cpu_fits(&need, NULL, why, sizeof(why)));
    assert_non_null(strstr(why, "has not reported"));
    strcpy(need.model, "Nosuch");
    assert_false(res_cpu_fits(&need, full, why, sizeof(why)));
    assert_non_null(strstr(why, "does not know CPU model 'Nosuch'"));

    /* cluster mode: the model fixed at start decides; none yet, any */
    need.mode = RES_CPU_CLUSTER;
    need.model[0] = '\0';
    assert_true(res_cpu_fits(&need, neh, why, sizeof(why)));
    strcpy(need.model, "Westmere");
    assert_false(res_cpu_fits(&need, neh, why, sizeof(why)));
    strcpy(need.model, "Nehalem");
    assert_true(res_cpu_fits(&need, neh, why, sizeof(why)));

    /* host mode: identical host feature sets only */
    need.mode = RES_CPU_HOST;
    need.host_of = full;
    assert_true(res_cpu_fits(&need, full2, why, sizeof(why)));
    assert_false(res_cpu_fits(&need, neh, why, sizeof(why)));
    assert_non_null(strstr(why, "host CPU differs"));
    need.host_of = NULL;
    assert_true(res_cpu_fits(&need, neh, why, sizeof(why)));

    need.mode = RES_CPU_ANY;
    assert_true(res_cpu_fits(&need, NULL, why, sizeof(why)));
}

static void test_text_roundtrip(void **state)
{
    CMN_AUTO(res_cpu_caps) *neh = node_caps("Nehalem");
    CMN_AUTO(res_cpu_caps) *back = NULL;
    char *t1 = NULL, *t2 = NULL;
    char err[256];

    (void)state;
    assert_int_equal(res_cpu_caps_format(neh, &t1), 0);
    assert_int_equal(res_cpu_caps_parse(t1, &back, err, sizeof(err)), 0);
    assert_int_equal(res_cpu_caps_format(back, &t2), 0);
    assert_string_equal(t1, t2);
    assert_true(res_cpu_caps_same_host(neh, back));
    assert_int_equal(back->n_models, neh->n_models);
    assert_true(res_cpu_caps_runs(back, "Nehalem"));
    assert_false(res_cpu_caps_runs(back, "Westmere"));
    free(t1);
    free(t2);
}

static void test_text_bad(void **state)
{
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"model Conroe 28\n", "no 'host' line"},
        {"host sse\nhost sse2\n", "line 2: a second 'host' line"},
        {"host sse\ncpu Conroe 3\n", "line 2: 'cpu' is neither"},
        {"host sse\nmodel Conroe\n", "line 2: 'model' needs a name"},
        {"host sse\nmodel Con/roe 3\n", "'Con/roe' is not a CPU model name"},
        {"host sse\nmodel Conroe x3\n", "rank 'x3' is not"},
        {"host sse\nmodel Conroe -1\n", "rank '-1' is not"},
        {"host s$e\n", "line 1: 's$e' is not a feature name"},
        {"host a\nmodel A 1\nmodel A 2\n", "model 'A' listed twice"},
    };
    char err[256];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct res_cpu_caps *c = NULL;

        err[0] = '\0';
        assert_int_equal(res_cpu_caps_parse(bad[i].text, &c, err, sizeof(err)),
                         -RES_E_CPU);
        assert_null(c);
        if (strstr(err, bad[i].msg) == NULL)
            fail_msg("case %zu: '%s' lacks '%s'", i, err, bad[i].msg);
    }
}

static void test_qmp_bad(void **state)
{
    struct res_cpu_caps *c = NULL;
    char err[256];

    (void)state;
    assert_int_equal(res_cpu_caps_from_qmp("{", exp_of("max"), exps, n_exps,
                                           NULL, &c, err, sizeof(err)),
                     -RES_E_CPU);
    assert_non_null(strstr(err, "query-cpu-definitions: not JSON"));
    assert_int_equal(
        res_cpu_caps_from_qmp(defs_reply,
                              "{\"error\": {\"class\": \"GenericError\"}}",
                              exps, n_exps, NULL, &c, err, sizeof(err)),
        -RES_E_CPU);
    assert_non_null(strstr(err, "query-cpu-model-expansion"));
    assert_int_equal(res_cpu_caps_from_qmp(defs_reply, exp_of("max"), exps,
                                           n_exps, "Pentium9", &c, err,
                                           sizeof(err)),
                     -RES_E_CPU);
    assert_non_null(strstr(err, "CPU cap 'Pentium9'"));
    assert_null(c);
}

/* ---- placement with CPU capabilities ------------------------------- */

struct pfix {
    struct res_node nodes[4];
    struct res_place_vm vms[4];
    struct res_cluster c;
    struct res_cpu_caps *caps[4];
};

/* node1 all TCG offers, node2 capped at Westmere, node3 at Nehalem (the
 * roomiest: without the CPU check, it would take everything), node4 as
 * node1. */
static void pfix_init(struct pfix *f)
{
    static const char *const cap[] = {NULL, "Westmere", "Nehalem", NULL};
    static const uint64_t mem[] = {4096, 4096, 16384, 4096};

    memset(f, 0, sizeof(*f));
    for (size_t i = 0; i < 4; i++) {
        struct res_node *n = &f->nodes[i];

        f->caps[i] = node_caps(cap[i]);
        n->id = (uint32_t)i + 1;
        snprintf(n->name, sizeof(n->name), "node%zu", i + 1);
        n->state = RES_NODE_UP;
        n->memory_mib = mem[i];
        n->cpu = f->caps[i];
    }
    f->c.nodes = f->nodes;
    f->c.n_nodes = 4;
    f->c.vms = f->vms;
}

static void pfix_fini(struct pfix *f)
{
    for (size_t i = 0; i < 4; i++)
        res_cpu_caps_free(f->caps[i]);
}

static struct res_place_vm *pvm(struct pfix *f, const char *name,
                                enum res_cpu_mode mode, const char *model,
                                uint32_t node)
{
    struct res_place_vm *v = &f->vms[f->c.n_vms++];

    memset(v, 0, sizeof(*v));
    snprintf(v->name, sizeof(v->name), "%s", name);
    v->memory_mib = 1024;
    v->policy.priority = RES_PRIO_HIGH;
    v->node = node;
    v->want_running = true;
    v->cpu.mode = mode;
    snprintf(v->cpu.model, sizeof(v->cpu.model), "%s", model);
    return v;
}

static void test_place_cpu(void **state)
{
    struct pfix f;
    struct res_note note;
    uint32_t node = 0;
    char err[512];
    char *text = NULL;

    (void)state;
    pfix_init(&f);
    pvm(&f, "wsm", RES_CPU_MODEL, "Westmere", 0);
    pvm(&f, "old", RES_CPU_CLUSTER, "Nehalem", 0);
    /* the roomiest node lacks Westmere's aes: never chosen for it */
    assert_int_equal(res_place_best(&f.c, "wsm", 0, &node, &note), 0);
    assert_int_not_equal(node, 3);
    assert_int_equal(res_place_best(&f.c, "old", 0, &node, &note), 0);
    assert_int_equal(node, 3);
    assert_int_equal(res_place_check(&f.c, "wsm", 3, err, sizeof(err)),
                     -RES_E_CPU);
    assert_non_null(strstr(err, "node 'node3' cannot run the CPU of VM"));
    assert_non_null(strstr(err, "aes"));
    assert_int_equal(res_place_check(&f.c, "wsm", 2, err, sizeof(err)), 0);

    /* only node3 up: nowhere to go, and the note says why */
    f.nodes[0].state = RES_NODE_DOWN;
    f.nodes[1].state = RES_NODE_DRAINED;
    f.nodes[3].state = RES_NODE_PAUSED;
    assert_int_equal(res_place_best(&f.c, "wsm", 0, &node, &note), -RES_E_CPU);
    assert_int_equal(note.why, RES_WHY_NO_CPU);
    assert_non_null(strstr(note.text, "'node3' lacks "));
    assert_non_null(strstr(note.text, "aes"));
    assert_int_equal(res_explain(&f.c, "wsm", &text), 0);
    assert_non_null(strstr(text, "cpu: model 'Westmere'"));
    assert_non_null(strstr(text, "node3 (id 3): excluded for CPU: lacks "));
    free(text);

    /* a node that has not reported takes no VM with a requirement */
    f.nodes[2].cpu = NULL;
    assert_int_equal(res_place_best(&f.c, "old", 0, &node, &note), -RES_E_CPU);
    assert_non_null(strstr(note.text, "has not reported"));
    pfix_fini(&f);
}

static void test_failover_drain_cpu(void **state)
{
    struct pfix f;
    struct res_plan *p = NULL;
    const struct res_action *a;

    (void)state;
    pfix_init(&f);
    f.nodes[3].state = RES_NODE_DOWN;
    pvm(&f, "wsm", RES_CPU_MODEL, "Westmere", 1);
    pvm(&f, "any", RES_CPU_ANY, "", 1);
    assert_int_equal(res_plan_failover(&f.c, 1, &p), 0);
    for (size_t i = 0; i < p->n_actions; i++) {
        a = &p->actions[i];
        if (strcmp(a->vm, "wsm") == 0)
            assert_int_equal(a->to, 2);
        else
            assert_int_equal(a->to, 3); /* roomiest, no requirement */
    }
    assert_int_equal(p->n_actions, 2);
    res_plan_free(p);
    p = NULL;

    /* drain node1 with node2 drained too: wsm has nowhere to go */
    f.nodes[1].state = RES_NODE_DRAINED;
    assert_int_equal(res_plan_drain(&f.c, 1, 2, &p), 0);
    assert_int_equal(p->n_actions, 1);
    assert_string_equal(p->actions[0].vm, "any");
    a = NULL;
    for (size_t i = 0; i < p->n_notes; i++)
        if (strcmp(p->notes[i].vm, "wsm") == 0) {
            assert_int_equal(p->notes[i].why, RES_WHY_NO_CPU);
            assert_non_null(strstr(p->notes[i].text, "'node3' lacks "));
            a = &p->actions[0]; /* found */
        }
    assert_non_null(a);
    res_plan_free(p);
    pfix_fini(&f);
}

static void test_place_host_mode(void **state)
{
    struct pfix f;
    struct res_place_vm *v;
    uint32_t node = 0;
    struct res_note note;

    (void)state;
    pfix_init(&f);
    v = pvm(&f, "h", RES_CPU_HOST, "", 1);
    v->cpu.host_of = f.caps[0];
    /* node4 has node1's host CPU, node3 has more room but another CPU */
    assert_int_equal(
        res_place_best(&f.c, "h", RES_PLACE_OTHER_NODE, &node, &note), 0);
    assert_int_equal(node, 4);
    f.nodes[3].state = RES_NODE_DOWN;
    assert_int_equal(
        res_place_best(&f.c, "h", RES_PLACE_OTHER_NODE, &node, &note),
        -RES_E_CPU);
    assert_non_null(strstr(note.text, "host CPU differs"));
    pfix_fini(&f);
}

/* <cpu> of a definition: each mode parsed, written back the same way,
 * and what placement needs of it; bad combinations named. */
static struct res_vm *vm_cpu(const char *cpu, int want_rc, char *err,
                             size_t len)
{
    char xml[512];
    struct res_vm *vm = NULL;

    snprintf(xml, sizeof(xml),
             "<vm><name>c</name><uuid>00000000-0000-0000-0000-00000000000c"
             "</uuid><memory>64</memory><vcpus>1</vcpus>%s"
             "<boot dev=\"kernel\"><kernel>/k</kernel></boot></vm>",
             cpu);
    assert_int_equal(res_vm_parse(xml, strlen(xml), "c.xml", &vm, err, len),
                     want_rc);
    return vm;
}

static void test_vm_cpu_modes(void **state)
{
    static const struct {
        const char *cpu;
        enum res_cpu_mode mode;
        const char *model;
        const char *written;
    } ok[] = {
        {"", RES_CPU_CLUSTER, "", "<cpu mode=\"cluster\"/>"},
        {"<cpu mode=\"cluster\"/>", RES_CPU_CLUSTER, "",
         "<cpu mode=\"cluster\"/>"},
        {"<cpu mode=\"host\"/>", RES_CPU_HOST, "", "<cpu mode=\"host\"/>"},
        {"<cpu model=\"Nehalem\"/>", RES_CPU_MODEL, "Nehalem",
         "<cpu model=\"Nehalem\"/>"},
        {"<cpu mode=\"model\" model=\"Nehalem\"/>", RES_CPU_MODEL, "Nehalem",
         "<cpu model=\"Nehalem\"/>"},
        /* what every definition stored before modes says: unchanged */
        {"<cpu model=\"host\"/>", RES_CPU_ANY, "host", "<cpu model=\"host\"/>"},
    };
    static const struct {
        const char *cpu, *msg;
    } bad[] = {
        {"<cpu mode=\"cluster\" model=\"Haswell\"/>",
         "c.xml:1: <cpu>: mode 'cluster' takes no model"},
        {"<cpu mode=\"host\" model=\"Haswell\"/>",
         "c.xml:1: <cpu>: mode 'host' takes no model"},
        {"<cpu mode=\"model\"/>", "needs mode=\"cluster\""},
        {"<cpu/>", "needs mode=\"cluster\""},
        {"<cpu mode=\"model\" model=\"host\"/>", "write mode=\"host\""},
        {"<cpu model=\"Has/well\"/>", "not a valid CPU model name"},
    };
    char err[512];

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        CMN_AUTO(res_vm) *vm = vm_cpu(ok[i].cpu, 0, err, sizeof(err));
        CMN_AUTO(res_vm) *back = NULL;
        struct res_place_vm pv;
        char *text = NULL;

        assert_int_equal(vm->cpu_mode, ok[i].mode);
        assert_string_equal(vm->cpu_model, ok[i].model);
        assert_int_equal(res_vm_serialize(vm, &text), 0);
        assert_non_null(strstr(text, ok[i].written));
        assert_int_equal(
            res_vm_parse(text, strlen(text), "back", &back, err, sizeof(err)),
            0);
        assert_true(res_vm_equal(vm, back));
        free(text);
        res_place_vm_from_def(vm, 0, true, &pv);
        assert_int_equal(pv.cpu.mode, ok[i].mode);
        /* the model of a cluster-mode VM is the runtime's to fill */
        assert_string_equal(pv.cpu.model,
                            ok[i].mode == RES_CPU_MODEL ? ok[i].model : "");
        assert_null(pv.cpu.host_of);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct res_vm *vm =
            vm_cpu(bad[i].cpu, -RES_E_INVALID, err, sizeof(err));

        assert_null(vm);
        if (!strstr(err, bad[i].msg))
            fail_msg("%s: '%s' does not say '%s'", bad[i].cpu, err, bad[i].msg);
    }
}

/* A cluster-mode VM fixed to a model moves only where that model runs,
 * whatever the baseline of now; one not fixed yet goes anywhere. */
static void test_cluster_mode_fixed(void **state)
{
    struct pfix f;
    struct res_place_vm *v;
    uint32_t node = 0;
    struct res_note note;
    char *text = NULL;

    (void)state;
    pfix_init(&f);
    v = pvm(&f, "fixed", RES_CPU_CLUSTER, "Westmere", 1);
    assert_int_equal(
        res_place_best(&f.c, "fixed", RES_PLACE_OTHER_NODE, &node, &note), 0);
    assert_int_not_equal(node, 3); /* node3 lacks aes */
    assert_int_equal(res_explain(&f.c, "fixed", &text), 0);
    assert_non_null(strstr(text, "cpu: cluster baseline 'Westmere' (fixed"));
    assert_non_null(strstr(text, "node3 (id 3): excluded for CPU: lacks "));
    free(text);
    v->cpu.model[0] = '\0';
    v->node = 0;
    v->want_running = true;
    f.nodes[0].state = RES_NODE_DOWN;
    f.nodes[1].state = RES_NODE_DOWN;
    f.nodes[3].state = RES_NODE_DOWN;
    assert_int_equal(res_place_best(&f.c, "fixed", 0, &node, &note), 0);
    assert_int_equal(node, 3);
    pfix_fini(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcg_uncapped),
        cmocka_unit_test(test_cap_generations),
        cmocka_unit_test(test_baseline),
        cmocka_unit_test(test_baseline_check),
        cmocka_unit_test(test_fits),
        cmocka_unit_test(test_text_roundtrip),
        cmocka_unit_test(test_text_bad),
        cmocka_unit_test(test_qmp_bad),
        cmocka_unit_test(test_place_cpu),
        cmocka_unit_test(test_failover_drain_cpu),
        cmocka_unit_test(test_place_host_mode),
        cmocka_unit_test(test_vm_cpu_modes),
        cmocka_unit_test(test_cluster_mode_fixed),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
