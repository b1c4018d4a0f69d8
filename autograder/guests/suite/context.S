// A minimal setjmp/longjmp for the suite: a test (or a user process) saves its kernel
// context, and the trap handler resumes it after an exception, whatever stack it runs on.
// Layout matches hvlab::guest::Context: ebx, esi, edi, ebp, esp, eip.

        .text
        .globl guest_ctx_save
        .type guest_ctx_save, @function
guest_ctx_save:
        mov 4(%esp), %eax
        mov %ebx, 0(%eax)
        mov %esi, 4(%eax)
        mov %edi, 8(%eax)
        mov %ebp, 12(%eax)
        lea 4(%esp), %ecx          // the caller's esp after our return
        mov %ecx, 16(%eax)
        mov (%esp), %ecx           // our return address
        mov %ecx, 20(%eax)
        xor %eax, %eax
        ret
        .size guest_ctx_save, . - guest_ctx_save

        .globl guest_ctx_resume
        .type guest_ctx_resume, @function
guest_ctx_resume:
        mov 4(%esp), %edx
        mov 8(%esp), %eax
        mov 0(%edx), %ebx
        mov 4(%edx), %esi
        mov 8(%edx), %edi
        mov 12(%edx), %ebp
        mov 16(%edx), %esp
        cld
        jmp *20(%edx)
        .size guest_ctx_resume, . - guest_ctx_resume

        .section .note.GNU-stack, "", @progbits
