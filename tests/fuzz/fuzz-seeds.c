/* Writes seed inputs for the harnesses, made by the project's own
 * encoders so they follow the formats: fuzz-seeds DIR writes
 * DIR/<name>/<seed> for every harness whose input is binary or framed
 * (tests/fuzz/corpus/ holds its output, checked in; scripts/fuzz adds the
 * XML and configuration files of tests/data at run time). */
#include "config.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clusterd/cd-coord.h"
#include "clusterd/cd-obs.h"
#include "clusterd/cd-replica.h"
#include "clusterd/cd.h"
#include "common/cmn-le.h"
#include "csv/csv-int.h"
#include "hvagent/hva-int.h"
#include "tests/fuzz/fuzz.h"

static const char *outdir;

static const char *const vm_def_xml =
    "<vm><name>web1</name>"
    "<uuid>6f1c2d3e-4a5b-4c6d-8e7f-000000000001</uuid>"
    "<memory unit=\"MiB\">256</memory><vcpus>1</vcpus>"
    "<boot dev=\"kernel\"><kernel>/k.elf</kernel></boot>"
    "<policy><priority>high</priority></policy></vm>";

/* A growing byte string. */
struct seed {
    uint8_t *p;
    size_t len, cap;
};

static void seed_add(struct seed *s, const void *p, size_t len)
{
    if (s->cap - s->len < len) {
        s->cap = (s->len + len) * 2;
        s->p = realloc(s->p, s->cap);
        if (!s->p)
            abort();
    }
    memcpy(s->p + s->len, p, len);
    s->len += len;
}

static void seed_u8(struct seed *s, unsigned v)
{
    uint8_t b = (uint8_t)v;

    seed_add(s, &b, 1);
}

/* u16 length + bytes, the record of the sequence harnesses. */
static void seed_rec(struct seed *s, const void *p, size_t len)
{
    uint8_t l[2];

    if (len > 0xffff)
        abort();
    cmn_put_le(l, len, 2);
    seed_add(s, l, 2);
    seed_add(s, p, len);
}

