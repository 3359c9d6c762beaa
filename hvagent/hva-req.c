/* hvagent's API requests: from the XML text a client sent to a checked
 * struct hva_request, and the status reply. No I/O beyond the path checks
 * of a definition (hva-check.c): hvagent.c carries the request out, a unit
 * test can drive everything here.
 *
 * Every value a request carries is checked here, before anything runs:
 * numbers within bounds, a definition held to clusterd's rules and the
 * node's allowed directories. A refused request changes nothing.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <libxml/entities.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cmn-auto.h"
#include "common/cmn-err.h"
#include "common/cmn-xml.h"
#include "hvagent/hva-int.h"
#include "resources/res-vm.h"

#define HVA_REQUEST_MAX  (1u << 20) /* bytes of a request document */
#define HVA_STOP_MAX_MS  86400000u  /* stop/kill timeout-ms */
#define HVA_ARM_MAX_S    86400u     /* migrate-in timeout-s */
#define HVA_STALL_MAX_MS 3600000u   /* migrate-out stall-ms */
#define HVA_STOP_DEFAULT 30000u

static const char *const op_names[HVA_OP_COUNT] = {
    [HVA_OP_SUBSCRIBE] = "subscribe",
    [HVA_OP_DEFINE] = "define",
    [HVA_OP_STATUS] = "status",
    [HVA_OP_START] = "start",
    [HVA_OP_STOP] = "stop",
    [HVA_OP_KILL] = "kill",
    [HVA_OP_UNDEFINE] = "undefine",
    [HVA_OP_MIGRATE_OUT] = "migrate-out",
    [HVA_OP_MIGRATE_IN] = "migrate-in",
    [HVA_OP_DISARM] = "disarm",
    [HVA_OP_SAVE] = "save",
    [HVA_OP_RESTORE] = "restore",
    [HVA_OP_CPU] = "cpu",
    [HVA_OP_ACCEL] = "accel",
    [HVA_OP_DISK_ADD] = "disk-add",
    [HVA_OP_DISK_REMOVE] = "disk-remove",
    [HVA_OP_MIRROR] = "mirror",
};

static const char *const vm_state_names[HVA_VM_STATE_COUNT] = {
    [HVA_VM_DEFINED] = "defined",   [HVA_VM_STARTING] = "starting",
    [HVA_VM_RUNNING] = "running",   [HVA_VM_PAUSED] = "paused",
    [HVA_VM_STOPPING] = "stopping", [HVA_VM_MIGRATING] = "migrating",
    [HVA_VM_INCOMING] = "incoming", [HVA_VM_SAVING] = "saving",
};

const char *hva_vm_state_name(enum hva_vm_state s)
{
    return (unsigned)s < HVA_VM_STATE_COUNT ? vm_state_names[s] : "?";
}

const char *hva_op_name(enum hva_op op)
{
    return (unsigned)op < HVA_OP_COUNT ? op_names[op] : "?";
}

void hva_request_clear(struct hva_request *r)
{
    free(r->vm);
    free(r->to);
    hva_vm_def_free(r->def);
    free(r->disk.path);
    for (size_t i = 0; i < r->n_mirror_disks; i++)
        free(r->mirror_disks[i].path);
    free(r->mirror_disks);
    free(r->mirror_lease.lockspace);
    free(r->mirror_lease.resource);
    free(r->mirror_lease.path);
    memset(r, 0, sizeof(*r));
}

static char *attr(xmlNode *n, const char *name)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
    char *s = v ? strdup((const char *)v) : NULL;

    xmlFree(v);
    return s;
}

/* An optional unsigned attribute within [0, max]; `v` keeps its value
 * when the attribute is absent. */
static int u_attr(xmlNode *n, const char *name, uint64_t max, uint64_t *v)
{
    char *s cmn_autofree = attr(n, name);
    uint64_t x;

    if (!s)
        return 0;
    if (hva_parse_u64(s, &x) < 0 || x > max)
        return -EINVAL;
    *v = x;
    return 0;
}

static int u_attr32(xmlNode *n, const char *name, unsigned max, unsigned *v)
{
    uint64_t x = *v;
    int rc = u_attr(n, name, max, &x);

    if (rc == 0)
        *v = (unsigned)x;
    return rc;
}

