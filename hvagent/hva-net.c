/* A VM's network: its NICs in the runtime definition, the tap devices the
 * agent creates for them on the node's bridges, and the announcement of
 * the guest's MACs once it runs on a new node.
 *
 * QEMU runs unprivileged and may not create or configure network devices,
 * so the agent does it as root: one tap per NIC, attached to the bridge
 * the definition names and brought up, then handed to QEMU as a
 * descriptor (-netdev tap,fd=N). The tap is not persistent: it exists as
 * long as a descriptor of it is open, so it disappears with the QEMU that
 * holds it (stop, crash, kill, migration away) and the agent never has to
 * find and remove stale ones.
 *
 * With KVM, a virtio NIC also gets a descriptor of /dev/vhost-net
 * (vhost=on,vhostfd=N), opened here for the same reason: QEMU's user may
 * not open it. Where it is missing or closed, QEMU's own virtio-net
 * serves the NIC and one info line says why; `vhost-net = off` in
 * [hvagent] turns it off. Either way the guest and the migration stream
 * are the same, so a VM moves between nodes with and without it. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cmn-auto.h"
#include "common/cmn-err.h"
#include "common/cmn-log.h"
#include "hvagent/hva-int.h"

static const char *const model_names[HVA_NIC_MODEL_END] = {
    [HVA_NIC_VIRTIO] = "virtio",
    [HVA_NIC_E1000] = "e1000",
};

const char *hva_nic_model_name(enum hva_nic_model m)
{
    return m < HVA_NIC_MODEL_END ? model_names[m] : "?";
}

int hva_nic_model_parse(const char *s, enum hva_nic_model *ret)
{
    for (int i = 0; i < HVA_NIC_MODEL_END; i++)
        if (strcmp(s, model_names[i]) == 0) {
            *ret = (enum hva_nic_model)i;
            return 0;
        }
    return -EINVAL;
}

/* An interface name the kernel accepts: 1 to 15 bytes, no '/', no
 * whitespace, not "." or "..". */
bool hva_ifname_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= IFNAMSIZ || !strcmp(s, ".") || !strcmp(s, ".."))
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '/' || s[i] == ':' || s[i] <= ' ' || s[i] > '~')
            return false;
    return true;
}

/* "52:54:00:12:34:56": six lower- or upper-case hex pairs; a guest NIC's
 * address is unicast (bit 0 of the first octet clear). */
static bool mac_valid(const char *s)
{
    unsigned v[6];
    char end;

    if (strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1],
                                  &v[2], &v[3], &v[4], &v[5], &end) != 6)
        return false;
    for (int i = 0; i < 6; i++)
        if (s[i * 3 + 2] != (i == 5 ? '\0' : ':'))
            return false;
    return (v[0] & 1) == 0;
}

int hva_nic_from_xml(xmlNode *n, size_t index, struct hva_nic *ret, char *err,
                     size_t errlen)
{
    xmlChar *br = xmlGetProp(n, (const xmlChar *)"bridge");
    xmlChar *mac = xmlGetProp(n, (const xmlChar *)"mac");
    xmlChar *model = xmlGetProp(n, (const xmlChar *)"model");
    xmlChar *mtu = xmlGetProp(n, (const xmlChar *)"mtu");
    struct hva_nic nic = {.model = HVA_NIC_VIRTIO};
    int rc = -CMN_E_BAD_VALUE;

    if (!br || !mac) {
        snprintf(err, errlen, "<nic> %zu: 'bridge' and 'mac' are required",
                 index);
        rc = -CMN_E_MISSING;
        goto out;
    }
    if (!hva_ifname_valid((const char *)br)) {
        snprintf(err, errlen,
                 "<nic bridge='%s'>: not an interface name (1 to 15 "
                 "characters, no '/', ':' or spaces)",
                 (const char *)br);
        goto out;
    }
    if (!mac_valid((const char *)mac)) {
        snprintf(err, errlen,
                 "<nic mac='%s'>: not a unicast MAC (52:54:00:12:34:56)",
                 (const char *)mac);
        goto out;
    }
    if (model && hva_nic_model_parse((const char *)model, &nic.model) < 0) {
        snprintf(err, errlen, "<nic model='%s'>: not a model (virtio, e1000)",
                 (const char *)model);
        goto out;
    }
    if (mtu) {
        char *end;
        unsigned long v = strtoul((const char *)mtu, &end, 10);
        if (*end || end == (char *)mtu || v < HVA_NIC_MTU_MIN ||
            v > HVA_NIC_MTU_MAX) {
            snprintf(err, errlen, "<nic mtu='%s'>: not within %d..%d",
                     (const char *)mtu, HVA_NIC_MTU_MIN, HVA_NIC_MTU_MAX);
            goto out;
        }
        nic.mtu = (unsigned)v;
    }
    snprintf(nic.bridge, sizeof(nic.bridge), "%s", (const char *)br);
    snprintf(nic.mac, sizeof(nic.mac), "%s", (const char *)mac);
    *ret = nic;
    rc = 0;
out:
    xmlFree(br);
    xmlFree(mac);
    xmlFree(model);
    xmlFree(mtu);
    return rc;
}

