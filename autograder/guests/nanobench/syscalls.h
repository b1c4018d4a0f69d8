/* The nanobenchmark guest's system calls (INT 0x80, number in EAX, result in EAX), for its
   C++ and its assembly. 0 and 1 are the shared kernel's own: exit (EBX = status) and add. */
#pragma once

#define NB_SYS_EXIT 0    /* the shared kernel's exit; the macro workload switches on it */
#define NB_SYS_NULL 16   /* does nothing: the syscall nanobenchmark */
#define NB_SYS_PORT_IO 17 /* reads a CMOS register (an index write, a data read) */
#define NB_SYS_YIELD 18  /* switches to the other process */
#define NB_SYS_RELEASE 19 /* unmaps the caller's heap (PTE write and INVLPG per page) */
