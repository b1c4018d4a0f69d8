#!/bin/sh
# Runs a test only where this machine's KVM can: status 77 (ctest's "skipped") otherwise,
# with the reason. MODE "paging": the guest turns on 32-bit paging (the suite, xv6), which
# some KVMs cannot run (hvlab-kvm --probe says so); "device": /dev/kvm is enough.
# Usage: with-kvm.sh MODE HVLAB-KVM COMMAND [ARGS...]
mode=$1 vmm=$2
shift 2
if [ "$mode" = paging ]; then
  "$vmm" --probe || { echo "skipped: this machine's KVM cannot run the guest (see above)"; exit 77; }
elif [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
  echo "skipped: no usable /dev/kvm on this machine"
  exit 77
fi
exec "$@"
