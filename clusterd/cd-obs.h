/* Observability of clusterd: the history of every action with its
 * migration telemetry, the counters and histograms derived from it, and
 * their rendering as Prometheus / OpenMetrics text. Pure (no I/O but the
 * encoding of the history file), so unit tests drive it.
 *
 * Every member applies the same coordinator messages in the same order
 * (cd-coord.h), so every member sees every action begin, every pass of a
 * live migration and every step's result. Each node therefore keeps its
 * own copy of the history from what it delivers: a coordinator change
 * loses nothing, and the copy persisted in the node's state directory
 * survives a clusterd restart. Counters and histograms are this node's
 * view since clusterd started (Prometheus handles the reset of a
 * restarted counter). */
#ifndef KVMC_CD_OBS_H
#define KVMC_CD_OBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clusterd/cd-coord.h"
#include "clusterd/cd.h"

#define CD_OBS_HISTORY_MAX 256 /* finished actions kept */
#define CD_OBS_PASS_MAX    16  /* migration passes kept per action */
#define CD_OBS_OPEN_MAX    64  /* actions in flight followed */
#define CD_OBS_MSG_MAX     128
#define CD_OBS_NONE        UINT64_MAX /* a figure that does not apply */

/* One pass of a live migration, as the source's hvagent reported it. */
struct cd_obs_pass {
    uint32_t pass;
    uint64_t transferred, remaining; /* bytes */
    uint64_t dirty_rate;             /* bytes/s QEMU measured, 0 unknown */
    uint64_t expected_downtime_ms;
    uint64_t at_ms; /* since the action began */
};

/* One action, from its ACTION message to its end. */
struct cd_obs_entry {
    uint64_t id;
    enum cd_act_kind kind;
    enum cd_act_cause cause;
    enum cd_act_status status;
    int32_t rc;
    char vm[CD_NAME_MAX];
    char from[CD_NAME_MAX], to[CD_NAME_MAX]; /* node names ("" = none) */
    uint64_t started_s, ended_s;             /* unix seconds, this node */
    uint64_t downtime_ms, total_ms;          /* the executor's figures */
    /* Failover (a start after its node was lost), three phases that
     * add up to failover_ms, node loss to the VM running again:
     * detection, node loss to the restart's publication; lease wait,
     * publication to the VM's lease free (sanlock's host-dead time,
     * retries included); start, lease free to QEMU running with it (the
     * executor's measure). A guest's own boot is not seen by clusterd.
     * CD_OBS_NONE when not a failover, start_ms also when the executor
     * did not report it (lease_wait_ms then holds lease wait and start,
     * as in history files before version 3). */
    uint64_t detection_ms, lease_wait_ms, start_ms, failover_ms;
    char msg[CD_OBS_MSG_MAX];
    uint32_t npasses;
    struct cd_obs_pass passes[CD_OBS_PASS_MAX];
    /* in flight only: when it began (monotonic ms, this node) */
    uint64_t began_ms;
};

struct cd_obs;

int cd_obs_new(struct cd_obs **ret);
void cd_obs_free(struct cd_obs *o);

/* A node left the membership at `now_ms` (monotonic): a start of one of
 * its VMs published later is a failover, timed from `now_ms` minus
 * `detect_ms` (how long corosync took to notice: token timeout and
 * consensus, when the daemon knows them). */
void cd_obs_node_lost(struct cd_obs *o, uint64_t now_ms, uint64_t detect_ms);

/* An action was delivered (new or re-announced): followed from now on.
 * `from`/`to` are the names of its nodes. Calls for an action already
 * followed or already in the history change nothing. */
void cd_obs_action_begin(struct cd_obs *o, const struct cd_action *a,
                         const char *from, const char *to, uint64_t now_ms,
                         uint64_t now_s);

/* A live migration of `vm` reported a pass (`dirty_rate`: bytes/s, 0 when
 * the reporting member did not say). */
void cd_obs_pass(struct cd_obs *o, const char *vm, uint32_t pass,
                 uint64_t transferred, uint64_t remaining, uint64_t dirty_rate,
                 uint64_t expected_downtime_ms, uint64_t now_ms);

