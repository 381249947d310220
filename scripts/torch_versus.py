#!/usr/bin/env python3
"""PyTorch's side of `segloss versus`: the same workloads, on the same shapes, with the peers'
own implementations on the CPU (segmentation_models_pytorch, MONAI when installed), timed with
the host clock (median of --reps after a warm-up), forward + backward through autograd, and the
side-by-side table (ratio = segloss / PyTorch: below 1 means segloss is faster).

Usage:
    segloss versus --json --reps 5 > segloss.json
    python3 scripts/torch_versus.py segloss.json [--reps 5] [--threads N] [--markdown]

Interleaved (for shared machines, whose speed drifts over minutes): per round and per
workload, segloss (`BIN versus --json --no-reference --only NAME`) and then PyTorch, back to
back; the ratio of each round and their median:
    python3 scripts/torch_versus.py --segloss target/release/segloss --rounds 3 [--only a,b] [--markdown]

Needs torch and segmentation_models_pytorch (monai optional) in a local venv; never run in CI.
"""
import argparse
import json
import statistics
import subprocess
import time

import torch
import torch.nn.functional as F
import segmentation_models_pytorch as smp

try:
    import monai
except ImportError:  # Dice + CE falls back to smp's Dice + F.cross_entropy
    monai = None


def peers():
    """name -> (label, loss(logits, targets) callable, multiclass)."""
    b = dict(mode="binary")
    dice, focal = smp.losses.DiceLoss(**b), smp.losses.FocalLoss(**b)
    jaccard, tversky = smp.losses.JaccardLoss(**b), smp.losses.TverskyLoss(**b)
    five = lambda x, t: dice(x, t) + focal(x, t) + jaccard(x, t) + tversky(x, t) + F.binary_cross_entropy_with_logits(x, t)
    mc_dice = smp.losses.DiceLoss(mode="multiclass")
    if monai is not None:
        dce = monai.losses.DiceCELoss(to_onehot_y=True, softmax=True)
        dice_ce = ("MONAI DiceCELoss", lambda x, t: dce(x, t.unsqueeze(1)))
    else:
        dice_ce = ("smp DiceLoss + F.cross_entropy", lambda x, t: mc_dice(x, t) + F.cross_entropy(x, t))
    out = {
        "dice": ("smp DiceLoss", dice, False),
        "five_losses": ("smp Dice+Focal+Jaccard+Tversky + BCE", five, False),
        "lovasz_hinge": ("smp LovaszLoss per image", smp.losses.LovaszLoss(mode="binary", per_image=True), False),
        "dice_mc": ("smp DiceLoss multiclass", mc_dice, True),
        "dice_ce_mc": (dice_ce[0], dice_ce[1], True),
        "lovasz_softmax_mc": ("smp LovaszLoss multiclass", smp.losses.LovaszLoss(mode="multiclass"), True),
    }
    if monai is not None:  # the distance losses (scipy's distance transform per image)
        hd = monai.losses.HausdorffDTLoss(sigmoid=True)
        out["hausdorff_dt"] = ("MONAI HausdorffDTLoss (scipy EDT)", hd, False)
        out["hausdorff_dt_3d"] = ("MONAI HausdorffDTLoss (scipy EDT)", hd, False)
        out["boundary"] = ("MONAI BoundaryLoss (scipy EDT)", monai.losses.BoundaryLoss(sigmoid=True), False)
        cl = monai.losses.SoftclDiceLoss(sigmoid=True)
        out["cldice"] = ("MONAI SoftclDiceLoss", cl, False)
        out["cldice_3d"] = ("MONAI SoftclDiceLoss", cl, False)
    return out


def inputs(shape, multiclass, gen):
    n, c, *spatial = shape
    x = torch.rand(n, c, *spatial, generator=gen) * 8 - 4
    if multiclass:
        t = torch.randint(0, c, (n, *spatial), generator=gen)
    else:
        t = (torch.rand(n, 1, *spatial, generator=gen) > 0.7).float()
    return x, t


def timed(fn, reps):
    fn()
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    samples.sort()
    return samples[len(samples) // 2]


def segloss_rows(binary, reps, only):
    """One `segloss versus --json` run without the reference, restricted to `only`."""
    cmd = [binary, "versus", "--json", "--reps", str(reps), "--no-reference", "--only", ",".join(only)]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def print_table(head, lines, markdown):
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for l in lines:
            print("| " + " | ".join(l) + " |")
    else:
        widths = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(head)]
        print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
        for l in lines:
            print("  ".join(v.ljust(w) for v, w in zip(l, widths)))


def interleaved(a, gen):
    names = [n for n in peers() if not a.only or n in a.only.split(",")]
    ratios = {n: [] for n in names}
    last = {}
    info = None
    for _ in range(a.rounds):
        for name in names:
            seg = segloss_rows(a.segloss, a.reps, [name])
            info = seg
            row = seg["rows"][0]
            label, loss, multiclass = peers()[name]
            x, t = inputs(row["shape"], multiclass, gen)

            def fwd_bwd():
                xg = x.clone().requires_grad_(True)
                loss(xg, t).backward()

            torch_s = timed(fwd_bwd, a.reps)
            ratios[name].append(row["forward_backward"] / torch_s)
            last[name] = (row, label, torch_s)
    print(f"segloss on {info['adapter']} ({info['backend']}); PyTorch {torch.__version__} CPU, "
          f"{torch.get_num_threads()} threads; host clock, medians; {a.rounds} interleaved rounds")
    head = ["workload", "shape", "PyTorch peer", "ratio per round", "median ratio"]
    lines = []
    for name in names:
        row, label, _ = last[name]
        lines.append([name, "x".join(map(str, row["shape"])), label,
                      " ".join(f"{r:.2f}" for r in ratios[name]), f"{statistics.median(ratios[name]):.2f}"])
    print_table(head, lines, a.markdown)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("segloss_json", nargs="?")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores)")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--segloss", help="the segloss binary: run interleaved rounds instead of reading a JSON")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default="", help="workloads, comma-separated (interleaved mode)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    gen = torch.Generator().manual_seed(0)
    if a.segloss:
        interleaved(a, gen)
        return
    if not a.segloss_json:
        ap.error("give segloss's JSON, or --segloss BIN for interleaved rounds")
    seg = json.load(open(a.segloss_json))
    table = []
    for row in seg["rows"]:
        if row["name"] not in peers():
            continue
        label, loss, multiclass = peers()[row["name"]]
        x, t = inputs(row["shape"], multiclass, gen)

        def fwd_bwd():
            xg = x.clone().requires_grad_(True)
            loss(xg, t).backward()

        torch_s = timed(fwd_bwd, a.reps)
        table.append((row, label, torch_s))
    print(f"segloss on {seg['adapter']} ({seg['backend']}); PyTorch {torch.__version__} CPU, "
          f"{torch.get_num_threads()} threads; host clock, medians")
    head = ["workload", "shape", "PyTorch peer", "PyTorch fwd+bwd ms", "segloss fwd ms", "segloss fwd+bwd ms",
            "segloss / PyTorch", "f64 reference ms"]
    lines = []
    for row, label, torch_s in table:
        ref = row.get("reference_forward_backward")
        lines.append([row["name"], "x".join(map(str, row["shape"])), label, f"{torch_s * 1e3:.1f}",
                      f"{row['forward'] * 1e3:.1f}", f"{row['forward_backward'] * 1e3:.1f}",
                      f"{row['forward_backward'] / torch_s:.2f}", "-" if ref is None else f"{ref * 1e3:.1f}"])
    print_table(head, lines, a.markdown)


if __name__ == "__main__":
    main()
