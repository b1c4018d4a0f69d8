// The nanobenchmarks' code that must sit at known addresses: kernel probes whose faults
// the kernel fixes up, and the user programs (their own page-aligned section, opened to
// user mode at start-up).

#include "autograder/guests/nanobench/syscalls.h"

        .text

// Divides 1 by 0. The #DE handler resumes at nb_divide_resume (an exception-table fix-up,
// as a kernel does for a fault it expects).
        .globl nb_divide_probe, nb_divide_site, nb_divide_resume
        .type nb_divide_probe, @function
nb_divide_probe:
        xor %edx, %edx
        mov $1, %eax
        xor %ecx, %ecx
nb_divide_site:
        div %ecx
nb_divide_resume:
        ret
        .size nb_divide_probe, . - nb_divide_probe

// Returns the word at its argument (the page-fault nanobenchmark reads not-present pages
// through it; the #PF handler maps the page and the read is retried).
        .globl nb_read_probe
        .type nb_read_probe, @function
nb_read_probe:
        mov 4(%esp), %eax
        mov (%eax), %eax
        ret
        .size nb_read_probe, . - nb_read_probe

// The call/ret nanobenchmark's callee.
        .globl nb_null
        .type nb_null, @function
nb_null:
        ret
        .size nb_null, . - nb_null

        .section .text.nanobench_user, "ax", @progbits
        .balign 4096
        .globl nb_user_begin
nb_user_begin:

// ECX null system calls, then exit with status 0.
        .globl nb_user_syscalls
nb_user_syscalls:
1:      mov $NB_SYS_NULL, %eax
        int $0x80
        dec %ecx
        jnz 1b
        xor %ebx, %ebx
        mov $NB_SYS_EXIT, %eax
        int $0x80
        ud2

// One process of the macro workload: EDX = its stack top, ECX = rounds, ESI = its heap,
// EDI = heap pages, EBX = turns of the user work loop per round. Each round it runs that
// loop (3 instructions a turn, none of them privileged or sensitive: the user computation
// between kernel entries), increments the first word of every heap page (the first touch
// faults the page in, zero-filled), asks the kernel for port I/O, yields to the other
// process and releases its heap. It exits with EBX = the sum of the words it incremented,
// rounds * pages when every page came in zero-filled and stayed its own, and ECX = the sum
// of the loop counters over every turn of every round (mod 2^32).
        .globl nb_user_process
nb_user_process:
        mov %edx, %esp
        push %ebx                       // 4(%esp): turns of the work loop per round
        push $0                         // (%esp): the work loop's sum
        xor %ebp, %ebp
1:      mov 4(%esp), %ebx
        test %ebx, %ebx
        jz 3f
        mov (%esp), %eax
2:      add %ebx, %eax
        dec %ebx
        jnz 2b
        mov %eax, (%esp)
3:      mov %esi, %edx
        mov %edi, %ebx
4:      incl (%edx)
        add (%edx), %ebp
        add $4096, %edx
        dec %ebx
        jnz 4b
        mov $NB_SYS_PORT_IO, %eax
        int $0x80
        mov $NB_SYS_YIELD, %eax
        int $0x80
        mov $NB_SYS_RELEASE, %eax
        int $0x80
        dec %ecx
        jnz 1b
        mov %ebp, %ebx
        mov (%esp), %ecx
        mov $NB_SYS_EXIT, %eax
        int $0x80
        ud2

        .balign 4096
        .globl nb_user_end
nb_user_end:

        .section .note.GNU-stack, "", @progbits
