#!/bin/sh
# demo-pv: the same guest operations as traps and as hypercalls. The nanobenchmark guest runs
# under lab01 (unmodified: every sensitive operation traps) and its paravirtual build under
# lab03 (it asks with hypercalls, masks events with a store, batches page-table updates), on
# QEMU -icount; for each operation, the monitor entries and the instructions (guest and
# monitor together) it costs. The instructions are the guest's own figures (its TSC counts
# one tick per instruction). The entries: the guest runs every benchmark once with N
# operations and once with 2N, and the monitor's trace marks where each benchmark's result
# line was written (a "ktap" note carries the trace's running count of entries), so each
# benchmark's share of the entries in the two runs differs by what N more operations cost,
# the boot and the runner's resets cancelled out. The operations shown: those that are a
# trap under lab01 and a hypercall, a store or nothing under lab03 (interrupt flag, system
# call, port I/O, page-table entry, CR3), and the workload that mixes them.
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
ops="cli_sti syscall port_in pte_update cr3_reload macro_procs"

work=$(mktemp -d "${TMPDIR:-/tmp}/hvlab-demo-pv.XXXXXX") || die "cannot make a work folder"
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# measure NAME MONITOR GUEST ARGS: one boot on QEMU -icount, its COM1 and COM2 kept as
# NAME.com1 and NAME.com2 (NAME.failed if it did not end well). trace=0 and clock=host: the
# monitor writes no per-event records and the guest's clock is the real TSC, so its figures
# count the monitor's instructions too. MONITOR "-": the guest boots bare.
measure() {
  if [ "$2" = - ]; then
    set -- "$1" --kernel "$3" --cmdline "$4"
  else
    set -- "$1" --kernel "$2" --cmdline "trace=0 clock=host" --module "$3=$4"
  fi
  name=$1
  shift
  if ! "$boot" --emu qemu --icount "$@" --timeout 120 --workdir "$work/$name.run" >"$work/$name.log" 2>&1; then
    sed -n 's/^hvlab-boot: //p' "$work/$name.log" | head -n 3 >&2
    touch "$work/$name.failed"
    return
  fi
  tr -d '\r' <"$work/$name.run/com1.txt" >"$work/$name.com1"
  cp "$work/$name.run/com2.txt" "$work/$name.com2"
  rm -rf "$work/$name.run"
}

# Two boots at a time. lab03.macro*: the workload alone (first=9, its number), for the
# page-table batches, which the monitor counts for a whole run.
measure bare - "$native_nb" "n=$n" &
measure lab01.1 "$lab01" "$native_nb" "n=$n" &
wait
measure lab01.2 "$lab01" "$native_nb" "n=$((2 * n))" &
measure lab03.1 "$lab03" "$pv_nb" "n=$n" &
wait
measure lab03.2 "$lab03" "$pv_nb" "n=$((2 * n))" &
measure lab03.macro1 "$lab03" "$pv_nb" "first=9 n=$n" &
wait
measure lab03.macro2 "$lab03" "$pv_nb" "first=9 n=$((2 * n))"
for r in bare lab01.1 lab01.2 lab03.1 lab03.2 lab03.macro1 lab03.macro2; do
  [ -e "$work/$r.failed" ] && die "a run did not end as it should (${r%%.*})"
done

# figures RUN OP: "ops instructions_per_op" from the guest's result line.
figures_of() {
  sed -n "s/^ok [0-9]* $2 # cycles_per_op=\([0-9.]*\) ops=\([0-9]*\) .*/\2 \1/p" "$work/$1.com1"
}
# entries RUN OP: the monitor entries of OP's share of the run: from the result line before
# it to its own ("seq" counts every entry and every note).
entries_of() {
  grep -o '"seq":[0-9]*,"kind":"[a-z]*","what":"[a-z ]*[0-9]* [a-z0-9_]*' "$work/$1.com2" |
    awk -F '[:,"]+' -v op="$2" '$5 == "ktap" { n = split($7, w, " "); if (w[n] == op) { print $3 - last; exit } last = $3 }'
}
table=$(for op in $ops; do
  b=$(figures_of bare "$op")
  l1=$(figures_of lab01.1 "$op") l2=$(figures_of lab01.2 "$op")
  p1=$(figures_of lab03.1 "$op") p2=$(figures_of lab03.2 "$op")
  e11=$(entries_of lab01.1 "$op") e12=$(entries_of lab01.2 "$op")
  e31=$(entries_of lab03.1 "$op") e32=$(entries_of lab03.2 "$op")
  [ -n "$b" ] && [ -n "$l1" ] && [ -n "$l2" ] && [ -n "$p1" ] && [ -n "$p2" ] && [ -n "$e11" ] && [ -n "$e12" ] &&
    [ -n "$e31" ] && [ -n "$e32" ] || { echo "missing $op"; continue; }
  echo "$op $b $l1 $l2 $p1 $p2 $e11 $e12 $e31 $e32"
done | awk '$1 == "missing" { print; next } {
  # op, bare ops/per-op, lab01 n and 2n, lab03 n and 2n, entries lab01 n/2n, lab03 n/2n
  e1 = ($13 - $12) / ($6 - $4); e3 = ($15 - $14) / ($10 - $8)
  printf "%-12s %6.1f %6.1f %9.0f %9.0f %9.0f\n", $1, e1, e3, $3, $5, $9
}')
missing=$(echo "$table" | sed -n 's/^missing //p' | head -n 1)
[ -z "$missing" ] || die "a run did not report the figures of $missing"
# Page-table updates carried per mmu_update hypercall in the macro workload (what its N/10
# more rounds added), and the largest batch.
batch=$(cat "$work/lab03.macro1.com2" "$work/lab03.macro2.com2" | sed -n 's/.*"pt_updates":\([0-9]*\),"pt_batches":\([0-9]*\),"largest_batch":\([0-9]*\).*/\1 \2 \3/p' |
  awk 'NR == 1 { u = $1; b = $2 } NR == 2 { if ($2 > b) printf "%.2f (%d in %d, largest %d)", ($1 - u) / ($2 - b), $1 - u, $2 - b, $3 }')
[ -n "$batch" ] || die "lab03's macro runs reported no page-table batches"

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
