/* clusterctl cluster setup: everything a new cluster needs on each of its
 * nodes, written into one directory per node for the operator to copy.
 *
 * Nothing here talks to a daemon: the files are what corosync, sanlock
 * and the kvmcluster daemons read at start-up. The node ids given to
 * corosync (1..N in the order the nodes are named) are also the sanlock
 * host ids, so the order is part of the cluster's identity; that is why
 * an existing directory is never overwritten without --force. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/ctl-setup.h"
#include "cli/ctl.h"
#include "common/cmn-name.h"
#include "common/cmn-paths.h"

#define SETUP_MAX_NODES   16
#define SETUP_AUTHKEY_LEN 256 /* what corosync-keygen writes */
#define SETUP_IO_TIMEOUT  10  /* sanlock's default io_timeout, seconds */
#define SETUP_WD_FIRE     60  /* sanlock's watchdog fire timeout, seconds */

struct setup_node {
    const char *name;
    char addr[256];
};

struct setup {
    const char *cluster;
    const char *out;
    const char *portal, *iqn;
    unsigned io_timeout;
    struct setup_node nodes[SETUP_MAX_NODES];
    size_t n_nodes;
    unsigned char authkey[SETUP_AUTHKEY_LEN];
};

void ctl_setup_usage(void)
{
    printf("\ncluster setup (writes files, needs no cluster):\n"
           "  cluster setup NAME NODE=ADDRESS... [--out DIR] [--portal "
           "ADDR[:PORT] --iqn IQN]\n"
           "        [--io-timeout SECONDS] [--force]\n"
           "      corosync, sanlock and kvmcluster files for every node, "
           "in DIR/NODE/\n");
}

/* Writes `text` to DIR/REL with `mode`, creating the directories on the
 * way. */
static int write_file(const char *dir, const char *rel, const char *text,
                      size_t len, mode_t mode)
{
    char path[4096];
    int fd, rc = 0;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, rel) >= sizeof(path))
        return -ENAMETOOLONG;
    for (char *p = path + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
            rc = -errno;
            ctl_err("cannot create '%s': %s", path, strerror(errno));
            return rc;
        }
        *p = '/';
    }
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0 || fchmod(fd, mode) < 0 ||
        write(fd, text, len) != (ssize_t)len || fsync(fd) < 0) {
        rc = -errno;
        ctl_err("cannot write '%s': %s", path, strerror(errno));
    }
    if (fd >= 0 && close(fd) < 0 && rc == 0)
        rc = -errno;
    return rc;
}

/* The corosync.conf every node shares: knet with encryption, votequorum,
 * and two_node for two nodes (either survives the other's loss; sanlock's
 * leases keep a VM from running twice across the split). */
static int corosync_conf(const struct setup *s, char **ret)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    if (!f)
        return -ENOMEM;
    fprintf(f,
            "# corosync.conf of cluster '%s', written by 'clusterctl "
            "cluster setup'.\n"
            "# The same file on every node; see corosync.conf(5).\n"
            "totem {\n"
            "    version: 2\n"
            "    cluster_name: %s\n"
            "    transport: knet\n"
            "    crypto_cipher: aes256\n"
            "    crypto_hash: sha256\n"
            "}\n\n"
            "# nodeid is also the node's sanlock host id: never renumber.\n"
            "nodelist {\n",
            s->cluster, s->cluster);
    for (size_t i = 0; i < s->n_nodes; i++)
        fprintf(f,
                "    node {\n"
                "        name: %s\n"
                "        nodeid: %zu\n"
                "        ring0_addr: %s\n"
                "    }\n",
                s->nodes[i].name, i + 1, s->nodes[i].addr);
    fprintf(f,
            "}\n\n"
            "quorum {\n"
            "    provider: corosync_votequorum\n"
            "%s"
            "}\n\n"
            "logging {\n"
            "    to_syslog: yes\n"
            "    to_stderr: no\n"
            "    timestamp: on\n"
            "}\n",
            s->n_nodes == 2 ? "    two_node: 1\n" : "");
    if (fclose(f) != 0) {
        free(buf);
        return -ENOMEM;
    }
    *ret = buf;
    return 0;
}

