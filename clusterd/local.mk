# clusterd fragment of the top Makefile.am (paths relative to the top)
#
# clusterd/: corosync membership and quorum, the replicated cluster database
# (CDB) and the IPC server clusterctl talks to. The pure parts (model,
# change messages, digest, persistence, replication state machine) form
# clusterd/libclusterd.la so unit tests drive them without corosync.
#
# libcdproto: the local API's error texts, for clusterd and clusterctl.
noinst_LTLIBRARIES += clusterd/libcdproto.la
clusterd_libcdproto_la_SOURCES = clusterd/cd-proto.h clusterd/cd-proto.c
clusterd_libcdproto_la_LIBADD = common/libcommon.la
noinst_LTLIBRARIES += clusterd/libclusterd.la
clusterd_libclusterd_la_SOURCES = \
	clusterd/cd.h clusterd/cd-int.h clusterd/cd-replica.h \
	clusterd/cd-util.c \
	clusterd/cd-config.c clusterd/cd-config.h \
	clusterd/cd-cdb.c \
	clusterd/cd-msg.c \
	clusterd/cd-fwd-msg.c clusterd/cd-fwd.h \
	clusterd/cd-store.c \
	clusterd/cd-replica.c \
	clusterd/cd-coord.c clusterd/cd-coord.h \
	clusterd/cd-backoff.c clusterd/cd-backoff.h \
	clusterd/cd-stor-table.c clusterd/cd-storage.h \
	clusterd/cd-net.c clusterd/cd-net.h \
	clusterd/cd-check.c clusterd/cd-check.h \
	clusterd/cd-api.c clusterd/cd-api.h \
	clusterd/cd-csv-orphan.c clusterd/cd-csv.h \
	clusterd/cd-move-plan.c clusterd/cd-move-plan.h \
	clusterd/cd-local-plan.c clusterd/cd-local-files.c clusterd/cd-local.h \
	clusterd/cd-obs.c clusterd/cd-obs-lun.c clusterd/cd-obs.h
clusterd_libclusterd_la_CFLAGS = $(AM_CFLAGS) $(XML_CFLAGS) $(GNUTLS_CFLAGS) \
	$(QB_CFLAGS)
clusterd_libclusterd_la_LIBADD = clusterd/libcdproto.la \
	hvagent/libhvaproto.la resources/libres.la common/libcommon.la \
	$(XML_LIBS) $(GNUTLS_LIBS)

dist_schemas_DATA += schemas/cdb.rng

# Unit tests (cmocka).
CD_UNIT_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(XML_CFLAGS) $(QB_CFLAGS)
CD_UNIT_LIBS = clusterd/libclusterd.la common/libcommon.la $(CMOCKA_LIBS) \
	$(XML_LIBS) $(GNUTLS_LIBS)

cd_unit_tests = \
	tests/unit/clusterd/test-cdb \
	tests/unit/clusterd/test-replica \
	tests/unit/clusterd/test-config \
	tests/unit/clusterd/test-coord \
	tests/unit/clusterd/test-quarantine \
	tests/unit/clusterd/test-storage \
	tests/unit/clusterd/test-check \
	tests/unit/clusterd/test-csv-orphan \
	tests/unit/clusterd/test-move-plan \
	tests/unit/clusterd/test-move-backoff \
	tests/unit/clusterd/test-api \
	tests/unit/clusterd/test-xml-out \
	tests/unit/clusterd/test-cpg-msg \
	tests/unit/clusterd/test-obs \
	tests/unit/clusterd/test-cd-net \
	tests/unit/clusterd/test-local
check_PROGRAMS += $(cd_unit_tests)
TESTS += $(cd_unit_tests)

tests_unit_clusterd_test_cd_net_SOURCES = tests/unit/clusterd/test-cd-net.c
tests_unit_clusterd_test_cd_net_CFLAGS = $(CD_UNIT_CFLAGS)
tests_unit_clusterd_test_cd_net_LDADD = $(CD_UNIT_LIBS)
tests_unit_clusterd_test_local_SOURCES = tests/unit/clusterd/test-local.c
tests_unit_clusterd_test_local_CFLAGS = $(CD_UNIT_CFLAGS)
tests_unit_clusterd_test_local_LDADD = $(CD_UNIT_LIBS)
tests_unit_clusterd_test_cdb_SOURCES = tests/unit/clusterd/test-cdb.c
tests_unit_clusterd_test_cdb_CFLAGS = $(CD_UNIT_CFLAGS)
tests_unit_clusterd_test_cdb_LDADD = $(CD_UNIT_LIBS)
tests_unit_clusterd_test_cpg_msg_SOURCES = tests/unit/clusterd/test-cpg-msg.c
tests_unit_clusterd_test_cpg_msg_CFLAGS = $(CD_UNIT_CFLAGS)
tests_unit_clusterd_test_cpg_msg_LDADD = $(CD_UNIT_LIBS)
tests_unit_clusterd_test_replica_SOURCES = tests/unit/clusterd/test-replica.c
tests_unit_clusterd_test_replica_CFLAGS = $(CD_UNIT_CFLAGS)
tests_unit_clusterd_test_replica_LDADD = $(CD_UNIT_LIBS)
tests_unit_clusterd_test_config_SOURCES = tests/unit/clusterd/test-config.c
tests_unit_clusterd_test_config_CFLAGS = $(CD_UNIT_CFLAGS)
tests_unit_clusterd_test_config_LDADD = $(CD_UNIT_LIBS)
tests_unit_clusterd_test_coord_SOURCES = tests/unit/clusterd/test-coord.c \
	tests/unit/clusterd/coord-fixture.c tests/unit/clusterd/coord-fixture.h
