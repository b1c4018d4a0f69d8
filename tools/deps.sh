#!/bin/sh
# Installs the Debian packages hvlab needs, and only those missing.
# A no-op when everything is present; names the package when an install fails.
#   tools/deps.sh            what building, testing and grading need
#   tools/deps.sh slurm      also Slurm and munge (make test-slurm: a one-node cluster)
#   tools/deps.sh debootstrap  also debootstrap (make test-gradescope: a clean Debian 12 root)
set -u

PACKAGES="
  make cmake ninja-build g++ gcc-multilib g++-multilib binutils
  qemu-system-x86 bochs bochsbios vgabios bochs-term gdb python3
  grub-pc-bin grub-common xorriso mtools
  libzydis-dev libzycore-dev dpkg-dev xz-utils ca-certificates
  libgtest-dev googletest doxygen graphviz
  nlohmann-json3-dev libcli11-dev libfmt-dev libtomlplusplus-dev libexpat1-dev gnuplot-nox
  ccache zip unzip bubblewrap time
  clang libclang-rt-14-dev
  pandoc chromium nodejs poppler-utils fonts-dejavu-core
"
for extra in "$@"; do
  case "$extra" in
    slurm) PACKAGES="$PACKAGES slurm-wlm munge" ;;
    debootstrap) PACKAGES="$PACKAGES debootstrap" ;;
    *) echo "hvlab: tools/deps.sh: unknown group '$extra' (slurm, debootstrap)" >&2; exit 2 ;;
  esac
done

# Zydis runs inside the kernels, so the build compiles it from Debian's source package, and
# the grader's QEMU plugin takes QEMU's plugin header from qemu's: make sure apt knows a
# deb-src entry for the archive that ships libzydis-dev (and qemu).
need_src() {
  apt-cache showsrc zydis 2>/dev/null | grep -q '^Package: zydis'
}

missing=""
for p in $PACKAGES; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing="$missing $p"
done
# The slides' npm packages need npm: Debian's, unless the installed nodejs brings its own.
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -z "$missing" ]; then
  need_src && exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1; then
  SUDO="sudo"
else
  echo "hvlab: these packages are missing and neither root nor sudo is available:$missing" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if [ -n "$missing" ]; then
echo "hvlab: installing:$missing"
$SUDO apt-get update -qq || { echo "hvlab: 'apt-get update' failed; check the apt sources and the network" >&2; exit 1; }
if ! $SUDO apt-get install -y -qq --no-install-recommends $missing >/tmp/hvlab-apt.log 2>&1; then
  # Retry one by one so the message names the package that failed.
  for p in $missing; do
    if ! $SUDO apt-get install -y -qq --no-install-recommends "$p" >>/tmp/hvlab-apt.log 2>&1; then
      echo "hvlab: could not install Debian package '$p' (see /tmp/hvlab-apt.log)" >&2
      exit 1
    fi
  done
fi
echo "hvlab: packages installed"
fi

if ! need_src; then
  # Derive a deb-src entry, in a file of our own, from the entry that serves libzydis-dev;
  # the user's own source files are left untouched.
  uri=$(apt-cache policy libzydis-dev | awk '/^ +[0-9]+ (https?|file):/ {print $2; exit}')
  src=/etc/apt/sources.list.d/hvlab-deb-src.sources
  tmp=$(mktemp)
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && [ "$f" != "$src" ] || continue
    # deb822: copy each stanza that serves the URI, as deb-src.
    awk -v uri="$uri" 'BEGIN{RS=""; ORS="\n\n"} index($0, uri) && /(^|\n)Types:[^\n]*deb/ {
        sub(/(^|\n)Types:[^\n]*/, "\nTypes: deb-src"); sub(/^\n/, ""); print }' "$f" >>"$tmp"
  done
  # One-line entries only when no deb822 entry serves it: the same archive declared twice
  # with different Signed-By options makes apt refuse every source.
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] && [ ! -s "$tmp" ] || continue
    # one-line style: the same, written as deb822.
    awk -v uri="$uri" '$1 == "deb" && index($0, uri) {
        opts=""; i=2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
        printf "Types: deb-src\nURIs: %s\nSuites: %s\nComponents:", $i, $(i+1);
        for (j = i + 2; j <= NF; j++) printf " %s", $j; printf "\n\n" }' "$f" >>"$tmp"
  done
  if [ ! -s "$tmp" ]; then
    echo "hvlab: no apt source serves libzydis-dev ($uri); add a deb-src line for zydis by hand" >&2
    rm -f "$tmp"; exit 1
  fi
  echo "hvlab: adding $src (deb-src, for Zydis' source)"
  $SUDO install -m 644 "$tmp" "$src"; rm -f "$tmp"
  $SUDO apt-get update -qq || { echo "hvlab: 'apt-get update' failed after adding $src" >&2; exit 1; }
  need_src || { echo "hvlab: zydis source package still not found; see $src" >&2; exit 1; }
fi
