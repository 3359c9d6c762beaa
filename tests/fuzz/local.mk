# tests/fuzz fragment of the top Makefile.am (paths relative to the top)
#
# One libFuzzer harness per decoder of outside bytes (see tests/fuzz/fuzz.h).
# Each fuzz-<name>.c is linked twice:
#  - tests/fuzz/fuzz-<name>: with libFuzzer's main, only with
#    --enable-fuzzing (CC=clang); scripts/fuzz builds and runs them;
#  - tests/fuzz/regress-<name>: with fuzz-regress.c, a cmocka test in
#    `make check` replaying tests/fuzz/corpus/<name>/ and the inputs that
#    once crashed it, tests/data/fuzz-regress/<name>/.
# Both link the same internal libraries as the module's unit tests.
FUZZ_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_SRCDIR='"$(abs_top_srcdir)"'
FUZZ_CD_CFLAGS = $(CD_UNIT_CFLAGS)
FUZZ_CD_LIBS = $(CD_UNIT_LIBS)
FUZZ_CSV_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
FUZZ_CSV_LIBS = $(CSV_UNIT_LIBS)
FUZZ_HVA_CFLAGS = $(HVA_UNIT_CFLAGS)
FUZZ_HVA_LIBS = $(HVA_UNIT_LIBS)
FUZZ_RES_CFLAGS = $(RES_UNIT_CFLAGS)
FUZZ_RES_LIBS = $(RES_UNIT_LIBS)
FUZZ_ISC_CFLAGS = $(ISC_UNIT_CFLAGS)
FUZZ_ISC_LIBS = $(ISC_UNIT_LIBS)
FUZZ_HDRS = tests/fuzz/fuzz.h tests/fuzz/fuzz-csv.h

fuzz_regress_tests = \
	tests/fuzz/regress-cdb-op \
	tests/fuzz/regress-coord-msg \
	tests/fuzz/regress-replica \
	tests/fuzz/regress-cdb-xml \
	tests/fuzz/regress-csv-super \
	tests/fuzz/regress-csv-slot \
	tests/fuzz/regress-csv-extmap \
	tests/fuzz/regress-state-hdr \
	tests/fuzz/regress-chan-line \
	tests/fuzz/regress-hva-vm-xml \
	tests/fuzz/regress-vm-xml \
	tests/fuzz/regress-cfg \
	tests/fuzz/regress-vpd \
	tests/fuzz/regress-cpu-caps \
	tests/fuzz/regress-obs-history \
	tests/fuzz/regress-obs-lun \
	tests/fuzz/regress-fwd-msg \
	tests/fuzz/regress-csv-mover
check_PROGRAMS += $(fuzz_regress_tests)
TESTS += $(fuzz_regress_tests)

if ENABLE_FUZZING
fuzz_programs = \
	tests/fuzz/fuzz-cdb-op \
	tests/fuzz/fuzz-coord-msg \
	tests/fuzz/fuzz-replica \
	tests/fuzz/fuzz-cdb-xml \
	tests/fuzz/fuzz-csv-super \
	tests/fuzz/fuzz-csv-slot \
	tests/fuzz/fuzz-csv-extmap \
	tests/fuzz/fuzz-state-hdr \
	tests/fuzz/fuzz-chan-line \
	tests/fuzz/fuzz-hva-vm-xml \
	tests/fuzz/fuzz-vm-xml \
	tests/fuzz/fuzz-cfg \
	tests/fuzz/fuzz-vpd \
	tests/fuzz/fuzz-cpu-caps \
	tests/fuzz/fuzz-obs-history \
	tests/fuzz/fuzz-obs-lun \
	tests/fuzz/fuzz-fwd-msg \
	tests/fuzz/fuzz-csv-mover
noinst_PROGRAMS += $(fuzz_programs) tests/fuzz/fuzz-seeds
endif

tests_fuzz_fuzz_cdb_op_SOURCES = tests/fuzz/fuzz-cdb-op.c $(FUZZ_HDRS)
tests_fuzz_fuzz_cdb_op_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_fuzz_cdb_op_CFLAGS = $(FUZZ_CD_CFLAGS)
tests_fuzz_fuzz_cdb_op_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_cdb_op_LDADD = $(FUZZ_CD_LIBS)
tests_fuzz_regress_cdb_op_SOURCES = tests/fuzz/fuzz-cdb-op.c tests/fuzz/fuzz-regress.c \
	$(FUZZ_HDRS)
