#pragma once
// A printf-style formatter usable freestanding: no allocation, no floating point, output to
// a caller-owned buffer or to any sink (a UART, a trace channel).
//
// Conversions: %d %i %u %x %X %o %p %s %c %%, flags '-' '0' '+' ' ' '#', width and precision
// (also '*'), length modifiers hh h l ll z t j. Unknown conversions are printed verbatim so
// a bad format string is visible rather than silent.

#include <cstdarg>
#include <cstddef>

namespace hvlab {

/// Where formatted characters go.
class FormatSink {
 public:
  virtual void put(char c) = 0;
  virtual void write(const char* s, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) put(s[i]);
  }

 protected:
  ~FormatSink() = default;
};

/// Formats to `sink`; returns the number of characters produced.
std::size_t vformat_to(FormatSink& sink, const char* fmt, va_list args);
std::size_t format_to(FormatSink& sink, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

/// snprintf semantics: writes at most size-1 characters and a NUL (when size > 0); returns
/// the length the full output would have had.
std::size_t vformat(char* buf, std::size_t size, const char* fmt, va_list args);
std::size_t format(char* buf, std::size_t size, const char* fmt, ...) __attribute__((format(printf, 3, 4)));

/// A sink over a fixed buffer, always NUL-terminated; remembers the untruncated length.
class BufferSink final : public FormatSink {
 public:
  BufferSink(char* buf, std::size_t size) : buf_(buf), size_(size) {
    if (size_) buf_[0] = '\0';
  }
  void put(char c) override {
    if (len_ + 1 < size_) {
      buf_[len_] = c;
      buf_[len_ + 1] = '\0';
    }
    ++len_;
  }
  std::size_t length() const { return len_; }

 private:
  char* buf_;
  std::size_t size_;
  std::size_t len_ = 0;
};

}  // namespace hvlab
