#include "common/arch/x86.hpp"

namespace hvlab::x86::vector {

const char* name(unsigned v) {
  static constexpr const char* kNames[] = {
      "#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow", "#BR bound range",
      "#UD invalid opcode", "#NM device not available", "#DF double fault", "coprocessor overrun",
      "#TS invalid TSS", "#NP segment not present", "#SS stack fault", "#GP general protection",
      "#PF page fault", "reserved", "#MF x87 error", "#AC alignment check", "#MC machine check",
      "#XM SIMD error", "#VE virtualization exception", "#CP control protection"};
  if (v < sizeof kNames / sizeof kNames[0]) return kNames[v];
  return v < 32 ? "reserved exception" : "interrupt";
}

}  // namespace hvlab::x86::vector
