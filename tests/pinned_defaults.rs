//! Defaults and parameters pinned by values worked out here from the published formulas,
//! with the parameter values written as literals (the seed's and the papers' defaults, and
//! MONAI's), never read from the crate: Focal α = 0.8, γ = 2; Dice/IoU/Tversky smoothing 1;
//! Combo α = β = 0.5, smoothing 1; BCE label smoothing t' = t(1 − s) + s/2 (and smp's
//! t' = t(1 − s) + (1 − t)s); MONAI's smooth_nr = smooth_dr = 1e-5, Tversky α = β = 0.5,
//! focal γ = 2, DiceCE λ = 1. The inputs are asymmetric (errors in t' or β do not cancel) and
//! chosen so that each parameter moves the value by far more than the tolerance: a 10×
//! change of any of them changes a value here by ≥ 8 % (the comments give the arithmetic),
//! against tolerances of 1e-9 (reference) and 1e-6 (GPU; presets 1e-5). Every parameter is pinned by
//! several tests: a value on the reference, a value on the GPU, and a gradient (finite
//! differences of the hand-written formula).
mod common;
use common::*;
use segloss::preset::{evaluate, Array, Preset};
use segloss::*;

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

/// Central finite differences (f64) of a hand-written loss of the logits.
fn fd(f: &dyn Fn(&[f64]) -> f64, x: &[f64]) -> Vec<f64> {
    let h = 1e-6;
    (0..x.len())
        .map(|i| {
            let mut a = x.to_vec();
            let mut b = x.to_vec();
            a[i] += h;
            b[i] -= h;
            (f(&a) - f(&b)) / (2.0 * h)
        })
        .collect()
}

/// Value on both engines (reference 1e-9, GPU 1e-6 relative) and gradient (reference and GPU
/// 1e-6 relative L2) against the hand-written loss `f` of the logits. On four pixels the GPU's
/// f32 is within ~1e-7, so 1e-6 also holds the per-pixel math (e.g. the log1p series).
fn pin(what: &str, x: &[f64], t: &[f32], dims: &[usize], term: Term, f: &dyn Fn(&[f64]) -> f64) {
    let want = f(x);
    let want_grad = fd(f, x);
    let xs: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    assert!(xs.iter().zip(x).all(|(&a, &b)| a as f64 == b), "{what}: logits must be f32 values");
    let batch = BinaryBatch::new(&xs, t, dims).unwrap();
    for (name, engine, rel) in [("reference", &Engine::cpu(), 1e-9), ("gpu", shared_gpu(), 1e-6)] {
        let out = engine.value_and_grad(&batch, std::slice::from_ref(&term)).unwrap();
        let got = out.forward.values[0];
        assert!(close(got, want, rel, 1e-12), "{what} ({name}): {got} vs by hand {want}");
        assert_grad(&format!("{what} ({name}) gradient"), &out.grad, &want_grad, rel.max(1e-6), 1e-9);
    }
}

// Four pixels of one image: p = 0.5, 0.5, 0.75, 0.25 (x = 0, 0, ln 3, −ln 3), t = 1, 0, 1, 0.
fn four() -> (Vec<f64>, Vec<f32>) {
    let l3 = 3f64.ln() as f32 as f64;
    (vec![0.0, 0.0, l3, -l3], vec![1.0, 0.0, 1.0, 0.0])
}

/// FL = α_t (1 − p_t)^γ (−ln p_t), mean.
fn focal_by_hand(alpha: f64, gamma: f64, t: &[f32]) -> impl Fn(&[f64]) -> f64 + '_ {
    move |x: &[f64]| {
        x.iter()
            .zip(t)
            .map(|(&x, &t)| {
                let p = sigmoid(x);
                let (pt, at) = if t == 1.0 { (p, alpha) } else { (1.0 - p, 1.0 - alpha) };
                at * (1.0 - pt).powf(gamma) * -pt.ln()
            })
            .sum::<f64>()
            / x.len() as f64
    }
}

