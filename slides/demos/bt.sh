#!/bin/sh
# demo-bt: lab02's translator on a block of the test guest's kernel, beside the guest code it
# came from, with the rule of each instruction: IDENT copies, a POPF turned into an inline
# sequence whose exits lead to the code translated for the popped IF (a callout only for
# what it cannot do), and a RET turned into the inline lookup of its target. No boot: the
# translator is the same code on the host as in the monitor.
# Usage: bt.sh [--figures DIR] [FUNCTION|ADDRESS] (default restore_flags, the guest's POPF)
# expect: push ebp +ident +push ebp
# expect: popfd +popf +pushfd
# expect: popf +test dword ptr \[esp\+0x04\], 0x200
# expect: ret +ret +pushfd
# expect: cmp eax, cs:\[ebx\*8
. "$(dirname "$0")/lib.sh"
where=${1:-restore_flags}
case "$where" in *[!A-Za-z0-9_]* | "") die "'$where' is not a function name or a hex address" ;; esac
tool="$build/lab02-binary-translation/lab02-bt-dump"
need "$tool"; need "$suite"
colour=""
[ -t 1 ] && [ -z "${NO_COLOR:-}" ] && colour=--colour
"$tool" --guest "$suite" --addr "$where" --narrow --blocks 2 $colour || die "no block at '$where'"
if [ -n "$figures" ]; then
  # The deck's figure "block": the first block (a POPF turned into its inline sequence), as listed.
  mkdir -p "$figures" || die "cannot make $figures"
  {
    echo '```'
    "$tool" --guest "$suite" --addr "$where" --narrow --blocks 1
    echo '```'
    echo
    echo "The next block's RET becomes a 16-instruction inline lookup of its target in the cache."
  } >"$figures/block.md" || die "cannot write $figures/block.md"
fi
