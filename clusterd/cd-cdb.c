/* The CDB model: settings, nodes, volumes, VMs; applying change ops;
 * canonical serialization, digest and parsing.
 *
 * Canonical form: elements in a fixed order, list members sorted by name,
 * every setting written (defaults included), attributes in a fixed order,
 * text escaped so that parse(serialize(x)) serializes to the same bytes.
 * The digest is SHA-256 of the canonical form without the digest
 * attribute, so two members with equal digests hold equal documents. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <libxml/tree.h>
#include <libxml/xmlstring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clusterd/cd-int.h"
#include "common/cmn-name.h"
#include "common/cmn-xml.h"
#include "resources/res-vm.h"

static const char *const converge_values[] = {"raise-downtime", "auto-converge",
                                              "cancel", NULL};
static const char *const copy_mode_values[] = {"background", "write-blocking",
                                               NULL};
static const char *const failback_values[] = {"never", "immediate", "window",
                                              NULL};

const struct cd_setting_desc cd_settings[] = {
    {"converge", CD_SET_ENUM, "raise-downtime", 0, 0, converge_values,
     "what live migration does when pre-copy does not converge"},
    {"cpu-baseline", CD_SET_NAME, "", 0, 0, NULL,
     "CPU model of cluster-mode VMs (\"\" = the newest every node runs)"},
    {"downtime-target", CD_SET_DURATION, "300", 1, 60000, NULL,
     "live migration downtime target"},
    {"failback", CD_SET_ENUM, "never", 0, 0, failback_values,
     "when VMs return to their preferred node"},
    {"failback-window", CD_SET_WINDOW, "", 0, 0, NULL,
     "HH:MM-HH:MM window for failback=window"},
    {"max-passes", CD_SET_INT, "10", 1, 100, NULL,
     "pre-copy passes before converging"},
    {"migration-bandwidth", CD_SET_INT, "0", 0, 1000000, NULL,
     "live migration bandwidth in MiB/s (0 = unlimited)"},
    {"migration-max-concurrent", CD_SET_INT, "2", 1, 16, NULL,
     "concurrent migrations per node"},
    {"quarantine-duration", CD_SET_DURATION, "7200000", 0, 604800000, NULL,
     "how long a failing node is quarantined"},
    {"quarantine-failures", CD_SET_INT, "3", 1, 100, NULL,
     "daemon failures in an hour that quarantine a node"},
    {"quorum-grace", CD_SET_DURATION, "20000", 1000, 600000, NULL,
     "how long a node without quorum keeps its VMs"},
    {"restart-max-failures", CD_SET_INT, "3", 0, 100, NULL,
     "in-place restarts of a VM within restart-period before failover"},
    {"restart-period", CD_SET_DURATION, "3600000", 1000, 86400000, NULL,
     "period over which VM failures are counted"},
    {"start-retry-delay", CD_SET_DURATION, "2000", 1000, 600000, NULL,
     "wait before retrying a failed VM start (doubled per failure)"},
    {"start-retry-max-delay", CD_SET_DURATION, "60000", 1000, 3600000, NULL,
     "longest wait between attempts to start a VM"},
    {"storage-move-bandwidth", CD_SET_INT, "0", 0, 1000000, NULL,
     "move-storage copy bandwidth in MiB/s (0 = unlimited)"},
    {"storage-move-copy-mode", CD_SET_ENUM, "background", 0, 0,
     copy_mode_values,
     "how a running VM's storage mirror treats guest writes "
     "(write-blocking: each one waits for the target, so the copy "
     "converges under any write rate)"},
    {NULL, 0, NULL, 0, 0, NULL, NULL},
};

#define CD_SETTINGS_N (CMN_ARRAY_SIZE(cd_settings) - 1)

struct cd_cdb {
    uint64_t epoch;
    uint8_t digest[CD_DIGEST_LEN];
    char settings[CD_SETTINGS_N][CD_VALUE_MAX];
    size_t nnodes;
    struct cd_node nodes[CD_MAX_NODES];
    size_t nvolumes, volumes_cap;
    struct cd_volume *volumes;
    size_t nvms, vms_cap;
    struct cd_vm *vms;
};

/* ------------------------------------------------------------- enums */

static const char *const node_state_names[CD_NODE_STATE_COUNT] = {
    "up", "drained", "paused", "quarantined"};
static const char *const priority_names[CD_PRIO_COUNT] = {"high", "medium",
                                                          "low", "manual"};

const char *cd_node_state_name(enum cd_node_state s)
{
    return (unsigned)s < CD_NODE_STATE_COUNT ? node_state_names[s] : "?";
}

int cd_node_state_parse(const char *s, enum cd_node_state *ret)
{
    for (int i = 0; i < CD_NODE_STATE_COUNT; i++)
        if (strcmp(s, node_state_names[i]) == 0) {
            *ret = i;
            return 0;
        }
    return -CD_E_BAD_VALUE;
}

const char *cd_priority_name(enum cd_priority p)
{
    return (unsigned)p < CD_PRIO_COUNT ? priority_names[p] : "?";
}

int cd_priority_parse(const char *s, enum cd_priority *ret)
{
    for (int i = 0; i < CD_PRIO_COUNT; i++)
        if (strcmp(s, priority_names[i]) == 0) {
            *ret = i;
            return 0;
        }
    return -CD_E_BAD_VALUE;
}

/* ---------------------------------------------------------- settings */

size_t cd_setting_count(void)
{
    return CD_SETTINGS_N;
}

int cd_setting_find(const char *key)
{
    for (size_t i = 0; i < CD_SETTINGS_N; i++)
        if (strcmp(cd_settings[i].key, key) == 0)
            return (int)i;
    return -CD_E_NOT_FOUND;
}

static int parse_int(const char *s, int64_t *ret, const char **ret_end)
{
    char *end;
    long long v;

    if (!*s || !(*s == '-' || (*s >= '0' && *s <= '9')))
        return -EINVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno)
        return -ERANGE;
    *ret = v;
    *ret_end = end;
    return 0;
}

static bool window_valid(const char *s)
{
    unsigned h1, m1, h2, m2;
    char tail;

    if (!*s)
        return true;
    if (strlen(s) != 11 ||
        sscanf(s, "%2u:%2u-%2u:%2u%c", &h1, &m1, &h2, &m2, &tail) != 4)
        return false;
    return s[2] == ':' && s[5] == '-' && s[8] == ':' && h1 < 24 && h2 < 24 &&
           m1 < 60 && m2 < 60;
}

