# common/: helpers every module links.
noinst_LTLIBRARIES += common/libcommon.la
common_libcommon_la_SOURCES = \
	common/cmn-auto.h \
	common/cmn-cfg.c common/cmn-cfg.h \
	common/cmn-crc32c.c common/cmn-crc32c.h \
	common/cmn-err.c common/cmn-err.h \
	common/cmn-file.c common/cmn-file.h \
	common/cmn-ipc.c common/cmn-ipc.h \
	common/cmn-le.h \
	common/cmn-log.c common/cmn-log.h \
	common/cmn-paths.h \
	common/cmn-rate.c common/cmn-rate.h \
	common/cmn-work.c common/cmn-work.h \
	common/cmn-xml.c common/cmn-xml.h
common_libcommon_la_CFLAGS = $(AM_CFLAGS) $(QB_CFLAGS) $(XML_CFLAGS)
common_libcommon_la_LIBADD = $(QB_LIBS) $(XML_LIBS) $(PTHREAD_LIBS)
