//! Per-pixel terms in float64: the reference of `shaders/prelude.wgsl` (`activate`,
//! `pixel_sums`, `pixel_grad`), function by function.

use crate::batch::InputKind;
use crate::pixel::{FocalForm, PixelParams};
use crate::stats::Coefficients;
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

/// 1 − p_t of the focal factor and its derivative with respect to the input, by form
/// (`focal_qt` in prelude.wgsl).
fn focal_qt(a: &Activation, t: f64, bce0: f64, d_bce0: f64, form: FocalForm) -> (f64, f64) {
    match form {
        FocalForm::ExpBce => (-(-bce0).exp_m1(), (-bce0).exp() * d_bce0),
        FocalForm::LogSigmoid => {
            let k = 1.0 - 2.0 * t;
            let u = (a.nlq - a.nlp) * k;
            let z = (-u.abs()).exp();
            let s = if u >= 0.0 { 1.0 / (1.0 + z) } else { z / (1.0 + z) };
            (s, s * (1.0 - s) * k * (a.d_nlq - a.d_nlp))
        }
        FocalForm::Probability | FocalForm::PerTerm => (a.p * (1.0 - t) + t * a.q, (1.0 - 2.0 * t) * a.dp),
    }
}

fn modulator(q: f64, gamma: f64) -> f64 {
    if gamma == 0.0 {
        1.0
    } else {
        q.powf(gamma)
    }
}

/// One pixel's focal loss and its derivative with respect to the input (`focal_pixel`).
pub fn focal_pixel(a: &Activation, t: f64, pp: &PixelParams) -> (f64, f64) {
    let g = pp.focal_gamma;
    if pp.focal_form == FocalForm::PerTerm {
        let (wp, wn) = pp.focal_alpha.map_or((1.0, 1.0), |al| (al, 1.0 - al));
        let (mq, mp) = (modulator(a.q, g), modulator(a.p, g));
        let dq = if a.q > 0.0 && g != 0.0 { -g * (a.nlp / a.q) * mq * a.dp } else { 0.0 };
        let dp = if a.p > 0.0 && g != 0.0 { g * (a.nlq / a.p) * mp * a.dp } else { 0.0 };
        let v = t * wp * mq * a.nlp + (1.0 - t) * wn * mp * a.nlq;
        let d = t * wp * (mq * a.d_nlp + dq) + (1.0 - t) * wn * (mp * a.d_nlq + dp);
        return (v, d);
    }
    let alpha_t = pp.focal_alpha.map_or(1.0, |al| al * t + (1.0 - al) * (1.0 - t));
    let bce0 = t * a.nlp + (1.0 - t) * a.nlq;
    let d_bce0 = t * a.d_nlp + (1.0 - t) * a.d_nlq;
    let (qt, d_qt) = focal_qt(a, t, bce0, d_bce0, pp.focal_form);
    let m = modulator(qt, g);
    // d(qt^γ)/dinput · bce0 = γ·(bce0/qt)·qt^γ·dqt: bounded where qt → 0.
    let focus = if qt > 0.0 && g != 0.0 { g * (bce0 / qt) * m * d_qt } else { 0.0 };
    (alpha_t * m * bce0, alpha_t * (d_bce0 * m + focus))
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
    s.focal += focal_pixel(&a, t, pp).0;
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
    let region = c.sp + c.tp * t + c.spp * 2.0 * p + c.sad * sign + c.smin * (1.0 - sign) / 2.0;
    let mut g = region * a.dp;
    let ts = t * (1.0 - pp.label_smoothing) + 0.5 * pp.label_smoothing;
    g += c.bce * (pp.pos_weight * ts * a.d_nlp + (1.0 - ts) * a.d_nlq);
    g += c.wce * (pp.wce_beta * t * a.d_nlp + (1.0 - pp.wce_beta) * (1.0 - t) * a.d_nlq);
    g += c.focal * focal_pixel(&a, t, pp).1;
    g
}
