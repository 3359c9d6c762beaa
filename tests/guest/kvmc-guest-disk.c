/*
 * The test guest's disk writer: a legacy (transitional) virtio-blk driver,
 * polled, one request at a time, that writes generation-stamped 4 KiB
 * blocks over the first `dblocks` blocks of a disk at a paced rate and
 * reads them back.
 *
 * Invariant the reader checks: block b holds the pattern of (boot, b, g)
 * where g = gens[b], the generation of the last write of b the device
 * completed. A write is counted only once the device has put it in the
 * used ring, and the next request is submitted only after that, so a
 * write the storage lost, tore (part old, part new) or reordered behind
 * a later one leaves a block that does not match, and the reader names
 * it. The table lives in guest memory: it moves with the guest in a live
 * or quick migration, so a storage move is checked across the switch.
 * The boot id is part of the pattern, so blocks left by an earlier boot
 * (a failover restarts the guest on the same disk) never pass as new.
 *
 * Hot-plug: without a disk the writer scans PCI bus 0 once a second, so
 * a disk added by device_add is found; a device the firmware did not set
 * up gets its I/O BAR here. The guest has no ACPI interpreter, so it
 * answers QEMU's ACPI PCI hot-unplug requests itself: it polls the PIIX4
 * hot-plug block's "down" register and ejects each slot named there
 * (stopping its own use of the disk first), which is what lets device_del
 * finish (DEVICE_DELETED) on this guest.
 *
 * Latency (dlat=<ms>): each write's time from submit to the completion
 * the writer sees, from the TSC calibrated once against the HPET (QEMU's
 * pc machine has one; the PIT tick, 10 ms, without it), goes into a
 * histogram of four buckets per power of two microseconds, printed and
 * cleared every dlat ms. The TSC, not the HPET, times the writes: an
 * HPET read is an exit to QEMU that takes its big lock, which the I/O
 * completion needs too. A request is polled for at most DLAT_SPIN_US (the
 * count-bound spin without dlat=, which is shorter); one still in flight
 * then is seen at the next tick, so a latency above the spin is known to
 * the tick only. Off by default: the other tests keep the writer they
 * know.
 */
#include "kvmc-guest.h"

#define PCI_ADDR 0xcf8u
#define PCI_DATA 0xcfcu

#define VIRTIO_VENDOR     0x1af4u
#define VIRTIO_BLK_LEGACY 0x1001u

/* Legacy virtio-pci I/O registers (MSI-X off: config at 20). */
#define VP_HOST_FEATURES  0x00u
#define VP_GUEST_FEATURES 0x04u
#define VP_QUEUE_PFN      0x08u
#define VP_QUEUE_NUM      0x0cu
#define VP_QUEUE_SEL      0x0eu
#define VP_QUEUE_NOTIFY   0x10u
#define VP_STATUS         0x12u
#define VP_ISR            0x13u
#define VP_CONFIG         0x14u

#define VS_ACK       1u
#define VS_DRIVER    2u
#define VS_DRIVER_OK 4u
#define VS_FAILED    128u

#define VRING_DESC_F_NEXT     1u
#define VRING_DESC_F_WRITE    2u
#define VRING_AVAIL_F_NO_INTR 1u
#define VRING_MAX             256u

#define VBLK_T_IN  0u
#define VBLK_T_OUT 1u

/* QEMU's ACPI PCI hot-plug block of the pc machine (PIIX4 PM). */
#define PCIHP_DOWN 0xae04u
#define PCIHP_EJ   0xae08u
#define PCIHP_SEL  0xae10u

/* I/O space this guest hands to the BAR of a hot-plugged disk: below the
 * firmware's window (0xc000) and clear of the ACPI blocks at 0xaxxx. */
#define HOTPLUG_IO_BASE 0x9000u
#define HOTPLUG_IO_STEP 0x80u

#define BLOCK_SIZE   4096u
#define BLOCK_WORDS  (BLOCK_SIZE / 4u)
#define BLOCK_MAGIC  0x444d564bu /* "KVMD" */
#define DBLOCKS_MAX  65536u
#define SPIN_POLLS   20000u
#define RESCAN_TICKS KG_HZ

