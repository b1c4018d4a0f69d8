#pragma once
// A whole lab01 machine on the host: a Board with 4 MiB of guest RAM, the trap back end over
// fake hardware, lab01's handlers and the run loop's Machine. The guest "runs" when a test
// says what its next trap is: each step of the script edits the trap frame the back end gave
// it (the guest's registers as they are when it traps, the vector, the error code).

#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "common/arch/x86.hpp"
#include "common/decoder/decoder.hpp"
#include "common/memory/physical_memory.hpp"
#include "common/vmm/dispatcher.hpp"
#include "common/vmm/machine.hpp"
#include "common/vmm/testing/fake_machine.hpp"
#include "common/vmm/trace.hpp"
#include "lab01-trap-and-emulate/src/handlers.hpp"
#include "lab01-trap-and-emulate/src/trap_backend.hpp"

namespace hvlab::lab01::testing {

class FakeTrapHardware final : public TrapHardware {
 public:
  using Step = std::function<void(TrapFrame&)>;

  TrapFrame& frame() override { return f; }
  void run_guest() override {
    given.push_back(f);
    entered = clock;
    clock += step_tsc;
    exited = clock;
    if (script.empty()) {  // nothing scripted: the real timer fires
      f.vector = 0x20;
      f.error_code = 0;
      return;
    }
    Step s = std::move(script.front());
    script.pop_front();
    s(f);
  }
  std::uint64_t entered_at() const override { return entered; }
  std::uint64_t exited_at() const override { return exited; }
  std::uint32_t trap_cr2() const override { return cr2; }
  std::uint64_t rdtsc() override { return clock; }
  void arm_timer(std::uint16_t ticks) override { armed.push_back(ticks); }
  bool end_of_interrupt(unsigned irq) override {
    eois.push_back(irq);
    return !(irq == 7 && spurious_7);
  }
  std::uint32_t take_dr6() override {
    std::uint32_t v = dr6;
    dr6 = 0xffff0ff0u;
    return v;
  }
  void set_rdtsc_traps(bool on) override {
    rdtsc_traps = on;
    ++tsd_writes;
  }

  TrapFrame f{};
  std::deque<Step> script;
  std::vector<TrapFrame> given;  // the frame of every entry: what the guest was given
  std::uint64_t clock = 1000, step_tsc = 100, entered = 0, exited = 0;
  std::uint32_t cr2 = 0, dr6 = 0xffff0ff0u;
  std::vector<std::uint16_t> armed;
  std::vector<unsigned> eois;
  bool spurious_7 = false, rdtsc_traps = false;
  unsigned tsd_writes = 0;
};

struct TrapMachine {
  static constexpr std::uint64_t kRam = 4u << 20;
  static constexpr std::uint64_t kHostBase = 0x10000000, kHostFrames = 48;
  static constexpr std::uint64_t kRamHpa = 0x20000000;
  /// Where the guest's code starts: clear of the tables guest_tables() writes.
  static constexpr std::uint32_t kCode = 0xa000;

  TrapMachine()
      : ram(kRam), host_ram(kHostFrames * kPageSize),
        host(host_ram.data(), HostPhysAddr(kHostBase), host_ram.size()),
        board(&console, &debug),
        backend(std::make_unique<TrapBackend>(
            board, TrapBackend::Config{&hw, &host, HostPhysAddr(kHostBase), HostPhysAddr(kHostBase + kPageSize), 32})),
        trace(trace_out),
        machine("lab01", board, *backend, dispatcher, trace, diag) {
    (void)board.add_ram(kRam, ram.data(), HostPhysAddr(kRamHpa));
    board.set_tsc_hz(1'000'000);
    install_handlers(dispatcher);
    VCpu& v = vcpu();
    v.cs = 0x08;
    v.ss = v.ds = v.es = v.fs = v.gs = 0x10;
    v.eip = kCode;
    v.regs.esp = 0x9000;
  }
  VCpu& vcpu() { return machine.vcpu(); }

  void put(std::uint32_t gpa, const std::vector<std::uint8_t>& bytes) {
    std::memcpy(ram.data() + gpa, bytes.data(), bytes.size());
  }
  void put32(std::uint32_t gpa, std::uint32_t v) { std::memcpy(ram.data() + gpa, &v, 4); }
  void put64(std::uint32_t gpa, std::uint64_t v) { std::memcpy(ram.data() + gpa, &v, 8); }
  std::uint32_t u32(std::uint32_t gpa) const {
    std::uint32_t v;
    std::memcpy(&v, ram.data() + gpa, 4);
    return v;
  }

