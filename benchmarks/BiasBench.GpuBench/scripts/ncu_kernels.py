"""Summarises Nsight Compute traces (ncu --metrics gpu__time_duration.sum --csv --print-units base ...) of one
steady-state forward each: the kernels between the last two marker kernels (bitwise_not, launched by GpuBench and
torch_peer.py with --marker around the timed iterations), grouped per kernel name and per kind (GEMM, attention,
elementwise, normalisation, ...), side by side for two or more programs, largest first.

  python3 ncu_kernels.py csharp.csv torch.csv --labels BiasBench PyTorch [--top 25] [--json summary.json]
"""
import argparse
import collections
import csv
import io
import json
import re

KINDS = [
    ("gemm", re.compile(r"gemm|nvjet|cutlass|xmma|sm\d+_.*(hmma|mma)|cublas|matmul", re.I)),
    ("attention", re.compile(r"flash|fmha|attention|sdpa|softmax_warp|efficient_attention", re.I)),
    ("normalisation", re.compile(r"layer_?norm|rms_?norm|norm_kernel|welford", re.I)),
    ("softmax", re.compile(r"softmax", re.I)),
    ("convolution", re.compile(r"conv|implicit|winograd|cudnn", re.I)),
    ("copy / cast", re.compile(r"copy|cast|contiguous|transpose|permute|cat_|index", re.I)),
    ("reduction", re.compile(r"reduce|sum_|mean_|norm_|argmax", re.I)),
    ("elementwise", re.compile(r"elementwise|vectorized|unrolled|gelu|add|mul|fill", re.I)),
]


def kind(name):
    for label, pattern in KINDS:
        if pattern.search(name):
            return label
    return "other"


def short(name):
    name = re.sub(r"\(.*", "", name) if name.count("(") and not name.startswith("void") else name
    return name[:110]


def kernels(path):
    """(name, ns) in launch order from an ncu CSV (lines outside the CSV, e.g. the program's own output, are skipped)."""
    lines = [line for line in open(path, errors="replace") if line.startswith('"')]
    rows = [r for r in csv.DictReader(io.StringIO("".join(lines))) if r.get("Metric Name") == "gpu__time_duration.sum"]
    rows.sort(key=lambda r: int(r.get("ID", 0)))
    return [(r["Kernel Name"], float(r["Metric Value"].replace(",", ""))) for r in rows]


def one_forward(trace, path):
    marks = [i for i, (name, _) in enumerate(trace) if "bitwise_not" in name]
    if len(marks) < 2:
        raise SystemExit(f"{path}: fewer than two marker kernels (bitwise_not); run the program with --marker --iterations 1")
    return trace[marks[-2] + 1:marks[-1]]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("traces", nargs="+")
    parser.add_argument("--labels", nargs="*")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--json")
    args = parser.parse_args()
    labels = args.labels or [p.rsplit("/", 1)[-1] for p in args.traces]
    summary = {}
    for label, path in zip(labels, args.traces):
        forward = one_forward(kernels(path), path)
        by_name = collections.defaultdict(lambda: [0, 0.0])
        by_kind = collections.defaultdict(float)
        for name, ns in forward:
            entry = by_name[short(name)]
            entry[0] += 1
            entry[1] += ns
            by_kind[kind(name)] += ns
        summary[label] = {"kernels": len(forward), "total_ms": sum(ns for _, ns in forward) / 1e6,
                          "by_kind_ms": {k: v / 1e6 for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1])},
                          "by_name": sorted(([n, c, t / 1e6] for n, (c, t) in by_name.items()), key=lambda x: -x[2])}
    print("one forward: " + "; ".join(f"{l}: {s['kernels']} kernels, {s['total_ms']:.3f} ms" for l, s in summary.items()))
    kinds = sorted({k for s in summary.values() for k in s["by_kind_ms"]}, key=lambda k: -max(s["by_kind_ms"].get(k, 0) for s in summary.values()))
    print(f"\n{'kind':16s}" + "".join(f"{l:>16s}" for l in labels))
    for k in kinds:
        print(f"{k:16s}" + "".join(f"{summary[l]['by_kind_ms'].get(k, 0):13.3f} ms" for l in labels))
    for label in labels:
        s = summary[label]
        print(f"\n{label}: top {args.top} kernels by time")
        for name, count, ms in s["by_name"][:args.top]:
            print(f"{count:6d} {ms:9.3f} ms {100 * ms / s['total_ms']:5.1f}%  [{kind(name)}] {name}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
