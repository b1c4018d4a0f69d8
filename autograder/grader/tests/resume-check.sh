#!/bin/sh
# autograder.batch_resume (ctest -L grader): Ctrl-C stops `hvlab-grade --submissions` cleanly
# and a rerun grades only what is left. Four submissions (the handout's lab01, which its stubs
# stop at once), lab01 on QEMU, one at a time: SIGINT once the first is graded must end the
# grader with status 130, leave the first's results whole and nothing half-written; the same
# command again must keep that one ("kept from an earlier run"), grade the other three and
# write the gradebook of all four.
#
#   resume-check.sh SRC BUILD OUT
set -eu

src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
out=$3
mkdir -p "$out"
out=$(cd "$out" && pwd)
grade="$build/autograder/grader/hvlab-grade"
. "$src/autograder/grader/tests/need-sandbox.sh"
lab=lab01-trap-and-emulate
die() { echo "resume-check: FAIL: $*" >&2; exit 1; }

h="$out/handout"
subs="$out/submissions"
results="$out/results"
# The last run's logs too: a stale "[1/4 done" line would interrupt this run before it starts.
rm -rf "$subs" "$results" "$out/work" "$out/first.txt" "$out/second.txt"
"$build/tools/handout/hvlab-handout" --source "$src" --dest "$h" --no-git --force >/dev/null
for s in alice bob carol dave; do
  mkdir -p "$subs/$s"
  cp -R "$h/$lab" "$subs/$s/$lab"
done
run() {
  exec "$grade" --build-dir "$build" --rubric-dir "$src/autograder/rubrics" --source-dir "$src" --handout "$h" \
    --submissions "$subs" --out "$results" --work-dir "$out/work" --lab lab01 --emu qemu -j 1 \
    --ccache-dir "$out/ccache" "$@"
}

# First run, interrupted once one submission has its results.
: >"$out/first.txt"
(run >"$out/first.txt" 2>&1) &
pid=$!
i=0
until grep -q '\[1/4 done' "$out/first.txt"; do
  i=$((i + 1))
  [ "$i" -lt 1200 ] || { kill -INT "$pid"; die "no submission was graded within 120 s"; }
  kill -0 "$pid" 2>/dev/null || { tail -n 20 "$out/first.txt"; die "the grader ended before it was interrupted"; }
  sleep 0.1
done
kill -INT "$pid"
set +e
wait "$pid"
status=$?
set -e
[ "$status" = 130 ] || { tail -n 20 "$out/first.txt"; die "interrupted: exit status $status, expected 130"; }
grep -q 'interrupted: 1 submission(s) have their results' "$out/first.txt" || { tail -n 5 "$out/first.txt"; die "no word of what was kept"; }
[ -f "$results/alice/report.json" ] && [ -f "$results/alice/results.json" ] && [ -f "$results/alice/report.txt" ] ||
  die "the first submission's results are not whole"
[ ! -e "$results/bob/report.json" ] || [ -n "$(grep -l '"student": "bob"' "$results/bob/report.json")" ] ||
  die "bob has a stray report"
leftover=$(ls -A "$results" | grep -E '^\..*\.partial$' || true)
[ -z "$leftover" ] || die "half-written results left: $leftover"
[ ! -e "$results/gradebook.csv" ] || die "an interrupted run wrote a gradebook"
graded_first=$(ls "$results" | grep -c -v '^\.' || true)
echo "resume-check: interrupted after $graded_first submission(s), exit 130, nothing half-written"

# The same command again: the finished ones are kept, the rest graded.
(run >"$out/second.txt" 2>&1) || { tail -n 20 "$out/second.txt"; die "the rerun failed"; }
grep -q "$graded_first submission(s) already have results from an earlier run and are kept" "$out/second.txt" ||
  { grep kept "$out/second.txt"; die "the rerun did not keep the earlier results"; }
grep -q 'alice .*(kept from an earlier run)' "$out/second.txt" || die "alice was graded again"
[ "$(grep -c 'done, ' "$out/second.txt")" = $((4 - graded_first)) ] || die "the rerun did not grade exactly the rest"
[ "$(tail -n +2 "$results/gradebook.csv" | grep -c .)" = 4 ] || die "the gradebook does not hold all four"
echo "resume-check: the rerun kept $graded_first and graded $((4 - graded_first)); the gradebook has all four"
rm -rf "$subs" "$out/work"
