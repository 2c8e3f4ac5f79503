#!/bin/bash
# Merges the shard files of a sweep run by sweep-array.sh (submitted by submit.sh as a job that
# starts when the array has succeeded; also runs by hand):
#
#   scripts/slurm/merge-shards.sh SWEEP.toml OUTDIR SHARDS
#
# Writes OUTDIR/<sweep name>.csv (every run once, in run order) and OUTDIR/<sweep name>.summary.csv
# (`edgeplan summarize`'s table by solver), and fails (exit 1, no merged file) when a shard file
# is missing or the shards do not hold every run of the sweep. $EDGEPLAN, else `edgeplan` on PATH.
#SBATCH --job-name=edgeplan-merge
#SBATCH --cpus-per-task=1
#SBATCH --mem=2G
#SBATCH --time=01:00:00
#SBATCH --output=edgeplan-merge-%j.out
set -euo pipefail

[ $# -eq 3 ] || {
  echo "usage: merge-shards.sh SWEEP.toml OUTDIR SHARDS" >&2
  exit 2
}
sweep=$1
outdir=$2
shards=$3
[[ "$shards" =~ ^[1-9][0-9]*$ ]] || {
  echo "merge-shards.sh: SHARDS must be a positive integer, got '$shards'" >&2
  exit 2
}
edgeplan=${EDGEPLAN:-edgeplan}
command -v "$edgeplan" >/dev/null || {
  echo "merge-shards.sh: edgeplan not found: put it on PATH or set EDGEPLAN" >&2
  exit 2
}
name=$(basename "$sweep" .toml)
files=()
for ((i = 0; i < shards; i++)); do
  file="$outdir/$name.shard-$i-of-$shards.csv"
  [ -f "$file" ] || {
    echo "merge-shards.sh: shard $i of $shards has no file ($file)" >&2
    exit 1
  }
  files+=("$file")
done

expected=$("$edgeplan" sweep "$sweep" --dry-run | sed -n '1s/.* = \([0-9]*\) runs$/\1/p')
[ -n "$expected" ] || {
  echo "merge-shards.sh: cannot read the run count of $sweep from \`edgeplan sweep --dry-run\`" >&2
  exit 1
}
# Written beside the result and renamed once complete: OUTDIR/<name>.csv is never partial.
partial="$outdir/.$name.csv.partial"
trap 'rm -f "$partial"' EXIT
summary=$("$edgeplan" summarize "${files[@]}" --merged "$partial" -o "$outdir/$name.summary.csv")
echo "$summary"
merged=$(sed -n '1s/^\([0-9]*\) runs,.*/\1/p' <<<"$summary")
if [ "$merged" != "$expected" ]; then
  echo "merge-shards.sh: the shards hold ${merged:-?} runs, the sweep has $expected" >&2
  rm -f "$outdir/$name.summary.csv"
  exit 1
fi
mv "$partial" "$outdir/$name.csv"
echo "merged $shards shards: $merged runs in $outdir/$name.csv"
