#include "lab05-type1-vs-type2/src/console.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>

namespace hvlab::lab05 {
namespace {

// The terminal's state, restored at exit however the VMM ends (a normal return, exit(),
// a fatal message): a raw terminal left behind is the worst thing a VMM can do to a shell.
termios g_saved;
std::atomic<bool> g_raw{false};

void restore_at_exit() {
  if (g_raw.exchange(false)) tcsetattr(STDIN_FILENO, TCSANOW, &g_saved);
}

}  // namespace

OutFile::~OutFile() {
  flush();
  if (own_ && fd_ >= 0) ::close(fd_);
}

void OutFile::open_fd(int fd, bool own) {
  fd_ = fd;
  own_ = own;
}

bool OutFile::open_path(const std::string& path) {
  if (path == "-") {
    open_fd(STDOUT_FILENO, false);
    return true;
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  open_fd(fd, true);
  return true;
}

void OutFile::flush() {
  if (buf_.empty()) return;
  if (fd_ < 0) {
    buf_.clear();
    return;
  }
  std::size_t done = 0;
  while (done < buf_.size()) {
    ssize_t n = ::write(fd_, buf_.data() + done, buf_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the reader went away: drop the rest
    done += static_cast<std::size_t>(n);
  }
  written_ += done;
  buf_.clear();
}

ConsoleInput::~ConsoleInput() {
  restore_terminal();
  if (thread_.joinable()) thread_.detach();  // blocked in read(); ends with the process
}

void ConsoleInput::start_terminal(std::function<void()> kick) {
  kick_ = std::move(kick);
  if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_) == 0) {
    g_saved = saved_;
    termios raw = saved_;
    // Every key goes to the guest, unechoed, as typed (Ctrl-C included); output keeps its
    // newline translation so the guest's "\n" still starts a line.
    raw.c_iflag &= ~static_cast<tcflag_t>(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    raw.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0) {
      raw_ = true;
      g_raw = true;
      static bool registered = false;
      if (!registered) std::atexit(restore_at_exit);
      registered = true;
    }
  }
  thread_ = std::thread([this] { reader(); });
}

void ConsoleInput::restore_terminal() {
  if (raw_) {
    restore_at_exit();
    raw_ = false;
  }
}

void ConsoleInput::reader() {
  // Signals are the vCPU thread's business (the kick, the timer, SIGTERM).
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  std::uint8_t buf[256];
  for (;;) {
    ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // end of input: the guest just gets no more keys
    std::string bytes;
    for (ssize_t i = 0; i < n; ++i) {
      const std::uint8_t c = buf[i];
      if (raw_ && escape_) {
        escape_ = false;
        if (c == 'x' || c == 'X') {
          stop_ = true;
          break;
        }
        if (c != 0x01) bytes += '\x01';
      } else if (raw_ && c == 0x01) {  // Ctrl-A, the escape
        escape_ = true;
        continue;
      }
      bytes += static_cast<char>(c == '\r' && raw_ ? '\r' : c);
    }
    push(bytes);
    if (stop_) {
      if (kick_) kick_();
      return;
    }
  }
}

void ConsoleInput::push(const std::string& bytes) {
  {
    std::lock_guard lock(m_);
    for (char c : bytes) queue_.push_back(static_cast<std::uint8_t>(c));
  }
  if (kick_) kick_();
}

void ConsoleInput::set_chat(std::vector<ChatStep> steps, std::string stop_after) {
  chat_ = std::move(steps);
  stop_after_ = std::move(stop_after);
  chat_done_ = chat_.empty() && stop_after_.empty();
}

void ConsoleInput::observe(std::uint8_t byte) {
  if (chat_done_) return;
  seen_ += static_cast<char>(byte);
  if (chat_step_ < chat_.size()) {
    const ChatStep& s = chat_[chat_step_];
    if (seen_.size() >= s.prompt.size() && seen_.compare(seen_.size() - s.prompt.size(), s.prompt.size(), s.prompt) == 0) {
      {
        std::lock_guard lock(m_);
        for (char c : s.text) queue_.push_back(static_cast<std::uint8_t>(c));
      }
      ++chat_step_;
      seen_.clear();
    }
  } else if (!stop_after_.empty() && seen_.size() >= stop_after_.size() &&
             seen_.compare(seen_.size() - stop_after_.size(), stop_after_.size(), stop_after_) == 0) {
    chat_done_ = true;
    stop_ = true;
  }
  if (seen_.size() > 4096) seen_.erase(0, 2048);
}

void ConsoleInput::feed(dev::Uart16550& uart) {
  std::lock_guard lock(m_);
  while (!queue_.empty() && uart.rx_space() > 0) {
    uart.receive(queue_.front());
    queue_.pop_front();
  }
}

}  // namespace hvlab::lab05
