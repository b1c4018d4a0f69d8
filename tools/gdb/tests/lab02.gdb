# lab02 under GDB: the suite's PUSHF test (only=sens_pushf): CLI, PUSHF, POP, STI, PUSHF, POP.
# Each PUSHF is a callout, which lab02's emulate() answers from the virtual CPU: IF 0 at the
# first, 1 at the second. By then the code between them (from the POP after the first) has a
# translation of its own, which ends at the second PUSHF.
break hvlab::lab02::emulate if r == hvlab::lab02::Rule::pushf && (v.eflags & 0x200) == 0
continue
hv-vcpu
hv-tc v.eip
hv-trace 2
set $first = v.eip
delete
break hvlab::lab02::emulate if r == hvlab::lab02::Rule::pushf
continue
hv-vcpu
hv-tc $first + 1
# The same block by a cache address: 2 bytes into its second instruction (the PUSH).
hv-tc $tc_cache + 3
# Guest-linear 0 holds no code the guest kernel runs: no translation.
hv-tc 0
hv-hcall
kill
