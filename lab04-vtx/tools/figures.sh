#!/bin/sh
# lab04's rows of `make compare` (tools/compare/README.md): the VT-x back end on Bochs and the
# AMD-V back end on QEMU (-icount), the same monitor image. Usage: figures.sh BUILD-DIR
set -u
build=$1
here=$(cd "$(dirname "$0")/.." && pwd)
top=$(cd "$here/.." && pwd)
monitor="$build/lab04-vtx/monitor.elf"
loc=$(cat "$here"/src/*.cpp "$here"/src/*.hpp "$here"/kernel/*.cpp "$here"/kernel/*.hpp "$here"/kernel/*.S |
      grep -cvE '^[[:space:]]*((//|#).*)?$')
row() {  # row EMU CONFIG BACKEND
  printf '{"lab":"lab04","config":"%s","guest_changes":"none",' "$2"
  sh "$top/tools/compare/suite-figures.sh" "$build" "$1" "$monitor" "backend=$3"
  printf ',"handled":"every exit in the monitor (root mode), which owns the machine","monitor_loc":%s}' "$loc"
}
printf '{"rows":['
row bochs "VT-x on Bochs" vmx
printf ','
row qemu "AMD-V on QEMU (-icount)" svm
printf ']}\n'
