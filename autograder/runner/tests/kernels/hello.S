/* Prints "hello" on COM1 (and a line on COM2 and the debug console), then exits with 0. */
        .text
        .globl kmain
kmain:
        pushl $com1_text
        pushl $0x3f8
        call port_puts
        addl $8, %esp
        pushl $com2_text
        pushl $0x2f8
        call port_puts
        addl $8, %esp
        pushl $e9_text
        pushl $0xe9
        call port_puts
        addl $8, %esp
        pushl $0
        call hvlab_exit

        .section .rodata
com1_text: .asciz "hello\n"
com2_text: .asciz "event: hello\n"
e9_text:   .asciz "debug: hello\n"
