# dist fragment of the top Makefile.am: what an installed node needs
# besides the programs. Paths come from configure (--with-confdir,
# --with-rundir, --with-statedir, --with-systemdunitdir,
# --with-tmpfilesdir); nothing installed refers to the source or build tree.

dist_units_in = dist/lunbridge.service.in dist/hvagent.service.in \
	dist/clusterd.service.in
systemdunit_DATA = dist/lunbridge.service dist/hvagent.service \
	dist/clusterd.service
dist_systemdunit_DATA = dist/kvmcluster.target
tmpfiles_DATA = dist/kvmcluster.conf
kvmcconf_DATA = dist/kvmcluster-example.conf
EXTRA_DIST += $(dist_units_in) dist/kvmcluster.tmpfiles.in \
	dist/kvmcluster-example.conf.in scripts/install-check
CLEANFILES += $(systemdunit_DATA) $(tmpfiles_DATA) $(kvmcconf_DATA)

dist_subst = $(SED) -e 's|@sbindir[@]|$(sbindir)|g' \
	-e 's|@bindir[@]|$(bindir)|g' \
	-e 's|@kvmcconfdir[@]|$(kvmcconfdir)|g' \
	-e 's|@kvmcrundir[@]|$(kvmcrundir)|g' \
	-e 's|@kvmcstatedir[@]|$(kvmcstatedir)|g'

dist/%.service: $(srcdir)/dist/%.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) dist && $(dist_subst) $< >$@.tmp && mv $@.tmp $@
dist/kvmcluster.conf: $(srcdir)/dist/kvmcluster.tmpfiles.in Makefile
	$(AM_V_GEN)$(MKDIR_P) dist && $(dist_subst) $< >$@.tmp && mv $@.tmp $@
dist/kvmcluster-example.conf: $(srcdir)/dist/kvmcluster-example.conf.in Makefile
	$(AM_V_GEN)$(MKDIR_P) dist && $(dist_subst) $< >$@.tmp && mv $@.tmp $@

# kvmcluster.conf is the operator's: installed under its own name only
# when there is none yet, so a reinstall never overwrites a node's
# settings (the Debian package ships it as a conffile instead).
# The state directory exists from the install on; the run directory is
# created at boot by tmpfiles.d (and by the daemons themselves).
#
# hvagent's KVM probe boots the test guest (a paging 32-bit kernel, not a
# host program) before it trusts /dev/kvm.
install-data-hook:
	$(MKDIR_P) '$(DESTDIR)$(pkglibdir)'
	$(INSTALL_DATA) tests/guest/kvmc-guest.elf \
		'$(DESTDIR)$(pkglibdir)/kvm-probe.elf'
	$(MKDIR_P) '$(DESTDIR)$(kvmcstatedir)'
	chmod 0700 '$(DESTDIR)$(kvmcstatedir)'
	test -e '$(DESTDIR)$(kvmcconfdir)/kvmcluster.conf' || \
		mv '$(DESTDIR)$(kvmcconfdir)/kvmcluster-example.conf' \
			'$(DESTDIR)$(kvmcconfdir)/kvmcluster.conf'
	rm -f '$(DESTDIR)$(kvmcconfdir)/kvmcluster-example.conf'
uninstall-hook:
	rm -f '$(DESTDIR)$(pkglibdir)/kvm-probe.elf'
	-rmdir '$(DESTDIR)$(pkglibdir)'
	if cmp -s dist/kvmcluster-example.conf \
		'$(DESTDIR)$(kvmcconfdir)/kvmcluster.conf'; then \
		rm -f '$(DESTDIR)$(kvmcconfdir)/kvmcluster.conf'; fi
	-rmdir '$(DESTDIR)$(kvmcconfdir)' '$(DESTDIR)$(kvmcstatedir)'

# make distcheck installs under its own prefix, never into /etc or /run.
AM_DISTCHECK_CONFIGURE_FLAGS = \
	--with-confdir='$${prefix}/etc/kvmcluster' \
	--with-rundir='$${prefix}/run/kvmcluster' \
	--with-statedir='$${prefix}/var/lib/kvmcluster' \
	--with-systemdunitdir='$${prefix}/lib/systemd/system' \
	--with-tmpfilesdir='$${prefix}/lib/tmpfiles.d'
