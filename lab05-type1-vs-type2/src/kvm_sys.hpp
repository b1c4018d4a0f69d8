#pragma once
// The system calls the hosted VMM makes on KVM's file descriptors, behind one small
// interface: LinuxKvm makes them, and the tests' FakeKvm answers them with made-up VMs and
// exits. Everything above this file (the VM, the vCPU state, the back end, the GDB stub)
// is ordinary code that GoogleTest drives.
//
// KVM's objects are file descriptors (Documentation/virt/kvm/api.rst): /dev/kvm for the
// system, one per VM (KVM_CREATE_VM), one per vCPU (KVM_CREATE_VCPU), and a shared page per
// vCPU, `struct kvm_run`, through which every exit is reported.

#include <linux/kvm.h>

#include <cstddef>
#include <cstdint>

namespace hvlab::lab05 {

class KvmSys {
 public:
  /// open(path, O_RDWR | O_CLOEXEC): a file descriptor, or -errno.
  virtual int open_device(const char* path) = 0;
  /// ioctl(fd, request, arg): its result (>= 0), or -errno.
  virtual long ioctl(int fd, unsigned long request, unsigned long arg) = 0;
  /// A shared mapping of `size` bytes of `fd` at offset 0 (a vCPU's kvm_run); nullptr on failure.
  virtual void* map_shared(int fd, std::size_t size) = 0;
  /// Zeroed anonymous memory for guest RAM, shared so a debugger's view stays coherent;
  /// nullptr on failure.
  virtual void* map_memory(std::size_t size) = 0;
  virtual void unmap(void* p, std::size_t size) = 0;
  virtual void close_fd(int fd) = 0;

  /// ioctl with a structure.
  template <typename T>
  long ioctl(int fd, unsigned long request, T* arg) {
    return ioctl(fd, request, reinterpret_cast<unsigned long>(arg));
  }

 protected:
  ~KvmSys() = default;
};

/// The real system calls.
class LinuxKvm final : public KvmSys {
 public:
  int open_device(const char* path) override;
  long ioctl(int fd, unsigned long request, unsigned long arg) override;
  using KvmSys::ioctl;
  void* map_shared(int fd, std::size_t size) override;
  void* map_memory(std::size_t size) override;
  void unmap(void* p, std::size_t size) override;
  void close_fd(int fd) override;
};

// Linux's headers declare a few structures with __DECLARE_FLEX_ARRAY, which a C++ compiler
// lays out differently from C (the empty struct inside takes a byte, so the array moves and
// the size the ioctl number encodes changes: KVM then answers EINVAL). These are the C
// layouts and the ioctl numbers KVM expects.
namespace kvm_c {

/// struct kvm_msrs with one entry.
struct Msrs1 {
  std::uint32_t nmsrs = 1;
  std::uint32_t pad = 0;
  kvm_msr_entry entry{};
};
static_assert(sizeof(kvm_msr_entry) == 16 && sizeof(Msrs1) == 24);
inline constexpr unsigned long kGetMsrs = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x88, 8);
inline constexpr unsigned long kSetMsrs = _IOC(_IOC_WRITE, KVMIO, 0x89, 8);

/// struct kvm_cpuid2's header: the entries follow at offset 8.
struct Cpuid2Header {
  std::uint32_t nent = 0;
  std::uint32_t padding = 0;
};
static_assert(sizeof(kvm_cpuid_entry2) == 40);
inline constexpr unsigned long kGetSupportedCpuid = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x05, 8);
inline constexpr unsigned long kSetCpuid2 = _IOC(_IOC_WRITE, KVMIO, 0x90, 8);

}  // namespace kvm_c

/// The name of a KVM exit reason (KVM_EXIT_*), for messages.
const char* kvm_exit_name(std::uint32_t reason);

}  // namespace hvlab::lab05
