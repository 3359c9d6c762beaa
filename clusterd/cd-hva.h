/* clusterd's client of the local hvagent (hvagent/hva-proto.h describes the
 * API): an event connection polled by the daemon's loop, reconnected
 * when hvagent restarts, and steps of actions run in worker threads so
 * that a migration of minutes never blocks the loop. */
#ifndef KVMC_CD_HVA_H
#define KVMC_CD_HVA_H

#include <libxml/tree.h>
#include <qb/qbloop.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "clusterd/cd-coord.h"

struct cd_hva;

struct cd_hva_ops {
    /* (Re)connected: `xml` is hvagent's full status reply. */
    void (*connected)(void *data, const char *status_xml);
    /* Lost hvagent (it stopped or crashed); VMs keep running. */
    void (*lost)(void *data);
    /* One pushed event (<event type=.../>). */
    void (*event)(void *data, const char *xml);
};

/* One request on a connection of its own, for a worker or a tick that
 * can wait `timeout_ms`: hvagent's rc (0, or its negative code with its
 * error text in msg) or a negative errno when it did not answer (msg
 * says so). *ret_doc gets the parsed reply whenever one came, even with
 * a negative rc, so NULL there means no readable reply came; the caller
 * frees it. */
int cd_hva_ask(const char *ipc_name, const char *req, int timeout_ms, char *msg,
               size_t len, xmlDoc **ret_doc);

int cd_hva_new(qb_loop_t *loop, const char *ipc_name,
               const struct cd_hva_ops *ops, void *data, struct cd_hva **ret);
void cd_hva_free(struct cd_hva *h);
bool cd_hva_connected(const struct cd_hva *h);

/* One step for the local hvagent, everything copied in. */
struct cd_hva_job {
    uint64_t action_id;
    unsigned step;
    enum cd_act_kind kind;
    char vm[CD_NAME_MAX];
    char *vm_xml;          /* runtime <vm> for define (START, targets) */
    char target[300];      /* LIVE source: ADDR:PORT of the target agent */
    char mig_args[256];    /* LIVE source: extra attributes */
    unsigned lease_wait_s; /* START: retry a held lease this long */
    /* The VM lease, probed before each start attempt so that no QEMU is
     * spawned while another host holds it ("" = no lease). */
    char lease_ls[CD_NAME_MAX];
    char lease_res[CD_NAME_MAX + 8];
    char lease_path[1024]; /* SANLK_PATH_LEN */
    uint64_t lease_offset;
    char ipc_name[64];
    /* Run first in the worker when set (a VM on the CSV resolves its
     * lease, disks and state there, see cd-csv.h); < 0 fails the step. */
    int (*prepare)(struct cd_hva_job *j);
    char csv_path[1024];
    char csv_ref[CD_VALUE_MAX];
    size_t csv_ndisks;
    uint64_t csv_disks[16]; /* extent ids, in definition order */
    unsigned csv_slots[16]; /* their hot-plug PCI slots, 0: none */
    bool csv_scsi[16];      /* on the virtio-scsi controller */
    /* A VM on a node-local volume (cd-local.c, which sets prepare): the
     * volume's directory, name and node, and each disk's target and size
     * (csv_ndisks, csv_slots and csv_scsi count for them too). */
    char local_path[CD_VALUE_MAX];
    char local_volume[CD_NAME_MAX];
    char local_node[CD_NAME_MAX];
    char local_targets[16][RES_TARGET_MAX];
    uint64_t local_sizes[16];
    /* A disk on another volume than the VM's slot (move-storage --disk):
     * that volume's name and path, its extent owned by the VM's disk
     * slot there; "" = beside the slot. */
    char csv_dvol[16][CD_NAME_MAX];
    char csv_dpath[16][1024];

    /* results */
    int rc;
    char msg[256];
    uint64_t downtime_ms, total_ms;
    /* START: the lease free (no live host held it) to QEMU running with
     * it, 0 when this job started nothing (the VM ran here already). */
    uint64_t start_ms;
};

typedef void (*cd_hva_done_fn)(void *data, struct cd_hva_job *job);

/* Runs `job` in a worker thread; `done` is called in the loop with the
 * job filled in, and then owns it (cd_hva_job_free). */
int cd_hva_run(struct cd_hva *h, struct cd_hva_job *job, cd_hva_done_fn done,
               void *data);
void cd_hva_job_free(struct cd_hva_job *job);

/* Synchronous short request (stop on quorum loss); -ENOTCONN without
 * hvagent. */
int cd_hva_stop_all(struct cd_hva *h, unsigned timeout_ms);

#endif