tests_fuzz_regress_cdb_op_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_NAME='"cdb-op"'
tests_fuzz_regress_cdb_op_CFLAGS = $(FUZZ_CD_CFLAGS) $(CMOCKA_CFLAGS)
tests_fuzz_regress_cdb_op_LDADD = $(FUZZ_CD_LIBS) $(CMOCKA_LIBS)

tests_fuzz_fuzz_coord_msg_SOURCES = tests/fuzz/fuzz-coord-msg.c $(FUZZ_HDRS)
tests_fuzz_fuzz_coord_msg_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_fuzz_coord_msg_CFLAGS = $(FUZZ_CD_CFLAGS)
tests_fuzz_fuzz_coord_msg_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_coord_msg_LDADD = $(FUZZ_CD_LIBS)
tests_fuzz_regress_coord_msg_SOURCES = tests/fuzz/fuzz-coord-msg.c tests/fuzz/fuzz-regress.c \
	$(FUZZ_HDRS)
tests_fuzz_regress_coord_msg_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_NAME='"coord-msg"'
tests_fuzz_regress_coord_msg_CFLAGS = $(FUZZ_CD_CFLAGS) $(CMOCKA_CFLAGS)
tests_fuzz_regress_coord_msg_LDADD = $(FUZZ_CD_LIBS) $(CMOCKA_LIBS)

tests_fuzz_fuzz_replica_SOURCES = tests/fuzz/fuzz-replica.c $(FUZZ_HDRS)
tests_fuzz_fuzz_replica_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_fuzz_replica_CFLAGS = $(FUZZ_CD_CFLAGS)
tests_fuzz_fuzz_replica_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_replica_LDADD = $(FUZZ_CD_LIBS)
tests_fuzz_regress_replica_SOURCES = tests/fuzz/fuzz-replica.c tests/fuzz/fuzz-regress.c \
	$(FUZZ_HDRS)
tests_fuzz_regress_replica_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_NAME='"replica"'
tests_fuzz_regress_replica_CFLAGS = $(FUZZ_CD_CFLAGS) $(CMOCKA_CFLAGS)
tests_fuzz_regress_replica_LDADD = $(FUZZ_CD_LIBS) $(CMOCKA_LIBS)

tests_fuzz_fuzz_cdb_xml_SOURCES = tests/fuzz/fuzz-cdb-xml.c $(FUZZ_HDRS)
tests_fuzz_fuzz_cdb_xml_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_fuzz_cdb_xml_CFLAGS = $(FUZZ_CD_CFLAGS)
tests_fuzz_fuzz_cdb_xml_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_cdb_xml_LDADD = $(FUZZ_CD_LIBS)
tests_fuzz_regress_cdb_xml_SOURCES = tests/fuzz/fuzz-cdb-xml.c tests/fuzz/fuzz-regress.c \
	$(FUZZ_HDRS)
tests_fuzz_regress_cdb_xml_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_NAME='"cdb-xml"'
tests_fuzz_regress_cdb_xml_CFLAGS = $(FUZZ_CD_CFLAGS) $(CMOCKA_CFLAGS)
tests_fuzz_regress_cdb_xml_LDADD = $(FUZZ_CD_LIBS) $(CMOCKA_LIBS)

tests_fuzz_fuzz_csv_super_SOURCES = tests/fuzz/fuzz-csv-super.c $(FUZZ_HDRS)
tests_fuzz_fuzz_csv_super_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_fuzz_csv_super_CFLAGS = $(FUZZ_CSV_CFLAGS)
tests_fuzz_fuzz_csv_super_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_csv_super_LDADD = $(FUZZ_CSV_LIBS)
tests_fuzz_regress_csv_super_SOURCES = tests/fuzz/fuzz-csv-super.c tests/fuzz/fuzz-regress.c \
	$(FUZZ_HDRS)
tests_fuzz_regress_csv_super_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_NAME='"csv-super"'
tests_fuzz_regress_csv_super_CFLAGS = $(FUZZ_CSV_CFLAGS) $(CMOCKA_CFLAGS)
tests_fuzz_regress_csv_super_LDADD = $(FUZZ_CSV_LIBS) $(CMOCKA_LIBS)

