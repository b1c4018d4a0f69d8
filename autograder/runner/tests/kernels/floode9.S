/* Writes to the debug console (port 0xE9) forever. */
        .text
        .globl kmain
kmain:
1:      pushl $text
        pushl $0xe9
        call port_puts
        addl $8, %esp
        jmp 1b

        .section .rodata
text: .asciz "flood flood flood flood flood flood flood flood flood flood flood flood\n"
