/*
 * The test guest's workload: a working set of 4 KiB pages that it dirties
 * at a requested rate and verifies at another, reporting on COM1.
 *
 * Invariant the verifier checks: page p always holds the pattern of (p, g)
 * (kg_stamp) where g = kg.gens[p], its write generation. The generation table
 * lives outside the working set, so memory that arrives damaged, stale or
 * shuffled after a migration or a save/restore breaks the invariant and
 * the verifier names the page. See README for the serial protocol.
 */
#include "kvmc-guest.h"

#define MB_BOOT_MAGIC     0x2badb002u
#define MB_INFO_MEM       (1u << 0)
#define MB_INFO_CMDLINE   (1u << 2)
#define MB_INFO_MMAP      (1u << 6)
#define MB_MMAP_AVAILABLE 1u

#define PAGE_WORDS    (KG_PAGE_SIZE / 4u)
#define PAGES_PER_MIB 256u
#define PAGE_MAGIC    0x434d564bu /* "KVMC" */
#define FNV_OFFSET    0x811c9dc5u
#define FNV_PRIME     0x01000193u

#define CMDLINE_MAX 512u

/* Multiboot v1 information, only the fields we read. */
struct mb_info {
    uint32_t flags;
    uint32_t mem_lower;
    uint32_t mem_upper;
    uint32_t boot_device;
    uint32_t cmdline;
    uint32_t mods_count;
    uint32_t mods_addr;
    uint32_t syms[4];
    uint32_t mmap_length;
    uint32_t mmap_addr;
};

struct mb_mmap_entry {
    uint32_t size; /* of the rest of the entry */
    uint64_t base;
    uint64_t length;
    uint32_t type;
} __attribute__((packed));

struct kg_config {
    uint32_t wss_mib;
    uint32_t rate_mib;
    uint32_t report_ms;
    uint32_t verify_mib;
    uint32_t disk_kib;
    uint32_t disk_slot;
    uint32_t disk_blocks;
    uint32_t disk_lat_ms;
};

struct kg_option {
    const char *key;
    uint32_t min;
    uint32_t max;
    size_t offset;
};

/*
 * Rates are capped at 64 GiB/s so that rate * 256 pages * KG_HZ ticks of
 * credit fits 32 bits (see kg_take_pages).
 */
static const struct kg_option kg_options[] = {
    {"wss", 1, 4095, __builtin_offsetof(struct kg_config, wss_mib)},
    {"rate", 0, 65536, __builtin_offsetof(struct kg_config, rate_mib)},
    {"report", 10, 3600000, __builtin_offsetof(struct kg_config, report_ms)},
    {"verify", 0, 65536, __builtin_offsetof(struct kg_config, verify_mib)},
    {"disk", 0, 65536, __builtin_offsetof(struct kg_config, disk_kib)},
    {"dslot", 0, 31, __builtin_offsetof(struct kg_config, disk_slot)},
    {"dblocks", 1, 65536, __builtin_offsetof(struct kg_config, disk_blocks)},
    {"dlat", 0, 3600000, __builtin_offsetof(struct kg_config, disk_lat_ms)},
};

/* Symbol from the linker script: first byte after the kernel's bss. */
extern char kg_image_end[];

static struct {
    struct kg_config cfg;
    uint64_t boot_id;
    uint32_t mem_mib;
    uint32_t npages;
    uint32_t *gens; /* per-page write generation */
    uint32_t *ws;   /* the working set, npages * PAGE_WORDS words */
    uint64_t dirty_total;
    uint32_t dirty_cursor;
    uint32_t dirty_stride; /* coprime to npages */
    uint32_t dirty_credit; /* in pages * KG_HZ */
    uint32_t verify_cursor;
    uint32_t verify_credit;
    uint32_t passes;
    uint32_t sum_running;
    uint32_t sum_last;
    int failed;
    uint32_t fail_page;
} kg;

static char kg_cmdline[CMDLINE_MAX];

static void kg_fatal(const char *what, const char *detail)
    __attribute__((noreturn));

