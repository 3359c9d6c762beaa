/* hvagent's migration code, shared by its roles (hva-mig.c, -out, -in,
 * -save, -restore). Nothing outside hvagent/hva-mig*.c includes this. */
#ifndef KVMC_HVA_MIG_INT_H
#define KVMC_HVA_MIG_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "csv/csv.h"
#include "hvagent/hva-int.h"

#define MIG_FDNAME      "kvmc-mig"
#define MIG_POLL_MS     100
#define MIG_TOKEN_LEN   64   /* hex chars */
#define MIG_CONNECT_MS  5000 /* connect + TLS handshake to the target */
#define MIG_DATA_MS     3000 /* data connection: the target listens already */
#define RB_LEASE_MS     5000 /* rollback: wait for the target's QEMU to die */
#define MIG_PING_MS     1000 /* control channel keepalive */
#define MIG_IDLE_MIN_MS 3000 /* target: silence that ends a migration */
#define IO_CHUNK        (1u << 20)
/* Target: control connections still in their TLS handshake, at most (in
 * all, and from one address), and how long one may take: a silent or slow
 * peer never holds an fd for long, and one address's flood does not keep
 * the other members out. */
#define MIG_PREAUTH_MAX      32
#define MIG_PREAUTH_PER_ADDR 4
#define MIG_HANDSHAKE_MS     5000
/* Target: data connections waiting for their token line, at most. */
#define MIG_DATA_CONN_MAX 16

struct hva_mig;
typedef void (*hva_mig_lease_fn)(struct hva_mig *m, int rc, uint64_t ms);

struct hva_mig {
    struct hva_agent *ag;
    struct hva_vm *vm; /* NULL on the target until PREPARE */
    struct hva_mig *next_in;
    enum hva_mig_kind kind;
    struct hva_mig_settings set;
    struct hva_chan *chan;
    char host[256];
    unsigned port;
    char peer_addr[64];
    char token[MIG_TOKEN_LEN + 1];
    /* migration-tls = psk: QEMU's credentials directory while it exists
     * (removed by hva_mig_free at the latest) */
    char tls_dir[4096];
    qb_loop_timer_handle poll_timer, deadline_timer;
    bool counted;
    bool preauth; /* target: TLS not up yet (counted, handshake deadline) */
    bool hello;   /* target: HELLO received */
    bool qemu_migrating; /* our QEMU has a migration running */
    bool src_completed, target_resumed;
    bool rolling_back;
    bool rb_pending; /* rollback waits for a lease call in flight */
    int rb_rc;
    char rb_msg[512];
    /* worker jobs in flight that point here: hva_mig_free leaves the struct
     * (and the state file) to the last one's completion */
    unsigned jobs;
    bool freed;
    hva_mig_lease_fn lease_cb; /* the lease call in flight, if any */
    bool lease_ok;             /* restore: lease ours (or none needed) */
    char hello_uuid[40];       /* target: the VM the source announced */
    /* figures; t_start: request (source) or state feed (restore) */
    uint64_t t_start, t_chan, t_ready, t_migrate;
    uint64_t t_paused, t_released, t_acquired, t_resumed;
    unsigned pass, cur_downtime;
    uint64_t transferred, remaining, dirty_rate, expected_dt;
    uint64_t qemu_downtime, qemu_total, setup_ms;
    uint64_t acquire_ms; /* the target's sanlock_acquire, as it reports */
    uint64_t t_progress; /* source: last time `transferred` grew */
    unsigned rate_pass;  /* source: the pass `t_pass` is the start of */
    uint64_t t_pass;
    int data_fd;      /* source: our copy of QEMU's data socket (TCP state) */
    unsigned idle_ms; /* target: the source's silence that aborts */
    char result[512];
    /* save / restore (the stream itself is a worker's: struct hva_mig_copy_job)
     */
    int file_fd;
    uint64_t io_len;
    uint32_t crc;
    bool io_eof, qemu_done, restore_fed;
    struct csv_state_hdr hdr;
};

/* The state stream, QEMU's pipe -> the state extent, runs in a worker:
 * the extent is on the CSV, where a write can stall for the storage's
 * deadline, and the agent's loop serves every other VM meanwhile. */
struct hva_mig_copy_job {
    struct hva_mig *m;
    int pipe_fd, file_fd;
    uint64_t offset; /* where the stream's first byte goes */
    uint64_t room;   /* bytes the extent holds after the header */
    uint64_t len;
    uint32_t crc;
};

/* ---- hva-mig.c: the struct's life ---- */
struct hva_mig *hva_mig_new(struct hva_agent *ag, struct hva_vm *vm,
                            enum hva_mig_kind kind);
/* Ends the migration: timers, channel, the VM's pointer to it, and every
 * QMP reply still pending for it (its callback will not run). The struct
 * itself goes once no worker job points to it (hva_mig_job_done). */
void hva_mig_free(struct hva_mig *m);
/* A worker job of `m` reported: false when `m` was freed meanwhile (then
 * the caller only drops what the job produced). */
bool hva_mig_job_done(struct hva_mig *m);
/* The VM lease call `op` for m's QEMU, in a worker; `cb` runs on the loop
 * (now, with the error, if no worker could be started). */
void hva_mig_lease(struct hva_mig *m, enum hva_lease_op op,
                   unsigned retry_held_ms, hva_mig_lease_fn cb);
bool hva_mig_vm_has_lease(const struct hva_vm *vm);
void hva_mig_data_close(struct hva_mig *m);
/* migration-tls = psk: writes m's credentials directory for QEMU (key
 * from m->token) into m->tls_dir. Error: a message in `err`. */
int hva_mig_tls_prepare(struct hva_mig *m, bool server, char *err,
                        size_t errlen);
void hva_mig_tls_done(struct hva_mig *m);
/* QMP arguments */
json_object *hva_mig_caps_args(bool pause_before, bool throttle);
json_object *hva_mig_str_arg(const char *k, const char *v);
/* Ends a copy job on the loop: its mig, or NULL when the mig was freed
 * meanwhile (nothing left to do then). */
struct hva_mig *hva_mig_copy_job_end(struct hva_mig_copy_job *j,
                                     uint64_t *ret_len, uint32_t *ret_crc);

/* ---- each role's reaction to its QEMU (hva_mig_qmp_event's decision)
 * and to its QEMU's exit ---- */
void hva_mig_out_qemu_event(struct hva_mig *m,
                            const struct hva_mig_reaction *r);
void hva_mig_out_qemu_gone(struct hva_mig *m);
void hva_mig_in_qemu_event(struct hva_mig *m, const struct hva_mig_reaction *r);
/* Also for an armed VM without a migration yet. */
void hva_mig_in_qemu_gone(struct hva_vm *vm);
/* Forgets `m` in the target's list of migrations data connections look
 * for (hva_mig_free). */
void hva_mig_in_forget(struct hva_mig *m);
void hva_mig_save_qemu_event(struct hva_mig *m,
                             const struct hva_mig_reaction *r);
void hva_mig_save_qemu_gone(struct hva_mig *m);
void hva_mig_restore_qemu_event(struct hva_mig *m,
                                const struct hva_mig_reaction *r);
void hva_mig_restore_qemu_gone(struct hva_mig *m);

#endif
