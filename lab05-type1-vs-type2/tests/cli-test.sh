#!/bin/sh
# hvlab-kvm's answers to bad input: one line each, the right status, nothing left behind.
# Usage: cli-test.sh HVLAB-KVM GUEST.elf
set -u
vmm=$1 guest=$2
fail=0
check() {  # check NAME STATUS TEXT COMMAND...
  name=$1 want=$2 text=$3
  shift 3
  out=$("$@" 2>&1 </dev/null)
  got=$?
  lines=$(printf '%s\n' "$out" | grep -c .)
  if [ "$got" -ne "$want" ] || ! printf '%s' "$out" | grep -qF "$text"; then
    echo "FAIL $name: status $got (expected $want), output: $out"
    fail=1
  elif [ "$want" -eq 2 ] && [ "$lines" -ne 1 ]; then
    echo "FAIL $name: $lines lines, expected one: $out"
    fail=1
  else
    echo "ok $name"
  fi
}
check missing_image 2 "cannot read the guest image /nonexistent.elf" "$vmm" /nonexistent.elf
check no_image 2 "no guest image given" "$vmm" events=5
check unknown_option 2 "unknown option 'colour=red'" "$vmm" colour=red "$guest"
check bad_number 2 "events=many is not a number" "$vmm" events=many "$guest"
check bad_irqchip 2 "irqchip=both is not one of user, kernel" "$vmm" irqchip=both "$guest"
check bad_flag 2 "hvlab-kvm: " "$vmm" --no-such-flag "$guest"
check no_kvm 77 "cannot use KVM: /nonexistent/kvm" env HVLAB_KVM_DEVICE=/nonexistent/kvm "$vmm" "$guest"
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
  check not_an_elf 3 "cannot load the guest image" "$vmm" --no-input "$0"
fi
exit $fail
