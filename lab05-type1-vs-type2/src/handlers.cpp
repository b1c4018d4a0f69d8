#include "lab05-type1-vs-type2/src/handlers.hpp"

#include "common/vmm/emulate.hpp"

namespace hvlab::lab05 {

using vmm::Action;
using vmm::Event;
using vmm::Machine;
using vmm::VCpu;

namespace {

KvmBackend& kvm(Machine& m) { return static_cast<KvmBackend&>(m.backend()); }

Action resume(Machine&, VCpu&, const Event&) { return Action::resume; }

// What the GDB stub's answer means for the run.
Action after_gdb(Machine& m, GdbStub::Resume r) {
  if (r == GdbStub::Resume::kill) {
    m.board().fail("killed from GDB");
    return Action::stop;
  }
  return Action::resume;
}

}  // namespace

Action handle_triple_fault(Machine& m, VCpu&, const Event& e) {
  m.board().contain("the guest triple-faulted (KVM_EXIT_SHUTDOWN at eip %08x): an exception while delivering a "
                    "double fault; check its IDT, GDT, TSS and stack",
                    e.guest_eip);
  return Action::stop;
}

Action handle_entry_failure(Machine& m, VCpu&, const Event& e) {
  m.board().fail("KVM could not enter the guest (KVM_EXIT_FAIL_ENTRY, hardware reason 0x%llx) at eip %08x",
                 static_cast<unsigned long long>(e.raw_qualification), e.guest_eip);
  return Action::stop;
}

Action handle_debug(Machine& m, VCpu& vcpu, const Event& e) {
  GdbStub* gdb = kvm(m).debugger();
  if (!gdb || !gdb->attached()) {
    m.board().fail("a debug exit (vector %u at eip %08x) with no debugger attached", e.exception.vector, vcpu.eip);
    return Action::stop;
  }
  return after_gdb(m, gdb->stopped(5));
}

Action handle_kick(Machine& m, VCpu&, const Event&) {
  GdbStub* gdb = kvm(m).debugger();
  if (gdb && gdb->attached() && gdb->take_interrupt()) return after_gdb(m, gdb->stopped(2));
  return Action::resume;
}

Action handle_unexpected(Machine& m, VCpu&, const Event& e) {
  if (e.raw_reason == KVM_EXIT_INTERNAL_ERROR) {
    const char* what = e.raw_qualification == KVM_INTERNAL_ERROR_EMULATION ? "it could not emulate an instruction"
                       : e.raw_qualification == KVM_INTERNAL_ERROR_DELIVERY_EV
                           ? "an event could not be delivered (an exception during delivery)"
                           : "an internal error";
    m.board().contain("KVM stopped the guest at eip %08x: %s (KVM_EXIT_INTERNAL_ERROR, suberror %llu)", e.guest_eip,
                      what, static_cast<unsigned long long>(e.raw_qualification));
    return Action::stop;
  }
  m.board().fail("unexpected KVM exit %u (%s) at eip %08x", e.raw_reason, kvm_exit_name(e.raw_reason), e.guest_eip);
  return Action::stop;
}

void install_handlers(vmm::Dispatcher& d) {
  d.set(vmm::Reason::io_instruction, vmm::emulate_io);
  d.set(vmm::Reason::mmio, vmm::emulate_mmio);
  d.set(vmm::Reason::hlt, vmm::emulate_hlt);
  d.set(vmm::Reason::interrupt_window, resume);
  d.set(vmm::Reason::external_interrupt, handle_kick);
  d.set(vmm::Reason::exception, handle_debug);
  d.set(vmm::Reason::triple_fault, handle_triple_fault);
  d.set(vmm::Reason::entry_failure, handle_entry_failure);
  d.set_fallback(handle_unexpected);
}

bool KvmGdbTarget::read_memory(std::uint32_t va, void* dst, std::size_t n) {
  return backend_.copy_virtual(GuestVirtAddr(va), dst, n, false);
}

bool KvmGdbTarget::write_memory(std::uint32_t va, const void* src, std::size_t n) {
  return backend_.copy_virtual(GuestVirtAddr(va), const_cast<void*>(src), n, true);
}

bool KvmGdbTarget::set_debug(const std::array<std::uint32_t, 4>& addresses, unsigned used, bool single_step) {
  // api.rst 4.43, KVM_SET_GUEST_DEBUG: the debug registers the host programs for the guest
  // (SDM 18.2: DR0-DR3 addresses, DR7 Ln enables with R/W = 00 and LEN = 00, an
  // instruction breakpoint), and single-stepping.
  kvm_guest_debug dbg{};
  dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP | (single_step ? KVM_GUESTDBG_SINGLESTEP : 0);
  std::uint64_t dr7 = 0;
  for (unsigned i = 0; i < 4; ++i) {
    if (!(used & (1u << i))) continue;
    dbg.arch.debugreg[i] = addresses[i];
    dr7 |= 1ull << (2 * i);
  }
  dbg.arch.debugreg[7] = dr7;
  if (!used && !single_step) dbg.control = 0;  // nothing to watch: KVM runs the guest as usual
  Vm& vm = backend_.vm();
  return vm.sys().ioctl(vm.vcpu_fd(), KVM_SET_GUEST_DEBUG, &dbg) >= 0;
}

}  // namespace hvlab::lab05
