#!/bin/sh
# For lab01's, lab02's and lab03's tools/figures.sh (README.md beside this file): the row of
# a monitor that runs the suite and the nanobenchmarks on QEMU -icount. The suite boots with
# clock=host: the guest's TSC is then the real one, so RDTSC runs natively (as lab04's guests
# read theirs through an offset, without an exit) instead of trapping at every turn of the
# suite's TSC busy-waits, which would make those waits most of the entries and of the time.
# Usage: qemu-row.sh BUILD-DIR LAB CONFIG GUEST-CHANGES MONITOR SUITE NANOBENCH HANDLED LOC
#   SUITE, NANOBENCH: the guests' file names in BUILD-DIR/autograder/guests
set -u
[ $# -eq 9 ] || { echo "usage: qemu-row.sh BUILD-DIR LAB CONFIG GUEST-CHANGES MONITOR SUITE NANOBENCH HANDLED LOC" >&2; exit 2; }
build=$1 lab=$2 config=$3 changes=$4 monitor=$5 suite=$6 nanobench=$7 handled=$8 loc=$9
here=$(cd "$(dirname "$0")" && pwd)
guests="$build/autograder/guests"
printf '{"lab":"%s","config":"%s","guest_changes":"%s",' "$lab" "$config" "$changes"
sh "$here/suite-figures.sh" "$build" qemu "$monitor" clock=host "$guests/$suite"
printf ','
sh "$here/icount-figures.sh" "$build" "$monitor" "$guests/$nanobench"
printf ',"handled":"%s","monitor_loc":%s}' "$handled" "$loc"
