#!/usr/bin/env python3
"""Independent parity check: random shapes, data and keyword arguments (not the committed
fixtures) through each peer and through `segloss loss --json`, values and gradients compared.

    /work/pyenv/bin/python scripts/peer_parity_check.py [--backend cpu|gpu] [--seed N] [--rounds N]

Needs torch, segmentation_models_pytorch, monai, kornia, torchvision and a release build."""
import argparse, json, os, subprocess, sys, tempfile, warnings
import numpy as np, torch
warnings.filterwarnings("ignore")
import segmentation_models_pytorch as smp, monai.losses as ml, kornia.losses as kl, torchvision.ops as tv

BIN = os.path.join(os.path.dirname(__file__), "..", "target", "release", "segloss")


def peer(preset, params):
    lib, name = preset.split(".", 1)
    kw = {k: (torch.tensor(v, dtype=torch.float64) if k in ("weight", "pos_weight") and isinstance(v, list) else v)
          for k, v in params.items()}
    if lib == "smp":
        return getattr(smp.losses, name)(**kw)
    if lib == "monai":
        return getattr(ml, name)(**kw)
    if lib == "kornia":
        f = getattr(kl, name)
        return lambda x, t: f(x, t, **kw)
    return lambda x, t: tv.sigmoid_focal_loss(x, t, **kw)


def case(rng, preset, params, mode, soft=False, ignore=None, empty=False):
    n, c, h, w = rng.integers(1, 4) + empty, rng.integers(2, 6), rng.integers(1, 9), rng.integers(1, 9)
    mode, _, probs = mode.partition("-")
    if mode.endswith("3"):
        mode, c = mode[:-1], 3
    if mode == "binary":
        c = 1
    x = rng.normal(0, 2.5, (n, c, h, w)).astype(np.float32)
    if probs:
        x = (np.exp(x) / np.exp(x).sum(1, keepdims=True)) if mode == "multiclass" else 1 / (1 + np.exp(-x))
        x = x.astype(np.float32)
        x.reshape(-1)[::7] = 0.0
        x.reshape(-1)[3::11] = 1.0
    if mode == "multiclass":
        t = rng.integers(0, c, (n, h, w)).astype(np.int64)
        if ignore is not None:
            t[rng.random((n, h, w)) < 0.2] = ignore
        if empty:
            t[0] = ignore
        if preset.startswith("monai"):
            t = t[:, None]
    else:
        t = (rng.random((n, c, h, w)) if soft else (rng.random((n, c, h, w)) < 0.4)).astype(np.float32)
        if ignore is not None:
            t[rng.random((n, c, h, w)) < 0.2] = ignore
        if empty:
            t[0] = ignore
    return x, t


