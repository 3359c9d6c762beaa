/* The replication state machine of the CDB, without any corosync code:
 * the daemon feeds it CPG configuration changes and delivered messages,
 * and it sends through a callback. Unit tests drive several replicas over
 * a simulated totally-ordered bus.
 *
 * Protocol (every message goes through CPG in agreed order):
 *   OP     a change (cd_op); every member applies it on delivery, the
 *          sender included: nobody applies a change locally first.
 *   STATE  (epoch, digest) of the sender's copy as it was when it
 *          delivered the latest configuration change.
 *   SYNC   a chunk of the canonical document of the sync winner.
 *
 * After each configuration change every member sends STATE. The delivery
 * of the last member's STATE is the "sync point", the same position in
 * the agreed order on every member. The winner is the member with the
 * highest (epoch, nodeid). If any STATE differs from the winner's, the
 * winner serialises its copy at the sync point and sends it in chunks;
 * members whose STATE differed buffer the OPs delivered after the sync
 * point, adopt the snapshot when its last chunk arrives and then apply the
 * buffered OPs. Members whose STATE equalled the winner's held the same
 * document at the configuration change and applied the same OPs since, so
 * they already match. Either way every member ends with the winner's
 * document followed by the same OPs: identical copies. A new
 * configuration change aborts a round and starts another.
 */
#ifndef KVMC_CD_REPLICA_H
#define KVMC_CD_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clusterd/cd.h"

#define CD_MAX_MEMBERS    64
#define CD_SYNC_CHUNK_MAX (256u * 1024)
/* A snapshot larger than this is refused before anything is buffered: a
 * CDB of 16 nodes and thousands of VMs is a few MiB. */
#define CD_SYNC_TOTAL_MAX (64u << 20)
/* OPs delivered during a transfer and kept until the snapshot arrives;
 * past either limit the member gives up this round and rejoins. */
#define CD_SYNC_PENDING_MAX       4096
#define CD_SYNC_PENDING_BYTES_MAX (32u << 20)

/* ------------------------------------------------------- wire records
 *
 * STATE and SYNC, little-endian (OP is cd_op, see cd.h):
 *   STATE  u32 magic "KCST"  u16 version  u16 highest version spoken
 *          u64 epoch  digest[CD_DIGEST_LEN]
 *   SYNC   u32 magic "KCSY"  u16 version  u16 reserved (0)
 *          u64 epoch  digest[CD_DIGEST_LEN]  u32 total  u32 offset
 *          then the chunk (offset + chunk <= total <= CD_SYNC_TOTAL_MAX)
 *
 * Rolling upgrade: STATE keeps version 1 forever (its fields are all a
 * round needs) and says the highest version its sender speaks; the winner
 * sends SYNC in the lowest version every member of the round speaks. A
 * receiver refuses a version it does not know (CD_E_MSG_VERSION, logged
 * with the sender) rather than guess at the layout: a newer member never
 * makes an older one adopt bytes it cannot read. A member of a clusterd
 * from before versions (a 44-byte STATE) is refused the same way: its
 * round never completes, so writes stay refused until every member runs a
 * versioned clusterd; nothing diverges meanwhile. */
#define CD_REPLICA_VERSION 3
/* What each version added, for the gates of the features that need every
 * member to know it (a STATE's max_version says what its sender knows):
 *   1  the first versioned clusterd
 *   2  CD_OP_SET_VM_DEF applies arg2, the VM's new slot reference
 *      (move-storage): a member of version 1 ignores it, so its copy
 *      would keep naming the old slot and the CDBs would diverge. SYNC's
 *      layout is the same in both. */
#define CD_REPLICA_V_VM_REF 2
/*   3  CD_OP_ADD_LOCAL_VOLUME and <volume kind="local"> (node-local
 *      volumes): a member of version 2 refuses the op and a CDB holding
 *      one, so `volume add --local` waits until every member speaks 3.
 *      SYNC's layout is the same. */
#define CD_REPLICA_V_LOCAL 3
#define CD_STATE_LEN       (4 + 2 + 2 + 8 + CD_DIGEST_LEN)
#define CD_SYNC_HDR_LEN    (4 + 2 + 2 + 8 + CD_DIGEST_LEN + 4 + 4)

struct cd_state_msg {
    uint16_t version, max_version;
    uint64_t epoch;
    uint8_t digest[CD_DIGEST_LEN];
};

struct cd_sync_msg {
    uint16_t version;
    uint64_t epoch;
    uint8_t digest[CD_DIGEST_LEN];
    uint32_t total, offset;
    const uint8_t *chunk; /* points into the decoded buffer */
    size_t chunk_len;
};

/* Message kinds by magic, for dispatch: 0 when none of ours. */
enum cd_repl_kind { CD_REPL_NONE = 0, CD_REPL_STATE, CD_REPL_SYNC, CD_REPL_OP };
enum cd_repl_kind cd_repl_kind(const void *buf, size_t len);

