// The hypercall fuzzer (libFuzzer). Each input is a program for a small paravirtual guest
// (16 frames of RAM: request buffers, a page directory and a page table that identity-map
// its memory, the shared info page, an output page, data): hypercalls with arguments the
// input chooses (biased towards addresses, entries and pointers that mean something here),
// batches of page-table updates, multicalls, the guest's own stores to the memory it can
// write, paging turned off and on, exceptions and upcalls delivered through the trap table.
//
// After every step: the page-table invariants hold (counts recomputed from the tables, no
// foreign frame, no writable page table, no monitor slot; PvMmu::check_invariants), the
// event-channel table is consistent, a hypercall never stops the machine (only a shutdown
// may), EIP moved past the trap, and a call refused before it did anything changed neither
// guest memory nor the domain. AddressSanitizer and UBSan turn any fault of the monitor's
// code into a crash. The last lines printed say how many hypercalls ran and how many checks
// held; HVLAB_FUZZ_CALLS=N stops the run after N hypercalls.

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "lab03-paravirt/tests/pv_fixture.hpp"

using namespace hvlab;
using namespace hvlab::lab03;
using hvlab::lab03::testing::PvFixture;

namespace {

constexpr std::uint32_t kPages = 16;
constexpr std::uint32_t kArgs = 0x0000, kMulti = 0x0800, kPd = 2, kPt = 3, kShared = 4, kOut = 5;
constexpr std::uint32_t kOutAddr = kOut << 12;
namespace page = x86::page;

struct Totals {
  std::uint64_t calls = 0, multicall_entries = 0, checks = 0, refused_unchanged = 0, inputs = 0;
  std::uint64_t pt_updates = 0, pt_refused = 0, validations = 0, upcalls = 0;
  std::uint64_t limit = 0;
  ~Totals() { report(); }
  void report() const {
    std::printf("hypercall_fuzz: %llu hypercalls, %llu invariant checks, 0 violations "
                "(%llu inputs, %llu multicall entries, %llu refusals checked unchanged; page-table entries "
                "written %llu, refused %llu, tables validated %llu; upcalls %llu)\n",
                static_cast<unsigned long long>(calls), static_cast<unsigned long long>(checks),
                static_cast<unsigned long long>(inputs), static_cast<unsigned long long>(multicall_entries),
                static_cast<unsigned long long>(refused_unchanged), static_cast<unsigned long long>(pt_updates),
                static_cast<unsigned long long>(pt_refused), static_cast<unsigned long long>(validations),
                static_cast<unsigned long long>(upcalls));
    std::fflush(stdout);
  }
} g_totals;

[[noreturn]] void violation(const char* what, const std::string& detail) {
  std::fprintf(stderr, "hypercall_fuzz: VIOLATION: %s: %s\n", what, detail.c_str());
  std::abort();
}

// ---- Arguments that mean something on this guest ------------------------------------------------

std::uint32_t frame_addr(FuzzedDataProvider& p) { return p.ConsumeIntegralInRange<std::uint32_t>(0, kPages + 3) << 12; }

std::uint32_t entry_value(FuzzedDataProvider& p) {
  std::uint32_t flags = p.ConsumeIntegral<std::uint8_t>() | (p.ConsumeBool() ? page::P : 0);
  return frame_addr(p) | (flags & 0xfff);
}

std::uint32_t entry_address(FuzzedDataProvider& p) {
  const std::uint32_t frames[] = {kPd, kPt, kShared, 6, 7, p.ConsumeIntegralInRange<std::uint32_t>(0, kPages + 2)};
  const std::uint32_t f = p.PickValueInArray(frames);
  std::uint32_t index = p.ConsumeBool() ? p.ConsumeIntegralInRange<std::uint32_t>(0, 20)
                                        : p.ConsumeIntegralInRange<std::uint32_t>(0, 1023);
  if (p.ConsumeIntegralInRange<int>(0, 7) == 0) index = 960 + p.ConsumeIntegralInRange<std::uint32_t>(0, 63);
  return f << 12 | index * 4 | (p.ConsumeIntegralInRange<int>(0, 15) == 0 ? p.ConsumeIntegralInRange<std::uint32_t>(1, 3) : 0);
}

std::uint32_t arg(FuzzedDataProvider& p) {
  switch (p.ConsumeIntegralInRange<int>(0, 8)) {
    case 0: return p.ConsumeIntegral<std::uint32_t>();
    case 1: return p.ConsumeIntegralInRange<std::uint32_t>(0, kPages * 4096 + 8192);
    case 2: return entry_value(p);
    case 3: return kArgs + p.ConsumeIntegralInRange<std::uint32_t>(0, 64) * 4;
    case 4: return HVLAB_PV_HYPERVISOR_VIRT_START + p.ConsumeIntegralInRange<std::uint32_t>(0, 0x2000);
    case 5: return p.ConsumeIntegralInRange<std::uint32_t>(0, 300);
    case 6: return entry_address(p);
    case 7: return 0xffffffffu - p.ConsumeIntegralInRange<std::uint32_t>(0, 64);
    default: return kOutAddr + p.ConsumeIntegralInRange<std::uint32_t>(0, 1024) * 4;
  }
}

std::uint32_t hypercall_number(FuzzedDataProvider& p) {
  if (p.ConsumeIntegralInRange<int>(0, 15) == 0) return p.ConsumeIntegral<std::uint32_t>();
  return p.ConsumeIntegralInRange<std::uint32_t>(0, HVLAB_PV_NR_HYPERCALLS + 1);
}

// ---- The guest ---------------------------------------------------------------------------------

struct Guest : PvFixture {
  Guest() : PvFixture(kPages) {}

