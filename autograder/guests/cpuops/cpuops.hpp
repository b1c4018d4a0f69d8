#pragma once
// The guest kernel's CPU-operations layer: every privileged or sensitive operation the
// guest's own infrastructure performs (interrupt flag, port I/O, control registers, paging
// structures, descriptor tables, MSRs, halting, entering user mode) goes through here.
//
// One header, one implementation file per flavour, chosen at link time:
//   native.cpp       each operation is the instruction itself (bare metal, lab01, lab02,
//                    lab04, lab05 all run this flavour: the guest is unmodified);
//   paravirt.cpp     lab03's paravirtual flavour: hypercalls and the shared info page instead.
// The test sources never change between flavours. Tests that check an INSTRUCTION's
// architectural behaviour execute that instruction themselves with inline assembly; this
// layer is only for the scaffolding around them.
//
// Rules a flavour must keep:
//  - the guest never reads state back through an unprivileged instruction (SGDT, SIDT,
//    SMSW, STR, PUSHF...) to make decisions: the layer tracks what it needs;
//  - page-table and descriptor-table entries are written through set_pte() and
//    write_descriptor(), so a paravirtual flavour can validate or batch them;
//  - functions are ordinary calls (not inline), so a flavour is a drop-in object file.

#include <cstdint>

#include "common/arch/x86.hpp"

namespace hvlab::guest::cpu {

/// "native", "paravirt", ...: printed in the suite's KTAP header.
const char* flavour();
/// Why this flavour cannot run on this machine (the paravirtual build on bare hardware, where
/// no monitor wrote its start info), or nullptr. The test runner then lists its tests as
/// failed with that reason and bails out, before any other operation.
const char* unavailable();

// ---- Interrupt flag and halting ---------------------------------------------------------
void irq_disable();                    ///< CLI
void irq_enable();                     ///< STI
/// Loads EFLAGS wholesale (IF, IOPL, TF, DF...): the suite's reset between tests uses it
/// to return to a known state. Native: POPF.
void restore_flags(std::uint32_t eflags);
/// Waits for an interrupt with IF as it is (native: HLT).
void halt();

// ---- Port I/O -------------------------------------------------------------------------
std::uint8_t in8(std::uint16_t port);
std::uint16_t in16(std::uint16_t port);
std::uint32_t in32(std::uint16_t port);
void out8(std::uint16_t port, std::uint8_t v);
void out16(std::uint16_t port, std::uint16_t v);
void out32(std::uint16_t port, std::uint32_t v);
/// End of interrupt for a legacy PIC line (both PICs for IRQ 8-15).
void pic_eoi(unsigned irq);

// ---- Control registers and paging ------------------------------------------------------
std::uint32_t read_cr0();
void write_cr0(std::uint32_t v);
std::uint32_t read_cr2();
std::uint32_t read_cr3();
std::uint32_t read_cr4();
void write_cr4(std::uint32_t v);
/// Switches to the page directory at physical `pd` (also flushes non-global TLB entries).
void load_cr3(std::uint32_t pd);
/// Loads CR3 and turns paging on with the given extra CR0 bits (e.g. WP).
void enable_paging(std::uint32_t pd, std::uint32_t cr0_extra);
/// Writes one paging-structure entry (PDE or PTE) the guest owns. No TLB flush.
void set_pte(volatile std::uint32_t* entry, std::uint32_t value);
void invlpg(std::uint32_t linear);

// ---- Batching ---------------------------------------------------------------------------
/// Between batch_begin() and batch_end() a flavour may hold back page-table writes (set_pte)
/// and port writes (out8/16/32) and make them together, in order, at batch_end() or at the
/// next operation that returns a value (an IN), whichever comes first (Linux's lazy MMU mode
/// is the model). The caller promises not to read back, before batch_end(), an entry it wrote
/// inside the batch, nor to rely on a port write's effect before that. Batches nest. Native:
/// no effect.
void batch_begin();
void batch_end();

// ---- Descriptor tables and tasks ---------------------------------------------------------
/// LGDT, then reloads CS with `code` and DS, ES, FS, GS, SS with `data`.
void load_gdt(const x86::DescriptorTableRegister& gdtr, std::uint16_t code, std::uint16_t data);
void load_idt(const x86::DescriptorTableRegister& idtr);
void load_ldt(std::uint16_t selector);
/// LTR `selector`; `tss` is the TSS it names (the layer keeps it for set_kernel_stack).
void load_tr(std::uint16_t selector, x86::Tss32* tss);
/// Writes one GDT or LDT entry.
void write_descriptor(volatile std::uint64_t* slot, std::uint64_t value);
/// The stack the CPU switches to on a trap from user mode (TSS.SS0:ESP0 of the current TSS).
void set_kernel_stack(std::uint16_t ss0, std::uint32_t esp0);
/// Reloads DS, ES, FS and GS with `data` (after a trap from user mode or a test that
/// changed them).
void load_data_segments(std::uint16_t data);

// ---- MSRs, time stamp counter, debug registers -----------------------------------------
std::uint64_t rdmsr(std::uint32_t msr);
void wrmsr(std::uint32_t msr, std::uint64_t v);
std::uint64_t rdtsc();
std::uint32_t read_dr(unsigned n);          ///< n = 0-3, 6, 7
void write_dr(unsigned n, std::uint32_t v);

// ---- User mode --------------------------------------------------------------------------
/// Starts executing the register frame `frame` (a hvlab::TrapFrame with a user CS and SS):
/// IRET to ring 3. Returns only by a trap from user mode (the suite resumes a saved
/// kernel context from its trap handler).
[[noreturn]] void enter_user(void* frame);

}  // namespace hvlab::guest::cpu
