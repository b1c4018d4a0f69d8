#!/bin/sh
# The integrity check of `make test` (ctest -L integrity): a folder of hostile submissions,
# made here, graded with `hvlab-grade --submissions` (lab01, QEMU), each of which must score
# 0 with the reason that names what it tried, while the reference still scores 100%:
#
#   include-rel, include-abs   lab01's src/handlers.cpp includes the reference's by a relative and an
#                              absolute path (the reference tree is outside the sandbox)
#   include-secret             includes a file outside the work area, and /etc/hostname
#   incbin-rubric              .incbin of the instructor's hidden rubric (outside the sandbox)
#   incbin-kit                 .incbin of a hidden rubric inside the kit's handout (as on
#                              Gradescope): never copied into a work tree
#   devzero                    #include "/dev/zero": the compiler's memory limit
#   bigobj                     a 1 GiB initialised array: the build's file size limit
#   bell                       #error with a BEL: no control character reaches the reports
#   replay                     a monitor that reads nonce= and seed= from the guest's command
#                              line and replays a transcript saved from a real run
#   rewrite                    a monitor that runs the real guest and turns its "not ok" into
#                              "ok" on the way out (QEMU's execution evidence tells)
#   symlink-lab                lab01's folder is a link to the reference's
#   bomb.zip, nested.zip       one zip entry over the unpack limit; the same inside a zip
#   dotdot.tar.gz, abs.tar     members outside the archive's folder
# and a malformed rubric, which must stop the grading (exit 2, file:line) before anyone is
# graded. Then: no reference solution line, hidden rubric line or file from outside the work
# area in any result; the reference tree, the rubrics and the submissions unchanged; the
# grader's own memory bounded (its time is printed: about 35 s on 2 idle cores).
#
#   integrity-check.sh SRC BUILD OUT
set -eu

src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
out=$3
mkdir -p "$out"
out=$(cd "$out" && pwd)
grade="$build/autograder/grader/hvlab-grade"
. "$src/autograder/grader/tests/need-sandbox.sh"
check="$build/autograder/grader/hvlab_batch_check"
lab=lab01-trap-and-emulate
jobs=${HVLAB_TEST_JOBS:-2}

say() { echo "integrity-check: $*"; }
die() { echo "integrity-check: FAIL: $*" >&2; exit 1; }

fx="$out/fixtures"
subs="$fx/submissions"
results="$out/results"
rm -rf "$fx" "$results" "$out/work" "$out/results-bad"
mkdir -p "$subs" "$fx/tmp"

# The handout (with a hidden rubric planted in it, as the Gradescope kit holds one), and the
# instructor's rubrics with a hidden lab01 rubric that carries a marker line.
h="$fx/handout"
"$build/tools/handout/hvlab-handout" --source "$src" --dest "$h" --no-git --force >/dev/null
hidden_marker="hidden-rubric-marker-5e1f0c2a"
rubrics="$fx/rubrics"
cp -R "$src/autograder/rubrics" "$rubrics"
mkdir -p "$rubrics/hidden" "$h/autograder/rubrics/hidden"
{ cat "$rubrics/lab01.toml"; echo "# $hidden_marker"; } > "$rubrics/hidden/lab01.toml"
cp "$rubrics/hidden/lab01.toml" "$h/autograder/rubrics/hidden/lab01.toml"
canary_marker="canary-outside-the-work-area-9b7d41"
echo "$canary_marker" > "$fx/canary.txt"
# A line of the reference's solution that the handout does not have.
solution_line=$(grep -vxF -f "$h/$lab/src/handlers.cpp" "$src/$lab/src/handlers.cpp" | awk 'length > 40 && !/^ *\/\//' | head -n 1)
[ -n "$solution_line" ] || die "no solution line found in $src/$lab/src/handlers.cpp"

# A submission: a folder holding lab01's folder (the handout's), to be edited.
mk() {
  mkdir -p "$subs/$1"
  cp -R "$h/$lab" "$subs/$1/$lab"
}
up=""
for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do up="$up../"; done

mkdir -p "$subs/reference"
cp -R "$src/$lab" "$subs/reference/$lab"

mk include-rel
printf '#include "%s%s/%s/src/handlers.cpp"\n' "$up" "${src#/}" "$lab" > "$subs/include-rel/$lab/src/handlers.cpp"
mk include-abs
printf '#include "%s/%s/src/handlers.cpp"\n' "$src" "$lab" > "$subs/include-abs/$lab/src/handlers.cpp"
mk include-secret
printf '#include "%s"\n#include "/etc/hostname"\n' "$fx/canary.txt" > "$subs/include-secret/$lab/src/handlers.cpp"
printf '#include "/etc/hostname"\n' > "$subs/include-secret/$lab/src/shadow_mmu.cpp"

