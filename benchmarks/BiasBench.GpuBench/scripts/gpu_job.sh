#!/usr/bin/env bash
# The GPU measurements in one device call: each workload of the C# bench (GpuBench) and then its PyTorch peer, on the
# same GPU in the same job; one JSON + log per program in $OUT, and $OUT/summary.md with the ratios (rewritten after
# each part, so a call cut short still has one). On the GPU machine, from the repository root, with .gpu/ packed here by
# scripts/pack.sh (device call: carry [".gpu"]):
#   bash benchmarks/BiasBench.GpuBench/scripts/gpu_job.sh                      # issue 14's parts (about 8-10 minutes)
#   bash benchmarks/BiasBench.GpuBench/scripts/gpu_job.sh all                  # every part below, profile last
#   bash benchmarks/BiasBench.GpuBench/scripts/gpu_job.sh image pairs          # some parts: image pairs imagereward e2e profile ddpm sd resnet draft
# Parts and peers: image pairs imagereward e2e -> peers/torch_peer.py; ddpm sd -> pytorch_diffusion_peer.py (diffusers
# sources in .gpu/ref/src); resnet (resnet-infer + resnet-train) -> resnet_pytorch_peer.py; draft -> pytorch_draft_peer.py
# (diffusers + open_clip sources in .gpu/ref/src); profile -> scripts/profile.sh (Nsight Compute, GPU only).
# Estimate, from the README's H100 targets (never measured by this repository): ddpm ~61.5 ms per UNet call x (12 timed
# + 50 loop) calls ~4 s per program, sd a few seconds of UNet/VAE work, resnet well under 1 s of steps, draft ~1.6 s x 6
# updates; each program's time is dominated by start-up and random initialisation of up to ~1B parameters (tens of
# seconds), so the four extra parts add roughly 3-5 minutes: not in the default set. `all` can exceed a device call's
# 600 s, hence BUDGET (default 570 s): a program gets at most what is left of it, parts that no longer fit are skipped
# (said in the output), and summary.md is written anyway; `all` runs profile (Nsight Compute, diagnostic, up to 420 s)
# last, so it is what gets cut short.
# A failing program does not stop the others (each has its own timeout, LIMIT, default 300 s); what finished is in $OUT.
# Smoke test of the C# side on a CPU machine (no peers, tiny models):
#   RUN="dotnet benchmarks/BiasBench.GpuBench/bin/Release/net10.0/BiasBench.GpuBench.dll" DEVICE=cpu TINY=1 NO_PEERS=1 \
#     IMAGES=../shared/data/hackathon/sdxl OUT=/tmp/gpujob bash benchmarks/BiasBench.GpuBench/scripts/gpu_job.sh image e2e ddpm sd resnet draft
# With TINY=1 the peers that have no tiny preset (sd, resnet, draft) are skipped; the ddpm peer runs its tiny preset.
set -uo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
here=benchmarks/BiasBench.GpuBench
out=${OUT:-/tmp/gpubench}
mkdir -p "$out"
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(image pairs imagereward e2e profile)
[[ " ${parts[*]} " != *" all "* ]] || parts=(image pairs imagereward e2e ddpm sd resnet draft profile)
export REF_DIR=${REF_DIR:-$root/.gpu}
# Reference sources packed by pack.sh (REF_SRC=...): diffusers and open_clip for the peers, unpacked outside .gpu (31 MB
# that must not travel back with it) and put on PYTHONPATH; sources exported by hand into .gpu/ref/src come first.
if [ -z "${NO_PEERS:-}" ] && [ -f "$REF_DIR/ref-src.tar.xz" ]; then
  ref_src=${TMPDIR:-/tmp}/biasbench-ref-src
  mkdir -p "$ref_src" && tar -C "$ref_src" -xJf "$REF_DIR/ref-src.tar.xz" && export PYTHONPATH="$ref_src${PYTHONPATH:+:$PYTHONPATH}"
