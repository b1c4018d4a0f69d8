// lab04: a VT-x root-mode VMM. Booted by a multiboot loader with the test guest as its first
// module, it enables VMX, builds a VMCS and EPT for the guest, loads it as a multiboot loader
// would, and runs it with VMLAUNCH/VMRESUME, handling each exit through the kit's
// Dispatcher. The guest's COM1 output reaches the real COM1; the trace goes to COM2; the
// guest's exit status becomes the monitor's.
//
// Kernel command line (all optional):
//   backend=vmx|svm   the hardware to use (default: VT-x if present, else AMD-V)
//   guest_mib=N       guest RAM in MiB (default 32)
//   trace=all|quiet|off  per-exit trace records: every exit / the first trace_cap of each
//                     exit reason, the guest's COM1 traffic left out (default) / summary only
//   trace_cap=N       records per exit reason in quiet mode (default 100)
//   max_exits=N       stop a guest that livelocks after N exits (default 20000000)
//   break=tr|ctls|host|link|cr0  deliberately break the VMCS, to see the entry-failure
//                     diagnostics (a guest TR that is not a busy TSS, a control the
//                     capability MSRs forbid, a null host TR, a bad link pointer, CR0.NE = 0)

#include "common/arch/cpuid.hpp"
#include "common/arch/intrinsics.hpp"
#include "common/arch/msr.hpp"
#include "common/arch/paging.hpp"
#include "common/boot/descriptor_tables.hpp"
#include "common/boot/kernel.hpp"
#include "common/memory/frame_allocator.hpp"
#include "common/runtime/string.hpp"
#include "common/vmm/guest_loader.hpp"
#include "lab04-vtx/kernel/monitor.hpp"
#include "lab04-vtx/kernel/vmx_hw.hpp"
#include "lab04-vtx/src/ept.hpp"
#include "lab04-vtx/src/handlers.hpp"

using namespace hvlab;
using namespace hvlab::lab04;
using namespace hvlab::vmm;

extern "C" char __kernel_start[];

namespace {

// ---- Output channels ---------------------------------------------------------------------

void to_com1(std::uint8_t b, void*) { com1().put(static_cast<char>(b)); }
void to_debugcon(std::uint8_t b, void*) { debugcon().put(static_cast<char>(b)); }

// Monitor messages go to the debug console and, as KTAP comments, to COM1, where a
// student looking at the guest's output sees them too.
class DiagnosticSink final : public FormatSink {
 public:
  void put(char c) override {
    if (at_start_) {
      for (const char* p = "# lab04: "; *p; ++p) com1().put(*p);
      at_start_ = false;
    }
    com1().put(c);
    debugcon().put(c);
    if (c == '\n') at_start_ = true;
  }

