/* The action history and the metrics text (cd-obs.c): a live move's
 * passes and figures, a failover's split, the history file's round trip
 * and its refusals, and the text format (names, units, _total, label
 * escaping, one sample per histogram observation). */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "clusterd/cd-int.h"
#include "clusterd/cd-obs.h"
#include "clusterd/cd-proto.h"
#include "common/cmn-crc32c.h"
#include "common/cmn-le.h"

static struct cd_action act(uint64_t id, enum cd_act_kind k,
                            enum cd_act_cause c, const char *vm)
{
    struct cd_action a = {.id = id, .kind = k, .cause = c};

    snprintf(a.vm, sizeof(a.vm), "%s", vm);
    return a;
}

/* Whether `text` has the line `line`. */
static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);

    for (const char *p = text; (p = strstr(p, line)); p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return true;
    return false;
}

static struct cd_obs_view empty_view(void)
{
    struct cd_obs_view v = {.self = "n1", .connected = true, .quorate = true};
    return v;
}

static void test_live_history(void **state)
{
    struct cd_obs *o;
    struct cd_action a = act(7, CD_ACT_LIVE, CD_CAUSE_USER, "web1");
    char *xml = NULL;

    (void)state;
    assert_int_equal(cd_obs_new(&o), 0);
    cd_obs_action_begin(o, &a, "n1", "n2", 1000, 100);
    cd_obs_pass(o, "web1", 1, 100, 900, 0, 0, 1200);
    cd_obs_pass(o, "web1", 1, 500, 500, 4000, 0, 1300); /* same pass: updated */
    cd_obs_pass(o, "web1", 2, 900, 10, 2000, 30, 1500);
    cd_obs_pass(o, "other", 1, 1, 1, 1, 1, 1500); /* no action: ignored */
    a.status = CD_AS_DONE;
    a.downtime_ms = 42;
    a.total_ms = 600;
    assert_true(cd_obs_action_end(o, &a, "n1", "n2", 1600, 101));
    assert_false(cd_obs_action_end(o, &a, "n1", "n2", 1700, 101)); /* dup */
    cd_obs_action_begin(o, &a, "n1", "n2", 1800, 102); /* re-announced */
    assert_int_equal(cd_obs_history_count(o), 1);
    const struct cd_obs_entry *e = cd_obs_history(o, 0);
    assert_int_equal(e->npasses, 2);
    assert_int_equal(e->passes[0].transferred, 500);
    assert_int_equal(e->passes[1].pass, 2);
    assert_int_equal(e->passes[1].at_ms, 500);
    assert_int_equal(e->passes[0].dirty_rate, 4000);
    assert_int_equal(e->passes[1].dirty_rate, 2000);
    assert_int_equal(e->downtime_ms, 42);
    assert_true(e->failover_ms == CD_OBS_NONE);

    assert_int_equal(cd_obs_history_xml(o, "web1", 0, &xml), 0);
    assert_non_null(
        strstr(xml, "kind=\"live-migration\" cause=\"user\" status=\"done\""));
    assert_non_null(strstr(xml, "<pass n=\"2\" transferred=\"900\" "
                                "remaining=\"10\" dirty-rate=\"2000\""));
    free(xml);
    assert_int_equal(cd_obs_history_xml(o, "web2", 0, &xml), 0);
    assert_string_equal(xml, "<history>\n</history>\n");
    free(xml);
    assert_int_equal(cd_obs_history_xml(o, NULL, 102, &xml), 0);
    assert_null(strstr(xml, "<action"));
    free(xml);

    /* The dirty rate of the last pass of each VM's latest live move. */
    struct cd_obs_view v = empty_view();
    struct cd_action b = act(8, CD_ACT_LIVE, CD_CAUSE_USER, "web1");
    cd_obs_action_begin(o, &b, "n2", "n1", 2000, 103);
    cd_obs_pass(o, "web1", 1, 900, 0, 500, 5, 2100);
    b.status = CD_AS_DONE;
    assert_true(cd_obs_action_end(o, &b, "n2", "n1", 2200, 104));
    assert_int_equal(cd_obs_render(o, &v, CD_OBS_OPENMETRICS, &xml), 0);
    assert_true(has_line(xml, "# UNIT kvmcluster_migration_dirty_rate_bytes_"
                              "per_second bytes_per_second"));
    assert_true(has_line(
        xml,
        "kvmcluster_migration_dirty_rate_bytes_per_second{vm=\"web1\"} 500"));
    assert_null(strstr(xml, "{vm=\"web1\"} 2000"));
    free(xml);
    cd_obs_free(o);
}