static void kg_fatal(const char *what, const char *detail)
{
    kg_puts("KVMC ERROR ");
    kg_puts(what);
    if (detail) {
        kg_puts(": ");
        kg_puts(detail);
    }
    kg_puts("\n");
    kg_halt_forever();
}

static int kg_streq_n(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i] || !a[i])
            return 0;
    return b[n] == '\0';
}

/* Parse one "key=value" token of length len; the token is NUL-free. */
static void kg_parse_option(const char *tok, size_t len)
{
    size_t klen = 0;
    uint32_t value = 0;
    size_t i;

    while (klen < len && tok[klen] != '=')
        klen++;
    for (i = 0; i < sizeof(kg_options) / sizeof(kg_options[0]); i++)
        if (klen < len && kg_streq_n(tok, kg_options[i].key, klen))
            break;
    if (i == sizeof(kg_options) / sizeof(kg_options[0]))
        kg_fatal("unknown option (known: wss= rate= report= verify= disk= "
                 "dslot= dblocks= dlat=)",
                 tok);
    if (klen + 1 == len)
        kg_fatal("option without a value", tok);
    for (size_t j = klen + 1; j < len; j++) {
        if (tok[j] < '0' || tok[j] > '9')
            kg_fatal("option value is not a decimal number", tok);
        if (value > 429496728u)
            kg_fatal("option value too large", tok);
        value = value * 10u + (uint32_t)(tok[j] - '0');
    }
    if (value < kg_options[i].min || value > kg_options[i].max)
        kg_fatal("option value out of range", tok);
    *(uint32_t *)((char *)&kg.cfg + kg_options[i].offset) = value;
}

/*
 * QEMU and GRUB put the image path first on the multiboot command line;
 * skip it when it is not an option, and reject anything unknown after it
 * so a typo never silently runs the defaults.
 */
static void kg_parse_cmdline(void)
{
    char *p = kg_cmdline;
    int first = 1;

    while (*p) {
        char *tok;
        size_t len;
        int has_eq = 0;

        while (*p == ' ')
            p++;
        if (!*p)
            break;
        tok = p;
        while (*p && *p != ' ') {
            if (*p == '=')
                has_eq = 1;
            p++;
        }
        len = (size_t)(p - tok);
        if (*p)
            *p++ = '\0';
        if (first && !has_eq) {
            first = 0;
            continue;
        }
        first = 0;
        kg_parse_option(tok, len);
    }
}

static uint32_t kg_align_up(uint32_t v, uint32_t a)
{
    return (v + a - 1) & ~(a - 1);
}

/*
 * Find how far usable RAM extends contiguously from `start`, from the
 * BIOS memory map when the loader gave one, else from mem_upper.
 */
static uint64_t kg_usable_end(const struct mb_info *mbi, uint32_t start,
                              uint64_t *ret_total)
{
    uint64_t end = 0;
    uint64_t total = 0;

    if (mbi->flags & MB_INFO_MMAP) {
        uint32_t at = mbi->mmap_addr;
        uint32_t stop = mbi->mmap_addr + mbi->mmap_length;

        while (at < stop) {
            const struct mb_mmap_entry *e = (const void *)at;

            if (e->type == MB_MMAP_AVAILABLE) {
                total += e->length;
                if (e->base <= start && e->base + e->length > start)
                    end = e->base + e->length;
            }
            at += e->size + 4u;
        }
    } else if (mbi->flags & MB_INFO_MEM) {
        end = 0x100000ull + (uint64_t)mbi->mem_upper * 1024u;
        total = end;
    } else {
        kg_fatal("the boot loader gave no memory information", 0);
    }
    *ret_total = total;
    return end;
}

static void kg_read_multiboot(uint32_t magic, const struct mb_info *mbi)
{
    if (magic != MB_BOOT_MAGIC)
        kg_fatal("not started by a multiboot loader", 0);
    if (mbi->flags & MB_INFO_CMDLINE) {
        const char *src = (const char *)mbi->cmdline;
        size_t i = 0;

        while (src[i] && i < CMDLINE_MAX - 1) {
            kg_cmdline[i] = src[i];
            i++;
        }
        kg_cmdline[i] = '\0';
    }
}

