#include "lab05-type1-vs-type2/src/gdb_stub.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

#include "common/runtime/exercise.hpp"

namespace hvlab::lab05 {
namespace {

constexpr char kHex[] = "0123456789abcdef";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_hex_bytes(std::string& out, const void* p, std::size_t n) {
  const auto* b = static_cast<const std::uint8_t*>(p);
  for (std::size_t i = 0; i < n; ++i) {
    out += kHex[b[i] >> 4];
    out += kHex[b[i] & 0xf];
  }
}

bool parse_hex(std::string_view s, std::uint64_t* out) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out, 16);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// The 16 registers of the 'g' packet, in order, as references into the vCPU.
std::array<std::uint32_t*, 10> general(vmm::VCpu& v) {
  auto& r = v.regs;
  return {&r.eax, &r.ecx, &r.edx, &r.ebx, &r.esp, &r.ebp, &r.esi, &r.edi, &v.eip, &v.eflags};
}

}  // namespace

std::string encode_registers(const vmm::VCpu& vcpu) {
  std::string out;
  // BEGIN SOLUTION lab05-e7
  // GDB's i386 register numbering (gdb/i386-tdep.h, and the order of the 'g' packet):
  // EAX ECX EDX EBX ESP EBP ESI EDI EIP EFLAGS CS SS DS ES FS GS, each 32 bits, sent as
  // the bytes of the value in the target's order: little-endian, lowest byte first.
  const auto& r = vcpu.regs;
  const std::uint32_t values[16] = {r.eax, r.ecx, r.edx, r.ebx, r.esp, r.ebp, r.esi, r.edi,
                                    vcpu.eip, vcpu.eflags, vcpu.cs, vcpu.ss, vcpu.ds, vcpu.es, vcpu.fs, vcpu.gs};
  for (std::uint32_t v : values) {
    for (int byte = 0; byte < 4; ++byte) {
      const unsigned b = (v >> (8 * byte)) & 0xff;
      out += kHex[b >> 4];
      out += kHex[b & 0xf];
    }
  }
  // STUB: (void)vcpu;
  // END SOLUTION
  return out;
}

bool decode_registers(std::string_view hex, vmm::VCpu& vcpu) {
  if (hex.size() < 16 * 8) return false;
  std::uint32_t values[16];
  for (int i = 0; i < 16; ++i) {
    std::uint32_t v = 0;
    for (int byte = 0; byte < 4; ++byte) {
      const int hi = hex_value(hex[i * 8 + byte * 2]), lo = hex_value(hex[i * 8 + byte * 2 + 1]);
      if (hi < 0 || lo < 0) return false;
      v |= static_cast<std::uint32_t>(hi << 4 | lo) << (8 * byte);
    }
    values[i] = v;
  }
  auto regs = general(vcpu);
  for (int i = 0; i < 10; ++i) *regs[i] = values[i];
  return true;
}

std::string GdbStub::frame(std::string_view payload) {
  std::string out = "$";
  unsigned sum = 0;
  for (char c : payload) {
    if (c == '#' || c == '$' || c == '}' || c == '*') {
      out += '}';
      sum += '}';
      c = static_cast<char>(c ^ 0x20);
    }
    out += c;
    sum += static_cast<unsigned char>(c);
  }
  out += '#';
  out += kHex[(sum >> 4) & 0xf];
  out += kHex[sum & 0xf];
  return out;
}

bool GdbStub::read_packet(std::string* payload) {
  for (;;) {
    int c = channel_.get();
    if (c < 0) return false;
    if (c != '$') continue;  // acknowledgements, and a stray interrupt byte while stopped
    std::string data;
    unsigned sum = 0;
    for (;;) {
      c = channel_.get();
      if (c < 0) return false;
      if (c == '#') break;
      sum += static_cast<unsigned>(c);
      if (c == '}') {
        int n = channel_.get();
        if (n < 0) return false;
        sum += static_cast<unsigned>(n);
        c = n ^ 0x20;
      }
      data += static_cast<char>(c);
    }
    const int hi = hex_value(static_cast<char>(channel_.get())), lo = hex_value(static_cast<char>(channel_.get()));
    if (hi < 0 || lo < 0 || static_cast<unsigned>(hi << 4 | lo) != (sum & 0xff)) {
      channel_.put("-");
      continue;
    }
    channel_.put("+");
    *payload = std::move(data);
    return true;
  }
}

std::string GdbStub::handle_memory_read(std::string_view args) {
  const auto comma = args.find(',');
  std::uint64_t addr = 0, len = 0;
  if (comma == std::string_view::npos || !parse_hex(args.substr(0, comma), &addr) ||
      !parse_hex(args.substr(comma + 1), &len) || len > 0x800)
    return "E01";
  std::string bytes(len, '\0');
  if (!target_.read_memory(static_cast<std::uint32_t>(addr), bytes.data(), len)) return "E14";
  std::string out;
  append_hex_bytes(out, bytes.data(), len);
  return out;
}