static void test_failover_split(void **state)
{
    struct cd_obs *o;
    struct cd_action a = act(9, CD_ACT_START, CD_CAUSE_FAILOVER, "db1");
    struct cd_action r = act(10, CD_ACT_START, CD_CAUSE_RETRY, "db1");
    struct cd_action u = act(11, CD_ACT_START, CD_CAUSE_FAILOVER, "db2");
    char *xml = NULL;

    (void)state;
    assert_int_equal(cd_obs_new(&o), 0);
    /* corosync reported the loss at 10 s, after a 2 s token timeout. */
    cd_obs_node_lost(o, 10000, 2000);
    cd_obs_action_begin(o, &a, "", "n2", 11000, 1);
    a.status = CD_AS_FAILED; /* lease still held */
    assert_true(cd_obs_action_end(o, &a, "", "n2", 12000, 2));
    assert_true(cd_obs_history(o, 0)->failover_ms == CD_OBS_NONE);
    cd_obs_action_begin(o, &r, "", "n2", 70000, 60);
    r.status = CD_AS_DONE;
    r.start_ms = 1500; /* the executor: lease free -> running */
    assert_true(cd_obs_action_end(o, &r, "", "n2", 75000, 65));
    const struct cd_obs_entry *e = cd_obs_history(o, 1);
    assert_int_equal(e->detection_ms, 3000);   /* 8 s -> 11 s */
    assert_int_equal(e->lease_wait_ms, 62500); /* 11 s -> 73.5 s */
    assert_int_equal(e->start_ms, 1500);       /* 73.5 s -> 75 s */
    assert_int_equal(e->failover_ms, 67000);   /* 8 s -> 75 s */
    assert_int_equal(e->detection_ms + e->lease_wait_ms + e->start_ms,
                     e->failover_ms);

    /* An executor that did not say (an older clusterd): lease wait
     * holds the start too, no start phase is made up. A start longer
     * than the whole restart (clocks apart) is capped to it. */
    cd_obs_node_lost(o, 100000, 0);
    cd_obs_action_begin(o, &u, "", "n3", 101000, 100);
    u.status = CD_AS_DONE;
    assert_true(cd_obs_action_end(o, &u, "", "n3", 103000, 102));
    e = cd_obs_history(o, 2);
    assert_int_equal(e->lease_wait_ms, 2000);
    assert_true(e->start_ms == CD_OBS_NONE);
    assert_int_equal(cd_obs_history_xml(o, "db2", 0, &xml), 0);
    assert_null(strstr(xml, "start-ms"));
    free(xml);
    u = act(12, CD_ACT_START, CD_CAUSE_FAILOVER, "db3");
    cd_obs_node_lost(o, 200000, 0);
    cd_obs_action_begin(o, &u, "", "n3", 201000, 200);
    u.status = CD_AS_DONE;
    u.start_ms = 5000;
    assert_true(cd_obs_action_end(o, &u, "", "n3", 203000, 202));
    e = cd_obs_history(o, 3);
    assert_int_equal(e->start_ms, 2000);
    assert_int_equal(e->lease_wait_ms, 0);
    assert_int_equal(e->failover_ms, 3000);

    assert_int_equal(cd_obs_history_xml(o, "db1", 0, &xml), 0);
    assert_non_null(strstr(xml,
                           " detection-ms=\"3000\" lease-wait-ms=\"62500\" "
                           "start-ms=\"1500\" failover-ms=\"67000\""));
    free(xml);

    struct cd_obs_view v = empty_view();
    char *t = NULL;
    assert_int_equal(cd_obs_render(o, &v, CD_OBS_PROMETHEUS, &t), 0);
    assert_true(has_line(t, "kvmcluster_failovers_total 3"));
    assert_true(has_line(t, "kvmcluster_failover_seconds_count 3"));
    assert_true(has_line(t, "kvmcluster_failover_seconds_sum 73.000"));
    assert_true(has_line(t, "kvmcluster_failover_detection_seconds_sum 5.000"));
    assert_true(
        has_line(t, "kvmcluster_failover_lease_wait_seconds_bucket{le=\"60.000"
                    "\"} 2"));
    assert_true(
        has_line(t, "kvmcluster_failover_lease_wait_seconds_bucket{le=\"90.000"
                    "\"} 3"));
    /* Two starts measured (1.5 s, 2 s), the unmeasured one not. */
    assert_true(has_line(t, "# TYPE kvmcluster_failover_start_seconds "
                            "histogram"));
    assert_true(has_line(t, "kvmcluster_failover_start_seconds_count 2"));
    assert_true(has_line(t, "kvmcluster_failover_start_seconds_sum 3.500"));
    assert_true(has_line(
        t, "kvmcluster_failover_start_seconds_bucket{le=\"1.000\"} 0"));
    assert_true(has_line(
        t, "kvmcluster_failover_start_seconds_bucket{le=\"2.500\"} 2"));
    assert_true(has_line(t, "kvmcluster_actions_total{kind=\"start\",cause="
                            "\"failover\",result=\"failed\"} 1"));
    free(t);
    cd_obs_free(o);
}

