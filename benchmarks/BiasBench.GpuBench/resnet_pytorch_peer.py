# PyTorch peer of `BiasBench.GpuBench resnet-infer` / `resnet-train`: torchvision ResNet-18 with the hackathon head
# (fc = Linear(512, 512); ReLU, Linear(512, 512), ReLU, Linear(512, 256), ReLU, Linear(256, 1)), 256x256, batch 256,
# random weights, on one GPU: inference under bf16 autocast, and one training step (forward, BCE with logits,
# backward, clip_grad_norm_, AdamW) under bf16 autocast with float32 weights. channels_last, PyTorch's fastest layout.
# Run it in the same device call as the C# bench so both see the same GPU:
#   python3 resnet_pytorch_peer.py [--batch 256] [--size 256] [--iterations 20] [--json FILE]   (prints JSON; writes FILE, default $OUT/resnet_peer.json)
# Reference (from ../shared/gpu/pytorch_baselines.py, H100): 26,700 images/s inference, plain ResNet-18 at 256 px, bf16, batch 256.
import argparse, json, os, time
import torch, torch.nn as nn, torchvision

p = argparse.ArgumentParser()
p.add_argument("--batch", type=int, default=256)
p.add_argument("--size", type=int, default=256)
p.add_argument("--iterations", type=int, default=20)
p.add_argument("--json", default=None)
a = p.parse_args()
dev = "cuda"

class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.resnet = torchvision.models.resnet18()
        self.resnet.fc = nn.Linear(512, 512)
        self.final_layers = nn.Sequential(nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 1))
    def forward(self, x):
        return self.final_layers(self.resnet(x))

def bench(fn, iters, warm=3):
    for _ in range(warm): fn()
    torch.cuda.synchronize(); t = time.perf_counter()
    for _ in range(iters): fn()
    torch.cuda.synchronize(); return (time.perf_counter() - t) / iters

res = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "batch": a.batch, "size": a.size}
m = Classifier().to(dev).to(memory_format=torch.channels_last)
x = torch.randn(a.batch, 3, a.size, a.size, device=dev).to(memory_format=torch.channels_last)
y = torch.randint(0, 2, (a.batch, 1), device=dev).float()

m.eval()
@torch.no_grad()
def infer():
    with torch.autocast("cuda", dtype=torch.bfloat16):
        return m(x)
res["infer_bf16_img_per_s"] = round(a.batch / bench(infer, a.iterations), 1)

m.train()
opt = torch.optim.AdamW(m.parameters(), lr=1e-4, weight_decay=0.05)
def train_step():
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = nn.functional.binary_cross_entropy_with_logits(m(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
    opt.step()
res["train_step_bf16_img_per_s"] = round(a.batch / bench(train_step, a.iterations), 1)

print(json.dumps(res, indent=1))
json.dump(res, open(a.json or os.path.join(os.environ.get("OUT", "/tmp"), "resnet_peer.json"), "w"), indent=1)