tests_fuzz_fuzz_csv_slot_SOURCES = tests/fuzz/fuzz-csv-slot.c $(FUZZ_HDRS)
tests_fuzz_fuzz_csv_slot_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_fuzz_csv_slot_CFLAGS = $(FUZZ_CSV_CFLAGS)
tests_fuzz_fuzz_csv_slot_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_csv_slot_LDADD = $(FUZZ_CSV_LIBS)
tests_fuzz_regress_csv_slot_SOURCES = tests/fuzz/fuzz-csv-slot.c tests/fuzz/fuzz-regress.c \
	$(FUZZ_HDRS)
tests_fuzz_regress_csv_slot_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_NAME='"csv-slot"'
tests_fuzz_regress_csv_slot_CFLAGS = $(FUZZ_CSV_CFLAGS) $(CMOCKA_CFLAGS)
tests_fuzz_regress_csv_slot_LDADD = $(FUZZ_CSV_LIBS) $(CMOCKA_LIBS)

tests_fuzz_fuzz_csv_extmap_SOURCES = tests/fuzz/fuzz-csv-extmap.c $(FUZZ_HDRS)
tests_fuzz_fuzz_csv_extmap_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_fuzz_csv_extmap_CFLAGS = $(FUZZ_CSV_CFLAGS)
tests_fuzz_fuzz_csv_extmap_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_csv_extmap_LDADD = $(FUZZ_CSV_LIBS)
tests_fuzz_regress_csv_extmap_SOURCES = tests/fuzz/fuzz-csv-extmap.c tests/fuzz/fuzz-regress.c \
	$(FUZZ_HDRS)
tests_fuzz_regress_csv_extmap_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_NAME='"csv-extmap"'
tests_fuzz_regress_csv_extmap_CFLAGS = $(FUZZ_CSV_CFLAGS) $(CMOCKA_CFLAGS)
tests_fuzz_regress_csv_extmap_LDADD = $(FUZZ_CSV_LIBS) $(CMOCKA_LIBS)

tests_fuzz_fuzz_state_hdr_SOURCES = tests/fuzz/fuzz-state-hdr.c $(FUZZ_HDRS)
tests_fuzz_fuzz_state_hdr_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_fuzz_state_hdr_CFLAGS = $(FUZZ_CSV_CFLAGS)
tests_fuzz_fuzz_state_hdr_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_state_hdr_LDADD = $(FUZZ_CSV_LIBS)
tests_fuzz_regress_state_hdr_SOURCES = tests/fuzz/fuzz-state-hdr.c tests/fuzz/fuzz-regress.c \
	$(FUZZ_HDRS)
tests_fuzz_regress_state_hdr_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_NAME='"state-hdr"'
tests_fuzz_regress_state_hdr_CFLAGS = $(FUZZ_CSV_CFLAGS) $(CMOCKA_CFLAGS)
tests_fuzz_regress_state_hdr_LDADD = $(FUZZ_CSV_LIBS) $(CMOCKA_LIBS)

tests_fuzz_fuzz_chan_line_SOURCES = tests/fuzz/fuzz-chan-line.c $(FUZZ_HDRS)
tests_fuzz_fuzz_chan_line_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_fuzz_chan_line_CFLAGS = $(FUZZ_HVA_CFLAGS)
tests_fuzz_fuzz_chan_line_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_chan_line_LDADD = $(FUZZ_HVA_LIBS)
tests_fuzz_regress_chan_line_SOURCES = tests/fuzz/fuzz-chan-line.c tests/fuzz/fuzz-regress.c \
	$(FUZZ_HDRS)
tests_fuzz_regress_chan_line_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_NAME='"chan-line"'
tests_fuzz_regress_chan_line_CFLAGS = $(FUZZ_HVA_CFLAGS) $(CMOCKA_CFLAGS)
tests_fuzz_regress_chan_line_LDADD = $(FUZZ_HVA_LIBS) $(CMOCKA_LIBS)

tests_fuzz_fuzz_hva_vm_xml_SOURCES = tests/fuzz/fuzz-hva-vm-xml.c $(FUZZ_HDRS)
tests_fuzz_fuzz_hva_vm_xml_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_fuzz_hva_vm_xml_CFLAGS = $(FUZZ_HVA_CFLAGS)
tests_fuzz_fuzz_hva_vm_xml_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_hva_vm_xml_LDADD = $(FUZZ_HVA_LIBS)
tests_fuzz_regress_hva_vm_xml_SOURCES = tests/fuzz/fuzz-hva-vm-xml.c tests/fuzz/fuzz-regress.c \
	$(FUZZ_HDRS)
