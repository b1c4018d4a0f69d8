#!/bin/sh
# For a lab's tools/figures.sh (README.md beside this file): what each operation of the
# nanobenchmark guest (autograder/guests/README.md) costs under a monitor, in instructions:
# one boot on QEMU -icount shift=0,sleep=off with the monitor's own work only (trace=0) and
# the guest's clock on the real TSC (clock=host), so a figure counts the guest's and the
# monitor's instructions of one loop turn, identically on every run. Prints the JSON field
# "icount_per_op":{"syscall":N,...}, or null (and why, on stderr, with exit status 1) when
# the run fails. RUNS (default 1): boots that must all give the same figures.
# Usage: icount-figures.sh BUILD-DIR MONITOR GUEST [RUNS]
set -u
build=$1 monitor=$2 guest=$3 runs=${4:-1}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if per_op=$("$build/autograder/guests/nanobench-report" check --guest "$guest" --emu qemu --icount \
  --monitor "$monitor" --monitor-args "trace=0 clock=host" --guest-args n=200 --runs "$runs" --timeout 120 --json 2>"$log"); then
  printf '"icount_per_op":%s' "$per_op"
else
  head -n 20 "$log" >&2
  echo "icount-figures.sh: the nanobenchmarks did not run under $monitor" >&2
  printf '"icount_per_op":null'
  exit 1
fi
