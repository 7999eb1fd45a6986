#!/usr/bin/env bash
# Nsight Compute over one steady-state forward of the C# bench and of its PyTorch peer (same mode, batch and dtype),
# then a per-kernel and per-kind summary of both side by side (scripts/ncu_kernels.py). On the GPU machine, from the
# repository root, with .gpu/ packed by scripts/pack.sh:
#   bash benchmarks/BiasBench.GpuBench/scripts/profile.sh image 64 bf16 "$OUT"      # or pairs / imagereward
# Each program runs --warmup 1 --iterations 1 --marker: every kernel of the two forwards is timed (one metric, about a
# minute per program for ViT-H); the summary keeps the one between the markers.
set -euo pipefail
mode=${1:-image}; batch=${2:-64}; dtype=${3:-bf16}; out=${4:-${OUT:-/tmp}}
here=$(cd "$(dirname "$0")" && pwd)
ncu=${NCU:-$(command -v ncu || echo /usr/local/cuda/bin/ncu)}
mkdir -p "$out"
args=("$mode" --batch "$batch" --dtype "$dtype" --iterations 1 --warmup 1 --marker)
[ "$mode" = imagereward ] || args+=(--preset vit-h14)
metrics=(--metrics gpu__time_duration.sum --csv --print-units base --target-processes all)
"$ncu" "${metrics[@]}" bash .gpu/run.sh BiasBench.GpuBench "${args[@]}" --device cuda > "$out/ncu-biasbench-$mode.csv"
peer=("$mode" --batch "$batch" --dtype "$dtype" --iterations 1 --warmup 1 --marker)
REF_DIR=${REF_DIR:-$PWD/.gpu} "$ncu" "${metrics[@]}" python3 "$here/../peers/torch_peer.py" "${peer[@]}" > "$out/ncu-pytorch-$mode.csv"
python3 "$here/ncu_kernels.py" "$out/ncu-biasbench-$mode.csv" "$out/ncu-pytorch-$mode.csv" --labels BiasBench PyTorch \
  --json "$out/kernels-$mode.json" | tee "$out/kernels-$mode.txt"
