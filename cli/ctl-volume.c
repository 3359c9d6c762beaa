/* clusterctl volume: format, inspect and check a cluster-shared volume;
 * add it to the cluster database and list the cluster's volumes.
 *
 * format, inspect and check work on the device directly, before (and
 * without) clusterd; add and list also ask the local clusterd. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libxml/tree.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/ctl-client.h"
#include "cli/ctl.h"
#include "common/cmn-err.h"
#include "common/cmn-paths.h"
#include "common/cmn-time.h"
#include "common/cmn-xml.h"
#include "csv/csv.h"

#define MIB      (1024.0 * 1024.0)
#define LUNS_DIR CMN_LUN_DIR /* lunbridge's default mount */

void ctl_volume_usage(void)
{
    printf(
        "\nvolume commands:\n"
        "  volume format PATH --name NAME [--cluster NAME] [--force]\n"
        "                [--io-timeout S] [--slots N] [--sector-size "
        "512|4096]\n"
        "                [--max-extents N] [--lease-align 1M|2M|4M|8M]\n"
        "  volume inspect PATH [--sample S]\n"
        "  volume check PATH [--repair]     the format alone, on the device\n"
        "  volume check [VOLUME] [--repair] through clusterd: also slots and\n"
        "                                   extents no VM of the cluster\n"
        "                                   owns, on VOLUME or on every\n"
        "                                   volume (--repair reclaims them)\n"
        "  volume add PATH                  add a formatted volume to the\n"
        "                                   cluster database\n"
        "  volume add NAME --local --node NODE --path DIR\n"
        "                                   a directory of NODE for VMs\n"
        "                                   that run there only (run it\n"
        "                                   on NODE)\n"
        "  volume list [--output xml]       the cluster's volumes, their\n"
        "                                   size and free space from here\n");
}

static int parse_u32(const char *opt, const char *s, uint32_t min, uint32_t max,
                     uint32_t *ret)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || !*s || *end || v < min || v > max) {
        ctl_err("%s '%s': expected a number from %u to %u", opt, s, min, max);
        return -EINVAL;
    }
    *ret = (uint32_t)v;
    return 0;
}

/* The message for a volume that could not be opened, naming the fix. */
static void open_error(const char *path, int rc)
{
    switch (rc) {
    case -ENOENT:
        ctl_err("'%s' does not exist (give the LUN's file under "
                "/run/kvmcluster/luns/ or a block device)",
                path);
        break;
    case -EACCES:
    case -EPERM:
        ctl_err("'%s': permission denied (run clusterctl as root)", path);
        break;
    case -ENOTBLK:
        ctl_err("'%s' is neither a block device nor a regular file", path);
        break;
    case -CSV_E_BAD_MAGIC:
        ctl_err("'%s' is not a cluster-shared volume (no CSV superblock); "
                "format it with 'clusterctl volume format %s --name NAME'",
                path, path);
        break;
    case -CSV_E_BAD_VERSION:
        ctl_err("'%s' was formatted by a newer kvmcluster (unsupported "
                "format version); use that version's clusterctl",
                path);
        break;
    case -CSV_E_BAD_CRC:
    case -CSV_E_BAD_LENGTH:
    case -CSV_E_WRONG_VOLUME:
    case -CSV_E_BAD_GEOMETRY:
        ctl_err("'%s': both superblock copies are damaged (%s); restore the "
                "LUN from a backup, or reformat it with --force (this "
                "destroys the VMs on it)",
                path, cmn_strerror(rc));
        break;
    case -CSV_E_TOO_SMALL:
        ctl_err("'%s' is smaller than the volume its superblock describes; "
                "restore the LUN's original size",
                path);
        break;
    default:
        ctl_err("'%s': %s", path, cmn_strerror(rc));
        break;
    }
}

static int open_volume(const char *path, unsigned flags,
                       struct csv_volume **ret_vol)
{
    int rc = csv_open(path, flags, NULL, ret_vol);

    if (rc < 0) {
        open_error(path, rc);
        switch (rc) {
        case -CSV_E_BAD_CRC:
        case -CSV_E_BAD_LENGTH:
        case -CSV_E_WRONG_VOLUME:
        case -CSV_E_BAD_GEOMETRY:
        case -CSV_E_TOO_SMALL:
            return CTL_EXIT_DAMAGE;
        default:
            return CTL_EXIT_FAIL;
        }
    }
    if (flags & CSV_OPEN_RW) {
        const char *fault = NULL;
        if (csv_map_status(*ret_vol, &fault) == -CSV_E_BAD_EXTMAP)
            ctl_err("'%s': extent map refused: %s (changes are refused; see "
                    "'clusterctl volume check %s')",
                    path, fault, path);
    }
    return 0;
}

static void print_size(FILE *f, uint64_t bytes)
{
    if (bytes >= (1ull << 30) && bytes % (1ull << 30) == 0)
        fprintf(f, "%" PRIu64 " GiB", bytes >> 30);
    else if (bytes % (1ull << 20) == 0)
        fprintf(f, "%" PRIu64 " MiB", bytes >> 20);
    else
        fprintf(f, "%" PRIu64 " bytes", bytes);
}

/* Hosts in the lockspace that are not known free/dead, for messages. */
static void list_busy_hosts(const char *path)
{
    CMN_AUTO(csv_volume) *vol = NULL;
    struct csv_host *h = NULL;
    size_t n = 0;

    if (csv_open(path, 0, NULL, &vol) < 0 || csv_hosts(vol, 0, &h, &n) < 0)
        return;
    for (size_t i = 0; i < n; i++)
        if (h[i].state != CSV_HOST_FREE && h[i].state != CSV_HOST_DEAD)
            fprintf(stderr, "  host %" PRIu64 " ('%s'): %s\n", h[i].host_id,
                    h[i].owner, csv_host_state_str(h[i].state));
    free(h);
}

