/* Fixtures shared by the coordinator's unit tests (coord-fixture.c). */
#ifndef KVMC_TEST_COORD_FIXTURE_H
#define KVMC_TEST_COORD_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clusterd/cd-coord.h"
#include "clusterd/cd.h"

/* A VM definition (uuid derived from the name); a static buffer. */
const char *vm_xml(const char *name, const char *prio, unsigned mib,
                   const char *extra);
/* Applies one CDB change; fails the test if refused. */
void apply(struct cd_cdb *cdb, enum cd_op_type t, const char *name,
           const char *arg, uint32_t nodeid, uint64_t number, const char *text);
void add_vm(struct cd_cdb *cdb, const char *name, const char *prio,
            unsigned mib, bool run);
/* Three nodes of 4 GiB. */
struct cd_cdb *cluster3(void);
/* Delivers `m` from `sender` after an encode/decode round trip. */
void deliver(struct cd_coord *co, const struct cd_cdb *cdb, uint32_t sender,
             const struct cd_co_msg *m, struct cd_co_effect *eff);
/* `node` re-announces: RT_BEGIN, one RT_VM running per name, RT_END. */
void announce(struct cd_coord *co, const struct cd_cdb *cdb, uint32_t node,
              const char *const *vms);

/* Members 1, 2 and 3. */
extern const uint32_t m123[3];
/* A new coordinator of members 1, 2 and 3, each announced with no VM. */
struct cd_coord *coord_settled(const struct cd_cdb *cdb);
/* cd_coord_derive as member members[0] of a quorate view at 100000 s. */
size_t derive(struct cd_coord *co, const struct cd_cdb *cdb,
              const uint32_t *members, size_t n, struct cd_action *out);

#endif
