/* Loads an empty IDT and raises #BP: no handler, no #DF handler, so the CPU triple-faults. */
        .text
        .globl kmain
kmain:
        pushl $text
        pushl $0x3f8
        call port_puts
        addl $8, %esp
        movw $0x3fd, %dx                 /* let COM1 send everything first */
1:      inb %dx, %al
        testb $0x40, %al
        jz 1b
        lidt empty_idt
        int3
2:      jmp 2b

        .section .rodata
text: .asciz "about to triple fault\n"
        .align 8
empty_idt:
        .word 0
        .long 0
