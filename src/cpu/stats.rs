//! The reference of the fused forward pass (`stats_partials.wgsl` + `stats_final.wgsl`):
//! per image, every sum in float64, and the same data checks.

use super::pixel::pixel_sums;
use crate::batch::{BinaryBatch, InputKind};
use crate::error::Result;
use crate::loss::PixelParams;
use crate::stats::Stats;

/// Whether an input value is acceptable (finite; in [0, 1] for probabilities).
pub fn input_ok(x: f32, kind: InputKind) -> bool {
    match kind {
        InputKind::Logits => x.is_finite(),
        InputKind::Probabilities => (0.0..=1.0).contains(&x),
    }
}

/// Whether a (non-ignored) target value is acceptable.
pub fn target_ok(t: f32) -> bool {
    (0.0..=1.0).contains(&t)
}

/// Per-image statistics of `batch`, or the error of its first bad element.
pub fn stats_pass(batch: &BinaryBatch, pp: &PixelParams) -> Result<Vec<Stats>> {
    let hw = batch.shape.pixels();
    let mut images = vec![Stats::default(); batch.segments()];
    let (mut bad_input, mut bad_target) = (None, None);
    for (i, (&x, &t)) in batch.input.iter().zip(batch.target).enumerate() {
        if bad_input.is_none() && !input_ok(x, batch.input_kind) {
            bad_input = Some(i);
        }
        if batch.is_ignored(t) {
            continue;
        }
        if bad_target.is_none() && !target_ok(t) {
            bad_target = Some(i);
        }
        if bad_input.is_some() || bad_target.is_some() {
            // Keep scanning only to find the first bad index of the other tensor.
            continue;
        }
        pixel_sums(&mut images[i / hw], x as f64, t as f64, batch.input_kind, pp);
    }
    match batch.data_error(bad_input, bad_target) {
        Some(e) => Err(e),
        None => Ok(images),
    }
}
