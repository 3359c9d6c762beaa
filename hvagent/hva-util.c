/* Small helpers: time, files, numbers, error texts, the VM definition's
 * XML form. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cmn-auto.h"
#include "common/cmn-err.h"
#include "common/cmn-file.h"
#include "common/cmn-xml.h"
#include "hvagent/hva-int.h"

int hva_write_file(const char *path, const char *text)
{
    return cmn_file_write_atomic(path, text, strlen(text), 0600, CMN_FILE_SYNC);
}

int hva_read_file(const char *path, char **ret_text)
{
    FILE *f = fopen(path, "re");
    char *buf = NULL;
    size_t cap = 0, len = 0;
    int rc = 0;

    if (!f)
        return -errno;
    for (;;) {
        if (cap - len < 4096) {
            char *n = realloc(buf, cap + 65536);
            if (!n) {
                rc = -ENOMEM;
                goto out;
            }
            buf = n;
            cap += 65536;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0)
            break;
        if (len > CMN_XML_MAX_DEFAULT) {
            rc = -CMN_E_TOO_BIG;
            goto out;
        }
    }
    buf[len] = '\0';
    *ret_text = CMN_STEAL(buf);
out:
    fclose(f);
    free(buf);
    return rc;
}

int hva_parse_u64(const char *s, uint64_t *ret)
{
    char *end;
    unsigned long long v;

    if (!s || !*s || *s == '-')
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &end, 0);
    if (errno || *end)
        return -EINVAL;
    *ret = v;
    return 0;
}

uint64_t hva_backoff_ms(unsigned doublings, uint64_t first, uint64_t max)
{
    uint64_t ms = first;

    for (unsigned i = 0; i < doublings && ms < max; i++)
        ms *= 2;
    return ms < max ? ms : max;
}

const char *hva_json_str(json_object *o, const char *k)
{
    json_object *v;

    return o && json_object_object_get_ex(o, k, &v) &&
                   json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

/* ---- VM definition ------------------------------------------------------- */

static void disk_clear(struct hva_disk *d)
{
    free(d->path);
    d->path = NULL;
}

void hva_vm_def_free(struct hva_vm_def *def)
{
    if (!def)
        return;
    free(def->name);
    free(def->uuid);
    free(def->cpu_model);
    free(def->kernel);
    free(def->initrd);
    free(def->cmdline);
    for (size_t i = 0; i < def->n_disks; i++)
        disk_clear(&def->disks[i]);
    free(def->disks);
    free(def->lease.lockspace);
    free(def->lease.resource);
    free(def->lease.path);
    disk_clear(&def->state);
    free(def->nics);
    free(def->local.volume);
    free(def->local.node);
    free(def->local.path);
    free(def);
}

static char *xattr(xmlNode *n, const char *name)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
    char *s = v ? strdup((const char *)v) : NULL;

    xmlFree(v);
    return s;
}

static int xattr_u64(xmlNode *n, const char *name, uint64_t dflt, uint64_t *ret,
                     char *err, size_t errlen)
{
    char *v cmn_autofree = xattr(n, name);

    if (!v) {
        *ret = dflt;
        return 0;
    }
    if (hva_parse_u64(v, ret) < 0) {
        snprintf(err, errlen, "<%s %s='%s'>: not a whole number",
                 (const char *)n->name, name, v);
        return -CMN_E_BAD_VALUE;
    }
    return 0;
}

static int parse_extent(xmlNode *n, struct hva_disk *d, char *err,
                        size_t errlen)
{
    int rc;
    char *cache cmn_autofree = xattr(n, "cache");

    /* A repeated element (<state> twice) replaces the earlier one. */
    free(d->path);
    d->path = xattr(n, "path");
    if (!d->path) {
        snprintf(err, errlen, "<%s>: attribute 'path' missing",
                 (const char *)n->name);
        return -CMN_E_MISSING;
    }
    rc = xattr_u64(n, "offset", 0, &d->offset, err, errlen);
    if (rc == 0)
        rc = xattr_u64(n, "size", 0, &d->size, err, errlen);
    d->direct = !cache || strcmp(cache, "none") == 0;
    return rc;
}