/*
 * Lay out the generation table right after the kernel image and the
 * working set after it. This is done after the command line was copied:
 * QEMU puts the multiboot data just behind the image.
 */
static void kg_layout(const struct mb_info *mbi)
{
    uint32_t gens_at = kg_align_up((uint32_t)kg_image_end, KG_PAGE_SIZE);
    uint32_t ws_at;
    uint64_t ws_end;
    uint64_t total;
    uint64_t end;

    kg.npages = kg.cfg.wss_mib * PAGES_PER_MIB;
    ws_at = kg_align_up(gens_at + kg.npages * 4u, KG_PAGE_SIZE);
    ws_end = (uint64_t)ws_at + (uint64_t)kg.npages * KG_PAGE_SIZE;
    end = kg_usable_end(mbi, gens_at, &total);
    kg.mem_mib = (uint32_t)((total + (1u << 19)) >> 20);
    if (ws_end > end || ws_end > 0xffffffffull) {
        kg_puts("KVMC ERROR wss=");
        kg_put_u64(kg.cfg.wss_mib);
        kg_puts(" MiB does not fit: usable ");
        kg_put_u64(end > gens_at ? (end - gens_at) >> 20 : 0);
        kg_puts(" MiB from 0x");
        kg_put_hex32(gens_at);
        kg_puts(" needs ");
        kg_put_u64((ws_end - gens_at + 0xfffff) >> 20);
        kg_puts(" MiB (mem=");
        kg_put_u64(kg.mem_mib);
        kg_puts(")\n");
        kg_halt_forever();
    }
    kg.gens = (uint32_t *)gens_at;
    kg.ws = (uint32_t *)ws_at;
}

/* Per-page seed of the pattern: a 32-bit mix of (page, generation). */
static uint32_t kg_seed(uint32_t page, uint32_t gen)
{
    uint32_t h = page * 0x9e3779b1u ^ (gen + 0x7f4a7c15u) * 0x85ebca77u;

    h ^= h >> 15;
    h *= 0x2c1b3c6du;
    h ^= h >> 12;
    h *= 0x297a2d39u;
    h ^= h >> 15;
    return h;
}

/*
 * Page layout: magic, page index, generation, then an arithmetic sequence
 * from the seed with an odd step derived from it (cheap under TCG, and
 * different for every (page, generation)).
 */
static void kg_stamp(uint32_t page)
{
    uint32_t *w = kg.ws + page * PAGE_WORDS;
    uint32_t gen = kg.gens[page];
    uint32_t v = kg_seed(page, gen);
    uint32_t step = (v >> 7) | 1u;

    w[0] = PAGE_MAGIC;
    w[1] = page;
    w[2] = gen;
    for (uint32_t i = 3; i < PAGE_WORDS; i++) {
        w[i] = v;
        v += step;
    }
}

static void kg_report_mismatch(uint32_t page, uint32_t word, uint32_t want,
                               uint32_t got)
{
    kg_puts("KVMC ERROR verify page=");
    kg_put_u64(page);
    kg_puts(" word=");
    kg_put_u64(word);
    kg_puts(" gen=");
    kg_put_u64(kg.gens[page]);
    kg_puts(" expected=");
    kg_put_hex32(want);
    kg_puts(" found=");
    kg_put_hex32(got);
    kg_puts("\n");
}

