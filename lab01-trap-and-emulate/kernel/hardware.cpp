#include "lab01-trap-and-emulate/kernel/hardware.hpp"

#include "common/arch/intrinsics.hpp"
#include "common/boot/console.hpp"
#include "common/boot/legacy_pic.hpp"
#include "common/memory/page_table.hpp"
#include "common/memory/physical_memory.hpp"
#include "common/runtime/panic.hpp"
#include "lab01-trap-and-emulate/src/address_space.hpp"

extern "C" {
extern char __hvlab_trap_start[], __hvlab_trap_end[];  // kernel/monitor.ld
extern const std::uint32_t hvlab_isr_table[256];       // common/boot/isr.S
extern std::uint32_t lab01_monitor_cr3, lab01_guest_cr3;  // kernel/trap_entry.S
// The TSC as the last trap reached the trap path, before its switch of address spaces.
std::uint64_t lab01_trap_tsc = 0;
void lab01_trap_gate_entry(hvlab::TrapFrame*);
void lab01_iret_to_guest();
void lab01_trap(hvlab::TrapFrame* f);
}

namespace hvlab::lab01 {

namespace {

// The CPU enters the monitor through its IDT with nothing but a frame: this is how the trap
// entry finds the hardware object again. Set once, by install().
KernelTrapHardware* the_cpu = nullptr;

std::uint32_t address(const void* p) { return reinterpret_cast<std::uint32_t>(p); }

}  // namespace

Status KernelTrapHardware::install(CpuTables& t, std::uint64_t ram_top, mem::FrameAllocator& frames,
                                   HostPhysAddr guest_directory, bool debugger_view) {
  namespace dt = x86::desc_type;
  using x86::SegmentDescriptor;
  // The monitor is loaded at its link addresses, and keeps them as offsets in segments based
  // at kMonitorBase: a pointer is a physical address before the move and after it.
  static mem::IdentityPhysicalMemory host(kHostReach);

  // What the CPU needs mapped to take a trap, from the top of the window down.
  const std::uint32_t trap_code_pages = (address(__hvlab_trap_end) - address(__hvlab_trap_start)) / kPageSize;
  const TrapPages runs[] = {
      {"trap code", HostPhysAddr(address(__hvlab_trap_start)), trap_code_pages, false},
      {"trap stack", HostPhysAddr(address(t.trap_stack)), 1, true},
      {"IDT, LDT and TSS", HostPhysAddr(address(t.idt)), 1, false},
      {"GDT", HostPhysAddr(address(t.gdt)), kGdtPages, false},
  };
  std::uint32_t linear[4];
  if (!place_trap_pages(runs, linear)) return Error::invalid_argument;
  const std::uint32_t code_at = linear[0], stack_at = linear[1], tables_at = linear[2], gdt_at = linear[3];
  auto alias = [&](const void* p) { return tables_at + (address(p) - address(t.idt)); };

  auto monitor = mem::HostPageTable32::create(host, frames);
  if (!monitor.ok()) return monitor.error();
  mem::HostPageTable32 mine = monitor.value();
  HV_TRY(map_host_ram(mine, ram_top, true));
  HV_TRY(map_trap_pages(mine, runs, linear));
  mem::HostPageTable32 guests(host, guest_directory, &frames);
  HV_TRY(map_trap_pages(guests, runs, linear));

  // Paging on. No global pages: the two directories map the window differently, and a TLB
  // entry of the monitor's must never survive the switch into the guest's.
  x86::write_cr4((x86::read_cr4() | x86::cr4::PSE) & ~x86::cr4::PGE);
  x86::write_cr3(mine.cr3());
  x86::write_cr0((x86::read_cr0() | x86::cr0::PG | x86::cr0::WP | x86::cr0::NE) &
                 ~(x86::cr0::TS | x86::cr0::EM | x86::cr0::MP));

  // The monitor's descriptors, accessed bits preset (the CPU reads them through read-only
  // pages). The trap code segment's base puts the trap pages' link addresses at code_at.
  t.gdt[kTrapCodeSlot] =
      SegmentDescriptor::make(code_at - address(__hvlab_trap_start), 0xffffffffu, dt::kCodeRXAccessed, 0);
  // Under a debugger the monitor's code segment is based at 0, through the mirror of the
  // window below (see the end): EIP is then the linear address, where QEMU's GDB stub puts
  // breakpoints, so `finish`, `next` and breakpoints by symbol work after the move.
  t.gdt[kMonitorCodeSlot] = SegmentDescriptor::make(debugger_view ? 0u : kMonitorBase, kMonitorSegmentLimit,
                                                    dt::kCodeRXAccessed, 0);
  t.gdt[kMonitorDataSlot] = SegmentDescriptor::make(kMonitorBase, kMonitorSegmentLimit, dt::kDataRWAccessed, 0);
  t.tss = x86::Tss32{};
  t.tss.ss0 = kMonitorDS;
  t.tss.esp0 = stack_at + sizeof t.trap_stack - kMonitorBase;  // an offset in the monitor's stack segment
  t.tss.iomap_base = sizeof(x86::Tss32);  // no I/O bitmap: every port traps at CPL > IOPL
  t.gdt[kMonitorTssSlot] = SegmentDescriptor::make(alias(&t.tss), sizeof(x86::Tss32) - 1, dt::kTss32Available, 0,
                                                   false, false);
  t.gdt[kMonitorLdtSlot] = SegmentDescriptor::make(alias(t.ldt), sizeof t.ldt - 1, dt::kLdt, 0, false, false);
  // Every vector to the monitor; a hypercall vector the back end added before (its DPL 1)
  // keeps that DPL.
  for (unsigned v = 0; v < 256; ++v)
    t.idt[v] = x86::GateDescriptor::make(hvlab_isr_table[v], kTrapCS, dt::kInterruptGate32, t.idt[v].dpl == 1 ? 1 : 0);

  // The GDT through its writable identity mapping first: LTR marks the TSS busy in it.
  x86::DescriptorTableRegister gdtr{sizeof t.gdt - 1, address(t.gdt)};
  x86::lgdt(gdtr);
  asm volatile(
      "ljmp %0, $1f\n"
      "1:\n"
      "mov %1, %%ax\n"
      "mov %%ax, %%ds\n"
      "mov %%ax, %%es\n"
      "mov %%ax, %%fs\n"
      "mov %%ax, %%gs\n"
      "mov %%ax, %%ss\n" ::"i"(kMonitorCS),
      "i"(kMonitorDS)
      : "eax", "memory");
  x86::ltr(kMonitorTss);
  x86::lldt(kMonitorLdt);
  // From now on the CPU finds its tables only in the trap pages.
  gdtr.base = gdt_at;
  x86::lgdt(gdtr);
  x86::DescriptorTableRegister idtr{sizeof t.idt - 1, alias(t.idt)};
  x86::lidt(idtr);

  // The kit's stubs call the trap path's own entry, which switches to the monitor's directory.
  set_trap_entry(lab01_trap_gate_entry, kMonitorDS);
  lab01_monitor_cr3 = mine.cr3();
  lab01_guest_cr3 = guest_directory.low32();
  frame_ = reinterpret_cast<TrapFrame*>(t.tss.esp0 - sizeof(TrapFrame));
  sw_.iret_eip = address(reinterpret_cast<const void*>(lab01_iret_to_guest));
  sw_.iret_cs = kTrapCS;
  the_cpu = this;

  // The low part of the monitor's own directory maps nothing from now on; under a debugger
  // it mirrors the window instead, so linear = offset (the identity map of host RAM stays).
  if (debugger_view) {
    for (unsigned i = 0; i < 4; ++i) {
      const std::uint32_t flags = x86::page::A | (runs[i].writable ? x86::page::RW | x86::page::D : 0u);
      HV_TRY(mine.map_range(HostVirtAddr(linear[i] - kMonitorBase), runs[i].phys,
                            std::uint64_t{runs[i].count} * kPageSize, flags));
    }
  } else {
    HV_TRY(mine.unmap_directory(HostVirtAddr(0), kMonitorBase));
  }
  x86::write_cr3(mine.cr3());
  return {};
}

void KernelTrapHardware::run_guest() {
  entered_ = x86::rdtsc();
  hvlab_guest_enter(frame_, &sw_);  // back here when lab01_trap() leaves
}

void KernelTrapHardware::guest_trapped(TrapFrame* f) {
  exited_ = lab01_trap_tsc;
  cr2_ = x86::read_cr2();
  if (f != frame_) HV_PANIC("lab01: a guest trap frame at %p, not on the trap stack (%p)", static_cast<void*>(f),
                            static_cast<void*>(frame_));
  hvlab_guest_leave(&sw_);
}

std::uint64_t KernelTrapHardware::rdtsc() { return x86::rdtsc(); }

/// A real IRQ 7 or 15 that is not in service is spurious (8259A data sheet): no EOI for it,
/// except to the master for a spurious IRQ 15 (the cascade line was in service).
bool KernelTrapHardware::spurious(unsigned irq) {
  if (irq != 7 && irq != 15) return false;
  if (pic::read_isr() & (1u << irq)) return false;
  if (irq == 15) pic::eoi(0);
  return true;
}

bool KernelTrapHardware::end_of_interrupt(unsigned irq) {
  if (spurious(irq)) return false;
  pic::eoi(irq);
  return true;
}

/// A slice that already ran out while the monitor worked has its IRQ0 latched in the real
/// PIC. It is taken here, inside the monitor, first: writing the PIT's mode word drops OUT,
/// which withdraws the request from the PIC but not the INTR line it already raised, and the
/// CPU would acknowledge it right after the IRET as a spurious IRQ 7, before the guest ran a
/// single instruction. On Bochs, whose virtual time makes one monitor entry longer than a
/// 1 ms guest tick, that loop of spurious interrupts was the whole run.
void KernelTrapHardware::arm_timer(std::uint16_t pit_ticks) {
  asm volatile("sti; nop; cli" ::: "memory");  // a pending tick arrives here (monitor_trap)
  pit::start_one_shot(pit_ticks);
}

std::uint32_t KernelTrapHardware::take_dr6() {
  std::uint32_t v;
  asm volatile("mov %%dr6, %0" : "=r"(v));
  asm volatile("mov %0, %%dr6" ::"r"(0xffff0ff0u));
  return v;
}

void KernelTrapHardware::set_rdtsc_traps(bool on) {
  std::uint32_t cr4 = x86::read_cr4();
  x86::write_cr4(on ? cr4 | x86::cr4::TSD : cr4 & ~x86::cr4::TSD);
}

void KernelTrapHardware::monitor_trap(TrapFrame& f) {
  unsigned vector = f.vector & 0xff;
  if (vector >= kIrqBase && vector < kIrqBase + 16) {
    unsigned irq = vector - kIrqBase;
    if (irq == 0) ++ticks_;
    if (!spurious(irq)) pic::eoi(irq);
    return;
  }
  dump_frame(f);
  dprintf("lab01: monitor fault: vector %u (%s) at eip=%08x error=%x cr2=%08x\n", vector, x86::vector::name(vector),
          f.eip, f.error_code, x86::read_cr2());
  machine_exit(exit_status::kPanic);
}

}  // namespace hvlab::lab01

extern "C" void lab01_trap(hvlab::TrapFrame* f) {
  using hvlab::lab01::the_cpu;
  if ((f->cs & 3) == 0) {
    the_cpu->monitor_trap(*f);
    return;
  }
  the_cpu->guest_trapped(f);
}
