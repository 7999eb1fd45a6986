#!/usr/bin/env bash
# The GPU measurements of issue 14 in one device call: each workload of the C# bench (GpuBench) and then its PyTorch
# peer (peers/torch_peer.py), on the same GPU in the same job; one JSON + log per program in $OUT, and $OUT/summary.md
# with the ratios. On the GPU machine, from the repository root, with .gpu/ packed here by scripts/pack.sh
# (device call: carry [".gpu"]):
#   bash benchmarks/BiasBench.GpuBench/scripts/gpu_job.sh                      # everything (about 8-10 minutes)
#   bash benchmarks/BiasBench.GpuBench/scripts/gpu_job.sh image pairs          # some parts: image pairs imagereward e2e profile
# A failing program does not stop the others (each has its own timeout); what finished is in $OUT.
# Smoke test of the C# side on a CPU machine (no peers, tiny models):
#   RUN="dotnet benchmarks/BiasBench.GpuBench/bin/Release/net10.0/BiasBench.GpuBench.dll" DEVICE=cpu TINY=1 NO_PEERS=1 \
#     IMAGES=../shared/data/hackathon/sdxl OUT=/tmp/gpujob bash benchmarks/BiasBench.GpuBench/scripts/gpu_job.sh image e2e
set -uo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
here=benchmarks/BiasBench.GpuBench
out=${OUT:-/tmp/gpubench}
mkdir -p "$out"
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(image pairs imagereward e2e profile)
export REF_DIR=${REF_DIR:-$root/.gpu}
want() { [[ " ${parts[*]} " == *" $1 "* ]]; }
run=${RUN:-bash .gpu/run.sh BiasBench.GpuBench}
device=${DEVICE:-cuda}
vit=vit-h14; blip=imagereward
[ -z "${TINY:-}" ] || { vit=tiny; blip=tiny; }
bench() { local name=$1; shift; echo "== BiasBench $name: $*"; timeout "${LIMIT:-300}" $run "$@" --device "$device" --json "$out/cs-$name.json" > "$out/cs-$name.log" 2>&1; tail -2 "$out/cs-$name.log"; }
peer() {
  [ -z "${NO_PEERS:-}" ] || return 0
  local name=$1; shift; echo "== PyTorch $name: $*"
  timeout "${LIMIT:-300}" python3 "$here/peers/torch_peer.py" "$@" --json "$out/pt-$name.json" > "$out/pt-$name.log" 2>&1; tail -2 "$out/pt-$name.log"
}

{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || echo "no nvidia-smi"; echo "$(nproc) cores"; python3 -c "import torch; print('torch', torch.__version__)" || true; } > "$out/machine.txt" 2>&1
if want image; then
  bench image image --preset "$vit" --batch 64,256 --dtype bf16
  peer image image --batch 64,256 --dtype bf16
fi
if want pairs; then
  bench pairs pairs --preset "$vit" --batch 64 --dtype fp16
  peer pairs pairs --batch 64 --dtype fp16
fi
if want imagereward; then
  bench imagereward imagereward --preset "$blip" --batch 64 --dtype fp16
  peer imagereward imagereward --batch 64 --dtype fp16
fi
if want e2e; then
  jpegs=(--images "${IMAGES:-.gpu/images}" --repeat "${REPEAT:-6}" --batch 64 --dtype "${E2E_DTYPE:-bf16}")
  bench e2e-staged e2e --preset "$vit" "${jpegs[@]}" --pipeline staged
  bench e2e-legacy e2e --preset "$vit" "${jpegs[@]}" --pipeline legacy
  DOTNET_gcServer=1 bench e2e-staged-server-gc e2e --preset "$vit" "${jpegs[@]}" --pipeline staged
  bench e2e-staged-dct e2e --preset "$vit" "${jpegs[@]}" --pipeline staged --jpeg-dct-scaling
  peer e2e e2e "${jpegs[@]}" --workers "$(nproc)"
fi
if want profile && [ "$device" != cpu ]; then
  echo "== Nsight Compute: one forward of each (image tower, bf16, batch 64)"
  timeout 420 bash "$here/scripts/profile.sh" image 64 bf16 "$out" > "$out/profile.log" 2>&1; tail -25 "$out/profile.log"
fi
python3 "$here/scripts/summarize.py" "$out" | tee "$out/summary.md"