/* Action `a` ended: its entry goes to the history (the oldest one drops
 * out beyond CD_OBS_HISTORY_MAX) and the counters count it. True when
 * the history changed (the daemon saves it). */
bool cd_obs_action_end(struct cd_obs *o, const struct cd_action *a,
                       const char *from, const char *to, uint64_t now_ms,
                       uint64_t now_s);

/* The history, oldest first. */
size_t cd_obs_history_count(const struct cd_obs *o);
const struct cd_obs_entry *cd_obs_history(const struct cd_obs *o, size_t i);

/* The history file: a header (magic, version, generation, count, then
 * a crc32c over the header before it and every entry) and the entries,
 * fixed-size, encoded field by field, little-endian. Version 2 added the
 * dirty rate of each pass, version 3 a failover's start phase; files of
 * versions 1 and 2 (written before) still load, their dirty rates 0
 * (version 1) and start phases CD_OBS_NONE. */
int cd_obs_encode(const struct cd_obs *o, uint8_t **ret_buf, size_t *ret_len);
/* Replaces the history with the one in `buf`: CD_E_CORRUPT (checksum,
 * truncated, trailing bytes), CD_E_MSG_VERSION (unknown version); the
 * history is left as it was on error. */
int cd_obs_decode(struct cd_obs *o, const uint8_t *buf, size_t len);

/* The history as XML (<history><action .../>...</history>), only the
 * actions of `vm` (NULL = all) that ended at or after `since_s`. */
int cd_obs_history_xml(const struct cd_obs *o, const char *vm, uint64_t since_s,
                       char **ret_text);

/* ------------------------------------------------------------ metrics */

struct cd_obs_node {
    char name[CD_NAME_MAX];
    uint32_t nodeid;
    enum cd_node_state state;
    bool member;
};

struct cd_obs_vm {
    char name[CD_NAME_MAX];
    enum cd_priority priority;
    enum cd_rt_state state;
    char node[CD_NAME_MAX];  /* where it runs, "" = nowhere */
    char lease[CD_NAME_MAX]; /* whose hvagent holds its lease, "" = none */
    bool want_running;
};

/* This node's view of the cluster, filled by the daemon. */
struct cd_obs_view {
    const char *self; /* this node's name */
    bool connected, quorate;
    uint32_t coordinator; /* nodeid, 0 = none */
    unsigned members, expected_votes, total_votes, quorum_votes;
    uint64_t epoch, last_sync_ms;
    const struct cd_obs_node *nodes;
    size_t nnodes;
    const struct cd_obs_vm *vms;
    size_t nvms;
    bool csv_known;
    uint64_t csv_total_bytes, csv_free_bytes;
    /* lunbridge's per-LUN samples in the format rendered (from
     * cd_obs_lun_text), NULL = none */
    const char *lun_text;
};

enum cd_obs_format {
    CD_OBS_OPENMETRICS, /* application/openmetrics-text 1.0 */
    CD_OBS_PROMETHEUS,  /* text format 0.0.4 (node-exporter's textfile) */
};

/* The metrics text of `v` and the counters of `o`. */
int cd_obs_render(const struct cd_obs *o, const struct cd_obs_view *v,
                  enum cd_obs_format f, char **ret_text);

/* lunbridge's metrics textfile (`len` bytes of `in`, the text format
 * node-exporter reads) as `f`: only the kvmcluster_lun_ families, their
 * # TYPE and # HELP lines (a counter's family without "_total" in
 * OpenMetrics), other comments dropped. Any line that does not parse
 * (labels, value, a type other than gauge, counter, histogram, a control
 * byte, a line over 2048 bytes, a last line without its newline) refuses
 * the whole text: CD_E_CORRUPT, `err` says which line and why. */
int cd_obs_lun_text(const char *in, size_t len, enum cd_obs_format f,
                    char **ret_text, char *err, size_t errlen);

/* Appends `s` to `b` escaped as a label value (\\, \", \n). */
struct cd_buf;
void cd_obs_label_escape(struct cd_buf *b, const char *s);

#endif
