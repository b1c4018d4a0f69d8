// user: a ring-3 process entered by IRET, calling the kernel through INT 0x80 (a DPL-3
// gate), and the protection the CPU enforces on it: no kernel memory, no CLI or port I/O
// at IOPL 0, no privileged instructions, no DPL-0 gates.

#include "autograder/guests/suite/suite.hpp"

namespace hvlab::guest {
namespace {

using namespace x86;

UserRegs regs_esi(std::uint32_t esi) { return {.eax = 0, .ebx = 0, .ecx = 0, .edx = 0, .esi = esi, .edi = 0}; }

// IRET to ring 3 and back through INT 0x80: the process sees CS and SS with RPL 3, and the
// CPU switched to the TSS stack for the system call.
void user_iret_syscall() {
  UserRun r = run_user(user_selectors, {});
  if (!user_exited(r, "user process")) return;
  EXPECT_EQ(r.status & 0xffff, sel::kUserCS, "CS as the user process reads it");
  EXPECT_EQ(r.exit_frame.ecx & 0xffff, sel::kUserDS, "SS as the user process reads it");
  EXPECT_EQ(r.exit_frame.cs & 0xffff, sel::kUserCS, "CS pushed by INT 0x80");
  EXPECT_EQ(r.exit_frame.user_ss & 0xffff, sel::kUserDS, "SS pushed by INT 0x80");
  EXPECT_EQ(r.exit_frame.user_esp, r.exit_frame.edx, "ESP pushed by INT 0x80 (the user's)");
  std::uint32_t top = trap_stack_top();
  EXPECT(r.exit_frame_at < top && r.exit_frame_at >= top - 16384,
         "the system call ran on a stack at 0x%08x, not TSS.ESP0's (below 0x%08x)", r.exit_frame_at, top);
}

// A system call with five register arguments and a result in EAX.
void user_syscall_args() {
  UserRun r = run_user(user_add, {.eax = 0, .ebx = 1, .ecx = 20, .edx = 300, .esi = 4000, .edi = 50000});
  if (!user_exited(r, "user process")) return;
  EXPECT_EQ(r.status, 54321u, "sum the system call returned in EAX");
}

void user_read_kernel() {
  static volatile std::uint32_t secret = 0x5ec2e7;
  std::uint32_t va = reinterpret_cast<std::uint32_t>(&secret);
  UserRun r = run_user(user_load, regs_esi(va));
  EXPECT(!r.exited, "user mode read kernel memory (got 0x%08x)", r.status);
  if (!trap_is(r.trap, vector::PF, pf_error::P | pf_error::U, "user read of kernel memory")) return;
  EXPECT_EQ(r.trap.cr2, va, "CR2");
}

void user_write_kernel() {
  static volatile std::uint32_t target = 0;
  std::uint32_t va = reinterpret_cast<std::uint32_t>(&target);
  UserRun r = run_user(user_store, {.eax = 0, .ebx = 0, .ecx = 0, .edx = 0, .esi = va, .edi = 0xbad});
  EXPECT(!r.exited && target == 0, "user mode wrote kernel memory (now 0x%08x)", target);
  if (!trap_is(r.trap, vector::PF, pf_error::P | pf_error::W | pf_error::U, "user write to kernel memory")) return;
  EXPECT_EQ(r.trap.cr2, va, "CR2");
}

void user_cli_faults() {
  UserRun r = run_user(user_cli, {});
  EXPECT(!r.exited, "CLI at CPL 3 with IOPL 0 did not fault");
  if (!trap_is(r.trap, vector::GP, 0, "CLI at CPL 3, IOPL 0")) return;
  EXPECT_EQ(r.trap.eip, reinterpret_cast<std::uint32_t>(user_cli), "saved EIP (the CLI)");
}

void user_in_faults() {
  UserRun r = run_user(user_in, regs_esi(0x3ff));  // COM1 scratch register
  EXPECT(!r.exited, "IN at CPL 3 with IOPL 0 did not fault");
  trap_is(r.trap, vector::GP, 0, "IN at CPL 3, IOPL 0 (no I/O bitmap)");
}

void user_hlt_faults() {
  UserRun r = run_user(user_hlt, {});
  EXPECT(!r.exited, "HLT at CPL 3 did not fault");
  trap_is(r.trap, vector::GP, 0, "HLT at CPL 3");
}

// With IOPL 3, CLI and IN are allowed at CPL 3, and CLI clears IF.
void user_iopl3() {
  UserRun r = run_user(user_iopl_probe, regs_esi(0x3ff), 0x3202);
  if (!user_exited(r, "CLI and IN at CPL 3 with IOPL 3")) return;
  EXPECT_EQ(r.status & eflags::IF, 0u, "EFLAGS.IF after CLI at IOPL 3");
  EXPECT_EQ(eflags::iopl(r.status), 3u, "EFLAGS.IOPL");
}

// POPF at CPL 3 with IOPL 0 ignores changes to IF and IOPL, silently.
void user_popf_ignored() {
  UserRun r = run_user(user_popf, {}, 0x202);
  if (!user_exited(r, "POPF at CPL 3")) return;
  EXPECT_EQ(r.status & eflags::IF, eflags::IF, "EFLAGS.IF after POPF tried to clear it at CPL 3");
  EXPECT_EQ(eflags::iopl(r.status), 0u, "EFLAGS.IOPL after POPF tried to raise it at CPL 3");
}

// INT n to a DPL-0 gate from ring 3: #GP with the IDT vector as error code (IDT bit set).
void user_int_dpl0_faults() {
  UserRun r = run_user(user_int_kernel, {});
  EXPECT(!r.exited, "INT 0x81 (DPL-0 gate) from CPL 3 did not fault");
  trap_is(r.trap, vector::GP, (kKernelIntVector << 3) | 2, "INT 0x81 from CPL 3");
}

const TestCase kTests[] = {
    {"user_iret_syscall", user_iret_syscall},
    {"user_syscall_args", user_syscall_args},
    {"user_read_kernel", user_read_kernel},
    {"user_write_kernel", user_write_kernel},
    {"user_cli_faults", user_cli_faults},
    {"user_in_faults", user_in_faults},
    {"user_hlt_faults", user_hlt_faults},
    {"user_iopl3", user_iopl3},
    {"user_popf_ignored", user_popf_ignored},
    {"user_int_dpl0_faults", user_int_dpl0_faults},
};

}  // namespace

GUEST_TEST_GROUP(kUserGroup, kTests);

}  // namespace hvlab::guest
