/* Live migration with storage copy (issue 15, second part): the disks of a
 * VM on a node-local volume travel with it over NBD, inside the live
 * migration of hva-mig.c. What this header gives is the pure part: the
 * names, the port, the QMP arguments and the READY line, each checked by
 * hand against QEMU 7.2 (bench/nbd-mirror runs the same sequence on two
 * QEMUs) and unit-tested (tests/unit/hvagent/test-mig-nbd.c).
 *
 * The sequence, target T (armed with the VM's new, empty disk files,
 * QEMU -S -incoming defer) and source S:
 *
 *   T: after PREPARE, with the migration's token: object-add the
 *      tls-creds-psk object of hva-mig-tls.c (endpoint server),
 *      nbd-server-start on its migration address, port
 *      hva_nbd_port(control port), tls-creds that object; one
 *      block-export-add (nbd, writable, export hva_nbd_export_name(i))
 *      of each disk's node; "READY <token>[ tls] nbd=<port>"
 *   S: object-add the client object (same key: same secret, same token);
 *      per disk, a TCP connection to T's NBD port made by the agent (a
 *      worker, as the data connection), handed to QEMU (getfd
 *      hva_nbd_fd_name(i)) and a blockdev-add driver nbd on it (server
 *      type fd, tls-creds the object), and
 *      hva-mirror.c's blockdev-mirror (sync full) of each disk into it;
 *      once every job is READY: the memory pre-copy, as without storage
 *   S: "completed" (its guest stopped for good): block-job-cancel of each
 *      READY job, which QEMU ends with BLOCK_JOB_COMPLETED, the target a
 *      point-in-time copy and the source's own disks never switched;
 *      blockdev-del of the nbd nodes; then the lease handoff as today
 *   T: block-export-del of each export and nbd-server-stop before cont.
 *
 * Why TLS always, whatever migration-tls says: an NBD export is a
 * writable disk on the network; without the PSK anyone reaching the port
 * could write the VM's disk. The key is the migration's own (derived from
 * the stream secret and the token, which only travelled inside the
 * control channel's TLS), so a wrong key fails at blockdev-add ("TLS
 * handshake failed") and no tls-authz is needed: holding the key is the
 * authorisation. The disk names are the definition's indexes, the same on
 * both sides (the target is defined with the source's disks, in order).
 *
 * Why the agent connects: QEMU 7.2's NBD client has no request timeout,
 * so with a link that drops packets (TCP still up) a job, even a forced
 * block-job-cancel of it, waits for replies for as long as TCP retries
 * (bench/nbd-mirror "stalled"). The agent keeps its descriptor of each
 * socket and shutdown()s it when the migration's deadline passes: the
 * job then fails at once and the rollback below runs.
 *
 * Failure before T resumes: S cancels the jobs (not READY: they end
 * CANCELLED, READY: COMPLETED; either way its disks were never switched),
 * blockdev-dels the nbd nodes and resumes as in any failed migration; T's
 * QEMU is killed, and its clusterd deletes the disk files this move made. */
#ifndef KVMC_HVA_MIG_NBD_H
#define KVMC_HVA_MIG_NBD_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

/* The NBD port is two above the control port (the data port is one
 * above): 0 with it in ret_port, -EINVAL when it would not be a port. */
#define HVA_NBD_PORT_OFFSET 2
int hva_nbd_port(unsigned control_port, unsigned *ret_port);

/* Disk i's export name ("kvmc-disk<i>"), block-export id ("kvmc-nx<i>"),
 * the source's getfd name of its socket ("kvmc-nbd<i>"), and the source's
 * nbd node of it ("nb<gen>d<i>", at most 23 characters like
 * hva-mirror.c's, QEMU's node names stop at 31). */
void hva_nbd_export_name(size_t i, char *buf, size_t len);
void hva_nbd_export_id(size_t i, char *buf, size_t len);
void hva_nbd_fd_name(size_t i, char *buf, size_t len);
void hva_nbd_client_node(unsigned gen, size_t i, char *buf, size_t len);

/* nbd-server-start's arguments: inet host:port, tls-creds the
 * migration's object (HVA_MIG_TLS_OBJ), at most `max_conn` clients (one
 * per disk: the source opens one connection per nbd node). */
json_object *hva_nbd_server_args(const char *host, unsigned port,
                                 size_t max_conn);
/* block-export-add's arguments for disk i, block node `node`. */
json_object *hva_nbd_export_args(const char *node, size_t i);
/* block-export-del's arguments for disk i. */
json_object *hva_nbd_export_del_args(size_t i);
/* blockdev-add's arguments on the source: node `node`, driver nbd on the
 * socket QEMU got as hva_nbd_fd_name(i), export of disk i, the
 * migration's TLS object. */
json_object *hva_nbd_client_args(const char *node, size_t i);

/* The target's READY line after its verb: "<token>[ tls][ nbd=<port>]".
 * 0 with the fields (token NUL-terminated, nbd_port 0 without storage
 * copy); -EPROTO for anything else: a token of another length or not
 * hex, an unknown word, a word twice, a bad port. */
struct hva_mig_ready {
    char token[65];
    bool tls;
    unsigned nbd_port;
};
int hva_mig_ready_parse(const char *arg, size_t token_len,
                        struct hva_mig_ready *ret);

#endif
