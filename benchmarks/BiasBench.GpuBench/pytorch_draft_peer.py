# PyTorch peer of `BiasBench.GpuBench draft`: one DRaFT-1 update of a google/ddpm-celebahq-256-size UNet2DModel
# (diffusers, random weights, float32 parameters) against an HPS-size reward (open_clip ViT-H-14 image tower, random
# weights, frozen), batch 4, 50 DDIM steps (the first 49 under no_grad, the last with gradient), images 256 px resized
# to 224 (bicubic, antialias) and CLIP-normalised, reward = cosine with a fixed text embedding, loss = -mean(reward),
# backward, clip_grad_norm_(1.0), AdamW; everything under bf16 autocast. Run it in the same device call as the C# bench
# so both see the same GPU:
#   REF_DIR=.gpu python3 pytorch_draft_peer.py [--batch 4] [--steps 50] [--iterations 5] [--json FILE]   (prints JSON; writes FILE,
#   default $OUT/draft_peer.json). diffusers and open_clip are not installed on the GPU machine: their sources are read
#   from $REF_DIR/ref/src (src/diffusers and src/open_clip of those public repositories, exported by hand).
# Reference given with the issue (H100, bf16 autocast, AdamW): 1.58 s per update, 14.9 GiB peak. Not run here: this
# machine has no GPU and no torch, so neither figure has been reproduced.
import argparse, json, os, subprocess, sys, time, types
import torch, torch.nn.functional as F
sys.path.insert(0, os.path.join(os.environ.get("REF_DIR", os.path.dirname(os.path.abspath(__file__))), "ref", "src"))
try:
    import ftfy  # noqa: F401  open_clip's tokenizer imports it at import time; no text is tokenised here
except ImportError:
    sys.modules["ftfy"] = types.SimpleNamespace(fix_text=lambda s, *a, **k: s)
from diffusers import UNet2DModel, DDIMScheduler
import open_clip

p = argparse.ArgumentParser()
p.add_argument("--batch", type=int, default=4)
p.add_argument("--steps", type=int, default=50)
p.add_argument("--iterations", type=int, default=5)
p.add_argument("--json", default=None)
a = p.parse_args()
dev = "cuda"
torch.manual_seed(0)

unet = UNet2DModel(  # google/ddpm-celebahq-256's unet/config.json
    sample_size=256, in_channels=3, out_channels=3, layers_per_block=2, block_out_channels=(128, 128, 256, 256, 512, 512),
    down_block_types=("DownBlock2D", "DownBlock2D", "DownBlock2D", "DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D", "UpBlock2D", "UpBlock2D"),
    attention_head_dim=None, downsample_padding=0, flip_sin_to_cos=False, freq_shift=1, norm_eps=1e-6, norm_num_groups=32,
).to(dev)
scheduler = DDIMScheduler(beta_start=0.0001, beta_end=0.02, beta_schedule="linear", num_train_timesteps=1000, clip_sample=True)
scheduler.set_timesteps(a.steps)
clip = open_clip.create_model("ViT-H-14", pretrained=None).visual.to(dev).eval()
for q in clip.parameters(): q.requires_grad_(False)
text = F.normalize(torch.randn(1, 1024, device=dev), dim=-1)
mean = torch.tensor([0.48145466, 0.4578275, 0.40821073], device=dev).view(1, 3, 1, 1)
std = torch.tensor([0.26862954, 0.26130258, 0.27577711], device=dev).view(1, 3, 1, 1)
opt = torch.optim.AdamW(unet.parameters(), lr=1e-5, weight_decay=0.0)
print(f"UNet {sum(q.numel() for q in unet.parameters()) / 1e6:.1f}M, reward tower {sum(q.numel() for q in clip.parameters()) / 1e6:.1f}M")

def update(i):
    g = torch.Generator("cpu").manual_seed(i)
    x = torch.randn(a.batch, 3, 256, 256, generator=g).to(dev)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        with torch.no_grad():
            for t in scheduler.timesteps[:-1]:
                x = scheduler.step(unet(x, t).sample, t, x).prev_sample
        t = scheduler.timesteps[-1]
        x = scheduler.step(unet(x, t).sample, t, x).prev_sample
        images = (x.float() / 2 + 0.5).clamp(0, 1)
        pixels = (F.interpolate(images, size=(224, 224), mode="bicubic", align_corners=False, antialias=True) - mean) / std
        reward = (F.normalize(clip(pixels).float(), dim=-1) * text).sum(-1)
        loss = -reward.mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
    opt.step()
    return loss.item()

update(0)  # warm-up
torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
times = []
for i in range(1, a.iterations + 1):
    torch.cuda.synchronize(); t0 = time.perf_counter()
    update(i)
    torch.cuda.synchronize(); times.append(time.perf_counter() - t0)
times.sort()
smi = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"], capture_output=True, text=True).stdout
mine = [int(l.split(",")[1]) for l in smi.splitlines() if l.split(",")[0].strip() == str(os.getpid())]
res = {
    "gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "batch": a.batch, "steps": a.steps,
    "seconds_per_update": round(times[len(times) // 2], 4),
    "max_memory_allocated_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
    "max_memory_reserved_gib": round(torch.cuda.max_memory_reserved() / 2**30, 2),
    "process_gib_nvidia_smi_at_end": round(mine[0] / 1024, 2) if mine else None,
}
print(json.dumps(res, indent=1))
json.dump(res, open(a.json or os.path.join(os.environ.get("OUT", "/tmp"), "draft_peer.json"), "w"), indent=1)
