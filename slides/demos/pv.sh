#!/bin/sh
# demo-pv: the same guest operations as traps and as hypercalls. The nanobenchmark guest runs
# under lab01 (unmodified: every sensitive operation traps) and its paravirtual build under
# lab03 (it asks with hypercalls, masks events with a store, batches page-table updates), on
# QEMU -icount; for each operation, the monitor entries and the instructions (guest and
# monitor together) it costs. Entries per operation are measured against a run of the same
# guest that does only plain calls, so the boot's own entries drop out.
# Usage: pv.sh [--figures DIR] [N]     N operations per benchmark (default 200)
# expect: cli_sti +2\.0 +0\.0
# expect: syscall +2\.[0-9] +0\.0
# expect: macro_procs +[0-9]+\.[0-9] +[0-9]+\.[0-9]
# expect: page-table updates per mmu_update [0-9]+\.[0-9]+ \(
. "$(dirname "$0")/lib.sh"
n=${1:-200}
case "$n" in *[!0-9]* | "") die "'$n' is not a number of operations" ;; esac
[ "$n" -ge 20 ] && [ "$n" -le 5000 ] || die "N must be 20 to 5000"
lab01="$build/lab01-trap-and-emulate/monitor.elf"
lab03="$build/lab03-paravirt/monitor.elf"
native_nb="$build/autograder/guests/nanobench.elf"
pv_nb="$build/autograder/guests/nanobench_pv.elf"
need "$boot"; need "$lab01"; need "$lab03"; need "$native_nb"; need "$pv_nb"
ops="cli_sti syscall port_in pte_update cr3_reload page_fault macro_procs"

work=$(mktemp -d "${TMPDIR:-/tmp}/hvlab-demo-pv.XXXXXX") || die "cannot make a work folder"
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# measure LAB MONITOR GUEST OP: one boot; writes LAB.OP with "entries ops instructions_per_op".
# trace=0 and clock=host: the monitor writes no per-event records and the guest's clock is
# the real TSC, so under -icount its figures count the monitor's instructions too. MONITOR
# "-": the guest boots bare (no monitor entries).
measure() {
  out="$work/$1.$4"
  if [ "$2" = - ]; then
    set -- "$1" "$3" "$3" "$4" --cmdline "only=$4 n=$n"
  else
    set -- "$1" "$2" "$3" "$4" --cmdline "trace=0 clock=host" --module "$3=only=$4 n=$n"
  fi
  if ! "$boot" --emu qemu --icount --kernel "$2" "$5" "$6" ${7:+"$7"} ${8:+"$8"} \
    --timeout 120 --workdir "$out.run" >"$out.log" 2>&1; then
    sed -n 's/^hvlab-boot: //p' "$out.log" | head -n 3 >&2
    echo "failed" >"$out"
    return
  fi
  entries=$(grep -o '"kind":"accounting","entries":[0-9]*' "$out.run/com2.txt" | grep -o '[0-9]*$')
  [ "$1" = bare ] && entries=0
  line=$(tr -d '\r' <"$out.run/com1.txt" | grep -E "^ok [0-9]+ $4 #")
  per_op=$(echo "$line" | sed -n 's/.*cycles_per_op=\([0-9.]*\).*/\1/p')
  count=$(echo "$line" | sed -n 's/.* ops=\([0-9]*\).*/\1/p')
  echo "${entries:-?} ${count:-?} ${per_op:-?}" >"$out"
  [ "$1$4" = lab03macro_procs ] && grep '"kind":"hypercalls"' "$out.run/com2.txt" >"$work/lab03.hypercalls"
  [ "$1$4" = lab03call_ret ] && grep '"kind":"hypercalls"' "$out.run/com2.txt" >"$work/lab03.base_hypercalls"
  rm -rf "$out.run"
}

# The boots of one operation side by side: bare, lab01's and lab03's.
for op in call_ret $ops; do
  [ "$op" = call_ret ] || measure bare - "$native_nb" "$op" &
  measure lab01 "$lab01" "$native_nb" "$op" &
  measure lab03 "$lab03" "$pv_nb" "$op" &
  wait
done
for f in "$work"/bare.* "$work"/lab0*.*; do
  case "$f" in *.log | *.hypercalls | *.base_hypercalls) continue ;; esac
  grep -q '^[0-9]* [0-9]* [0-9.]*$' "$f" || die "a run did not report its figures (${f##*/})"
done

# The table: entries per operation above the plain-call run, instructions per operation.
table=$(for op in $ops; do
  echo "$op $(cat "$work/lab01.call_ret") $(cat "$work/lab01.$op") $(cat "$work/lab03.call_ret") $(cat "$work/lab03.$op") $(cat "$work/bare.$op")"
done | awk '{
  e1 = ($5 - $2) / $6; e3 = ($11 - $8) / $12
  if (e1 < 0) e1 = 0
  if (e3 < 0) e3 = 0
  printf "%-12s %6.1f %6.1f %9.0f %9.0f %9.0f\n", $1, e1, e3, $16, $7, $13
}')
# Page-table updates carried per mmu_update hypercall in the macro workload (above the
# plain-call run), and the largest batch.
batch=$(cat "$work/lab03.base_hypercalls" "$work/lab03.hypercalls" | sed -n 's/.*"pt_updates":\([0-9]*\),"pt_batches":\([0-9]*\),"largest_batch":\([0-9]*\).*/\1 \2 \3/p' |
  awk 'NR == 1 { u = $1; b = $2 } NR == 2 { if ($2 > b) printf "%.2f (%d in %d, largest %d)", ($1 - u) / ($2 - b), $1 - u, $2 - b, $3 }')
[ -n "$batch" ] || die "lab03's macro run reported no page-table batches"

bold="" dim="" off=""
if [ -t 1 ]; then
  bold=$(printf '\033[1m') dim=$(printf '\033[2m') off=$(printf '\033[0m')
fi
echo "${bold}The same operations as traps (lab01) and as hypercalls (lab03)${off}"
echo "${dim}QEMU -icount, $n operations each; macro_procs: per round of the workload${off}"
echo
echo "${bold}              monitor entries           instructions${off}"
echo "${bold}operation     lab01  lab03      bare     lab01     lab03${off}"
echo "$table"
echo
echo "macro_procs: page-table updates per mmu_update $batch"

if [ -n "$figures" ]; then
  mkdir -p "$figures" || die "cannot write $figures"
  {
    echo "| operation | entries, lab01 (traps) | entries, lab03 (hypercalls) | instructions, bare | instructions, lab01 | instructions, lab03 |"
    echo "|---|--:|--:|--:|--:|--:|"
    echo "$table" | awk '{ printf "| `%s` | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }'
    echo
    echo "Per operation, QEMU \`-icount\`; \`macro_procs\` per round. Page-table updates per batched hypercall: $batch."
  } >"$figures/counts.md"
fi