mk incbin-rubric
cp "$src/$lab/src/handlers.cpp" "$subs/incbin-rubric/$lab/src/handlers.cpp"
printf 'asm(".pushsection .rodata\\n.incbin \\"%s\\"\\n.byte 0\\n.popsection");\n' "$rubrics/hidden/lab01.toml" \
  >> "$subs/incbin-rubric/$lab/src/handlers.cpp"
mk incbin-kit
cp "$src/$lab/src/handlers.cpp" "$subs/incbin-kit/$lab/src/handlers.cpp"
# The compiler runs in the build folder, beside the work tree's src/.
printf 'asm(".pushsection .rodata\\n.incbin \\"../src/autograder/rubrics/hidden/lab01.toml\\"\\n.byte 0\\n.popsection");\n' \
  >> "$subs/incbin-kit/$lab/src/handlers.cpp"

mk devzero
printf '#include "/dev/zero"\n' > "$subs/devzero/$lab/src/handlers.cpp"
mk bigobj
cp "$src/$lab/src/handlers.cpp" "$subs/bigobj/$lab/src/handlers.cpp"
printf '__attribute__((used)) static char hvlab_big[1u << 30] = {1};\n' >> "$subs/bigobj/$lab/src/handlers.cpp"
mk bell
printf '#error "ring \a the bell"\n' > "$subs/bell/$lab/src/handlers.cpp"

# The forger: the reference monitor, whose kernel_main now prints a transcript saved from a
# real run (seed, nonce and all) with this boot's nonce put in.
saved="$fx/tmp/saved-run"
"$build/autograder/runner/hvlab-boot" --emu qemu --kernel "$build/$lab/monitor.elf" \
  --module "$build/autograder/guests/suite.elf=seed=0123456789abcdef nonce=feedfacecafebeef" \
  --timeout 60 --expect-status 1 --workdir "$saved" >/dev/null || die "the reference run to replay failed"
mkdir -p "$subs/replay"
cp -R "$src/$lab" "$subs/replay/$lab"
main_cpp="$subs/replay/$lab/kernel/main.cpp"
sed -i 's/^int kernel_main(const BootInfo& boot) {/int real_kernel_main(const BootInfo\& boot) {/' "$main_cpp"
grep -q '^int real_kernel_main' "$main_cpp" || die "cannot make the forger (kernel_main not found)"
sed -i '1i #include "common/runtime/string.hpp"' "$main_cpp"
{ printf 'const char kSavedCom1[] = R"saved('; tr -d '\r' < "$saved/com1.txt"; printf ')saved";\n'
  printf 'const char kSavedCom2[] = R"saved('; tr -d '\r' < "$saved/com2.txt"; printf ')saved";\n'; } > "$subs/replay/$lab/saved.inc"
cat >> "$main_cpp" <<'EOF'

// Replays a saved run: never boots the guest, only tells it what it wants to hear.
#include "lab01-trap-and-emulate/saved.inc"
namespace {
void option(const char* cmdline, const char* key, char* out, unsigned size) {
  const unsigned n = hvlab::rt::str_length(key);
  for (const char* p = cmdline; *p; ++p)
    if ((p == cmdline || p[-1] == ' ') && hvlab::rt::str_compare_n(p, key, n) == 0 && p[n] == '=') {
      unsigned i = 0;
      for (p += n + 1; *p && *p != ' ' && i + 1 < size; ++p) out[i++] = *p;
      out[i] = '\0';
      return;
    }
}
}  // namespace
int kernel_main(const BootInfo& boot) {
  char nonce[40] = "", seed[40] = "";
  option(boot.modules[0].cmdline, "nonce", nonce, sizeof nonce);
  option(boot.modules[0].cmdline, "seed", seed, sizeof seed);  // known, but a transcript cannot follow it
  hvlab::com2().init();
  for (const char* line = kSavedCom1; *line;) {
    const char* end = line;
    while (*end && *end != '\n') ++end;
    if (hvlab::rt::str_compare_n(line, "# nonce ", 8) == 0) {
      hvlab::kprintf("# nonce %s\n", nonce);
    } else {
      for (const char* c = line; c < end; ++c) hvlab::com1().put(*c);
      hvlab::com1().put('\n');
    }
    line = *end ? end + 1 : end;
  }
  for (const char* c = kSavedCom2; *c; ++c) hvlab::com2().put(*c);
  return 1;
}
EOF

