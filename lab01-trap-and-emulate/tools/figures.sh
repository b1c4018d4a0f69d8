#!/bin/sh
# lab01's row of `make compare` (tools/compare/README.md): the unmodified suite under the
# trap-and-emulate monitor on QEMU -icount, and the nanobenchmarks' instructions per
# operation. Usage: figures.sh BUILD-DIR
set -u
# clock=host: the guest's TSC is the real one, so RDTSC runs natively (as lab04's guests read
# theirs with an offset, without an exit) instead of trapping at every turn of the suite's TSC
# busy-waits, which would make those waits most of the entries and of the run time.
build=$1
here=$(cd "$(dirname "$0")/.." && pwd)
top=$(cd "$here/.." && pwd)
monitor="$build/lab01-trap-and-emulate/monitor.elf"
# The monitor's lines of code, counted as lab04's are: neither blank nor a comment.
loc=$(cat "$here"/src/*.cpp "$here"/src/*.hpp "$here"/src/*.h "$here"/kernel/*.cpp "$here"/kernel/*.hpp \
  "$here"/kernel/*.S | grep -cvE '^[[:space:]]*((//|#).*)?$')
printf '{"rows":[{"lab":"lab01","config":"ring-1 guest, QEMU -icount","guest_changes":"none",'
sh "$top/tools/compare/suite-figures.sh" "$build" qemu "$monitor" clock=host
printf ','
sh "$top/tools/compare/icount-figures.sh" "$build" "$monitor" "$build/autograder/guests/nanobench.elf"
printf ',"handled":"every trap in the monitor (ring 0): privileged instructions, I/O, page faults for the shadow tables; sensitive unprivileged ones go unseen","monitor_loc":%s}]}\n' "$loc"
