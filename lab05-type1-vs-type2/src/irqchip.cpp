#include "lab05-type1-vs-type2/src/irqchip.hpp"

#include "common/runtime/exercise.hpp"

namespace hvlab::lab05 {

const char* irqchip_name(Irqchip c) { return c == Irqchip::kernel ? "kernel" : "user"; }

bool parse_irqchip(std::string_view word, Irqchip* out) {
  if (word == "user") *out = Irqchip::user;
  else if (word == "kernel") *out = Irqchip::kernel;
  else return false;
  return true;
}

Status create_kernel_irqchip(Vm& vm, std::string* why) {
  // BEGIN SOLUTION lab05-e6
  // api.rst 4.24, KVM_CREATE_IRQCHIP: a PIC pair, an I/O APIC and local APICs in the host
  // kernel, with GSIs 0-15 wired to both the PICs and the I/O APIC. It must exist before
  // the vCPU is created (the vCPU's local APIC comes with it).
  long rc = vm.sys().ioctl(vm.vm_fd(), KVM_CREATE_IRQCHIP, 0ul);
  if (rc < 0) {
    *why = "KVM_CREATE_IRQCHIP failed: " + errno_text(rc);
    return Error::unsupported;
  }
  // api.rst 4.57, KVM_CREATE_PIT2: the 8254 on ports 0x40-0x43, its channel 2 gate and
  // output on port 0x61, and its IRQ 0 into the in-kernel irqchip. flags = 0 keeps the
  // port 0x61 model (KVM_PIT_SPEAKER_DUMMY would read 0 there): guests calibrate their
  // TSC against channel 2 through it.
  kvm_pit_config pit{};
  pit.flags = 0;
  rc = vm.sys().ioctl(vm.vm_fd(), KVM_CREATE_PIT2, &pit);
  if (rc < 0) {
    *why = "KVM_CREATE_PIT2 failed: " + errno_text(rc);
    return Error::unsupported;
  }
  return {};
  // STUB: (void)vm; (void)why; return Error::unsupported;
  // END SOLUTION
}

void KernelIrqLines::set_irq(unsigned line, bool level) {
  // BEGIN SOLUTION lab05-e6
  // api.rst 4.25, KVM_IRQ_LINE: the level of an input of the in-kernel irqchip (GSI
  // `line`). Edge-triggered inputs act on the 0 -> 1 change, so the level is passed as is.
  kvm_irq_level irq{};
  irq.irq = line;
  irq.level = level ? 1 : 0;
  if (vm_.sys().ioctl(vm_.vm_fd(), KVM_IRQ_LINE, &irq) < 0) ++failures_;
  // STUB: (void)line; (void)level;
  // END SOLUTION
}

}  // namespace hvlab::lab05