# The rewriter: the reference monitor runs the real guest but turns every "not ok" the guest
# prints into "ok" on its way to COM1 (only the emulator's own view can tell).
mkdir -p "$subs/rewrite"
cp -R "$src/$lab" "$subs/rewrite/$lab"
main_cpp="$subs/rewrite/$lab/kernel/start.cpp"
cat > "$fx/tmp/forge.inc" <<'EOF2'
  // The forger's COM1: "not ok N name" leaves as "ok N name".
  void put(char c) override {
    if (base_ != 0x3f8) return raw_put(c);
    static char line[512];
    static unsigned n = 0;
    if (n < sizeof line) line[n++] = c;
    if (c != '\n' && n < sizeof line) return;
    const unsigned from = n > 7 && hvlab::rt::str_compare_n(line, "not ok ", 7) == 0 ? 4 : 0;
    for (unsigned i = from; i < n; ++i) raw_put(line[i]);
    n = 0;
  }
EOF2
sed -i -e "/^  explicit FastSerial(std::uint16_t base) : base_(base) {}/r $fx/tmp/forge.inc" \
  -e 's/^  void put(char c) override {$/  void raw_put(char c) {/' "$main_cpp"
sed -i '1i #include "common/runtime/string.hpp"' "$main_cpp"
grep -q '^  void raw_put(char c) {' "$main_cpp" && grep -q 'return raw_put(c);' "$main_cpp" ||
  die "cannot make the rewriter (the monitor's COM1 path changed)"

mkdir -p "$subs/symlink-lab"
cp -R "$h/lab04-vtx" "$subs/symlink-lab/lab04-vtx"
ln -s "$src/$lab" "$subs/symlink-lab/$lab"

# Archives: one entry past the unpack limit (64 MiB here), the same inside a zip, and tar
# members outside the archive's folder.
t="$fx/tmp"
mkdir -p "$t/bomb/hvlab"
head -c 100M /dev/zero > "$t/bomb/hvlab/zeros.bin"
(cd "$t/bomb" && zip -q -r "$subs/bomb.zip" hvlab)
(cd "$subs" && zip -q "$t/nested.zip" bomb.zip && mv "$t/nested.zip" "$subs/nested.zip")
mkdir -p "$t/dotdot/hvlab"
cp -R "$h/$lab" "$t/dotdot/hvlab/$lab"
echo "escaped" > "$t/dotdot/escape.txt"
(cd "$t/dotdot" && tar -czf "$subs/dotdot.tar.gz" hvlab escape.txt --transform 's,^escape.txt,../../escape.txt,')
(cd "$t/dotdot" && tar -cPf "$subs/abs.tar" hvlab "$t/dotdot/escape.txt")
rm -rf "$t/bomb" "$t/dotdot"

sums() { (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha1sum) | sha1sum; }
before_src=$(sums "$src/$lab")
before_rubrics=$(sums "$rubrics")
before_subs=$(sums "$subs")

# A malformed rubric stops the whole batch, before anyone is graded.
bad="$fx/rubrics-bad"
cp -R "$rubrics" "$bad"
rm -rf "$bad/hidden"
sed -i '0,/^points = 2$/s//points = "two"/' "$bad/lab01.toml"
line=$(grep -n '^points = "two"' "$bad/lab01.toml" | cut -d: -f1)
set +e
"$grade" --build-dir "$build" --rubric-dir "$bad" --source-dir "$src" --handout "$h" --submissions "$subs" \
  --out "$out/results-bad" --work-dir "$out/work" --lab lab01 --emu qemu -j "$jobs" --ccache-dir "$out/ccache" \
  >"$out/bad.txt" 2>&1
status=$?
set -e
[ "$status" = 2 ] || { tail -n 5 "$out/bad.txt"; die "a malformed rubric: exit status $status, expected 2"; }
grep -q "lab01.toml:$line" "$out/bad.txt" || { tail -n 5 "$out/bad.txt"; die "a malformed rubric: no file:line in the message"; }
[ ! -e "$out/results-bad/gradebook.csv" ] && [ -z "$(ls -A "$out/results-bad" 2>/dev/null | grep -v '^\.')" ] ||
  die "a malformed rubric: results were written"
say "malformed rubric: exit 2, $(grep -o "lab01.toml:$line[^ ]*" "$out/bad.txt" | head -n 1), nobody graded"

# A sandbox that cannot be made is said in one line, and nobody is graded (here: the `user`
# mode, which needs a root grader, asked of an ordinary one).
if [ "$(id -u)" = 0 ]; then
  set +e
  setpriv --reuid=65534 --regid=65534 --clear-groups "$grade" --build-dir "$build" --rubric-dir "$rubrics" \
    --source-dir "$src" --handout "$h" --submissions "$subs" --out "$fx/tmp/results-nobox" --lab lab01 --emu qemu \
    --sandbox user >"$out/nobox.txt" 2>&1
  status=$?
  set -e
  [ "$status" = 2 ] && grep -q 'cannot make the sandbox .*refusing to grade' "$out/nobox.txt" ||
    { cat "$out/nobox.txt"; die "no sandbox: exit status $status, expected 2 and a refusal"; }
  [ ! -e "$fx/tmp/results-nobox/gradebook.csv" ] || die "no sandbox: results were written"
  say "no sandbox: exit 2, '$(grep -o 'cannot make the sandbox[^;]*' "$out/nobox.txt" | head -n 1)'"
