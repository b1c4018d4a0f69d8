/* Multiboot1 header and entry shared by the runner's test kernels. The kernel's own file
 * defines kmain(mbi), called with the multiboot information pointer on the stack. */
        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0x00000003          /* page-aligned modules, memory information */

        .section .multiboot, "a"
        .align 4
        .long MB_MAGIC
        .long MB_FLAGS
        .long -(MB_MAGIC + MB_FLAGS)

        .text
        .globl _start
_start:
        cli
        movl $stack_top, %esp
        pushl %ebx
        movw $0x3f8, %dx
        call uart_init
        movw $0x2f8, %dx
        call uart_init
        call kmain
        /* kmain returning is a test-kernel bug: stop like hang does. */
1:      cli
        hlt
        jmp 1b

/* Programs the 16550 at %dx for 115200 baud, 8 data bits, no parity, 1 stop bit, FIFOs on.
 * Bochs resets the line control register to 5 data bits (it drops the top 3 bits of each
 * byte), so an uninitialised UART garbles text there; QEMU ignores the format. */
uart_init:
        addw $1, %dx
        movb $0x00, %al             /* IER: no interrupts */
        outb %al, %dx
        addw $2, %dx
        movb $0x80, %al             /* LCR: DLAB on */
        outb %al, %dx
        subw $3, %dx
        movb $0x01, %al             /* DLL: divisor 1 */
        outb %al, %dx
        incw %dx
        movb $0x00, %al             /* DLM */
        outb %al, %dx
        addw $2, %dx
        movb $0x03, %al             /* LCR: 8N1, DLAB off */
        outb %al, %dx
        decw %dx
        movb $0x07, %al             /* FCR: FIFOs on and cleared */
        outb %al, %dx
        ret

        .bss
        .align 16
        .space 8192
stack_top:
