# lab01 under GDB: the handout's recipes (labs/lab01.md, "Running and debugging") and the
# hv-* commands, with the suite's STI test (only=intr_sti_unmasks): the CLI that follows its
# STI is emulated while the virtual IF is 1, and hv-vcpu must show it 0 once the handler
# has returned.
break hvlab::lab01::emulate_cli_sti if insn.info.mnemonic == ZYDIS_MNEMONIC_CLI && (v.eflags & 0x200) != 0
continue
hv-vcpu
hv-pt v.eip
finish
hv-vcpu
hv-trace 3
hv-vmcs
delete
break lab01_trap
continue
bt
p *f
# The guest's symbols: a breakpoint in the guest (CPL > 0 only), its backtrace, and the
# monitor's state still readable.
hv-symbols guest
delete
break machine_exit
continue
bt 2
hv-vcpu
hv-symbols monitor
kill
