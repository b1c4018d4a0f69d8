#include "lab05-type1-vs-type2/src/entry_state.hpp"

#include <fmt/format.h>

#include "common/arch/x86.hpp"
#include "common/runtime/exercise.hpp"

namespace hvlab::lab05 {

void multiboot_entry_state(const MultibootEntry& entry, kvm_regs* regs, kvm_sregs* sregs) {
  // BEGIN SOLUTION lab05-e2
  // Multiboot 3.2: CS a 32-bit read/execute code segment, DS/ES/FS/GS/SS 32-bit read/write
  // data segments, all with base 0 and limit 0xFFFFFFFF. KVM takes the hidden parts of each
  // segment register directly (kvm_segment), so no GDT is needed in guest memory: the
  // kernel loads its own before it reloads a segment register. The selectors are the
  // usual ones; the specification leaves them undefined.
  kvm_segment code{};
  code.base = 0;
  code.limit = 0xffffffff;
  code.selector = 0x08;
  code.type = 0xb;  // execute/read, accessed (SDM vol. 3 table 3-1)
  code.present = 1;
  code.dpl = 0;
  code.db = 1;  // 32-bit default operand size
  code.s = 1;   // a code or data segment, not a system one
  code.g = 1;   // limit in 4 KiB units
  kvm_segment data = code;
  data.selector = 0x10;
  data.type = 0x3;  // read/write, accessed
  sregs->cs = code;
  sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = data;
  // VM entry wants a usable TR holding a busy 32-bit TSS (SDM 27.3.1.2) and an LDTR that
  // is unusable or an LDT: give them that, though the kernel never uses them unloaded.
  kvm_segment tr{};
  tr.limit = 0x67;
  tr.type = 0xb;
  tr.present = 1;
  sregs->tr = tr;
  kvm_segment ldt{};
  ldt.type = 0x2;
  ldt.unusable = 1;
  sregs->ldt = ldt;
  // CR0: PE set, PG clear (3.2); ET is fixed on every processor since the 486. The reset
  // value's CD and NW would leave caching off: a loader runs with it on.
  sregs->cr0 = x86::cr0::PE | x86::cr0::ET;
  sregs->cr4 = 0;
  sregs->efer = 0;
  // EFLAGS: VM and IF clear; bit 1 is always 1.
  *regs = kvm_regs{};
  regs->rflags = x86::eflags::FIXED1;
  regs->rip = entry.entry;
  regs->rax = entry.magic;
  regs->rbx = entry.info;
  // STUB: (void)entry; (void)regs; (void)sregs;
  // END SOLUTION
}

namespace {

bool flat(const kvm_segment& s) { return s.base == 0 && s.limit == 0xffffffff && s.present && !s.unusable; }

}  // namespace

std::string check_multiboot_state(const MultibootEntry& entry, const kvm_regs& regs, const kvm_sregs& sregs) {
  if (regs.rip != entry.entry) return fmt::format("EIP is 0x{:x}, not the entry point 0x{:x}", regs.rip, entry.entry);
  if (static_cast<std::uint32_t>(regs.rax) != entry.magic)
    return fmt::format("EAX is 0x{:x}, not the multiboot magic 0x{:x}", regs.rax, entry.magic);
  if (static_cast<std::uint32_t>(regs.rbx) != entry.info)
    return fmt::format("EBX is 0x{:x}, not the multiboot information's address 0x{:x}", regs.rbx, entry.info);
  if (!flat(sregs.cs) || !sregs.cs.s || !(sregs.cs.type & 0x8) || !(sregs.cs.type & 0x2) || !sregs.cs.db || sregs.cs.l)
    return "CS is not a flat 32-bit read/execute code segment (base 0, limit 0xFFFFFFFF, type 0xB, D/B = 1)";
  const kvm_segment* data[] = {&sregs.ds, &sregs.es, &sregs.fs, &sregs.gs, &sregs.ss};
  const char* names[] = {"DS", "ES", "FS", "GS", "SS"};
  for (int i = 0; i < 5; ++i) {
    const kvm_segment& s = *data[i];
    if (!flat(s) || !s.s || (s.type & 0x8) || !(s.type & 0x2) || !s.db)
      return fmt::format("{} is not a flat 32-bit read/write data segment (base 0, limit 0xFFFFFFFF, type 0x3)",
                         names[i]);
  }
  if (!(sregs.cr0 & x86::cr0::PE)) return "CR0.PE is clear: a multiboot kernel starts in protected mode";
  if (sregs.cr0 & x86::cr0::PG) return "CR0.PG is set: a multiboot kernel starts with paging off";
  if (regs.rflags & x86::eflags::IF) return "EFLAGS.IF is set: a multiboot kernel starts with interrupts off";
  if (regs.rflags & x86::eflags::VM) return "EFLAGS.VM is set: a multiboot kernel does not start in virtual-8086 mode";
  if (sregs.efer & (1u << 10)) return "EFER.LMA is set: a multiboot kernel starts in 32-bit protected mode";
  return {};
}

std::string describe_entry_state(const kvm_regs& regs, const kvm_sregs& sregs) {
  return fmt::format("eip=0x{:08x} eax=0x{:08x} ebx=0x{:08x} eflags=0x{:x} cr0=0x{:x} cs={:#x}/{:#x} db={} ss={:#x}",
                     regs.rip, regs.rax, regs.rbx, regs.rflags, sregs.cr0, sregs.cs.selector, sregs.cs.type,
                     sregs.cs.db, sregs.ss.selector);
}

}  // namespace hvlab::lab05
