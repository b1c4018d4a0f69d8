// Code the tests call or rewrite: far-call targets and self-modifying-code subjects.
// The kernel maps its text writable, so the smc tests can patch these in place.

        .section .text.guest_code, "ax", @progbits

// Called with a far CALL: records CS (as the callee sees it) and the CS the far call
// pushed, then returns with a far RET.
        .globl far_call_target
far_call_target:
        mov %cs, %eax
        mov %eax, far_call_seen_cs
        mov 4(%esp), %eax
        mov %eax, far_call_pushed_cs
        lret

// Returns a 32-bit immediate: smc_imm_fn+1 holds it.
        .globl smc_imm_fn
smc_imm_fn:
        .byte 0xb8                 // mov $imm32, %eax
        .long 0x11111111
        ret

// Returns its argument plus one; smc_op_site is "add $1, %eax" (83 c0 01), which the test
// turns into "sub $1, %eax" (83 e8 01).
        .globl smc_op_fn, smc_op_site
smc_op_fn:
        mov 4(%esp), %eax
smc_op_site:
        .byte 0x83, 0xc0, 0x01
        ret

        .data
        .globl far_call_seen_cs, far_call_pushed_cs
far_call_seen_cs:   .long 0
far_call_pushed_cs: .long 0

        .section .note.GNU-stack, "", @progbits
