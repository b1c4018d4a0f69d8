/* hvlab's paravirtual ABI, version 1: what a paravirtual guest and the lab03 monitor agree
 * on. This one header is the whole contract; it is C (C99 and C++20 alike), with no other
 * include than <stdint.h>, so any guest kernel can use it.
 *
 * ---- Register convention (32-bit x86) -------------------------------------------------------
 *   The guest calls the stub of hypercall NR in the hypercall page:
 *       call hypercall_page + NR * HVLAB_PV_STUB_SIZE
 *   The stub puts NR in EAX and traps into the monitor (INT 0x82; the guest never codes the
 *   trap itself, so the monitor may change it).
 *   Arguments:  EBX, ECX, EDX, ESI, EDI  = arguments 1 to 5 (in that order, as Xen's).
 *   Result:     EAX >= 0 on success (0, or a count), -HVLAB_PV_E* on failure.
 *   Preserved:  every register but EAX and the arithmetic flags.
 *   Who:        the guest kernel only (ring 1). From user mode (ring 3) the trap is a #GP.
 *   Pointers:   guest-virtual addresses in the guest's current address space; each is
 *               checked to lie in the guest's own memory, below HVLAB_PV_HYPERVISOR_VIRT_START,
 *               or the call fails with -HVLAB_PV_EFAULT and changes nothing.
 *   Frames:     page-table entries and the mmu_update "ptr" hold guest-physical addresses
 *               (pseudo-physical, as Xen's translated guests: the monitor maps them on).
 *
 * ---- Start of day -------------------------------------------------------------------------
 *   The guest's image carries a struct hvlab_pv_header within its first 8 KiB (like the
 *   multiboot header). It names three pages of the guest's own memory: the hypercall page
 *   (the monitor writes the stubs into it), the shared info page (the monitor initialises
 *   it) and the start info page (the monitor fills in a struct hvlab_pv_start_info). Before it
 *   runs any guest code, the monitor has done all three, so the guest knows it runs
 *   paravirtualized when start_info.magic is HVLAB_PV_START_MAGIC.
 *
 * ---- Interrupts are events ------------------------------------------------------------------
 *   vcpu_info.evtchn_upcall_mask is the guest's interrupt flag: 1 masks every event (the
 *   guest's "CLI" is a store, never a trap). Events wait in the shared info page's bitmaps
 *   and are delivered through the event callback (set_callbacks) with a frame like an
 *   interrupt's: EIP, CS, EFLAGS (EFLAGS.IF = !mask before delivery), and the mask set. After
 *   clearing the mask the guest checks evtchn_upcall_pending and, if set, makes any
 *   hypercall (version is the cheapest): the monitor delivers what waits on its way back.
 *   User mode always runs with events enabled: the guest kernel returns to user mode with
 *   its own IRET and the mask still set, and the monitor clears the mask at its first entry
 *   from user mode, so what waits is taken in user mode, as after an IRET that sets IF.
 */
#ifndef HVLAB_PV_H
#define HVLAB_PV_H

#include <stdint.h>

#define HVLAB_PV_ABI_VERSION 0x00010000u /* major 1, minor 0 */
#define HVLAB_PV_TRAP_VECTOR 0x82u       /* what the stubs trap with */
#define HVLAB_PV_STUB_SIZE 32u           /* bytes per hypercall in the page */
#define HVLAB_PV_MAX_HYPERCALLS 128u     /* stubs in one 4 KiB page */
#define HVLAB_PV_PAGE_SIZE 4096u

/* No guest mapping reaches this linear address or above: the monitor lives there. */
#define HVLAB_PV_HYPERVISOR_VIRT_START 0xF0000000u

