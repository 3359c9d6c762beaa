# resources fragment of the top Makefile.am (paths relative to the top)
#
# resources/: VM definition model (XML + RelaxNG) and the placement policy.
# Pure logic, linked into clusterd/libclusterd.la (clusterd and its unit
# tests) and the unit tests below; hvagent and clusterctl do not use it.
noinst_LTLIBRARIES += resources/libres.la
resources_libres_la_SOURCES = \
	resources/res.h \
	resources/res-err.c resources/res-err.h \
	resources/res-int.h \
	resources/res-vm.c resources/res-vm.h \
	resources/res-vm-xml.c resources/res-disk.c \
	resources/res-place.c resources/res-place.h resources/res-net.c \
	resources/res-cpu.c resources/res-cpu.h \
	resources/res-cpu-qmp.c
resources_libres_la_CFLAGS = $(AM_CFLAGS) $(XML_CFLAGS) $(JSONC_CFLAGS)
# Programs link common/libcommon.la themselves (as for csv/ and iscsi/), so
# its objects are not copied into this archive too.
resources_libres_la_LIBADD = $(XML_LIBS) $(JSONC_LIBS)

dist_schemas_DATA += schemas/vm.rng

dist_man_MANS += man/kvmcluster-vm.5

# Unit tests. They find tests/data through $KVMC_SRCDIR and the schema
# through $KVMC_SCHEMADIR, which they default to $KVMC_SRCDIR/schemas.
RES_UNIT_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(XML_CFLAGS)
RES_UNIT_LIBS = resources/libres.la common/libcommon.la $(CMOCKA_LIBS) \
	$(XML_LIBS)

res_unit_tests = \
	tests/unit/resources/test-vm \
	tests/unit/resources/test-disk \
	tests/unit/resources/test-vm-corpus \
	tests/unit/resources/test-place \
	tests/unit/resources/test-place-net \
	tests/unit/resources/test-place-sim \
	tests/unit/resources/test-cpu
check_PROGRAMS += $(res_unit_tests)
TESTS += $(res_unit_tests)

tests_unit_resources_test_vm_SOURCES = tests/unit/resources/test-vm.c \
	tests/unit/resources/res-test.h
tests_unit_resources_test_vm_CFLAGS = $(RES_UNIT_CFLAGS)
tests_unit_resources_test_vm_LDADD = $(RES_UNIT_LIBS)
tests_unit_resources_test_disk_SOURCES = tests/unit/resources/test-disk.c
tests_unit_resources_test_disk_CFLAGS = $(RES_UNIT_CFLAGS)
tests_unit_resources_test_disk_LDADD = $(RES_UNIT_LIBS)
tests_unit_resources_test_vm_corpus_SOURCES = \
	tests/unit/resources/test-vm-corpus.c tests/unit/resources/res-test.h
tests_unit_resources_test_vm_corpus_CFLAGS = $(RES_UNIT_CFLAGS)
tests_unit_resources_test_vm_corpus_LDADD = $(RES_UNIT_LIBS)
tests_unit_resources_test_place_SOURCES = tests/unit/resources/test-place.c
tests_unit_resources_test_place_CFLAGS = $(RES_UNIT_CFLAGS)
tests_unit_resources_test_place_LDADD = $(RES_UNIT_LIBS)
tests_unit_resources_test_place_net_SOURCES = \
	tests/unit/resources/test-place-net.c
tests_unit_resources_test_place_net_CFLAGS = $(RES_UNIT_CFLAGS)
tests_unit_resources_test_place_net_LDADD = $(RES_UNIT_LIBS)
tests_unit_resources_test_place_sim_SOURCES = \
	tests/unit/resources/test-place-sim.c
tests_unit_resources_test_place_sim_CFLAGS = $(RES_UNIT_CFLAGS)
tests_unit_resources_test_place_sim_LDADD = $(RES_UNIT_LIBS)
tests_unit_resources_test_cpu_SOURCES = tests/unit/resources/test-cpu.c \
	tests/unit/resources/res-test.h
tests_unit_resources_test_cpu_CFLAGS = $(RES_UNIT_CFLAGS)
tests_unit_resources_test_cpu_LDADD = $(RES_UNIT_LIBS)