/* --lease-align: sanlock's four area sizes, by name. */
static int parse_lease_align(const char *s, uint32_t *ret_align)
{
    static const char *const names[] = {"1M", "2M", "4M", "8M"};

    for (size_t i = 0; i < CMN_ARRAY_SIZE(names); i++) {
        if (!strcmp(s, names[i])) {
            *ret_align = 1u << (20 + i);
            return 0;
        }
    }
    ctl_err("--lease-align '%s': use 1M, 2M, 4M or 8M (sanlock's area sizes)",
            s);
    return -EINVAL;
}

static int format_parse_args(int argc, char **argv, struct csv_format_opts *fo,
                             const char **ret_path)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'n'},
        {"cluster", required_argument, NULL, 'c'},
        {"force", no_argument, NULL, 'f'},
        {"io-timeout", required_argument, NULL, 't'},
        {"slots", required_argument, NULL, 's'},
        {"sector-size", required_argument, NULL, 'S'},
        {"max-extents", required_argument, NULL, 'x'},
        {"lease-align", required_argument, NULL, 'a'},
        {NULL, 0, NULL, 0},
    };
    int c;

    while ((c = getopt_long(argc, argv, "n:c:ft:s:S:x:a:", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            fo->name = optarg;
            break;
        case 'c':
            fo->cluster = optarg;
            break;
        case 'f':
            fo->force = true;
            break;
        case 't':
            if (parse_u32("--io-timeout", optarg, 1, 300, &fo->io_timeout))
                return CTL_EXIT_USAGE;
            break;
        case 's':
            if (parse_u32("--slots", optarg, 1, 10000, &fo->nslots))
                return CTL_EXIT_USAGE;
            break;
        case 'S':
            if (parse_u32("--sector-size", optarg, 512, 4096,
                          &fo->sector_size) ||
                (fo->sector_size != 512 && fo->sector_size != 4096)) {
                ctl_err("--sector-size must be 512 or 4096");
                return CTL_EXIT_USAGE;
            }
            break;
        case 'x':
            if (parse_u32("--max-extents", optarg, 16, 1u << 20,
                          &fo->max_extents))
                return CTL_EXIT_USAGE;
            break;
        case 'a':
            if (parse_lease_align(optarg, &fo->lease_align) < 0)
                return CTL_EXIT_USAGE;
            break;
        default:
            return CTL_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        ctl_err("usage: clusterctl volume format PATH --name NAME [--force] "
                "[--io-timeout S]");
        return CTL_EXIT_USAGE;
    }
    if (!fo->name) {
        ctl_err("volume format '%s': --name NAME is required (the volume's "
                "and its sanlock lockspace's name)",
                argv[optind]);
        return CTL_EXIT_USAGE;
    }
    *ret_path = argv[optind];
    return 0;
}

/* csv_format(path, fo) failed with rc: says why and what to do. Returns
 * the command's exit code. */
static int format_failed(const char *path, const struct csv_format_opts *fo,
                         int rc)
{
    switch (rc) {
    case -CSV_E_EXISTS: {
        CMN_AUTO(csv_volume) *vol = NULL;
        char u[37] = "?";
        const char *name = "?";
        if (csv_open(path, 0, NULL, &vol) == 0) {
            csv_uuid_str(csv_super(vol)->uuid, u);
            name = csv_super(vol)->name;
        }
        ctl_err("'%s' already holds cluster-shared volume '%s' (uuid %s); "
                "add --force to overwrite it and every VM on it",
                path, name, u);
        return CTL_EXIT_REFUSED;
    }
    case -CSV_E_HOSTS_LIVE:
        ctl_err("'%s' is in use: hosts are live in its lockspace; stop "
                "kvmcluster on those nodes (or 'sanlock client "
                "rem_lockspace') and retry:",
                path);
        list_busy_hosts(path);
        return CTL_EXIT_REFUSED;
    case -CSV_E_BAD_NAME:
        ctl_err("volume name '%s' (or cluster name) is invalid: use 1-%d "
                "letters, digits, '-', '_' or '.'",
                fo->name, CSV_NAME_MAX);
        return CTL_EXIT_USAGE;
    case -CSV_E_TOO_SMALL:
        ctl_err("'%s' is too small for %u VM slots and their leases; give "
                "fewer --slots or a larger LUN",
                path, fo->nslots ? fo->nslots : 64);
        return CTL_EXIT_FAIL;
    case -CSV_E_BAD_ALIGN:
        /* 4096-byte sectors take all four sizes, the smallest holding 250
         * host ids (>= CSV_MIN_HOSTS): only 512-byte sectors get here. */
        ctl_err("'%s': --lease-align %uM needs 4096-byte sectors (sanlock "
                "lays 512-byte sectors out at 1M only); give --sector-size "
                "4096 or --lease-align 1M",
                path, fo->lease_align >> 20);
        return CTL_EXIT_USAGE;
    case -CSV_E_LEASE:
        ctl_err("'%s': sanlock could not write the lockspace or leases "
                "(the device must support O_DIRECT)",
                path);
        return CTL_EXIT_FAIL;
    default:
        open_error(path, rc);
        return CTL_EXIT_FAIL;
    }
}

static int cmd_format(int argc, char **argv)
{
    CMN_AUTO(csv_volume) *vol = NULL;
    struct csv_format_opts fo = {0};
    const struct csv_super *sb;
    const char *path = NULL;
    char u[37];
    int rc = format_parse_args(argc, argv, &fo, &path);

    if (rc)
        return rc;
    rc = csv_format(path, &fo, NULL);
    if (rc)
        return format_failed(path, &fo, rc);
    if ((rc = open_volume(path, 0, &vol)) != 0)
        return rc;
    sb = csv_super(vol);
    csv_uuid_str(sb->uuid, u);
    printf("formatted '%s': volume '%s' uuid %s, %u VM slots, data ", path,
           sb->name, u, sb->nslots);
    print_size(stdout, sb->regions[CSV_REGION_DATA - 1].length);
    printf(", sanlock io_timeout %u s, %u-byte sectors, leases aligned at ",
           sb->io_timeout, sb->sector_size);
    print_size(stdout, sb->align);
    printf(" (%u host ids)\n", sb->max_hosts);
    return CTL_EXIT_OK;
}

static const char *kind_name(uint16_t kind)
{
    switch (kind) {
    case CSV_EXTENT_DISK:
        return "disk";
    case CSV_EXTENT_STATE:
        return "state";
    default:
        return "other";
    }
}

/* --output VALUE: only xml. */
static int parse_output(const char *value, bool *ret_xml)
{
    if (strcmp(value, "xml") != 0) {
        ctl_err("--output takes 'xml', not '%s'", value);
        return -EINVAL;
    }
    *ret_xml = true;
    return 0;
}

/* Prints ` NAME="VALUE"` with VALUE escaped. */
static void xml_attr(const char *name, const char *value)
{
    char *e = ctl_xml_escape(value);

    printf(" %s=\"%s\"", name, e ? e : "");
    free(e);
}

/* `volume inspect --output xml`: the same facts as the text, for scripts. */
static int inspect_xml(struct csv_volume *vol, uint32_t sample)
{
    const struct csv_super *sb = csv_super(vol);
    struct csv_host *hosts = NULL;
    struct csv_extent *ext = NULL;
    struct csv_space sp;
    size_t nhosts = 0, next = 0;
    char u[37];
    int rc;

    csv_uuid_str(sb->uuid, u);
    printf("<volume");
    xml_attr("name", sb->name);
    xml_attr("path", csv_path(vol));
    xml_attr("uuid", u);
    xml_attr("cluster", sb->cluster);
    printf(" version=\"%u\" created=\"%" PRIu64 "\" size=\"%" PRIu64
           "\" sector-size=\"%u\" align=\"%u\" io-timeout=\"%u\"",
           sb->version, sb->created, sb->volume_size, sb->sector_size,
           sb->align, sb->io_timeout);
    for (int i = 0; i < 2; i++) {
        rc = csv_super_copy_status(vol, i);
        xml_attr(i ? "superblock-b" : "superblock-a",
                 rc ? cmn_strerror(rc) : "ok");
    }
    {
        const char *fault = NULL;
        rc = csv_map_status(vol, &fault);
        xml_attr("extent-map", rc ? (fault ? fault : cmn_strerror(rc)) : "ok");
    }
    printf(">\n");
    for (int i = 0; i < CSV_REGION_COUNT; i++)
        printf("  <region type=\"%s\" offset=\"%" PRIu64 "\" length=\"%" PRIu64
               "\"/>\n",
               csv_region_name(sb->regions[i].type), sb->regions[i].offset,
               sb->regions[i].length);
    if (csv_hosts(vol, (int)sample * 1000, &hosts, &nhosts) == 0)
        for (size_t i = 0; i < nhosts; i++) {
            printf("  <host id=\"%" PRIu64 "\" generation=\"%" PRIu64
                   "\" timestamp=\"%" PRIu64 "\" state=\"%s\"",
                   hosts[i].host_id, hosts[i].generation, hosts[i].timestamp,
                   csv_host_state_str(hosts[i].state));
            xml_attr("owner", hosts[i].owner);
            printf("/>\n");
        }
    free(hosts);
    for (uint32_t i = 0; i < sb->nslots; i++) {
        struct csv_slot s;
        if (csv_slot_get(vol, i, &s) < 0)
            continue;
        if (s.used) {
            csv_uuid_str(s.uuid, u);
            printf("  <slot index=\"%u\"", i);
            xml_attr("name", s.name);
            printf(" uuid=\"%s\" definition-bytes=\"%zu\" generation=\"%" PRIu64
                   "\"/>\n",
                   u, s.xml_len, s.generation);
        }
        csv_slot_clear(&s);
    }
    rc = csv_extent_list(vol, &ext, &next);
    if (rc < 0)
        return CTL_EXIT_FAIL;
    for (size_t i = 0; i < next; i++) {
        printf("  <extent id=\"%" PRIu64 "\" offset=\"%" PRIu64
               "\" length=\"%" PRIu64 "\"",
               ext[i].id, ext[i].offset, ext[i].length);
        if (ext[i].owner != CSV_OWNER_NONE)
            printf(" slot=\"%u\"", ext[i].owner);
        printf(" kind=\"%s\" index=\"%u\"", kind_name(ext[i].kind),
               ext[i].index);
        xml_attr("tag", ext[i].tag);
        printf("/>\n");
    }
    free(ext);
    csv_space(vol, &sp);
    printf("  <space data-length=\"%" PRIu64 "\" used=\"%" PRIu64
           "\" free=\"%" PRIu64 "\" largest-free=\"%" PRIu64
           "\" extents=\"%zu\" max-extents=\"%zu\"/>\n</volume>\n",
           sp.data_length, sp.used, sp.free, sp.largest_free, sp.extents,
           sp.max_extents);
    return CTL_EXIT_OK;
}

/* `volume inspect`, text: the superblock's facts and both copies' state. */
static void inspect_super(struct csv_volume *vol)
{
    const struct csv_super *sb = csv_super(vol);
    char u[37], when[64];
    time_t created = (time_t)sb->created;

    csv_uuid_str(sb->uuid, u);
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime(&created));
    printf("volume '%s'\n", sb->name);
    printf("  path         %s\n", csv_path(vol));
    printf("  uuid         %s\n", u);
    printf("  cluster      %s\n", sb->cluster[0] ? sb->cluster : "(none)");
    printf("  format       version %u, created %s\n", sb->version, when);
    printf("  size         ");
    print_size(stdout, sb->volume_size);
    printf(", sector %u bytes, sanlock align ", sb->sector_size);
    print_size(stdout, sb->align);
    printf(", io_timeout %u s\n", sb->io_timeout);
    for (int i = 0; i < 2; i++) {
        int rc = csv_super_copy_status(vol, i);
        printf("  superblock   copy %c: %s\n", 'A' + i,
               rc ? cmn_strerror(rc) : "ok");
    }
}