#[test]
fn focal_default_is_alpha_0_8_gamma_2() {
    let _serial = serial();
    // Per pixel α_t (1 − p_t)² (−ln p_t):
    //   0.8·0.25·ln 2 = 0.138629,  0.2·0.25·ln 2 = 0.034657,
    //   0.8·0.0625·ln(4/3) = 0.014384,  0.2·0.0625·ln(4/3) = 0.003596;  mean 0.0478167.
    // γ = 20 gives 1.3e-7, γ = 0.2 gives 0.184; α = 0.08 gives 0.0180.
    let (x, t) = four();
    let f = focal_by_hand(0.8, 2.0, &t);
    assert!((f(&x) - 0.0478167).abs() < 1e-7, "{}", f(&x));
    pin("Focal::default()", &x, &t, &[1, 2, 2], Loss::Focal(Focal::default()).batch(), &f);
    // Per image: the same pixels as two images of two.
    pin("Focal::default() per image", &x, &t, &[2, 1, 2], Loss::Focal(Focal::default()).per_image(), &f);
    // A general γ and no α (the modulator's exp/log path and the α-free path).
    let g = focal_by_hand(0.5, 1.5, &t);
    let no_alpha = |x: &[f64]| 2.0 * g(x);
    let loss = Loss::Focal(Focal { alpha: None, gamma: 1.5, ..Focal::default() });
    pin("Focal γ 1.5, α None", &x, &t, &[1, 2, 2], loss.batch(), &no_alpha);
}

/// Dice, IoU and Tversky with the seed's smoothing 1 on p = 0.9, 0.6, 0.3, 0.05 (t = 1, 1, 0, 0).
fn region_case() -> (Vec<f64>, Vec<f32>) {
    // Logits rounded to f32 (what the engines read), so the hand values use the same inputs.
    let x = [0.9, 0.6, 0.3, 0.05].iter().map(|&p| logit(p) as f32 as f64).collect();
    (x, vec![1.0, 1.0, 0.0, 0.0])
}

#[test]
fn region_losses_default_smoothing_is_1() {
    let _serial = serial();
    // TP = 0.9 + 0.6 = 1.5, Σp = 1.85, Σt = 2, FP = 0.35, FN = 0.5.
    // Dice = 1 − (2·1.5 + 1)/(1.85 + 2 + 1) = 1 − 4/4.85 = 0.175258
    //   (smooth 10: 1 − 13/13.85 = 0.0614; smooth 0.1: 1 − 3.1/3.95 = 0.2152)
    // IoU = 1 − (1.5 + 1)/(1.85 + 2 − 1.5 + 1) = 1 − 2.5/3.35 = 0.253731   (smooth 10: 0.0985)
    // Tversky(0.5, 0.5) = 1 − 2.5/(1.5 + 0.175 + 0.25 + 1) = 1 − 2.5/2.925 = 0.145299
    let (x, t) = region_case();
    let sums = |x: &[f64]| {
        let p: Vec<f64> = x.iter().map(|&v| sigmoid(v)).collect();
        let tp: f64 = p.iter().zip(&t).map(|(p, &t)| p * t as f64).sum();
        let sp: f64 = p.iter().sum();
        (tp, sp, 2.0)
    };
    let dice = |x: &[f64]| {
        let (tp, sp, st) = sums(x);
        1.0 - (2.0 * tp + 1.0) / (sp + st + 1.0)
    };
    let iou = |x: &[f64]| {
        let (tp, sp, st) = sums(x);
        1.0 - (tp + 1.0) / (sp + st - tp + 1.0)
    };
    let tversky = |x: &[f64]| {
        let (tp, sp, st) = sums(x);
        1.0 - (tp + 1.0) / (tp + 0.5 * (sp - tp) + 0.5 * (st - tp) + 1.0)
    };
    assert!((dice(&x) - 0.175258).abs() < 1e-6 && (iou(&x) - 0.253731).abs() < 1e-6);
    assert!((tversky(&x) - 0.145299).abs() < 1e-6);
    pin("Dice::default()", &x, &t, &[1, 2, 2], Loss::Dice(Dice::default()).batch(), &dice);
    pin("Iou::default()", &x, &t, &[1, 1, 4], Loss::Iou(Iou::default()).per_image(), &iou);
    pin("Tversky::default()", &x, &t, &[1, 4, 1], Loss::Tversky(Tversky::default()).batch(), &tversky);
    // BCE-Dice: weights 1 and 1, BCE mean of −ln p_t = (−ln 0.9 − ln 0.6 − ln 0.7 − ln 0.95)/4.
    let bce_dice = |x: &[f64]| {
        let bce: f64 =
            x.iter().zip(&t).map(|(&x, &t)| if t == 1.0 { -sigmoid(x).ln() } else { -(1.0 - sigmoid(x)).ln() }).sum();
        bce / 4.0 + dice(x)
    };
    pin("BceDice::default()", &x, &t, &[1, 2, 2], Loss::BceDice(BceDice::default()).batch(), &bce_dice);
}

