#!/bin/sh
# For a lab's tools/figures.sh (README.md beside this file): boots the suite under a monitor
# on an emulator once and prints the JSON fields of a row measured from it: the suite's pass
# rate and the monitor entries per guest test (from the trace's summary), and, under QEMU,
# with -icount (deterministic: the same numbers every run).
# Usage: suite-figures.sh BUILD-DIR EMU MONITOR [MONITOR CMDLINE] [GUEST]
# GUEST: the suite's build to boot (default BUILD-DIR/autograder/guests/suite.elf; lab03 gives
# suite_pv.elf, its paravirtual build).
set -u
build=$1 emu=$2 monitor=$3 cmdline=${4:-} guest=${5:-$1/autograder/guests/suite.elf}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
icount=""
[ "$emu" = qemu ] && icount=--icount
"$build/autograder/runner/hvlab-boot" --emu "$emu" --kernel "$monitor" --cmdline "$cmdline" $icount \
  --module "$guest" --timeout 300 --workdir "$out" >/dev/null 2>&1
ok=$(grep -c '^ok ' "$out/com1.txt" 2>/dev/null)
total=$(tr -d '\r' < "$out/com1.txt" 2>/dev/null | sed -n 's/^1\.\.\([0-9]*\)$/\1/p' | head -n 1)
events=$(sed -n 's/.*"kind":"summary","events":\([0-9]*\).*/\1/p' "$out/com2.txt" 2>/dev/null | tail -n 1)
per=null
[ -n "$events" ] && [ -n "$total" ] && [ "$total" -gt 0 ] && per=$(( events / total ))
printf '"suite_pass":"%s/%s","entries_per_test":%s,"deterministic":%s' "${ok:-0}" "${total:-?}" "$per" \
  "$([ "$emu" = qemu ] && echo true || echo false)"
