#!/bin/sh
# Fetches QEMU's TCG plugin API header (include/qemu/qemu-plugin.h), which no Debian binary
# package ships, from Debian's source package of the installed qemu-system-x86 (the same
# deb-src entry as Zydis'), into DIR/qemu-plugin.h. Only that header is kept: no QEMU code
# is built or committed. Idempotent: does nothing when DIR holds it for this version.
# Usage: tools/fetch-qemu-plugin-header.sh DIR
set -eu
dir=$1
ver=$(dpkg-query -W -f='${source:Version}' qemu-system-x86 2>/dev/null) || {
  echo "hvlab: qemu-system-x86 is not installed; run 'make deps'" >&2; exit 1; }
stamp="$dir/.hvlab-$ver"
[ -f "$stamp" ] && [ -f "$dir/qemu-plugin.h" ] && exit 0

rm -rf "$dir/dl" "$dir/qemu-plugin.h" "$dir"/.hvlab-*
mkdir -p "$dir/dl"
( cd "$dir/dl" && apt-get source --download-only -qq "qemu=$ver" >../fetch.log 2>&1 ) || {
  echo "hvlab: 'apt-get source qemu=$ver' failed (see $dir/fetch.log); run 'make deps', which adds a deb-src entry" >&2
  exit 1; }
orig=$(find "$dir/dl" -maxdepth 1 -name 'qemu_*.orig.tar.*' | head -n 1)
[ -n "$orig" ] || { echo "hvlab: no qemu orig tarball in $dir/dl" >&2; exit 1; }
tar -xf "$orig" -C "$dir/dl" --wildcards '*/include/qemu/qemu-plugin.h' ||
  { echo "hvlab: $orig has no include/qemu/qemu-plugin.h" >&2; exit 1; }
header=$(find "$dir/dl" -path '*/include/qemu/qemu-plugin.h' | head -n 1)
mv "$header" "$dir/qemu-plugin.h"
rm -rf "$dir/dl"
touch "$stamp"
