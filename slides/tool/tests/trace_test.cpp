#include "slides/tool/trace.hpp"

#include <gtest/gtest.h>

#include "slides/tool/entry.hpp"

namespace hvlab::demo {
namespace {

constexpr const char* kLab01 = R"({"seq":1,"kind":"start","what":"boot/suite.elf only=priv_hlt"}
{"seq":3,"kind":"trap","reason":"privileged_instruction","vector":13,"error_code":0,"eip":"0x0010000c","cpl":0,"insn":"cli","outcome":"emulated"}
{"seq":4,"kind":"trap","reason":"io_instruction","vector":13,"error_code":0,"port":1021,"size":1,"dir":"in","eip":"0x0010b904","cpl":0,"insn":"in al, dx","outcome":"emulated"}
{"seq":5,"kind":"trap","reason":"io_instruction","vector":13,"error_code":0,"port":1016,"size":1,"dir":"out","eip":"0x0010b90d","cpl":0,"insn":"out dx, al","outcome":"emulated"}
{"seq":6,"kind":"trap","reason":"io_instruction","vector":13,"error_code":0,"port":33,"size":1,"dir":"out","eip":"0x0010bfab","cpl":0,"insn":"out 0x21, al","outcome":"emulated"}
{"seq":7,"kind":"trap","reason":"page_fault","vector":14,"error_code":0,"address":"0x0010a049","eip":"0x0010a049","cpl":0,"outcome":"resume"}
{"seq":8,"kind":"trap","reason":"privileged_instruction","vector":13,"error_code":16,"eip":"0x0010bd14","cpl":0,"insn":"mov ss, ax","outcome":"emulated"}
{"seq":9,"kind":"trap","reason":"privileged_instruction","vector":13,"error_code":0,"eip":"0x00109f60","cpl":0,"insn":"cli","outcome":"emulated"}
{"seq":10,"kind":"trap","reason":"hlt","vector":13,"error_code":0,"eip":"0x00105c32","cpl":0,"insn":"hlt","outcome":"emulated"}
{"kind":"summary","events":9,"emulated":8,"stop":"guest exited with status 0","counts":{"privileged_instruction":3,"io_instruction":3,"page_fault":1,"hlt":1}}
{"seq":11,"kind":"trap","reas)";

constexpr const char* kKtap = "KTAP version 1\r\n1..102\r\nok 15 priv_hlt\r\n# summary: 1 passed, 0 failed\r\n";

TEST(Trace, KeepsEventsAndTheSummaryAndCountsACutLine) {
  Trace t = parse_trace(kLab01);
  EXPECT_EQ(t.events.size(), 8u);
  ASSERT_TRUE(t.summary);
  EXPECT_EQ(t.bad_lines, 1u);
  EXPECT_EQ(summary_count(t, "io_instruction"), 3u);
  EXPECT_EQ(summary_count(t, "cpuid"), 0u);
}

TEST(Trace, FirstTrapOfEachInstructionWithItsCount) {
  auto rows = first_traps(parse_trace(kLab01));
  ASSERT_EQ(rows.size(), 3u);  // I/O and page faults are summed up, not listed
  EXPECT_EQ(rows[0].insn, "cli");
  EXPECT_EQ(rows[0].times, 2u);
  EXPECT_EQ(rows[0].seq, 3u);
  EXPECT_EQ(rows[0].eip, "0010000c");
  EXPECT_EQ(rows[0].trap, "#GP(0)");
  EXPECT_EQ(rows[1].trap, "#GP(0x10)");
  EXPECT_EQ(rows[2].insn, "hlt");
}

TEST(Trace, IoIsGroupedByDevice) {
  auto io = io_by_device(parse_trace(kLab01));
  ASSERT_EQ(io.size(), 2u);
  EXPECT_EQ(io[0], (std::pair<std::string, std::uint64_t>{"COM1", 2}));
  EXPECT_EQ(io[1].first, "master PIC");
}

TEST(Trace, KtapVerdictAndTrapFigure) {
  Ktap k = parse_ktap(kKtap);
  ASSERT_EQ(k.results.size(), 1u);
  EXPECT_EQ(k.results[0], "ok 15 priv_hlt");
  EXPECT_EQ(k.summary, "1 passed, 0 failed");
  auto figs = trap_figures(parse_trace(kLab01), k, "priv_hlt");
  ASSERT_EQ(figs.size(), 1u);
  EXPECT_NE(figs[0].second.find("mov ss, ax"), std::string::npos);
  EXPECT_NE(figs[0].second.find("the guest: ok 15 priv_hlt"), std::string::npos) << figs[0].second;
}

constexpr const char* kLab04 = R"({"seq":8,"kind":"exit","reason":"io_instruction","exit_reason":30,"qualification":"0x2f90000","port":761,"size":1,"dir":"out","eip":"0x0010b9a2","cpl":0,"outcome":"emulated"}
{"seq":9,"kind":"exit","reason":"io_instruction","exit_reason":30,"qualification":"0x2fb0000","port":763,"size":1,"dir":"out","eip":"0x0010b9ad","cpl":0,"outcome":"emulated"}
{"seq":81,"kind":"exit","reason":"cr_access","exit_reason":28,"qualification":"0x0","number":0,"eip":"0x00109fe6","cpl":0,"outcome":"emulated"}
{"seq":1181,"kind":"exit","reason":"external_interrupt","vector":0,"exit_reason":52,"qualification":"0x0","eip":"0x00105c19","cpl":0,"outcome":"resume"}
{"seq":1250,"kind":"exit","reason":"msr_read","exit_reason":31,"qualification":"0x0","number":27,"eip":"0x00105b7c","cpl":0,"outcome":"emulated"}
{"seq":1300,"kind":"stats","what":"backend=vmx exits=1300 emulated=1290"}
{"kind":"summary","events":1300,"emulated":1290,"stop":"guest exited with status 0","counts":{"io_instruction":1290,"cr_access":1,"external_interrupt":8,"msr_read":1}}
)";

TEST(Trace, FirstExitOfEachReasonDecoded) {
  Trace t = parse_trace(kLab04);
  ASSERT_TRUE(t.stats);
  auto rows = first_exits(t);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].basic, 30u);
  EXPECT_EQ(rows[0].name, "I/O instruction");
  EXPECT_EQ(rows[0].decoded, "OUT to port 0x2f9 (COM2), 1 byte, port in DX");
  EXPECT_EQ(rows[1].decoded, "MOV to CR0 from EAX");
  EXPECT_EQ(rows[2].name, "VMX-preemption timer expired");
  EXPECT_EQ(rows[2].event, "external_interrupt");
  EXPECT_EQ(rows[3].decoded, "ECX = 0x1b (IA32_APIC_BASE)");
  auto figs = vmexit_figures(t, parse_ktap("# summary: 102 passed, 0 failed\n"), "");
  EXPECT_NE(figs[0].second.find("1300 exits, 99% of them I/O"), std::string::npos) << figs[0].second;
}

