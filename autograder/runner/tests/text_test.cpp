// The runner's pure parts: exit markers, Bochs' stdout, quoting, file checks. No emulator.

#include <gtest/gtest.h>

#include "autograder/runner/image.hpp"
#include "scratch.hpp"

namespace hvlab::runner::detail {
namespace {

using hvlab::runner::testing::read_file;
using hvlab::runner::testing::ScratchDir;

TEST(ExitMarker, LastMarkerLineWins) {
  EXPECT_EQ(find_exit_marker("hvlab-exit: 1\nhvlab-exit: 7\n"), 7);
  EXPECT_EQ(find_exit_marker("boot\nhvlab-exit: 0\n"), 0);
  EXPECT_EQ(find_exit_marker("hvlab-exit: 12\r\n"), 12);
}

TEST(ExitMarker, OnlyWholeLinesCount) {
  EXPECT_EQ(find_exit_marker(""), std::nullopt);
  EXPECT_EQ(find_exit_marker("not a marker: hvlab-exit: 3\n"), std::nullopt);
  EXPECT_EQ(find_exit_marker("hvlab-exit: 3 and more\n"), std::nullopt);
  EXPECT_EQ(find_exit_marker("hvlab-exit: \n"), std::nullopt);
  EXPECT_EQ(find_exit_marker("hvlab-exit: x1\n"), std::nullopt);
  EXPECT_EQ(find_exit_marker("hvlab-exit: 99999999999999\n"), std::nullopt);
  EXPECT_EQ(find_exit_marker("hvlab-exit: 2\nhvlab-exit: oops\n"), 2);
}

TEST(ExitMarker, UnterminatedLastLineCountsAtTheEnd) {
  EXPECT_EQ(find_exit_marker("x\nhvlab-exit: 5"), 5);
  MarkerScanner scan;
  scan.feed("hvlab-exit: 5");
  EXPECT_EQ(scan.last(), std::nullopt);
  EXPECT_EQ(scan.last(true), 5);
}

TEST(ExitMarker, ScannerTakesAnyChunking) {
  const std::string text = std::string(5000, 'x') + "\nhvlab-exit: 42\nafter\n";
  MarkerScanner scan;
  for (char c : text) scan.feed(std::string_view(&c, 1));
  EXPECT_EQ(scan.last(), 42);
}

// Bochs' stdout as a real run printed it (port_e9_hack), around the guest's bytes.
const std::string kBanner =
    "========================================================================\n"
    "                        Bochs x86 Emulator 2.7\n"
    "              Built from SVN snapshot on August  1, 2021\n"
    "                Timestamp: Sun Aug  1 10:07:00 CEST 2021\n"
    "========================================================================\n"
    "Next at t=0\n"
    "(0) [0x0000fffffff0] f000:fff0 (unk. ctxt): jmpf 0xf000:e05b          ; ea5be000f0\n";
const std::string kStop =
    "(0).[73764705] [0x00000010002b] 0010:000000000010002b (unk. ctxt): out dx, al      ; ee\n";

TEST(BochsStdout, GuestBytesAreSeparatedFromBochsText) {
  auto s = split_bochs_stdout(kBanner + "debug: hello\nhvlab-exit: 0\n" + kStop);
  EXPECT_EQ(s.debugcon, "debug: hello\nhvlab-exit: 0\n");
  EXPECT_NE(s.chatter.find("out dx, al"), std::string::npos);
  EXPECT_EQ(s.chatter.find("Bochs x86 Emulator"), std::string::npos);
}

TEST(BochsStdout, UnterminatedGuestLineAndParentheses) {
  auto s = split_bochs_stdout(kBanner + "(1) [x] (0).[ no" + kStop + kStop);
  EXPECT_EQ(s.debugcon, "(1) [x] (0).[ no");
}

TEST(BochsStdout, KilledBeforeTheStopLine) {
  EXPECT_EQ(split_bochs_stdout(kBanner + "partial").debugcon, "partial");
  EXPECT_EQ(split_bochs_stdout(kBanner).debugcon, "");
}

TEST(BochsStdout, NoDebuggerStartMeansNoGuestBytes) {
  auto s = split_bochs_stdout("========\nBochs is exiting\n");
  EXPECT_EQ(s.debugcon, "");
  EXPECT_EQ(s.chatter, "========\nBochs is exiting\n");
}

TEST(Quoting, GrubWordsAreSingleQuoted) {
  EXPECT_EQ(grub_words(""), "");
  EXPECT_EQ(grub_words("  a   b,c  "), "'a' 'b,c'");
  EXPECT_EQ(grub_words("$x;y it's"), "'$x;y' 'it'\\''s'");
}

TEST(Quoting, WordsAreNormalised) {
  EXPECT_EQ(normalize_words(""), "");
  EXPECT_EQ(normalize_words(" \t a  b,c\n d "), "a b,c d");
}

TEST(Quoting, QemuCommasAreDoubled) {
  EXPECT_EQ(qemu_escape_commas("a,b,,c"), "a,,b,,,,c");
  EXPECT_EQ(qemu_escape_commas("plain"), "plain");
}

TEST(Quoting, ShellJoin) {
  EXPECT_EQ(shell_join({"qemu", "-append", "a b", "it's", ""}), "qemu -append 'a b' 'it'\\''s' ''");
}

TEST(StagedNames, SanitisedAndUnique) {
  std::vector<Module> mods = {
      {"/x/guest.elf", ""}, {"/y/guest.elf", ""}, {"/z/a b,c.bin", ""}, {"/k/kernel.elf", ""}};
  auto names = staged_module_names(mods);
  ASSERT_EQ(names.size(), 4u);
  EXPECT_EQ(names[0], "guest.elf");
  EXPECT_EQ(names[1], "1-guest.elf");
  EXPECT_EQ(names[2], "a_b_c.bin");
  EXPECT_EQ(names[3], "1-kernel.elf");
}

TEST(Text, UnescapeTakesTheCEscapesAConsoleNeeds) {
  EXPECT_EQ(unescape("ls\\n"), "ls\n");
  EXPECT_EQ(unescape("a\\rb\\tc\\\\d"), "a\rb\tc\\d");
  EXPECT_EQ(unescape("\\x41\\x7e"), "A~");
  EXPECT_EQ(unescape("\\q \\x4 end\\"), "\\q \\x4 end\\");  // kept as they are
}

TEST(Text, PrintableEscapesControlBytes) {
  EXPECT_EQ(printable(std::string("ok\n\t\x01\xff", 6)), "ok\n\t\\x01\\xff");
}

TEST(Text, TailLines) {
  EXPECT_EQ(tail_lines("a\nb\nc\n", 2, 100), "b\nc\n");
  EXPECT_EQ(tail_lines("a\nb\nc", 2, 100), "b\nc");
  EXPECT_EQ(tail_lines("a\nb\nc\n", 10, 100), "a\nb\nc\n");
  EXPECT_EQ(tail_lines("aaaa\nbb\ncc\n", 10, 7), "bb\ncc\n");
  EXPECT_EQ(tail_lines("aaaa\nbb\ncc\n", 10, 5), "cc\n");
}

// A minimal ELF32 i386 header followed by `extra`.
std::string elf32(std::string_view extra, unsigned char cls = 1, unsigned char machine = 3) {
  std::string h(52, '\0');
  h[0] = 0x7f;
  h[1] = 'E';
  h[2] = 'L';
  h[3] = 'F';
  h[4] = static_cast<char>(cls);
  h[5] = 1;
  h[18] = static_cast<char>(machine);
  return h + std::string(extra);
}

std::string multiboot_header(std::uint32_t checksum_fix = 0) {
  const std::uint32_t magic = 0x1BADB002u, flags = 3;
  const std::uint32_t words[3] = {magic, flags,
                                  static_cast<std::uint32_t>(-(magic + flags)) + checksum_fix};
  return std::string(reinterpret_cast<const char*>(words), sizeof words);
}

TEST(KernelCheck, AcceptsAMultibootElf) {
  ScratchDir d;
  EXPECT_EQ(check_kernel(d.write("k.elf", elf32(multiboot_header()))), std::nullopt);
}

TEST(KernelCheck, SaysWhatIsWrong) {
  ScratchDir d;
  auto why = [&](std::string_view bytes) {
    return check_kernel(d.write("k", bytes)).value_or("(accepted)");
  };
  EXPECT_NE(check_kernel(d.path() / "missing.elf").value_or("").find("does not exist"),
            std::string::npos);
  EXPECT_NE(check_kernel(d.path()).value_or("").find("not a regular file"), std::string::npos);
  EXPECT_NE(why("").find("not an ELF"), std::string::npos);
  EXPECT_NE(why("\x12\x34 random bytes that are no kernel at all, long enough to look at......")
                .find("starts with 12 34"),
            std::string::npos);
  EXPECT_NE(why(elf32(multiboot_header(), 2)).find("64-bit"), std::string::npos);
  EXPECT_NE(why(elf32(multiboot_header(), 1, 62)).find("machine 62"), std::string::npos);
  EXPECT_NE(why(elf32("")).find("no multiboot1 header"), std::string::npos);
  EXPECT_NE(why(elf32(multiboot_header(1))).find("checksum"), std::string::npos);
  // Past the first 8 KiB is too far.
  EXPECT_NE(why(elf32(std::string(8192, '\0') + multiboot_header())).find("no multiboot1 header"),
            std::string::npos);
}

TEST(KernelCheck, Modules) {
  ScratchDir d;
  EXPECT_EQ(check_module(d.write("m", "data")), std::nullopt);
  EXPECT_NE(check_module(d.path() / "nope").value_or("").find("does not exist"), std::string::npos);
  EXPECT_EQ(read_file(d.path() / "m"), "data");
}

}  // namespace
}  // namespace hvlab::runner::detail
