/* Tiny I/O helpers for the runner's test kernels (cdecl, 32-bit). */
        .set COM1, 0x3f8
        .set COM2, 0x2f8
        .set DEBUGCON, 0xe9
        .set DEBUG_EXIT, 0xf4
        .set BOCHS_SHUTDOWN, 0x8900

        .text
/* Writes %al to port %dx. A UART (COM1, COM2) is first polled until its transmit holding
 * register is empty: Bochs drops a byte written while the previous one is still going out.
 * Clobbers nothing but the flags. */
        .globl putb
putb:
        cmpw $COM1, %dx
        je 1f
        cmpw $COM2, %dx
        jne 3f
1:      pushl %eax
        addw $5, %dx                /* line status register */
2:      inb %dx, %al
        testb $0x20, %al            /* THRE */
        jz 2b
        subw $5, %dx
        popl %eax
3:      outb %al, %dx
        ret

/* void port_puts(unsigned port, const char* s): NUL-terminated string, byte by byte. */
        .globl port_puts
port_puts:
        pushl %esi
        movl 8(%esp), %edx
        movl 12(%esp), %esi
1:      movb (%esi), %al
        testb %al, %al
        jz 2f
        call putb
        incl %esi
        jmp 1b
2:      popl %esi
        ret

/* void port_putn(unsigned port, const char* s, unsigned n): n bytes, NULs included. */
        .globl port_putn
port_putn:
        pushl %esi
        movl 8(%esp), %edx
        movl 12(%esp), %esi
        movl 16(%esp), %ecx
        jecxz 2f
1:      movb (%esi), %al
        call putb
        incl %esi
        loop 1b
2:      popl %esi
        ret

/* void port_putu(unsigned port, unsigned v): v in decimal. */
        .globl port_putu
port_putu:
        pushl %ebx
        movl 8(%esp), %edx
        movl 12(%esp), %eax
        movl $10, %ebx
        xorl %ecx, %ecx
1:      pushl %edx
        xorl %edx, %edx
        divl %ebx
        movl %edx, %ebx             /* the digit, kept while the port comes back */
        popl %edx
        pushl %ebx                  /* digits go on the stack, most significant last */
        movl $10, %ebx
        incl %ecx
        testl %eax, %eax
        jnz 1b
2:      popl %eax
        addb $'0', %al
        call putb
        loop 2b
        popl %ebx
        ret

/* noreturn void hvlab_exit(unsigned status): the runner's exit protocol (see boot.hpp). */
        .globl hvlab_exit
hvlab_exit:
        movl 4(%esp), %ebx
        /* Let both UARTs finish sending: Bochs drops what is still in a UART when it stops. */
        movw $COM1 + 5, %dx
1:      inb %dx, %al
        testb $0x40, %al            /* TEMT: holding and shift registers empty */
        jz 1b
        movw $COM2 + 5, %dx
2:      inb %dx, %al
        testb $0x40, %al
        jz 2b
        pushl $marker
        pushl $DEBUGCON
        call port_puts
        addl $8, %esp
        pushl %ebx
        pushl $DEBUGCON
        call port_putu
        addl $8, %esp
        movb $'\n', %al
        outb %al, $DEBUGCON
        movl %ebx, %eax
        outb %al, $DEBUG_EXIT       /* QEMU exits here with (status << 1) | 1 */
        pushl $shutdown
        pushl $BOCHS_SHUTDOWN
        call port_puts              /* Bochs exits here */
        addl $8, %esp
3:      cli
        hlt
        jmp 3b

        .section .rodata
marker:   .asciz "hvlab-exit: "
shutdown: .asciz "Shutdown"
