# cli fragment of the top Makefile.am (paths relative to the top)
bin_PROGRAMS += cli/clusterctl
cli_clusterctl_SOURCES = \
	cli/ctl.h \
	cli/ctl-main.c \
	cli/ctl-client.c cli/ctl-client.h \
	cli/ctl-cluster.c cli/ctl-cluster.h \
	cli/ctl-vm.c cli/ctl-vm.h cli/ctl-disk.c cli/ctl-move-storage.c \
	cli/ctl-volume.c cli/ctl-cpu.c \
	cli/ctl-setup.c cli/ctl-setup.h \
	cli/ctl-obs.c cli/ctl-obs.h
cli_clusterctl_CFLAGS = $(AM_CFLAGS) $(QB_CFLAGS) $(XML_CFLAGS)
cli_clusterctl_LDADD = clusterd/libcdproto.la hvagent/libhvaproto.la \
	csv/libcsv.la resources/libres.la common/libcommon.la $(QB_LIBS) \
	$(XML_LIBS)

dist_man_MANS += man/clusterctl.8

# clusterctl end to end without a cluster: vm add/edit of a bad definition,
# volume format/inspect/check on a file (no sanlock daemon needed).
# cluster setup's files and refusals (no daemon either).
TESTS += tests/unit/cli/test-vm.sh tests/unit/cli/test-volume.sh \
	tests/unit/cli/test-setup.sh
EXTRA_DIST += tests/unit/cli/test-vm.sh tests/unit/cli/test-volume.sh \
	tests/unit/cli/test-setup.sh
