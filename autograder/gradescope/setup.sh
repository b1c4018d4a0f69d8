#!/usr/bin/env bash
# Gradescope runs this once, as root, on its Ubuntu image, when it builds the autograder.
# It uses the kit's own set-up: tools/deps.sh installs the Debian/Ubuntu packages (and a
# deb-src entry for Zydis' source), then the grader, the guests and the calibration kernel
# are built, and the untouched handout is graded once as a self-test, which also fills the
# compiler cache so that students' builds compile only what differs.
set -euo pipefail

# HVLAB_AUTOGRADER_ROOT stands in for /autograder when trying this outside Gradescope.
ag=${HVLAB_AUTOGRADER_ROOT:-/autograder}
kit="$ag/source/hvlab"
[ -d "$kit" ] || kit="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/hvlab"
tmp=${TMPDIR:-/tmp}
cd "$kit"

sh tools/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build --target hvlab-grade hvlab_guests hvlab-calibrate -j "$(nproc)"

# Self-test: the handout itself as a submission (it scores 0, with "not implemented").
rm -rf "$tmp"/hvlab-selftest
sh autograder/grade --build-dir build --submission "$kit" --out "$tmp"/hvlab-selftest --work-dir "$tmp"/hvlab-selftest-work \
  -j "$(nproc)" || true
test -s "$tmp"/hvlab-selftest/*/results.json || { echo "setup.sh: the self-test wrote no results.json" >&2; exit 1; }
rm -rf "$tmp"/hvlab-selftest "$tmp"/hvlab-selftest-work
echo "setup.sh: hvlab autograder ready"
