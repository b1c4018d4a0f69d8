/* Prints one line on COM1 and one on the debug console, then halts forever with interrupts
 * off: only the timeout ends it. */
        .text
        .globl kmain
kmain:
        pushl $text
        pushl $0x3f8
        call port_puts
        addl $8, %esp
        pushl $e9_text
        pushl $0xe9
        call port_puts
        addl $8, %esp
1:      cli
        hlt
        jmp 1b

        .section .rodata
text: .asciz "hanging\n"
e9_text: .asciz "debug: hanging\n"
