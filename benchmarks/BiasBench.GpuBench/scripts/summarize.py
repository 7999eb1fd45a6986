"""Puts the JSON files of scripts/gpu_job.sh ($OUT/cs-NAME.json from GpuBench, $OUT/pt-NAME.json from the peer) side by
side: one row per workload and batch, BiasBench vs PyTorch and their ratio, device busy shares where measured.
  python3 summarize.py OUT_DIR
Shapes read: the network modes and peers/torch_peer.py write a list of {batch, per_second, unit, dtype, ...};
ddpm/sd (DiffusionBench.cs, pytorch_diffusion_peer.py) a list of {batch, unet_ms_per_call, full_loop_images_per_s, ...};
resnet-infer/-train a list of {batch, images_per_second}, their peer one object {batch, infer_bf16_img_per_s,
train_step_bf16_img_per_s}; draft a list of one {batch, seconds_per_update, peak_gpu_mib_nvidia_smi?}, its peer one
object {batch, seconds_per_update, max_memory_reserved_gib, process_gib_nvidia_smi_at_end}.
"""
import glob
import json
import os
import sys


def rows(path):
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return []
    return data if isinstance(data, list) else [data]


def by_batch(path):
    return {r.get("batch"): r for r in rows(path)}


def fmt(x, digits=1):
    return f"{x:.{digits}f}" if isinstance(x, (int, float)) else "-"


def ratio(ours, theirs):
    return f"{ours / theirs:.2f}" if isinstance(ours, (int, float)) and isinstance(theirs, (int, float)) and theirs > 0 else "-"


def speed_row(name, r, p):
    """Higher-is-better figures of other modes: ddpm, sd, resnet, draft. Returns (workload, ours, theirs, unit, details)."""
    mode = r.get("mode", name)
    if mode in ("ddpm", "sd"):
        key = "full_loop_images_per_s" if "full_loop_images_per_s" in r and (not p or "full_loop_images_per_s" in p) else \
            next((k for k in r if k.startswith("derived_images_per_s_at_")), None)
        steps = key.split("_at_")[1].replace("_steps", " steps") if key and "_at_" in key else "full loop"
        what = f"{mode} {r.get('preset', '')} ({r.get('dtype', '')}), {'full DDIM loop' if key == 'full_loop_images_per_s' else 'from UNet calls, ' + steps}"
        details = f"UNet call {fmt(r.get('unet_ms_per_call'))} / {fmt((p or {}).get('unet_ms_per_call'))} ms"
        if mode == "sd":
            details += (f" (UNet batch {r.get('unet_batch', '-')}); text encoder {fmt(r.get('text_encoder_ms'))} / "
                        f"{fmt((p or {}).get('text_encoder_ms'))} ms; VAE decode {fmt(r.get('vae_decode_ms'))} / {fmt((p or {}).get('vae_decode_ms'))} ms")
        return what, r.get(key), (p or {}).get(key), "images/s", details
    if mode in ("resnet-infer", "resnet-train"):
        key = "infer_bf16_img_per_s" if mode == "resnet-infer" else "train_step_bf16_img_per_s"
        note = "" if not p else "PyTorch: bf16 autocast, channels_last"
        return f"{mode} {r.get('preset', '')} ({r.get('dtype', '')}, {r.get('size', '-')} px)", r.get("images_per_second"), (p or {}).get(key), "images/s", note
    if mode == "draft":
        ours, theirs = r.get("seconds_per_update"), (p or {}).get("seconds_per_update")
        mib = r.get("peak_gpu_mib_nvidia_smi")
        memory = "" if mib is None and not (p or {}).get("process_gib_nvidia_smi_at_end") else (f"peak GPU memory (nvidia-smi, process) {fmt(mib / 1024 if mib else None, 2)} / "
                  f"{fmt((p or {}).get('process_gib_nvidia_smi_at_end'), 2)} GiB (PyTorch: at the end; allocator peak reserved "
                  f"{fmt((p or {}).get('max_memory_reserved_gib'), 2)}, allocated {fmt((p or {}).get('max_memory_allocated_gib'), 2)} GiB)")
        what = f"draft {r.get('preset', '')} ({r.get('precision', '')}, {r.get('steps', '-')} steps), s per DRaFT-1 update"
        # Lower is better here: the ratio column is speed, so theirs / ours.
        return what, ours, theirs, "s", memory + ("; " if memory else "") + "ratio = PyTorch s / BiasBench s"
    return None


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("OUT", "/tmp/gpubench")
    machine = open(os.path.join(out, "machine.txt")).read().strip() if os.path.exists(os.path.join(out, "machine.txt")) else "?"
    print(f"# GpuBench vs PyTorch, same job, same GPU\n\n```\n{machine}\n```\n")
    peers = {os.path.basename(path)[3:-5]: path for path in sorted(glob.glob(os.path.join(out, "pt-*.json")))}
    ours = {os.path.basename(path)[3:-5]: path for path in sorted(glob.glob(os.path.join(out, "cs-*.json")))}

    def peer_of(name):
        path = peers.get(name) or peers.get(name.split("-")[0])
        return by_batch(path) if path else {}

    table, others = [], []
    for name, path in ours.items():
        peer = peer_of(name)
        for r in rows(path):
            p = peer.get(r.get("batch"))
            if "per_second" not in r:
                others.append((name, r, p))
                continue
            busy = " / ".join(f"{100 * x['device_busy_share']:.0f}%" if x and x.get("device_busy_share") is not None else "-" for x in (r, p))
            theirs = f"{p['per_second']:.1f}" if p and "per_second" in p else "-"
            table.append(f"| {name} ({r.get('dtype', '')}) | {r['batch']} | {r['per_second']:.1f} {r['unit']} | {theirs} | "
                         f"{ratio(r['per_second'], (p or {}).get('per_second'))} | {busy} |")
    if table:
        print("| workload | batch | BiasBench | PyTorch | ratio | device busy (BiasBench / PyTorch) |")
        print("|---|---|---|---|---|---|")
        print("\n".join(table))
    if others:
        print(("\n" if table else "") + "Generators, ResNet judge, DRaFT fine-tuning (ratio = BiasBench speed / PyTorch speed; details: BiasBench / PyTorch)\n")
        print("| workload | batch | BiasBench | PyTorch | ratio | details |")
        print("|---|---|---|---|---|---|")
        for name, r, p in others:
            row = speed_row(name, r, p)
            if row is None:
                print(f"| {name} | {r.get('batch', '-')} | (unknown JSON shape) | - | - | - |")
                continue
            what, mine, theirs, unit, details = row
            digits = 3 if unit in ("s", "images/s") and isinstance(mine, float) and mine < 100 else 1
            speed = ratio(theirs, mine) if unit == "s" else ratio(mine, theirs)
            print(f"| {what} | {r.get('batch', '-')} | {fmt(mine, digits)} {unit} | {fmt(theirs, digits)} | {speed} | {details} |")
    missing = sorted(set(peers) - {name.split("-")[0] for name in ours} - set(ours))
    if missing:
        print(f"\nPeer results without a BiasBench counterpart: {', '.join(missing)}")


if __name__ == "__main__":
    main()
