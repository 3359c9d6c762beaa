/*
 * Hardware of the test guest: COM1, the 8259 PICs, the 8253/8254 PIT and
 * the IDT. Everything is polled or interrupt-driven by the legacy PC
 * devices every QEMU pc machine has, so no ACPI or APIC setup is needed.
 */
#include "kvmc-guest.h"

#define COM1         0x3f8u
#define COM_THR      0u
#define COM_IER      1u
#define COM_DLL      0u
#define COM_DLM      1u
#define COM_FCR      2u
#define COM_LCR      3u
#define COM_MCR      4u
#define COM_LSR      5u
#define COM_LSR_THRE 0x20u

#define PIC1_CMD     0x20u
#define PIC1_DATA    0x21u
#define PIC2_CMD     0xa0u
#define PIC2_DATA    0xa1u
#define PIC_EOI      0x20u
#define PIC_READ_ISR 0x0bu
#define IRQ_BASE     32u

#define PIT_CH0  0x40u
#define PIT_CMD  0x43u
#define PIT_FREQ 1193182u

#define KG_VECTORS 48u

struct kg_idt_entry {
    uint16_t offset_lo;
    uint16_t selector;
    uint8_t zero;
    uint8_t type_attr;
    uint16_t offset_hi;
} __attribute__((packed));

struct kg_idt_desc {
    uint16_t limit;
    uint32_t base;
} __attribute__((packed));

/* Stub addresses, one per vector, from kvmc-guest-entry.S. */
extern const uint32_t kg_vector_stubs[KG_VECTORS];

volatile uint32_t kg_ticks;

static struct kg_idt_entry kg_idt[KG_VECTORS] __attribute__((aligned(8)));

void *memset(void *dst, int c, size_t n)
{
    volatile uint8_t *d = dst;

    while (n--)
        *d++ = (uint8_t)c;
    return dst;
}

void *memcpy(void *dst, const void *src, size_t n)
{
    volatile uint8_t *d = dst;
    const uint8_t *s = src;

    while (n--)
        *d++ = *s++;
    return dst;
}

void kg_serial_init(void)
{
    kg_outb(COM1 + COM_IER, 0x00);
    kg_outb(COM1 + COM_LCR, 0x80); /* DLAB: divisor follows */
    kg_outb(COM1 + COM_DLL, 0x01); /* 115200 baud */
    kg_outb(COM1 + COM_DLM, 0x00);
    kg_outb(COM1 + COM_LCR, 0x03); /* 8N1 */
    kg_outb(COM1 + COM_FCR, 0xc7); /* FIFO on, cleared */
    kg_outb(COM1 + COM_MCR, 0x03); /* DTR, RTS */
}

void kg_putc(char c)
{
    /*
     * Bounded wait: if QEMU's chardev backend stalls, drop characters
     * rather than spin forever with the timer unattended.
     */
    for (uint32_t i = 0; i < 100000u; i++) {
        if (kg_inb(COM1 + COM_LSR) & COM_LSR_THRE) {
            kg_outb(COM1 + COM_THR, (uint8_t)c);
            return;
        }
    }
}

void kg_puts(const char *s)
{
    while (*s) {
        if (*s == '\n')
            kg_putc('\r');
        kg_putc(*s++);
    }
}

/* 64-bit division by 10 in 16-bit steps: no libgcc in a -nostdlib guest. */
static uint64_t kg_div10(uint64_t v, uint32_t *ret_rem)
{
    uint32_t hi = (uint32_t)(v >> 32);
    uint32_t lo = (uint32_t)v;
    uint32_t qh = hi / 10u;
    uint32_t r = hi % 10u;
    uint32_t mid = (r << 16) | (lo >> 16);
    uint32_t qm = mid / 10u;
    uint32_t low;
    uint32_t ql;

    r = mid % 10u;
    low = (r << 16) | (lo & 0xffffu);
    ql = low / 10u;
    *ret_rem = low % 10u;
    return ((uint64_t)qh << 32) | (qm << 16) | ql;
}

void kg_put_u64(uint64_t v)
{
    char buf[21];
    int i = 20;

    buf[i] = '\0';
    do {
        uint32_t rem;

        v = kg_div10(v, &rem);
        buf[--i] = (char)('0' + rem);
    } while (v);
    kg_puts(&buf[i]);
}