/* migrate-out's settings over the agent's defaults. */
static int parse_mig_settings(const struct hva_agent *ag, xmlNode *r,
                              struct hva_mig_settings *s)
{
    uint64_t bw = 0;
    char *conv cmn_autofree = attr(r, "converge");

    *s = ag->mig_defaults;
    if (u_attr32(r, "downtime-ms", UINT32_MAX, &s->downtime_ms) < 0 ||
        u_attr32(r, "max-passes", UINT32_MAX, &s->max_passes) < 0 ||
        u_attr(r, "bandwidth-mibs", UINT32_MAX, &bw) < 0 ||
        u_attr32(r, "timeout-s", UINT32_MAX, &s->timeout_s) < 0 ||
        u_attr32(r, "stall-ms", HVA_STALL_MAX_MS, &s->stall_ms) < 0 ||
        u_attr32(r, "handoff-reserve-ms", UINT32_MAX, &s->handoff_reserve_ms) <
            0 ||
        u_attr32(r, "downtime-max-ms", UINT32_MAX, &s->downtime_max_ms) < 0)
        return -EINVAL;
    s->max_bandwidth = bw << 20;
    if (conv && hva_converge_parse(conv, &s->converge) < 0)
        return -EINVAL;
    return 0;
}

/* define: the first element inside <request>, parsed and checked. */
static int parse_define(const struct hva_agent *ag, xmlDoc *doc, xmlNode *r,
                        struct hva_request *req, char *err, size_t errlen)
{
    xmlNode *v = r->children;
    xmlBufferPtr b;
    int rc;

    while (v && v->type != XML_ELEMENT_NODE)
        v = v->next;
    b = xmlBufferCreate();
    if (!v || !b || xmlNodeDump(b, doc, v, 0, 0) < 0) {
        xmlBufferFree(b);
        snprintf(err, errlen, "define: no <vm> element");
        return -HVA_E_BAD_REQUEST;
    }
    rc = hva_vm_def_from_xml((const char *)xmlBufferContent(b), &req->def, err,
                             errlen);
    xmlBufferFree(b);
    if (rc == 0)
        rc = hva_vm_def_check(req->def, &ag->dirs, err, errlen);
    if (rc == 0)
        rc = hva_local_check(req->def, ag->node_name, err, errlen);
    return rc;
}

/* disk-add: the disk as attributes (path offset size cache slot bus);
 * disk-remove: its slot. The slot's range and the path are checked
 * against the VM when the request runs (hva_disk_add_check). */
static int parse_disk(xmlNode *r, struct hva_request *req, char *err,
                      size_t errlen)
{
    const char *op = hva_op_name(req->op);
    char *cache cmn_autofree = attr(r, "cache");
    char *bus cmn_autofree = attr(r, "bus");
    uint64_t slot = 0;

    if (u_attr(r, "slot", HVA_DISK_SLOT_MAX, &slot) < 0 || slot == 0) {
        snprintf(err, errlen, "%s: needs slot=\"N\", %u to %u", op,
                 HVA_DISK_SLOT_MIN, HVA_DISK_SLOT_MAX);
        return -HVA_E_BAD_REQUEST;
    }
    req->disk.slot = (unsigned)slot;
    if (req->op == HVA_OP_DISK_REMOVE)
        return 0;
    req->disk.path = attr(r, "path");
    if (!req->disk.path || !req->disk.path[0] ||
        u_attr(r, "offset", UINT64_MAX, &req->disk.offset) < 0 ||
        u_attr(r, "size", UINT64_MAX, &req->disk.size) < 0 ||
        req->disk.size == 0 ||
        (cache && strcmp(cache, "none") && strcmp(cache, "writeback"))) {
        snprintf(err, errlen,
                 "disk-add: needs path=\"FILE\", offset=\"BYTES\", "
                 "size=\"BYTES\" (not 0), cache=\"none|writeback\"");
        return -HVA_E_BAD_REQUEST;
    }
    req->disk.direct = !cache || strcmp(cache, "none") == 0;
    if (bus && strcmp(bus, "virtio-blk") && strcmp(bus, "virtio-scsi")) {
        snprintf(err, errlen,
                 "disk-add: bus '%.32s' is not virtio-blk or virtio-scsi", bus);
        return -HVA_E_BAD_REQUEST;
    }
    req->disk.scsi = bus && !strcmp(bus, "virtio-scsi");
    return 0;
}

