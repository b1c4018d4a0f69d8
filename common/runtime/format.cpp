#include "common/runtime/format.hpp"

#include <cstdint>

namespace hvlab {
namespace {

struct Spec {
  bool left = false, zero = false, plus = false, space = false, alt = false;
  int width = 0;
  int precision = -1;
};

class CountingSink {
 public:
  explicit CountingSink(FormatSink& s) : sink_(s) {}
  void put(char c) { sink_.put(c); ++count_; }
  void pad(char c, int n) { while (n-- > 0) put(c); }
  std::size_t count() const { return count_; }

 private:
  FormatSink& sink_;
  std::size_t count_ = 0;
};

void emit_string(CountingSink& out, const Spec& spec, const char* s) {
  if (!s) s = "(null)";
  int len = 0;
  while (s[len] && (spec.precision < 0 || len < spec.precision)) ++len;
  if (!spec.left) out.pad(' ', spec.width - len);
  for (int i = 0; i < len; ++i) out.put(s[i]);
  if (spec.left) out.pad(' ', spec.width - len);
}

void emit_number(CountingSink& out, Spec spec, std::uint64_t value, bool negative, unsigned base,
                 bool upper, const char* prefix) {
  char digits[24];
  int n = 0;
  const char* set = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  // Precision 0 with value 0 prints no digits (C rule).
  if (!(value == 0 && spec.precision == 0)) {
    do {
      digits[n++] = set[value % base];
      value /= base;
    } while (value);
  }
  char sign = negative ? '-' : spec.plus ? '+' : spec.space ? ' ' : '\0';
  int prefix_len = 0;
  while (prefix && prefix[prefix_len]) ++prefix_len;
  int zeros = spec.precision > n ? spec.precision - n : 0;
  int body = n + zeros + prefix_len + (sign ? 1 : 0);
  if (spec.zero && !spec.left && spec.precision < 0 && spec.width > body) {
    zeros += spec.width - body;
    body = spec.width;
  }
  if (!spec.left) out.pad(' ', spec.width - body);
  if (sign) out.put(sign);
  for (int i = 0; i < prefix_len; ++i) out.put(prefix[i]);
  out.pad('0', zeros);
  while (n) out.put(digits[--n]);
  if (spec.left) out.pad(' ', spec.width - body);
}

}  // namespace

std::size_t vformat_to(FormatSink& sink, const char* fmt, va_list args) {
  CountingSink out(sink);
  va_list ap;
  va_copy(ap, args);
  for (const char* p = fmt; *p; ++p) {
    if (*p != '%') {
      out.put(*p);
      continue;
    }
    const char* start = p++;
    Spec spec;
    for (;; ++p) {
      if (*p == '-') spec.left = true;
      else if (*p == '0') spec.zero = true;
      else if (*p == '+') spec.plus = true;
      else if (*p == ' ') spec.space = true;
      else if (*p == '#') spec.alt = true;
      else break;
    }
    if (*p == '*') {
      spec.width = va_arg(ap, int);
      if (spec.width < 0) spec.left = true, spec.width = -spec.width;
      ++p;
    } else {
      while (*p >= '0' && *p <= '9') spec.width = spec.width * 10 + (*p++ - '0');
    }
    if (*p == '.') {
      ++p;
      spec.precision = 0;
      if (*p == '*') {
        spec.precision = va_arg(ap, int);
        ++p;
      } else {
        while (*p >= '0' && *p <= '9') spec.precision = spec.precision * 10 + (*p++ - '0');
      }
    }
    // Length: 0 int, 1 long, 2 long long, -1 short, -2 char; 3 size_t/ptrdiff_t/intmax_t.
    int length = 0;
    if (*p == 'h') { length = -1; if (*++p == 'h') { length = -2; ++p; } }
    else if (*p == 'l') { length = 1; if (*++p == 'l') { length = 2; ++p; } }
    else if (*p == 'z' || *p == 't') { length = 3; ++p; }
    else if (*p == 'j') { length = 2; ++p; }

    auto get_signed = [&]() -> std::int64_t {
      switch (length) {
        case 1: return va_arg(ap, long);
        case 2: return va_arg(ap, long long);
        case 3: return static_cast<std::int64_t>(va_arg(ap, std::ptrdiff_t));
        case -1: return static_cast<short>(va_arg(ap, int));
        case -2: return static_cast<signed char>(va_arg(ap, int));
        default: return va_arg(ap, int);
      }
    };
    auto get_unsigned = [&]() -> std::uint64_t {
      switch (length) {
        case 1: return va_arg(ap, unsigned long);
        case 2: return va_arg(ap, unsigned long long);
        case 3: return va_arg(ap, std::size_t);
        case -1: return static_cast<unsigned short>(va_arg(ap, unsigned));
        case -2: return static_cast<unsigned char>(va_arg(ap, unsigned));
        default: return va_arg(ap, unsigned);
      }
    };

    switch (*p) {
      case 'd':
      case 'i': {
        std::int64_t v = get_signed();
        std::uint64_t mag = v < 0 ? static_cast<std::uint64_t>(0) - static_cast<std::uint64_t>(v)
                                  : static_cast<std::uint64_t>(v);
        emit_number(out, spec, mag, v < 0, 10, false, nullptr);
        break;
      }
      case 'u': emit_number(out, spec, get_unsigned(), false, 10, false, nullptr); break;
      case 'o': {
        std::uint64_t v = get_unsigned();
        emit_number(out, spec, v, false, 8, false, spec.alt && v ? "0" : nullptr);
        break;
      }
      case 'x':
      case 'X': {
        std::uint64_t v = get_unsigned();
        bool upper = *p == 'X';
        emit_number(out, spec, v, false, 16, upper, spec.alt && v ? (upper ? "0X" : "0x") : nullptr);
        break;
      }
      case 'p': {
        auto v = reinterpret_cast<std::uintptr_t>(va_arg(ap, void*));
        Spec ps = spec;
        if (ps.precision < 0) ps.precision = static_cast<int>(sizeof(void*) * 2);
        emit_number(out, ps, v, false, 16, false, "0x");
        break;
      }
      case 's': emit_string(out, spec, va_arg(ap, const char*)); break;
      case 'c': {
        char c = static_cast<char>(va_arg(ap, int));
        if (!spec.left) out.pad(' ', spec.width - 1);
        out.put(c);
        if (spec.left) out.pad(' ', spec.width - 1);
        break;
      }
      case '%': out.put('%'); break;
      default:
        // Unknown or truncated conversion: print it as written.
        for (const char* q = start; q <= p && *q; ++q) out.put(*q);
        if (!*p) {
          va_end(ap);
          return out.count();
        }
        break;
    }
  }
  va_end(ap);
  return out.count();
}

std::size_t format_to(FormatSink& sink, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::size_t n = vformat_to(sink, fmt, ap);
  va_end(ap);
  return n;
}

std::size_t vformat(char* buf, std::size_t size, const char* fmt, va_list args) {
  BufferSink sink(buf, size);
  vformat_to(sink, fmt, args);
  return sink.length();
}

std::size_t format(char* buf, std::size_t size, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::size_t n = vformat(buf, size, fmt, ap);
  va_end(ap);
  return n;
}

}  // namespace hvlab
