/* The VM definition model: defaults, copies, comparison and the semantic
 * checks the RelaxNG schema can't express. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resources/res-int.h"
#include "resources/res-vm.h"

#define RES_FAILURES_MAX_LIMIT  100
#define RES_FAILURES_PERIOD_MAX (7u * 24 * 3600)

int res_fail(char *err, size_t errlen, const char *src, int line,
             const char *elem, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (err == NULL || errlen == 0)
        return -RES_E_INVALID;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (src == NULL)
        src = "vm";
    if (line > 0)
        snprintf(err, errlen, "%s:%d: %s%s%s%s", src, line, elem ? "<" : "",
                 elem ? elem : "", elem ? ">: " : "", msg);
    else
        snprintf(err, errlen, "%s: %s%s%s%s", src, elem ? "<" : "",
                 elem ? elem : "", elem ? ">: " : "", msg);
    return -RES_E_INVALID;
}

_Static_assert(RES_NAME_MAX == CMN_NAME_MAX, "one name rule, one length");

int res_vm_new(struct res_vm **ret_vm)
{
    struct res_vm *vm;

    res_err_init();
    vm = calloc(1, sizeof(*vm));
    if (vm == NULL)
        return -ENOMEM;
    vm->cpu_mode = RES_CPU_CLUSTER;
    vm->vcpus = 1;
    vm->boot = RES_BOOT_DISK;
    vm->policy.priority = RES_PRIO_MEDIUM;
    vm->policy.failures_max = RES_FAILURES_MAX_DEFAULT;
    vm->policy.failures_period = RES_FAILURES_PERIOD_DEFAULT;
    vm->policy.failback = RES_FAILBACK_NEVER;
    *ret_vm = vm;
    return 0;
}

void res_vm_free(struct res_vm *vm)
{
    if (vm == NULL)
        return;
    free(vm->kernel);
    free(vm->initrd);
    free(vm->cmdline);
    free(vm);
}

static int dup_opt(const char *s, char **ret)
{
    *ret = NULL;
    if (s == NULL)
        return 0;
    *ret = strdup(s);
    return *ret ? 0 : -ENOMEM;
}

int res_vm_dup(const struct res_vm *vm, struct res_vm **ret_vm)
{
    struct res_vm *copy;
    int rc;

    copy = malloc(sizeof(*copy));
    if (copy == NULL)
        return -ENOMEM;
    *copy = *vm;
    copy->kernel = copy->initrd = copy->cmdline = NULL;
    rc = dup_opt(vm->kernel, &copy->kernel);
    if (rc == 0)
        rc = dup_opt(vm->initrd, &copy->initrd);
    if (rc == 0)
        rc = dup_opt(vm->cmdline, &copy->cmdline);
    if (rc < 0) {
        res_vm_free(copy);
        return rc;
    }
    *ret_vm = copy;
    return 0;
}

static bool str_eq_opt(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static bool disk_equal(const struct res_disk *a, const struct res_disk *b)
{
    if (strcmp(a->target, b->target) != 0 || a->bus != b->bus ||
        a->source != b->source || strcmp(a->volume, b->volume) != 0 ||
        a->slot != b->slot)
        return false;
    if (a->source == RES_DISK_EXTENT)
        return a->extent == b->extent;
    return a->size == b->size;
}

static bool owners_equal(size_t na, const char (*a)[RES_NAME_MAX], size_t nb,
                         const char (*b)[RES_NAME_MAX])
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return true;
}

static bool policy_equal(const struct res_policy *a, const struct res_policy *b)
{
    if (a->priority != b->priority ||
        strcmp(a->anti_affinity, b->anti_affinity) != 0 ||
        a->failures_max != b->failures_max ||
        a->failures_period != b->failures_period || a->failback != b->failback)
        return false;
    if (a->failback == RES_FAILBACK_WINDOW &&
        (a->window_start != b->window_start || a->window_end != b->window_end))
        return false;
    return owners_equal(a->n_preferred, a->preferred, b->n_preferred,
                        b->preferred) &&
           owners_equal(a->n_possible, a->possible, b->n_possible, b->possible);
}

bool res_vm_equal(const struct res_vm *a, const struct res_vm *b)
{
    if (strcmp(a->name, b->name) != 0 ||
        memcmp(a->uuid, b->uuid, sizeof(a->uuid)) != 0 ||
        a->memory_mib != b->memory_mib || a->vcpus != b->vcpus ||
        a->cpu_mode != b->cpu_mode || strcmp(a->cpu_model, b->cpu_model) != 0 ||
        a->n_disks != b->n_disks || a->n_nics != b->n_nics ||
        a->boot != b->boot)
        return false;
    for (size_t i = 0; i < a->n_disks; i++)
        if (!disk_equal(&a->disks[i], &b->disks[i]))
            return false;
    for (size_t i = 0; i < a->n_nics; i++)
        if (strcmp(a->nics[i].bridge, b->nics[i].bridge) != 0 ||
            memcmp(a->nics[i].mac, b->nics[i].mac, 6) != 0 ||
            a->nics[i].model != b->nics[i].model ||
            a->nics[i].mtu != b->nics[i].mtu)
            return false;
    if (a->boot == RES_BOOT_KERNEL && (!str_eq_opt(a->kernel, b->kernel) ||
                                       !str_eq_opt(a->initrd, b->initrd) ||
                                       !str_eq_opt(a->cmdline, b->cmdline)))
        return false;
    return policy_equal(&a->policy, &b->policy);
}

/* The first field, other than the policy, in which a and b differ, as
 * the element that holds it; NULL when only the policy differs. */