static void inspect_regions(const struct csv_super *sb)
{
    printf("regions\n");
    for (int i = 0; i < CSV_REGION_COUNT; i++) {
        const struct csv_region *r = &sb->regions[i];
        printf("  %-11s  offset %12" PRIu64 "  length %12" PRIu64 "  (",
               csv_region_name(r->type), r->offset, r->length);
        print_size(stdout, r->length);
        switch (r->type) {
        case CSV_REGION_SUPERBLOCK:
            printf(", 2 copies");
            break;
        case CSV_REGION_LOCKSPACE:
            printf(", %u host ids", sb->max_hosts);
            break;
        case CSV_REGION_LEASES:
            printf(", metadata lease + %u VM leases", sb->nslots);
            break;
        case CSV_REGION_EXTMAP:
            printf(", 2 copies, %u extents max", sb->max_extents);
            break;
        case CSV_REGION_SLOTS:
            printf(", %u slots x 2 copies", sb->nslots);
            break;
        default:
            break;
        }
        printf(")\n");
    }
}

/* The lockspace's delta leases, watched for `sample` seconds. */
static void inspect_hosts(struct csv_volume *vol, uint32_t sample)
{
    const struct csv_super *sb = csv_super(vol);
    struct csv_host *hosts = NULL;
    size_t nhosts = 0;
    int rc = csv_hosts(vol, (int)sample * 1000, &hosts, &nhosts);

    printf("lockspace hosts\n");
    if (rc < 0)
        printf("  (cannot read the delta leases: %s)\n", cmn_strerror(rc));
    else if (nhosts == 0)
        printf("  (no host has joined)\n");
    for (size_t i = 0; i < nhosts; i++)
        printf("  host %-4" PRIu64 " generation %-4" PRIu64
               " timestamp %-10" PRIu64 " %-7s '%s'\n",
               hosts[i].host_id, hosts[i].generation, hosts[i].timestamp,
               csv_host_state_str(hosts[i].state), hosts[i].owner);
    for (size_t i = 0; i < nhosts; i++)
        if (hosts[i].state == CSV_HOST_UNKNOWN) {
            printf("  ('unknown': the lease is held, but the local sanlock "
                   "has not joined this lockspace or not watched it long "
                   "enough; --sample %u tells live from stale)\n",
                   2 * sb->io_timeout + 1);
            break;
        }
    free(hosts);
}

