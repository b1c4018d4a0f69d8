// One entry stub per vector. Each pushes a zero error code where the CPU pushes none, then
// the vector, so every trap reaches C++ with the same frame (trap.hpp, TrapFrame).
// The data selector and the C++ entry are variables (trap.hpp, set_trap_entry) so that a
// monitor whose own segments are not the kernel's (lab01) uses the same stubs. They are read
// through CS: at entry DS still holds whatever the interrupted code had loaded.

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
        mov %cs:hvlab_trap_data_selector, %ax
        mov %ax, %ds
        mov %ax, %es
        cld
        push %esp
        call *%cs:hvlab_trap_entry_function
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

        .section .data
        .align 4
        .globl hvlab_trap_entry_function, hvlab_trap_data_selector
hvlab_trap_entry_function:
        .long hvlab_trap_entry
hvlab_trap_data_selector:
        .word 0x10              /* gdt::kKernelDS */

        // Enters a frame built by hand (ring transitions, first entry to user mode).
        .section .text
        .globl hvlab_enter_frame
hvlab_enter_frame:
        mov 4(%esp), %esp
        jmp hvlab_trap_return

        .section .note.GNU-stack, "", @progbits
