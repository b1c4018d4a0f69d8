# lab04 (AMD-V under QEMU) under GDB: the run loop's dispatch, where every VM exit arrives,
# and the hv-* commands at the guest's second exit. The guest has not yet run an instruction
# of its own there: its state is the multiboot entry state the monitor loaded.
break hvlab::vmm::Dispatcher::dispatch
continue
continue
bt
hv-vcpu
hv-trace 2
hv-pt 0x100000
hv-vmcs
kill
