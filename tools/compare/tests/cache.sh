#!/bin/sh
# compare.cache: hvlab-compare --cached keeps a lab's figures while they are newer than its
# build, and measures the lab again once a program of its build folder is newer. A made-up
# tree: one lab whose figures.sh counts its runs.
# Usage: cache.sh HVLAB-COMPARE
set -u
compare=${1:?usage: cache.sh HVLAB-COMPARE}
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
fail() { echo "compare.cache: FAIL: $*"; cat "$t/out" 2>/dev/null; exit 1; }
mkdir -p "$t/src/lab01-made-up/tools" "$t/build/lab01-made-up"
cat >"$t/src/lab01-made-up/tools/figures.sh" <<'SCRIPT'
echo run >>"$1/runs"
printf '{"rows":[{"lab":"lab01","config":"made up","guest_changes":"none","suite_pass":"%s/9"}]}\n' "$(wc -l <"$1/runs")"
SCRIPT
printf '#!/bin/sh\n' >"$t/build/lab01-made-up/monitor.elf"
chmod +x "$t/build/lab01-made-up/monitor.elf"
touch -d '1 minute ago' "$t/src/lab01-made-up/tools/figures.sh" "$t/build/lab01-made-up/monitor.elf"
run() { "$compare" --source "$t/src" --build-dir "$t/build" --out "$t/out.d" --narrow "$@" >"$t/out" 2>&1 || fail "exit status $?"; }

run --cached
grep -Eq '^lab01 +made up +none +1/9' "$t/out" || fail "the first run did not measure"
grep -q '^measured now: lab01$' "$t/out" || fail "the first run did not say it measured lab01 now"
run --cached
[ "$(wc -l <"$t/build/runs")" -eq 1 ] || fail "--cached ran the script of a lab whose kept figures are up to date"
grep -Eq '^lab01 +made up +none +1/9' "$t/out" || fail "--cached did not show the kept figures"
grep -Eq '^kept \(make compare, [0-9-]+ [0-9:]+ UTC\): lab01$' "$t/out" || fail "--cached did not say the figures were kept"
touch "$t/build/lab01-made-up/monitor.elf"
run --cached
grep -Eq '^lab01 +made up +none +2/9' "$t/out" || fail "--cached kept figures older than the lab's monitor"
run
grep -Eq '^lab01 +made up +none +3/9' "$t/out" || fail "without --cached the lab was not measured"
echo "compare.cache: kept while up to date, measured again after a rebuild and without --cached"
