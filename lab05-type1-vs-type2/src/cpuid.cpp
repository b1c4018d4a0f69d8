#include "lab05-type1-vs-type2/src/cpuid.hpp"

#include <cerrno>
#include <cstdlib>
#include <algorithm>
#include <cstdint>

namespace hvlab::lab05 {

void adjust_cpuid(std::vector<kvm_cpuid_entry2>& entries, bool kernel_irqchip) {
  for (auto& e : entries) {
    if (e.function == 1 && !kernel_irqchip) {
      e.edx &= ~(1u << 9);                 // APIC: no local APIC on a board without one
      e.ecx &= ~((1u << 21) | (1u << 24));  // x2APIC, TSC-deadline timer
    }
  }
}

bool set_cpuid(Vm& vm, bool kernel_irqchip, std::string* why) {
  for (std::uint32_t n = 64; n <= 4096; n *= 2) {
    // struct kvm_cpuid2 in its C layout: the header, then the entries (see kvm_sys.hpp).
    std::vector<unsigned char> buf(sizeof(kvm_c::Cpuid2Header) + n * sizeof(kvm_cpuid_entry2));
    auto* head = reinterpret_cast<kvm_c::Cpuid2Header*>(buf.data());
    auto* first = reinterpret_cast<kvm_cpuid_entry2*>(buf.data() + sizeof(kvm_c::Cpuid2Header));
    head->nent = n;
    const long rc = vm.sys().ioctl(vm.kvm_fd(), kvm_c::kGetSupportedCpuid, buf.data());
    if (rc == -E2BIG) continue;
    if (rc < 0) {
      *why = "KVM_GET_SUPPORTED_CPUID failed: " + errno_text(rc);
      return false;
    }
    std::vector<kvm_cpuid_entry2> entries(first, first + head->nent);
    adjust_cpuid(entries, kernel_irqchip);
    std::copy(entries.begin(), entries.end(), first);
    const long set = vm.sys().ioctl(vm.vcpu_fd(), kvm_c::kSetCpuid2, buf.data());
    if (set < 0) {
      *why = "KVM_SET_CPUID2 failed: " + errno_text(set);
      return false;
    }
    return true;
  }
  *why = "KVM_GET_SUPPORTED_CPUID: the table is larger than 4096 entries";
  return false;
}

}  // namespace hvlab::lab05
