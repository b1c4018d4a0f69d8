#include "slides/tool/decode.hpp"

#include <fmt/format.h>

#include <array>
#include <vector>

#include "common/arch/msr.hpp"
#include "common/arch/x86.hpp"

namespace hvlab::demo {

namespace {

namespace x86 = hvlab::x86;

// SDM vol. 3, appendix "VMX Basic Exit Reasons", in the order of their numbers.
constexpr std::array<const char*, 70> kExitReasons = {
    "exception or NMI", "external interrupt", "triple fault", "INIT signal", "start-up IPI",
    "I/O SMI", "other SMI", "interrupt window", "NMI window", "task switch",
    "CPUID", "GETSEC", "HLT", "INVD", "INVLPG",
    "RDPMC", "RDTSC", "RSM", "VMCALL", "VMCLEAR",
    "VMLAUNCH", "VMPTRLD", "VMPTRST", "VMREAD", "VMRESUME",
    "VMWRITE", "VMXOFF", "VMXON", "control-register access", "MOV DR",
    "I/O instruction", "RDMSR", "WRMSR", "VM-entry failure: invalid guest state",
    "VM-entry failure: MSR loading", "(reserved)", "MWAIT", "monitor trap flag", "(reserved)",
    "MONITOR", "PAUSE", "VM-entry failure: machine check", "(reserved)", "TPR below threshold",
    "APIC access", "virtualized EOI", "GDTR or IDTR access", "LDTR or TR access", "EPT violation",
    "EPT misconfiguration", "INVEPT", "RDTSCP", "VMX-preemption timer expired", "INVVPID",
    "WBINVD", "XSETBV", "APIC write", "RDRAND", "INVPCID",
    "VMFUNC", "ENCLS", "RDSEED", "page-modification log full", "XSAVES",
    "XRSTORS", "PCONFIG", "SPP-related event", "UMWAIT", "TPAUSE",
    "LOADIWKEY"};

constexpr std::array<const char*, 8> kGpr32 = {"EAX", "ECX", "EDX", "EBX", "ESP", "EBP", "ESI", "EDI"};

std::string bits_named(std::uint64_t value, std::initializer_list<std::pair<std::uint64_t, const char*>> names) {
  std::string out;
  for (auto [bit, name] : names) {
    if (value & bit) out += (out.empty() ? "" : " ") + std::string(name);
  }
  return out.empty() ? "none" : out;
}

std::string segment_type(unsigned type, bool code_or_data) {
  if (!code_or_data) {
    switch (type) {
      case 1: return "16-bit TSS, available";
      case x86::desc_type::kLdt: return "LDT";
      case 3: return "16-bit TSS, busy";
      case x86::desc_type::kTaskGate: return "task gate";
      case x86::desc_type::kTss32Available: return "32-bit TSS, available";
      case x86::desc_type::kTss32Busy: return "32-bit TSS, busy";
      case x86::desc_type::kCallGate32: return "32-bit call gate";
      case x86::desc_type::kInterruptGate32: return "32-bit interrupt gate";
      case x86::desc_type::kTrapGate32: return "32-bit trap gate";
      default: return "reserved system type";
    }
  }
  std::string s = (type & 8) ? "code" : "data";
  if (type & 8) {
    s += (type & 2) ? ", readable" : ", execute-only";
    if (type & 4) s += ", conforming";
  } else {
    s += (type & 2) ? ", writable" : ", read-only";
    if (type & 4) s += ", expand-down";
  }
  if (type & 1) s += ", accessed";
  return s;
}

// Guest-state access rights (SDM table "Format of Access Rights"): the descriptor's bits 8-15
// and 20-23, plus bit 16, "segment unusable".
std::string access_rights(std::uint64_t ar) {
  if (ar & (1u << 16)) return "unusable (bit 16)";
  unsigned type = ar & 0xf;
  bool s = (ar >> 4) & 1;
  std::string out = fmt::format("type {} ({}), {}, DPL {}", type, segment_type(type, s),
                                s ? "code/data" : "system", (ar >> 5) & 3);
  out += (ar & 0x80) ? ", present" : ", not present";
  if (s && (ar & (1u << 14))) out += ", 32-bit";
  if (ar & (1u << 15)) out += ", 4 KiB granular";
  return out;
}

std::string selector(std::uint64_t v) {
  if ((v & ~3ull) == 0) return fmt::format("the null selector (RPL {})", v & 3);
  auto sel = x86::Selector::from(static_cast<std::uint16_t>(v));
  return fmt::format("index {} in the {}, RPL {}", static_cast<unsigned>(sel.index), sel.ti ? "LDT" : "GDT",
                     static_cast<unsigned>(sel.rpl));
}

}  // namespace

std::string exit_reason_name(unsigned basic_reason) {
  if (basic_reason < kExitReasons.size()) return kExitReasons[basic_reason];
  return "unknown exit reason";
}

std::string port_name(unsigned port) {
  if (port >= 0x3f8 && port <= 0x3ff) return "COM1";
  if (port >= 0x2f8 && port <= 0x2ff) return "COM2";
  if (port == 0x20 || port == 0x21) return "master PIC";
  if (port == 0xa0 || port == 0xa1) return "slave PIC";
  if (port >= 0x40 && port <= 0x43) return "PIT";
  if (port == 0x61) return "PIT gate (port 0x61)";
  if (port == 0x70 || port == 0x71) return "CMOS";
  if (port == 0x80) return "POST delay";
  if (port == 0xe9) return "debug console";
  if (port == 0xf4) return "debug exit";
  if (port == 0x8900) return "Bochs shutdown";
  return {};
}

std::string msr_name(std::uint32_t msr) {
  namespace m = x86::msr;
  switch (msr) {
    case m::IA32_TIME_STAMP_COUNTER: return "IA32_TIME_STAMP_COUNTER";
    case m::IA32_APIC_BASE: return "IA32_APIC_BASE";
    case m::IA32_FEATURE_CONTROL: return "IA32_FEATURE_CONTROL";
    case m::IA32_SYSENTER_CS: return "IA32_SYSENTER_CS";
    case m::IA32_SYSENTER_ESP: return "IA32_SYSENTER_ESP";
    case m::IA32_SYSENTER_EIP: return "IA32_SYSENTER_EIP";
    case m::IA32_PAT: return "IA32_PAT";
    case m::IA32_EFER: return "IA32_EFER";
    default: return {};
  }
}

std::string vector_mnemonic(unsigned vector) {
  std::string_view name = x86::vector::name(vector);
  return std::string(name.substr(0, name.find(' ')));
}

std::string decode_qualification(unsigned basic_reason, std::uint64_t q, std::int64_t ecx) {
  switch (basic_reason) {
    case 28: {  // SDM table "Exit Qualification for Control-Register Accesses"
      unsigned cr = q & 0xf, type = (q >> 4) & 3;
      const char* gpr = kGpr32[(q >> 8) & 7];
      switch (type) {
        case 0: return fmt::format("MOV to CR{} from {}", cr, gpr);
        case 1: return fmt::format("MOV from CR{} to {}", cr, gpr);
        case 2: return "CLTS";
        default: return fmt::format("LMSW, source data 0x{:x}", (q >> 16) & 0xffff);
      }
    }
    case 29:  // SDM table "Exit Qualification for MOV DR"
      return fmt::format("MOV {} DR{} {} {}", (q & 0x10) ? "from" : "to", q & 7, (q & 0x10) ? "to" : "from",
                         kGpr32[(q >> 8) & 7]);
    case 30: {  // SDM table "Exit Qualification for I/O Instructions"
      unsigned port = (q >> 16) & 0xffff, size = (q & 7) + 1;
      std::string what = (q & 8) ? "IN" : "OUT";
      if (q & 0x10) what += "S";  // INS, OUTS
      if (q & 0x20) what = "REP " + what;
      std::string name = port_name(port);
      return fmt::format("{} {} port 0x{:x}{}, {} byte{}, port in {}", what, (q & 8) ? "from" : "to", port,
                         name.empty() ? "" : " (" + name + ")", size, size == 1 ? "" : "s",
                         (q & 0x40) ? "the instruction" : "DX");
    }
    case 31:
    case 32: {
      if (ecx < 0) return "ECX names the MSR";
      std::string name = msr_name(static_cast<std::uint32_t>(ecx));
      return fmt::format("ECX = 0x{:x}{}", ecx, name.empty() ? "" : " (" + name + ")");
    }
    case 14: return fmt::format("linear address 0x{:x}", q);
    case 33:  // SDM "VM-Entry Failures During or After Loading Guest State"
      switch (q) {
        case 2: return "failure loading a PDPTE";
        case 3: return "an NMI injection that blocking forbids";
        case 4: return "the VMCS link pointer is invalid";
        default: return "no further information";
      }
    case 48: {  // SDM table "Exit Qualification for EPT Violations"
      std::string access = bits_named(q & 7, {{1, "read"}, {2, "write"}, {4, "fetch"}});
      std::string allowed = bits_named((q >> 3) & 7, {{1, "read"}, {2, "write"}, {4, "execute"}});
      return fmt::format("access: {}; the entry allowed: {}", access, allowed);
    }
    default: return {};
  }
}

std::string decode_vmcs_field(std::string_view name, std::uint64_t value) {
  auto ends_with = [&](std::string_view suffix) {
    return name.size() >= suffix.size() && name.substr(name.size() - suffix.size()) == suffix;
  };
  if (ends_with("_AR_BYTES")) return access_rights(value);
  if (ends_with("_SELECTOR")) return selector(value);
  if (name == "GUEST_CR0" || name == "CR0_READ_SHADOW" || name == "HOST_CR0") {
    namespace c = x86::cr0;
    return "set: " + bits_named(value, {{c::PE, "PE"}, {c::MP, "MP"}, {c::EM, "EM"}, {c::TS, "TS"}, {c::ET, "ET"},
                                        {c::NE, "NE"}, {c::WP, "WP"}, {c::AM, "AM"}, {c::NW, "NW"}, {c::CD, "CD"},
                                        {c::PG, "PG"}});
  }
  if (name == "GUEST_CR4" || name == "HOST_CR4") {
    namespace c = x86::cr4;
    return "set: " + bits_named(value, {{c::VME, "VME"}, {c::PVI, "PVI"}, {c::TSD, "TSD"}, {c::DE, "DE"},
                                        {c::PSE, "PSE"}, {c::PAE, "PAE"}, {c::PGE, "PGE"}, {c::UMIP, "UMIP"},
                                        {c::VMXE, "VMXE"}});
  }
  if (name == "PIN_BASED_VM_EXEC_CONTROL") {  // SDM table "Definitions of Pin-Based VM-Execution Controls"
    return "set: " + bits_named(value, {{1u << 0, "external-interrupt exiting"},
                                        {1u << 3, "NMI exiting"},
                                        {1u << 5, "virtual NMIs"},
                                        {1u << 6, "VMX-preemption timer"},
                                        {1u << 7, "posted interrupts"}});
  }
  if (name == "VMCS_LINK_POINTER") {
    return value == ~0ull ? "all ones: no shadow VMCS" : "not all ones: valid only with VMCS shadowing";
  }
  return {};
}

}  // namespace hvlab::demo
