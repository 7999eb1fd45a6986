#!/usr/bin/env bash
# Packs into .gpu/ (ignored by git) what scripts/gpu_job.sh needs on the GPU machine, which has PyTorch but no .NET and
# no network: a .NET runtime, this bench published without the CPU libtorch (PyTorch's CUDA libtorch is used there),
# ../shared/gpu/run.sh, and a folder of JPEGs for the end-to-end mode. The same steps as ../shared/gpu/prepare.sh, which
# cannot run in a git worktree (it writes .git/info/exclude). Send .gpu along (carry: [".gpu"]); working tree + .gpu
# must stay under 64 MiB.
# Usage, from the repository root:  bash benchmarks/BiasBench.GpuBench/scripts/pack.sh [JPEG_FOLDER] [COUNT]
#   JPEG_FOLDER defaults to ../shared/data/hackathon/sdxl (300 1024 px SDXL JPEGs, ~70 KB each); the first COUNT (default
#   200, 14 MB) are packed, and the end-to-end mode reads them several times (--repeat) to make 1,200 images.
# Optional reference sources for the PyTorch peers (public repositories, exported by hand): .gpu/ref/src/open_clip
# (mlfoundations/open_clip src/open_clip, for the pairs peer) and .gpu/ref/ImageReward (THUDM/ImageReward, for the
# imagereward peer; without it the peer uses timm's ViT-L/16 + transformers' BERT with cross-attention).
# REF_SRC=FOLDER (optional) holding the Python packages diffusers/ (peers of ddpm, sd, draft) and open_clip/ (pairs,
# draft), e.g. the src/ folders of huggingface/diffusers and mlfoundations/open_clip exported there: packed as
# .gpu/ref-src.tar.xz (~3 MB for both), which gpu_job.sh unpacks on the GPU machine (outside .gpu, on PYTHONPATH).
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
shared=${BIASBENCH_SHARED:-$root/../shared}
images=${1:-$shared/data/hackathon/sdxl}
count=${2:-200}
dotnet_root=${DOTNET_ROOT:-/usr/share/dotnet}
mkdir -p .gpu
if [ ! -f .gpu/dotnet-runtime.tar.xz ]; then
  tar -C "$dotnet_root" -cf - dotnet host/fxr shared/Microsoft.NETCore.App | xz -T0 -6 > .gpu/dotnet-runtime.tar.xz
fi
rm -rf .gpu/app
dotnet publish benchmarks/BiasBench.GpuBench/BiasBench.GpuBench.csproj -c Release -o .gpu/app --nologo -v q
# PyTorch's libtorch replaces the CPU one; keep TorchSharp's binding (libLibTorchSharp.so).
find .gpu/app \( -name 'libtorch*.so*' -o -name 'libc10*.so*' -o -name 'libgomp*.so*' -o -name 'libshm*.so*' \
  -o -name 'libbackend_with_compiler.so' -o -name 'libjitbackend_test.so' -o -name 'libnnapi_backend.so' \
  -o -name 'libaoti_custom_ops.so' -o -name 'libtorchbind_test.so' -o -name '*.pdb' \) -delete
find .gpu/app/runtimes -mindepth 1 -maxdepth 1 ! -name 'linux-x64' -exec rm -rf {} + 2>/dev/null || true
cp "$shared/gpu/run.sh" .gpu/run.sh
rm -rf .gpu/images && mkdir -p .gpu/images
find "$images" -maxdepth 1 -iname '*.jpg' | sort | head -n "$count" | while read -r f; do cp "$f" .gpu/images/; done
echo "$(ls .gpu/images | wc -l) JPEGs in .gpu/images"
if [ -n "${REF_SRC:-}" ]; then
  packages=$(cd "$REF_SRC" && ls -d diffusers open_clip 2>/dev/null || true)
  [ -n "$packages" ] || { echo "REF_SRC=$REF_SRC holds neither diffusers/ nor open_clip/" >&2; exit 1; }
  tar -C "$REF_SRC" --exclude=__pycache__ -cf - $packages | xz -T0 -6 > .gpu/ref-src.tar.xz
  echo "reference sources packed: $packages"
fi
for package in diffusers open_clip; do
  [ -d ".gpu/ref/src/$package" ] || tar -tJf .gpu/ref-src.tar.xz "$package/__init__.py" > /dev/null 2>&1 ||
    echo "note: no $package source (REF_SRC): the PyTorch peers that import it will fail on the GPU machine"
done
du -sh .gpu .gpu/app .gpu/images
total=$(( $(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1) + $(du -sb .gpu | cut -f1) ))
echo "working tree + .gpu: $((total / 1024 / 1024)) MiB (limit 64 MiB)"
