/* clusterd: the cluster brain on every node (see clusterd(8)).
 *
 * This part: options, loading the local CDB copy (a damaged copy is set
 * aside and the node starts empty, so it takes the cluster's copy), the
 * qb_loop, persistence after changes, and registering this node in the
 * CDB once the cluster is quorate. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clusterd/cd-config.h"
#include "clusterd/cd-csv.h"
#include "clusterd/cd-daemon.h"
#include "clusterd/cd-int.h"
#include "common/cmn-log.h"
#include "common/cmn-name.h"
#include "common/cmn-xml.h"
#include "hvagent/hva-proto.h"

static struct cd_daemon daemon_state;

const struct cd_cdb *cd_daemon_cdb(const struct cd_daemon *d)
{
    return d->replica ? cd_replica_cdb(d->replica) : d->boot_cdb;
}

static void save_job(void *data)
{
    struct cd_daemon *d = data;
    int rc;

    d->save_queued = false;
    if (!d->dirty)
        return;
    d->dirty = false;
    /* Small file, written once per burst of changes: a job after the
     * current dispatch coalesces a burst into one fsync. */
    rc = cd_cdb_save(cd_daemon_cdb(d), d->cdb_path);
    if (rc < 0)
        cmn_err(CMN_LOG_CD, "cannot save '%s': %s", d->cdb_path,
                cmn_strerror(rc));
}

void cd_daemon_changed(struct cd_daemon *d)
{
    d->dirty = true;
    if (d->save_queued)
        return;
    if (qb_loop_job_add(d->loop, QB_LOOP_LOW, d, save_job) == 0)
        d->save_queued = true;
    else
        save_job(d);
}

static uint64_t mem_total_mib(void)
{
    FILE *f = fopen("/proc/meminfo", "re");
    char line[256];
    unsigned long long kib = 0;

    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "MemTotal: %llu kB", &kib) == 1)
            break;
    fclose(f);
    return kib / 1024;
}

/* Adds this node to the CDB when the cluster is quorate, in sync and does
 * not know it yet. Every change goes through CPG like any other. */
void cd_daemon_maybe_register(struct cd_daemon *d)
{
    struct cd_op op = {.type = CD_OP_ADD_NODE};
    const struct cd_cdb *cdb;
    int rc;

    if (!d->replica || d->registering || d->register_failed ||
        !cd_replica_quorate(d->replica) ||
        cd_replica_phase(d->replica) != CD_SYNC_DONE)
        return;
    cdb = cd_replica_cdb(d->replica);
    if (cd_cdb_node_by_id(cdb, d->nodeid))
        return;
    snprintf(op.name, sizeof(op.name), "%s", d->node_name);
    snprintf(op.arg, sizeof(op.arg), "%s", d->address);
    op.nodeid = d->nodeid;
    op.number = d->memory_mib ? d->memory_mib : mem_total_mib();
    rc = cd_replica_submit(d->replica, &op, NULL);
    if (rc == 0) {
        d->registering = true;
        cmn_info(CMN_LOG_CD,
                 "adding this node '%s' (nodeid %u) to the "
                 "cluster database",
                 d->node_name, d->nodeid);
    }
}

static int32_t on_signal(int32_t sig, void *data)
{
    struct cd_daemon *d = data;

    cmn_info(CMN_LOG_CD, "signal %d: stopping", sig);
    /* The service's stop (SIGTERM) drains the node first; a second
     * SIGTERM, or SIGINT, leaves at once (VMs keep running). */
    if (sig == SIGTERM && cd_orch_shutdown(d))
        return 0;
    qb_loop_stop(d->loop);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: clusterd [-f] [-d] [-c FILE] [-s DIR] [-n NAME] "
            "[-a ADDRESS] [-m MiB] [-g GROUP]\n"
            "  -f, --foreground        stay in the foreground, log to "
            "stderr\n"
            "  -d, --debug             debug messages\n"
            "  -c, --config FILE       configuration (default %s,\n"
            "                          [clusterd] section; options win)\n"
            "  -s, --state-dir DIR     where cdb.xml lives (default %s)\n"
            "  -n, --node-name NAME    this node's name (default: corosync "
            "nodelist)\n"
            "  -a, --address ADDRESS   migration address (default: "
            "ring0_addr)\n"
            "  -m, --memory MiB        memory offered to VMs (default: "
            "MemTotal)\n"
            "  -g, --admin-group GROUP group allowed to change the cluster\n"
            "      --hvagent NAME      IPC name of the local hvagent\n"
            "      --vm-lease-lockspace LS, --vm-lease-dir DIR\n"
            "                          VM leases as DIR/vm-NAME.lease in\n"
            "                          lockspace LS, saved states beside\n"
            "                          them (without --csv)\n"
            "      --csv PATH          VM slots, disks, leases and saved\n"
            "                          states on the cluster-shared volume\n"
            "                          at PATH (the LUN, same on every node)\n",
            CD_CONFIG_DEFAULT, CD_STATE_DIR_DEFAULT);
}

