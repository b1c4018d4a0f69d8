// The pvabi guest: the paravirtual ABI itself (lab03-paravirt/abi/hvlab_pv.h), tested from a
// guest kernel under lab03's monitor. suite_pv shows that the test suite runs unchanged over
// hypercalls; this guest calls them directly, with good and hostile arguments: a page-table
// update that would map the monitor or a frame the guest does not own, pointers into the
// monitor, a flood of events. Each refusal must return its error code and change nothing.
// KTAP on COM1, as the suite (same kernel, same runner); tests in exercise order (lab03-e1
// ... e6). Command line: first=K, only=NAME, nonce=HEX, seed=HEX (suite/order.hpp).

#include "autograder/guests/cpuops/paravirt.hpp"
#include "autograder/guests/suite/suite.hpp"
#include "common/boot/kernel.hpp"
#include "common/runtime/string.hpp"

namespace hvlab::guest {
namespace {

namespace page = x86::page;

/// An address in the monitor's area, which no guest pointer may reach.
constexpr std::uint32_t kMonitorVa = HVLAB_PV_HYPERVISOR_VIRT_START + 0x1000;

int hc(unsigned nr, std::uint32_t a1 = 0, std::uint32_t a2 = 0, std::uint32_t a3 = 0, std::uint32_t a4 = 0) {
  return pv::hypercall(nr, a1, a2, a3, a4);
}
int err(int e) { return -e; }
template <class T>
std::uint32_t addr(T* p) {
  return reinterpret_cast<std::uint32_t>(p);
}

// ---- e1: entry and dispatch --------------------------------------------------------------------

void pv_version() {
  EXPECT_EQ(hc(HVLAB_PV_version), HVLAB_PV_ABI_VERSION, "version");
  EXPECT_EQ(pv::start_info().abi_version, HVLAB_PV_ABI_VERSION, "start info's ABI version");
}

// A number beyond the table, made with the trap itself (the page has no stub for it).
void pv_unknown_number() {
  static const std::uint32_t kNumbers[] = {HVLAB_PV_NR_HYPERCALLS, 127u, 0x80000000u, 0xffffffffu};
  for (std::uint32_t nr : kNumbers) {
    std::uint32_t eax = nr;
    asm volatile("int $0x82" : "+a"(eax)::"memory", "cc");
    EXPECT(static_cast<int>(eax) == err(HVLAB_PV_ENOSYS), "hypercall %u returned %d, expected -ENOSYS (%d)", nr,
           static_cast<int>(eax), err(HVLAB_PV_ENOSYS));
  }
  EXPECT_EQ(hc(HVLAB_PV_version), HVLAB_PV_ABI_VERSION, "version after the unknown numbers");
}

// ---- e2: the console -----------------------------------------------------------------------------

void pv_console_write() {
  static const char line[] = "# pv_console_write: this line came through console_write\n";
  EXPECT_EQ(hc(HVLAB_PV_console_write, addr(line), sizeof line - 1), sizeof line - 1, "console_write's result");
  EXPECT_EQ(hc(HVLAB_PV_console_write, addr(line), 0), 0, "console_write of 0 bytes");
  EXPECT_EQ(hc(HVLAB_PV_console_write, addr(line), 4097), err(HVLAB_PV_E2BIG), "console_write of 4097 bytes");
}

// A pointer into the monitor: refused, nothing printed, nothing of the monitor read.
void pv_pointer_into_monitor() {
  EXPECT_EQ(hc(HVLAB_PV_console_write, kMonitorVa, 64), err(HVLAB_PV_EFAULT), "console_write from the monitor");
  EXPECT_EQ(hc(HVLAB_PV_console_write, HVLAB_PV_HYPERVISOR_VIRT_START - 8, 64), err(HVLAB_PV_EFAULT),
            "console_write across the monitor's start");
  EXPECT_EQ(hc(HVLAB_PV_set_trap_table, kMonitorVa, 4), err(HVLAB_PV_EFAULT), "set_trap_table read from the monitor");
  EXPECT_EQ(hc(HVLAB_PV_port_io, 0x3ff, 1 | HVLAB_PV_PORT_IN, 0, kMonitorVa), err(HVLAB_PV_EFAULT),
            "port_io IN written into the monitor");
  std::uint32_t done = 0;
  EXPECT_EQ(hc(HVLAB_PV_mmu_update, kMonitorVa, 2, addr(&done)), err(HVLAB_PV_EFAULT), "mmu_update read from the monitor");
  EXPECT_EQ(hc(HVLAB_PV_version), HVLAB_PV_ABI_VERSION, "the monitor still answers");
}

// ---- e3: the trap table --------------------------------------------------------------------------

volatile unsigned g_arrived = 0;

void pv_trap_table() {
  set_trap_handler(kSpareVectorB, [](TrapFrame& f) { g_arrived = f.vector; });
  static hvlab_pv_trap_info entry[1];
  entry[0] = {kSpareVectorB, 0, sel::kKernelCS, isr_stub(kSpareVectorB)};
  EXPECT_EQ(hc(HVLAB_PV_set_trap_table, addr(entry), 1), 0, "set_trap_table of one vector");
  g_arrived = 0;
  asm volatile("int %0" ::"i"(kSpareVectorB) : "memory");
  EXPECT_EQ(g_arrived, kSpareVectorB, "the vector that arrived through the trap table");
  // A handler in the monitor's area, and a user-mode selector: refused, the old entry stays.
  static hvlab_pv_trap_info bad[2];
  bad[0] = {kSpareVectorB, 0, sel::kKernelCS, kMonitorVa};
  EXPECT_EQ(hc(HVLAB_PV_set_trap_table, addr(bad), 1), err(HVLAB_PV_EPERM), "a handler in the monitor");
  bad[0] = {kSpareVectorB, 0, sel::kUserCS, isr_stub(kSpareVectorA)};
  EXPECT_EQ(hc(HVLAB_PV_set_trap_table, addr(bad), 1), err(HVLAB_PV_EINVAL), "a handler with a user-mode selector");
  EXPECT_EQ(hc(HVLAB_PV_set_trap_table, addr(entry), 257), err(HVLAB_PV_E2BIG), "257 entries");
  g_arrived = 0;
  asm volatile("int %0" ::"i"(kSpareVectorB) : "memory");
  EXPECT_EQ(g_arrived, kSpareVectorB, "the vector after the refused updates");
}

// ---- e4: validated page-table updates -------------------------------------------------------------

int mmu_update(std::uint32_t entry_gpa, std::uint32_t value, std::uint32_t* done) {
  static hvlab_pv_mmu_update req;
  req = {entry_gpa | HVLAB_PV_MMU_NORMAL_PT_UPDATE, value};
  *done = 0xdead;
  return hc(HVLAB_PV_mmu_update, addr(&req), 1, addr(done));
}

void pv_mmu_update() {
  // The test page table's entry for test page 0 (the kernel identity-maps its RAM, so the
  // entry's address is its guest-physical address).
  const std::uint32_t pte = addr(&g_test_pt[0]);
  std::uint32_t* f = reinterpret_cast<std::uint32_t*>(frame(0));
  f[0] = 0x9a6e0001;
  std::uint32_t done;
  EXPECT_EQ(mmu_update(pte, frame_pa(0) | page::P | page::RW, &done), 0, "mmu_update of one entry");
  EXPECT_EQ(done, 1u, "*done");
  EXPECT_EQ(*reinterpret_cast<volatile std::uint32_t*>(test_va(0)), 0x9a6e0001u, "the frame read through the new entry");
  EXPECT_EQ(mmu_update(pte, 0, &done), 0, "mmu_update clearing it");
}

// Xen's rules, each refusal leaving the entry as it was.
void pv_mmu_refusals() {
  const std::uint32_t pte = addr(&g_test_pt[1]);
  const std::uint32_t before = g_test_pt[1];
  const std::uint32_t nr_pages = pv::start_info().nr_pages;
  std::uint32_t done;
  EXPECT_EQ(mmu_update(pte, (nr_pages + 16) << 12 | page::P, &done), err(HVLAB_PV_EPERM),
            "mapping a frame beyond the guest's memory");
  EXPECT_EQ(done, 0u, "*done after a refusal");
  const std::uint32_t table = pte & ~0xfffu;  // the test page table's own frame
  EXPECT_EQ(mmu_update(pte, table | page::P | page::RW, &done), err(HVLAB_PV_EBUSY), "a page table mapped writable");
  EXPECT_EQ(mmu_update(pte | 2, frame_pa(1) | page::P, &done), err(HVLAB_PV_EINVAL), "an unknown command");
  EXPECT_EQ(mmu_update((nr_pages + 16) << 12, 0, &done), err(HVLAB_PV_EPERM), "an entry in a frame beyond the guest's memory");
  EXPECT_EQ(g_test_pt[1], before, "the entry after the refusals");
}

// A directory entry over the monitor's area (0xF0000000 and up): refused, whatever it names.
void pv_mmu_map_monitor() {
  const std::uint32_t slot = HVLAB_PV_HYPERVISOR_VIRT_START >> 22;
  const std::uint32_t pde = cpu::read_cr3() + slot * 4;
  const std::uint32_t test_table = addr(&g_test_pt[0]) & ~0xfffu;
  std::uint32_t done;
  EXPECT_EQ(mmu_update(pde, test_table | page::P | page::RW, &done), err(HVLAB_PV_EPERM),
            "a directory entry in the monitor's slots");
  EXPECT_EQ(mmu_update(pde + 4 * 15, 0x00000000u | page::P | page::PS | page::RW, &done), err(HVLAB_PV_EPERM),
            "a 4 MiB page over the monitor");
  EXPECT_EQ(g_pd[slot], 0u, "the directory entry after the refusal");
  EXPECT_EQ(g_pd[slot + 15], 0u, "the other directory entry after the refusal");
}

// ---- e5: event channels and the upcall ------------------------------------------------------------

volatile unsigned g_upcalls = 0;
volatile std::uint32_t g_seen[HVLAB_PV_NR_EVENT_CHANNELS / 32];

// The event callback: takes what is pending (Xen's two-level scan) and clears it.
void on_upcall(TrapFrame&) {
  volatile hvlab_pv_shared_info& s = pv::shared();
  ++g_upcalls;
  s.vcpu_info[0].evtchn_upcall_pending = 0;
  const std::uint32_t sel = __atomic_exchange_n(&s.vcpu_info[0].evtchn_pending_sel, 0u, __ATOMIC_SEQ_CST);
  for (unsigned w = 0; w < 32; ++w) {
    if (!(sel & (1u << w))) continue;
    const std::uint32_t bits = s.evtchn_pending[w] & ~s.evtchn_mask[w];
    __atomic_fetch_and(&s.evtchn_pending[w], ~bits, __ATOMIC_SEQ_CST);
    g_seen[w] |= bits;
  }
}

bool seen(std::uint32_t port) { return g_seen[port / 32] & (1u << (port % 32)); }

void arm_callback() {
  for (auto& w : g_seen) w = 0;
  g_upcalls = 0;
  set_trap_handler(kSpareVectorA, on_upcall);
}

int evtchn(std::uint32_t cmd, void* arg) { return hc(HVLAB_PV_event_channel_op, cmd, addr(arg)); }

void pv_event_ipi() {
  arm_callback();
  EXPECT_EQ(hc(HVLAB_PV_set_callbacks, sel::kKernelCS, kMonitorVa, 0, 0), err(HVLAB_PV_EPERM), "a callback in the monitor");
  EXPECT_EQ(hc(HVLAB_PV_set_callbacks, sel::kKernelCS, isr_stub(kSpareVectorA), 0, 0), 0, "set_callbacks");
  hvlab_pv_evtchn_port p{};
  EXPECT_EQ(evtchn(HVLAB_PV_EVTCHNOP_bind_ipi, &p), 0, "bind_ipi");
  // Masked (the guest's CLI is a store): the event waits, no upcall.
  cpu::irq_disable();
  EXPECT_EQ(evtchn(HVLAB_PV_EVTCHNOP_send, &p), 0, "send");
  const unsigned masked = g_upcalls;
  const bool pending = pv::shared().vcpu_info[0].evtchn_upcall_pending;
  cpu::irq_enable();  // the store, then a hypercall that delivers what waits
  const unsigned after = g_upcalls;
  hvlab_pv_evtchn_port bad{HVLAB_PV_NR_EVENT_CHANNELS + 5};
  const int rc_bad = evtchn(HVLAB_PV_EVTCHNOP_send, &bad);
  const int rc_close = evtchn(HVLAB_PV_EVTCHNOP_close, &p);
  const int rc_closed = evtchn(HVLAB_PV_EVTCHNOP_send, &p);
  EXPECT_EQ(masked, 0u, "upcalls while events were masked");
  EXPECT(pending, "evtchn_upcall_pending was not set by a send while masked");
  EXPECT_EQ(after, 1u, "upcalls once events were unmasked");
  EXPECT(seen(p.port), "the upcall did not find port %u pending", p.port);
  EXPECT_EQ(rc_bad, err(HVLAB_PV_ESRCH), "send on a port beyond the table");
  EXPECT_EQ(rc_close, 0, "close");
  EXPECT(rc_closed < 0, "send on a closed port returned %d", rc_closed);
}

// The one-shot timer: VIRQ_TIMER bound, a deadline 2 ms ahead, then block until it fires.
void pv_event_timer() {
  arm_callback();
  EXPECT_EQ(hc(HVLAB_PV_set_callbacks, sel::kKernelCS, isr_stub(kSpareVectorA), 0, 0), 0, "set_callbacks");
  hvlab_pv_evtchn_bind_virq b{HVLAB_PV_VIRQ_TIMER, 0};
  EXPECT_EQ(evtchn(HVLAB_PV_EVTCHNOP_bind_virq, &b), 0, "bind_virq(VIRQ_TIMER)");
  hc(HVLAB_PV_version);  // the time record is fresh after any entry
  const std::uint64_t now = pv::shared().vcpu_info[0].time.system_time;
  const std::uint64_t deadline = now + 2'000'000;
  EXPECT_EQ(hc(HVLAB_PV_set_timer_op, static_cast<std::uint32_t>(deadline), static_cast<std::uint32_t>(deadline >> 32)),
            0, "set_timer_op");
  cpu::irq_enable();
  for (unsigned i = 0; i < 50 && !seen(b.port); ++i) cpu::halt();  // sched_op(block)
  cpu::irq_disable();
  hc(HVLAB_PV_version);
  const std::uint64_t woke = pv::shared().vcpu_info[0].time.system_time;
  hvlab_pv_evtchn_port p{b.port};
  evtchn(HVLAB_PV_EVTCHNOP_close, &p);
  EXPECT(seen(b.port), "the timer's event never arrived (%u upcalls)", g_upcalls);
  EXPECT(woke >= deadline, "woken at %u us, before the deadline at %u us", static_cast<unsigned>(woke / 1000),
         static_cast<unsigned>(deadline / 1000));
}

// A flood: 20,000 sends while masked. The port's bit is one bit: one upcall, and the monitor
// spends nothing per event beyond the hypercall.
void pv_event_flood() {
  arm_callback();
  EXPECT_EQ(hc(HVLAB_PV_set_callbacks, sel::kKernelCS, isr_stub(kSpareVectorA), 0, 0), 0, "set_callbacks");
  hvlab_pv_evtchn_port p{};
  EXPECT_EQ(evtchn(HVLAB_PV_EVTCHNOP_bind_ipi, &p), 0, "bind_ipi");
  cpu::irq_disable();
  int worst = 0;
  for (unsigned i = 0; i < 20000; ++i) {
    const int rc = evtchn(HVLAB_PV_EVTCHNOP_send, &p);
    if (rc < worst) worst = rc;
  }
  cpu::irq_enable();
  const unsigned upcalls = g_upcalls;
  evtchn(HVLAB_PV_EVTCHNOP_close, &p);
  EXPECT_EQ(worst, 0, "the worst result of the sends");
  EXPECT_EQ(upcalls, 1u, "upcalls for 20,000 sends of one port while masked");
  EXPECT(seen(p.port), "port %u was not seen pending", p.port);
}

// ---- e6: the multicall ------------------------------------------------------------------------------

void pv_multicall() {
  static const char line[] = "# pv_multicall: the second entry of a multicall\n";
  static hvlab_pv_multicall_entry calls[4];
  calls[0] = {HVLAB_PV_version, 0x7777, {}};
  calls[1] = {HVLAB_PV_console_write, 0x7777, {addr(line), sizeof line - 1}};
  calls[2] = {HVLAB_PV_NR_HYPERCALLS + 3, 0x7777, {}};
  calls[3] = {HVLAB_PV_multicall, 0x7777, {addr(calls), 1}};
  EXPECT_EQ(hc(HVLAB_PV_multicall, addr(calls), 4), 0, "multicall's own result");
  EXPECT_EQ(calls[0].result, HVLAB_PV_ABI_VERSION, "entry 0 (version)");
  EXPECT_EQ(calls[1].result, sizeof line - 1, "entry 1 (console_write)");
  EXPECT_EQ(calls[2].result, err(HVLAB_PV_ENOSYS), "entry 2 (an unknown number)");
  EXPECT_EQ(calls[3].result, err(HVLAB_PV_EINVAL), "entry 3 (a nested multicall)");
  EXPECT_EQ(hc(HVLAB_PV_multicall, addr(calls), HVLAB_PV_MAX_MULTICALLS + 1), err(HVLAB_PV_E2BIG), "65 entries");
  EXPECT_EQ(hc(HVLAB_PV_multicall, kMonitorVa, 2), err(HVLAB_PV_EFAULT), "entries in the monitor");
}

const TestCase kTests[] = {
    {"pv_version", pv_version},
    {"pv_unknown_number", pv_unknown_number},
    {"pv_console_write", pv_console_write},
    {"pv_pointer_into_monitor", pv_pointer_into_monitor},
    {"pv_trap_table", pv_trap_table},
    {"pv_mmu_update", pv_mmu_update},
    {"pv_mmu_refusals", pv_mmu_refusals},
    {"pv_mmu_map_monitor", pv_mmu_map_monitor},
    {"pv_event_ipi", pv_event_ipi},
    {"pv_event_timer", pv_event_timer},
    {"pv_event_flood", pv_event_flood},
    {"pv_multicall", pv_multicall},
};

std::uint32_t g_ram_top;
void init() { init_machine(g_ram_top); }

}  // namespace

GUEST_TEST_GROUP(kPvAbiGroup, kTests);

}  // namespace hvlab::guest

// The tests in the order of the source, as the suite's (the grader reads this table to
// check the order a seed gives).
extern "C" const hvlab::guest::TestGroup* const hvlab_suite_groups[] = {&hvlab::guest::kPvAbiGroup};

int kernel_main(const hvlab::BootInfo& boot) {
  using namespace hvlab::guest;
  g_ram_top = usable_ram_top(boot);
  return run_suite(hvlab_suite_groups, 1, run_options(boot), init);
}
