// The census snippets: one tested instruction each, at label cen_NAME_at, with the few
// instructions of set-up it needs before it. Every snippet ends with INT 0x41 (a DPL-3 gate),
// which hands the registers back to the controller (census.cpp). The same bytes run at
// ring 0, 1 and 3; register inputs come from the controller.
//   ESI -> g_in (memory operands), EDI -> g_mem (stores), other registers as census.cpp sets.

#define DONE int $0x41
#define PROBE(n) .globl cen_##n, cen_##n##_at; .align 16; cen_##n:
#define AT(n) cen_##n##_at:

        .text

// SDM's privileged instructions.
PROBE(lgdt)         AT(lgdt)         lgdt (%esi);      DONE
PROBE(lidt)         AT(lidt)         lidt (%esi);      DONE
PROBE(lldt)         AT(lldt)         lldt %ax;         DONE
PROBE(ltr)          AT(ltr)          ltr %ax;          DONE
PROBE(mov_to_cr0)   AT(mov_to_cr0)   mov %eax, %cr0;   DONE
PROBE(mov_from_cr0) AT(mov_from_cr0) mov %cr0, %eax;   DONE
PROBE(mov_to_cr2)   AT(mov_to_cr2)   mov %eax, %cr2;   DONE
PROBE(mov_from_cr2) AT(mov_from_cr2) mov %cr2, %eax;   DONE
PROBE(mov_to_cr3)   AT(mov_to_cr3)   mov %eax, %cr3;   DONE
PROBE(mov_from_cr3) AT(mov_from_cr3) mov %cr3, %eax;   DONE
PROBE(mov_to_cr4)   AT(mov_to_cr4)   mov %eax, %cr4;   DONE
PROBE(mov_from_cr4) AT(mov_from_cr4) mov %cr4, %eax;   DONE
PROBE(mov_to_dr7)   AT(mov_to_dr7)   mov %eax, %dr7;   DONE
PROBE(mov_from_dr7) AT(mov_from_dr7) mov %dr7, %eax;   DONE
PROBE(lmsw)         AT(lmsw)         lmsw %ax;         DONE
PROBE(clts)         AT(clts)         clts;             DONE
PROBE(invd)         AT(invd)         invd;             DONE
PROBE(wbinvd)       AT(wbinvd)       wbinvd;           DONE
PROBE(invlpg)       AT(invlpg)       invlpg (%edi);    DONE
// Ring 0 reaches HLT with IF=1 and the PIT ticking, so the next tick wakes it.
PROBE(hlt)          AT(hlt)          hlt;              DONE
PROBE(rdmsr)        AT(rdmsr)        rdmsr;            DONE
PROBE(wrmsr)        AT(wrmsr)        wrmsr;            DONE
PROBE(rdpmc)        AT(rdpmc)        rdpmc;            DONE
PROBE(rdtsc)        AT(rdtsc)        rdtsc;            DONE

// IOPL-sensitive.
PROBE(cli)          AT(cli)          cli;              DONE
PROBE(sti)          AT(sti)          sti;              DONE
PROBE(in)           AT(in)           in (%dx), %al;    DONE
PROBE(out)          AT(out)          out %al, (%dx);   DONE
PROBE(ins)          AT(ins)          insb (%dx), %es:(%edi); DONE
PROBE(outs)         AT(outs)         outsb %ds:(%esi), (%dx); DONE

// Robin and Irvine's list.
PROBE(sgdt)         AT(sgdt)         sgdt (%edi);      DONE
PROBE(sidt)         AT(sidt)         sidt (%edi);      DONE
PROBE(sldt)         AT(sldt)         sldt %eax;        DONE
PROBE(smsw)         AT(smsw)         smsw %eax;        DONE
PROBE(str)          AT(str)          str %eax;         DONE
PROBE(pushf)        AT(pushf)        pushfl;           DONE
PROBE(popf)         push %ebx;  AT(popf) popfl;        DONE
PROBE(lar)          AT(lar)          lar %ax, %ebx;    DONE
PROBE(lsl)          AT(lsl)          lsl %ax, %ebx;    DONE
PROBE(verr)         AT(verr)         verr %ax;         DONE
PROBE(verw)         AT(verw)         verw %ax;         DONE
PROBE(push_cs)      AT(push_cs)      push %cs;         DONE
PROBE(push_ss)      AT(push_ss)      push %ss;         DONE
PROBE(pop_ds)       push %eax;  AT(pop_ds) pop %ds;    DONE
PROBE(pop_ss)       push %eax;  AT(pop_ss) pop %ss;    DONE
PROBE(mov_from_cs)  AT(mov_from_cs)  mov %cs, %eax;    DONE
PROBE(mov_from_ss)  AT(mov_from_ss)  mov %ss, %eax;    DONE
PROBE(mov_to_ds)    AT(mov_to_ds)    mov %eax, %ds;    DONE
PROBE(mov_to_ss)    AT(mov_to_ss)    mov %eax, %ss;    DONE
// Far pointer in g_in: offset, then the selector.
PROBE(ljmp)         AT(ljmp)         ljmp *(%esi)
        .globl cen_ljmp_target
