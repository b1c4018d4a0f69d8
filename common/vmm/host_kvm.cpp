#include "common/vmm/host_kvm.hpp"

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hvlab::vmm {
namespace {

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

std::string kvm_unavailable_reason(const char* device) {
  Fd kvm;
  kvm.fd = ::open(device, O_RDWR | O_CLOEXEC);
  if (kvm.fd < 0) return std::string("cannot use KVM: ") + device + ": " + std::strerror(errno);
  if (::ioctl(kvm.fd, KVM_GET_API_VERSION, 0) != 12) return "KVM answers with another API version than 12";
  Fd vm;
  vm.fd = ::ioctl(kvm.fd, KVM_CREATE_VM, 0);
  if (vm.fd < 0) return std::string("KVM cannot create a VM: ") + std::strerror(errno);
  Fd vcpu;
  vcpu.fd = ::ioctl(vm.fd, KVM_CREATE_VCPU, 0);
  if (vcpu.fd < 0) return std::string("KVM cannot create a vCPU: ") + std::strerror(errno);
  kvm_sregs s{};
  if (::ioctl(vcpu.fd, KVM_GET_SREGS, &s) < 0) return std::string("KVM_GET_SREGS: ") + std::strerror(errno);
  s.cs.db = 1;
  s.cr0 = 0x80000011;  // PG, ET, PE: 32-bit paging
  s.cr3 = 0x1000;
  s.cr4 = 0;
  s.efer = 0;
  kvm_sregs back{};
  if (::ioctl(vcpu.fd, KVM_SET_SREGS, &s) < 0 || ::ioctl(vcpu.fd, KVM_GET_SREGS, &back) < 0 ||
      !(back.cr0 & 0x80000000u))
    return "this machine's KVM does not run 32-bit guests with paging on (it keeps CR0.PG clear, as kvm-pvm does: "
           "paging only in long mode), and the kit's guests turn paging on";
  return {};
}

}  // namespace hvlab::vmm
