// VM-entry failures explained in words. The processor says only "error 7" or "exit reason
// 33"; these checks replay the ones from SDM 27.2 and 27.3 this monitor could get wrong and
// name each failure with its section and the fields involved.

#include <cstdarg>

#include "common/runtime/exercise.hpp"
#include "common/arch/paging.hpp"
#include "common/arch/x86.hpp"
#include "lab04-vtx/src/vmcs.hpp"

namespace hvlab::vmx {

namespace {

class Checker {
 public:
  Checker(Vmcs& v, FormatSink& out) : v_(v), out_(out) {}
  std::uint32_t r(Field f) { return static_cast<std::uint32_t>(v_.read(f)); }
  std::uint64_t r64(Field f) { return v_.read(f); }
  // One failed check: what, where in the SDM, and the field values.
  void fail(const char* section, const char* fmt, ...) __attribute__((format(printf, 3, 4))) {
    ++failures_;
    format_to(out_, "  check failed (SDM %s): ", section);
    va_list ap;
    va_start(ap, fmt);
    vformat_to(out_, fmt, ap);
    va_end(ap);
    out_.put('\n');
  }
  unsigned failures() const { return failures_; }
  FormatSink& out() { return out_; }

 private:
  Vmcs& v_;
  FormatSink& out_;
  unsigned failures_ = 0;
};

void check_word(Checker& c, const char* name, Field f, std::uint64_t cap) {
  const std::uint32_t value = c.r(f);
  const std::uint32_t must1 = static_cast<std::uint32_t>(cap), may1 = static_cast<std::uint32_t>(cap >> 32);
  if ((value & must1) != must1)
    c.fail("27.2.1.1", "%s = 0x%08x has bits 0x%08x clear that the capability MSR requires set (allowed-0 settings)",
           name, value, must1 & ~value);
  if (value & ~may1)
    c.fail("27.2.1.1", "%s = 0x%08x sets bits 0x%08x the capability MSR does not allow (allowed-1 settings)", name,
           value, value & ~may1);
}

// SDM 27.3.1.2: limit and granularity agree.
bool limit_granularity_ok(std::uint32_t limit, std::uint32_t ar) {
  const bool g = (ar >> 15) & 1;
  if ((limit & 0xfff) != 0xfff && g) return false;
  if ((limit & 0xfff00000u) && !g) return false;
  return true;
}

struct SegFields {
  const char* name;
  Field sel, limit, ar;
};

}  // namespace

unsigned check_controls(Vmcs& v, const Capabilities& caps, FormatSink& out) {
  Checker c(v, out);
  check_word(c, "PIN_BASED_VM_EXEC_CONTROL", Field::PIN_BASED_VM_EXEC_CONTROL, caps.pinbased);
  check_word(c, "CPU_BASED_VM_EXEC_CONTROL", Field::CPU_BASED_VM_EXEC_CONTROL, caps.procbased);
  const std::uint32_t proc = c.r(Field::CPU_BASED_VM_EXEC_CONTROL);
  const std::uint32_t proc2 = (proc & proc::ACTIVATE_SECONDARY_CONTROLS) ? c.r(Field::SECONDARY_VM_EXEC_CONTROL) : 0;
  if (proc & proc::ACTIVATE_SECONDARY_CONTROLS)
    check_word(c, "SECONDARY_VM_EXEC_CONTROL", Field::SECONDARY_VM_EXEC_CONTROL, caps.procbased2);
  check_word(c, "VM_EXIT_CONTROLS", Field::VM_EXIT_CONTROLS, caps.exit);
  check_word(c, "VM_ENTRY_CONTROLS", Field::VM_ENTRY_CONTROLS, caps.entry);

  const std::uint32_t cr3_targets = c.r(Field::CR3_TARGET_COUNT);
  if (cr3_targets > ((caps.misc >> 16) & 0x1ff))
    c.fail("27.2.1.1", "CR3_TARGET_COUNT = %u is above the %u IA32_VMX_MISC allows", cr3_targets,
           static_cast<unsigned>((caps.misc >> 16) & 0x1ff));
  if (proc2 & proc2::ENABLE_EPT) {
    const std::uint64_t eptp = c.r64(Field::EPT_POINTER);
    const unsigned type = eptp & 7, walk = (eptp >> 3) & 7;
    if (type != x86::ept::kUncacheable && type != x86::ept::kWriteBack)
      c.fail("27.2.1.1", "EPT_POINTER = 0x%llx: memory type %u is neither UC (0) nor WB (6)",
             static_cast<unsigned long long>(eptp), type);
    if (walk != 3)
      c.fail("27.2.1.1", "EPT_POINTER = 0x%llx: page-walk length - 1 is %u, must be 3 (4 levels)",
             static_cast<unsigned long long>(eptp), walk);
    if (eptp & 0xf00)
      c.fail("27.2.1.1", "EPT_POINTER = 0x%llx: reserved bits 11:8 are set", static_cast<unsigned long long>(eptp));
  }
  if ((proc2 & proc2::ENABLE_VPID) && c.r(Field::VIRTUAL_PROCESSOR_ID) == 0)
    c.fail("27.2.1.1", "VIRTUAL_PROCESSOR_ID is 0 with \"enable VPID\" set (0 is the host's)");
  if ((proc2 & proc2::UNRESTRICTED_GUEST) && !(proc2 & proc2::ENABLE_EPT))
    c.fail("27.2.1.1", "\"unrestricted guest\" is set without \"enable EPT\"");
  const std::uint32_t pin = c.r(Field::PIN_BASED_VM_EXEC_CONTROL);
  if ((pin & pin::VIRTUAL_NMIS) && !(pin & pin::NMI_EXITING))
    c.fail("27.2.1.1", "\"virtual NMIs\" is set without \"NMI exiting\"");

  const std::uint32_t info = c.r(Field::VM_ENTRY_INTR_INFO_FIELD);
  if (info & intr_info::VALID) {
    const unsigned type = intr_info::type(info), vector = info & intr_info::VECTOR_MASK;
    if (type == 1) c.fail("27.2.1.3", "VM_ENTRY_INTR_INFO_FIELD = 0x%08x: interruption type 1 is reserved", info);
    if (type == intr_info::NMI && vector != 2)
      c.fail("27.2.1.3", "VM_ENTRY_INTR_INFO_FIELD = 0x%08x: an NMI must have vector 2", info);
    if (type == intr_info::HARDWARE_EXCEPTION && vector > 31)
      c.fail("27.2.1.3", "VM_ENTRY_INTR_INFO_FIELD = 0x%08x: a hardware exception needs a vector 0-31", info);
    if ((info & intr_info::DELIVER_ERROR_CODE) &&
        (type != intr_info::HARDWARE_EXCEPTION || !x86::vector::has_error_code(vector)))
      c.fail("27.2.1.3", "VM_ENTRY_INTR_INFO_FIELD = 0x%08x: \"deliver error code\" set for an event without one",
             info);
    if (info & 0x7ffff000u)
      c.fail("27.2.1.3", "VM_ENTRY_INTR_INFO_FIELD = 0x%08x: reserved bits 30:12 are set", info);
  }
  return c.failures();
}

unsigned check_host_state(Vmcs& v, const Capabilities& caps, FormatSink& out) {
  Checker c(v, out);
  const std::uint32_t cr0 = c.r(Field::HOST_CR0), cr4 = c.r(Field::HOST_CR4);
  const std::uint32_t f0 = static_cast<std::uint32_t>(caps.cr0_fixed0), f1 = static_cast<std::uint32_t>(caps.cr0_fixed1);
  if ((cr0 & f0) != f0 || (cr0 & ~f1))
    c.fail("27.2.2", "HOST_CR0 = 0x%08x breaks the VMX fixed bits (IA32_VMX_CR0_FIXED0 = 0x%08x, FIXED1 = 0x%08x)",
           cr0, f0, f1);
  const std::uint32_t g0 = static_cast<std::uint32_t>(caps.cr4_fixed0), g1 = static_cast<std::uint32_t>(caps.cr4_fixed1);
  if ((cr4 & g0) != g0 || (cr4 & ~g1))
    c.fail("27.2.2", "HOST_CR4 = 0x%08x breaks the VMX fixed bits (IA32_VMX_CR4_FIXED0 = 0x%08x, FIXED1 = 0x%08x)",
           cr4, g0, g1);
  const struct {
    const char* name;
    Field f;
    bool nonzero;
  } sels[] = {{"HOST_ES_SELECTOR", Field::HOST_ES_SELECTOR, false}, {"HOST_CS_SELECTOR", Field::HOST_CS_SELECTOR, true},
              {"HOST_SS_SELECTOR", Field::HOST_SS_SELECTOR, true},  {"HOST_DS_SELECTOR", Field::HOST_DS_SELECTOR, false},
              {"HOST_FS_SELECTOR", Field::HOST_FS_SELECTOR, false}, {"HOST_GS_SELECTOR", Field::HOST_GS_SELECTOR, false},
              {"HOST_TR_SELECTOR", Field::HOST_TR_SELECTOR, true}};
  for (const auto& s : sels) {
    const std::uint32_t sel = c.r(s.f);
    if (sel & 7) c.fail("27.2.3", "%s = 0x%04x: RPL and TI must be 0", s.name, sel);
    if (s.nonzero && sel == 0) c.fail("27.2.3", "%s is 0: it must not be the null selector", s.name);
  }
  if (c.r(Field::VM_EXIT_CONTROLS) & exit_ctl::HOST_ADDRESS_SPACE_SIZE)
    c.fail("27.2.2", "\"host address-space size\" is set but this host runs in 32-bit mode");
  if (c.r(Field::HOST_RIP) == 0) c.fail("27.2.2", "HOST_RIP is 0: exits would land nowhere");
  return c.failures();
}

unsigned check_guest_state(Vmcs& v, const Capabilities& caps, FormatSink& out) {
  Checker c(v, out);
  const std::uint32_t proc = c.r(Field::CPU_BASED_VM_EXEC_CONTROL);
  const std::uint32_t proc2 = (proc & proc::ACTIVATE_SECONDARY_CONTROLS) ? c.r(Field::SECONDARY_VM_EXEC_CONTROL) : 0;
  const bool ug = proc2 & proc2::UNRESTRICTED_GUEST;
  const std::uint32_t entry = c.r(Field::VM_ENTRY_CONTROLS);

  // 27.3.1.1: control registers and MSRs.
  const std::uint32_t cr0 = c.r(Field::GUEST_CR0), cr4 = c.r(Field::GUEST_CR4);
  std::uint32_t f0 = static_cast<std::uint32_t>(caps.cr0_fixed0);
  if (ug) f0 &= ~(x86::cr0::PE | x86::cr0::PG);
  const std::uint32_t f1 = static_cast<std::uint32_t>(caps.cr0_fixed1);
  if ((cr0 & f0) != f0)
    c.fail("27.3.1.1", "GUEST_CR0 = 0x%08x lacks bits 0x%08x that VMX operation fixes to 1 (IA32_VMX_CR0_FIXED0%s)",
           cr0, f0 & ~cr0, ug ? ", PE and PG exempt under unrestricted guest" : "");
  if (cr0 & ~f1) c.fail("27.3.1.1", "GUEST_CR0 = 0x%08x sets bits 0x%08x fixed to 0", cr0, cr0 & ~f1);
  if ((cr0 & x86::cr0::PG) && !(cr0 & x86::cr0::PE)) c.fail("27.3.1.1", "GUEST_CR0 = 0x%08x has PG set without PE", cr0);
  const std::uint32_t g0 = static_cast<std::uint32_t>(caps.cr4_fixed0), g1 = static_cast<std::uint32_t>(caps.cr4_fixed1);
  if ((cr4 & g0) != g0 || (cr4 & ~g1))
    c.fail("27.3.1.1", "GUEST_CR4 = 0x%08x breaks the VMX fixed bits (FIXED0 = 0x%08x, FIXED1 = 0x%08x)", cr4, g0, g1);
  if (entry & entry_ctl::LOAD_IA32_EFER) {
    const std::uint64_t efer = c.r64(Field::GUEST_IA32_EFER);
    if (efer & ~0xd01ull)
      c.fail("27.3.1.1", "GUEST_IA32_EFER = 0x%llx sets reserved bits", static_cast<unsigned long long>(efer));
    const bool lma = (efer >> 10) & 1, lme = (efer >> 8) & 1, ia32e = entry & entry_ctl::IA32E_MODE_GUEST;
    if (lma != ia32e)
      c.fail("27.3.1.1", "GUEST_IA32_EFER.LMA = %d but the \"IA-32e mode guest\" entry control is %d", lma, ia32e);
    if ((cr0 & x86::cr0::PG) && lma != lme)
      c.fail("27.3.1.1", "GUEST_IA32_EFER.LME = %d differs from LMA = %d while CR0.PG = 1", lme, lma);
  }

  // 27.3.1.2: segment registers.
  const std::uint32_t tr_ar = c.r(Field::GUEST_TR_AR_BYTES), tr_sel = c.r(Field::GUEST_TR_SELECTOR);
  const std::uint32_t tr_type = tr_ar & 0xf;
  if (tr_sel & 4) c.fail("27.3.1.2", "GUEST_TR_SELECTOR = 0x%04x: TI must be 0 (TR is in the GDT)", tr_sel);
  if (tr_type != 3 && tr_type != 11)
    c.fail("27.3.1.2",
           "guest TR type: GUEST_TR_AR_BYTES = 0x%04x has type %u; TR must hold a busy TSS, type 11 (32-bit) or 3 "
           "(16-bit)%s",
           tr_ar, tr_type, tr_type == 9 ? " -- type 9 is an available (not busy) TSS" : "");
  if (tr_ar & 0x10) c.fail("27.3.1.2", "GUEST_TR_AR_BYTES = 0x%04x: S must be 0 (a system segment)", tr_ar);
  if (!(tr_ar & 0x80)) c.fail("27.3.1.2", "GUEST_TR_AR_BYTES = 0x%04x: P must be 1", tr_ar);
  if (tr_ar & 0x10000) c.fail("27.3.1.2", "GUEST_TR_AR_BYTES = 0x%04x: TR must be usable", tr_ar);
  if (tr_ar & 0xfffe0f00u) c.fail("27.3.1.2", "GUEST_TR_AR_BYTES = 0x%04x: reserved bits are set", tr_ar);
  if (!limit_granularity_ok(c.r(Field::GUEST_TR_LIMIT), tr_ar))
    c.fail("27.3.1.2", "guest TR: limit 0x%08x and G = %u disagree", c.r(Field::GUEST_TR_LIMIT), (tr_ar >> 15) & 1);

  const std::uint32_t ldtr_ar = c.r(Field::GUEST_LDTR_AR_BYTES);
  if (!(ldtr_ar & 0x10000)) {
    if ((ldtr_ar & 0xf) != 2 || (ldtr_ar & 0x10) || !(ldtr_ar & 0x80))
      c.fail("27.3.1.2", "GUEST_LDTR_AR_BYTES = 0x%05x: a usable LDTR must be type 2, S = 0, P = 1 (or mark it "
             "unusable with 0x10000)", ldtr_ar);
  }

  const std::uint32_t cs_ar = c.r(Field::GUEST_CS_AR_BYTES), cs_type = cs_ar & 0xf;
  const bool cs_ok_type = cs_type == 9 || cs_type == 11 || cs_type == 13 || cs_type == 15 || (ug && cs_type == 3);
  if (!cs_ok_type)
    c.fail("27.3.1.2", "GUEST_CS_AR_BYTES = 0x%04x: CS type %u is not an accessed code segment", cs_ar, cs_type);
  if (!(cs_ar & 0x10) || !(cs_ar & 0x80) || (cs_ar & 0x10000))
    c.fail("27.3.1.2", "GUEST_CS_AR_BYTES = 0x%05x: CS must be usable with S = 1 and P = 1", cs_ar);
  const SegFields data[] = {
      {"SS", Field::GUEST_SS_SELECTOR, Field::GUEST_SS_LIMIT, Field::GUEST_SS_AR_BYTES},
      {"DS", Field::GUEST_DS_SELECTOR, Field::GUEST_DS_LIMIT, Field::GUEST_DS_AR_BYTES},
      {"ES", Field::GUEST_ES_SELECTOR, Field::GUEST_ES_LIMIT, Field::GUEST_ES_AR_BYTES},
      {"FS", Field::GUEST_FS_SELECTOR, Field::GUEST_FS_LIMIT, Field::GUEST_FS_AR_BYTES},
      {"GS", Field::GUEST_GS_SELECTOR, Field::GUEST_GS_LIMIT, Field::GUEST_GS_AR_BYTES},
  };
  for (const auto& s : data) {
    const std::uint32_t ar = c.r(s.ar);
    if (ar & 0x10000) continue;  // unusable: not checked
    const unsigned type = ar & 0xf;
    if (!(type & 1)) c.fail("27.3.1.2", "guest %s access rights 0x%04x: the accessed bit (type bit 0) must be 1", s.name, ar);
    if ((type & 8) && !(type & 2))
      c.fail("27.3.1.2", "guest %s access rights 0x%04x: a code segment there must be readable", s.name, ar);
    if (s.ar == Field::GUEST_SS_AR_BYTES && type != 3 && type != 7)
      c.fail("27.3.1.2", "guest SS access rights 0x%04x: SS must be a writable data segment (type 3 or 7)", ar);
    if (!(ar & 0x10) || !(ar & 0x80))
      c.fail("27.3.1.2", "guest %s access rights 0x%04x: S and P must be 1", s.name, ar);
    if (!limit_granularity_ok(c.r(s.limit), ar))
      c.fail("27.3.1.2", "guest %s: limit 0x%08x and G = %u disagree", s.name, c.r(s.limit), (ar >> 15) & 1);
  }
  if (!limit_granularity_ok(c.r(Field::GUEST_CS_LIMIT), cs_ar))
    c.fail("27.3.1.2", "guest CS: limit 0x%08x and G = %u disagree", c.r(Field::GUEST_CS_LIMIT), (cs_ar >> 15) & 1);

  // 27.3.1.3: descriptor-table registers.
  if (c.r(Field::GUEST_GDTR_LIMIT) > 0xffff) c.fail("27.3.1.3", "GUEST_GDTR_LIMIT bits 31:16 must be 0");
  if (c.r(Field::GUEST_IDTR_LIMIT) > 0xffff) c.fail("27.3.1.3", "GUEST_IDTR_LIMIT bits 31:16 must be 0");

  // 27.3.1.4: RIP and RFLAGS.
  const std::uint32_t rflags = c.r(Field::GUEST_RFLAGS);
  if (!(rflags & 2) || (rflags & 0xffc08028u))
    c.fail("27.3.1.4", "GUEST_RFLAGS = 0x%08x: bit 1 must be 1 and bits 3, 5, 15, 31:22 must be 0", rflags);
  const std::uint32_t info = c.r(Field::VM_ENTRY_INTR_INFO_FIELD);
  if ((info & intr_info::VALID) && intr_info::type(info) == intr_info::EXTERNAL_INTERRUPT && !(rflags & x86::eflags::IF))
    c.fail("27.3.1.4", "injecting an external interrupt while GUEST_RFLAGS.IF = 0");

  // 27.3.1.5: non-register state.
  const std::uint32_t act = c.r(Field::GUEST_ACTIVITY_STATE);
  if (act > activity::WAIT_FOR_SIPI) c.fail("27.3.1.5", "GUEST_ACTIVITY_STATE = %u is not a defined state", act);
  if (act == activity::HLT && ((c.r(Field::GUEST_SS_AR_BYTES) >> 5) & 3) != 0)
    c.fail("27.3.1.5", "GUEST_ACTIVITY_STATE = HLT needs SS.DPL = 0");
  const std::uint32_t intr = c.r(Field::GUEST_INTERRUPTIBILITY_INFO);
  if (intr & 0xffffffe0u) c.fail("27.3.1.5", "GUEST_INTERRUPTIBILITY_INFO = 0x%x: reserved bits are set", intr);
  if ((intr & 3) == 3) c.fail("27.3.1.5", "GUEST_INTERRUPTIBILITY_INFO: blocking by STI and by MOV SS both set");
  if ((intr & interruptibility::BLOCKING_BY_STI) && !(rflags & x86::eflags::IF))
    c.fail("27.3.1.5", "GUEST_INTERRUPTIBILITY_INFO: blocking by STI while RFLAGS.IF = 0");
  if ((info & intr_info::VALID) && intr_info::type(info) == intr_info::EXTERNAL_INTERRUPT && (intr & 3))
    c.fail("27.3.1.5", "injecting an external interrupt during blocking by STI or MOV SS");
  const std::uint64_t link = c.r64(Field::VMCS_LINK_POINTER);
  if (link != ~0ull)
    c.fail("27.3.1.5", "VMCS_LINK_POINTER = 0x%llx: without VMCS shadowing it must be all ones",
           static_cast<unsigned long long>(link));
  return c.failures();
}

void dump_guest_state(Vmcs& v, FormatSink& out) {
  static constexpr Field kFields[] = {
      Field::GUEST_CR0, Field::CR0_READ_SHADOW, Field::GUEST_CR3, Field::GUEST_CR4, Field::GUEST_RIP,
      Field::GUEST_RSP, Field::GUEST_RFLAGS, Field::GUEST_CS_SELECTOR, Field::GUEST_CS_AR_BYTES,
      Field::GUEST_CS_LIMIT, Field::GUEST_SS_SELECTOR, Field::GUEST_SS_AR_BYTES, Field::GUEST_DS_AR_BYTES,
      Field::GUEST_TR_SELECTOR, Field::GUEST_TR_BASE, Field::GUEST_TR_LIMIT, Field::GUEST_TR_AR_BYTES,
      Field::GUEST_LDTR_AR_BYTES, Field::GUEST_GDTR_LIMIT, Field::GUEST_IDTR_LIMIT,
      Field::GUEST_INTERRUPTIBILITY_INFO, Field::GUEST_ACTIVITY_STATE, Field::VM_ENTRY_INTR_INFO_FIELD,
      Field::VM_ENTRY_CONTROLS, Field::CPU_BASED_VM_EXEC_CONTROL, Field::SECONDARY_VM_EXEC_CONTROL,
      Field::VMCS_LINK_POINTER,
  };
  for (Field f : kFields)
    format_to(out, "  %-28s = 0x%llx\n", field_name(f), static_cast<unsigned long long>(v.read(f)));
}

void explain_entry_failure(Vmcs& v, const Capabilities& caps, bool vmfail_invalid, FormatSink& out) {
  // BEGIN SOLUTION lab04-e8
  if (vmfail_invalid) {
    format_to(out, "VM entry failed: VMfailInvalid -- there is no valid current VMCS (SDM 31.2; did VMPTRLD "
                   "succeed?)\n");
    return;
  }
  const std::uint32_t reason = static_cast<std::uint32_t>(v.read(Field::VM_EXIT_REASON));
  if (reason & exit_reason::ENTRY_FAILURE_BIT) {
    // SDM 27.8: the checks on guest state failed after the processor had started loading
    // it; the exit reason says which kind, the qualification narrows it down.
    const std::uint32_t basic = reason & 0xffff;
    const std::uint64_t q = v.read(Field::EXIT_QUALIFICATION);
    format_to(out, "VM entry failed: exit reason %u (%s), qualification %llu", basic, exit_reason_name(basic),
              static_cast<unsigned long long>(q));
    if (basic == exit_reason::ENTRY_FAILURE_GUEST_STATE) {
      static constexpr const char* kQual[] = {"no further information", "(reserved)", "a PDPTE could not be loaded",
                                              "NMI injection while blocked by NMI", "the VMCS link pointer is invalid"};
      format_to(out, ": invalid guest state (SDM 27.3.1), %s\n", q < 5 ? kQual[q] : "(unknown)");
      unsigned n = check_guest_state(v, caps, out);
      if (n == 0) format_to(out, "  (no software check matched; see the emulator log for the failed check)\n");
    } else if (basic == exit_reason::ENTRY_FAILURE_MSR_LOADING) {
      format_to(out, ": MSR loading failed at entry %llu of the VM-entry MSR-load area (SDM 27.4)\n",
                static_cast<unsigned long long>(q));
    } else {
      format_to(out, "\n");
    }
    dump_guest_state(v, out);
    return;
  }
  // SDM 31.4: VMfailValid, with the error number in the VM-instruction error field.
  const std::uint32_t err = static_cast<std::uint32_t>(v.read(Field::VM_INSTRUCTION_ERROR));
  format_to(out, "VM entry failed: VM-instruction error %u: %s (SDM 31.4)\n", err, instruction_error_text(err));
  if (err == 7) {
    if (check_controls(v, caps, out) == 0) format_to(out, "  (no software check matched)\n");
  } else if (err == 8) {
    if (check_host_state(v, caps, out) == 0) format_to(out, "  (no software check matched)\n");
  }
  // STUB: (void)v; (void)caps; format_to(out, "VM entry failed (vmfail_invalid=%d)\n", vmfail_invalid);
  // END SOLUTION
}

}  // namespace hvlab::vmx
