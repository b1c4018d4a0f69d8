#!/bin/sh
# Fetches Debian's source package of zydis, the version libzydis-dev has, into DIR/src, and
# copies the Zycore headers beside it. Idempotent: does nothing when DIR/src is complete.
# Usage: tools/fetch-zydis.sh DIR
set -eu
dir=$1
ver=$(dpkg-query -W -f='${source:Version}' libzydis-dev 2>/dev/null) || {
  echo "hvlab: libzydis-dev is not installed; run 'make deps'" >&2; exit 1; }
stamp="$dir/src/.hvlab-$ver"
[ -f "$stamp" ] && exit 0

rm -rf "$dir/dl" "$dir/src"
mkdir -p "$dir/dl"
( cd "$dir/dl" && apt-get source -qq "zydis=$ver" >../fetch.log 2>&1 ) || {
  echo "hvlab: 'apt-get source zydis=$ver' failed (see $dir/fetch.log); run 'make deps', which adds a deb-src entry" >&2
  exit 1; }
tree=$(find "$dir/dl" -mindepth 1 -maxdepth 1 -type d -name 'zydis-*' | head -n 1)
[ -n "$tree" ] && [ -f "$tree/include/Zydis/Zydis.h" ] || { echo "hvlab: unexpected zydis source layout in $dir/dl" >&2; exit 1; }
mv "$tree" "$dir/src"
rm -rf "$dir/dl"
# Zydis' sources include <Zycore/...>; Debian ships those headers in libzycore-dev.
mkdir -p "$dir/src/dependencies/zycore/include"
cp -R /usr/include/Zycore "$dir/src/dependencies/zycore/include/"
touch "$stamp"
