"""PyTorch peer of BiasBench.GpuBench: the same workloads, shapes, batch sizes, dtypes and timing, in PyTorch, so both
run in one job on one GPU and can be compared number for number.

Modes (flags as in GpuBench; random weights of the real models' shapes):
  image        PickScore-size CLIP image tower (transformers CLIPModel, ViT-H/14, SDPA): get_image_features
  pairs        HPSv2-size open_clip ViT-H-14 image + text per pair, autocast (as HPSv2 scores)
  imagereward  ImageReward: BLIP ViT-L/16 + BERT-base with cross-attention to the image in every layer + MLP head
  e2e          JPEG folder -> DataLoader (PIL decode, torchvision Resize(BICUBIC) + CenterCrop + Normalize on N workers,
               pinned memory) -> image tower; reports images/s and the GPU's busy share

  python3 torch_peer.py image --batch 64,256 --dtype bf16 [--iterations 20] [--warmup 3] [--marker] [--json out.json]
  python3 torch_peer.py pairs --batch 64 --dtype fp16
  python3 torch_peer.py imagereward --batch 64 --dtype fp16
  python3 torch_peer.py e2e --images DIR [--repeat 6] --batch 64 --dtype bf16 [--workers 16]

Reference sources (not installed on the GPU machine; see scripts/pack.sh): open_clip from $REF_DIR/ref/src, ImageReward's
BLIP code from $REF_DIR/ref/ImageReward. Without ImageReward's code, imagereward uses timm's VisionTransformer
(BLIP's vit.py is timm's) and transformers' BertModel with cross-attention (is_decoder=True, the only way transformers
builds cross-attention layers: causal self-attention instead of BLIP's bidirectional one, the same kernels and FLOPs);
the JSON says which was used. --marker launches a bitwise_not kernel before and after the timed iterations, which
scripts/ncu_kernels.py uses to cut one forward out of an Nsight Compute trace.
"""
import argparse
import json
import os
import sys
import time

import torch

HERE = os.environ.get("REF_DIR", os.path.join(os.getcwd(), ".gpu"))
for extra in (os.path.join(HERE, "ref", "src"), os.path.join(HERE, "ref", "ImageReward"), os.path.join(HERE, "ref")):
    if os.path.isdir(extra):
        sys.path.insert(0, extra)

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def marker():
    torch.zeros(1, dtype=torch.uint8, device="cuda").bitwise_not()
    torch.cuda.synchronize()


def timed(step, batch, iterations, warmup, use_marker):
    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    if use_marker:
        marker()
    start = time.perf_counter()
    for _ in range(iterations):
        step()
    torch.cuda.synchronize()
    per_second = batch * iterations / (time.perf_counter() - start)
    if use_marker:
        marker()
    return per_second


def clip_vit_h14(dtype):
    from transformers import CLIPConfig, CLIPModel
    config = CLIPConfig(
        text_config=dict(vocab_size=49408, hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                         num_attention_heads=16, max_position_embeddings=77, hidden_act="gelu"),
        vision_config=dict(hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=16,
                           image_size=224, patch_size=14, hidden_act="gelu"),
        projection_dim=1024)
    try:
        model = CLIPModel(config, attn_implementation="sdpa")
    except TypeError:
        config._attn_implementation = "sdpa"
        model = CLIPModel(config)
    return model.to("cuda", dtype).eval()


def image_features(model, pixels):
    out = model.get_image_features(pixel_values=pixels)
    return out.pooler_output if hasattr(out, "pooler_output") else out


def run_image(args, dtype):
    model = clip_vit_h14(dtype)
    rows = []
    for batch in args.batch:
        pixels = torch.randn(batch, 3, 224, 224, device="cuda", dtype=dtype)

        @torch.no_grad()
        def step():
            image_features(model, pixels)
        rows.append(dict(mode="image", batch=batch, per_second=timed(step, batch, args.iterations, args.warmup, args.marker), unit="images/s"))
    return rows, {"implementation": "transformers CLIPModel (sdpa), cast to dtype"}


def run_pairs(args, dtype):
    from open_clip.model import CLIP
    model = CLIP(embed_dim=1024, vision_cfg=dict(image_size=224, layers=32, width=1280, head_width=80, patch_size=14),
                 text_cfg=dict(context_length=77, vocab_size=49408, width=1024, heads=16, layers=24)).to("cuda").eval()
    rows = []
    for batch in args.batch:
        pixels = torch.randn(batch, 3, 224, 224, device="cuda")
        ids = torch.randint(1, 49406, (batch, 77), device="cuda")
        ids[:, 20] = 49407
        ids[:, 21:] = 0

        @torch.no_grad()
        def step():
            with torch.autocast("cuda", dtype=dtype):
                a = model.encode_image(pixels, normalize=True)
                b = model.encode_text(ids, normalize=True)
                return (a * b).sum(-1)
        rows.append(dict(mode="pairs", batch=batch, per_second=timed(step, batch, args.iterations, args.warmup, args.marker), unit="pairs/s"))
    return rows, {"implementation": "open_clip CLIP, fp32 weights under autocast"}


class RewardHead(torch.nn.Module):
    """ImageReward's MLP (its dropouts are inactive in eval)."""

    def __init__(self, width):
        super().__init__()
        self.layers = torch.nn.Sequential(torch.nn.Linear(width, 1024), torch.nn.Dropout(0.2), torch.nn.Linear(1024, 128),
                                          torch.nn.Dropout(0.2), torch.nn.Linear(128, 64), torch.nn.Dropout(0.1),
                                          torch.nn.Linear(64, 16), torch.nn.Linear(16, 1))

    def forward(self, x):
        return self.layers(x)


