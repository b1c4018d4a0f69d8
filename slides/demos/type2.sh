#!/bin/sh
# demo-type2: lab05's hosted VMM, hvlab-kvm (a Linux process on the KVM API), runs the
# unmodified test suite: the VM it made, the vCPU as multiboot leaves it, the exits it served
# in user space, and the suite's verdict. ARGS: irqchip=kernel puts the PIC and PIT in the
# host kernel. Where this machine's KVM cannot run the suite, the demo says why in one line
# and exits 77 (its test is then skipped); the deck's figure shows how far the guest got.
# Usage: type2.sh [--figures DIR] [irqchip=user|irqchip=kernel]
# expect: VM +KVM API [0-9]+: a VM with [0-9]+ MiB of RAM
# expect: vCPU +eip=0x[0-9a-f]+ eax=0x2badb002
# expect: exits +[0-9]+ KVM_RUN calls; in the VMM: [a-z_]+ [0-9]+
# expect: verdict \(KTAP on COM1\): [0-9]+ passed, 0 failed
. "$(dirname "$0")/lib.sh"
irqchip=${1:-irqchip=user}
case "$irqchip" in irqchip=user | irqchip=kernel) ;; *) die "'$irqchip' is not irqchip=user or irqchip=kernel" ;; esac
vmm="$build/lab05-type1-vs-type2/hvlab-kvm"
need "$boot"; need "$vmm"; need "$suite"

why=$("$vmm" --probe 2>&1)
can=$?
[ $can -eq 0 ] || [ $can -eq 77 ] || die "hvlab-kvm --probe failed (status $can): $why"
why=${why#hvlab-kvm: }
if [ $can -eq 77 ] && [ -z "$figures" ]; then
  short=$(printf '%s' "${why%% (*}" | sed "s/^this machine's KVM/KVM/; s/^cannot use KVM: //")
  echo "demo-$DEMO: not on this machine: $short" | cut -c1-80 >&2
  exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/hvlab-demo-$DEMO.XXXXXX") || die "cannot make a work folder"
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
run="$work/run"
start=$(date +%s.%N)
# The status the suite reports is read from the captures below, so any ending is taken.
"$boot" --emu host --kernel "$vmm" --cmdline "$irqchip" --module "$suite" --timeout 30 --workdir "$run" \
  --expect-status 0 >"$work/boot.log" 2>&1
end=$(date +%s.%N)
[ -s "$run/com2.txt" ] || { sed -n 's/^hvlab-boot: //p' "$work/boot.log" | head -n 3 >&2; die "hvlab-kvm left no trace"; }
seconds=$(awk "BEGIN { printf \"%.1f\", $end - $start }")

# The trace's records (one JSON object a line): the VM, the entry state, the summary.
note() { sed -n "s/.*\"kind\":\"$1\",\"what\":\"\\([^\"]*\\)\".*/\\1/p" "$run/com2.txt" | head -n 1; }
vm=$(note vm | sed 's/ at guest-physical 0 (memory slot 0)//')
entry=$(note entry | cut -d' ' -f1-2)
runs=$(sed -n 's/.*"kind":"kvm_stats","kvm_runs":\([0-9]*\).*/\1/p' "$run/com2.txt" | tail -n 1)
# The three most frequent exit reasons the VMM served, most frequent first.
counts=$(sed -n 's/.*"kind":"summary".*"counts":{\([^}]*\)}.*/\1/p' "$run/com2.txt" | tail -n 1 | tr ',' '\n' |
         sed 's/"//g; s/:/ /' | sort -k2,2nr | head -n 3 | paste -sd, - | sed 's/,/, /g')
com1=$(tr -d '\r' <"$run/com1.txt")
total=$(printf '%s\n' "$com1" | sed -n 's/^1\.\.\([0-9]*\)$/\1/p' | head -n 1)
passed=$(printf '%s\n' "$com1" | grep -c '^ok ')
failed=$(printf '%s\n' "$com1" | grep -c '^not ok ')
trap13=$(printf '%s\n' "$com1" | grep -m1 '^\*\*\* trap' | sed 's/^\*\*\* //')
eip=$(printf '%s\n' "$com1" | sed -n 's/^ *eip=\([0-9a-f]*\).*/\1/p' | head -n 1)
eax=$(printf '%s\n' "$com1" | sed -n 's/^ *eax=\([0-9a-f]*\).*/\1/p' | head -n 1)

if [ -n "$figures" ]; then
  mkdir -p "$figures" || die "cannot write $figures"
  {
    echo "| hvlab-kvm, $irqchip | measured |"
    echo "|---|---|"
    echo "| the VM | $vm |"
    echo "| the vCPU at entry | \`$entry\` |"
    echo "| KVM_RUN calls | ${runs:-?} (exits served in the VMM: ${counts:-none}) |"
    if [ $can -eq 0 ]; then
      echo "| the suite, unmodified | $passed of ${total:-?} passed, $failed failed, in $seconds s |"
    else
      echo "| the suite, unmodified | stopped before its first test ($passed of ${total:-?} ran): at eip 0x$eip, turning paging on (\`eax=0x$eax\` for CR0), it took ${trap13:-no trap} |"
      echo "| why | ${why%% (*} |"
    fi
  } >"$figures/run.md"
  exit 0
fi

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ] && [ "${TERM:-dumb}" != dumb ]; then
  bold=$(printf '\033[1m') green=$(printf '\033[32m') red=$(printf '\033[31m') off=$(printf '\033[0m')
else
  bold="" green="" red="" off=""
fi
verdict_colour=$green
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ] || verdict_colour=$red
{
  echo "${bold}hvlab-kvm ($irqchip): a Linux process runs the suite on KVM${off}"
  echo "VM        $vm"
  echo "vCPU      $entry (multiboot's entry state)"
  echo "exits     ${runs:-?} KVM_RUN calls; in the VMM: ${counts:-none}"
  echo "${verdict_colour}verdict (KTAP on COM1): $passed passed, $failed failed${off} of ${total:-?}, $seconds s"
} | fold -s -w 80
[ "$passed" -gt 0 ] && [ "$failed" -eq 0 ] || die "the suite did not pass under hvlab-kvm (logs: make run LAB=lab05)"