static void test_file_round_trip(void **state)
{
    struct cd_obs *o, *o2;
    uint8_t *buf = NULL;
    size_t len;

    (void)state;
    assert_int_equal(cd_obs_new(&o), 0);
    assert_int_equal(cd_obs_new(&o2), 0);
    /* More than the bound: the oldest drop out. */
    for (uint64_t i = 1; i <= CD_OBS_HISTORY_MAX + 5; i++) {
        struct cd_action a = act(i, CD_ACT_QUICK, CD_CAUSE_DRAIN, "vm-a");
        a.status = CD_AS_DONE;
        snprintf(a.msg, sizeof(a.msg), "m<%u>\"", (unsigned)i);
        cd_obs_action_begin(o, &a, "n1", "n2", i * 10, i);
        cd_obs_pass(o, "vm-a", 1, 1, 1, 1, 1, i * 10); /* not live: ignored */
        assert_true(cd_obs_action_end(o, &a, "n1", "n2", i * 10 + 5, i));
    }
    assert_int_equal(cd_obs_history_count(o), CD_OBS_HISTORY_MAX);
    assert_int_equal(cd_obs_history(o, 0)->id, 6);
    assert_int_equal(cd_obs_encode(o, &buf, &len), 0);
    assert_int_equal(cd_obs_decode(o2, buf, len), 0);
    assert_int_equal(cd_obs_history_count(o2), CD_OBS_HISTORY_MAX);
    assert_memory_equal(cd_obs_history(o2, 7), cd_obs_history(o, 7),
                        sizeof(struct cd_obs_entry));
    assert_string_equal(cd_obs_history(o2, 0)->msg, "m<6>\"");

    /* Damage is refused and leaves the history as it was. */
    buf[100] ^= 1;
    assert_int_equal(cd_obs_decode(o2, buf, len), -CD_E_CORRUPT);
    buf[100] ^= 1;
    assert_int_equal(cd_obs_decode(o2, buf, len - 1), -CD_E_CORRUPT);
    buf[4] = 9;
    assert_int_equal(cd_obs_decode(o2, buf, len), -CD_E_MSG_VERSION);
    assert_int_equal(cd_obs_history_count(o2), CD_OBS_HISTORY_MAX);
    free(buf);

    /* An empty history is a valid file too. */
    cd_obs_free(o);
    assert_int_equal(cd_obs_new(&o), 0);
    assert_int_equal(cd_obs_encode(o, &buf, &len), 0);
    assert_int_equal(cd_obs_decode(o2, buf, len), 0);
    assert_int_equal(cd_obs_history_count(o2), 0);
    free(buf);
    cd_obs_free(o);
    cd_obs_free(o2);
}

/* A message that is not XML text (a control byte, a character cut by the
 * bound) is cleaned when recorded, so its file loads again; a file whose
 * node name or message is not is refused (the history XML must parse). */
