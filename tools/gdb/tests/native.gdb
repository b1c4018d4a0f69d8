# The bare guest under GDB: a breakpoint by symbol, the hv-* commands saying that no
# monitor is in the image, and a session ended by quitting GDB (the batch run's end).
break kernel_main
continue
bt 1
hv-vcpu
hv-trace
