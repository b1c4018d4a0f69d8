# Sourced by every slides/demos/NAME.sh. Gives it:
#   top, build, boot (hvlab-boot), demo_tool (hvlab-demo), suite (the test guest), DEMO (NAME)
#   figures      the folder given by --figures DIR (then write the deck's figures there), or ""
#   die MSG      one line on stderr, exit 2
#   need FILE    die unless FILE exists
#   boot_kernel STATUS ARGS...   one hvlab-boot run (ARGS are its options) that must end with
#                exit status STATUS; its captures are then in $run (com1.txt, com2.txt,
#                debugcon.txt, emulator.log), removed when the script ends
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
DEMO=$(basename "$0" .sh)
build=${HVLAB_BUILD:-$top/build}
case "$build" in /*) ;; *) build="$top/$build" ;; esac
boot="$build/autograder/runner/hvlab-boot"
demo_tool="$build/slides/hvlab-demo"
suite="$build/autograder/guests/suite.elf"
figures=""
if [ "${1:-}" = --figures ]; then
  [ $# -ge 2 ] || { echo "demo-$DEMO: --figures needs a folder" >&2; exit 2; }
  figures=$2
  shift 2
fi

die() {
  echo "demo-$DEMO: $*" >&2
  exit 2
}

need() {
  [ -e "$1" ] || die "${1#"$top"/} is missing: run 'make' first"
}

boot_kernel() {
  _want=$1
  shift
  work=$(mktemp -d "${TMPDIR:-/tmp}/hvlab-demo-$DEMO.XXXXXX") || die "cannot make a work folder"
  trap 'rm -rf "$work"' EXIT
  trap 'exit 130' INT TERM
  run="$work/run"
  if ! "$boot" --workdir "$run" --expect-status "$_want" "$@" >"$work/boot.log" 2>&1; then
    sed -n 's/^hvlab-boot: //p' "$work/boot.log" | head -n 5 >&2
    die "the run did not end as it should (hvlab-boot $*)"
  fi
}
