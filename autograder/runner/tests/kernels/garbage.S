/* Writes every byte value 0..255 to COM1 and to the debug console, then two lines that look
 * like exit markers but are not the last one, then exits with 4. */
        .text
        .globl kmain
kmain:
        xorl %ecx, %ecx
1:      movb %cl, bytes(%ecx)
        incl %ecx
        cmpl $256, %ecx
        jne 1b
        pushl $256
        pushl $bytes
        pushl $0x3f8
        call port_putn
        addl $12, %esp
        pushl $256
        pushl $bytes
        pushl $0xe9
        call port_putn
        addl $12, %esp
        pushl $e9_text
        pushl $0xe9
        call port_puts
        addl $8, %esp
        pushl $4
        call hvlab_exit

        .section .rodata
e9_text: .asciz "\nnot a marker: hvlab-exit: 8\nhvlab-exit: 9\n"

        .bss
bytes:  .space 256