constexpr const char* kBrokenTr = R"(# lab04: break=tr: deliberately breaking the VMCS
# lab04: VM entry failed: exit reason 33 (ENTRY_FAILURE_GUEST_STATE), qualification 0: invalid guest state (SDM 27.3.1), no further information
# lab04:   check failed (SDM 27.3.1.2): guest TR type: GUEST_TR_AR_BYTES = 0x0089 has type 9; TR must hold a busy TSS, type 11 (32-bit) or 3 (16-bit) -- type 9 is an available (not busy) TSS
# lab04:   GUEST_CR0                    = 0x31
# lab04:   GUEST_TR_AR_BYTES            = 0x89
# lab04:   VMCS_LINK_POINTER            = 0xffffffffffffffff
)";

TEST(EntryFailure, HeadlineCheckFieldsAndTheCpusWords) {
  std::string error;
  auto f = parse_entry_failure(kBrokenTr, "00077001479e[CPU0  ] VMENTER FAIL: VMCS guest incorrect TR type\n", &error);
  ASSERT_TRUE(f) << error;
  EXPECT_NE(f->headline.find("exit reason 33"), std::string::npos);
  ASSERT_EQ(f->checks.size(), 1u);
  ASSERT_EQ(f->cpu.size(), 1u);
  EXPECT_EQ(f->cpu[0], "VMENTER FAIL: VMCS guest incorrect TR type");
  EXPECT_EQ(f->fields.at("GUEST_TR_AR_BYTES"), 0x89u);
  EXPECT_EQ(f->fields.at("VMCS_LINK_POINTER"), ~0ull);
  EXPECT_EQ(fields_named(*f, f->checks[0]), std::vector<std::string>{"GUEST_TR_AR_BYTES"});
  auto figs = entry_failure_figures(*f, "tr");
  EXPECT_NE(figs[0].second.find("32-bit TSS, available"), std::string::npos) << figs[0].second;
}

