"""Regenerate the peer-library test vectors in tests/fixtures/peers/.

Each case calls one peer loss (segmentation_models_pytorch, MONAI, kornia or
torchvision.ops.sigmoid_focal_loss) on small random inputs, in float64 on CPU,
and stores the inputs (.npy), the loss value and d loss / d logits (.npy) plus
the peer's keyword arguments in manifest.json. segloss's Rust presets must
reproduce these numbers. Inputs are drawn with fixed seeds (crc32 of the case
name), so a rerun writes byte-identical files.

Generated with: torch 2.15.0+cu132 (run on CPU), segmentation_models_pytorch
0.6.0, monai 1.6.1, kornia 0.9.0, torchvision 0.29.2+cu132, numpy 2.4.6 (the
manifest records the versions actually used).

Rerun from the repository root:

    /work/pyenv/bin/python scripts/peer_fixtures.py

Conventions: logits are saved as float32 and cast to float64 before the call;
int64 label maps are passed as saved, float32 target maps are passed cast to
float64 (exact). Exceptions: smp.LovaszLoss runs only in float32 (FLOAT32_ONLY),
and MONAI's FocalLoss (also inside DiceFocalLoss) casts to float32 internally;
the notes of those cases say so.
Params named ``weight`` / ``pos_weight`` / ``dist_matrix`` are stored as (nested) lists and
converted to float64 tensors for the call. A case the installed peer rejects
is skipped and reported, never stored.
"""

import inspect
import json
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np
import torch

import kornia
import monai
import segmentation_models_pytorch as smp
import torchvision

torch.set_num_threads(1)
warnings.filterwarnings("ignore")
OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "peers"
TENSOR_PARAMS = {"weight", "pos_weight", "dist_matrix"}

# Peers that cannot run in float64: these cases feed float32 logits (same stored values).
FLOAT32_ONLY = {
    "smp.LovaszLoss": "smp _lovasz_grad casts to float32 (.float()) and torch.dot rejects float64 x float32, "
    "so the peer runs only in float32: loss and grad are float32 results",
}
MODULES = {
    "smp": smp.losses,
    "monai": monai.losses,
    "kornia": kornia.losses,
    "torchvision": torchvision.ops,
}

# Shapes (N, C, *spatial)
BIN, ML, MC, MC3 = (2, 1, 5, 7), (2, 3, 6, 9), (2, 4, 5, 7), (2, 3, 6, 9)
BIG, BIGB = (3, 3, 17, 19), (3, 1, 17, 19)
# Volumes (N, C, D, H, W)
VBIN, VML, VMC = (2, 1, 4, 5, 7), (2, 3, 3, 4, 5), (2, 4, 3, 5, 6)


def D(target, shape, ignore=None, absent=False, extreme=False, lovasz=None, probs=None, resemble=False):
    """Input spec.

    target (S = the spatial dims, H,W or D,H,W): bin (N,1,*S float 0/1), binlab (N,*S int64 0/1),
      soft (N,C,*S float in [0,1]), ml (N,C,*S float 0/1), empty / full (N,C,*S float all 0 /
      all 1), lab (N,*S int64), lab1 (N,1,*S int64).
    ignore: label value written into ~15% of the pixels.
    absent: lab: class C-1 absent from the batch, class 1 from image 0;
      maps: channel C-1 empty in every image, channel 0 empty in image 0;
      single-channel maps and binlab: image 0 empty.
    extreme: ~12% of the logits replaced by +-30 / +-80.
    lovasz: "hinge" or "softmax": well separated logits so that the sorted
      errors have no near-ties (the gradient is defined only off ties).
    probs: the "logits" are probabilities: "sigmoid" of random logits, or "perfect0":
      the same with image 0 equal to its (float) target exactly.
    resemble: logits that resemble the target (±2.5 on its one-hot plus noise of σ 1.5), for
      the losses that look at boundaries: blob (N,C,*S float 0/1, one ball per plane) and
      bloblab1 (N,1,*S int64: balls of classes 1..C-1 on background 0) and blobhot (the
      one-hot float N,C,*S of such a map) targets have real ones. With probs="softmax" the
      resembling logits go through a softmax over the channels (probability inputs); with
      probs="quant" the probabilities are 0.8 / 0.2 on / off the target, a quarter of them 0.5
      (ties everywhere: the pooling's tie-breaking decides the gradient).
    """
    return dict(target=target, shape=shape, ignore=ignore, absent=absent, extreme=extreme, lovasz=lovasz, probs=probs,
                resemble=resemble)


def ball(rng, sp):
    """A random ball (ellipsoid) of the spatial shape sp, as a bool mask."""
    grids = np.meshgrid(*[np.arange(d) for d in sp], indexing="ij")
    centre = [rng.uniform(0.2, 0.8) * d for d in sp]
    radius = [rng.uniform(0.2, 0.4) * d for d in sp]
    return sum(((g - c) / r) ** 2 for g, c, r in zip(grids, centre, radius)) <= 1.0


def make_targets(rng, spec):
    n, c, *sp = spec["shape"]
    kind = spec["target"]
    if kind == "blob":
        t = np.stack([np.stack([ball(rng, sp) for _ in range(c)]) for _ in range(n)]).astype(np.float32)
        if spec["absent"]:
            t[0, 0] = 0.0
        return t
    if kind in ("bloblab1", "blobhot"):
        t = np.zeros((n, *sp), np.int64)
        for i in range(n):
            for k in range(1, c):
                if not (spec["absent"] and i == 0 and k == 1):
                    t[i][ball(rng, sp)] = k
        if kind == "blobhot":
            return np.stack([(t == k) for k in range(c)], 1).astype(np.float32)
        return t[:, None]
    if kind == "binlab":
        t = (rng.uniform(size=(n, *sp)) < 0.4).astype(np.int64)
        if spec["absent"]:
            t[0] = 0
    elif kind in ("lab", "lab1"):
        t = rng.integers(0, c, size=(n, *sp))
        if spec["absent"]:
            t[t == c - 1] = 0
            if c >= 3:
                t[0][t[0] == 1] = 2 % (c - 1)
        t = t.astype(np.int64)
    else:
        if kind == "soft":
            t = rng.uniform(0, 1, size=(n, c, *sp))
            t[rng.uniform(size=t.shape) < 0.2] = 0.0
            t[rng.uniform(size=t.shape) < 0.2] = 1.0
        elif kind in ("bin", "ml"):
            t = (rng.uniform(size=(n, c, *sp)) < 0.4).astype(np.float64)
        elif kind == "empty":
            t = np.zeros((n, c, *sp))
        elif kind == "full":
            t = np.ones((n, c, *sp))
        if spec["absent"] and c == 1:
            t[0] = 0.0
        elif spec["absent"]:
            t[:, c - 1] = 0.0
            t[0, 0] = 0.0
        t = t.astype(np.float32)
    if spec["ignore"] is not None:
        pix = rng.uniform(size=(n, *sp)) < 0.15
        if t.ndim == 1 + len(sp):
            t[pix] = spec["ignore"]
        else:
            np.moveaxis(t, 1, -1)[pix] = spec["ignore"]
    if kind == "lab1":
        t = t[:, None]
    return t