/// α·WCE_β − (1 − α)·Dice, WCE_β = mean[−β t ln p − (1 − β)(1 − t) ln(1 − p)],
/// Dice = (2TP + s)/(Σp + Σt + s).
fn combo_by_hand(alpha: f64, beta: f64, smooth: f64, t: &[f32]) -> impl Fn(&[f64]) -> f64 + '_ {
    move |x: &[f64]| {
        let p: Vec<f64> = x.iter().map(|&v| sigmoid(v)).collect();
        let n = p.len() as f64;
        let wce: f64 = p
            .iter()
            .zip(t)
            .map(|(&p, &t)| {
                let t = t as f64;
                -beta * t * p.ln() - (1.0 - beta) * (1.0 - t) * (1.0 - p).ln()
            })
            .sum::<f64>()
            / n;
        let tp: f64 = p.iter().zip(t).map(|(p, &t)| p * t as f64).sum();
        let sp: f64 = p.iter().sum();
        let st: f64 = t.iter().map(|&t| t as f64).sum();
        alpha * wce - (1.0 - alpha) * (2.0 * tp + smooth) / (sp + st + smooth)
    }
}

#[test]
fn combo_default_and_beta() {
    let _serial = serial();
    // p = 0.9, 0.6, 0.3, 0.05; t = 1, 1, 0, 0 (positives and negatives with different losses,
    // so β and 1 − β are not interchangeable):
    //   −ln p on the positives: 0.105361 + 0.510826 = 0.616186
    //   −ln(1 − p) on the negatives: 0.356675 + 0.051293 = 0.407968
    // default (α = β = 0.5, s = 1): WCE = (0.5·0.616186 + 0.5·0.407968)/4 = 0.128019,
    //   Dice = 4/4.85 = 0.824742: Combo = 0.5·0.128019 − 0.5·0.824742 = −0.348361
    //   (β = 0.05: WCE = 0.0558 → −0.3845; β and 1 − β swapped at β = 0.7 below: differs by 0.0104)
    // α = 0.3, β = 0.7: WCE = (0.7·0.616186 + 0.3·0.407968)/4 = 0.138431,
    //   Combo = 0.3·0.138431 − 0.7·0.824742 = −0.535790
    let (x, t) = region_case();
    let f = combo_by_hand(0.5, 0.5, 1.0, &t);
    assert!((f(&x) + 0.348361).abs() < 1e-6, "{}", f(&x));
    pin("Combo::default()", &x, &t, &[1, 2, 2], Loss::Combo(Combo::default()).batch(), &f);
    let g = combo_by_hand(0.3, 0.7, 1.0, &t);
    assert!((g(&x) + 0.535790).abs() < 1e-6, "{}", g(&x));
    let c = Combo { ce_ratio: 0.3, beta: 0.7, ..Combo::default() };
    pin("Combo α 0.3 β 0.7", &x, &t, &[1, 2, 2], Loss::Combo(c).batch(), &g);
    let h = combo_by_hand(0.6, 0.2, 0.0, &t);
    let c = Combo { ce_ratio: 0.6, beta: 0.2, smooth: 0.0, ..Combo::default() };
    pin("Combo α 0.6 β 0.2 s 0", &x, &t, &[2, 1, 2], Loss::Combo(c).batch(), &h);
}

/// −[w t' ln p + (1 − t') ln(1 − p)], t' = t(1 − s) + s/2, mean.
fn bce_by_hand(w: f64, s: f64, t: &[f32]) -> impl Fn(&[f64]) -> f64 + '_ {
    move |x: &[f64]| {
        x.iter()
            .zip(t)
            .map(|(&x, &t)| {
                let ts = t as f64 * (1.0 - s) + s / 2.0;
                let p = sigmoid(x);
                -(w * ts * p.ln() + (1.0 - ts) * (1.0 - p).ln())
            })
            .sum::<f64>()
            / x.len() as f64
    }
}

