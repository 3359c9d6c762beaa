# csv fragment of the top Makefile.am (paths relative to the top)
#
# libsanlock.pc lists -laio -lblkid -luuid -lwdmd for static linking, and
# their -dev packages are not installed; the shared libsanlock already
# records those dependencies, so link it by name.
CSV_SANLOCK_LIBS = -lsanlock

noinst_LTLIBRARIES += csv/libcsv.la
csv_libcsv_la_SOURCES = \
	csv/csv.h csv/csv-int.h \
	csv/csv-ondisk.c \
	csv/csv-io.c \
	csv/csv-lease.c \
	csv/csv-volume.c \
	csv/csv-extent.c \
	csv/csv-state.c
csv_libcsv_la_CFLAGS = $(AM_CFLAGS) $(SANLOCK_CFLAGS)
csv_libcsv_la_LIBADD = $(CSV_SANLOCK_LIBS)

# Unit tests (cmocka) on file-backed volumes.
CSV_UNIT_LIBS = csv/libcsv.la common/libcommon.la $(CMOCKA_LIBS)
csv_unit_tests = \
	tests/unit/csv/test-format \
	tests/unit/csv/test-alloc \
	tests/unit/csv/test-torn \
	tests/unit/csv/test-state \
	tests/unit/csv/test-extmap
check_PROGRAMS += $(csv_unit_tests)
TESTS += $(csv_unit_tests)

tests_unit_csv_test_format_SOURCES = tests/unit/csv/test-format.c \
	tests/unit/csv/csv-test-util.h
tests_unit_csv_test_format_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_csv_test_format_LDADD = $(CSV_UNIT_LIBS)
tests_unit_csv_test_alloc_SOURCES = tests/unit/csv/test-alloc.c \
	tests/unit/csv/csv-test-util.h
tests_unit_csv_test_alloc_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_csv_test_alloc_LDADD = $(CSV_UNIT_LIBS)
tests_unit_csv_test_torn_SOURCES = tests/unit/csv/test-torn.c \
	tests/unit/csv/csv-test-util.h
tests_unit_csv_test_torn_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_csv_test_torn_LDADD = $(CSV_UNIT_LIBS)
tests_unit_csv_test_extmap_SOURCES = tests/unit/csv/test-extmap.c \
	tests/unit/csv/csv-test-util.h
tests_unit_csv_test_extmap_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_csv_test_extmap_LDADD = $(CSV_UNIT_LIBS)

tests_unit_csv_test_state_SOURCES = tests/unit/csv/test-state.c
tests_unit_csv_test_state_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_csv_test_state_LDADD = $(CSV_UNIT_LIBS)