/* Check one page against its generation and fold it into the checksum. */
static void kg_verify_page(uint32_t page)
{
    const uint32_t *w = kg.ws + page * PAGE_WORDS;
    uint32_t gen = kg.gens[page];
    uint32_t v = kg_seed(page, gen);
    uint32_t step = (v >> 7) | 1u;
    uint32_t sum = kg.sum_running;
    uint32_t bad = PAGE_WORDS;
    uint32_t want = 0;

    if (w[0] != PAGE_MAGIC) {
        bad = 0;
        want = PAGE_MAGIC;
    } else if (w[1] != page) {
        bad = 1;
        want = page;
    } else if (w[2] != gen) {
        bad = 2;
        want = gen;
    }
    for (uint32_t i = 0; i < 3; i++)
        sum = (sum ^ w[i]) * FNV_PRIME;
    for (uint32_t i = 3; i < PAGE_WORDS; i++) {
        uint32_t x = w[i];

        if (x != v && bad == PAGE_WORDS) {
            bad = i;
            want = v;
        }
        sum = (sum ^ x) * FNV_PRIME;
        v += step;
    }
    kg.sum_running = sum;
    if (bad != PAGE_WORDS && !kg.failed) {
        /* Sticky: the first bad page is reported for the guest's life. */
        kg.failed = 1;
        kg.fail_page = page;
        kg_report_mismatch(page, bad, want, w[bad]);
    }
}

/* Turn elapsed ticks into a whole number of pages at rate MiB/s. */
static uint32_t kg_take_pages(uint32_t *credit, uint32_t rate_mib,
                              uint32_t ticks)
{
    uint32_t n;

    *credit += rate_mib * PAGES_PER_MIB * ticks;
    n = *credit / KG_HZ;
    *credit -= n * KG_HZ;
    return n;
}

static uint32_t kg_gcd(uint32_t a, uint32_t b)
{
    while (b) {
        uint32_t t = a % b;

        a = b;
        b = t;
    }
    return a;
}

/*
 * The dirtier visits pages in a stride permutation (a stride coprime to
 * the page count reaches every page once per cycle) rather than in the
 * verifier's sequential order: in lockstep, at equal rates, the verifier
 * would only ever check pages rewritten a moment before, and damage done
 * to older pages (say, by a migration) would be healed unseen.
 */
static uint32_t kg_dirty_stride(uint32_t npages)
{
    uint32_t stride = (uint32_t)(((uint64_t)npages * 0x9e3779b9u) >> 32) | 1u;

    while (kg_gcd(stride, npages) != 1)
        stride += 2;
    return stride % npages;
}

static void kg_dirty(uint32_t ticks)
{
    uint32_t n = kg_take_pages(&kg.dirty_credit, kg.cfg.rate_mib, ticks);

    while (n--) {
        uint32_t page = kg.dirty_cursor;

        kg.gens[page]++;
        kg_stamp(page);
        kg.dirty_total++;
        kg.dirty_cursor += kg.dirty_stride;
        if (kg.dirty_cursor >= kg.npages)
            kg.dirty_cursor -= kg.npages;
    }
}

static void kg_verify(uint32_t ticks)
{
    uint32_t n = kg_take_pages(&kg.verify_credit, kg.cfg.verify_mib, ticks);

    while (n--) {
        kg_verify_page(kg.verify_cursor);
        if (++kg.verify_cursor == kg.npages) {
            kg.verify_cursor = 0;
            kg.passes++;
            kg.sum_last = kg.sum_running;
            kg.sum_running = FNV_OFFSET;
            kg.dirty_stride = kg_dirty_stride(kg.npages);
        }
    }
}

static void kg_report(void)
{
    kg_puts("KVMC boot=");
    kg_put_hex64(kg.boot_id);
    kg_puts(" tick=");
    kg_put_u64(kg_ticks);
    kg_puts(" gen=");
    kg_put_u64(kg.dirty_total);
    kg_puts(" pass=");
    kg_put_u64(kg.passes);
    kg_puts(" sum=");
    kg_put_hex32(kg.sum_last);
    if (kg.failed) {
        kg_puts(" verify=FAIL page=");
        kg_put_u64(kg.fail_page);
    } else if (kg.cfg.verify_mib == 0) {
        kg_puts(" verify=off");
    } else {
        kg_puts(" verify=ok");
    }
    if (kg.cfg.disk_kib)
        kg_disk_report();
    kg_puts("\n");
}

static uint8_t kg_cmos(uint8_t reg)
{
    kg_outb(0x70, reg);
    return kg_inb(0x71);
}

