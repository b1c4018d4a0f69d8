// One entry stub per vector. Each pushes a zero error code where the CPU pushes none, then
// the vector, so every trap reaches C++ with the same frame (trap.hpp, TrapFrame).
#define KERNEL_DS 0x10

        .macro stub vec
        .align 16
isr_\vec:
        .if (\vec == 8) || (\vec == 10) || (\vec == 11) || (\vec == 12) || (\vec == 13) || (\vec == 14) || (\vec == 17) || (\vec == 21)
        .else
        push $0
        .endif
        push $\vec
        jmp isr_common
        .endm

        .section .text
        .altmacro
        .set i, 0
        .rept 256
        stub %i
        .set i, i + 1
        .endr

isr_common:
        pushal
        push %ds
        push %es
        push %fs
        push %gs
        mov $KERNEL_DS, %ax
        mov %ax, %ds
        mov %ax, %es
        cld
        push %esp
        call hvlab_trap_entry
        add $4, %esp
        .globl hvlab_trap_return
hvlab_trap_return:
        pop %gs
        pop %fs
        pop %es
        pop %ds
        popal
        add $8, %esp
        iret

        // The table of stub addresses, for the IDT set-up.
        .macro addr vec
        .long isr_\vec
        .endm
        .section .rodata
        .align 4
        .globl hvlab_isr_table
hvlab_isr_table:
        .set i, 0
        .rept 256
        addr %i
        .set i, i + 1
        .endr

        // Enters a frame built by hand (ring transitions, first entry to user mode).
        .section .text
        .globl hvlab_enter_frame
hvlab_enter_frame:
        mov 4(%esp), %esp
        jmp hvlab_trap_return

        .section .note.GNU-stack, "", @progbits
