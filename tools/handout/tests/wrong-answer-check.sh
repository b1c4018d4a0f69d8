#!/bin/sh
# handout.wrong_answer (ctest -L handout): a student's lab01-e1 that leaves RDTSC
# unclassified stops the monitor before the guest prints anything; the grade must name the
# cause (`rdtsc`, the monitor's last trace records and debug console), not only "the guest
# printed nothing".
#   wrong-answer-check.sh SRC BUILD OUT
set -eu
src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
out=$3
jobs=${HVLAB_TEST_JOBS:-2}
die() { echo "wrong-answer-check: FAIL: $*" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd)
t="$out/src"
"$build/tools/handout/hvlab-handout" --source "$src" --dest "$t" --no-git --upto lab01 >/dev/null ||
  die "hvlab-handout failed"
f="$t/lab01-trap-and-emulate/src/trap_event.cpp"
grep -q 'case ZYDIS_MNEMONIC_RDTSC:' "$f" || die "no RDTSC case in $f to remove"
sed -i '/case ZYDIS_MNEMONIC_RDTSC:/d' "$f"
mkdir -p "$t/build/_deps"
[ -d "$build/_deps/zydis" ] && cp -R "$build/_deps/zydis" "$t/build/_deps/zydis"
set --
if command -v ccache >/dev/null 2>&1; then
  export CCACHE_BASEDIR="$t" CCACHE_NOHASHDIR=1
  set -- -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
fi
cmake -S "$t" -B "$t/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >"$out/configure.log" 2>&1 ||
  die "the handout does not configure (see $out/configure.log)"
ninja -C "$t/build" -j "$jobs" hvlab-calibrate lab01-trap-and-emulate/monitor.elf >"$out/build.log" 2>&1 ||
  die "the handout does not build (see $out/build.log)"
set +e
"$build/autograder/grader/hvlab-grade" --build-dir "$t/build" --rubric-dir "$t/autograder/rubrics" \
  --guest-dir "$build/autograder/guests" --lab lab01 --emu qemu -j "$jobs" -q >"$out/grade.txt" 2>&1
set -e
grep -E '^lab01: ' "$out/grade.txt" || die "no score in the report"
grep -q '`rdtsc` at eip' "$out/grade.txt" || { sed -n '/what went wrong/,$p' "$out/grade.txt" | head -n 8; die "the report does not name rdtsc"; }
grep -q 'triple-faulted' "$out/grade.txt" || die "the report does not say how the monitor stopped"
grep -q 'make run LAB=' "$out/grade.txt" || die "the report does not say how to see the whole log"
grep -E '\(102 tests\)' "$out/grade.txt" >/dev/null || die "the 102 identical reasons are not folded into one line"
echo "wrong-answer-check: the report names the cause:"
grep -m1 -o 'the monitor.s last trace records: [^(]*([^)]*)' "$out/grade.txt" || true
rm -rf "$out"
