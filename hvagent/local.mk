# hvagent fragment of the top Makefile.am (paths relative to the top)
#
# libhvaproto: the wire protocol's error texts, for every program that
# can receive an hvagent code (hvactl, clusterd, clusterctl).
noinst_LTLIBRARIES += hvagent/libhvaproto.la
hvagent_libhvaproto_la_SOURCES = hvagent/hva-proto.h hvagent/hva-proto.c
hvagent_libhvaproto_la_LIBADD = common/libcommon.la
noinst_LTLIBRARIES += hvagent/libhva.la
hvagent_libhva_la_SOURCES = \
	hvagent/hva-int.h \
	hvagent/hva-qmp.c hvagent/hva-util.c hvagent/hva-policy.c \
	hvagent/hva-qemu.c hvagent/hva-chan.c hvagent/hva-lease.c \
	hvagent/hva-mig-event.c hvagent/hva-check.c hvagent/hva-req.c \
	hvagent/hva-net.c hvagent/hva-mig-tls.c hvagent/hva-scope.c \
	hvagent/hva-ioerr.c hvagent/hva-mig-nbd.h hvagent/hva-mig-nbd.c
hvagent_libhva_la_CFLAGS = $(AM_CFLAGS) $(QB_CFLAGS) $(JSONC_CFLAGS) \
	$(XML_CFLAGS) $(GNUTLS_CFLAGS) $(SANLOCK_CLIENT_CFLAGS) $(SYSTEMD_CFLAGS)
hvagent_libhva_la_LIBADD = hvagent/libhvaproto.la common/libcommon.la $(QB_LIBS) $(JSONC_LIBS) \
	$(XML_LIBS) $(GNUTLS_LIBS) $(SANLOCK_CLIENT_LIBS) $(SYSTEMD_LIBS) \
	$(PTHREAD_LIBS)

sbin_PROGRAMS += hvagent/hvagent
hvagent_hvagent_SOURCES = hvagent/hvagent.c hvagent/hva-vm.c \
	hvagent/hva-mig-int.h hvagent/hva-mig.c hvagent/hva-mig-out.c \
	hvagent/hva-mig-in.c hvagent/hva-mig-save.c hvagent/hva-mig-restore.c \
	hvagent/hva-cpu.c hvagent/hva-disk.c hvagent/hva-mirror.c \
	hvagent/hva-vm-ioerr.c
hvagent_hvagent_CFLAGS = $(hvagent_libhva_la_CFLAGS)
hvagent_hvagent_LDADD = hvagent/libhva.la csv/libcsv.la resources/libres.la \
	common/libcommon.la $(PTHREAD_LIBS)

# Test/debug client of the local API; not installed.
noinst_PROGRAMS += hvagent/hvactl
hvagent_hvactl_SOURCES = hvagent/hvactl.c
hvagent_hvactl_CFLAGS = $(hvagent_libhva_la_CFLAGS)
hvagent_hvactl_LDADD = hvagent/libhva.la resources/libres.la \
	common/libcommon.la

# A misbehaving migration peer for tests/cluster/test-hva-chan-abuse.sh.
noinst_PROGRAMS += tests/cluster/hva-chan-probe
tests_cluster_hva_chan_probe_SOURCES = tests/cluster/hva-chan-probe.c
tests_cluster_hva_chan_probe_CFLAGS = $(hvagent_libhva_la_CFLAGS)
tests_cluster_hva_chan_probe_LDADD = hvagent/libhva.la common/libcommon.la

hva_unit_tests = \
	tests/unit/hvagent/test-qmp \
	tests/unit/hvagent/test-qemu-argv \
	tests/unit/hvagent/test-migpolicy \
	tests/unit/hvagent/test-api-schema \
	tests/unit/hvagent/test-lease \
	tests/unit/hvagent/test-mig-events \
	tests/unit/hvagent/test-request \
	tests/unit/hvagent/test-vm-undefine \
	tests/unit/hvagent/test-net \
	tests/unit/hvagent/test-mig-tls \
	tests/unit/hvagent/test-mig-nbd \
	tests/unit/hvagent/test-scope \
	tests/unit/hvagent/test-ioerr
check_PROGRAMS += $(hva_unit_tests)
TESTS += $(hva_unit_tests)
HVA_UNIT_CFLAGS = $(hvagent_libhva_la_CFLAGS) $(CMOCKA_CFLAGS)
HVA_UNIT_LIBS = hvagent/libhva.la resources/libres.la common/libcommon.la \
	$(CMOCKA_LIBS)