/* Loads the local copy; a damaged one is kept aside and replaced by an
 * empty document, which loses every sync round. */
static int load_cdb(struct cd_daemon *d)
{
    char err[1024] = "", aside[PATH_MAX + 32];
    int rc;

    rc = cd_cdb_load(d->cdb_path, d->schema_path, &d->boot_cdb, err,
                     sizeof(err));
    if (rc == 0) {
        char hex[CD_DIGEST_HEX];
        cd_cdb_digest_hex(d->boot_cdb, hex);
        cmn_info(CMN_LOG_CD, "loaded '%s': epoch %llu digest %.16s",
                 d->cdb_path, (unsigned long long)cd_cdb_epoch(d->boot_cdb),
                 hex);
        return 0;
    }
    if (rc == -ENOENT) {
        cmn_info(CMN_LOG_CD,
                 "no '%s' yet: starting with an empty cluster "
                 "database",
                 d->cdb_path);
    } else if (rc == -ENOMEM || rc == -EACCES || rc == -EISDIR) {
        cmn_err(CMN_LOG_CD, "cannot read '%s': %s", d->cdb_path,
                cmn_strerror(rc));
        return rc;
    } else {
        int r2 = cd_cdb_set_aside(d->cdb_path, aside, sizeof(aside));
        cmn_err(CMN_LOG_CD,
                "'%s' is damaged (%s); %s, taking the cluster's copy",
                d->cdb_path, err[0] ? err : cmn_strerror(rc),
                r2 == 0 ? aside : "could not set it aside");
    }
    return cd_cdb_new(&d->boot_cdb);
}

/* What the command line says; the settings file fills the rest. */
struct cd_opts {
    bool foreground, debug;
    const char *config;
    const char *state, *name, *addr, *mem, *group, *csv;
};

#define GO_ON (-1) /* a step's "no exit status yet" */

/* The options into `o` (and the lease and hvagent ones into `d`):
 * GO_ON, or the status to exit with. */
