#!/bin/sh
# demo-vmexit: lab04's VT-x monitor runs one test of the unmodified suite under Bochs (or
# TEST, or the whole suite with "all"); the first VM exit of each reason, with its
# qualification decoded. The default test, priv_mov_cr4, reads CPUID before it writes CR4,
# after the runner's reset has written CR0, and every result line is port I/O: the three kinds
# of exit a VT-x monitor sees most, in a few seconds (the whole suite takes much longer).
# Usage: vmexit.sh [--figures DIR] [TEST | all]
# expect: 30 I/O instruction
# expect: OUT to port 0x[0-9a-f]+ \([A-Za-z0-9 ]+\), 1 byte
# expect: 28 control-register access
# expect: MOV to CR0 from EAX
# expect: 10 CPUID
# expect: verdict \(KTAP on COM1\): ok [0-9]+ priv_mov_cr4
. "$(dirname "$0")/lib.sh"
test=${1:-priv_mov_cr4}
[ "$test" = all ] && test=""
case "$test" in *[!a-z0-9_]*) die "'$test' is not a test name (e.g. priv_wrmsr)" ;; esac
monitor="$build/lab04-vtx/monitor.elf"
need "$boot"; need "$demo_tool"; need "$monitor"; need "$suite"
boot_kernel 0 --emu bochs --kernel "$monitor" --module "$suite${test:+=only=$test}" --timeout 60
grep -q "no test of that name" "$run/com1.txt" && die "the suite has no test '$test'"
"$demo_tool" ${figures:+--figures "$figures"} vmexit --com1 "$run/com1.txt" --com2 "$run/com2.txt" \
  ${test:+--test "$test"}
