#include "slides/tool/decode.hpp"

#include <gtest/gtest.h>

namespace hvlab::demo {
namespace {

TEST(Decode, ExitReasonNamesFollowTheSdmNumbers) {
  EXPECT_EQ(exit_reason_name(0), "exception or NMI");
  EXPECT_EQ(exit_reason_name(10), "CPUID");
  EXPECT_EQ(exit_reason_name(30), "I/O instruction");
  EXPECT_EQ(exit_reason_name(48), "EPT violation");
  EXPECT_EQ(exit_reason_name(52), "VMX-preemption timer expired");
  EXPECT_EQ(exit_reason_name(69), "LOADIWKEY");
  EXPECT_EQ(exit_reason_name(70), "unknown exit reason");
}

TEST(Decode, IoQualification) {
  // Port in bits 31:16, size-1 in 2:0, IN in bit 3, string 4, REP 5, immediate operand 6.
  EXPECT_EQ(decode_qualification(30, 0xf40040), "OUT to port 0xf4 (debug exit), 1 byte, port in the instruction");
  EXPECT_EQ(decode_qualification(30, 0x3fd0008), "IN from port 0x3fd (COM1), 1 byte, port in DX");
  EXPECT_EQ(decode_qualification(30, 0x3f80033), "REP OUTS to port 0x3f8 (COM1), 4 bytes, port in DX");
  EXPECT_EQ(decode_qualification(30, 0x12340001), "OUT to port 0x1234, 2 bytes, port in DX");
}

TEST(Decode, ControlRegisterAndDebugRegisterQualification) {
  EXPECT_EQ(decode_qualification(28, 0x0), "MOV to CR0 from EAX");
  EXPECT_EQ(decode_qualification(28, 0x313), "MOV from CR3 to EBX");
  EXPECT_EQ(decode_qualification(28, 0x20), "CLTS");
  EXPECT_EQ(decode_qualification(28, 0x00110030), "LMSW, source data 0x11");
  EXPECT_EQ(decode_qualification(29, 0x207), "MOV to DR7 from EDX");
  EXPECT_EQ(decode_qualification(29, 0x110), "MOV from DR0 to ECX");
}

TEST(Decode, MsrEptAndEntryFailureQualification) {
  EXPECT_EQ(decode_qualification(32, 0, 0x174), "ECX = 0x174 (IA32_SYSENTER_CS)");
  EXPECT_EQ(decode_qualification(31, 0, 0x12345), "ECX = 0x12345");
  EXPECT_EQ(decode_qualification(48, 0x0a), "access: write; the entry allowed: read");
  EXPECT_EQ(decode_qualification(33, 4), "the VMCS link pointer is invalid");
  EXPECT_EQ(decode_qualification(12, 0), "");
}

TEST(Decode, VmcsFields) {
  EXPECT_EQ(decode_vmcs_field("GUEST_TR_AR_BYTES", 0x89), "type 9 (32-bit TSS, available), system, DPL 0, present");
  EXPECT_EQ(decode_vmcs_field("GUEST_TR_AR_BYTES", 0x8b), "type 11 (32-bit TSS, busy), system, DPL 0, present");
  EXPECT_EQ(decode_vmcs_field("GUEST_CS_AR_BYTES", 0xc09b),
            "type 11 (code, readable, accessed), code/data, DPL 0, present, 32-bit, 4 KiB granular");
  EXPECT_EQ(decode_vmcs_field("GUEST_LDTR_AR_BYTES", 0x10000), "unusable (bit 16)");
  EXPECT_EQ(decode_vmcs_field("HOST_TR_SELECTOR", 0), "the null selector (RPL 0)");
  EXPECT_EQ(decode_vmcs_field("GUEST_SS_SELECTOR", 0x10), "index 2 in the GDT, RPL 0");
  EXPECT_EQ(decode_vmcs_field("GUEST_CR0", 0x11), "set: PE ET");
  EXPECT_EQ(decode_vmcs_field("PIN_BASED_VM_EXEC_CONTROL", 0x40), "set: VMX-preemption timer");
  EXPECT_EQ(decode_vmcs_field("VMCS_LINK_POINTER", ~0ull), "all ones: no shadow VMCS");
  EXPECT_EQ(decode_vmcs_field("GUEST_RIP", 0x10000c), "");
}

TEST(Decode, PortsMsrsVectors) {
  EXPECT_EQ(port_name(0x3fd), "COM1");
  EXPECT_EQ(port_name(0x61), "PIT gate (port 0x61)");
  EXPECT_EQ(port_name(0x1234), "");
  EXPECT_EQ(msr_name(0x1b), "IA32_APIC_BASE");
  EXPECT_EQ(vector_mnemonic(13), "#GP");
  EXPECT_EQ(vector_mnemonic(14), "#PF");
}

}  // namespace
}  // namespace hvlab::demo
