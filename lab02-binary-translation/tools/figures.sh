#!/bin/sh
# lab02's row of `make compare` (tools/compare/README.md): the unmodified suite under the
# binary translator on QEMU -icount, and the nanobenchmarks' instructions per operation.
# Usage: figures.sh BUILD-DIR
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
lab01="$here/../lab01-trap-and-emulate"
# The monitor's lines of code, counted as lab04's are (neither blank nor a comment): the
# translator and the lab01 trap back end it is linked with (all of lab01 but its kernel's main).
loc=$(cat "$here"/src/*.cpp "$here"/src/*.hpp "$here"/kernel/*.cpp "$lab01"/src/*.cpp "$lab01"/src/*.hpp \
  "$lab01"/src/*.h "$lab01"/kernel/hardware.* "$lab01"/kernel/start.* "$lab01"/kernel/*.S |
  grep -cvE '^[[:space:]]*((//|#).*)?$')
printf '{"rows":['
sh "$here/../tools/compare/qemu-row.sh" "$1" lab02 "translation, QEMU -icount" none \
  "$1/lab02-binary-translation/monitor.elf" suite.elf nanobench.elf \
  "CLI, STI, PUSHF, POPF inline on the block's virtual IF; other sensitive and privileged instructions as callouts from translated code; faults, I/O and interrupts trap to the monitor" \
  "$loc"
printf ']}\n'