  /// The guest runs on from where the vCPU is and traps with `vector` (error code `error`)
  /// without changing anything else; returns the Event the back end built.
  Event trap(unsigned vector, std::uint32_t error = 0) {
    hw.script.push_back([vector, error](TrapFrame& f) {
      f.vector = vector;
      f.error_code = error;
    });
    return backend->enter(vcpu());
  }
  /// `bytes` at the vCPU's EIP (paging off, flat segments) trap with #GP(0): the event, then
  /// its handler, as the run loop would dispatch it.
  Action run_insn(const std::vector<std::uint8_t>& bytes) {
    put(vcpu().eip, bytes);
    last = trap(x86::vector::GP, 0);
    return dispatcher.dispatch(machine, vcpu(), last);
  }
  /// Paging on, through 4 KiB pages that map the first 4 MiB onto themselves (a directory
  /// at 0x10000, a table at 0x11000).
  void identity_paging() {
    namespace pg = x86::page;
    put32(0x10000, 0x11000 | pg::P | pg::RW | pg::US);
    for (std::uint32_t i = 0; i < 1024; ++i) put32(0x11000 + i * 4, (i << 12) | pg::P | pg::RW | pg::US);
    vcpu().cr0 |= x86::cr0::PG;
    vcpu().cr3 = 0x10000;
  }
  /// The event the run loop would inject next (after a handler raised or planned one), or an
  /// invalid one.
  vmm::PendingEvent pending() { return board.has_pending_event() ? board.pending_event() : vmm::PendingEvent{}; }

  /// A flat guest GDT at 0x1000 (null, code 0x08, data 0x10, user code 0x1b, user data 0x23,
  /// TSS 0x28 at 0x3000, LDT 0x30 at 0x4000), an IDT at 0x2000 (0x20: an interrupt gate,
  /// 0x80: a DPL-3 trap gate, 0x81: DPL 0, 13: the #GP handler, 8: #DF), TSS.SS0:ESP0 0x10:0x8000.
  void guest_tables() {
    using x86::SegmentDescriptor;
    namespace dt = x86::desc_type;
    VCpu& v = vcpu();
    put64(0x1008, SegmentDescriptor::make(0, 0xffffffff, dt::kCodeRX, 0).raw());
    put64(0x1010, SegmentDescriptor::make(0, 0xffffffff, dt::kDataRW, 0).raw());
    put64(0x1018, SegmentDescriptor::make(0, 0xffffffff, dt::kCodeRX, 3).raw());
    put64(0x1020, SegmentDescriptor::make(0, 0xffffffff, dt::kDataRW, 3).raw());
    put64(0x1028, SegmentDescriptor::make(0x3000, 103, dt::kTss32Available, 0, false, false).raw());
    put64(0x1030, SegmentDescriptor::make(0x4000, 31, dt::kLdt, 0, false, false).raw());
    v.gdtr = {0x37, 0x1000};
    v.idtr = {0x7ff, 0x2000};
    put64(0x2000 + 0x20 * 8, x86::GateDescriptor::make(0x5000, 0x08, dt::kInterruptGate32, 0).raw());
    put64(0x2000 + 0x80 * 8, x86::GateDescriptor::make(0x5080, 0x08, dt::kTrapGate32, 3).raw());
    put64(0x2000 + 0x81 * 8, x86::GateDescriptor::make(0x5081, 0x08, dt::kInterruptGate32, 0).raw());
    put64(0x2000 + 13 * 8, x86::GateDescriptor::make(0x500d, 0x08, dt::kInterruptGate32, 0).raw());
    put64(0x2000 + 8 * 8, x86::GateDescriptor::make(0x5008, 0x08, dt::kInterruptGate32, 0).raw());
    put32(0x3004, 0x8000);  // TSS.ESP0
    put32(0x3008, 0x10);    // TSS.SS0
    v.tr = 0x28;
    backend->descriptors().gdt_loaded();
  }

  std::vector<std::uint8_t> ram, host_ram;
  mem::WindowPhysicalMemory<HostPhysAddr> host;
  vmm::fake::RecordingSink console, debug;
  vmm::fake::StringSink trace_out, diag;
  vmm::Board board;
  FakeTrapHardware hw;
  std::unique_ptr<TrapBackend> backend;
  vmm::Dispatcher dispatcher;
  vmm::TraceWriter trace;
  vmm::Machine machine;
  Event last;
};

inline decoder::Instruction decode(const std::vector<std::uint8_t>& bytes) {
  decoder::Decoder d(decoder::Mode::k32);
  auto r = d.decode(bytes.data(), bytes.size());
  return r.ok() ? r.value() : decoder::Instruction{};
}

/// Flat segments, for make_trap_event and the operand helpers.
struct FlatSegments final : SegmentBases {
  std::uint32_t base = 0;
  std::uint32_t segment_base(std::uint16_t) const override { return base; }
};

}  // namespace hvlab::lab01::testing