/* kvmcluster.conf(5) of node `i`. */
static int kvmcluster_conf(const struct setup *s, size_t i, char **ret)
{
    const struct setup_node *n = &s->nodes[i];
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    if (!f)
        return -ENOMEM;
    fprintf(f,
            "# kvmcluster.conf of node '%s' in cluster '%s', written by\n"
            "# 'clusterctl cluster setup'; see kvmcluster.conf(5).\n\n"
            "[lunbridge]\n"
            "initiator-name = iqn.2026-01.org.kvmcluster:%s.%s\n"
            "# Below sanlock's io_timeout (%u s), as lunbridge(8) asks.\n"
            "deadline = %us\n\n",
            n->name, s->cluster, s->cluster, n->name, s->io_timeout,
            s->io_timeout > 2 ? s->io_timeout / 2 : 1);
    if (s->portal && s->iqn)
        fprintf(f, "[target %s]\nportal = %s\niqn = %s\n\n", s->cluster,
                s->portal, s->iqn);
    else
        fprintf(f, "# The iSCSI target of the shared volume:\n"
                   "#[target store1]\n#portal = 192.0.2.10:3260\n"
                   "#iqn = iqn.2026-01.org.example:store1\n\n");
    fprintf(f,
            "[hvagent]\n"
            "lun-dir = %s\n\n"
            "[clusterd]\n"
            "node-name = %s\n"
            "migration-address = %s\n"
            "# The shared volume's LUN once formatted:\n"
            "#csv = %s/naa.WWN\n",
            CMN_LUN_DIR, n->name, n->addr, CMN_LUN_DIR);
    if (fclose(f) != 0) {
        free(buf);
        return -ENOMEM;
    }
    *ret = buf;
    return 0;
}

/* hvagent's command line (hvagent.service reads HVAGENT_OPTS): listen on
 * the node's address, accept migrations from the other nodes only. */
static int hvagent_env(const struct setup *s, size_t i, char **ret)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    const char *sep = "";

    if (!f)
        return -ENOMEM;
    fprintf(f,
            "# hvagent's options (hvagent.service); see hvagent(8).\n"
            "HVAGENT_OPTS=\"--node %s --listen %s --allow ",
            s->nodes[i].name, s->nodes[i].addr);
    for (size_t j = 0; j < s->n_nodes; j++) {
        if (j == i)
            continue;
        fprintf(f, "%s%s", sep, s->nodes[j].addr);
        sep = ",";
    }
    fprintf(f, "\"\n");
    if (fclose(f) != 0) {
        free(buf);
        return -ENOMEM;
    }
    *ret = buf;
    return 0;
}

static const char sanlock_conf[] =
    "# sanlock.conf written by 'clusterctl cluster setup'; see sanlock(8).\n"
    "# The watchdog is what makes a lost lease fatal to a host: never turn\n"
    "# it off on a cluster node (wdmd must run, with a watchdog device;\n"
    "# 'modprobe softdog' where the hardware has none).\n"
    "use_watchdog = 1\n";

static int parse_args(int argc, char **argv, struct setup *s, bool *force)
{
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'},
        {"portal", required_argument, NULL, 'p'},
        {"iqn", required_argument, NULL, 'q'},
        {"io-timeout", required_argument, NULL, 't'},
        {"force", no_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end;
        unsigned long v;

        switch (c) {
        case 'o':
            s->out = optarg;
            break;
        case 'p':
            s->portal = optarg;
            break;
        case 'q':
            s->iqn = optarg;
            break;
        case 't':
            errno = 0;
            v = strtoul(optarg, &end, 10);
            if (errno || *end || v < 1 || v > 300) {
                ctl_err("--io-timeout '%s': seconds from 1 to 300", optarg);
                return -EINVAL;
            }
            s->io_timeout = (unsigned)v;
            break;
        case 'f':
            *force = true;
            break;
        default:
            return -EINVAL;
        }
    }
    if (!s->portal != !s->iqn) {
        ctl_err("--portal and --iqn go together (the shared volume's target)");
        return -EINVAL;
    }
    if (optind >= argc) {
        ctl_err("cluster setup: a cluster NAME and NODE=ADDRESS for each "
                "node are needed");
        return -EINVAL;
    }
    s->cluster = argv[optind++];
    if (!cmn_name_valid(s->cluster)) {
        ctl_err("cluster name '%s' is not valid (%s)", s->cluster,
                CMN_NAME_RULE);
        return -EINVAL;
    }
    for (; optind < argc; optind++) {
        const char *arg = argv[optind], *eq = strchr(arg, '=');
        struct setup_node *n;

        if (s->n_nodes == SETUP_MAX_NODES) {
            ctl_err("at most %d nodes", SETUP_MAX_NODES);
            return -EINVAL;
        }
        if (!eq || eq == arg || !eq[1] || strlen(eq + 1) >= sizeof(n->addr) ||
            strpbrk(eq + 1, " \t\n\"{}#")) {
            ctl_err("'%s': expected NODE=ADDRESS (the node's cluster "
                    "address, e.g. node1=192.0.2.11)",
                    arg);
            return -EINVAL;
        }
        n = &s->nodes[s->n_nodes];
        argv[optind][eq - arg] = '\0';
        n->name = arg;
        snprintf(n->addr, sizeof(n->addr), "%s", eq + 1);
        if (!cmn_name_valid(n->name)) {
            ctl_err("node name '%s' is not valid (%s)", n->name, CMN_NAME_RULE);
            return -EINVAL;
        }
        for (size_t j = 0; j < s->n_nodes; j++) {
            if (!strcmp(s->nodes[j].name, n->name) ||
                !strcmp(s->nodes[j].addr, n->addr)) {
                ctl_err("node '%s' (%s) is given twice", n->name, n->addr);
                return -EINVAL;
            }
        }
        s->n_nodes++;
    }
    if (s->n_nodes < 2) {
        ctl_err("a cluster needs at least 2 nodes (%zu given)", s->n_nodes);
        return -EINVAL;
    }
    return 0;
}

