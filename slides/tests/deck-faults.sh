#!/bin/sh
# ctest slides.deck_check_catches_faults: the rendering check must fail on a deck with an
# overflowing slide, a missing image, a placeholder, a figure never filled in, a "not measured
# yet" for a demo that exists, and a line wider than the slide, and pass its good slide.
# Usage: slides/tests/deck-faults.sh BUILD
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: deck-faults.sh BUILD}
out="$build/slides-faults"
fail() { echo "slides.deck_check_catches_faults: FAIL: $*"; exit 1; }
rm -rf "$out"
"$here/make-deck" --build-dir "$build" --out "$out" --deck "$here/tests/fixtures/faults.md" --no-pdf --no-measure ||
  fail "make-deck could not render the fixture"
HVLAB_BUILD="$build" node "$here/render.cjs" check "$out/lecture.html" "$out/shots" >"$out/check.log" 2>&1
rc=$?
cat "$out/check.log"
[ $rc -ne 0 ] || fail "the check passed a deck full of faults"
for want in \
  'slide 2 "Too much on one slide": overflows the slide' \
  'slide 3 "A missing image": missing image: data:image/svg+xml' \
  'slide 4 "A placeholder": placeholder text: "TODO"' \
  "slide 5 \"A figure never filled in\": the measured figure of demo 'census' was not filled in" \
  'slide 6 "A figure said to be missing though its demo exists": says "not measured yet" though slides/demos/census.sh exists' \
  'slide 7 "A line too wide for the slide": content cut off or behind a scroll bar'; do
  grep -qF "FAIL: $want" "$out/check.log" || fail "the check did not report: $want"
done
grep -q 'FAIL: slide 8 ' "$out/check.log" && fail "the check faulted the good slide"
grep -q 'FAIL: slide 1 ' "$out/check.log" && fail "the check faulted the title slide"
echo "slides.deck_check_catches_faults: every fault reported"