/* ---- The hypercalls: X(number, name, arguments, what it does) ------------------------------ */
#define HVLAB_PV_HYPERCALLS(X)                                                                    \
  X(0, version, 0, "the ABI version (HVLAB_PV_ABI_VERSION); also delivers waiting events")       \
  X(1, console_write, 2, "(const char* buf, uint32 len): print on the console; returns len")     \
  X(2, set_trap_table, 2, "(const trap_info* table, uint32 count): exception and INT n handlers") \
  X(3, mmu_update, 3, "(const mmu_update* req, uint32 count, uint32* done): page-table writes")  \
  X(4, mmuext_op, 3, "(const mmuext_op* op, uint32 count, uint32* done): pin, base, flushes")    \
  X(5, update_va_mapping, 3, "(uint32 va, uint32 pte, uint32 flags): one PTE by address")        \
  X(6, stack_switch, 2, "(uint32 ss, uint32 esp): the kernel stack for traps from user mode")   \
  X(7, set_callbacks, 4, "(event cs, event eip, failsafe cs, failsafe eip)")                     \
  X(8, set_timer_op, 2, "(uint32 lo, uint32 hi): VIRQ_TIMER at this system time (ns); 0 stops")  \
  X(9, sched_op, 2, "(uint32 cmd, uint32 arg): yield, block until an event, shutdown")           \
  X(10, event_channel_op, 2, "(uint32 cmd, void* arg): bind_virq, bind_ipi, send, unmask, close") \
  X(11, multicall, 2, "(multicall_entry* calls, uint32 count): a batch with one entry")         \
  X(12, port_io, 4, "(uint32 port, uint32 size | dir, uint32 value, uint32* in): device ports")

enum hvlab_pv_hypercall {
#define HVLAB_PV_X(nr, name, nargs, what) HVLAB_PV_##name = nr,
  HVLAB_PV_HYPERCALLS(HVLAB_PV_X)
#undef HVLAB_PV_X
  HVLAB_PV_NR_HYPERCALLS
};

/* ---- Error codes (returned negated), Linux's numbers as Xen's ------------------------------- */
#define HVLAB_PV_ERRORS(X)                                                           \
  X(EPERM, 1, "not permitted: a frame the guest does not own, the monitor's area")  \
  X(ESRCH, 3, "no such event channel or virtual IRQ")                                \
  X(E2BIG, 7, "a count above the call's limit")                                      \
  X(EFAULT, 14, "a pointer outside the guest's memory, or not mapped")              \
  X(EBUSY, 16, "the frame is in use as a page table (or mapped writable)")          \
  X(EEXIST, 17, "already bound or already pinned")                                   \
  X(EINVAL, 22, "a bad argument: alignment, command, selector, a value out of range") \
  X(ENOSPC, 28, "no free event channel")                                             \
  X(ENOSYS, 38, "no such hypercall")

enum hvlab_pv_error {
#define HVLAB_PV_X(name, value, what) HVLAB_PV_##name = value,
  HVLAB_PV_ERRORS(HVLAB_PV_X)
#undef HVLAB_PV_X
};

/* ---- The hypercall page ---------------------------------------------------------------------
 * Stub NR, at offset NR * 32 (Xen's layout):
 *   b8 NN NN NN NN    mov $NR, %eax
 *   cd 82             int $0x82
 *   c3                ret
 *   cc ...            int3 up to the next stub
 */

/* ---- Structures in guest memory --------------------------------------------------------------- */

/* In the guest's image, 4-byte aligned within its first 8 KiB (common/boot/kernel.ld keeps
 * the section .hvlab_pv_header there). The page addresses are link-time symbols, which no
 * relocation can add up into a checksum: the header is closed by the inverted magic instead,
 * and the monitor checks each page it names. */
#define HVLAB_PV_HEADER_MAGIC 0x56506876u /* "hvPV" */
struct hvlab_pv_header {
  uint32_t magic;          /* HVLAB_PV_HEADER_MAGIC */
  uint32_t abi_version;    /* HVLAB_PV_ABI_VERSION the guest was built for */
  uint32_t hypercall_page; /* guest-physical, page-aligned */
  uint32_t shared_info;    /* guest-physical, page-aligned */
  uint32_t start_info;     /* guest-physical, page-aligned */
  uint32_t magic_end;      /* ~HVLAB_PV_HEADER_MAGIC */
};