static const char *first_runtime_change(const struct res_vm *a,
                                        const struct res_vm *b)
{
    if (a->memory_mib != b->memory_mib)
        return "memory";
    if (a->vcpus != b->vcpus)
        return "vcpus";
    if (a->cpu_mode != b->cpu_mode || strcmp(a->cpu_model, b->cpu_model) != 0)
        return "cpu";
    if (a->n_nics != b->n_nics)
        return "nic";
    for (size_t i = 0; i < a->n_nics; i++)
        if (strcmp(a->nics[i].bridge, b->nics[i].bridge) != 0 ||
            memcmp(a->nics[i].mac, b->nics[i].mac, 6) != 0 ||
            a->nics[i].model != b->nics[i].model ||
            a->nics[i].mtu != b->nics[i].mtu)
            return "nic";
    if (a->boot != b->boot ||
        (a->boot == RES_BOOT_KERNEL && (!str_eq_opt(a->kernel, b->kernel) ||
                                        !str_eq_opt(a->initrd, b->initrd) ||
                                        !str_eq_opt(a->cmdline, b->cmdline))))
        return "boot";
    return NULL;
}

int res_vm_edit_check(const struct res_vm *old, const struct res_vm *nw,
                      const char *src, bool running, char *err, size_t errlen)
{
    const char *what;
    char a[37], b[37];

    res_err_init();
    if (strcmp(old->name, nw->name) != 0)
        return res_fail(err, errlen, src, nw->lines.name, "name",
                        "VM '%s' can't be renamed by an edit (the new "
                        "definition says '%s')",
                        old->name, nw->name);
    if (memcmp(old->uuid, nw->uuid, sizeof(old->uuid)) != 0) {
        res_uuid_format(old->uuid, a);
        res_uuid_format(nw->uuid, b);
        return res_fail(err, errlen, src, nw->lines.uuid, "uuid",
                        "VM '%s': the uuid can't change (%s, not %s)",
                        old->name, a, b);
    }
    /* Disks are extents allocated when the VM was added: an edit can't
     * allocate or free them. */
    for (size_t i = 0; i < old->n_disks || i < nw->n_disks; i++) {
        const struct res_disk *d = i < nw->n_disks ? &nw->disks[i] : NULL;
        if (i < old->n_disks && d && disk_equal(&old->disks[i], d))
            continue;
        return res_fail(err, errlen, src, d ? d->line : nw->lines.vm, "disk",
                        "VM '%s': disk %s can't be added, removed or changed "
                        "by an edit (keep the <disk> elements as they are)",
                        old->name, d ? d->target : old->disks[i].target);
    }
    what = running ? first_runtime_change(old, nw) : NULL;
    if (what) {
        snprintf(err, errlen,
                 "VM '%s' is running: its <%s> can't change until it is "
                 "stopped ('clusterctl vm stop %s'); only <policy> may change "
                 "while it runs",
                 old->name, what, old->name);
        return -RES_E_INVALID;
    }
    return 0;
}

