// hvlab-kvm: the hosted (type 2) VMM. An ordinary Linux program: it opens /dev/kvm, creates
// a VM with RAM from its own memory, loads a multiboot kernel into it as a boot loader
// would, and runs it through the kit's one run loop with the KVM back end. The guest's
// COM1 is this program's standard output (or a file), its keyboard the terminal; the
// monitor's event trace goes to a file; port 0xE9 and the monitor's messages to standard
// error. The same Board, device models and handlers as the bare-metal monitors serve its
// exits.
//
//   hvlab-kvm [options] [KEY=VALUE ...] GUEST.elf [GUEST ARGS ...]
//
// KEY=VALUE are the kit's monitor options (common/vmm/options.hpp: events=, seconds=,
// output_kib=, guest_mib=, trace=all|quiet|off, trace_cap=, spin_seconds=) and
// irqchip=user|kernel (where the PIC and PIT live), idle=skip|wait (whether a halted guest's
// clock jumps to its next timer interrupt, or waits for it in real time as an interactive
// session needs). Exit status: the guest's own (port
// 0xf4), 1 when the VMM stopped a misbehaving guest, 3 when it could not go on, 2 for bad
// usage, 77 when this machine has no usable /dev/kvm.

#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <atomic>
#include <csignal>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "common/boot/multiboot.hpp"
#include "common/vmm/guest_loader.hpp"
#include "common/vmm/host_kvm.hpp"
#include "common/vmm/machine.hpp"
#include "common/vmm/options.hpp"
#include "common/vmm/run.hpp"
#include "lab05-type1-vs-type2/src/console.hpp"
#include "lab05-type1-vs-type2/src/cpuid.hpp"
#include "lab05-type1-vs-type2/src/entry_state.hpp"
#include "lab05-type1-vs-type2/src/gdb_stub.hpp"
#include "lab05-type1-vs-type2/src/handlers.hpp"
#include "lab05-type1-vs-type2/src/host_timer.hpp"
#include "lab05-type1-vs-type2/src/irqchip.hpp"
#include "lab05-type1-vs-type2/src/kvm_backend.hpp"
#include "lab05-type1-vs-type2/src/vm.hpp"

using namespace hvlab;
using namespace hvlab::lab05;

namespace {

constexpr const char* kName = "hvlab-kvm";
constexpr int kStatusUsage = 2, kStatusNoKvm = 77;

// The words every monitor option may start with (common/vmm/options.hpp), and lab05's own.
bool is_monitor_option(const std::string& w) {
  static const char* const keys[] = {"events", "budget", "max_exits", "seconds", "spin_seconds", "output_kib",
                                     "guest_mib", "trace", "trace_cap", "clock", "irqchip", "idle"};
  const auto eq = w.find('=');
  if (eq == std::string::npos) return false;
  for (const char* k : keys)
    if (w.compare(0, eq, k) == 0 && std::strlen(k) == eq) return true;
  return false;
}

bool looks_like_option(const std::string& w) {
  const auto eq = w.find('=');
  if (eq == std::string::npos || eq == 0) return false;
  for (std::size_t i = 0; i < eq; ++i)
    if (!(std::islower(static_cast<unsigned char>(w[i])) || w[i] == '_')) return false;
  return true;
}

int usage_error(const std::string& what) {
  fmt::print(stderr, "{}: {} (see {} --help)\n", kName, what, kName);
  return kStatusUsage;
}

// Everything the entry hook needs: the files to flush, the keyboard to feed.
struct Host {
  OutFile* com1;
  OutFile* debugcon;
  OutFile* trace;
  ConsoleInput* input;
  vmm::Board* board;
  KvmBackend* backend;
  FormatSink* diag;
  bool stop_noted = false;
  std::uint64_t last_flush = 0;
};

void before_entry(void* p) {
  auto* h = static_cast<Host*>(p);
  h->input->feed(h->board->com1());
  // Output is written in runs, not a system call per byte (each costs about as much as an
  // exit): at most 10 ms late, and the timer makes sure the vCPU comes back by then even if
  // the guest sleeps in KVM_RUN.
  const std::uint64_t now = h->backend->now(), late = h->board->tsc_hz() / 100;
  if (h->com1->pending() || h->debugcon->pending()) {
    if (now - h->last_flush >= late || h->com1->size() > 4096) {
      h->com1->flush();
      h->debugcon->flush();
      h->last_flush = now;
    } else {
      h->backend->wake_within(late);
    }
  } else {
    h->last_flush = now;
  }
  if (h->trace->size() > 16384) h->trace->flush();
  if (h->input->stop_requested() && !h->stop_noted) {
    h->stop_noted = true;
    format_to(*h->diag, "%s: %s\n", kName,
              h->input->chat_done() ? "the console script reached its end: stopping the guest"
                                    : "stopped from the terminal (Ctrl-A x)");
    h->board->note_exit_request(0);
    h->backend->vm().run()->immediate_exit = 1;  // no need to enter the guest again
  }
}

}  // namespace

