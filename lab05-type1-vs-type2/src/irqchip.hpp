#pragma once
// Where the interrupt controllers and the timer live. A type 2 VMM can use the host
// kernel's: KVM_CREATE_IRQCHIP puts two 8259s, an I/O APIC and a local APIC per vCPU in the
// host kernel, KVM_CREATE_PIT2 an 8254. Their ports and interrupts never reach this
// process, HLT sleeps in the host kernel, and the VMM's remaining devices (the UARTs, the
// CMOS) raise their IRQs with KVM_IRQ_LINE. Or it keeps them in user space: the kit's 8259
// and 8254 models on the Board, every port access and HLT an exit to this process, every
// interrupt injected with KVM_INTERRUPT.

#include <string>
#include <string_view>

#include "common/devices/bus.hpp"
#include "common/runtime/result.hpp"
#include "lab05-type1-vs-type2/src/vm.hpp"

namespace hvlab::lab05 {

enum class Irqchip { user, kernel };
const char* irqchip_name(Irqchip c);
/// "user" or "kernel"; false otherwise.
bool parse_irqchip(std::string_view word, Irqchip* out);

/// Creates the in-kernel irqchip and PIT on the VM (before its vCPU).
Status create_kernel_irqchip(Vm& vm, std::string* why);

/// The devices' IRQ lines, driven into the in-kernel irqchip.
class KernelIrqLines final : public dev::IrqSink {
 public:
  explicit KernelIrqLines(Vm& vm) : vm_(vm) {}
  void set_irq(unsigned line, bool level) override;
  unsigned failures() const { return failures_; }

 private:
  Vm& vm_;
  unsigned failures_ = 0;
};

}  // namespace hvlab::lab05
