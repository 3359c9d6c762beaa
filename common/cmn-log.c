#include "config.h"

#include "common/cmn-log.h"
#include "common/cmn-paths.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const subsys_names[CMN_LOG_SUBSYS_COUNT] = {
    [CMN_LOG_COMMON] = "common", [CMN_LOG_ISCSI] = "iscsi",
    [CMN_LOG_CSV] = "csv",       [CMN_LOG_RES] = "res",
    [CMN_LOG_HVA] = "hvagent",   [CMN_LOG_CD] = "clusterd",
    [CMN_LOG_CTL] = "ctl",       [CMN_LOG_QEMU] = "qemu",
};

/* Owned by this module: the process-wide log configuration. */
static char log_name[64] = "kvmcluster";
static char log_blackbox_dir[PATH_MAX] = CMN_STATE_DIR;
static char log_dump_path[PATH_MAX + 128];

static const char *subsys_of_tags(uint32_t tags)
{
    for (int i = 0; i < CMN_LOG_SUBSYS_COUNT; i++) {
        if (tags & (1u << i))
            return subsys_names[i];
    }
    return "-";
}

bool cmn_log_is_journal(const char *journal_stream, int fd)
{
    unsigned long long dev, ino;
    struct stat st;
    int end = 0;

    if (!journal_stream ||
        sscanf(journal_stream, "%llu:%llu%n", &dev, &ino, &end) != 2 ||
        journal_stream[end] != '\0' || fstat(fd, &st) < 0)
        return false;
    return (unsigned long long)st.st_dev == dev &&
           (unsigned long long)st.st_ino == ino;
}

void cmn_log_init(const char *name, const struct cmn_log_opts *opts)
{
    struct cmn_log_opts none = {0}, journal;
    int prio;

    if (opts == NULL)
        opts = &none;
    /* Under systemd, stderr lines would reach the journal at one priority
     * and with two timestamps. */
    if (opts->to_stderr &&
        cmn_log_is_journal(getenv("JOURNAL_STREAM"), STDERR_FILENO)) {
        journal = *opts;
        journal.to_stderr = false;
        journal.to_syslog = true;
        opts = &journal;
    }
    snprintf(log_name, sizeof(log_name), "%s", name);
    if (opts->blackbox_dir != NULL)
        snprintf(log_blackbox_dir, sizeof(log_blackbox_dir), "%s",
                 opts->blackbox_dir);

    qb_log_init(log_name, LOG_DAEMON, LOG_INFO);
    qb_log_tags_stringify_fn_set(subsys_of_tags);
    prio = opts->debug ? LOG_DEBUG : LOG_INFO;

    /* qb_log_init enables syslog by default; the caller decides. */
    qb_log_ctl(QB_LOG_SYSLOG, QB_LOG_CONF_ENABLED,
               opts->to_syslog ? QB_TRUE : QB_FALSE);
    if (opts->to_syslog) {
        qb_log_filter_ctl(QB_LOG_SYSLOG, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FILE,
                          "*", prio);
        qb_log_format_set(QB_LOG_SYSLOG, "[%g] %b");
    }
    qb_log_ctl(QB_LOG_STDERR, QB_LOG_CONF_ENABLED,
               opts->to_stderr ? QB_TRUE : QB_FALSE);
    if (opts->to_stderr) {
        qb_log_filter_ctl(QB_LOG_STDERR, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FILE,
                          "*", prio);
        /* Milliseconds: a switchover or a failover is a matter of
         * tens of them, and logs of two nodes are read side by side. */
        qb_log_format_set(QB_LOG_STDERR, "%T %N[%P] %p [%g] %b");
    }

    /* The blackbox keeps everything, debug included, for post-mortems. */
    qb_log_ctl(QB_LOG_BLACKBOX, QB_LOG_CONF_SIZE, 1024 * 1024);
    qb_log_ctl(QB_LOG_BLACKBOX, QB_LOG_CONF_ENABLED, QB_TRUE);
    qb_log_filter_ctl(QB_LOG_BLACKBOX, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FILE,
                      "*", LOG_TRACE);
    qb_log_format_set(QB_LOG_BLACKBOX, "%T %p [%g] %b");
}

void cmn_log_fini(void)
{
    qb_log_fini();
}

const char *cmn_log_blackbox_dump(void)
{
    ssize_t n;

    snprintf(log_dump_path, sizeof(log_dump_path), "%s/%s-%d.blackbox",
             log_blackbox_dir, log_name, (int)getpid());
    n = qb_log_blackbox_write_to_file(log_dump_path);
    if (n < 0)
        return NULL;
    return log_dump_path;
}

static int32_t on_sigusr2(int32_t sig, void *data)
{
    const char *path = cmn_log_blackbox_dump();

    if (path != NULL)
        qb_log(LOG_NOTICE, "blackbox written to %s", path);
    else
        qb_log(LOG_WARNING, "blackbox dump to %s failed", log_blackbox_dir);
    return 0;
}

int cmn_log_attach_loop(qb_loop_t *loop)
{
    qb_loop_signal_handle handle;
    int32_t rc;

    rc = qb_loop_signal_add(loop, QB_LOOP_MED, SIGUSR2, NULL, on_sigusr2,
                            &handle);
    return rc < 0 ? rc : 0;
}