std::string GdbStub::handle_memory_write(std::string_view args) {
  const auto comma = args.find(','), colon = args.find(':');
  std::uint64_t addr = 0, len = 0;
  if (comma == std::string_view::npos || colon == std::string_view::npos || comma > colon ||
      !parse_hex(args.substr(0, comma), &addr) || !parse_hex(args.substr(comma + 1, colon - comma - 1), &len) ||
      args.size() - colon - 1 != 2 * len || len > 0x800)
    return "E01";
  std::string bytes(len, '\0');
  for (std::size_t i = 0; i < len; ++i) {
    const int hi = hex_value(args[colon + 1 + 2 * i]), lo = hex_value(args[colon + 2 + 2 * i]);
    if (hi < 0 || lo < 0) return "E01";
    bytes[i] = static_cast<char>(hi << 4 | lo);
  }
  return target_.write_memory(static_cast<std::uint32_t>(addr), bytes.data(), len) ? "OK" : "E14";
}

std::string GdbStub::handle_breakpoint(std::string_view args, bool insert) {
  // "type,addr,kind": 0 software and 1 hardware breakpoints both become debug registers.
  if (args.size() < 3 || (args[0] != '0' && args[0] != '1') || args[1] != ',') return "";
  const auto comma = args.find(',', 2);
  std::uint64_t addr = 0;
  if (!parse_hex(args.substr(2, comma == std::string_view::npos ? std::string_view::npos : comma - 2), &addr))
    return "E01";
  const auto a = static_cast<std::uint32_t>(addr);
  for (unsigned i = 0; i < 4; ++i) {
    if ((used_ & (1u << i)) && breakpoints_[i] == a) {
      if (!insert) used_ &= ~(1u << i);
      return apply_debug(false) ? "OK" : "E22";
    }
  }
  if (!insert) return "OK";
  for (unsigned i = 0; i < 4; ++i) {
    if (used_ & (1u << i)) continue;
    breakpoints_[i] = a;
    used_ |= 1u << i;
    return apply_debug(false) ? "OK" : "E22";
  }
  return "E28";  // four debug registers, all in use
}

bool GdbStub::apply_debug(bool step) { return target_.set_debug(breakpoints_, used_, step); }

GdbStub::Resume GdbStub::stopped(int signal) { return serve(signal, true); }

GdbStub::Resume GdbStub::serve(int signal, bool report) {
  running_.store(false);
  const std::string stop = fmt::format("S{:02x}", signal);
  if (report) reply(stop);
  std::string p;
  while (read_packet(&p)) {
    const char cmd = p.empty() ? '\0' : p[0];
    const std::string_view args = std::string_view(p).substr(p.empty() ? 0 : 1);
    switch (cmd) {
      case '?': reply(stop); break;
      case 'g': reply(encode_registers(target_.vcpu())); break;
      case 'G': reply(decode_registers(args, target_.vcpu()) ? "OK" : "E01"); break;
      case 'm': reply(handle_memory_read(args)); break;
      case 'M': reply(handle_memory_write(args)); break;
      case 'Z': reply(handle_breakpoint(args, true)); break;
      case 'z': reply(handle_breakpoint(args, false)); break;
      case 'H': reply("OK"); break;  // one thread: every thread is it
      case 'c':
      case 's': {
        std::uint64_t addr = 0;
        if (!args.empty() && parse_hex(args, &addr)) target_.vcpu().eip = static_cast<std::uint32_t>(addr);
        if (!apply_debug(cmd == 's')) {
          reply("E22");
          break;
        }
        running_.store(true);
        return cmd == 's' ? Resume::step : Resume::cont;
      }
      case 'D':
        used_ = 0;
        apply_debug(false);
        reply("OK");
        attached_ = false;
        return Resume::detach;
      case 'k':
        attached_ = false;
        return Resume::kill;
      case 'q':
        if (args.rfind("Supported", 0) == 0) reply("PacketSize=1000");
        else if (args == "Attached") reply("1");
        else reply("");
        break;
      default: reply(""); break;  // not supported: GDB falls back to what is
    }
  }
  attached_ = false;  // the connection closed: run on without a debugger
  used_ = 0;
  apply_debug(false);
  return Resume::detach;
}

TcpGdbChannel::~TcpGdbChannel() {
  if (fd_ >= 0) ::close(fd_);
}

bool TcpGdbChannel::accept_on(unsigned port, std::string* why) {
  const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) {
    *why = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  int one = 1;
  ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(s, 1) != 0) {
    *why = fmt::format("cannot listen on 127.0.0.1:{}: {}", port, std::strerror(errno));
    ::close(s);
    return false;
  }
  fd_ = ::accept4(s, nullptr, nullptr, SOCK_CLOEXEC);
  const int err = errno;
  ::close(s);
  if (fd_ < 0) {
    *why = std::string("accept: ") + std::strerror(err);
    return false;
  }
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return true;
}

int TcpGdbChannel::get() {
  unsigned char c;
  for (;;) {
    ssize_t n = ::read(fd_, &c, 1);
    if (n == 1) return c;
    if (n < 0 && errno == EINTR) continue;
    return -1;
  }
}

void TcpGdbChannel::put(std::string_view bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace hvlab::lab05
