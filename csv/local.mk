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
	csv/csv-extent.c
csv_libcsv_la_CFLAGS = $(AM_CFLAGS) $(SANLOCK_CFLAGS)
csv_libcsv_la_LIBADD = $(CSV_SANLOCK_LIBS)

# Unit tests (cmocka) on file-backed volumes.
CSV_UNIT_LIBS = csv/libcsv.la common/libcommon.la $(CMOCKA_LIBS)
csv_unit_tests = \
	tests/unit/csv/test-csv-format \
	tests/unit/csv/test-csv-alloc \
	tests/unit/csv/test-csv-torn \
	tests/unit/csv/test-csv-extmap
check_PROGRAMS += $(csv_unit_tests)
TESTS += $(csv_unit_tests)

tests_unit_csv_test_csv_format_SOURCES = tests/unit/csv/test-csv-format.c \
	tests/unit/csv/csv-test-util.h
tests_unit_csv_test_csv_format_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_csv_test_csv_format_LDADD = $(CSV_UNIT_LIBS)
tests_unit_csv_test_csv_alloc_SOURCES = tests/unit/csv/test-csv-alloc.c \
	tests/unit/csv/csv-test-util.h
tests_unit_csv_test_csv_alloc_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_csv_test_csv_alloc_LDADD = $(CSV_UNIT_LIBS)
tests_unit_csv_test_csv_torn_SOURCES = tests/unit/csv/test-csv-torn.c \
	tests/unit/csv/csv-test-util.h
tests_unit_csv_test_csv_torn_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_csv_test_csv_torn_LDADD = $(CSV_UNIT_LIBS)
tests_unit_csv_test_csv_extmap_SOURCES = tests/unit/csv/test-csv-extmap.c \
	tests/unit/csv/csv-test-util.h
tests_unit_csv_test_csv_extmap_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_csv_test_csv_extmap_LDADD = $(CSV_UNIT_LIBS)

# clusterctl volume, end to end on a file (no sanlock daemon needed).
TESTS += tests/unit/csv/test-clusterctl-volume.sh
EXTRA_DIST += tests/unit/csv/test-clusterctl-volume.sh