fi

# The hostile class.
set +e
/usr/bin/time -o "$out/time.txt" -f '%e %M' \
  "$grade" --build-dir "$build" --rubric-dir "$rubrics" --source-dir "$src" --handout "$h" --submissions "$subs" \
  --out "$results" --work-dir "$out/work" --lab lab01 --emu qemu -j "$jobs" --ccache-dir "$out/ccache" \
  --max-unpacked 64 --build-memory 512 --build-file-size 64 >"$out/grade.txt" 2>&1
status=$?
set -e
[ "$status" = 0 ] || { tail -n 30 "$out/grade.txt"; die "grading the hostile class exited with $status"; }
read -r secs rss < "$out/time.txt"
say "graded $(ls "$subs" | wc -l) submissions in ${secs} s, the grader's peak memory $((rss / 1024)) MiB"

"$check" --out "$results" --expect reference=100 \
  --every-failure 'include-rel=build failed: .*handlers\.cpp:1:10: fatal error: .*: No such file or directory' \
  --every-failure 'include-abs=build failed: .*handlers\.cpp:1:10: fatal error: .*: No such file or directory' \
  --every-failure 'include-secret=build failed: .*:1:10: fatal error: .*: No such file or directory' \
  --every-failure 'incbin-rubric=build failed: .*file not found' \
  --every-failure 'incbin-kit=build failed: .*file not found' \
  --every-failure 'devzero=build failed: the build passed its memory limit \(512 MiB' \
  --every-failure 'bigobj=build failed: the build wrote a file larger than its limit of 64 MiB' \
  --every-failure 'bell=build failed: .*#error' \
  --every-failure 'replay=KTAP output did not come from the guest that was booted \(test [0-9]+ is .*this run.s seed [0-9a-f]{16} puts' \
  --every-failure "rewrite=failed in the guest \\(the emulator saw the guest's fail\\(\\) run in it\\), but the report says 'ok': the report was changed on its way out" \
  --every-failure 'symlink-lab=lab01-trap-and-emulate/ in your submission is a symbolic link' \
  --every-failure 'bomb=the archive unpacks to 100 MiB, more than the 64 MiB allowed' \
  --every-failure 'nested=the archive unpacks to 100 MiB, more than the 64 MiB allowed' \
  --every-failure 'dotdot=the archive holds a member outside its own folder: .\.\./\.\./escape\.txt' \
  --every-failure 'abs=the archive holds a member outside its own folder: ./' \
  --expect include-rel=0 --expect include-abs=0 --expect include-secret=0 --expect incbin-rubric=0 \
  --expect incbin-kit=0 --expect devzero=0 --expect bigobj=0 --expect bell=0 --expect replay=0 --expect rewrite=0 \
  --expect symlink-lab=0 --expect bomb=0 --expect nested=0 --expect dotdot=0 --expect abs=0 ||
  die "a submission was not graded as expected (above)"

# Nothing from outside the work area in any result (the reference's own results may quote
# its own code).
leak=$(grep -rlF -e "$hidden_marker" -e "$canary_marker" "$results" || true)
[ -z "$leak" ] || die "read into the results: $leak"
leak=$(grep -rlF -e "$solution_line" "$results" | grep -v "^$results/reference/" || true)
[ -z "$leak" ] || die "the reference solution was read into: $leak"
bel=$(printf '\a')
! grep -rqF "$bel" "$results" || die "a control character (BEL) reached the results: $(grep -rlF "$bel" "$results")"
[ "$(sums "$src/$lab")" = "$before_src" ] || die "the reference tree's $lab changed"
[ "$(sums "$rubrics")" = "$before_rubrics" ] || die "the rubrics changed"
[ "$(sums "$subs")" = "$before_subs" ] || die "the submissions changed"
[ ! -e "$t/escape.txt" ] && [ ! -e "$fx/escape.txt" ] && [ ! -e "$out/escape.txt" ] || die "a member escaped its archive"
[ -z "$(ls -A "$out/work" 2>/dev/null)" ] || die "the work area was not cleaned up: $(ls -A "$out/work")"
say "nothing outside the work area was read into the results or written"

# The grader itself stays small whatever the submissions do (their builds and boots run in
# processes of their own, under their own limits).
[ "$rss" -lt 1048576 ] || die "the grader used $((rss / 1024)) MiB"
say "all checks passed"
