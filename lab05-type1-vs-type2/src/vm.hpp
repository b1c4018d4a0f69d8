#pragma once
// A KVM virtual machine as the hosted VMM uses it: the VM, its RAM (anonymous memory of this
// process, given to KVM as memory slot 0 at guest-physical 0) and its one vCPU with the
// shared kvm_run page through which exits come back.
//
//   /dev/kvm --KVM_CREATE_VM--> VM fd --KVM_SET_USER_MEMORY_REGION--> RAM
//                                    \--KVM_CREATE_VCPU--> vCPU fd --mmap--> struct kvm_run

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/runtime/result.hpp"
#include "lab05-type1-vs-type2/src/kvm_sys.hpp"

namespace hvlab::lab05 {

/// The KVM API version this VMM is written against (KVM_GET_API_VERSION; it has been 12
/// since Linux 2.6.22 and is not expected to change).
inline constexpr long kKvmApiVersion = 12;

class Vm {
 public:
  explicit Vm(KvmSys& sys) : sys_(sys) {}
  ~Vm();
  Vm(const Vm&) = delete;
  Vm& operator=(const Vm&) = delete;

  /// Creates the VM on the KVM system `kvm_fd` (an open /dev/kvm) with `ram_bytes` of RAM
  /// at guest-physical 0. On failure says why in *why.
  Status create(int kvm_fd, std::uint64_t ram_bytes, std::string* why);
  /// Creates vCPU 0 and maps its kvm_run page. KVM wants an in-kernel irqchip created
  /// before any vCPU, so this comes after that choice.
  Status create_vcpu(std::string* why);

  KvmSys& sys() { return sys_; }
  int kvm_fd() const { return kvm_fd_; }
  int vm_fd() const { return vm_fd_; }
  int vcpu_fd() const { return vcpu_fd_; }
  kvm_run* run() const { return run_; }
  std::size_t run_size() const { return run_size_; }
  void* ram() const { return ram_; }
  std::uint64_t ram_bytes() const { return ram_bytes_; }

 private:
  KvmSys& sys_;
  int kvm_fd_ = -1, vm_fd_ = -1, vcpu_fd_ = -1;
  void* ram_ = nullptr;
  std::uint64_t ram_bytes_ = 0;
  kvm_run* run_ = nullptr;
  std::size_t run_size_ = 0;
};

/// strerror() of a -errno result, for messages.
std::string errno_text(long negative_errno);

}  // namespace hvlab::lab05