/* Is DIR absent or empty? */
static bool dir_unused(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    bool empty = true;

    if (!d)
        return errno == ENOENT;
    while (empty && (e = readdir(d)))
        empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
    closedir(d);
    return empty;
}

static int write_node(const struct setup *s, size_t i, const char *corosync)
{
    char dir[4096];
    char *kc = NULL, *env = NULL;
    int rc;

    snprintf(dir, sizeof(dir), "%s/%s", s->out, s->nodes[i].name);
    rc = kvmcluster_conf(s, i, &kc);
    if (rc == 0)
        rc = hvagent_env(s, i, &env);
    if (rc == 0)
        rc = write_file(dir, "etc/corosync/corosync.conf", corosync,
                        strlen(corosync), 0644);
    if (rc == 0)
        rc = write_file(dir, "etc/corosync/authkey", (const char *)s->authkey,
                        sizeof(s->authkey), 0400);
    if (rc == 0)
        rc = write_file(dir, "etc/sanlock/sanlock.conf", sanlock_conf,
                        strlen(sanlock_conf), 0644);
    if (rc == 0)
        rc = write_file(dir, "etc/kvmcluster/kvmcluster.conf", kc, strlen(kc),
                        0644);
    if (rc == 0)
        rc = write_file(dir, "etc/kvmcluster/hvagent.env", env, strlen(env),
                        0644);
    free(kc);
    free(env);
    return rc;
}

int ctl_setup_main(int argc, char **argv)
{
    struct setup s = {.io_timeout = SETUP_IO_TIMEOUT};
    char outbuf[4096], *corosync = NULL;
    bool force = false;
    unsigned bound;
    int rc;

    if (argc < 2 || strcmp(argv[1], "setup") != 0) {
        ctl_err("unknown cluster command '%s' (see 'clusterctl help')",
                argc < 2 ? "" : argv[1]);
        return CTL_EXIT_USAGE;
    }
    if (parse_args(argc - 1, argv + 1, &s, &force) < 0)
        return CTL_EXIT_USAGE;
    if (!s.out) {
        snprintf(outbuf, sizeof(outbuf), "%s", s.cluster);
        s.out = outbuf;
    }
    if (!force && !dir_unused(s.out)) {
        ctl_err("'%s' exists and is not empty: it may hold another "
                "cluster's files (--force overwrites them)",
                s.out);
        return CTL_EXIT_REFUSED;
    }
    if (mkdir(s.out, 0700) < 0 && errno != EEXIST) {
        ctl_err("cannot create '%s': %s", s.out, strerror(errno));
        return CTL_EXIT_FAIL;
    }
    if (getrandom(s.authkey, sizeof(s.authkey), 0) !=
        (ssize_t)sizeof(s.authkey)) {
        ctl_err("no random bytes for the authkey: %s", strerror(errno));
        return CTL_EXIT_FAIL;
    }
    rc = corosync_conf(&s, &corosync);
    if (rc == 0)
        rc = write_file(s.out, "corosync.conf", corosync, strlen(corosync),
                        0644);
    for (size_t i = 0; rc == 0 && i < s.n_nodes; i++)
        rc = write_node(&s, i, corosync);
    free(corosync);
    explicit_bzero(s.authkey, sizeof(s.authkey));
    if (rc < 0)
        return CTL_EXIT_FAIL;

    /* sanlock: a dead host's leases free after 8 x io_timeout (its last
     * renewal's expiry) + the watchdog's 60 s. */
    bound = 8 * s.io_timeout + SETUP_WD_FIRE;
    printf("cluster '%s': %zu nodes%s, files in %s/\n", s.cluster, s.n_nodes,
           s.n_nodes == 2 ? " (two_node quorum)" : "", s.out);
    printf("sanlock io_timeout %u s: a failed host's VMs restart elsewhere "
           "%u s after its last lease renewal at the latest\n",
           s.io_timeout, bound);
    printf("(format the shared volume with 'clusterctl volume format "
           "--io-timeout %u ...')\n\n",
           s.io_timeout);
    printf("copy to each node, as root:\n");
    for (size_t i = 0; i < s.n_nodes; i++)
        printf("  %s (%s): %s/%s/etc/ -> /etc/   e.g. 'scp -rp %s/%s/etc/. "
               "root@%s:/etc/'\n",
               s.nodes[i].name, s.nodes[i].addr, s.out, s.nodes[i].name, s.out,
               s.nodes[i].name, s.nodes[i].addr);
    printf("then on each node: 'systemctl restart corosync sanlock' and "
           "'systemctl enable --now kvmcluster.target'\n");
    return CTL_EXIT_OK;
}
