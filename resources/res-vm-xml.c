/* VM definition <-> XML (schemas/vm.rng, kvmcluster-vm(5)). */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include "common/cmn-auto.h"
#include "common/cmn-xml.h"
#include "resources/res-cpu.h"
#include "resources/res-int.h"
#include "resources/res-vm.h"

/* Everything one extraction needs to report an error. */
struct rx {
    const char *src;
    char *err;
    size_t errlen;
};

static int line_of(const xmlNode *n)
{
    return (int)xmlGetLineNo(n);
}

static bool is_el(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE &&
           strcmp((const char *)n->name, name) == 0;
}

/* Trimmed text of an element or attribute; malloc'ed (NULL on ENOMEM). */
static char *trimmed(xmlChar *raw)
{
    char *s, *start, *end;

    if (raw == NULL)
        return strdup("");
    start = (char *)raw;
    while (*start == ' ' || *start == '\t' || *start == '\n' || *start == '\r')
        start++;
    end = start + strlen(start);
    while (end > start && (end[-1] == ' ' || end[-1] == '\t' ||
                           end[-1] == '\n' || end[-1] == '\r'))
        end--;
    s = strndup(start, (size_t)(end - start));
    xmlFree(raw);
    return s;
}

static char *el_text(const xmlNode *n)
{
    return trimmed(xmlNodeGetContent(n));
}

static char *attr(const xmlNode *n, const char *name)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);

    return v ? trimmed(v) : NULL;
}

/* Copies into a fixed buffer, refusing what doesn't fit. */
static int copy_str(struct rx *rx, const xmlNode *n, const char *what,
                    const char *s, char *dst, size_t dstlen)
{
    if (strlen(s) >= dstlen)
        return res_fail(rx->err, rx->errlen, rx->src, line_of(n),
                        (const char *)n->name,
                        "%s '%.40s%s' is too long (at most %zu characters)",
                        what, s, strlen(s) > 40 ? "..." : "", dstlen - 1);
    strcpy(dst, s);
    return 0;
}

