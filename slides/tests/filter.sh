#!/bin/sh
# ctest slides.measured_filter: deck/measured.lua puts a demo's figure in its place, writes
# "Not measured yet" (naming the lab) only for a demo without a script, and stops the build
# when an existing demo wrote no figure, or an empty one, or the deck names an unknown demo.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "slides.measured_filter: FAIL: $*"; exit 1; }
export HVLAB_FIGURES="$work/figures" HVLAB_REGISTRY="$here/demos/demos.tsv" HVLAB_AVAILABLE="census"
render() {  # render MARKDOWN: HTML on stdout, pandoc's complaint in $work/err
  printf '%s\n' "$1" | pandoc -f markdown -t html --lua-filter="$here/deck/measured.lua" 2>"$work/err"
}
mkdir -p "$work/figures/census"
printf '| a | b |\n|---|---|\n| 33 | 20 |\n' >"$work/figures/census/classes.md"

html=$(render '::: {.measured demo=census figure=classes}
:::') || fail "a figure that exists did not render: $(cat "$work/err")"
echo "$html" | grep -q '<td>33</td>' || fail "the figure is not in its place: $html"
echo "$html" | grep -q 'make demo-census' || fail "the demo command is not named: $html"
echo "$html" | grep -q 'is-measured' || fail "the figure is not marked measured"

html=$(render '::: {.measured demo=bt figure=block}
:::') || fail "a demo without a script stopped the build: $(cat "$work/err")"
echo "$html" | grep -q 'Not measured yet' || fail "no \"Not measured yet\" for a demo without a script"
echo "$html" | grep -q 'lab02-binary-translation' || fail "the note does not name the lab"

render '::: {.measured demo=census figure=popf}
:::' >/dev/null && fail "a figure the demo did not write went through"
grep -q "demo-census wrote no figure 'popf'" "$work/err" || fail "unclear message: $(cat "$work/err")"

: >"$work/figures/census/classes.md"
render '::: {.measured demo=census figure=classes}
:::' >/dev/null && fail "an empty figure went through"
grep -q "is empty" "$work/err" || fail "unclear message: $(cat "$work/err")"

render '::: {.measured demo=nosuch figure=x}
:::' >/dev/null && fail "an unknown demo went through"
grep -q "demo 'nosuch' is not in" "$work/err" || fail "unclear message: $(cat "$work/err")"
echo "slides.measured_filter: passed"
