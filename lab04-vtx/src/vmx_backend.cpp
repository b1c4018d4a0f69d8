#include "lab04-vtx/src/vmx_backend.hpp"

#include "common/arch/intrinsics.hpp"

namespace hvlab::lab04 {

namespace {

// Passes an entry failure's explanation on to the diagnostics and keeps its beginning (the
// case and the failed checks; the field dump comes last) for the trace record.
class KeepingSink final : public FormatSink {
 public:
  explicit KeepingSink(FormatSink& out) : out_(out) {}
  void put(char c) override {
    out_.put(c);
    if (n_ + 1 < sizeof text_) text_[n_++] = c == '\n' ? ' ' : c;
    text_[n_] = '\0';
  }
  const char* text() const { return text_; }

 private:
  FormatSink& out_;
  char text_[768] = "";
  std::size_t n_ = 0;
};

}  // namespace

void VmxBackend::explain_failure(bool vmfail_invalid) {
  KeepingSink sink(diag_);
  vmx::explain_entry_failure(vmcs_, caps_, vmfail_invalid, sink);
  if (trace_) trace_->note("entry_failure", sink.text());
}

VmxBackend::VmxBackend(vmm::Board& board, vmx::Vmcs& vmcs, const vmx::Capabilities& caps, const vmx::Controls& ctls,
                       RunFn run, FormatSink& diag)
    : Backend(board), vmcs_(vmcs), caps_(caps), ctls_(ctls), run_(run), diag_(diag) {}

std::uint64_t VmxBackend::now() { return x86::rdtsc(); }

void VmxBackend::load_initial_state(vmm::VCpu& vcpu) {
  vmx::load_vcpu(vmcs_, vcpu);
  before_ = vcpu;
}

bool VmxBackend::inject(vmm::VCpu&, const vmm::PendingEvent& e) {
  vmx::inject_event(vmcs_, e);
  return true;  // the processor delivers it, or exits (a triple fault) trying
}

void VmxBackend::request_interrupt_window(vmm::VCpu&, bool on) { window_ = on; }

void VmxBackend::arm_timer(std::uint64_t deadline, std::uint64_t watchdog) {
  deadline_ = deadline;
  watchdog_ = watchdog;
}

vmm::Event VmxBackend::enter(vmm::VCpu& vcpu) {
  vmx::store_vcpu(vmcs_, caps_, before_, vcpu, true);
  if (vcpu.cr2 != before_.cr2) x86::write_cr2(vcpu.cr2);  // CR2 is not in the VMCS
  vmx::set_interrupt_window(vmcs_, ctls_, window_);
  if (vapic_) {
    dev::LocalApic& apic = board_.lapic();
    if (!vapic_filled_ || apic.state_version() != vapic_version_) {
      apic.fill_register_page(vapic_);
      vapic_version_ = apic.state_version();
      vapic_filled_ = true;
      vmcs_.write(vmx::field::TPR_THRESHOLD, vmx::tpr_threshold(vapic_));
    }
  }
  // From here on the guest's clock runs: the monitor's work since the Board decided this
  // entry is hidden from it, like the rest of the monitor's time.
  const std::uint64_t t = now();
  entry_time_ = t;
  board_.on_entry(t);  // before the TSC offset is written: this entry's offset hides it already
  const std::uint64_t guest_now = board_.guest_time(t);
  vmcs_.write(vmx::field::TSC_OFFSET, board_.tsc_offset());
  // The preemption timer counts host time: aim at the nearer of the next timer edge and the
  // watchdog, both in guest time, which runs at the host's rate while the guest runs.
  std::uint64_t deadline = deadline_;
  if (watchdog_ && (!deadline || watchdog_ < deadline)) deadline = watchdog_;
  vmx::arm_preemption_timer(vmcs_, caps_, ctls_, deadline ? (deadline > guest_now ? deadline - guest_now : 1) : 0);

  vmm::GeneralRegisters regs = vcpu.regs;
  const int rc = run_(&regs, launched_);
  exit_time_ = now();
  if (rc != 0) {
    explain_failure(rc == 1);
    vmm::Event e;
    e.source = vmm::Source::vm_exit;
    e.reason = vmm::Reason::entry_failure;
    e.raw_reason = rc == 1 ? 0 : vmcs_.read(vmx::field::VM_INSTRUCTION_ERROR);
    e.guest_eip = vcpu.eip;
    return e;
  }
  if (!launched_ && trace_)  // the set-up's last step, before this exit is decoded (a stub may stop there)
    trace_->note("setup", "guest_entered: VMLAUNCH passed the entry checks and the first VM exit came back (lab04-e2)");
  launched_ = true;
  vcpu.regs = regs;
  vmx::load_vcpu(vmcs_, vcpu);
  vmm::Event e = vmx::decode_exit(vmcs_, vcpu.regs);
  if (vapic_) {
    // The guest's TPR writes do not exit (SDM 29.1.2): the APIC learns them here.
    dev::LocalApic& apic = board_.lapic();
    const std::uint32_t vtpr = vapic_[dev::LocalApic::kTpr / 4] & 0xff;
    if (vtpr != apic.tpr()) (void)apic.write(dev::LocalApic::kTpr, 4, vtpr);
    if (e.raw_reason == vmx::exit_reason::APIC_WRITE) {
      e.memory.value = vapic_[(e.memory.physical.value() & 0xffc) / 4];
      e.memory.has_value = true;
    }
  }
  if (e.reason == vmm::Reason::entry_failure) explain_failure(false);
  // SDM 28.2.4: an event whose delivery the exit cut short is delivered again.
  vmm::PendingEvent cut_short = vmx::interrupted_event(vmcs_);
  if (cut_short.valid) board_.inject(cut_short);
  before_ = vcpu;
  return e;
}

}  // namespace hvlab::lab04
