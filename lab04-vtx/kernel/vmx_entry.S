// Entering and leaving the guest (SDM 26, 27). The guest's general registers live in a
// GeneralRegisters struct (eax, ecx, edx, ebx, esp, ebp, esi, edi at offsets 0..28); ESP,
// EIP and EFLAGS are in the VMCS. On an exit the processor loads HOST_RSP, which is the
// stack pointer at the moment of entry, so the struct's address is found on top of it.

        .set HOST_RSP, 0x6c14

        .text
        .globl hvlab_vmx_run
        .type hvlab_vmx_run, @function
// int hvlab_vmx_run(GeneralRegisters* regs, int launched)
hvlab_vmx_run:
        push %ebp
        push %ebx
        push %esi
        push %edi
        mov 20(%esp), %eax          // regs
        mov 24(%esp), %ecx          // launched
        push %eax                   // found again by hvlab_vmx_exit
        mov $HOST_RSP, %edx
        vmwrite %esp, %edx
        test %ecx, %ecx             // MOVs below leave the flags alone
        mov 4(%eax), %ecx
        mov 8(%eax), %edx
        mov 12(%eax), %ebx
        mov 20(%eax), %ebp
        mov 24(%eax), %esi
        mov 28(%eax), %edi
        mov 0(%eax), %eax
        jnz 1f
        vmlaunch
        jmp 2f
1:      vmresume
2:      // Still here: the entry failed. CF = 1 VMfailInvalid, ZF = 1 VMfailValid.
        mov $2, %eax
        jz 3f
        mov $1, %eax
3:      add $4, %esp
        pop %edi
        pop %esi
        pop %ebx
        pop %ebp
        ret
        .size hvlab_vmx_run, . - hvlab_vmx_run

        .globl hvlab_vmx_exit
        .type hvlab_vmx_exit, @function
hvlab_vmx_exit:
        push %eax                   // the guest's EAX; 4(%esp) is the regs pointer
        mov 4(%esp), %eax
        mov %ecx, 4(%eax)
        mov %edx, 8(%eax)
        mov %ebx, 12(%eax)
        mov %ebp, 20(%eax)
        mov %esi, 24(%eax)
        mov %edi, 28(%eax)
        pop %ecx
        mov %ecx, 0(%eax)
        add $4, %esp
        pop %edi
        pop %esi
        pop %ebx
        pop %ebp
        xor %eax, %eax
        cld                         // the guest may have left DF set; C++ expects it clear
        ret
        .size hvlab_vmx_exit, . - hvlab_vmx_exit

// void hvlab_svm_run(GeneralRegisters* regs, uint32_t vmcb_pa, uint32_t host_save_pa): AMD-V
// (APM 15.5). EAX, ESP, EIP and EFLAGS are in the VMCB; VMRUN saves the host's CS, SS, DS,
// ES, ESP, EIP and EFLAGS in VM_HSAVE_PA and #VMEXIT restores them, so after the exit EAX
// holds the VMCB address again and ESP is unchanged. The rest of the host's state (FS, GS,
// TR, LDTR with their hidden parts, the SYSENTER MSRs) is not restored by #VMEXIT: VMSAVE
// keeps it in the host's own area before VMLOAD brings in the guest's, and VMLOAD brings it
// back after VMSAVE has stored the guest's (APM 15.5.2). Without that, a guest that loads
// its own GS leaves it in the monitor. GIF = 0 around the run keeps real interrupts for the
// moment after the exit (STGI), when the host takes them.
        .globl hvlab_svm_run
        .type hvlab_svm_run, @function
hvlab_svm_run:
        push %ebp
        push %ebx
        push %esi
        push %edi
        mov 28(%esp), %eax          // host_save_pa
        clgi
        vmsave %eax                 // the host's FS, GS, TR, LDTR, SYSENTER...
        mov 20(%esp), %eax          // regs
        push %eax
        mov 28(%esp), %eax          // vmcb_pa (after the push)
        mov (%esp), %edi
        mov 4(%edi), %ecx
        mov 8(%edi), %edx
        mov 12(%edi), %ebx
        mov 20(%edi), %ebp
        mov 24(%edi), %esi
        mov 28(%edi), %edi
        sti
        vmload %eax
        vmrun %eax
        vmsave %eax
        push %eax                   // the VMCB address; 4(%esp) is the regs pointer
        mov 4(%esp), %eax
        mov %ecx, 4(%eax)
        mov %edx, 8(%eax)
        mov %ebx, 12(%eax)
        mov %ebp, 20(%eax)
        mov %esi, 24(%eax)
        mov %edi, 28(%eax)
        add $8, %esp
        mov 28(%esp), %eax          // host_save_pa
        vmload %eax                 // the host's own FS, GS, TR, LDTR... again
        stgi                        // a real timer interrupt pending since the exit is taken here
        cli
        cld
        pop %edi
        pop %esi
        pop %ebx
        pop %ebp
        ret
        .size hvlab_svm_run, . - hvlab_svm_run

// int hvlab_safe_wrmsr(uint32_t msr, uint32_t lo, uint32_t hi): 0, or 1 if WRMSR raised #GP.
        .globl hvlab_safe_wrmsr, hvlab_safe_wrmsr_insn
        .type hvlab_safe_wrmsr, @function
hvlab_safe_wrmsr:
        mov 4(%esp), %ecx
        mov 8(%esp), %eax
        mov 12(%esp), %edx
        movl $0, hvlab_safe_fault
hvlab_safe_wrmsr_insn:
        wrmsr                       // on #GP the handler skips these 2 bytes
        mov hvlab_safe_fault, %eax
        ret
        .size hvlab_safe_wrmsr, . - hvlab_safe_wrmsr

// int hvlab_safe_xsetbv(uint32_t xcr, uint32_t lo, uint32_t hi)
        .globl hvlab_safe_xsetbv, hvlab_safe_xsetbv_insn
        .type hvlab_safe_xsetbv, @function
hvlab_safe_xsetbv:
        mov 4(%esp), %ecx
        mov 8(%esp), %eax
        mov 12(%esp), %edx
        movl $0, hvlab_safe_fault
hvlab_safe_xsetbv_insn:
        xsetbv                      // 3 bytes
        mov hvlab_safe_fault, %eax
        ret
        .size hvlab_safe_xsetbv, . - hvlab_safe_xsetbv

        .section .bss
        .align 4
        .globl hvlab_safe_fault
hvlab_safe_fault:
        .long 0

        .section .note.GNU-stack, "", @progbits
