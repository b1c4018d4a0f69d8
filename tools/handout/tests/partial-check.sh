#!/bin/sh
# handout.partial: a generation that stops half-way (a solution marker left open) leaves no
# partial handout, and a later `--force` replaces the handout once the marker is fixed.
#   partial-check.sh HVLAB_HANDOUT SCRATCH
set -eu
tool=$1
dir=$2
die() { echo "partial-check: FAIL: $*" >&2; exit 1; }
rm -rf "$dir"
mkdir -p "$dir/src/lab01-x"
cd "$dir/src"
git init -q -b main .
printf '// a lab file\nint a;\n' > lab01-x/a.cpp
printf '// BEGIN SOLUTION lab01-e1\nint b = 1;\n// STUB: int b;\n' > lab01-x/b.cpp
printf 'int c;\n' > lab01-x/c.cpp
git add -A
git -c user.name=t -c user.email=t@localhost commit -qm t
if "$tool" --source "$dir/src" --dest "$dir/out" --no-git 2>"$dir/err.txt"; then die "an open marker was accepted"; fi
grep -q 'b.cpp' "$dir/err.txt" || die "the error does not name the file: $(cat "$dir/err.txt")"
[ ! -e "$dir/out" ] || die "a partial handout was left in $dir/out: $(ls -A "$dir/out")"
[ -z "$(ls -A "$dir" | grep partial)" ] || die "the staging folder was left: $(ls -A "$dir")"
# A good handout, then the broken source again with --force: the good one stays.
printf '// BEGIN SOLUTION lab01-e1\nint b = 1;\n// STUB: int b;\n// END SOLUTION\n' > lab01-x/b.cpp
git -c user.name=t -c user.email=t@localhost commit -qam fix
"$tool" --source "$dir/src" --dest "$dir/out" --no-git >/dev/null || die "the fixed tree did not generate"
[ -f "$dir/out/.hvlab-handout" ] && [ -f "$dir/out/lab01-x/c.cpp" ] || die "the handout is incomplete"
printf '// BEGIN SOLUTION lab01-e1\nint b = 2;\n' > lab01-x/b.cpp
git -c user.name=t -c user.email=t@localhost commit -qam break
if "$tool" --source "$dir/src" --dest "$dir/out" --no-git --force 2>/dev/null; then die "an open marker was accepted with --force"; fi
[ -f "$dir/out/.hvlab-handout" ] && [ -f "$dir/out/lab01-x/c.cpp" ] || die "a failed --force damaged the earlier handout"
printf '// BEGIN SOLUTION lab01-e1\nint b = 2;\n// STUB: int b;\n// END SOLUTION\n' > lab01-x/b.cpp
git -c user.name=t -c user.email=t@localhost commit -qam fix2
"$tool" --source "$dir/src" --dest "$dir/out" --no-git --force >/dev/null || die "--force did not replace the handout"
echo "partial-check: a failed generation leaves nothing behind, and --force replaces the handout"
rm -rf "$dir"
