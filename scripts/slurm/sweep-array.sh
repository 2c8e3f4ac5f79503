#!/bin/bash
# One shard of an edgeplan sweep per task of a Slurm job array:
#
#   sbatch --array=0-15 scripts/slurm/sweep-array.sh SWEEP.toml OUTDIR [SHARDS]
#
# Task i runs `edgeplan sweep SWEEP.toml --shard i/SHARDS --resume` into
# OUTDIR/<sweep name>.shard-<i>-of-<SHARDS>.csv on $SLURM_CPUS_PER_TASK threads, so a requeued or
# resubmitted task continues its own file. SHARDS defaults to the size of a whole 0-based array;
# give it when resubmitting only some indices (`sbatch --array=3 ... SWEEP.toml OUTDIR 16`).
# The binary is $EDGEPLAN, else `edgeplan` on PATH. `scripts/slurm/submit.sh` submits this array
# and a job that merges the shards when it has succeeded. Options given to sbatch override the
# defaults below.
#SBATCH --job-name=edgeplan-sweep
#SBATCH --cpus-per-task=8
#SBATCH --mem=8G
#SBATCH --time=04:00:00
#SBATCH --requeue
#SBATCH --output=edgeplan-sweep-%A_%a.out
set -euo pipefail

fail() {
  echo "sweep-array.sh: $*" >&2
  exit 2
}
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  fail "usage: sbatch --array=0-N sweep-array.sh SWEEP.toml OUTDIR [SHARDS]"
fi
sweep=$1
outdir=$2
[ -n "${SLURM_ARRAY_TASK_ID:-}" ] || fail "not a job-array task (submit with sbatch --array=0-N)"
index=$SLURM_ARRAY_TASK_ID
if [ $# -eq 3 ]; then
  shards=$3
elif [ "${SLURM_ARRAY_TASK_MIN:-}" = 0 ] &&
  [ "$((SLURM_ARRAY_TASK_MAX + 1))" = "${SLURM_ARRAY_TASK_COUNT:-}" ]; then
  shards=$SLURM_ARRAY_TASK_COUNT
else
  fail "the array (indices ${SLURM_ARRAY_TASK_MIN:-?}-${SLURM_ARRAY_TASK_MAX:-?}) is not a whole 0-based one (a resubmission of some shards?): give the shard count as the third argument"
fi
if ! [[ "$shards" =~ ^[1-9][0-9]*$ ]] || [ "$index" -ge "$shards" ]; then
  fail "task $index is not a shard of $shards (SHARDS must be a positive integer above every array index)"
fi
edgeplan=${EDGEPLAN:-edgeplan}
command -v "$edgeplan" >/dev/null || fail "edgeplan not found: put it on PATH or set EDGEPLAN"
[ -f "$sweep" ] || fail "sweep file $sweep not found (relative paths are from $(pwd))"

name=$(basename "$sweep" .toml)
mkdir -p "$outdir"
echo "shard $index/$shards of $sweep on ${SLURM_CPUS_PER_TASK:-1} threads, host $(hostname)"
exec "$edgeplan" sweep "$sweep" --shard "$index/$shards" -j "${SLURM_CPUS_PER_TASK:-1}" \
  --resume --quiet -o "$outdir/$name.shard-$index-of-$shards.csv"
