# tests/cluster fragment of the top Makefile.am (paths relative to the top)
#
# The cluster tests run as root against real daemons in the sandbox
# (scripts/sandbox), so they are not part of 'make check': scripts/test runs
# them through tests/cluster/run, and so does 'make check-cluster'.

EXTRA_DIST += \
	scripts/sandbox \
	tests/cluster/run \
	tests/cluster/lib/sandbox.sh \
	tests/cluster/cockpit-browser.py tests/cluster/cockpit-login.py \
	$(wildcard $(srcdir)/tests/cluster/test-*.sh)

check-cluster: all
	KVMC_SRCDIR='$(abs_top_srcdir)' KVMC_BUILDDIR='$(abs_top_builddir)' \
		$(abs_top_srcdir)/tests/cluster/run $(CLUSTER_TESTS)
.PHONY: check-cluster

# test-ipc-auth.sh: a server bound to a daemon's IPC name by another user.
noinst_PROGRAMS += tests/cluster/kvmc-ipc-impostor
tests_cluster_kvmc_ipc_impostor_SOURCES = tests/cluster/ipc-impostor.c
tests_cluster_kvmc_ipc_impostor_CFLAGS = $(AM_CFLAGS) $(QB_CFLAGS)
tests_cluster_kvmc_ipc_impostor_LDADD = common/libcommon.la $(QB_LIBS)