/*
 * The boot id must differ between boots and survive migration (it lives
 * in guest memory). The TSC at boot varies with host timing; the RTC's
 * wall clock keeps two boots far apart in time distinct as well.
 */
static uint64_t kg_make_boot_id(void)
{
    uint64_t x = kg_rdtsc();

    x ^= (uint64_t)(kg_cmos(0x00) | kg_cmos(0x02) << 8 | kg_cmos(0x04) << 16 |
                    (uint32_t)kg_cmos(0x07) << 24)
         << 24;
    x ^= (uint64_t)(kg_cmos(0x08) | kg_cmos(0x09) << 8) << 56;
    /* splitmix64 finaliser (64-bit multiplies are inline on i386) */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x ? x : 1;
}

void kg_main(uint32_t magic, uint32_t mbi_addr)
{
    const struct mb_info *mbi = (const struct mb_info *)mbi_addr;
    uint32_t report_ticks;
    uint32_t next_report;
    uint32_t seen;

    kg.boot_id = kg_make_boot_id();
    kg_serial_init();
    kg_interrupts_init();
    kg.cfg.wss_mib = 64;
    kg.cfg.rate_mib = 64;
    kg.cfg.report_ms = 100;
    kg.cfg.verify_mib = 16;
    kg.cfg.disk_blocks = 256;
    kg_read_multiboot(magic, mbi);
    kg_parse_cmdline();
    kg_layout(mbi);

    /* Stamp the whole working set so every page is verifiable at once. */
    for (uint32_t p = 0; p < kg.npages; p++) {
        kg.gens[p] = 0;
        kg_stamp(p);
    }
    kg.sum_running = FNV_OFFSET;

    kg_puts("KVMC ready boot=");
    kg_put_hex64(kg.boot_id);
    kg_puts(" wss=");
    kg_put_u64(kg.cfg.wss_mib);
    kg_puts(" rate=");
    kg_put_u64(kg.cfg.rate_mib);
    kg_puts(" mem=");
    kg_put_u64(kg.mem_mib);
    kg_puts(" verify=");
    kg_put_u64(kg.cfg.verify_mib);
    kg_puts(" report=");
    kg_put_u64(kg.cfg.report_ms);
    kg_puts(" hz=");
    kg_put_u64(KG_HZ);
    kg_puts(" wsaddr=");
    kg_put_hex32((uint32_t)kg.ws);
    if (kg.cfg.disk_kib) {
        kg_puts(" disk=");
        kg_put_u64(kg.cfg.disk_kib);
        kg_puts(" dslot=");
        kg_put_u64(kg.cfg.disk_slot);
        kg_puts(" dblocks=");
        kg_put_u64(kg.cfg.disk_blocks);
        if (kg.cfg.disk_lat_ms) {
            kg_puts(" dlat=");
            kg_put_u64(kg.cfg.disk_lat_ms);
        }
    }
    kg_puts("\n");

    report_ticks = kg.cfg.report_ms * KG_HZ / 1000u;
    if (report_ticks == 0)
        report_ticks = 1;
    kg_timer_start(KG_HZ);
    /* Acknowledges hot-unplug requests even with the writer off. */
    kg_disk_init(kg.cfg.disk_kib, kg.cfg.disk_slot, kg.cfg.disk_blocks,
                 kg.boot_id, kg.cfg.disk_lat_ms);
    seen = kg_ticks;
    next_report = seen + report_ticks;
    for (;;) {
        uint32_t now;
        uint32_t elapsed;

        kg_wait_tick(seen);
        now = kg_ticks;
        elapsed = now - seen;
        seen = now;
        /* Catch up at most a second of work, never a long burst. */
        if (elapsed > KG_HZ)
            elapsed = KG_HZ;
        kg_dirty(elapsed);
        kg_verify(elapsed);
        kg_disk_tick(elapsed);
        if ((int32_t)(now - next_report) >= 0) {
            kg_report();
            next_report += report_ticks;
            if ((int32_t)(now - next_report) >= 0)
                next_report = now + report_ticks;
        }
    }
}