  void boot(bool paging, bool handlers) {
    if (handlers) {  // as if the guest had set up its trap table, callback and kernel stack
      for (unsigned v = 0; v < 48; ++v) domain.traps[v] = {0x09, static_cast<std::uint8_t>(v >= 32 ? HVLAB_PV_TI_MASK_EVENTS : 0), 0x1000 + v * 16};
      domain.traps[0x80] = {0x09, 3, 0x1800};
      domain.event_callback = {0x09, 0x1900};
      domain.kernel_ss = 0x11, domain.kernel_esp = 0x1f00, domain.kernel_stack_set = true;
    }
    for (unsigned i = 0; i < 1024; ++i) set_entry(kPd, i, 0), set_entry(kPt, i, 0);
    for (std::uint32_t f = 0; f < kPages; ++f)
      set_entry(kPt, f, f << 12 | page::P | (f == kPd || f == kPt ? 0 : page::RW));
    set_entry(kPd, 0, kPt << 12 | page::P | page::RW);
    if (!domain.attach_shared(GuestPhysAddr(kShared << 12))) violation("setup", "shared info");
    vcpu().regs.esp = 0x2000;
    if (paging && start_paging(kPd) < 0) violation("setup", "paging");
  }

  // What a refused call must not change.
  struct Snapshot {
    std::vector<std::uint8_t> ram;
    std::vector<FrameInfo> frames;
    std::vector<TrapEntry> traps;
    Callback event, failsafe;
    std::uint32_t kernel_esp;
    std::uint16_t kernel_ss;
    bool stack_set, paging, has_base;
    std::uint32_t base, bound, timer_port;
    std::uint64_t deadline;
  };
  Snapshot snapshot() const {
    Snapshot s{ram, frames, std::vector<TrapEntry>(std::begin(domain.traps), std::end(domain.traps)),
               domain.event_callback, domain.failsafe_callback, domain.kernel_esp, domain.kernel_ss,
               domain.kernel_stack_set, domain.mmu.paging(), domain.mmu.has_base(), domain.mmu.base(),
               domain.events.bound(), domain.events.port_of_virq(HVLAB_PV_VIRQ_TIMER), domain.timer_deadline_ns};
    std::memset(s.ram.data() + kOutAddr, 0, 4096);  // outputs (done counts) may change
    return s;
  }
  bool same(const Snapshot& a, const Snapshot& b) const {
    auto eq_frames = [](const std::vector<FrameInfo>& x, const std::vector<FrameInfo>& y) {
      for (std::size_t i = 0; i < x.size(); ++i)
        if (x[i].type != y[i].type || x[i].pin != y[i].pin || x[i].count != y[i].count) return false;
      return true;
    };
    auto eq_traps = [](const std::vector<TrapEntry>& x, const std::vector<TrapEntry>& y) {
      for (std::size_t i = 0; i < x.size(); ++i)
        if (x[i].cs != y[i].cs || x[i].flags != y[i].flags || x[i].address != y[i].address) return false;
      return true;
    };
    return a.ram == b.ram && eq_frames(a.frames, b.frames) && eq_traps(a.traps, b.traps) &&
           a.event.cs == b.event.cs && a.event.eip == b.event.eip && a.failsafe.eip == b.failsafe.eip &&
           a.kernel_esp == b.kernel_esp && a.kernel_ss == b.kernel_ss && a.stack_set == b.stack_set &&
           a.paging == b.paging && a.has_base == b.has_base && a.base == b.base && a.bound == b.bound &&
           a.timer_port == b.timer_port && a.deadline == b.deadline;
  }