/* mirror: action="status|start|complete|cancel|finish"; start also
 * copy-mode="background|write-blocking", speed="BYTES/s" and a <disk path
 * offset size/>
 * per disk of the VM plus the target's <lease lockspace resource path
 * offset/>. The paths are checked against the VM when it runs. */
static int parse_mirror(xmlNode *r, struct hva_request *req, char *err,
                        size_t errlen)
{
    static const char *const actions[] = {"status", "start", "complete",
                                          "cancel", "finish"};
    char *action cmn_autofree = attr(r, "action");
    char *mode cmn_autofree = attr(r, "copy-mode");
    size_t k;

    for (k = 0; action && k < CMN_ARRAY_SIZE(actions); k++)
        if (!strcmp(action, actions[k]))
            break;
    if (!action || k == CMN_ARRAY_SIZE(actions)) {
        snprintf(err, errlen,
                 "mirror: needs action=\"status|start|complete|cancel|"
                 "finish\"");
        return -HVA_E_BAD_REQUEST;
    }
    req->mirror_action = (enum hva_mirror_action)k;
    if (req->mirror_action != HVA_MIRROR_START)
        return 0;
    if (mode && strcmp(mode, "background") && strcmp(mode, "write-blocking")) {
        snprintf(err, errlen,
                 "mirror: copy-mode '%.32s' is not background or "
                 "write-blocking",
                 mode);
        return -HVA_E_BAD_REQUEST;
    }
    req->mirror_write_blocking = mode && !strcmp(mode, "write-blocking");
    if (u_attr(r, "speed", INT64_MAX, &req->mirror_speed) < 0) {
        snprintf(err, errlen, "mirror: speed must be bytes per second");
        return -HVA_E_BAD_REQUEST;
    }
    for (xmlNode *c = r->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (!strcmp((const char *)c->name, "disk")) {
            struct hva_disk *v, d = {0};
            if (req->n_mirror_disks >= RES_VM_MAX_DISKS) {
                snprintf(err, errlen, "mirror: more than %d disks",
                         RES_VM_MAX_DISKS);
                return -HVA_E_BAD_REQUEST;
            }
            d.path = attr(c, "path");
            if (!d.path || !d.path[0] ||
                u_attr(c, "offset", UINT64_MAX, &d.offset) < 0 ||
                u_attr(c, "size", UINT64_MAX, &d.size) < 0 || d.size == 0) {
                free(d.path);
                snprintf(err, errlen,
                         "mirror: <disk> needs path=\"FILE\", "
                         "offset=\"BYTES\", size=\"BYTES\" (not 0)");
                return -HVA_E_BAD_REQUEST;
            }
            /* index="N": this disk of the definition alone moves. */
            bool indexed = xmlHasProp(c, BAD_CAST "index") != NULL;
            if (req->n_mirror_disks && indexed != req->mirror_indexed) {
                free(d.path);
                snprintf(err, errlen,
                         "mirror: index=\"N\" on every <disk> or on none");
                return -HVA_E_BAD_REQUEST;
            }
            if (indexed) {
                uint64_t ix = 0;
                if (u_attr(c, "index", RES_VM_MAX_DISKS - 1, &ix) < 0) {
                    free(d.path);
                    snprintf(err, errlen,
                             "mirror: <disk index=\"N\"> needs N below %d",
                             RES_VM_MAX_DISKS);
                    return -HVA_E_BAD_REQUEST;
                }
                req->mirror_indexed = true;
                req->mirror_index[req->n_mirror_disks] = (size_t)ix;
            } else {
                req->mirror_index[req->n_mirror_disks] = req->n_mirror_disks;
            }
            v = realloc(req->mirror_disks,
                        (req->n_mirror_disks + 1) * sizeof(*v));
            if (!v) {
                free(d.path);
                return -ENOMEM;
            }
            req->mirror_disks = v;
            v[req->n_mirror_disks++] = d;
        } else if (!strcmp((const char *)c->name, "lease") &&
                   !req->mirror_lease.lockspace) {
            req->mirror_lease.lockspace = attr(c, "lockspace");
            req->mirror_lease.resource = attr(c, "resource");
            req->mirror_lease.path = attr(c, "path");
            if (!req->mirror_lease.lockspace || !req->mirror_lease.resource ||
                !req->mirror_lease.path ||
                u_attr(c, "offset", UINT64_MAX, &req->mirror_lease.offset) <
                    0) {
                snprintf(err, errlen,
                         "mirror: <lease> needs lockspace, resource, path "
                         "and offset");
                return -HVA_E_BAD_REQUEST;
            }
        }
    }
    if (!req->n_mirror_disks) {
        snprintf(err, errlen, "mirror: start needs a <disk> per disk");
        return -HVA_E_BAD_REQUEST;
    }
    return 0;
}