/* The HPET (QEMU pc: at 0xfed00000, 100 MHz); not on without dlat=. */
#define HPET_BASE     0xfed00000u
#define HPET_CAP      0x000u
#define HPET_PERIOD   0x004u /* femtoseconds per count */
#define HPET_CONFIG   0x010u
#define HPET_COUNTER  0x0f0u
#define DLAT_SPIN_US  3000u
#define DLAT_CALIB_US 10000u
#define DLAT_BUCKETS  128u

struct vring_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct vblk_hdr {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

enum kg_disk_op { OP_NONE, OP_WRITE, OP_READ };

/* The ring (legacy layout: 4 KiB aligned, used ring on the next page
 * boundary; room for the largest queue QEMU offers by default). */
static uint8_t kd_ring[4 * KG_PAGE_SIZE] __attribute__((aligned(4096)));
static uint32_t kd_buf[BLOCK_WORDS] __attribute__((aligned(4096)));
static struct vblk_hdr kd_hdr __attribute__((aligned(16)));
static volatile uint8_t kd_status;
static uint32_t kd_gens[DBLOCKS_MAX];

static struct {
    uint32_t rate_kib; /* writes per second in KiB; reads the same */
    uint32_t want_slot;
    uint32_t want_blocks;
    uint64_t boot_id;

    int bound;
    uint32_t slot;
    uint16_t io;
    uint32_t qsize;
    struct vring_desc *desc;
    volatile uint16_t *avail; /* flags, idx, ring[] */
    volatile uint16_t *used;  /* flags, idx, then {id, len} pairs */
    uint16_t avail_idx;
    uint16_t used_seen;
    uint32_t blocks;
    uint64_t capacity; /* in 512-byte sectors */

    enum kg_disk_op op; /* the request in flight */
    uint32_t op_block;
    uint32_t op_gen;
    int next_read; /* read the next block before writing it */

    uint32_t credit;
    uint32_t rescan_at;
    uint32_t write_cursor;
    uint64_t writes;
    uint64_t reads;
    uint32_t errors; /* requests the device failed */
    int failed;
    uint32_t fail_block;

