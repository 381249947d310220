//! The float64 reference of the Lovasz kernels (`lovasz_*_keys.wgsl`, the radix sort,
//! the label scan, `lovasz_reduce.wgsl`, `lovasz_grad.wgsl`, `lovasz_jacobian.wgsl`):
//! Berman et al.'s `lovasz_grad` written plainly, with a stable sort.

use super::classes::softmax_pixel;
use crate::batch::{BinaryBatch, MulticlassBatch};
use crate::error::Result;
use crate::stats::LovaszRow;

/// One element of a Lovasz problem: its error, label and flat index.
#[derive(Debug, Clone, Copy)]
pub struct Item {
    /// The error (hinge: 1 − x(2y−1); softmax: |fg − p_c|).
    pub error: f64,
    /// The label y.
    pub label: bool,
    /// Where the element's gradient goes.
    pub index: usize,
}

/// Berman's `lovasz_grad`: the Lovasz extension gradient of the Jaccard loss for labels
/// sorted by decreasing error.
pub fn lovasz_grad(sorted_labels: &[bool]) -> Vec<f64> {
    let gts = sorted_labels.iter().filter(|&&y| y).count() as f64;
    let (mut ones, mut zeros) = (0.0, 0.0);
    let mut previous = 0.0;
    sorted_labels
        .iter()
        .map(|&y| {
            if y {
                ones += 1.0;
            } else {
                zeros += 1.0;
            }
            let jaccard = 1.0 - (gts - ones) / (gts + zeros);
            let g = jaccard - previous;
            previous = jaccard;
            g
        })
        .collect()
}

/// Sorts `items` by decreasing error (stable), returns the loss Σ relu(e)·∇J and, per item
/// in sorted order, (index, ∂loss/∂error·de/dinput sign factor) — d loss/d input = ∇J·[e>0]·(y ? −1 : +1).
pub fn lovasz_problem(items: &mut [Item]) -> (LovaszRow, Vec<(usize, f64)>) {
    items.sort_by(|a, b| b.error.total_cmp(&a.error));
    let labels: Vec<bool> = items.iter().map(|i| i.label).collect();
    let grad = lovasz_grad(&labels);
    let loss = items.iter().zip(&grad).map(|(i, g)| i.error.max(0.0) * g).sum();
    let row = LovaszRow { loss, valid: items.len() as u64, positives: labels.iter().filter(|&&y| y).count() as u64 };
    let d = items
        .iter()
        .zip(&grad)
        .map(|(i, g)| (i.index, if i.error > 0.0 { g * if i.label { -1.0 } else { 1.0 } } else { 0.0 }))
        .collect();
    (row, d)
}

/// Lovasz hinge rows (one per segment: per image, or the whole batch) and, given per-row
/// scales, dL/dlogits.
pub fn lovasz_hinge(
    batch: &BinaryBatch,
    per_image: bool,
    scales: Option<&[f64]>,
) -> Result<(Vec<LovaszRow>, Vec<f64>)> {
    let n = batch.input.len();
    let (mut bad_input, mut bad_target) = (None, None);
    for (i, (&x, &t)) in batch.input.iter().zip(batch.target).enumerate() {
        if bad_input.is_none() && !x.is_finite() {
            bad_input = Some(i);
        }
        if bad_target.is_none() && !batch.is_ignored(t) && !(0.0..=1.0).contains(&t) {
            bad_target = Some(i);
        }
    }
    if let Some(e) = batch.data_error(bad_input, bad_target) {
        return Err(e);
    }
    let seg_len = if per_image { n / batch.shape.n } else { n };
    let mut rows = Vec::new();
    let mut grad = vec![0.0; n];
    for (s, start) in (0..n).step_by(seg_len).enumerate() {
        let mut items: Vec<Item> = (start..start + seg_len)
            .filter(|&i| !batch.is_ignored(batch.target[i]))
            .map(|i| {
                let y = batch.target[i] >= 0.5;
                let x = batch.input[i] as f64;
                Item { error: 1.0 - x * if y { 1.0 } else { -1.0 }, label: y, index: i }
            })
            .collect();
        let (row, d) = lovasz_problem(&mut items);
        if let Some(scales) = scales {
            for (i, g) in d {
                grad[i] = scales[s] * g;
            }
        }
        rows.push(row);
    }
    Ok((rows, grad))
}

/// Lovasz softmax rows (per segment × class; segments = images or the batch) for the classes
/// `wanted` (others left empty) and, given per-row scales, dL/dlogits through the softmax.
pub fn lovasz_softmax(
    batch: &MulticlassBatch,
    per_image: bool,
    wanted: &[bool],
    scales: Option<&[f64]>,
) -> Result<(Vec<LovaszRow>, Vec<f64>)> {
    let (c, hw, n) = (batch.classes, batch.shape.pixels(), batch.shape.n);
    let logits_of = |f: usize| -> Vec<f64> {
        let (img, i) = (f / hw, f % hw);
        (0..c).map(|k| batch.logits[(img * c + k) * hw + i] as f64).collect()
    };
    let (mut bad_logit, mut bad_class) = (None, None);
    for f in 0..n * hw {
        if bad_logit.is_none() && logits_of(f).iter().any(|v| !v.is_finite()) {
            bad_logit = Some(f);
        }
        let k = batch.target.get(f);
        if bad_class.is_none() && batch.ignore_index != Some(k) && k as usize >= c {
            bad_class = Some(f);
        }
    }
    if let Some(e) = batch.data_error(bad_logit, bad_class) {
        return Err(e);
    }
    let valid: Vec<usize> = (0..n * hw).filter(|&f| batch.ignore_index != Some(batch.target.get(f))).collect();
    let probs: Vec<(usize, Vec<f64>)> = valid
        .iter()
        .map(|&f| {
            let x = logits_of(f);
            let lse = softmax_pixel(&x, 0).lse;
            (f, x.iter().map(|v| (v - lse).exp()).collect())
        })
        .collect();
    let segments = if per_image { n } else { 1 };
    let seg_of = |f: usize| if per_image { f / hw } else { 0 };
    let mut rows = vec![LovaszRow::default(); segments * c];
    // dL/dp per (pixel, class), then through the softmax.
    let mut dp = vec![0.0; n * c * hw];
    for k in (0..c).filter(|&k| wanted[k]) {
        for s in 0..segments {
            let mut items: Vec<Item> = probs
                .iter()
                .filter(|(f, _)| seg_of(*f) == s)
                .map(|(f, p)| {
                    let fg = batch.target.get(*f) as usize == k;
                    Item { error: ((fg as u8 as f64) - p[k]).abs(), label: fg, index: *f }
                })
                .collect();
            let (row, d) = lovasz_problem(&mut items);
            rows[s * c + k] = row;
            if let Some(scales) = scales {
                for (f, g) in d {
                    dp[((f / hw) * c + k) * hw + f % hw] = scales[s * c + k] * g;
                }
            }
        }
    }
    let mut grad = vec![0.0; n * c * hw];
    if scales.is_some() {
        for (f, p) in &probs {
            let (img, i) = (f / hw, f % hw);
            let at = |k: usize| (img * c + k) * hw + i;
            let dot: f64 = (0..c).map(|k| dp[at(k)] * p[k]).sum();
            for k in 0..c {
                grad[at(k)] = p[k] * (dp[at(k)] - dot);
            }
        }
    }
    Ok((rows, grad))
}