int cd_setting_normalize(const char *key, const char *value, char *ret,
                         char *err, size_t errlen)
{
    int i = cd_setting_find(key);
    const struct cd_setting_desc *d;
    const char *end;
    int64_t v, mult = 1;

    if (i < 0) {
        cd_errf(err, errlen,
                "unknown setting '%s' (see 'clusterctl config get')", key);
        return i;
    }
    d = &cd_settings[i];
    switch (d->type) {
    case CD_SET_ENUM:
        for (const char *const *e = d->values; *e; e++)
            if (strcmp(*e, value) == 0) {
                snprintf(ret, CD_VALUE_MAX, "%s", value);
                return 0;
            }
        {
            char list[CD_VALUE_MAX] = "";
            for (const char *const *e = d->values; *e; e++) {
                strncat(list, *e, sizeof(list) - strlen(list) - 1);
                if (e[1])
                    strncat(list, ", ", sizeof(list) - strlen(list) - 1);
            }
            cd_errf(err, errlen, "setting '%s': '%s' is not one of: %s", key,
                    value, list);
        }
        return -CD_E_BAD_VALUE;
    case CD_SET_NAME:
        if (value[0] && !cmn_name_valid(value)) {
            cd_errf(err, errlen, "setting '%s': '%.64s' is not a name (%s)",
                    key, value, CMN_NAME_RULE);
            return -CD_E_BAD_VALUE;
        }
        snprintf(ret, CD_VALUE_MAX, "%s", value);
        return 0;
    case CD_SET_WINDOW:
        if (!window_valid(value)) {
            cd_errf(err, errlen,
                    "setting '%s': '%s' is not a window HH:MM-HH:MM "
                    "(e.g. 22:00-06:00) or empty",
                    key, value);
            return -CD_E_BAD_VALUE;
        }
        snprintf(ret, CD_VALUE_MAX, "%s", value);
        return 0;
    case CD_SET_INT:
    case CD_SET_DURATION:
        if (parse_int(value, &v, &end) < 0)
            goto bad_number;
        if (d->type == CD_SET_DURATION) {
            if (!strcmp(end, "") || !strcmp(end, "ms"))
                mult = 1;
            else if (!strcmp(end, "s"))
                mult = 1000;
            else if (!strcmp(end, "m"))
                mult = 60000;
            else if (!strcmp(end, "h"))
                mult = 3600000;
            else
                goto bad_number;
            if (v > INT64_MAX / mult || v < INT64_MIN / mult)
                goto bad_range;
            v *= mult;
        } else if (*end) {
            goto bad_number;
        }
        if (v < d->min || v > d->max)
            goto bad_range;
        snprintf(ret, CD_VALUE_MAX, "%" PRId64, v);
        return 0;
    }
    return -CD_E_BAD_VALUE;
bad_number:
    cd_errf(err, errlen, "setting '%s': '%s' is not %s", key, value,
            d->type == CD_SET_DURATION
                ? "a duration (a number with ms, s, m or h)"
                : "a whole number");
    return -CD_E_BAD_VALUE;
bad_range:
    cd_errf(err, errlen,
            "setting '%s': '%s' is out of range %" PRId64 "..%" PRId64 "%s",
            key, value, d->min, d->max,
            d->type == CD_SET_DURATION ? " ms" : "");
    return -CD_E_BAD_VALUE;
}

/* ------------------------------------------------------ CPU baseline */

int cd_cdb_cpu_baseline(const struct cd_cdb *cdb, char *ret, size_t len,
                        char *err, size_t errlen)
{
    const struct res_cpu_caps *caps[CD_MAX_NODES];
    const char *set = cd_cdb_setting(cdb, "cpu-baseline");
    size_t n = 0;

    if (set && set[0]) {
        snprintf(ret, len, "%s", set);
        return 0;
    }
    for (size_t i = 0; i < cdb->nnodes; i++)
        if (cdb->nodes[i].cpu_caps)
            caps[n++] = cdb->nodes[i].cpu_caps;
    return res_cpu_baseline(caps, n, ret, len, err, errlen);
}

bool cd_cdb_node_lacks_baseline(const struct cd_node *n, const char *model,
                                char *why, size_t len)
{
    struct res_cpu_need need = {.mode = RES_CPU_MODEL};

    if (!n->cpu_caps || !model[0])
        return false;
    snprintf(need.model, sizeof(need.model), "%s", model);
    return !res_cpu_fits(&need, n->cpu_caps, why, len);
}

/* --------------------------------------------------------- lifecycle */

static int cdb_update_digest(struct cd_cdb *cdb);

int cd_cdb_new(struct cd_cdb **ret_cdb)
{
    struct cd_cdb *cdb = calloc(1, sizeof(*cdb));
    int rc;

    if (!cdb)
        return -ENOMEM;
    for (size_t i = 0; i < CD_SETTINGS_N; i++)
        snprintf(cdb->settings[i], CD_VALUE_MAX, "%s", cd_settings[i].def);
    rc = cdb_update_digest(cdb);
    if (rc < 0) {
        cd_cdb_free(cdb);
        return rc;
    }
    *ret_cdb = cdb;
    return 0;
}

static void node_cpu_clear(struct cd_node *n)
{
    free(n->cpu);
    res_cpu_caps_free(n->cpu_caps);
    n->cpu = NULL;
    n->cpu_caps = NULL;
}

/* Sets n's capability from text (NULL or "": none); on error n keeps its
 * old one. */
static int node_cpu_set(struct cd_node *n, const char *text, char *err,
                        size_t errlen)
{
    struct res_cpu_caps *caps = NULL;
    char *copy = NULL;
    char e[256];
    int rc;

    if (text && *text) {
        rc = res_cpu_caps_parse(text, &caps, e, sizeof(e));
        if (rc < 0) {
            cd_errf(err, errlen, "node '%s': %s", n->name, e);
            return rc == -ENOMEM ? rc : -CD_E_BAD_VALUE;
        }
        copy = strdup(text);
        if (!copy) {
            res_cpu_caps_free(caps);
            return -ENOMEM;
        }
    }
    node_cpu_clear(n);
    n->cpu = copy;
    n->cpu_caps = caps;
    return 0;
}

void cd_cdb_free(struct cd_cdb *cdb)
{
    if (!cdb)
        return;
    for (size_t i = 0; i < cdb->nvms; i++)
        free(cdb->vms[i].definition);
    for (size_t i = 0; i < cdb->nnodes; i++)
        node_cpu_clear(&cdb->nodes[i]);
    free(cdb->vms);
    free(cdb->volumes);
    free(cdb);
}

int cd_cdb_dup(const struct cd_cdb *cdb, struct cd_cdb **ret_cdb)
{
    CMN_AUTO(cd_cdb) *c = calloc(1, sizeof(*c));

    if (!c)
        return -ENOMEM;
    *c = *cdb;
    c->volumes = NULL;
    c->vms = NULL;
    c->nvms = c->nvolumes = c->vms_cap = c->volumes_cap = 0;
    /* Node capabilities are owned: copied one by one below. */
    for (size_t i = 0; i < c->nnodes; i++)
        c->nodes[i].cpu = NULL, c->nodes[i].cpu_caps = NULL;
    for (size_t i = 0; i < c->nnodes; i++)
        if (node_cpu_set(&c->nodes[i], cdb->nodes[i].cpu, NULL, 0) < 0)
            return -ENOMEM;
    if (cdb->nvolumes) {
        c->volumes = malloc(cdb->nvolumes * sizeof(*c->volumes));
        if (!c->volumes)
            return -ENOMEM;
        memcpy(c->volumes, cdb->volumes, cdb->nvolumes * sizeof(*c->volumes));
        c->nvolumes = c->volumes_cap = cdb->nvolumes;
    }
    if (cdb->nvms) {
        c->vms = calloc(cdb->nvms, sizeof(*c->vms));
        if (!c->vms)
            return -ENOMEM;
        c->vms_cap = cdb->nvms;
        for (size_t i = 0; i < cdb->nvms; i++) {
            c->vms[i] = cdb->vms[i];
            c->vms[i].definition = NULL;
            c->nvms = i + 1;
            if (cdb->vms[i].definition) {
                c->vms[i].definition = strdup(cdb->vms[i].definition);
                if (!c->vms[i].definition)
                    return -ENOMEM;
            }
        }
    }
    *ret_cdb = CMN_STEAL(c);
    return 0;
}

/* ----------------------------------------------------------- getters */

uint64_t cd_cdb_epoch(const struct cd_cdb *cdb)
{
    return cdb->epoch;
}

const uint8_t *cd_cdb_digest(const struct cd_cdb *cdb)
{
    return cdb->digest;
}

void cd_digest_to_hex(const uint8_t *digest, char *buf)
{
    for (int i = 0; i < CD_DIGEST_LEN; i++)
        sprintf(buf + 2 * i, "%02x", digest[i]);
}

void cd_cdb_digest_hex(const struct cd_cdb *cdb, char *buf)
{
    cd_digest_to_hex(cdb->digest, buf);
}

size_t cd_cdb_node_count(const struct cd_cdb *cdb)
{
    return cdb->nnodes;
}

