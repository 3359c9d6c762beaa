/* Logging over libqb's qb_log, with a subsystem tag per module and the
 * blackbox (an in-memory ring of recent messages at every priority) that a
 * daemon dumps on SIGUSR2. */
#ifndef KVMC_CMN_LOG_H
#define KVMC_CMN_LOG_H

#include <qb/qblog.h>
#include <qb/qbloop.h>
#include <stdbool.h>

enum cmn_log_subsys {
    CMN_LOG_COMMON = 0,
    CMN_LOG_ISCSI,
    CMN_LOG_CSV,
    CMN_LOG_RES,
    CMN_LOG_HVA,
    CMN_LOG_CD,
    CMN_LOG_CTL,
    CMN_LOG_QEMU,
    CMN_LOG_SUBSYS_COUNT,
};

struct cmn_log_opts {
    bool to_stderr; /* foreground daemons and tools */
    bool to_syslog; /* production daemons */
    bool debug;     /* let debug messages through to stderr/syslog */
    const char
        *blackbox_dir; /* where SIGUSR2 dumps go; NULL = /var/lib/kvmcluster */
};

/* Once per process, before any cmn_log(). `name` is the program name.
 * A daemon whose stderr is systemd's journal (see cmn_log_is_journal)
 * logs through syslog instead, so the journal gets each message's
 * priority and one timestamp. */
void cmn_log_init(const char *name, const struct cmn_log_opts *opts);
/* Is `fd` the stream that $JOURNAL_STREAM ("DEV:INODE", set by systemd
 * for a service whose output goes to the journal) names? */
bool cmn_log_is_journal(const char *journal_stream, int fd);
void cmn_log_fini(void);

/* Makes `loop` dump the blackbox to <blackbox_dir>/<name>-<pid>.blackbox on
 * SIGUSR2. Returns 0 or negative errno. */
int cmn_log_attach_loop(qb_loop_t *loop);

/* Writes the blackbox now; returns the file's path (static buffer) or NULL. */
const char *cmn_log_blackbox_dump(void);

#define cmn_log(subsys, prio, fmt, ...)                                        \
    qb_logt((prio), (1u << (subsys)), fmt, ##__VA_ARGS__)
#define cmn_err(ss, fmt, ...)   cmn_log(ss, LOG_ERR, fmt, ##__VA_ARGS__)
#define cmn_warn(ss, fmt, ...)  cmn_log(ss, LOG_WARNING, fmt, ##__VA_ARGS__)
#define cmn_info(ss, fmt, ...)  cmn_log(ss, LOG_INFO, fmt, ##__VA_ARGS__)
#define cmn_debug(ss, fmt, ...) cmn_log(ss, LOG_DEBUG, fmt, ##__VA_ARGS__)

#endif
