#!/bin/sh
# ctest autograder.grade.skipped_lab: hvlab-grade where the machine lacks what a lab needs.
#   1. lab05 alone, on a machine without KVM (HVLAB_KVM_DEVICE names a device that does not
#      exist): exit status 0, and the skip, with its reason, in the table's summary, the JSON,
#      Gradescope's results.json and JUnit; no score for it anywhere (Autolab's line).
#   2. the same skip beside a lab that really fails (fake_triple): exit status 1.
#   3. lab05 on this machine's own KVM: exit status 0, with full marks or a skip and its reason.
# Usage: skip-check.sh SOURCE BUILD WORK
set -u
src=${1:?usage: skip-check.sh SOURCE BUILD WORK}
build=${2:?}
work=${3:?}
grade="$build/autograder/grader/hvlab-grade"
fail() { echo "autograder.grade.skipped_lab: FAIL: $*"; exit 1; }
rm -rf "$work"
mkdir -p "$work/rubrics"
cp "$src/autograder/rubrics/lab05.toml" "$src/autograder/grader/tests/fake-monitors/fake_triple.toml" "$work/rubrics/"
no_kvm="$work/no-kvm"
reason="cannot use KVM: $no_kvm: No such file or directory"

HVLAB_KVM_DEVICE=$no_kvm "$grade" --build-dir "$build" --rubric-dir "$work/rubrics" --lab lab05 --no-calibrate -q \
  --json "$work/1.json" --gradescope "$work/1-results.json" --junit "$work/1.xml" --autolab >"$work/1.txt" 2>&1
rc=$?
cat "$work/1.txt"
[ $rc -eq 0 ] || fail "lab05 only skipped: exit status $rc, not 0"
grep -Fq "lab05: skipped, not graded (no points; a skip is not a pass): $reason" "$work/1.txt" ||
  fail "the summary does not show the skip with its reason"
grep -Fq "0 lab(s) with full marks, 0 not, 1 skipped (not graded)" "$work/1.txt" || fail "the summary's count"
grep -q '"status": "skipped"' "$work/1.json" || fail "the JSON's lab status is not skipped"
grep -Fq "\"reason\": \"$reason" "$work/1.json" || fail "the JSON does not give the reason"
grep -q '"full_marks": false' "$work/1.json" || fail "the JSON counts the skip as full marks"
grep -q '"no_failures": true' "$work/1.json" || fail "the JSON's no_failures"
grep -Fq "lab05: skipped, not graded" "$work/1-results.json" || fail "results.json does not show the skip"
grep -q '"score": 0' "$work/1-results.json" || fail "results.json gives the skip points"
grep -Fq "<skipped message=\"$reason" "$work/1.xml" || fail "JUnit has no skipped test case with the reason"
[ "$(tail -n 1 "$work/1.txt")" = '{"scores":{}}' ] || fail "Autolab's line scores the skipped lab"

HVLAB_KVM_DEVICE=$no_kvm "$grade" --build-dir "$build" --rubric-dir "$work/rubrics" --lab lab05,fake_triple \
  --no-calibrate -q >"$work/2.txt" 2>&1
rc=$?
[ $rc -eq 1 ] || { cat "$work/2.txt"; fail "a skip beside a real failure: exit status $rc, not 1"; }
grep -Fq "lab05: skipped, not graded" "$work/2.txt" || fail "the skip is not shown beside the failure"
grep -Fq "0 lab(s) with full marks, 1 not, 1 skipped (not graded)" "$work/2.txt" || fail "the summary's count"
echo "a skip beside a real failure: exit status 1"

"$grade" --build-dir "$build" --rubric-dir "$work/rubrics" --lab lab05 --no-calibrate -q >"$work/3.txt" 2>&1
rc=$?
sed -n '/^summary$/,/^timing$/p' "$work/3.txt"
[ $rc -eq 0 ] || fail "lab05 on this machine: exit status $rc"
grep -Eq "lab05: [0-9.]+ / [0-9.]+ points, full marks|lab05: skipped, not graded \(no points; a skip is not a pass\): .+" \
  "$work/3.txt" || fail "lab05 on this machine: neither full marks nor a skip with its reason"
echo "autograder.grade.skipped_lab: passed"
