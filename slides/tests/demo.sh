#!/bin/sh
# ctest slides.demo.NAME: runs one demo of slides/demos/demos.tsv as a lecturer would.
#   - a demo whose script exists: piped, it exits 0, prints plain text (no colour codes) within
#     80 columns, and shows every "# expect: REGEX" of its script's header (grep -E); on a
#     terminal (script(1)) it prints in colour;
#   - a demo the machine cannot show (status 77, e.g. no usable KVM): one line saying why, and
#     the test is skipped (status 77);
#   - a demo whose script does not exist yet: one line saying its lab is not there yet, and a
#     non-zero exit.
# Usage: slides/tests/demo.sh BUILD NAME
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: demo.sh BUILD NAME}
name=${2:?usage: demo.sh BUILD NAME}
script="$here/demos/$name.sh"
fail() { echo "slides.demo.$name: FAIL: $*"; exit 1; }
out=$(mktemp)
trap 'rm -f "$out" "$out.tty"' EXIT

if [ ! -x "$script" ]; then
  "$here/demo" --build-dir "$build" "$name" >"$out" 2>&1 && fail "exited 0 though its script is not there"
  cat "$out"
  [ "$(wc -l <"$out")" -eq 1 ] || fail "said more than one line"
  grep -q "is not there yet" "$out" || fail "did not say that its lab is not there yet"
  echo "slides.demo.$name: not there yet, said in one line, exit status non-zero"
  exit 0
fi

start=$(date +%s.%N)
"$here/demo" --build-dir "$build" "$name" >"$out" 2>&1
rc=$?
end=$(date +%s.%N)
cat "$out"
# 77: the machine cannot show this demo (lab05 without a KVM that runs the guest): one line
# within 80 columns saying why, and the test is reported as skipped, never as passed.
if [ $rc -eq 77 ]; then
  [ "$(wc -l <"$out")" -eq 1 ] || fail "status 77 (not on this machine) with more than one line"
  grep -q "not on this machine: ." "$out" || fail "status 77 without 'not on this machine: REASON'"
  awk 'length($0) > 80 { exit 1 }' "$out" || fail "its one line is wider than 80 columns"
  echo "slides.demo.$name: skipped: this machine cannot show it (said in one line)"
  exit 77
fi
[ $rc -eq 0 ] || fail "exit status $rc"
grep -q "$(printf '\033')" "$out" && fail "colour codes in piped output"
awk 'length($0) > 80 { print "line " NR " has " length($0) " columns: " $0; bad = 1 } END { exit bad }' "$out" ||
  fail "wider than 80 columns"
expects=$(sed -n 's/^# expect: //p' "$script")
[ -n "$expects" ] || fail "its script names nothing to expect (# expect: REGEX lines)"
echo "$expects" | while IFS= read -r want; do
  grep -Eq -- "$want" "$out" || { echo "slides.demo.$name: FAIL: the output does not show /$want/"; exit 1; }
done || exit 1

# On a terminal, the same demo in colour.
TERM=xterm-256color script -qec "'$here/demo' --build-dir '$build' '$name'" /dev/null </dev/null >"$out.tty" 2>&1 ||
  fail "on a terminal: exit status $?"
grep -q "$(printf '\033')\[" "$out.tty" || fail "no colour on a terminal"
echo "slides.demo.$name: passed; the piped run took $(awk "BEGIN { printf \"%.1f\", $end - $start }") s"