cen_ljmp_target:    DONE
PROBE(lcall)        AT(lcall)        lcall *(%esi)
        .globl cen_lcall_target
cen_lcall_target:   DONE
// A kernel returning to its own code: EAX = its code selector (RPL 0).
PROBE(lret_kernel)  push %eax; push $1f; AT(lret_kernel) lret
1:      DONE
// A kernel returning to user mode: EBX = user CS, ECX = user ESP, EDX = user SS.
PROBE(lret_user)    push %edx; push %ecx; push %ebx; push $1f; AT(lret_user) lret
1:      DONE
// IRET with EFLAGS = EBX: once to the kernel's RPL-0 selector in EAX, once to the CS that
// PUSH CS gives (the real RPL).
PROBE(iret_kernel)  push %ebx; push %eax; push $1f; AT(iret_kernel) iret
1:      DONE
PROBE(iret_pushcs)  push %ebx; push %cs; push $1f; AT(iret_pushcs) iret
1:      DONE
// Vector 0x42 is a DPL-3 interrupt gate to ring 0 (the handler records and returns).
PROBE(int_n)        AT(int_n)        int $0x42;        DONE
// GDT slot 12, RPL 3: a DPL-3 call gate to cen_gate_target at ring 0.
PROBE(call_gate)    AT(call_gate)    lcall $0x63, $0;  DONE

// Innocuous, and CPUID.
PROBE(call_near)    AT(call_near)    call 1f
1:      DONE
PROBE(add)          AT(add)          add %ebx, %eax;   DONE
PROBE(mov)          AT(mov)          mov %ebx, %eax;   DONE
PROBE(nop)          AT(nop)          nop;              DONE
PROBE(cpuid)        AT(cpuid)        cpuid;            DONE

// Self-test only (cmdline selftest=1): a snippet that never ends, and one that faults before
// its tested instruction. The census must stop the first and flag the second.
PROBE(spin)         AT(spin)         jmp cen_spin_at
PROBE(stray)        ud2; AT(stray)   nop;              DONE

// The call gate's ring-0 target: records where the CPU put the return frame and which CS it
// pushed, then returns (an inter-level RET when the caller was at ring 1 or 3).
        .globl cen_gate_target
        .align 16
cen_gate_target:
        mov %esp, census_gate_esp
        push %eax
        mov 8(%esp), %eax
        mov %eax, census_gate_cs
        pop %eax
        lret

// census_enter(frame): saves the controller's registers and enters the frame through the
// kit's trap return path (pop segments, POPA, IRET). census_resume(), called from a trap
// handler, comes back as if census_enter had returned.
        .globl census_enter
census_enter:
        push %ebp
        push %ebx
        push %esi
        push %edi
        pushfl
        mov %esp, census_ctl_esp
        mov 24(%esp), %esp
        jmp hvlab_trap_return

        .globl census_resume
census_resume:
        mov census_ctl_esp, %esp
        mov $0x10, %ax
        mov %ax, %ss
        mov %ax, %ds
        mov %ax, %es
        mov %ax, %fs
        mov %ax, %gs
        popfl
        pop %edi
        pop %esi
        pop %ebx
        pop %ebp
        ret

        .bss
        .align 4
        .globl census_ctl_esp, census_gate_esp, census_gate_cs
census_ctl_esp:  .long 0
census_gate_esp: .long 0
census_gate_cs:  .long 0

        .section .note.GNU-stack, "", @progbits