static void inspect_slots(struct csv_volume *vol)
{
    const struct csv_super *sb = csv_super(vol);
    uint32_t used = 0;
    char u[37];

    printf("vm slots\n");
    for (uint32_t i = 0; i < sb->nslots; i++) {
        struct csv_slot s;
        int rc = csv_slot_get(vol, i, &s);
        if (rc < 0) {
            printf("  slot %-4u %s\n", i, cmn_strerror(rc));
            continue;
        }
        if (s.used) {
            csv_uuid_str(s.uuid, u);
            printf("  slot %-4u '%s' uuid %s, definition %zu bytes, "
                   "generation %" PRIu64 "\n",
                   i, s.name, u, s.xml_len, s.generation);
            used++;
        }
        csv_slot_clear(&s);
    }
    printf("  %u of %u slots used\n", used, sb->nslots);
}

/* The extent map and the free space. Returns CTL_EXIT_FAIL when the map
 * cannot be read. */
static int inspect_extents(struct csv_volume *vol)
{
    struct csv_extent *ext = NULL;
    struct csv_space sp;
    const char *fault = NULL;
    size_t next = 0;
    int mrc;

    printf("extents\n");
    mrc = csv_map_status(vol, &fault);
    if (mrc < 0)
        printf("  extent map refused: %s (see 'clusterctl volume check "
               "%s')\n",
               fault ? fault : cmn_strerror(mrc), csv_path(vol));
    if (csv_extent_list(vol, &ext, &next) < 0)
        return CTL_EXIT_FAIL;
    if (next)
        printf("  %-6s %14s %10s  %-6s %-5s %-5s %s\n", "id", "offset", "MiB",
               "owner", "kind", "index", "tag");
    for (size_t i = 0; i < next; i++) {
        char owner[16];
        if (ext[i].owner == CSV_OWNER_NONE)
            snprintf(owner, sizeof(owner), "-");
        else
            snprintf(owner, sizeof(owner), "slot%u", ext[i].owner);
        printf("  %-6" PRIu64 " %14" PRIu64 " %10.1f  %-6s %-5s %-5u %s\n",
               ext[i].id, ext[i].offset, (double)ext[i].length / MIB, owner,
               kind_name(ext[i].kind), ext[i].index, ext[i].tag);
    }
    free(ext);
    csv_space(vol, &sp);
    printf("free space\n  %.1f MiB free of %.1f MiB (%.1f MiB used), largest "
           "free range %.1f MiB; %zu of %zu extent entries used\n",
           (double)sp.free / MIB, (double)sp.data_length / MIB,
           (double)sp.used / MIB, (double)sp.largest_free / MIB, sp.extents,
           sp.max_extents);
    return CTL_EXIT_OK;
}