  // The guest's own store: it cannot write a live page table (its mappings of one are
  // read-only), so such a store is dropped, as the guest's would fault.
  bool writable_by_guest(std::uint32_t addr) const {
    const FrameInfo& fi = frames[(addr >> 12) % kPages];
    return !(domain.mmu.paging() && fi.count && (fi.type == PageType::l1 || fi.type == PageType::l2));
  }
  template <typename T>
  void store(std::uint32_t addr, const T& v) {
    if (writable_by_guest(addr) && writable_by_guest(addr + sizeof v - 1)) put(addr, v);
  }

  void check(const char* step) {
    ++g_totals.checks;
    if (std::string why = invariants(); !why.empty()) violation(step, why);
  }

  // One hypercall with the checks that go with any call. `atomic`: a refusal must leave
  // everything as it was (calls that refuse before doing anything).
  int hypercall(std::uint32_t nr, const std::uint32_t (&a)[5], bool atomic) {
    const Snapshot before = atomic ? snapshot() : Snapshot{};
    const std::uint32_t eip = PvFixture::kStubEip + nr * HVLAB_PV_STUB_SIZE + 5;
    const std::uint8_t cpl = vcpu().cpl;
    const int rc = call(nr, a[0], a[1], a[2], a[3], a[4]);
    ++g_totals.calls;
    if (cpl == 0 && vcpu().eip != eip + 2) violation("dispatch", "EIP did not move past the trap");
    if (!board.running() && !board.guest_exited()) violation("dispatch", board.stop_reason());
    if (atomic && cpl == 0 && rc < 0) {
      if (!same(before, snapshot())) violation("refusal", std::string(hypercall_name(nr)) + " changed state");
      ++g_totals.refused_unchanged;
    }
    check(hypercall_name(nr));
    if (g_totals.limit && g_totals.calls >= g_totals.limit) {
      g_totals.report();
      std::_Exit(0);
    }
    return rc;
  }
};

// Calls whose refusal may come after part of the work (batches, outputs, devices).
bool refusal_is_atomic(std::uint32_t nr) {
  return nr != HVLAB_PV_mmu_update && nr != HVLAB_PV_mmuext_op && nr != HVLAB_PV_multicall &&
         nr != HVLAB_PV_port_io && nr != HVLAB_PV_console_write;
}

void step(Guest& g, FuzzedDataProvider& p) {
  switch (p.ConsumeIntegralInRange<int>(0, 9)) {
    case 0:
    case 1: {  // any hypercall
      const std::uint32_t nr = hypercall_number(p);
      const std::uint32_t a[5] = {arg(p), arg(p), arg(p), arg(p), arg(p)};
      g.hypercall(nr, a, refusal_is_atomic(nr));
      break;
    }
    case 2: {  // a batch of page-table updates
      const std::uint32_t n = p.ConsumeIntegralInRange<std::uint32_t>(0, 8);
      for (std::uint32_t i = 0; i < n; ++i) g.store(kArgs + 8 * i, hvlab_pv_mmu_update{entry_address(p), entry_value(p)});
      const std::uint32_t count = p.ConsumeIntegralInRange<int>(0, 15) ? n : arg(p);
      const std::uint32_t done = p.ConsumeIntegralInRange<int>(0, 7) ? kOutAddr : arg(p);
      g.store(kOutAddr, 0xffffffffu);
      const std::uint32_t a[5] = {kArgs, count, done, 0, 0};
      const auto before = g.snapshot();
      const int rc = g.hypercall(HVLAB_PV_mmu_update, a, false);
      // Refused at the first request: nothing may have changed but the count.
      if (rc < 0 && done == kOutAddr && g.get<std::uint32_t>(kOutAddr) == 0) {
        if (!g.same(before, g.snapshot())) violation("refusal", "mmu_update refused its first request but changed state");
        ++g_totals.refused_unchanged;
      }
      break;
    }
    case 3: {  // extended operations
      const std::uint32_t n = p.ConsumeIntegralInRange<std::uint32_t>(0, 4);
      for (std::uint32_t i = 0; i < n; ++i) {
        const std::uint32_t cmd = p.ConsumeIntegralInRange<std::uint32_t>(0, HVLAB_PV_NR_MMUEXT_OPS);
        g.store(kArgs + 8 * i, hvlab_pv_mmuext_op{cmd, p.ConsumeBool() ? frame_addr(p) : arg(p)});
      }
      const std::uint32_t a[5] = {kArgs, n, kOutAddr, 0, 0};
      g.hypercall(HVLAB_PV_mmuext_op, a, false);
      break;
    }
    case 4: {  // a multicall
      const std::uint32_t n = p.ConsumeIntegralInRange<std::uint32_t>(0, 6);
      for (std::uint32_t i = 0; i < n; ++i) {
        hvlab_pv_multicall_entry e{};
        e.op = hypercall_number(p);
        for (auto& x : e.args) x = arg(p);
        if (e.op == HVLAB_PV_mmu_update || e.op == HVLAB_PV_mmuext_op) e.args[0] = kArgs;
        g.store(kMulti + 32 * i, e);
      }
      const std::uint32_t a[5] = {p.ConsumeIntegralInRange<int>(0, 7) ? kMulti : arg(p), n, 0, 0, 0};
      g.hypercall(HVLAB_PV_multicall, a, false);
      g_totals.multicall_entries += n;
      break;
    }
    case 5: {  // the guest's own store, where it can write
      const std::uint32_t f = p.ConsumeIntegralInRange<std::uint32_t>(0, kPages - 1);
      g.store(f << 12 | p.ConsumeIntegralInRange<std::uint32_t>(0, 1023) * 4, p.ConsumeBool() ? entry_value(p) : arg(p));
      g.check("guest store");
      break;
    }
    case 6:  // paging off, or on (validating what is pinned)
      if (g.domain.mmu.paging()) {
        g.domain.mmu.disable_paging();
        g.vcpu().cr0 &= ~x86::cr0::PG;
      } else if (g.domain.mmu.enable_paging() == 0) {
        g.vcpu().cr0 |= x86::cr0::PG | x86::cr0::WP;
      }
      g.check("paging");
      break;
    case 7: {  // an exception, interrupt or INT n through the trap table
      const unsigned vector = p.ConsumeIntegral<std::uint8_t>();
      const auto kind = static_cast<Delivery>(p.ConsumeIntegralInRange<int>(0, 2));
      deliver(g.machine, vector, kind, p.ConsumeBool(), arg(p));
      g.check("deliver");
      break;
    }
    case 8:  // time passes, VIRQs, the guest unmasks events, the upcall
      g.domain.publish_time(g.board, p.ConsumeIntegral<std::uint32_t>());
      if (p.ConsumeBool()) g.store(kShared << 12 | SharedInfo::kMask, std::uint8_t{0});
      g.domain.events.raise_virq(p.ConsumeIntegralInRange<std::uint32_t>(0, HVLAB_PV_NR_VIRQS));
      deliver_upcall(g.machine);
      g.check("events");
      break;
    default:  // the guest elsewhere: user mode, another stack
      g.vcpu().cpl = p.ConsumeBool() ? 3 : 0;
      g.vcpu().regs.esp = p.ConsumeBool() ? 0x2000 : arg(p);
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* n = std::getenv("HVLAB_FUZZ_CALLS")) g_totals.limit = std::strtoull(n, nullptr, 10);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider p(data, size);
  ++g_totals.inputs;
  Guest g;
  const bool paging = p.ConsumeBool(), handlers = p.ConsumeBool();
  g.boot(paging, handlers);
  g.check("boot");
  while (p.remaining_bytes() > 0 && g.board.running()) step(g, p);
  g_totals.pt_updates += g.domain.mmu.stats().updates;
  g_totals.pt_refused += g.domain.mmu.stats().refused;
  g_totals.validations += g.domain.mmu.stats().validations;
  g_totals.upcalls += g.domain.upcalls;
  return 0;
}
