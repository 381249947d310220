#!/usr/bin/env python3
"""Builds the surface-metric fixtures of tests/eval_surface.rs with MONAI itself.

Writes small deterministic datasets of integer .npy label maps to
tests/fixtures/surface/<dataset>/{pred,gt}/ and, per dataset, the numbers MONAI 1.6.1 gives
to tests/fixtures/surface/<dataset>.json:

    compute_hausdorff_distance(include_background=True)                 -> hd
    compute_hausdorff_distance(include_background=True, percentile=95)  -> hd95
    compute_average_surface_distance(include_background=True, symmetric=True) -> assd
    compute_surface_dice(include_background=True, class_thresholds=[T] * C)   -> nsd

each with `spacing=` the dataset's spacing (None: 1). NaN and +inf are written as null; the
raw MONAI value of each such entry is kept under "monai_raw" (what the null rules document).

Run: /path/to/venv/bin/python scripts/surface_fixtures.py   (torch, monai==1.6.1, numpy,
scipy). The Rust test needs only the files this writes (CI has no Python packages).
"""
import json
import math
import os
import sys

import numpy as np
import torch
import monai
from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance, compute_surface_dice

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "surface")


def blobs(rng, shape, classes, pieces):
    """A label map of `shape`: background 0 and `pieces` random boxes / balls of classes."""
    out = np.zeros(shape, dtype=np.int64)
    grids = np.indices(shape)
    for _ in range(pieces):
        k = int(rng.integers(1, classes))
        centre = [rng.uniform(0, s) for s in shape]
        radius = [rng.uniform(1.0, max(1.5, s / 3)) for s in shape]
        if rng.random() < 0.5:
            inside = np.all([np.abs(g - c) <= r for g, c, r in zip(grids, centre, radius)], axis=0)
        else:
            inside = sum(((g - c) / r) ** 2 for g, c, r in zip(grids, centre, radius)) <= 1.0
        out[inside] = k
    return out


def perturb(rng, gt, classes, flips):
    """The prediction: the truth with a few boxes relabelled (shifts, misses, extra blobs)."""
    pred = np.roll(gt, shift=int(rng.integers(-1, 2)), axis=-1).copy()
    for _ in range(flips):
        lo = [int(rng.integers(0, s)) for s in gt.shape]
        size = [int(rng.integers(1, max(2, s // 3))) for s in gt.shape]
        region = tuple(slice(l, l + z) for l, z in zip(lo, size))
        pred[region] = int(rng.integers(0, classes))
    return pred


def value(x):
    x = float(x)
    return None if (math.isnan(x) or math.isinf(x)) else x


def raw(x):
    x = float(x)
    return "nan" if math.isnan(x) else ("inf" if math.isinf(x) else None)


def monai_metrics(pred, gt, classes, spacing, tolerance):
    onehot = lambda a: torch.nn.functional.one_hot(torch.from_numpy(a), classes).movedim(-1, 0)[None].float()
    yp, yt = onehot(pred), onehot(gt)
    kw = dict(include_background=True, spacing=spacing)
    hd = compute_hausdorff_distance(yp, yt, **kw)[0]
    hd95 = compute_hausdorff_distance(yp, yt, percentile=95, **kw)[0]
    assd = compute_average_surface_distance(yp, yt, symmetric=True, **kw)[0]
    nsd = compute_surface_dice(yp, yt, [tolerance] * classes, **kw)[0]
    metrics = {"hd": hd, "hd95": hd95, "assd": assd, "nsd": nsd}
    values = {n: [value(x) for x in v] for n, v in metrics.items()}
    raws = {n: [raw(x) for x in v] for n, v in metrics.items()}
    return values, raws


def dataset(name, seed, shapes, classes, spacing, tolerance, edits=()):
    rng = np.random.default_rng(seed)
    base = os.path.join(ROOT, name)
    for side in ("pred", "gt"):
        os.makedirs(os.path.join(base, side), exist_ok=True)
    images = {}
    for i, shape in enumerate(shapes):
        gt = blobs(rng, shape, classes, pieces=2 + len(shape) * 2)
        pred = perturb(rng, gt, classes, flips=2)
        for (at, what, k) in edits:
            if at == i:
                # Remove class k from one side ("pred", "gt") or both.
                for arr, side in ((pred, "pred"), (gt, "gt")):
                    if what in (side, "both"):
                        arr[arr == k] = 0
        stem = f"img{i:02d}"
        np.save(os.path.join(base, "pred", stem + ".npy"), pred)
        np.save(os.path.join(base, "gt", stem + ".npy"), gt)
        values, raws = monai_metrics(pred, gt, classes, spacing, tolerance)
        images[stem] = {"metrics": values, "monai_raw": raws}
    doc = {
        "generator": "scripts/surface_fixtures.py",
        "monai": monai.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "num_classes": classes,
        "spacing": spacing,
        "nsd_tolerance": tolerance,
        "images": images,
    }
    with open(os.path.join(ROOT, name + ".json"), "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")


def main():
    os.makedirs(ROOT, exist_ok=True)
    # 2-D, 4 classes, odd sizes; class 3 removed from the prediction of img01, class 2 from
    # the truth of img02, class 3 from both in img03.
    shapes2 = [(13, 17), (9, 11), (15, 7), (11, 13), (17, 15)]
    edits = [(1, "pred", 3), (2, "gt", 2), (3, "both", 3)]
    dataset("two_d", 1, shapes2, 4, None, 1.5, edits)
    # The same kind of data with anisotropic spacing (rows 0.7 apart, columns 1.3).
    dataset("two_d_aniso", 2, shapes2, 4, [0.7, 1.3], 2.0, edits)
    # 3-D [D, H, W] volumes, 3 classes, spacing (z, y, x) = (2.0, 0.8, 0.9).
    dataset("three_d", 3, [(5, 9, 11), (4, 7, 6), (6, 8, 9)], 3, [2.0, 0.8, 0.9], 1.0, [(1, "gt", 2)])
    print("wrote", ROOT, file=sys.stderr)


if __name__ == "__main__":
    main()
