#pragma once
// lab02's handlers: lab01's for every reason (the emulation routines are the same), plus
//   translation   a callout of translated code: an exit (nothing left to do), a fault on
//                 fetching the guest's code (reflected), or a guest instruction answered from
//                 the virtual CPU (the rules ret, jump_indirect, call_indirect, pushf, popf,
//                 cs_read, vcpu, far)
//   page_fault    a write to a frame that holds translated code drops its translations
//                 first; then lab01's shadow MMU, and the frame's entry stays read-only

#include "common/vmm/dispatcher.hpp"
#include "common/vmm/machine.hpp"
#include "lab02-binary-translation/src/rules.hpp"

namespace hvlab::lab02 {

void install_handlers(vmm::Dispatcher& d);

vmm::Action on_translation(vmm::Machine& m, vmm::VCpu& v, const vmm::Event& e);
vmm::Action on_page_fault(vmm::Machine& m, vmm::VCpu& v, const vmm::Event& e);

/// Emulates guest instruction `insn` (rule `r`) at v.eip on the virtual CPU.
vmm::Action emulate(vmm::Machine& m, vmm::VCpu& v, const decoder::Instruction& insn, Rule r);

}  // namespace hvlab::lab02
