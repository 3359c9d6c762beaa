/* hvagent's wire protocols, the one header its clients include: the local
 * API (IPC name, requests, replies, error codes) and the migration port.
 * hvagent is the per-node VM executor.
 *
 * Clients (clusterd, tests, hvactl) connect with cmn_ipc_client_connect()
 * to the IPC service HVA_IPC_NAME (or the name given with --ipc-name) and
 * send one request at a time. Requests and replies are small XML
 * documents (schemas/hvagent-api.rng):
 *
 *   <request op="define"><vm .../></request>
 *   <request op="start|stop|kill|status|undefine" vm="NAME-or-UUID"
 *            [timeout-ms="30000"]/>            (stop: ACPI, then kill)
 *   <request op="status"/>                      (every VM)
 *   <request op="migrate-out" vm="X" to="ADDR:PORT" [downtime-ms="50"]
 *            [max-passes="10"] [converge="raise|throttle|cancel"]
 *            [bandwidth-mibs="0"] [timeout-s="300"]
 *            [handoff-reserve-ms="20"] [downtime-max-ms="2000"]
 *            [stall-ms="10000"]/>
 *            (QEMU's own downtime limit is downtime-ms minus the part
 *             reserved for the lease handoff, at least 10 ms; a stream
 *             that moves nothing for stall-ms is cancelled, 0: never;
 *             timeout-s and stall-ms default to the [hvagent] settings)
 *   <request op="migrate-in" vm="X" [timeout-s="20"]/>
 *            (arms this node for this VM, and only it, for timeout-s:
 *             its QEMU starts at once, -incoming defer, no lease, so it
 *             is ready when the source has authenticated; a migration of
 *             any VM this node is not armed for is refused, the VM stays
 *             on its source. Disarmed when the migration ends, fails, the
 *             prepared QEMU exits, or the time runs out; timeout-s
 *             defaults to the migration-arm-timeout setting)
 *   <request op="disarm" vm="X"/>               (the migration into X
 *             failed elsewhere: an armed QEMU or a copy still being
 *             received is discarded; reply disarmed="yes|no")
 *   <request op="save" vm="X"/>                 (quick migration, out)
 *   <request op="restore" vm="X"/>              (quick migration, in;
 *                                                the VM must be defined)
 *   <request op="subscribe"/>                   (event stream on)
 *   <request op="accel"/>                       (accel="kvm|tcg" and why=
 *                                                how start-up chose it)
 *
 * The <vm> element is the runtime form of a definition, with disks and
 * lease already resolved to paths (clusterd resolves CSV extents):
 *
 *   <vm name="web1" uuid="..." memory-mib="1024" vcpus="1" [cpu="..."]>
 *     [<kernel path="..." [initrd="..."] [cmdline="..."]/>]
 *     <disk path="/run/kvmcluster/luns/WWN" offset="..." size="..."
 *           [cache="none|writeback"]/>*
 *     [<lease lockspace="LS" resource="R" path="..." offset="..."/>]
 *     [<state path="..." offset="..." size="..."/>]
 *     <nic bridge="br0" mac="52:54:..." [model="virtio|e1000"]
 *          [mtu="1500"]/>*    (a tap on the node's bridge each; a
 *                              bridge missing here refuses the start)
 *     [<local volume="V" node="N" path="DIR"/>]  (disks are files under
 *          DIR, a node-local volume: no lease; refused unless this agent
 *          is node N and DIR's HVA_LOCAL_MARKER names V and N)
 *   </vm>
 *
 * hvagent checks a definition as clusterd checks its own (resources/
 * rules: name, uuid, memory, vcpus, cpu model, lengths) and refuses files
 * outside the directories its [hvagent] settings allow: kernel and initrd
 * in kernel-dirs; disks, lease and state as LUN files of lunbridge
 * (lun-dir) or under storage-dirs (see hvagent(8)).
 *
 * Replies: <reply rc="0" .../> or <reply rc="-N" error="text"/>; status
 * replies carry <vm name uuid state pid lease="yes|no" uptime-ms phase
 * serial/> children; migrate-out replies carry the figures (downtime-ms,
 * total-ms from the request to the guest running on the target, prep-ms
 * the part before QEMU's first pass, tls-ms, ready-ms, bytes, passes,
 * handoff-ms, ...). Events (after subscribe):
 *   <event type="state" vm="NAME" uuid state/>
 *   <event type="migration" vm phase pass transferred remaining
 *          dirty-rate expected-downtime-ms/>
 */
#ifndef KVMC_HVA_PROTO_H
#define KVMC_HVA_PROTO_H

#include "common/cmn-err.h"

#define HVA_IPC_NAME       "hvagent"
#define HVA_MIGRATION_PORT 7410

/* The file in a node-local volume's directory that names the volume and
 * its node, written by that node's clusterd when the volume is added:
 * one line, HVA_LOCAL_MARKER_FMT with the volume and node names. Both
 * clusterd and hvagent read it before a VM of the volume starts. */
#define HVA_LOCAL_MARKER     ".kvmcluster-local"
#define HVA_LOCAL_MARKER_FMT "kvmcluster-local-volume %s %s\n"
#define HVA_LOCAL_MARKER_MAX 256

/* hvagent's error block. */
enum hva_err {
    HVA_E_NO_VM = CMN_E_HVA_BASE + 1, /* no such VM defined */
    HVA_E_STATE,                      /* VM is not in a state allowing this */
    HVA_E_LEASE_HELD,                 /* the VM lease is held by another host */
    HVA_E_QEMU,                       /* QEMU failed to start or died */
    HVA_E_QMP,                        /* QEMU refused a QMP command */
    HVA_E_REFUSED,       /* migration target refused (allow list, limit) */
    HVA_E_AUTH,          /* migration peer failed authentication */
    HVA_E_MIGRATION,     /* migration failed; VM kept on the source */
    HVA_E_CONVERGE,      /* migration did not converge; cancelled */
    HVA_E_STATE_CORRUPT, /* saved state fails its checksum */
    HVA_E_BAD_REQUEST,   /* malformed API request */
    HVA_E_END,
};

/* Registers hvagent's error texts with cmn_strerror(): every program that
 * can receive an hvagent code calls it (hvagent, hvactl, clusterd,
 * clusterctl). */
void hva_err_register(void);

#endif