static int parse_options(int argc, char **argv, struct cd_daemon *d,
                         struct cd_opts *o)
{
    static const struct option longopts[] = {
        {"foreground", no_argument, NULL, 'f'},
        {"debug", no_argument, NULL, 'd'},
        {"config", required_argument, NULL, 'c'},
        {"state-dir", required_argument, NULL, 's'},
        {"node-name", required_argument, NULL, 'n'},
        {"address", required_argument, NULL, 'a'},
        {"memory", required_argument, NULL, 'm'},
        {"admin-group", required_argument, NULL, 'g'},
        {"hvagent", required_argument, NULL, 'H'},
        {"vm-lease-lockspace", required_argument, NULL, 'L'},
        {"vm-lease-dir", required_argument, NULL, 'D'},
        {"csv", required_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    while ((c = getopt_long(argc, argv, "fdc:s:n:a:m:g:h", longopts, NULL)) !=
           -1) {
        switch (c) {
        case 'H':
            snprintf(d->hva_ipc, sizeof(d->hva_ipc), "%s", optarg);
            break;
        case 'C':
            o->csv = optarg;
            break;
        case 'L':
            if (!cmn_name_valid(optarg)) {
                fprintf(stderr, "clusterd: lockspace '%s' is invalid\n",
                        optarg);
                return 2;
            }
            snprintf(d->lease_lockspace, sizeof(d->lease_lockspace), "%s",
                     optarg);
            break;
        case 'D':
            if (optarg[0] != '/' || strlen(optarg) >= sizeof(d->lease_dir)) {
                fprintf(stderr,
                        "clusterd: --vm-lease-dir needs an absolute path\n");
                return 2;
            }
            snprintf(d->lease_dir, sizeof(d->lease_dir), "%s", optarg);
            break;
        case 'f':
            o->foreground = true;
            break;
        case 'd':
            o->debug = true;
            break;
        case 'c':
            o->config = optarg;
            break;
        case 's':
            o->state = optarg;
            break;
        case 'n':
            o->name = optarg;
            break;
        case 'a':
            o->addr = optarg;
            break;
        case 'm':
            o->mem = optarg;
            break;
        case 'g':
            o->group = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    if (!d->lease_dir[0] != !d->lease_lockspace[0]) {
        fprintf(stderr, "clusterd: --vm-lease-dir and --vm-lease-lockspace "
                        "go together\n");
        return 2;
    }
    return GO_ON;
}

/* The settings file first, then the options over it: GO_ON or 2. */
static int load_settings(const struct cd_opts *o, struct cd_config *cfg)
{
    char err[1024];
    int rc;

    cd_config_defaults(cfg);
    rc = cd_config_load(o->config ? o->config : CD_CONFIG_DEFAULT, cfg, err,
                        sizeof(err));
    if (rc < 0 && !(rc == -ENOENT && !o->config)) {
        fprintf(stderr, "clusterd: %s\n", err);
        return 2;
    }
    if (o->state) {
        if (strlen(o->state) >= sizeof(cfg->state_dir) - 32) {
            fprintf(stderr, "clusterd: state directory path too long\n");
            return 2;
        }
        snprintf(cfg->state_dir, sizeof(cfg->state_dir), "%s", o->state);
    }
    if (o->name) {
        if (!cmn_name_valid(o->name)) {
            fprintf(stderr,
                    "clusterd: node name '%s' is invalid (letters, digits, "
                    "'.', '_', '-'; at most %d)\n",
                    o->name, CD_NAME_MAX - 1);
            return 2;
        }
        snprintf(cfg->node_name, sizeof(cfg->node_name), "%s", o->name);
    }
    if (o->addr) {
        if (!cd_token_valid(o->addr, CD_VALUE_MAX)) {
            fprintf(stderr, "clusterd: address '%s' is invalid (no blanks)\n",
                    o->addr);
            return 2;
        }
        snprintf(cfg->address, sizeof(cfg->address), "%s", o->addr);
    }
    if (o->mem) {
        char *end;
        cfg->memory_mib = strtoull(o->mem, &end, 10);
        if (*end || !cfg->memory_mib) {
            fprintf(stderr, "clusterd: memory '%s' is not a number of MiB\n",
                    o->mem);
            return 2;
        }
    }
    if (o->group)
        snprintf(cfg->admin_group, sizeof(cfg->admin_group), "%s", o->group);
    if (o->csv) {
        if (o->csv[0] != '/' || strlen(o->csv) >= sizeof(cfg->csv)) {
            fprintf(stderr, "clusterd: --csv needs the absolute path of the "
                            "CSV's LUN\n");
            return 2;
        }
        snprintf(cfg->csv, sizeof(cfg->csv), "%s", o->csv);
    }
    return GO_ON;
}

/* The node's identity and the access groups into the daemon: GO_ON or 2. */
static int adopt_settings(struct cd_daemon *d, const struct cd_config *cfg)
{
    char err[256];

    snprintf(d->api.admin_group, sizeof(d->api.admin_group), "%s",
             cfg->admin_group);
    snprintf(d->api.read_only_group, sizeof(d->api.read_only_group), "%s",
             cfg->read_only_group);
    if (cd_api_policy_resolve(&d->api, err, sizeof(err)) < 0) {
        fprintf(stderr, "clusterd: %s\n", err);
        return 2;
    }
    snprintf(d->node_name, sizeof(d->node_name), "%s", cfg->node_name);
    snprintf(d->address, sizeof(d->address), "%s", cfg->address);
    d->memory_mib = cfg->memory_mib;
    snprintf(d->metrics_file, sizeof(d->metrics_file), "%s", cfg->metrics_file);
    d->metrics_interval_s = cfg->metrics_interval_s;
    snprintf(d->lun_metrics_file, sizeof(d->lun_metrics_file), "%s",
             cfg->lun_metrics_file);
    d->lun_metrics_interval_ms = cfg->lun_metrics_interval_ms;
    d->allow_no_watchdog = cfg->allow_no_watchdog;
    return GO_ON;
}

/* State paths, logging, the state directory, the schema and the CDB this
 * node had: GO_ON or 1. */
static int open_state(struct cd_daemon *d, const struct cd_config *cfg,
                      const struct cd_opts *o)
{
    struct cmn_log_opts lopts = {0};

    snprintf(d->state_dir, sizeof(d->state_dir), "%s", cfg->state_dir);
    snprintf(d->cdb_path, sizeof(d->cdb_path), "%s/%s", cfg->state_dir,
             CD_CDB_FILE);
    snprintf(d->schema_path, sizeof(d->schema_path), "%s",
             cmn_xml_schema_path("cdb.rng"));
    lopts.to_stderr = o->foreground;
    lopts.to_syslog = !o->foreground;
    lopts.debug = o->debug;
    lopts.blackbox_dir = d->state_dir;
    cmn_log_init("clusterd", &lopts);
    /* Replies and logs may carry codes of hvagent (actions run there). */
    cd_err_register();
    hva_err_register();
    signal(SIGPIPE, SIG_IGN);

    if (mkdir(d->state_dir, 0700) < 0 && errno != EEXIST) {
        cmn_err(CMN_LOG_CD, "cannot create state directory '%s': %s",
                d->state_dir, strerror(errno));
        return 1;
    }
    if (access(d->schema_path, R_OK) < 0) {
        cmn_err(CMN_LOG_CD,
                "schema '%s' is missing (install kvmcluster or set "
                "KVMC_SCHEMADIR)",
                d->schema_path);
        return 1;
    }
    return load_cdb(d) < 0 ? 1 : GO_ON;
}

/* The loop and, on it, IPC, the CSV, the coordinator and CPG: GO_ON or 1. */
static int start_services(struct cd_daemon *d, const struct cd_config *cfg)
{
    qb_loop_signal_handle sig_term, sig_int;
    int rc;

    d->loop = qb_loop_create();
    if (!d->loop) {
        cmn_err(CMN_LOG_CD, "cannot create the event loop");
        return 1;
    }
    cmn_log_attach_loop(d->loop);
    qb_loop_signal_add(d->loop, QB_LOOP_HIGH, SIGTERM, d, on_signal, &sig_term);
    qb_loop_signal_add(d->loop, QB_LOOP_HIGH, SIGINT, d, on_signal, &sig_int);

    rc = cd_ipc_start(d);
    if (rc < 0) {
        cmn_err(CMN_LOG_CD,
                "cannot serve IPC '%s': %s (is another clusterd running in "
                "this network namespace?)",
                CD_IPC_NAME, cmn_strerror(rc));
        return 1;
    }
    if (cfg->csv[0]) {
        rc = cd_csv_new(d->loop, cfg->csv, &d->csv);
        if (rc < 0) {
            cmn_err(CMN_LOG_CD, "cannot use CSV '%s': %s", cfg->csv,
                    cmn_strerror(rc));
            return 1;
        }
        cmn_info(CMN_LOG_CD, "VMs live on the CSV '%s'", cfg->csv);
    }
    rc = cd_validate_start(d);
    if (rc < 0) {
        cmn_err(CMN_LOG_CD, "cannot start the checks: %s", cmn_strerror(rc));
        return 1;
    }
    rc = cd_metrics_start(d);
    if (rc < 0) {
        cmn_err(CMN_LOG_CD, "cannot start the history: %s", cmn_strerror(rc));
        return 1;
    }
    rc = cd_orch_start(d);
    if (rc < 0) {
        cmn_err(CMN_LOG_CD, "cannot start the coordinator: %s",
                cmn_strerror(rc));
        return 1;
    }
    cd_cpg_start(d);
    return GO_ON;
}

static void stop_services(struct cd_daemon *d)
{
    cd_cpg_stop(d);
    cd_orch_stop(d);
    cd_metrics_stop(d);
    cd_validate_stop(d);
    cd_ipc_stop(d);
    cd_csv_free(d->csv);
    if (d->dirty)
        save_job(d);
    cd_replica_free(d->replica);
    cd_cdb_free(d->boot_cdb);
    qb_loop_destroy(d->loop);
}

int main(int argc, char **argv)
{
    struct cd_daemon *d = &daemon_state;
    struct cd_opts o = {0};
    struct cd_config cfg;
    int rc;

    rc = parse_options(argc, argv, d, &o);
    if (rc == GO_ON)
        rc = load_settings(&o, &cfg);
    if (rc == GO_ON)
        rc = adopt_settings(d, &cfg);
    if (rc != GO_ON)
        return rc;
    if (!o.foreground && daemon(0, 0) < 0) {
        perror("clusterd: daemon");
        return 1;
    }
    rc = open_state(d, &cfg, &o);
    if (rc == GO_ON)
        rc = start_services(d, &cfg);
    if (rc != GO_ON)
        return rc;
    cmn_info(CMN_LOG_CD, "clusterd %s started (state in '%s')", PACKAGE_VERSION,
             d->state_dir);

    qb_loop_run(d->loop);

    stop_services(d);
    cmn_info(CMN_LOG_CD, "clusterd stopped");
    cmn_log_fini();
    return 0;
}
