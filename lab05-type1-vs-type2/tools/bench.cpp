// lab05-bench: what the hosted VMM's own machinery costs per exit. The same tiny guest (OUT to
// port 0x80 in a loop, no paging) runs under a bare KVM_RUN loop that only counts the exits,
// and under the whole VMM (the Board and its port bus, the KVM back end, the Dispatcher, the
// run loop with its budgets, time and trace filter), alternately in one process. Prints the
// median time per exit of each, their spread, and the ratio, as JSON (make compare reads it).
//
//   lab05-bench [--exits N] [--rounds R]

#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "common/vmm/host_kvm.hpp"
#include "common/vmm/machine.hpp"
#include "common/vmm/run.hpp"
#include "lab05-type1-vs-type2/src/entry_state.hpp"
#include "lab05-type1-vs-type2/src/handlers.hpp"
#include "lab05-type1-vs-type2/src/host_timer.hpp"
#include "lab05-type1-vs-type2/src/kvm_backend.hpp"
#include "lab05-type1-vs-type2/src/vm.hpp"

using namespace hvlab;
using namespace hvlab::lab05;

namespace {

constexpr std::uint32_t kCode = 0x1000;

double now_us() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

// mov ecx, n; 1: out 0x80, al; dec ecx; jnz 1b; mov al, 0; out 0xf4, al; hlt
void put_guest(void* ram, std::uint32_t n) {
  std::uint8_t code[] = {0xb9, 0, 0, 0, 0, 0xe6, 0x80, 0x49, 0x75, 0xfb, 0xb0, 0x00, 0xe6, 0xf4, 0xf4};
  std::memcpy(code + 1, &n, 4);
  std::memcpy(static_cast<std::uint8_t*>(ram) + kCode, code, sizeof code);
}

bool setup(LinuxKvm& sys, Vm& vm, int kvm_fd, std::uint32_t n, std::string* why) {
  if (!vm.create(kvm_fd, 4 << 20, why).ok() || !vm.create_vcpu(why).ok()) return false;
  put_guest(vm.ram(), n);
  kvm_regs regs{};
  kvm_sregs sregs{};
  sys.ioctl(vm.vcpu_fd(), KVM_GET_SREGS, &sregs);
  multiboot_entry_state({kCode, 0, 0}, &regs, &sregs);
  return sys.ioctl(vm.vcpu_fd(), KVM_SET_SREGS, &sregs) >= 0 && sys.ioctl(vm.vcpu_fd(), KVM_SET_REGS, &regs) >= 0;
}

// Microseconds per exit with nothing but KVM_RUN and a look at the exit reason.
double bare(LinuxKvm& sys, int kvm_fd, std::uint32_t n) {
  Vm vm(sys);
  std::string why;
  if (!setup(sys, vm, kvm_fd, n, &why)) return -1;
  kvm_run* run = vm.run();
  std::uint32_t exits = 0;
  const double t0 = now_us();
  for (;;) {
    const long rc = sys.ioctl(vm.vcpu_fd(), KVM_RUN, 0ul);
    if (rc == -EINTR) continue;
    if (rc < 0) return -1;
    if (run->exit_reason != KVM_EXIT_IO || run->io.port != 0x80) break;
    ++exits;
  }
  return (now_us() - t0) / exits;
}

// Microseconds per exit through the whole VMM.
double full(LinuxKvm& sys, int kvm_fd, std::uint32_t n, SignalKick& kick) {
  Vm vm(sys);
  std::string why;
  if (!setup(sys, vm, kvm_fd, n, &why)) return -1;
  vmm::Board board(nullptr, nullptr);
  if (!board.add_ram(vm.ram_bytes(), vm.ram()).ok()) return -1;
  board.set_hide_monitor_time(false);
  if (!kick.install(vm.run(), &why)) return -1;
  KvmBackend backend(board, vm, kick);
  vmm::Dispatcher d;
  install_handlers(d);
  struct : FormatSink {
    void put(char) override {}
  } null;
  vmm::TraceWriter trace(null);
  vmm::Machine m("bench", board, backend, d, trace, null);
  if (!backend.start(m.vcpu(), &why)) return -1;
  vmm::RunOptions opt;
  opt.trace = vmm::TraceMode::off;
  vmm::RunStats stats;
  const double t0 = now_us();
  vmm::run(m, opt, &stats);
  const double us = (now_us() - t0) / static_cast<double>(stats.entries);
  kick.arm_in(0);  // the VM goes away: no signal for the next one
  return us;
}

struct Summary {
  double median, low, high;
};

Summary summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front(), v.back()};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"The hosted VMM's cost per I/O exit against a bare KVM_RUN loop (JSON on standard output)."};
  std::uint32_t exits = 20000;
  unsigned rounds = 7;
  app.add_option("--exits", exits, "exits per measurement")->capture_default_str();
  app.add_option("--rounds", rounds, "measurements of each, alternated")->capture_default_str()->check(CLI::Range(1, 100));
  CLI11_PARSE(app, argc, argv);
  LinuxKvm sys;
  const int kvm_fd = sys.open_device("/dev/kvm");
  if (kvm_fd < 0) {
    fmt::print(stderr, "lab05-bench: cannot use KVM: /dev/kvm: {}\n", errno_text(kvm_fd));
    return 77;
  }
  SignalKick kick;
  std::vector<double> b, f;
  for (unsigned i = 0; i < rounds; ++i) {
    b.push_back(bare(sys, kvm_fd, exits));
    f.push_back(full(sys, kvm_fd, exits, kick));
    if (b.back() < 0 || f.back() < 0) {
      fmt::print(stderr, "lab05-bench: the measurement VM could not run\n");
      return 3;
    }
  }
  const Summary sb = summarize(b), sf = summarize(f);
  fmt::print("{{\"exits\":{},\"rounds\":{},\"bare_us\":{{\"median\":{:.2f},\"min\":{:.2f},\"max\":{:.2f}}},"
             "\"vmm_us\":{{\"median\":{:.2f},\"min\":{:.2f},\"max\":{:.2f}}},\"ratio\":{:.3f}}}\n",
             exits, rounds, sb.median, sb.low, sb.high, sf.median, sf.low, sf.high, sf.median / sb.median);
  return 0;
}