TEST(EntryFailure, ASentenceNamesAFieldToo) {
  std::string error;
  auto f = parse_entry_failure(
      "# lab04: VM entry failed: VM-instruction error 8: VM entry with invalid host-state field(s) (SDM 31.4)\n"
      "# lab04:   check failed (SDM 27.2.3): HOST_TR_SELECTOR is 0: it must not be the null selector\n",
      "", &error);
  ASSERT_TRUE(f) << error;
  EXPECT_EQ(fields_named(*f, f->checks[0]), std::vector<std::string>{"HOST_TR_SELECTOR"});
}

TEST(EntryFailure, ARunThatEnteredIsAnError) {
  std::string error;
  EXPECT_FALSE(parse_entry_failure("KTAP version 1\nok 1 priv_lgdt\n", "", &error));
  EXPECT_NE(error.find("no failed VM entry"), std::string::npos);
}

}  // namespace
}  // namespace hvlab::demo

namespace hvlab::demo {
namespace {

TEST(Trace, InstructionsCountUnderTheirMnemonicAndMovUnderItsRegister) {
  EXPECT_EQ(trap_key("lgdt [ebp-0x18]"), "lgdt");
  EXPECT_EQ(trap_key("lgdt [eax]"), "lgdt");
  EXPECT_EQ(trap_key("mov cr3, eax"), "mov cr3");
  EXPECT_EQ(trap_key("mov eax, cr0"), "mov cr0");
  EXPECT_EQ(trap_key("mov dr7, eax"), "mov dr");
  EXPECT_EQ(trap_key("mov dr0, eax"), "mov dr");
  EXPECT_EQ(trap_key("mov ss, cx"), "mov ss");
  EXPECT_EQ(trap_key("mov eax, [edx]"), "mov");
  EXPECT_EQ(trap_key("hlt"), "hlt");
}

}  // namespace
}  // namespace hvlab::demo

namespace hvlab::demo {
namespace {

TEST(EntryFailure, RelatedFieldsShareTheNamedFieldsPrefix) {
  std::string error;
  auto f = parse_entry_failure(
      "# lab04: VM entry failed: exit reason 33 (ENTRY_FAILURE_GUEST_STATE), qualification 0\n"
      "# lab04:   check failed (SDM 27.3.1.2): guest TR type: GUEST_TR_AR_BYTES = 0x0089 has type 9\n"
      "# lab04:   GUEST_TR_SELECTOR            = 0x0\n"
      "# lab04:   GUEST_TR_LIMIT               = 0x67\n"
      "# lab04:   GUEST_TR_AR_BYTES            = 0x89\n"
      "# lab04:   GUEST_TRAP_LIKE              = 0x1\n"
      "# lab04:   GUEST_CR0                    = 0x31\n",
      "", &error);
  ASSERT_TRUE(f) << error;
  EXPECT_EQ(related_fields(*f, "GUEST_TR_AR_BYTES"), (std::vector<std::string>{"GUEST_TR_LIMIT", "GUEST_TR_SELECTOR"}));
  EXPECT_TRUE(related_fields(*f, "GUEST_CR0").empty());
}

}  // namespace
}  // namespace hvlab::demo
