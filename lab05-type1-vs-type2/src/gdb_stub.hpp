#pragma once
// A GDB remote-serial-protocol stub inside the VMM (GDB's manual, appendix E "Remote Serial
// Protocol"): plain gdb connects over TCP and debugs the guest the VMM runs, with its
// registers, its memory (through the guest's own page tables), breakpoints and single steps.
// Breakpoints are the vCPU's debug registers and single steps its trap flag, both set with
// KVM_SET_GUEST_DEBUG: KVM then stops with KVM_EXIT_DEBUG, which the VMM's handler turns
// into a stop reported to GDB. Nothing is written into guest memory.
//
//   gdb  --$g#67-->  stub: registers as hex   --$<hex>#cs-->  gdb
//   gdb  --$Z1,10000c,1#..-->  debug register 0 = 0x10000c  --$OK#9a-->  gdb
//   gdb  --$c#63-->  the guest runs ... KVM_EXIT_DEBUG  --$S05#b8-->  gdb

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/vmm/vcpu.hpp"

namespace hvlab::lab05 {

/// The 'g' packet's payload: the i386 registers in GDB's order (EAX, ECX, EDX, EBX, ESP,
/// EBP, ESI, EDI, EIP, EFLAGS, CS, SS, DS, ES, FS, GS), each 32 bits as 8 hex digits in
/// target byte order (little-endian).
std::string encode_registers(const vmm::VCpu& vcpu);
/// The 'G' packet's payload back into the vCPU (segment selectors are left alone: KVM's
/// hidden segment state cannot follow a selector written from a debugger). False if the
/// text is not 16 registers of hex.
bool decode_registers(std::string_view hex, vmm::VCpu& vcpu);

/// What the stub acts on (the KVM back end; tests use a fake).
class GdbTarget {
 public:
  virtual vmm::VCpu& vcpu() = 0;
  virtual bool read_memory(std::uint32_t va, void* dst, std::size_t n) = 0;
  virtual bool write_memory(std::uint32_t va, const void* src, std::size_t n) = 0;
  /// Instruction breakpoints at `addresses` (those whose bit is set in `used`) and the
  /// single-step flag, for the next entries.
  virtual bool set_debug(const std::array<std::uint32_t, 4>& addresses, unsigned used, bool single_step) = 0;

 protected:
  ~GdbTarget() = default;
};

/// The byte stream to GDB (a TCP connection; tests use strings).
class GdbChannel {
 public:
  /// The next byte, waiting for it; -1 once the connection is closed.
  virtual int get() = 0;
  virtual void put(std::string_view bytes) = 0;

 protected:
  ~GdbChannel() = default;
};

class GdbStub {
 public:
  enum class Resume { cont, step, detach, kill };

  GdbStub(GdbTarget& target, GdbChannel& channel) : target_(target), channel_(channel) {}

  /// The guest stopped with `signal` (5 SIGTRAP: the start, a breakpoint, a step; 2
  /// SIGINT: GDB's interrupt). Reports it (unless GDB has not asked yet, at the start) and
  /// serves GDB's requests until it resumes the guest, detaches or kills it.
  Resume stopped(int signal);
  /// The first stop, before the guest's first instruction: GDB asks with '?'.
  Resume attach() { return serve(5, false); }

  /// Another thread saw GDB's interrupt byte (0x03) arrive while the guest ran.
  void request_interrupt() { interrupt_.store(true); }
  bool take_interrupt() { return interrupt_.exchange(false); }
  bool attached() const { return attached_; }
  bool running() const { return running_.load(); }

  /// One packet's framing: "$payload#checksum", with '#', '$', '}' and '*' escaped.
  static std::string frame(std::string_view payload);

 private:
  Resume serve(int signal, bool report);
  /// The next packet's payload (acknowledged); false when the connection closed.
  bool read_packet(std::string* payload);
  void reply(std::string_view payload) { channel_.put(frame(payload)); }
  std::string handle_memory_read(std::string_view args);
  std::string handle_memory_write(std::string_view args);
  std::string handle_breakpoint(std::string_view args, bool insert);
  bool apply_debug(bool step);

  GdbTarget& target_;
  GdbChannel& channel_;
  std::array<std::uint32_t, 4> breakpoints_{};
  unsigned used_ = 0;
  bool attached_ = true;
  std::atomic<bool> interrupt_{false};
  std::atomic<bool> running_{false};
};

/// A TCP connection to GDB on 127.0.0.1, as a GdbChannel.
class TcpGdbChannel final : public GdbChannel {
 public:
  ~TcpGdbChannel();
  /// Listens on 127.0.0.1:port and waits for GDB to connect.
  bool accept_on(unsigned port, std::string* why);
  int get() override;
  void put(std::string_view bytes) override;
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

}  // namespace hvlab::lab05
