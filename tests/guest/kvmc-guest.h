/*
 * kvmc-guest: a tiny multiboot (v1) kernel that tests run under QEMU.
 *
 * It stays in flat 32-bit protected mode without paging (kvm-pvm
 * triple-faults a guest that turns paging on), talks on COM1 and paces
 * itself with the PIT: it halts between timer ticks so that an idle or
 * lightly loaded guest leaves the host's two cores to corosync.
 */
#ifndef KVMC_GUEST_H
#define KVMC_GUEST_H

typedef unsigned char uint8_t;
typedef unsigned short uint16_t;
typedef unsigned int uint32_t;
typedef int int32_t;
typedef unsigned long long uint64_t;
typedef unsigned int size_t;

_Static_assert(sizeof(uint32_t) == 4, "uint32_t");
_Static_assert(sizeof(uint64_t) == 8, "uint64_t");
_Static_assert(sizeof(void *) == 4, "the guest is a 32-bit kernel");

/* Timer frequency: 100 Hz keeps the wakeups (and QEMU's CPU use) low. */
#define KG_HZ 100u

#define KG_PAGE_SIZE 4096u

/* Timer ticks since the PIT was started; only the IRQ 0 handler writes. */
extern volatile uint32_t kg_ticks;

static inline void kg_outb(uint16_t port, uint8_t val)
{
    __asm__ volatile("outb %0, %1" : : "a"(val), "Nd"(port));
}

static inline uint8_t kg_inb(uint16_t port)
{
    uint8_t val;

    __asm__ volatile("inb %1, %0" : "=a"(val) : "Nd"(port));
    return val;
}

static inline uint64_t kg_rdtsc(void)
{
    uint32_t lo, hi;

    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

/* Hardware: serial console, interrupt controller, timer. */
void kg_serial_init(void);
void kg_putc(char c);
void kg_puts(const char *s);
void kg_put_u64(uint64_t v);
void kg_put_hex32(uint32_t v);
void kg_put_hex64(uint64_t v);
void kg_interrupts_init(void);
void kg_timer_start(uint32_t hz);
void kg_wait_tick(uint32_t seen);
void kg_halt_forever(void) __attribute__((noreturn));

/* The disk writer (kvmc-guest-disk.c): rate in KiB/s of writes (0 =
 * off), the PCI slot of the disk (0 = the first virtio-blk disk), the
 * number of 4 KiB blocks it cycles over, the period of its write latency
 * reports in ms (0 = off). */
void kg_disk_init(uint32_t rate_kib, uint32_t slot, uint32_t blocks,
                  uint64_t boot_id, uint32_t lat_ms);
void kg_disk_tick(uint32_t ticks);
void kg_disk_report(void);

/* Called from the assembly stubs. */
void kg_timer_irq(void);
void kg_other_irq(uint32_t vector);
void kg_exception(uint32_t vector, uint32_t error, uint32_t eip)
    __attribute__((noreturn));
void kg_main(uint32_t magic, uint32_t mbi_addr) __attribute__((noreturn));

/* The compiler may emit calls to these even in freestanding mode. */
void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);

#endif
