#!/bin/sh
# make handin: packs what you committed into a submission archive for your instructor.
#   tools/handout/handin.sh [BUILD_DIR]       (make handin; the archive goes to BUILD_DIR/handin/)
#
# It refuses while there are uncommitted changes (edited, staged or new files that git does
# not ignore): what is graded must be what is in your history. The archive holds the tree of
# your last commit (git archive), so build folders and other ignored files stay out. It also
# says which of your changes the grader uses: sources in the lab folders; build files
# (CMakeLists.txt, *.cmake, linker scripts, the Makefile) and everything outside the lab
# folders are graded as the handout has them.
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}
case "$build" in /*) ;; *) build="$top/$build" ;; esac
cd "$top"

git rev-parse --is-inside-work-tree >/dev/null 2>&1 || {
  echo "handin: $top is not a git repository; the handout is one (make handout creates it with one commit)" >&2
  exit 1
}
# A fresh clone has no hooks: put back the one that stops pushes to public repositories.
if [ -f .hvlab-handout ] && [ -f tools/handout/pre-push ]; then
  hooks=$(git rev-parse --git-path hooks)
  if [ ! -e "$hooks/pre-push" ]; then
    mkdir -p "$hooks" && cp tools/handout/pre-push "$hooks/pre-push" && chmod 755 "$hooks/pre-push"
  fi
fi

dirty=$(git status --porcelain --untracked-files=normal)
if [ -n "$dirty" ]; then
  echo "handin: refusing: you have changes that are not committed:" >&2
  printf '%s\n' "$dirty" | head -n 20 | sed 's/^/  /' >&2
  [ "$(printf '%s\n' "$dirty" | wc -l)" -le 20 ] || echo "  ..." >&2
  echo "handin: commit them (git add -A && git commit -m \"...\"), or remove them, then run make handin again." >&2
  exit 1
fi

commit=$(git rev-parse --short=12 HEAD)
who=$(git config user.name 2>/dev/null || true)
[ -n "$who" ] || who=$(id -un 2>/dev/null || echo student)
who=$(printf '%s' "$who" | tr -c 'A-Za-z0-9._-' '_' | sed 's/^[._-]*//' | cut -c1-40)
[ -n "$who" ] || who=student
mkdir -p "$build/handin"
archive="$build/handin/hvlab-$who-$commit.tar.gz"
git archive --format=tar --prefix=hvlab/ HEAD | gzip -n -9 > "$archive.tmp"
mv "$archive.tmp" "$archive"

echo "handin: $archive"
echo "handin: commit $commit ($(git log -1 --format='%cd' --date=iso)), $(wc -c < "$archive" | tr -d ' ') bytes"

# What changed since the handout (its first commit), as the grader sees it.
first=$(git rev-list --max-parents=0 HEAD | tail -n 1)
if [ "$first" = "$(git rev-parse HEAD)" ]; then
  echo "handin: warning: this is the handout as it was given (no commit of yours yet)" >&2
else
  used=0; ignored=""
  for f in $(git diff --name-only "$first" HEAD); do
    case "$f" in
      */CMakeLists.txt|CMakeLists.txt|*.cmake|*.ld|*.lds|Makefile|*/Makefile|*.mk) ignored="$ignored $f" ;;
      lab[0-9][0-9]-*/*.cpp|lab[0-9][0-9]-*/*.cc|lab[0-9][0-9]-*/*.c|lab[0-9][0-9]-*/*.h|lab[0-9][0-9]-*/*.hpp|\
      lab[0-9][0-9]-*/*.S|lab[0-9][0-9]-*/*.s|lab[0-9][0-9]-*/*.inc) used=$((used + 1)) ;;
      *) ignored="$ignored $f" ;;
    esac
  done
  echo "handin: $used changed source file(s) in the lab folders will be graded"
  if [ -n "$ignored" ]; then
    echo "handin: these changes are in the archive but the autograder does not use them (it builds with the"
    echo "handin: handout's build files; written answers, e.g. in labs/*.md, are for your instructor to read):"
    for f in $ignored; do echo "  $f"; done
  fi
fi
echo "handin: submit that file as your instructor asks (Gradescope upload, course site, ...)"
