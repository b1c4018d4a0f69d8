#!/bin/sh
# The ladder of one lab (ctest -L ladder): a student who does the exercises in the order the
# handout gives (the rubric's `[lab] order`) sees the grade rise at every step, and each
# exercise's own unit tests pass as soon as it is done.
#
#   ladder-check.sh LAB SRC BUILD OUT [EMU]
#
# For k = 0 .. N it writes the handout of SRC with the reference solutions of the first k
# exercises kept (hvlab-handout --keep), and those of the labs before this one (--upto: the
# catch-up handout a student starts a later lab from; lab03's monitor runs on lab01's),
# builds the lab's monitor and unit tests in one build folder (only the files that changed
# are rebuilt), grades the lab on EMU (qemu by default) and runs the unit tests. It prints
# the score of every step and fails when a step does not raise the score, when the last step
# is short of full marks, or when a unit test fails for any reason other than an exercise
# still to do ("not implemented: <a later exercise>").
# Where the grader skips the lab on this machine (lab05 without a usable KVM) the unit tests
# still walk every step, and the check exits 77: skipped, never passed.
# A lab plugs in by declaring `order = [...]` in its rubric and a ctest entry (tools/handout).
set -eu

lab=$1
src=$(cd "$2" && pwd)
build=$(cd "$3" && pwd)
out=$4
emu=${5:-qemu}
jobs=${HVLAB_TEST_JOBS:-2}
mkdir -p "$out"
out=$(cd "$out" && pwd)

say() { echo "ladder $lab: $*"; }
die() { echo "ladder $lab: FAIL: $*" >&2; exit 1; }

rubric="$src/autograder/rubrics/$lab.toml"
[ -f "$rubric" ] || die "no rubric $rubric"
# The [lab] table's order = ["labNN-eK", ...], on one line or several.
order=$(awk '/^\[\[/ { exit } /^order *=/ { on = 1 } on { print } on && /\]/ { exit }' "$rubric" |
        grep -oE '"[^"]+"' | tr -d '"' | tr '\n' ' ')
[ -n "$order" ] || die "$rubric declares no exercise order ([lab] order = [...])"
folder=$(sed -n 's/^folder *= *"\(.*\)".*/\1/p' "$rubric" | head -n 1)
[ -n "$folder" ] || die "$rubric names no folder"
# The monitor's build output (a kernel image, or lab05's Linux program), a ninja target.
monitor=$(sed -n 's/^monitor *= *"\(.*\)".*/\1/p' "$rubric" | head -n 1)
monitor=${monitor:-$folder/monitor.elf}

# The labs before this one are done (lab01 has none before it).
n=$(echo "$lab" | sed -E 's/^lab0*([0-9]+)$/\1/')
upto=none
[ "$n" -gt 1 ] 2>/dev/null && upto=$(printf 'lab%02d' $((n - 1)))

w="$out/$lab"
rm -rf "$w"
# The build folder sits inside the tree, as in a student's (and the reference's) checkout,
# so the compiler cache (ccache, with the tree as its base folder) shares the objects of every
# file the stubs leave alone with the reference build.
b="$w/src/build"
set --
if command -v ccache >/dev/null 2>&1; then
  export CCACHE_BASEDIR="$w/src" CCACHE_NOHASHDIR=1
  set -- -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
fi

# Writes step k's handout over $w/src, touching only the files whose text changed (so the
# build redoes only what the newly kept solution changes).
write_step() {
  rm -rf "$w/gen"
  # shellcheck disable=SC2086
  "$build/tools/handout/hvlab-handout" --source "$src" --dest "$w/gen" --no-git --upto "$upto" ${1:+--keep "$1"} >/dev/null ||
    die "hvlab-handout failed for step '$1'"
  if [ ! -d "$w/src" ]; then
    mv "$w/gen" "$w/src"
    mkdir -p "$b/_deps"
    [ -d "$build/_deps/zydis" ] && cp -R "$build/_deps/zydis" "$b/_deps/zydis"
    return
  fi
  (cd "$w/gen" && find . -type f) | while read -r f; do
    cmp -s "$w/gen/$f" "$w/src/$f" || cp -p "$w/gen/$f" "$w/src/$f"
  done
  rm -rf "$w/gen"
}