CASES = [
    ("smp.DiceLoss", {"mode": "binary", "smooth": 0.3}, "binary", True, None),
    ("smp.DiceLoss", {"mode": "multiclass", "ignore_index": 255, "log_loss": True}, "multiclass", False, 255),
    ("smp.DiceLoss", {"mode": "multilabel", "eps": 1e-5}, "multilabel", True, None),
    ("smp.JaccardLoss", {"mode": "multiclass", "smooth": 0.5}, "multiclass", False, None),
    ("smp.TverskyLoss", {"mode": "multilabel", "alpha": 0.2, "beta": 0.8, "gamma": 1.7, "ignore_index": 255}, "multilabel", True, 255),
    ("smp.FocalLoss", {"mode": "multiclass", "alpha": 0.3, "ignore_index": -100}, "multiclass", False, -100),
    ("smp.FocalLoss", {"mode": "binary", "gamma": 1.3}, "binary", True, None),
    ("smp.LovaszLoss", {"mode": "multiclass", "per_image": True}, "multiclass", False, None),
    ("smp.SoftBCEWithLogitsLoss", {"smooth_factor": 0.2, "pos_weight": [1.5]}, "multilabel", True, -100),
    ("smp.SoftCrossEntropyLoss", {"smooth_factor": 0.3}, "multiclass", False, -100),
    ("monai.DiceLoss", {"softmax": True, "to_onehot_y": True, "batch": True, "weight": 0.7}, "multiclass", False, None),
    ("monai.DiceLoss", {"sigmoid": True, "jaccard": True, "include_background": False}, "multilabel", True, None),
    ("monai.TverskyLoss", {"softmax": True, "to_onehot_y": True, "alpha": 0.1, "beta": 0.9, "reduction": "sum"}, "multiclass", False, None),
    ("monai.GeneralizedDiceLoss", {"sigmoid": True, "w_type": "simple", "batch": True}, "multilabel", False, None),
    ("monai.FocalLoss", {"alpha": 0.4, "gamma": 1.2}, "multilabel", True, None),
    ("monai.FocalLoss", {"use_softmax": True, "to_onehot_y": True, "gamma": 2.5, "reduction": "sum"}, "multiclass", False, None),
    ("monai.DiceCELoss", {"softmax": True, "to_onehot_y": True, "label_smoothing": 0.05, "lambda_ce": 0.3}, "multiclass", False, None),
    ("monai.DiceFocalLoss", {"sigmoid": True, "gamma": 1.0, "lambda_focal": 0.5}, "multilabel", False, None),
    ("kornia.dice_loss", {"average": "macro", "ignore_index": 255}, "multiclass", False, 255),
    ("kornia.tversky_loss", {"alpha": 0.4, "beta": 0.6}, "multiclass", False, None),
    ("kornia.focal_loss", {"alpha": 0.3, "gamma": 1.5, "reduction": "mean"}, "multiclass", False, -100),
    ("kornia.binary_focal_loss_with_logits", {"alpha": 0.6, "gamma": 2.5, "reduction": "sum"}, "multilabel", True, None),
    ("kornia.lovasz_softmax_loss", {}, "multiclass", False, None),
    ("torchvision.sigmoid_focal_loss", {"alpha": 0.4, "gamma": 1.0, "reduction": "mean"}, "multilabel", True, None),
]

# Per-channel parameters, and probabilities (from_logits=False, with a few exact 0s and 1s).
CASES += [
    ("smp.SoftBCEWithLogitsLoss", {"pos_weight": [[[0.5]], [[2.0]], [[4.0]]], "ignore_index": 255}, "multilabel3", True, 255),
    ("monai.FocalLoss", {"alpha": 0.3, "gamma": 1.5, "weight": [1.0, 0.5, 2.0]}, "multilabel3", True, None),
    ("monai.FocalLoss", {"alpha": 0.6, "to_onehot_y": True, "include_background": False, "reduction": "sum"}, "multiclass3", False, None),
    ("kornia.binary_focal_loss_with_logits", {"alpha": 0.3, "gamma": 1.5, "reduction": "mean", "pos_weight": [0.5, 2.0, 4.0],
                                              "weight": [1.0, 0.5, 3.0], "ignore_index": 255}, "multilabel3", True, 255),
    ("kornia.binary_focal_loss_with_logits", {"alpha": None, "reduction": "sum", "pos_weight": [1.5, 0.0, 2.0]}, "multilabel3", True, None),
    ("monai.FocalLoss", {"alpha": [0.2, 0.5, 0.9], "gamma": 1.5, "weight": [1.0, 0.5, 2.0]}, "multilabel3", False, None),
    ("monai.FocalLoss", {"alpha": [0.3, 0.6], "to_onehot_y": True, "include_background": False, "reduction": "sum",
                         "ignore_index": 255}, "multiclass3", False, 255),
    ("monai.FocalLoss", {"use_softmax": True, "to_onehot_y": True, "include_background": False}, "multiclass", False, None),
    ("monai.FocalLoss", {"use_softmax": True, "to_onehot_y": True, "include_background": False, "alpha": 0.3,
                         "reduction": "sum", "gamma": 1.5}, "multiclass", False, None),
    ("monai.FocalLoss", {"use_softmax": True, "to_onehot_y": True, "include_background": False,
                         "alpha": [0.2, 0.5], "weight": [2.0, 0.5]}, "multiclass3", False, None),
    ("smp.FocalLoss", {"mode": "binary", "from_logits": False, "alpha": 0.3}, "binary-probs", True, None),
    ("smp.FocalLoss", {"mode": "multiclass", "from_logits": False, "eps": 1e-4}, "multiclass-probs", False, None),
]

