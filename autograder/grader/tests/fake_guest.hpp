#pragma once
// A scripted stand-in for "boot the test guest": it reads first= and nonce= from the
// command line it is given, prints KTAP the way the suite does, and misbehaves on cue
// (crash, hang, flood, reset, silence, garbage), so the grader's logic is tested without
// an emulator.

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "autograder/grader/elf.hpp"
#include "autograder/runner/boot.hpp"

namespace hvlab::grader::testing {

using runner::BootResult;
using runner::BootSpec;
using runner::Outcome;

/// The guest's command line: the module's if there is one, else the kernel's.
inline std::string guest_cmdline(const BootSpec& s) {
  return s.modules.empty() ? s.cmdline : s.modules.front().cmdline;
}

inline std::string option(const std::string& cmdline, const std::string& key) {
  const std::string k = key + "=";
  std::size_t pos = 0;
  while ((pos = cmdline.find(k, pos)) != std::string::npos) {
    if (pos == 0 || cmdline[pos - 1] == ' ') {
      std::size_t end = cmdline.find(' ', pos);
      return cmdline.substr(pos + k.size(), end == std::string::npos ? std::string::npos : end - pos - k.size());
    }
    pos += k.size();
  }
  return {};
}

/// What a test does when the fake guest reaches it.
struct Behaviour {
  enum Kind { pass, fail, skip, crash, hang, flood, reset, exit_early, stub } kind = pass;
  std::string text;  ///< diagnostic for fail, reason for skip, runner reason for crash, exercise for stub
};

struct FakeGuest {
  std::vector<std::string> names;
  std::map<std::string, Behaviour> behaviour;   ///< by test name; default pass
  std::map<std::string, Behaviour> on_bochs;    ///< overrides on Bochs
  std::string trace_line = R"({"kind":"trap","vector":13,"insn":"lgdt","outcome":"emulated"})";
  std::string wrong_nonce;                      ///< print this nonce instead of the real one
  /// With seed=HEX on the command line the tests run in that seed's order, as the suite
  /// does; a replayer ignores it. With a table, each test leaves a trace event in its code.
  bool ignore_seed = false;
  bool trace_unseeded = false;                  ///< the trace in the source order (a replay)
  const SuiteTable* table = nullptr;
  /// With the evidence plugin asked for (QEMU), what it would see: each test's code enter, the
  /// guest's fail() in failing tests. A rewriter reports "ok" for those; a printer runs nothing.
  bool rewrite_failures = false;
  bool runs_nothing = false;
  bool ignore_nonce = false;                    ///< print no nonce line
  double seconds_per_boot = 0.5;

  /// A mutex that copies as a fresh one, so a FakeGuest can be copied and returned.
  struct Lock {
    std::mutex m;
    Lock() = default;
    Lock(const Lock&) {}
    Lock& operator=(const Lock&) { return *this; }
  };
  mutable Lock lock;
  mutable std::vector<BootSpec> specs;          ///< every spec it was booted with

  BootResult operator()(const BootSpec& spec) const {
    {
      std::lock_guard guard(lock.m);
      specs.push_back(spec);
    }
    const std::string cmd = guest_cmdline(spec);
    const std::string nonce = option(cmd, "nonce");
    const std::string first_s = option(cmd, "first");
    const unsigned first = first_s.empty() ? 1 : static_cast<unsigned>(std::stoul(first_s));

    std::vector<unsigned> order = seeded_order(0, names.size());
    if (const std::string seed = option(cmd, "seed"); !seed.empty() && !ignore_seed)
      order = seeded_order(std::stoull(seed, nullptr, 16), names.size());
    BootResult r;
    r.elapsed = std::chrono::milliseconds(static_cast<long>(seconds_per_boot * 1000));
    r.com1 = fmt::format("KTAP version 1\n1..{}\n", names.size());
    if (!ignore_nonce) r.com1 += fmt::format("# nonce {}\n", wrong_nonce.empty() ? nonce : wrong_nonce);
    for (unsigned n = first; n <= names.size(); ++n) {
      const std::string& name = names[order[n - 1]];
      if (table)
        r.com2 += fmt::format(R"({{"kind":"trap","eip":"0x{:08x}","insn":"cli"}})" "\n",
                              table->tests[trace_unseeded ? n - 1 : order[n - 1]].code + 4);
      Behaviour b;
      if (auto it = behaviour.find(name); it != behaviour.end()) b = it->second;
      if (spec.emu == runner::Emulator::bochs)
        if (auto it = on_bochs.find(name); it != on_bochs.end()) b = it->second;
      r.com2 += trace_line + "\n";
      if (spec.qemu_plugin && !runs_nothing) {
        r.plugin_output += fmt::format("enter {}\n", order[n - 1]);
        if (b.kind == Behaviour::fail) r.plugin_output += "fail\n";
      }
      switch (b.kind) {
        case Behaviour::pass: r.com1 += fmt::format("ok {} {}\n", n, name); break;
        case Behaviour::fail:
          r.com1 += rewrite_failures ? fmt::format("ok {} {}\n", n, name) : fmt::format("# {}\nnot ok {} {}\n", b.text, n, name);
          break;
        case Behaviour::skip: r.com1 += fmt::format("ok {} {} # SKIP {}\n", n, name, b.text); break;
        case Behaviour::crash:
          r.outcome = Outcome::crashed;
          r.reason = b.text.empty() ? "triple fault" : b.text;
          return r;
        case Behaviour::hang:
          r.outcome = Outcome::timeout;
          r.reason = "timed out after 10.0 s";
          return r;
        case Behaviour::flood:
          r.com1 += std::string(2000, 'A') + "\nok " + std::to_string(n);  // cut mid-line
          r.outcome = Outcome::output_flood;
          r.reason = "output flood: COM1 passed 1 MiB";
          return r;
        case Behaviour::reset:
          r.com1 += "KTAP version 1\n1..99\nok 1 bogus\n";
          r.outcome = Outcome::timeout;
          r.reason = "timed out after 10.0 s";
          return r;
        case Behaviour::exit_early:
          r.outcome = Outcome::exited;
          r.exit_status = 3;
          return r;
        case Behaviour::stub:  // a handout stub in the monitor: HV_NOT_IMPLEMENTED panics
          r.com1 += fmt::format("PANIC at lab01-trap-and-emulate/core.cpp:42: not implemented: {}\n", b.text);
          r.debugcon += fmt::format("PANIC at lab01-trap-and-emulate/core.cpp:42: not implemented: {}\nhvlab-exit: 3\n", b.text);
          r.outcome = Outcome::exited;
          r.exit_status = 3;
          return r;
      }
    }
    r.com2 += R"({"kind":"summary","traps":)" + std::to_string(names.size()) + "}\n";
    r.outcome = Outcome::exited;
    r.exit_status = 0;
    return r;
  }
};

}  // namespace hvlab::grader::testing
