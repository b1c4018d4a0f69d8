#!/bin/sh
# demo-census: lab01's census kernel runs x86 instructions at ring 0, 1 and 3 under QEMU;
# POPF at ring 1 and 3 silently keeps IF, and the sensitive instructions are counted.
# Usage: census.sh [--figures DIR]
# expect: POPF of EFLAGS with IF=0
# expect: IF after POPF +0 +1  ignored +1  ignored
# expect: class +- +sensitive +sensitive
# expect: sensitive at ring 3:.* popf
. "$(dirname "$0")/lib.sh"
census="$build/lab01-trap-and-emulate/census/census.elf"
need "$boot"; need "$demo_tool"; need "$census"
boot_kernel 0 --emu qemu --kernel "$census" --timeout 30
"$demo_tool" ${figures:+--figures "$figures"} census --com1 "$run/com1.txt"
