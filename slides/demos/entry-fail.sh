#!/bin/sh
# demo-entry-fail: lab04 breaks one VMCS field on purpose (its break= option: tr, ctls, host,
# link or cr0; default tr) and runs under Bochs: the CPU refuses the VM entry, and the monitor
# names the check that failed.
# Usage: entry-fail.sh [--figures DIR] [tr|ctls|host|link|cr0]
# expect: VMENTER FAIL: VMCS guest incorrect TR type
# expect: exit reason 33
# expect: check failed \(SDM [0-9.]+\): guest TR type: GUEST_TR_AR_BYTES
# expect: GUEST_TR_AR_BYTES = 0x89: type 9 \(32-bit TSS, available\)
. "$(dirname "$0")/lib.sh"
what=${1:-tr}
case "$what" in tr | ctls | host | link | cr0) ;; *) die "break=$what: choose tr, ctls, host, link or cr0" ;; esac
monitor="$build/lab04-vtx/monitor.elf"
need "$boot"; need "$demo_tool"; need "$monitor"; need "$suite"
# The monitor stops with status 3 when the hardware refuses to enter the guest.
boot_kernel 3 --emu bochs --kernel "$monitor" --cmdline "break=$what" --module "$suite" --timeout 60
"$demo_tool" ${figures:+--figures "$figures"} entry-fail --com1 "$run/com1.txt" \
  --emulator-log "$run/emulator.log" --break "$what"
