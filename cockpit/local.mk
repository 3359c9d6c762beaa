# cockpit fragment of the top Makefile.am: the Cockpit page, plain files
# (no build step), installed where cockpit-bridge looks for packages.
cockpitkvmclusterdir = $(datadir)/cockpit/kvmcluster
dist_cockpitkvmcluster_DATA = \
	cockpit/kvmcluster/manifest.json \
	cockpit/kvmcluster/index.html \
	cockpit/kvmcluster/kvmcluster.js \
	cockpit/kvmcluster/kvmcluster.css
