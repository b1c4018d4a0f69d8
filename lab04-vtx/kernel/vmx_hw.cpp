#include "lab04-vtx/kernel/vmx_hw.hpp"

namespace hvlab::lab04::hw {

namespace {
VmxStatus status_from(std::uint8_t cf, std::uint8_t zf) {
  return cf ? VmxStatus::fail_invalid : zf ? VmxStatus::fail_valid : VmxStatus::ok;
}
}  // namespace

// The memory operand of VMXON, VMCLEAR and VMPTRLD is a 64-bit physical address.
VmxStatus vmxon(std::uint64_t region_pa) {
  std::uint8_t cf, zf;
  asm volatile("vmxon %2; setc %0; setz %1" : "=q"(cf), "=q"(zf) : "m"(region_pa) : "cc", "memory");
  return status_from(cf, zf);
}

VmxStatus vmclear(std::uint64_t vmcs_pa) {
  std::uint8_t cf, zf;
  asm volatile("vmclear %2; setc %0; setz %1" : "=q"(cf), "=q"(zf) : "m"(vmcs_pa) : "cc", "memory");
  return status_from(cf, zf);
}

VmxStatus vmptrld(std::uint64_t vmcs_pa) {
  std::uint8_t cf, zf;
  asm volatile("vmptrld %2; setc %0; setz %1" : "=q"(cf), "=q"(zf) : "m"(vmcs_pa) : "cc", "memory");
  return status_from(cf, zf);
}

VmxStatus vmxoff() {
  std::uint8_t cf, zf;
  asm volatile("vmxoff; setc %0; setz %1" : "=q"(cf), "=q"(zf)::"cc", "memory");
  return status_from(cf, zf);
}

namespace {
inline std::uint32_t vmread32(std::uint32_t enc) {
  std::uint32_t v = 0;
  asm volatile("vmread %1, %0" : "=rm"(v) : "r"(enc) : "cc");
  return v;
}
inline bool vmwrite32(std::uint32_t enc, std::uint32_t v) {
  std::uint8_t bad;
  asm volatile("vmwrite %1, %2; setna %0" : "=q"(bad) : "rm"(v), "r"(enc) : "cc", "memory");
  return !bad;
}
}  // namespace

std::uint64_t HardwareVmcs::read(vmx::Field f) {
  const std::uint32_t enc = vmx::encoding(f);
  if (vmx::width(f) == vmx::Width::w64)  // the "full" encoding, then the "high" one (enc + 1)
    return vmread32(enc) | (std::uint64_t{vmread32(enc + 1)} << 32);
  return vmread32(enc);
}

void HardwareVmcs::write(vmx::Field f, std::uint64_t value) {
  const std::uint32_t enc = vmx::encoding(f);
  bool ok = vmwrite32(enc, static_cast<std::uint32_t>(value));
  if (vmx::width(f) == vmx::Width::w64) ok = vmwrite32(enc + 1, static_cast<std::uint32_t>(value >> 32)) && ok;
  if (!ok) {
    ++write_errors_;
    last_failed_ = f;
  }
}

}  // namespace hvlab::lab04::hw