static int parse_u64(struct rx *rx, const xmlNode *n, const char *what,
                     const char *s, uint64_t *ret)
{
    uint64_t v = 0;
    const char *p = s;

    if (*p == '+')
        p++;
    if (*p == '\0')
        goto bad;
    for (; *p; p++) {
        if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
            goto bad;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *ret = v;
    return 0;
bad:
    return res_fail(rx->err, rx->errlen, rx->src, line_of(n),
                    (const char *)n->name, "%s '%s' is not a number in range",
                    what, s);
}

/* Multiplies by a unit, refusing overflow. */
static int scale(struct rx *rx, const xmlNode *n, uint64_t v, uint64_t mul,
                 uint64_t *ret)
{
    if (mul != 0 && v > UINT64_MAX / mul)
        return res_fail(rx->err, rx->errlen, rx->src, line_of(n),
                        (const char *)n->name, "value %llu is too large",
                        (unsigned long long)v);
    *ret = v * mul;
    return 0;
}

/* <cpu mode="cluster|host|model" model="NAME"/>: mode defaults to
 * "model" when a model is named; model="host" alone is the meaning
 * definitions had before modes existed (QEMU's default, no check). */
static int get_cpu(struct rx *rx, const xmlNode *n, struct res_vm *vm)
{
    char *mode cmn_autofree = attr(n, "mode");
    char *model cmn_autofree = attr(n, "model");
    enum res_cpu_mode m = RES_CPU_MODEL;

    if (mode != NULL && res_cpu_mode_parse(mode, &m) < 0)
        return res_fail(rx->err, rx->errlen, rx->src, line_of(n), "cpu",
                        "mode '%.40s' is not cluster, host or model", mode);
    if (m != RES_CPU_MODEL && model != NULL)
        return res_fail(rx->err, rx->errlen, rx->src, line_of(n), "cpu",
                        "mode '%s' takes no model (%s); leave out model=", mode,
                        m == RES_CPU_CLUSTER
                            ? "the cluster baseline is fixed when it starts"
                            : "it runs the host's own CPU");
    if (m == RES_CPU_MODEL && (model == NULL || model[0] == '\0'))
        return res_fail(rx->err, rx->errlen, rx->src, line_of(n), "cpu",
                        "needs mode=\"cluster\", mode=\"host\" or a "
                        "model=\"NAME\"");
    vm->cpu_mode = m;
    vm->cpu_model[0] = '\0';
    if (m != RES_CPU_MODEL)
        return 0;
    if (mode == NULL && strcmp(model, "host") == 0)
        vm->cpu_mode = RES_CPU_ANY;
    else if (strcmp(model, "host") == 0)
        return res_fail(rx->err, rx->errlen, rx->src, line_of(n), "cpu",
                        "mode 'model' needs a named QEMU model; for the "
                        "host's CPU write mode=\"host\"");
    return copy_str(rx, n, "model", model, vm->cpu_model,
                    sizeof(vm->cpu_model));
}

static int get_memory(struct rx *rx, const xmlNode *n, struct res_vm *vm)
{
    char *text cmn_autofree = el_text(n);
    char *unit cmn_autofree = attr(n, "unit");
    uint64_t v;
    int rc;

    if (text == NULL)
        return -ENOMEM;
    rc = parse_u64(rx, n, "memory", text, &v);
    if (rc < 0)
        return rc;
    if (unit == NULL || strcmp(unit, "MiB") == 0)
        vm->memory_mib = v;
    else if (strcmp(unit, "GiB") == 0)
        return scale(rx, n, v, 1024, &vm->memory_mib);
    else if (strcmp(unit, "KiB") == 0) {
        if (v % 1024 != 0)
            return res_fail(rx->err, rx->errlen, rx->src, line_of(n), "memory",
                            "%llu KiB is not a whole number of MiB",
                            (unsigned long long)v);
        vm->memory_mib = v / 1024;
    } else
        return res_fail(rx->err, rx->errlen, rx->src, line_of(n), "memory",
                        "unknown unit '%s' (KiB, MiB or GiB)", unit);
    return 0;
}

static int get_disk(struct rx *rx, const xmlNode *n, struct res_vm *vm)
{
    struct res_disk *d;
    char *target cmn_autofree = attr(n, "target");
    char *bus cmn_autofree = attr(n, "bus");
    char *cache cmn_autofree = attr(n, "cache");
    char *slot cmn_autofree = attr(n, "slot");
    const xmlNode *src = NULL;
    int rc;

    if (vm->n_disks >= RES_VM_MAX_DISKS)
        return res_fail(rx->err, rx->errlen, rx->src, line_of(n), "disk",
                        "more than %d disks", RES_VM_MAX_DISKS);
    d = &vm->disks[vm->n_disks];
    memset(d, 0, sizeof(*d));
    d->line = line_of(n);
    rc = copy_str(rx, n, "target", target ? target : "", d->target,
                  sizeof(d->target));
    if (rc < 0)
        return rc;
    if (bus == NULL || strcmp(bus, "virtio-blk") == 0)
        d->bus = RES_BUS_VIRTIO_BLK;
    else if (strcmp(bus, "virtio-scsi") == 0)
        d->bus = RES_BUS_VIRTIO_SCSI;
    else
        return res_fail(rx->err, rx->errlen, rx->src, d->line, "disk",
                        "unknown bus '%s' (virtio-blk or virtio-scsi)", bus);
    if (cache != NULL && strcmp(cache, "none") != 0)
        return res_fail(rx->err, rx->errlen, rx->src, d->line, "disk",
                        "cache '%s' is not supported: shared disks use "
                        "cache='none'",
                        cache);
    if (slot != NULL) {
        uint64_t v;

        rc = parse_u64(rx, n, "slot", slot, &v);
        if (rc < 0)
            return rc;
        if (v < RES_DISK_SLOT_MIN || v > RES_DISK_SLOT_MAX)
            return res_fail(rx->err, rx->errlen, rx->src, d->line, "disk",
                            "slot %s is not a hot-plug slot (%d to %d)", slot,
                            RES_DISK_SLOT_MIN, RES_DISK_SLOT_MAX);
        d->slot = (unsigned)v;
    }
    for (const xmlNode *c = n->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE) {
            src = c;
            break;
        }
    if (src != NULL && is_el(src, "extent")) {
        char *vol cmn_autofree = attr(src, "volume");
        char *id cmn_autofree = attr(src, "id");

        d->source = RES_DISK_EXTENT;
        rc = copy_str(rx, src, "volume", vol ? vol : "", d->volume,
                      sizeof(d->volume));
        if (rc == 0)
            rc = parse_u64(rx, src, "id", id ? id : "", &d->extent);
    } else if (src != NULL && is_el(src, "allocate")) {
        char *vol cmn_autofree = attr(src, "volume");
        char *size cmn_autofree = attr(src, "size");
        char *unit cmn_autofree = attr(src, "unit");
        uint64_t v, mul = 1ull << 20;

        d->source = RES_DISK_ALLOCATE;
        rc = copy_str(rx, src, "volume", vol ? vol : "", d->volume,
                      sizeof(d->volume));
        if (rc == 0)
            rc = parse_u64(rx, src, "size", size ? size : "", &v);
        if (rc < 0)
            return rc;
        if (unit != NULL && strcmp(unit, "GiB") == 0)
            mul = 1ull << 30;
        else if (unit != NULL && strcmp(unit, "TiB") == 0)
            mul = 1ull << 40;
        else if (unit != NULL && strcmp(unit, "MiB") != 0)
            return res_fail(rx->err, rx->errlen, rx->src, line_of(src),
                            "allocate", "unknown unit '%s' (MiB, GiB or TiB)",
                            unit);
        rc = scale(rx, src, v, mul, &d->size);
    } else
        return res_fail(rx->err, rx->errlen, rx->src, d->line, "disk",
                        "needs an <extent> or an <allocate> element");
    if (rc < 0)
        return rc;
    vm->n_disks++;
    return 0;
}

static int get_nic(struct rx *rx, const xmlNode *n, struct res_vm *vm,
                   bool *ret_has_mac)
{
    struct res_nic *nic;
    char *bridge cmn_autofree = attr(n, "bridge");
    char *mac cmn_autofree = attr(n, "mac");
    char *model cmn_autofree = attr(n, "model");
    char *mtu cmn_autofree = attr(n, "mtu");
    int rc;

    if (vm->n_nics >= RES_VM_MAX_NICS)
        return res_fail(rx->err, rx->errlen, rx->src, line_of(n), "nic",
                        "more than %d NICs", RES_VM_MAX_NICS);
    nic = &vm->nics[vm->n_nics];
    memset(nic, 0, sizeof(*nic));
    nic->line = line_of(n);
    rc = copy_str(rx, n, "bridge", bridge ? bridge : "", nic->bridge,
                  sizeof(nic->bridge));
    if (rc < 0)
        return rc;
    *ret_has_mac = mac != NULL;
    if (mac != NULL && res_mac_parse(mac, nic->mac) < 0)
        return res_fail(rx->err, rx->errlen, rx->src, nic->line, "nic",
                        "'%s' is not a MAC address (expected "
                        "xx:xx:xx:xx:xx:xx)",
                        mac);
    /* The schema allows only these values and an unsignedShort MTU. */
    if (model && strcmp(model, "e1000") == 0)
        nic->model = RES_NIC_E1000;
    if (mtu)
        nic->mtu = (unsigned)strtoul(mtu, NULL, 10);
    vm->n_nics++;
    return 0;
}

static int dup_text(const xmlNode *n, char **dst)
{
    char *s = el_text(n);

    if (s == NULL)
        return -ENOMEM;
    free(*dst);
    *dst = s;
    return 0;
}

static int get_boot(struct rx *rx, const xmlNode *n, struct res_vm *vm)
{
    char *dev cmn_autofree = attr(n, "dev");
    int rc = 0;

    vm->lines.boot = line_of(n);
    if (dev == NULL || strcmp(dev, "disk") == 0) {
        vm->boot = RES_BOOT_DISK;
        return 0;
    }
    if (strcmp(dev, "kernel") != 0)
        return res_fail(rx->err, rx->errlen, rx->src, line_of(n), "boot",
                        "unknown dev '%s' (disk or kernel)", dev);
    vm->boot = RES_BOOT_KERNEL;
    for (const xmlNode *c = n->children; c && rc == 0; c = c->next) {
        if (is_el(c, "kernel"))
            rc = dup_text(c, &vm->kernel);
        else if (is_el(c, "initrd"))
            rc = dup_text(c, &vm->initrd);
        else if (is_el(c, "cmdline")) {
            /* the command line is taken verbatim, spaces included */
            xmlChar *raw = xmlNodeGetContent(c);

            free(vm->cmdline);
            vm->cmdline = strdup(raw ? (const char *)raw : "");
            xmlFree(raw);
            if (vm->cmdline == NULL)
                rc = -ENOMEM;
        }
    }
    return rc;
}

static int get_owners(struct rx *rx, const xmlNode *n,
                      char (*list)[RES_NAME_MAX], size_t *ret_n)
{
    size_t count = 0;

    for (const xmlNode *c = n->children; c; c = c->next) {
        char *name cmn_autofree = NULL;
        int rc;

        if (!is_el(c, "node"))
            continue;
        if (count >= RES_VM_MAX_OWNERS)
            return res_fail(rx->err, rx->errlen, rx->src, line_of(c),
                            (const char *)n->name, "more than %d nodes listed",
                            RES_VM_MAX_OWNERS);
        name = el_text(c);
        if (name == NULL)
            return -ENOMEM;
        rc = copy_str(rx, c, "node name", name, list[count], RES_NAME_MAX);
        if (rc < 0)
            return rc;
        count++;
    }
    *ret_n = count;
    return 0;
}

static int parse_hhmm(const char *s, unsigned *ret)
{
    if (s == NULL || strlen(s) != 5 || s[2] != ':' || s[0] < '0' ||
        s[0] > '9' || s[1] < '0' || s[1] > '9' || s[3] < '0' || s[3] > '9' ||
        s[4] < '0' || s[4] > '9')
        return -EINVAL;
    *ret = (unsigned)((s[0] - '0') * 600 + (s[1] - '0') * 60 +
                      (s[3] - '0') * 10 + (s[4] - '0'));
    return 0;
}

static int get_policy(struct rx *rx, const xmlNode *n, struct res_vm *vm)
{
    struct res_policy *p = &vm->policy;
    int rc = 0;

    vm->lines.policy = line_of(n);
    for (const xmlNode *c = n->children; c && rc == 0; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (is_el(c, "priority")) {
            char *s cmn_autofree = el_text(c);

            if (s == NULL)
                return -ENOMEM;
            if (res_priority_parse(s, &p->priority) < 0)
                rc = res_fail(rx->err, rx->errlen, rx->src, line_of(c),
                              "priority",
                              "unknown priority '%s' (high, medium, low or "
                              "manual)",
                              s);
        } else if (is_el(c, "preferred-owners")) {
            vm->lines.preferred = line_of(c);
            rc = get_owners(rx, c, p->preferred, &p->n_preferred);
        } else if (is_el(c, "possible-owners")) {
            vm->lines.possible = line_of(c);
            rc = get_owners(rx, c, p->possible, &p->n_possible);
        } else if (is_el(c, "anti-affinity")) {
            char *cls cmn_autofree = attr(c, "class");

            vm->lines.anti_affinity = line_of(c);
            rc = copy_str(rx, c, "class", cls ? cls : "", p->anti_affinity,
                          sizeof(p->anti_affinity));
        } else if (is_el(c, "failures")) {
            char *max cmn_autofree = attr(c, "max");
            char *period cmn_autofree = attr(c, "period");
            uint64_t m, s;

            vm->lines.failures = line_of(c);
            rc = parse_u64(rx, c, "max", max ? max : "", &m);
            if (rc == 0)
                rc = parse_u64(rx, c, "period", period ? period : "", &s);
            if (rc == 0 && (m > UINT32_MAX || s > UINT32_MAX))
                rc = res_fail(rx->err, rx->errlen, rx->src, line_of(c),
                              "failures", "value out of range");
            if (rc == 0) {
                p->failures_max = (unsigned)m;
                p->failures_period = (unsigned)s;
            }
        } else if (is_el(c, "failback")) {
            char *mode cmn_autofree = attr(c, "mode");
            char *start cmn_autofree = attr(c, "start");
            char *end cmn_autofree = attr(c, "end");

            vm->lines.failback = line_of(c);
            if (mode != NULL && strcmp(mode, "never") == 0)
                p->failback = RES_FAILBACK_NEVER;
            else if (mode != NULL && strcmp(mode, "immediate") == 0)
                p->failback = RES_FAILBACK_IMMEDIATE;
            else if (mode != NULL && strcmp(mode, "window") == 0) {
                p->failback = RES_FAILBACK_WINDOW;
                if (parse_hhmm(start, &p->window_start) < 0 ||
                    parse_hhmm(end, &p->window_end) < 0)
                    rc = res_fail(rx->err, rx->errlen, rx->src, line_of(c),
                                  "failback",
                                  "window needs start and end as HH:MM");
            } else
                rc = res_fail(rx->err, rx->errlen, rx->src, line_of(c),
                              "failback",
                              "unknown mode '%s' (never, immediate or window)",
                              mode ? mode : "");
        } else
            rc = res_fail(rx->err, rx->errlen, rx->src, line_of(c), "policy",
                          "unknown element <%s>", (const char *)c->name);
    }
    return rc;
}

static int extract(struct rx *rx, const xmlNode *root, struct res_vm *vm)
{
    bool has_mac[RES_VM_MAX_NICS] = {false};
    int rc = 0;

    if (!is_el(root, "vm"))
        return res_fail(rx->err, rx->errlen, rx->src, line_of(root), NULL,
                        "the root element is <%s>, expected <vm>",
                        (const char *)root->name);
    vm->lines.vm = line_of(root);
    for (const xmlNode *c = root->children; c && rc == 0; c = c->next) {
        char *s cmn_autofree = NULL;

        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (is_el(c, "name")) {
            vm->lines.name = line_of(c);
            s = el_text(c);
            rc = s ? copy_str(rx, c, "name", s, vm->name, sizeof(vm->name))
                   : -ENOMEM;
        } else if (is_el(c, "uuid")) {
            vm->lines.uuid = line_of(c);
            s = el_text(c);
            if (s == NULL)
                rc = -ENOMEM;
            else if (res_uuid_parse(s, vm->uuid) < 0)
                rc = res_fail(rx->err, rx->errlen, rx->src, line_of(c), "uuid",
                              "'%s' is not a UUID (expected "
                              "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
                              s);
        } else if (is_el(c, "memory")) {
            vm->lines.memory = line_of(c);
            rc = get_memory(rx, c, vm);
        } else if (is_el(c, "vcpus")) {
            uint64_t v = 0;

            vm->lines.vcpus = line_of(c);
            s = el_text(c);
            rc = s ? parse_u64(rx, c, "vcpus", s, &v) : -ENOMEM;
            /* bounds are res_vm_validate()'s; keep the value readable */
            vm->vcpus = v > UINT32_MAX ? UINT32_MAX : (unsigned)v;
        } else if (is_el(c, "cpu")) {
            vm->lines.cpu = line_of(c);
            rc = get_cpu(rx, c, vm);
        } else if (is_el(c, "disk")) {
            rc = get_disk(rx, c, vm);
        } else if (is_el(c, "nic")) {
            bool hm = false;

            rc = get_nic(rx, c, vm, &hm);
            if (rc == 0)
                has_mac[vm->n_nics - 1] = hm;
        } else if (is_el(c, "boot")) {
            rc = get_boot(rx, c, vm);
        } else if (is_el(c, "policy")) {
            rc = get_policy(rx, c, vm);
        } else
            rc = res_fail(rx->err, rx->errlen, rx->src, line_of(c), "vm",
                          "unknown element <%s>", (const char *)c->name);
    }
    if (rc < 0)
        return rc;
    /* Defaults derive from the uuid: read it before generating MACs. */
    for (size_t i = 0; i < vm->n_nics; i++)
        if (!has_mac[i])
            res_vm_default_mac(vm->uuid, (unsigned)i, vm->nics[i].mac);
    return 0;
}

int res_vm_from_node(const xmlNode *node, const char *name,
                     struct res_vm **ret_vm, char *err, size_t errlen)
{
    CMN_AUTO(res_vm) *vm = NULL;
    struct rx rx = {.src = name ? name : "vm", .err = err, .errlen = errlen};
    int rc;

    rc = res_vm_new(&vm);
    if (rc < 0)
        return rc;
    rc = extract(&rx, node, vm);
    if (rc < 0)
        return rc;
    rc = res_vm_validate(vm, rx.src, err, errlen);
    if (rc < 0)
        return rc;
    *ret_vm = CMN_STEAL(vm);
    return 0;
}

static void xml_doc_free(xmlDoc **doc)
{
    if (*doc)
        xmlFreeDoc(*doc);
}

/* vm.rng, compiled on the first parse and kept for the process: a
 * parse must not read the disk each time (the coordinator parses on every
 * decision). The lock also covers validation, so threads never share the
 * compiled schema at once. */
static pthread_mutex_t vm_schema_mu = PTHREAD_MUTEX_INITIALIZER;
static struct cmn_xml_schema *vm_schema;

static int validate_vm(xmlDoc *doc, char *err, size_t errlen)
{
    int rc = 0;

    pthread_mutex_lock(&vm_schema_mu);
    if (!vm_schema)
        rc = cmn_xml_schema_load(cmn_xml_schema_path("vm.rng"), &vm_schema, err,
                                 errlen);
    if (rc == 0)
        rc = cmn_xml_validate(vm_schema, doc, err, errlen);
    pthread_mutex_unlock(&vm_schema_mu);
    return rc;
}

int res_vm_parse(const char *buf, size_t len, const char *name,
                 struct res_vm **ret_vm, char *err, size_t errlen)
{
    __attribute__((cleanup(xml_doc_free))) xmlDoc *doc = NULL;
    int rc;

    res_err_init();
    if (name == NULL)
        name = "vm";
    rc = cmn_xml_parse_mem(buf, len, name, RES_VM_XML_MAX, &doc, err, errlen);
    if (rc < 0)
        return rc;
    rc = validate_vm(doc, err, errlen);
    if (rc < 0)
        return rc;
    return res_vm_from_node(xmlDocGetRootElement(doc), name, ret_vm, err,
                            errlen);
}

/* ---- serialization ------------------------------------------------- */

/* Each helper returns NULL on ENOMEM; the caller checks once at the end
 * through `ok`, so the builder reads top to bottom. */
struct wx {
    xmlDoc *doc;
    bool ok;
};

static xmlNode *add_el(struct wx *w, xmlNode *parent, const char *name,
                       const char *text)
{
    xmlNode *n;

    if (!w->ok)
        return NULL;
    if (parent == NULL) /* the root: never has text */
        n = xmlNewDocNode(w->doc, NULL, (const xmlChar *)name, NULL);
    else
        n = xmlNewTextChild(parent, NULL, (const xmlChar *)name,
                            (const xmlChar *)text);
    if (n == NULL)
        w->ok = false;
    return n;
}

static void add_attr(struct wx *w, xmlNode *n, const char *name,
                     const char *value)
{
    if (!w->ok)
        return;
    if (xmlNewProp(n, (const xmlChar *)name, (const xmlChar *)value) == NULL)
        w->ok = false;
}

static void add_owners(struct wx *w, xmlNode *policy, const char *name,
                       const char (*list)[RES_NAME_MAX], size_t n)
{
    xmlNode *el;

    if (n == 0)
        return;
    el = add_el(w, policy, name, NULL);
    for (size_t i = 0; i < n && w->ok; i++)
        add_el(w, el, "node", list[i]);
}

static void add_disk(struct wx *w, xmlNode *root, const struct res_disk *d)
{
    xmlNode *el = add_el(w, root, "disk", NULL);
    xmlNode *src;
    char num[32];

    add_attr(w, el, "target", d->target);
    add_attr(w, el, "bus", res_disk_bus_str(d->bus));
    add_attr(w, el, "cache", "none");
    if (d->slot) {
        snprintf(num, sizeof(num), "%u", d->slot);
        add_attr(w, el, "slot", num);
    }
    if (d->source == RES_DISK_EXTENT) {
        src = add_el(w, el, "extent", NULL);
        add_attr(w, src, "volume", d->volume);
        snprintf(num, sizeof(num), "%llu", (unsigned long long)d->extent);
        add_attr(w, src, "id", num);
        return;
    }
    src = add_el(w, el, "allocate", NULL);
    if (d->volume[0] != '\0')
        add_attr(w, src, "volume", d->volume);
    /* the largest unit that keeps the size exact */
    if (d->size % (1ull << 40) == 0) {
        snprintf(num, sizeof(num), "%llu", (unsigned long long)(d->size >> 40));
        add_attr(w, src, "size", num);
        add_attr(w, src, "unit", "TiB");
    } else if (d->size % (1ull << 30) == 0) {
        snprintf(num, sizeof(num), "%llu", (unsigned long long)(d->size >> 30));
        add_attr(w, src, "size", num);
        add_attr(w, src, "unit", "GiB");
    } else {
        snprintf(num, sizeof(num), "%llu", (unsigned long long)(d->size >> 20));
        add_attr(w, src, "size", num);
        add_attr(w, src, "unit", "MiB");
    }
}

static void add_policy(struct wx *w, xmlNode *root, const struct res_policy *p)
{
    xmlNode *el = add_el(w, root, "policy", NULL);
    xmlNode *c;
    char num[32];

    add_el(w, el, "priority", res_priority_str(p->priority));
    add_owners(w, el, "preferred-owners", p->preferred, p->n_preferred);
    add_owners(w, el, "possible-owners", p->possible, p->n_possible);
    if (p->anti_affinity[0] != '\0') {
        c = add_el(w, el, "anti-affinity", NULL);
        add_attr(w, c, "class", p->anti_affinity);
    }
    c = add_el(w, el, "failures", NULL);
    snprintf(num, sizeof(num), "%u", p->failures_max);
    add_attr(w, c, "max", num);
    snprintf(num, sizeof(num), "%u", p->failures_period);
    add_attr(w, c, "period", num);
    c = add_el(w, el, "failback", NULL);
    add_attr(w, c, "mode", res_failback_str(p->failback));
    if (p->failback == RES_FAILBACK_WINDOW) {
        snprintf(num, sizeof(num), "%02u:%02u", p->window_start / 60 % 24,
                 p->window_start % 60);
        add_attr(w, c, "start", num);
        snprintf(num, sizeof(num), "%02u:%02u", p->window_end / 60 % 24,
                 p->window_end % 60);
        add_attr(w, c, "end", num);
    }
}

int res_vm_to_node(const struct res_vm *vm, xmlDoc *doc, xmlNode **ret_node)
{
    struct wx w = {.doc = doc, .ok = true};
    xmlNode *root, *el;
    char buf[64];

    root = add_el(&w, NULL, "vm", NULL);
    add_el(&w, root, "name", vm->name);
    res_uuid_format(vm->uuid, buf);
    add_el(&w, root, "uuid", buf);
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)vm->memory_mib);
    el = add_el(&w, root, "memory", buf);
    add_attr(&w, el, "unit", "MiB");
    snprintf(buf, sizeof(buf), "%u", vm->vcpus);
    add_el(&w, root, "vcpus", buf);
    el = add_el(&w, root, "cpu", NULL);
    /* ANY is written as it always was, <cpu model="host"/>: definitions
     * stored before CPU modes existed keep their meaning and text. */
    if (vm->cpu_mode == RES_CPU_CLUSTER || vm->cpu_mode == RES_CPU_HOST)
        add_attr(&w, el, "mode",
                 vm->cpu_mode == RES_CPU_HOST ? "host" : "cluster");
    else
        add_attr(&w, el, "model", vm->cpu_model);
    for (size_t i = 0; i < vm->n_disks; i++)
        add_disk(&w, root, &vm->disks[i]);
    for (size_t i = 0; i < vm->n_nics; i++) {
        el = add_el(&w, root, "nic", NULL);
        add_attr(&w, el, "bridge", vm->nics[i].bridge);
        res_mac_format(vm->nics[i].mac, buf);
        add_attr(&w, el, "mac", buf);
        /* Defaults left out: definitions without them keep the stored
         * form they had. */
        if (vm->nics[i].model != RES_NIC_VIRTIO)
            add_attr(&w, el, "model", res_nic_model_str(vm->nics[i].model));
        if (vm->nics[i].mtu) {
            snprintf(buf, sizeof(buf), "%u", vm->nics[i].mtu);
            add_attr(&w, el, "mtu", buf);
        }
    }
    el = add_el(&w, root, "boot", NULL);
    if (vm->boot == RES_BOOT_DISK) {
        add_attr(&w, el, "dev", "disk");
    } else {
        add_attr(&w, el, "dev", "kernel");
        add_el(&w, el, "kernel", vm->kernel ? vm->kernel : "");
        if (vm->initrd)
            add_el(&w, el, "initrd", vm->initrd);
        if (vm->cmdline)
            add_el(&w, el, "cmdline", vm->cmdline);
    }
    add_policy(&w, root, &vm->policy);
    if (!w.ok) {
        if (root)
            xmlFreeNode(root);
        return -ENOMEM;
    }
    *ret_node = root;
    return 0;
}

int res_vm_serialize(const struct res_vm *vm, char **ret_xml)
{
    __attribute__((cleanup(xml_doc_free))) xmlDoc *doc = NULL;
    xmlNode *root;
    xmlChar *mem = NULL;
    int len = 0, rc;
    char *out;

    doc = xmlNewDoc((const xmlChar *)"1.0");
    if (doc == NULL)
        return -ENOMEM;
    rc = res_vm_to_node(vm, doc, &root);
    if (rc < 0)
        return rc;
    xmlDocSetRootElement(doc, root);
    xmlDocDumpFormatMemoryEnc(doc, &mem, &len, "UTF-8", 1);
    if (mem == NULL)
        return -ENOMEM;
    out = strndup((const char *)mem, (size_t)len);
    xmlFree(mem);
    if (out == NULL)
        return -ENOMEM;
    *ret_xml = out;
    return 0;
}
