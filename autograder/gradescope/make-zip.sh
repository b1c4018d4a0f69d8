#!/bin/sh
# Builds the zip Gradescope's programming assignments take as an autograder (make gradescope).
#   autograder/gradescope/make-zip.sh [--build-dir DIR] [--out FILE] [--upto labNN]
#
# The zip holds, at its root, Gradescope's two files and the kit:
#   setup.sh         run once, as root, when Gradescope builds the image: the kit's own set-up
#                    (tools/deps.sh), a build of the grader and the guests, and a self-test
#   run_autograder   run for every submission: grades /autograder/submission and writes
#                    /autograder/results/results.json
#   hvlab/           the handout (the students' tree, with --upto as the students had it),
#                    plus the instructor's hidden rubrics (autograder/rubrics/hidden/), if any
# No solution reaches Gradescope: submissions are graded in a copy of the handout.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build="$root/build"
out=""
upto=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --upto) upto=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "make-zip: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$build" in /*) ;; *) build="$(pwd)/$build" ;; esac
[ -n "$out" ] || out="$build/gradescope/hvlab-autograder.zip"
case "$out" in /*) ;; *) out="$(pwd)/$out" ;; esac
tool="$build/tools/handout/hvlab-handout"
[ -x "$tool" ] || { echo "make-zip: $tool is missing (cmake --build $build --target hvlab-handout)" >&2; exit 2; }
command -v zip >/dev/null 2>&1 || { echo "make-zip: 'zip' is not installed (make deps installs it)" >&2; exit 2; }

stage="$build/gradescope/stage"
rm -rf "$stage"
mkdir -p "$stage" "$(dirname "$out")"
if [ -n "$upto" ]; then
  "$tool" --source "$root" --dest "$stage/hvlab" --no-git --upto "$upto"
else
  "$tool" --source "$root" --dest "$stage/hvlab" --no-git
fi
if [ -d "$root/autograder/rubrics/hidden" ]; then
  mkdir -p "$stage/hvlab/autograder/rubrics/hidden"
  cp "$root"/autograder/rubrics/hidden/*.toml "$stage/hvlab/autograder/rubrics/hidden/" 2>/dev/null || true
  echo "make-zip: hidden rubrics included: $(ls "$stage/hvlab/autograder/rubrics/hidden" | tr '\n' ' ')"
fi
cp "$here/setup.sh" "$here/run_autograder" "$stage/"
chmod 755 "$stage/setup.sh" "$stage/run_autograder"
rm -f "$out"
(cd "$stage" && zip -q -r -X "$out" setup.sh run_autograder hvlab)
echo "make-zip: $out ($(wc -c < "$out" | tr -d ' ') bytes): upload it as the autograder of a Gradescope programming assignment"
