# iscsi fragment of the top Makefile.am (paths relative to the top)

noinst_LTLIBRARIES += iscsi/libisc.la
iscsi_libisc_la_SOURCES = \
	iscsi/isc.h iscsi/isc-int.h \
	iscsi/isc-err.c \
	iscsi/isc-vpd.c \
	iscsi/isc-align.c \
	iscsi/isc-config.c \
	iscsi/isc-session.c \
	iscsi/isc-discover.c \
	iscsi/isc-handoff.c \
	iscsi/isc-metrics.c
iscsi_libisc_la_CFLAGS = $(AM_CFLAGS) $(ISCSI_CFLAGS) $(QB_CFLAGS)
iscsi_libisc_la_LIBADD = $(ISCSI_LIBS) $(PTHREAD_LIBS)

sbin_PROGRAMS += iscsi/lunbridge
iscsi_lunbridge_SOURCES = iscsi/lunbridge.c iscsi/lunbridge-super.c
iscsi_lunbridge_CFLAGS = $(AM_CFLAGS) $(FUSE_CFLAGS) $(QB_CFLAGS) $(PTHREAD_LIBS)
iscsi_lunbridge_LDADD = iscsi/libisc.la common/libcommon.la $(FUSE_LIBS) \
	$(QB_LIBS) $(PTHREAD_LIBS)

dist_man_MANS += man/lunbridge.8

# Benchmark: lunbridge against QEMU's own iscsi driver on the same LUN.
EXTRA_DIST += bench/lunbridge

# Unit tests (cmocka): the pure logic only; the rest runs against tgtd in
# tests/cluster/test-lunbridge*.sh.
ISC_UNIT_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(QB_CFLAGS)
ISC_UNIT_LIBS = iscsi/libisc.la common/libcommon.la $(CMOCKA_LIBS)
isc_unit_tests = \
	tests/unit/iscsi/test-vpd \
	tests/unit/iscsi/test-align \
	tests/unit/iscsi/test-config \
	tests/unit/iscsi/test-handoff \
	tests/unit/iscsi/test-metrics
check_PROGRAMS += $(isc_unit_tests)
TESTS += $(isc_unit_tests)

tests_unit_iscsi_test_vpd_SOURCES = tests/unit/iscsi/test-vpd.c
tests_unit_iscsi_test_vpd_CFLAGS = $(ISC_UNIT_CFLAGS)
tests_unit_iscsi_test_vpd_LDADD = $(ISC_UNIT_LIBS)
tests_unit_iscsi_test_align_SOURCES = tests/unit/iscsi/test-align.c
tests_unit_iscsi_test_align_CFLAGS = $(ISC_UNIT_CFLAGS)
tests_unit_iscsi_test_align_LDADD = $(ISC_UNIT_LIBS)
tests_unit_iscsi_test_config_SOURCES = tests/unit/iscsi/test-config.c
tests_unit_iscsi_test_config_CFLAGS = $(ISC_UNIT_CFLAGS)
tests_unit_iscsi_test_config_LDADD = $(ISC_UNIT_LIBS)
tests_unit_iscsi_test_handoff_SOURCES = tests/unit/iscsi/test-handoff.c
tests_unit_iscsi_test_handoff_CFLAGS = $(ISC_UNIT_CFLAGS)
tests_unit_iscsi_test_handoff_LDADD = $(ISC_UNIT_LIBS)
tests_unit_iscsi_test_metrics_SOURCES = tests/unit/iscsi/test-metrics.c
tests_unit_iscsi_test_metrics_CFLAGS = $(ISC_UNIT_CFLAGS)
tests_unit_iscsi_test_metrics_LDADD = $(ISC_UNIT_LIBS)
EXTRA_DIST += tests/cluster/test-lunbridge.sh tests/cluster/test-lunbridge-target.sh \
	tests/cluster/test-lunbridge-errors.sh \
	tests/cluster/test-lunbridge-restart.sh tests/cluster/test-lunbridge-supervise.sh