void hva_nic_to_xml(xmlNode *root, const struct hva_nic *nic)
{
    xmlNode *n = xmlNewChild(root, NULL, (const xmlChar *)"nic", NULL);
    char buf[16];

    xmlSetProp(n, (const xmlChar *)"bridge", (const xmlChar *)nic->bridge);
    xmlSetProp(n, (const xmlChar *)"mac", (const xmlChar *)nic->mac);
    xmlSetProp(n, (const xmlChar *)"model",
               (const xmlChar *)hva_nic_model_name(nic->model));
    if (nic->mtu) {
        snprintf(buf, sizeof(buf), "%u", nic->mtu);
        xmlSetProp(n, (const xmlChar *)"mtu", (const xmlChar *)buf);
    }
}

void hva_tap_name(const char *uuid, size_t index, char *buf)
{
    char hex[13];
    size_t k = 0;

    /* "kv" + the uuid's first 12 hex digits + the NIC index: unique on
     * a node as long as two VMs' uuids differ there (a VM runs in one
     * QEMU per node), and an administrator sees whose tap it is. */
    for (const char *p = uuid; *p && k < 12; p++)
        if (*p != '-')
            hex[k++] = *p;
    hex[k] = '\0';
    snprintf(buf, IFNAMSIZ, "kv%s%zu", hex, index % 10);
}

/* Whether `name` is a bridge of this node's network namespace. */
static int bridge_exists(const char *name)
{
    char path[64];
    struct stat st;

    snprintf(path, sizeof(path), "/sys/class/net/%s/bridge", name);
    if (stat(path, &st) == 0)
        return 1;
    if (errno != ENOENT && errno != ENOTDIR)
        return -errno;
    return 0;
}

/* Creates tap `name`, MTU `mtu` (0: the bridge's), attached to `bridge`
 * and up. The descriptor is close-on-exec; closing it removes the tap. */
static int tap_open(const char *name, const char *bridge, unsigned mtu,
                    int *ret_fd, char *err, size_t errlen)
{
    struct ifreq ifr;
    int fd = -1, sk = -1, rc, idx;

    fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "/dev/net/tun: %s", strerror(-rc));
        goto fail;
    }
    memset(&ifr, 0, sizeof(ifr));
    /* IFF_VNET_HDR: QEMU passes offloads (checksum, GSO) with each
     * packet instead of doing them in software. */
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        rc = -errno;
        /* EINVAL: the name is taken by an interface that is no tap (the
         * kernel attaches to an existing tap, never to anything else). */
        snprintf(err, errlen, "tap '%s' not created: %s%s", name, strerror(-rc),
                 rc == -EBUSY    ? " (a QEMU of this VM still holds it)"
                 : rc == -EINVAL ? " (an interface of that name exists and "
                                   "is not a tap: remove it)"
                                 : "");
        goto fail;
    }
    sk = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sk < 0) {
        rc = -errno;
        snprintf(err, errlen, "socket: %s", strerror(-rc));
        goto fail;
    }
    if (!mtu) {
        memset(&ifr, 0, sizeof(ifr));
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", bridge);
        if (ioctl(sk, SIOCGIFMTU, &ifr) == 0)
            mtu = (unsigned)ifr.ifr_mtu;
    }
    if (mtu) {
        memset(&ifr, 0, sizeof(ifr));
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
        ifr.ifr_mtu = (int)mtu;
        if (ioctl(sk, SIOCSIFMTU, &ifr) < 0) {
            rc = -errno;
            snprintf(err, errlen, "tap '%s': MTU %u: %s", name, mtu,
                     strerror(-rc));
            goto fail;
        }
    }
    idx = (int)if_nametoindex(name);
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", bridge);
    ifr.ifr_ifindex = idx;
    if (idx == 0 || ioctl(sk, SIOCBRADDIF, &ifr) < 0) {
        rc = idx == 0 ? -ENODEV : -errno;
        snprintf(err, errlen, "tap '%s' not attached to bridge '%s': %s", name,
                 bridge, strerror(-rc));
        goto fail;
    }
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    if (ioctl(sk, SIOCGIFFLAGS, &ifr) < 0) {
        rc = -errno;
        snprintf(err, errlen, "tap '%s': flags: %s", name, strerror(-rc));
        goto fail;
    }
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(sk, SIOCSIFFLAGS, &ifr) < 0) {
        rc = -errno;
        snprintf(err, errlen, "tap '%s' not brought up: %s", name,
                 strerror(-rc));
        goto fail;
    }
    close(sk);
    *ret_fd = fd;
    return 0;
fail:
    if (sk >= 0)
        close(sk);
    if (fd >= 0)
        close(fd); /* not persistent: the tap goes with it */
    return rc;
}

