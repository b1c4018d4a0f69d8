#pragma once
// A VMCS that is a map: what tests hand to the code written against vmx::Vmcs.

#include <cstdint>
#include <map>
#include <string>

#include "common/runtime/format.hpp"
#include "lab04-vtx/src/vmcs.hpp"

namespace hvlab::lab04::testing {

class FakeVmcs final : public vmx::Vmcs {
 public:
  using Vmcs::read;
  using Vmcs::write;
  std::uint64_t read(vmx::Field f) override {
    auto it = fields.find(vmx::encoding(f));
    return it == fields.end() ? 0 : it->second;
  }
  void write(vmx::Field f, std::uint64_t value) override {
    fields[vmx::encoding(f)] = value;
    ++writes;
  }
  std::uint64_t& operator[](vmx::Field f) { return fields[vmx::encoding(f)]; }
  bool has(vmx::Field f) const { return fields.count(vmx::encoding(f)) != 0; }

  std::map<std::uint32_t, std::uint64_t> fields;
  unsigned writes = 0;
};

/// A FormatSink into a std::string.
class StringSink final : public FormatSink {
 public:
  void put(char c) override { text.push_back(c); }
  std::string text;
};

/// Capabilities as Bochs' corei7_skylake_x model reports them (docs/PLATFORM-FACTS and a
/// run of the monitor): true controls, EPT with 4-level walks, WB and 2 MiB pages.
inline vmx::Capabilities bochs_capabilities() {
  vmx::Capabilities c;
  c.basic = 0x00d810000000002bull;
  c.pinbased = 0x0000007f00000016ull;
  c.procbased = 0xfff9fffe04006172ull;
  c.procbased2 = 0x02177fff00000000ull;
  c.exit = 0x003fefff00036dfbull;
  c.entry = 0x0000d3ff000011fbull;
  c.misc = 0x00000000000401e0ull;
  c.cr0_fixed0 = 0x80000021ull;
  c.cr0_fixed1 = 0xffffffffull;
  c.cr4_fixed0 = 0x2000ull;
  c.cr4_fixed1 = 0x003727ffull;
  c.ept_vpid = 0x00000f0106334141ull;
  return c;
}

/// A host state that passes the host-state checks.
inline vmx::HostState sample_host_state() {
  vmx::HostState h;
  h.cr0 = 0x80000031;
  h.cr3 = 0x00200000;
  h.cr4 = 0x2010;
  h.cs = 0x08;
  h.ss = h.ds = h.es = h.fs = h.gs = 0x10;
  h.tr = 0x28;
  h.tr_base = 0x00150000;
  h.gdtr_base = 0x00151000;
  h.idtr_base = 0x00152000;
  h.rip = 0x00101234;
  return h;
}

}  // namespace hvlab::lab04::testing
