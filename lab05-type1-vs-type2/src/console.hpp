#pragma once
// The hosted VMM's side of the guest's consoles, as an ordinary Linux program sees them:
// buffered output files (COM1 to the terminal, the trace to a file, the debug console to
// standard error), the terminal in raw mode while the guest owns it, keyboard input on a
// thread of its own that kicks the vCPU out of KVM_RUN, and a scripted "chat" (type this
// once that appears) for tests and benchmarks.

#include <termios.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/devices/bus.hpp"
#include "common/devices/uart16550.hpp"
#include "common/runtime/format.hpp"

namespace hvlab::lab05 {

/// An output file with a buffer: bytes from a device or formatted text. The VMM flushes it
/// before each KVM_RUN that has something waiting, so the guest's output appears as it is
/// written, and a run of output costs one write() rather than one per byte.
class OutFile final : public dev::ByteSink, public FormatSink {
 public:
  OutFile() = default;
  ~OutFile();
  OutFile(const OutFile&) = delete;
  OutFile& operator=(const OutFile&) = delete;
  /// Writes to `fd` (closed at the end if `own`); -1 discards everything.
  void open_fd(int fd, bool own);
  /// Opens (creates, truncates) `path`; "-" is standard output. False with errno set.
  bool open_path(const std::string& path);
  void put(std::uint8_t b) override { buf_.push_back(static_cast<char>(b)); }
  void put(char c) override { buf_.push_back(c); }
  void write(const char* s, std::size_t n) override { buf_.append(s, n); }
  void flush();
  bool pending() const { return !buf_.empty(); }
  std::size_t size() const { return buf_.size(); }
  /// Also flush at every newline (the trace: records are read while the run goes on).
  std::uint64_t bytes_written() const { return written_; }

 private:
  int fd_ = -1;
  bool own_ = false;
  std::string buf_;
  std::uint64_t written_ = 0;
};

/// Formatted text to several files at once (the monitor's messages: the debug console, and
/// the terminal's standard error when that is another file).
class TeeSink final : public FormatSink {
 public:
  void add(FormatSink* s) { sinks_.push_back(s); }
  void put(char c) override {
    for (auto* s : sinks_) s->put(c);
  }

 private:
  std::vector<FormatSink*> sinks_;
};

/// One step of a scripted console: once `prompt` has appeared on COM1 (after the previous
/// step's), `text` is typed.
struct ChatStep {
  std::string prompt;
  std::string text;
};

/// Bytes for the guest's keyboard (COM1's receiver): typed at the terminal, or scripted.
/// Filled from other threads; drained by the vCPU thread into the UART as it has room.
class ConsoleInput {
 public:
  ~ConsoleInput();
  /// Reads standard input on a thread of its own (raw mode when it is a terminal; Ctrl-A x
  /// stops the VMM), calling `kick` after each read so the vCPU thread notices.
  void start_terminal(std::function<void()> kick);
  /// Puts the terminal back as it was (also done at exit).
  void restore_terminal();
  /// The scripted chat; `stop_after`, once seen after the last step, asks the VMM to stop.
  void set_chat(std::vector<ChatStep> steps, std::string stop_after);
  /// COM1's output, watched for the chat's prompts.
  void observe(std::uint8_t byte);
  /// Moves waiting bytes into the UART's receiver while it has room.
  void feed(dev::Uart16550& uart);
  /// The user pressed Ctrl-A x, or the chat reached its end: the VMM should stop.
  bool stop_requested() const { return stop_.load(); }
  bool chat_done() const { return chat_done_; }
  void push(const std::string& bytes);

 private:
  void reader();
  std::mutex m_;
  std::deque<std::uint8_t> queue_;
  std::function<void()> kick_;
  std::thread thread_;
  bool raw_ = false;
  termios saved_{};
  std::atomic<bool> stop_{false};
  std::vector<ChatStep> chat_;
  std::size_t chat_step_ = 0;
  std::string stop_after_;
  std::string seen_;
  bool chat_done_ = false;
  bool escape_ = false;
};

/// COM1's bytes: to the terminal (or a file), and past the chat's watcher.
class GuestConsole final : public dev::ByteSink {
 public:
  GuestConsole(OutFile& out, ConsoleInput& input) : out_(out), input_(input) {}
  void put(std::uint8_t b) override {
    out_.put(b);
    input_.observe(b);
  }

 private:
  OutFile& out_;
  ConsoleInput& input_;
};

}  // namespace hvlab::lab05
