#!/bin/sh
# Grades a class on a Slurm cluster: one array task per submission, then one job that writes
# the gradebook once every task has ended.
#   autograder/slurm/submit.sh SUBMISSIONS_DIR OUT_DIR [sbatch options...]
#
# Before: build the kit once where the compute nodes see it (make build; the same OS and
# packages as the nodes), in this tree's build/ or in HVLAB_BUILD. Each task runs
#   autograder/grade --submission <one> --out OUT_DIR --work-dir <node-local scratch>
# and the last job runs autograder/grade --collect OUT_DIR (OUT_DIR/gradebook.csv).
# Options after OUT_DIR go to both sbatch calls (e.g. --partition=teach --account=cs101).
# Environment: HVLAB_BUILD (default <kit>/build), HVLAB_SLURM_PARALLEL (tasks at a time,
# default 50), HVLAB_CCACHE_DIR (the compiler cache; default <build>/_ccache),
# HVLAB_GRADE_OPTIONS (more options for each task's grader, e.g. "--lab lab04").
set -eu

[ $# -ge 2 ] || { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
kit=$(cd "$here/../.." && pwd)
subs=$(cd "$1" && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)
shift 2
build=${HVLAB_BUILD:-$kit/build}
[ -x "$build/autograder/grader/hvlab-grade" ] ||
  { echo "submit: $build/autograder/grader/hvlab-grade is missing: build the kit first (make build)" >&2; exit 2; }
command -v sbatch >/dev/null 2>&1 || { echo "submit: sbatch not found: is this a Slurm login node?" >&2; exit 2; }

# The same submissions `autograder/grade --submissions` takes: folders and archives, no
# hidden entries, by name.
list="$out/submissions.txt"
find "$subs" -mindepth 1 -maxdepth 1 ! -name '.*' \( -type d -o -type f \( -name '*.tar.gz' -o -name '*.tgz' \
  -o -name '*.tar' -o -name '*.tar.xz' -o -name '*.txz' -o -name '*.tar.bz2' -o -name '*.tbz2' -o -name '*.tar.zst' \
  -o -name '*.zip' \) \) | LC_ALL=C sort > "$list"
n=$(wc -l < "$list" | tr -d ' ')
[ "$n" -gt 0 ] || { echo "submit: no submissions (folders or archives) in $subs" >&2; exit 2; }

export HVLAB_KIT="$kit" HVLAB_BUILD="$build"
job=$(sbatch --parsable --export=ALL --array="1-$n%${HVLAB_SLURM_PARALLEL:-50}" --output="$out/slurm-%A_%a.out" "$@" \
        "$here/grade-array.sbatch" "$list" "$out")
job=${job%%;*}
last=$(sbatch --parsable --export=ALL --dependency="afterany:$job" --job-name=hvlab-gradebook \
         --output="$out/slurm-gradebook-%j.out" "$@" \
         --wrap="sh '$kit/autograder/grade' --build-dir '$build' --collect '$out'")
echo "submit: array job $job grades $n submission(s); job ${last%%;*} then writes $out/gradebook.csv"
