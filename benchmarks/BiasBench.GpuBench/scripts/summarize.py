"""Puts the JSON files of scripts/gpu_job.sh ($OUT/cs-NAME.json from GpuBench, $OUT/pt-NAME.json from the peer) side by
side: one row per workload and batch, BiasBench vs PyTorch and their ratio, device busy shares where measured.
  python3 summarize.py OUT_DIR
"""
import glob
import json
import os
import sys


def rows(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return []


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("OUT", "/tmp/gpubench")
    machine = open(os.path.join(out, "machine.txt")).read().strip() if os.path.exists(os.path.join(out, "machine.txt")) else "?"
    print(f"# GpuBench vs PyTorch, same job, same GPU\n\n```\n{machine}\n```\n")
    print("| workload | batch | BiasBench | PyTorch | ratio | device busy (BiasBench / PyTorch) |")
    print("|---|---|---|---|---|---|")
    peers = {}
    for path in sorted(glob.glob(os.path.join(out, "pt-*.json"))):
        name = os.path.basename(path)[3:-5]
        peers[name] = {r["batch"]: r for r in rows(path)}
    for path in sorted(glob.glob(os.path.join(out, "cs-*.json"))):
        name = os.path.basename(path)[3:-5]
        peer = peers.get(name) or peers.get(name.split("-")[0]) or {}
        for r in rows(path):
            p = peer.get(r["batch"])
            ratio = f"{r['per_second'] / p['per_second']:.2f}" if p else "-"
            busy = " / ".join(f"{100 * x['device_busy_share']:.0f}%" if x and x.get("device_busy_share") is not None else "-" for x in (r, p))
            theirs = f"{p['per_second']:.1f}" if p else "-"
            print(f"| {name} ({r.get('dtype', '')}) | {r['batch']} | {r['per_second']:.1f} {r['unit']} | {theirs} | {ratio} | {busy} |")
    missing = sorted(set(peers) - {os.path.basename(p)[3:-5].split("-")[0] for p in glob.glob(os.path.join(out, "cs-*.json"))})
    if missing:
        print(f"\nPeer results without a BiasBench counterpart: {', '.join(missing)}")


if __name__ == "__main__":
    main()
