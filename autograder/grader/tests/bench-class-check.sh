#!/bin/sh
# autograder.bench_class_synthetic (ctest -L grader): the class that `make bench-class` grades
# is what it says it is, without building or booting anything. `bench-class --class-only`
# makes the default class (its first six students hold every kind), and each student is
# checked against the reference and the handout: a full solution is the reference; a partial
# one is the reference but for the files it names, which are the handout's; the compile
# error, the hang, the flood and the wrong answer each changed the file they name (and only
# it) in the way their kind needs; and no two students have the same text in a file they
# changed, so the compiler cache cannot hide their builds. Each student's own line
# (`hvlab_bench_ID`) is set aside when comparing with the reference.
#
#   bench-class-check.sh SRC BUILD OUT
set -eu

src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
out=$3
mkdir -p "$out"
out=$(cd "$out" && pwd)
failures=0
fail() { echo "bench-class-check: FAIL: $*" >&2; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

rm -rf "$out"
env -u CLASS "$src/autograder/bench-class" --build-dir "$build" --class-only "$out" ||
  { echo "bench-class-check: FAIL: bench-class --class-only could not make the class" >&2; exit 1; }
class="$out/class"
h="$out/handout"
[ -s "$out/class.txt" ] || { echo "bench-class-check: FAIL: no class.txt" >&2; exit 1; }

# Each student's tree without its own line (the blank line and the line personalise appends),
# to compare with the reference.
bare="$out/bare"
rm -rf "$bare"
cp -R "$class" "$bare"
find "$bare" -name '*.cpp' -type f -exec sed -z -i \
  's/\n\n__attribute__((used)) static volatile int hvlab_bench_[a-z0-9_]* = [0-9]*;\n$/\n/' {} +
# The lines the student's edit added to (>) or removed from (<) the reference's file.
changes() { diff "$src/$2" "$bare/$1/$2" | sed -n "s/^$3 //p"; }

# Every kind is there, and the folders are the students listed.
# (A smaller class is the first students of this one: CLASS=6 must have every kind too.)
for k in full partial error hang flood wrong; do
  head -n 6 "$out/class.txt" | grep -q "^[^ ]* $k\( \|\$\)" || fail "the first six students have no '$k' student"
done
[ "$(wc -l < "$out/class.txt")" = 10 ] || fail "the default class has $(wc -l < "$out/class.txt") students, not 10"
[ "$(ls "$class" | sort)" = "$(cut -d' ' -f1 "$out/class.txt" | sort)" ] || fail "class/ and class.txt list different students"
labs=$(ls "$h" | grep '^lab[0-9][0-9]-' || true)

while read -r id kind files; do
  s="$class/$id"
  before=$failures
  case "$kind" in full) [ -z "$files" ] || fail "$id: a full solution that names edited files: $files" ;;
                  *) [ -n "$files" ] || { fail "$id ($kind) names no file its edit changed"; continue; } ;; esac
  # Every file outside the named ones is the reference's.
  bad=""
  for l in $labs; do
    [ -d "$s/$l" ] || { fail "$id has no $l"; continue; }
    for f in $(diff -rq "$src/$l" "$bare/$id/$l" | sed -n "s|^Files $src/\([^ ]*\) and .* differ\$|\1|p; s|^Only in \(.*\): |\1/|p"); do
      case " $files " in *" $f "*) ;; *) bad="$bad ${f#"$src/"}" ;; esac
    done
  done
  [ -z "$bad" ] || fail "$id ($kind): differs from the reference in files its kind does not name:$bad"
  for f in $files; do
    [ -f "$s/$f" ] || { fail "$id: no $f"; continue; }
    if cmp -s "$bare/$id/$f" "$src/$f"; then fail "$id ($kind): $f is the reference's: the edit did not apply"; continue; fi
    added=$(changes "$id" "$f" '>') removed=$(changes "$id" "$f" '<')
    case "$kind" in
      partial)
        cmp -s "$s/$f" "$h/$f" && grep -q 'HV_NOT_IMPLEMENTED(' "$s/$f" || fail "$id: $f is not the handout's stub"
        ;;
      error)  # a line that is not C++ at the end of the file, outside any comment or string
        [ "$(tail -n 1 "$bare/$id/$f")" = "this line is not C++;" ] && [ "$added" = "this line is not C++;" ] ||
          fail "$id: $f does not end with the line that cannot compile (added: '$added')"
        ;;
      hang|flood)  # an endless loop as the first statement of kernel_main
        [ "$kind" = hang ] && body='for (;;) asm volatile("pause");' || body='for (;;) dprintf("flood'
        first=$(sed -n '/^int kernel_main(/{n;p;q}' "$bare/$id/$f" | sed 's/^ *//')
        case "$first" in "$body"*) ;; *) fail "$id: kernel_main in $f does not start with the $kind loop (it starts: '$first')" ;; esac
        [ -z "$removed" ] && [ "$(printf '%s\n' "$added" | wc -l)" = 1 ] || fail "$id: $f changed more than the $kind loop"
        ;;
      wrong)  # CLTS emulated as a no-op: the line that clears CR0.TS is gone
        printf '%s\n' "$removed" | grep -q 'cr0::TS' && ! grep -q 'case Type::clts:.*~x86::cr0::TS' "$bare/$id/$f" ||
          fail "$id: $f still clears CR0.TS on CLTS"
        ;;
      *) fail "$id: unknown kind '$kind'" ;;
    esac
  done
  [ "$failures" -gt "$before" ] || ok "$id is a $kind student${files:+ ($files)}"
done < "$out/class.txt"

# No two students share the text of a file either changed from the handout.
changed=$(for id in $(ls "$class"); do
            for l in $labs; do diff -rq "$h/$l" "$class/$id/$l" || true; done
          done | sed -n "s|^Files .* and $class/\([^ ]*\) differ\$|\1|p")
nchanged=$(printf '%s\n' "$changed" | grep -c . || true)
dups=$(cd "$class" && printf '%s\n' "$changed" | xargs md5sum | sort | awk '$1 == prev {print prevf, $2} {prev = $1; prevf = $2}')
[ -z "$dups" ] && ok "each of the $nchanged files the students changed has a text of its own" ||
  fail "$(printf '%s\n' "$dups" | wc -l) pairs of students have the same text in a changed file, e.g.: $(printf '%s\n' "$dups" | head -n 3 | tr '\n' ';')"
[ "$nchanged" -gt 10 ] || fail "only $nchanged changed files in the whole class"

[ "$failures" = 0 ] || { echo "bench-class-check: $failures failure(s)" >&2; exit 1; }
echo "bench-class-check: the class is what it says ($nchanged changed files, none shared)"