tests_unit_hvagent_test_qmp_SOURCES = tests/unit/hvagent/test-qmp.c
tests_unit_hvagent_test_qmp_CFLAGS = $(HVA_UNIT_CFLAGS)
tests_unit_hvagent_test_qmp_LDADD = $(HVA_UNIT_LIBS)
tests_unit_hvagent_test_net_SOURCES = tests/unit/hvagent/test-net.c
tests_unit_hvagent_test_net_CFLAGS = $(HVA_UNIT_CFLAGS)
tests_unit_hvagent_test_net_LDADD = $(HVA_UNIT_LIBS)
tests_unit_hvagent_test_qemu_argv_SOURCES = tests/unit/hvagent/test-qemu-argv.c
tests_unit_hvagent_test_qemu_argv_CFLAGS = $(HVA_UNIT_CFLAGS)
tests_unit_hvagent_test_qemu_argv_LDADD = $(HVA_UNIT_LIBS)
tests_unit_hvagent_test_mig_tls_SOURCES = tests/unit/hvagent/test-mig-tls.c
tests_unit_hvagent_test_mig_tls_CFLAGS = $(HVA_UNIT_CFLAGS)
tests_unit_hvagent_test_mig_tls_LDADD = $(HVA_UNIT_LIBS)
tests_unit_hvagent_test_mig_nbd_SOURCES = tests/unit/hvagent/test-mig-nbd.c
tests_unit_hvagent_test_mig_nbd_CFLAGS = $(HVA_UNIT_CFLAGS)
tests_unit_hvagent_test_mig_nbd_LDADD = $(HVA_UNIT_LIBS)
tests_unit_hvagent_test_scope_SOURCES = tests/unit/hvagent/test-scope.c
tests_unit_hvagent_test_scope_CFLAGS = $(HVA_UNIT_CFLAGS)
tests_unit_hvagent_test_scope_LDADD = $(HVA_UNIT_LIBS)
tests_unit_hvagent_test_ioerr_SOURCES = tests/unit/hvagent/test-ioerr.c
tests_unit_hvagent_test_ioerr_CFLAGS = $(HVA_UNIT_CFLAGS)
tests_unit_hvagent_test_ioerr_LDADD = $(HVA_UNIT_LIBS)
tests_unit_hvagent_test_migpolicy_SOURCES = tests/unit/hvagent/test-migpolicy.c
tests_unit_hvagent_test_migpolicy_CFLAGS = $(HVA_UNIT_CFLAGS)
tests_unit_hvagent_test_migpolicy_LDADD = $(HVA_UNIT_LIBS)

tests_unit_hvagent_test_mig_events_SOURCES = \
	tests/unit/hvagent/test-mig-events.c
tests_unit_hvagent_test_mig_events_CFLAGS = $(HVA_UNIT_CFLAGS)
tests_unit_hvagent_test_mig_events_LDADD = $(HVA_UNIT_LIBS)

tests_unit_hvagent_test_lease_SOURCES = tests/unit/hvagent/test-lease.c
tests_unit_hvagent_test_lease_CFLAGS = $(HVA_UNIT_CFLAGS)
tests_unit_hvagent_test_lease_LDADD = $(HVA_UNIT_LIBS) $(PTHREAD_LIBS)

tests_unit_hvagent_test_request_SOURCES = tests/unit/hvagent/test-request.c
tests_unit_hvagent_test_request_CFLAGS = $(HVA_UNIT_CFLAGS)
tests_unit_hvagent_test_request_LDADD = $(HVA_UNIT_LIBS)

# hva-vm.c itself (and its I/O error episodes), on a real loop (the
# migration hooks are stubs).
tests_unit_hvagent_test_vm_undefine_SOURCES = \
	tests/unit/hvagent/test-vm-undefine.c hvagent/hva-vm.c \
	hvagent/hva-vm-ioerr.c
tests_unit_hvagent_test_vm_undefine_CFLAGS = $(HVA_UNIT_CFLAGS)
tests_unit_hvagent_test_vm_undefine_LDADD = $(HVA_UNIT_LIBS) $(PTHREAD_LIBS)

tests_unit_hvagent_test_api_schema_SOURCES = \
	tests/unit/hvagent/test-api-schema.c
tests_unit_hvagent_test_api_schema_CFLAGS = $(HVA_UNIT_CFLAGS)
tests_unit_hvagent_test_api_schema_LDADD = $(HVA_UNIT_LIBS)

dist_schemas_DATA += schemas/hvagent-api.rng
dist_man_MANS += man/hvagent.8
EXTRA_DIST += tests/cluster/lib/hva.sh tests/cluster/test-hva-live.sh \
	tests/cluster/test-hva-quick.sh tests/cluster/test-hva-refuse.sh \
	tests/cluster/test-hva-tcg-hops.sh \
	tests/cluster/test-hva-target-dies.sh tests/cluster/test-hva-start-race.sh \
	tests/cluster/test-hva-reattach.sh tests/cluster/test-hva-restart-mid.sh \
	tests/cluster/test-hva-cpu.sh \
	bench/migration \
	bench/tcg-pbs-hops bench/tcg-dirty-hops bench/nbd-mirror
