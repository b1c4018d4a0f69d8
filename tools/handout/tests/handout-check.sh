#!/bin/sh
# The handout checks of `make test` (ctest -L handout), in three steps that share a fixture
# folder, OUT (build/handout-check):
#
#   handout-check.sh generate SRC BUILD OUT
#       writes the handout of SRC (the reference tree) to OUT/handout with BUILD's
#       hvlab-handout and checks it: no solution region or marker left (the generator's own
#       leak check refuses solution lines), no instructor-only file, every stripped exercise
#       has its stub, a git repository with one commit, a clean status and the pre-push hook;
#       and a catch-up handout (--upto lab01) keeps lab01's solutions and strips the rest.
#   handout-check.sh build SRC BUILD OUT
#       builds the handout as a student does (every lab folder's targets: monitors, the
#       libraries, the unit tests), then grades it: every lab with exercises scores 0 with
#       "not implemented: <exercise>" as the reason of every lost point, the native baseline
#       keeps full marks, within 2 minutes.
#   handout-check.sh submissions SRC BUILD OUT
#       grades a folder of three submissions with `autograder/grade --submissions`: the
#       reference tree (a .tar.gz), the untouched handout (a folder) and a handout with a
#       compile error in a lab04 file that also edits lab04's CMakeLists.txt to skip the lab
#       and the lab04 rubric (a .zip). Expected: 100%, 0% and 0%, with reasons, a valid CSV
#       gradebook and valid results files (Gradescope's fields).
#
# Builds use ccache (CCACHE_DIR inside OUT) and the Zydis source BUILD already fetched.
# Lab folder names hold no blanks: $(lab_dirs ...) is split on purpose.
# shellcheck disable=SC2046
set -eu

step=$1
src=$(cd "$2" && pwd)
build=$(cd "$3" && pwd)
out=$4
mkdir -p "$out"
out=$(cd "$out" && pwd)
check="$build/autograder/grader/hvlab_batch_check"
jobs=${HVLAB_TEST_JOBS:-2}

say() { echo "handout-check: $*"; }
die() { echo "handout-check: FAIL: $*" >&2; exit 1; }
now() { date +%s; }

# HVLAB_CHECK_LABS=lab04,... narrows the checks to those labs (to debug one lab).
only=${HVLAB_CHECK_LABS:-}
lab_args=""
for l in $(echo "$only" | tr ',' ' '); do lab_args="$lab_args --lab $l"; done

# Folders of the labs that have code in a tree (a CMakeLists.txt), within HVLAB_CHECK_LABS.
lab_dirs() {
  (cd "$1" && for d in lab[0-9][0-9]-*/; do
     [ -f "$d/CMakeLists.txt" ] || continue
     case ",$only," in ,,|*",${d%%-*},"*) echo "${d%/}" ;; esac
   done)
}

