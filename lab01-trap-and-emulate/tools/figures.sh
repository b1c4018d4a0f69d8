#!/bin/sh
# lab01's row of `make compare` (tools/compare/README.md): the unmodified suite under the
# trap-and-emulate monitor on QEMU -icount, and the nanobenchmarks' instructions per
# operation. Usage: figures.sh BUILD-DIR
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
# The monitor's lines of code, counted as lab04's are: neither blank nor a comment.
loc=$(cat "$here"/src/*.cpp "$here"/src/*.hpp "$here"/src/*.h "$here"/kernel/*.cpp "$here"/kernel/*.hpp \
  "$here"/kernel/*.S | grep -cvE '^[[:space:]]*((//|#).*)?$')
printf '{"rows":['
sh "$here/../tools/compare/qemu-row.sh" "$1" lab01 "ring-1 guest, QEMU -icount" none \
  "$1/lab01-trap-and-emulate/monitor.elf" suite.elf nanobench.elf \
  "every trap in the monitor (ring 0): privileged instructions, I/O, page faults for the shadow tables; sensitive unprivileged ones go unseen" \
  "$loc"
printf ']}\n'