static void test_file_text(void **state)
{
    struct cd_obs *o, *o2;
    struct cd_action a = act(3, CD_ACT_LIVE, CD_CAUSE_USER, "web1");
    uint8_t *buf = NULL;
    size_t len, to_off = 24 + 16 + 2 * CD_NAME_MAX;
    uint32_t crc;

    (void)state;
    assert_int_equal(cd_obs_new(&o), 0);
    assert_int_equal(cd_obs_new(&o2), 0);
    a.status = CD_AS_FAILED;
    /* 125 bytes, then a 3-byte character the 127-byte bound cuts. */
    memset(a.msg, 'x', 125);
    memcpy(a.msg + 125, "\xe2\x82\xac", 4);
    a.msg[3] = '\x01';
    cd_obs_action_begin(o, &a, "n1", "n2", 0, 1);
    assert_true(cd_obs_action_end(o, &a, "n1", "n2", 10, 2));
    const char *m = cd_obs_history(o, 0)->msg;
    assert_int_equal(strlen(m), CD_OBS_MSG_MAX - 1);
    assert_int_equal(m[3], '?');
    assert_int_equal(m[125], '?');
    assert_int_equal(m[126], '?');
    assert_int_equal(cd_obs_encode(o, &buf, &len), 0);
    assert_int_equal(cd_obs_decode(o2, buf, len), 0);

    /* A node name of bytes that are not a name, checksum right. */
    memcpy(buf + to_off, "n\xff\"<", 4);
    crc = cmn_crc32c(0, buf, 20);
    crc = cmn_crc32c(crc, buf + 24, len - 24);
    cmn_put_le32(buf + 20, crc);
    assert_int_equal(cd_obs_decode(o2, buf, len), -CD_E_CORRUPT);
    assert_int_equal(cd_obs_history_count(o2), 1);
    free(buf);
    cd_obs_free(o);
    cd_obs_free(o2);
}

/* An older file made from a current (version 3) one: version 2 has 7
 * figures (no start phase), version 1 also passes of 36 bytes (no dirty
 * rate). */
static uint8_t *downgrade(const uint8_t *buf, size_t len, unsigned version,
                          size_t *ret_len)
{
    size_t names = 16 + 3 * CD_NAME_MAX;
    size_t rest = CD_OBS_MSG_MAX + 4; /* message, npasses */
    size_t entry3 = names + 8 * 8 + rest + CD_OBS_PASS_MAX * 44;
    size_t pass_len = version == 1 ? 36 : 44;
    size_t entry = names + 7 * 8 + rest + CD_OBS_PASS_MAX * pass_len;
    size_t n = (len - 24) / entry3, out_len = 24 + n * entry;
    uint8_t *out = calloc(1, out_len);
    uint32_t crc;

    assert_int_equal(len, 24 + n * entry3);
    assert_non_null(out);
    memcpy(out, buf, 24);
    for (size_t k = 0; k < n; k++) {
        const uint8_t *src = buf + 24 + k * entry3;
        uint8_t *dst = out + 24 + k * entry;
        memcpy(dst, src, names + 7 * 8); /* the 8th figure dropped */
        memcpy(dst + names + 7 * 8, src + names + 8 * 8, rest);
        for (size_t i = 0; i < CD_OBS_PASS_MAX; i++)
            memcpy(dst + names + 7 * 8 + rest + i * pass_len,
                   src + names + 8 * 8 + rest + i * 44, pass_len);
    }
    cmn_put_le32(out + 4, version);
    crc = cmn_crc32c(0, out, 20);
    crc = cmn_crc32c(crc, out + 24, out_len - 24);
    cmn_put_le32(out + 20, crc);
    *ret_len = out_len;
    return out;
}

/* Files of versions 1 and 2, as clusterd wrote before version 3, still
 * load: the same entries, dirty rates 0 in version 1, no start phase
 * (its lease wait is what those versions measured: lease and start). */