/* FNV-1a, 64 bits: a fixed, documented function, so a MAC derived today
 * is the MAC derived by any later version. */
static uint64_t fnv1a64(const uint8_t *p, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

void res_vm_default_mac(const uint8_t uuid[16], unsigned index,
                        uint8_t ret_mac[6])
{
    uint8_t idx[4] = {(uint8_t)(index >> 24), (uint8_t)(index >> 16),
                      (uint8_t)(index >> 8), (uint8_t)index};
    uint64_t h = fnv1a64(uuid, 16, 0xcbf29ce484222325ull);

    h = fnv1a64(idx, sizeof(idx), h);
    for (int i = 0; i < 6; i++)
        ret_mac[i] = (uint8_t)(h >> (8 * i));
    /* locally administered (bit 1), unicast (bit 0 clear) */
    ret_mac[0] = (uint8_t)((ret_mac[0] & 0xfc) | 0x02);
}

const char *res_priority_str(enum res_priority prio)
{
    switch (prio) {
    case RES_PRIO_HIGH:
        return "high";
    case RES_PRIO_MEDIUM:
        return "medium";
    case RES_PRIO_LOW:
        return "low";
    case RES_PRIO_MANUAL:
        return "manual";
    }
    return "?";
}

int res_priority_parse(const char *s, enum res_priority *ret_prio)
{
    static const enum res_priority all[] = {RES_PRIO_HIGH, RES_PRIO_MEDIUM,
                                            RES_PRIO_LOW, RES_PRIO_MANUAL};

    for (size_t i = 0; i < CMN_ARRAY_SIZE(all); i++)
        if (strcmp(s, res_priority_str(all[i])) == 0) {
            *ret_prio = all[i];
            return 0;
        }
    return -EINVAL;
}

const char *res_failback_str(enum res_failback fb)
{
    switch (fb) {
    case RES_FAILBACK_NEVER:
        return "never";
    case RES_FAILBACK_IMMEDIATE:
        return "immediate";
    case RES_FAILBACK_WINDOW:
        return "window";
    }
    return "?";
}

const char *res_disk_bus_str(enum res_disk_bus bus)
{
    return bus == RES_BUS_VIRTIO_SCSI ? "virtio-scsi" : "virtio-blk";
}

const char *res_nic_model_str(enum res_nic_model model)
{
    return model == RES_NIC_E1000 ? "e1000" : "virtio";
}

void res_uuid_format(const uint8_t uuid[16], char buf[37])
{
    char *p = buf;

    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        p += sprintf(p, "%02x", uuid[i]);
    }
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

int res_uuid_parse(const char *s, uint8_t ret_uuid[16])
{
    uint8_t u[16];
    size_t pos = 0;

    if (strlen(s) != 36)
        return -EINVAL;
    for (int i = 0; i < 16; i++) {
        int hi, lo;

        if (pos == 8 || pos == 13 || pos == 18 || pos == 23) {
            if (s[pos] != '-')
                return -EINVAL;
            pos++;
        }
        hi = hexval((unsigned char)s[pos]);
        lo = hexval((unsigned char)s[pos + 1]);
        if (hi < 0 || lo < 0)
            return -EINVAL;
        u[i] = (uint8_t)(hi << 4 | lo);
        pos += 2;
    }
    memcpy(ret_uuid, u, sizeof(u));
    return 0;
}

void res_mac_format(const uint8_t mac[6], char buf[18])
{
    snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
             mac[3], mac[4], mac[5]);
}

int res_mac_parse(const char *s, uint8_t ret_mac[6])
{
    uint8_t m[6];

    if (strlen(s) != 17)
        return -EINVAL;
    for (int i = 0; i < 6; i++) {
        int hi = hexval((unsigned char)s[3 * i]);
        int lo = hexval((unsigned char)s[3 * i + 1]);

        if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
            return -EINVAL;
        m[i] = (uint8_t)(hi << 4 | lo);
    }
    memcpy(ret_mac, m, sizeof(m));
    return 0;
}

bool res_failure_should_failover(const struct res_policy *policy,
                                 const uint64_t *times, size_t n_times,
                                 uint64_t now)
{
    size_t recent = 0;

    for (size_t i = 0; i < n_times; i++)
        if (times[i] <= now && now - times[i] < policy->failures_period)
            recent++;
    return recent > policy->failures_max;
}

