#!/bin/sh
# demo-compare: the lecture's table of techniques, measured: `make compare`'s generator
# (hvlab-compare) takes each lab's figures from what `make compare` (or an earlier run of this
# demo) kept, when they are newer than the lab's build, the guests and the scripts, and
# measures the others now, two at a time and with the short timing rounds (--quick); it
# prints the table in 80 columns and says which labs were measured now and which were kept.
# A lab without figures yet is "not measured yet"; a row this machine cannot run says why
# under the table. Usage: compare.sh [--figures DIR]
# expect: ^lab +configuration +changes +suite +ent/test +cost$
# expect: ^lab01 +ring-1 guest, QEMU -icount +none +[0-9]+/[0-9]+ +[0-9]+ [0-9]+ i/syscall
# expect: ^lab02 +translation, QEMU -icount +none +[0-9]+/[0-9]+ +[0-9]+ [0-9]+ i/syscall
# expect: ^lab03 +hypercalls, QEMU -icount +PV build +[0-9]+/[0-9]+ +[0-9]+ [0-9]+ i/syscall
# expect: ^lab04 +VT-x on Bochs +none +[0-9]+/[0-9]+ +[0-9]+
# expect: ^lab04 +AMD-V on QEMU \(-icount\) +none +[0-9]+/[0-9]+ +[0-9]+
# expect: ^lab05 +irqchip in user space +none +([0-9]+/[0-9]+|not here) .* [0-9.]+ us x[0-9.]+
# expect: ^(measured now|kept \((make compare|quick run), [0-9-]+ [0-9:]+ UTC\)): lab0[1-5]
# expect: done in [0-9.]+ s
. "$(dirname "$0")/lib.sh"
compare="$build/tools/compare/hvlab-compare"
need "$compare"
work=$(mktemp -d "${TMPDIR:-/tmp}/hvlab-demo-$DEMO.XXXXXX") || die "cannot make a work folder"
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
start=$(date +%s.%N)
"$compare" --source "$top" --build-dir "$build" --out "$work" -j 2 --quick --cached --narrow >"$work/table.txt" 2>"$work/log" ||
  { tail -n 3 "$work/log" >&2; die "hvlab-compare failed"; }
end=$(date +%s.%N)
seconds=$(awk "BEGIN { printf \"%.1f\", $end - $start }")
if [ -n "$figures" ]; then
  mkdir -p "$figures" || die "cannot write $figures"
  {
    cat "$work/table-narrow.md"
    echo
    echo "\`hvlab-compare -j 2 --quick --cached\`, $seconds s;" \
      "$(grep -E '^(measured now|kept \()' "$work/table.txt" | paste -sd ';' | sed 's/;/; /g')."
  } >"$figures/table.md"
  exit 0
fi
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ] && [ "${TERM:-dumb}" != dumb ]; then
  bold=$(printf '\033[1m') dim=$(printf '\033[90m') off=$(printf '\033[0m')
else
  bold="" dim="" off=""
fi
echo "${bold}The techniques compared, measured on this machine${off}"
sed -n '1p' "$work/table.txt" | sed "s/^/$dim/; s/\$/$off/"
sed '1d' "$work/table.txt" | fold -s -w 80
grep -q '^kept (' "$work/table.txt" &&
  echo "${dim}kept: measured earlier, newer than the lab's build, the guests and the scripts${off}"
echo "${dim}done in $seconds s (hvlab-compare -j 2 --quick --cached; make compare: all rounds)${off}"
