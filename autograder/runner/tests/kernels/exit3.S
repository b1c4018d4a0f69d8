/* Exits with status 3 after one line on COM1. */
        .text
        .globl kmain
kmain:
        pushl $text
        pushl $0x3f8
        call port_puts
        addl $8, %esp
        pushl $3
        call hvlab_exit

        .section .rodata
text: .asciz "exiting with 3\n"
