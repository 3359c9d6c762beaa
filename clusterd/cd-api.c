/* clusterd's request table and the permission decision (cd-api.h). Pure:
 * no daemon state, so unit tests drive it. */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>

#include "clusterd/cd-api.h"

#define R CD_API_READ
#define W CD_API_WRITE

const struct cd_api_op cd_api_ops[CD_API_COUNT] = {
    {"status", "status", CD_API_STATUS, R, NULL},
    {"cdb-get", "cdb get", CD_API_CDB_GET, R, NULL},
    {"config-get", "config get", CD_API_CONFIG_GET, R, NULL},
    {"node-list", "node list", CD_API_NODE_LIST, R, NULL},
    {"volume-list", "volume list", CD_API_VOLUME_LIST, R, NULL},
    {"volume-check", "volume check", CD_API_VOLUME_CHECK, R, NULL},
    {"vm-list", "vm list", CD_API_VM_LIST, R, NULL},
    {"vm-show", "vm show", CD_API_VM_SHOW, R, "vm"},
    {"explain", "explain", CD_API_EXPLAIN, R, "vm"},
    {"events", "events", CD_API_EVENTS, R, NULL},
    {"config-set", "config set", CD_API_CONFIG_SET, W, "key"},
    {"node-state", "node drain/resume/set-state", CD_API_NODE_STATE, W, "node"},
    {"cdb-add-vm", "cdb add-vm", CD_API_CDB_ADD_VM, W, "name"},
    {"cdb-add-volume", "cdb add-volume", CD_API_CDB_ADD_VOLUME, W, "name"},
    {"cdb-remove-vm", "cdb remove-vm", CD_API_CDB_REMOVE_VM, W, "name"},
    {"cdb-remove-volume", "cdb remove-volume", CD_API_CDB_REMOVE_VOLUME, W,
     "name"},
    {"vm-add", "vm add", CD_API_VM_ADD, W, NULL},
    {"vm-edit", "vm edit", CD_API_VM_EDIT, W, "vm"},
    {"vm-remove", "vm remove", CD_API_VM_REMOVE, W, "vm"},
    {"vm-start", "vm start", CD_API_VM_START, W, "vm"},
    {"vm-stop", "vm stop", CD_API_VM_STOP, W, "vm"},
    {"move-vm", "move-vm", CD_API_MOVE_VM, W, NULL},
    {"metrics", "metrics", CD_API_METRICS, R, NULL},
    {"history", "history", CD_API_HISTORY, R, NULL},
    {"validate", "cluster validate", CD_API_VALIDATE, R, NULL},
    {"vm-disk", "vm disk", CD_API_VM_DISK, W, "vm"},
    {"move-storage", "move-storage", CD_API_MOVE_STORAGE, W, "vm"},
    {"volume-add-local", "volume add --local", CD_API_VOLUME_ADD_LOCAL, W,
     "name"},
};

#undef R
#undef W

const struct cd_api_op *cd_api_find(const char *name)
{
    for (size_t i = 0; i < CD_API_COUNT; i++)
        if (strcmp(cd_api_ops[i].name, name) == 0)
            return &cd_api_ops[i];
    return NULL;
}

static int group_resolve(const char *key, const char *name, gid_t *ret,
                         char *err, size_t errlen)
{
    struct group *g;

    if (!name[0])
        return 0;
    g = getgrnam(name);
    if (g == NULL) {
        snprintf(err, errlen,
                 "%s '%s' does not exist (create the group or remove the "
                 "setting)",
                 key, name);
        return -CMN_E_BAD_VALUE;
    }
    *ret = g->gr_gid;
    return 0;
}

int cd_api_policy_resolve(struct cd_api_policy *p, char *err, size_t errlen)
{
    int rc = group_resolve("admin-group", p->admin_group, &p->admin_gid, err,
                           errlen);

    if (rc == 0)
        rc = group_resolve("read-only-group", p->read_only_group,
                           &p->read_only_gid, err, errlen);
    return rc;
}

int cd_api_peer_class(const struct cd_api_policy *p,
                      const struct cmn_ipc_peer *peer)
{
    if (peer->uid == 0)
        return CD_API_WRITE;
    if (p->admin_group[0] && cmn_ipc_peer_in_group(peer, p->admin_gid))
        return CD_API_WRITE;
    if (p->read_only_group[0] && cmn_ipc_peer_in_group(peer, p->read_only_gid))
        return CD_API_READ;
    return -EACCES;
}

/* Copies attribute `name` of `n` into buf; false when absent or too long
 * (a request attribute is at most CD_VALUE_MAX - 1 bytes). */
static bool attr_get(xmlNode *n, const char *name, char *buf, size_t len,
                     bool *too_long)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
    size_t l;

    *too_long = false;
    if (v == NULL)
        return false;
    l = strlen((const char *)v);
    *too_long = l >= len;
    if (!*too_long)
        memcpy(buf, v, l + 1);
    xmlFree(v);
    return !*too_long;
}

int cd_api_check(xmlNode *req, const struct cd_api_op **ret_op,
                 enum cd_api_class *ret_cls, char *err, size_t errlen)
{
    char name[64], val[CD_VALUE_MAX];
    const struct cd_api_op *op;
    enum cd_api_class cls;
    bool too_long;

    if (req == NULL || req->type != XML_ELEMENT_NODE ||
        strcmp((const char *)req->name, "request") != 0 ||
        !attr_get(req, "op", name, sizeof(name), &too_long)) {
        snprintf(err, errlen, "request is not <request op=\"...\"/>");
        return -EPROTO;
    }
    op = cd_api_find(name);
    if (op == NULL) {
        snprintf(err, errlen, "unknown request op '%s'", name);
        return -EPROTO;
    }
    if (op->need != NULL &&
        (!attr_get(req, op->need, val, sizeof(val), &too_long) || !val[0])) {
        if (too_long)
            snprintf(err, errlen, "%s: attribute '%s' is longer than %d bytes",
                     op->name, op->need, CD_VALUE_MAX - 1);
        else
            snprintf(err, errlen, "%s needs attribute '%s'", op->name,
                     op->need);
        return -EINVAL;
    }
    cls = op->cls;
    /* Reclaiming slots writes the volume. */
    if (op->id == CD_API_VOLUME_CHECK &&
        attr_get(req, "repair", val, sizeof(val), &too_long) &&
        strcmp(val, "yes") == 0)
        cls = CD_API_WRITE;
    *ret_op = op;
    *ret_cls = cls;
    return 0;
}

int cd_api_permit(const struct cd_api_policy *p, const struct cd_api_op *op,
                  enum cd_api_class cls, int granted, char *err, size_t errlen)
{
    const char *what = op->command;
    char cmd[64];

    if (granted >= (int)cls)
        return 0;
    if (op->id == CD_API_VOLUME_CHECK) {
        snprintf(cmd, sizeof(cmd), "%s --repair", op->command);
        what = cmd;
    }
    if (cls == CD_API_WRITE && p->admin_group[0])
        snprintf(err, errlen,
                 "permission denied: '%s' needs root or group '%s'", what,
                 p->admin_group);
    else if (cls == CD_API_WRITE)
        snprintf(err, errlen,
                 "permission denied: '%s' needs root (no admin-group is "
                 "configured for clusterd)",
                 what);
    else /* connections are refused below read: not reached from IPC */
        snprintf(err, errlen, "permission denied: '%s' needs read access",
                 what);
    return -CD_E_PERM;
}
