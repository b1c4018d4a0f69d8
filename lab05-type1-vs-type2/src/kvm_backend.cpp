#include "lab05-type1-vs-type2/src/kvm_backend.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include <x86intrin.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "common/arch/msr.hpp"
#include "common/arch/x86.hpp"
#include "common/runtime/exercise.hpp"
#include "lab05-type1-vs-type2/src/host_timer.hpp"

namespace hvlab::lab05 {

vmm::IoAccess decode_io(kvm_run& run) {
  vmm::IoAccess io;
  // BEGIN SOLUTION lab05-e4
  // api.rst 5, KVM_EXIT_IO: the port, the access size, the direction, and `count`
  // elements (more than one for a REP INS/OUTS, which KVM has already taken apart) at
  // `data_offset` bytes from the start of the run page. For OUT the data is there; for IN
  // the VMM puts it there and KVM completes the instruction at the next KVM_RUN.
  io.port = run.io.port;
  io.size = run.io.size;
  io.in = run.io.direction == KVM_EXIT_IO_IN;
  io.count = run.io.count;
  io.string = run.io.count > 1;
  io.rep = run.io.count > 1;
  io.data = reinterpret_cast<std::uint8_t*>(&run) + run.io.data_offset;
  // STUB: (void)run;
  // END SOLUTION
  return io;
}

vmm::Event decode_exit(kvm_run& run, const vmm::VCpu& vcpu) {
  vmm::Event e;
  e.source = vmm::Source::vm_exit;
  e.raw_reason = run.exit_reason;
  e.guest_eip = vcpu.eip;
  e.guest_cpl = vcpu.cpl;
  // KVM completes every instruction it reports (or has already moved RIP past it, as for
  // HLT): the handlers never advance EIP.
  e.insn_length = 0;
  // BEGIN SOLUTION lab05-e3
  switch (run.exit_reason) {
    case KVM_EXIT_IO:
      e.reason = vmm::Reason::io_instruction;
      e.io = decode_io(run);
      e.raw_qualification = run.io.port;
      break;
    case KVM_EXIT_MMIO:
      // A guest-physical access outside every memory slot: a device's registers, or
      // memory the guest does not have (api.rst 5, KVM_EXIT_MMIO).
      e.reason = vmm::Reason::mmio;
      e.memory.physical = GuestPhysAddr(run.mmio.phys_addr);
      e.memory.has_physical = true;
      e.memory.size = static_cast<std::uint8_t>(run.mmio.len);
      e.memory.write = run.mmio.is_write != 0;
      e.memory.read = !e.memory.write;
      e.memory.data = run.mmio.data;
      e.raw_qualification = run.mmio.phys_addr;
      break;
    case KVM_EXIT_HLT:
      e.reason = vmm::Reason::hlt;  // only without an in-kernel irqchip
      break;
    case KVM_EXIT_IRQ_WINDOW_OPEN:
      e.reason = vmm::Reason::interrupt_window;
      break;
    case KVM_EXIT_INTR:
      e.reason = vmm::Reason::external_interrupt;  // a signal: the host timer, or a kick
      break;
    case KVM_EXIT_SHUTDOWN:
      e.reason = vmm::Reason::triple_fault;
      break;
    case KVM_EXIT_FAIL_ENTRY:
      e.reason = vmm::Reason::entry_failure;
      e.raw_qualification = run.fail_entry.hardware_entry_failure_reason;
      break;
    case KVM_EXIT_DEBUG:
      // A breakpoint or a single step the debugger asked for (KVM_SET_GUEST_DEBUG).
      e.reason = vmm::Reason::exception;
      e.exception.vector = static_cast<std::uint8_t>(run.debug.arch.exception);
      e.raw_qualification = run.debug.arch.dr6;
      break;
    case KVM_EXIT_INTERNAL_ERROR:
      e.reason = vmm::Reason::other;
      e.raw_qualification = run.internal.suberror;
      break;
    default:
      e.reason = vmm::Reason::other;
      break;
  }
  // STUB: (void)run;
  // END SOLUTION
  return e;
}

KvmBackend::KvmBackend(vmm::Board& board, Vm& vm, HostTimer& timer)
    : Backend(board), vm_(vm), run_(vm.run()), timer_(timer) {}

std::uint64_t KvmBackend::now() { return __rdtsc(); }

bool KvmBackend::start(vmm::VCpu& vcpu, std::string* why) {
  KvmSys& sys = vm_.sys();
  kvm_regs regs{};
  kvm_sregs sregs{};
  long rc = sys.ioctl(vm_.vcpu_fd(), KVM_GET_REGS, &regs);
  if (rc >= 0) rc = sys.ioctl(vm_.vcpu_fd(), KVM_GET_SREGS, &sregs);
  if (rc < 0) {
    *why = "cannot read the vCPU's registers: " + errno_text(rc);
    return false;
  }
  if (sys.ioctl(vm_.kvm_fd(), KVM_CHECK_EXTENSION, static_cast<unsigned long>(KVM_CAP_SYNC_REGS)) <= 0 ||
      sys.ioctl(vm_.kvm_fd(), KVM_CHECK_EXTENSION, static_cast<unsigned long>(KVM_CAP_IMMEDIATE_EXIT)) <= 0) {
    *why = "this KVM lacks KVM_CAP_SYNC_REGS or KVM_CAP_IMMEDIATE_EXIT (Linux 4.11 or later has both)";
    return false;
  }
  run_->kvm_valid_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
  run_->kvm_dirty_regs = 0;
  run_->s.regs.regs = regs;
  run_->s.regs.sregs = sregs;
  load_registers(vcpu);
  entry_eip_ = vcpu.eip;
  const long khz = sys.ioctl(vm_.vcpu_fd(), KVM_GET_TSC_KHZ, 0ul);
  if (khz > 0) board_.set_tsc_hz(static_cast<std::uint64_t>(khz) * 1000);
  return true;
}

void KvmBackend::load_registers(vmm::VCpu& vcpu) {
  const kvm_regs& r = run_->s.regs.regs;
  const kvm_sregs& s = run_->s.regs.sregs;
  auto& g = vcpu.regs;
  g.eax = static_cast<std::uint32_t>(r.rax);
  g.ecx = static_cast<std::uint32_t>(r.rcx);
  g.edx = static_cast<std::uint32_t>(r.rdx);
  g.ebx = static_cast<std::uint32_t>(r.rbx);
  g.esp = static_cast<std::uint32_t>(r.rsp);
  g.ebp = static_cast<std::uint32_t>(r.rbp);
  g.esi = static_cast<std::uint32_t>(r.rsi);
  g.edi = static_cast<std::uint32_t>(r.rdi);
  vcpu.eip = static_cast<std::uint32_t>(r.rip);
  vcpu.eflags = static_cast<std::uint32_t>(r.rflags);
  vcpu.cr0 = static_cast<std::uint32_t>(s.cr0);
  vcpu.cr2 = static_cast<std::uint32_t>(s.cr2);
  vcpu.cr3 = static_cast<std::uint32_t>(s.cr3);
  vcpu.cr4 = static_cast<std::uint32_t>(s.cr4);
  vcpu.msr_efer = s.efer;
  vcpu.cs = s.cs.selector;
  vcpu.ss = s.ss.selector;
  vcpu.ds = s.ds.selector;
  vcpu.es = s.es.selector;
  vcpu.fs = s.fs.selector;
  vcpu.gs = s.gs.selector;
  vcpu.ldtr = s.ldt.selector;
  vcpu.tr = s.tr.selector;
  vcpu.gdtr.base = static_cast<std::uint32_t>(s.gdt.base);
  vcpu.gdtr.limit = s.gdt.limit;
  vcpu.idtr.base = static_cast<std::uint32_t>(s.idt.base);
  vcpu.idtr.limit = s.idt.limit;
  // The CPL is SS.DPL (SDM 5.5: they are equal outside conforming-code corner cases, and
  // SS.DPL is what VMX and SVM keep).
  vcpu.cpl = (vcpu.cr0 & x86::cr0::PE) ? s.ss.dpl : 0;
  // KVM says whether it could inject an interrupt now: not when IF = 0, nor in the
  // shadow of STI or MOV SS. With IF = 1, "not ready" means the shadow.
  vcpu.interrupt_shadow = vcpu.interrupts_enabled() && !run_->ready_for_interrupt_injection;
  synced_ = vcpu;
}

void KvmBackend::store_registers(const vmm::VCpu& vcpu) {
  // Only the general registers, EIP and EFLAGS go back: handlers change those (the GDB
  // stub, a monitor call). Writing the segment registers back would also rewrite KVM's
  // pending-interrupt bitmap, which lives in the same structure.
  const auto& a = vcpu.regs;
  const auto& b = synced_.regs;
  if (a.eax == b.eax && a.ecx == b.ecx && a.edx == b.edx && a.ebx == b.ebx && a.esp == b.esp && a.ebp == b.ebp &&
      a.esi == b.esi && a.edi == b.edi && vcpu.eip == synced_.eip && vcpu.eflags == synced_.eflags)
    return;
  kvm_regs& r = run_->s.regs.regs;
  r.rax = a.eax;
  r.rcx = a.ecx;
  r.rdx = a.edx;
  r.rbx = a.ebx;
  r.rsp = a.esp;
  r.rbp = a.ebp;
  r.rsi = a.esi;
  r.rdi = a.edi;
  r.rip = vcpu.eip;
  r.rflags = vcpu.eflags | x86::eflags::FIXED1;
  run_->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
}

void KvmBackend::sync_tsc() {
  // KVM runs the guest's RDTSC against its own offset. The Board's clock moves the guest's
  // time forward when it skips an idle period; the guest's TSC must move with it, or its
  // timer interrupts would seem to come early.
  const std::uint64_t want = board_.tsc_offset();
  if (tsc_synced_ && want == tsc_offset_) return;
  kvm_c::Msrs1 msrs;
  msrs.entry.index = x86::msr::IA32_TIME_STAMP_COUNTER;
  KvmSys& sys = vm_.sys();
  if (!tsc_synced_) {
    msrs.entry.data = board_.guest_tsc(now());
  } else {
    if (sys.ioctl(vm_.vcpu_fd(), kvm_c::kGetMsrs, &msrs) != 1) return;
    msrs.entry.data += want - tsc_offset_;
  }
  if (sys.ioctl(vm_.vcpu_fd(), kvm_c::kSetMsrs, &msrs) == 1) {
    tsc_offset_ = want;
    tsc_synced_ = true;
  }
}

bool KvmBackend::inject(vmm::VCpu&, const vmm::PendingEvent& e) {
  KvmSys& sys = vm_.sys();
  // BEGIN SOLUTION lab05-e5
  // An interrupt from the user-space 8259: KVM_INTERRUPT queues the vector, and KVM
  // delivers it through the guest's IDT as it enters (api.rst 4.16). The Board asks for
  // this only when the guest can take it (IF = 1, no STI/MOV SS shadow: KVM said
  // ready_for_interrupt_injection); otherwise it asked for a window first.
  if (e.type == vmm::PendingEvent::Type::external_interrupt) {
    kvm_interrupt irq{};
    irq.irq = e.vector;
    return sys.ioctl(vm_.vcpu_fd(), KVM_INTERRUPT, &irq) >= 0;
  }
  if (e.type == vmm::PendingEvent::Type::nmi) return sys.ioctl(vm_.vcpu_fd(), KVM_NMI, 0ul) >= 0;
  // An exception a handler raised: KVM_SET_VCPU_EVENTS, keeping the rest of the state.
  kvm_vcpu_events ev{};
  if (sys.ioctl(vm_.vcpu_fd(), KVM_GET_VCPU_EVENTS, &ev) < 0) return false;
  ev.exception.injected = 1;
  ev.exception.nr = e.vector;
  ev.exception.has_error_code = e.has_error_code;
  ev.exception.error_code = e.error_code;
  return sys.ioctl(vm_.vcpu_fd(), KVM_SET_VCPU_EVENTS, &ev) >= 0;
  // STUB: (void)sys; (void)e; return false;
  // END SOLUTION
}

void KvmBackend::request_interrupt_window(vmm::VCpu&, bool on) {
  // api.rst 5, request_interrupt_window: KVM returns with KVM_EXIT_IRQ_WINDOW_OPEN as soon
  // as the guest can take an interrupt. (Called before every entry, so it is no exercise:
  // the handout must get as far as the first exit without lab05-e5.)
  run_->request_interrupt_window = on ? 1 : 0;
}

void KvmBackend::arm_timer(std::uint64_t deadline, std::uint64_t watchdog) {
  std::uint64_t target = watchdog;
  if (deadline && (!target || deadline < target)) target = deadline;
  if (!target) return;
  const std::uint64_t t = now();
  const std::uint64_t guest_now = board_.guest_time(t);
  const std::uint64_t host_target = t + (target > guest_now ? target - guest_now : 0);
  // Guest time runs at the host's rate, so a target is a host TSC value. A timer already
  // set to fire earlier stays: an early exit costs one resume, a system call per exit would
  // double the cost of every exit.
  if (armed_ > t && armed_ <= host_target) return;
  std::uint64_t rem = 0;
  const std::uint64_t ns = vmm::convert_ticks(host_target - t, board_.tsc_hz(), 1'000'000'000u, &rem);
  timer_.arm_in(ns ? ns : 1);
  armed_ = host_target;
}

void KvmBackend::wake_within(std::uint64_t ticks) {
  const std::uint64_t t = now();
  if (armed_ > t && armed_ <= t + ticks) return;
  std::uint64_t rem = 0;
  const std::uint64_t ns = vmm::convert_ticks(ticks, board_.tsc_hz(), 1'000'000'000u, &rem);
  timer_.arm_in(ns ? ns : 1);
  armed_ = t + ticks;
}

long KvmBackend::run_vcpu() {
  long rc = 0;
  // BEGIN SOLUTION lab05-e3
  // api.rst 4.10: KVM_RUN enters the guest and returns when it exits with something this
  // process must handle (the reason in the run page), or -EINTR when a signal arrived (the
  // host timer, a kick; immediate_exit makes one that came before the call count too).
  rc = vm_.sys().ioctl(vm_.vcpu_fd(), KVM_RUN, 0ul);
  exit_time_ = now();
  if (rc == -EINTR) {
    run_->immediate_exit = 0;
    run_->exit_reason = KVM_EXIT_INTR;
  }
  // STUB: rc = -ENOSYS;
  // END SOLUTION
  return rc;
}

vmm::Event KvmBackend::wait_halted(vmm::VCpu& vcpu) {
  // The Board waits in real time (Board::set_idle_wait): sleep until a signal (the timer
  // armed for the next tick, a key, GDB), unless one came already or the hook just made an
  // interrupt pending. The kick signal is blocked while we look, and ppoll() unblocks it
  // atomically, so none is lost in between.
  sigset_t kick, old;
  sigemptyset(&kick);
  sigaddset(&kick, SIGRTMIN);
  pthread_sigmask(SIG_BLOCK, &kick, &old);
  if (!run_->immediate_exit && !board_.pic().has_pending() && board_.running()) {
    sigset_t during = old;
    sigdelset(&during, SIGRTMIN);
    ppoll(nullptr, 0, nullptr, &during);
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  run_->immediate_exit = 0;
  armed_ = 0;
  exit_time_ = now();
  vmm::Event e;
  e.source = vmm::Source::vm_exit;
  e.reason = vmm::Reason::external_interrupt;
  e.raw_reason = KVM_EXIT_INTR;
  e.guest_eip = vcpu.eip;
  e.guest_cpl = vcpu.cpl;
  if (int sig = SignalKick::stop_signal()) board_.fail("stopped by signal %d (%s)", sig, strsignal(sig));
  return e;
}

vmm::Event KvmBackend::enter(vmm::VCpu& vcpu) {
  if (hook_) hook_(hook_arg_);
  if (vcpu.halted) return wait_halted(vcpu);
  sync_tsc();
  store_registers(vcpu);
  long rc;
  for (;;) {
    rc = run_vcpu();
    ++runs_;
    if (rc == -EINTR) armed_ = 0;  // perhaps the timer: set it again next time
    // A quirk of the KVM on this kit's machines (a KVM that itself runs paravirtualized,
    // with no VT-x or AMD-V underneath): the first KVM_RUN of a vCPU whose guest turns on
    // 32-bit paging can return KVM_EXIT_SHUTDOWN with RIP still at the entry point, before
    // the guest ran an instruction. Calling KVM_RUN again runs the guest normally. A real
    // triple fault never happens at the first instruction of a multiboot kernel with
    // interrupts off, so one retry there is safe; any later shutdown is the guest's.
    if (rc == 0 && !ran_ && quirks_ == 0 && run_->exit_reason == KVM_EXIT_SHUTDOWN &&
        static_cast<std::uint32_t>(run_->s.regs.regs.rip) == entry_eip_) {
      ++quirks_;
      continue;
    }
    break;
  }
  if (rc < 0 && rc != -EINTR) {
    vmm::Event e;
    e.source = vmm::Source::vm_exit;
    e.reason = vmm::Reason::entry_failure;
    e.raw_reason = KVM_EXIT_FAIL_ENTRY;
    e.raw_qualification = static_cast<std::uint64_t>(-rc);
    e.guest_eip = vcpu.eip;
    board_.fail("KVM_RUN failed: %s", errno_text(rc).c_str());
    return e;
  }
  run_->kvm_dirty_regs = 0;
  load_registers(vcpu);
  if (!ran_) {
    ran_ = true;
    if (trace_) {
      std::string what = fmt::format("KVM_RUN returned {} ({}) at eip 0x{:08x}{}", run_->exit_reason,
                                     kvm_exit_name(run_->exit_reason), vcpu.eip,
                                     quirks_ ? ", after one KVM_EXIT_SHUTDOWN at the entry point (the quirk)" : "");
      trace_->note("first_exit", what.c_str());
    }
  }
  if (int sig = SignalKick::stop_signal())
    board_.fail("stopped by signal %d (%s)", sig, strsignal(sig));
  return decode_exit(*run_, vcpu);
}

bool KvmBackend::copy_virtual(GuestVirtAddr va, void* buf, std::size_t n, bool write) {
  auto* p = static_cast<std::uint8_t*>(buf);
  while (n > 0) {
    std::size_t chunk = kPageSize - va.page_offset();
    if (chunk > n) chunk = n;
    kvm_translation tr{};
    tr.linear_address = va.value();
    if (vm_.sys().ioctl(vm_.vcpu_fd(), KVM_TRANSLATE, &tr) < 0 || !tr.valid) return false;
    const GuestPhysAddr gpa(tr.physical_address);
    Status s = write ? board_.memory().copy_in(gpa, p, chunk) : board_.memory().copy_out(p, gpa, chunk);
    if (!s.ok()) return false;
    va += chunk;
    p += chunk;
    n -= chunk;
  }
  return true;
}

bool KvmBackend::read_linear(vmm::VCpu&, GuestVirtAddr la, void* dst, std::size_t n, bool,
                             vmm::ExceptionInfo* fault) {
  if (copy_virtual(la, dst, n, false)) return true;
  *fault = {14, true, 0};
  return false;
}

bool KvmBackend::write_linear(vmm::VCpu&, GuestVirtAddr la, const void* src, std::size_t n, bool,
                              vmm::ExceptionInfo* fault) {
  if (copy_virtual(la, const_cast<void*>(src), n, true)) return true;
  *fault = {14, true, 2};
  return false;
}

void KvmBackend::finish(vmm::TraceWriter& trace) {
  // Binary statistics (api.rst 4.133, KVM_GET_STATS_FD): a header, descriptors naming each
  // counter, then the values. Only the plain counters are kept.
  const int fd = static_cast<int>(vm_.sys().ioctl(vm_.vcpu_fd(), KVM_GET_STATS_FD, 0ul));
  std::string fields = fmt::format("\"kvm_runs\":{},\"shutdown_quirks\":{}", runs_, quirks_);
  if (fd >= 0) {
    kvm_stats_header h{};
    if (pread(fd, &h, sizeof h, 0) == static_cast<ssize_t>(sizeof h) && h.num_desc < 4096 && h.name_size < 256) {
      // The name follows the descriptor's 16 fixed bytes. Not sizeof(kvm_stats_desc): in C++
      // the header's flexible-array wrapper holds an empty struct of size 1, which moves
      // `name` and pads the struct to 20 bytes (the names lost their first letter and most
      // descriptors were read at the wrong place).
      constexpr std::size_t kDescHead = offsetof(kvm_stats_desc, bucket_size) + sizeof(__u32);
      static_assert(kDescHead == 16);
      const std::size_t desc_size = kDescHead + h.name_size;
      std::vector<char> descs(desc_size * h.num_desc);
      if (pread(fd, descs.data(), descs.size(), h.desc_offset) == static_cast<ssize_t>(descs.size())) {
        for (std::uint32_t i = 0; i < h.num_desc; ++i) {
          const auto* d = reinterpret_cast<const kvm_stats_desc*>(descs.data() + i * desc_size);
          if ((d->flags & KVM_STATS_TYPE_MASK) != KVM_STATS_TYPE_CUMULATIVE || d->size != 1) continue;
          std::uint64_t v = 0;
          if (pread(fd, &v, sizeof v, h.data_offset + d->offset) != static_cast<ssize_t>(sizeof v)) continue;
          const char* name_at = descs.data() + i * desc_size + kDescHead;
          std::string name(name_at, strnlen(name_at, h.name_size));
          fields += fmt::format(",\"{}\":{}", name, v);
        }
      }
    }
    ::close(fd);
  }
  std::string line = "{\"kind\":\"kvm_stats\"," + fields + "}\n";
  trace.sink().write(line.data(), line.size());
}

}  // namespace hvlab::lab05
