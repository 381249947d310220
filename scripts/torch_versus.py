#!/usr/bin/env python3
"""PyTorch's side of `segloss versus`: the same workloads, on the same shapes, with the peers'
own implementations on the CPU (segmentation_models_pytorch, MONAI when installed), timed with
the host clock (median of --reps after a warm-up), forward + backward through autograd, and the
side-by-side table (ratio = segloss / PyTorch: below 1 means segloss is faster).

Usage:
    segloss versus --json --reps 5 > segloss.json
    python3 scripts/torch_versus.py segloss.json [--reps 5] [--threads N] [--markdown]

Needs torch and segmentation_models_pytorch (monai optional) in a local venv; never run in CI.
"""
import argparse
import json
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("segloss_json")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores)")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    seg = json.load(open(a.segloss_json))
    gen = torch.Generator().manual_seed(0)
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
    if a.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for l in lines:
            print("| " + " | ".join(l) + " |")
    else:
        widths = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(head)]
        print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
        for l in lines:
            print("  ".join(v.ljust(w) for v, w in zip(l, widths)))


if __name__ == "__main__":
    main()