case "$step" in
generate)
  h="$out/handout"
  rm -rf "$h" "$out/handout-upto-lab01"
  t0=$(now)
  "$build/tools/handout/hvlab-handout" --source "$src" --dest "$h" || die "hvlab-handout failed (a leak, or bad markers)"
  say "handout written in $(( $(now) - t0 )) s"

  # No marker line is left: none in the lab folders, and the generator, run on the handout,
  # finds no region in it (files that hold markers as data say "hvlab: verbatim").
  left=$(cd "$h" && grep -rIlE '^[[:space:]]*(//|#|<!--)[[:space:]]*(BEGIN|END) SOLUTION' $(lab_dirs "$h") || true)
  [ -z "$left" ] || die "solution markers left in: $left"
  again=$("$build/tools/handout/hvlab-handout" --source "$h" --dest "$out/handout-again" --no-git 2>&1) ||
    die "the generator refuses the handout: $again"
  rm -rf "$out/handout-again"
  case "$again" in *"stripped"*) die "the handout still has solution regions: $again" ;; esac
  say "no solution markers left"

  # Instructor-only files stay out.
  grep -v '^#' "$src/tools/handout/instructor-only.txt" | while read -r glob; do
    [ -n "$glob" ] || continue
    found=$(cd "$h" && find . -path "./$glob" -not -path './.git/*' | head -n 3)
    [ -z "$found" ] || die "instructor-only files in the handout ($glob): $found"
  done
  marked=$(grep -rIl --exclude-dir=.git 'hvlab: instructor-only' "$h" | while read -r f; do
             if head -n 5 "$f" | grep -q 'hvlab: instructor-only'; then echo "$f"; fi; done)
  [ -z "$marked" ] || die "files marked instructor-only in the handout: $marked"
  say "no instructor-only files"

  # Every exercise of the reference has its stub in the handout.
  n=0
  for id in $(grep -rhoE '(//|#) *BEGIN SOLUTION +lab[0-9]+-[A-Za-z0-9_.-]+' $(lab_dirs "$src" | sed "s|^|$src/|") |
              sed -E 's/.*BEGIN SOLUTION +//' | sort -u); do
    (cd "$h" && grep -rqF -e "HV_NOT_IMPLEMENTED(\"$id\")" -e "HV_NOT_DONE(\"$id\")" -e "# $id: not implemented" $(lab_dirs "$h")) ||
      die "no stub for $id in the handout"
    n=$((n + 1))
  done
  say "$n exercises stubbed"

  # A git repository with one commit, a clean status, the marker and the pre-push hook.
  [ "$(git -C "$h" rev-list --count HEAD)" = 1 ] || die "the handout's repository does not have exactly one commit"
  [ -z "$(git -C "$h" status --porcelain)" ] || die "the handout's repository is not clean"
  [ -f "$h/.hvlab-handout" ] || die "no .hvlab-handout marker"
  [ -x "$h/.git/hooks/pre-push" ] || die "no pre-push hook"
  sh "$h/.git/hooks/pre-push" origin /tmp/some/local/path </dev/null || die "the pre-push hook refuses a local path"
  HVLAB_ALLOW_PUBLIC_PUSH=1 sh "$h/.git/hooks/pre-push" origin https://example.invalid/x.git </dev/null ||
    die "the pre-push hook ignores HVLAB_ALLOW_PUBLIC_PUSH"
  say "git repository: one commit, clean, marker and pre-push hook in place"

  # make handin: refuses uncommitted changes, packs the committed tree otherwise.
  echo "// work in progress" >> "$h/lab04-vtx/src/vmx.cpp"
  if sh "$h/tools/handout/handin.sh" "$out/handin-build" >/dev/null 2>&1; then die "handin accepted uncommitted changes"; fi
  git -C "$h" checkout -q -- lab04-vtx/src/vmx.cpp
  sh "$h/tools/handout/handin.sh" "$out/handin-build" >/dev/null || die "handin failed on a clean tree"
  archive=$(ls "$out"/handin-build/handin/*.tar.gz | head -n 1)
  tar -tzf "$archive" | grep -q '/lab04-vtx/src/vmx.cpp$' || die "the handin archive lacks the lab sources"
  rm -rf "$out/handin-build"
  say "make handin refuses uncommitted changes and packs the committed tree"

  # What a test run leaves behind (CTest's Testing/, its top-level file) does not block handin.
  mkdir -p "$h/Testing/Temporary"
  echo "subdirs(build)" > "$h/CTestTestfile.cmake"
  echo "log" > "$h/Testing/Temporary/LastTest.log"
  sh "$h/tools/handout/handin.sh" "$out/handin-build" >/dev/null || die "handin refuses a tree with CTest's leftovers"
  rm -rf "$h/Testing" "$h/CTestTestfile.cmake" "$out/handin-build"
  say "CTest's leftovers do not block make handin"

  # The student tree speaks to students: its README and make help are theirs.
  grep -q 'your lab tree' "$h/README.md" || die "the handout's README is not the students' (tools/handout/student-README.md)"
  ! grep -q 'grade the reference labs' "$h/README.md" || die "the handout's README is the instructor's"
  make -s -C "$h" help | grep -q 'Start with lab01' || die "make help in the handout is not the students'"
  say "README and make help are the students'"

  # The catch-up checkpoint: lab01's solutions kept, later labs stripped.
  u="$out/handout-upto-lab01"
  "$build/tools/handout/hvlab-handout" --source "$src" --dest "$u" --upto lab01 --no-git >/dev/null ||
    die "hvlab-handout --upto lab01 failed"
  ! (cd "$u" && grep -rqF 'HV_NOT_IMPLEMENTED("lab01-' $(lab_dirs "$u")) || die "--upto lab01 still strips lab01"
  if [ -d "$src/lab04-vtx" ]; then
    (cd "$u" && grep -rqF 'HV_NOT_IMPLEMENTED("lab04-' lab04-vtx) || die "--upto lab01 kept lab04's solutions"
  fi
  rm -rf "$u"
  say "--upto lab01 keeps lab01 and strips the later labs"
  ;;

build)
  h="$out/handout"
  [ -d "$h" ] || die "no handout at $h (run the generate step first)"
  w="$out/student"
  rm -rf "$w"
  mkdir -p "$w/build/_deps"
  cp -R "$h" "$w/src"
  [ -d "$build/_deps/zydis" ] && cp -R "$build/_deps/zydis" "$w/build/_deps/zydis"
  set --
  if command -v ccache >/dev/null 2>&1; then
    export CCACHE_DIR="$out/ccache" CCACHE_BASEDIR="$w" CCACHE_NOHASHDIR=1
    set -- -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
      -DCMAKE_C_FLAGS=-fmacro-prefix-map=../src/= -DCMAKE_CXX_FLAGS=-fmacro-prefix-map=../src/=
  fi
  t0=$(now)
  cmake -S "$w/src" -B "$w/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >"$out/student-configure.log" 2>&1 ||
    { tail -n 30 "$out/student-configure.log"; die "the handout does not configure"; }
  targets="hvlab-calibrate"
  for d in $(lab_dirs "$w/src"); do targets="$targets $d/all"; done
  # shellcheck disable=SC2086
  ninja -C "$w/build" -j "$jobs" $targets >"$out/student-build.log" 2>&1 ||
    { grep -E 'error:|FAILED:' "$out/student-build.log" | head -n 20; die "the handout does not build (see $out/student-build.log)"; }
  say "the handout builds ($targets) in $(( $(now) - t0 )) s"
  ! grep -E 'warning:' "$out/student-build.log" | head -n 5 | grep . || die "the handout compiles with warnings (see $out/student-build.log)"
  say "no compiler warnings"

  # Grade it the way `make grade` does, with the handout's own rubrics (the guests come from
  # BUILD: they hold no exercise).
  t0=$(now)
  set +e
  "$build/autograder/grader/hvlab-grade" --build-dir "$w/build" --rubric-dir "$w/src/autograder/rubrics" \
    --guest-dir "$build/autograder/guests" -j "$jobs" $lab_args ${lab_args:+--lab native} --json "$out/student-grade.json" >"$out/student-grade.txt" 2>&1
  status=$?
  set -e
  secs=$(( $(now) - t0 ))
  [ "$status" = 1 ] || { tail -n 40 "$out/student-grade.txt"; die "grading the handout exited with $status, expected 1"; }
  say "graded in $secs s"
  [ "$secs" -lt 120 ] || die "grading the handout took $secs s, more than 2 minutes"
  grep -q 'exercises:' "$out/student-grade.txt" || die "no per-exercise summary in the report"
  "$check" --grade-json "$out/student-grade.json" --full-marks native \
    --every-failure '-=not implemented: lab[0-9]+-[A-Za-z0-9_.-]+'
  for d in $(lab_dirs "$w/src"); do
    lab=${d%%-*}
    score=$(sed -n "/^$lab: /p" "$out/student-grade.txt" | head -n 1)
    # A lab this machine cannot run (lab05 without a usable KVM) is skipped with its reason.
    skip=$(sed -n "s/^  $lab: skipped, not graded (no points; a skip is not a pass): //p" "$out/student-grade.txt" | head -n 1)
    if [ -z "$score" ] && [ -n "$skip" ]; then say "$lab: skipped on this machine: $skip"; continue; fi
    case "$score" in "$lab: 0 / "*) say "$score" ;; *) die "$lab does not score 0 in the handout: $score" ;; esac
  done
  rm -rf "$w"
  ;;

submissions)
  h="$out/handout"
  grade="$build/autograder/grader/hvlab-grade"
  . "$src/autograder/grader/tests/need-sandbox.sh"
  [ -d "$h" ] || die "no handout at $h (run the generate step first)"
  subs="$out/submissions"
  results="$out/results"
  rm -rf "$subs" "$results" "$out/broken"
  mkdir -p "$subs"
  # 1. The reference tree, as an archive.
  (cd "$src" && git ls-files -z --cached --others --exclude-standard |
     tar --null -T - -czf "$subs/reference.tar.gz" --transform 's,^,reference/,')
  # 2. The untouched handout, as a folder (with its git repository).
  cp -R "$h" "$subs/handout"
  # 3. The handout with a compile error in lab04, a lab04 build edited to skip the lab, and
  #    a rubric edited to give lab04 no points: graded on the instructor's rules and rubric.
  b="$out/broken/broken"
  mkdir -p "$out/broken"
  cp -R "$h" "$b"
  printf '\nthis line is not C++;\n' >> "$b/lab04-vtx/src/vmx.cpp"
  printf 'return()\n' | cat - "$b/lab04-vtx/CMakeLists.txt" > "$b/lab04-vtx/CMakeLists.txt.new"
  mv "$b/lab04-vtx/CMakeLists.txt.new" "$b/lab04-vtx/CMakeLists.txt"
  sed -i 's/^points = [0-9]*/points = 0/' "$b/autograder/rubrics/lab04.toml"
  if command -v zip >/dev/null 2>&1; then
    (cd "$out/broken" && zip -qr "$subs/broken.zip" broken)
  else
    (cd "$out/broken" && tar -czf "$subs/broken.tar.gz" broken)
  fi
  rm -rf "$out/broken"

  t0=$(now)
  # shellcheck disable=SC2086
  "$src/autograder/grade" --build-dir "$build" --submissions "$subs" --out "$results" -j "$jobs" $lab_args \
    --ccache-dir "$out/ccache" || die "autograder/grade --submissions failed"
  say "three submissions graded in $(( $(now) - t0 )) s"
  "$check" --out "$results" \
    --expect reference=100 --expect handout=0 --expect broken=0 \
    --every-failure 'handout=not implemented: lab[0-9]+-[A-Za-z0-9_.-]+' \
    --lab-reason 'broken:lab04=build failed: lab04-vtx/src/vmx\.cpp:[0-9]+:[0-9]+: error:' \
    --feedback 'broken=this line is not C\+\+' \
    --ignored broken=lab04-vtx/CMakeLists.txt --ignored broken=autograder/rubrics/lab04.toml \
    --same-max reference,broken --max-seconds handout=120
  ;;

*)
  die "unknown step '$step' (generate, build or submissions)"
  ;;
esac
