// Multiboot1 header and the kernel entry point (Multiboot Specification 0.6.96, section 3).
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003  /* page-align modules, provide the memory map */

        .section .multiboot, "a"
        .align 4
        .long MB_MAGIC
        .long MB_FLAGS
        .long -(MB_MAGIC + MB_FLAGS)

        .section .bss
        .align 16
boot_stack_bottom:
        .skip 32768
        .globl hvlab_boot_stack_top
hvlab_boot_stack_top:

        .section .text.boot, "ax"
        .globl _start
        .type _start, @function
_start:
        // The loader leaves EAX = magic, EBX = multiboot info, interrupts off, flat segments,
        // no valid stack.
        cli
        cld
        mov $hvlab_boot_stack_top, %esp
        xor %ebp, %ebp
        // Mix the time stamp into the stack-protector guard before any C++ runs.
        mov %eax, %esi
        rdtsc
        xor %eax, __stack_chk_guard
        mov %esi, %eax
        push %ebx
        push %eax
        call hvlab_boot_main
1:      cli
        hlt
        jmp 1b
        .size _start, . - _start

        .section .note.GNU-stack, "", @progbits
