// The sandbox of a submission's steps, with a shell as the confined program: what it sees,
// what it may write, which user it runs as, and its limits.

#include "autograder/runner/sandbox.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "scratch.hpp"

namespace hvlab::runner {
namespace {

using testing::read_file;
using testing::ScratchDir;

struct Shell {
  bool ok = false;
  std::string output;
};

Shell run_confined(const Sandbox& sandbox, const SandboxPolicy& policy, const std::string& script) {
  detail::Command cmd;
  cmd.program = "/bin/sh";
  cmd.argv = {"sh", "-c", script};
  std::vector<detail::Channel> ch(1);
  ch[0].name = "output";
  ch[0].child_fds = {1, 2};
  detail::Limits limits;
  limits.timeout = std::chrono::seconds(30);
  const detail::RunResult r = detail::run(sandbox.wrap(cmd, policy), ch, limits);
  return {r.end == detail::End::exited && r.exit_code == 0, ch[0].data + r.error};
}

class SandboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string problem;
    sandbox_ = Sandbox::make(SandboxMode::bwrap, &problem);
    if (Sandbox::refused_by_machine(problem)) GTEST_SKIP() << "this machine refuses the namespaces: " << problem;
    ASSERT_EQ(problem, "");
    ASSERT_TRUE(sandbox_.confined());
    std::filesystem::create_directories(dir_.path() / "work");
    std::filesystem::create_directories(dir_.path() / "ro");
    dir_.write("ro/data", "readable\n");
    dir_.write("secret", "the secret\n");
    sandbox_.hand_over(dir_.path() / "work");
    policy_.read_write = {dir_.path() / "work"};
    policy_.read_only = {dir_.path() / "ro"};
    policy_.cwd = dir_.path() / "work";
  }
  ScratchDir dir_;
  Sandbox sandbox_;
  SandboxPolicy policy_;
};

TEST_F(SandboxTest, SeesOnlyItsFoldersAndTheToolchain) {
  const auto d = dir_.path().string();
  Shell s = run_confined(sandbox_, policy_,
                         "cat " + d + "/ro/data && test -x /usr/bin/g++ && test ! -e " + d + "/secret && test ! -e /etc/hostname && "
                         "test ! -e /root/. && test ! -e /home/. && test -z \"$(ls /etc | grep -v -e alternatives -e ld.so -e mtools)\"");
  EXPECT_TRUE(s.ok) << s.output;
  EXPECT_EQ(s.output, "readable\n");
}

TEST_F(SandboxTest, WritesOnlyWhereAllowed) {
  const auto d = dir_.path().string();
  EXPECT_TRUE(run_confined(sandbox_, policy_, "echo out > " + d + "/work/made").ok);
  EXPECT_EQ(read_file(dir_.path() / "work" / "made"), "out\n");
  EXPECT_FALSE(run_confined(sandbox_, policy_, "echo x > " + d + "/ro/data").ok);
  EXPECT_EQ(read_file(dir_.path() / "ro" / "data"), "readable\n");
  EXPECT_FALSE(run_confined(sandbox_, policy_, "echo x > /usr/made").ok);
}

TEST_F(SandboxTest, NoNetworkAndAnUnprivilegedUser) {
  // Only the loopback interface exists, and nobody is root.
  Shell s = run_confined(sandbox_, policy_, "ls /sys/class/net 2>/dev/null; cat /proc/net/dev | tail -n +3 | cut -d: -f1");
  EXPECT_EQ(s.output.find("eth"), std::string::npos) << s.output;
  if (::geteuid() == 0) {
    ASSERT_TRUE(sandbox_.uid().has_value());
    Shell id = run_confined(sandbox_, policy_, "stat -c %u " + dir_.path().string() + "/work/. && id -u");
    EXPECT_TRUE(id.ok) << id.output;
    // Inside a user namespace the uid is mapped to itself: the user's real uid shows.
    EXPECT_EQ(id.output, std::to_string(*sandbox_.uid()) + "\n" + std::to_string(*sandbox_.uid()) + "\n");
  }
}

// A root grader's work folder under a folder only root may enter (/root): the unprivileged
// user reaches it all the same (bound from a private mount namespace).
TEST_F(SandboxTest, ReachesAFolderUnderAPrivateOne) {
  if (::geteuid() != 0) GTEST_SKIP() << "only a root grader drops to another user";
  const auto inner = dir_.path() / "private" / "work";
  std::filesystem::create_directories(inner);
  std::filesystem::permissions(dir_.path() / "private", std::filesystem::perms::owner_all);
  sandbox_.hand_over(inner);
  SandboxPolicy p;
  p.read_write = {inner};
  p.cwd = inner;
  Shell s = run_confined(sandbox_, p, "echo made > " + inner.string() + "/file && cat " + inner.string() + "/file");
  EXPECT_TRUE(s.ok) << s.output;
  EXPECT_EQ(read_file(inner / "file"), "made\n");
}

TEST_F(SandboxTest, FileSizeAndMemoryLimits) {
  SandboxPolicy p = policy_;
  p.file_size = 1 << 20;
  Shell big = run_confined(sandbox_, p, "head -c 2000000 /dev/zero > big");
  EXPECT_FALSE(big.ok);
  EXPECT_LE(std::filesystem::file_size(dir_.path() / "work" / "big"), std::uintmax_t{1} << 20);
  p.address_space = std::uint64_t{64} << 20;
  Shell mem = run_confined(sandbox_, p, "exec awk 'BEGIN { s = \"x\"; while (1) s = s s }'");
  EXPECT_FALSE(mem.ok) << mem.output;
}

TEST(SandboxModes, NoneRunsAsItIs) {
  std::string problem;
  Sandbox none = Sandbox::make(SandboxMode::none, &problem);
  EXPECT_EQ(problem, "");
  EXPECT_FALSE(none.confined());
  EXPECT_EQ(none.describe(), "no sandbox");
  EXPECT_EQ(sandbox_mode_from_name("bwrap"), SandboxMode::bwrap);
  EXPECT_EQ(sandbox_mode_from_name("nope"), std::nullopt);
}

// Only the machine's refusal of namespaces lets a sandbox test skip; bwrap failing for any
// other reason (a bad argument of the kit's) stays a failure.
TEST(SandboxModes, RefusedByMachineIsOnlyTheNamespaces) {
  const std::string head = "bubblewrap 0.8.0 does not work here: ";
  EXPECT_TRUE(Sandbox::refused_by_machine(head + "bwrap: No permissions to create new namespace, likely because "
                                                  "the kernel does not allow non-privileged user namespaces."));
  EXPECT_TRUE(Sandbox::refused_by_machine(head + "bwrap: Creating new namespace failed: Operation not permitted"));
  EXPECT_TRUE(Sandbox::refused_by_machine(head + "bwrap: setting up uid map: Permission denied"));
  EXPECT_FALSE(Sandbox::refused_by_machine(head + "bwrap: Can't find source path /nope: No such file or directory"));
  EXPECT_FALSE(Sandbox::refused_by_machine("bwrap is not installed (make deps installs bubblewrap)"));
  EXPECT_FALSE(Sandbox::refused_by_machine(""));
}

}  // namespace
}  // namespace hvlab::runner
