// lab04: a hardware-assisted VMM. Booted by a multiboot loader with the guest as its first
// module, it builds the guest's PC (the kit's Board), gives it RAM from its own frames, loads
// the guest as a multiboot loader would, writes the BIOS data area and MP tables, and runs it
// through the kit's one run loop with the VT-x back end (Bochs) or the AMD-V one (QEMU). The
// guest's COM1 output reaches the real COM1 and what is typed on the real COM1 reaches the
// guest's; the trace goes to COM2; the guest's exit status becomes the monitor's.
//
// Modules: the first is the guest (its module string is the guest's command line). A later
// module whose string has disk=N (0 the primary master, 1 the primary slave) is a disk image
// for the guest's ATA channel, read-only: the guest's writes go to a copy-on-write overlay
// as large as the image. With no disk, the primary slave is the kit's test disk
// (common/devices/test_disk.hpp), the one the runner gives the emulator itself. Any other
// module is the guest's own: copied above its image and listed in its multiboot information.
//
// Kernel command line (all optional), besides the kit's common options (common/vmm/options.hpp:
// events=, seconds=, output_kib=, guest_mib=, trace=all|quiet|off, trace_cap=):
//   backend=vmx|svm   the hardware to use (default: VT-x if present, else AMD-V)
//   break=tr|ctls|host|link|cr0|npt  deliberately break the VMCS (VT-x) or give the guest an
//                     empty nested page table (AMD-V), to see the diagnostics and containment

#include <new>
#include <span>

#include "common/arch/cpuid.hpp"
#include "common/arch/intrinsics.hpp"
#include "common/arch/paging.hpp"
#include "common/boot/console.hpp"
#include "common/boot/kernel.hpp"
#include "common/boot/legacy_pic.hpp"
#include "common/memory/frame_allocator.hpp"
#include "common/memory/page_table.hpp"
#include "common/memory/page_table_pae.hpp"
#include "common/devices/test_disk.hpp"
#include "common/runtime/string.hpp"
#include "common/vmm/guest_loader.hpp"
#include "common/vmm/machine.hpp"
#include "common/vmm/options.hpp"
#include "common/vmm/run.hpp"
#include "lab04-vtx/kernel/setup.hpp"
#include "lab04-vtx/src/handlers.hpp"

using namespace hvlab;
using namespace hvlab::lab04;

namespace {

// ---- Output channels ---------------------------------------------------------------------

class ByteOut final : public dev::ByteSink {
 public:
  explicit ByteOut(SerialPort& (*port)()) : port_(port) {}
  void put(std::uint8_t b) override { port_().put(static_cast<char>(b)); }

 private:
  SerialPort& (*port_)();
};

class DebugconOut final : public dev::ByteSink {
 public:
  void put(std::uint8_t b) override { debugcon().put(static_cast<char>(b)); }
};

// Monitor messages go to the debug console and, as KTAP comments, to COM1, where a student
// looking at the guest's output sees them too.
class DiagnosticSink final : public FormatSink {
 public:
  void put(char c) override {
    if (at_start_) {
      com1().put('#');
      com1().put(' ');
      at_start_ = false;
    }
    com1().put(c);
    debugcon().put(c);
    if (c == '\n') at_start_ = true;
  }

