#!/usr/bin/env bash
# Gradescope runs this once, as root, on its Ubuntu image, when it builds the autograder.
# It uses the kit's own set-up: tools/deps.sh installs the Debian/Ubuntu packages (and a
# deb-src entry for Zydis' and QEMU's sources), then the grader, the guests, the calibration
# kernel and the execution-evidence plugin are built, and the untouched handout is graded
# once as a self-test, which also fills the compiler cache with the handout's objects.
#
# The sandbox: the self-test tries bubblewrap (namespaces, no network, the unprivileged user
# hvlab-sandbox); if the container cannot make namespaces, it falls back to the unprivileged
# user alone (--sandbox user), says so, and records the mode for run_autograder. Either way
# the hidden rubrics and the grader's own files are made readable by root alone.
set -euo pipefail

# HVLAB_AUTOGRADER_ROOT stands in for /autograder when trying this outside Gradescope.
ag=${HVLAB_AUTOGRADER_ROOT:-/autograder}
kit="$ag/source/hvlab"
[ -d "$kit" ] || kit="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/hvlab"
tmp=${TMPDIR:-/tmp}
cd "$kit"

sh tools/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
targets="hvlab-grade hvlab_guests hvlab-calibrate"
cmake --build build --target help | grep -q '^hvlab_evidence:' && targets="$targets hvlab_evidence"
# shellcheck disable=SC2086
cmake --build build --target $targets -j "$(nproc)"

# What a submission must never read: the hidden rubrics (the sandbox hides them already; in
# the fallback mode their permissions are all there is).
if [ -d autograder/rubrics/hidden ]; then
  chown -R root:root autograder/rubrics/hidden
  chmod -R go-rwx autograder/rubrics/hidden
fi

# Self-test: the handout itself as a submission (it scores 0, with "not implemented").
selftest() {
  rm -rf "$tmp"/hvlab-selftest "$tmp"/hvlab-selftest-work
  sh autograder/grade --build-dir build --submission "$kit" --out "$tmp"/hvlab-selftest \
    --work-dir "$tmp"/hvlab-selftest-work -j "$(nproc)" --sandbox "$1" >"$tmp"/hvlab-selftest.log 2>&1
}
mode=bwrap
set +e
selftest bwrap
status=$?
if [ "$status" = 2 ] && grep -q 'cannot make the sandbox' "$tmp"/hvlab-selftest.log; then
  echo "setup.sh: $(grep 'cannot make the sandbox' "$tmp"/hvlab-selftest.log | head -n 1)"
  echo "setup.sh: this container cannot make namespaces: submissions run as the unprivileged user hvlab-sandbox only (--sandbox user)"
  mode=user
  selftest user
  status=$?
fi
set -e
test -s "$tmp"/hvlab-selftest/*/results.json || { tail -n 30 "$tmp"/hvlab-selftest.log; echo "setup.sh: the self-test wrote no results.json" >&2; exit 1; }
grep 'sandbox for the submissions' "$tmp"/hvlab-selftest.log | sed 's/^hvlab-grade: /setup.sh: /' || true
echo "$mode" > build/.hvlab-sandbox-mode
rm -rf "$tmp"/hvlab-selftest "$tmp"/hvlab-selftest-work "$tmp"/hvlab-selftest.log
echo "setup.sh: hvlab autograder ready (sandbox: $mode)"