const struct cd_node *cd_cdb_node(const struct cd_cdb *cdb, size_t i)
{
    return i < cdb->nnodes ? &cdb->nodes[i] : NULL;
}

static ssize_t node_index(const struct cd_cdb *cdb, const char *name)
{
    for (size_t i = 0; i < cdb->nnodes; i++)
        if (strcmp(cdb->nodes[i].name, name) == 0)
            return (ssize_t)i;
    return -1;
}

const struct cd_node *cd_cdb_node_by_name(const struct cd_cdb *cdb,
                                          const char *name)
{
    ssize_t i = node_index(cdb, name);
    return i < 0 ? NULL : &cdb->nodes[i];
}

const struct cd_node *cd_cdb_node_by_id(const struct cd_cdb *cdb,
                                        uint32_t nodeid)
{
    for (size_t i = 0; i < cdb->nnodes; i++)
        if (cdb->nodes[i].nodeid == nodeid)
            return &cdb->nodes[i];
    return NULL;
}

size_t cd_cdb_volume_count(const struct cd_cdb *cdb)
{
    return cdb->nvolumes;
}

const struct cd_volume *cd_cdb_volume(const struct cd_cdb *cdb, size_t i)
{
    return i < cdb->nvolumes ? &cdb->volumes[i] : NULL;
}

static ssize_t volume_index(const struct cd_cdb *cdb, const char *name)
{
    for (size_t i = 0; i < cdb->nvolumes; i++)
        if (strcmp(cdb->volumes[i].name, name) == 0)
            return (ssize_t)i;
    return -1;
}

size_t cd_cdb_vm_count(const struct cd_cdb *cdb)
{
    return cdb->nvms;
}

const struct cd_vm *cd_cdb_vm(const struct cd_cdb *cdb, size_t i)
{
    return i < cdb->nvms ? &cdb->vms[i] : NULL;
}

static ssize_t vm_index(const struct cd_cdb *cdb, const char *name)
{
    for (size_t i = 0; i < cdb->nvms; i++)
        if (strcmp(cdb->vms[i].name, name) == 0)
            return (ssize_t)i;
    return -1;
}

const struct cd_vm *cd_cdb_vm_by_name(const struct cd_cdb *cdb,
                                      const char *name)
{
    ssize_t i = vm_index(cdb, name);
    return i < 0 ? NULL : &cdb->vms[i];
}

/* The <uuid> of a definition, lower case, or "" when it has none. A
 * scan, not a parse: definitions in the CDB are the canonical form
 * res_vm_serialize() writes, and every change is checked against every
 * VM, so this runs often. */
