// boot() against real emulators, with the tiny kernels in tests/kernels/: each test checks the
// outcome, the status, the captured text, and that no emulator process is left behind.

#include "autograder/runner/boot.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <cerrno>
#include <fstream>
#include <random>
#include <thread>

#include "autograder/runner/process.hpp"
#include "autograder/runner/sandbox.hpp"
#include "common/devices/test_disk.hpp"
#include "scratch.hpp"

namespace hvlab::runner {
namespace {

using namespace std::chrono_literals;
using testing::read_file;
using testing::ScratchDir;

std::filesystem::path kernel(const std::string& name) {
  return std::filesystem::path(HVLAB_RUNNER_TEST_KERNEL_DIR) / (name + ".elf");
}

// Limits generous enough for a machine busy with other builds: Bochs' BIOS and GRUB alone take
// seconds there. The tests measure what happens at the limit, not how fast the boot is.
BootSpec spec_for(Emulator emu, const std::string& name, std::chrono::milliseconds timeout = 30s) {
  BootSpec s;
  s.emu = emu;
  s.kernel = kernel(name);
  s.timeout = timeout;
  return s;
}

// The emulator and its process group are gone, and the runner holds no child.
void expect_nothing_left(const BootResult& r) {
  ASSERT_GT(r.emulator_pid, 0);
  errno = 0;
  EXPECT_EQ(::kill(-r.emulator_pid, 0), -1) << "process group " << r.emulator_pid << " survives";
  EXPECT_EQ(errno, ESRCH);
  EXPECT_EQ(::kill(r.emulator_pid, 0), -1) << "pid " << r.emulator_pid << " survives";
  EXPECT_EQ(detail::registered_count(), 0u);
}

std::string describe(const BootResult& r) {
  return std::string("outcome ") + outcome_name(r.outcome) + ", status " +
         std::to_string(r.exit_status) + ", reason: " + r.reason + "\n--- com1:\n" + r.com1 +
         "\n--- debugcon:\n" + r.debugcon + "\n--- log:\n" + r.emulator_log;
}

// ---------------------------------------------------------------------------------------------
// Behaviours checked on both emulators.

class BothEmulators : public ::testing::TestWithParam<Emulator> {};

std::string emulator_param_name(const ::testing::TestParamInfo<Emulator>& info) {
  return emulator_name(info.param);
}

INSTANTIATE_TEST_SUITE_P(Runner, BothEmulators, ::testing::Values(Emulator::qemu, Emulator::bochs),
                         emulator_param_name);

// A kernel cut short is refused before any emulator starts (Bochs' GRUB would otherwise
// wait out the whole time limit).
TEST_P(BothEmulators, TruncatedKernelIsRefusedAtOnce) {
  ScratchDir d;
  const std::string whole = read_file(kernel("hello"));
  BootSpec s = spec_for(GetParam(), "hello", 60s);
  s.kernel = d.write("cut.elf", std::string_view(whole).substr(0, whole.size() / 2));
  auto r = boot(s);
  EXPECT_EQ(r.outcome, Outcome::launch_failed) << describe(r);
  EXPECT_NE(r.reason.find("is truncated"), std::string::npos) << r.reason;
  EXPECT_LT(r.elapsed, 5s);
}

// Confined, the emulator boots as before from copies in its work directory.
TEST_P(BothEmulators, SandboxedBootWorks) {
  std::string problem;
  const Sandbox sandbox = Sandbox::make(SandboxMode::bwrap, &problem);
  if (Sandbox::refused_by_machine(problem)) GTEST_SKIP() << "this machine refuses the namespaces: " << problem;
  ASSERT_EQ(problem, "") << "the sandbox cannot be made here";
  BootSpec s = spec_for(GetParam(), "hello");
  s.sandbox = &sandbox;
  auto r = boot(s);
  ASSERT_EQ(r.outcome, Outcome::exited) << describe(r);
  EXPECT_EQ(r.com1, "hello\n");
  EXPECT_EQ(r.com2, "event: hello\n");
  expect_nothing_left(r);
}

TEST_P(BothEmulators, FirstKtapLineIsTimed) {
  auto r = boot(spec_for(GetParam(), "ktap"));
  ASSERT_EQ(r.outcome, Outcome::exited) << describe(r);
  ASSERT_TRUE(r.first_ktap_line.has_value()) << describe(r);
  EXPECT_GT(r.first_ktap_line->count(), 0);
  EXPECT_LE(*r.first_ktap_line, r.elapsed);
  expect_nothing_left(r);
}

TEST_P(BothEmulators, HelloExitsWithZero) {
  auto r = boot(spec_for(GetParam(), "hello"));
  ASSERT_EQ(r.outcome, Outcome::exited) << describe(r);
  EXPECT_EQ(r.exit_status, 0);
  EXPECT_EQ(r.com1, "hello\n");
  EXPECT_EQ(r.com2, "event: hello\n");
  EXPECT_EQ(r.debugcon, "debug: hello\nhvlab-exit: 0\n");  // Bochs' banner is not in it
  EXPECT_EQ(r.reason, "");
  EXPECT_FALSE(r.first_ktap_line.has_value());  // "hello" is not KTAP
  EXPECT_TRUE(r.workdir.empty());
  EXPECT_FALSE(r.output_truncated);
  expect_nothing_left(r);
}

TEST_P(BothEmulators, ExitStatusThree) {
  auto r = boot(spec_for(GetParam(), "exit3"));
  ASSERT_EQ(r.outcome, Outcome::exited) << describe(r);
  EXPECT_EQ(r.exit_status, 3);
  EXPECT_EQ(r.com1, "exiting with 3\n");
  EXPECT_NE(r.reason.find("status 3"), std::string::npos) << r.reason;
  expect_nothing_left(r);
}

TEST_P(BothEmulators, HangIsKilledAtTheDeadline) {
  // Bochs needs about a second to get through its BIOS and GRUB (more on a busy machine).
  const auto limit = GetParam() == Emulator::qemu ? 2000ms : 10000ms;
  auto r = boot(spec_for(GetParam(), "hang", limit));
  ASSERT_EQ(r.outcome, Outcome::timeout) << describe(r);
  EXPECT_EQ(r.exit_status, -1);
  EXPECT_EQ(r.com1, "hanging\n");
  EXPECT_EQ(r.debugcon, "debug: hanging\n");  // what came before the kill is kept
  EXPECT_NE(r.reason.find("time limit"), std::string::npos) << r.reason;
  EXPECT_NE(r.reason.find("hanging"), std::string::npos) << r.reason;
  EXPECT_GE(r.elapsed, limit);
  EXPECT_LT(r.elapsed, limit + 2s);
  expect_nothing_left(r);
}

TEST_P(BothEmulators, TripleFaultIsACrash) {
  auto r = boot(spec_for(GetParam(), "triple"));
  ASSERT_EQ(r.outcome, Outcome::crashed) << describe(r);
  EXPECT_EQ(r.com1, "about to triple fault\n");
  EXPECT_NE(r.reason.find("triple fault"), std::string::npos) << r.reason;
  EXPECT_NE(r.emulator_log, "");
  expect_nothing_left(r);
}

TEST_P(BothEmulators, DebugconFloodIsStopped) {
  auto s = spec_for(GetParam(), "floode9");
  s.output_limit = 64 * 1024;
  auto r = boot(s);
  ASSERT_EQ(r.outcome, Outcome::output_flood) << describe(r);
  EXPECT_NE(r.reason.find("0xE9"), std::string::npos) << r.reason;
  EXPECT_NE(r.reason.find("65536"), std::string::npos) << r.reason;
  EXPECT_LE(r.debugcon.size(), s.output_limit);
  EXPECT_EQ(r.debugcon.substr(0, 6), "flood ");
  EXPECT_TRUE(r.output_truncated);
  EXPECT_LT(r.elapsed, 8s);
  expect_nothing_left(r);
}

TEST_P(BothEmulators, GarbageBytesAreKeptAndTheLastMarkerWins) {
  auto r = boot(spec_for(GetParam(), "garbage"));
  ASSERT_EQ(r.outcome, Outcome::exited) << describe(r);
  EXPECT_EQ(r.exit_status, 4);
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  EXPECT_EQ(r.com1, all);
  EXPECT_EQ(r.debugcon, all + "\nnot a marker: hvlab-exit: 8\nhvlab-exit: 9\nhvlab-exit: 4\n");
  expect_nothing_left(r);
}

TEST_P(BothEmulators, CommandLineAndModulesReachTheKernel) {
  ScratchDir d;
  auto greeting = d.write("greeting.txt", "hi there\nsecond line\n");
  auto odd = d.write("odd name,1.bin", "odd\n");
  auto s = spec_for(GetParam(), "args");
  s.cmdline = "alpha beta,gamma  x=$y";
  s.modules = {{greeting, "k=v,w"}, {odd, ""}};
  auto r = boot(s);
  ASSERT_EQ(r.outcome, Outcome::exited) << describe(r);
  EXPECT_EQ(r.com1,
            "cmdline: boot/kernel.elf alpha beta,gamma x=$y\n"
            "module: boot/greeting.txt k=v,w\n"
            "data: hi there\n"
            "module: boot/odd_name_1.bin\n"
            "data: odd\n");
  expect_nothing_left(r);
}

TEST_P(BothEmulators, ShutdownWithoutMarkerIsACrash) {
  auto r = boot(spec_for(GetParam(), "nomarker"));
  ASSERT_EQ(r.outcome, Outcome::crashed) << describe(r);
  // QEMU: "the kernel wrote 0 to the debug-exit port 0xf4 without first writing the exit
  // marker"; Bochs: "the guest shut Bochs down (port 0x8900) without writing the exit marker".
  EXPECT_NE(r.reason.find(GetParam() == Emulator::qemu ? "0xf4" : "0x8900"), std::string::npos)
      << r.reason;
  EXPECT_NE(r.reason.find("without"), std::string::npos) << r.reason;
  EXPECT_NE(r.reason.find("leaving without a marker"), std::string::npos) << r.reason;
  expect_nothing_left(r);
}

TEST_P(BothEmulators, Com1FloodIsStopped) {
  auto s = spec_for(GetParam(), "flood");
  // Bochs' UART sends about 0.1 MB/s (115200 baud in emulated time).
  s.output_limit = GetParam() == Emulator::qemu ? 256 * 1024 : 16 * 1024;
  auto r = boot(s);
  ASSERT_EQ(r.outcome, Outcome::output_flood) << describe(r);
  EXPECT_EQ(r.com1.size(), s.output_limit);
  EXPECT_NE(r.reason.find("COM1"), std::string::npos) << r.reason;
  EXPECT_LT(r.elapsed, 8s);
  expect_nothing_left(r);
}

// A console script: COM1 becomes a terminal the guest reads, each step is typed when its
// prompt shows, and the run of a kernel that never stops ends on the text asked for.
TEST_P(BothEmulators, AConsoleScriptTypesAndTheRunEndsOnItsText) {
  auto s = spec_for(GetParam(), "echo", 30s);
  s.console_script = {{"ready> ", "hello\n"}, {"ready> ", "second line\r"}};
  s.stop_when_com1 = "got: second line";
  auto r = boot(s);
  ASSERT_EQ(r.outcome, Outcome::exited) << describe(r);
  EXPECT_TRUE(r.stopped_on_text);
  EXPECT_EQ(r.exit_status, 0);
  EXPECT_EQ(r.script_steps_done, 2u);
  EXPECT_NE(r.com1.find("ready> got: hello\nready> got: second line\n"), std::string::npos) << describe(r);
  EXPECT_NE(r.reason.find("stopped when COM1 showed \"got: second line\""), std::string::npos) << r.reason;
  expect_nothing_left(r);
}

// The slowest runner test (about 10 to 20 s): Bochs must not block on its own screen output.
TEST(Bochs, VgaTextDoesNotStallBochs) {
  auto r = boot(spec_for(Emulator::bochs, "vga", 60s));
  ASSERT_EQ(r.outcome, Outcome::exited) << describe(r);
  EXPECT_EQ(r.com1, "vga done\n");
  expect_nothing_left(r);
}

// ---------------------------------------------------------------------------------------------
// QEMU only (fast).

TEST(Qemu, MarkerWithoutStoppingStillCountsAsExit) {
  auto r = boot(spec_for(Emulator::qemu, "markerhang", 10s));
  ASSERT_EQ(r.outcome, Outcome::exited) << describe(r);
  EXPECT_EQ(r.exit_status, 6);
  EXPECT_LT(r.elapsed, 4s);  // about 1 s of grace, not the 10 s limit
  expect_nothing_left(r);
}

TEST(Qemu, AScriptThatWaitsInVainSaysWhatFor) {
  auto s = spec_for(Emulator::qemu, "echo", 3s);
  s.console_script = {{"ready> ", "one\n"}, {"never shown", "two\n"}};
  s.stop_when_com1 = "got: two";
  auto r = boot(s);
  ASSERT_EQ(r.outcome, Outcome::timeout) << describe(r);
  EXPECT_FALSE(r.stopped_on_text);
  EXPECT_EQ(r.script_steps_done, 1u);
  EXPECT_NE(r.reason.find("the console script was waiting for \"never shown\" (step 2 of 2)"), std::string::npos)
      << r.reason;
  EXPECT_NE(r.com1.find("got: one"), std::string::npos) << describe(r);
  expect_nothing_left(r);
}

TEST(Qemu, TheIdeSlaveIsTheTestDiskOrTheOneGiven) {
  auto s = spec_for(Emulator::qemu, "hello");
  s.keep_workdir = true;
  auto r = boot(s);
  ASSERT_EQ(r.outcome, Outcome::exited) << describe(r);
  const std::string disk = read_file(r.workdir / "testdisk.img");
  ASSERT_EQ(disk.size(), dev::kTestDiskSectors * dev::kSectorSize);
  for (std::uint32_t lba : {0u, 1u, dev::kTestDiskSectors - 1}) {
    for (std::uint32_t i = 0; i < dev::kSectorSize; i += 97)
      ASSERT_EQ(static_cast<std::uint8_t>(disk[lba * dev::kSectorSize + i]), dev::test_disk_byte(lba, i));
  }
  EXPECT_NE(read_file(r.workdir / "command.txt").find("file=testdisk.img,if=ide,index=1,media=disk,format=raw,snapshot=on"),
            std::string::npos);
  std::filesystem::remove_all(r.workdir);

  ScratchDir d;
  s.disk = d.write("my disk,1.img", std::string(1024, 'x'));
  r = boot(s);
  ASSERT_EQ(r.outcome, Outcome::exited) << describe(r);
  EXPECT_EQ(std::filesystem::read_symlink(r.workdir / "disk.img"), std::filesystem::absolute(s.disk));
  EXPECT_NE(read_file(r.workdir / "command.txt").find("file=disk.img,if=ide,index=1"), std::string::npos);
  std::filesystem::remove_all(r.workdir);
}

TEST(Qemu, AVgaCardOnRequest) {
  auto s = spec_for(Emulator::qemu, "hello");
  s.vga = true;
  auto r = boot(s);
  ASSERT_EQ(r.outcome, Outcome::exited) << describe(r);
  EXPECT_EQ(r.com1, "hello\n");
  EXPECT_NE(std::find(r.command.begin(), r.command.end(), "VGA"), r.command.end());
}

TEST(Qemu, SilentKernelExits) {
  auto r = boot(spec_for(Emulator::qemu, "silent"));
  ASSERT_EQ(r.outcome, Outcome::exited) << describe(r);
  EXPECT_EQ(r.exit_status, 0);
  EXPECT_EQ(r.com1, "");
  EXPECT_EQ(r.com2, "");
  EXPECT_EQ(r.debugcon, "hvlab-exit: 0\n");
  expect_nothing_left(r);
}

TEST(Qemu, IcountRunIsDeterministicEnoughToExit) {
  auto s = spec_for(Emulator::qemu, "hello");
  s.icount = true;
  auto r = boot(s);
  ASSERT_EQ(r.outcome, Outcome::exited) << describe(r);
  EXPECT_NE(std::find(r.command.begin(), r.command.end(), "-icount"), r.command.end());
}

TEST(Qemu, KeptWorkdirHoldsTheRun) {
  auto s = spec_for(Emulator::qemu, "hello");
  s.keep_workdir = true;
  auto r = boot(s);
  ASSERT_EQ(r.outcome, Outcome::exited) << describe(r);
  ASSERT_FALSE(r.workdir.empty());
  EXPECT_EQ(read_file(r.workdir / "com1.txt"), "hello\n");
  EXPECT_NE(read_file(r.workdir / "command.txt").find("-kernel boot/kernel.elf"),
            std::string::npos);
  std::filesystem::remove_all(r.workdir);
}

TEST(Qemu, GivenWorkdirIsUsedAndKept) {
  ScratchDir d;
  auto s = spec_for(Emulator::qemu, "exit3");
  s.workdir = d.path() / "run";
  auto r = boot(s);
  ASSERT_EQ(r.outcome, Outcome::exited) << describe(r);
  EXPECT_EQ(r.workdir, s.workdir);
  EXPECT_EQ(read_file(s.workdir / "debugcon.txt"), "hvlab-exit: 3\n");
  // A second run in the same directory starts clean.
  auto again = boot(s);
  EXPECT_EQ(again.outcome, Outcome::exited) << describe(again);
}

TEST(Qemu, TemporaryWorkdirIsRemoved) {
  ScratchDir d;
  const char* old = std::getenv("TMPDIR");
  std::string saved = old != nullptr ? old : "";
  ::setenv("TMPDIR", d.path().c_str(), 1);
  auto r = boot(spec_for(Emulator::qemu, "hello"));
  if (old != nullptr) {
    ::setenv("TMPDIR", saved.c_str(), 1);
  } else {
    ::unsetenv("TMPDIR");
  }
  ASSERT_EQ(r.outcome, Outcome::exited) << describe(r);
  EXPECT_TRUE(std::filesystem::is_empty(d.path()));
}

TEST(Qemu, KillAllChildrenStopsARunningBoot) {
  BootResult r;
  std::thread t([&] { r = boot(spec_for(Emulator::qemu, "hang", 30s)); });
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  while (detail::registered_count() == 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(10ms);
  }
  std::this_thread::sleep_for(300ms);
  kill_all_children();
  t.join();
  EXPECT_EQ(r.outcome, Outcome::crashed) << describe(r);
  EXPECT_EQ(r.emulator_signal, SIGKILL);
  EXPECT_NE(r.reason.find("signal 9"), std::string::npos) << r.reason;
  EXPECT_LT(r.elapsed, 10s);
  expect_nothing_left(r);
}

TEST(Qemu, ConcurrentBootsDoNotMix) {
  const std::vector<std::string> names = {"hello", "exit3", "garbage", "triple", "hang", "args"};
  std::vector<BootResult> results(names.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < names.size(); ++i) {
    threads.emplace_back([&, i] {
      results[i] = boot(spec_for(Emulator::qemu, names[i], names[i] == "hang" ? 2s : 20s));
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(results[0].com1, "hello\n");
  EXPECT_EQ(results[0].exit_status, 0);
  EXPECT_EQ(results[1].exit_status, 3);
  EXPECT_EQ(results[2].exit_status, 4);
  EXPECT_EQ(results[3].outcome, Outcome::crashed);
  EXPECT_EQ(results[4].outcome, Outcome::timeout);
  EXPECT_EQ(results[5].com1, "cmdline: boot/kernel.elf \n");
  for (auto& r : results) expect_nothing_left(r);
}

TEST(Runner, QemuAndBochsSideBySide) {
  BootResult q, b;
  std::thread tq([&] { q = boot(spec_for(Emulator::qemu, "hello")); });
  std::thread tb([&] { b = boot(spec_for(Emulator::bochs, "hello")); });
  tq.join();
  tb.join();
  EXPECT_EQ(q.outcome, Outcome::exited) << describe(q);
  EXPECT_EQ(b.outcome, Outcome::exited) << describe(b);
  EXPECT_EQ(q.com1, b.com1);
  EXPECT_EQ(q.debugcon, b.debugcon);
}

// ---------------------------------------------------------------------------------------------
// Launch failures: quick, and no emulator is started.

TEST(Launch, CorruptKernelFailsFast) {
  ScratchDir d;
  std::mt19937 rng(7);
  std::string junk(64 * 1024, '\0');
  for (auto& c : junk) c = static_cast<char>(rng());
  junk[0] = 0x12;  // not 0x7f, whatever the generator says
  BootSpec s = spec_for(Emulator::qemu, "hello");
  s.kernel = d.write("corrupt.elf", junk);
  for (Emulator e : {Emulator::qemu, Emulator::bochs}) {
    s.emu = e;
    auto r = boot(s);
    EXPECT_EQ(r.outcome, Outcome::launch_failed);
    EXPECT_NE(r.reason.find("not an ELF"), std::string::npos) << r.reason;
    EXPECT_LT(r.elapsed, 1s);
    EXPECT_EQ(r.emulator_pid, 0);
  }
}

TEST(Launch, ElfWithoutMultibootHeader) {
  ScratchDir d;
  std::string bytes = read_file(kernel("hello"));
  const std::string magic("\x02\xb0\xad\x1b", 4);
  ASSERT_NE(bytes.find(magic), std::string::npos);
  // The header, and the symbol the assembler made of the constant.
  for (auto at = bytes.find(magic); at != std::string::npos; at = bytes.find(magic)) bytes[at] = 0;
  BootSpec s = spec_for(Emulator::qemu, "hello");
  s.kernel = d.write("plain.elf", bytes);
  auto r = boot(s);
  EXPECT_EQ(r.outcome, Outcome::launch_failed);
  EXPECT_NE(r.reason.find("no multiboot1 header"), std::string::npos) << r.reason;
}

TEST(Launch, MissingKernel) {
  BootSpec s = spec_for(Emulator::qemu, "no-such-kernel");
  auto r = boot(s);
  EXPECT_EQ(r.outcome, Outcome::launch_failed);
  EXPECT_NE(r.reason.find("does not exist"), std::string::npos) << r.reason;
}

TEST(Launch, MissingModule) {
  for (Emulator e : {Emulator::qemu, Emulator::bochs}) {
    BootSpec s = spec_for(e, "args");
    s.modules = {{"/nonexistent/guest.elf", "x"}};
    auto r = boot(s);
    EXPECT_EQ(r.outcome, Outcome::launch_failed);
    EXPECT_NE(r.reason.find("/nonexistent/guest.elf"), std::string::npos) << r.reason;
    EXPECT_LT(r.elapsed, 1s);
  }
}

TEST(Launch, MissingEmulatorBinary) {
  BootSpec s = spec_for(Emulator::qemu, "hello");
  s.emulator_binary = "/nonexistent/qemu-system-i386";
  auto r = boot(s);
  EXPECT_EQ(r.outcome, Outcome::launch_failed);
  EXPECT_NE(r.reason.find("not found"), std::string::npos) << r.reason;
  s.emulator_binary = "hvlab-no-such-emulator";
  EXPECT_EQ(boot(s).outcome, Outcome::launch_failed);
}

TEST(Launch, EmulatorThatRefusesToStart) {
  BootSpec s = spec_for(Emulator::qemu, "hello");
  s.qemu_cpu = "no-such-cpu-model";
  auto r = boot(s);
  EXPECT_EQ(r.outcome, Outcome::launch_failed) << describe(r);
  EXPECT_NE(r.reason.find("QEMU"), std::string::npos) << r.reason;
  expect_nothing_left(r);
}

TEST(Launch, GdbOnlyWithQemu) {
  BootSpec s = spec_for(Emulator::bochs, "hello");
  s.gdb_port = 1234;
  auto r = boot(s);
  EXPECT_EQ(r.outcome, Outcome::launch_failed);
  EXPECT_NE(r.reason.find("GDB"), std::string::npos) << r.reason;
}

TEST(Launch, EmptyKernelPathIsAProgrammingError) {
  EXPECT_THROW(boot(BootSpec{}), std::runtime_error);
}

TEST(Names, RoundTrip) {
  for (Emulator e : {Emulator::qemu, Emulator::bochs}) {
    EXPECT_EQ(emulator_from_name(emulator_name(e)), e);
  }
  EXPECT_EQ(emulator_from_name("kvm"), std::nullopt);
  EXPECT_STREQ(outcome_name(Outcome::output_flood), "output_flood");
}

// ---- Emulator::host: a program that is the machine (a hosted VMM) ----------------------

std::filesystem::path host_program(const ScratchDir& dir, const std::string& body) {
  auto p = dir.path() / "vmm.sh";
  std::ofstream(p) << "#!/bin/sh\n" << body;
  std::filesystem::permissions(p, std::filesystem::perms::owner_all);
  return p;
}

TEST(BootHost, TheProgramGetsTheChannelsAndTheGuestAndItsMarkerIsTheStatus) {
  ScratchDir dir;
  BootSpec s;
  s.emu = Emulator::host;
  s.kernel = host_program(dir,
                          "echo \"args: $*\" >&3\n"
                          "echo '{\"kind\":\"summary\"}' >&4\n"
                          "echo 'from stderr' >&2\n"
                          "printf 'hvlab-exit: 5\\n' >&5\n"
                          "exit 5\n");
  s.cmdline = "irqchip=kernel";
  s.modules.push_back({kernel("hello"), "first=2 nonce=ab"});
  s.timeout = 10s;
  BootResult r = boot(s);
  EXPECT_EQ(r.outcome, Outcome::exited) << r.reason;
  EXPECT_EQ(r.exit_status, 5);
  EXPECT_NE(r.com1.find("--com1 /dev/fd/3 --com2 /dev/fd/4 --debugcon /dev/fd/5 -- irqchip=kernel "),
            std::string::npos) << r.com1;
  EXPECT_NE(r.com1.find("hello.elf first=2 nonce=ab"), std::string::npos) << r.com1;
  EXPECT_EQ(r.com2, "{\"kind\":\"summary\"}\n");
  EXPECT_NE(r.debugcon.find("from stderr"), std::string::npos) << "stderr joins the debug console";
  expect_nothing_left(r);
}

TEST(BootHost, AProgramThatDiesOrHangsIsReportedSo) {
  ScratchDir dir;
  BootSpec s;
  s.emu = Emulator::host;
  s.kernel = host_program(dir, "echo 'PANIC at x.cpp:1: not implemented: lab05-e3' >&2\nkill -ABRT $$\n");
  s.modules.push_back({kernel("hello"), ""});
  BootResult r = boot(s);
  EXPECT_EQ(r.outcome, Outcome::crashed);
  EXPECT_NE(r.reason.find("without the exit marker"), std::string::npos) << r.reason;
  EXPECT_NE(r.debugcon.find("not implemented: lab05-e3"), std::string::npos);
  s.kernel = host_program(dir, "exec sleep 30\n");
  s.timeout = 500ms;
  r = boot(s);
  EXPECT_EQ(r.outcome, Outcome::timeout);
  expect_nothing_left(r);
  s.kernel = dir.path() / "missing";
  EXPECT_EQ(boot(s).outcome, Outcome::launch_failed);
}

}  // namespace
}  // namespace hvlab::runner
