# lab01-bench: where the instructions go when the lab01 monitor runs the test suite.
#
#   cmake -DBOOT=hvlab-boot -DMONITOR=monitor.elf -DGUEST=suite.elf -P bench.cmake
#   (or: ninja -C build lab01-bench; `make bench` runs it as lab01_bench)
#
# Boots the suite under QEMU with -icount shift=0,sleep=off, where the TSC counts one tick
# per guest instruction, identically on every run. The back end reads the TSC at the switch
# into the guest and first thing after its trap, and the run loop writes the totals in the
# trace (COM2):
#
#   {"kind":"accounting","entries":N,"emulated":E,"guest_tsc":G,"monitor_tsc":M,...}
#
#   guest_tsc    instructions between the switch into the guest and its trap: the guest's
#                own, the CPU's exception delivery, the stub's pushes and the switch of
#                address spaces (kernel/trap_entry.S) count here
#   monitor_tsc  instructions in the monitor, the run loop and its handlers included
#   emulated     guest instructions the monitor carried out (trapped and emulated)
#
# A halted guest costs nothing: its clock skips to its next timer interrupt (the "idle
# skips" of the monitor's last line on the debug console).
#
# Three runs of the same suite:
#   trace=0             the monitor's own work, no per-event trace records
#   trace=0 clock=host  the same with the guest's clocks including the monitor's work: RDTSC
#                       runs natively until the guest's TSC leaves the host's (an idle skip,
#                       a WRMSR of the TSC; the default hides the monitor's work from the
#                       guest's clocks, so RDTSC traps, and the suite's TSC busy-waits trap on
#                       every turn of their loop)
#   (defaults)          as graded: the first two events of each kind per guest test
foreach(var BOOT MONITOR GUEST)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "bench.cmake: pass -D${var}=...")
  endif()
endforeach()

function(bench_run label cmdline)
  execute_process(
    COMMAND ${BOOT} --emu qemu --icount --kernel ${MONITOR} --module ${GUEST} --cmdline "${cmdline}"
            --memory 128 --timeout 120 --expect-status 1 -v
    OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  string(REGEX MATCH "hvlab-boot: qemu: [^\n]*" run_line "${out}")
  string(REGEX MATCH "# summary: [0-9]+ passed, [0-9]+ failed" ktap "${out}")
  string(REGEX MATCH "{\"kind\":\"accounting\"[^\n]*}" acct "${out}")
  if(NOT acct)
    message(FATAL_ERROR "lab01-bench (${label}): no accounting record on COM2\n${out}${err}")
  endif()
  foreach(k entries emulated guest_tsc monitor_tsc)
    string(JSON ${k} GET "${acct}" ${k})
  endforeach()
  string(REGEX MATCH "idle skips ([0-9]+)" _ "${out}")
  set(idle ${CMAKE_MATCH_1})
  if(NOT idle)
    set(idle 0)
  endif()
  string(REGEX MATCH "\"rdtsc\":([0-9]+)" _ "${out}")
  set(rdtsc ${CMAKE_MATCH_1})
  if(NOT rdtsc)
    set(rdtsc 0)
  endif()
  # Ratios to one decimal, in integer arithmetic.
  math(EXPR g_per_entry_x10 "${guest_tsc} * 10 / ${entries}")
  math(EXPR m_per_entry "${monitor_tsc} / ${entries}")
  math(EXPR m_per_emulated "${monitor_tsc} / ${emulated}")
  math(EXPR g_int "${g_per_entry_x10} / 10")
  math(EXPR g_frac "${g_per_entry_x10} % 10")
  math(EXPR share_x10 "${monitor_tsc} * 1000 / (${monitor_tsc} + ${guest_tsc})")
  math(EXPR share_int "${share_x10} / 10")
  math(EXPR share_frac "${share_x10} % 10")
  message("lab01-bench: ${label}")
  message("  ${run_line}; ${ktap}")
  message("  monitor entries                       ${entries}")
  message("  guest instructions (between entries)  ${guest_tsc}")
  message("  monitor instructions                  ${monitor_tsc}")
  message("  guest instructions emulated           ${emulated} (of them RDTSC: ${rdtsc})")
  message("  idle skips (guest halted)             ${idle}")
  message("  guest instructions per monitor entry  ${g_int}.${g_frac}")
  message("  monitor instructions per entry        ${m_per_entry}")
  message("  monitor instructions per emulated     ${m_per_emulated}")
  message("  share of instructions in the monitor  ${share_int}.${share_frac} %")
endfunction()

bench_run("the monitor's own work (trace=0)" "trace=0")
bench_run("guest clocks on the real TSC, RDTSC native (trace=0 clock=host)" "trace=0 clock=host")
bench_run("as graded (the default event trace)" "")
