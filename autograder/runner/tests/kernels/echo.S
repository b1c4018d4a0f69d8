/* A console: prints "ready> ", reads a line typed on COM1 (polled), answers "got: LINE",
 * forever. It never exits: a run ends by the runner's console script (--until) or its
 * time limit. */
        .set COM1, 0x3f8

        .text
        .globl kmain
kmain:
1:      pushl $prompt
        pushl $COM1
        call port_puts
        addl $8, %esp
        movl $line, %edi
        xorl %ecx, %ecx                 /* characters in the line */
2:      movw $COM1 + 5, %dx             /* line status: wait for data ready */
3:      inb %dx, %al
        testb $0x01, %al
        jz 3b
        movw $COM1, %dx
        inb %dx, %al
        cmpb $'\n', %al
        je 4f
        cmpb $'\r', %al
        je 4f
        cmpl $63, %ecx
        jae 2b                          /* a long line: the rest is dropped */
        movb %al, (%edi,%ecx)
        incl %ecx
        jmp 2b
4:      jecxz 2b                        /* an empty line ("\r\n" as two ends) asks nothing */
        movb $0, (%edi,%ecx)
        pushl $got
        pushl $COM1
        call port_puts
        addl $8, %esp
        pushl $line
        pushl $COM1
        call port_puts
        addl $8, %esp
        pushl $newline
        pushl $COM1
        call port_puts
        addl $8, %esp
        jmp 1b

        .section .rodata
prompt:  .asciz "ready> "
got:     .asciz "got: "
newline: .asciz "\n"

        .bss
line:    .space 64
