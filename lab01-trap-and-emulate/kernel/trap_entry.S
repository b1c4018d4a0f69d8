// lab01's trap path around the kit's stubs (common/boot/isr.S): the switch between the
// guest's address space and the monitor's. Only .text.hvlab_trap is mapped while the guest
// runs (at the top of the monitor's window, read-only), reached through LAB01_TRAP_CS, a code
// segment whose base makes these link addresses land there (kernel/hardware.cpp).
//
//   guest traps -> stub (isr.S) -> isr_common -> call *hvlab_trap_entry_function
//               -> lab01_trap_gate_entry: CR3 = the monitor's, far jump into the monitor's CS
//               -> lab01_trap_monitor_side -> lab01_trap() (C++), which leaves to the run loop
//   run loop -> hvlab_guest_enter -> far jump -> lab01_iret_to_guest: CR3 = the guest's
//            -> hvlab_trap_return (isr.S) -> IRET

#include "lab01-trap-and-emulate/src/selectors.h"

        .section .text.hvlab_trap, "ax"

        // Called by isr_common with the trap frame pointer above the return address. The
        // first thing: the time (the switch that follows is the monitor's work, not the
        // guest's), then the monitor's address space (the rest of the monitor is not mapped
        // in the guest's), where the time is kept. EAX, ECX and EDX are the guest's, but
        // pushal has saved them; DS is the monitor's (isr_common loaded it).
        .globl lab01_trap_gate_entry
lab01_trap_gate_entry:
        rdtsc
        mov %eax, %ecx
        mov %cs:lab01_monitor_cr3, %eax
        mov %eax, %cr3
        mov %ecx, lab01_trap_tsc
        mov %edx, lab01_trap_tsc + 4
        ljmp $LAB01_MONITOR_CS, $lab01_trap_monitor_side

        // hvlab_guest_enter far-jumps here with ESP at the frame: the guest's address space
        // last, from code both address spaces map, then the pops and the IRET.
        .globl lab01_iret_to_guest
lab01_iret_to_guest:
        mov %cs:lab01_guest_cr3, %eax
        mov %eax, %cr3
        jmp hvlab_trap_return

        // The two directories (physical addresses), set once by the monitor.
        .align 4
        .globl lab01_monitor_cr3, lab01_guest_cr3
lab01_monitor_cr3:
        .long 0
lab01_guest_cr3:
        .long 0

        .section .text
        // In the monitor's own code segment. A trap from the guest never returns here:
        // lab01_trap() leaves through hvlab_guest_leave to the run loop. A trap taken inside
        // the monitor (its timer in the one-instruction window arm_timer opens) does return,
        // and goes back through the stubs' return path.
lab01_trap_monitor_side:
        pushl 4(%esp)                   // the frame, as isr_common pushed it
        call lab01_trap
        add $12, %esp                   // our argument, isr_common's return address and its frame pointer
        ljmp $LAB01_TRAP_CS, $hvlab_trap_return

        .section .note.GNU-stack, "", @progbits
