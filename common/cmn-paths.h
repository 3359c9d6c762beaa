/* The system paths of kvmcluster, fixed at configure time
 * (--with-confdir, --with-rundir, --with-statedir; see configure.ac).
 *
 * Every default path a program falls back to comes from here, so an
 * installed tree never depends on where it was built. Tests point the
 * programs elsewhere with options, configuration keys or $KVMC_SCHEMADIR,
 * never by changing these. */
#ifndef KVMC_CMN_PATHS_H
#define KVMC_CMN_PATHS_H

#if !defined(KVMC_CONFDIR) || !defined(KVMC_RUNDIR) ||                         \
    !defined(KVMC_STATEDIR) || !defined(KVMC_PKGLIBDIR)
#error "KVMC_CONFDIR, KVMC_RUNDIR, KVMC_STATEDIR, KVMC_PKGLIBDIR: Makefile.am"
#endif

/* kvmcluster.conf(5): every daemon's sections in one file per node. */
#define CMN_CONF_FILE KVMC_CONFDIR "/kvmcluster.conf"
/* lunbridge's mount point: one file per LUN, named by its WWN. */
#define CMN_LUN_DIR KVMC_RUNDIR "/luns"
/* hvagent's run directory: QMP sockets, per-VM records for re-attach. */
#define CMN_HVA_RUN_DIR KVMC_RUNDIR "/hvagent"
/* clusterd's copy of the cluster database, blackbox dumps. */
#define CMN_STATE_DIR KVMC_STATEDIR
/* Kernels and initrds VM definitions may name by default. */
#define CMN_KERNEL_DIR KVMC_STATEDIR "/kernels"

/* The paging guest hvagent boots under KVM before trusting it (a kvm-pvm
 * host passes the /dev/kvm check and still cannot run a real guest). */
#define CMN_PROBE_KERNEL KVMC_PKGLIBDIR "/kvm-probe.elf"

#endif