/* ---- semantic checks ------------------------------------------------ */

static bool bridge_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= RES_BRIDGE_MAX || strcmp(s, ".") == 0 ||
        strcmp(s, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '/' || ch == ':' || isspace(ch) || !isprint(ch))
            return false;
    }
    return true;
}

/* vda..vdz, vdaa..vdzz for virtio-blk; sda.. for virtio-scsi. */
static bool target_ok(const char *s, enum res_disk_bus bus)
{
    size_t n = strlen(s);
    const char *prefix = bus == RES_BUS_VIRTIO_SCSI ? "sd" : "vd";

    if (n < 3 || n > 4 || strncmp(s, prefix, 2) != 0)
        return false;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 'a' || s[i] > 'z')
            return false;
    return true;
}

static int check_owner_list(const char (*list)[RES_NAME_MAX], size_t n,
                            const char *elem, int line, const char *src,
                            char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        if (!cmn_name_valid(list[i]))
            return res_fail(err, errlen, src, line, elem,
                            "'%s' is not a valid node name (%s)", list[i],
                            RES_NAME_RULE);
        for (size_t j = 0; j < i; j++)
            if (strcmp(list[i], list[j]) == 0)
                return res_fail(err, errlen, src, line, elem,
                                "node '%s' is listed twice", list[i]);
    }
    return 0;
}

static bool in_list(const char (*list)[RES_NAME_MAX], size_t n,
                    const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0)
            return true;
    return false;
}

static int check_policy(const struct res_vm *vm, const char *src, char *err,
                        size_t errlen)
{
    const struct res_policy *p = &vm->policy;
    const struct res_vm_lines *l = &vm->lines;
    int rc;

    if (p->n_preferred > RES_VM_MAX_OWNERS || p->n_possible > RES_VM_MAX_OWNERS)
        return res_fail(err, errlen, src, l->policy, "policy",
                        "more than %d owners listed", RES_VM_MAX_OWNERS);
    rc = check_owner_list(p->preferred, p->n_preferred, "preferred-owners",
                          l->preferred, src, err, errlen);
    if (rc < 0)
        return rc;
    rc = check_owner_list(p->possible, p->n_possible, "possible-owners",
                          l->possible, src, err, errlen);
    if (rc < 0)
        return rc;
    /* A preferred owner the VM may not run on is a contradiction the
     * administrator should hear about, not a rule we silently drop. */
    if (p->n_possible > 0)
        for (size_t i = 0; i < p->n_preferred; i++)
            if (!in_list(p->possible, p->n_possible, p->preferred[i]))
                return res_fail(err, errlen, src, l->preferred,
                                "preferred-owners",
                                "node '%s' is preferred but not among the "
                                "possible owners",
                                p->preferred[i]);
    if (p->anti_affinity[0] != '\0' && !cmn_name_valid(p->anti_affinity))
        return res_fail(err, errlen, src, l->anti_affinity, "anti-affinity",
                        "class '%s' is not a valid name (%s)", p->anti_affinity,
                        RES_NAME_RULE);
    if (p->failures_max > RES_FAILURES_MAX_LIMIT)
        return res_fail(err, errlen, src, l->failures, "failures",
                        "max %u is over %u", p->failures_max,
                        RES_FAILURES_MAX_LIMIT);
    if (p->failures_period == 0 || p->failures_period > RES_FAILURES_PERIOD_MAX)
        return res_fail(err, errlen, src, l->failures, "failures",
                        "period %u s is out of range (1 to %u seconds)",
                        p->failures_period, RES_FAILURES_PERIOD_MAX);
    if (p->failback == RES_FAILBACK_WINDOW) {
        if (p->window_start >= 24 * 60 || p->window_end >= 24 * 60)
            return res_fail(err, errlen, src, l->failback, "failback",
                            "window times must be within 00:00-23:59");
        if (p->window_start == p->window_end)
            return res_fail(err, errlen, src, l->failback, "failback",
                            "window start and end are equal (%02u:%02u): use "
                            "mode='immediate' for always",
                            p->window_start / 60, p->window_start % 60);
    }
    return 0;
}