/* Appends a <nic>: at most HVA_VM_MAX_NICS, each MAC once. */
static int parse_nic(xmlNode *n, struct hva_vm_def *def, char *err,
                     size_t errlen)
{
    struct hva_nic nic, *v;
    int rc;

    if (def->n_nics >= HVA_VM_MAX_NICS) {
        snprintf(err, errlen, "<vm>: more than %d <nic> elements",
                 HVA_VM_MAX_NICS);
        return -CMN_E_BAD_VALUE;
    }
    rc = hva_nic_from_xml(n, def->n_nics, &nic, err, errlen);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < def->n_nics; i++)
        if (strcasecmp(def->nics[i].mac, nic.mac) == 0) {
            snprintf(err, errlen, "<nic mac='%s'>: two NICs with this MAC",
                     nic.mac);
            return -CMN_E_BAD_VALUE;
        }
    v = realloc(def->nics, (def->n_nics + 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    def->nics = v;
    def->nics[def->n_nics++] = nic;
    return 0;
}

int hva_vm_def_from_xml(const char *xml, struct hva_vm_def **ret_def, char *err,
                        size_t errlen)
{
    xmlDoc *doc = NULL;
    struct hva_vm_def *def = calloc(1, sizeof(*def));
    uint64_t v;
    int rc;

    if (!def)
        return -ENOMEM;
    rc = cmn_xml_parse_mem(xml, strlen(xml), "vm", 1u << 20, &doc, err, errlen);
    if (rc < 0)
        goto out;
    xmlNode *root = xmlDocGetRootElement(doc);
    if (!root || strcmp((const char *)root->name, "vm") != 0) {
        snprintf(err, errlen, "expected a <vm> element");
        rc = -CMN_E_PARSE;
        goto out;
    }
    def->name = xattr(root, "name");
    def->uuid = xattr(root, "uuid");
    if (!def->name || !def->uuid || !*def->name || !*def->uuid) {
        snprintf(err, errlen, "<vm>: 'name' and 'uuid' are required");
        rc = -CMN_E_MISSING;
        goto out;
    }
    if (strlen(def->uuid) > 36 ||
        strspn(def->uuid, "0123456789abcdefABCDEF-") != strlen(def->uuid)) {
        snprintf(err, errlen, "<vm uuid='%s'>: not a UUID", def->uuid);
        rc = -CMN_E_BAD_VALUE;
        goto out;
    }
    /* Bounds are hva_vm_def_check's (the resources/ rules); here only
     * what fits the fields. */
    if ((rc = xattr_u64(root, "memory-mib", 256, &v, err, errlen)) < 0)
        goto out;
    def->memory_mib = (unsigned)v;
    if (v > UINT_MAX) {
        snprintf(err, errlen, "<vm memory-mib='%" PRIu64 "'>: out of range", v);
        rc = -CMN_E_BAD_VALUE;
        goto out;
    }
    if ((rc = xattr_u64(root, "vcpus", 1, &v, err, errlen)) < 0)
        goto out;
    def->vcpus = (unsigned)v;
    if (v > UINT_MAX) {
        snprintf(err, errlen, "<vm vcpus='%" PRIu64 "'>: out of range", v);
        rc = -CMN_E_BAD_VALUE;
        goto out;
    }
    def->cpu_model = xattr(root, "cpu");
    for (xmlNode *n = root->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        const char *en = (const char *)n->name;
        if (strcmp(en, "kernel") == 0) {
            /* As for every element here, the last one counts. */
            free(def->kernel);
            free(def->cmdline);
            def->kernel = xattr(n, "path");
            def->initrd = xattr(n, "initrd");
            def->cmdline = xattr(n, "cmdline");
        } else if (strcmp(en, "disk") == 0) {
            struct hva_disk *d =
                realloc(def->disks, (def->n_disks + 1) * sizeof(*d));
            if (!d) {
                rc = -ENOMEM;
                goto out;
            }
            def->disks = d;
            memset(&d[def->n_disks], 0, sizeof(*d));
            rc = parse_extent(n, &d[def->n_disks++], err, errlen);
            if (rc == 0) {
                uint64_t slot = 0;
                rc = xattr_u64(n, "slot", 0, &slot, err, errlen);
                if (rc == 0 && slot > HVA_DISK_SLOT_MAX) {
                    snprintf(err, errlen,
                             "<disk slot='%" PRIu64 "'>: not a hot-plug slot "
                             "(%u to %u)",
                             slot, HVA_DISK_SLOT_MIN, HVA_DISK_SLOT_MAX);
                    rc = -CMN_E_BAD_VALUE;
                }
                d[def->n_disks - 1].slot = (unsigned)slot;
            }
            if (rc == 0) {
                char *bus cmn_autofree = xattr(n, "bus");
                if (bus && strcmp(bus, "virtio-blk") &&
                    strcmp(bus, "virtio-scsi")) {
                    snprintf(err, errlen,
                             "<disk bus='%.32s'>: unknown bus (virtio-blk "
                             "or virtio-scsi)",
                             bus);
                    rc = -CMN_E_BAD_VALUE;
                }
                d[def->n_disks - 1].scsi = bus && !strcmp(bus, "virtio-scsi");
            }
            if (rc < 0)
                goto out;
        } else if (strcmp(en, "lease") == 0) {
            free(def->lease.lockspace);
            free(def->lease.resource);
            free(def->lease.path);
            def->lease.lockspace = xattr(n, "lockspace");
            def->lease.resource = xattr(n, "resource");
            def->lease.path = xattr(n, "path");
            rc = xattr_u64(n, "offset", 0, &def->lease.offset, err, errlen);
            if (rc < 0)
                goto out;
            if (!def->lease.lockspace || !def->lease.resource ||
                !def->lease.path) {
                snprintf(err, errlen,
                         "<lease>: lockspace, resource and path required");
                rc = -CMN_E_MISSING;
                goto out;
            }
        } else if (strcmp(en, "state") == 0) {
            rc = parse_extent(n, &def->state, err, errlen);
            if (rc < 0)
                goto out;
        } else if (strcmp(en, "nic") == 0) {
            rc = parse_nic(n, def, err, errlen);
            if (rc < 0)
                goto out;
        } else if (strcmp(en, "local") == 0) {
            free(def->local.volume);
            free(def->local.node);
            free(def->local.path);
            def->local.volume = xattr(n, "volume");
            def->local.node = xattr(n, "node");
            def->local.path = xattr(n, "path");
            if (!def->local.volume || !def->local.node || !def->local.path) {
                snprintf(err, errlen,
                         "<local>: volume, node and path required");
                rc = -CMN_E_MISSING;
                goto out;
            }
        } else {
            snprintf(err, errlen, "<vm>: unknown element <%s>", en);
            rc = -CMN_E_UNKNOWN_KEY;
            goto out;
        }
    }
    *ret_def = CMN_STEAL(def);
out:
    xmlFreeDoc(doc);
    hva_vm_def_free(def);
    return rc;
}

static void xset(xmlNode *n, const char *name, const char *v)
{
    if (v)
        xmlSetProp(n, (const xmlChar *)name, (const xmlChar *)v);
}

static void xset_u64(xmlNode *n, const char *name, uint64_t v)
{
    char buf[32];

    snprintf(buf, sizeof(buf), "%" PRIu64, v);
    xset(n, name, buf);
}

static void put_extent(xmlNode *root, const char *name,
                       const struct hva_disk *d)
{
    xmlNode *n = xmlNewChild(root, NULL, (const xmlChar *)name, NULL);

    xset(n, "path", d->path);
    xset_u64(n, "offset", d->offset);
    xset_u64(n, "size", d->size);
    xset(n, "cache", d->direct ? "none" : "writeback");
}

int hva_vm_def_to_xml(const struct hva_vm_def *def, char **ret_xml)
{
    xmlDoc *doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlNode *root = xmlNewNode(NULL, (const xmlChar *)"vm");
    xmlChar *buf = NULL;
    int len = 0, rc = 0;

    xmlDocSetRootElement(doc, root);
    xset(root, "name", def->name);
    xset(root, "uuid", def->uuid);
    xset_u64(root, "memory-mib", def->memory_mib);
    xset_u64(root, "vcpus", def->vcpus);
    xset(root, "cpu", def->cpu_model);
    if (def->kernel) {
        xmlNode *k = xmlNewChild(root, NULL, (const xmlChar *)"kernel", NULL);
        xset(k, "path", def->kernel);
        xset(k, "initrd", def->initrd);
        xset(k, "cmdline", def->cmdline);
    }
    for (size_t i = 0; i < def->n_disks; i++) {
        put_extent(root, "disk", &def->disks[i]);
        if (def->disks[i].slot)
            xset_u64(root->last, "slot", def->disks[i].slot);
        if (def->disks[i].scsi)
            xset(root->last, "bus", "virtio-scsi");
    }
    if (def->lease.lockspace) {
        xmlNode *l = xmlNewChild(root, NULL, (const xmlChar *)"lease", NULL);
        xset(l, "lockspace", def->lease.lockspace);
        xset(l, "resource", def->lease.resource);
        xset(l, "path", def->lease.path);
        xset_u64(l, "offset", def->lease.offset);
    }
    if (def->state.path)
        put_extent(root, "state", &def->state);
    for (size_t i = 0; i < def->n_nics; i++)
        hva_nic_to_xml(root, &def->nics[i]);
    if (def->local.node) {
        xmlNode *l = xmlNewChild(root, NULL, (const xmlChar *)"local", NULL);
        xset(l, "volume", def->local.volume);
        xset(l, "node", def->local.node);
        xset(l, "path", def->local.path);
    }
    /* One line, no declaration: it travels inside control messages. */
    xmlBufferPtr b = xmlBufferCreate();
    if (!b || xmlNodeDump(b, doc, root, 0, 0) < 0) {
        rc = -ENOMEM;
    } else {
        *ret_xml = strdup((const char *)xmlBufferContent(b));
        if (!*ret_xml)
            rc = -ENOMEM;
    }
    xmlBufferFree(b);
    (void)buf;
    (void)len;
    xmlFreeDoc(doc);
    return rc;
}
