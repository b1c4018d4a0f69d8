#pragma once
// The options every monitor of the kit takes on its command line (a kernel's multiboot
// command line, or a hosted VMM's arguments), parsed once:
//
//   events=N        monitor entries before a livelocked guest is stopped (budget=, max_exits= too)
//   seconds=N       the guest's time limit, in seconds of its own time
//   spin_seconds=N  guest seconds with interrupts off and no event before it is stopped
//   output_kib=N    what the guest may print on COM1 (and again on port 0xE9)
//   guest_mib=N     guest RAM
//   trace=all|quiet|off   per-event trace records (trace=0 is off); trace_cap=N per kind per test
//   clock=host      the guest's clocks include the monitor's time (see Board)
//   debugger=on     set up for a debugger (`make gdb`): lab01 keeps its window readable at
//                   the offsets its pointers hold (see lab01's address_space.hpp)

#include <cstdint>

#include "common/vmm/board.hpp"
#include "common/vmm/run.hpp"

namespace hvlab::vmm {

struct MonitorOptions {
  Budgets budgets;
  RunOptions run;
  std::uint32_t guest_mib = 32;
  bool hide_monitor_time = true;
  bool debugger = false;  ///< debugger=on: a debugger is attached (autograder/gdb)
};

/// Fills `opt` from `cmdline` ("key=value key=value ..."); what is absent keeps the value
/// `opt` came with (each monitor sets its own defaults first). A value that is not a number
/// or not one of the words allowed gives false with the reason in `why`.
bool parse_monitor_options(const char* cmdline, MonitorOptions& opt, char* why, unsigned why_size);

/// Applies the budgets and the clock choice to a board.
void apply(const MonitorOptions& opt, Board& board);

}  // namespace hvlab::vmm