tests_fuzz_regress_hva_vm_xml_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_NAME='"hva-vm-xml"'
tests_fuzz_regress_hva_vm_xml_CFLAGS = $(FUZZ_HVA_CFLAGS) $(CMOCKA_CFLAGS)
tests_fuzz_regress_hva_vm_xml_LDADD = $(FUZZ_HVA_LIBS) $(CMOCKA_LIBS)

tests_fuzz_fuzz_vm_xml_SOURCES = tests/fuzz/fuzz-vm-xml.c $(FUZZ_HDRS)
tests_fuzz_fuzz_vm_xml_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_fuzz_vm_xml_CFLAGS = $(FUZZ_RES_CFLAGS)
tests_fuzz_fuzz_vm_xml_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_vm_xml_LDADD = $(FUZZ_RES_LIBS)
tests_fuzz_regress_vm_xml_SOURCES = tests/fuzz/fuzz-vm-xml.c tests/fuzz/fuzz-regress.c \
	$(FUZZ_HDRS)
tests_fuzz_regress_vm_xml_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_NAME='"vm-xml"'
tests_fuzz_regress_vm_xml_CFLAGS = $(FUZZ_RES_CFLAGS) $(CMOCKA_CFLAGS)
tests_fuzz_regress_vm_xml_LDADD = $(FUZZ_RES_LIBS) $(CMOCKA_LIBS)

tests_fuzz_fuzz_cfg_SOURCES = tests/fuzz/fuzz-cfg.c $(FUZZ_HDRS)
tests_fuzz_fuzz_cfg_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_fuzz_cfg_CFLAGS = $(FUZZ_CD_CFLAGS)
tests_fuzz_fuzz_cfg_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_cfg_LDADD = $(FUZZ_CD_LIBS)
tests_fuzz_regress_cfg_SOURCES = tests/fuzz/fuzz-cfg.c tests/fuzz/fuzz-regress.c \
	$(FUZZ_HDRS)
tests_fuzz_regress_cfg_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_NAME='"cfg"'
tests_fuzz_regress_cfg_CFLAGS = $(FUZZ_CD_CFLAGS) $(CMOCKA_CFLAGS)
tests_fuzz_regress_cfg_LDADD = $(FUZZ_CD_LIBS) $(CMOCKA_LIBS)

tests_fuzz_fuzz_vpd_SOURCES = tests/fuzz/fuzz-vpd.c $(FUZZ_HDRS)
tests_fuzz_fuzz_vpd_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_fuzz_vpd_CFLAGS = $(FUZZ_ISC_CFLAGS)
tests_fuzz_fuzz_vpd_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_vpd_LDADD = $(FUZZ_ISC_LIBS)
tests_fuzz_regress_vpd_SOURCES = tests/fuzz/fuzz-vpd.c tests/fuzz/fuzz-regress.c \
	$(FUZZ_HDRS)
tests_fuzz_regress_vpd_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_NAME='"vpd"'
tests_fuzz_regress_vpd_CFLAGS = $(FUZZ_ISC_CFLAGS) $(CMOCKA_CFLAGS)
tests_fuzz_regress_vpd_LDADD = $(FUZZ_ISC_LIBS) $(CMOCKA_LIBS)

tests_fuzz_fuzz_cpu_caps_SOURCES = tests/fuzz/fuzz-cpu-caps.c $(FUZZ_HDRS)
tests_fuzz_fuzz_cpu_caps_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_fuzz_cpu_caps_CFLAGS = $(FUZZ_RES_CFLAGS)
tests_fuzz_fuzz_cpu_caps_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_cpu_caps_LDADD = $(FUZZ_RES_LIBS)
tests_fuzz_regress_cpu_caps_SOURCES = tests/fuzz/fuzz-cpu-caps.c tests/fuzz/fuzz-regress.c \
	$(FUZZ_HDRS)
tests_fuzz_regress_cpu_caps_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_NAME='"cpu-caps"'
tests_fuzz_regress_cpu_caps_CFLAGS = $(FUZZ_RES_CFLAGS) $(CMOCKA_CFLAGS)
tests_fuzz_regress_cpu_caps_LDADD = $(FUZZ_RES_LIBS) $(CMOCKA_LIBS)