static void test_file_old_versions(void **state)
{
    struct cd_obs *o, *o2;
    struct cd_action a = act(5, CD_ACT_LIVE, CD_CAUSE_USER, "web1");
    struct cd_action f = act(6, CD_ACT_START, CD_CAUSE_FAILOVER, "web1");
    uint8_t *buf = NULL, *old;
    size_t len, old_len;

    (void)state;
    assert_int_equal(cd_obs_new(&o), 0);
    assert_int_equal(cd_obs_new(&o2), 0);
    cd_obs_action_begin(o, &a, "n1", "n2", 0, 1);
    cd_obs_pass(o, "web1", 1, 100, 900, 7000, 0, 100);
    cd_obs_pass(o, "web1", 2, 950, 50, 6000, 20, 200);
    a.status = CD_AS_DONE;
    a.downtime_ms = 20;
    assert_true(cd_obs_action_end(o, &a, "n1", "n2", 300, 2));
    cd_obs_node_lost(o, 1000, 0);
    cd_obs_action_begin(o, &f, "", "n2", 2000, 3);
    f.status = CD_AS_DONE;
    f.start_ms = 400;
    assert_true(cd_obs_action_end(o, &f, "", "n2", 3000, 4));
    assert_int_equal(cd_obs_encode(o, &buf, &len), 0);
    assert_int_equal(cmn_get_le32(buf + 4), 3);

    for (unsigned version = 1; version <= 2; version++) {
        old = downgrade(buf, len, version, &old_len);
        assert_int_equal(cd_obs_decode(o2, old, old_len), 0);
        assert_int_equal(cd_obs_history_count(o2), 2);
        const struct cd_obs_entry *e = cd_obs_history(o2, 0);
        assert_int_equal(e->npasses, 2);
        assert_int_equal(e->passes[1].remaining, 50);
        assert_int_equal(e->passes[1].expected_downtime_ms, 20);
        assert_int_equal(e->passes[1].dirty_rate, version == 1 ? 0 : 6000);
        assert_int_equal(e->downtime_ms, 20);
        e = cd_obs_history(o2, 1);
        assert_int_equal(e->detection_ms, 1000);
        assert_int_equal(e->lease_wait_ms, 600);
        assert_true(e->start_ms == CD_OBS_NONE);
        assert_int_equal(e->failover_ms, 2000);
        free(old);
        /* Saved again, it is a version 3 file that keeps "unknown". */
        uint8_t *again;
        size_t again_len;
        assert_int_equal(cd_obs_encode(o2, &again, &again_len), 0);
        assert_int_equal(cmn_get_le32(again + 4), 3);
        assert_int_equal(again_len, len);
        assert_int_equal(cd_obs_decode(o, again, again_len), 0);
        assert_true(cd_obs_history(o, 1)->start_ms == CD_OBS_NONE);
        free(again);
    }
    /* A version after 3 is not guessed at. */
    cmn_put_le32(buf + 4, 4);
    assert_int_equal(cd_obs_decode(o2, buf, len), -CD_E_MSG_VERSION);
    free(buf);
    cd_obs_free(o);
    cd_obs_free(o2);
}

static void test_text_format(void **state)
{
    struct cd_obs *o;
    struct cd_obs_node nodes[2] = {
        {.name = "n1", .nodeid = 1, .state = CD_NODE_UP, .member = true},
        {.name = "n2", .nodeid = 2, .state = CD_NODE_DRAINED},
    };
    struct cd_obs_vm vms[1] = {{.name = "web1",
                                .priority = CD_PRIO_HIGH,
                                .state = CD_RT_RUNNING,
                                .node = "n1",
                                .lease = "n1",
                                .want_running = true}};
    struct cd_obs_view v = empty_view();
    struct cd_action a = act(3, CD_ACT_LIVE, CD_CAUSE_USER, "web1");
    char *t = NULL;

    (void)state;
    v.coordinator = 1;
    v.nodes = nodes;
    v.nnodes = 2;
    v.vms = vms;
    v.nvms = 1;
    v.epoch = 12;
    v.last_sync_ms = 1500;
    assert_int_equal(cd_obs_new(&o), 0);
    cd_obs_action_begin(o, &a, "n2", "n1", 0, 0);
    a.status = CD_AS_DONE;
    a.downtime_ms = 30;
    a.total_ms = 2000;
    cd_obs_action_end(o, &a, "n2", "n1", 2000, 1);

    assert_int_equal(cd_obs_render(o, &v, CD_OBS_OPENMETRICS, &t), 0);
    assert_true(has_line(t, "# TYPE kvmcluster_migrations counter"));
    assert_true(has_line(t, "kvmcluster_migrations_total{kind=\"live\","
                            "result=\"done\"} 1"));
    assert_true(has_line(t, "# TYPE kvmcluster_migration_downtime_seconds "
                            "histogram"));
    assert_true(
        has_line(t, "# UNIT kvmcluster_migration_downtime_seconds seconds"));
    assert_true(has_line(t, "kvmcluster_migration_downtime_seconds_bucket{"
                            "kind=\"live\",le=\"0.025\"} 0"));
    assert_true(has_line(t, "kvmcluster_migration_downtime_seconds_bucket{"
                            "kind=\"live\",le=\"0.050\"} 1"));
    assert_true(has_line(t, "kvmcluster_migration_downtime_seconds_bucket{"
                            "kind=\"live\",le=\"+Inf\"} 1"));
    assert_true(has_line(t, "kvmcluster_migration_downtime_seconds_count{"
                            "kind=\"quick\"} 0"));
    assert_true(has_line(t, "# TYPE kvmcluster_vm info"));
    assert_true(has_line(t, "kvmcluster_vm_info{vm=\"web1\",node=\"n1\","
                            "priority=\"high\"} 1"));
    assert_true(has_line(t, "kvmcluster_vm_state{vm=\"web1\",state=\"running"
                            "\"} 1"));
    assert_true(has_line(t, "# TYPE kvmcluster_vm_lease info"));
    assert_true(
        has_line(t, "kvmcluster_vm_lease_info{vm=\"web1\",holder=\"n1\"} 1"));
    assert_true(has_line(t, "kvmcluster_node_state{node=\"n2\",state="
                            "\"drained\"} 1"));
    assert_true(has_line(t, "kvmcluster_node_coordinator{node=\"n1\"} 1"));
    assert_true(has_line(t, "kvmcluster_cdb_epoch 12"));
    assert_true(has_line(t, "kvmcluster_cdb_sync_seconds 1.500"));
    assert_null(strstr(t, "csv_size")); /* unknown: not reported */
    /* Every line a comment or a sample; the text ends with # EOF. */
    size_t n = strlen(t);
    assert_true(n > 6 && !strcmp(t + n - 6, "# EOF\n"));
    for (const char *p = t; *p; p = strchr(p, '\n') + 1)
        assert_true(*p == '#' || !strncmp(p, "kvmcluster_", 11));
    free(t);

    /* The text format node-exporter reads: types named as samples, no
     * units, no EOF. The CSV's space once a scan found it. */
    v.csv_known = true;
    v.csv_total_bytes = 1ull << 40;
    v.csv_free_bytes = 4096;
    assert_int_equal(cd_obs_render(o, &v, CD_OBS_PROMETHEUS, &t), 0);
    assert_true(has_line(t, "kvmcluster_csv_size_bytes 1099511627776"));
    assert_true(has_line(t, "kvmcluster_csv_free_bytes 4096"));
    assert_true(has_line(t, "# TYPE kvmcluster_migrations_total counter"));
    assert_true(has_line(t, "# TYPE kvmcluster_vm_info gauge"));
    assert_null(strstr(t, "# UNIT"));
    assert_null(strstr(t, "# EOF"));
    free(t);
    cd_obs_free(o);
}

