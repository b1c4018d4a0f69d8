// lab01's monitor kernel: runs the guest kernel from the first multiboot module deprivileged
// (its kernel at ring 1, its user code at ring 3) through the kit's one run loop (vmm::run)
// with the trap back end (src/trap_backend.hpp) and lab01's handlers (src/handlers.hpp).
// See labs/lab01.md for the design.
//
// Command line: the options of every monitor of the kit (common/vmm/options.hpp): events=N,
// seconds=N, spin_seconds=N, output_kib=N, guest_mib=N, trace=all|quiet|off, trace_cap=N,
// clock=host, debugger=on.

#include "common/arch/intrinsics.hpp"
#include "common/boot/console.hpp"
#include "common/boot/kernel.hpp"
#include "common/boot/legacy_pic.hpp"
#include "common/devices/bus.hpp"
#include "common/memory/frame_allocator.hpp"
#include "common/memory/physical_memory.hpp"
#include "common/runtime/format.hpp"
#include "common/vmm/board.hpp"
#include "common/vmm/guest_loader.hpp"
#include "common/vmm/machine.hpp"
#include "common/vmm/debug.hpp"
#include "common/vmm/options.hpp"
#include "common/vmm/run.hpp"
#include "common/vmm/trace.hpp"
#include "lab01-trap-and-emulate/kernel/hardware.hpp"
#include "lab01-trap-and-emulate/src/address_space.hpp"
#include "lab01-trap-and-emulate/src/handlers.hpp"
#include "lab01-trap-and-emulate/src/trap_backend.hpp"

using namespace hvlab;
using namespace hvlab::lab01;

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

[[noreturn]] void refuse(const char* why) {
  dprintf("lab01: cannot start the guest: %s\n", why);
  kprintf("lab01: cannot start the guest: %s\n", why);
  machine_exit(exit_status::kFailure);
}

}  // namespace

