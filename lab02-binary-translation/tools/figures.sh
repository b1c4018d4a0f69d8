#!/bin/sh
# lab02's row of `make compare` (tools/compare/README.md): the unmodified suite under the
# binary translator on QEMU -icount, and the nanobenchmarks' instructions per operation.
# Usage: figures.sh BUILD-DIR
set -u
# clock=host: the guest's TSC is the real one, so RDTSC runs natively (as lab04's guests read
# theirs with an offset, without an exit) instead of trapping at every turn of the suite's TSC
# busy-waits, which would make those waits most of the entries and of the run time.
build=$1
here=$(cd "$(dirname "$0")/.." && pwd)
top=$(cd "$here/.." && pwd)
lab01="$top/lab01-trap-and-emulate"
monitor="$build/lab02-binary-translation/monitor.elf"
# The monitor's lines of code, counted as lab04's are (neither blank nor a comment): the
# translator and the lab01 trap back end it is linked with (all of lab01 but its kernel's main).
loc=$(cat "$here"/src/*.cpp "$here"/src/*.hpp "$here"/kernel/*.cpp "$lab01"/src/*.cpp "$lab01"/src/*.hpp \
  "$lab01"/src/*.h "$lab01"/kernel/hardware.* "$lab01"/kernel/start.* "$lab01"/kernel/*.S |
  grep -cvE '^[[:space:]]*((//|#).*)?$')
printf '{"rows":[{"lab":"lab02","config":"translation, QEMU -icount","guest_changes":"none",'
sh "$top/tools/compare/suite-figures.sh" "$build" qemu "$monitor" clock=host
printf ','
sh "$top/tools/compare/icount-figures.sh" "$build" "$monitor" "$build/autograder/guests/nanobench.elf"
printf ',"handled":"sensitive and privileged instructions as callouts from translated code; faults, I/O and interrupts trap to the monitor","monitor_loc":%s}]}\n' "$loc"