/* The attributes of each operation. */
static int parse_args(const struct hva_agent *ag, xmlDoc *doc, xmlNode *r,
                      struct hva_request *req, char *err, size_t errlen)
{
    uint64_t t;

    switch (req->op) {
    case HVA_OP_DEFINE:
        return parse_define(ag, doc, r, req, err, errlen);
    case HVA_OP_DISK_ADD:
    case HVA_OP_DISK_REMOVE:
        return parse_disk(r, req, err, errlen);
    case HVA_OP_MIRROR:
        return parse_mirror(r, req, err, errlen);
    case HVA_OP_STOP:
    case HVA_OP_KILL:
        req->timeout_ms = HVA_STOP_DEFAULT;
        if (u_attr32(r, "timeout-ms", HVA_STOP_MAX_MS, &req->timeout_ms) < 0) {
            snprintf(err, errlen, "%s: timeout-ms must be 0..%u ms",
                     hva_op_name(req->op), HVA_STOP_MAX_MS);
            return -HVA_E_BAD_REQUEST;
        }
        return 0;
    case HVA_OP_MIGRATE_OUT:
        req->to = attr(r, "to");
        if (!req->to || parse_mig_settings(ag, r, &req->mig) < 0) {
            snprintf(err, errlen,
                     "migrate-out: needs to=\"ADDR:PORT\" and numeric "
                     "settings");
            return -HVA_E_BAD_REQUEST;
        }
        return 0;
    case HVA_OP_MIGRATE_IN:
        t = ag->arm_timeout_s;
        if (u_attr(r, "timeout-s", HVA_ARM_MAX_S, &t) < 0 || t == 0) {
            snprintf(err, errlen, "migrate-in: timeout-s must be 1..%u seconds",
                     HVA_ARM_MAX_S);
            return -HVA_E_BAD_REQUEST;
        }
        req->timeout_s = (unsigned)t;
        return 0;
    default:
        return 0;
    }
}

int hva_request_parse(const struct hva_agent *ag, const char *text,
                      struct hva_request *ret_req, char *err, size_t errlen)
{
    struct hva_request req = {.op = HVA_OP_COUNT};
    xmlDoc *doc = NULL;
    char *op cmn_autofree = NULL;
    int rc;

    rc = cmn_xml_parse_mem(text, strlen(text), "request", HVA_REQUEST_MAX, &doc,
                           err, errlen);
    if (rc < 0)
        goto out;
    xmlNode *r = xmlDocGetRootElement(doc);
    if (!r || strcmp((const char *)r->name, "request") != 0 ||
        !(op = attr(r, "op"))) {
        snprintf(err, errlen, "expected <request op=\"...\">");
        rc = -HVA_E_BAD_REQUEST;
        goto out;
    }
    for (req.op = 0; req.op < HVA_OP_COUNT; req.op++)
        if (strcmp(op, op_names[req.op]) == 0)
            break;
    if (req.op == HVA_OP_COUNT) {
        snprintf(err, errlen, "unknown op '%.64s'", op);
        rc = -HVA_E_BAD_REQUEST;
        goto out;
    }
    req.vm = attr(r, "vm");
    rc = parse_args(ag, doc, r, &req, err, errlen);
out:
    xmlFreeDoc(doc);
    if (rc < 0) {
        enum hva_op seen = req.op;
        hva_request_clear(&req);
        req.op = seen;
    }
    *ret_req = req;
    return rc;
}

/* ---- status ----------------------------------------------------------- */

/* While the guest is paused on an I/O error the event says so
 * (io-error="eio|enospc", the disk's index and QEMU device id).
 * cmn_xml_format escapes every %s: the attributes are in the format. */
