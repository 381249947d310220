//! Per-pixel terms in float64: the reference of `shaders/prelude.wgsl` (`activate`,
//! `pixel_sums`, `pixel_grad`), function by function.

use crate::batch::InputKind;
use crate::loss::{Coefficients, PixelParams};
use crate::stats::Stats;

/// Below the smallest normal f32, −ln p is taken as 100 (PyTorch's BCELoss clamp).
pub const LOG_CLAMP: f64 = 100.0;

/// The activated input: p, q = 1 − p, −ln p, −ln q, and dp/dinput.
#[derive(Debug, Clone, Copy)]
pub struct Activation {
    /// p
    pub p: f64,
    /// 1 − p
    pub q: f64,
    /// −ln p
    pub nlp: f64,
    /// −ln(1 − p)
    pub nlq: f64,
    /// d(−ln p)/d input
    pub d_nlp: f64,
    /// d(−ln(1−p))/d input
    pub d_nlq: f64,
    /// dp/d input
    pub dp: f64,
}

/// Sigmoid and its logs from a logit without cancellation (z = e^−|x|), or the clamped
/// logs of a probability.
pub fn activate(x: f64, kind: InputKind) -> Activation {
    match kind {
        InputKind::Logits => {
            let z = (-x.abs()).exp();
            let l = z.ln_1p();
            let (p, q, nlp, nlq) = if x >= 0.0 {
                (1.0 / (1.0 + z), z / (1.0 + z), l, x + l)
            } else {
                (z / (1.0 + z), 1.0 / (1.0 + z), -x + l, l)
            };
            Activation { p, q, nlp, nlq, d_nlp: -q, d_nlq: p, dp: p * q }
        }
        InputKind::Probabilities => {
            let (p, q) = (x, 1.0 - x);
            let min = f32::MIN_POSITIVE as f64;
            let (nlp, d_nlp) = if p >= min { (-p.ln(), -1.0 / p) } else { (LOG_CLAMP, 0.0) };
            let (nlq, d_nlq) = if q >= min { (-q.ln(), 1.0 / q) } else { (LOG_CLAMP, 0.0) };
            Activation { p, q, nlp, nlq, d_nlp, d_nlq, dp: 1.0 }
        }
    }
}

/// Whether the pixel is predicted positive: x ≥ 0 for logits, p ≥ 0.5 for probabilities.
pub fn predicted_positive(x: f64, kind: InputKind) -> bool {
    match kind {
        InputKind::Logits => x >= 0.0,
        InputKind::Probabilities => x >= 0.5,
    }
}

/// The focal pieces: (α_t, 1 − p_t, (1 − p_t)^γ, BCE without weights).
fn focal_parts(a: &Activation, t: f64, pp: &PixelParams) -> (f64, f64, f64, f64) {
    let alpha_t = pp.focal_alpha.map_or(1.0, |al| al * t + (1.0 - al) * (1.0 - t));
    let qt = a.p * (1.0 - t) + t * a.q;
    let modulator = if pp.focal_gamma == 0.0 { 1.0 } else { qt.powf(pp.focal_gamma) };
    let bce0 = t * a.nlp + (1.0 - t) * a.nlq;
    (alpha_t, qt, modulator, bce0)
}

/// Adds one valid pixel to `s` (inputs in f64, so that finite differences can probe it).
pub fn pixel_sums(s: &mut Stats, x: f64, t: f64, kind: InputKind, pp: &PixelParams) {
    let a = activate(x, kind);
    let p = a.p;
    s.sp += p;
    s.st += t;
    s.tp += p * t;
    s.spp += p * p;
    s.stt += t * t;
    s.sad += (p - t).abs();
    let ts = t * (1.0 - pp.label_smoothing) + 0.5 * pp.label_smoothing;
    s.bce += pp.pos_weight * ts * a.nlp + (1.0 - ts) * a.nlq;
    s.wce += pp.wce_beta * t * a.nlp + (1.0 - pp.wce_beta) * (1.0 - t) * a.nlq;
    let (alpha_t, _, modulator, bce0) = focal_parts(&a, t, pp);
    s.focal += alpha_t * modulator * bce0;
    s.count += 1;
    let pred = predicted_positive(x, kind);
    let truth = t >= 0.5;
    s.hard_tp += (pred && truth) as u64;
    s.hard_fp += (pred && !truth) as u64;
    s.hard_fn += (!pred && truth) as u64;
}

/// dL/dinput of one valid pixel given its segment's coefficients ∂L/∂S.
pub fn pixel_grad(x: f64, t: f64, kind: InputKind, pp: &PixelParams, c: &Coefficients) -> f64 {
    let a = activate(x, kind);
    let p = a.p;
    let sign = if p > t {
        1.0
    } else if p < t {
        -1.0
    } else {
        0.0
    };
    let region = c.sp + c.tp * t + c.spp * 2.0 * p + c.sad * sign;
    let mut g = region * a.dp;
    let ts = t * (1.0 - pp.label_smoothing) + 0.5 * pp.label_smoothing;
    g += c.bce * (pp.pos_weight * ts * a.d_nlp + (1.0 - ts) * a.d_nlq);
    g += c.wce * (pp.wce_beta * t * a.d_nlp + (1.0 - pp.wce_beta) * (1.0 - t) * a.d_nlq);
    let (alpha_t, qt, modulator, bce0) = focal_parts(&a, t, pp);
    let d_bce0 = t * a.d_nlp + (1.0 - t) * a.d_nlq;
    // d(qt^γ)/dinput · bce0 = γ·(bce0/qt)·qt^γ·dqt: bounded where qt → 0.
    let d_qt = (1.0 - 2.0 * t) * a.dp;
    let focus = if qt > 0.0 && pp.focal_gamma != 0.0 { pp.focal_gamma * (bce0 / qt) * modulator * d_qt } else { 0.0 };
    g += c.focal * alpha_t * (d_bce0 * modulator + focus);
    g
}
