// lab05-e1 (the VM and its RAM) and lab05-e2 (the multiboot entry state), against FakeKvm.

#include <gtest/gtest.h>

#include "common/arch/x86.hpp"
#include "lab05-type1-vs-type2/src/entry_state.hpp"
#include "lab05-type1-vs-type2/src/vm.hpp"
#include "lab05-type1-vs-type2/tests/fake_kvm.hpp"

namespace hvlab::lab05 {
namespace {

using fake::FakeKvm;

TEST(Lab05E1Vm, CreatesTheVmAndGivesItRamAtGuestPhysicalZero) {
  FakeKvm kvm;
  Vm vm(kvm);
  std::string why;
  ASSERT_TRUE(vm.create(FakeKvm::kKvmFd, 8 << 20, &why).ok()) << why;
  EXPECT_EQ(vm.vm_fd(), FakeKvm::kVmFd);
  ASSERT_EQ(kvm.regions.size(), 1u);
  const auto& r = kvm.regions[0];
  EXPECT_EQ(r.slot, 0u);
  EXPECT_EQ(r.guest_phys_addr, 0u);
  EXPECT_EQ(r.memory_size, 8u << 20);
  EXPECT_EQ(r.userspace_addr, reinterpret_cast<std::uint64_t>(vm.ram()));
  EXPECT_EQ(vm.ram_bytes(), 8u << 20);
  // The API version is checked before anything is created.
  ASSERT_GE(kvm.calls.size(), 2u);
  EXPECT_EQ(kvm.calls[0], static_cast<unsigned long>(KVM_GET_API_VERSION));
  EXPECT_EQ(kvm.calls[1], static_cast<unsigned long>(KVM_CREATE_VM));
}

TEST(Lab05E1Vm, AnotherApiVersionIsRefusedWithItsNumber) {
  FakeKvm kvm;
  kvm.api_version = 11;
  Vm vm(kvm);
  std::string why;
  EXPECT_FALSE(vm.create(FakeKvm::kKvmFd, 8 << 20, &why).ok());
  EXPECT_NE(why.find("11"), std::string::npos) << why;
  EXPECT_TRUE(kvm.regions.empty());
}

TEST(Lab05E1Vm, FailuresSayWhichCallFailed) {
  FakeKvm kvm;
  kvm.create_vm_result = -EPERM;
  Vm vm(kvm);
  std::string why;
  EXPECT_FALSE(vm.create(FakeKvm::kKvmFd, 8 << 20, &why).ok());
  EXPECT_NE(why.find("KVM_CREATE_VM"), std::string::npos) << why;
  FakeKvm kvm2;
  kvm2.set_region_result = -EINVAL;
  Vm vm2(kvm2);
  EXPECT_FALSE(vm2.create(FakeKvm::kKvmFd, 8 << 20, &why).ok());
  EXPECT_NE(why.find("KVM_SET_USER_MEMORY_REGION"), std::string::npos) << why;
}

TEST(Lab05Vm, TheVcpuAndItsRunPageComeAfterTheVm) {
  FakeKvm kvm;
  Vm vm(kvm);
  std::string why;
  ASSERT_TRUE(vm.create(FakeKvm::kKvmFd, 4 << 20, &why).ok()) << why;
  ASSERT_TRUE(vm.create_vcpu(&why).ok()) << why;
  EXPECT_EQ(vm.vcpu_fd(), FakeKvm::kVcpuFd);
  EXPECT_EQ(static_cast<void*>(vm.run()), static_cast<void*>(kvm.run_page.data()));
}

MultibootEntry entry() { return {0x10000c, 0x2badb002, 0x1000}; }

TEST(Lab05E2EntryState, FillsWhatMultibootPromises) {
  kvm_regs regs{};
  kvm_sregs sregs{};
  sregs.cr0 = 0x60000010;  // a fresh vCPU: CD, NW, ET
  sregs.apic_base = 0xfee00900;
  multiboot_entry_state(entry(), &regs, &sregs);
  EXPECT_EQ(check_multiboot_state(entry(), regs, sregs), "");
  EXPECT_EQ(regs.rip, 0x10000cu);
  EXPECT_EQ(regs.rax, 0x2badb002u);
  EXPECT_EQ(regs.rbx, 0x1000u);
  EXPECT_EQ(regs.rflags, 2u);
  EXPECT_EQ(sregs.cs.type, 0xb);
  EXPECT_EQ(sregs.ss.type, 0x3);
  EXPECT_TRUE(sregs.cr0 & x86::cr0::PE);
  EXPECT_FALSE(sregs.cr0 & (x86::cr0::PG | x86::cr0::CD | x86::cr0::NW));
  EXPECT_EQ(sregs.apic_base, 0xfee00900u);  // left as the vCPU had it
  EXPECT_EQ(sregs.tr.type, 0xb);            // a busy 32-bit TSS
  EXPECT_TRUE(sregs.ldt.unusable);
}

TEST(Lab05EntryStateCheck, NamesWhatBreaksTheContract) {
  kvm_regs regs{};
  kvm_sregs sregs{};
  multiboot_entry_state(entry(), &regs, &sregs);
  auto broken = [&](auto change) {
    kvm_regs r = regs;
    kvm_sregs s = sregs;
    change(r, s);
    return check_multiboot_state(entry(), r, s);
  };
  EXPECT_NE(broken([](kvm_regs& r, kvm_sregs&) { r.rax = 0; }).find("EAX"), std::string::npos);
  EXPECT_NE(broken([](kvm_regs& r, kvm_sregs&) { r.rbx = 0; }).find("EBX"), std::string::npos);
  EXPECT_NE(broken([](kvm_regs&, kvm_sregs& s) { s.cs.db = 0; }).find("CS"), std::string::npos);
  EXPECT_NE(broken([](kvm_regs&, kvm_sregs& s) { s.ss.limit = 0xffff; }).find("SS"), std::string::npos);
  EXPECT_NE(broken([](kvm_regs&, kvm_sregs& s) { s.cr0 |= x86::cr0::PG; }).find("PG"), std::string::npos);
  EXPECT_NE(broken([](kvm_regs& r, kvm_sregs&) { r.rflags |= x86::eflags::IF; }).find("IF"), std::string::npos);
}

}  // namespace
}  // namespace hvlab::lab05
