#!/bin/sh
# make test-gradescope: the autograder zip (make gradescope) in a clean Debian 12 root laid
# out as Gradescope's autograder image: the zip unpacked in /autograder/source, setup.sh run
# there as root, run_autograder copied to /autograder/run_autograder and run for a submission
# in /autograder/submission, which must write /autograder/results/results.json, within
# Gradescope's default limits (10 minutes, 768 MB of memory).
#
# The root is made with debootstrap (tools/deps.sh debootstrap) once and cached as a tarball
# in /var/tmp/hvlab-gradescope (HVLAB_GRADESCOPE_CACHE), with the packages setup.sh downloads,
# so later runs only unpack it. It runs in a bubblewrap container as root with Docker's
# default capabilities (no CAP_SYS_ADMIN), its own PID, IPC and UTS namespaces and the
# network (setup.sh installs packages); run_autograder's memory is limited by a cgroup when
# this machine lets us make one, and its peak is reported.
#
# Two submissions: the reference tree (a zip of it: full marks) and the untouched handout
# (0, "not implemented").
#
#   clean-root.sh SRC BUILD OUT        (as root)
set -eu

src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
out=$3
mkdir -p "$out"
out=$(cd "$out" && pwd)
say() { echo "gradescope-check: $*"; }
die() { echo "gradescope-check: FAIL: $*" >&2; exit 1; }
now() { date +%s; }
[ "$(id -u)" = 0 ] || die "run it as root (it makes a root file system and runs setup.sh as root in it)"
zip="$build/gradescope/hvlab-autograder.zip"
[ -f "$zip" ] || die "$zip is missing (make gradescope)"

