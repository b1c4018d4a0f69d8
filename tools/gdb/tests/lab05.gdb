# lab05 under the hosted VMM's stub: the runner's exit3 test kernel prints one line with
# port_puts(0x3f8, text), then calls hvlab_exit(3). Hardware breakpoints at both.
break port_puts
break hvlab_exit
continue
x/wx $esp+4
x/s *(char**)($esp+8)
continue
x/wx $esp+4
info registers eip
hv-vcpu
kill
