#pragma once
// A paravirtual machine for host tests: the kit's Board with guest RAM in an array, its
// scripted fake back end, and lab03's Domain, with helpers to lay out guest memory, to make
// hypercalls the way the guest does (registers in, EAX out) and to build page tables.

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "common/arch/paging.hpp"
#include "common/arch/x86.hpp"
#include "common/vmm/testing/fake_machine.hpp"
#include "lab03-paravirt/src/domain.hpp"
#include "lab03-paravirt/src/hypercalls.hpp"

namespace hvlab::lab03::testing {

/// Records what the page-table layer asked of the hardware.
struct RecordingObserver final : MmuObserver {
  struct Write {
    std::uint32_t entry, old, now;
  };
  std::vector<Write> writes;
  std::vector<std::uint32_t> bases, flushed_pages;
  unsigned full_flushes = 0;
  void entry_written(GuestPhysAddr e, std::uint32_t old, std::uint32_t now) override {
    writes.push_back({e.low32(), old, now});
  }
  void base_changed(GuestPhysAddr d) override { bases.push_back(d.low32()); }
  void flush(std::uint32_t linear, bool all) override {
    if (all)
      ++full_flushes;
    else
      flushed_pages.push_back(linear);
  }
};

struct PvFixture {
  static constexpr std::uint32_t kKernelCS = 0x09, kKernelDS = 0x11;  // ring-1 selectors
  static constexpr std::uint32_t kStubEip = 0x1000;                     // where "the guest" traps

  explicit PvFixture(std::uint32_t pages = 64)
      : ram(std::size_t{pages} * kPageSize),
        board(&console, &debug),
        ram_added(board.add_ram(ram.size(), ram.data(), HostPhysAddr(0x100000)).ok()),
        backend(board),
        trace(trace_out),
        frames(pages),
        domain(board.memory(), frames.data(), pages),
        machine("lab03", board, backend, dispatcher, trace, diag, domain) {
    board.set_tsc_hz(1'000'000);
    board.set_trace(&trace);
    install_hypercall_handler(dispatcher);
    domain.mmu.set_observer(&observer);
    vmm::VCpu& v = vcpu();
    v.cpl = 0;
    v.cs = kKernelCS;
    v.ss = v.ds = v.es = kKernelDS;
    v.regs.esp = 0x9000;  // the kernel stack: frame 8
    v.eflags = x86::eflags::FIXED1;
  }

  vmm::VCpu& vcpu() { return machine.vcpu(); }

  /// A hypercall as the guest makes it: the trap's Event through the kit's Dispatcher.
  /// Returns EAX as a signed result.
  int call(std::uint32_t nr, std::uint32_t a1 = 0, std::uint32_t a2 = 0, std::uint32_t a3 = 0, std::uint32_t a4 = 0,
           std::uint32_t a5 = 0) {
    vmm::VCpu& v = vcpu();
    v.regs.eax = nr;
    v.regs.ebx = a1, v.regs.ecx = a2, v.regs.edx = a3, v.regs.esi = a4, v.regs.edi = a5;
    v.eip = kStubEip + nr * HVLAB_PV_STUB_SIZE + 5;  // the INT 0x82 of stub nr
    vmm::Event e;
    e.source = vmm::Source::hypercall;
    e.reason = vmm::Reason::hypercall;
    e.hypercall = nr;
    e.guest_eip = v.eip;
    e.guest_cpl = v.cpl;
    e.insn_length = 2;
    last_action = dispatcher.dispatch(machine, v, e);
    return static_cast<int>(v.regs.eax);
  }

  // ---- Guest memory (paging off: guest-virtual = guest-physical) -------------------------------
  template <typename T>
  void put(std::uint32_t gpa, const T& v) {
    std::memcpy(ram.data() + gpa, &v, sizeof v);
  }
  template <typename T>
  T get(std::uint32_t gpa) const {
    T v;
    std::memcpy(&v, ram.data() + gpa, sizeof v);
    return v;
  }
  std::uint32_t entry(std::uint32_t frame, unsigned index) const { return get<std::uint32_t>(frame * 4096 + index * 4); }
  void set_entry(std::uint32_t frame, unsigned index, std::uint32_t v) { put(frame * 4096 + index * 4, v); }

  /// One mmu_update request through the hypercall, the request itself placed at `at`.
  int update(std::uint32_t ptr, std::uint32_t val, std::uint32_t at = 0x3000) {
    put(at, hvlab_pv_mmu_update{ptr, val});
    return call(HVLAB_PV_mmu_update, at, 1, 0);
  }
  int mmuext(std::uint32_t cmd, std::uint32_t arg, std::uint32_t at = 0x3800) {
    put(at, hvlab_pv_mmuext_op{cmd, arg});
    return call(HVLAB_PV_mmuext_op, at, 1, 0);
  }

  /// The usual layout of these tests: page directory in frame `pd`, one page table in frame
  /// `pt` for the first 4 MiB, which maps frames 0 .. `mapped`-1 at their own address,
  /// writable except the two table frames (mapped read-only, as a paravirtual guest must).
  void build_identity(std::uint32_t pd = 10, std::uint32_t pt = 11, std::uint32_t mapped = 32) {
    namespace page = x86::page;
    for (unsigned i = 0; i < 1024; ++i) set_entry(pd, i, 0), set_entry(pt, i, 0);
    for (std::uint32_t f = 0; f < mapped; ++f) {
      const bool table = f == pd || f == pt;
      set_entry(pt, f, f << 12 | page::P | (table ? 0 : page::RW));
    }
    set_entry(pd, 0, pt << 12 | page::P | page::RW);
  }
  /// Pins the layout's directory, makes it the base, and turns paging on (with WP).
  int start_paging(std::uint32_t pd = 10) {
    if (int rc = mmuext(HVLAB_PV_MMUEXT_pin_l2_table, pd << 12); rc < 0) return rc;
    if (int rc = mmuext(HVLAB_PV_MMUEXT_new_baseptr, pd << 12); rc < 0) return rc;
    if (int rc = domain.mmu.enable_paging(); rc < 0) return rc;
    vcpu().cr0 |= x86::cr0::PG | x86::cr0::WP;
    return 0;
  }
  /// The invariants of the page-table layer and the event channels ("" when they hold).
  std::string invariants() const {
    std::uint32_t gfn = 0;
    if (const char* why = domain.mmu.check_invariants(&gfn)) return std::string(why) + " (frame " + std::to_string(gfn) + ")";
    if (const char* why = domain.events.check_invariants()) return why;
    return "";
  }

  vmm::fake::RecordingSink console, debug;
  vmm::fake::StringSink trace_out, diag;
  std::vector<std::uint8_t> ram;
  vmm::Board board;
  bool ram_added;
  vmm::fake::FakeBackend backend;
  vmm::Dispatcher dispatcher;
  vmm::TraceWriter trace;
  std::vector<FrameInfo> frames;
  Domain domain;
  PvMachine machine;
  RecordingObserver observer;
  vmm::Action last_action = vmm::Action::resume;
};

}  // namespace hvlab::lab03::testing
