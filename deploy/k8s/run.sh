#!/bin/bash
# Runs a config as N shards on Kubernetes: an Indexed Job of N pods (one GPU each) and a merge Job that waits for it.
#   IMAGE=registry.example.com/biasbench:1.0 bash deploy/k8s/run.sh deploy/hackathon-rescore.yaml 8 [RUN_ID]
# The config path is inside the image (/opt/biasbench/...); storage.yaml and rbac.yaml are applied once per namespace.
# Rerunning with the same RUN_ID recreates both Jobs; shards resume from the shared cache. kubectl's current context and
# namespace are used (KUBECTL_ARGS for others).
set -euo pipefail
config=${1:?usage: run.sh CONFIG N [RUN_ID]}
shards=${2:?usage: run.sh CONFIG N [RUN_ID]}
run_id=${3:-biasbench-$(date -u +%Y%m%d-%H%M%S)}
: "${IMAGE:?set IMAGE to the biasbench image (deploy/k8s/Dockerfile)}"
here=$(cd "$(dirname "$0")" && pwd)
case "$config" in /*) ;; *) config=/opt/biasbench/$config ;; esac
k() { kubectl ${KUBECTL_ARGS:-} "$@"; }
k apply -f "$here/storage.yaml" -f "$here/rbac.yaml"
for job in shards-job merge-job; do
  name=$([ $job = shards-job ] && echo biasbench-shards-$run_id || echo biasbench-merge-$run_id)
  k delete job "$name" --ignore-not-found
  sed -e "s|__RUN_ID__|$run_id|g" -e "s|__SHARDS__|$shards|g" -e "s|__IMAGE__|$IMAGE|g" -e "s|__CONFIG__|$config|g" "$here/$job.yaml" | k apply -f -
done
echo "run $run_id: $shards shards (job biasbench-shards-$run_id), merge job biasbench-merge-$run_id; results in /work/runs/$run_id"