    uint32_t lat_ms;    /* latency report period, 0 = off */
    uint32_t lat_tsc16; /* TSC counts per us / 16, 0 = not calibrated */
    uint64_t lat_start; /* clock at the write's submit */
    uint32_t lat_next;  /* tick of the next latency report */
    uint32_t lat_n;     /* writes in the histogram */
    uint32_t lat_max;   /* longest of them, microseconds */
    uint32_t lat_hist[DLAT_BUCKETS];
} kd;

static inline void kd_outw(uint16_t port, uint16_t val)
{
    __asm__ volatile("outw %0, %1" : : "a"(val), "Nd"(port));
}

static inline uint16_t kd_inw(uint16_t port)
{
    uint16_t val;

    __asm__ volatile("inw %1, %0" : "=a"(val) : "Nd"(port));
    return val;
}

static inline void kd_outl(uint16_t port, uint32_t val)
{
    __asm__ volatile("outl %0, %1" : : "a"(val), "Nd"(port));
}

static inline uint32_t kd_inl(uint16_t port)
{
    uint32_t val;

    __asm__ volatile("inl %1, %0" : "=a"(val) : "Nd"(port));
    return val;
}

static inline void kd_barrier(void)
{
    __asm__ volatile("" ::: "memory");
}

static inline uint32_t kd_hpet_read(uint32_t reg)
{
    return *(volatile uint32_t *)(HPET_BASE + reg);
}

/* The latency clock: the TSC (no exit to QEMU, even under TCG), or PIT
 * ticks when it could not be calibrated. */
static uint64_t kd_lat_now(void)
{
    return kd.lat_tsc16 ? kg_rdtsc() : kg_ticks;
}

static uint32_t kd_lat_us(uint64_t start)
{
    uint64_t d = kd_lat_now() - start;

    if (!kd.lat_tsc16)
        return (uint32_t)d * (1000000u / KG_HZ);
    /* In 16-count units so the division stays 32-bit (no libgcc). */
    d >>= 4;
    return (d > 0xffffffffull ? 0xffffffffu : (uint32_t)d) / kd.lat_tsc16;
}

/* Calibrates the TSC against the HPET's main counter over 10 ms, if the
 * device answers like QEMU's HPET: Intel's vendor id, a period of at
 * most 1 us (QEMU's: 10 ns). Its timers stay off: no interrupts. */
static void kd_lat_init(void)
{
    uint32_t cap = kd_hpet_read(HPET_CAP);
    uint32_t period = kd_hpet_read(HPET_PERIOD);
    uint32_t per_us, h0, k0;
    uint64_t t0, t1;

    kd.lat_tsc16 = 0;
    if (cap >> 16 != 0x8086u || period == 0 || period > 1000000000u)
        return;
    *(volatile uint32_t *)(HPET_BASE + HPET_CONFIG) =
        kd_hpet_read(HPET_CONFIG) | 1u;
    per_us = 1000000000u / period;
    h0 = kd_hpet_read(HPET_COUNTER);
    t0 = kg_rdtsc();
    k0 = kg_ticks;
    /* Bounded by the PIT too: a counter that does not count is no clock. */
    while (kd_hpet_read(HPET_COUNTER) - h0 < DLAT_CALIB_US * per_us)
        if (kg_ticks - k0 > 10u)
            return;
    t1 = kg_rdtsc();
    /* A TSC of at least 16 MHz, its 10 ms count within 32 bits. */
    if (t1 - t0 > 0xffffffffull)
        return;
    kd.lat_tsc16 = (uint32_t)(t1 - t0) / DLAT_CALIB_US / 16u;
}

/* Bucket of a latency: exact below 4 us, then four per power of two. */
static uint32_t kd_lat_bucket(uint32_t us)
{
    uint32_t e = 31u - (uint32_t)__builtin_clz(us | 1u);
    uint32_t b;

    if (us < 4u)
        return us;
    b = 4u * (e - 1u) + ((us >> (e - 2u)) & 3u);
    return b < DLAT_BUCKETS ? b : DLAT_BUCKETS - 1u;
}

/* The lowest latency of bucket b, microseconds. */
static uint32_t kd_lat_floor(uint32_t b)
{
    uint32_t e = b / 4u + 1u;

    if (b < 4u)
        return b;
    return (4u | (b & 3u)) << (e - 2u);
}

static void kd_lat_record(void)
{
    uint32_t us = kd_lat_us(kd.lat_start);

    kd.lat_hist[kd_lat_bucket(us)]++;
    kd.lat_n++;
    if (us > kd.lat_max)
        kd.lat_max = us;
}

/* KVMC dlat line: the writes completed since the last one. */
static void kd_lat_report(void)
{
    int first = 1;

    kg_puts("KVMC dlat at=");
    kg_put_u64(kg_ticks);
    kg_puts(" clock=");
    kg_puts(kd.lat_tsc16 ? "tsc" : "pit");
    kg_puts(" n=");
    kg_put_u64(kd.lat_n);
    kg_puts(" max=");
    kg_put_u64(kd.lat_max);
    kg_puts(" us=");
    for (uint32_t b = 0; b < DLAT_BUCKETS; b++) {
        if (!kd.lat_hist[b])
            continue;
        if (!first)
            kg_putc(',');
        first = 0;
        kg_put_u64(kd_lat_floor(b));
        kg_putc(':');
        kg_put_u64(kd.lat_hist[b]);
        kd.lat_hist[b] = 0;
    }
    if (first)
        kg_putc('-');
    kg_puts("\n");
    kd.lat_n = 0;
    kd.lat_max = 0;
}

static uint32_t kd_cfg_read(uint32_t slot, uint32_t reg)
{
    kd_outl(PCI_ADDR, 0x80000000u | slot << 11 | (reg & 0xfcu));
    return kd_inl(PCI_DATA);
}

static void kd_cfg_write(uint32_t slot, uint32_t reg, uint32_t val)
{
    kd_outl(PCI_ADDR, 0x80000000u | slot << 11 | (reg & 0xfcu));
    kd_outl(PCI_DATA, val);
}

static void kd_event(const char *what)
{
    kg_puts("KVMC disk ");
    kg_puts(what);
    kg_puts(" slot=");
    kg_put_u64(kd.slot);
    if (kd.bound) {
        kg_puts(" blocks=");
        kg_put_u64(kd.blocks);
        kg_puts(" capacity=");
        kg_put_u64(kd.capacity);
    }
    kg_puts("\n");
}

/* Seed of a block's pattern: (boot, block, generation) mixed. */
static uint32_t kd_seed(uint32_t block, uint32_t gen)
{
    uint32_t h = (uint32_t)kd.boot_id ^ (uint32_t)(kd.boot_id >> 32);

    h ^= block * 0x9e3779b1u;
    h ^= (gen + 0x632be5abu) * 0x85ebca77u;
    h ^= h >> 15;
    h *= 0x2c1b3c6du;
    h ^= h >> 12;
    h *= 0x297a2d39u;
    h ^= h >> 15;
    return h;
}

static void kd_fill(uint32_t block, uint32_t gen)
{
    uint32_t v = kd_seed(block, gen);
    uint32_t step = (v >> 7) | 1u;

    kd_buf[0] = BLOCK_MAGIC;
    kd_buf[1] = block;
    kd_buf[2] = gen;
    kd_buf[3] = (uint32_t)kd.boot_id;
    for (uint32_t i = 4; i < BLOCK_WORDS; i++) {
        kd_buf[i] = v;
        v += step;
    }
}

static void kd_check(uint32_t block)
{
    uint32_t gen = kd_gens[block];
    uint32_t v = kd_seed(block, gen);
    uint32_t step = (v >> 7) | 1u;
    uint32_t bad = BLOCK_WORDS;
    uint32_t want = 0;

    if (gen == 0)
        return; /* its write failed: nothing to expect (counted as ioerr) */
    if (kd_buf[0] != BLOCK_MAGIC) {
        bad = 0;
        want = BLOCK_MAGIC;
    } else if (kd_buf[1] != block) {
        bad = 1;
        want = block;
    } else if (kd_buf[2] != gen) {
        bad = 2;
        want = gen;
    } else if (kd_buf[3] != (uint32_t)kd.boot_id) {
        bad = 3;
        want = (uint32_t)kd.boot_id;
    }
    for (uint32_t i = 4; i < BLOCK_WORDS && bad == BLOCK_WORDS; i++) {
        if (kd_buf[i] != v) {
            bad = i;
            want = v;
        }
        v += step;
    }
    if (bad == BLOCK_WORDS || kd.failed)
        return;
    /* Sticky, like the memory verifier: the first bad block stays. */
    kd.failed = 1;
    kd.fail_block = block;
    kg_puts("KVMC ERROR disk block=");
    kg_put_u64(block);
    kg_puts(" word=");
    kg_put_u64(bad);
    kg_puts(" gen=");
    kg_put_u64(gen);
    kg_puts(" expected=");
    kg_put_hex32(want);
    kg_puts(" found=");
    kg_put_hex32(kd_buf[bad]);
    kg_puts(" found-gen=");
    kg_put_u64(kd_buf[2]);
    kg_puts("\n");
}

/* Give a BAR the firmware left unassigned (a hot-plugged device) an I/O
 * range of its own, derived from the slot so two never overlap. */
static uint16_t kd_io_base(uint32_t slot)
{
    uint32_t bar = kd_cfg_read(slot, 0x10);

    if (!(bar & 1u))
        return 0;
    if ((bar & ~3u) == 0) {
        bar = HOTPLUG_IO_BASE + slot * HOTPLUG_IO_STEP;
        kd_cfg_write(slot, 0x10, bar);
        bar = kd_cfg_read(slot, 0x10);
    }
    /* I/O space and bus mastering on; INTx off (we poll). */
    kd_cfg_write(slot, 0x04, (kd_cfg_read(slot, 0x04) & 0xffffu) | 0x0405u);
    return (uint16_t)(bar & 0xfffcu);
}

static int kd_setup(uint32_t slot)
{
    uint16_t io = kd_io_base(slot);
    uint32_t q;
    uint32_t used_at;

    if (!io)
        return -1;
    kg_outb(io + VP_STATUS, 0);
    kg_outb(io + VP_STATUS, VS_ACK);
    kg_outb(io + VP_STATUS, VS_ACK | VS_DRIVER);
    (void)kd_inl(io + VP_HOST_FEATURES);
    kd_outl(io + VP_GUEST_FEATURES, 0);
    kd_outw(io + VP_QUEUE_SEL, 0);
    q = kd_inw(io + VP_QUEUE_NUM);
    if (q == 0 || q > VRING_MAX || (q & (q - 1))) {
        kg_outb(io + VP_STATUS, VS_FAILED);
        return -1;
    }
    memset(kd_ring, 0, sizeof(kd_ring));
    kd.io = io;
    kd.qsize = q;
    kd.desc = (struct vring_desc *)kd_ring;
    kd.avail = (volatile uint16_t *)(kd_ring + 16u * q);
    used_at =
        (16u * q + 6u + 2u * q + KG_PAGE_SIZE - 1u) & ~(KG_PAGE_SIZE - 1u);
    kd.used = (volatile uint16_t *)(kd_ring + used_at);
    kd.avail[0] = VRING_AVAIL_F_NO_INTR;
    kd.avail_idx = 0;
    kd.used_seen = 0;
    kd_outl(io + VP_QUEUE_PFN, (uint32_t)kd_ring / KG_PAGE_SIZE);
    kd.capacity = (uint64_t)kd_inl(io + VP_CONFIG) |
                  (uint64_t)kd_inl(io + VP_CONFIG + 4) << 32;
    kg_outb(io + VP_STATUS, VS_ACK | VS_DRIVER | VS_DRIVER_OK);

    kd.slot = slot;
    kd.blocks = (uint32_t)(kd.capacity / (BLOCK_SIZE / 512u) < kd.want_blocks
                               ? kd.capacity / (BLOCK_SIZE / 512u)
                               : kd.want_blocks);
    kd.op = OP_NONE;
    kd.next_read = 0;
    kd.write_cursor = 0;
    memset(kd_gens, 0, sizeof(kd_gens));
    kd.bound = kd.blocks > 0;
    kd_event(kd.bound ? "found" : "too-small");
    return kd.bound ? 0 : -1;
}

static void kd_scan(void)
{
    for (uint32_t slot = 1; slot < 32; slot++) {
        uint32_t id = kd_cfg_read(slot, 0);

        if ((id & 0xffffu) != VIRTIO_VENDOR || id >> 16 != VIRTIO_BLK_LEGACY)
            continue;
        if (kd.want_slot && slot != kd.want_slot)
            continue;
        if (kd_setup(slot) == 0)
            return;
    }
}

static void kd_submit(enum kg_disk_op op, uint32_t block)
{
    uint16_t head = (uint16_t)((kd.avail_idx * 3u) % kd.qsize);
    uint16_t mid = (uint16_t)((head + 1u) % kd.qsize);
    uint16_t tail = (uint16_t)((head + 2u) % kd.qsize);

    kd_hdr.type = op == OP_WRITE ? VBLK_T_OUT : VBLK_T_IN;
    kd_hdr.reserved = 0;
    kd_hdr.sector = (uint64_t)block * (BLOCK_SIZE / 512u);
    kd_status = 0xff;
    kd.desc[head].addr = (uint32_t)&kd_hdr;
    kd.desc[head].len = sizeof(kd_hdr);
    kd.desc[head].flags = VRING_DESC_F_NEXT;
    kd.desc[head].next = mid;
    kd.desc[mid].addr = (uint32_t)kd_buf;
    kd.desc[mid].len = BLOCK_SIZE;
    kd.desc[mid].flags =
        VRING_DESC_F_NEXT | (op == OP_READ ? VRING_DESC_F_WRITE : 0u);
    kd.desc[mid].next = tail;
    kd.desc[tail].addr = (uint32_t)&kd_status;
    kd.desc[tail].len = 1;
    kd.desc[tail].flags = VRING_DESC_F_WRITE;
    kd.desc[tail].next = 0;
    kd.avail[2u + kd.avail_idx % kd.qsize] = head;
    kd_barrier();
    kd.avail_idx++;
    kd.avail[1] = kd.avail_idx;
    kd_barrier();
    kd.op = op;
    kd.op_block = block;
    if (kd.lat_ms)
        kd.lat_start = kd_lat_now();
    kd_outw(kd.io + VP_QUEUE_NOTIFY, 0);
}

/* Finish the request in flight if the device is done with it. */
static int kd_complete(void)
{
    kd_barrier();
    if (kd.used[1] == kd.used_seen)
        return 0;
    kd.used_seen++;
    (void)kg_inb(kd.io + VP_ISR);
    if (kd_status != 0) {
        kd.errors++;
    } else if (kd.op == OP_WRITE) {
        kd_gens[kd.op_block] = kd.op_gen;
        kd.writes++;
        if (kd.lat_ms)
            kd_lat_record();
    } else {
        kd_check(kd.op_block);
        kd.reads++;
    }
    kd.op = OP_NONE;
    return 1;
}

/* Answer the ACPI hot-unplug requests of bus 0 (see the top comment). */
static void kd_unplug_requests(void)
{
    uint32_t down = kd_inl(PCIHP_DOWN);

    if (down == 0 || down == 0xffffffffu)
        return;
    for (uint32_t slot = 1; slot < 32; slot++) {
        if (!(down & (1u << slot)))
            continue;
        if (kd.bound && slot == kd.slot) {
            kg_outb(kd.io + VP_STATUS, 0);
            kd.bound = 0;
            kd.op = OP_NONE;
            kd_event("removed");
        }
        kd_outl(PCIHP_EJ, 1u << slot);
    }
}

void kg_disk_init(uint32_t rate_kib, uint32_t slot, uint32_t blocks,
                  uint64_t boot_id, uint32_t lat_ms)
{
    kd.rate_kib = rate_kib;
    kd.want_slot = slot;
    kd.want_blocks = blocks > DBLOCKS_MAX ? DBLOCKS_MAX : blocks;
    kd.boot_id = boot_id;
    kd.lat_ms = rate_kib ? lat_ms : 0;
    if (kd.lat_ms) {
        kd_lat_init();
        kd.lat_next = kg_ticks + kd.lat_ms * KG_HZ / 1000u;
    }
    kd_outl(PCIHP_SEL, 0);
    if (rate_kib)
        kd_scan();
    kd.rescan_at = kg_ticks + RESCAN_TICKS;
}

void kg_disk_tick(uint32_t ticks)
{
    kd_unplug_requests();
    if (!kd.rate_kib)
        return;
    if (kd.lat_ms && (int32_t)(kg_ticks - kd.lat_next) >= 0) {
        kd_lat_report();
        kd.lat_next += kd.lat_ms * KG_HZ / 1000u;
        if ((int32_t)(kg_ticks - kd.lat_next) >= 0)
            kd.lat_next = kg_ticks + kd.lat_ms * KG_HZ / 1000u;
    }
    if (!kd.bound) {
        if ((int32_t)(kg_ticks - kd.rescan_at) >= 0) {
            kd.rescan_at = kg_ticks + RESCAN_TICKS;
            kd_scan();
        }
        if (!kd.bound)
            return;
    }
    /* Credit in requests * KG_HZ: a read and a write per 4 KiB. */
    kd.credit += kd.rate_kib / 4u * 2u * ticks;
    if (kd.credit > 2u * KG_HZ * 64u)
        kd.credit = 2u * KG_HZ * 64u;
    for (;;) {
        if (kd.op != OP_NONE) {
            uint32_t spins = 0;

            if (kd.lat_ms && kd.lat_tsc16)
                while (!kd_complete() && kd_lat_us(kd.lat_start) < DLAT_SPIN_US)
                    __asm__ volatile("pause");
            else
                while (!kd_complete() && ++spins < SPIN_POLLS)
                    __asm__ volatile("pause");
            if (kd.op != OP_NONE)
                return; /* still in flight: look again next tick */
        }
        if (kd.credit < KG_HZ)
            return;
        kd.credit -= KG_HZ;
        if (kd.next_read) {
            /* Its last write, read just before the next one: every
             * block is checked after the longest time it was left
             * alone (a whole cycle, a migration in between). */
            kd_submit(OP_READ, kd.write_cursor);
            kd.next_read = 0;
        } else {
            uint32_t b = kd.write_cursor;

            kd.op_gen = kd_gens[b] + 1u;
            kd_fill(b, kd.op_gen);
            kd_submit(OP_WRITE, b);
            if (++kd.write_cursor == kd.blocks)
                kd.write_cursor = 0;
            kd.next_read = kd_gens[kd.write_cursor] != 0;
        }
    }
}

void kg_disk_report(void)
{
    if (!kd.rate_kib) {
        kg_puts(" disk=off");
        return;
    }
    if (kd.failed) {
        kg_puts(" disk=FAIL block=");
        kg_put_u64(kd.fail_block);
    } else if (!kd.bound) {
        kg_puts(" disk=none");
    } else if (kd.errors) {
        kg_puts(" disk=ioerr");
    } else {
        kg_puts(" disk=ok");
    }
    kg_puts(" dw=");
    kg_put_u64(kd.writes);
    kg_puts(" dr=");
    kg_put_u64(kd.reads);
}