const char *hva_vhost_skip_reason(bool enabled, const char *accel)
{
    if (!enabled)
        return "vhost-net = off";
    /* Without KVM, QEMU's virtio-pci has no ioeventfd (its notifications
     * go through TCG's I/O emulation), so it could not start vhost and
     * would fall back to its own virtio-net after all. */
    if (strcmp(accel, "kvm") != 0)
        return "the guest runs under TCG (vhost-net needs KVM)";
    return NULL;
}

/* A descriptor of /dev/vhost-net for one NIC, or -1 with the reason in
 * `why`: the device is absent when the kernel has no vhost_net module
 * (or a container hides it), and may be closed to this user. */
static int vhost_open(const char *dev, char *why, size_t len)
{
    int fd = open(dev, O_RDWR | O_CLOEXEC);

    if (fd < 0)
        snprintf(why, len, "%s: %s", dev, strerror(errno));
    return fd;
}

int hva_net_open(const struct hva_vm_def *def, const char *vhost_skip,
                 int **ret_fds, char *err, size_t errlen)
{
    size_t n = def->n_nics, i;
    char fallback[256] = "";
    int *fds = NULL;
    int rc = 0;

    *ret_fds = NULL;
    if (!n)
        return 0;
    fds = malloc(2 * n * sizeof(*fds));
    if (!fds)
        return -ENOMEM;
    for (i = 0; i < 2 * n; i++)
        fds[i] = -1;
    /* Every bridge first: a VM whose network is missing here starts no
     * QEMU and creates no tap. */
    for (i = 0; i < n; i++) {
        rc = bridge_exists(def->nics[i].bridge);
        if (rc <= 0) {
            snprintf(err, errlen,
                     "VM '%s': NIC %zu (%s): bridge '%s' %s on this node",
                     def->name, i, def->nics[i].mac, def->nics[i].bridge,
                     rc == 0 ? "does not exist" : strerror(-rc));
            if (rc == 0)
                rc = -ENODEV;
            free(fds);
            return rc;
        }
    }
    for (i = 0; i < n; i++) {
        char name[IFNAMSIZ], why[256];

        hva_tap_name(def->uuid, i, name);
        rc = tap_open(name, def->nics[i].bridge, def->nics[i].mtu, &fds[i], why,
                      sizeof(why));
        if (rc < 0) {
            snprintf(err, errlen, "VM '%s': NIC %zu (%s): %s", def->name, i,
                     def->nics[i].mac, why);
            hva_net_close(fds, n);
            return rc;
        }
        /* vhost-net moves the virtio rings' packets in the kernel instead
         * of QEMU's thread; only virtio NICs have rings. Any failure is
         * not an error: QEMU's own virtio-net carries the same guest. */
        if (def->nics[i].model != HVA_NIC_VIRTIO)
            continue;
        if (vhost_skip) {
            if (!fallback[0])
                snprintf(fallback, sizeof(fallback), "%s", vhost_skip);
            continue;
        }
        fds[n + i] = vhost_open(HVA_VHOST_NET_DEV, why, sizeof(why));
        if (fds[n + i] < 0 && !fallback[0])
            snprintf(fallback, sizeof(fallback), "%s", why);
    }
    /* One line per start, not per NIC: the reason is the node's. */
    if (fallback[0])
        cmn_info(CMN_LOG_HVA,
                 "VM '%s': vhost-net not used (%s): QEMU carries the NICs' "
                 "packets itself",
                 def->name, fallback);
    *ret_fds = fds;
    return 0;
}

void hva_net_close(int *fds, size_t n)
{
    if (!fds)
        return;
    for (size_t i = 0; i < 2 * n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
}

static void announce_done(void *data, int rc, json_object *ret,
                          const char *errmsg)
{
    (void)data;
    (void)ret;
    if (rc < 0)
        cmn_warn(CMN_LOG_HVA, "announce-self refused: %s", errmsg);
}

void hva_net_announce(struct hva_vm *vm)
{
    json_object *args;

    if (!vm->qmp || !vm->def->n_nics)
        return;
    /* QEMU's own schedule (its announce-* defaults): a gratuitous RARP
     * per NIC after 50 ms, then 4 more 100 ms further apart each, so a
     * switch or peer that missed the first learns the new port all the
     * same. QEMU also announces by itself at the end of an incoming
     * migration; this covers restore and cold starts alike. */
    args = json_object_new_object();
    if (!args)
        return;
    json_object_object_add(args, "initial", json_object_new_int(50));
    json_object_object_add(args, "max", json_object_new_int(550));
    json_object_object_add(args, "rounds", json_object_new_int(5));
    json_object_object_add(args, "step", json_object_new_int(100));
    hva_qmp_command(vm->qmp, "announce-self", args, -1, announce_done, NULL);
    cmn_info(CMN_LOG_HVA, "VM '%s': MACs of %zu NIC(s) announced",
             vm->def->name, vm->def->n_nics);
}