#define HVLAB_PV_START_MAGIC "hvlab-pv-1"
struct hvlab_pv_start_info {
  char magic[16];                 /* HVLAB_PV_START_MAGIC, NUL-padded */
  uint32_t abi_version;           /* the monitor's HVLAB_PV_ABI_VERSION */
  uint32_t nr_pages;              /* guest RAM: frames 0 .. nr_pages - 1 */
  uint32_t hypervisor_virt_start; /* HVLAB_PV_HYPERVISOR_VIRT_START */
  uint32_t shared_info;           /* guest-physical, as the header named it */
  uint32_t tsc_khz;               /* the guest's TSC frequency */
  uint32_t flags;                 /* none defined: 0 */
};

/* vcpu_info.time: the guest's clock without a trap (Xen's vcpu_time_info). Read it as
 *   do { v = version; (read) } while ((v & 1) || v != version);
 *   ns = system_time + (((tsc - tsc_timestamp) << tsc_shift) * tsc_to_system_mul >> 32)
 * (a negative tsc_shift shifts right). */
struct hvlab_pv_vcpu_time {
  uint32_t version; /* odd while the monitor updates the record */
  uint32_t pad0;
  uint64_t tsc_timestamp;      /* the guest's TSC at the update */
  uint64_t system_time;        /* ns since the guest started, at tsc_timestamp */
  uint32_t tsc_to_system_mul;  /* ns per TSC tick, 0.32 fixed point, after the shift */
  int8_t tsc_shift;
  uint8_t pad1[3];
};

struct hvlab_pv_vcpu_info {
  uint8_t evtchn_upcall_pending; /* an event waits for the callback */
  uint8_t evtchn_upcall_mask;    /* the guest's interrupt flag, inverted: 1 holds events */
  uint8_t pad0[2];
  uint32_t evtchn_pending_sel;   /* bit w: word w of evtchn_pending has an unmasked event */
  uint32_t cr2;                  /* the linear address of the last page fault delivered */
  uint32_t pad1;
  struct hvlab_pv_vcpu_time time;
};

#define HVLAB_PV_NR_EVENT_CHANNELS 1024u /* 32 words of 32 bits */
struct hvlab_pv_shared_info {
  struct hvlab_pv_vcpu_info vcpu_info[1];
  uint32_t evtchn_pending[HVLAB_PV_NR_EVENT_CHANNELS / 32];
  uint32_t evtchn_mask[HVLAB_PV_NR_EVENT_CHANNELS / 32];
};

/* set_trap_table: one entry per vector the guest handles (at most 256 per call). */
#define HVLAB_PV_TI_DPL_MASK 0x03u    /* who may reach it with INT n: 0 kernel, 3 user too */
#define HVLAB_PV_TI_MASK_EVENTS 0x04u /* mask events on entry (an interrupt gate's IF = 0) */
struct hvlab_pv_trap_info {
  uint8_t vector;
  uint8_t flags;    /* HVLAB_PV_TI_* */
  uint16_t cs;      /* the guest's kernel code selector */
  uint32_t address; /* the handler; 0 removes the vector's entry */
};

/* mmu_update: write the 4-byte page-table entry at guest-physical ptr (command in bits 0-1). */
#define HVLAB_PV_MMU_NORMAL_PT_UPDATE 0u
#define HVLAB_PV_MAX_MMU_UPDATES 512u /* per call */
struct hvlab_pv_mmu_update {
  uint32_t ptr; /* guest-physical address of the entry | command */
  uint32_t val; /* the new entry */
};

/* mmuext_op commands. arg is a guest-physical frame address for the pin/unpin/base ones, a
 * linear address for invlpg_local. */
#define HVLAB_PV_MMUEXT_OPS(X)                                                          \
  X(0, pin_l1_table, "validate a page table and keep it typed as one")               \
  X(1, pin_l2_table, "validate a page directory (and its tables) and keep it typed")  \
  X(2, unpin_table, "drop the pin; an unused table becomes ordinary memory again")   \
  X(3, new_baseptr, "switch to a page directory (CR3): validated if not yet")         \
  X(4, tlb_flush_local, "flush the TLB (non-global entries)")                          \
  X(5, invlpg_local, "flush the TLB entry of one linear address")

