#!/bin/sh
# lab03's row of `make compare` (tools/compare/README.md): the paravirtual build of the suite
# (suite_pv) under the paravirtual monitor on QEMU -icount, and the paravirtual nanobenchmarks'
# (nanobench_pv) instructions per operation. Usage: figures.sh BUILD-DIR
set -u
# clock=host: the guest's TSC is the real one, so RDTSC runs natively (as lab04's guests read
# theirs with an offset, without an exit) instead of trapping at every turn of the suite's TSC
# busy-waits, which would make those waits most of the entries and of the run time.
build=$1
here=$(cd "$(dirname "$0")/.." && pwd)
top=$(cd "$here/.." && pwd)
lab01="$top/lab01-trap-and-emulate"
monitor="$build/lab03-paravirt/monitor.elf"
guests="$build/autograder/guests"
# The monitor's lines of code, counted as lab04's are (neither blank nor a comment): the
# hypercall layer, its ABI and the lab01 trap back end it is linked with (all of lab01 but its
# kernel's main; not pv_mmu_check.cpp, which only the host's tests link).
loc=$(ls "$here"/src/*.cpp "$here"/src/*.hpp "$here"/kernel/*.cpp "$here"/abi/*.h "$lab01"/src/*.cpp \
  "$lab01"/src/*.hpp "$lab01"/src/*.h "$lab01"/kernel/hardware.* "$lab01"/kernel/start.* "$lab01"/kernel/*.S |
  grep -v '/pv_mmu_check\.cpp$' | xargs cat | grep -cvE '^[[:space:]]*((//|#).*)?$')
printf '{"rows":[{"lab":"lab03","config":"hypercalls, QEMU -icount","guest_changes":"paravirtual build",'
sh "$top/tools/compare/suite-figures.sh" "$build" qemu "$monitor" clock=host "$guests/suite_pv.elf"
printf ','
sh "$top/tools/compare/icount-figures.sh" "$build" "$monitor" "$guests/nanobench_pv.elf"
printf ',"handled":"hypercalls (INT 0x82) and the rare instructions that still trap, in the monitor; the event mask in shared memory, with no entry","monitor_loc":%s}]}\n' "$loc"
