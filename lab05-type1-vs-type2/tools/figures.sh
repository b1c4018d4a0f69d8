#!/bin/sh
# lab05's figures for `make compare` (tools/compare/README.md): one JSON object with a row
# per configuration of the hosted VMM. Usage: figures.sh BUILD-DIR
set -u
build=$1
here=$(cd "$(dirname "$0")/.." && pwd)
vmm="$build/lab05-type1-vs-type2/hvlab-kvm"
boot="$build/autograder/runner/hvlab-boot"
suite="$build/autograder/guests/suite.elf"
loc=$(cat "$here"/src/*.cpp "$here"/src/*.hpp "$here"/host/*.cpp | grep -cvE '^[[:space:]]*(//.*)?$')
# The VMM's own cost per exit against a bare KVM_RUN loop, in one run.
# HVLAB_COMPARE_QUICK=1 (hvlab-compare --quick, the lecture's demo): fewer and shorter rounds.
rounds="--rounds 7"
[ "${HVLAB_COMPARE_QUICK:-0}" = 1 ] && rounds="--rounds 3 --exits 5000"
bench=$("$build/lab05-type1-vs-type2/lab05-bench" $rounds 2>/dev/null) || bench=null
why=$("$vmm" --probe 2>&1) && can=yes || can=no
why=${why#hvlab-kvm: }
json_escape() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
row() {  # row CONFIG CMDLINE WHERE
  pass="\"not runnable here: $(json_escape "$why")\"" exits=null
  if [ $can = yes ]; then
    out=$(mktemp -d)
    "$boot" --emu host --kernel "$vmm" --cmdline "$2 trace=off" --module "$suite" --timeout 120 --keep-workdir \
      --workdir "$out" >/dev/null 2>&1
    ok=$(grep -c '^ok ' "$out/com1.txt"); total=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$out/com1.txt" | head -n 1)
    pass="\"$ok/${total:-?}\""
    events=$(sed -n 's/.*"kind":"summary","events":\([0-9]*\).*/\1/p' "$out/com2.txt")
    [ -n "$events" ] && [ -n "$total" ] && exits=$(( events / total ))
    rm -rf "$out"
  fi
  printf '{"lab":"lab05","technique":"hardware assist, hosted (type 2): KVM","config":"%s","guest_changes":"none",' "$1"
  printf '"suite_pass":%s,"entries_per_test":%s,"bench":%s,"handled":"%s","monitor_loc":%s}' \
    "$pass" "$exits" "$bench" "$3" "$loc"
}
printf '{"rows":['
row "irqchip in user space" "irqchip=user" "port I/O, HLT and interrupt windows in the VMM (user space); CPUID, MSRs, paging in the host kernel"
printf ','
row "irqchip in the host kernel" "irqchip=kernel" "PIC, PIT, HLT and injection in the host kernel; other port I/O in the VMM"
printf ']}\n'
