#!/bin/sh
# demo-trap: lab01's monitor runs one test of the suite (default priv_hlt) with the guest
# kernel at ring 1 under QEMU; its event trace shows each privileged instruction trapping.
# Usage: trap.sh [--figures DIR] [TEST]
# expect: #GP\(0\) +cli +emulated
# expect: mov cr3, eax +emulated
# expect: hlt +emulated
# expect: verdict \(KTAP on COM1\): ok [0-9]+ priv_hlt
. "$(dirname "$0")/lib.sh"
test=${1:-priv_hlt}
case "$test" in *[!a-z0-9_]* | "") die "'$test' is not a test name (e.g. priv_hlt, priv_lgdt)" ;; esac
monitor="$build/lab01-trap-and-emulate/monitor.elf"
need "$boot"; need "$demo_tool"; need "$monitor"; need "$suite"
# trace=all: every event of the one test keeps its record (the default keeps a few of each kind).
boot_kernel 0 --emu qemu --kernel "$monitor" --cmdline trace=all --module "$suite=only=$test" \
  --output-limit 8388608 --timeout 30
grep -q "no test of that name" "$run/com1.txt" && die "the suite has no test '$test'"
"$demo_tool" ${figures:+--figures "$figures"} trap --com1 "$run/com1.txt" --com2 "$run/com2.txt" --test "$test"
