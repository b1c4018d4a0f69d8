/* Writes the exit marker with status 6 but never stops the emulator (no write to 0xf4 or
 * 0x8900): the runner must still report the exit, after a short grace. */
        .text
        .globl kmain
kmain:
        pushl $text
        pushl $0xe9
        call port_puts
        addl $8, %esp
1:      cli
        hlt
        jmp 1b

        .section .rodata
text: .asciz "hvlab-exit: 6\n"
