#!/bin/sh
# demo-compare: the lecture's table of techniques, measured on the spot: `make compare`'s
# generator (hvlab-compare) runs every lab's figures now, two at a time and with the short
# timing rounds (--quick), and prints the table in 80 columns. A lab without figures yet is
# "not measured yet"; a row this machine cannot run says why under the table.
# Usage: compare.sh [--figures DIR]
# expect: ^lab +configuration +changes +suite +ent/test +cost per exit
# expect: ^lab04 +VT-x on Bochs +none +[0-9]+/[0-9]+ +[0-9]+
# expect: ^lab04 +AMD-V on QEMU \(-icount\) +none +[0-9]+/[0-9]+ +[0-9]+
# expect: ^lab05 +irqchip in user space +none +([0-9]+/[0-9]+|not here) .* [0-9.]+ us x[0-9.]+
# expect: measured in [0-9.]+ s
. "$(dirname "$0")/lib.sh"
compare="$build/tools/compare/hvlab-compare"
need "$compare"
work=$(mktemp -d "${TMPDIR:-/tmp}/hvlab-demo-$DEMO.XXXXXX") || die "cannot make a work folder"
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
start=$(date +%s.%N)
"$compare" --source "$top" --build-dir "$build" --out "$work" -j 2 --quick --narrow >"$work/table.txt" 2>"$work/log" ||
  { tail -n 3 "$work/log" >&2; die "hvlab-compare failed"; }
end=$(date +%s.%N)
seconds=$(awk "BEGIN { printf \"%.1f\", $end - $start }")
if [ -n "$figures" ]; then
  mkdir -p "$figures" || die "cannot write $figures"
  { cat "$work/table-narrow.md"; echo; echo "Measured in $seconds s by \`hvlab-compare -j 2 --quick\`."; } \
    >"$figures/table.md"
  exit 0
fi
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ] && [ "${TERM:-dumb}" != dumb ]; then
  bold=$(printf '\033[1m') dim=$(printf '\033[90m') off=$(printf '\033[0m')
else
  bold="" dim="" off=""
fi
echo "${bold}The techniques compared, measured now on this machine${off}"
sed -n '1p' "$work/table.txt" | sed "s/^/$dim/; s/\$/$off/"
sed '1d' "$work/table.txt" | fold -s -w 80
echo "${dim}measured in $seconds s (hvlab-compare -j 2 --quick; make compare: all rounds)${off}"
