// The hvlab-boot command: its exit status and summary.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>

#include "scratch.hpp"

namespace {

struct Ran {
  int status = -1;
  std::string output;
};

Ran hvlab_boot(const std::string& args) {
  Ran r;
  std::string cmd = "'" + std::string(HVLAB_BOOT_CLI) + "' " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// Quoted for the shell.
std::string kernel(const std::string& name) {
  return "'" + std::string(HVLAB_RUNNER_TEST_KERNEL_DIR) + "/" + name + ".elf'";
}

TEST(Cli, PassingBoot) {
  auto r = hvlab_boot("--emu qemu --kernel " + kernel("hello") + " --expect-com1 hello");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("qemu: exited (status 0)"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("--- COM1"), std::string::npos) << r.output;
}

TEST(Cli, ExpectedStatus) {
  EXPECT_EQ(hvlab_boot("--kernel " + kernel("exit3") + " --expect-status 3").status, 0);
  auto r = hvlab_boot("--kernel " + kernel("exit3"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("FAIL: exit status 3, expected 0"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--- COM1 ---\nexiting with 3\n"), std::string::npos) << r.output;
}

TEST(Cli, MissingCom1Text) {
  auto r = hvlab_boot("--kernel " + kernel("hello") + " --expect-com1 hello --expect-com1 goodbye");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("COM1 does not contain \"goodbye\""), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("does not contain \"hello\""), std::string::npos) << r.output;
}

TEST(Cli, TimeoutShowsOutputAndLog) {
  auto r = hvlab_boot("--kernel " + kernel("hang") + " --timeout 1.5");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("qemu: timeout"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("time limit of 1.5 s"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--- COM1 ---\nhanging\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--- emulator ---"), std::string::npos) << r.output;
}

TEST(Cli, ModulesAndCommandLine) {
  hvlab::runner::testing::ScratchDir d;
  auto m = d.write("mod.txt", "payload\n");
  auto r = hvlab_boot("--kernel " + kernel("args") + " --cmdline 'one two' --module '" +
                      m.string() + "'" +
                      "=a=b --expect-com1 'cmdline: boot/kernel.elf one two' --expect-com1 "
                      "'module: boot/mod.txt a=b' --expect-com1 'data: payload'");
  EXPECT_EQ(r.status, 0) << r.output;
}

TEST(Cli, InteractiveShowsCom1AsItComes) {
  auto r = hvlab_boot("--kernel " + kernel("hello") + " --interactive");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.rfind("hello\n", 0), 0u) << r.output;
}

TEST(Cli, TypedLinesAndTheTextThatEndsTheRun) {
  auto r = hvlab_boot("--kernel " + kernel("echo") + " --type 'ready> ' 'ls\\n' --until 'got: ls' --timeout 20");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("qemu: exited (status 0)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("stopped when COM1 showed \"got: ls\""), std::string::npos) << r.output;
}

TEST(Cli, AScriptThatDoesNotCompleteFails) {
  auto r = hvlab_boot("--kernel " + kernel("echo") + " --type 'ready> ' 'a\\n' --type 'no such prompt' 'b\\n' --timeout 3");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("FAIL: the console script got to step 2 of 2: COM1 never showed \"no such prompt\""),
            std::string::npos)
      << r.output;
}

TEST(Cli, BadImageAndBadUsage) {
  hvlab::runner::testing::ScratchDir d;
  auto junk = d.write("junk.elf", "not a kernel");
  auto r = hvlab_boot("--kernel '" + junk.string() + "'");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("launch_failed"), std::string::npos) << r.output;
  EXPECT_NE(hvlab_boot("--emu kvm --kernel x").status, 0);
  EXPECT_NE(hvlab_boot("").status, 0);
}

TEST(Cli, BochsBoot) {
  auto r = hvlab_boot("--emu bochs --kernel " + kernel("exit3") +
                      " --expect-status 3 --expect-com1 'exiting with 3'");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("bochs: exited (status 3)"), std::string::npos) << r.output;
}

}  // namespace