char *hva_state_event_text(const struct hva_vm *vm)
{
    const struct hva_vm_ioerr *e = &vm->ioerr;
    const char *cpu = vm->def->cpu_model ? vm->def->cpu_model : "";
    const char *st = hva_vm_state_name(vm->state);
    const char *lease = vm->lease_held ? "yes" : "no";

    if (!hva_vm_ioerr_shown(vm))
        return cmn_xml_format("<event type=\"state\" vm=\"%s\" uuid=\"%s\" "
                              "state=\"%s\" pid=\"%d\" cpu=\"%s\" "
                              "lease=\"%s\"/>",
                              vm->def->name, vm->def->uuid, st, (int)vm->pid,
                              cpu, lease);
    return cmn_xml_format("<event type=\"state\" vm=\"%s\" uuid=\"%s\" "
                          "state=\"%s\" pid=\"%d\" cpu=\"%s\" lease=\"%s\" "
                          "io-error=\"%s\" io-error-disk=\"%d\" "
                          "io-error-device=\"%s\"/>",
                          vm->def->name, vm->def->uuid, st, (int)vm->pid, cpu,
                          lease, e->nospace ? "enospc" : "eio", e->disk,
                          e->device);
}

static int put_vm(FILE *f, const struct hva_vm *vm, uint64_t now_ms)
{
    xmlChar *name = xmlEncodeSpecialChars(NULL, (const xmlChar *)vm->def->name);
    xmlChar *dir = xmlEncodeSpecialChars(NULL, (const xmlChar *)vm->dir);
    int rc = -ENOMEM;

    /* cpu: the -cpu it was defined with (checked: a name), which
     * clusterd keeps as the model a cluster-mode VM was fixed to. */
    if (name && dir &&
        fprintf(f,
                "<vm name=\"%s\" uuid=\"%s\" state=\"%s\" pid=\"%d\" "
                "lease=\"%s\" uptime-ms=\"%" PRIu64 "\" phase=\"%s\" "
                "serial=\"%s/serial.log\"%s%s%s",
                (const char *)name, vm->def->uuid, hva_vm_state_name(vm->state),
                (int)vm->pid, vm->lease_held ? "yes" : "no",
                vm->pid ? now_ms - vm->started_ms : 0,
                hva_mig_phase_name(vm->phase), (const char *)dir,
                vm->def->cpu_model ? " cpu=\"" : "",
                vm->def->cpu_model ? vm->def->cpu_model : "",
                vm->def->cpu_model ? "\"" : "") >= 0 &&
        /* paused after a failed handoff, its lease being recovered */
        (!vm->lease_rec_pid ||
         fprintf(f, " lease-recovery=\"%u\"", vm->lease_rec_n) >= 0))
        rc = 0;
    /* Paused on an I/O error (device: an id hvagent gave, checked). */
    if (rc == 0 && hva_vm_ioerr_shown(vm) &&
        fprintf(f,
                " io-error=\"%s\" io-error-disk=\"%d\" "
                "io-error-device=\"%s\" io-error-ms=\"%" PRIu64 "\" "
                "io-error-retries=\"%u\"",
                vm->ioerr.nospace ? "enospc" : "eio", vm->ioerr.disk,
                vm->ioerr.device, now_ms - vm->ioerr.since_ms,
                vm->ioerr.attempts) < 0)
        rc = -ENOMEM;
    if (rc == 0 && fputs("/>", f) < 0)
        rc = -ENOMEM;
    xmlFree(name);
    xmlFree(dir);
    return rc;
}

int hva_status_reply(const struct hva_agent *ag, const struct hva_vm *only,
                     uint64_t now_ms, char **ret_reply)
{
    xmlChar *node = xmlEncodeSpecialChars(NULL, (const xmlChar *)ag->node_name);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = node ? open_memstream(&buf, &len) : NULL;
    int rc = -ENOMEM;

    if (!f) {
        xmlFree(node);
        return -ENOMEM;
    }
    if (fprintf(f, "<reply rc=\"0\" node=\"%s\">", (const char *)node) >= 0)
        rc = 0;
    for (const struct hva_vm *vm = ag->vms; rc == 0 && vm; vm = vm->next)
        if (!only || vm == only)
            rc = put_vm(f, vm, now_ms);
    if (rc == 0 && fputs("</reply>", f) < 0)
        rc = -ENOMEM;
    if (fclose(f) != 0 && rc == 0)
        rc = -ENOMEM;
    xmlFree(node);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *ret_reply = buf;
    return 0;
}