static void def_uuid(const char *def, char out[CD_UUID_STR])
{
    const char *p = def ? strstr(def, "<uuid>") : NULL;
    size_t n = 0;

    out[0] = '\0';
    if (!p)
        return;
    p += strlen("<uuid>");
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    while (*p && *p != '<' && *p != ' ' && *p != '\t' && *p != '\n' &&
           *p != '\r' && n < CD_UUID_STR - 1) {
        char c = *p++;
        out[n++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    out[n] = '\0';
}

const struct cd_vm *cd_cdb_vm_by_uuid(const struct cd_cdb *cdb,
                                      const char *uuid, const char *except)
{
    char want[CD_UUID_STR], have[CD_UUID_STR];
    size_t n = 0;

    for (; uuid[n] && n < CD_UUID_STR - 1; n++)
        want[n] = uuid[n] >= 'A' && uuid[n] <= 'Z' ? (char)(uuid[n] - 'A' + 'a')
                                                   : uuid[n];
    want[n] = '\0';
    if (!want[0])
        return NULL;
    for (size_t i = 0; i < cdb->nvms; i++) {
        if (except && strcmp(cdb->vms[i].name, except) == 0)
            continue;
        def_uuid(cdb->vms[i].definition, have);
        if (strcmp(have, want) == 0)
            return &cdb->vms[i];
    }
    return NULL;
}

const struct cd_vm *cd_cdb_vm_by_mac(const struct cd_cdb *cdb,
                                     const uint8_t mac[6], const char *except)
{
    for (size_t i = 0; i < cdb->nvms; i++) {
        if (except && strcmp(cdb->vms[i].name, except) == 0)
            continue;
        for (size_t k = 0; k < cdb->vms[i].n_macs; k++)
            if (memcmp(cdb->vms[i].macs[k], mac, 6) == 0)
                return &cdb->vms[i];
    }
    return NULL;
}

void cd_cdb_uuid_taken_msg(const char *vm, const struct cd_vm *other,
                           const char *uuid, char *err, size_t errlen)
{
    cd_errf(err, errlen,
            "VM '%s' has the uuid of VM '%s' (%s); give it its own <uuid> "
            "(generate one with uuidgen)",
            vm, other->name, uuid);
}

void cd_cdb_mac_taken_msg(const char *vm, const struct cd_vm *other,
                          const uint8_t mac[6], char *err, size_t errlen)
{
    char text[18];

    res_mac_format(mac, text);
    cd_errf(err, errlen,
            "VM '%s': MAC %s is already a NIC of VM '%s'; give the <nic> "
            "another mac (or leave mac out: one is derived from the uuid)",
            vm, text, other->name);
}

const char *cd_cdb_setting(const struct cd_cdb *cdb, const char *key)
{
    int i = cd_setting_find(key);
    return i < 0 ? NULL : cdb->settings[i];
}

/* ----------------------------------------------------- serialization */

static int cdb_serialize(const struct cd_cdb *cdb, bool with_digest,
                         char **ret_text, size_t *ret_len)
{
    struct cd_buf b;

    cd_buf_init(&b);
    cd_buf_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    cd_buf_xmlf(&b, "<cdb version=\"%d\" epoch=\"%" PRIu64 "\"", CD_CDB_VERSION,
                cdb->epoch);
    if (with_digest) {
        char hex[CD_DIGEST_HEX];
        cd_digest_to_hex(cdb->digest, hex);
        cd_buf_xmlf(&b, " digest=\"sha256:%s\"", hex);
    }
    cd_buf_puts(&b, ">\n  <settings>\n");
    for (size_t i = 0; i < CD_SETTINGS_N; i++) {
        if (cd_settings[i].type == CD_SET_NAME && !cdb->settings[i][0])
            continue;
        cd_buf_xmlf(&b, "    <setting name=\"%s\" value=\"",
                    cd_settings[i].key);
        cd_buf_xml_escape(&b, cdb->settings[i]);
        cd_buf_puts(&b, "\"/>\n");
    }
    cd_buf_puts(&b, "  </settings>\n  <nodes>\n");
    for (size_t i = 0; i < cdb->nnodes; i++) {
        const struct cd_node *n = &cdb->nodes[i];
        cd_buf_xmlf(&b, "    <node name=\"%s\" nodeid=\"%" PRIu32 "\"", n->name,
                    n->nodeid);
        cd_buf_puts(&b, " address=\"");
        cd_buf_xml_escape(&b, n->address);
        cd_buf_xmlf(&b, "\" memory-mib=\"%" PRIu64 "\" state=\"%s\"",
                    n->memory_mib, cd_node_state_name(n->state));
        /* Optional, written only when set: older documents keep their
         * digest. */
        if (n->reason[0]) {
            cd_buf_puts(&b, " reason=\"");
            cd_buf_xml_escape(&b, n->reason);
            cd_buf_puts(&b, "\"");
        }
        if (n->quarantined_until)
            cd_buf_xmlf(&b, " quarantined-until=\"%" PRIu64 "\"",
                        n->quarantined_until);
        if (n->nfailures) {
            cd_buf_puts(&b, " failures=\"");
            for (size_t k = 0; k < n->nfailures; k++)
                cd_buf_xmlf(&b, "%s%" PRIu64, k ? " " : "", n->failures[k]);
            cd_buf_puts(&b, "\"");
        }
        if (n->cpu) {
            cd_buf_puts(&b, "><cpu>");
            cd_buf_xml_escape(&b, n->cpu);
            cd_buf_puts(&b, "</cpu></node>\n");
        } else {
            cd_buf_puts(&b, "/>\n");
        }
    }
    cd_buf_puts(&b, "  </nodes>\n  <volumes>\n");
    for (size_t i = 0; i < cdb->nvolumes; i++) {
        const struct cd_volume *v = &cdb->volumes[i];
        if (v->local) {
            cd_buf_xmlf(&b,
                        "    <volume name=\"%s\" kind=\"local\" node=\"%s\" "
                        "path=\"",
                        v->name, v->node);
            cd_buf_xml_escape(&b, v->path);
            cd_buf_puts(&b, "\"/>\n");
            continue;
        }
        cd_buf_xmlf(&b, "    <volume name=\"%s\" lockspace=\"%s\">\n", v->name,
                    v->lockspace);
        for (size_t j = 0; j < v->nluns; j++) {
            cd_buf_puts(&b, "      <lun id=\"");
            cd_buf_xml_escape(&b, v->luns[j]);
            cd_buf_puts(&b, "\"/>\n");
        }
        cd_buf_puts(&b, "    </volume>\n");
    }
    cd_buf_puts(&b, "  </volumes>\n  <vms>\n");
    for (size_t i = 0; i < cdb->nvms; i++) {
        const struct cd_vm *v = &cdb->vms[i];
        cd_buf_xmlf(&b, "    <vm name=\"%s\" priority=\"%s\"", v->name,
                    cd_priority_name(v->priority));
        /* Written only when set, so documents without intents keep
         * the digest they had before the attribute existed. */
        if (v->want_running)
            cd_buf_puts(&b, " target=\"running\"");
        if (v->ref[0]) {
            cd_buf_puts(&b, " ref=\"");
            cd_buf_xml_escape(&b, v->ref);
            cd_buf_puts(&b, "\"");
        }
        if (v->definition) {
            cd_buf_puts(&b, "><definition>");
            cd_buf_xml_escape(&b, v->definition);
            cd_buf_puts(&b, "</definition></vm>\n");
        } else {
            cd_buf_puts(&b, "/>\n");
        }
    }
    cd_buf_puts(&b, "  </vms>\n</cdb>\n");
    return cd_buf_steal(&b, ret_text, ret_len);
}

int cd_cdb_serialize(const struct cd_cdb *cdb, char **ret_text, size_t *ret_len)
{
    return cdb_serialize(cdb, true, ret_text, ret_len);
}

static int cdb_compute_digest(const struct cd_cdb *cdb, uint8_t *ret)
{
    char *text = NULL;
    size_t len;
    int rc = cdb_serialize(cdb, false, &text, &len);

    if (rc == 0)
        rc = cd_sha256(text, len, ret);
    free(text);
    return rc;
}

static int cdb_update_digest(struct cd_cdb *cdb)
{
    return cdb_compute_digest(cdb, cdb->digest);
}

/* -------------------------------------------------------------- apply */

/* Text the CDB can carry through XML unchanged: valid UTF-8 without
 * control characters other than TAB, LF, CR. */
static bool text_valid(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
            return false;
    return xmlCheckUTF8((const xmlChar *)s) != 0;
}

static int op_add_node(struct cd_cdb *cdb, const struct cd_op *op, char *err,
                       size_t errlen)
{
    struct cd_node n = {0};
    size_t pos;

    if (!cmn_name_valid(op->name)) {
        cd_errf(err, errlen,
                "node name '%s' is invalid (letters, digits, '.', '_', '-')",
                op->name);
        return -CD_E_BAD_VALUE;
    }
    if (op->nodeid == 0) {
        cd_errf(err, errlen, "node '%s': nodeid must be 1 or more", op->name);
        return -CD_E_BAD_VALUE;
    }
    if (!cd_token_valid(op->arg, CD_VALUE_MAX)) {
        cd_errf(err, errlen, "node '%s': migration address '%s' is invalid",
                op->name, op->arg);
        return -CD_E_BAD_VALUE;
    }
    if (node_index(cdb, op->name) >= 0) {
        cd_errf(err, errlen, "node '%s' already exists", op->name);
        return -CD_E_EXISTS;
    }
    if (cd_cdb_node_by_id(cdb, op->nodeid)) {
        cd_errf(err, errlen, "node '%s': nodeid %" PRIu32 " belongs to '%s'",
                op->name, op->nodeid, cd_cdb_node_by_id(cdb, op->nodeid)->name);
        return -CD_E_EXISTS;
    }
    if (cdb->nnodes >= CD_MAX_NODES) {
        cd_errf(err, errlen, "node '%s': a cluster has at most %d nodes",
                op->name, CD_MAX_NODES);
        return -CD_E_BAD_VALUE;
    }
    snprintf(n.name, sizeof(n.name), "%s", op->name);
    snprintf(n.address, sizeof(n.address), "%s", op->arg);
    n.nodeid = op->nodeid;
    n.memory_mib = op->number;
    n.state = CD_NODE_UP;
    for (pos = 0; pos < cdb->nnodes; pos++)
        if (strcmp(cdb->nodes[pos].name, n.name) > 0)
            break;
    memmove(&cdb->nodes[pos + 1], &cdb->nodes[pos],
            (cdb->nnodes - pos) * sizeof(n));
    cdb->nodes[pos] = n;
    cdb->nnodes++;
    return 0;
}

static int volume_insert(struct cd_cdb *cdb, const struct cd_volume *v)
{
    size_t pos;

    if (cdb->nvolumes == cdb->volumes_cap) {
        size_t cap = cdb->volumes_cap ? cdb->volumes_cap * 2 : 4;
        struct cd_volume *p = realloc(cdb->volumes, cap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        cdb->volumes = p;
        cdb->volumes_cap = cap;
    }
    for (pos = 0; pos < cdb->nvolumes; pos++)
        if (strcmp(cdb->volumes[pos].name, v->name) > 0)
            break;
    memmove(&cdb->volumes[pos + 1], &cdb->volumes[pos],
            (cdb->nvolumes - pos) * sizeof(*v));
    cdb->volumes[pos] = *v;
    cdb->nvolumes++;
    return 0;
}

static int op_add_volume(struct cd_cdb *cdb, const struct cd_op *op, char *err,
                         size_t errlen)
{
    struct cd_volume v = {0};

    if (!cmn_name_valid(op->name)) {
        cd_errf(err, errlen,
                "volume name '%s' is invalid (letters, digits, '.', '_', "
                "'-')",
                op->name);
        return -CD_E_BAD_VALUE;
    }
    /* sanlock lockspace names are at most 48 bytes. */
    if (!cmn_name_valid(op->arg) || strlen(op->arg) > 48) {
        cd_errf(err, errlen, "volume '%s': lockspace name '%s' is invalid",
                op->name, op->arg);
        return -CD_E_BAD_VALUE;
    }
    if (volume_index(cdb, op->name) >= 0) {
        cd_errf(err, errlen, "volume '%s' already exists", op->name);
        return -CD_E_EXISTS;
    }
    for (size_t i = 0; i < cdb->nvolumes; i++)
        if (strcmp(cdb->volumes[i].lockspace, op->arg) == 0) {
            cd_errf(err, errlen,
                    "volume '%s': lockspace '%s' is used by volume '%s'",
                    op->name, op->arg, cdb->volumes[i].name);
            return -CD_E_EXISTS;
        }
    snprintf(v.name, sizeof(v.name), "%s", op->name);
    snprintf(v.lockspace, sizeof(v.lockspace), "%s", op->arg);
    if (op->text) {
        const char *p = op->text;
        while (*p) {
            size_t n = strcspn(p, "\n");
            if (n) {
                if (v.nluns >= CD_VOLUME_LUNS || n >= CD_VALUE_MAX) {
                    cd_errf(err, errlen,
                            "volume '%s': at most %d LUNs of < %d bytes",
                            op->name, CD_VOLUME_LUNS, CD_VALUE_MAX);
                    return -CD_E_BAD_VALUE;
                }
                memcpy(v.luns[v.nluns], p, n);
                v.luns[v.nluns][n] = '\0';
                if (!cd_token_valid(v.luns[v.nluns], CD_VALUE_MAX)) {
                    cd_errf(err, errlen, "volume '%s': LUN id '%s' is invalid",
                            op->name, v.luns[v.nluns]);
                    return -CD_E_BAD_VALUE;
                }
                v.nluns++;
            }
            p += n;
            if (*p)
                p++;
        }
    }
    if (v.nluns == 0) {
        cd_errf(err, errlen, "volume '%s': give at least one LUN id", op->name);
        return -CD_E_BAD_VALUE;
    }
    return volume_insert(cdb, &v);
}

const char *cd_vm_local_volume(const struct cd_vm *v)
{
    size_t n = strlen(CD_LOCAL_REF_PREFIX);

    return strncmp(v->ref, CD_LOCAL_REF_PREFIX, n) == 0 ? v->ref + n : NULL;
}

bool cd_local_path_valid(const char *path)
{
    size_t len = strlen(path);

    if (path[0] != '/' || len < 2 || len >= CD_VALUE_MAX ||
        path[len - 1] == '/' || strstr(path, "//"))
        return false;
    for (const char *p = path; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return false;
    /* No "." or ".." component: the path names one directory, as typed. */
    for (const char *c = path + 1;;) {
        size_t n = strcspn(c, "/");
        if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return false;
        if (!c[n])
            return true;
        c += n + 1;
    }
}

/* A node-local volume: a directory of one node of the CDB. Whether the
 * directory exists there is checked by that node's clusterd before the
 * op is sent (only it can see it); every member checks the rest. */
static int op_add_local_volume(struct cd_cdb *cdb, const struct cd_op *op,
                               char *err, size_t errlen)
{
    struct cd_volume v = {.local = true};

    if (!cmn_name_valid(op->name)) {
        cd_errf(err, errlen,
                "volume name '%s' is invalid (letters, digits, '.', '_', "
                "'-')",
                op->name);
        return -CD_E_BAD_VALUE;
    }
    if (volume_index(cdb, op->name) >= 0) {
        cd_errf(err, errlen, "volume '%s' already exists", op->name);
        return -CD_E_EXISTS;
    }
    if (node_index(cdb, op->arg) < 0) {
        cd_errf(err, errlen,
                "volume '%s': node '%s' does not exist (see 'clusterctl "
                "node list')",
                op->name, op->arg);
        return -CD_E_NOT_FOUND;
    }
    if (!cd_local_path_valid(op->arg2)) {
        cd_errf(err, errlen,
                "volume '%s': path '%s' is not an absolute directory path "
                "(no '.', '..', '//' or trailing '/')",
                op->name, op->arg2);
        return -CD_E_BAD_VALUE;
    }
    for (size_t i = 0; i < cdb->nvolumes; i++)
        if (cdb->volumes[i].local && !strcmp(cdb->volumes[i].node, op->arg) &&
            !strcmp(cdb->volumes[i].path, op->arg2)) {
            cd_errf(err, errlen,
                    "volume '%s': '%s' of node '%s' is volume '%s' already",
                    op->name, op->arg2, op->arg, cdb->volumes[i].name);
            return -CD_E_EXISTS;
        }
    snprintf(v.name, sizeof(v.name), "%s", op->name);
    snprintf(v.node, sizeof(v.node), "%.*s", (int)sizeof(v.node) - 1, op->arg);
    snprintf(v.path, sizeof(v.path), "%s", op->arg2);
    return volume_insert(cdb, &v);
}

/* What placement reads of `v`'s definition (see struct cd_vm); a
 * definition that does not parse gets the defaults, as it always did.
 * A VM on a local volume is tied to its node whatever its definition
 * says: placement must never find it another node. */
static void vm_place_parse(const struct cd_cdb *cdb, struct cd_vm *v)
{
    const char *lv = cd_vm_local_volume(v);
    ssize_t vi = lv ? volume_index(cdb, lv) : -1;

    struct res_vm *def = NULL;
    char err[256];

    memset(&v->place, 0, sizeof(v->place));
    v->n_macs = 0;
    if (v->definition && res_vm_parse(v->definition, strlen(v->definition),
                                      v->name, &def, err, sizeof(err)) == 0) {
        res_place_vm_from_def(def, 0, false, &v->place);
        for (size_t i = 0; i < def->n_nics && i < RES_VM_MAX_NICS; i++)
            memcpy(v->macs[v->n_macs++], def->nics[i].mac, 6);
        res_vm_free(def);
    } else {
        v->place.policy.failures_max = RES_FAILURES_MAX_DEFAULT;
        v->place.policy.failures_period = RES_FAILURES_PERIOD_DEFAULT;
    }
    if (lv) {
        snprintf(v->place.local_volume, sizeof(v->place.local_volume), "%.*s",
                 (int)sizeof(v->place.local_volume) - 1, lv);
        /* A volume the CDB lacks names no node: the VM runs nowhere. */
        snprintf(v->place.local_node, sizeof(v->place.local_node), "%s",
                 vi >= 0 && cdb->volumes[vi].local ? cdb->volumes[vi].node
                                                   : "(unknown node)");
    }
}

static int op_add_vm(struct cd_cdb *cdb, const struct cd_op *op, char *err,
                     size_t errlen)
{
    struct cd_vm v = {0};
    size_t pos;

    if (!cmn_name_valid(op->name)) {
        cd_errf(err, errlen,
                "VM name '%s' is invalid (letters, digits, '.', '_', '-')",
                op->name);
        return -CD_E_BAD_VALUE;
    }
    if (cd_priority_parse(op->arg, &v.priority) < 0) {
        cd_errf(err, errlen,
                "VM '%s': priority '%s' is not high, medium, low or manual",
                op->name, op->arg);
        return -CD_E_BAD_VALUE;
    }
    if (op->arg2[0] && !cd_token_valid(op->arg2, CD_VALUE_MAX)) {
        cd_errf(err, errlen, "VM '%s': definition reference '%s' is invalid",
                op->name, op->arg2);
        return -CD_E_BAD_VALUE;
    }
    if (!op->arg2[0] && !op->text) {
        cd_errf(err, errlen,
                "VM '%s': give a definition (embedded) or a reference",
                op->name);
        return -CD_E_BAD_VALUE;
    }
    if (op->text && !text_valid(op->text)) {
        cd_errf(err, errlen,
                "VM '%s': definition is not UTF-8 text without control "
                "characters",
                op->name);
        return -CD_E_BAD_VALUE;
    }
    if (vm_index(cdb, op->name) >= 0) {
        cd_errf(err, errlen, "VM '%s' already exists", op->name);
        return -CD_E_EXISTS;
    }
    snprintf(v.name, sizeof(v.name), "%s", op->name);
    snprintf(v.ref, sizeof(v.ref), "%s", op->arg2);
    if (cdb->nvms == cdb->vms_cap) {
        size_t cap = cdb->vms_cap ? cdb->vms_cap * 2 : 8;
        struct cd_vm *p = realloc(cdb->vms, cap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        cdb->vms = p;
        cdb->vms_cap = cap;
    }
    if (op->text) {
        v.definition = strdup(op->text);
        if (!v.definition)
            return -ENOMEM;
    }
    vm_place_parse(cdb, &v);
    for (pos = 0; pos < cdb->nvms; pos++)
        if (strcmp(cdb->vms[pos].name, v.name) > 0)
            break;
    memmove(&cdb->vms[pos + 1], &cdb->vms[pos], (cdb->nvms - pos) * sizeof(v));
    cdb->vms[pos] = v;
    cdb->nvms++;
    return 0;
}

size_t cd_node_recent_failures(const struct cd_node *n, uint64_t now)
{
    size_t k = 0;

    for (size_t i = 0; i < n->nfailures; i++)
        if (n->failures[i] + CD_QUARANTINE_PERIOD_S > now)
            k++;
    return k;
}

/* Leaving quarantine (resume, expiry) forgets the failures that caused
 * it: the node starts with a clean record, as after Hyper-V's. */
static void node_set_state(struct cd_node *n, enum cd_node_state st,
                           const char *reason)
{
    if (n->state == CD_NODE_QUARANTINED && st != CD_NODE_QUARANTINED) {
        n->nfailures = 0;
        n->quarantined_until = 0;
    }
    n->state = st;
    snprintf(n->reason, sizeof(n->reason), "%s", reason);
}

/* A daemon failure on a node: forget those older than the period, count
 * this one, and quarantine an up node that reached quarantine-failures.
 * A drained or paused node takes no new VMs already: only counted. A
 * quarantined one stays so until its first end (not extended). */
static int op_node_failure(struct cd_cdb *cdb, const struct cd_op *op,
                           char *err, size_t errlen)
{
    ssize_t i = node_index(cdb, op->name);
    struct cd_node *n;
    uint64_t limit, duration_ms;
    size_t k = 0;

    if (i < 0) {
        cd_errf(err, errlen, "node '%s' does not exist", op->name);
        return -CD_E_NOT_FOUND;
    }
    if (!op->number) {
        cd_errf(err, errlen, "node '%s': a failure needs its time", op->name);
        return -CD_E_BAD_VALUE;
    }
    n = &cdb->nodes[i];
    for (size_t j = 0; j < n->nfailures; j++)
        if (n->failures[j] + CD_QUARANTINE_PERIOD_S > op->number)
            n->failures[k++] = n->failures[j];
    n->nfailures = k;
    if (n->nfailures == CD_NODE_FAILURES_MAX) {
        memmove(n->failures, n->failures + 1,
                (n->nfailures - 1) * sizeof(n->failures[0]));
        n->nfailures--;
    }
    n->failures[n->nfailures++] = op->number;
    limit = strtoull(cd_cdb_setting(cdb, "quarantine-failures"), NULL, 10);
    duration_ms =
        strtoull(cd_cdb_setting(cdb, "quarantine-duration"), NULL, 10);
    if (n->state == CD_NODE_UP && limit && n->nfailures >= limit &&
        duration_ms) {
        n->state = CD_NODE_QUARANTINED;
        n->quarantined_until = op->number + (duration_ms + 999) / 1000;
        snprintf(n->reason, sizeof(n->reason),
                 "%zu daemon failures within %d min, the last: %.160s",
                 n->nfailures, CD_QUARANTINE_PERIOD_S / 60,
                 op->arg[0] ? op->arg : "unknown");
    }
    return 0;
}

/* The VM op->name (its index) and the priority op->arg, both checked. */
static int vm_and_priority(const struct cd_cdb *cdb, const struct cd_op *op,
                           ssize_t *ret_index, enum cd_priority *ret_prio,
                           char *err, size_t errlen)
{
    ssize_t i = vm_index(cdb, op->name);

    if (i < 0) {
        cd_errf(err, errlen, "VM '%s' does not exist", op->name);
        return -CD_E_NOT_FOUND;
    }
    if (cd_priority_parse(op->arg, ret_prio) < 0) {
        cd_errf(err, errlen,
                "VM '%s': priority '%s' is not high, medium, low or manual",
                op->name, op->arg);
        return -CD_E_BAD_VALUE;
    }
    *ret_index = i;
    return 0;
}

/* Applies without touching epoch/digest; leaves cdb unchanged on error
 * (every check happens before the first modification). */
static int cdb_apply_op(struct cd_cdb *cdb, const struct cd_op *op, char *err,
                        size_t errlen)
{
    char value[CD_VALUE_MAX];
    ssize_t i;
    int rc;

    switch (op->type) {
    case CD_OP_SET_SETTING:
        rc = cd_setting_normalize(op->name, op->arg, value, err, errlen);
        if (rc < 0)
            return rc;
        snprintf(cdb->settings[cd_setting_find(op->name)], CD_VALUE_MAX, "%s",
                 value);
        return 0;
    case CD_OP_ADD_NODE:
        return op_add_node(cdb, op, err, errlen);
    case CD_OP_REMOVE_NODE:
        i = node_index(cdb, op->name);
        if (i < 0) {
            cd_errf(err, errlen, "node '%s' does not exist", op->name);
            return -CD_E_NOT_FOUND;
        }
        node_cpu_clear(&cdb->nodes[i]);
        memmove(&cdb->nodes[i], &cdb->nodes[i + 1],
                (cdb->nnodes - i - 1) * sizeof(cdb->nodes[0]));
        cdb->nnodes--;
        memset(&cdb->nodes[cdb->nnodes], 0, sizeof(cdb->nodes[0]));
        return 0;
    case CD_OP_SET_NODE_CPU:
        i = node_index(cdb, op->name);
        if (i < 0) {
            cd_errf(err, errlen, "node '%s' does not exist", op->name);
            return -CD_E_NOT_FOUND;
        }
        return node_cpu_set(&cdb->nodes[i], op->text, err, errlen);
    case CD_OP_SET_NODE_STATE: {
        enum cd_node_state st;
        i = node_index(cdb, op->name);
        if (i < 0) {
            cd_errf(err, errlen, "node '%s' does not exist", op->name);
            return -CD_E_NOT_FOUND;
        }
        if (cd_node_state_parse(op->arg, &st) < 0) {
            cd_errf(err, errlen,
                    "node '%s': state '%s' is not up, drained, paused or "
                    "quarantined",
                    op->name, op->arg);
            return -CD_E_BAD_VALUE;
        }
        if (op->number && cdb->nodes[i].quarantined_until != op->number) {
            cd_errf(err, errlen,
                    "node '%s': its quarantine changed since the request "
                    "(nothing done)",
                    op->name);
            return -CD_E_BAD_VALUE;
        }
        node_set_state(&cdb->nodes[i], st, op->arg2);
        return 0;
    }
    case CD_OP_NODE_FAILURE:
        return op_node_failure(cdb, op, err, errlen);
    case CD_OP_ADD_VOLUME:
        return op_add_volume(cdb, op, err, errlen);
    case CD_OP_ADD_LOCAL_VOLUME:
        return op_add_local_volume(cdb, op, err, errlen);
    case CD_OP_REMOVE_VOLUME:
        i = volume_index(cdb, op->name);
        if (i < 0) {
            cd_errf(err, errlen, "volume '%s' does not exist", op->name);
            return -CD_E_NOT_FOUND;
        }
        /* A local VM's disks are only there: its volume goes after it. */
        for (size_t k = 0; k < cdb->nvms; k++) {
            const char *lv = cd_vm_local_volume(&cdb->vms[k]);
            if (lv && !strcmp(lv, op->name)) {
                cd_errf(err, errlen,
                        "volume '%s' holds VM '%s': remove the VM first",
                        op->name, cdb->vms[k].name);
                return -CD_E_IN_USE;
            }
        }
        memmove(&cdb->volumes[i], &cdb->volumes[i + 1],
                (cdb->nvolumes - i - 1) * sizeof(cdb->volumes[0]));
        cdb->nvolumes--;
        return 0;
    case CD_OP_ADD_VM:
        return op_add_vm(cdb, op, err, errlen);
    case CD_OP_REMOVE_VM:
        i = vm_index(cdb, op->name);
        if (i < 0) {
            cd_errf(err, errlen, "VM '%s' does not exist", op->name);
            return -CD_E_NOT_FOUND;
        }
        free(cdb->vms[i].definition);
        memmove(&cdb->vms[i], &cdb->vms[i + 1],
                (cdb->nvms - i - 1) * sizeof(cdb->vms[0]));
        cdb->nvms--;
        return 0;
    case CD_OP_SET_VM_PRIORITY: {
        enum cd_priority p;
        rc = vm_and_priority(cdb, op, &i, &p, err, errlen);
        if (rc < 0)
            return rc;
        cdb->vms[i].priority = p;
        return 0;
    }
    case CD_OP_SET_VM_DEF: {
        enum cd_priority p;
        char *text;
        rc = vm_and_priority(cdb, op, &i, &p, err, errlen);
        if (rc < 0)
            return rc;
        if (!op->text || !text_valid(op->text)) {
            cd_errf(err, errlen,
                    "VM '%s': definition is not UTF-8 text without control "
                    "characters",
                    op->name);
            return -CD_E_BAD_VALUE;
        }
        /* A reference in arg2 moves the VM's slot with its definition
         * (move-storage): both change in one op, so no node ever sees
         * the new disks under the old slot or the reverse. */
        if (op->arg2[0] && !cd_token_valid(op->arg2, CD_VALUE_MAX)) {
            cd_errf(err, errlen,
                    "VM '%s': definition reference '%s' is "
                    "invalid",
                    op->name, op->arg2);
            return -CD_E_BAD_VALUE;
        }
        if (op->arg2[0] && !cdb->vms[i].ref[0]) {
            cd_errf(err, errlen,
                    "VM '%s' has an embedded definition: it has "
                    "no reference to change",
                    op->name);
            return -CD_E_BAD_VALUE;
        }
        for (size_t k = 0; op->arg2[0] && k < cdb->nvms; k++)
            if (k != (size_t)i && !strcmp(cdb->vms[k].ref, op->arg2)) {
                cd_errf(err, errlen, "VM '%s': reference '%s' is VM '%s''s",
                        op->name, op->arg2, cdb->vms[k].name);
                return -CD_E_IN_USE;
            }
        text = strdup(op->text);
        if (!text)
            return -ENOMEM;
        free(cdb->vms[i].definition);
        cdb->vms[i].definition = text;
        cdb->vms[i].priority = p;
        if (op->arg2[0])
            snprintf(cdb->vms[i].ref, sizeof(cdb->vms[i].ref), "%s", op->arg2);
        vm_place_parse(cdb, &cdb->vms[i]);
        return 0;
    }
    case CD_OP_SET_VM_TARGET:
        i = vm_index(cdb, op->name);
        if (i < 0) {
            cd_errf(err, errlen, "VM '%s' does not exist", op->name);
            return -CD_E_NOT_FOUND;
        }
        if (strcmp(op->arg, "running") != 0 && strcmp(op->arg, "stopped")) {
            cd_errf(err, errlen,
                    "VM '%s': target '%s' is not running or stopped", op->name,
                    op->arg);
            return -CD_E_BAD_VALUE;
        }
        cdb->vms[i].want_running = strcmp(op->arg, "running") == 0;
        return 0;
    default:
        cd_errf(err, errlen, "unknown change type %d", (int)op->type);
        return -CD_E_BAD_MSG;
    }
}

/* A definition entering the CDB whose NIC has the MAC of another VM's
 * NIC: refused, naming that VM, whichever path it came by (vm add or
 * edit, with or without a CSV, cdb-add-vm). A definition that does not
 * parse has no MACs to compare, as for placement (vm_place_parse). */
static int def_mac_refusal(const struct cd_cdb *cdb, const struct cd_op *op,
                           char *err, size_t errlen)
{
    struct res_vm *def = NULL;
    char e[256];
    int rc = 0;

    if (res_vm_parse(op->text, strlen(op->text), op->name, &def, e, sizeof(e)) <
        0)
        return 0;
    for (size_t i = 0; i < def->n_nics && rc == 0; i++) {
        const struct cd_vm *other =
            cd_cdb_vm_by_mac(cdb, def->nics[i].mac, op->name);
        if (other) {
            cd_cdb_mac_taken_msg(op->name, other, def->nics[i].mac, err,
                                 errlen);
            rc = -CD_E_EXISTS;
        }
    }
    res_vm_free(def);
    return rc;
}

int cd_cdb_apply(struct cd_cdb *cdb, const struct cd_op *op, char *err,
                 size_t errlen)
{
    uint8_t digest[CD_DIGEST_LEN];
    int rc;

    /* Checked on the apply path, so every member refuses a duplicate
     * alike whoever submitted it; not on load or adoption, so a document
     * written before this check still loads. */
    if ((op->type == CD_OP_ADD_VM || op->type == CD_OP_SET_VM_DEF) &&
        op->text) {
        char uuid[CD_UUID_STR];
        const struct cd_vm *other;

        def_uuid(op->text, uuid);
        other = uuid[0] ? cd_cdb_vm_by_uuid(cdb, uuid, op->name) : NULL;
        if (other) {
            cd_cdb_uuid_taken_msg(op->name, other, uuid, err, errlen);
            return -CD_E_EXISTS;
        }
        rc = def_mac_refusal(cdb, op, err, errlen);
        if (rc < 0)
            return rc;
    }
    rc = cdb_apply_op(cdb, op, err, errlen);
    if (rc < 0)
        return rc;
    cdb->epoch++;
    rc = cdb_compute_digest(cdb, digest);
    if (rc < 0) {
        /* Can only be ENOMEM; the document changed, so the member must
         * not claim a stale digest: the next sync repairs it. */
        memset(cdb->digest, 0, sizeof(cdb->digest));
        return rc;
    }
    memcpy(cdb->digest, digest, sizeof(digest));
    return 0;
}

/* ------------------------------------------------------------ parsing */

static int attr_u64(xmlNode *n, const char *name, uint64_t *ret)
{
    char buf[32], *end;
    unsigned long long v;

    if (!cmn_xml_attr_copy(n, name, buf, sizeof(buf)) || !buf[0] ||
        buf[0] == '-')
        return -CD_E_BAD_VALUE;
    errno = 0;
    v = strtoull(buf, &end, 10);
    if (errno || *end)
        return -CD_E_BAD_VALUE;
    *ret = v;
    return 0;
}

static bool is_elem(xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE &&
           strcmp((const char *)n->name, name) == 0;
}

/* The optional quarantine and reason attributes of a <node>. */
static int parse_node_extra(xmlNode *x, struct cd_node *n,
                            enum cd_node_state st)
{
    char buf[CD_VALUE_MAX];
    const char *p;

    n->state = st;
    cmn_xml_attr_copy(x, "reason", n->reason, sizeof(n->reason));
    if (cmn_xml_attr_copy(x, "quarantined-until", buf, sizeof(buf)) &&
        attr_u64(x, "quarantined-until", &n->quarantined_until) < 0)
        return -CMN_E_SCHEMA;
    if (!cmn_xml_attr_copy(x, "failures", buf, sizeof(buf)))
        return 0;
    for (p = buf; *p;) {
        char *end;
        unsigned long long t;
        if (*p == ' ') {
            p++;
            continue;
        }
        errno = 0;
        t = strtoull(p, &end, 10);
        if (errno || end == p || !t || n->nfailures == CD_NODE_FAILURES_MAX)
            return -CMN_E_SCHEMA;
        n->failures[n->nfailures++] = t;
        p = end;
    }
    return 0;
}

/* The optional <cpu> child of a <node>. */
static int parse_node_cpu(xmlNode *x, struct cd_node *n, char *err,
                          size_t errlen)
{
    for (xmlNode *c = x->children; c; c = c->next) {
        xmlChar *t;
        int rc;

        if (c->type != XML_ELEMENT_NODE || !is_elem(c, "cpu"))
            continue;
        t = xmlNodeGetContent(c);
        if (!t)
            return -ENOMEM;
        rc = node_cpu_set(n, (const char *)t, err, errlen);
        xmlFree(t);
        return rc;
    }
    return 0;
}

static int parse_doc(xmlNode *root, const char *name, struct cd_cdb *cdb,
                     uint8_t *ret_digest, char *err, size_t errlen)
{
    char buf[CD_VALUE_MAX], buf2[CD_VALUE_MAX];
    struct cd_op op;
    int rc;

    if (!is_elem(root, "cdb")) {
        cd_errf(err, errlen, "%s: root element is not <cdb>", name);
        return -CMN_E_SCHEMA;
    }
    if (attr_u64(root, "epoch", &cdb->epoch) < 0) {
        cd_errf(err, errlen, "%s: <cdb> has no valid epoch", name);
        return -CMN_E_SCHEMA;
    }
    if (!cmn_xml_attr_copy(root, "digest", buf, sizeof(buf)) ||
        strncmp(buf, "sha256:", 7) != 0 ||
        strlen(buf + 7) != 2 * CD_DIGEST_LEN) {
        cd_errf(err, errlen, "%s: <cdb> has no sha256 digest", name);
        return -CMN_E_SCHEMA;
    }
    for (int i = 0; i < CD_DIGEST_LEN; i++) {
        unsigned x;
        if (sscanf(buf + 7 + 2 * i, "%2x", &x) != 1) {
            cd_errf(err, errlen, "%s: <cdb> digest is not hex", name);
            return -CMN_E_SCHEMA;
        }
        ret_digest[i] = (uint8_t)x;
    }
    for (xmlNode *sec = root->children; sec; sec = sec->next) {
        if (sec->type != XML_ELEMENT_NODE)
            continue;
        for (xmlNode *n = sec->children; n; n = n->next) {
            char e[256] = "";

            if (n->type != XML_ELEMENT_NODE)
                continue;
            memset(&op, 0, sizeof(op));
            if (is_elem(n, "setting")) {
                op.type = CD_OP_SET_SETTING;
                if (!cmn_xml_attr_copy(n, "name", op.name, sizeof(op.name)) ||
                    !cmn_xml_attr_copy(n, "value", op.arg, sizeof(op.arg)))
                    goto schema;
            } else if (is_elem(n, "node")) {
                uint64_t id;
                enum cd_node_state st;
                op.type = CD_OP_ADD_NODE;
                if (!cmn_xml_attr_copy(n, "name", op.name, sizeof(op.name)) ||
                    !cmn_xml_attr_copy(n, "address", op.arg, sizeof(op.arg)) ||
                    attr_u64(n, "nodeid", &id) < 0 || id > UINT32_MAX ||
                    attr_u64(n, "memory-mib", &op.number) < 0 ||
                    !cmn_xml_attr_copy(n, "state", buf, sizeof(buf)) ||
                    cd_node_state_parse(buf, &st) < 0)
                    goto schema;
                op.nodeid = (uint32_t)id;
                rc = cdb_apply_op(cdb, &op, e, sizeof(e));
                if (rc < 0)
                    goto semantic;
                rc = parse_node_extra(n, &cdb->nodes[node_index(cdb, op.name)],
                                      st);
                if (rc < 0)
                    goto schema;
                rc = parse_node_cpu(n, &cdb->nodes[node_index(cdb, op.name)], e,
                                    sizeof(e));
                if (rc < 0)
                    goto semantic;
                continue;
            } else if (is_elem(n, "volume") &&
                       cmn_xml_attr_copy(n, "kind", buf2, sizeof(buf2)) &&
                       !strcmp(buf2, "local")) {
                op.type = CD_OP_ADD_LOCAL_VOLUME;
                if (!cmn_xml_attr_copy(n, "name", op.name, sizeof(op.name)) ||
                    !cmn_xml_attr_copy(n, "node", op.arg, sizeof(op.arg)) ||
                    !cmn_xml_attr_copy(n, "path", op.arg2, sizeof(op.arg2)))
                    goto schema;
            } else if (is_elem(n, "volume")) {
                struct cd_buf luns;
                op.type = CD_OP_ADD_VOLUME;
                if (!cmn_xml_attr_copy(n, "name", op.name, sizeof(op.name)) ||
                    !cmn_xml_attr_copy(n, "lockspace", op.arg, sizeof(op.arg)))
                    goto schema;
                cd_buf_init(&luns);
                for (xmlNode *l = n->children; l; l = l->next)
                    if (is_elem(l, "lun") &&
                        cmn_xml_attr_copy(l, "id", buf2, sizeof(buf2)))
                        cd_buf_printf(&luns, "%s\n", buf2);
                rc = cd_buf_steal(&luns, &op.text, NULL);
                if (rc < 0)
                    return rc;
            } else if (is_elem(n, "vm")) {
                op.type = CD_OP_ADD_VM;
                if (!cmn_xml_attr_copy(n, "name", op.name, sizeof(op.name)) ||
                    !cmn_xml_attr_copy(n, "priority", op.arg, sizeof(op.arg)))
                    goto schema;
                cmn_xml_attr_copy(n, "ref", op.arg2, sizeof(op.arg2));
                for (xmlNode *d = n->children; d; d = d->next)
                    if (is_elem(d, "definition")) {
                        xmlChar *t = xmlNodeGetContent(d);
                        op.text = strdup(t ? (const char *)t : "");
                        xmlFree(t);
                        if (!op.text)
                            return -ENOMEM;
                    }
            } else {
                goto schema;
            }
            rc = cdb_apply_op(cdb, &op, e, sizeof(e));
            free(op.text);
            if (rc < 0)
                goto semantic;
            if (op.type == CD_OP_ADD_VM &&
                cmn_xml_attr_copy(n, "target", buf, sizeof(buf)))
                cdb->vms[vm_index(cdb, op.name)].want_running =
                    strcmp(buf, "running") == 0;
            continue;
        schema:
            cd_errf(err, errlen, "%s:%ld: <%s>: missing or bad attribute", name,
                    xmlGetLineNo(n), (const char *)n->name);
            return -CMN_E_SCHEMA;
        semantic:
            cd_errf(err, errlen, "%s:%ld: %s", name, xmlGetLineNo(n), e);
            return rc;
        }
    }
    return 0;
}

int cd_cdb_parse(const char *text, size_t len, const char *name,
                 const char *schema_path, struct cd_cdb **ret_cdb, char *err,
                 size_t errlen)
{
    CMN_AUTO(cd_cdb) *cdb = NULL;
    CMN_AUTO(cmn_xml_schema) *schema = NULL;
    xmlDoc *doc = NULL;
    uint8_t recorded[CD_DIGEST_LEN];
    int rc;

    rc = cmn_xml_parse_mem(text, len, name, 64u << 20, &doc, err, errlen);
    if (rc < 0)
        goto out;
    if (schema_path) {
        rc = cmn_xml_schema_load(schema_path, &schema, err, errlen);
        if (rc < 0)
            goto out;
        rc = cmn_xml_validate(schema, doc, err, errlen);
        if (rc < 0)
            goto out;
    }
    rc = cd_cdb_new(&cdb);
    if (rc < 0)
        goto out;
    rc = parse_doc(xmlDocGetRootElement(doc), name, cdb, recorded, err, errlen);
    if (rc < 0)
        goto out;
    rc = cdb_update_digest(cdb);
    if (rc < 0)
        goto out;
    if (memcmp(recorded, cdb->digest, CD_DIGEST_LEN) != 0) {
        char a[CD_DIGEST_HEX], b[CD_DIGEST_HEX];
        cd_digest_to_hex(recorded, a);
        cd_digest_to_hex(cdb->digest, b);
        cd_errf(err, errlen,
                "%s: digest mismatch: recorded %.16s..., content has "
                "%.16s...",
                name, a, b);
        rc = -CD_E_CORRUPT;
        goto out;
    }
    *ret_cdb = CMN_STEAL(cdb);
out:
    if (doc)
        xmlFreeDoc(doc);
    return rc;
}
