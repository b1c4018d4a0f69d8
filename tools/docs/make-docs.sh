#!/bin/sh
# make docs: the exercise pages (tools/docs/exercises.py), then Doxygen over the whole tree
# (Doxyfile) into OUT/html. Doxygen's warnings are errors.
# Usage: tools/docs/make-docs.sh OUT
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:?usage: tools/docs/make-docs.sh OUT}
mkdir -p "$out/pages"
python3 "$top/tools/docs/exercises.py" "$top" "$out/pages"
cd "$top"
{
  cat Doxyfile
  echo "OUTPUT_DIRECTORY = $out"
  echo "INPUT += $out/pages"
} | doxygen -
echo "docs: $out/html/index.html"