 private:
  bool at_start_ = true;
};

class TraceOut final : public FormatSink {
 public:
  void put(char c) override { com2().put(c); }
};

// What is typed on the real COM1 (the runner's console script, a student's keyboard).
class ConsoleIn final : public dev::ByteSource {
 public:
  bool get(std::uint8_t* b) override {
    const int c = com1().try_get();
    if (c < 0) return false;
    *b = static_cast<std::uint8_t>(c);
    return true;
  }
};

// ---- Memory ------------------------------------------------------------------------------

constexpr std::uint64_t kManagedFrames = (1ull << 30) / kPageSize;  // the first GiB
mem::FrameBitmapStorage<kManagedFrames> g_frame_bits;

Status init_frames(mem::FrameAllocator& frames, const BootInfo& boot) {
  mem::MemoryRange map[BootInfo::kMaxRanges];
  for (unsigned i = 0; i < boot.range_count; ++i) {
    map[i].base = HostPhysAddr(boot.ranges[i].base);
    map[i].length = boot.ranges[i].length;
    map[i].type = static_cast<mem::MemoryType>(boot.ranges[i].type);
  }
  HV_TRY(frames.init(g_frame_bits.span(), std::span<const mem::MemoryRange>(map, boot.range_count)));
  // The first MiB (BIOS data, the loader's structures), the monitor and its modules.
  HV_TRY(frames.reserve(HostPhysAddr(0), 0x100000));
  HV_TRY(frames.reserve(HostPhysAddr(boot.kernel_start), boot.kernel_end - boot.kernel_start));
  for (unsigned i = 0; i < boot.module_count; ++i)
    HV_TRY(frames.reserve(HostPhysAddr(boot.modules[i].start), boot.modules[i].end - boot.modules[i].start));
  return {};
}

// VMXON requires CR0.PG = 1 (IA32_VMX_CR0_FIXED0 has PG), so the monitor pages itself, all
// 4 GiB mapped to themselves so physical addresses stay usable as pointers: 32-bit paging
// with 4 MiB pages for VT-x (SDM 4.3), PAE paging with 2 MiB pages for AMD-V, whose nested
// table takes the host's format (svm.hpp says why that must be PAE). Built with the kit's
// page-table builders, like every table.
Status enable_identity_paging(mem::FrameAllocator& frames, mem::IdentityPhysicalMemory& phys, bool pae) {
  std::uint32_t cr3 = 0;
  if (pae) {
    auto pt = mem::HostPageTablePae::create(phys, frames);
    if (!pt.ok()) return pt.error();
    HV_TRY(pt.value().map_range(HostVirtAddr(0), HostPhysAddr(0), 1ull << 32, x86::page::RW, true));
    cr3 = pt.value().cr3();
    x86::write_cr4(x86::read_cr4() | x86::cr4::PAE);
  } else {
    mem::PagingControls ctl;
    ctl.pse = true;
    auto pt = mem::HostPageTable32::create(phys, frames, ctl);
    if (!pt.ok()) return pt.error();
    HV_TRY(pt.value().map_range(HostVirtAddr(0), HostPhysAddr(0), 1ull << 32, x86::page::RW, true));
    cr3 = pt.value().cr3();
    x86::write_cr4(x86::read_cr4() | x86::cr4::PSE);
  }
  x86::write_cr3(cr3);
  x86::write_cr0(x86::read_cr0() | x86::cr0::PG);
  return {};
}

// REP STOSD: one instruction for the whole range, which emulators run in bulk (the byte
// loop of rt::mem_set costs hundreds of millions of emulated instructions for 32 MiB).
void zero_fast(void* p, std::uint64_t bytes) {
  std::uint32_t dwords = static_cast<std::uint32_t>(bytes / 4);
  asm volatile("cld; rep stosl" : "+D"(p), "+c"(dwords) : "a"(0) : "memory");
}

// The real RTC's time, so the guest's clock starts where a bare machine's would.
std::uint64_t read_real_rtc() {
  auto reg = [](std::uint8_t r) {
    x86::outb(0x70, r);
    return x86::inb(0x71);
  };
  for (unsigned i = 0; i < 100000 && (reg(0x0a) & 0x80); ++i) {
  }  // wait out an update
  const bool bcd = !(reg(0x0b) & 0x04);
  auto val = [&](std::uint8_t r) {
    std::uint8_t v = reg(r);
    return bcd ? static_cast<unsigned>((v >> 4) * 10 + (v & 0xf)) : static_cast<unsigned>(v);
  };
  dev::RtcDateTime d;
  unsigned century = val(0x32);
  d.year = (century >= 19 && century <= 21 ? century : 20) * 100 + val(0x09);
  d.month = static_cast<std::uint8_t>(val(0x08));
  d.day = static_cast<std::uint8_t>(val(0x07));
  d.hour = static_cast<std::uint8_t>(val(0x04) & 0x7f);
  d.minute = static_cast<std::uint8_t>(val(0x02));
  d.second = static_cast<std::uint8_t>(val(0x00));
  auto t = dev::CmosRtc::from_date(d);
  return t.ok() ? t.value() : 0;
}

int refuse(FormatSink& diag, const char* why) {
  format_to(diag, "lab04: cannot start the guest: %s\n", why);
  return exit_status::kFailure;
}

// A disk image module on ATA slot `drive`, behind a copy-on-write overlay as large as the
// image (its frames from the monitor's), so the guest may rewrite every sector and the
// image itself is never written.
Status attach_disk_module(vmm::Board& board, mem::FrameAllocator& frames, const BootModule& m, unsigned drive) {
  static dev::MemoryImage* images[2];
  static dev::CowDisk* disks[2];
  alignas(dev::MemoryImage) static unsigned char image_store[2][sizeof(dev::MemoryImage)];
  alignas(dev::CowDisk) static unsigned char disk_store[2][sizeof(dev::CowDisk)];
  if (drive > 1 || disks[drive]) return Error::invalid_argument;
  const std::uint64_t bytes = m.end - m.start;
  if (bytes == 0) return Error::invalid_argument;
  const std::uint64_t sectors = (bytes + dev::kSectorSize - 1) / dev::kSectorSize;
  const std::uint64_t pool = sectors * dev::kSectorSize, index = sectors * sizeof(dev::CowDisk::IndexEntry);
  auto frames_for = [&](std::uint64_t n) { return frames.alloc_contiguous((n + kPageSize - 1) / kPageSize); };
  auto pool_hpa = frames_for(pool);
  auto index_hpa = frames_for(index);
  if (!pool_hpa.ok() || !index_hpa.ok()) return Error::out_of_memory;
  auto* pool_p = reinterpret_cast<std::uint8_t*>(static_cast<std::uintptr_t>(pool_hpa.value().value()));
  auto* index_p = reinterpret_cast<dev::CowDisk::IndexEntry*>(static_cast<std::uintptr_t>(index_hpa.value().value()));
  const auto* data = reinterpret_cast<const std::uint8_t*>(static_cast<std::uintptr_t>(m.start));
  images[drive] = new (image_store[drive]) dev::MemoryImage(std::span<const std::uint8_t>(data, bytes));
  disks[drive] = new (disk_store[drive]) dev::CowDisk(*images[drive], std::span<std::uint8_t>(pool_p, pool),
                                                      std::span<dev::CowDisk::IndexEntry>(index_p, sectors));
  return board.attach_disk(drive, disks[drive]);
}

}  // namespace

