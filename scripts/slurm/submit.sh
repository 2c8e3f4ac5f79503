#!/bin/bash
# Submits a sweep as a Slurm job array, one shard per task (sweep-array.sh), and a job that
# merges the shards once every task has succeeded (merge-shards.sh, --dependency=afterok):
#
#   scripts/slurm/submit.sh SWEEP.toml SHARDS OUTDIR [SBATCH_OPTION...]
#
# The options go to the array job (e.g. --cpus-per-task=4 --mem=4G --partition=cpu); give
# --array=LIST to resubmit only some shards (their tasks resume their files) with a new merge job.
# Options for both jobs: sbatch's input variables (SBATCH_PARTITION, SBATCH_ACCOUNT, ...).
# Prints "ARRAY_JOB_ID MERGE_JOB_ID" on stdout; logs go to OUTDIR/logs/. The binary is $EDGEPLAN,
# else `edgeplan` on PATH, resolved here and passed to the jobs.
set -euo pipefail

fail() {
  echo "submit.sh: $*" >&2
  exit 2
}
[ $# -ge 3 ] || fail "usage: submit.sh SWEEP.toml SHARDS OUTDIR [SBATCH_OPTION...]"
sweep=$1
shards=$2
outdir=$3
shift 3
[ -f "$sweep" ] || fail "sweep file $sweep not found"
[[ "$shards" =~ ^[1-9][0-9]*$ ]] || fail "SHARDS must be a positive integer, got '$shards'"
command -v sbatch >/dev/null || fail "sbatch not found: is this a Slurm login node?"
EDGEPLAN=$(command -v "${EDGEPLAN:-edgeplan}") ||
  fail "edgeplan not found: put it on PATH or set EDGEPLAN"
export EDGEPLAN
here=$(cd "$(dirname "$0")" && pwd)
sweep=$(realpath "$sweep")
mkdir -p "$outdir/logs"
outdir=$(realpath "$outdir")

array=(--array="0-$((shards - 1))")
for option in "$@"; do
  case "$option" in --array=* | -a) array=() ;; esac
done
array_id=$(sbatch --parsable "${array[@]}" --output="$outdir/logs/%x-%A_%a.out" "$@" \
  "$here/sweep-array.sh" "$sweep" "$outdir" "$shards")
array_id=${array_id%%;*} # --parsable prints "id;cluster" on multi-cluster set-ups
merge_id=$(sbatch --parsable --dependency="afterok:$array_id" --kill-on-invalid-dep=yes \
  --output="$outdir/logs/%x-%j.out" "$here/merge-shards.sh" "$sweep" "$outdir" "$shards")
merge_id=${merge_id%%;*}
echo "submitted array job $array_id ($shards shards of $sweep) and merge job $merge_id; output in $outdir" >&2
echo "$array_id $merge_id"