#[test]
fn bce_label_smoothing_on_asymmetric_inputs() {
    let _serial = serial();
    // Confident and right on the positives, unsure on the negatives, so that moving t'
    // towards 1/2 does not cancel between the classes:
    // p = 0.9, 0.6, 0.3, 0.05; t = 1, 1, 0, 0; s = 0.1: t' = 0.95, 0.95, 0.05, 0.05.
    //   pixel 1: −(0.95 ln 0.9 + 0.05 ln 0.1) = 0.100093 + 0.115129 = 0.215222
    //   pixel 2: −(0.95 ln 0.6 + 0.05 ln 0.4) = 0.485285 + 0.045815 = 0.531100
    //   pixel 3: −(0.05 ln 0.3 + 0.95 ln 0.7) = 0.060199 + 0.338841 = 0.399040
    //   pixel 4: −(0.05 ln 0.05 + 0.95 ln 0.95) = 0.149787 + 0.048728 = 0.198515
    //   mean 0.335969 (unsmoothed: 0.256039; t' = t(1 − s) + s: 0.3534; t' = t(1 − s): 0.3185)
    let (x, t) = region_case();
    let f = bce_by_hand(1.0, 0.1, &t);
    assert!((f(&x) - 0.335969).abs() < 2e-6, "{}", f(&x));
    let bce = Bce { label_smoothing: 0.1, ..Bce::default() };
    pin("Bce s 0.1", &x, &t, &[1, 2, 2], Loss::Bce(bce).batch(), &f);
    let g = bce_by_hand(2.5, 0.3, &t);
    let bce = Bce { pos_weight: 2.5, label_smoothing: 0.3, ..Bce::default() };
    pin("Bce w 2.5 s 0.3", &x, &t, &[2, 2, 1], Loss::Bce(bce).per_image(), &g);
    // BceDice passes its smoothing to the BCE part.
    let dice_plus = |x: &[f64]| {
        let p: Vec<f64> = x.iter().map(|&v| sigmoid(v)).collect();
        let tp = p[0] + p[1];
        let sp: f64 = p.iter().sum();
        bce_by_hand(1.0, 0.2, &t)(x) + 1.0 - (2.0 * tp + 1.0) / (sp + 2.0 + 1.0)
    };
    let bd = BceDice { bce: Bce { label_smoothing: 0.2, ..Bce::default() }, ..BceDice::default() };
    pin("BceDice s 0.2", &x, &t, &[1, 2, 2], Loss::BceDice(bd).batch(), &dice_plus);
}

fn preset_value(engine: &Engine, name: &str, kw: serde_json::Value, x: &[f64], t: &[f64], dims: &[usize]) -> f64 {
    let preset = Preset::parse(name, &kw).unwrap();
    let parts = preset.parts(dims[1]).unwrap();
    let xa = Array::Float(dims.to_vec(), x.to_vec());
    let ta = Array::Float(dims.to_vec(), t.to_vec());
    evaluate(engine, &parts, &xa, &ta, false).unwrap().total
}

fn pin_preset(name: &str, kw: serde_json::Value, x: &[f64], t: &[f64], dims: &[usize], want: f64) {
    for (engine_name, engine, rel) in [("reference", &Engine::cpu(), 1e-9), ("gpu", shared_gpu(), 1e-5)] {
        let got = preset_value(engine, name, kw.clone(), x, t, dims);
        assert!(close(got, want, rel, 1e-12), "{name} {kw} ({engine_name}): {got} vs by hand {want}");
    }
}

#[test]
fn smp_smooth_factor_on_asymmetric_inputs() {
    let _serial = serial();
    // smp.SoftBCEWithLogitsLoss: t' = (1 − t)s + t(1 − s), torch BCE-with-logits, mean.
    // s = 0.1 on the case above: t' = 0.9, 0.9, 0.1, 0.1:
    //   −(0.9 ln 0.9 + 0.1 ln 0.1) = 0.325084, −(0.9 ln 0.6 + 0.1 ln 0.4) = 0.551372,
    //   −(0.1 ln 0.3 + 0.9 ln 0.7) = 0.441405, −(0.1 ln 0.05 + 0.9 ln 0.95) = 0.345737; mean 0.415899.
    let (x, t) = region_case();
    let t64: Vec<f64> = t.iter().map(|&v| v as f64).collect();
    let want = x
        .iter()
        .zip(&t64)
        .map(|(&x, &t)| {
            let ts = (1.0 - t) * 0.1 + t * 0.9;
            -(ts * sigmoid(x).ln() + (1.0 - ts) * (1.0 - sigmoid(x)).ln())
        })
        .sum::<f64>()
        / 4.0;
    assert!((want - 0.415899).abs() < 2e-6, "{want}");
    pin_preset("smp.SoftBCEWithLogitsLoss", serde_json::json!({"smooth_factor": 0.1}), &x, &t64, &[1, 1, 2, 2], want);
}