tests_fuzz_fuzz_obs_history_SOURCES = tests/fuzz/fuzz-obs-history.c $(FUZZ_HDRS)
tests_fuzz_fuzz_obs_history_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_fuzz_obs_history_CFLAGS = $(FUZZ_CD_CFLAGS)
tests_fuzz_fuzz_obs_history_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_obs_history_LDADD = $(FUZZ_CD_LIBS)
tests_fuzz_regress_obs_history_SOURCES = tests/fuzz/fuzz-obs-history.c tests/fuzz/fuzz-regress.c \
	$(FUZZ_HDRS)
tests_fuzz_regress_obs_history_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_NAME='"obs-history"'
tests_fuzz_regress_obs_history_CFLAGS = $(FUZZ_CD_CFLAGS) $(CMOCKA_CFLAGS)
tests_fuzz_regress_obs_history_LDADD = $(FUZZ_CD_LIBS) $(CMOCKA_LIBS)

tests_fuzz_fuzz_obs_lun_SOURCES = tests/fuzz/fuzz-obs-lun.c $(FUZZ_HDRS)
tests_fuzz_fuzz_obs_lun_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_fuzz_obs_lun_CFLAGS = $(FUZZ_CD_CFLAGS)
tests_fuzz_fuzz_obs_lun_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_obs_lun_LDADD = $(FUZZ_CD_LIBS)
tests_fuzz_regress_obs_lun_SOURCES = tests/fuzz/fuzz-obs-lun.c tests/fuzz/fuzz-regress.c \
	$(FUZZ_HDRS)
tests_fuzz_regress_obs_lun_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_NAME='"obs-lun"'
tests_fuzz_regress_obs_lun_CFLAGS = $(FUZZ_CD_CFLAGS) $(CMOCKA_CFLAGS)
tests_fuzz_regress_obs_lun_LDADD = $(FUZZ_CD_LIBS) $(CMOCKA_LIBS)

tests_fuzz_fuzz_fwd_msg_SOURCES = tests/fuzz/fuzz-fwd-msg.c $(FUZZ_HDRS)
tests_fuzz_fuzz_fwd_msg_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_fuzz_fwd_msg_CFLAGS = $(FUZZ_CD_CFLAGS)
tests_fuzz_fuzz_fwd_msg_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_fwd_msg_LDADD = $(FUZZ_CD_LIBS)
tests_fuzz_regress_fwd_msg_SOURCES = tests/fuzz/fuzz-fwd-msg.c tests/fuzz/fuzz-regress.c \
	$(FUZZ_HDRS)
tests_fuzz_regress_fwd_msg_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_NAME='"fwd-msg"'
tests_fuzz_regress_fwd_msg_CFLAGS = $(FUZZ_CD_CFLAGS) $(CMOCKA_CFLAGS)
tests_fuzz_regress_fwd_msg_LDADD = $(FUZZ_CD_LIBS) $(CMOCKA_LIBS)

tests_fuzz_fuzz_csv_mover_SOURCES = tests/fuzz/fuzz-csv-mover.c $(FUZZ_HDRS)
tests_fuzz_fuzz_csv_mover_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_fuzz_csv_mover_CFLAGS = $(FUZZ_CD_CFLAGS)
tests_fuzz_fuzz_csv_mover_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_csv_mover_LDADD = $(FUZZ_CD_LIBS)
tests_fuzz_regress_csv_mover_SOURCES = tests/fuzz/fuzz-csv-mover.c tests/fuzz/fuzz-regress.c \
	$(FUZZ_HDRS)
tests_fuzz_regress_csv_mover_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_NAME='"csv-mover"'
tests_fuzz_regress_csv_mover_CFLAGS = $(FUZZ_CD_CFLAGS) $(CMOCKA_CFLAGS)
tests_fuzz_regress_csv_mover_LDADD = $(FUZZ_CD_LIBS) $(CMOCKA_LIBS)

# Writes seed inputs made by the encoders (tests/fuzz/corpus/ holds the
# output, checked in): rerun it when a wire or disk format changes.
tests_fuzz_fuzz_seeds_SOURCES = tests/fuzz/fuzz-seeds.c $(FUZZ_HDRS)
tests_fuzz_fuzz_seeds_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_fuzz_seeds_CFLAGS = $(CD_UNIT_CFLAGS) $(HVA_UNIT_CFLAGS)
tests_fuzz_fuzz_seeds_LDADD = clusterd/libclusterd.la csv/libcsv.la \
	hvagent/libhva.la common/libcommon.la $(XML_LIBS) $(GNUTLS_LIBS)

EXTRA_DIST += tests/fuzz/corpus scripts/fuzz
