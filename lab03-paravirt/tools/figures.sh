#!/bin/sh
# lab03's row of `make compare` (tools/compare/README.md): the paravirtual build of the suite
# (suite_pv) under the paravirtual monitor on QEMU -icount, and the paravirtual
# nanobenchmarks' (nanobench_pv) instructions per operation. Usage: figures.sh BUILD-DIR
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
lab01="$here/../lab01-trap-and-emulate"
# The monitor's lines of code, counted as lab04's are (neither blank nor a comment): the
# hypercall layer, its ABI and the lab01 trap back end it is linked with (all of lab01 but its
# kernel's main; not pv_mmu_check.cpp, which only the host's tests link).
loc=$(ls "$here"/src/*.cpp "$here"/src/*.hpp "$here"/kernel/*.cpp "$here"/abi/*.h "$lab01"/src/*.cpp \
  "$lab01"/src/*.hpp "$lab01"/src/*.h "$lab01"/kernel/hardware.* "$lab01"/kernel/start.* "$lab01"/kernel/*.S |
  grep -v '/pv_mmu_check\.cpp$' | xargs cat | grep -cvE '^[[:space:]]*((//|#).*)?$')
printf '{"rows":['
sh "$here/../tools/compare/qemu-row.sh" "$1" lab03 "hypercalls, QEMU -icount" "paravirtual build" \
  "$1/lab03-paravirt/monitor.elf" suite_pv.elf nanobench_pv.elf \
  "hypercalls (INT 0x82) and the rare instructions that still trap, in the monitor; the event mask in shared memory, with no entry" \
  "$loc"
printf ']}\n'
