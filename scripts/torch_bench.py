#!/usr/bin/env python3
"""PyTorch side of scripts/gpu-bench.sh: the same losses as `segloss bench`, as plain eager
PyTorch (forward, and forward+backward with autograd), optionally torch.compile'd, timed with
CUDA events; the device's copy bandwidth; and one comparison table against segloss's JSON.

Usage: torch_bench.py SEGLOSS_JSON [--device cuda|cpu] [--reps N] [--no-compile]
The workloads and sizes are read from the segloss JSON, so both sides run the same shapes.
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F


def timed(fn, device, reps):
    """Median seconds of fn() over reps runs after a warm-up (CUDA events on a GPU)."""
    fn()
    samples = []
    for _ in range(reps):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            samples.append(start.elapsed_time(end) / 1e3)
        else:
            t0 = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t0)
    samples.sort()
    return samples[len(samples) // 2]


def copy_bandwidth(device, reps):
    """Bytes moved per second by a device-to-device copy of 1 GiB (read + write)."""
    n = (1 << 30) // 4 if device.type == "cuda" else (1 << 24)
    a = torch.empty(n, device=device)
    b = torch.empty_like(a)
    t = timed(lambda: b.copy_(a), device, reps)
    return 2 * a.numel() * 4 / t


# --- the losses, written as the formulas segloss documents (defaults as segloss's) ---------

def binary_losses(x, t, only_dice):
    p = torch.sigmoid(x)
    dims = (1, 2, 3)
    terms = []

    def dice(s_p, s_t, tp):
        return 1 - (2 * tp + 1) / (s_p + s_t + 1).clamp_min(1e-7)

    sp_i, st_i, tp_i = p.sum(dims), t.sum(dims), (p * t).sum(dims)
    sp, st, tp = sp_i.sum(), st_i.sum(), tp_i.sum()
    terms += [dice(sp, st, tp), dice(sp_i, st_i, tp_i).mean()]
    if only_dice:
        return terms[0]
    iou = lambda a, b, c: 1 - (c + 1) / (a + b - c + 1).clamp_min(1e-7)
    tv = lambda a, b, c: 1 - (c + 1) / (c + 0.5 * (a - c) + 0.5 * (b - c) + 1).clamp_min(1e-7)
    bce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    bce_i = bce.mean(dims)
    pt = p * t + (1 - p) * (1 - t)
    focal = (0.8 * t + 0.2 * (1 - t)) * (1 - pt) ** 2 * bce
    logp, log1mp = F.logsigmoid(x), F.logsigmoid(-x)
    wce = -(0.5 * t * logp + 0.5 * (1 - t) * log1mp)
    combo = lambda w, d: 0.5 * w - 0.5 * (1 - d)
    terms += [iou(sp, st, tp), iou(sp_i, st_i, tp_i).mean(), tv(sp, st, tp), tv(sp_i, st_i, tp_i).mean()]
    terms += [bce.mean(), bce_i.mean(), bce.mean() + terms[0], (bce_i + dice(sp_i, st_i, tp_i)).mean()]
    terms += [focal.mean(), focal.mean(dims).mean()]
    terms += [combo(wce.mean(), terms[0]), combo(wce.mean(dims), dice(sp_i, st_i, tp_i)).mean()]
    return sum(terms)


def dice_ce(x, labels):
    c = x.shape[1]
    p = torch.softmax(x, 1)
    onehot = F.one_hot(labels.long(), c).permute(0, 3, 1, 2).to(x.dtype)
    tp, s = (p * onehot).sum((2, 3)), (p + onehot).sum((2, 3))
    dice = (1 - (2 * tp + 1) / (s + 1)).mean(1)
    ce = F.cross_entropy(x, labels.long(), reduction="none").mean((1, 2))
    return (dice + ce).mean()


def lovasz_grad(gt_sorted):
    gts = gt_sorted.sum()
    intersection = gts - gt_sorted.cumsum(0)
    union = gts + (1 - gt_sorted).cumsum(0)
    jaccard = 1.0 - intersection / union
    jaccard[1:] = jaccard[1:] - jaccard[:-1]
    return jaccard


def lovasz_hinge(x, t):
    losses = []
    for xi, ti in zip(x.flatten(1), t.flatten(1)):
        errors = 1.0 - xi * (2 * ti - 1)
        errors_sorted, perm = torch.sort(errors, descending=True)
        losses.append(torch.dot(F.relu(errors_sorted), lovasz_grad(ti[perm])))
    return torch.stack(losses).mean()


def lovasz_softmax(x, labels):
    p = torch.softmax(x, 1)
    losses = []
    for pi, li in zip(p, labels):
        per_class = []
        for c in range(x.shape[1]):
            fg = (li == c).to(x.dtype).flatten()
            if fg.sum() == 0:
                continue
            errors = (fg - pi[c].flatten()).abs()
            errors_sorted, perm = torch.sort(errors, descending=True)
            per_class.append(torch.dot(errors_sorted, lovasz_grad(fg[perm])))
        losses.append(torch.stack(per_class).mean())
    return torch.stack(losses).mean()


def make_inputs(op, size, device):
    n, c, h, w = (int(v) for v in size.split("x"))
    g = torch.Generator(device="cpu").manual_seed(0)
    x = (torch.rand((n, c, h, w), generator=g) * 8 - 4).to(device)
    if "multiclass" in op or "softmax" in op:
        labels = torch.randint(0, c, (n, h, w), generator=g).to(device)
        return x, labels
    t = (torch.rand((n, 1, h, w), generator=g) > 0.7).float().to(device)
    return x, t


def loss_fn(op):
    if op.startswith("binary") and "dice" in op and "losses" not in op:
        return lambda x, t: binary_losses(x, t, True)
    if op.startswith("binary"):
        return lambda x, t: binary_losses(x, t, False)
    if op.startswith("multiclass"):
        return dice_ce
    if op == "lovasz hinge":
        return lovasz_hinge
    if op.startswith("lovasz softmax"):
        return lovasz_softmax
    raise ValueError(op)


def run(fn, x, target, backward):
    if not backward:
        with torch.no_grad():
            return fn(x, target)
    xg = x.detach().requires_grad_(True)
    fn(xg, target).backward()
    return xg.grad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("segloss_json")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--no-compile", action="store_true")
    args = ap.parse_args()
    device = torch.device(args.device)
    seg = json.load(open(args.segloss_json))
    bw = copy_bandwidth(device, args.reps)
    print(f"segloss: {seg['adapter']} ({seg['backend']}), {'GPU timestamps' if seg['gpu_clock'] else 'host time'}")
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'}; "
          f"device copy bandwidth {bw / 1e9:.0f} GB/s (read + write)")
    header = f"{'op':<26} {'size':<16} {'pass':<17} {'segloss ms':>10} {'GB/s':>8} {'% copy':>7} " \
             f"{'eager ms':>9} {'speed-up':>8} {'compile ms':>10} {'speed-up':>8}"
    print(header)
    for row in seg["rows"]:
        op, size, backward = row["op"], row["size"], row["pass"] == "forward+backward"
        x, target = make_inputs(op, size, device)
        fn = loss_fn(op)
        eager = timed(lambda: run(fn, x, target, backward), device, args.reps)
        compiled = None
        if not args.no_compile and not op.startswith("lovasz"):
            try:
                cfn = torch.compile(fn)
                compiled = timed(lambda: run(cfn, x, target, backward), device, args.reps)
            except Exception as e:  # torch.compile is optional
                print(f"  (torch.compile failed for {op}: {type(e).__name__})")
        s = row["seconds"]
        comp = f"{compiled * 1e3:10.3f} {compiled / s:8.1f}x" if compiled else f"{'-':>10} {'-':>8}"
        print(f"{op:<26} {size:<16} {row['pass']:<17} {s * 1e3:10.3f} {row['gbps']:8.1f} "
              f"{100 * row['gbps'] * 1e9 / bw:6.0f}% {eager * 1e3:9.3f} {eager / s:7.1f}x {comp}")


if __name__ == "__main__":
    main()
