#!/bin/sh
# ctest slides.deck: builds the deck from this tree (every figure measured anew) into
# BUILD/slides-test, renders every slide in headless Chromium with one screenshot each
# (render.cjs check), and checks that the PDF has one page per slide.
# Usage: slides/tests/deck.sh BUILD
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: deck.sh BUILD}
out="$build/slides-test"
fail() { echo "slides.deck: FAIL: $*"; exit 1; }
[ -d "$build/slides/npm/node_modules/playwright-core" ] ||
  fail "the deck's npm packages are missing: 'make test' installs them (or slides/npm-install.sh $build/slides/npm)"
# Every demo a slide names must be one the registry knows.
for name in $(grep -o 'make demo-[a-z0-9-]*' "$here/deck/lecture.md" | sed 's/^make demo-//' | sort -u); do
  cut -f1 "$here/demos/demos.tsv" | grep -qx "$name" || fail "the deck names 'make demo-$name', which slides/demos/demos.tsv does not list"
done
rm -rf "$out"
"$here/make-deck" --build-dir "$build" --out "$out" || fail "make-deck failed"
HVLAB_BUILD="$build" node "$here/render.cjs" check "$out/lecture.html" "$out/shots" >"$out/check.log" 2>&1
rc=$?
cat "$out/check.log"
[ $rc -eq 0 ] || fail "the rendering check failed"
slides=$(sed -n 's/^slides: \([0-9][0-9]*\) slides rendered.*/\1/p' "$out/check.log")
shots=$(ls "$out/shots" | grep -c '^slide-[0-9]*\.png$')
[ "$shots" = "$slides" ] || fail "$shots screenshots for $slides slides"
pages=$(pdfinfo "$out/lecture.pdf" 2>/dev/null | sed -n 's/^Pages: *//p')
[ "$pages" = "$slides" ] || fail "the PDF has ${pages:-no} pages for $slides slides"
echo "slides.deck: $slides slides, $pages PDF pages, screenshots in $out/shots"