int kernel_main(const BootInfo& boot) {
  dprintf("lab01: trap-and-emulate monitor\n");
  vmm::MonitorOptions opt;
  opt.budgets.events = 1'000'000;
  // The trace crawls out of a serial port (on Bochs about 15 ms of its time per record):
  // the first two events of each kind per guest test show what each test did.
  opt.run.trace_cap = 2;
  char why[128] = "";
  if (!vmm::parse_monitor_options(boot.cmdline, opt, why, sizeof why)) refuse(why);
  if (boot.module_count == 0) refuse("no guest: pass the guest kernel as the first multiboot module");
  const BootModule& mod = boot.modules[0];
  if (mod.end <= mod.start) refuse("the guest module is empty");
  // The module's string ("path args...", the guest's command line) lives wherever the boot
  // loader left it, in memory the frame allocator may hand out: keep a copy first.
  static char guest_cmdline[256];
  format(guest_cmdline, sizeof guest_cmdline, "%s", mod.cmdline ? mod.cmdline : "");

  // Host frames below the monitor's reach; everything the boot loader and the monitor use
  // is reserved.
  static mem::FrameBitmapStorage<(kHostReach >> 12)> frame_bits;
  static mem::FrameAllocator frames;
  static mem::MemoryRange ranges[BootInfo::kMaxRanges];
  std::uint64_t ram_top = 0;
  for (unsigned i = 0; i < boot.range_count; ++i) {
    ranges[i] = {HostPhysAddr(boot.ranges[i].base), boot.ranges[i].length,
                 static_cast<mem::MemoryType>(boot.ranges[i].type)};
    if (boot.ranges[i].type == 1 && boot.ranges[i].base + boot.ranges[i].length > ram_top)
      ram_top = boot.ranges[i].base + boot.ranges[i].length;
  }
  if (!frames.init(frame_bits.span(), {ranges, boot.range_count})) refuse("no usable memory map");
  (void)frames.reserve(HostPhysAddr(0), 0x100000);
  (void)frames.reserve(HostPhysAddr(boot.kernel_start), boot.kernel_end - boot.kernel_start);
  for (unsigned i = 0; i < boot.module_count; ++i)
    (void)frames.reserve(HostPhysAddr(boot.modules[i].start), boot.modules[i].end - boot.modules[i].start);

  // The guest's RAM: one run of host frames, 4 MiB aligned so unpaged guests get big pages.
  std::uint64_t mib = opt.guest_mib;
  Result<HostPhysAddr> ram = Error::out_of_memory;
  for (; mib >= 8; mib /= 2) {
    ram = frames.alloc_contiguous((mib << 20) / kPageSize, x86::kPage4M);
    if (ram.ok()) break;
  }
  if (!ram.ok()) refuse("not enough host memory for the guest (8 MiB at least)");
  auto directory = frames.alloc();
  auto pool = frames.alloc_contiguous(kPoolFrames);
  if (!directory.ok() || !pool.ok()) refuse("not enough host memory for shadow page tables");
  static mem::IdentityPhysicalMemory host(kHostReach);
  if (!host.zero_frame(directory.value()).ok()) refuse("the guest's page directory is out of reach");

  // The guest's PC.
  static FastSerial com1_out(kCom1), com2_out(kCom2);
  static DebugPort debug_out;
  static vmm::Board board(&com1_out, &debug_out);
  if (!board.wiring().ok()) refuse("the board's devices could not all be wired to their ports");
  vmm::apply(opt, board);
  const std::uint64_t guest_bytes = mib << 20;
  if (!board.add_ram(guest_bytes, reinterpret_cast<void*>(ram.value().low32()), ram.value()).ok())
    refuse("the guest's RAM could not be added to its board");
  (void)board.memory().fill(GuestPhysAddr(0), 0, guest_bytes);
  board.cmos().set_time(1735689600);  // 2025-01-01 00:00:00 UTC: fixed, so runs repeat

  // The guest image and its boot information. The module string is "path args...": the
  // guest gets all of it as its command line, as from a boot loader.
  auto image = vmm::load_elf32(board.memory(), reinterpret_cast<const void*>(mod.start), mod.end - mod.start,
                               vmm::kMultibootInfoBase, vmm::kMultibootInfoEnd, why, sizeof why);
  if (!image.ok()) {
    char msg[160];
    format(msg, sizeof msg, "module rejected: %s", why);
    refuse(msg);
  }
  const vmm::LoadedImage& loaded = image.value();
  auto info = vmm::build_multiboot_info(board.memory(), guest_bytes, guest_cmdline);
  if (!info.ok()) refuse("could not write the multiboot information");
  dprintf("lab01: guest '%s': entry %08x, image %08x-%08x, %u MiB at host %08x\n", guest_cmdline, loaded.entry,
          loaded.lowest, loaded.highest, static_cast<unsigned>(mib), ram.value().low32());

  // The back end, its hardware side, and the machine the handlers act on.
  board.set_tsc_hz(pit::measure_tsc_hz());
  static KernelTrapHardware hw;
  static TrapBackend backend(board, {&hw, &host, directory.value(), pool.value(), kPoolFrames});
  vmm::debug_note_second_level(vmm::SecondLevel::shadow32, directory.value().value());
  if (!hw.install(backend.tables(), ram_top, frames, directory.value(), opt.debugger).ok())
    refuse("the monitor's address spaces could not be built");
  static vmm::Dispatcher dispatcher;
  install_handlers(dispatcher);
  static vmm::TraceWriter trace(com2_out);
  static vmm::Machine m("lab01", board, backend, dispatcher, trace, debugcon());
  dprintf("lab01: TSC %llu kHz\n", static_cast<unsigned long long>(board.tsc_hz() / 1000));

  // Multiboot 0.6.96, 3.2: the machine state at entry.
  vmm::VCpu& v = m.vcpu();
  v.eip = loaded.entry;
  v.regs.eax = 0x2BADB002;
  v.regs.ebx = info.value();
  v.regs.esp = 0x7c00;
  v.cs = 0x08;
  v.ss = v.ds = v.es = v.fs = v.gs = 0x10;
  v.cpl = 0;
  v.eflags = x86::eflags::FIXED1;

  pic::unmask(0);
  trace.note("start", guest_cmdline);
  opt.run.decoder = &backend.decoder();
  return vmm::run(m, opt.run);
}
