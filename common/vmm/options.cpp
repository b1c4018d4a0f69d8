#include "common/vmm/options.hpp"

#include "common/boot/multiboot.hpp"
#include "common/runtime/format.hpp"
#include "common/runtime/string.hpp"

namespace hvlab::vmm {

namespace {

/// `key`'s value as a decimal number: true and *out when present and valid; false with a
/// reason when present and not a number; true and *out untouched when absent.
bool number(const char* cmdline, const char* key, std::uint64_t* out, char* why, unsigned why_size) {
  char buf[24];
  if (!find_option(cmdline, key, buf, sizeof buf)) return true;
  std::uint64_t v = 0;
  const char* p = buf;
  for (; *p >= '0' && *p <= '9'; ++p) {
    if (v > (~0ull - 9) / 10) break;
    v = v * 10 + static_cast<unsigned>(*p - '0');
  }
  if (p == buf || *p) {
    format(why, why_size, "%s=%s is not a number", key, buf);
    return false;
  }
  *out = v;
  return true;
}

}  // namespace

bool parse_monitor_options(const char* cmdline, MonitorOptions& opt, char* why, unsigned why_size) {
  if (!cmdline) return true;
  Budgets& b = opt.budgets;
  for (const char* key : {"budget", "max_exits", "events"}) {
    if (!number(cmdline, key, &b.events, why, why_size)) return false;
  }
  std::uint64_t v = b.spin_seconds;
  if (!number(cmdline, "seconds", &b.guest_seconds, why, why_size) ||
      !number(cmdline, "spin_seconds", &v, why, why_size))
    return false;
  b.spin_seconds = static_cast<unsigned>(v);
  v = b.output_bytes >> 10;
  if (!number(cmdline, "output_kib", &v, why, why_size)) return false;
  b.output_bytes = v << 10;
  v = opt.guest_mib;
  if (!number(cmdline, "guest_mib", &v, why, why_size)) return false;
  if (v < 4 || v > 3072) {
    format(why, why_size, "guest_mib=%llu is outside 4-3072", static_cast<unsigned long long>(v));
    return false;
  }
  opt.guest_mib = static_cast<std::uint32_t>(v);
  v = opt.run.trace_cap;
  if (!number(cmdline, "trace_cap", &v, why, why_size)) return false;
  opt.run.trace_cap = static_cast<std::uint32_t>(v);

  char word[16];
  if (find_option(cmdline, "trace", word, sizeof word)) {
    if (rt::str_compare(word, "all") == 0) {
      opt.run.trace = TraceMode::all;
    } else if (rt::str_compare(word, "quiet") == 0) {
      opt.run.trace = TraceMode::quiet;
    } else if (rt::str_compare(word, "off") == 0 || rt::str_compare(word, "0") == 0) {
      opt.run.trace = TraceMode::off;
    } else {
      format(why, why_size, "trace=%s is not one of all, quiet, off", word);
      return false;
    }
  }
  if (find_option(cmdline, "clock", word, sizeof word)) {
    if (rt::str_compare(word, "host") != 0 && rt::str_compare(word, "guest") != 0) {
      format(why, why_size, "clock=%s is not one of host, guest", word);
      return false;
    }
    opt.hide_monitor_time = rt::str_compare(word, "guest") == 0;
  }
  if (find_option(cmdline, "debugger", word, sizeof word)) {
    if (rt::str_compare(word, "on") != 0 && rt::str_compare(word, "off") != 0) {
      format(why, why_size, "debugger=%s is not one of on, off", word);
      return false;
    }
    opt.debugger = rt::str_compare(word, "on") == 0;
  }
  return true;
}

void apply(const MonitorOptions& opt, Board& board) {
  board.budgets() = opt.budgets;
  board.set_hide_monitor_time(opt.hide_monitor_time);
}

}  // namespace hvlab::vmm
