#include "lab05-type1-vs-type2/src/vm.hpp"

#include <cstring>

#include "common/runtime/exercise.hpp"

namespace hvlab::lab05 {

std::string errno_text(long negative_errno) { return std::strerror(static_cast<int>(-negative_errno)); }

Vm::~Vm() {
  if (run_) sys_.unmap(run_, run_size_);
  sys_.close_fd(vcpu_fd_);
  sys_.close_fd(vm_fd_);
  if (ram_) sys_.unmap(ram_, ram_bytes_);
}

Status Vm::create(int kvm_fd, std::uint64_t ram_bytes, std::string* why) {
  kvm_fd_ = kvm_fd;
  // BEGIN SOLUTION lab05-e1
  // api.rst 4.1: KVM_GET_API_VERSION must return 12; anything else is an API this code
  // does not know.
  const long version = sys_.ioctl(kvm_fd, KVM_GET_API_VERSION, 0ul);
  if (version != kKvmApiVersion) {
    *why = version < 0 ? "KVM_GET_API_VERSION failed: " + errno_text(version)
                       : "KVM API version " + std::to_string(version) + ", expected 12";
    return Error::unsupported;
  }
  // api.rst 4.2: KVM_CREATE_VM, machine type 0 (the default x86 VM).
  const long vm = sys_.ioctl(kvm_fd, KVM_CREATE_VM, 0ul);
  if (vm < 0) {
    *why = "KVM_CREATE_VM failed: " + errno_text(vm);
    return Error::unsupported;
  }
  vm_fd_ = static_cast<int>(vm);
  // Guest RAM is ordinary memory of this process. KVM maps it into the guest-physical
  // space (api.rst 4.35, KVM_SET_USER_MEMORY_REGION): slot 0, guest-physical 0.
  ram_ = sys_.map_memory(ram_bytes);
  if (!ram_) {
    *why = "no " + std::to_string(ram_bytes >> 20) + " MiB of memory for the guest's RAM";
    return Error::out_of_memory;
  }
  ram_bytes_ = ram_bytes;
  kvm_userspace_memory_region region{};
  region.slot = 0;
  region.flags = 0;
  region.guest_phys_addr = 0;
  region.memory_size = ram_bytes;
  region.userspace_addr = reinterpret_cast<std::uint64_t>(ram_);
  const long rc = sys_.ioctl(vm_fd_, KVM_SET_USER_MEMORY_REGION, &region);
  if (rc < 0) {
    *why = "KVM_SET_USER_MEMORY_REGION failed: " + errno_text(rc);
    return Error::unsupported;
  }
  return {};
  // STUB: (void)ram_bytes; (void)why; return Error::unsupported;
  // END SOLUTION
}

Status Vm::create_vcpu(std::string* why) {
  // Intel's VMX needs three pages of guest-physical space for a TSS when it emulates real
  // mode (api.rst 4.41); the guest never runs in real mode here, but KVM may ask. The
  // address is above any RAM this VMM gives.
  (void)sys_.ioctl(vm_fd_, KVM_SET_TSS_ADDR, 0xfffbd000ul);
  const long vcpu = sys_.ioctl(vm_fd_, KVM_CREATE_VCPU, 0ul);
  if (vcpu < 0) {
    *why = "KVM_CREATE_VCPU failed: " + errno_text(vcpu);
    return Error::unsupported;
  }
  vcpu_fd_ = static_cast<int>(vcpu);
  const long size = sys_.ioctl(kvm_fd_, KVM_GET_VCPU_MMAP_SIZE, 0ul);
  if (size < static_cast<long>(sizeof(kvm_run))) {
    *why = "KVM_GET_VCPU_MMAP_SIZE failed: " + (size < 0 ? errno_text(size) : std::to_string(size) + " bytes");
    return Error::unsupported;
  }
  run_size_ = static_cast<std::size_t>(size);
  run_ = static_cast<kvm_run*>(sys_.map_shared(vcpu_fd_, run_size_));
  if (!run_) {
    *why = "cannot map the vCPU's kvm_run page";
    return Error::unsupported;
  }
  return {};
}

}  // namespace hvlab::lab05
