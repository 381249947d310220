//! The float64 reference of the multiclass passes (`class_stats.wgsl`, `class_grad.wgsl`):
//! softmax per pixel, per-(image, class) sums, the confusion matrix, and the gradient
//! through the softmax.

use crate::batch::MulticlassBatch;
use crate::error::Result;
use crate::stats::Coefficients;
use crate::stats::Stats;

/// One pixel's softmax pieces: log-sum-exp, argmax (lowest index on ties) and
/// q = 1 − p_k for the target class k, computed as Σ_{j≠k} e^{x_j−m} / Σ_j e^{x_j−m}
/// (no cancellation when p_k → 1).
#[derive(Debug, Clone, Copy)]
pub struct PixelSoftmax {
    /// ln Σ_c e^{x_c}
    pub lse: f64,
    /// argmax_c x_c
    pub argmax: usize,
    /// 1 − p_k
    pub q: f64,
}

/// The softmax of logits `x` (one pixel, all classes) with target class `k`.
pub fn softmax_pixel(x: &[f64], k: usize) -> PixelSoftmax {
    let mut argmax = 0;
    for (c, &v) in x.iter().enumerate() {
        if v > x[argmax] {
            argmax = c;
        }
    }
    let m = x[argmax];
    let (mut s, mut s_not_k) = (0.0, 0.0);
    for (c, &v) in x.iter().enumerate() {
        let e = (v - m).exp();
        s += e;
        if c != k {
            s_not_k += e;
        }
    }
    PixelSoftmax { lse: m + s.ln(), argmax, q: s_not_k / s }
}

/// (1 − p_k)^γ with 0^γ = 0 for γ > 0 and anything^0 = 1.
pub fn focal_modulator(q: f64, gamma: f64) -> f64 {
    if gamma == 0.0 {
        1.0
    } else {
        q.powf(gamma)
    }
}

/// Adds one valid pixel (logits `x`, target `k`) to the class rows `rows` (length C).
pub fn class_pixel_sums(rows: &mut [Stats], x: &[f64], k: usize, gamma: f64) {
    let sm = softmax_pixel(x, k);
    for (c, s) in rows.iter_mut().enumerate() {
        let nl = sm.lse - x[c];
        let p = (-nl).exp();
        let t = (c == k) as u8 as f64;
        s.sp += p;
        s.st += t;
        s.tp += p * t;
        s.spp += p * p;
        s.stt += t;
        s.sad += (p - t).abs();
        s.wce += nl;
        if c == k {
            s.bce += nl;
            s.focal += focal_modulator(sm.q, gamma) * nl;
        }
        s.count += 1;
        let pred = sm.argmax == c;
        s.hard_tp += (pred && c == k) as u64;
        s.hard_fp += (pred && c != k) as u64;
        s.hard_fn += (!pred && c == k) as u64;
    }
}

/// dL/dx_j of one valid pixel for every class j, given its image's class rows'
/// coefficients: region terms through the softmax Jacobian, the ln p terms and the focal
/// term in closed form.
pub fn class_pixel_grad(x: &[f64], k: usize, gamma: f64, coefs: &[Coefficients]) -> Vec<f64> {
    let sm = softmax_pixel(x, k);
    let p: Vec<f64> = x.iter().map(|&v| (v - sm.lse).exp()).collect();
    let g: Vec<f64> = (0..x.len())
        .map(|c| {
            let cf = &coefs[c];
            let t = (c == k) as u8 as f64;
            let sign = if p[c] > t {
                1.0
            } else if p[c] < t {
                -1.0
            } else {
                0.0
            };
            cf.sp + cf.tp * t + cf.spp * 2.0 * p[c] + cf.sad * sign + cf.smin * (1.0 - sign) / 2.0
        })
        .collect();
    let a: Vec<f64> = (0..x.len()).map(|c| -(coefs[c].wce + if c == k { coefs[c].bce } else { 0.0 })).collect();
    let big_g: f64 = g.iter().zip(&p).map(|(g, p)| g * p).sum();
    let big_a: f64 = a.iter().sum();
    // Focal term F(p_k) = q^γ·L, L = −ln p_k: p_k·F′(p_k) = −q^γ·(γ·p_k·L/q + 1).
    let l = sm.lse - x[k];
    let r = if sm.q > 0.0 { l / sm.q } else { 1.0 };
    let h = -coefs[k].focal * focal_modulator(sm.q, gamma) * (gamma * p[k] * r + 1.0);
    (0..x.len())
        .map(|j| {
            let delta = (j == k) as u8 as f64;
            p[j] * (g[j] - big_g) + a[j] - p[j] * big_a + h * (delta - p[j])
        })
        .collect()
}