static int check_disks(const struct res_vm *vm, const char *src, char *err,
                       size_t errlen)
{
    if (vm->n_disks > RES_VM_MAX_DISKS)
        return res_fail(err, errlen, src, vm->lines.vm, "disk",
                        "more than %d disks", RES_VM_MAX_DISKS);
    for (size_t i = 0; i < vm->n_disks; i++) {
        const struct res_disk *d = &vm->disks[i];

        if (!target_ok(d->target, d->bus))
            return res_fail(err, errlen, src, d->line, "disk",
                            "target '%s' is not valid for bus %s (expected "
                            "%s followed by 1 or 2 letters a-z)",
                            d->target, res_disk_bus_str(d->bus),
                            d->bus == RES_BUS_VIRTIO_SCSI ? "sd" : "vd");
        for (size_t j = 0; j < i; j++)
            if (strcmp(d->target, vm->disks[j].target) == 0)
                return res_fail(err, errlen, src, d->line, "disk",
                                "target '%s' is used twice", d->target);
        for (size_t j = 0; d->slot && j < i; j++)
            if (vm->disks[j].slot == d->slot)
                return res_fail(err, errlen, src, d->line, "disk",
                                "slot %u is used by disk '%s' too", d->slot,
                                vm->disks[j].target);
        if (d->source == RES_DISK_EXTENT) {
            if (!cmn_name_valid(d->volume))
                return res_fail(err, errlen, src, d->line, "extent",
                                "volume '%s' is not a valid name (%s)",
                                d->volume, RES_NAME_RULE);
            for (size_t j = 0; j < i; j++)
                if (vm->disks[j].source == RES_DISK_EXTENT &&
                    vm->disks[j].extent == d->extent &&
                    strcmp(vm->disks[j].volume, d->volume) == 0)
                    return res_fail(err, errlen, src, d->line, "extent",
                                    "extent %llu of volume '%s' is used by "
                                    "disk '%s' too",
                                    (unsigned long long)d->extent, d->volume,
                                    vm->disks[j].target);
        } else {
            if (d->volume[0] != '\0' && !cmn_name_valid(d->volume))
                return res_fail(err, errlen, src, d->line, "allocate",
                                "volume '%s' is not a valid name (%s)",
                                d->volume, RES_NAME_RULE);
            if (d->size < RES_DISK_SIZE_MIN || d->size > RES_DISK_SIZE_MAX ||
                d->size % RES_DISK_SIZE_MIN != 0)
                return res_fail(err, errlen, src, d->line, "allocate",
                                "size %llu bytes is out of range (a multiple "
                                "of 1 MiB, 1 MiB to 64 TiB)",
                                (unsigned long long)d->size);
        }
    }
    return 0;
}

static int check_nics(const struct res_vm *vm, const char *src, char *err,
                      size_t errlen)
{
    static const uint8_t zero[6];

    if (vm->n_nics > RES_VM_MAX_NICS)
        return res_fail(err, errlen, src, vm->lines.vm, "nic",
                        "more than %d NICs", RES_VM_MAX_NICS);
    for (size_t i = 0; i < vm->n_nics; i++) {
        const struct res_nic *n = &vm->nics[i];
        char mac[18];

        res_mac_format(n->mac, mac);
        if (!bridge_ok(n->bridge))
            return res_fail(err, errlen, src, n->line, "nic",
                            "bridge '%s' is not a valid interface name (1 to "
                            "15 characters, no '/', ':' or space)",
                            n->bridge);
        if (memcmp(n->mac, zero, 6) == 0 || (n->mac[0] & 1))
            return res_fail(err, errlen, src, n->line, "nic",
                            "MAC %s is not a unicast address", mac);
        for (size_t j = 0; j < i; j++)
            if (memcmp(n->mac, vm->nics[j].mac, 6) == 0)
                return res_fail(err, errlen, src, n->line, "nic",
                                "MAC %s is used twice", mac);
        if (n->mtu && (n->mtu < RES_NIC_MTU_MIN || n->mtu > RES_NIC_MTU_MAX))
            return res_fail(err, errlen, src, n->line, "nic",
                            "MTU %u is not within %d..%d", n->mtu,
                            RES_NIC_MTU_MIN, RES_NIC_MTU_MAX);
    }
    return 0;
}

/* The boot files of a kernel boot: `kernel` NULL is refused like a
 * relative path (the schema requires the element). */
