#include "lab01-trap-and-emulate/kernel/start.hpp"

#include "common/arch/intrinsics.hpp"
#include "common/boot/console.hpp"
#include "common/boot/legacy_pic.hpp"
#include "common/devices/bus.hpp"
#include "common/vmm/debug.hpp"
#include "lab01-trap-and-emulate/src/address_space.hpp"

namespace hvlab::lab01 {

namespace {

/// A 16550 with its FIFO on (as the boot code leaves COM1 and COM2): once THRE shows the
/// FIFO empty, 16 bytes go out without polling. Halves the port traffic of the trace.
class FastSerial final : public FormatSink, public dev::ByteSink {
 public:
  explicit FastSerial(std::uint16_t base) : base_(base) {}
  void put(char c) override {
    if (room_ == 0) {
      for (unsigned spin = 0; spin < 100000 && !(x86::inb(base_ + 5) & 0x20); ++spin) x86::pause();
      room_ = 16;
    }
    x86::outb(base_, static_cast<std::uint8_t>(c));
    --room_;
  }
  void put(std::uint8_t b) override { put(static_cast<char>(b)); }

 private:
  std::uint16_t base_;
  unsigned room_ = 0;
};

/// The guest's port 0xE9 lines (prefixed by the Board) on the real debug console.
struct DebugPort final : dev::ByteSink {
  void put(std::uint8_t b) override { debugcon().put(static_cast<char>(b)); }
};

/// Shadow page tables: 1 GiB of guest-virtual reach before the pool starts over.
constexpr std::uint32_t kPoolFrames = 256;

}  // namespace

void refuse(const char* name, const char* why) {
  dprintf("%s: cannot start the guest: %s\n", name, why);
  kprintf("%s: cannot start the guest: %s\n", name, why);
  machine_exit(exit_status::kFailure);
}

MonitorStart start_monitor(const BootInfo& boot, const char* name, vmm::MonitorOptions& opt) {
  MonitorStart s;
  s.name = name;
  char why[128] = "";
  if (!vmm::parse_monitor_options(boot.cmdline, opt, why, sizeof why)) refuse(name, why);
  s.debugger = opt.debugger;
  if (boot.module_count == 0) refuse(name, "no guest: pass the guest kernel as the first multiboot module");
  const BootModule& mod = boot.modules[0];
  if (mod.end <= mod.start) refuse(name, "the guest module is empty");
  // The module's string ("path args...", the guest's command line) lives wherever the boot
  // loader left it, in memory the frame allocator may hand out: keep a copy first.
  static char guest_cmdline[256];
  format(guest_cmdline, sizeof guest_cmdline, "%s", mod.cmdline ? mod.cmdline : "");
  s.cmdline = guest_cmdline;

  // Host frames below the monitor's reach; everything the boot loader and the monitor use
  // is reserved.
  static mem::FrameBitmapStorage<(kHostReach >> 12)> frame_bits;
  static mem::FrameAllocator frames;
  static mem::MemoryRange ranges[BootInfo::kMaxRanges];
  for (unsigned i = 0; i < boot.range_count; ++i) {
    ranges[i] = {HostPhysAddr(boot.ranges[i].base), boot.ranges[i].length,
                 static_cast<mem::MemoryType>(boot.ranges[i].type)};
    if (boot.ranges[i].type == 1 && boot.ranges[i].base + boot.ranges[i].length > s.ram_top)
      s.ram_top = boot.ranges[i].base + boot.ranges[i].length;
  }
  if (!frames.init(frame_bits.span(), {ranges, boot.range_count})) refuse(name, "no usable memory map");
  (void)frames.reserve(HostPhysAddr(0), 0x100000);
  (void)frames.reserve(HostPhysAddr(boot.kernel_start), boot.kernel_end - boot.kernel_start);
  for (unsigned i = 0; i < boot.module_count; ++i)
    (void)frames.reserve(HostPhysAddr(boot.modules[i].start), boot.modules[i].end - boot.modules[i].start);
  s.frames = &frames;

  // The guest's RAM: one run of host frames, 4 MiB aligned so unpaged guests get big pages.
  std::uint64_t mib = opt.guest_mib;
  Result<HostPhysAddr> ram = Error::out_of_memory;
  for (; mib >= 8; mib /= 2) {
    ram = frames.alloc_contiguous((mib << 20) / kPageSize, x86::kPage4M);
    if (ram.ok()) break;
  }
  if (!ram.ok()) refuse(name, "not enough host memory for the guest (8 MiB at least)");
  auto directory = frames.alloc();
  auto pool = frames.alloc_contiguous(kPoolFrames);
  if (!directory.ok() || !pool.ok()) refuse(name, "not enough host memory for shadow page tables");
  static mem::IdentityPhysicalMemory host(kHostReach);
  if (!host.zero_frame(directory.value()).ok()) refuse(name, "the guest's page directory is out of reach");
  s.host = &host;
  s.ram = ram.value();
  s.directory = directory.value();
  s.pool = pool.value();
  s.pool_frames = kPoolFrames;

  // The guest's PC.
  static FastSerial com1_out(kCom1);
  static DebugPort debug_out;
  static vmm::Board board(&com1_out, &debug_out);
  if (!board.wiring().ok()) refuse(name, "the board's devices could not all be wired to their ports");
  vmm::apply(opt, board);
  s.guest_bytes = mib << 20;
  if (!board.add_ram(s.guest_bytes, reinterpret_cast<void*>(s.ram.low32()), s.ram).ok())
    refuse(name, "the guest's RAM could not be added to its board");
  (void)board.memory().fill(GuestPhysAddr(0), 0, s.guest_bytes);
  board.cmos().set_time(1735689600);  // 2025-01-01 00:00:00 UTC: fixed, so runs repeat
  s.board = &board;

  // The guest image and its boot information. The module string is "path args...": the
  // guest gets all of it as its command line, as from a boot loader.
  auto image = vmm::load_elf32(board.memory(), reinterpret_cast<const void*>(mod.start), mod.end - mod.start,
                               vmm::kMultibootInfoBase, vmm::kMultibootInfoEnd, why, sizeof why);
  if (!image.ok()) {
    char msg[160];
    format(msg, sizeof msg, "module rejected: %s", why);
    refuse(name, msg);
  }
  s.image = image.value();
  auto info = vmm::build_multiboot_info(board.memory(), s.guest_bytes, guest_cmdline);
  if (!info.ok()) refuse(name, "could not write the multiboot information");
  s.multiboot_info = info.value();
  dprintf("%s: guest '%s': entry %08x, image %08x-%08x, %u MiB at host %08x\n", name, guest_cmdline, s.image.entry,
          s.image.lowest, s.image.highest, static_cast<unsigned>(mib), s.ram.low32());
  return s;
}

/// The trace's serial line, for the monitors' TraceWriter.
FormatSink& trace_port() {
  static FastSerial com2_out(kCom2);
  return com2_out;
}

void start_guest(MonitorStart& s, KernelTrapHardware& hw, TrapBackend& backend, vmm::VCpu& v) {
  s.board->set_tsc_hz(pit::measure_tsc_hz());
  vmm::debug_note_second_level(vmm::SecondLevel::shadow32, s.directory.value());
  if (!hw.install(backend.tables(), s.ram_top, *s.frames, s.directory, s.debugger).ok())
    refuse(s.name, "the monitor's address spaces could not be built");
  dprintf("%s: TSC %llu kHz\n", s.name, static_cast<unsigned long long>(s.board->tsc_hz() / 1000));

  // Multiboot 0.6.96, 3.2: the machine state at entry.
  v.eip = s.image.entry;
  v.regs.eax = 0x2BADB002;
  v.regs.ebx = s.multiboot_info;
  v.regs.esp = 0x7c00;
  v.cs = 0x08;
  v.ss = v.ds = v.es = v.fs = v.gs = 0x10;
  v.cpl = 0;
  v.eflags = x86::eflags::FIXED1;
  pic::unmask(0);
}

}  // namespace hvlab::lab01