int kernel_main(const BootInfo& boot) {
  static DiagnosticSink diag;
  dprintf("lab04: VMM starting, cmdline \"%s\"\n", boot.cmdline);
  if (boot.module_count < 1) return refuse(diag, "no guest: boot the monitor with the guest image as its first module");

  // Copy what the loader left in memory the monitor is about to hand out (a loader may
  // keep the module strings in frames the allocator does not know are taken).
  static char guest_cmdline[2048];
  const char* mod_string = boot.modules[0].cmdline ? boot.modules[0].cmdline : "";
  rt::mem_copy(guest_cmdline, mod_string, rt::str_length_bounded(mod_string, sizeof guest_cmdline - 1));
  int disk_slot[BootInfo::kMaxModules];  // disk=N of each module, or -1
  static char module_strings[BootInfo::kMaxModules][256];
  for (unsigned i = 0; i < boot.module_count; ++i) {
    char slot[4];
    disk_slot[i] = -1;
    const char* str = boot.modules[i].cmdline ? boot.modules[i].cmdline : "";
    rt::mem_copy(module_strings[i], str, rt::str_length_bounded(str, sizeof module_strings[i] - 1));
    if (i > 0 && find_option(str, "disk", slot, sizeof slot))
      disk_slot[i] = slot[0] == '0' && !slot[1] ? 0 : slot[0] == '1' && !slot[1] ? 1 : 2;
  }

  // The kit's options; lab04's defaults first. The trace leaves through a serial port (about
  // 11 KB per emulated second on Bochs), so by default each kind of exit is recorded a few
  // times per guest test and the summary counts everything.
  vmm::MonitorOptions opt;
  opt.budgets.events = 20'000'000;
  opt.budgets.output_bytes = 64 * 1024;
  opt.run.trace_cap = 4;
  char why[96] = "";
  if (!vmm::parse_monitor_options(boot.cmdline, opt, why, sizeof why)) return refuse(diag, why);
  KernelOptions kopt;
  boot.cmdline_option("backend", kopt.backend, sizeof kopt.backend);
  boot.cmdline_option("break", kopt.breakage, sizeof kopt.breakage);

  const bool want_svm = rt::str_compare(kopt.backend, "svm") == 0;
  const bool want_vmx = rt::str_compare(kopt.backend, "vmx") == 0;
  const bool has_vmx = x86::read_cpuid(x86::cpuid::kFeatures).ecx & x86::cpuid::ECX_VMX;
  const bool use_vmx = !want_svm && (has_vmx || want_vmx);
  const std::uint64_t ram = std::uint64_t{opt.guest_mib} << 20;

  static mem::FrameAllocator frames;
  static mem::IdentityPhysicalMemory phys;
  if (!init_frames(frames, boot).ok()) return refuse(diag, "the memory map is unusable");
  if (!enable_identity_paging(frames, phys, !use_vmx).ok()) return refuse(diag, "no memory for the monitor's page tables");

  // Guest RAM: one contiguous, 2 MiB-aligned run of host frames (so EPT can use 2 MiB pages),
  // guest-physical 0..guest_mib MiB. The monitor's own frames are never part of it.
  static ByteOut console_out(com1);
  static DebugconOut debug_out;
  static vmm::Board board(&console_out, &debug_out);
  if (!board.wiring().ok()) return refuse(diag, "a device of the virtual PC did not find its ports");
  auto ram_hpa = frames.alloc_contiguous(ram / kPageSize, x86::kPage2M);
  if (!ram_hpa.ok()) {
    char msg[96];
    format(msg, sizeof msg, "no %u MiB of contiguous RAM for the guest (try a smaller guest_mib=)", opt.guest_mib);
    return refuse(diag, msg);
  }
  void* ram_host = reinterpret_cast<void*>(static_cast<std::uintptr_t>(ram_hpa.value().value()));
  zero_fast(ram_host, ram);
  if (!board.add_ram(ram, ram_host, ram_hpa.value()).ok()) return refuse(diag, "cannot add the guest's RAM");
  board.cmos().set_time(read_real_rtc());
  vmm::apply(opt, board);
  static ConsoleIn console_in;
  board.set_console_input(&console_in);

  // Disk images for the ATA channel; without one, the kit's test disk on the primary slave.
  bool have_disk = false;
  for (unsigned i = 1; i < boot.module_count; ++i) {
    if (disk_slot[i] < 0) continue;
    if (disk_slot[i] > 1 || !attach_disk_module(board, frames, boot.modules[i], static_cast<unsigned>(disk_slot[i])).ok()) {
      char msg[96];
      format(msg, sizeof msg, "module %u: disk= names no free ATA slot (0 or 1), or no memory for its overlay", i);
      return refuse(diag, msg);
    }
    dprintf("lab04: disk image of %u bytes on ATA slot %d (copy-on-write)\n", boot.modules[i].end - boot.modules[i].start,
            disk_slot[i]);
    have_disk = true;
  }
  static dev::TestDisk test_disk;
  static dev::CowStorage<dev::kTestDiskSectors> test_overlay;
  static dev::CowDisk test_cow(test_disk, test_overlay.pool, test_overlay.index);
  if (!have_disk && !board.attach_disk(1, &test_cow).ok()) return refuse(diag, "cannot attach the test disk");

  // The guest image, as a multiboot loader would load it.
  const BootModule& m = boot.modules[0];
  auto image = vmm::load_elf32(board.memory(), reinterpret_cast<const void*>(static_cast<std::uintptr_t>(m.start)),
                               m.end - m.start, vmm::kMultibootInfoBase, vmm::kMultibootInfoEnd, why, sizeof why);
  if (!image.ok()) {
    format_to(diag, "lab04: cannot load the guest image: %s\n", why);
    return exit_status::kFailure;
  }
  // The other modules are the guest's own, passed on as a multiboot loader would.
  vmm::GuestModule guest_modules[vmm::kMaxGuestModules];
  unsigned guest_module_count = 0;
  for (unsigned i = 1; i < boot.module_count; ++i) {
    if (disk_slot[i] >= 0) continue;
    if (guest_module_count == vmm::kMaxGuestModules) return refuse(diag, "more than 8 modules for the guest");
    guest_modules[guest_module_count++] = {reinterpret_cast<const void*>(static_cast<std::uintptr_t>(boot.modules[i].start)),
                                           boot.modules[i].end - boot.modules[i].start, module_strings[i]};
  }
  auto info = vmm::build_multiboot_info(board.memory(), ram, guest_cmdline,
                                        std::span<const vmm::GuestModule>(guest_modules, guest_module_count),
                                        image.value().highest);
  if (!info.ok()) return refuse(diag, "cannot write the guest's multiboot information (or its modules do not fit)");
  // What a PC BIOS leaves in low memory: the BIOS data area and the MP tables (xv6 finds its
  // APICs there), with the processor's signature and features in the MP processor entry.
  const x86::CpuidResult id = x86::read_cpuid(x86::cpuid::kFeatures);
  if (!board.write_bios_tables(id.eax, id.edx).ok()) return refuse(diag, "cannot write the BIOS data area and MP tables");
  dprintf("lab04: guest RAM %u MiB at host-physical %08x, image %08x-%08x, entry %08x, cmdline \"%s\"\n",
          opt.guest_mib, ram_hpa.value().low32(), image.value().lowest, image.value().highest, image.value().entry,
          guest_cmdline);

  board.set_tsc_hz(pit::measure_tsc_hz());
  dprintf("lab04: TSC %llu Hz\n", static_cast<unsigned long long>(board.tsc_hz()));

  GuestEntry entry{image.value().entry, multiboot::kBootloaderMagic, info.value()};
  static TraceOut trace_out;
  static vmm::TraceWriter trace(trace_out);
  static vmm::Dispatcher dispatcher;
  install_handlers(dispatcher);
  vmm::VCpu initial;
  vmm::Backend* backend = use_vmx ? start_vmx(board, frames, phys, entry, kopt, diag, trace, initial)
                                  : start_svm(board, frames, phys, entry, kopt, diag, initial);
  if (!backend) return exit_status::kFailure;
  static vmm::Machine machine("lab04", board, *backend, dispatcher, trace, diag);
  machine.vcpu() = initial;
  trace.note("start", guest_cmdline);
  const int status = vmm::run(machine, opt.run);
  pic::mask(0);  // the AMD-V back end's host timer
  return status;
}