 private:
  bool at_start_ = true;
};

// ---- Memory ------------------------------------------------------------------------------

constexpr std::uint64_t kManagedFrames = (1ull << 30) / kPageSize;  // the first GiB
mem::FrameBitmapStorage<kManagedFrames> g_frame_bits;
mem::FrameAllocator g_frames;
mem::IdentityPhysicalMemory g_phys;

Status init_frames(const BootInfo& boot) {
  mem::MemoryRange map[BootInfo::kMaxRanges];
  for (unsigned i = 0; i < boot.range_count; ++i) {
    map[i].base = HostPhysAddr(boot.ranges[i].base);
    map[i].length = boot.ranges[i].length;
    map[i].type = static_cast<mem::MemoryType>(boot.ranges[i].type);
  }
  HV_TRY(g_frames.init(g_frame_bits.span(), std::span<const mem::MemoryRange>(map, boot.range_count)));
  // The first MiB (BIOS data, the loader's structures), the monitor and its modules.
  HV_TRY(g_frames.reserve(HostPhysAddr(0), 0x100000));
  HV_TRY(g_frames.reserve(HostPhysAddr(boot.kernel_start), boot.kernel_end - boot.kernel_start));
  for (unsigned i = 0; i < boot.module_count; ++i)
    HV_TRY(g_frames.reserve(HostPhysAddr(boot.modules[i].start), boot.modules[i].end - boot.modules[i].start));
  return {};
}

// VMXON requires CR0.PG = 1 (IA32_VMX_CR0_FIXED0 has PG), so the monitor pages itself: one
// page directory of 4 MiB pages mapping all 4 GiB to itself (SDM 4.3). Physical addresses
// stay usable as pointers.
// `alias_bytes` of host-physical memory from 0 are also mapped at kGuestAlias.
constexpr std::uint32_t kGuestAlias = 0x80000000u;

Status enable_identity_paging(std::uint64_t alias_bytes) {
  auto dir = g_frames.alloc();
  if (!dir.ok()) return dir.error();
  auto* pd = reinterpret_cast<std::uint32_t*>(static_cast<std::uintptr_t>(dir.value().value()));
  for (std::uint32_t i = 0; i < 1024; ++i) pd[i] = (i << 22) | x86::page::P | x86::page::RW | x86::page::PS;
  for (std::uint32_t i = 0; i < alias_bytes >> 22; ++i)
    pd[x86::pd_index32(kGuestAlias) + i] = (i << 22) | x86::page::P | x86::page::RW | x86::page::PS;
  x86::write_cr4(x86::read_cr4() | x86::cr4::PSE);
  x86::write_cr3(dir.value().low32());
  x86::write_cr0(x86::read_cr0() | x86::cr0::PG);
  return {};
}

// ---- Time --------------------------------------------------------------------------------

// The time-stamp counter's rate, measured against PIT counter 2 (whose gate and OUT sit in
// port 0x61): load 11932 ticks (10 ms) in mode 0 and count TSC ticks until OUT rises.
std::uint64_t calibrate_tsc_hz() {
  constexpr std::uint32_t kTicks = 11932;
  x86::outb(0x61, static_cast<std::uint8_t>((x86::inb(0x61) & ~0x02) | 0x01));
  x86::outb(0x43, 0xb0);  // counter 2, lobyte/hibyte, mode 0, binary
  x86::outb(0x42, kTicks & 0xff);
  std::uint64_t t0 = x86::rdtsc();
  x86::outb(0x42, kTicks >> 8);
  std::uint32_t spins = 0;
  while (!(x86::inb(0x61) & 0x20) && ++spins < 50'000'000) {}
  std::uint64_t t1 = x86::rdtsc();
  if (spins >= 50'000'000 || t1 <= t0) return 0;
  return (t1 - t0) * dev::Pit8254::kInputHz / kTicks;
}

// The real RTC's time, so the guest's clock starts where a bare machine's would.
std::uint64_t read_real_rtc() {
  auto reg = [](std::uint8_t r) {
    x86::outb(0x70, r);
    return x86::inb(0x71);
  };
  for (unsigned i = 0; i < 100000 && (reg(0x0a) & 0x80); ++i) {}  // wait out an update
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

// REP STOSD: one instruction for the whole range, which emulators run in bulk (the byte
// loop of rt::mem_set costs hundreds of millions of emulated instructions for 32 MiB).
void zero_fast(void* p, std::uint64_t bytes) {
  std::uint32_t dwords = static_cast<std::uint32_t>(bytes / 4);
  asm volatile("cld; rep stosl" : "+D"(p), "+c"(dwords) : "a"(0) : "memory");
}

unsigned option_number(const BootInfo& boot, const char* key, unsigned fallback) {
  char buf[24];
  if (!boot.cmdline_option(key, buf, sizeof buf)) return fallback;
  unsigned v = 0;
  bool any = false;
  for (const char* p = buf; *p >= '0' && *p <= '9'; ++p) {
    v = v * 10 + static_cast<unsigned>(*p - '0');
    any = true;
  }
  return any ? v : fallback;
}

}  // namespace

// The state kernel_main hands to a back end.
namespace hvlab::lab04 {

MonitorContext* g_context = nullptr;

}  // namespace hvlab::lab04

int kernel_main(const BootInfo& boot) {
  DiagnosticSink diag;
  dprintf("lab04: VMM starting, cmdline \"%s\"\n", boot.cmdline);
  if (boot.module_count < 1) {
    format_to(diag, "no guest: boot the monitor with the guest image as its first multiboot module\n");
    return exit_status::kFailure;
  }

  // Copy what the loader left in memory the monitor is about to hand out.
  static char guest_cmdline[2048];
  const char* mod_string = boot.modules[0].cmdline ? boot.modules[0].cmdline : "";
  rt::mem_copy(guest_cmdline, mod_string, rt::str_length_bounded(mod_string, sizeof guest_cmdline - 1));
  MonitorOptions opt;
  boot.cmdline_option("backend", opt.backend, sizeof opt.backend);
  boot.cmdline_option("break", opt.breakage, sizeof opt.breakage);
  char trace_mode[16] = "quiet";
  boot.cmdline_option("trace", trace_mode, sizeof trace_mode);
  opt.trace_all = rt::str_compare(trace_mode, "all") == 0;
  opt.trace_off = rt::str_compare(trace_mode, "off") == 0;
  opt.max_exits = option_number(boot, "max_exits", 20'000'000);
  opt.trace_cap = option_number(boot, "trace_cap", 100);
  const unsigned guest_mib = option_number(boot, "guest_mib", 32);

  const bool want_svm = rt::str_compare(opt.backend, "svm") == 0;
  const bool want_vmx = rt::str_compare(opt.backend, "vmx") == 0;
  const bool has_vmx = x86::read_cpuid(x86::cpuid::kFeatures).ecx & x86::cpuid::ECX_VMX;
  const bool use_vmx = !want_svm && (has_vmx || want_vmx);
  const std::uint64_t ram = std::uint64_t{guest_mib} << 20;

  if (!init_frames(boot).ok()) {
    format_to(diag, "cannot set up the frame allocator from the memory map\n");
    return exit_status::kFailure;
  }
  // AMD-V: nested paging has no effect for a 32-bit host under QEMU (see svm_monitor.cpp),
  // so guest-physical must equal host-physical: the guest gets host 0..guest_mib MiB, which
  // the monitor (linked at 48 MiB) keeps out of its own allocations.
  if (!use_vmx && (guest_mib < 4 || !g_frames.reserve(HostPhysAddr(0), ram).ok() ||
                   ram > reinterpret_cast<std::uintptr_t>(__kernel_start))) {
    format_to(diag, "cannot give the AMD-V guest host-physical 0-%u MiB\n", guest_mib);
    return exit_status::kFailure;
  }
  if (!enable_identity_paging(use_vmx ? 0 : ram).ok()) {
    format_to(diag, "cannot allocate the monitor's page directory\n");
    return exit_status::kFailure;
  }

  // Guest RAM: one contiguous, 2 MiB-aligned run of frames (so EPT can use 2 MiB pages),
  // guest-physical 0..guest_mib MiB. The monitor's own frames are never part of it.
  static FunctionSink console_out(to_com1, nullptr), debug_out(to_debugcon, nullptr);
  static Platform plat(&console_out, &debug_out);
  bind_platform(&plat);
  auto ram_hpa = use_vmx ? g_frames.alloc_contiguous(ram / kPageSize, x86::kPage2M) : Result<HostPhysAddr>(HostPhysAddr(0));
  if (!ram_hpa.ok() || guest_mib < 4) {
    format_to(diag, "cannot find %u MiB of contiguous RAM for the guest (try guest_mib=16)\n", guest_mib);
    return exit_status::kFailure;
  }
  // The monitor reaches guest RAM through its identity map, or, when it starts at host-physical
  // 0 (a null pointer), through an alias at kGuestAlias.
  void* ram_host = reinterpret_cast<void*>(
      static_cast<std::uintptr_t>(use_vmx ? ram_hpa.value().value() : kGuestAlias));
  zero_fast(ram_host, ram);
  (void)plat.memory().add_region(GuestPhysAddr(0), ram, ram_host, ram_hpa.value());
  plat.cmos().set_memory_size(ram);
  plat.cmos().set_time(read_real_rtc());

  // The guest image, as a multiboot loader would load it.
  char why[96] = "";
  const BootModule& m = boot.modules[0];
  auto image = load_elf32(plat.memory(), reinterpret_cast<const void*>(static_cast<std::uintptr_t>(m.start)),
                          m.end - m.start, kMultibootInfoBase, kMultibootInfoEnd, why, sizeof why);
  if (!image.ok()) {
    format_to(diag, "cannot load the guest image: %s\n", why);
    return exit_status::kFailure;
  }
  auto info = build_multiboot_info(plat.memory(), ram, guest_cmdline);
  if (!info.ok()) {
    format_to(diag, "cannot write the guest's multiboot information\n");
    return exit_status::kFailure;
  }
  dprintf("lab04: guest RAM %u MiB at host-physical %08x, image %08x-%08x, entry %08x, cmdline \"%s\"\n", guest_mib,
          ram_hpa.value().low32(), image.value().lowest, image.value().highest, image.value().entry, guest_cmdline);

  std::uint64_t hz = calibrate_tsc_hz();
  plat.set_tsc_hz(hz);
  dprintf("lab04: TSC %llu Hz\n", static_cast<unsigned long long>(plat.tsc_hz()));

  MonitorContext ctx{boot, plat, diag, g_frames, g_phys, opt, {}};
  ctx.start.eip = image.value().entry;
  ctx.start.eax = multiboot::kBootloaderMagic;
  ctx.start.ebx = info.value();
  g_context = &ctx;

  return use_vmx ? run_vmx(ctx) : run_svm(ctx);
}
