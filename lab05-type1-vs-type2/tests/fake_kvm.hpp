#pragma once
// A made-up KVM for the hosted VMM's unit tests: it answers the ioctls the VMM makes from
// plain fields, records every call, and runs a script for KVM_RUN (each step fills the run
// page as KVM would for one exit).

#include <cerrno>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "lab05-type1-vs-type2/src/host_timer.hpp"
#include "lab05-type1-vs-type2/src/kvm_sys.hpp"

namespace hvlab::lab05::fake {

class FakeKvm final : public KvmSys {
 public:
  static constexpr int kKvmFd = 3, kVmFd = 10, kVcpuFd = 20;
  using Step = std::function<long(kvm_run&, FakeKvm&)>;

  int open_device(const char*) override { return open_result; }
  void* map_shared(int, std::size_t size) override {
    run_page.assign(size, 0);
    return run_page.data();
  }
  void* map_memory(std::size_t size) override {
    ram = std::make_unique<unsigned char[]>(size);
    std::memset(ram.get(), 0, size);
    return ram.get();
  }
  void unmap(void*, std::size_t) override {}
  void close_fd(int fd) override { closed.push_back(fd); }
  using KvmSys::ioctl;

  long ioctl(int fd, unsigned long req, unsigned long arg) override {
    calls.push_back(req);
    void* p = reinterpret_cast<void*>(arg);
    switch (req) {
      case KVM_GET_API_VERSION: return api_version;
      case KVM_CREATE_VM: return create_vm_result;
      case KVM_CHECK_EXTENSION: return 1;
      case KVM_SET_USER_MEMORY_REGION:
        regions.push_back(*static_cast<kvm_userspace_memory_region*>(p));
        return set_region_result;
      case KVM_SET_TSS_ADDR: return 0;
      case KVM_CREATE_VCPU: return kVcpuFd;
      case KVM_GET_VCPU_MMAP_SIZE: return 3 * 4096;
      case KVM_GET_REGS: *static_cast<kvm_regs*>(p) = regs; return 0;
      case KVM_SET_REGS: regs = *static_cast<kvm_regs*>(p); return 0;
      case KVM_GET_SREGS: *static_cast<kvm_sregs*>(p) = sregs; return 0;
      case KVM_SET_SREGS: sregs = *static_cast<kvm_sregs*>(p); return 0;
      case KVM_GET_TSC_KHZ: return 1'000'000;
      case KVM_INTERRUPT: interrupts.push_back(static_cast<kvm_interrupt*>(p)->irq); return 0;
      case KVM_NMI: ++nmis; return 0;
      case KVM_GET_VCPU_EVENTS: *static_cast<kvm_vcpu_events*>(p) = events; return 0;
      case KVM_SET_VCPU_EVENTS: events = *static_cast<kvm_vcpu_events*>(p); return 0;
      case KVM_CREATE_IRQCHIP: return irqchip_result;
      case KVM_CREATE_PIT2: pit_flags.push_back(static_cast<kvm_pit_config*>(p)->flags); return 0;
      case KVM_IRQ_LINE: {
        auto* l = static_cast<kvm_irq_level*>(p);
        irq_lines.push_back({l->irq, l->level});
        return 0;
      }
      case KVM_SET_GUEST_DEBUG: debug.push_back(*static_cast<kvm_guest_debug*>(p)); return 0;
      case KVM_TRANSLATE: {
        auto* t = static_cast<kvm_translation*>(p);
        t->physical_address = t->linear_address;
        t->valid = 1;
        return 0;
      }
      case KVM_GET_STATS_FD: return -ENOTTY;
      case KVM_RUN: {
        if (fd != kVcpuFd) return -EBADF;
        auto* run = reinterpret_cast<kvm_run*>(run_page.data());
        if (run->kvm_dirty_regs & KVM_SYNC_X86_REGS) regs = run->s.regs.regs;
        run->kvm_dirty_regs = 0;
        long rc;
        if (run->immediate_exit) {
          rc = -EINTR;
        } else if (script.empty()) {
          // Nothing left: the guest writes 0 to the exit port.
          run->exit_reason = KVM_EXIT_IO;
          run->io.direction = KVM_EXIT_IO_OUT;
          run->io.port = 0xf4;
          run->io.size = 1;
          run->io.count = 1;
          run->io.data_offset = 4096;
          run_page[4096] = 0;
          rc = 0;
        } else {
          Step s = std::move(script.front());
          script.pop_front();
          rc = s(*run, *this);
        }
        run->s.regs.regs = regs;
        run->s.regs.sregs = sregs;
        ++runs;
        return rc;
      }
      default:
        if (req == kvm_c::kGetMsrs || req == kvm_c::kSetMsrs) {
          auto* m = static_cast<kvm_c::Msrs1*>(p);
          if (req == kvm_c::kSetMsrs) tsc = m->entry.data;
          else m->entry.data = tsc;
          return 1;
        }
        return -ENOTTY;
    }
  }

  /// A step that reports an OUT of `bytes` to `port`.
  static Step out(std::uint16_t port, std::vector<std::uint8_t> bytes, std::uint8_t size = 1) {
    return [port, bytes, size](kvm_run& run, FakeKvm& k) {
      run.exit_reason = KVM_EXIT_IO;
      run.io.direction = KVM_EXIT_IO_OUT;
      run.io.port = port;
      run.io.size = size;
      run.io.count = static_cast<std::uint32_t>(bytes.size() / size);
      run.io.data_offset = 4096;
      std::memcpy(k.run_page.data() + 4096, bytes.data(), bytes.size());
      return 0L;
    };
  }
  /// A step that reports exit `reason` with nothing else.
  static Step exit(std::uint32_t reason) {
    return [reason](kvm_run& run, FakeKvm&) {
      run.exit_reason = reason;
      return 0L;
    };
  }

  kvm_run* run() { return reinterpret_cast<kvm_run*>(run_page.data()); }

  int open_result = kKvmFd;
  long api_version = 12, create_vm_result = kVmFd, set_region_result = 0, irqchip_result = 0;
  std::vector<unsigned long> calls;
  std::vector<int> closed;
  std::vector<kvm_userspace_memory_region> regions;
  std::vector<unsigned char> run_page;
  std::unique_ptr<unsigned char[]> ram;
  kvm_regs regs{};
  kvm_sregs sregs{};
  kvm_vcpu_events events{};
  std::vector<std::uint32_t> interrupts;
  unsigned nmis = 0;
  std::vector<std::uint32_t> pit_flags;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> irq_lines;
  std::vector<kvm_guest_debug> debug;
  std::uint64_t tsc = 0;
  std::deque<Step> script;
  unsigned runs = 0;
};

/// A host timer that records what it was asked.
struct RecordingTimer final : HostTimer {
  std::vector<std::uint64_t> armed;
  void arm_in(std::uint64_t ns) override { armed.push_back(ns); }
};

}  // namespace hvlab::lab05::fake