static int cmd_inspect(int argc, char **argv)
{
    static const struct option opts[] = {
        {"sample", required_argument, NULL, 's'},
        {"output", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    CMN_AUTO(csv_volume) *vol = NULL;
    uint32_t sample = 0;
    bool xml = false;
    int c, rc;

    while ((c = getopt_long(argc, argv, "s:", opts, NULL)) != -1) {
        if (c == 'o' && parse_output(optarg, &xml) == 0)
            continue;
        if (c != 's' || parse_u32("--sample", optarg, 0, 600, &sample))
            return CTL_EXIT_USAGE;
    }
    if (optind != argc - 1) {
        ctl_err("usage: clusterctl volume inspect PATH [--sample S] "
                "[--output xml]");
        return CTL_EXIT_USAGE;
    }
    if ((rc = open_volume(argv[optind], 0, &vol)) != 0)
        return rc;
    if (xml)
        return inspect_xml(vol, sample);
    inspect_super(vol);
    inspect_regions(csv_super(vol));
    inspect_hosts(vol, sample);
    inspect_slots(vol);
    return inspect_extents(vol);
}

struct findings {
    int damage;
    bool xml;
};

static void print_finding(void *opaque, enum csv_finding kind, const char *msg)
{
    struct findings *f = opaque;
    const char *what = kind == CSV_FIND_DAMAGE ? "damage" : "note";

    if (kind == CSV_FIND_DAMAGE)
        f->damage++;
    if (f->xml) {
        char *e = ctl_xml_escape(msg);
        printf("  <finding kind=\"%s\">%s</finding>\n", what, e ? e : "");
        free(e);
    } else {
        printf("  %s: %s\n", kind == CSV_FIND_DAMAGE ? "DAMAGE" : what, msg);
    }
}

/* `volume check [VOLUME]` without PATH: clusterd compares volume
 * `volume` (NULL: the main CSV) with the cluster database (and reclaims
 * with --repair); the volume's name goes to ret_name. */
static int check_one(bool repair, bool xml, const char *volume, char *ret_name,
                     size_t name_len)
{
    xmlDoc *doc = NULL;
    char *text = NULL, *req;
    xmlNode *root, *n;
    long problems, orphans;
    int rc;

    /* cmn_xml_format escapes every %s: markup goes in the format. */
    if (volume)
        req = repair ? cmn_xml_format("<request op=\"volume-check\" "
                                      "volume=\"%s\" repair=\"yes\"/>",
                                      volume)
                     : cmn_xml_format("<request op=\"volume-check\" "
                                      "volume=\"%s\"/>",
                                      volume);
    else
        req = strdup(repair ? "<request op=\"volume-check\" repair=\"yes\"/>"
                            : "<request op=\"volume-check\"/>");
    if (!req) {
        ctl_err("out of memory");
        return CTL_EXIT_FAIL;
    }
    rc = ctl_cd_call(req, &doc, &text);
    free(req);
    if (rc)
        return rc;
    root = xmlDocGetRootElement(doc);
    snprintf(ret_name, name_len, "%s", ctl_xml_prop(root, "volume"));
    problems = strtol(ctl_xml_prop(root, "problems"), NULL, 10);
    orphans = strtol(ctl_xml_prop(root, "orphans"), NULL, 10);
    if (xml) {
        fputs(text, stdout);
        free(text);
        xmlFreeDoc(doc);
        return problems || orphans ? CTL_EXIT_DAMAGE : CTL_EXIT_OK;
    }
    free(text);
    for (n = root->children; n; n = n->next) {
        const char *name = (const char *)n->name;
        xmlChar *c;
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (!strcmp(name, "finding")) {
            c = xmlNodeGetContent(n);
            printf("  %s: %s\n",
                   !strcmp(ctl_xml_prop(n, "kind"), "damage") ? "DAMAGE"
                                                              : "note",
                   c ? (const char *)c : "");
            xmlFree(c);
        } else if (!strcmp(name, "orphan")) {
            bool used = !strcmp(ctl_xml_prop(n, "used"), "yes");
            printf("  ORPHAN: slot %s", ctl_xml_prop(n, "slot"));
            if (used)
                printf(" of VM '%s' (uuid %s), not in the cluster database",
                       ctl_xml_prop(n, "vm"), ctl_xml_prop(n, "uuid"));
            else
                printf(" is free but still owns extents");
            printf(": %s extent(s) [%s], %.1f MiB; orphaned for %s s\n",
                   ctl_xml_prop(n, "nextents"), ctl_xml_prop(n, "extents"),
                   (double)strtoull(ctl_xml_prop(n, "bytes"), NULL, 10) / MIB,
                   ctl_xml_prop(n, "orphaned-s"));
        } else if (!strcmp(name, "reclaimed")) {
            printf("  reclaimed: slot %s (VM '%s'), %.1f MiB\n",
                   ctl_xml_prop(n, "slot"), ctl_xml_prop(n, "vm"),
                   (double)strtoull(ctl_xml_prop(n, "bytes"), NULL, 10) / MIB);
        } else if (!strcmp(name, "kept")) {
            printf("  kept: slot %s (VM '%s'): %s\n", ctl_xml_prop(n, "slot"),
                   ctl_xml_prop(n, "vm"), ctl_xml_prop(n, "reason"));
        }
    }
    if (problems || orphans) {
        printf("check: volume '%s' (%s): %ld problem%s, %ld orphan%s",
               ctl_xml_prop(root, "volume"), ctl_xml_prop(root, "path"),
               problems, problems == 1 ? "" : "s", orphans,
               orphans == 1 ? "" : "s");
        if (orphans)
            printf(" (%s: orphans older than %s s are reclaimed by the "
                   "coordinator, or now by 'clusterctl volume check %s "
                   "--repair'; a slot whose VM lease is held never is)",
                   repair ? "left" : "found", ctl_xml_prop(root, "grace-s"),
                   ctl_xml_prop(root, "volume"));
        printf("\n");
        xmlFreeDoc(doc);
        return CTL_EXIT_DAMAGE;
    }
    printf("check: volume '%s' (%s) is clean: every slot and extent belongs "
           "to a VM of the cluster, %.1f MiB free\n",
           ctl_xml_prop(root, "volume"), ctl_xml_prop(root, "path"),
           (double)strtoull(ctl_xml_prop(root, "free"), NULL, 10) / MIB);
    xmlFreeDoc(doc);
    return CTL_EXIT_OK;
}

/* `volume check` of `volume`, or of the main CSV and then every other
 * volume of the cluster database (the worst result is the exit code; as
 * XML, one <volume-check> each inside <volume-checks>). */
static int cluster_check(bool repair, bool xml, const char *volume)
{
    char main_name[CSV_NAME_MAX + 1] = "", name[CSV_NAME_MAX + 1];
    xmlDoc *doc = NULL;
    xmlNode *root, *n;
    int rc, worst;

    if (volume)
        return check_one(repair, xml, volume, name, sizeof(name));
    if (xml)
        printf("<volume-checks>\n");
    worst = check_one(repair, xml, NULL, main_name, sizeof(main_name));
    if (worst != CTL_EXIT_OK && worst != CTL_EXIT_DAMAGE)
        return worst;
    rc = ctl_cd_call("<request op=\"volume-list\"/>", &doc, NULL);
    if (rc)
        return rc;
    root = xmlDocGetRootElement(doc);
    for (n = root ? root->children : NULL; n; n = n->next) {
        char vol[CSV_NAME_MAX + 1];
        if (n->type != XML_ELEMENT_NODE ||
            strcmp((const char *)n->name, "volume") != 0)
            continue;
        snprintf(vol, sizeof(vol), "%s", ctl_xml_prop(n, "name"));
        if (!vol[0] || !strcmp(vol, main_name))
            continue;
        rc = check_one(repair, xml, vol, name, sizeof(name));
        if (rc != CTL_EXIT_OK &&
            (worst == CTL_EXIT_OK || rc != CTL_EXIT_DAMAGE))
            worst = rc;
    }
    xmlFreeDoc(doc);
    if (xml)
        printf("</volume-checks>\n");
    return worst;
}

static int cmd_check(int argc, char **argv)
{
    static const struct option opts[] = {
        {"repair", no_argument, NULL, 'r'},
        {"output", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    CMN_AUTO(csv_volume) *vol = NULL;
    struct findings f = {0};
    struct csv_space sp;
    bool repair = false;
    int c, rc;
    const char *path;

    while ((c = getopt_long(argc, argv, "r", opts, NULL)) != -1) {
        if (c == 'o' && parse_output(optarg, &f.xml) == 0)
            continue;
        if (c != 'r')
            return CTL_EXIT_USAGE;
        repair = true;
    }
    if (optind == argc)
        return cluster_check(repair, f.xml, NULL);
    /* A volume's name has no '/': anything else is a device. */
    if (optind == argc - 1 && !strchr(argv[optind], '/'))
        return cluster_check(repair, f.xml, argv[optind]);
    if (optind != argc - 1) {
        ctl_err("usage: clusterctl volume check [PATH|VOLUME] [--repair] "
                "[--output xml]");
        return CTL_EXIT_USAGE;
    }
    path = argv[optind];
    if ((rc = open_volume(path, repair ? CSV_OPEN_RW : 0, &vol)) != 0)
        return rc;
    if (f.xml) {
        printf("<check");
        xml_attr("path", path);
        xml_attr("volume", csv_super(vol)->name);
        printf(">\n");
    }
    if (repair &&
        (csv_super_copy_status(vol, 0) || csv_super_copy_status(vol, 1))) {
        rc = csv_repair_super(vol);
        if (rc < 0) {
            ctl_err("'%s': rewriting the damaged superblock copy failed: %s",
                    path, cmn_strerror(rc));
            return CTL_EXIT_FAIL;
        }
        printf(f.xml ? "  <repaired>superblock copy rewritten from the good "
                       "one</repaired>\n"
                     : "  repaired: superblock copy rewritten from the good "
                       "one\n");
    }
    rc = csv_check(vol, print_finding, &f);
    if (rc < 0 && rc != -CSV_E_DAMAGED) {
        ctl_err("'%s': check could not run: %s", path, cmn_strerror(rc));
        return CTL_EXIT_FAIL;
    }
    csv_space(vol, &sp);
    if (f.xml)
        printf("  <result clean=\"%s\" problems=\"%d\" extents=\"%zu\" "
               "free=\"%" PRIu64 "\"/>\n</check>\n",
               f.damage ? "no" : "yes", f.damage, sp.extents, sp.free);
    if (f.damage) {
        if (!f.xml)
            printf("check: '%s' (volume '%s'): %d problem%s found\n", path,
                   csv_super(vol)->name, f.damage, f.damage == 1 ? "" : "s");
        return CTL_EXIT_DAMAGE;
    }
    if (!f.xml)
        printf("check: '%s' (volume '%s') is clean: %zu extents, no overlap, "
               "%.1f MiB free\n",
               path, csv_super(vol)->name, sp.extents, (double)sp.free / MIB);
    return CTL_EXIT_OK;
}

/* The options of volume alloc-stress. */
struct stress_opts {
    uint32_t count, size_mib, host_id, lock_timeout_s, pause_ms, hold_ms;
    const char *tag;
};

static int stress_parse_args(int argc, char **argv, struct stress_opts *o)
{
    static const struct option opts[] = {
        {"count", required_argument, NULL, 'n'},
        {"tag", required_argument, NULL, 't'},
        {"size-mib", required_argument, NULL, 's'},
        {"host-id", required_argument, NULL, 'h'},
        {"lock-timeout", required_argument, NULL, 'l'},
        {"pause-ms", required_argument, NULL, 'p'},
        {"hold-ms", required_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    int c, rc;

    while ((c = getopt_long(argc, argv, "n:t:s:h:l:p:H:", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            rc = parse_u32("--count", optarg, 1, 1000000, &o->count);
            break;
        case 't':
            o->tag = optarg;
            rc = strlen(o->tag) > 20 ? -EINVAL : 0;
            break;
        case 's':
            rc = parse_u32("--size-mib", optarg, 1, 1u << 20, &o->size_mib);
            break;
        case 'h':
            rc = parse_u32("--host-id", optarg, 1, 2000, &o->host_id);
            break;
        case 'l':
            rc = parse_u32("--lock-timeout", optarg, 1, 3600,
                           &o->lock_timeout_s);
            break;
        case 'p':
            rc = parse_u32("--pause-ms", optarg, 0, 10000, &o->pause_ms);
            break;
        case 'H':
            rc = parse_u32("--hold-ms", optarg, 0, 10000, &o->hold_ms);
            break;
        default:
            rc = -EINVAL;
        }
        if (rc < 0)
            return CTL_EXIT_USAGE;
    }
    if (optind != argc - 1)
        return CTL_EXIT_USAGE;
    return 0;
}

/* Hidden, for the cluster tests: join the lockspace, then allocate COUNT
 * extents one by one, each under a fresh acquisition of the metadata
 * lease (through this host's sanlock daemon). */
static int cmd_alloc_stress(int argc, char **argv)
{
    CMN_AUTO(csv_volume) *vol = NULL;
    struct stress_opts o = {
        .count = 10, .size_mib = 1, .lock_timeout_s = 120, .tag = "x"};
    unsigned seed = (unsigned)getpid();
    int64_t t0, lock_ms = 0, worst = 0;
    int rc = stress_parse_args(argc, argv, &o);

    if (rc)
        return rc;
    if ((rc = open_volume(argv[optind], CSV_OPEN_RW, &vol)) != 0)
        return rc;
    if (o.host_id) {
        rc = csv_lockspace_add(vol, o.host_id);
        if (rc < 0 && rc != -EEXIST) {
            ctl_err("joining lockspace '%s' as host %u: %s",
                    csv_super(vol)->name, o.host_id, cmn_strerror(rc));
            return CTL_EXIT_FAIL;
        }
    }
    t0 = (int64_t)cmn_now_ms();
    for (uint32_t i = 0; i < o.count; i++) {
        char t[32];
        int64_t l0 = (int64_t)cmn_now_ms(), dl;
        snprintf(t, sizeof(t), "%s-%u", o.tag, i);
        rc = csv_lock(vol, (int)o.lock_timeout_s * 1000);
        dl = (int64_t)cmn_now_ms() - l0;
        lock_ms += dl;
        worst = dl > worst ? dl : worst;
        if (rc == 0)
            rc = csv_extent_alloc(vol, (uint64_t)o.size_mib << 20,
                                  CSV_OWNER_NONE, CSV_EXTENT_OTHER, 0, t, NULL);
        if (rc < 0) {
            ctl_err("allocation %u ('%s') on '%s': %s", i, t, argv[optind],
                    cmn_strerror(rc));
            return CTL_EXIT_FAIL;
        }
        if (o.hold_ms) {
            /* A slow holder, for crash tests: die holding the lease. */
            struct timespec ts = {o.hold_ms / 1000,
                                  (long)(o.hold_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
        rc = csv_unlock(vol);
        if (rc < 0) {
            ctl_err("releasing the metadata lease: %s", cmn_strerror(rc));
            return CTL_EXIT_FAIL;
        }
        if (o.pause_ms) {
            /* Like a real caller, do something else between changes, so
             * the other host's retries find the lease free. */
            int ms = rand_r(&seed) % (int)(o.pause_ms + 1);
            struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    printf("alloc-stress: %u extents tagged '%s-*' in %" PRId64
           " ms; lease waits %" PRId64 " ms total, %" PRId64 " ms worst\n",
           o.count, o.tag, (int64_t)cmn_now_ms() - t0, lock_ms, worst);
    return CTL_EXIT_OK;
}

/* `volume add NAME --local --node NODE --path DIR`: a directory of one
 * node for the disks of VMs that run there only (see clusterctl(8)). Run
 * on NODE: its clusterd checks and marks the directory. */
static int cmd_add_local(int argc, char **argv)
{
    const char *name = NULL, *node = NULL, *path = NULL;
    char *en = NULL, *enode = NULL, *epath = NULL, *req = NULL;
    xmlDoc *doc = NULL;
    int rc = CTL_EXIT_FAIL;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--local"))
            continue;
        if (!strcmp(argv[i], "--node") && i + 1 < argc)
            node = argv[++i];
        else if (!strcmp(argv[i], "--path") && i + 1 < argc)
            path = argv[++i];
        else if (argv[i][0] != '-' && !name)
            name = argv[i];
        else
            name = NULL, i = argc; /* usage below */
    }
    if (!name || !node || !path) {
        ctl_err("usage: clusterctl volume add NAME --local --node NODE "
                "--path DIR (run on NODE; DIR an existing directory there)");
        return CTL_EXIT_USAGE;
    }
    en = ctl_xml_escape(name);
    enode = ctl_xml_escape(node);
    epath = ctl_xml_escape(path);
    if (!en || !enode || !epath ||
        asprintf(&req,
                 "<request op=\"volume-add-local\" name=\"%s\" node=\"%s\" "
                 "path=\"%s\"/>",
                 en, enode, epath) < 0) {
        req = NULL;
        goto out;
    }
    rc = ctl_cd_call(req, &doc, NULL);
    if (rc == 0)
        printf("local volume '%s' (%s on node '%s') added (cluster database "
               "epoch %s)\n",
               name, path, node,
               ctl_xml_prop(xmlDocGetRootElement(doc), "epoch"));
out:
    xmlFreeDoc(doc);
    free(req);
    free(en);
    free(enode);
    free(epath);
    return rc;
}

/* `volume add PATH`: the volume's own superblock names it; its LUN is
 * the file name lunbridge gave it (the LUN's designator), the same on
 * every node. */
static int cmd_add(int argc, char **argv)
{
    CMN_AUTO(csv_volume) *vol = NULL;
    const struct csv_super *sb;
    const char *path, *lun;
    char *req = NULL, *elun = NULL, u[37];
    xmlDoc *doc = NULL;
    int rc;

    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--local"))
            return cmd_add_local(argc, argv);
    if (argc != 2 || argv[1][0] == '-') {
        ctl_err("usage: clusterctl volume add PATH (the LUN of a volume made "
                "by 'clusterctl volume format', e.g. " LUNS_DIR "/naa.ID), or "
                "clusterctl volume add NAME --local --node NODE --path DIR");
        return CTL_EXIT_USAGE;
    }
    path = argv[1];
    if ((rc = open_volume(path, 0, &vol)) != 0)
        return rc;
    sb = csv_super(vol);
    csv_uuid_str(sb->uuid, u);
    lun = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    elun = ctl_xml_escape(lun);
    if (!elun || asprintf(&req,
                          "<request op=\"cdb-add-volume\" name=\"%s\" "
                          "lockspace=\"%s\">%s\n</request>",
                          sb->name, sb->name, elun) < 0) {
        free(elun);
        return CTL_EXIT_FAIL;
    }
    rc = ctl_cd_call(req, &doc, NULL);
    if (rc == 0) {
        printf("volume '%s' (LUN %s, ", sb->name, lun);
        print_size(stdout, sb->volume_size);
        printf(", uuid %s) added (cluster database epoch %s)\n", u,
               ctl_xml_prop(xmlDocGetRootElement(doc), "epoch"));
    }
    xmlFreeDoc(doc);
    free(req);
    free(elun);
    return rc;
}

static xmlNode *next_elem(xmlNode *n, const char *name)
{
    for (; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name))
            return n;
    return NULL;
}

/* One line of `volume list` for a LUN of a volume, read from this node. */
static void list_lun(const char *name, const char *lun, const char *csv)
{
    CMN_AUTO(csv_volume) *vol = NULL;
    char path[PATH_MAX], size[32] = "-", free_s[32] = "-", vms[16] = "-";
    const char *note = "";
    struct csv_space sp;
    int rc;

    snprintf(path, sizeof(path), "%s/%s", LUNS_DIR, lun);
    rc = csv_open(path, 0, NULL, &vol);
    if (rc == 0 && strcmp(csv_super(vol)->name, name) != 0) {
        note = "another volume is behind this LUN now!";
    } else if (rc == 0 && csv_space(vol, &sp) == 0) {
        uint32_t used = 0;

        for (uint32_t i = 0; i < csv_super(vol)->nslots; i++) {
            struct csv_slot s;
            if (csv_slot_get(vol, i, &s) == 0 && s.used)
                used++;
            csv_slot_clear(&s);
        }
        snprintf(size, sizeof(size), "%.0f MiB", (double)sp.data_length / MIB);
        snprintf(free_s, sizeof(free_s), "%.0f MiB", (double)sp.free / MIB);
        snprintf(vms, sizeof(vms), "%u/%u", used, csv_super(vol)->nslots);
        if (!strcmp(csv, path))
            note = "clusterd keeps VMs here";
    } else {
        note = rc == -ENOENT ? "not visible from this node (lunbridge?)"
                             : cmn_strerror(rc);
    }
    printf("%-16s %-40s %10s %10s %7s  %s\n", name, lun, size, free_s, vms,
           note);
}

static int cmd_list(int argc, char **argv)
{
    bool xml = false;
    xmlDoc *doc = NULL;
    xmlNode *root;
    char *text = NULL;
    int rc, n = 0;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--output") && i + 1 < argc &&
            !strcmp(argv[i + 1], "xml")) {
            xml = true;
            i++;
        } else if (!strcmp(argv[i], "--output=xml")) {
            xml = true;
        } else {
            ctl_err("usage: clusterctl volume list [--output xml]");
            return CTL_EXIT_USAGE;
        }
    }
    rc = ctl_cd_call("<request op=\"volume-list\"/>", &doc, &text);
    if (rc)
        return rc;
    root = xmlDocGetRootElement(doc);
    if (xml) {
        fputs(text, stdout);
        goto out;
    }
    for (xmlNode *v = next_elem(root->children, "volume"); v;
         v = next_elem(v->next, "volume")) {
        if (!strcmp(ctl_xml_prop(v, "kind"), "local")) {
            if (!n++)
                printf("%-16s %-40s %10s %10s %7s  %s\n", "VOLUME", "LUN",
                       "DATA", "FREE", "VMS", "");
            printf("%-16s %-40s %10s %10s %7s  local to node '%s': %s\n",
                   ctl_xml_prop(v, "name"), "-", "-", "-", "-",
                   ctl_xml_prop(v, "node"), ctl_xml_prop(v, "path"));
            continue;
        }
        for (xmlNode *l = next_elem(v->children, "lun"); l;
             l = next_elem(l->next, "lun")) {
            if (!n++)
                printf("%-16s %-40s %10s %10s %7s  %s\n", "VOLUME", "LUN",
                       "DATA", "FREE", "VMS", "");
            list_lun(ctl_xml_prop(v, "name"), ctl_xml_prop(l, "id"),
                     ctl_xml_prop(root, "csv"));
        }
    }
    if (!n)
        printf("no volumes in the cluster database (add one with "
               "'clusterctl volume add PATH')\n");
out:
    free(text);
    xmlFreeDoc(doc);
    return CTL_EXIT_OK;
}

int ctl_volume_main(int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : NULL;

    optind = 1;
    if (!sub) {
        ctl_err("volume: missing subcommand (format, inspect, check, add or "
                "list)");
        return CTL_EXIT_USAGE;
    }
    if (!strcmp(sub, "format"))
        return cmd_format(argc - 1, argv + 1);
    if (!strcmp(sub, "inspect"))
        return cmd_inspect(argc - 1, argv + 1);
    if (!strcmp(sub, "check"))
        return cmd_check(argc - 1, argv + 1);
    if (!strcmp(sub, "add"))
        return cmd_add(argc - 1, argv + 1);
    if (!strcmp(sub, "list"))
        return cmd_list(argc - 1, argv + 1);
    if (!strcmp(sub, "alloc-stress"))
        return cmd_alloc_stress(argc - 1, argv + 1);
    ctl_err("volume: unknown subcommand '%s' (format, inspect, check, add or "
            "list; see 'clusterctl help')",
            sub);
    return CTL_EXIT_USAGE;
}
