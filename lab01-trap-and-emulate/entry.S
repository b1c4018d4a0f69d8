// The monitor's trap entry: one stub per vector, the same frame as common/boot/trap.hpp
// (TrapFrame), but the monitor's own data segment (base 0xF0000000) is loaded before any
// C++ runs: the kernel selectors 0x08/0x10 belong to the guest in this GDT.
#define MONITOR_DS 0xF88   /* GDT slot 497, see monitor.cpp (kMonitorDataSlot) */

        .macro stub vec
        .align 16
lab01_isr_\vec:
        .if (\vec == 8) || (\vec == 10) || (\vec == 11) || (\vec == 12) || (\vec == 13) || (\vec == 14) || (\vec == 17) || (\vec == 21)
        .else
        push $0
        .endif
        push $\vec
        jmp lab01_isr_common
        .endm

        .section .text
        .altmacro
        .set i, 0
        .rept 256
        stub %i
        .set i, i + 1
        .endr

lab01_isr_common:
        pushal
        push %ds
        push %es
        push %fs
        push %gs
        mov $MONITOR_DS, %ax
        mov %ax, %ds
        mov %ax, %es
        cld
        push %esp
        call lab01_trap
        add $4, %esp
lab01_trap_return:
        pop %gs
        pop %fs
        pop %es
        pop %ds
        popal
        add $8, %esp
        iret

        .macro addr vec
        .long lab01_isr_\vec
        .endm
        .section .rodata
        .align 4
        .globl lab01_isr_table
lab01_isr_table:
        .set i, 0
        .rept 256
        addr %i
        .set i, i + 1
        .endr

        // Enters the guest: loads a TrapFrame and IRETs to ring 1 or 3.
        .section .text
        .globl lab01_enter_guest
lab01_enter_guest:
        mov 4(%esp), %esp
        jmp lab01_trap_return

        .section .note.GNU-stack, "", @progbits
