# PyTorch + diffusers peer of `BiasBench.GpuBench ddpm|sd` (same shapes, random weights, same timing method:
# median of N timed calls after 2 warm-up calls, torch.cuda.synchronize around each). Run it in the same device call
# as the .NET bench so both see the same GPU. Needs torch and the diffusers + transformers sources (the GPU machine has
# torch and transformers; export diffusers' src/diffusers into $REF_DIR/ref/src as for ../shared/gpu/pytorch_baselines.py).
#   REF_DIR=.gpu python3 benchmarks/BiasBench.GpuBench/pytorch_diffusion_peer.py ddpm --batch 16 --dtype bf16 [--steps 50] [--full]
#   REF_DIR=.gpu python3 benchmarks/BiasBench.GpuBench/pytorch_diffusion_peer.py sd   --batch 4  --dtype fp16 [--steps 50] [--full]
# It has not been run from this repository yet (no GPU machine was available when it was written).
import argparse, json, os, statistics, sys, time
import torch

HERE = os.environ.get("REF_DIR", os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(HERE, "ref", "src"))

p = argparse.ArgumentParser()
p.add_argument("mode", choices=["ddpm", "sd"])
p.add_argument("--preset", default=None)
p.add_argument("--batch", default=None)
p.add_argument("--dtype", default="bf16", choices=["bf16", "fp16", "fp32"])
p.add_argument("--device", default="cuda")
p.add_argument("--iterations", type=int, default=10)
p.add_argument("--steps", type=int, default=50)
p.add_argument("--guidance", type=float, default=7.5)
p.add_argument("--full", action="store_true")
p.add_argument("--json", default=None)
a = p.parse_args()
dev = torch.device(a.device)
dt = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[a.dtype]

def sync():
    if dev.type == "cuda": torch.cuda.synchronize(dev)

def timed(fn, iters):
    for _ in range(2): fn()
    sync(); times = []
    for _ in range(iters):
        t = time.perf_counter(); fn(); sync(); times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)

rows = []
with torch.no_grad():
    if a.mode == "ddpm":
        from diffusers import UNet2DModel, DDIMScheduler
        tiny = a.preset == "tiny"
        cfg = dict(sample_size=32, block_out_channels=(32, 32, 64, 64), down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
                   up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D"), norm_num_groups=8) if tiny else \
              dict(sample_size=256, block_out_channels=(128, 128, 256, 256, 512, 512), down_block_types=("DownBlock2D",) * 4 + ("AttnDownBlock2D", "DownBlock2D"),
                   up_block_types=("UpBlock2D", "AttnUpBlock2D") + ("UpBlock2D",) * 4)
        unet = UNet2DModel(in_channels=3, out_channels=3, layers_per_block=2, attention_head_dim=None, downsample_padding=0,
                           flip_sin_to_cos=False, freq_shift=1, norm_eps=1e-6, **cfg).to(dev, dt).eval()
        print(f"UNet2DModel {sum(p.numel() for p in unet.parameters()) / 1e6:.1f}M parameters")
        sched = DDIMScheduler(beta_start=0.0001, beta_end=0.02, beta_schedule="linear", clip_sample=True)
        for B in [int(b) for b in (a.batch or "16").split(",")]:
            x = torch.randn(B, 3, cfg["sample_size"], cfg["sample_size"], device=dev, dtype=dt)
            t = torch.tensor(500, device=dev)
            ms = timed(lambda: unet(x, t).sample, a.iterations)
            row = dict(mode="ddpm", preset=a.preset or "celebahq-256", dtype=a.dtype, device=str(dev), batch=B, unet_ms_per_call=round(ms, 2),
                       **{f"derived_images_per_s_at_{a.steps}_steps": round(B / (a.steps * ms / 1000), 3)})
            if a.full:
                sched.set_timesteps(a.steps); sync(); t0 = time.perf_counter(); s = x
                for ts in sched.timesteps: s = sched.step(unet(s, ts).sample, ts, s).prev_sample
                sync(); row["full_loop_images_per_s"] = round(B / (time.perf_counter() - t0), 3)
            rows.append(row); print(row)
    else:
        from diffusers import UNet2DConditionModel, AutoencoderKL, DDIMScheduler
        from transformers import CLIPTextConfig, CLIPTextModel
        unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768, attention_head_dim=8).to(dev, dt).eval()
        vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), layers_per_block=2, sample_size=512,
                            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4).to(dev, dt).eval()
        text = CLIPTextModel(CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                                            max_position_embeddings=77, hidden_act="quick_gelu")).to(dev, dt).eval()
        print(f"UNet2DConditionModel {sum(p.numel() for p in unet.parameters()) / 1e6:.1f}M parameters")
        sched = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", set_alpha_to_one=False, steps_offset=1, clip_sample=False)
        g = a.guidance
        for B in [int(b) for b in (a.batch or "4").split(",")]:
            rowsB = 2 * B if g > 1 else B
            ids = torch.randint(1, 49000, (rowsB, 77), device=dev)
            lat = torch.randn(B, 4, 64, 64, device=dev, dtype=dt)
            ctx = text(ids)[0]
            inp = torch.cat([lat, lat]) if g > 1 else lat
            t = torch.tensor(500, device=dev)
            unet_ms = timed(lambda: unet(inp, t, encoder_hidden_states=ctx).sample, a.iterations)
            text_ms = timed(lambda: text(ids)[0], a.iterations)
            vae_ms = timed(lambda: vae.decode(lat / 0.18215).sample, max(1, a.iterations // 2))
            per = a.steps * unet_ms + text_ms + vae_ms
            row = dict(mode="sd", preset=a.preset or "sd15", dtype=a.dtype, device=str(dev), batch=B, unet_batch=rowsB, unet_ms_per_call=round(unet_ms, 2),
                       text_encoder_ms=round(text_ms, 2), vae_decode_ms=round(vae_ms, 2), **{f"derived_images_per_s_at_{a.steps}_steps": round(B / (per / 1000), 3)})
            if a.full:
                sched.set_timesteps(a.steps); sync(); t0 = time.perf_counter(); s = lat
                for ts in sched.timesteps:
                    e = unet(torch.cat([s, s]) if g > 1 else s, ts, encoder_hidden_states=ctx).sample
                    if g > 1: u, c = e.chunk(2); e = u + g * (c - u)
                    s = sched.step(e, ts, s).prev_sample
                vae.decode(s / 0.18215); sync(); row["full_loop_images_per_s"] = round(B / (time.perf_counter() - t0), 3)
            rows.append(row); print(row)
if a.json:
    with open(a.json, "w") as f: json.dump(rows, f, indent=2)
