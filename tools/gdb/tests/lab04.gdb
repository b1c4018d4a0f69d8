# lab04 (AMD-V under QEMU) under GDB: the run loop's dispatch, where every VM exit arrives,
# and the hv-* commands at the guest's second exit, early in its start-up (paging still off;
# which exit comes first depends on when the host's timer fires).
break hvlab::vmm::Dispatcher::dispatch
continue
continue
bt
hv-vcpu
hv-trace 2
hv-pt 0x100000
hv-vmcs
kill