/* Pure decoders (no allocation): 0, CD_E_BAD_MSG for a short, long or
 * inconsistent record, CD_E_MSG_VERSION for a version above
 * CD_REPLICA_VERSION (or a STATE without one). */
int cd_state_msg_decode(const void *buf, size_t len, struct cd_state_msg *ret);
int cd_sync_msg_decode(const void *buf, size_t len, struct cd_sync_msg *ret);
/* Encoders into a caller's buffer of CD_STATE_LEN / CD_SYNC_HDR_LEN +
 * chunk_len bytes. */
void cd_state_msg_encode(const struct cd_state_msg *m, uint8_t *buf);
void cd_sync_msg_encode(const struct cd_sync_msg *m, uint8_t *buf);

enum cd_sync_phase {
    CD_SYNC_NONE = 0, /* not in a CPG group yet */
    CD_SYNC_COLLECT,  /* waiting for every member's STATE */
    CD_SYNC_TRANSFER, /* waiting for the winner's document */
    CD_SYNC_DONE,     /* in sync */
};

const char *cd_sync_phase_name(enum cd_sync_phase p);

struct cd_replica_ops {
    /* Multicasts buf in agreed order (the glue queues on back-pressure:
     * messages must not be lost or reordered). */
    int (*send)(void *data, const void *buf, size_t len);
    /* An OP was applied (rc 0) or rejected (rc < 0, err says why).
     * Called on every member for every OP; origin/request_id identify the
     * submitter's request. */
    void (*applied)(void *data, uint32_t origin, const struct cd_op *op, int rc,
                    const char *err);
    /* The document changed (persist it). */
    void (*changed)(void *data);
    /* Optional: a sync round ended on this member; adopted tells whether
     * this member replaced its copy. */
    void (*synced)(void *data, bool adopted, uint32_t winner);
    /* Optional: a message from `sender` was refused (rc, err says why),
     * for the log. */
    void (*refused)(void *data, uint32_t sender, int rc, const char *err);
    /* Optional: this copy can no longer follow the group this round (too
     * many OPs buffered during a transfer): the glue should leave and
     * rejoin, which starts another round. Until then the replica is out
     * of the group (phase NONE: nothing applied, writes refused). */
    void (*desync)(void *data, const char *why);
};

struct cd_replica_stats {
    uint64_t rounds;          /* configuration changes seen */
    uint64_t snapshots_sent;  /* as winner */
    uint64_t snapshots_taken; /* adopted */
    uint64_t ops_applied, ops_rejected, bad_messages;
    uint64_t ops_buffered; /* delivered during a transfer, applied after */
    uint64_t refused;      /* bad version, oversized, wrong sender */
};

struct cd_replica;

/* Takes ownership of `cdb`. schema_path (may be NULL) validates received
 * snapshots. */
int cd_replica_new(uint32_t self, struct cd_cdb *cdb, const char *schema_path,
                   const struct cd_replica_ops *ops, void *data,
                   struct cd_replica **ret_replica);
void cd_replica_free(struct cd_replica *r);

/* The glue lost its CPG connection: forget the membership. */
void cd_replica_reset(struct cd_replica *r);
void cd_replica_set_chunk_size(struct cd_replica *r, size_t size);
void cd_replica_set_quorate(struct cd_replica *r, bool quorate);
/* A CPG configuration change: the full new member list. */
void cd_replica_confchg(struct cd_replica *r, const uint32_t *members,
                        size_t n);
/* A message delivered by CPG from `nodeid`. */
void cd_replica_deliver(struct cd_replica *r, uint32_t nodeid, const void *buf,
                        size_t len);

/* Sends `op` to the group (request_id is assigned and returned). Refused
 * with CD_E_NO_QUORUM without quorum, CD_E_SYNCING during a sync round,
 * CD_E_NO_CLUSTER outside a group. */
int cd_replica_submit(struct cd_replica *r, struct cd_op *op,
                      uint64_t *ret_request_id);

const struct cd_cdb *cd_replica_cdb(const struct cd_replica *r);
bool cd_replica_quorate(const struct cd_replica *r);
enum cd_sync_phase cd_replica_phase(const struct cd_replica *r);
size_t cd_replica_members(const struct cd_replica *r, const uint32_t **ret);
/* Lowest nodeid among the members while quorate; 0 otherwise. */
uint32_t cd_replica_coordinator(const struct cd_replica *r);
const struct cd_replica_stats *cd_replica_stats(const struct cd_replica *r);
/* The members that said in this round's STATE that they speak less than
 * `version` (their nodeids into ret_nodes, at most `max`); their count.
 * Outside CD_SYNC_DONE the round is not complete: every member counts as
 * too old (refuse, retry once in sync). */
size_t cd_replica_members_below(const struct cd_replica *r, uint16_t version,
                                uint32_t *ret_nodes, size_t max);

#endif
