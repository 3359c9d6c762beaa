/*
 * Entry point and interrupt stubs of the test guest.
 *
 * A multiboot loader enters _start in 32-bit protected mode with paging
 * off, EAX = 0x2BADB002 and EBX = the multiboot information; the GDT it
 * used may be gone, so we load our own flat one before touching a segment
 * register. Paging stays off for good: kvm-pvm triple-faults a guest that
 * enables it.
 */

#define MB_MAGIC 0x1BADB002
/* Bit 0: align modules on pages; bit 1: give us mem_* and the memory map. */
#define MB_FLAGS 0x00000003

#define SEL_CODE 0x08
#define SEL_DATA 0x10

    .section .multiboot, "a"
    .balign 4
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)

    .section .text
    .globl _start
    .type _start, @function
_start:
    cli
    lgdt gdt_desc
    ljmp $SEL_CODE, $1f
1:
    movw $SEL_DATA, %cx
    movw %cx, %ds
    movw %cx, %es
    movw %cx, %fs
    movw %cx, %gs
    movw %cx, %ss
    movl $stack_top, %esp
    xorl %ebp, %ebp
    cld
    /* Zero .bss ourselves rather than trust every loader to. EAX and EBX
     * (the multiboot handoff) are kept. */
    movl $kg_bss_start, %edi
    movl $kg_bss_end, %ecx
    subl %edi, %ecx
    shrl $2, %ecx
    movl %eax, %edx
    xorl %eax, %eax
    rep stosl
    movl %edx, %eax
    pushl %ebx              /* multiboot information address */
    pushl %eax              /* multiboot magic */
    call kg_main
2:
    cli
    hlt
    jmp 2b
    .size _start, . - _start

/* CPU exceptions: report and stop. Vectors 8, 10-14, 17, 21, 29, 30 push
 * an error code; the others get a zero so the frame is always the same. */
.macro EXC_NOERR vec
exc\vec:
    pushl $0
    pushl $\vec
    jmp exc_common
.endm
.macro EXC_ERR vec
exc\vec:
    pushl $\vec
    jmp exc_common
.endm

EXC_NOERR 0
EXC_NOERR 1
EXC_NOERR 2
EXC_NOERR 3
EXC_NOERR 4
EXC_NOERR 5
EXC_NOERR 6
EXC_NOERR 7
EXC_ERR   8
EXC_NOERR 9
EXC_ERR   10
EXC_ERR   11
EXC_ERR   12
EXC_ERR   13
EXC_ERR   14
EXC_NOERR 15
EXC_NOERR 16
EXC_ERR   17
EXC_NOERR 18
EXC_NOERR 19
EXC_NOERR 20
EXC_ERR   21
EXC_NOERR 22
EXC_NOERR 23
EXC_NOERR 24
EXC_NOERR 25
EXC_NOERR 26
EXC_NOERR 27
EXC_NOERR 28
EXC_ERR   29
EXC_ERR   30
EXC_NOERR 31

/* Stack: vector, error, eip, cs, eflags. Call kg_exception(vector, error,
 * eip); it never returns. */
exc_common:
    cld
    pushl 8(%esp)
    pushl 8(%esp)
    pushl 8(%esp)
    call kg_exception
3:
    cli
    hlt
    jmp 3b

/* IRQ 0 (PIT), remapped to vector 32. */
irq32:
    pushal
    cld
    call kg_timer_irq
    popal
    iret

/* Any other PIC line (all masked, but spurious IRQs 7/15 still arrive). */
.macro IRQ_OTHER vec
irq\vec:
    pushal
    cld
    pushl $\vec
    call kg_other_irq
    addl $4, %esp
    popal
    iret
.endm

IRQ_OTHER 33
IRQ_OTHER 34
IRQ_OTHER 35
IRQ_OTHER 36
IRQ_OTHER 37
IRQ_OTHER 38
IRQ_OTHER 39
IRQ_OTHER 40
IRQ_OTHER 41
IRQ_OTHER 42
IRQ_OTHER 43
IRQ_OTHER 44
IRQ_OTHER 45
IRQ_OTHER 46
IRQ_OTHER 47

    .section .rodata
    .balign 4
    .globl kg_vector_stubs
kg_vector_stubs:
    .long exc0, exc1, exc2, exc3, exc4, exc5, exc6, exc7
    .long exc8, exc9, exc10, exc11, exc12, exc13, exc14, exc15
    .long exc16, exc17, exc18, exc19, exc20, exc21, exc22, exc23
    .long exc24, exc25, exc26, exc27, exc28, exc29, exc30, exc31
    .long irq32, irq33, irq34, irq35, irq36, irq37, irq38, irq39
    .long irq40, irq41, irq42, irq43, irq44, irq45, irq46, irq47

    .section .data
    .balign 8
gdt:
    .quad 0                     /* null */
    .quad 0x00cf9a000000ffff    /* 0x08: code, base 0, 4 GiB, 32-bit */
    .quad 0x00cf92000000ffff    /* 0x10: data, base 0, 4 GiB */
gdt_end:
    .balign 4
    .word 0
gdt_desc:
    .word gdt_end - gdt - 1
    .long gdt

    .section .bss
    .balign 16
stack_bottom:
    .skip 16384
stack_top:

    .section .note.GNU-stack, "", @progbits