# Image 0 entirely ignored: peers that count such an image in a mean over images.
EMPTY = [
    ("kornia.dice_loss", {"average": "micro", "ignore_index": 255}, "multiclass", False, 255),
    ("kornia.dice_loss", {"average": "macro"}, "multiclass", False, -100),
    ("kornia.tversky_loss", {"alpha": 0.3, "beta": 0.7, "ignore_index": 255}, "multiclass", False, 255),
    ("monai.DiceLoss", {"softmax": True, "to_onehot_y": True, "ignore_index": 255, "smooth_nr": 0.5}, "multiclass", False, 255),
    ("monai.TverskyLoss", {"softmax": True, "to_onehot_y": True, "ignore_index": 255, "smooth_dr": 0.5}, "multiclass", False, 255),
    ("monai.FocalLoss", {"to_onehot_y": True, "ignore_index": 255, "reduction": "sum"}, "multiclass", False, 255),
    ("monai.FocalLoss", {"use_softmax": True, "to_onehot_y": True, "ignore_index": 255, "reduction": "sum"}, "multiclass", False, 255),
    ("smp.LovaszLoss", {"mode": "binary", "per_image": True, "ignore_index": 255}, "binary", False, 255),
    # (smp's multiclass per-image Lovasz returns a non-scalar for such a batch.)
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    bad = 0
    with tempfile.TemporaryDirectory() as d:
        for r in range(a.rounds):
            for k, (preset, params, mode, soft, ignore) in enumerate(CASES + EMPTY):
                x, t = case(rng, preset, params, mode, soft, ignore, empty=k >= len(CASES))
                xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
                tt = torch.tensor(t) if t.dtype == np.int64 else torch.tensor(t, dtype=torch.float64)
                if preset == "smp.LovaszLoss":
                    xt = torch.tensor(x, requires_grad=True)
                loss = peer(preset, params)(xt, tt)
                loss.backward()
                np.save(f"{d}/x.npy", x); np.save(f"{d}/t.npy", t)
                args = [BIN, "loss", "--logits", f"{d}/x.npy", "--targets", f"{d}/t.npy", "--json", "--backend",
                        a.backend, "--grad-out", f"{d}/g.npy", "--grad-dtype", "f64", preset]
                args += [f"{k}={json.dumps(v)}" for k, v in params.items()]
                out = subprocess.run(args, capture_output=True, text=True)
                if out.returncode != 0:
                    print(f"ERROR {preset} {params} {x.shape}: {out.stderr.strip()}"); bad += 1; continue
                got = json.loads(out.stdout)["loss"]
                g = np.load(f"{d}/g.npy"); want_g = xt.grad.double().numpy()
                rel = abs(got - loss.item()) / max(abs(loss.item()), 1e-12)
                gr = np.linalg.norm(g - want_g) / max(np.linalg.norm(want_g), 1e-300)
                ok = rel < 1e-5 and (gr < 1e-4 or np.linalg.norm(want_g) < 1e-12)
                bad += not ok
                print(f"{'ok  ' if ok else 'FAIL'} {preset:38} {str(x.shape):16} value rel {rel:.1e} grad rel {gr:.1e}")
    print(f"{bad} failures")
    sys.exit(1 if bad else 0)


main()
