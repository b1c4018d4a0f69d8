# lab03 under GDB: the pvabi guest's console_write test (only=pv_console_write) makes three
# calls: the line (57 bytes), 0 bytes, then 4097 bytes, the test's one refusal (-E2BIG).
# Stop where it is refused (error_name names the error for the trace), see the calls so far
# (the third noted on entry, still in progress), then at the next hypercall its result.
break hvlab::lab03::error_name
continue
bt 3
hv-hcall 3
delete
break hvlab::lab03::handle_hypercall
continue
hv-hcall 2
hv-vcpu
hv-tc 0x100000
kill
