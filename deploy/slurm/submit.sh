#!/bin/bash
# Runs a config as N shards on Slurm: a job array of N tasks (one GPU each), then a merge job that starts when all of
# them have succeeded.
#   BIASBENCH="dotnet /opt/biasbench/biasbench.dll" RUNS_DIR=/shared/biasbench/runs \
#     bash deploy/slurm/submit.sh deploy/hackathon-rescore.yaml 8
# Extra sbatch options (partition, account, ...) go in SBATCH_ARGS. The run id (the run folder's name) defaults to one
# derived from the array's job id; to resume a campaign whose tasks failed, pass the same RUN_ID again.
set -euo pipefail
config=$(realpath "${1:?usage: submit.sh CONFIG N}")
shards=${2:?usage: submit.sh CONFIG N}
here=$(cd "$(dirname "$0")" && pwd)
: "${BIASBENCH:?set BIASBENCH to the biasbench command}" "${RUNS_DIR:?set RUNS_DIR to a folder every node sees}"
mkdir -p "$RUNS_DIR"
export BIASBENCH RUNS_DIR CONFIG="$config" CACHE_DIR="${CACHE_DIR:-$RUNS_DIR/.cache}"
# The run id must be known before the array starts so that the merge job can be given it.
export RUN_ID=${RUN_ID:-biasbench-$(date -u +%Y%m%dT%H%M%SZ)-$$}
array=$(sbatch --parsable ${SBATCH_ARGS:-} --array=0-$((shards - 1)) "$here/biasbench-shards.sbatch")
merge=$(sbatch --parsable ${SBATCH_ARGS:-} --dependency=afterok:"$array" "$here/biasbench-merge.sbatch")
echo "shards: job array $array (0..$((shards - 1))); merge: job $merge (after all succeed); run folder $RUNS_DIR/$RUN_ID"