sh "$src/tools/deps.sh" debootstrap || die "cannot install debootstrap"
cache=${HVLAB_GRADESCOPE_CACHE:-/var/tmp/hvlab-gradescope}
mkdir -p "$cache/apt-archives/partial"
pristine="$cache/bookworm-minbase.tar"
if [ ! -f "$pristine" ]; then
  say "making a minimal Debian 12 root with debootstrap (once; cached in $cache) ..."
  t0=$(now)
  mirror=$(apt-cache policy | awk '/ bookworm\/main / && /^ +[0-9]+ (https?|file):/ { print $2; exit }')
  [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
  rm -rf "$cache/root-new"
  debootstrap --variant=minbase --include=unzip,ca-certificates bookworm "$cache/root-new" "$mirror" \
    >"$cache/debootstrap.log" 2>&1 || { tail -n 20 "$cache/debootstrap.log"; die "debootstrap failed"; }
  # The same apt sources as this machine (Gradescope's image has its distribution's).
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    cp /etc/apt/sources.list.d/debian.sources "$cache/root-new/etc/apt/sources.list.d/"
    rm -f "$cache/root-new/etc/apt/sources.list"
  fi
  tar -C "$cache/root-new" -cf "$pristine.new" . && mv "$pristine.new" "$pristine"
  rm -rf "$cache/root-new"
  say "root made in $(( $(now) - t0 )) s"
fi
root="$out/root"
rm -rf "$root"
mkdir -p "$root"
tar -C "$root" -xf "$pristine"
say "a clean Debian 12 root in $root"

# Gradescope's layout.
mkdir -p "$root/autograder/source" "$root/autograder/submission" "$root/autograder/results"
(cd "$root/autograder/source" && unzip -q "$zip")
cp /etc/resolv.conf "$root/etc/resolv.conf"

# A container: Docker's default capabilities, its own PID, IPC and UTS namespaces.
caps=""
for cap in CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID SETFCAP SETPCAP NET_BIND_SERVICE \
           SYS_CHROOT KILL AUDIT_WRITE; do caps="$caps --cap-add CAP_$cap"; done
container() {
  # shellcheck disable=SC2086
  bwrap --bind "$root" / --dev /dev --proc /proc --ro-bind /sys /sys --tmpfs /run --perms 1777 --tmpfs /tmp \
    --bind "$cache/apt-archives" /var/cache/apt/archives \
    --unshare-pid --unshare-ipc --unshare-uts --hostname gradescope --die-with-parent $caps \
    --clearenv --setenv HOME /root --setenv PATH /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --setenv LANG C.UTF-8 --chdir "$1" -- /bin/bash -c "$2"
}

t0=$(now)
container /autograder/source 'bash ./setup.sh' >"$out/setup.log" 2>&1 || { tail -n 40 "$out/setup.log"; die "setup.sh failed"; }
setup_secs=$(( $(now) - t0 ))
grep '^setup.sh: ' "$out/setup.log" | sed 's/^/  /'
say "setup.sh took $setup_secs s"
cp "$root/autograder/source/run_autograder" "$root/autograder/run_autograder"

# run_autograder under Gradescope's memory limit: a cgroup of ours when the memory
# controller can be written (v1 or v2), else only the peak is measured.
cg=""
for base in /sys/fs/cgroup/memory /sys/fs/cgroup; do
  if [ -w "$base" ] && mkdir "$base/hvlab-gradescope-$$" 2>/dev/null; then
    cg="$base/hvlab-gradescope-$$"
    if [ -f "$cg/memory.limit_in_bytes" ]; then echo $((768 * 1024 * 1024)) > "$cg/memory.limit_in_bytes"
    elif [ -f "$cg/memory.max" ]; then echo $((768 * 1024 * 1024)) > "$cg/memory.max"
    else rmdir "$cg"; cg=""; continue; fi
    break
  fi
done
peak() {
  if [ -n "$cg" ] && [ -f "$cg/memory.max_usage_in_bytes" ]; then echo $(( $(cat "$cg/memory.max_usage_in_bytes") >> 20 ))
  elif [ -n "$cg" ] && [ -f "$cg/memory.peak" ]; then echo $(( $(cat "$cg/memory.peak") >> 20 ))
  else echo "?"; fi
}
grade_one() {  # NAME: the submission already in /autograder/submission
  rm -f "$root/autograder/results/results.json"
  [ -z "$cg" ] || { [ -f "$cg/memory.max_usage_in_bytes" ] && echo 0 > "$cg/memory.max_usage_in_bytes" || true; }
  t0=$(now)
  # This shell joins the cgroup for the run (its children inherit it), then leaves it.
  [ -z "$cg" ] || echo $$ > "$cg/cgroup.procs"
  set +e
  container /autograder /autograder/run_autograder >"$out/run-$1.log" 2>&1
  status=$?
  set -e
  [ -z "$cg" ] || echo $$ > "$(dirname "$cg")/cgroup.procs"
  [ "$status" = 0 ] || { tail -n 30 "$out/run-$1.log"; die "$1: run_autograder failed (exit $status)"; }
  secs=$(( $(now) - t0 ))
  [ -s "$root/autograder/results/results.json" ] || die "$1: no /autograder/results/results.json"
  cp "$root/autograder/results/results.json" "$out/results-$1.json"
  score=$(sed -n 's/^  "score": \([0-9.]*\),*$/\1/p' "$out/results-$1.json" | head -n 1)
  say "$1: run_autograder took $secs s, peak memory $(peak) MiB$([ -n "$cg" ] && echo " (limit 768)"), score $score"
  [ "$secs" -le 600 ] || die "$1: run_autograder took $secs s, more than Gradescope's 10 minutes"
  eval "secs_$1=$secs score_$1=$score"
}

# The reference, as a zip of its tree.
rm -rf "$root/autograder/submission"/*
(cd "$src" && git ls-files -z --cached --others --exclude-standard | grep -zv '^build' |
   xargs -0 zip -q "$root/autograder/submission/hvlab.zip")
grade_one reference
max=$(sed -n 's/.*"max_score": \([0-9.]*\).*/\1/p' "$out/results-reference.json" | awk '{ s += $1 } END { print s }')
awk -v s="$score_reference" -v m="$max" 'BEGIN { exit !(s > 0 && s == m) }' ||
  die "the reference scored $score_reference of $max"

# The untouched handout, as a folder.
rm -rf "$root/autograder/submission"/*
cp -R "$root/autograder/source/hvlab/." "$root/autograder/submission/"
rm -rf "$root/autograder/submission/build"
grade_one handout
[ "$score_handout" = 0 ] || [ "$score_handout" = 0.0 ] || die "the untouched handout scored $score_handout"
grep -q 'not implemented' "$out/results-handout.json" || die "the handout's results do not say 'not implemented'"

[ -z "$cg" ] || rmdir "$cg" 2>/dev/null || true
say "setup.sh $setup_secs s; run_autograder: reference $secs_reference s ($score_reference of $max), handout $secs_handout s"
rm -rf "$root"