static void write_seed(const char *name, const char *file, const void *p,
                       size_t len)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", outdir, name);
    if (mkdir(path, 0755) < 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof(path), "%s/%s/%s", outdir, name, file);
    f = fopen(path, "wb");
    if (!f || fwrite(p, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void seed_write(const char *name, const char *file, struct seed *s)
{
    write_seed(name, file, s->p, s->len);
    free(s->p);
    memset(s, 0, sizeof(*s));
}

static void apply(struct cd_cdb *cdb, enum cd_op_type t, const char *name,
                  const char *arg, uint32_t nodeid, uint64_t number,
                  const char *text, struct seed *rec)
{
    struct cd_op op = {.type = t, .nodeid = nodeid, .number = number};
    char err[256];
    void *buf;
    size_t len;

    snprintf(op.name, sizeof(op.name), "%s", name);
    snprintf(op.arg, sizeof(op.arg), "%s", arg);
    op.text = text ? strdup(text) : NULL;
    if (cd_cdb_apply(cdb, &op, err, sizeof(err)) < 0) {
        fprintf(stderr, "fuzz-seeds: %s\n", err);
        exit(1);
    }
    if (rec) {
        if (cd_op_encode(&op, &buf, &len) < 0)
            abort();
        seed_rec(rec, buf, len);
        free(buf);
    }
    free(op.text);
}

/* A CDB of two nodes and a running VM; the OPs that built it go to `rec`. */
static struct cd_cdb *small_cdb(struct seed *rec)
{
    struct cd_cdb *cdb;

    if (cd_cdb_new(&cdb) < 0)
        abort();
    apply(cdb, CD_OP_ADD_NODE, "node3", "198.18.0.3", 3, 4096, NULL, rec);
    apply(cdb, CD_OP_ADD_NODE, "node4", "198.18.0.4", 4, 4096, NULL, rec);
    apply(cdb, CD_OP_ADD_VM, "web1", "high", 0, 0, vm_def_xml, rec);
    apply(cdb, CD_OP_SET_VM_TARGET, "web1", "running", 0, 0, NULL, rec);
    apply(cdb, CD_OP_SET_SETTING, "migration-max-concurrent", "2", 0, 0, NULL,
          rec);
    return cdb;
}

static void seeds_cdb(void)
{
    struct seed s = {0};
    struct cd_cdb *cdb = small_cdb(&s);
    char *text;
    size_t len;

    seed_write("cdb-op", "build", &s);
    apply(cdb, CD_OP_SET_NODE_STATE, "node3", "paused", 0, 0, NULL, &s);
    apply(cdb, CD_OP_SET_VM_PRIORITY, "web1", "low", 0, 0, NULL, &s);
    apply(cdb, CD_OP_REMOVE_VM, "web1", "", 0, 0, NULL, &s);
    seed_write("cdb-op", "edit", &s);
    if (cd_cdb_serialize(cdb, &text, &len) < 0)
        abort();
    write_seed("cdb-xml", "small", text, len);
    free(text);
    cd_cdb_free(cdb);
}

/* ---- replica: a sync round of three members, as node 1 sees it */

struct bus {
    struct cd_replica *r[3];
    struct {
        uint32_t from;
        uint8_t *buf;
        size_t len;
    } q[256];
    size_t head, tail;
    uint32_t sending;
};

static int bus_send(void *data, const void *buf, size_t len)
{
    struct bus *b = data;

    if (b->tail == CMN_ARRAY_SIZE(b->q))
        abort();
    b->q[b->tail].from = b->sending;
    b->q[b->tail].buf = malloc(len);
    memcpy(b->q[b->tail].buf, buf, len);
    b->q[b->tail].len = len;
    b->tail++;
    return 0;
}

static int send1(void *d, const void *p, size_t n)
{
    ((struct bus *)d)->sending = 1;
    return bus_send(d, p, n);
}
static int send2(void *d, const void *p, size_t n)
{
    ((struct bus *)d)->sending = 2;
    return bus_send(d, p, n);
}
static int send3(void *d, const void *p, size_t n)
{
    ((struct bus *)d)->sending = 3;
    return bus_send(d, p, n);
}

static void seeds_replica(void)
{
    static const uint32_t all[] = {1, 2, 3};
    static const struct cd_replica_ops ops[3] = {
        {.send = send1}, {.send = send2}, {.send = send3}};
    struct bus b = {0};
    struct seed s = {0};
    struct cd_cdb *cdb;
    struct cd_op op = {.type = CD_OP_ADD_NODE, .nodeid = 1, .number = 2048};

    for (uint32_t i = 0; i < 3; i++) {
        cdb = i == 2 ? small_cdb(NULL) : NULL;
        if (!cdb && cd_cdb_new(&cdb) < 0)
            abort();
        if (cd_replica_new(i + 1, cdb, NULL, &ops[i], &b, &b.r[i]) < 0)
            abort();
        cd_replica_set_chunk_size(b.r[i], 700);
        cd_replica_set_quorate(b.r[i], true);
    }
    for (uint32_t i = 0; i < 3; i++)
        cd_replica_confchg(b.r[i], all, 3);
    /* Run the bus; once node 1 is in sync it submits a change. */
    for (bool submitted = false; b.head < b.tail || !submitted;) {
        if (b.head == b.tail) {
            snprintf(op.name, sizeof(op.name), "node1");
            snprintf(op.arg, sizeof(op.arg), "198.18.0.1");
            if (cd_replica_submit(b.r[0], &op, NULL) < 0)
                abort();
            submitted = true;
            continue;
        }
        seed_u8(&s, b.q[b.head].from - 1);
        seed_rec(&s, b.q[b.head].buf, b.q[b.head].len);
        for (uint32_t i = 0; i < 3; i++)
            cd_replica_deliver(b.r[i], b.q[b.head].from, b.q[b.head].buf,
                               b.q[b.head].len);
        free(b.q[b.head].buf);
        b.head++;
    }
    if (cd_replica_phase(b.r[0]) != CD_SYNC_DONE ||
        cd_replica_stats(b.r[0])->snapshots_taken != 1)
        abort();
    seed_write("replica", "sync-round", &s);
    for (uint32_t i = 0; i < 3; i++)
        cd_replica_free(b.r[i]);
}

/* ---- coordinator messages */

static void co_rec(struct seed *s, uint32_t sender, const struct cd_co_msg *m)
{
    uint8_t buf[CD_CO_MSG_MAX];
    size_t len;

    if (cd_co_msg_encode(m, buf, sizeof(buf), &len) < 0)
        abort();
    seed_u8(s, sender - 1);
    seed_rec(s, buf, len);
}

static void seeds_coord(void)
{
    struct seed s = {0};
    struct cd_co_msg m;

    for (uint32_t node = 1; node <= 3; node++) {
        memset(&m, 0, sizeof(m));
        m.type = CD_CO_RT_BEGIN;
        co_rec(&s, node, &m);
        if (node == 2) {
            m.type = CD_CO_RT_VM;
            m.kind = CD_RT_RUNNING;
            snprintf(m.vm, sizeof(m.vm), "web1");
            co_rec(&s, node, &m);
        }
        memset(&m, 0, sizeof(m));
        m.type = CD_CO_RT_END;
        co_rec(&s, node, &m);
    }
    seed_write("coord-msg", "announce", &s);

    memset(&m, 0, sizeof(m));
    m.type = CD_CO_REQ;
    m.id = 7;
    m.a = 2;
    m.b = 3;
    m.kind = CD_ACT_LIVE;
    m.origin = 2;
    snprintf(m.vm, sizeof(m.vm), "web1");
    co_rec(&s, 2, &m);
    memset(&m, 0, sizeof(m));
    m.type = CD_CO_ACTION;
    m.id = 1;
    m.a = 2;
    m.b = 3;
    m.kind = CD_ACT_LIVE;
    m.origin = 2;
    m.origin_req = 7;
    snprintf(m.vm, sizeof(m.vm), "web1");
    co_rec(&s, 1, &m);
    memset(&m, 0, sizeof(m));
    m.type = CD_CO_STEP;
    m.id = 1;
    m.cause = 0;
    m.rc = -5;
    snprintf(m.vm, sizeof(m.vm), "web1");
    snprintf(m.text, sizeof(m.text), "target refused");
    co_rec(&s, 2, &m);
    memset(&m, 0, sizeof(m));
    m.type = CD_CO_NODE_LOST;
    m.a = 3;
    co_rec(&s, 1, &m);
    memset(&m, 0, sizeof(m));
    m.type = CD_CO_STORAGE;
    m.a = 1;
    co_rec(&s, 3, &m);
    seed_write("coord-msg", "move", &s);
}

/* ---- csv records */

static void seeds_csv(void)
{
    struct csv_super sb;
    struct csv_extent ext[3] = {
        {.id = 1,
         .offset = 64 << 20,
         .length = 1 << 20,
         .owner = 0,
         .kind = 1,
         .tag = "vda"},
        {.id = 2,
         .offset = 65 << 20,
         .length = 4 << 20,
         .owner = 0,
         .kind = 2,
         .tag = "state"},
        {.id = 3,
         .offset = 80 << 20,
         .length = 1 << 20,
         .owner = 5,
         .kind = 1,
         .index = 1,
         .tag = "vdb"},
    };
    struct csv_extmap map = {
        .generation = 4, .next_id = 4, .count = 3, .cap = 3, .ext = ext};
    struct csv_slot slot = {
        .index = 0, .used = true, .generation = 2, .name = "web1"};
    uint8_t *buf = calloc(1, CSV_SLOT_REC_SIZE);

    if (!buf)
        abort();
    /* A superblock of a plausible layout: regions in order, aligned. */
    memset(&sb, 0, sizeof(sb));
    sb.version = CSV_VERSION;
    sb.generation = 1;
    for (int i = 0; i < 16; i++)
        sb.uuid[i] = (uint8_t)(0x11 * (i + 1));
    sb.sector_size = 512;
    sb.align = 1 << 20;
    sb.io_timeout = 10;
    sb.max_hosts = CSV_LEASE_HOSTS;
    sb.nslots = 4;
    sb.max_extents = 16;
    sb.slot_rec_size = CSV_SLOT_REC_SIZE;
    sb.extmap_rec_size = CSV_IO_ALIGN;
    sb.alloc_unit = CSV_ALLOC_UNIT;
    sb.volume_size = 1ull << 30;
    sb.created = 1700000000;
    snprintf(sb.name, sizeof(sb.name), "vol1");
    snprintf(sb.cluster, sizeof(sb.cluster), "prod-a");
    for (int i = 0; i < CSV_REGION_COUNT; i++) {
        sb.regions[i].type = (uint32_t)(i + 1);
        sb.regions[i].offset = (uint64_t)(i + 1) << 20;
        sb.regions[i].length = 1 << 20;
    }
    sb.regions[CSV_REGION_LEASES - 1].count = sb.nslots + 1;
    sb.regions[CSV_REGION_SLOTS - 1].count = sb.nslots;
    csv_super_encode(&sb, buf);
    write_seed("csv-super", "valid", buf, CSV_SUPER_SIZE);

    csv_extmap_encode(&map, csv_uuid8(sb.uuid), buf);
    write_seed("csv-extmap", "three", buf, csv_extmap_encoded_size(3));
    map.count = 0;
    csv_extmap_encode(&map, csv_uuid8(sb.uuid), buf);
    write_seed("csv-extmap", "empty", buf, csv_extmap_encoded_size(0));

    memcpy(slot.uuid, sb.uuid, 16);
    slot.xml = (char *)vm_def_xml;
    slot.xml_len = strlen(vm_def_xml);
    csv_slot_encode(&slot, csv_uuid8(sb.uuid), buf);
    write_seed("csv-slot", "used", buf, csv_slot_encoded_size(&slot));
    slot.used = false;
    csv_slot_encode(&slot, csv_uuid8(sb.uuid), buf);
    write_seed("csv-slot", "free", buf, csv_slot_encoded_size(&slot));
    free(buf);
}

/* ---- hvagent */

static void seeds_hva(void)
{
    struct hva_disk disk = {.path = (char *)"/run/kvmcluster/luns/naa.1",
                            .offset = 1 << 20,
                            .size = 64 << 20,
                            .direct = true};
    struct hva_vm_def def = {
        .name = (char *)"web1",
        .uuid = (char *)"6f1c2d3e-4a5b-4c6d-8e7f-000000000001",
        .memory_mib = 256,
        .vcpus = 2,
        .cpu_model = (char *)"qemu64",
        .kernel = (char *)"/var/lib/kvmcluster/k.elf",
        .cmdline = (char *)"console=ttyS0",
        .disks = &disk,
        .n_disks = 1,
        .lease = {.lockspace = (char *)"vol1",
                  .resource = (char *)"vm-0",
                  .path = (char *)"/run/kvmcluster/luns/naa.1",
                  .offset = 3 << 20},
        .state = {.path = (char *)"/run/kvmcluster/luns/naa.1",
                  .offset = 80 << 20,
                  .size = 300 << 20},
    };
    struct csv_state_hdr h = {.generation = 3,
                              .length = 256 << 20,
                              .data_crc = 0x12345678,
                              .timestamp = 1700000000};
    uint8_t hdr[8 + CSV_STATE_HDR_SIZE];
    struct seed s = {0};
    char *xml, line[8192];
    int n;

    if (hva_vm_def_to_xml(&def, &xml) < 0)
        abort();
    write_seed("hva-vm-xml", "full", xml, strlen(xml));

    snprintf(h.uuid, sizeof(h.uuid), "%s", def.uuid);
    /* The extent size (first 8 bytes, as the harness reads them), then the
     * fields: the zeros after them and the crc are implied. */
    cmn_put_le64(hdr, 300 << 20);
    csv_state_hdr_encode(&h, hdr + 8);
    write_seed("state-hdr", "valid", hdr, 8 + 96);

    n = snprintf(line, sizeof(line),
                 "HELLO node=node2 vm=web1 uuid=%s stall-ms=2000\n"
                 "PREPARE %s\n",
                 def.uuid, xml);
    seed_rec(&s, line, (size_t)n / 2);
    seed_rec(&s, line + n / 2, (size_t)n - (size_t)n / 2);
    n = snprintf(line, sizeof(line), "PING\nLEASE-RELEASED\nABORT done\n");
    seed_rec(&s, line, (size_t)n);
    seed_write("chan-line", "session", &s);
    free(xml);
}

/* ---- SCSI pages */

static void seeds_vpd(void)
{
    static const uint8_t vpd83[] = {0, 0x00, 0x83, 0x00, 0x18,
                                    /* NAA (3), LU, binary, 16 bytes */
                                    0x01, 0x03, 0x00, 0x10, 0x60, 0x00, 0x0e,
                                    0xd5, 0x4f, 0x1d, 0x77, 0x00, 0x00, 0x00,
                                    0x00, 0x00, 0x00, 0x00, 0x00, 0x01};
    static const uint8_t vpd80[] = {1,   0x00, 0x80, 0x00, 0x08, ' ', 'b',
                                    'e', 'e',  'f',  '/',  '.',  ' '};
    static const uint8_t readcap[] = {2, 0, 0,    0,    0, 0, 0x1f, 0xff, 0xff,
                                      0, 0, 0x02, 0x00, 0, 0, 0,    0};
    static const uint8_t luns[] = {3, 0, 0, 0, 0x10, 0,    0, 0, 0, 0, 0, 0, 0,
                                   0, 0, 0, 0, 0x40, 0x05, 0, 0, 0, 0, 0, 0};

    write_seed("vpd", "vpd83-naa", vpd83, sizeof(vpd83));
    write_seed("vpd", "vpd80", vpd80, sizeof(vpd80));
    write_seed("vpd", "readcap16", readcap, sizeof(readcap));
    write_seed("vpd", "reportluns", luns, sizeof(luns));
}

/* ---- the action history file: a live move with passes, a failover */

static void seeds_obs(void)
{
    struct cd_action live = {.id = 7, .kind = CD_ACT_LIVE};
    struct cd_action start = {
        .id = 9, .kind = CD_ACT_START, .cause = CD_CAUSE_FAILOVER};
    struct cd_obs *o;
    uint8_t *buf;
    size_t len;

    if (cd_obs_new(&o) < 0)
        abort();
    if (cd_obs_encode(o, &buf, &len) < 0)
        abort();
    write_seed("obs-history", "empty", buf, len);
    free(buf);
    snprintf(live.vm, sizeof(live.vm), "web1");
    cd_obs_action_begin(o, &live, "node3", "node4", 1000, 1700000000);
    cd_obs_pass(o, "web1", 1, 268435456, 1048576, 8388608, 0, 1400);
    cd_obs_pass(o, "web1", 2, 269484032, 4096, 4194304, 12, 1500);
    live.status = CD_AS_DONE;
    live.downtime_ms = 14;
    live.total_ms = 600;
    cd_obs_action_end(o, &live, "node3", "node4", 1600, 1700000001);
    snprintf(start.vm, sizeof(start.vm), "web1");
    cd_obs_node_lost(o, 10000, 2000);
    cd_obs_action_begin(o, &start, "", "node3", 11000, 1700000100);
    start.status = CD_AS_DONE;
    snprintf(start.msg, sizeof(start.msg), "restarted after node4 was lost");
    start.start_ms = 900;
    cd_obs_action_end(o, &start, "", "node3", 15000, 1700000104);
    if (cd_obs_history_count(o) != 2 || cd_obs_encode(o, &buf, &len) < 0)
        abort();
    write_seed("obs-history", "two", buf, len);
    free(buf);
    cd_obs_free(o);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz-seeds DIR\n");
        return 2;
    }
    outdir = argv[1];
    if (mkdir(outdir, 0755) < 0 && errno != EEXIST) {
        perror(outdir);
        return 1;
    }
    fuzz_env();
    seeds_cdb();
    seeds_replica();
    seeds_coord();
    seeds_csv();
    seeds_hva();
    seeds_vpd();
    seeds_obs();
    return 0;
}