tests_bin="$b/$folder/tests/${lab}_tests"
kept=""
done_ids=""
prev=-1
k=0
calibration=""
scores=""
for step in start $order; do
  if [ "$step" != start ]; then
    kept="${kept:+$kept,}$step"
    done_ids="$done_ids $step"
    k=$((k + 1))
  fi
  t0=$(date +%s)
  write_step "$kept"
  if [ ! -f "$b/build.ninja" ]; then
    cmake -S "$w/src" -B "$b" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >"$w/configure.log" 2>&1 ||
      { tail -n 20 "$w/configure.log"; die "the handout does not configure"; }
  fi
  targets="hvlab-calibrate $monitor"
  [ -d "$w/src/$folder/tests" ] && targets="$targets ${lab}_tests"
  # shellcheck disable=SC2086
  ninja -C "$b" -j "$jobs" $targets >"$w/build-$k.log" 2>&1 ||
    { grep -E 'error:|FAILED:' "$w/build-$k.log" | head -n 20; die "step $k ($step) does not build"; }

  t1=$(date +%s)
  set +e
  # shellcheck disable=SC2086
  "$build/autograder/grader/hvlab-grade" --build-dir "$b" --rubric-dir "$w/src/autograder/rubrics" \
    --guest-dir "$build/autograder/guests" --lab "$lab" --emu "$emu" -j "$jobs" $calibration >"$w/grade-$k.txt" 2>&1
  set -e
  # The first step's calibration boot measures this host once; the later steps reuse its factor.
  if [ -z "$calibration" ]; then
    factor=$(sed -n 's/.*calibration boot .*timeouts x\([0-9.]*\).*/\1/p' "$w/grade-$k.txt" | head -n 1)
    [ -n "$factor" ] && calibration="--no-calibrate --timeout-scale $factor"
  fi
  # A lab this machine cannot run (lab05 without a KVM that runs 32-bit paging guests) is
  # skipped by the grader with its reason: the unit tests still walk the ladder, and the check
  # ends as skipped (exit 77, ctest's SKIP_RETURN_CODE), never as passed.
  skip=$(sed -n "s/^  $lab: skipped, not graded (no points; a skip is not a pass): //p" "$w/grade-$k.txt" | head -n 1)
  if [ -n "$skip" ]; then
    score=skipped
    max=""
  else
    line=$(grep -E "^$lab: [0-9]+ / [0-9]+ points" "$w/grade-$k.txt" | head -n 1)
    [ -n "$line" ] || { tail -n 30 "$w/grade-$k.txt"; die "step $k ($step): no score in the report"; }
    score=$(echo "$line" | sed -E 's/^[^:]*: ([0-9]+) \/ ([0-9]+).*/\1/')
    max=$(echo "$line" | sed -E 's/^[^:]*: ([0-9]+) \/ ([0-9]+).*/\2/')
  fi

  t2=$(date +%s)
  # Unit tests: every failure must be a stub of an exercise not done yet.
  unit="no unit tests"
  if [ -x "$tests_bin" ]; then
    "$tests_bin" --gtest_color=no >"$w/unit-$k.txt" 2>&1 || true
    bad=$(awk -v done="$done_ids" '
      BEGIN { n = split(done, d, " "); for (i = 1; i <= n; i++) isdone[d[i]] = 1 }
      /^\[ RUN      \]/ { name = $4; body = ""; next }
      /^\[  FAILED  \] .*\(/ {
        ok = 0; s = body
        while (match(s, /not implemented: [A-Za-z0-9_.-]+/)) {
          id = substr(s, RSTART + 17, RLENGTH - 17)
          if (!(id in isdone)) ok = 1
          s = substr(s, RSTART + RLENGTH)
        }
        if (!ok) print name
        next
      }
      { body = body "\n" $0 }' "$w/unit-$k.txt")
    [ -z "$bad" ] || { echo "$bad" | head -n 10 >&2; die "step $k ($step): unit tests fail for a done exercise (log: $w/unit-$k.txt)"; }
    unit=$(grep -E '^\[  PASSED  \]' "$w/unit-$k.txt" | sed -E 's/.*\] ([0-9]+) tests?.*/\1/')
    total=$(grep -E '^\[==========\] [0-9]+ tests? from .* ran' "$w/unit-$k.txt" | sed -E 's/^\[==========\] ([0-9]+).*/\1/')
    unit="unit tests ${unit:-0}/${total:-?} pass"
  fi
  if [ -n "$skip" ]; then
    say "step $k: $(printf '%-10s' "$step") not graded on this machine, $unit ($((t1 - t0)) s build)"
    continue
  fi
  say "step $k: $(printf '%-10s' "$step") $score / $max points on $emu, $unit ($((t1 - t0)) s build, $((t2 - t1)) s grade)"
  scores="$scores $score"
  if [ "$score" -le "$prev" ]; then die "step $k ($step) does not raise the grade ($prev -> $score; report: $w/grade-$k.txt)"; fi
  prev=$score
done
if [ -n "$skip" ]; then
  rm -rf "$w"
  say "SKIPPED: the unit tests pass at every step, but the grader cannot run $lab here: $skip"
  exit 77
fi
[ "$prev" = "$max" ] || die "with every exercise done the grade is $prev / $max, not full marks"
say "the grade rises at every step:$scores (of $max)"
# The points of each exercise, as the grader prints them with everything done.
sed -n '/^  exercises:/,/^  [a-z]/p' "$w/grade-$k.txt" | grep -E '^    [a-z]' | sed "s/^ */ladder $lab:   /"
rm -rf "$w"
