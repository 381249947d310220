#!/usr/bin/env python3
"""Times `segloss eval --surface` against a Python loop over MONAI 1.6.1's three surface
metric functions on the same files: 50 label maps 256×256 with 4 classes (deterministic
blobs, written as int64 .npy to a temporary folder).

Usage: python scripts/surface_versus.py [path/to/segloss] [--engine cpu|auto]
Needs torch, monai==1.6.1, numpy, scipy. Prints one line per side and the ratio.
"""
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance, compute_surface_dice

IMAGES, SIZE, CLASSES, TOL = 50, 256, 4, 1.0


def label_map(rng):
    yy, xx = np.indices((SIZE, SIZE))
    out = np.zeros((SIZE, SIZE), dtype=np.int64)
    for _ in range(8):
        k = int(rng.integers(1, CLASSES))
        cy, cx = rng.uniform(0, SIZE, 2)
        ry, rx = rng.uniform(10, 60, 2)
        out[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1] = k
    return out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    exe = args[0] if args else os.path.join(os.path.dirname(__file__), "..", "target", "release", "segloss")
    engine = sys.argv[sys.argv.index("--engine") + 1] if "--engine" in sys.argv else "cpu"
    rng = np.random.default_rng(16)
    tmp = tempfile.mkdtemp(prefix="surface-versus-")
    for side in ("pred", "gt"):
        os.makedirs(os.path.join(tmp, side))
    for i in range(IMAGES):
        gt = label_map(rng)
        pred = np.roll(gt, (int(rng.integers(-3, 4)), int(rng.integers(-3, 4))), axis=(0, 1))
        np.save(os.path.join(tmp, "gt", f"im{i:03d}.npy"), gt)
        np.save(os.path.join(tmp, "pred", f"im{i:03d}.npy"), pred)

    t = time.perf_counter()
    for i in range(IMAGES):
        gt = np.load(os.path.join(tmp, "gt", f"im{i:03d}.npy"))
        pred = np.load(os.path.join(tmp, "pred", f"im{i:03d}.npy"))
        onehot = lambda a: torch.nn.functional.one_hot(torch.from_numpy(a), CLASSES).movedim(-1, 0)[None].float()
        yp, yt = onehot(pred), onehot(gt)
        compute_hausdorff_distance(yp, yt, include_background=True)
        compute_hausdorff_distance(yp, yt, include_background=True, percentile=95)
        compute_average_surface_distance(yp, yt, include_background=True, symmetric=True)
        compute_surface_dice(yp, yt, [TOL] * CLASSES, include_background=True)
    monai_s = time.perf_counter() - t

    cmd = [exe, "eval", "--pred", os.path.join(tmp, "pred"), "--gt", os.path.join(tmp, "gt"),
           "--num-classes", str(CLASSES), "--surface", "--nsd-tolerance", str(TOL),
           "--surface-engine", engine, "--out", os.path.join(tmp, "report.json")]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    segloss_s = time.perf_counter() - t
    print(f"MONAI 1.6.1 loop (hd, hd95, assd, nsd): {monai_s:.2f} s for {IMAGES} images {SIZE}x{SIZE}, {CLASSES} classes")
    print(f"segloss eval --surface --surface-engine {engine}: {segloss_s:.2f} s (whole process, {os.cpu_count()} CPUs)")
    print(f"ratio: {monai_s / segloss_s:.1f}x")


if __name__ == "__main__":
    main()