fi
want() { [[ " ${parts[*]} " == *" $1 "* ]]; }
run=${RUN:-bash .gpu/run.sh BiasBench.GpuBench}
device=${DEVICE:-cuda}
vit=vit-h14; blip=imagereward
ddpm=(--preset celebahq-256 --batch 16); sd=(--preset sd15 --batch 4); resnet=(--preset resnet18 --batch 256); draft=(--preset celebahq-256 --batch 4 --steps 50)
# Tiny presets with small batches and 4 steps: a CPU smoke test of the same code paths, not a measurement.
[ -z "${TINY:-}" ] || { vit=tiny; blip=tiny; ddpm=(--preset tiny --batch 2 --steps 4); sd=(--preset tiny --batch 1 --steps 4)
  resnet=(--preset tiny --batch 8); draft=(--preset tiny --batch 4 --steps 4); }
budget=${BUDGET:-570}
# Seconds a program may still run: LIMIT, or what is left of BUDGET less 20 s for the summary; 0 when nothing fits.
allowed() { local left=$(( budget - SECONDS - 20 )) limit=${LIMIT:-300}; (( left < 15 )) && left=0; echo $(( left < limit ? left : limit )); }
bench() {
  local name=$1; shift; local t; t=$(allowed)
  if [ "$t" -eq 0 ]; then echo "== BiasBench $name: skipped, BUDGET=$budget s spent"; return 0; fi
  echo "== BiasBench $name: $*"; timeout "$t" $run "$@" --device "$device" --json "$out/cs-$name.json" > "$out/cs-$name.log" 2>&1; tail -2 "$out/cs-$name.log"
}
# peer_py NAME SCRIPT ARGS...: a PyTorch peer writing $OUT/pt-NAME.json.
peer_py() {
  [ -z "${NO_PEERS:-}" ] || return 0
  local name=$1 script=$2; shift 2; local t; t=$(allowed)
  if [ "$t" -eq 0 ]; then echo "== PyTorch $name: skipped, BUDGET=$budget s spent"; return 0; fi
  echo "== PyTorch $name: $*"
  timeout "$t" python3 "$script" "$@" --json "$out/pt-$name.json" > "$out/pt-$name.log" 2>&1; tail -2 "$out/pt-$name.log"
}
peer() { local name=$1; shift; peer_py "$name" "$here/peers/torch_peer.py" "$@"; }
# The peers without a tiny preset would run full size against a tiny C# model: not run under TINY.
full_size_peer() { if [ -n "${TINY:-}" ]; then [ -n "${NO_PEERS:-}" ] || echo "== PyTorch $1: skipped (TINY=1, the peer has no tiny preset)"; return 0; fi; peer_py "$@"; }
summary() { python3 "$here/scripts/summarize.py" "$out" > "$out/summary.md"; }

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
summary
# Generators, judge and fine-tuning (README: "Diffusion generators", "ResNet judge throughput", fine-tuning "Performance").
if want ddpm; then
  bench ddpm ddpm "${ddpm[@]}" --dtype bf16 --full
  peer_py ddpm "$here/pytorch_diffusion_peer.py" ddpm "${ddpm[@]}" --dtype bf16 --device "$device" --full
  summary
fi
if want sd; then
  bench sd sd "${sd[@]}" --dtype fp16 --full
  full_size_peer sd "$here/pytorch_diffusion_peer.py" sd "${sd[@]}" --dtype fp16 --device "$device" --full
  summary
fi
if want resnet; then
  bench resnet-infer resnet-infer "${resnet[@]}" --dtype bf16
  bench resnet-train resnet-train "${resnet[@]}" --dtype bf16
  full_size_peer resnet "$here/resnet_pytorch_peer.py" --batch 256
  summary
fi
if want draft; then
  bench draft draft "${draft[@]}" --precision bf16
  full_size_peer draft "$here/pytorch_draft_peer.py" --batch 4 --steps 50
  summary
fi
if want profile && [ "$device" != cpu ]; then
  t=$(allowed); (( t < 420 )) || t=420
  if [ "$t" -eq 0 ]; then echo "== Nsight Compute: skipped, BUDGET=$budget s spent"; else
    echo "== Nsight Compute: one forward of each (image tower, bf16, batch 64; at most $t s)"
    timeout "$t" bash "$here/scripts/profile.sh" image 64 bf16 "$out" > "$out/profile.log" 2>&1; tail -25 "$out/profile.log"
  fi
fi
python3 "$here/scripts/summarize.py" "$out" | tee "$out/summary.md"