/// Logits of pixel `i` of image `n`, all classes, in f64.
fn pixel_logits(batch: &MulticlassBatch, n: usize, i: usize) -> Vec<f64> {
    let (c, hw) = (batch.classes, batch.shape.pixels());
    (0..c).map(|k| batch.logits[(n * c + k) * hw + i] as f64).collect()
}

/// The valid target class of a pixel, or `None` when it is ignored.
fn target_class(batch: &MulticlassBatch, flat: usize) -> Option<u32> {
    let k = batch.target.get(flat);
    (batch.ignore_index != Some(k)).then_some(k)
}

/// Per-(image, class) rows and the C×C confusion matrix (row = target, column = argmax),
/// or the error of the first bad pixel (pixel order).
pub fn class_stats_pass(batch: &MulticlassBatch, gamma: f64) -> Result<(Vec<Stats>, Vec<u64>)> {
    let (c, hw) = (batch.classes, batch.shape.pixels());
    let mut rows = vec![Stats::default(); batch.shape.n * c];
    let mut confusion = vec![0u64; c * c];
    let mut bad = [None, None];
    for flat in 0..batch.shape.len() {
        let (n, i) = (flat / hw, flat % hw);
        let x = pixel_logits(batch, n, i);
        let Some(k) = check_pixel(batch, flat, &x, &mut bad) else { continue };
        class_pixel_sums(&mut rows[n * c..(n + 1) * c], &x, k, gamma);
        confusion[k * c + softmax_pixel(&x, k).argmax] += 1;
    }
    match batch.data_error(bad[0], bad[1]) {
        Some(e) => Err(e),
        None => Ok((rows, confusion)),
    }
}

/// The data checks of the multiclass pass for one pixel (logits `x`): records the first
/// pixel with a non-finite logit and the first with a class ≥ C; returns the class of a
/// valid pixel to accumulate.
fn check_pixel(batch: &MulticlassBatch, flat: usize, x: &[f64], bad: &mut [Option<usize>; 2]) -> Option<usize> {
    if bad[0].is_none() && x.iter().any(|v| !v.is_finite()) {
        bad[0] = Some(flat);
    }
    let k = target_class(batch, flat)?;
    if bad[1].is_none() && k as usize >= batch.classes {
        bad[1] = Some(flat);
    }
    (bad[0].is_none() && bad[1].is_none()).then_some(k as usize)
}

/// The first bad pixel of `batch` as an error (the same checks as the forward pass), for
/// paths that run no forward pass.
pub fn check_data(batch: &MulticlassBatch) -> Option<crate::Error> {
    let hw = batch.shape.pixels();
    let mut bad = [None, None];
    for flat in 0..batch.shape.len() {
        check_pixel(batch, flat, &pixel_logits(batch, flat / hw, flat % hw), &mut bad);
    }
    batch.data_error(bad[0], bad[1])
}

/// dL/dlogits `[N, C, H, W]` given per-(image, class) coefficients; ignored pixels get 0.
pub fn class_grad_pass(batch: &MulticlassBatch, gamma: f64, coefs: &[Coefficients]) -> Vec<f64> {
    let (c, hw) = (batch.classes, batch.shape.pixels());
    let mut grad = vec![0.0; batch.logits.len()];
    for flat in 0..batch.shape.len() {
        let (n, i) = (flat / hw, flat % hw);
        let Some(k) = target_class(batch, flat).filter(|&k| (k as usize) < c) else { continue };
        let g = class_pixel_grad(&pixel_logits(batch, n, i), k as usize, gamma, &coefs[n * c..(n + 1) * c]);
        for (j, gj) in g.into_iter().enumerate() {
            grad[(n * c + j) * hw + i] = gj;
        }
    }
    grad
}
