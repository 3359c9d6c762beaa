/* Requests forwarded to the node that must run them, for a VM that runs
 * on another node: `vm disk add|remove` (only that node's hvagent can
 * hot-plug into its QEMU) and `move-storage` with its --status and
 * --cancel (that node's hvagent mirrors, its table holds the move).
 *
 * The node a client asked (the origin) multicasts a REQUEST naming the
 * node that runs the VM (`to`) and carrying the client's request XML;
 * that node runs it as if a local client had asked, with every check a
 * local request gets (an action in flight, the VM's state there), and
 * multicasts the ANSWER (the reply XML) back to the origin, which
 * answers its client. A forwarded request is never forwarded again: if
 * the VM moved meanwhile, `to` refuses it and the user retries. The
 * origin answers by itself when `to` leaves the group or does not answer
 * in time (CD_FWD_TIMEOUT_S), saying that the outcome is not known.
 *
 * Wire (explicit little-endian, like cd-msg.c):
 *   u32 magic "KCFW"  u16 version  u16 type  u32 crc32c(rest)
 *   u32 to  u64 id  u32 len + text (no NUL)
 * The decoder refuses short or over-long messages, another version, an
 * unknown type, a bad crc, embedded NULs and trailing bytes. */
#ifndef KVMC_CD_FWD_H
#define KVMC_CD_FWD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CD_FWD_TEXT_MAX (16u * 1024)
#define CD_FWD_HDR      12
#define CD_FWD_FIXED    (4 + 8 + 4)
/* Below clusterctl's 30 s call timeout (cli/ctl-client.c), so the user
 * reads which node did not answer rather than a bare timeout. */
#define CD_FWD_TIMEOUT_S 28

enum cd_fwd_type {
    CD_FWD_REQUEST = 1,
    CD_FWD_ANSWER,
    CD_FWD_TYPE_END,
};

struct cd_fwd_msg {
    enum cd_fwd_type type;
    uint32_t to; /* REQUEST: the node to run it; ANSWER: the origin */
    uint64_t id; /* the origin's number for the request */
    char *text;  /* request or reply XML (owned after decode) */
};

bool cd_fwd_msg_is_mine(const void *buf, size_t len);
/* Encodes m into a new buffer (*ret_buf, free it). */
int cd_fwd_msg_encode(const struct cd_fwd_msg *m, void **ret_buf,
                      size_t *ret_len);
/* Decodes; ret->text is allocated on success. */
int cd_fwd_msg_decode(const void *buf, size_t len, struct cd_fwd_msg *ret);

struct cd_daemon;
struct cmn_ipc_conn;

/* Who asked: a local client (node 0) or node `node`'s request `id`. */
struct cd_fwd_origin {
    uint32_t node;
    uint64_t id;
};

/* Sends the request XML `req` to node `to` for client `conn`:
 * CMN_IPC_DEFERRED (the answer comes later), or a refusal in *ret. A
 * `poll` (move-storage --status, which a following clusterctl asks 4
 * times a second) is logged at debug only. */
int cd_fwd_request(struct cd_daemon *d, struct cmn_ipc_conn *conn, uint32_t to,
                   const char *vm, const char *req, bool poll, char **ret);
/* Sends the reply to a forwarded request back to its origin. */
void cd_fwd_answer(struct cd_daemon *d, uint32_t origin, uint64_t id,
                   const char *reply);
/* A cluster message: true when it was one of these (handled). */
bool cd_fwd_deliver(struct cd_daemon *d, uint32_t sender, const void *buf,
                    size_t len);
/* The group's members now: requests to nodes that left are answered. */
void cd_fwd_confchg(struct cd_daemon *d, const uint32_t *members, size_t n);
/* Answers every waiting request (clusterd lost corosync or stops). */
void cd_fwd_fail_all(struct cd_daemon *d, const char *why);

#endif
