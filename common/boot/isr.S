// One entry stub per vector. Each pushes a zero error code where the CPU pushes none, then
// the vector, so every trap reaches C++ with the same frame (trap.hpp, TrapFrame).
// The data selector and the C++ entry are variables (trap.hpp, set_trap_entry) so that a
// monitor whose own segments are not the kernel's (lab01) uses the same stubs. They are read
// through CS: at entry DS still holds whatever the interrupted code had loaded.
//
// Everything the CPU runs or reads between a trap and the call of the entry, and from
// hvlab_trap_return to the IRET, sits in one section, .text.hvlab_trap: the stubs, their
// two words, the return path. A kernel's default link puts it in .text; a monitor that hides
// itself from its guest (lab01) links it into pages of their own, the only code it keeps
// mapped in the guest's address space, and reaches it through a code segment whose base
// makes those link addresses land where the pages are mapped.

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

        .section .text.hvlab_trap, "ax"
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

        // The two words the stubs read (through CS), in the stubs' own section.
        .section .text.hvlab_trap, "ax"
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

        // A trap back end's switch (lab01 and the labs built on it): the run loop calls
        // hvlab_guest_enter(frame, sw), which saves the monitor's callee-saved registers and
        // stack in *sw and IRETs into the guest through `frame`. When the guest traps, the
        // monitor's trap entry calls hvlab_guest_leave(sw), which returns from
        // hvlab_guest_enter on the monitor's own stack; the trap's frame stays where the
        // stub built it (the TSS's ring-0 stack) until the next entry.
        // With sw->iret_cs set, the way to the IRET is a far jump to sw->iret_cs:iret_eip
        // (with ESP at the frame) instead of hvlab_trap_return: a monitor that switches
        // address spaces does it there, in code the guest's address space also maps.
        .section .text
        .globl hvlab_guest_enter
hvlab_guest_enter:
        mov 4(%esp), %eax       /* frame */
        mov 8(%esp), %ecx       /* GuestSwitch */
        mov %ebx, 0(%ecx)
        mov %esi, 4(%ecx)
        mov %edi, 8(%ecx)
        mov %ebp, 12(%ecx)
        mov %esp, 16(%ecx)
        mov %eax, %esp
        cmpw $0, 24(%ecx)       /* iret_cs */
        je hvlab_trap_return
        ljmp *20(%ecx)          /* iret_eip, iret_cs */

        .globl hvlab_guest_leave
hvlab_guest_leave:
        mov 4(%esp), %ecx
        mov 0(%ecx), %ebx
        mov 4(%ecx), %esi
        mov 8(%ecx), %edi
        mov 12(%ecx), %ebp
        mov 16(%ecx), %esp
        ret

        .section .note.GNU-stack, "", @progbits
