/* VM networks in placement: the bridges a VM's NICs need and those each
 * node reported. A VM only goes where every bridge it needs exists, or
 * its guest would start (or arrive) without its network: hvagent refuses
 * that start, and a move there would fail only once its QEMU is asked. */
#include "config.h"

#include <string.h>

#include "resources/res-place.h"

const char *res_node_missing_bridge(const struct res_node *n,
                                    const struct res_place_vm *v)
{
    if (!n->bridges_known)
        return NULL;
    for (size_t i = 0; i < v->n_bridges; i++) {
        bool found = false;
        for (size_t k = 0; k < n->n_bridges && !found; k++)
            found = strcmp(v->bridges[i], n->bridges[k]) == 0;
        if (!found)
            return v->bridges[i];
    }
    return NULL;
}

void res_node_set_bridges(struct res_node *n, const char *list)
{
    const char *p = list;

    n->bridges_known = true;
    n->n_bridges = 0;
    while (*p && n->n_bridges < RES_NODE_MAX_BRIDGES) {
        size_t len;

        p += strspn(p, " ");
        len = strcspn(p, " ");
        if (len > 0 && len < RES_BRIDGE_MAX) {
            memcpy(n->bridges[n->n_bridges], p, len);
            n->bridges[n->n_bridges++][len] = '\0';
        }
        p += len;
    }
}