def imagereward_parts():
    """(vision encoder, text encoder, forward(pixels, ids, mask)), ImageReward's BLIP code when present."""
    med = dict(vocab_size=30524, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
               max_position_embeddings=512, layer_norm_eps=1e-12, hidden_act="gelu", add_cross_attention=True)
    try:
        from ImageReward.models.BLIP.blip import create_vit
        from ImageReward.models.BLIP.med import BertConfig as MedConfig, BertModel as MedBert
        vision, width = create_vit("large", 224, False, 0, 0)
        config = MedConfig(**med)
        config.encoder_width = width
        text = MedBert(config=config, add_pooling_layer=False)
        name = "ImageReward BLIP sources (vit.py + med.py)"

        def encode(image_embeds, ids, mask):
            atts = torch.ones(image_embeds.shape[:-1], dtype=torch.long, device=image_embeds.device)
            return text(ids, attention_mask=mask, encoder_hidden_states=image_embeds, encoder_attention_mask=atts,
                        return_dict=True).last_hidden_state
    except Exception as error:  # transformers 5 moved helpers med.py imports; fall back to equivalent stock modules
        import timm
        from transformers import BertConfig, BertModel
        vision = timm.models.vision_transformer.VisionTransformer(img_size=224, patch_size=16, embed_dim=1024, depth=24,
                                                                  num_heads=16, mlp_ratio=4.0, qkv_bias=True, num_classes=0,
                                                                  global_pool="")
        config = BertConfig(**med, is_decoder=True)
        text = BertModel(config, add_pooling_layer=False)
        name = f"timm VisionTransformer ViT-L/16 + transformers BertModel with cross-attention (ImageReward sources: {type(error).__name__}: {error})"[:400]

        def encode(image_embeds, ids, mask):
            return text(input_ids=ids, attention_mask=mask, encoder_hidden_states=image_embeds, return_dict=True).last_hidden_state
    return vision, text, encode, name


def run_imagereward(args, dtype):
    vision, text, encode, name = imagereward_parts()
    head = RewardHead(768)
    for module in (vision, text, head):
        module.to("cuda").eval()
    rows = []
    for batch in args.batch:
        pixels = torch.randn(batch, 3, 224, 224, device="cuda")
        ids = torch.randint(1000, 29000, (batch, 35), device="cuda")
        ids[:, 0] = 101
        ids[:, 20] = 102
        mask = torch.ones(batch, 35, dtype=torch.long, device="cuda")
        mask[:, 21:] = 0

        @torch.no_grad()
        def step():
            with torch.autocast("cuda", dtype=dtype):
                embeds = vision(pixels) if not hasattr(vision, "forward_features") else vision.forward_features(pixels)
                hidden = encode(embeds, ids, mask)
            return (head(hidden[:, 0, :].float()).squeeze(-1) - 0.16717) / 1.03334
        rows.append(dict(mode="imagereward", batch=batch, per_second=timed(step, batch, args.iterations, args.warmup, args.marker), unit="pairs/s"))
    return rows, {"implementation": name + "; fp32 weights under autocast"}


class JpegFolder(torch.utils.data.Dataset):
    def __init__(self, files, size):
        from torchvision import transforms
        self.files = files
        self.transform = transforms.Compose([
            transforms.Resize(size, interpolation=transforms.InterpolationMode.BICUBIC),
            transforms.CenterCrop(size),
            transforms.ToTensor(),
            transforms.Normalize((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))])

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        from PIL import Image
        with Image.open(self.files[i]) as image:
            return self.transform(image.convert("RGB"))


def run_e2e(args, dtype):
    files = sorted(os.path.join(args.images, f) for f in os.listdir(args.images) if f.lower().endswith((".jpg", ".jpeg", ".png")))
    files = files * max(1, args.repeat)
    model = clip_vit_h14(dtype)
    rows = []
    for batch in args.batch:
        loader = torch.utils.data.DataLoader(JpegFolder(files, 224), batch_size=batch, num_workers=args.workers,
                                             pin_memory=True, persistent_workers=False, prefetch_factor=4 if args.workers else None)
        busy = 0.0
        start = time.perf_counter()
        with torch.no_grad():
            for pixels in loader:
                began = time.perf_counter()
                image_features(model, pixels.to("cuda", dtype, non_blocking=True))
                torch.cuda.synchronize()
                busy += time.perf_counter() - began
        wall = time.perf_counter() - start
        rows.append(dict(mode="e2e", batch=batch, per_second=len(files) / wall, unit="images/s", device_busy_share=busy / wall,
                         images=len(files), workers=args.workers))
    return rows, {"implementation": f"DataLoader ({args.workers} workers, PIL + torchvision, pinned) -> transformers CLIP image tower"}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["image", "pairs", "imagereward", "e2e"])
    parser.add_argument("--batch", default="64", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--dtype", default="bf16", choices=list(DTYPES))
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--marker", action="store_true")
    parser.add_argument("--images")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json")
    args = parser.parse_args()
    dtype = DTYPES[args.dtype]
    run = {"image": run_image, "pairs": run_pairs, "imagereward": run_imagereward, "e2e": run_e2e}[args.mode]
    rows, info = run(args, dtype)
    meta = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "dtype": args.dtype, **info}
    for row in rows:
        row.update(meta)
        print(f"{row['mode']} batch {row['batch']}: {row['per_second']:.1f} {row['unit']}"
              + (f" (GPU busy {100 * row['device_busy_share']:.0f}%)" if "device_busy_share" in row else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