static void kg_put_hex_digits(uint64_t v, int digits)
{
    static const char hex[] = "0123456789abcdef";

    while (digits--)
        kg_putc(hex[(v >> (digits * 4)) & 0xfu]);
}

void kg_put_hex32(uint32_t v)
{
    kg_put_hex_digits(v, 8);
}

void kg_put_hex64(uint64_t v)
{
    kg_put_hex_digits(v, 16);
}

static void kg_idt_set(uint32_t vector, uint32_t handler)
{
    struct kg_idt_entry *e = &kg_idt[vector];

    e->offset_lo = (uint16_t)handler;
    e->selector = 0x08;
    e->zero = 0;
    e->type_attr = 0x8e; /* present, ring 0, 32-bit interrupt gate */
    e->offset_hi = (uint16_t)(handler >> 16);
}

static void kg_pic_init(void)
{
    /* Move IRQs 0-15 to vectors 32-47, off the CPU exception vectors. */
    kg_outb(PIC1_CMD, 0x11);
    kg_outb(PIC2_CMD, 0x11);
    kg_outb(PIC1_DATA, IRQ_BASE);
    kg_outb(PIC2_DATA, IRQ_BASE + 8);
    kg_outb(PIC1_DATA, 0x04); /* slave on IRQ 2 */
    kg_outb(PIC2_DATA, 0x02);
    kg_outb(PIC1_DATA, 0x01); /* 8086 mode */
    kg_outb(PIC2_DATA, 0x01);
    /* Only the timer: every other wakeup would cost host CPU. */
    kg_outb(PIC1_DATA, 0xfe);
    kg_outb(PIC2_DATA, 0xff);
}

void kg_interrupts_init(void)
{
    struct kg_idt_desc desc;

    for (uint32_t v = 0; v < KG_VECTORS; v++)
        kg_idt_set(v, kg_vector_stubs[v]);
    desc.limit = sizeof(kg_idt) - 1;
    desc.base = (uint32_t)kg_idt;
    __asm__ volatile("lidt %0" : : "m"(desc));
    kg_pic_init();
}

void kg_timer_start(uint32_t hz)
{
    uint32_t divisor = (PIT_FREQ + hz / 2) / hz;

    kg_outb(PIT_CMD, 0x34); /* channel 0, lo/hi byte, mode 2 */
    kg_outb(PIT_CH0, (uint8_t)divisor);
    kg_outb(PIT_CH0, (uint8_t)(divisor >> 8));
    __asm__ volatile("sti");
}

void kg_timer_irq(void)
{
    kg_ticks = kg_ticks + 1;
    kg_outb(PIC1_CMD, PIC_EOI);
}

void kg_other_irq(uint32_t vector)
{
    uint32_t irq = vector - IRQ_BASE;

    /* A spurious IRQ 7/15 is not in service and must not be EOIed. */
    if (irq == 7 || irq == 15) {
        uint16_t cmd = irq == 7 ? PIC1_CMD : PIC2_CMD;

        kg_outb(cmd, PIC_READ_ISR);
        if (!(kg_inb(cmd) & 0x80u)) {
            if (irq == 15)
                kg_outb(PIC1_CMD, PIC_EOI);
            return;
        }
    }
    if (irq >= 8)
        kg_outb(PIC2_CMD, PIC_EOI);
    kg_outb(PIC1_CMD, PIC_EOI);
}

void kg_wait_tick(uint32_t seen)
{
    /*
     * Test and sleep with interrupts off, then "sti; hlt": sti takes
     * effect after the next instruction, so a tick that arrives between
     * the test and the hlt still wakes us instead of being slept through.
     */
    __asm__ volatile("cli" ::: "memory");
    while (kg_ticks == seen)
        __asm__ volatile("sti; hlt; cli" ::: "memory");
    __asm__ volatile("sti" ::: "memory");
}

void kg_halt_forever(void)
{
    for (;;)
        __asm__ volatile("cli; hlt");
}

void kg_exception(uint32_t vector, uint32_t error, uint32_t eip)
{
    kg_puts("KVMC ERROR exception vector=");
    kg_put_u64(vector);
    kg_puts(" error=");
    kg_put_hex32(error);
    kg_puts(" eip=");
    kg_put_hex32(eip);
    kg_puts("\n");
    kg_halt_forever();
}
