#!/bin/sh
# make test-slurm: a real Slurm cluster of one node on this machine grades a small class with
# the kit's job array (autograder/slurm/submit.sh), and its gradebook must be the one local
# grading gives for the same class.
#
# It installs Debian's slurm-wlm and munge (tools/deps.sh slurm), then starts munged, slurmctld
# and slurmd as the user running it, with a generated configuration in OUT/cluster (ports
# 16817 and 16818; no cgroups, no accounting), submits the class (the reference as a .tar.gz,
# the untouched handout as a folder, a handout with a compile error in lab04 as a .zip),
# waits for the array and the gradebook job, grades the same class with
# `autograder/grade --submissions`, compares the two gradebooks (every column but the
# free-text reason), and stops the daemons it started.
#
#   one-node.sh SRC BUILD OUT
set -eu

src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
out=$3
mkdir -p "$out"
out=$(cd "$out" && pwd)
say() { echo "slurm-check: $*"; }
die() { echo "slurm-check: FAIL: $*" >&2; exit 1; }
now() { date +%s; }

sh "$src/tools/deps.sh" slurm || die "cannot install slurm-wlm and munge"
for tool in munged mungekey slurmctld slurmd sbatch squeue sinfo; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || die "$tool is missing after installing slurm-wlm and munge"
done
PATH="$PATH:/usr/sbin"

c="$out/cluster"
rm -rf "$c" "$out/class" "$out/results-slurm" "$out/results-local"
mkdir -p "$c/munge" "$c/state" "$c/spool" "$c/log"
chmod 700 "$c/munge"
started=""
cleanup() {
  for p in "$c/slurmd.pid" "$c/slurmctld.pid" "$c/munge/munged.pid"; do
    [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null || true
  done
}
trap cleanup EXIT INT TERM

# munge, with a key of its own.
mungekey --create --keyfile="$c/munge/munge.key" --force >/dev/null 2>&1 ||
  head -c 128 /dev/urandom > "$c/munge/munge.key"
chmod 600 "$c/munge/munge.key"
munged --force --socket="$c/munge/munge.socket" --key-file="$c/munge/munge.key" --log-file="$c/munge/munged.log" \
  --pid-file="$c/munge/munged.pid" --seed-file="$c/munge/munged.seed" || die "munged did not start (see $c/munge/munged.log)"

# Slurm: one node, this machine, the running user as SlurmUser and SlurmdUser.
host=$(hostname -s)
user=$(id -un)
mem=$(awk '/MemTotal/ { print int($2 / 1024) - 512 }' /proc/meminfo)
cat > "$c/slurm.conf" <<EOF
ClusterName=hvlab-check
SlurmctldHost=$host(127.0.0.1)
SlurmUser=$user
SlurmdUser=$user
SlurmctldPort=16817
SlurmdPort=16818
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$c/munge/munge.socket
StateSaveLocation=$c/state
SlurmdSpoolDir=$c/spool
SlurmctldPidFile=$c/slurmctld.pid
SlurmdPidFile=$c/slurmd.pid
SlurmctldLogFile=$c/log/slurmctld.log
SlurmdLogFile=$c/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=hvlab Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$c/slurm.conf"
slurmctld -f "$SLURM_CONF" || die "slurmctld did not start (see $c/log/slurmctld.log)"
slurmd -f "$SLURM_CONF" || die "slurmd did not start (see $c/log/slurmd.log)"
i=0
until [ "$(sinfo -h -o %T 2>/dev/null | head -n 1)" = idle ]; do
  i=$((i + 1))
  [ "$i" -lt 60 ] || die "the node did not come up: $(sinfo 2>&1 | tail -n 2)"
  sleep 1
done
say "a one-node cluster is up: $(sinfo -h -o '%P %D %c CPUs %m MB %T')"

# The class.
class="$out/class"
mkdir -p "$class"
h="$out/handout"
"$build/tools/handout/hvlab-handout" --source "$src" --dest "$h" --no-git --force >/dev/null
(cd "$src" && git ls-files -z --cached --others --exclude-standard | grep -zv '^build' |
   tar --null -T - -czf "$class/reference.tar.gz" --transform 's,^,reference/,')
cp -R "$h" "$class/handout"
cp -R "$h" "$out/broken"
printf '\nthis line is not C++;\n' >> "$out/broken/lab04-vtx/src/vmx.cpp"
(cd "$out" && zip -qr "$class/broken.zip" broken)
rm -rf "$out/broken"

# Through Slurm.
t0=$(now)
HVLAB_BUILD="$build" sh "$src/autograder/slurm/submit.sh" "$class" "$out/results-slurm" --partition=hvlab \
  >"$out/submit.txt" 2>&1 || { cat "$out/submit.txt"; die "submit.sh failed"; }
cat "$out/submit.txt"
i=0
while [ -n "$(squeue -h 2>/dev/null)" ]; do
  i=$((i + 1))
  [ "$i" -lt 1800 ] || die "the jobs did not finish within 30 minutes: $(squeue)"
  sleep 1
done
slurm_secs=$(( $(now) - t0 ))
[ -s "$out/results-slurm/gradebook.csv" ] ||
  { tail -n 20 "$out"/results-slurm/slurm-*.out 2>/dev/null; die "the gradebook job wrote no gradebook"; }
say "graded through Slurm in $slurm_secs s: $(tail -n +2 "$out/results-slurm/gradebook.csv" | wc -l) student(s)"

# Locally, the same class.
t0=$(now)
sh "$src/autograder/grade" --build-dir "$build" --submissions "$class" --out "$out/results-local" -j "$(nproc)" -q \
  >"$out/local.txt" 2>&1 || { tail -n 20 "$out/local.txt"; die "local grading failed"; }
say "graded locally in $(( $(now) - t0 )) s"

# The same gradebook, but for the reasons' free text.
strip() { awk -F, 'BEGIN { OFS = "," } NR == 1 { for (i = 1; i <= NF; i++) if ($i ~ /^reason/) r = i } { if (r) NF = r - 1; print }' "$1"; }
strip "$out/results-slurm/gradebook.csv" > "$out/slurm.csv"
strip "$out/results-local/gradebook.csv" > "$out/local.csv"
diff "$out/local.csv" "$out/slurm.csv" || die "the Slurm gradebook differs from the local one (above: local, then Slurm)"
grep -q '^reference,.*100\.0,graded' "$out/slurm.csv" || die "the reference is not at 100% in the Slurm gradebook"
say "the Slurm gradebook matches local grading:"
sed 's/^/  /' "$out/slurm.csv"
say "Slurm run: $slurm_secs s"