#[test]
fn monai_defaults() {
    let _serial = serial();
    // Two images of 2×2, one channel, sigmoid. Image 0: no true pixel, p = 2.5e-6 everywhere
    // (Σp = 1e-5, as small as MONAI's smoothing, so the smoothing decides the value);
    // image 1: p = 0.9, 0.6, 0.3, 0.05 with t = 1, 1, 0, 0.
    let dims = [2, 1, 2, 2];
    let mut x = vec![logit(2.5e-6) as f32 as f64; 4];
    x.extend(region_case().0);
    let t = vec![0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0];
    let p: Vec<f64> = x.iter().map(|&v| sigmoid(v)).collect();
    let img = |k: usize| k * 4..k * 4 + 4;
    let stats = |k: usize| {
        let tp: f64 = img(k).map(|i| p[i] * t[i]).sum();
        let sp: f64 = img(k).map(|i| p[i]).sum();
        let st: f64 = img(k).map(|i| t[i]).sum();
        (tp, sp, st)
    };
    let (nr, dr) = (1e-5, 1e-5);
    // DiceLoss: per (image, channel) 1 − (2TP + nr)/(Σp + Σt + dr), mean.
    //   image 0: 1 − 1e-5/(1e-5 + 1e-5) = 0.5 (smooth_nr 1e-4: −4; smooth_dr 1e-4: 0.909)
    //   image 1: 1 − 3/3.85 = 0.220779;  mean 0.360390
    let dice = (0..2)
        .map(|k| {
            let (tp, sp, st) = stats(k);
            1.0 - (2.0 * tp + nr) / (sp + st + dr)
        })
        .sum::<f64>()
        / 2.0;
    assert!((dice - 0.360390).abs() < 1e-5, "{dice}");
    pin_preset("monai.DiceLoss", serde_json::json!({"sigmoid": true}), &x, &t, &dims, dice);
    // TverskyLoss: 1 − (TP + nr)/(TP + α·fp + β·fn + dr), α = β = 0.5, fp = Σp(1−t), fn = Σ(1−p)t.
    //   image 0: 1 − 1e-5/(0.5e-5 + 1e-5) = 1/3 (smooth 10×: −5 or 0.818; α = 0.05: 0.0476)
    let tversky = (0..2)
        .map(|k| {
            let (tp, sp, st) = stats(k);
            1.0 - (tp + nr) / (tp + 0.5 * (sp - tp) + 0.5 * (st - tp) + dr)
        })
        .sum::<f64>()
        / 2.0;
    pin_preset("monai.TverskyLoss", serde_json::json!({"sigmoid": true}), &x, &t, &dims, tversky);
    // FocalLoss (sigmoid, no α): mean over elements of (1 − p_t)^γ·(−ln p_t), γ = 2.
    //   image 1: 0.01·0.105361 + 0.16·0.510826 + 0.09·0.356675 + 0.0025·0.051293 = 0.114975;
    //   image 0: ≈ 0; mean over 8: 0.014372 (γ = 20: 4.6e-9; γ = 0.2: 0.143)
    let focal = (0..8)
        .map(|i| {
            let pt = if t[i] == 1.0 { p[i] } else { 1.0 - p[i] };
            (1.0 - pt).powi(2) * -pt.ln()
        })
        .sum::<f64>()
        / 8.0;
    assert!((focal - 0.014372).abs() < 1e-5, "{focal}");
    pin_preset("monai.FocalLoss", serde_json::json!({}), &x, &t, &dims, focal);
    // DiceCELoss, one channel: λ_dice·Dice + λ_ce·BCE-with-logits (mean), λ = 1 and 1.
    let bce = (0..8).map(|i| if t[i] == 1.0 { -p[i].ln() } else { -(1.0 - p[i]).ln() }).sum::<f64>() / 8.0;
    pin_preset("monai.DiceCELoss", serde_json::json!({"sigmoid": true}), &x, &t, &dims, dice + bce);
}

/// 1 − MCC of the soft confusion matrix, each entry + eps, computed from the products
/// (not from the sums' identities the crate uses).
fn mcc_by_hand(eps: f64, nr: f64, dr: f64, t: &[f32]) -> impl Fn(&[f64]) -> f64 + '_ {
    move |x: &[f64]| {
        let (mut tp, mut fp, mut fn_, mut tn) = (eps, eps, eps, eps);
        for (&x, &t) in x.iter().zip(t) {
            let (p, t) = (sigmoid(x), t as f64);
            tp += p * t;
            fp += p * (1.0 - t);
            fn_ += (1.0 - p) * t;
            tn += (1.0 - p) * (1.0 - t);
        }
        1.0 - (tp * tn - fp * fn_ + nr) / ((tp + fp) * (tp + fn_) * (tn + fp) * (tn + fn_) + dr).sqrt()
    }
}

