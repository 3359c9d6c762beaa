/* VM networks: the bridges each member has, as it reported them
 * (CD_CO_BRIDGES, replicated runtime state like storage health), so
 * placement sends a VM only where every bridge of its NICs exists; and
 * the MACs of the VMs in the cluster, each used once. */
#ifndef KVMC_CD_NET_H
#define KVMC_CD_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clusterd/cd.h"
#include "resources/res-place.h"

struct cd_co_msg;

/* A report: the node's bridges separated by spaces. */
#define CD_NET_LIST_MAX 256

struct cd_net_table {
    size_t n;
    struct {
        uint32_t node;
        char list[CD_NET_LIST_MAX];
    } v[CD_MAX_NODES];
};

/* This node's bridges (network interfaces with a bridge/ directory in
 * /sys/class/net, or under `sysfs` for tests), sorted, separated by
 * spaces; those that do not fit are left out. */
void cd_net_scan(const char *sysfs, char *list, size_t len);
/* The CD_CO_BRIDGES message of `list`. */
void cd_net_msg(const char *list, struct cd_co_msg *m);
/* Applies a delivered report of `sender`; true when it changed. */
bool cd_net_apply(struct cd_net_table *t, uint32_t sender,
                  const struct cd_co_msg *m);
/* Forgets the nodes not in `members`. */
void cd_net_confchg(struct cd_net_table *t, const uint32_t *members, size_t n);
/* Fills the bridges of placement's node `r` (id set) when known. */
void cd_net_fill(const struct cd_net_table *t, struct res_node *r);

/* Whether a MAC of `def` is a NIC of another VM of `cdb` (not `except`):
 * true with a sentence naming both VMs and the MAC in err. Every
 * definition in the CDB counts, those of VMs on a CSV included (their
 * slot holds the same text); the CDB's apply path checks the same for
 * every way a definition enters it (cd_cdb_apply). */
bool cd_net_mac_taken(const struct cd_cdb *cdb, const struct res_vm *def,
                      const char *except, char *err, size_t errlen);

/* Whether a bridge `def` needs is on none of the nodes that reported
 * their bridges in `t` (none reported: nothing is known, no warning):
 * true with a sentence naming the bridge and each node's bridges in
 * `out`. For `vm add` and `vm edit`, which accept the definition all the
 * same (the bridge may be created later). */
bool cd_net_bridge_warning(const struct cd_net_table *t,
                           const struct cd_cdb *cdb, const struct res_vm *def,
                           char *out, size_t len);

#endif
