// User-mode programs, run at ring 3 by run_user(). They sit in their own page-aligned
// section so the kernel can map exactly these pages user-accessible. Each ends with the
// exit system call (INT 0x80, EAX = 0, EBX = status); a UD2 after it catches a kernel
// that wrongly returns from exit.

#define SYS_EXIT 0
#define SYS_ADD 1
#define EXIT int $0x80; ud2

        .section .text.guest_user, "ax", @progbits
        .balign 4096
        .globl guest_user_begin
guest_user_begin:

        .globl user_exit
user_exit:
        mov $SYS_EXIT, %eax
        EXIT

        .globl user_selectors
user_selectors:
        mov %cs, %ebx
        mov %ss, %ecx
        mov %esp, %edx
        mov $SYS_EXIT, %eax
        EXIT

        .globl user_add
user_add:
        mov $SYS_ADD, %eax
        int $0x80
        mov %eax, %ebx
        mov $SYS_EXIT, %eax
        EXIT

        .globl user_load
user_load:
        mov (%esi), %ebx
        mov $SYS_EXIT, %eax
        EXIT

        .globl user_store
user_store:
        mov %edi, (%esi)
        xor %ebx, %ebx
        mov $SYS_EXIT, %eax
        EXIT

        .globl user_cli
user_cli:
        cli
        xor %ebx, %ebx
        mov $SYS_EXIT, %eax
        EXIT

        .globl user_in
user_in:
        mov %esi, %edx
        inb %dx, %al
        movzbl %al, %ebx
        mov $SYS_EXIT, %eax
        EXIT

        .globl user_hlt
user_hlt:
        hlt
        xor %ebx, %ebx
        mov $SYS_EXIT, %eax
        EXIT

        .globl user_iopl_probe
user_iopl_probe:
        cli
        mov %esi, %edx
        inb %dx, %al
        pushf
        pop %ebx
        mov $SYS_EXIT, %eax
        EXIT

        .globl user_popf
user_popf:
        pushf
        pop %edx
        and $~0x200, %edx          // try to clear IF
        or $0x3000, %edx           // and to raise IOPL to 3
        push %edx
        popf
        pushf
        pop %ebx
        mov $SYS_EXIT, %eax
        EXIT

        .globl user_int_kernel
user_int_kernel:
        int $0x81
        xor %ebx, %ebx
        mov $SYS_EXIT, %eax
        EXIT

        .globl user_rdtsc
user_rdtsc:
        rdtsc
        mov %eax, %ebx
        mov $SYS_EXIT, %eax
        EXIT

        .globl user_wait_flag
user_wait_flag:
1:      cmpl $0, (%esi)
        jne 2f
        pause
        dec %ecx
        jnz 1b
2:      mov (%esi), %ebx
        mov $SYS_EXIT, %eax
        EXIT

        .balign 4096
        .globl guest_user_end
guest_user_end:

        .section .note.GNU-stack, "", @progbits