int run_vmm(int argc, char** argv) {
  // Nothing to leave behind if something aborts: no core file in the grader's folder.
  rlimit no_core{0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  std::signal(SIGPIPE, SIG_IGN);

  CLI::App app{"The hosted (type 2) VMM: runs a multiboot guest kernel under Linux's KVM, through the kit's "
               "monitor core and device models.\n\n"
               "  hvlab-kvm [options] [KEY=VALUE ...] GUEST.elf [GUEST ARGS ...]\n\n"
               "KEY=VALUE: the kit's monitor options (events=N seconds=N output_kib=N guest_mib=N "
               "trace=all|quiet|off trace_cap=N spin_seconds=N), irqchip=user|kernel and idle=skip|wait."};
  app.name(kName);
  std::string com1_path = "-", com2_path, debug_path;
  unsigned gdb_port = 0;
  std::vector<std::string> chat;
  std::string stop_after;
  bool no_input = false, probe = false;
  std::vector<std::string> words;
  app.add_option("--com1", com1_path, "Where the guest's COM1 goes (- for standard output)")->capture_default_str();
  app.add_option("--com2,--trace", com2_path, "Where the event trace (the monitor's COM2 channel) goes");
  app.add_option("--debugcon", debug_path, "Where port 0xE9 and the monitor's messages go (default: standard error)");
  app.add_option("--gdb", gdb_port, "Wait for GDB on 127.0.0.1:PORT before the guest's first instruction")
      ->check(CLI::Range(1, 65535));
  app.add_option("--chat", chat, "PROMPT TEXT: type TEXT on COM1 once PROMPT has appeared (repeatable, in order); "
                                 "\\n in TEXT is a newline")
      ->expected(2)
      ->take_all();
  app.add_option("--stop-after", stop_after, "Stop the guest (status 0) once this appears after the last --chat");
  app.add_flag("--no-input", no_input, "Do not read the terminal");
  app.add_flag("--probe", probe,
               "Only check that this machine's KVM can run the kit's guests: status 0 if it can, 77 (with the "
               "reason) if not");
  app.add_option("words", words, "KEY=VALUE options, the guest image, the guest's command line");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return usage_error(e.what());
  }
  if (probe) {
    const char* probe_device = std::getenv("HVLAB_KVM_DEVICE");
    const std::string why_not = vmm::kvm_unavailable_reason(probe_device ? probe_device : "/dev/kvm");
    if (why_not.empty()) return 0;
    fmt::print(stderr, "{}: {}\n", kName, why_not);
    return kStatusNoKvm;
  }
  if (words.empty()) return usage_error("no guest image given");

  // KEY=VALUE words, then the image, then the guest's own words.
  std::string monitor_cmdline, image_path, guest_cmdline;
  std::size_t i = 0;
  for (; i < words.size() && looks_like_option(words[i]); ++i) {
    if (!is_monitor_option(words[i])) return usage_error("unknown option '" + words[i] + "'");
    monitor_cmdline += (monitor_cmdline.empty() ? "" : " ") + words[i];
  }
  if (i == words.size()) return usage_error("no guest image given");
  image_path = words[i++];
  for (; i < words.size(); ++i) guest_cmdline += (guest_cmdline.empty() ? "" : " ") + words[i];

  vmm::MonitorOptions opt;
  opt.budgets.events = 20'000'000;
  // A hosted guest's clocks include the VMM's time: KVM runs the guest's TSC against the
  // host's, and hiding each exit's cost would take a system call per exit (see
  // KvmBackend::sync_tsc). Idle periods are still skipped.
  opt.hide_monitor_time = false;
  char why[128] = "";
  if (!vmm::parse_monitor_options(monitor_cmdline.c_str(), opt, why, sizeof why)) return usage_error(why);
  Irqchip irqchip = Irqchip::user;
  bool idle_wait = false;
  {
    char word[16];
    if (find_option(monitor_cmdline.c_str(), "irqchip", word, sizeof word) && !parse_irqchip(word, &irqchip))
      return usage_error(fmt::format("irqchip={} is not one of user, kernel", word));
    if (find_option(monitor_cmdline.c_str(), "idle", word, sizeof word)) {
      if (std::strcmp(word, "wait") != 0 && std::strcmp(word, "skip") != 0)
        return usage_error(fmt::format("idle={} is not one of skip, wait", word));
      idle_wait = std::strcmp(word, "wait") == 0;
    }
  }
  std::vector<ChatStep> steps;
  for (std::size_t k = 0; k + 1 < chat.size(); k += 2) {
    std::string text;
    for (std::size_t c = 0; c < chat[k + 1].size(); ++c) {
      if (chat[k + 1][c] == '\\' && c + 1 < chat[k + 1].size() && chat[k + 1][c + 1] == 'n') {
        text += '\n';
        ++c;
      } else {
        text += chat[k + 1][c];
      }
    }
    steps.push_back({chat[k], text});
  }

  // The output files.
  OutFile com1, trace_out, debugcon;
  if (!com1.open_path(com1_path)) return usage_error(fmt::format("cannot write {}: {}", com1_path, std::strerror(errno)));
  if (com2_path.empty()) trace_out.open_fd(-1, false);
  else if (!trace_out.open_path(com2_path))
    return usage_error(fmt::format("cannot write {}: {}", com2_path, std::strerror(errno)));
  if (debug_path.empty()) debugcon.open_fd(STDERR_FILENO, false);
  else if (!debugcon.open_path(debug_path))
    return usage_error(fmt::format("cannot write {}: {}", debug_path, std::strerror(errno)));
  FormatSink& diag = debugcon;
  auto refuse = [&](const std::string& what, int status) {
    format_to(diag, "%s: %s\n", kName, what.c_str());
    format_to(diag, "hvlab-exit: %d\n", status);
    debugcon.flush();
    com1.flush();
    trace_out.flush();
    return status;
  };

  // The guest image.
  std::ifstream in(image_path, std::ios::binary);
  if (!in) return usage_error(fmt::format("cannot read the guest image {}: {}", image_path, std::strerror(errno)));
  const std::string image((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

  // KVM itself. Without it this machine cannot run a hosted VMM at all: say so in one line,
  // with the status that means "skipped".
  LinuxKvm sys;
  // HVLAB_KVM_DEVICE names another device file (the tests use it for a machine without KVM).
  const char* device = std::getenv("HVLAB_KVM_DEVICE") ? std::getenv("HVLAB_KVM_DEVICE") : "/dev/kvm";
  const int kvm_fd = sys.open_device(device);
  if (kvm_fd < 0) {
    fmt::print(stderr, "{}: cannot use KVM: {}: {} (this machine cannot run a hosted VMM: skipped)\n", kName, device,
               errno_text(kvm_fd));
    return kStatusNoKvm;
  }

  // A KVM that cannot run 32-bit paging runs the guest until it turns paging on, where the
  // guest gets a #GP it did not cause: say so first.
  const std::string limitation = vmm::kvm_unavailable_reason();
  if (!limitation.empty()) format_to(diag, "%s: warning: %s\n", kName, limitation.c_str());

  ConsoleInput input;
  GuestConsole console(com1, input);
  vmm::Board b(&console, &debugcon);
  if (!b.wiring().ok()) return refuse("a device of the virtual PC did not find its ports", 3);
  vmm::apply(opt, b);
  b.set_idle_wait(idle_wait);
  vmm::TraceWriter trace(trace_out);

  // lab05-e1: the VM and its RAM.
  const std::uint64_t ram = std::uint64_t{opt.guest_mib} << 20;
  Vm vm(sys);
  std::string problem;
  if (!vm.create(kvm_fd, ram, &problem).ok()) return refuse("cannot create the VM: " + problem, 3);
  if (sys.ioctl(vm.vm_fd(), KVM_CHECK_EXTENSION, static_cast<unsigned long>(KVM_CAP_USER_MEMORY)) <= 0)
    return refuse("the VM does not answer KVM_CHECK_EXTENSION: was it created?", 3);
  if (!b.add_ram(ram, vm.ram()).ok()) return refuse("cannot give the Board the guest's RAM", 3);
  trace.note("vm", fmt::format("KVM API {}: a VM with {} MiB of RAM at guest-physical 0 (memory slot 0), irqchip={}",
                               kKvmApiVersion, opt.guest_mib, irqchip_name(irqchip))
                       .c_str());

  // lab05-e6: the interrupt controllers and timer in the host kernel, if asked for.
  KernelIrqLines irq_lines(vm);
  if (irqchip == Irqchip::kernel) {
    if (!create_kernel_irqchip(vm, &problem).ok()) return refuse("cannot create the in-kernel irqchip: " + problem, 3);
    if (!b.hand_interrupts_to(irq_lines).ok()) return refuse("cannot take the PIC and PIT off the Board", 3);
  }
  if (!vm.create_vcpu(&problem).ok()) return refuse("cannot create the vCPU: " + problem, 3);
  if (!set_cpuid(vm, irqchip == Irqchip::kernel, &problem)) return refuse(problem, 3);

  // The guest, as a multiboot loader would load it.
  auto loaded = vmm::load_elf32(b.memory(), image.data(), image.size(), vmm::kMultibootInfoBase,
                                vmm::kMultibootInfoEnd, why, sizeof why);
  if (!loaded.ok()) return refuse(fmt::format("cannot load the guest image {}: {}", image_path, why), 3);
  const std::string mb_cmdline = "boot/" + image_path.substr(image_path.rfind('/') + 1) + " " + guest_cmdline;
  auto info = vmm::build_multiboot_info(b.memory(), ram, mb_cmdline.c_str());
  if (!info.ok()) return refuse("cannot write the guest's multiboot information", 3);

  // lab05-e2: the vCPU as multiboot leaves it.
  const MultibootEntry entry{loaded.value().entry, multiboot::kBootloaderMagic, info.value()};
  kvm_regs regs{};
  kvm_sregs sregs{};
  if (sys.ioctl(vm.vcpu_fd(), KVM_GET_SREGS, &sregs) < 0) return refuse("cannot read the vCPU's registers", 3);
  multiboot_entry_state(entry, &regs, &sregs);
  long rc = sys.ioctl(vm.vcpu_fd(), KVM_SET_SREGS, &sregs);
  if (rc >= 0) rc = sys.ioctl(vm.vcpu_fd(), KVM_SET_REGS, &regs);
  if (rc < 0) return refuse("KVM refused the entry state: " + errno_text(rc), 3);
  kvm_regs regs_back{};
  kvm_sregs sregs_back{};
  sys.ioctl(vm.vcpu_fd(), KVM_GET_REGS, &regs_back);
  sys.ioctl(vm.vcpu_fd(), KVM_GET_SREGS, &sregs_back);
  const std::string broken = check_multiboot_state(entry, regs_back, sregs_back);
  if (broken.empty()) {
    trace.note("entry", describe_entry_state(regs_back, sregs_back).c_str());
  } else {
    trace.note("entry_problem", broken.c_str());
    format_to(diag, "%s: warning: the vCPU does not start as multiboot promises: %s\n", kName, broken.c_str());
  }

  // The back end and the machine.
  SignalKick kick;
  if (!kick.install(vm.run(), &problem)) return refuse("cannot set up the host timer: " + problem, 3);
  KvmBackend backend(b, vm, kick);
  vmm::Dispatcher dispatcher;
  install_handlers(dispatcher);
  vmm::Machine machine("hvlab-kvm", b, backend, dispatcher, trace, diag);
  if (!backend.start(machine.vcpu(), &problem)) return refuse(problem, 3);
  backend.set_trace(&trace);
  const vmm::VCpu entry_vcpu = machine.vcpu();
  Host host{&com1, &debugcon, &trace_out, &input, &b, &backend, &diag};
  backend.set_entry_hook(before_entry, &host);
  input.set_chat(std::move(steps), stop_after);

  // GDB, if asked for: it gets the guest before its first instruction.
  std::unique_ptr<TcpGdbChannel> gdb_channel;
  std::unique_ptr<KvmGdbTarget> gdb_target;
  std::unique_ptr<GdbStub> gdb;
  std::thread gdb_watch;
  std::atomic<bool> done{false};
  if (gdb_port) {
    format_to(diag, "%s: waiting for GDB on 127.0.0.1:%u (target remote 127.0.0.1:%u)\n", kName, gdb_port, gdb_port);
    debugcon.flush();
    gdb_channel = std::make_unique<TcpGdbChannel>();
    if (!gdb_channel->accept_on(gdb_port, &problem)) return refuse(problem, 3);
    gdb_target = std::make_unique<KvmGdbTarget>(backend, machine.vcpu());
    gdb = std::make_unique<GdbStub>(*gdb_target, *gdb_channel);
    backend.set_debugger(gdb.get());
    if (gdb->attach() == GdbStub::Resume::kill) return refuse("killed from GDB before the guest started", 3);
    // GDB's interrupt (a 0x03 byte) while the guest runs: kick the vCPU to the stub.
    gdb_watch = std::thread([&] {
      sigset_t all;
      sigfillset(&all);
      pthread_sigmask(SIG_BLOCK, &all, nullptr);
      while (!done.load()) {
        pollfd p{gdb_channel->fd(), POLLIN, 0};
        if (gdb->running() && ::poll(&p, 1, 50) > 0 && gdb->running()) {
          gdb->request_interrupt();
          kick.kick();
          usleep(20000);
        } else {
          usleep(20000);
        }
      }
    });
  }
  if (!no_input && !gdb_port) input.start_terminal([&kick] { kick.kick(); });

  if (!limitation.empty()) trace.note("kvm_limitation", limitation.c_str());
  trace.note("start", mb_cmdline.c_str());
  const int status = vmm::run(machine, opt.run);
  done = true;
  if (gdb_watch.joinable()) gdb_watch.join();
  input.restore_terminal();
  com1.flush();
  trace_out.flush();
  debugcon.flush();
  // The closing record: the entry registers as the GDB stub's 'g' packet shows them (the
  // rubric checks the stub's register encoding with it).
  trace.note("gdb_registers", encode_registers(entry_vcpu).c_str());
  trace_out.flush();
  format_to(diag, "hvlab-exit: %d\n", status);
  debugcon.flush();
  return status;
}

int main(int argc, char** argv) {
  // A handout's unfinished exercise throws (common/runtime/exercise.hpp). The output files
  // are flushed as the stack unwinds, so what the guest printed before it is kept; the
  // message names the exercise, where the grader looks for it.
  try {
    return run_vmm(argc, argv);
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}: {}\n", kName, e.what());
    return 3;
  }
}
