#!/bin/sh
# Runs a debugging session (autograder/gdb in batch mode) and checks its output: every
# extended regular expression of PATTERNS (one a line, # comments) must match a line, in
# order, and the session must end with status 0.
# Usage: tools/gdb/check-session.sh PATTERNS -- COMMAND [ARGS...]
set -u
patterns=$1
shift
[ "${1:-}" = "--" ] && shift
out=$(mktemp)
trap 'rm -f "$out"' EXIT
timeout 120 "$@" </dev/null >"$out" 2>&1
status=$?
cat "$out"
echo "----"
if [ "$status" -ne 0 ]; then
  echo "check-session: the session ended with status $status, expected 0"
  exit 1
fi
line=0
while IFS= read -r want; do
  case "$want" in ''|'#'*) continue ;; esac
  found=$(tail -n +"$((line + 1))" "$out" | grep -n -E -m 1 -e "$want" | cut -d: -f1)
  if [ -z "$found" ]; then
    printf 'check-session: no line matches /%s/ after line %d of the session\n' "$want" "$line"
    exit 1
  fi
  line=$((line + found))
  printf 'check-session: line %d matches /%s/\n' "$line" "$want"
done <"$patterns"