static int check_kernel(const char *kernel, const char *initrd,
                        const char *cmdline, int line, const char *src,
                        char *err, size_t errlen)
{
    if (kernel == NULL || kernel[0] != '/' || strlen(kernel) >= RES_PATH_MAX)
        return res_fail(err, errlen, src, line, "kernel",
                        "'%s' is not an absolute path", kernel ? kernel : "");
    if (initrd != NULL && (initrd[0] != '/' || strlen(initrd) >= RES_PATH_MAX))
        return res_fail(err, errlen, src, line, "initrd",
                        "'%s' is not an absolute path", initrd);
    if (cmdline != NULL && strlen(cmdline) >= RES_CMDLINE_MAX)
        return res_fail(err, errlen, src, line, "cmdline",
                        "longer than %d characters", RES_CMDLINE_MAX - 1);
    return 0;
}

static int check_boot(const struct res_vm *vm, const char *src, char *err,
                      size_t errlen)
{
    int line = vm->lines.boot;

    if (vm->boot == RES_BOOT_DISK) {
        if (vm->n_disks == 0)
            return res_fail(err, errlen, src, line, "boot",
                            "dev='disk' but the VM has no disk");
        return 0;
    }
    return check_kernel(vm->kernel, vm->initrd, vm->cmdline, line, src, err,
                        errlen);
}

/* Name, uuid, memory, vcpus and cpu model: the fields every form of a
 * definition has. `l` gives the lines (NULL: none known). */
static int check_identity(const struct res_vm_core *c,
                          const struct res_vm_lines *l, const char *src,
                          char *err, size_t errlen)
{
    static const uint8_t nil[16];
    static const struct res_vm_lines none;
    const char *cpu = c->cpu_model ? c->cpu_model : "host";

    if (l == NULL)
        l = &none;
    if (!cmn_name_valid(c->name))
        return res_fail(err, errlen, src, l->name, "name",
                        "'%s' is not a valid VM name (%s)", c->name,
                        RES_NAME_RULE);
    if (memcmp(c->uuid, nil, sizeof(nil)) == 0)
        return res_fail(err, errlen, src, l->uuid, "uuid",
                        "the nil uuid is not allowed (generate one with "
                        "uuidgen)");
    if (c->memory_mib < RES_VM_MEMORY_MIN_MIB ||
        c->memory_mib > RES_VM_MEMORY_MAX_MIB)
        return res_fail(err, errlen, src, l->memory, "memory",
                        "%llu MiB is out of range (%llu MiB to %llu MiB)",
                        (unsigned long long)c->memory_mib,
                        RES_VM_MEMORY_MIN_MIB, RES_VM_MEMORY_MAX_MIB);
    if (c->vcpus < 1 || c->vcpus > RES_VM_VCPUS_MAX)
        return res_fail(err, errlen, src, l->vcpus, "vcpus",
                        "%u is out of range (1 to %d)", c->vcpus,
                        RES_VM_VCPUS_MAX);
    if (!cmn_name_valid(cpu))
        return res_fail(err, errlen, src, l->cpu, "cpu",
                        "model '%s' is not a valid CPU model name (%s)", cpu,
                        RES_NAME_RULE);
    return 0;
}

int res_vm_core_validate(const struct res_vm_core *c, const char *src,
                         char *err, size_t errlen)
{
    int rc;

    res_err_init();
    rc = check_identity(c, NULL, src, err, errlen);
    if (rc == 0 && c->kernel != NULL)
        rc =
            check_kernel(c->kernel, c->initrd, c->cmdline, 0, src, err, errlen);
    return rc;
}

int res_vm_validate(const struct res_vm *vm, const char *src, char *err,
                    size_t errlen)
{
    struct res_vm_core c = {
        .name = vm->name,
        .memory_mib = vm->memory_mib,
        .vcpus = vm->vcpus,
        .cpu_model = vm->cpu_model[0] ? vm->cpu_model : NULL,
    };
    int rc;

    res_err_init();
    memcpy(c.uuid, vm->uuid, sizeof(c.uuid));
    rc = check_identity(&c, &vm->lines, src, err, errlen);
    if (rc == 0)
        rc = check_disks(vm, src, err, errlen);
    if (rc == 0)
        rc = check_nics(vm, src, err, errlen);
    if (rc == 0)
        rc = check_boot(vm, src, err, errlen);
    if (rc == 0)
        rc = check_policy(vm, src, err, errlen);
    return rc;
}
