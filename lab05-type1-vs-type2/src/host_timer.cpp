#include "lab05-type1-vs-type2/src/host_timer.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hvlab::lab05 {
namespace {

std::atomic<kvm_run*> g_run{nullptr};
volatile sig_atomic_t g_stop_signal = 0;

int kick_signal() { return SIGRTMIN; }

void on_kick(int) {
  if (kvm_run* r = g_run.load(std::memory_order_relaxed)) r->immediate_exit = 1;
}

void on_stop(int sig) {
  g_stop_signal = sig;
  on_kick(sig);
}

}  // namespace

int SignalKick::stop_signal() { return g_stop_signal; }

SignalKick::~SignalKick() {
  if (timer_) timer_delete(reinterpret_cast<timer_t>(timer_));
  g_run.store(nullptr);
}

bool SignalKick::install(kvm_run* run, std::string* why) {
  g_run.store(run);
  struct sigaction sa {};
  sa.sa_handler = on_kick;
  sigemptyset(&sa.sa_mask);
  if (sigaction(kick_signal(), &sa, nullptr) != 0) {
    *why = std::string("sigaction: ") + std::strerror(errno);
    return false;
  }
  sa.sa_handler = on_stop;
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaction(s, &sa, nullptr);
  thread_ = static_cast<unsigned long>(pthread_self());
  sigevent ev{};
  ev.sigev_notify = SIGEV_THREAD_ID;
  ev.sigev_signo = kick_signal();
  ev._sigev_un._tid = static_cast<pid_t>(syscall(SYS_gettid));
  timer_t t;
  if (timer_create(CLOCK_MONOTONIC, &ev, &t) != 0) {
    *why = std::string("timer_create: ") + std::strerror(errno);
    return false;
  }
  timer_ = reinterpret_cast<void*>(t);
  installed_ = true;
  return true;
}

void SignalKick::arm_in(std::uint64_t ns) {
  if (!installed_) return;
  itimerspec its{};
  its.it_value.tv_sec = static_cast<time_t>(ns / 1'000'000'000u);
  its.it_value.tv_nsec = static_cast<long>(ns % 1'000'000'000u);
  timer_settime(reinterpret_cast<timer_t>(timer_), 0, &its, nullptr);
}

void SignalKick::kick() {
  if (installed_) pthread_kill(static_cast<pthread_t>(thread_), kick_signal());
}

}  // namespace hvlab::lab05
