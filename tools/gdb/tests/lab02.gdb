# lab02 under GDB: the suite's POPF test (only=sens_popf_if). With IF = 0 and a timer
# interrupt waiting, `pushl $0x202; popfl` sets IF: the inline POPF reads the byte the monitor
# sets while it holds an interrupt back, and calls out, which lab02's emulate() answers from
# the virtual CPU (so the interrupt arrives right after the POPF).
break hvlab::lab02::emulate if r == hvlab::lab02::Rule::popf
continue
hv-vcpu
hv-tc v.eip
hv-trace 2
# The same block by a cache address: 3 bytes into its first instruction.
hv-tc $tc_cache + 3
# Guest-linear 0 holds no code the guest kernel runs: no translation.
hv-tc 0
hv-hcall
kill