def lovasz_errors(x, t, mode):
    """Per sort-domain errors, to check the inputs for near-ties."""
    x = x.astype(np.float64)
    if mode == "hinge":
        sign = 2.0 * (t.reshape(x.shape) if t.ndim == x.ndim else t[:, None]) - 1.0
        e = 1.0 - x * sign
        return [e.ravel()]
    p = np.exp(x - x.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    onehot = np.stack([(t == k) for k in range(x.shape[1])], 1)
    return [np.abs(onehot[:, k] - p[:, k]).ravel() for k in range(x.shape[1])]


def make_logits(rng, spec, targets):
    shape = spec["shape"]
    n, c, *sp = shape
    if spec["lovasz"] == "hinge":
        m = int(np.prod(shape))
        step = 8.0 / m  # offset by 0.3 step: x_i != -x_j, so 1 - x*s has no ties
        base = -4.0 + step * (np.arange(m) + 0.3)
        for _ in range(100):
            x = rng.permutation(base).reshape(shape).astype(np.float32)
            t = np.where(targets == 1, 1.0, 0.0)
            errs = lovasz_errors(x, t, "hinge")[0]
            if np.diff(np.sort(errs)).min() > 0.1 * step and np.abs(errs).min() > 1e-4:
                return x
        raise RuntimeError("no tie-free hinge logits")
    if spec["resemble"]:
        onehot = targets.astype(np.float64) if targets.dtype != np.int64 else \
            np.stack([(targets[:, 0] == k) for k in range(c)], 1).astype(np.float64)
        x = 2.5 * (2.0 * onehot - 1.0) + 1.5 * rng.standard_normal(shape)
        if spec["probs"] == "quant":  # probabilities on three levels: pooling windows full of ties
            x = np.where(onehot > 0.5, 0.8, 0.2)
            x[rng.uniform(size=shape) < 0.25] = 0.5
            return x.astype(np.float32)
        if spec["probs"] == "softmax":
            x = np.exp(x - x.max(1, keepdims=True))
            x /= x.sum(1, keepdims=True)
        return x.astype(np.float32)
    if spec["probs"] is not None:
        p = (1.0 / (1.0 + np.exp(-2.0 * rng.standard_normal(shape)))).astype(np.float32)
        if spec["probs"] == "perfect0":
            p[0] = targets[0]
        return p
    for _ in range(100):
        x = (rng.standard_normal(shape) * 2.0).astype(np.float32)
        if spec["extreme"]:
            sel = rng.uniform(size=x.shape) < 0.12
            x[sel] = rng.choice(np.array([-80, -30, 30, 80], np.float32), size=sel.sum())
        if spec["lovasz"] != "softmax":
            return x
        labels = targets.reshape(n, *sp)
        if min(np.diff(np.sort(e)).min() for e in lovasz_errors(x, labels, "softmax")) > 1e-5:
            return x
    raise RuntimeError("no tie-free softmax logits")


def peer(preset):
    lib, name = preset.split(".", 1)
    return getattr(MODULES[lib], name)


def call(preset, params, x, t):
    fn = peer(preset)
    sig = inspect.signature(fn)
    unknown = [k for k in params if k not in sig.parameters]
    if unknown:
        raise TypeError(f"{preset} has no keyword {unknown}")
    kw = {k: (torch.tensor(v, dtype=torch.float64) if k in TENSOR_PARAMS and v is not None else v)
          for k, v in params.items()}
    if inspect.isclass(fn):
        return fn(**kw)(x, t)
    return fn(x, t, **kw)


def run_case(name, preset, params, spec, note):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    targets = make_targets(rng, spec)
    logits = make_logits(rng, spec, targets)
    dtype = np.float32 if preset in FLOAT32_ONLY else np.float64
    x = torch.tensor(logits.astype(dtype), requires_grad=True)
    t = torch.from_numpy(targets.astype(dtype) if targets.dtype == np.float32 else targets)
    loss = call(preset, params, x, t)
    if loss.ndim != 0:
        raise ValueError(f"non-scalar loss {tuple(loss.shape)}")
    loss.backward()
    grad = x.grad.detach().numpy().astype(np.float64)
    value = float(loss.detach())
    if not (np.isfinite(value) and np.isfinite(grad).all()):
        raise ValueError("non-finite loss or gradient")
    files = {}
    for key, arr in (("logits", logits), ("targets", targets), ("grad", grad)):
        files[key] = f"{name}.{key}.npy"
        np.save(OUT / files[key], np.ascontiguousarray(arr))
    case = dict(name=name, preset=preset, params=params, logits=files["logits"],
                targets=files["targets"], loss=value, grad=files["grad"])
    note = "; ".join(filter(None, [note, FLOAT32_ONLY.get(preset)]))
    if note:
        case["note"] = note
    return case


FOCAL32 = "MONAI FocalLoss casts its input to float32 (input.float()): loss and grad carry float32 rounding"

# name, preset, params, input spec, note
CASES = [
    # ---------------- smp DiceLoss ----------------
    ("smp_DiceLoss_binary", "smp.DiceLoss", dict(mode="binary", from_logits=True), D("bin", BIN), ""),
    ("smp_DiceLoss_binary_soft", "smp.DiceLoss", dict(mode="binary", from_logits=True), D("soft", BIN), "soft targets: L1 form of TP"),
    ("smp_DiceLoss_binary_empty", "smp.DiceLoss", dict(mode="binary", from_logits=True), D("empty", BIN), "all-empty target: class zeroed, loss 0"),
    ("smp_DiceLoss_binary_full", "smp.DiceLoss", dict(mode="binary", from_logits=True), D("full", BIN), "all-foreground target"),
    ("smp_DiceLoss_binary_ignore_smooth_log", "smp.DiceLoss", dict(mode="binary", from_logits=True, ignore_index=255, smooth=1.0, log_loss=True), D("bin", BIN, ignore=255), ""),
    ("smp_DiceLoss_binary_extreme", "smp.DiceLoss", dict(mode="binary", from_logits=True), D("bin", BIN, extreme=True), "logits +-30/+-80"),
    ("smp_DiceLoss_multiclass_absent", "smp.DiceLoss", dict(mode="multiclass", from_logits=True), D("lab", MC, absent=True), "class 3 absent from batch, class 1 from image 0"),
    ("smp_DiceLoss_multiclass_ignore", "smp.DiceLoss", dict(mode="multiclass", ignore_index=255, from_logits=True), D("lab", MC, ignore=255), ""),
    ("smp_DiceLoss_multiclass_classes_log", "smp.DiceLoss", dict(mode="multiclass", classes=[1, 3], log_loss=True, from_logits=True), D("lab", MC), "classes subset"),
    ("smp_DiceLoss_multiclass_class_weights", "smp.DiceLoss", dict(mode="multiclass", from_logits=True, class_weights=[0.5, 1.0, 2.0, 0.25]), D("lab", MC, absent=True), "class weights with an absent class"),
    ("smp_DiceLoss_multiclass_big_smooth", "smp.DiceLoss", dict(mode="multiclass", from_logits=True, smooth=0.5), D("lab", BIG), ""),
    ("smp_DiceLoss_multiclass_extreme", "smp.DiceLoss", dict(mode="multiclass", from_logits=True, eps=1e-6), D("lab", MC, extreme=True), ""),
    ("smp_DiceLoss_multilabel_absent", "smp.DiceLoss", dict(mode="multilabel", from_logits=True), D("ml", ML, absent=True), "channel 2 empty in batch, channel 0 in image 0"),
    ("smp_DiceLoss_multilabel_soft_smooth", "smp.DiceLoss", dict(mode="multilabel", from_logits=True, smooth=1.0), D("soft", ML), ""),
    ("smp_DiceLoss_multilabel_ignore_extreme", "smp.DiceLoss", dict(mode="multilabel", from_logits=True, ignore_index=255), D("ml", ML, ignore=255, extreme=True), ""),
    ("smp_DiceLoss_multilabel_classes", "smp.DiceLoss", dict(mode="multilabel", from_logits=True, classes=[0, 2], log_loss=True), D("ml", ML), ""),
    # ---------------- smp JaccardLoss ----------------
    ("smp_JaccardLoss_binary", "smp.JaccardLoss", dict(mode="binary", from_logits=True), D("bin", BIN), ""),
    ("smp_JaccardLoss_binary_soft_log", "smp.JaccardLoss", dict(mode="binary", from_logits=True, log_loss=True), D("soft", BIN), ""),
    ("smp_JaccardLoss_binary_empty_smooth", "smp.JaccardLoss", dict(mode="binary", from_logits=True, smooth=1.0), D("empty", BIN), "all-empty target"),
    ("smp_JaccardLoss_multiclass_absent_smooth", "smp.JaccardLoss", dict(mode="multiclass", from_logits=True, smooth=1.0), D("lab", MC, absent=True), ""),
    ("smp_JaccardLoss_multiclass_ignore_classes", "smp.JaccardLoss", dict(mode="multiclass", from_logits=True, ignore_index=255, classes=[0, 2]), D("lab", MC, ignore=255), ""),
    ("smp_JaccardLoss_multilabel_ignore", "smp.JaccardLoss", dict(mode="multilabel", from_logits=True, ignore_index=255), D("ml", ML, ignore=255, absent=True), ""),
    ("smp_JaccardLoss_multilabel_soft_weights", "smp.JaccardLoss", dict(mode="multilabel", from_logits=True, class_weights=[1.0, 0.5, 2.0]), D("soft", ML), ""),
    # ---------------- smp TverskyLoss ----------------
    ("smp_TverskyLoss_binary", "smp.TverskyLoss", dict(mode="binary", from_logits=True, alpha=0.3, beta=0.7), D("bin", BIN), ""),
    ("smp_TverskyLoss_binary_soft_gamma", "smp.TverskyLoss", dict(mode="binary", from_logits=True, alpha=0.7, beta=0.3, gamma=2.0), D("soft", BIN), "gamma after the class mean"),
    ("smp_TverskyLoss_multiclass_absent_ignore", "smp.TverskyLoss", dict(mode="multiclass", from_logits=True, alpha=0.25, beta=0.75, gamma=1.5, ignore_index=255), D("lab", MC, absent=True, ignore=255), ""),
    ("smp_TverskyLoss_multiclass_classes_log_smooth", "smp.TverskyLoss", dict(mode="multiclass", from_logits=True, classes=[1, 2, 3], log_loss=True, smooth=1.0), D("lab", MC), ""),
    ("smp_TverskyLoss_multilabel_default", "smp.TverskyLoss", dict(mode="multilabel", from_logits=True), D("ml", ML, absent=True), "alpha=beta=0.5 (Dice)"),
    ("smp_TverskyLoss_multilabel_soft_extreme", "smp.TverskyLoss", dict(mode="multilabel", from_logits=True, alpha=0.6, beta=0.4, gamma=0.75), D("soft", ML, extreme=True), ""),
    # ---------------- smp FocalLoss ----------------
    ("smp_FocalLoss_binary", "smp.FocalLoss", dict(mode="binary"), D("bin", BIN), "alpha None, gamma 2"),
    ("smp_FocalLoss_binary_alpha_ignore", "smp.FocalLoss", dict(mode="binary", alpha=0.25, gamma=2.0, ignore_index=255), D("bin", BIN, ignore=255), "mean over valid elements"),
    ("smp_FocalLoss_binary_soft", "smp.FocalLoss", dict(mode="binary", alpha=0.25), D("soft", BIN), "pt = exp(-BCE) with soft targets"),
    ("smp_FocalLoss_binary_extreme_gamma", "smp.FocalLoss", dict(mode="binary", gamma=0.5), D("bin", BIN, extreme=True), ""),
    ("smp_FocalLoss_binary_sum", "smp.FocalLoss", dict(mode="binary", alpha=0.75, gamma=3.0, reduction="sum"), D("bin", BIN), ""),
    ("smp_FocalLoss_binary_normalized", "smp.FocalLoss", dict(mode="binary", normalized=True), D("bin", BIN), "normalized=True (peer extra)"),
    ("smp_FocalLoss_binary_reduced_threshold", "smp.FocalLoss", dict(mode="binary", reduced_threshold=0.5), D("bin", BIN), "reduced_threshold (peer extra)"),
    ("smp_FocalLoss_multiclass_absent", "smp.FocalLoss", dict(mode="multiclass"), D("lab", MC, absent=True), "one-vs-rest sigmoid focal"),
    ("smp_FocalLoss_multiclass_alpha_ignore", "smp.FocalLoss", dict(mode="multiclass", alpha=0.25, gamma=2.0, ignore_index=255), D("lab", MC, ignore=255), ""),
    ("smp_FocalLoss_multiclass_class_weights", "smp.FocalLoss", dict(mode="multiclass", gamma=1.0, class_weights=[0.5, 1.0, 2.0, 0.25]), D("lab", MC), ""),
    ("smp_FocalLoss_multiclass_sum", "smp.FocalLoss", dict(mode="multiclass", alpha=0.5, reduction="sum"), D("lab", MC3), ""),
    ("smp_FocalLoss_multilabel_extreme", "smp.FocalLoss", dict(mode="multilabel", gamma=3.0), D("ml", ML, extreme=True), ""),
    ("smp_FocalLoss_multilabel_soft_sum", "smp.FocalLoss", dict(mode="multilabel", alpha=0.25, reduction="sum"), D("soft", ML), ""),
    # ---------------- smp LovaszLoss ----------------
    ("smp_LovaszLoss_binary", "smp.LovaszLoss", dict(mode="binary"), D("bin", BIN, lovasz="hinge"), "batch pooled into one hinge problem"),
    ("smp_LovaszLoss_binary_per_image", "smp.LovaszLoss", dict(mode="binary", per_image=True), D("bin", BIN, lovasz="hinge"), ""),
    ("smp_LovaszLoss_binary_ignore", "smp.LovaszLoss", dict(mode="binary", ignore_index=255), D("bin", BIN, ignore=255, lovasz="hinge"), ""),
    ("smp_LovaszLoss_binary_per_image_empty", "smp.LovaszLoss", dict(mode="binary", per_image=True), D("bin", BIN, absent=True, lovasz="hinge"), "image 0 has an empty target"),
    ("smp_LovaszLoss_multiclass_absent", "smp.LovaszLoss", dict(mode="multiclass"), D("lab", MC, absent=True, lovasz="softmax"), "classes='present'"),
    ("smp_LovaszLoss_multiclass_per_image", "smp.LovaszLoss", dict(mode="multiclass", per_image=True), D("lab", MC, absent=True, lovasz="softmax"), ""),
    ("smp_LovaszLoss_multiclass_ignore", "smp.LovaszLoss", dict(mode="multiclass", ignore_index=255), D("lab", MC3, ignore=255, lovasz="softmax"), ""),
    ("smp_LovaszLoss_multilabel", "smp.LovaszLoss", dict(mode="multilabel"), D("ml", ML, lovasz="hinge"), "all channels in one hinge problem"),
    ("smp_LovaszLoss_multilabel_per_image_ignore", "smp.LovaszLoss", dict(mode="multilabel", per_image=True, ignore_index=255), D("ml", ML, ignore=255, lovasz="hinge"), ""),
    # ---------------- smp SoftBCEWithLogitsLoss ----------------
    ("smp_SoftBCEWithLogitsLoss_binary", "smp.SoftBCEWithLogitsLoss", dict(), D("bin", BIN), "default ignore_index -100, none present"),
    ("smp_SoftBCEWithLogitsLoss_binary_ignore_default", "smp.SoftBCEWithLogitsLoss", dict(), D("bin", BIN, ignore=-100), "ignored zeroed, mean over ALL elements"),
    ("smp_SoftBCEWithLogitsLoss_binary_ignore_none", "smp.SoftBCEWithLogitsLoss", dict(ignore_index=None), D("bin", BIN), ""),
    ("smp_SoftBCEWithLogitsLoss_binary_soft_smooth", "smp.SoftBCEWithLogitsLoss", dict(smooth_factor=0.125), D("soft", BIN), ""),
    ("smp_SoftBCEWithLogitsLoss_binary_pos_weight", "smp.SoftBCEWithLogitsLoss", dict(pos_weight=[2.5]), D("bin", BIN, extreme=True), ""),
    ("smp_SoftBCEWithLogitsLoss_multilabel_weight_sum", "smp.SoftBCEWithLogitsLoss", dict(weight=[[[0.5]], [[1.0]], [[2.0]]], reduction="sum"), D("ml", ML), "per-channel weight, shape (C,1,1)"),
    ("smp_SoftBCEWithLogitsLoss_multilabel_pos_weight_ignore", "smp.SoftBCEWithLogitsLoss", dict(pos_weight=[[[0.5]], [[2.0]], [[4.0]]], ignore_index=255, smooth_factor=0.0625), D("ml", ML, ignore=255, extreme=True), "per-channel pos_weight, shape (C,1,1)"),
    ("smp_SoftBCEWithLogitsLoss_multilabel_soft", "smp.SoftBCEWithLogitsLoss", dict(), D("soft", ML), ""),
    # ---------------- smp SoftCrossEntropyLoss ----------------
    ("smp_SoftCrossEntropyLoss_multiclass_ignore_default", "smp.SoftCrossEntropyLoss", dict(smooth_factor=0.0), D("lab", MC, ignore=-100), ""),
    ("smp_SoftCrossEntropyLoss_multiclass_smooth", "smp.SoftCrossEntropyLoss", dict(smooth_factor=0.125), D("lab", MC, ignore=-100), ""),
    ("smp_SoftCrossEntropyLoss_multiclass_sum_extreme", "smp.SoftCrossEntropyLoss", dict(reduction="sum", smooth_factor=0.25), D("lab", MC, extreme=True), ""),
    ("smp_SoftCrossEntropyLoss_multiclass_ignore255_absent", "smp.SoftCrossEntropyLoss", dict(ignore_index=255, smooth_factor=0.0), D("lab", MC, ignore=255, absent=True), ""),
    # ---------------- monai DiceLoss ----------------
    ("monai_DiceLoss_binary", "monai.DiceLoss", dict(sigmoid=True), D("bin", BIN), ""),
    ("monai_DiceLoss_binary_batch", "monai.DiceLoss", dict(sigmoid=True, batch=True), D("bin", BIN, absent=True), "image 0 empty"),
    ("monai_DiceLoss_binary_empty", "monai.DiceLoss", dict(sigmoid=True), D("empty", BIN), "absent class not zeroed"),
    ("monai_DiceLoss_binary_soft_label", "monai.DiceLoss", dict(sigmoid=True, soft_label=True), D("soft", BIN), ""),
    ("monai_DiceLoss_binary_soft_nolabel", "monai.DiceLoss", dict(sigmoid=True), D("soft", BIN), "soft targets, product TP"),
    ("monai_DiceLoss_binary_squared_jaccard", "monai.DiceLoss", dict(sigmoid=True, squared_pred=True, jaccard=True), D("bin", BIN, extreme=True), ""),
    ("monai_DiceLoss_multiclass_absent", "monai.DiceLoss", dict(softmax=True, to_onehot_y=True), D("lab1", MC, absent=True), ""),
    ("monai_DiceLoss_multiclass_nobg_batch", "monai.DiceLoss", dict(softmax=True, to_onehot_y=True, include_background=False, batch=True), D("lab1", MC, absent=True), ""),
    ("monai_DiceLoss_multiclass_weight_smooth", "monai.DiceLoss", dict(softmax=True, to_onehot_y=True, weight=[0.5, 1.0, 2.0, 0.25], smooth_nr=0.0, smooth_dr=1.0), D("lab1", MC), ""),
    ("monai_DiceLoss_multiclass_ignore", "monai.DiceLoss", dict(softmax=True, to_onehot_y=True, ignore_index=255), D("lab1", MC, ignore=255), ""),
    ("monai_DiceLoss_multiclass_ignore_class0", "monai.DiceLoss", dict(softmax=True, to_onehot_y=True, ignore_index=0), D("lab1", MC), "ignore_index is a valid class: its pixels are masked"),
    ("monai_DiceLoss_multiclass_jaccard_squared_sum", "monai.DiceLoss", dict(softmax=True, to_onehot_y=True, jaccard=True, squared_pred=True, reduction="sum"), D("lab1", MC), ""),
    ("monai_DiceLoss_multiclass_big", "monai.DiceLoss", dict(softmax=True, to_onehot_y=True, batch=True, smooth_nr=1.0, smooth_dr=1.0), D("lab1", BIG), ""),
    ("monai_DiceLoss_multilabel_absent", "monai.DiceLoss", dict(sigmoid=True), D("ml", ML, absent=True), ""),
    ("monai_DiceLoss_multilabel_soft_batch", "monai.DiceLoss", dict(sigmoid=True, soft_label=True, batch=True), D("soft", ML), ""),
    ("monai_DiceLoss_multilabel_nobg_weight", "monai.DiceLoss", dict(sigmoid=True, include_background=False, weight=[2.0, 0.5]), D("ml", ML, extreme=True), "weight has C-1 entries with include_background=False"),
    # ---------------- monai GeneralizedDiceLoss ----------------
    ("monai_GeneralizedDiceLoss_multiclass_square", "monai.GeneralizedDiceLoss", dict(softmax=True, to_onehot_y=True), D("lab1", MC, absent=True), "absent class gets max finite weight"),
    ("monai_GeneralizedDiceLoss_multiclass_simple", "monai.GeneralizedDiceLoss", dict(softmax=True, to_onehot_y=True, w_type="simple"), D("lab1", MC, absent=True), ""),
    ("monai_GeneralizedDiceLoss_multiclass_uniform", "monai.GeneralizedDiceLoss", dict(softmax=True, to_onehot_y=True, w_type="uniform"), D("lab1", MC), ""),
    ("monai_GeneralizedDiceLoss_multiclass_batch", "monai.GeneralizedDiceLoss", dict(softmax=True, to_onehot_y=True, batch=True), D("lab1", MC, absent=True), ""),
    ("monai_GeneralizedDiceLoss_multiclass_nobg_sum", "monai.GeneralizedDiceLoss", dict(softmax=True, to_onehot_y=True, include_background=False, reduction="sum"), D("lab1", MC), ""),
    ("monai_GeneralizedDiceLoss_multiclass_big", "monai.GeneralizedDiceLoss", dict(softmax=True, to_onehot_y=True, smooth_nr=0.5, smooth_dr=0.5), D("lab1", BIG), ""),
    ("monai_GeneralizedDiceLoss_multilabel", "monai.GeneralizedDiceLoss", dict(sigmoid=True), D("ml", ML, absent=True), ""),
    ("monai_GeneralizedDiceLoss_multilabel_soft_label", "monai.GeneralizedDiceLoss", dict(sigmoid=True, soft_label=True, w_type="simple"), D("soft", ML), ""),
    ("monai_GeneralizedDiceLoss_binary", "monai.GeneralizedDiceLoss", dict(sigmoid=True), D("bin", BIN, absent=True), "image 0 empty"),
    # ---------------- monai DiceCELoss ----------------
    ("monai_DiceCELoss_binary", "monai.DiceCELoss", dict(sigmoid=True), D("bin", BIN), "1 channel: BCE"),
    ("monai_DiceCELoss_binary_combo", "monai.DiceCELoss", dict(sigmoid=True, lambda_dice=0.5, lambda_ce=0.15, weight=[7.0 / 3.0]), D("bin", BIN), "Combo a=0.5 b=0.7: pos_weight b/(1-b); weight also scales the Dice term"),
    ("monai_DiceCELoss_binary_extreme_batch", "monai.DiceCELoss", dict(sigmoid=True, batch=True, jaccard=True), D("bin", BIN, extreme=True), ""),
    ("monai_DiceCELoss_multiclass", "monai.DiceCELoss", dict(softmax=True, to_onehot_y=True), D("lab1", MC, absent=True), ""),
    ("monai_DiceCELoss_multiclass_weight", "monai.DiceCELoss", dict(softmax=True, to_onehot_y=True, weight=[0.5, 1.0, 2.0, 0.25]), D("lab1", MC), "weight = CE class weight and Dice weight"),
    ("monai_DiceCELoss_multiclass_lambdas_batch_jaccard", "monai.DiceCELoss", dict(softmax=True, to_onehot_y=True, lambda_dice=0.75, lambda_ce=0.25, batch=True, jaccard=True, squared_pred=True), D("lab1", MC3), ""),
    ("monai_DiceCELoss_multiclass_label_smoothing", "monai.DiceCELoss", dict(softmax=True, to_onehot_y=True, label_smoothing=0.125, smooth_nr=0.0, smooth_dr=1e-6), D("lab1", MC), ""),
    ("monai_DiceCELoss_multiclass_nobg_weight", "monai.DiceCELoss", dict(softmax=True, to_onehot_y=True, include_background=False, weight=[0.25, 1.0, 2.0, 0.5]), D("lab1", MC, extreme=True), "Dice uses weight[1:]"),
    ("monai_DiceCELoss_multiclass_sum", "monai.DiceCELoss", dict(softmax=True, to_onehot_y=True, reduction="sum"), D("lab1", MC3), ""),
    # ---------------- monai DiceFocalLoss ----------------
    ("monai_DiceFocalLoss_binary", "monai.DiceFocalLoss", dict(sigmoid=True), D("bin", BIN), FOCAL32),
    ("monai_DiceFocalLoss_multiclass", "monai.DiceFocalLoss", dict(softmax=True, to_onehot_y=True), D("lab1", MC, absent=True), "focal term is sigmoid focal on one-hot; " + FOCAL32),
    ("monai_DiceFocalLoss_multiclass_alpha_lambdas", "monai.DiceFocalLoss", dict(softmax=True, to_onehot_y=True, alpha=0.25, gamma=1.5, lambda_dice=0.5, lambda_focal=2.0), D("lab1", MC), FOCAL32),
    ("monai_DiceFocalLoss_multilabel_weight", "monai.DiceFocalLoss", dict(sigmoid=True, weight=[0.5, 1.0, 2.0], gamma=1.5), D("ml", ML, absent=True), FOCAL32),
    ("monai_DiceFocalLoss_multiclass_nobg_batch", "monai.DiceFocalLoss", dict(softmax=True, to_onehot_y=True, include_background=False, batch=True), D("lab1", MC3, extreme=True), FOCAL32),
    # ---------------- monai FocalLoss ----------------
    ("monai_FocalLoss_binary", "monai.FocalLoss", dict(), D("bin", BIN), FOCAL32),
    ("monai_FocalLoss_multilabel_alpha", "monai.FocalLoss", dict(alpha=0.25, gamma=2.0), D("ml", ML), FOCAL32),
    ("monai_FocalLoss_multilabel_alpha_list", "monai.FocalLoss", dict(alpha=[0.25, 0.5, 1.5], gamma=1.5), D("ml", ML, absent=True), "sigmoid: targets 1 weighted by alpha[c], 0 by 1; " + FOCAL32),
    ("monai_FocalLoss_multilabel_weight_sum", "monai.FocalLoss", dict(weight=[0.5, 1.0, 2.0], reduction="sum"), D("ml", ML, absent=True), FOCAL32),
    ("monai_FocalLoss_multilabel_soft", "monai.FocalLoss", dict(gamma=1.5), D("soft", ML), FOCAL32),
    ("monai_FocalLoss_multiclass_softmax", "monai.FocalLoss", dict(use_softmax=True, to_onehot_y=True), D("lab1", MC, absent=True), "mean over N*C*H*W; " + FOCAL32),
    ("monai_FocalLoss_multiclass_softmax_alpha", "monai.FocalLoss", dict(use_softmax=True, to_onehot_y=True, alpha=0.25), D("lab1", MC), "alpha -> [1-a, a, a, ...]; " + FOCAL32),
    ("monai_FocalLoss_multiclass_softmax_alpha_list", "monai.FocalLoss", dict(use_softmax=True, to_onehot_y=True, alpha=[0.125, 0.25, 0.5, 0.125], gamma=3.0), D("lab1", MC), FOCAL32),
    ("monai_FocalLoss_multiclass_softmax_nobg_alpha_weight", "monai.FocalLoss", dict(use_softmax=True, to_onehot_y=True, include_background=False, alpha=[0.25, 0.5, 0.75], weight=[1.0, 2.0, 0.5]), D("lab1", MC), "lists of C-1 for the classes after the background; " + FOCAL32),
    ("monai_FocalLoss_multiclass_softmax_nobg_sum", "monai.FocalLoss", dict(use_softmax=True, to_onehot_y=True, include_background=False, reduction="sum", alpha=[0.25, 0.5, 0.75]), D("lab1", MC), "reduction=sum without the background; " + FOCAL32),
    ("monai_FocalLoss_multiclass_softmax_ignore", "monai.FocalLoss", dict(use_softmax=True, to_onehot_y=True, ignore_index=255), D("lab1", MC, ignore=255), "ignore: sum / #valid pixels (not x C); " + FOCAL32),
    ("monai_FocalLoss_multiclass_softmax_ignore_sum", "monai.FocalLoss", dict(use_softmax=True, to_onehot_y=True, ignore_index=255, reduction="sum"), D("lab1", MC3, ignore=255), FOCAL32),
    ("monai_FocalLoss_multiclass_sigmoid_nobg_ignore", "monai.FocalLoss", dict(to_onehot_y=True, include_background=False, ignore_index=255, alpha=0.75), D("lab1", MC, ignore=255), FOCAL32),
    ("monai_FocalLoss_multiclass_softmax_extreme_weight", "monai.FocalLoss", dict(use_softmax=True, to_onehot_y=True, weight=[1.0, 2.0, 0.5, 0.25]), D("lab1", MC, extreme=True), FOCAL32),
    # ---------------- monai TverskyLoss ----------------
    ("monai_TverskyLoss_binary", "monai.TverskyLoss", dict(sigmoid=True, alpha=0.3, beta=0.7), D("bin", BIN), ""),
    ("monai_TverskyLoss_binary_empty", "monai.TverskyLoss", dict(sigmoid=True), D("empty", BIN), ""),
    ("monai_TverskyLoss_multiclass_absent", "monai.TverskyLoss", dict(softmax=True, to_onehot_y=True, alpha=0.25, beta=0.75), D("lab1", MC, absent=True), ""),
    ("monai_TverskyLoss_multiclass_nobg_batch", "monai.TverskyLoss", dict(softmax=True, to_onehot_y=True, include_background=False, batch=True), D("lab1", MC), ""),
    ("monai_TverskyLoss_multiclass_ignore", "monai.TverskyLoss", dict(softmax=True, to_onehot_y=True, ignore_index=255, alpha=0.6, beta=0.4), D("lab1", MC, ignore=255), ""),
    ("monai_TverskyLoss_multiclass_smooth_sum", "monai.TverskyLoss", dict(softmax=True, to_onehot_y=True, smooth_nr=1.0, smooth_dr=1.0, reduction="sum"), D("lab1", MC3, extreme=True), ""),
    ("monai_TverskyLoss_multilabel_soft_label", "monai.TverskyLoss", dict(sigmoid=True, soft_label=True, alpha=0.7, beta=0.3), D("soft", ML), ""),
    ("monai_TverskyLoss_multilabel", "monai.TverskyLoss", dict(sigmoid=True), D("ml", ML, absent=True), ""),
    # ---------------- kornia dice_loss ----------------
    ("kornia_dice_loss_micro", "kornia.dice_loss", dict(), D("lab", MC), "ignore_index default -100, none present"),
    ("kornia_dice_loss_macro_absent", "kornia.dice_loss", dict(average="macro"), D("lab", MC, absent=True), "mean over classes present in each image"),
    ("kornia_dice_loss_macro_weight", "kornia.dice_loss", dict(average="macro", weight=[0.5, 1.0, 2.0, 0.25]), D("lab", MC, absent=True), ""),
    ("kornia_dice_loss_micro_weight", "kornia.dice_loss", dict(average="micro", weight=[0.5, 1.0, 2.0, 0.25]), D("lab", MC), ""),
    ("kornia_dice_loss_macro_ignore255", "kornia.dice_loss", dict(average="macro", ignore_index=255), D("lab", MC, ignore=255), ""),
    ("kornia_dice_loss_micro_ignore_default", "kornia.dice_loss", dict(), D("lab", MC, ignore=-100), ""),
    ("kornia_dice_loss_micro_eps_extreme", "kornia.dice_loss", dict(eps=1e-6, ignore_index=None), D("lab", MC, extreme=True), ""),
    ("kornia_dice_loss_macro_big", "kornia.dice_loss", dict(average="macro"), D("lab", BIG), ""),
    # ---------------- kornia focal_loss ----------------
    ("kornia_focal_loss_mean", "kornia.focal_loss", dict(alpha=0.25, gamma=2.0, reduction="mean"), D("lab", MC), "mean over N*C*H*W"),
    ("kornia_focal_loss_alpha_none_sum", "kornia.focal_loss", dict(alpha=None, gamma=2.0, reduction="sum"), D("lab", MC, absent=True), ""),
    ("kornia_focal_loss_weight", "kornia.focal_loss", dict(alpha=0.5, gamma=0.5, reduction="mean", weight=[0.5, 1.0, 2.0, 0.25]), D("lab", MC), ""),
    ("kornia_focal_loss_ignore255", "kornia.focal_loss", dict(alpha=0.25, gamma=2.0, reduction="mean", ignore_index=255), D("lab", MC, ignore=255), ""),
    ("kornia_focal_loss_ignore_default_extreme", "kornia.focal_loss", dict(alpha=0.75, gamma=3.0, reduction="sum"), D("lab", MC, ignore=-100, extreme=True), ""),
    ("kornia_focal_loss_big", "kornia.focal_loss", dict(alpha=0.25, reduction="mean"), D("lab", BIG), ""),
    # ---------------- kornia binary_focal_loss_with_logits ----------------
    ("kornia_binary_focal_loss_with_logits_binary", "kornia.binary_focal_loss_with_logits", dict(alpha=0.25, gamma=2.0, reduction="mean"), D("bin", BIN), ""),
    ("kornia_binary_focal_loss_with_logits_alpha_none", "kornia.binary_focal_loss_with_logits", dict(alpha=None, gamma=3.0, reduction="mean"), D("bin", BIN), ""),
    ("kornia_binary_focal_loss_with_logits_pos_weight_sum", "kornia.binary_focal_loss_with_logits", dict(alpha=0.25, reduction="sum", pos_weight=[0.5, 2.0, 4.0]), D("ml", ML), ""),
    ("kornia_binary_focal_loss_with_logits_weight", "kornia.binary_focal_loss_with_logits", dict(alpha=0.75, reduction="mean", weight=[2.0, 1.0, 0.5]), D("ml", ML, absent=True), ""),
    ("kornia_binary_focal_loss_with_logits_soft", "kornia.binary_focal_loss_with_logits", dict(alpha=0.25, gamma=1.5, reduction="mean"), D("soft", ML), ""),
    ("kornia_binary_focal_loss_with_logits_ignore", "kornia.binary_focal_loss_with_logits", dict(alpha=0.25, reduction="mean"), D("bin", BIN, ignore=-100), "default ignore -100; ignored stay in the mean denominator"),
    ("kornia_binary_focal_loss_with_logits_extreme", "kornia.binary_focal_loss_with_logits", dict(alpha=0.25, reduction="mean", ignore_index=None), D("ml", ML, extreme=True), ""),
    # ---------------- kornia tversky_loss ----------------
    ("kornia_tversky_loss_dice", "kornia.tversky_loss", dict(alpha=0.5, beta=0.5), D("lab", MC), ""),
    ("kornia_tversky_loss_absent", "kornia.tversky_loss", dict(alpha=0.3, beta=0.7), D("lab", MC, absent=True), "mean over present classes"),
    ("kornia_tversky_loss_ignore255", "kornia.tversky_loss", dict(alpha=0.7, beta=0.3, ignore_index=255), D("lab", MC, ignore=255), ""),
    ("kornia_tversky_loss_eps_extreme", "kornia.tversky_loss", dict(alpha=0.25, beta=0.75, eps=1e-6), D("lab", MC3, ignore=-100, extreme=True), ""),
    # ---------------- kornia lovasz ----------------
    ("kornia_lovasz_hinge_loss_binary", "kornia.lovasz_hinge_loss", dict(), D("binlab", BIN, lovasz="hinge"), "target int64 (N,H,W) {0,1}; logits (N,1,H,W)"),
    ("kornia_lovasz_hinge_loss_empty_image", "kornia.lovasz_hinge_loss", dict(), D("binlab", (2, 1, 6, 9), absent=True, lovasz="hinge"), "image 0 has no foreground"),
    ("kornia_lovasz_hinge_loss_big", "kornia.lovasz_hinge_loss", dict(), D("binlab", BIGB, lovasz="hinge"), ""),
    ("kornia_lovasz_softmax_loss", "kornia.lovasz_softmax_loss", dict(), D("lab", MC, lovasz="softmax"), ""),
    ("kornia_lovasz_softmax_loss_absent", "kornia.lovasz_softmax_loss", dict(), D("lab", MC, absent=True, lovasz="softmax"), "absent class included"),
    ("kornia_lovasz_softmax_loss_weight", "kornia.lovasz_softmax_loss", dict(weight=[0.5, 1.0, 2.0, 0.25]), D("lab", MC, absent=True, lovasz="softmax"), ""),
    # ---------------- torchvision sigmoid_focal_loss ----------------
    ("torchvision_sigmoid_focal_loss_binary", "torchvision.sigmoid_focal_loss", dict(reduction="mean"), D("bin", BIN), "alpha 0.25 gamma 2"),
    ("torchvision_sigmoid_focal_loss_alpha_off_sum", "torchvision.sigmoid_focal_loss", dict(alpha=-1, gamma=2.0, reduction="sum"), D("bin", BIN), "alpha=-1 disables weighting"),
    ("torchvision_sigmoid_focal_loss_multilabel", "torchvision.sigmoid_focal_loss", dict(alpha=0.75, gamma=0.0, reduction="mean"), D("ml", ML, absent=True), "gamma 0"),
    ("torchvision_sigmoid_focal_loss_soft", "torchvision.sigmoid_focal_loss", dict(alpha=0.25, gamma=1.5, reduction="mean"), D("soft", ML), "p_t with soft targets"),
    ("torchvision_sigmoid_focal_loss_extreme", "torchvision.sigmoid_focal_loss", dict(alpha=0.25, gamma=2.0, reduction="sum"), D("ml", ML, extreme=True), ""),
    ("torchvision_sigmoid_focal_loss_empty", "torchvision.sigmoid_focal_loss", dict(reduction="mean"), D("empty", BIN), ""),
    # ---------------- MCC ----------------
    ("monai_MCCLoss_binary", "monai.MCCLoss", dict(sigmoid=True), D("bin", BIN), ""),
    ("monai_MCCLoss_binary_batch_smooth", "monai.MCCLoss", dict(sigmoid=True, batch=True, smooth_nr=0.5, smooth_dr=2.0), D("bin", BIN, absent=True), "image 0 empty"),
    ("monai_MCCLoss_probs_perfect", "monai.MCCLoss", dict(), D("bin", BIN, probs="perfect0"), "image 0 predicted exactly: FP = FN = 0, loss 0"),
    ("monai_MCCLoss_multiclass", "monai.MCCLoss", dict(softmax=True, to_onehot_y=True), D("lab1", MC, absent=True), ""),
    ("monai_MCCLoss_multiclass_nobg_sum", "monai.MCCLoss", dict(softmax=True, to_onehot_y=True, include_background=False, reduction="sum"), D("lab1", MC3), ""),
    ("monai_MCCLoss_multilabel_batch", "monai.MCCLoss", dict(sigmoid=True, batch=True), D("ml", ML, absent=True, extreme=True), ""),
    ("monai_MCCLoss_empty", "monai.MCCLoss", dict(sigmoid=True), D("empty", BIN), "no positive pixel: TP = FN = 0"),
    ("smp_MCCLoss_binary", "smp.MCCLoss", dict(), D("bin", BIN, probs="sigmoid"), "probabilities, batch pooled"),
    ("smp_MCCLoss_eps_multichannel", "smp.MCCLoss", dict(eps=1e-3), D("ml", ML, probs="sigmoid"), "smp reshapes [N, C, ...] to [N, 1, -1]: channels pooled"),
    # ---------------- GeneralizedDiceFocalLoss ----------------
    ("monai_GeneralizedDiceFocalLoss_multiclass", "monai.GeneralizedDiceFocalLoss", dict(softmax=True, to_onehot_y=True), D("lab1", MC, absent=True), FOCAL32),
    ("monai_GeneralizedDiceFocalLoss_multilabel_weight", "monai.GeneralizedDiceFocalLoss", dict(sigmoid=True, gamma=1.5, weight=[0.5, 1.0, 2.0], lambda_gdl=0.7, lambda_focal=2.0, w_type="simple"), D("ml", ML, absent=True), FOCAL32),
    ("monai_GeneralizedDiceFocalLoss_nobg_batch", "monai.GeneralizedDiceFocalLoss", dict(softmax=True, to_onehot_y=True, include_background=False, batch=True), D("lab1", MC3), FOCAL32),
    # ---------------- distance losses (targets with boundaries, predictions resembling them) ----------------
    ("monai_HausdorffDTLoss_binary", "monai.HausdorffDTLoss", dict(sigmoid=True), D("blob", (2, 1, 17, 19), resemble=True), ""),
    ("monai_HausdorffDTLoss_multiclass", "monai.HausdorffDTLoss", dict(softmax=True, to_onehot_y=True), D("bloblab1", (2, 4, 13, 15), resemble=True, absent=True), "include_background=False by default"),
    ("monai_HausdorffDTLoss_multilabel_alpha_batch_sum", "monai.HausdorffDTLoss", dict(sigmoid=True, alpha=1.0, batch=True, include_background=True, reduction="sum"), D("blob", (2, 3, 11, 13), resemble=True, absent=True), ""),
    ("monai_LogHausdorffDTLoss_binary", "monai.LogHausdorffDTLoss", dict(sigmoid=True, alpha=1.5), D("blob", (2, 1, 17, 19), resemble=True), ""),
    ("monai_BoundaryLoss_binary", "monai.BoundaryLoss", dict(sigmoid=True), D("blob", (2, 1, 17, 19), resemble=True, absent=True), "image 0 empty: zero distance map"),
    ("monai_BoundaryLoss_multiclass_nobg", "monai.BoundaryLoss", dict(softmax=True, to_onehot_y=True, include_background=False), D("bloblab1", (2, 4, 13, 15), resemble=True), ""),
    ("monai_BoundaryLoss_multilabel_batch_sum", "monai.BoundaryLoss", dict(sigmoid=True, batch=True, reduction="sum"), D("blob", (2, 3, 11, 13), resemble=True), ""),
    ("vol_monai_HausdorffDTLoss_binary", "monai.HausdorffDTLoss", dict(sigmoid=True), D("blob", (2, 1, 7, 9, 11), resemble=True), "volume"),
    ("vol_monai_BoundaryLoss_multiclass", "monai.BoundaryLoss", dict(softmax=True, to_onehot_y=True), D("bloblab1", (2, 3, 6, 7, 8), resemble=True), "volume"),
    ("vol_monai_LogHausdorffDTLoss_multiclass_batch", "monai.LogHausdorffDTLoss", dict(softmax=True, to_onehot_y=True, batch=True), D("bloblab1", (2, 3, 6, 7, 8), resemble=True), "volume"),
    # ---------------- clDice: blob targets, predictions resembling them ----------------
    ("monai_SoftclDiceLoss_probs", "monai.SoftclDiceLoss", dict(), D("blobhot", (2, 2, 17, 19), resemble=True, probs="softmax"), "probabilities, both channels pooled"),
    ("monai_SoftclDiceLoss_softmax_nobg", "monai.SoftclDiceLoss", dict(softmax=True, to_onehot_y=True, include_background=False, iter_=5, smooth_nr=0.5, smooth_dr=2.0), D("bloblab1", (2, 3, 21, 23), resemble=True, absent=True), "class 1 absent from image 0"),
    ("monai_SoftclDiceLoss_sigmoid_sum", "monai.SoftclDiceLoss", dict(sigmoid=True, reduction="sum", smooth=1e-2, iter_=0), D("blob", (2, 1, 17, 19), resemble=True, absent=True), "image 0 empty"),
    ("monai_SoftDiceclDiceLoss_probs", "monai.SoftDiceclDiceLoss", dict(), D("blobhot", (2, 2, 17, 19), resemble=True, probs="softmax"), ""),
    ("monai_SoftDiceclDiceLoss_softmax_alpha", "monai.SoftDiceclDiceLoss", dict(softmax=True, to_onehot_y=True, iter_=2, alpha=0.3, smooth_nr=2.0), D("bloblab1", (2, 3, 13, 15), resemble=True, absent=True), "class 1 absent from image 0"),
    ("monai_SoftDiceclDiceLoss_sigmoid_sum", "monai.SoftDiceclDiceLoss", dict(sigmoid=True, reduction="sum", include_background=False), D("blob", (2, 3, 11, 13), resemble=True), ""),
    ("monai_SoftclDiceLoss_tied_probs", "monai.SoftclDiceLoss", dict(), D("blob", (2, 2, 13, 15), resemble=True, probs="quant"), "three probability levels: ties in every pooling window"),
    ("monai_SoftDiceclDiceLoss_tied_probs", "monai.SoftDiceclDiceLoss", dict(iter_=2), D("blob", (2, 3, 11, 13), resemble=True, probs="quant"), "three probability levels"),
    ("vol_monai_SoftclDiceLoss_tied_probs", "monai.SoftclDiceLoss", dict(iter_=2), D("blob", (1, 2, 6, 7, 8), resemble=True, probs="quant"), "volume; three probability levels"),
    ("vol_monai_SoftclDiceLoss", "monai.SoftclDiceLoss", dict(sigmoid=True), D("blob", (2, 2, 7, 9, 11), resemble=True), "volume"),
    ("vol_monai_SoftDiceclDiceLoss", "monai.SoftDiceclDiceLoss", dict(softmax=True, to_onehot_y=True, iter_=2, alpha=0.7, include_background=False), D("bloblab1", (1, 3, 6, 7, 8), resemble=True), "volume"),
    # ---------------- generalized Wasserstein Dice: an asymmetric matrix, max != 1 (scaled) ----------------
    ("monai_GeneralizedWassersteinDiceLoss_default", "monai.GeneralizedWassersteinDiceLoss", dict(dist_matrix=[[0.0, 1.0, 2.0], [1.5, 0.0, 1.0], [2.5, 0.5, 0.0]]), D("bloblab1", (2, 3, 13, 15), resemble=True), ""),
    ("monai_GeneralizedWassersteinDiceLoss_gdl_sum", "monai.GeneralizedWassersteinDiceLoss", dict(dist_matrix=[[0.0, 1.0, 2.0], [1.5, 0.0, 1.0], [2.5, 0.5, 0.0]], weighting_mode="GDL", reduction="sum"), D("bloblab1", (2, 3, 13, 15), resemble=True, absent=True), "class 1 absent from image 0"),
    ("monai_GeneralizedWassersteinDiceLoss_unit_smooth", "monai.GeneralizedWassersteinDiceLoss", dict(dist_matrix=[[0.0, 1.0, 1.0, 0.5], [1.0, 0.0, 0.5, 1.0], [1.0, 0.5, 0.0, 1.0], [0.5, 1.0, 1.0, 0.0]], smooth_nr=0.5, smooth_dr=2.0), D("lab1", MC), "max 1: not scaled"),
    ("vol_monai_GeneralizedWassersteinDiceLoss", "monai.GeneralizedWassersteinDiceLoss", dict(dist_matrix=[[0.0, 1.0, 2.0], [1.5, 0.0, 1.0], [2.5, 0.5, 0.0]], weighting_mode="GDL"), D("bloblab1", (2, 3, 6, 7, 8), resemble=True), "volume"),
    # ---------------- volumes [N, C, D, H, W] ----------------
    ("vol_monai_DiceLoss_binary", "monai.DiceLoss", dict(sigmoid=True), D("bin", VBIN), "volume"),
    ("vol_monai_DiceLoss_multiclass_batch", "monai.DiceLoss", dict(softmax=True, to_onehot_y=True, batch=True), D("lab1", VMC, absent=True), "volume"),
    ("vol_monai_DiceCELoss_multiclass", "monai.DiceCELoss", dict(softmax=True, to_onehot_y=True), D("lab1", VMC), "volume"),
    ("vol_monai_DiceFocalLoss_multilabel", "monai.DiceFocalLoss", dict(sigmoid=True, gamma=1.5), D("ml", VML, absent=True), "volume; " + FOCAL32),
    ("vol_monai_GeneralizedDiceLoss_multiclass", "monai.GeneralizedDiceLoss", dict(softmax=True, to_onehot_y=True), D("lab1", VMC, absent=True), "volume"),
    ("vol_monai_TverskyLoss_multiclass_ignore", "monai.TverskyLoss", dict(softmax=True, to_onehot_y=True, ignore_index=255, alpha=0.3, beta=0.7), D("lab1", VMC, ignore=255), "volume"),
    ("vol_monai_FocalLoss_softmax", "monai.FocalLoss", dict(use_softmax=True, to_onehot_y=True), D("lab1", VMC), "volume; " + FOCAL32),
    ("vol_smp_DiceLoss_multiclass", "smp.DiceLoss", dict(mode="multiclass", from_logits=True), D("lab", VMC), "volume: smp flattens the spatial dims"),
    ("vol_monai_MCCLoss_multiclass", "monai.MCCLoss", dict(softmax=True, to_onehot_y=True), D("lab1", VMC), "volume"),
    ("vol_monai_GeneralizedDiceFocalLoss", "monai.GeneralizedDiceFocalLoss", dict(softmax=True, to_onehot_y=True), D("lab1", VMC), "volume; " + FOCAL32),
    ("vol_smp_LovaszLoss_binary_per_image", "smp.LovaszLoss", dict(mode="binary", per_image=True), D("bin", VBIN, lovasz="hinge"), "volume"),
]


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for f in [*OUT.glob("*.npy"), OUT / "manifest.json"]:  # README.md is kept
        f.unlink(missing_ok=True)
    names = [c[0] for c in CASES]
    assert len(names) == len(set(names)), "duplicate case names"
    cases, skipped = [], []
    for name, preset, params, spec, note in CASES:
        try:
            cases.append(run_case(name, preset, params, spec, note))
        except Exception as err:  # the peer rejects this combination: report, do not store
            skipped.append(name)
            print(f"SKIP {name}: {type(err).__name__}: {err}", file=sys.stderr)
            for f in OUT.glob(f"{name}.*"):
                f.unlink()
    versions = {m.__name__: m.__version__ for m in (torch, smp, monai, kornia, torchvision)}
    manifest = dict(generator="scripts/peer_fixtures.py", versions=versions, cases=cases)
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{len(cases)} cases written to {OUT}, {len(skipped)} skipped")


if __name__ == "__main__":
    main()