static void test_label_escape(void **state)
{
    struct cd_buf b;
    char *t = NULL;

    (void)state;
    cd_buf_init(&b);
    cd_obs_label_escape(&b, "a\\b\"c\nd");
    assert_int_equal(cd_buf_steal(&b, &t, NULL), 0);
    assert_string_equal(t, "a\\\\b\\\"c\\nd");
    free(t);
}

/* lunbridge's textfile (as isc-metrics.c writes it) in clusterd's text:
 * only the LUN families, a counter's family renamed for OpenMetrics,
 * anything malformed refusing the whole file. */
static void test_lun_text(void **state)
{
    static const char file[] =
        "# TYPE kvmcluster_lun_session_state gauge\n"
        "# HELP kvmcluster_lun_session_state 1 for the state\n"
        "kvmcluster_lun_session_state{node=\"n1\",lun=\"naa.6\",state="
        "\"logged_in\"} 1\n"
        "# TYPE kvmcluster_lun_reconnects_total counter\n"
        "# HELP kvmcluster_lun_reconnects_total logins after the first\n"
        "kvmcluster_lun_reconnects_total{node=\"n1\",lun=\"naa.6\"} 2\n"
        "# TYPE kvmcluster_lun_io_seconds histogram\n"
        "kvmcluster_lun_io_seconds_bucket{node=\"n1\",lun=\"a\\\"b\","
        "le=\"+Inf\"} 7\n"
        "kvmcluster_lun_io_seconds_sum{node=\"n1\",lun=\"naa.6\"} "
        "0.001250\n"
        "# a comment\n"
        "\n"
        "# TYPE node_other gauge\n"
        "node_other 3\n";
    char *t = NULL, err[128] = "";
    struct cd_obs *o;
    struct cd_obs_view v = empty_view();

    (void)state;
    assert_int_equal(cd_obs_lun_text(file, strlen(file), CD_OBS_OPENMETRICS, &t,
                                     err, sizeof(err)),
                     0);
    assert_true(has_line(t, "# TYPE kvmcluster_lun_reconnects counter"));
    assert_true(has_line(t, "# HELP kvmcluster_lun_reconnects logins after "
                            "the first"));
    assert_true(has_line(
        t, "kvmcluster_lun_reconnects_total{node=\"n1\",lun=\"naa.6\"} 2"));
    assert_true(has_line(t, "# TYPE kvmcluster_lun_io_seconds histogram"));
    assert_null(strstr(t, "node_other"));
    assert_null(strstr(t, "a comment"));
    /* In clusterd's text, before OpenMetrics' end. */
    assert_int_equal(cd_obs_new(&o), 0);
    v.lun_text = t;
    char *all = NULL;
    assert_int_equal(cd_obs_render(o, &v, CD_OBS_OPENMETRICS, &all), 0);
    const char *at = strstr(all, "kvmcluster_lun_session_state{");
    assert_non_null(at);
    assert_true(at < strstr(all, "# EOF\n"));
    assert_string_equal(all + strlen(all) - 6, "# EOF\n");
    free(all);
    cd_obs_free(o);
    free(t);
    /* The node-exporter form keeps the names as they were. */
    assert_int_equal(cd_obs_lun_text(file, strlen(file), CD_OBS_PROMETHEUS, &t,
                                     err, sizeof(err)),
                     0);
    assert_true(has_line(t, "# TYPE kvmcluster_lun_reconnects_total counter"));
    free(t);
    assert_int_equal(
        cd_obs_lun_text("", 0, CD_OBS_OPENMETRICS, &t, err, sizeof(err)), 0);
    assert_string_equal(t, "");
    free(t);

    static const struct {
        const char *text, *err;
    } bad[] = {
        {"kvmcluster_lun_x 1", "its last line is cut (no newline at the end)"},
        {"kvmcluster_lun_x{a=\"1\" 1\n", "line 1: malformed labels"},
        {"kvmcluster_lun_x{a=\"\\q\"} 1\n", "line 1: malformed labels"},
        {"kvmcluster_lun_x{=\"1\"} 1\n", "line 1: malformed labels"},
        {"\nkvmcluster_lun_x 1 2\n",
         "line 2: not a number after the sample's name and labels"},
        {"kvmcluster_lun_x one\n",
         "line 1: not a number after the sample's name and labels"},
        {"kvmcluster_lun_x\n",
         "line 1: not a number after the sample's name and labels"},
        {"{a=\"1\"} 1\n", "line 1: neither a comment nor a sample"},
        {"# TYPE kvmcluster_lun_x summary\n",
         "line 1: a type other than gauge, counter or histogram"},
        {"# TYPE kvmcluster_lun_x counter\n",
         "line 1: a counter whose name does not end in _total"},
        {"# HELP  x\n", "line 1: a # TYPE or # HELP line without a metric "
                        "name"},
        {"# HELP kvmcluster_lun_x a\tb\n",
         "line 1: a control character in a # HELP text"},
        {"other_metric{a=\"1\"} NaNa\n",
         "line 1: not a number after the sample's name and labels"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        t = NULL;
        err[0] = '\0';
        assert_int_equal(cd_obs_lun_text(bad[i].text, strlen(bad[i].text),
                                         CD_OBS_OPENMETRICS, &t, err,
                                         sizeof(err)),
                         -CD_E_CORRUPT);
        assert_null(t);
        if (strcmp(err, bad[i].err))
            fail_msg("'%s': '%s', expected '%s'", bad[i].text, err, bad[i].err);
    }
    /* A NUL byte, a line over the bound. */
    assert_int_equal(cd_obs_lun_text("kvmcluster_lun_x\0 1\n", 20,
                                     CD_OBS_OPENMETRICS, &t, err, sizeof(err)),
                     -CD_E_CORRUPT);
    assert_string_equal(err, "line 1: a NUL byte");
    char *big = malloc(3000);
    assert_non_null(big);
    memset(big, 'a', 2999);
    big[2999] = '\n';
    assert_int_equal(
        cd_obs_lun_text(big, 3000, CD_OBS_OPENMETRICS, &t, err, sizeof(err)),
        -CD_E_CORRUPT);
    assert_string_equal(err, "line 1: a line longer than 2048 bytes");
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_live_history),
        cmocka_unit_test(test_failover_split),
        cmocka_unit_test(test_file_round_trip),
        cmocka_unit_test(test_file_text),
        cmocka_unit_test(test_file_old_versions),
        cmocka_unit_test(test_lun_text),
        cmocka_unit_test(test_text_format),
        cmocka_unit_test(test_label_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
