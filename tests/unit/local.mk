# Unit tests of common/ (cmocka). Other modules add theirs in their fragment.
UNIT_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(QB_CFLAGS) $(XML_CFLAGS)
UNIT_COMMON_LIBS = common/libcommon.la $(CMOCKA_LIBS)

common_unit_tests = \
	tests/unit/common/test-crc32c \
	tests/unit/common/test-cfg \
	tests/unit/common/test-xml \
	tests/unit/common/test-err \
	tests/unit/common/test-ipc \
	tests/unit/common/test-log \
	tests/unit/common/test-work \
	tests/unit/common/test-file \
	tests/unit/common/test-rate
check_PROGRAMS += $(common_unit_tests)
TESTS += $(common_unit_tests)

tests_unit_common_test_crc32c_SOURCES = tests/unit/common/test-crc32c.c
tests_unit_common_test_crc32c_CFLAGS = $(UNIT_CFLAGS)
tests_unit_common_test_crc32c_LDADD = $(UNIT_COMMON_LIBS)
tests_unit_common_test_cfg_SOURCES = tests/unit/common/test-cfg.c
tests_unit_common_test_cfg_CFLAGS = $(UNIT_CFLAGS)
tests_unit_common_test_cfg_LDADD = $(UNIT_COMMON_LIBS)
tests_unit_common_test_xml_SOURCES = tests/unit/common/test-xml.c
tests_unit_common_test_xml_CFLAGS = $(UNIT_CFLAGS)
tests_unit_common_test_xml_LDADD = $(UNIT_COMMON_LIBS)
tests_unit_common_test_err_SOURCES = tests/unit/common/test-err.c
tests_unit_common_test_err_CFLAGS = $(UNIT_CFLAGS)
tests_unit_common_test_err_LDADD = $(UNIT_COMMON_LIBS)

tests_unit_common_test_ipc_SOURCES = tests/unit/common/test-ipc.c
tests_unit_common_test_ipc_CFLAGS = $(UNIT_CFLAGS)
tests_unit_common_test_ipc_LDADD = $(UNIT_COMMON_LIBS)

tests_unit_common_test_log_SOURCES = tests/unit/common/test-log.c
tests_unit_common_test_log_CFLAGS = $(UNIT_CFLAGS)
tests_unit_common_test_log_LDADD = $(UNIT_COMMON_LIBS)

tests_unit_common_test_work_SOURCES = tests/unit/common/test-work.c
tests_unit_common_test_work_CFLAGS = $(UNIT_CFLAGS)
tests_unit_common_test_work_LDADD = $(UNIT_COMMON_LIBS) $(PTHREAD_LIBS)
# The burst test holds the pool's wake-ups back while it submits.
tests_unit_common_test_work_LDFLAGS = -Wl,--wrap=pthread_cond_signal

tests_unit_common_test_file_SOURCES = tests/unit/common/test-file.c
tests_unit_common_test_file_CFLAGS = $(UNIT_CFLAGS)
tests_unit_common_test_file_LDADD = $(UNIT_COMMON_LIBS)

tests_unit_common_test_rate_SOURCES = tests/unit/common/test-rate.c
tests_unit_common_test_rate_CFLAGS = $(UNIT_CFLAGS)
tests_unit_common_test_rate_LDADD = $(UNIT_COMMON_LIBS)

EXTRA_DIST += tests/data
