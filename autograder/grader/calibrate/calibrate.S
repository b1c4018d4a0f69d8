/*
 * The grader's calibration kernel: a multiboot1 kernel that runs a fixed loop and stops.
 * The grader boots it once per emulator and compares the boot's wall time with a
 * reference figure (calibration_reference_seconds), to stretch every timeout on a slow or
 * busy machine instead of failing a correct monitor there.
 *
 * Stopping, as every hvlab kernel does: "hvlab-exit: 0" on the debug console (port 0xE9),
 * 0 to isa-debug-exit (port 0xf4, QEMU), then "Shutdown" to port 0x8900 (Bochs).
 */

        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0x00000003          /* page-aligned modules, memory map */
        .set LOOP_COUNT, 2500000           /* 4 instructions each: 10 million in all */

        .section .multiboot, "a"
        .balign 4
        .long MB_MAGIC
        .long MB_FLAGS
        .long -(MB_MAGIC + MB_FLAGS)

        .text
        .globl _start
_start:
        cli
        movl $stack_top, %esp
        movl $hello, %esi
        call e9_puts

        /* The fixed work: integer arithmetic only, the same on every emulator. */
        movl $LOOP_COUNT, %ecx
        xorl %eax, %eax
        xorl %ebx, %ebx
1:      addl %ecx, %eax
        xorl %eax, %ebx
        decl %ecx
        jnz 1b

        movl $exit_marker, %esi
        call e9_puts
        movw $0xf4, %dx
        xorb %al, %al
        outb %al, %dx                      /* QEMU exits here with status (0<<1)|1 */
        movl $shutdown, %esi
        movw $0x8900, %dx
2:      lodsb
        testb %al, %al
        jz 3f
        outb %al, %dx                      /* Bochs exits after the last byte */
        jmp 2b
3:      hlt
        jmp 3b

/* Writes the NUL-terminated string at %esi to port 0xE9. */
e9_puts:
        movw $0xe9, %dx
4:      lodsb
        testb %al, %al
        jz 5f
        outb %al, %dx
        jmp 4b
5:      ret

        .section .rodata
hello:       .asciz "hvlab-calibrate: running a fixed loop\n"
exit_marker: .asciz "hvlab-exit: 0\n"
shutdown:    .asciz "Shutdown"

        .bss
        .balign 16
        .skip 4096
stack_top:

        .section .note.GNU-stack, "", @progbits
