# tests/guest fragment of the top Makefile.am (paths relative to the top)
#
# The test guest is a freestanding 32-bit multiboot kernel, not a program
# of this host: it is built with explicit rules and $(GUEST_CC)/$(GUEST_LD)
# instead of automake's compile rules and $(AM_CFLAGS).

GUEST_COMPILE_FLAGS = -m32 -march=i686 -ffreestanding -fno-pic -fno-pie \
	-fno-stack-protector -fno-asynchronous-unwind-tables -fno-builtin \
	-mno-mmx -mno-sse -mno-sse2 -O2 -g -nostdlib $(WARN_CFLAGS)
GUEST_LINK_FLAGS = -m elf_i386 -nostdlib -T $(srcdir)/tests/guest/kvmc-guest.ld

GUEST_OBJECT_FILES = \
	tests/guest/kvmc-guest-entry.o \
	tests/guest/kvmc-guest-hw.o \
	tests/guest/kvmc-guest-main.o \
	tests/guest/kvmc-guest-disk.o

noinst_DATA += tests/guest/kvmc-guest.elf
CLEANFILES += tests/guest/kvmc-guest.elf $(GUEST_OBJECT_FILES)
EXTRA_DIST += \
	tests/guest/README \
	tests/guest/kvmc-guest.h \
	tests/guest/kvmc-guest.ld \
	tests/guest/kvmc-guest-entry.S \
	tests/guest/kvmc-guest-hw.c \
	tests/guest/kvmc-guest-main.c \
	tests/guest/kvmc-guest-disk.c \
	tests/guest/run-guest \
	tests/cluster/test-guest.sh

tests/guest/kvmc-guest-entry.o: $(srcdir)/tests/guest/kvmc-guest-entry.S
	@$(MKDIR_P) tests/guest
	$(AM_V_CC)$(GUEST_CC) $(GUEST_COMPILE_FLAGS) -c -o $@ \
		$(srcdir)/tests/guest/kvmc-guest-entry.S

tests/guest/kvmc-guest-hw.o: $(srcdir)/tests/guest/kvmc-guest-hw.c \
		$(srcdir)/tests/guest/kvmc-guest.h
	@$(MKDIR_P) tests/guest
	$(AM_V_CC)$(GUEST_CC) $(GUEST_COMPILE_FLAGS) -c -o $@ \
		$(srcdir)/tests/guest/kvmc-guest-hw.c

tests/guest/kvmc-guest-main.o: $(srcdir)/tests/guest/kvmc-guest-main.c \
		$(srcdir)/tests/guest/kvmc-guest.h
	@$(MKDIR_P) tests/guest
	$(AM_V_CC)$(GUEST_CC) $(GUEST_COMPILE_FLAGS) -c -o $@ \
		$(srcdir)/tests/guest/kvmc-guest-main.c

tests/guest/kvmc-guest-disk.o: $(srcdir)/tests/guest/kvmc-guest-disk.c \
		$(srcdir)/tests/guest/kvmc-guest.h
	@$(MKDIR_P) tests/guest
	$(AM_V_CC)$(GUEST_CC) $(GUEST_COMPILE_FLAGS) -c -o $@ \
		$(srcdir)/tests/guest/kvmc-guest-disk.c

tests/guest/kvmc-guest.elf: $(GUEST_OBJECT_FILES) \
		$(srcdir)/tests/guest/kvmc-guest.ld
	@$(MKDIR_P) tests/guest
	$(AM_V_CCLD)$(GUEST_LD) $(GUEST_LINK_FLAGS) -o $@ $(GUEST_OBJECT_FILES)