#[test]
fn mcc_defaults_are_monais_and_smps() {
    let _serial = serial();
    // region_case: TP = 1.5, FP = 0.35, FN = 0.5, TN = 0.1 + 0.7 + 0.95 − 0.1 … = 1.65 (Σ(1−p)(1−t)
    // = 0.7 + 0.95), num = 1.5·1.65 − 0.35·0.5 = 2.3, product = 1.85·2·2·2.15 = 15.91:
    // MONAI (eps 0, smooth_nr 0, smooth_dr 1e-5): 1 − 2.3/sqrt(15.91001) = 0.423377.
    let (x, t) = region_case();
    let monai = mcc_by_hand(0.0, 0.0, 1e-5, &t);
    assert!((monai(&x) - 0.423377).abs() < 1e-6, "{}", monai(&x));
    pin("Mcc::default()", &x, &t, &[1, 2, 2], Loss::Mcc(Mcc::default()).batch(), &monai);
    // smp: eps 1e-5 on each entry, no smoothing.
    let smp = mcc_by_hand(1e-5, 0.0, 0.0, &t);
    pin("Mcc::smp(1e-5)", &x, &t, &[1, 1, 4], Loss::Mcc(Mcc::smp(1e-5)).per_image(), &smp);
    // A nearly empty target pins smooth_dr: p = 0.9, 0.2 on t = 0.01, 0: TP = 0.009,
    // FP = 1.091, FN = 0.001, TN = 0.899, num = 0.007, product = 1.1·0.01·1.99·0.9 = 0.019701:
    // 1 − 0.007/sqrt(0.019711) = 0.950141; smooth_dr 1e-4 gives 0.950255, 1e-6 gives 0.950129.
    let x2: Vec<f64> = [0.9, 0.2].iter().map(|&p| logit(p) as f32 as f64).collect();
    let t2 = [0.01f32, 0.0];
    let monai2 = mcc_by_hand(0.0, 0.0, 1e-5, &t2);
    assert!((monai2(&x2) - 0.950141).abs() < 2e-6, "{}", monai2(&x2));
    pin("Mcc::default() near-empty target", &x2, &t2, &[1, 1, 2], Loss::Mcc(Mcc::default()).batch(), &monai2);
    // MONAI's perfect segment: probabilities equal to hard targets score 0 (not 1 − 0/sqrt(1e-5)
    // = 1 on an all-background image); smp keeps its formula.
    let p = [1.0f32, 0.0, 0.0, 1.0, 0.0, 0.0];
    let tt = [1.0f32, 0.0, 0.0, 1.0, 0.0, 0.0];
    let bg = [0.0f32; 6];
    for engine in [&Engine::cpu(), shared_gpu()] {
        for target in [&tt, &bg] {
            let pred: &[f32] = if target == &bg { &bg } else { &p };
            let b = BinaryBatch::new(pred, target, &[1, 2, 3]).unwrap().probabilities();
            let out = engine.value_and_grad(&b, &[Loss::Mcc(Mcc::default()).per_image()]).unwrap();
            assert_eq!(out.forward.values[0], 0.0, "perfect segment");
            assert!(out.grad.iter().all(|&g| g == 0.0), "perfect segment: no gradient");
        }
        // smp on the perfect 2-of-6 segment: TP = 2, TN = 4, FP = FN = 0 (+1e-5 each):
        // 1 − (8 − 1e-10)/sqrt(2·2·4·4 (each + 2e-5)) = 1 − 8/8 ≈ 1e-5 · (3/4 …) ≠ 0 but tiny.
        let b = BinaryBatch::new(&p, &tt, &[1, 2, 3]).unwrap().probabilities();
        let v = engine.forward(&b, &[Loss::Mcc(Mcc::smp(1e-5)).batch()]).unwrap().values[0];
        let want = {
            let e: f64 = 1e-5;
            1.0 - ((2.0 + e) * (4.0 + e) - e * e)
                / ((2.0 + 2.0 * e) * (2.0 + 2.0 * e) * (4.0 + 2.0 * e) * (4.0 + 2.0 * e)).sqrt()
        };
        assert!((v - want).abs() < 1e-6, "smp perfect: {v} vs {want}");
    }
}