enum hvlab_pv_mmuext_cmd {
#define HVLAB_PV_X(nr, name, what) HVLAB_PV_MMUEXT_##name = nr,
  HVLAB_PV_MMUEXT_OPS(HVLAB_PV_X)
#undef HVLAB_PV_X
  HVLAB_PV_NR_MMUEXT_OPS
};
#define HVLAB_PV_MAX_MMUEXT_OPS 64u /* per call */
struct hvlab_pv_mmuext_op {
  uint32_t cmd;
  uint32_t arg;
};

/* update_va_mapping flags: the flush that goes with the new entry. */
#define HVLAB_PV_UVMF_NONE 0u
#define HVLAB_PV_UVMF_TLB_FLUSH 1u
#define HVLAB_PV_UVMF_INVLPG 2u

/* sched_op commands. */
#define HVLAB_PV_SCHEDOP_yield 0u    /* give the CPU up (a hint) */
#define HVLAB_PV_SCHEDOP_block 1u    /* clear the event mask, sleep until an event is pending */
#define HVLAB_PV_SCHEDOP_shutdown 2u /* stop the guest; arg is its exit status (0-255) */

/* Virtual IRQs a port can be bound to. */
#define HVLAB_PV_VIRQ_TIMER 0u /* the one-shot timer of set_timer_op fired */
#define HVLAB_PV_VIRQ_DEBUG 1u /* raised by the monitor for tests and demos */
#define HVLAB_PV_NR_VIRQS 2u

/* event_channel_op commands and their argument structures. */
#define HVLAB_PV_EVTCHNOP_bind_virq 0u /* struct hvlab_pv_evtchn_bind_virq */
#define HVLAB_PV_EVTCHNOP_bind_ipi 1u  /* struct hvlab_pv_evtchn_port (port out) */
#define HVLAB_PV_EVTCHNOP_send 2u      /* struct hvlab_pv_evtchn_port (an IPI port) */
#define HVLAB_PV_EVTCHNOP_unmask 3u    /* struct hvlab_pv_evtchn_port */
#define HVLAB_PV_EVTCHNOP_close 4u     /* struct hvlab_pv_evtchn_port */
struct hvlab_pv_evtchn_bind_virq {
  uint32_t virq; /* in */
  uint32_t port; /* out */
};
struct hvlab_pv_evtchn_port {
  uint32_t port;
};

/* multicall: each entry runs as if called alone, its result in `result`; no multicall
 * inside a multicall. */
#define HVLAB_PV_MAX_MULTICALLS 64u
struct hvlab_pv_multicall_entry {
  uint32_t op;
  int32_t result; /* written by the monitor */
  uint32_t args[6];
};

/* port_io: size in bits 0-7 (1, 2 or 4), HVLAB_PV_PORT_IN in bit 8; value for an OUT; an IN
 * stores the value at *in. */
#define HVLAB_PV_PORT_IN 0x100u

#ifdef __cplusplus
static_assert(sizeof(struct hvlab_pv_header) == 24, "ABI: header");
static_assert(sizeof(struct hvlab_pv_start_info) == 40, "ABI: start info");
static_assert(sizeof(struct hvlab_pv_vcpu_time) == 32, "ABI: vcpu_time");
static_assert(sizeof(struct hvlab_pv_vcpu_info) == 48, "ABI: vcpu_info");
static_assert(sizeof(struct hvlab_pv_shared_info) == 48 + 256, "ABI: shared info");
static_assert(sizeof(struct hvlab_pv_trap_info) == 8, "ABI: trap_info");
static_assert(sizeof(struct hvlab_pv_mmu_update) == 8, "ABI: mmu_update");
static_assert(sizeof(struct hvlab_pv_mmuext_op) == 8, "ABI: mmuext_op");
static_assert(sizeof(struct hvlab_pv_multicall_entry) == 32, "ABI: multicall_entry");
static_assert(HVLAB_PV_NR_HYPERCALLS <= HVLAB_PV_MAX_HYPERCALLS, "ABI: one page of stubs");
#endif

#endif /* HVLAB_PV_H */
