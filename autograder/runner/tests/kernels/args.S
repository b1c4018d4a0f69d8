/* Echoes what the boot loader passed on COM1, one item a line, then exits with 0:
 *   cmdline: <kernel command line>
 *   module: <module string>      (for each module)
 *   data: <the module's first bytes, at most 64, up to its first newline>  */
        .text
        .globl kmain
kmain:
        pushl %ebx
        pushl %esi
        pushl %edi
        movl 16(%esp), %ebx              /* multiboot information */
        testl $4, (%ebx)
        jz 1f
        pushl $cmdline_text
        pushl $0x3f8
        call port_puts
        addl $8, %esp
        pushl 16(%ebx)
        pushl $0x3f8
        call port_puts
        addl $8, %esp
        pushl $newline
        pushl $0x3f8
        call port_puts
        addl $8, %esp
1:      testl $8, (%ebx)
        jz 4f
        movl 20(%ebx), %edi              /* mods_count */
        movl 24(%ebx), %esi              /* mods_addr */
2:      testl %edi, %edi
        jz 4f
        pushl $module_text
        pushl $0x3f8
        call port_puts
        addl $8, %esp
        pushl 8(%esi)
        pushl $0x3f8
        call port_puts
        addl $8, %esp
        pushl $newline
        pushl $0x3f8
        call port_puts
        addl $8, %esp
        pushl $data_text
        pushl $0x3f8
        call port_puts
        addl $8, %esp
        movl 0(%esi), %ebx               /* mod_start (the mbi is no longer needed) */
        movl 4(%esi), %ecx               /* mod_end */
        subl %ebx, %ecx
        cmpl $64, %ecx
        jbe 3f
        movl $64, %ecx
3:      movw $0x3f8, %dx
        jecxz 5f
6:      movb (%ebx), %al
        cmpb $'\n', %al
        je 5f
        call putb
        incl %ebx
        loop 6b
5:      pushl $newline
        pushl $0x3f8
        call port_puts
        addl $8, %esp
        addl $16, %esi
        decl %edi
        jmp 2b
4:      pushl $0
        call hvlab_exit

        .section .rodata
cmdline_text: .asciz "cmdline: "
module_text:  .asciz "module: "
data_text:    .asciz "data: "
newline:      .asciz "\n"