tests_unit_clusterd_test_coord_CFLAGS = $(CD_UNIT_CFLAGS)
tests_unit_clusterd_test_coord_LDADD = $(CD_UNIT_LIBS)
tests_unit_clusterd_test_quarantine_SOURCES = \
	tests/unit/clusterd/test-quarantine.c
tests_unit_clusterd_test_quarantine_CFLAGS = $(CD_UNIT_CFLAGS)
tests_unit_clusterd_test_quarantine_LDADD = $(CD_UNIT_LIBS)
tests_unit_clusterd_test_storage_SOURCES = tests/unit/clusterd/test-storage.c \
	tests/unit/clusterd/coord-fixture.c tests/unit/clusterd/coord-fixture.h
tests_unit_clusterd_test_storage_CFLAGS = $(CD_UNIT_CFLAGS)
tests_unit_clusterd_test_storage_LDADD = $(CD_UNIT_LIBS)
tests_unit_clusterd_test_check_SOURCES = tests/unit/clusterd/test-check.c \
	tests/unit/clusterd/coord-fixture.c tests/unit/clusterd/coord-fixture.h
tests_unit_clusterd_test_check_CFLAGS = $(CD_UNIT_CFLAGS)
tests_unit_clusterd_test_check_LDADD = $(CD_UNIT_LIBS)
tests_unit_clusterd_test_csv_orphan_SOURCES = \
	tests/unit/clusterd/test-csv-orphan.c
tests_unit_clusterd_test_csv_orphan_CFLAGS = $(CD_UNIT_CFLAGS)
tests_unit_clusterd_test_csv_orphan_LDADD = $(CD_UNIT_LIBS)

tests_unit_clusterd_test_move_plan_SOURCES = \
	tests/unit/clusterd/test-move-plan.c
tests_unit_clusterd_test_move_plan_CFLAGS = $(CD_UNIT_CFLAGS)
tests_unit_clusterd_test_move_plan_LDADD = $(CD_UNIT_LIBS)
tests_unit_clusterd_test_move_backoff_SOURCES = \
	tests/unit/clusterd/test-move-backoff.c
tests_unit_clusterd_test_move_backoff_CFLAGS = $(CD_UNIT_CFLAGS)
tests_unit_clusterd_test_move_backoff_LDADD = $(CD_UNIT_LIBS)

tests_unit_clusterd_test_api_SOURCES = tests/unit/clusterd/test-api.c
tests_unit_clusterd_test_api_CFLAGS = $(CD_UNIT_CFLAGS)
tests_unit_clusterd_test_api_LDADD = $(CD_UNIT_LIBS)
tests_unit_clusterd_test_obs_SOURCES = tests/unit/clusterd/test-obs.c
tests_unit_clusterd_test_obs_CFLAGS = $(CD_UNIT_CFLAGS)
tests_unit_clusterd_test_obs_LDADD = $(CD_UNIT_LIBS)
tests_unit_clusterd_test_xml_out_SOURCES = tests/unit/clusterd/test-xml-out.c
tests_unit_clusterd_test_xml_out_CFLAGS = $(CD_UNIT_CFLAGS)
tests_unit_clusterd_test_xml_out_LDADD = $(CD_UNIT_LIBS)
# The daemon.
sbin_PROGRAMS += clusterd/clusterd
clusterd_clusterd_SOURCES = \
	clusterd/cd-daemon.h \
	clusterd/cd-main.c \
	clusterd/cd-cpg.c \
	clusterd/cd-ipc.c \
	clusterd/cd-fwd.c \
	clusterd/cd-orch.c \
	clusterd/cd-api-ops.c \
	clusterd/cd-local.c \
	clusterd/cd-api-vm.c clusterd/cd-api-disk.c clusterd/cd-api-move.c \
	clusterd/cd-hva.c clusterd/cd-hva.h \
	clusterd/cd-cpu.c \
	clusterd/cd-csv.c clusterd/cd-csv-disk.c clusterd/cd-csv-move.c clusterd/cd-csv-int.h \
	clusterd/cd-storage.c \
	clusterd/cd-metrics.c \
	clusterd/cd-validate.c
clusterd_clusterd_CFLAGS = $(AM_CFLAGS) $(XML_CFLAGS) $(QB_CFLAGS) \
	$(SANLOCK_CFLAGS) $(CPG_CFLAGS) $(QUORUM_CFLAGS) $(VOTEQUORUM_CFLAGS) $(CMAP_CFLAGS)
clusterd_clusterd_LDADD = clusterd/libclusterd.la csv/libcsv.la \
	common/libcommon.la \
	$(CPG_LIBS) $(QUORUM_LIBS) $(VOTEQUORUM_LIBS) $(CMAP_LIBS) \
	$(QB_LIBS) $(XML_LIBS) $(GNUTLS_LIBS) $(SANLOCK_LIBS) $(PTHREAD_LIBS)

dist_man_MANS += man/clusterd.8

# The coordinator's cluster tests share tests/cluster/lib/vm.sh;
# bench/failover measures failover time (see its header).
EXTRA_DIST += tests/cluster/lib/vm.sh bench/failover
# bench/network: pings a client loses per move kind, against plain QEMU.
EXTRA_DIST += bench/network
